"""`musicgen examples` in-process: exit codes 0/1/2, dry run, YAML, summary lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgen.cli import main
from musicgen.storage import tfrecord


def test_dry_run_prints_the_resolved_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "examples.yaml"
    config.write_text("encoding: performance\neval_ratio: 0.2\n")
    argv = ["examples", "in", "out", "--config", str(config), "--format", "magenta", "--dry-run"]
    assert main(argv) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["encoding"] == "performance"
    assert resolved["eval_ratio"] == 0.2
    assert resolved["format"] == "magenta"
    assert resolved["augment"] is None  # each input's convention, see ExamplesConfig


@pytest.mark.parametrize(("flag", "augment"), [("--augment", True), ("--no-augment", False)])
def test_augment_flags_reach_the_config(
    flag: str, augment: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "examples.yaml"
    config.write_text(f"augment: {str(not augment).lower()}\n")  # the flag wins over YAML
    argv = ["examples", "in.pickle", "out", "--encoding", "pianoroll", "--config", str(config)]
    assert main([*argv, flag, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["augment"] is augment


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoding", "melody_rnn"], "unknown encoding 'melody_rnn'"),
        (["--eval-ratio", "1.5"], "eval_ratio must be in [0, 1]"),
        (["--encoding", "pianoroll", "--format", "magenta"], "magenta exists only"),
        (["--set", "stretch=2"], "unknown key(s) ['stretch']"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["examples", str(tmp_path), str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err


def test_no_sequences_at_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "no NoteSequence TFRecords" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.usefixtures("ray_local")
def test_too_many_failures_exit_1_and_keep_the_outputs(
    golden_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "seq" / "mixed.tfrecord"
    source.parent.mkdir()
    good = next(tfrecord.read_tfrecord_file(str(golden_dir / "notesequences.tfrecord")))
    tfrecord.write_tfrecord_file(str(source), [good, b"\x0a\xff\xff\xff"])
    out = tmp_path / "out"
    assert main(["examples", str(source), str(out), "--eval-ratio", "1"]) == 1
    captured = capsys.readouterr()
    assert "1/2 sequences gave examples (0 skipped, 1 failed)" in captured.out
    assert "failed: bad_notesequence: 1" in captured.out
    assert "max_failure_ratio" in captured.err
    assert (out / "stats.json").exists()
    assert len(list((out / "eval").glob("examples-00000-of-00001.tfrecord"))) == 1
    assert main(["examples", str(source), str(out), "--max-failure-ratio", "0.5"]) == 0
