"""`musicgen convert` end to end in-process: exit codes 0/1/2, dry run, summary line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musicgen.cli import main

SAMPLE = Path(__file__).parents[2] / "data" / "sample-corpus"


@pytest.mark.integration
@pytest.mark.usefixtures("ray_local")
def test_failures_over_threshold_exit_1_and_keep_outputs(
    edge_cases_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["convert", str(edge_cases_dir), str(out)]) == 1
    err = capsys.readouterr().err
    assert "max_failure_ratio" in err
    assert "failures.jsonl" in err
    assert (out / "stats.json").exists()
    assert (out / "failures.jsonl").exists()
    assert main(["convert", str(edge_cases_dir), str(out), "--max-failure-ratio", "1"]) == 0


@pytest.mark.integration
@pytest.mark.usefixtures("ray_local")
def test_convert_with_yaml_config_prints_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "convert.yaml"
    config.write_text("files_per_shard: 10\nparser: fast\n")
    out = tmp_path / "out"
    assert main(["convert", str(SAMPLE), str(out), "--config", str(config)]) == 0
    assert "converted 24/24 files (0 failed, 0 skipped)" in capsys.readouterr().out
    assert len(list(out.glob("notesequences-*-of-00003.tfrecord"))) == 3


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "input corpus not found" in capsys.readouterr().err


def test_corpus_without_music_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hi")
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out")]) == 2
    assert "no .mid" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [["--set", "files_per_shard=0"], ["--set", "bogus=1"], ["--set", "novalue"]],
    ids=["invalid-value", "unknown-key", "malformed"],
)
def test_bad_overrides_exit_2(tmp_path: Path, extra: list[str]) -> None:
    assert main(["convert", str(SAMPLE), str(tmp_path / "out"), *extra]) == 2
    assert not (tmp_path / "out").exists()


def test_unknown_key_in_yaml_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("files_per_shrad: 3\n")
    assert main(["convert", str(SAMPLE), str(tmp_path / "o"), "--config", str(config)]) == 2
    assert f"{config}: unknown key(s) ['files_per_shrad']" in capsys.readouterr().err


def test_dry_run_prints_resolved_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(SAMPLE), str(tmp_path / "o"), "--dry-run", "--num-cpus", "1"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["num_cpus"] == 1
    assert resolved["input"] == str(SAMPLE)
    assert not (tmp_path / "o").exists()


def test_console_script_and_job_entry_point_parse_arguments() -> None:
    exe = shutil.which("musicgen", path=str(Path(sys.executable).parent))
    assert exe, "the musicgen console script is not installed"
    help_text = subprocess.run([exe, "convert", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0
    assert "--max-failure-ratio" in help_text.stdout
    job = Path(__file__).parents[2] / "jobs" / "convert_corpus.py"
    usage = subprocess.run([sys.executable, str(job)], capture_output=True, text=True)
    assert usage.returncode == 2
    assert "input" in usage.stderr
