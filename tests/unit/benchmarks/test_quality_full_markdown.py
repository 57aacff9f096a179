"""The full-budget table: a family's seeds give one row with their median and spread, and the
per-seed facts side by side where they differ."""

from __future__ import annotations

from typing import Any

from benchmarks.quality_full import full_markdown


def _row(seed: int, nll: float, steps: int, best: int, stopped: str) -> dict[str, Any]:
    return {
        "family": "pianoroll_lstm", "seed": seed, "model": "2 x 150 LSTM", "steps": steps,
        "best_step": best, "stopped": stopped, "trend_last_3_per_1000_steps": 0.3,
        "train_wall_s": 100.0, "test": {"nll_per_frame": nll}, "train_examples": 1603,
    }  # fmt: skip


def _family_line(rows: list[dict[str, Any]]) -> list[str]:
    table = full_markdown({"datasets": {"JSB_Chorales": rows}}, {})
    return [line for line in table if line.startswith("| pianoroll_lstm")]


def test_seeds_share_a_row_with_median_spread_and_each_seeds_steps() -> None:
    rows = [_row(2, 8.50, 6000, 4500, "early stopping (patience 6)"),
            _row(0, 8.40, 7000, 5500, "early stopping (patience 6)"),
            _row(1, 8.44, 5000, 5000, "wall budget")]  # fmt: skip
    (line,) = _family_line(rows)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:5] == ["8.44", "8.400–8.500", "3", "1,603"]
    early = "early stopping (patience 6)"
    assert cells[5:8] == ["7000 / 5000 / 6000", "5500 / 5000 / 4500",
                          f"{early} / wall budget / {early}"]  # fmt: skip
    assert cells[8:10] == ["+0.300", "300"]


def test_one_seed_shows_plain_values() -> None:
    (line,) = _family_line([_row(0, 8.40, 7000, 5500, "wall budget")])
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:8] == ["8.40", "-", "1", "1,603", "7000", "5500", "wall budget"]
