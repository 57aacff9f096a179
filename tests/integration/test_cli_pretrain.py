"""`musicgen pretrain-endecell` on real JSB examples, writing to the GCS emulator, and the full
model built from what it wrote (the production path: the weights live in a bucket)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.cli import main
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = pytest.mark.integration

SMOKE = str(Path(__file__).parents[2] / "configs" / "endecell_smoke.yaml")


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


def test_pretrains_into_a_bucket_and_training_starts_from_it(
    jsb: Path, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from musicgen.config import from_dict
    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.models.endecell_pretrain import autoencoder_variables
    from musicgen.models.registry import get_family
    from musicgen.train.config import TrainConfig

    out = f"{gcs_bucket}/pretrained/ae.npz"
    code = main(["pretrain-endecell", "--config", SMOKE, "--dataset", str(jsb),
                 "--output", out, "--steps", "15", "--batch-size", "8"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    before, after = (float(x) for x in printed.split("loss ")[1].split(";")[0].split(" -> "))
    assert after < before
    cfg = from_dict(TrainConfig, {
        "data": {"dataset": str(jsb)},
        "model": {"family": "endecell", "encoder_size": 16, "time_layers": [16],
                  "decoder_size": 16, "key_chunk": 4, "pretrained_autoencoder": out},
    })  # fmt: skip
    info = read_encoding_info(str(jsb))
    started = get_family("endecell").build(cfg.model, info)
    fresh = get_family("endecell").build(
        from_dict(TrainConfig, {"data": {"dataset": "x"}, "model": {
            "family": "endecell", "encoder_size": 16, "time_layers": [16],
            "decoder_size": 16, "key_chunk": 4}}).model, info)  # fmt: skip
    pretrained = [np.asarray(v) for v in autoencoder_variables(started)]
    assert not all(
        np.array_equal(a, np.asarray(b))
        for a, b in zip(pretrained, autoencoder_variables(fresh), strict=True)
    )
    # Built again from the same file: the same weights, so they came from the file.
    again = get_family("endecell").build(cfg.model, info)
    for a, b in zip(pretrained, autoencoder_variables(again), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_a_model_of_another_family_is_refused_with_exit_2(
    jsb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = str(Path(SMOKE).with_name("pianoroll_lstm_smoke.yaml"))
    code = main(["pretrain-endecell", "--config", preset, "--dataset", str(jsb),
                 "--output", str(tmp_path / "ae.npz")])  # fmt: skip
    assert code == 2
    assert "model.family is pianoroll_lstm" in capsys.readouterr().err
    assert not (tmp_path / "ae.npz").exists()
