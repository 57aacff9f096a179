"""``quality.py --merge``: which earlier rows an invocation keeps."""

from __future__ import annotations

from benchmarks.quality import rows_kept

EARLIER = {
    "JSB_Chorales": [
        {"family": "pianoroll_lstm", "seed": 0},
        {"family": "pianoroll_lstm", "seed": 1},
        {"family": "biaxial_lstm", "seed": 0},
    ],
    "Nottingham": [{"family": "pianoroll_lstm", "seed": 0}],
}


def _kept(names: list[str], families: list[str], seeds: set[int] | None) -> dict:
    kept = rows_kept(EARLIER, names, families, seeds)
    return {k: [(r["family"], r["seed"]) for r in rows] for k, rows in kept.items()}


def test_new_seeds_keep_the_seeds_a_family_has() -> None:
    assert _kept(["JSB_Chorales"], ["pianoroll_lstm"], {2, 3}) == {
        "JSB_Chorales": [("pianoroll_lstm", 0), ("pianoroll_lstm", 1), ("biaxial_lstm", 0)],
        "Nottingham": [("pianoroll_lstm", 0)],
    }


def test_a_seed_run_again_replaces_only_its_own_row() -> None:
    assert _kept(["JSB_Chorales"], ["pianoroll_lstm"], {1})["JSB_Chorales"] == [
        ("pianoroll_lstm", 0), ("biaxial_lstm", 0)
    ]  # fmt: skip


def test_without_seeds_a_family_is_replaced_on_the_datasets_asked_for() -> None:
    assert _kept(["JSB_Chorales"], ["pianoroll_lstm"], None) == {
        "JSB_Chorales": [("biaxial_lstm", 0)],
        "Nottingham": [("pianoroll_lstm", 0)],
    }
