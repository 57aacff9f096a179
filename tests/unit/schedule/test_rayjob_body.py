"""Template to RayJob body, and CRD validation (musicgen.schedule.rayjob_body)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from musicgen.errors import ConfigError
from musicgen.schedule import rayjob_body
from musicgen.schedule.rayjob_body import build_rayjob
from musicgen.schedule.slots import parse_slot
from tests.unit.schedule.support import base_template, make_config


def test_build_rayjob_sets_identity_and_fills_the_entrypoint() -> None:
    slot = parse_slot("2026-08-20T03:00")
    template = base_template()
    template["metadata"]["uid"] = "stale"  # server-owned fields must never be sent back
    template["status"] = {"jobStatus": "SUCCEEDED"}
    body = build_rayjob(template, make_config(), slot)
    meta = body["metadata"]
    assert meta["name"] == "gen-nightly-202608200300"
    assert meta["namespace"] == "musicgen"
    assert set(meta) == {"name", "namespace", "labels", "annotations"}
    assert meta["labels"][rayjob_body.SCHEDULE_LABEL] == "nightly"
    assert meta["labels"]["app.kubernetes.io/component"] == "generate"  # kept from the template
    assert meta["annotations"][rayjob_body.SLOT_ANNOTATION] == "2026-08-20T03:00Z"
    assert "status" not in body
    entry = body["spec"]["entrypoint"]
    assert "--batch-id gen-nightly-202608200300 --date 2026-08-20" in entry
    assert "{" not in entry
    assert template["spec"]["entrypoint"].count("{batch_id}") == 1  # the template is not mutated


def test_build_rayjob_replaces_only_the_ray_image() -> None:
    template = base_template()
    pod = template["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    pod["containers"].append({"name": "log-shipper", "image": "fluent/fluent-bit:3.2"})
    image = "europe-docker.pkg.dev/p/musicgen/musicgen@sha256:" + "a" * 64
    body = build_rayjob(template, make_config(image=image), parse_slot("2026-08-20T03:00"))
    images = [c["image"] for c in rayjob_body.containers(body["spec"])]
    assert images.count(image) == 3  # head, worker, submitter
    assert "fluent/fluent-bit:3.2" in images


def test_build_rayjob_requires_batch_id_in_the_entrypoint() -> None:
    template = base_template()
    template["spec"]["entrypoint"] = "python jobs/generate_batch.py --output gs://b/generated/x"
    with pytest.raises(ConfigError, match="batch_id"):
        build_rayjob(template, make_config(), parse_slot("2026-08-20T03:00"))


def test_load_template_rejects_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job"}))
    with pytest.raises(ConfigError, match="expected kind RayJob"):
        rayjob_body.load_template(path)
    path.write_text("a: [")
    with pytest.raises(ConfigError, match="cannot read"):
        rayjob_body.load_template(path)


def test_validate_body_lists_typos() -> None:
    body = build_rayjob(base_template(), make_config(), parse_slot("2026-08-20T03:00"))
    rayjob_body.validate_body(body)  # the shipped template is valid
    broken = copy.deepcopy(body)
    broken["spec"]["shutdownAfterJobFinish"] = True
    broken["spec"]["activeDeadlineSeconds"] = "5h"
    with pytest.raises(ConfigError) as info:
        rayjob_body.validate_body(broken)
    assert "shutdownAfterJobFinish" in str(info.value)
    assert "spec.activeDeadlineSeconds" in str(info.value)
