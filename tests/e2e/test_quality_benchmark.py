"""benchmarks/quality.py --quick, as CI runs it: every piano-roll family trains on JSB Chorales
with the real trainer and is scored on the official test split; ``--merge`` replaces rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_quick_quality_table(tmp_path: Path) -> None:
    out = tmp_path / "quality"
    cmd = [sys.executable, str(REPO / "benchmarks" / "quality.py"), "--quick",
           "--work", str(tmp_path / "work"), "--out", str(out)]  # fmt: skip
    # The bundled JSB pickle is all --quick reads: the clone alone runs it.
    env = {**os.environ, "MUSICGEN_DATA": str(REPO / "tests" / "testdata")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=540, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    table = json.loads(out.with_suffix(".json").read_text())
    rows = {row["family"]: row for row in table["datasets"]["JSB_Chorales"]}
    roll = ("pianoroll_lstm", "biaxial_lstm", "seq2seq_lstm", "endecell", "seq2one_lstm")
    assert {*roll, "chord_lstm"} == set(rows)
    for family in roll:
        nll = rows[family]["test"]["nll_per_frame"]
        assert math.isfinite(nll)
        assert 0 < nll < 70  # 61 nats/frame is chance; a few steps already beat it
        assert (
            rows[family]["test"]["scored_frames"] == rows["pianoroll_lstm"]["test"]["scored_frames"]
        )
    markdown = out.with_suffix(".md").read_text()
    assert markdown.startswith("# Piano-roll benchmarks")
    assert "| endecell |" in markdown
    assert "| seq2one_lstm |" in markdown

    # A later run of one family replaces only that family's row (--merge).
    before = rows["pianoroll_lstm"]
    cmd += ["--families", "endecell", "--merge"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=540, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    merged = json.loads(out.with_suffix(".json").read_text())
    again = {row["family"]: row for row in merged["datasets"]["JSB_Chorales"]}
    assert set(again) == set(rows)
    assert again["pianoroll_lstm"] == before
    assert "JSB_Chorales/pianoroll_lstm" in merged["merged_from_earlier_runs"]
    assert "JSB_Chorales/endecell" not in merged["merged_from_earlier_runs"]
