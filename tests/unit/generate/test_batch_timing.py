"""The report's timing: loading, compiling and generating apart, summed over the actors' calls."""

from __future__ import annotations

from musicgen.generate.batch import _timing


def test_events_per_second_counts_generation_only() -> None:
    calls = [
        {"load_s": 5.0, "compile_s": 3.0, "generate_s": 2.0, "events": 400, "pieces": 2},
        {"load_s": 0.0, "compile_s": 0.0, "generate_s": 2.0, "events": 400, "pieces": 2},
        {"load_s": 4.0, "compile_s": 2.0, "generate_s": 1.0, "events": 200, "pieces": 1},
    ]
    timing = _timing(calls, pieces=5, actors=2, wall_s=20.0)
    assert timing == {
        "pieces": 5,
        "actors": 2,
        "load_s": 9.0,
        "compile_s": 5.0,
        "generate_s": 5.0,
        "events": 1000,
        "events_per_second": 200.0,  # not 1000 / 20 s of wall time, load and tracing included
        "wall_s": 20.0,
    }


def test_families_that_trace_inside_each_call_report_no_compile_time() -> None:
    calls = [{"load_s": 1.0, "compile_s": None, "generate_s": 0.0, "events": 0, "pieces": 1}]
    timing = _timing(calls, pieces=1, actors=1, wall_s=1.0)
    assert timing["compile_s"] is None
    assert timing["events_per_second"] is None  # never a division by zero, never NaN
