"""The per-worker training loop that Ray Train runs on every worker.

Each worker reads its own shard of the training split (``num_shards=world_size``,
``shard_index=rank``, TF auto-sharding off) and feeds its one local replica through
``distribute_datasets_from_function``, which takes the per-worker batch as it is (no rebatching).
Rank 0 alone logs, evaluates (the whole eval split or ``eval_batches`` of it, so the figures do
not depend on the worker count), writes ``metrics.jsonl``, TensorBoard events, checkpoints and
``model.keras``; every rank calls ``ray.train.report`` at each checkpoint with its metrics only
(the checkpoint itself is stored once, in the run directory).

Resume: a (re)started worker group restores the newest checkpoint in the run directory (weights,
optimizer variables, step) and continues from there. The data stream does not resume at its old
position: it restarts with a fresh shuffle seeded by ``seed + step``, so a resumed run sees
different, but reproducible, batches.

Host reads: a step's stats stay on the device, summed (:mod:`musicgen.train.device_totals`); the
loop reads them only at log, evaluation and checkpoint steps; in between, Python never waits for
the device, which runs ahead on the queued steps. A non-finite loss (the same on every rank, as
it is all-reduced) is found at that read, which every rank makes at the same step, and stops them
all there before anything is evaluated or saved; rank 0 records the first non-finite step in
``metrics.jsonl`` and the driver turns it into an error, instead of a retry that would diverge
again.

Early stopping and the time limit (:mod:`musicgen.train.stopping`): rank 0 decides, at a
checkpoint step, and every rank learns its decision there; a stopped run writes its checkpoint,
a ``stopped`` row in ``metrics.jsonl`` and its ``model.keras`` (the best evaluated model when
early stopping is on).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgen import logs, storage
from musicgen.config import from_dict
from musicgen.errors import ConfigError, InputError, ObjectNotFound
from musicgen.examples.encoding_info import EncodingInfo, read_encoding_info
from musicgen.examples.readers import list_shards
from musicgen.models.family import WEIGHT, ModelFamily
from musicgen.train import checkpoints as ckpts
from musicgen.train.config import TrainConfig
from musicgen.train.device_totals import DeviceTotals, Fetched
from musicgen.train.metrics import MetricsLog, TensorBoard, Window
from musicgen.train.run_dir import run_dir_of
from musicgen.train.stopping import EARLY_STOPPING, STOPPED, TIME_LIMIT, Patience, agree

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)

DIVERGED = "diverged"


def resolve_family(name: str) -> ModelFamily:
    """A family from the registry by name, or from ``module:attr`` (a class or factory)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        family: ModelFamily = factory()
        return family
    from musicgen.models.registry import get_family

    return get_family(name)


def weights_checksum(model: keras.Model) -> str:
    """sha256 of every weight's bytes, in order: equal on every rank after a correct step."""
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train's entry point; ``config`` is ``{"cfg": <plain TrainConfig>, "family": str}``."""
    import ray.train

    context = ray.train.get_context()
    Worker(config, context.get_world_rank(), context.get_world_size()).run()


class Worker:
    """One rank's training run (see the module docstring)."""

    def __init__(self, config: Mapping[str, Any], rank: int, world_size: int) -> None:
        from musicgen.train.step import make_strategy

        logs.configure(bool(config.get("verbose", False)))
        logging.getLogger("musicgen").propagate = False  # Ray also prints the root logger
        self.strategy = make_strategy(world_size)  # before any other TensorFlow op
        self.cfg: TrainConfig = from_dict(TrainConfig, dict(config["cfg"]), source="train config")
        self.family = resolve_family(str(config["family"]))
        self.rank, self.world_size = rank, world_size
        self.run_dir = run_dir_of(self.cfg)
        self.chief = rank == 0
        self.began = time.monotonic()
        self.patience = Patience()
        self.stopped = ""  # why the run ended before num_steps (restored or decided here)

    def run(self) -> None:
        import keras

        from musicgen.train.step import optimizer_state

        cfg = self.cfg
        # Before the model is built: its layers take their compute dtype from the global policy.
        policy = "mixed_float16" if cfg.use_mixed_precision else "float32"
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(cfg.seed)
        info = read_encoding_info(cfg.data.dataset)
        train_files = list_shards(cfg.data.dataset, cfg.data.train_split)
        model, optimizer = self._build(info)
        start = self._restore(model, optimizer)
        # What this rank starts from, restored or new: resumes are checked against it.
        began = {"start_step": start, "policy": policy,
                 **{f"start_{k}": v for k, v in optimizer_state(optimizer).items()},
                 "start_weights_sha256": weights_checksum(model)}  # fmt: skip
        self._write_worker({**began, "pid": os.getpid()})
        metrics = MetricsLog(self.run_dir.metrics, start) if self.chief else None
        board = TensorBoard(self.run_dir.tensorboard) if self.chief else None
        evaluate = self._evaluator(model, info) if self.chief else None
        step, diverged = start, False
        try:
            step, diverged = self._train(
                model, optimizer, info, train_files, start, metrics, board, evaluate
            )
        finally:
            if board is not None:
                board.close()
        final = {"final_step": step, "diverged": diverged, **optimizer_state(optimizer),
                 "weights_sha256": weights_checksum(model), "pid": os.getpid()}  # fmt: skip
        final["stopped"] = self.stopped
        self._write_worker({**began, **final})
        if self.chief and (step >= cfg.num_steps or self.stopped) and not diverged:
            self._write_model(model)

    def _write_model(self, model: keras.Model) -> None:
        """``model.keras``: the best evaluated model under early stopping, else the last."""
        if self.cfg.early_stopping.enabled and storage.exists(self.run_dir.best_meta):
            storage.write_bytes(self.run_dir.model, storage.read_bytes(self.run_dir.best_model))
            return
        with tempfile.TemporaryDirectory(prefix="musicgen-model-") as tmp:
            local = Path(tmp) / "model.keras"
            model.save(local)
            storage.upload_file(str(local), self.run_dir.model)

    def _build(self, info: EncodingInfo) -> tuple[keras.Model, keras.optimizers.Optimizer]:
        from musicgen.train.step import build_optimizer

        with self.strategy.scope():
            model = self.family.build(self.cfg.model, info)
            optimizer = build_optimizer(self.cfg.optimizer, self.cfg.use_mixed_precision)
            optimizer.build(model.trainable_variables)
            model.compile(optimizer=optimizer)  # so checkpoints carry the optimizer's state
        return model, optimizer

    def _restore(self, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> int:
        latest = ckpts.latest_checkpoint(self.run_dir.checkpoints)
        if latest is None:
            if self.cfg.init_from:  # a new fine-tuning run: the source's weights, fresh optimizer
                from musicgen.train.init_from import load_initial_weights

                source = load_initial_weights(
                    model, self.cfg.init_from, self.family.custom_objects()
                )
                if self.chief:
                    log.info("starting from the weights of %s", source)
            return 0
        ckpts.restore_checkpoint(latest, model, optimizer, self.family.custom_objects())
        meta = ckpts.read_meta(latest)
        self.patience = Patience.from_meta(meta.get(EARLY_STOPPING))
        # Only early stopping ends a run; a time limit is a pause that the next start resumes.
        self.stopped = EARLY_STOPPING if meta.get(STOPPED) == EARLY_STOPPING else ""
        if self.chief:
            log.info("resumed from %s (step %d)", latest.model_uri, latest.step)
        return latest.step

    def _dataset(self, files: list[str], info: EncodingInfo, seed: int) -> Any:
        import tensorflow as tf

        def make(_: tf.distribute.InputContext) -> tf.data.Dataset:
            ds = self.family.dataset(
                files, info, self.cfg.data, batch_size=self.cfg.per_worker_batch_size,
                training=True, seed=seed, num_shards=self.world_size, shard_index=self.rank,
            )  # fmt: skip
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.OFF
            )
            return ds.with_options(options)

        return self.strategy.distribute_datasets_from_function(make)

    def _train(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        info: EncodingInfo,
        files: list[str],
        start: int,
        metrics: MetricsLog | None,
        board: TensorBoard | None,
        evaluate: Callable[[], dict[str, float]] | None,
    ) -> tuple[int, bool]:
        """Steps ``start + 1 .. num_steps``; returns the last step run and whether it diverged."""
        from musicgen.train.step import make_train_step

        cfg = self.cfg
        if start >= cfg.num_steps or self.stopped:
            return start, False
        if evaluate is not None and start == 0 and cfg.init_from:
            self._eval(0, evaluate, metrics, board)  # the source model on this data: the baseline
        dataset = self._dataset(files, info, cfg.seed + start)
        train_step = make_train_step(
            self.strategy, self.family, model, optimizer, cfg.optimizer, dataset.element_spec
        )
        batches: Iterator[Any] = iter(dataset)
        pending, window, started = DeviceTotals(), Window(), time.monotonic()
        last: dict[str, float] = {}
        early = cfg.early_stopping
        watching = early.enabled or cfg.max_minutes is not None
        for step in range(start + 1, cfg.num_steps + 1):
            pending.add(step, train_step(next(batches)))
            final = step == cfg.num_steps
            logs = step % cfg.log_every == 0 or final
            # The same on every rank (only rank 0 evaluates): every rank checkpoints, and so
            # joins agree(), at the same steps.
            eval_step = (cfg.eval_every > 0 and step % cfg.eval_every == 0) or final
            evals = evaluate is not None and eval_step
            saves = step % cfg.checkpoint_every == 0 or final or (early.enabled and eval_step)
            if not (logs or evals or saves):
                continue  # nothing read back: the device runs ahead (module docstring)
            fetched = pending.fetch()
            if fetched.diverged_at is not None:
                self._diverged(fetched, metrics)
                return step, True
            window.add(fetched.totals, steps=fetched.steps)
            if logs:
                last = self._log(step, window, started, optimizer, metrics, board)
                window.reset()
            improved = False
            if evaluate is not None and evals:
                summary = self._eval(step, evaluate, metrics, board)
                last |= {f"eval_{k}": v for k, v in summary.items()}
                if early.enabled:
                    improved = self.patience.update(self._score(summary), step, early.min_delta)
            if saves:
                reason = agree(self.strategy, self._stop_reason()) if watching else ""
                if reason and final:
                    reason = ""  # reached num_steps: finished, not stopped
                self._checkpoint(model, step, last, metrics, board, reason)
                if improved and self.chief:
                    self._save_best(model, step)  # after its checkpoint: never ahead of it
                if reason:
                    self._stop(step, reason, metrics)
                    return step, False
        return cfg.num_steps, False

    def _score(self, summary: Mapping[str, float]) -> float:
        metric = self.cfg.early_stopping.metric
        if metric not in summary:
            raise ConfigError(
                f"{self.run_dir.config}: early_stopping.metric {metric!r} is not an evaluation "
                f"metric of {self.family.name}; it has {', '.join(sorted(summary))}"
            )
        return float(summary[metric])

    def _stop_reason(self) -> str:
        """Rank 0's view: patience used up, or the time limit passed ("" on other ranks)."""
        cfg = self.cfg
        if not self.chief:
            return ""
        if self.patience.exhausted(cfg.early_stopping.patience):
            return EARLY_STOPPING
        if cfg.max_minutes is not None and time.monotonic() - self.began > cfg.max_minutes * 60:
            return TIME_LIMIT
        return ""

    def _save_best(self, model: keras.Model, step: int) -> None:
        early = self.cfg.early_stopping
        with tempfile.TemporaryDirectory(prefix="musicgen-best-") as tmp:
            local = Path(tmp) / "best.keras"
            model.save(local)
            storage.upload_file(str(local), self.run_dir.best_model)
        meta = {"step": step, "metric": early.metric, "value": self.patience.best,
                "split": self.cfg.data.eval_split}  # fmt: skip
        storage.write_text(self.run_dir.best_meta, json.dumps(meta, indent=2) + "\n")
        log.info("best %s so far at step %d: %.6g", early.metric, step, self.patience.best)

    def _stop(self, step: int, reason: str, metrics: MetricsLog | None) -> None:
        self.stopped = reason
        if metrics is not None:
            metrics.add({"step": step, "split": "run", "event": STOPPED, "reason": reason,
                         **self.patience.to_meta()})  # fmt: skip
            metrics.flush()
        if self.chief:
            log.info("stopped at step %d: %s", step, reason.replace("_", " "))

    def _diverged(self, fetched: Fetched, metrics: MetricsLog | None) -> None:
        step, loss = fetched.diverged_at, fetched.diverged_loss
        if metrics is not None:
            metrics.add({"step": step, "split": "train", "event": DIVERGED, "loss": loss})
            metrics.flush()
        log.error("training diverged at step %s: loss %s", step, loss)

    def _log(
        self,
        step: int,
        window: Window,
        started: float,
        optimizer: keras.optimizers.Optimizer,
        metrics: MetricsLog | None,
        board: TensorBoard | None,
    ) -> dict[str, float]:
        from musicgen.train.step import optimizer_state

        summary = self.family.summarize(window.totals) | window.rates(WEIGHT)
        if "loss_scale" in (state := optimizer_state(optimizer)):
            summary["loss_scale"] = state["loss_scale"]  # falling steadily: float16 overflows
        if metrics is not None and board is not None:
            wall = time.monotonic() - started
            metrics.add({"step": step, "split": "train", **summary, "wall_s": wall})
            board.scalars("train", step, summary)
            log.info(
                "step %d/%d: loss %.4f, %.2f steps/s, %.0f events/s",
                step, self.cfg.num_steps, summary.get("loss", math.nan),
                summary["steps_per_s"], summary["events_per_s"],
            )  # fmt: skip
        return summary

    def _evaluator(
        self, model: keras.Model, info: EncodingInfo
    ) -> Callable[[], dict[str, float]] | None:
        from musicgen.train.step import make_eval_step

        cfg = self.cfg
        try:
            files = list_shards(cfg.data.dataset, cfg.data.eval_split)
        except (InputError, ObjectNotFound) as exc:
            log.warning("no evaluation: %s", exc)
            return None
        eval_step = make_eval_step(self.family, model)

        def evaluate() -> dict[str, float]:
            ds = self.family.dataset(
                files, info, cfg.data, batch_size=cfg.per_worker_batch_size, training=False,
                seed=cfg.seed, num_shards=1, shard_index=0,
            )  # fmt: skip
            if cfg.eval_batches is not None:
                ds = ds.take(cfg.eval_batches)
            sums = DeviceTotals()
            for batch in ds:
                sums.add(sums.steps + 1, eval_step(batch))
            totals = sums.fetch().totals  # one host read for the whole evaluation
            return self.family.summarize(totals) if totals else {}

        return evaluate

    def _eval(
        self,
        step: int,
        evaluate: Callable[[], dict[str, float]],
        metrics: MetricsLog | None,
        board: TensorBoard | None,
    ) -> dict[str, float]:
        began = time.monotonic()
        summary = evaluate()
        if metrics is not None and board is not None:
            seconds = time.monotonic() - began
            metrics.add({"step": step, "split": self.cfg.data.eval_split, **summary,
                         "eval_s": seconds})  # fmt: skip
            board.scalars("eval", step, summary)
            log.info("step %d: eval %s (%.1fs)", step, _short(summary), seconds)
        return summary

    def _checkpoint(
        self,
        model: keras.Model,
        step: int,
        last: dict[str, float],
        metrics: MetricsLog | None,
        board: TensorBoard | None,
        stopped: str = "",
    ) -> None:
        import ray.train

        report = {"step": step, **last}
        if not self.chief:
            ray.train.report(report, checkpoint=None)
            return
        if metrics is None or board is None:
            raise RuntimeError("rank 0 writes metrics and TensorBoard events")
        folder = self.run_dir.checkpoints
        with tempfile.TemporaryDirectory(prefix="musicgen-ckpt-") as tmp:
            meta = {"metrics": last, EARLY_STOPPING: self.patience.to_meta(), STOPPED: stopped}
            ckpts.save_checkpoint(model, folder, step, meta, tmp)
            removed = ckpts.prune_checkpoints(folder, self.cfg.keep_checkpoints)
            metrics.flush()
            board.flush()
            log.info("checkpoint at step %d%s", step, f" (removed {removed})" if removed else "")
        # Metrics only: the checkpoint lives once, in the run directory, where a restarted group
        # finds it; attaching it here would make Ray Train store a second copy under ray/.
        ray.train.report(report, checkpoint=None)

    def _write_worker(self, data: Mapping[str, Any]) -> None:
        row = {"rank": self.rank, "world_size": self.world_size, **data}
        storage.write_text(self.run_dir.worker(self.rank), json.dumps(row, indent=2) + "\n")


def _short(summary: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in summary.items())
