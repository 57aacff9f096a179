"""`musicgen train` argument and config errors exit 2 before any Ray work, naming the cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgen.cli import main

pytestmark = pytest.mark.integration


def test_missing_dataset_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-examples"
    assert main(["train", "--dataset", str(missing), "--num-steps", "1"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_no_dataset_at_all_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    assert "data.dataset is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "model.layers=[0]"], "model.layers must be positive"),
        (["--set", "batch_size=10", "--num-workers", "3"], "must divide evenly"),
        (["--set", "model.nope=1"], "model.nope does not apply to performance_rnn"),
        (["--set", "optimizer.clip_norm=3", "--set", "optimizer.global_clip_norm=1"], "not both"),
        (["--patience", "3"], "needs eval_every >= 1"),
        (["--max-minutes", "0"], "max_minutes must be > 0"),
    ],
)
def test_bad_settings_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["train", "--dataset", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_yaml_without_dataset_is_checked_with_the_flag_and_dry_run_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml_path = tmp_path / "tiny.yaml"
    yaml_path.write_text("model:\n  family: pianoroll_lstm\n  layers: [8]\nbatch_size: 4\n")
    code = main(["train", "--config", str(yaml_path), "--dataset", "d", "--num-steps", "7",
                 "--set", "data.window=16", "--dry-run"])  # fmt: skip
    assert code == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["data"] == {**cfg["data"], "dataset": "d", "window": 16}
    assert (cfg["model"]["layers"], cfg["num_steps"], cfg["batch_size"]) == ([8], 7, 4)


def test_patience_and_time_limit_flags_reach_the_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["train", "--dataset", "d", "--patience", "4", "--max-minutes", "90",
                 "--set", "eval_every=250", "--set", "early_stopping.metric=nll_per_frame",
                 "--dry-run"])  # fmt: skip
    assert code == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["early_stopping"] == {"patience": 4, "metric": "nll_per_frame", "min_delta": 0.0}
    assert (cfg["max_minutes"], cfg["eval_every"]) == (90.0, 250)


def test_bad_yaml_value_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text("num_steps: many\n")
    assert main(["train", "--config", str(yaml_path), "--dataset", "d"]) == 2
    assert str(yaml_path) in capsys.readouterr().err
