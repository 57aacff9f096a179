"""benchmarks/gpu_check.sh --cpu, as CI runs it: the GPU check's code paths, in seconds, on CPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_cpu_dry_run_passes_its_checks_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--cpu", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failed"] == []
    assert result["checks"] == {
        "gpu_visible": None,  # GPUs are hidden in a dry run
        "memory_growth": None,
        "cudnn_qualifies": True,  # by the layers' arguments
        "cudnn_taken": None,  # needs a GPU
        "mixed_precision_trains": True,
    }
    assert result["cudnn"]["mixed_float16"]["compute_dtype"] == "float16"
    assert result["mixed_precision_training"]["loss_scale"] > 0
    assert result["matmul_gflops"]["float32"] > 0
    for name in ("train_mixed_float16", "train_float32"):
        assert all(v["events_per_s"] > 0 for v in result[name].values()), name
    generated = [v for k, v in result["generate_float32"].items() if k.startswith("batch_")]
    assert [g["pieces"] for g in generated] == [2, 4]
    assert all(g["events"] > 0 for g in generated)


def test_result_goes_to_out_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchmarks.gpu_check import output_path

    monkeypatch.delenv("OUT", raising=False)
    assert output_path("x.json") == Path("x.json")
    assert output_path(None) is None
    monkeypatch.setenv("OUT", str(tmp_path))
    assert output_path("x.json") == tmp_path / "gpu_check.json"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"activation": "relu"}, "activation relu, not tanh"),
        ({"recurrent_activation": "hard_sigmoid"}, "not sigmoid"),
        ({"unroll": True}, "unroll=True"),
        ({"use_bias": False}, "use_bias=False"),
        ({"recurrent_dropout": 0.1}, "recurrent_dropout=0.1"),
        ({"use_cudnn": False}, "use_cudnn=False"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_a_layer_that_cannot_use_cudnn_is_named_with_its_reason(
    kwargs: dict[str, object], reason: str
) -> None:
    import keras

    from benchmarks.gpu_check import cudnn_disqualifiers

    assert cudnn_disqualifiers(keras.layers.LSTM(4, unit_forget_bias=True)) == []
    reasons = cudnn_disqualifiers(keras.layers.LSTM(4, **kwargs))  # type: ignore[arg-type]
    assert len(reasons) == 1
    assert reason in reasons[0]
