"""Examples-job accounting: every input counted once, shards merge."""

from __future__ import annotations

import pytest

from musicgen.examples.stats import CONVERTED, FAILED, SKIPPED, ExamplesStats


def test_outcomes_add_up_and_merge() -> None:
    a, b = ExamplesStats(), ExamplesStats()
    a.add(CONVERTED)
    a.add(SKIPPED, "no_notes")
    a.examples["train"] += 35
    a.pipeline["DAGPipeline_PerformanceExtractor_training_performances_truncated"] += 2
    b.add(FAILED, "corrupt_record")
    b.add(FAILED, "corrupt_record")
    b.examples["eval"] += 1
    a.merge(b)
    assert (a.inputs, a.converted, a.skipped, a.failed) == (4, 1, 1, 2)
    assert a.consistent
    assert a.failure_ratio == 0.5
    d = a.to_dict()
    assert d["examples"] == {"eval": 1, "train": 35}
    assert d["reasons"] == {"failed": {"corrupt_record": 2}, "skipped": {"no_notes": 1}}
    assert d["pipeline_statistics"] == {
        "DAGPipeline_PerformanceExtractor_training_performances_truncated": 2
    }


def test_unknown_outcome_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        ExamplesStats().add("lost")
