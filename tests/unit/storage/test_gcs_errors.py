"""GCS failures that no retry can fix say what is wrong and what to do, in one line, exit 2.

No network is reachable here: credentials are made to fail locally (a key file that does not
exist), and API answers are raised by hand inside the translation the backend uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen import storage
from musicgen.cli import main
from musicgen.errors import (
    EXIT_CONFIG,
    AccessDenied,
    BucketNotFound,
    CredentialsError,
    ObjectNotFound,
    StorageError,
)
from musicgen.storage import gcs


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real GCS (no emulator) with Application Default Credentials that cannot be loaded."""
    monkeypatch.delenv(gcs.EMULATOR_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setattr(gcs, "_clients", {})  # no client cached by an earlier test


@pytest.mark.usefixtures("no_credentials")
def test_missing_credentials_say_how_to_provide_them() -> None:
    with pytest.raises(CredentialsError) as info:
        storage.check_job_paths("gs://corpora/lakh", "/tmp/out", what="convert")
    message = str(info.value)
    assert message.startswith("gs://corpora/lakh: no usable Google credentials")
    assert "missing-key.json was not found" in message
    assert "gcloud auth application-default login" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "Workload Identity" in message
    assert "\n" not in message
    assert info.value.exit_code == EXIT_CONFIG


@pytest.mark.usefixtures("no_credentials")
def test_cli_exits_2_with_one_line_and_does_no_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["convert", "gs://corpora/lakh", str(out)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("musicgen convert: error: gs://corpora/lakh: no usable Google")
    assert "gcloud auth application-default login" in err[0]
    assert not out.exists()


def _raised_in_translate(exc: Exception, *, listing: bool = False) -> StorageError:
    with pytest.raises(StorageError) as info, gcs._translate("gs://b/k", listing=listing):
        raise exc
    return info.value


def test_api_answers_become_errors_that_name_the_uri() -> None:
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    missing = _raised_in_translate(api.NotFound("gone"))
    assert type(missing) is ObjectNotFound
    assert missing.uri == "gs://b/k"
    bucket = _raised_in_translate(api.NotFound("gone"), listing=True)
    assert type(bucket) is BucketNotFound
    assert not isinstance(bucket, ObjectNotFound)  # never read as "an empty folder"
    assert str(bucket) == "gs://b/k: bucket gs://b does not exist"
    denied = _raised_in_translate(api.Forbidden("no storage.objects.list\non b"))
    assert type(denied) is AccessDenied
    assert "IAM" in str(denied)
    assert "\n" not in str(denied)
    for failed in (auth.RefreshError("token expired"), api.Unauthorized("invalid token")):
        expired = _raised_in_translate(failed)
        assert type(expired) is CredentialsError
        assert "gcloud auth application-default login" in str(expired)
    flaky = _raised_in_translate(api.ServiceUnavailable("try later"))
    assert type(flaky) is StorageError
    assert flaky.exit_code == 1
    assert {type(e).exit_code for e in (bucket, denied, expired)} == {EXIT_CONFIG}
