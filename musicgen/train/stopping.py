"""When a run stops before ``num_steps``: early stopping on the evaluation, or a time limit.

Only rank 0 evaluates and watches the clock, but every rank must leave the step loop at the same
step (the next step's all-reduce would otherwise wait forever). So at each checkpoint step all
ranks join one small collective, :func:`agree`, that hands them rank 0's decision. The patience
state travels in each checkpoint's JSON, so a restarted worker group goes on counting where the
checkpoint left it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

# Why a run stopped before num_steps (``metrics.jsonl``'s ``stopped`` row, the checkpoint JSON).
EARLY_STOPPING = "early_stopping"
TIME_LIMIT = "time_limit"
REASONS = ("", EARLY_STOPPING, TIME_LIMIT)  # index: the code agree() exchanges
STOPPED = "stopped"  # the metrics.jsonl event


@dataclass
class Patience:
    """The best evaluation so far and the evaluations since it."""

    best: float = math.inf
    best_step: int = 0
    since_best: int = 0

    def update(self, value: float, step: int, min_delta: float) -> bool:
        """Counts one evaluation; True if it is the new best (a NaN never is)."""
        if value < self.best - min_delta:
            self.best, self.best_step, self.since_best = value, step, 0
            return True
        self.since_best += 1
        return False

    def exhausted(self, patience: int) -> bool:
        return 0 < patience <= self.since_best

    def to_meta(self) -> dict[str, Any]:
        best = self.best if math.isfinite(self.best) else None  # JSON has no Infinity
        return {"best": best, "best_step": self.best_step, "since_best": self.since_best}

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> Patience:
        if not meta:
            return cls()
        best = meta.get("best")
        return cls(
            math.inf if best is None else float(best),
            int(meta.get("best_step", 0)),
            int(meta.get("since_best", 0)),
        )


def agree(strategy: tf.distribute.Strategy, reason: str) -> str:
    """Rank 0's ``reason`` on every rank; every rank must call it at the same step.

    The other ranks pass ``""``; the codes are summed across the workers, so the result is
    rank 0's.
    """
    import tensorflow as tf

    code = REASONS.index(reason)
    if strategy.num_replicas_in_sync == 1:
        return reason
    per_replica = strategy.run(lambda: tf.constant(code, tf.int32))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return REASONS[int(total.numpy())]
