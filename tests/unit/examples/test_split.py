"""Train/eval assignment by id hash."""

from __future__ import annotations

import pytest

from musicgen.examples.split import EVAL, TRAIN, assign_split, split_fraction


def test_assignment_is_a_pure_function_of_the_id() -> None:
    ids = [f"/id/midi/pop909/{i:040x}" for i in range(200)]
    assert [assign_split(i, 0.3) for i in ids] == [assign_split(i, 0.3) for i in ids]
    assert split_fraction(ids[0]) == split_fraction(ids[0])
    assert split_fraction(ids[0]) != split_fraction(ids[1])


def test_ratio_zero_and_one_send_everything_to_one_side() -> None:
    ids = [f"piece-{i}" for i in range(500)]
    assert {assign_split(i, 0.0) for i in ids} == {TRAIN}
    assert {assign_split(i, 1.0) for i in ids} == {EVAL}


def test_share_of_eval_follows_the_ratio_and_grows_monotonically() -> None:
    ids = [f"piece-{i}" for i in range(20000)]
    share = sum(assign_split(i, 0.1) == EVAL for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    # Raising the ratio only moves pieces from train to eval, never back.
    small = {i for i in ids if assign_split(i, 0.1) == EVAL}
    large = {i for i in ids if assign_split(i, 0.2) == EVAL}
    assert small < large


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_bad_ratio_is_refused(ratio: float) -> None:
    with pytest.raises(ValueError, match="eval_ratio"):
        assign_split("x", ratio)
