"""``train(cfg)``: checks the inputs, writes the resolved config, runs Ray Train, reports.

Ray Train V2's ``TensorflowTrainer`` starts ``num_workers`` workers (1 CPU, plus 1 GPU each with
``use_gpu``), sets TF_CONFIG for them and restarts the whole group up to ``max_failures`` times
when a worker dies; each new group resumes from the newest checkpoint in the run directory.
Ray's own bookkeeping (run state, no checkpoints: ours are the only copy) goes to
``<run dir>/ray``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from musicgen import storage
from musicgen.errors import ConfigError, InputError, JobFailed, ObjectNotFound
from musicgen.models.configs.base import with_chords
from musicgen.storage import layout
from musicgen.train import checkpoints as ckpts
from musicgen.train.config import TrainConfig
from musicgen.train.metrics import read_rows
from musicgen.train.run_dir import plain, run_dir_of, with_run_id, write_config
from musicgen.train.stopping import EARLY_STOPPING, STOPPED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainReport:
    """What a finished run reports (also written as ``report.json`` in the run directory)."""

    run_dir: str
    run_id: str
    steps: int
    resumed_from: int
    wall_s: float
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[int] = field(default_factory=list)
    stopped: str = ""
    best: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line for the end of the job."""
        loss = self.train.get("loss")
        evals = self.eval.get("loss")
        parts = [f"trained {self.run_id} to step {self.steps} in {self.wall_s:.0f}s"]
        if self.stopped:
            parts.append(f"stopped by {self.stopped.replace('_', ' ')}")
        if self.best:
            best = self.best
            parts.append(f"best {best['split']} {best['metric']} {best['value']:.4f} "
                         f"at step {best['step']}")  # fmt: skip
        if self.resumed_from:
            parts.append(f"resumed from step {self.resumed_from}")
        if loss is not None:
            parts.append(f"train loss {loss:.4f}")
        if evals is not None:
            parts.append(f"eval loss {evals:.4f}")
        if "steps_per_s" in self.train:
            rates = self.train["steps_per_s"], self.train["events_per_s"]
            parts.append(f"{rates[0]:.2f} steps/s, {rates[1]:.0f} events/s")
        return ", ".join(parts) + f"; run dir {self.run_dir}"


def absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """Local paths made absolute: Ray Train workers do not run in the caller's directory."""
    model = cfg.model
    chords = getattr(model, "chords", None)  # a vocabulary file, for the families that read one
    if chords:
        model = with_chords(model, storage.absolute(chords))
    return dataclasses.replace(
        cfg,
        runs_dir=storage.absolute(cfg.runs_dir),
        data=dataclasses.replace(cfg.data, dataset=storage.absolute(cfg.data.dataset)),
        model=model,
    )


def check_inputs(cfg: TrainConfig) -> None:
    """The dataset's encoding.json and training shards exist (ConfigError naming the path), and
    the runs directory's bucket, if any, can be listed (BucketNotFound, CredentialsError...)."""
    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards

    for uri in (cfg.data.dataset, cfg.runs_dir):  # a typo'd bucket fails now, in one line
        storage.check_bucket(uri)
    try:
        read_encoding_info(cfg.data.dataset)
        list_shards(cfg.data.dataset, cfg.data.train_split)
        if cfg.early_stopping.enabled:  # it compares evaluations: there must be some
            list_shards(cfg.data.dataset, cfg.data.eval_split)
    except (ObjectNotFound, InputError) as exc:
        raise ConfigError(f"train: dataset not usable: {exc}") from exc


def copy_dataset_files(dataset: str, run: layout.RunDir) -> list[str]:
    """Copies the dataset's ``encoding.json`` (and ``chords.json``) into the run directory.

    Generation then needs the run alone: the dataset may live in another bucket, be moved, or be
    gone by the time a nightly batch runs.

    Returns:
        The copied files' URIs in the run.
    """
    copied = []
    for name, required in ((layout.ENCODING, True), (layout.CHORD_VOCABULARY, False)):
        try:
            data = storage.read_bytes(storage.join(dataset, name))
        except ObjectNotFound:
            if required:
                raise
            continue
        storage.write_bytes(run.path(name), data)
        copied.append(run.path(name))
    return copied


def train(cfg: TrainConfig, *, family: str | None = None) -> TrainReport:
    """Trains (or resumes) the run ``<runs_dir>/<model.family>/<run_id>``.

    Args:
        cfg: The run.
        family: ``module:attr`` of a family outside the registry (tests); default: the
            registry's ``cfg.model.family``.

    Raises:
        ConfigError: Bad settings or a missing dataset (names the path).
        JobFailed: Training diverged, or failed after ``max_failures`` restarts.
    """
    import ray.train
    from ray.train.tensorflow import TensorflowTrainer

    from musicgen.ray_tasks import init_ray
    from musicgen.train.init_from import resolve_init_from
    from musicgen.train.loop import train_loop_per_worker

    check_inputs(cfg)
    cfg = resolve_init_from(cfg)  # the source run's model, and its encoding checked
    cfg = with_run_id(absolute_paths(cfg))
    run_id = str(cfg.run_id)
    run = run_dir_of(cfg)
    resumed = write_config(run, cfg)
    copy_dataset_files(cfg.data.dataset, run)
    latest = ckpts.latest_checkpoint(run.checkpoints)
    resumed_from = latest.step if latest else 0
    log.info("%s run %s (%s)", "resuming" if resumed else "starting", run.uri,
             f"from step {resumed_from}" if resumed_from else "from scratch")  # fmt: skip
    started = time.monotonic()
    finished = resumed_from >= cfg.num_steps or (
        latest is not None and ckpts.read_meta(latest).get(STOPPED) == EARLY_STOPPING
    )
    if finished and storage.exists(run.model):
        # Finished already: nothing to train, so no Ray and no TensorFlow to start.
        log.info("run %s already reached step %d; nothing to train", run.uri, resumed_from)
        report = _report(run, cfg, resumed_from, time.monotonic() - started)
        storage.write_text(run.report, json.dumps(report.to_dict(), indent=2) + "\n")
        return report
    storage_path, filesystem = _ray_storage(run)
    started_ray = init_ray(cfg.address, cfg.num_cpus)
    trainer = TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={
            "cfg": plain(cfg),
            "family": family or cfg.model.family,
            "verbose": log.isEnabledFor(logging.DEBUG),
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.num_workers,
            use_gpu=cfg.use_gpu,
            resources_per_worker={"CPU": 1, **({"GPU": 1} if cfg.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=f"{cfg.model.family}-{run_id}",
            storage_path=storage_path,
            storage_filesystem=filesystem,
            failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
            # Ray Train's controller narrates each worker-group start at INFO; keep it for -v.
            # (mypy reads ray.train's V1 RunConfig; V2, which runs, has logging_config.)
            logging_config=ray.train.LoggingConfig(  # type: ignore[call-arg]
                log_level="INFO" if log.isEnabledFor(logging.DEBUG) else "WARNING"
            ),
        ),
    )
    try:
        trainer.fit()
    except ray.train.TrainingFailedError as exc:
        raise JobFailed(
            f"training {run.uri} failed after {cfg.max_failures} restarts: {exc}"
        ) from exc
    finally:
        if started_ray:
            ray.shutdown()
    report = _report(run, cfg, resumed_from, time.monotonic() - started)
    storage.write_text(run.report, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _ray_storage(run: layout.RunDir) -> tuple[str, Any]:
    """Where Ray Train keeps its own files: a local path, or a path on a GCS filesystem."""
    filesystem, path = storage.pyarrow_filesystem(run.ray_storage)
    if storage.is_gcs(run.uri):
        return path, filesystem
    storage.makedirs(run.ray_storage)
    return path, None


def _report(run: layout.RunDir, cfg: TrainConfig, resumed_from: int, wall_s: float) -> TrainReport:
    from musicgen.train.loop import DIVERGED

    rows = read_rows(run.metrics)
    if rows and rows[-1].get("event") == DIVERGED:
        raise JobFailed(
            f"training diverged at step {rows[-1]['step']} (loss {rows[-1].get('loss')}); "
            f"see {run.metrics}; lower optimizer.learning_rate or set a clip norm"
        )
    found = ckpts.list_checkpoints(run.checkpoints)
    steps = found[-1].step if found else 0
    stops = [r for r in rows if r.get("event") == STOPPED and r.get("step") == steps]
    stopped = str(stops[-1]["reason"]) if stops else ""
    if steps < cfg.num_steps and not stopped:
        raise JobFailed(f"training {run.uri} stopped at step {steps} of {cfg.num_steps}")
    try:
        best = json.loads(storage.read_bytes(run.best_meta)) if cfg.early_stopping.enabled else {}
    except ObjectNotFound:
        best = {}
    train_rows = [r for r in rows if r.get("split") == "train"]
    eval_rows = [r for r in rows if r.get("split") == cfg.data.eval_split]
    return TrainReport(
        run_dir=run.uri,
        run_id=str(cfg.run_id),
        steps=steps,
        resumed_from=resumed_from,
        wall_s=wall_s,
        train=train_rows[-1] if train_rows else {},
        eval=eval_rows[-1] if eval_rows else {},
        checkpoints=[c.step for c in found],
        stopped=stopped,
        best=best,
    )
