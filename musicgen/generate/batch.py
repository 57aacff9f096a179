"""The generation job: a batch of pieces fanned out over a Ray Data actor pool, to storage.

Each actor loads the run's model once and generates ``batch_size`` pieces per call. Object names
derive from (batch_id, index) and seeds from (seed, batch_id, index), so a re-run of a batch
neither duplicates nor loses objects: pieces already written are kept, the missing ones are
generated. ``manifest.jsonl`` follows, and ``report.json`` last marks the batch complete.

Both files are functions of the pieces: every quality metric is computed from a piece's MIDI
bytes, a piece already there keeps its manifest row unchanged (with the generation facts, such
as its log-likelihood, recorded when it was generated), and the report's timing describes the
run that last generated pieces. So a re-run that generates nothing rewrites both files byte for
byte, and one that regenerates lost pieces writes the rows of the first run again. No JSON
value is NaN or infinite (``null`` instead). Timing keeps apart model loading (``load_s``), the
warm-up that traces the compiled step (``compile_s``) and generation (``generate_s``, summed
over actors); ``events_per_second`` is generated events per ``generate_s`` (per actor).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from musicgen import __version__, storage
from musicgen.generate.actor_pool import ClusterResources
from musicgen.generate.config import GenerateConfig
from musicgen.generate.manifest import (
    ManifestRow,
    read_manifest,
    read_report,
    sha256_hex,
    write_manifest,
    write_report,
)
from musicgen.generate.quality import CorpusIndex, batch_summary, metrics_of_bytes
from musicgen.generate.review import review_batch
from musicgen.storage import layout

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a batch run did."""

    prefix: str
    rows: list[ManifestRow]
    generated: int
    reused: int
    seconds: float
    report: dict[str, Any]

    def summary(self) -> str:
        """One line for the end of the job."""
        return (
            f"{len(self.rows)} pieces at {self.prefix} ({self.generated} generated, "
            f"{self.reused} already there) in {self.seconds:.1f}s"
        )


class GeneratorActor:
    """The Ray Data UDF: one per actor, holding the model."""

    def __init__(self, cfg: dict[str, Any], prefix: str, batch_id: str, corpus: Any) -> None:
        import ray

        from musicgen.generate.actor_pool import shares_gpu

        if shares_gpu(float(cfg.get("num_gpus", 0.0))):
            enable_memory_growth()  # before anything below touches TensorFlow

        from musicgen.generate.samples import SampleMaker

        if isinstance(corpus, ray.ObjectRef):
            corpus = ray.get(corpus)  # one copy in the object store, shared by the actors
        self.maker = SampleMaker(GenerateConfig(**cfg), prefix, batch_id, corpus)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        rows = self.maker.make([int(i) for i in batch["index"]])
        # The call's timing rides on its first row (the others carry none), so sums are exact.
        timing = [json.dumps(self.maker.timing)] + ["{}"] * (len(rows) - 1)
        return {
            "row": np.array([r.to_json() for r in rows], dtype=object),
            "timing": np.array(timing, dtype=object),
        }


def enable_memory_growth() -> int:
    """Lets TensorFlow take GPU memory as it needs it instead of all of it at start, so that
    actors sharing a GPU (``num_gpus`` < 1) fit beside each other; returns the GPUs set.

    Must run before TensorFlow initializes the GPUs in this process (it raises otherwise).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return len(gpus)


def run_model_name(cfg: GenerateConfig) -> str:
    """``<family>-<run id>`` from the run's path ``.../<family>/<run_id>``."""
    if cfg.model_name:
        return cfg.model_name
    parts = cfg.run.rstrip("/").split("/")
    return f"{parts[-2]}-{parts[-1]}" if len(parts) >= 2 else parts[-1]


def generate_batch(cfg: GenerateConfig) -> BatchReport:
    """Generates (or completes) one batch; see the module docstring."""
    from musicgen.generate.loaded_run import load_run
    from musicgen.generate.support import check_supported
    from musicgen.ray_tasks import init_ray

    started = time.monotonic()
    batch_id = cfg.batch_id or dt.datetime.now(dt.UTC).strftime("%H%M%S")
    date = cfg.date or dt.datetime.now(dt.UTC).date().isoformat()
    cfg = dataclasses.replace(
        cfg,
        batch_id=batch_id,
        date=date,
        # Actors do not run in the caller's directory: hand them absolute local paths.
        run=storage.absolute(cfg.run),
        output=storage.absolute(cfg.output),
        primer=storage.absolute(cfg.primer) if cfg.primer else None,
    )
    run = load_run(cfg.run)  # fails fast, in the driver, on a bad run directory
    check_supported(run, cfg)  # and on a setting the family cannot honour
    prefix = layout.batch_prefix(cfg.output, run_model_name(cfg), date, batch_id)
    # Before the first delete: the batch must not land inside the run it reads, and the
    # output bucket must exist, or every actor would fail (and retry) only after the work.
    storage.check_job_paths(cfg.run, prefix, what="generate")
    previous_timing = _previous_timing(prefix)
    storage.delete(storage.join(prefix, layout.REPORT))  # incomplete until written again
    corpus = training_corpus(run, cfg.memorization_records)
    existing = _existing(prefix, cfg, batch_id, corpus, run.family)
    todo = [i for i in range(cfg.num_samples) if i not in existing]
    log.info("batch %s: %d pieces to generate, %d already there", prefix, len(todo), len(existing))
    rows = dict(existing)
    timing = previous_timing
    if todo:
        gen_started = time.monotonic()
        started_ray = init_ray(cfg.address, cfg.num_cpus)
        try:
            generated, calls, actors = _fan_out(cfg, prefix, batch_id, corpus, todo)
            rows.update(generated)
        finally:
            if started_ray:
                import ray

                ray.shutdown()
        timing = _timing(calls, len(todo), actors, time.monotonic() - gen_started)
    ordered = [rows[i] for i in range(cfg.num_samples)]
    write_manifest(prefix, ordered)
    renders = render_some(prefix, ordered[: cfg.render])
    report = _report(cfg, run, prefix, ordered, timing, renders)
    # The corpus comparison, the plots and report.html: before report.json, the commit mark.
    report = review_batch(prefix, run, ordered, report, render=cfg.render,
                          compare_records=cfg.compare_records)  # fmt: skip
    write_report(prefix, report)
    return BatchReport(
        prefix, ordered, len(todo), len(existing), time.monotonic() - started, report
    )


def _fan_out(
    cfg: GenerateConfig, prefix: str, batch_id: str, corpus: CorpusIndex | None, todo: list[int]
) -> tuple[dict[int, ManifestRow], list[dict[str, Any]], int]:
    """The rows generated, the timing of every actor call (``SampleMaker.timing``), the actors."""
    import json

    import ray

    from musicgen.generate.actor_pool import pool_size

    pool = pool_size(
        num_actors=cfg.num_actors,
        num_gpus=cfg.num_gpus,
        calls=-(-len(todo) // cfg.batch_size),
        cluster=cluster_resources(),
        max_gpu_actors=cfg.max_gpu_actors,
    )
    log.info("actor pool: %d to %d actors (%s)", pool.min_size, pool.max_size, pool.basis)
    corpus_ref = ray.put(corpus)
    if not log.isEnabledFor(logging.DEBUG):  # our own progress lines are enough
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
    items = ray.data.from_items([{"index": i} for i in todo])
    ds = items.map_batches(
        GeneratorActor,
        fn_constructor_kwargs={
            "cfg": dataclasses.asdict(cfg),
            "prefix": prefix,
            "batch_id": batch_id,
            "corpus": corpus_ref,
        },
        batch_size=cfg.batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
        # GPU actors too: between GPU calls the sampling loop is Python, on a CPU of its own.
        num_cpus=1,
        num_gpus=cfg.num_gpus or None,
        # Ray Data restarts a lost actor and retries its unfinished batch by default
        # (max_restarts / max_task_retries -1); a piece written twice is the same object.
    )
    out: dict[int, ManifestRow] = {}
    calls: list[dict[str, Any]] = []
    for item in ds.iter_rows():
        row = ManifestRow.from_json(str(item["row"]))
        out[row.index] = row
        timing = json.loads(str(item["timing"]))
        if timing:
            calls.append(timing)
    missing = sorted(set(todo) - set(out))
    if missing:
        raise RuntimeError(f"generation lost pieces {missing[:10]} of {prefix}")
    return out, calls, pool.max_size


def cluster_resources() -> ClusterResources:
    """The connected cluster's CPUs and GPUs now, and its autoscaler's GPU ceiling if known.

    The ceiling comes from the cluster config the autoscaler reports to the GCS, read with the
    call Ray Train itself makes to check that a worker group can ever fit (a private Ray API:
    any failure to read it means "not published").
    """
    import ray

    now = ray.cluster_resources()
    max_gpus: float | None = None
    try:
        from ray._private.state import state

        limits = state.get_max_resources_from_cluster_config()
    except Exception as exc:  # noqa: BLE001 - private API; its absence is not an error
        log.debug("no autoscaler limits: %s", exc)
        limits = None
    if limits:
        max_gpus = float(limits.get("GPU", 0))
    return ClusterResources(
        cpus=float(now.get("CPU", 0)), gpus=float(now.get("GPU", 0)), max_gpus=max_gpus
    )


def _timing(calls: list[dict[str, Any]], pieces: int, actors: int, wall_s: float) -> dict[str, Any]:
    """The report's timing of this run's generation, from the actors' calls.

    A retried call (a lost actor) is counted as often as it ran: the seconds were spent.
    """
    compiled = [c["compile_s"] for c in calls if c.get("compile_s") is not None]
    generate_s = sum(float(c["generate_s"]) for c in calls)
    events = sum(int(c["events"]) for c in calls)
    return {
        "pieces": pieces,
        "actors": actors,
        "load_s": round(sum(float(c["load_s"]) for c in calls), 3),
        "compile_s": round(sum(compiled), 3) if compiled else None,
        "generate_s": round(generate_s, 3),
        "events": events,
        "events_per_second": round(events / generate_s, 1) if generate_s > 0 else None,
        "wall_s": round(wall_s, 3),
    }


def _previous_timing(prefix: str) -> dict[str, Any] | None:
    """The timing in the batch's report from an earlier run (``None`` if there is none)."""
    from musicgen.errors import ObjectNotFound, StorageError

    try:
        timing = read_report(prefix).get("timing")
    except (ObjectNotFound, StorageError):
        return None
    return timing if isinstance(timing, dict) else None


def _previous_rows(prefix: str) -> dict[int, ManifestRow]:
    from musicgen.errors import ObjectNotFound, StorageError

    try:
        return {r.index: r for r in read_manifest(prefix)}
    except ObjectNotFound:
        return {}
    except StorageError as exc:
        log.warning("the rows of the earlier manifest are described again: %s", exc)
        return {}


def _existing(
    prefix: str, cfg: GenerateConfig, batch_id: str, corpus: CorpusIndex | None, family: str
) -> dict[int, ManifestRow]:
    """Pieces a previous run of this batch already wrote.

    A piece whose earlier manifest row matches its bytes (size, sha256) keeps that row as it is.
    One without a row (a run that stopped before its manifest) is described from its bytes,
    without the generation facts that only its generation knew. One whose bytes do not match
    its row, or cannot be read, is generated again.
    """
    from musicgen.errors import ObjectNotFound
    from musicgen.generate.samples import sample_seed, settings_of

    try:
        names = {storage.basename(f.uri) for f in storage.list_files(prefix, recursive=False)}
    except ObjectNotFound:  # a missing folder is a new batch; any other failure is not
        return {}
    previous = _previous_rows(prefix)
    out = {}
    for index in range(cfg.num_samples):
        sample = layout.sample_id(batch_id, index)
        name = layout.sample_name(sample)
        if name not in names:
            continue
        data = storage.read_bytes(storage.join(prefix, name))
        row = previous.get(index)
        if row is not None and (row.sample_id, row.uri) == (sample, name):
            if (row.size, row.sha256) == (len(data), sha256_hex(data)):
                out[index] = row
            else:
                log.warning("regenerating %s: its bytes do not match the manifest", name)
            continue
        try:
            metrics = metrics_of_bytes(data, corpus=corpus)
        except Exception as exc:  # noqa: BLE001 - an unreadable leftover is generated again
            log.warning("regenerating %s: the object left by an earlier run is unreadable (%s)",
                        name, exc)  # fmt: skip
            continue
        out[index] = ManifestRow(
            sample_id=sample,
            index=index,
            seed=sample_seed(cfg.seed, batch_id, index),
            uri=name,
            size=len(data),
            sha256=sha256_hex(data),
            settings=settings_of(cfg, family),
            metrics=metrics,
        )
    return out


def training_corpus(run: Any, max_records: int) -> CorpusIndex | None:
    """A note-token index of (the un-augmented part of) the run's training split."""
    if max_records == 0:
        return None
    from musicgen.errors import InputError, ObjectNotFound
    from musicgen.examples import compact_format
    from musicgen.examples.readers import list_shards
    from musicgen.storage.tfrecord import read_tfrecord_file

    data = run.config.data
    info = run.info
    try:
        shards = list_shards(data.dataset, data.train_split)
    except (ObjectNotFound, InputError) as exc:
        # Generation needs only the run; the check needs the corpus, which may be gone.
        log.warning("no memorization check: the run's training data is not readable (%s)", exc)
        return None
    sequences: list[Any] = []
    for uri in shards:
        for record in read_tfrecord_file(uri):
            if len(sequences) >= max_records:
                break
            sequences.append(_record_sequence(record, info, compact_format))
        if len(sequences) >= max_records:
            break
    sequences = [s for s in sequences if s is not None]
    return CorpusIndex.from_note_sequences(sequences) if sequences else None


def _record_sequence(record: bytes, info: Any, compact_format: Any) -> Any:
    from musicgen.encodings import performance as perf

    if info.family == "pianoroll":
        from musicgen.generate.roll_generator import RollSettings, to_sequence

        frames, onsets = compact_format.decode_pianoroll(record)
        settings = RollSettings(steps_per_quarter=info.steps_per_quarter or 4)
        return to_sequence(frames, onsets, settings, info.min_pitch)
    if info.format != "compact":
        return None
    rec = compact_format.parse_performance(record)
    if rec.stretch != 1.0 or rec.transpose != 0 or rec.tokens.ndim != 1:
        return None  # the augmented copies would only repeat the original
    return perf.decode_ids(rec.tokens, info.performance_config.num_velocity_bins)


def render_some(prefix: str, rows: list[ManifestRow]) -> list[str]:
    """PNG (and WAV, where fluidsynth is installed) of the given samples, under ``renders/``."""
    from musicgen.generate.render import RenderError, render_png, render_wav

    written = []
    for row in rows:
        data = storage.read_bytes(storage.join(prefix, row.uri))
        png = storage.join(prefix, "renders", f"{row.sample_id}.png")
        render_png(data, png, title=row.sample_id)
        written.append(png)
        wav = storage.join(prefix, "renders", f"{row.sample_id}.wav")
        try:
            render_wav(data, wav)
            written.append(wav)
        except RenderError as exc:
            log.warning("no WAV for %s: %s", row.sample_id, exc)
    return [storage.relative_to(w, prefix) for w in written]


def _report(
    cfg: GenerateConfig,
    run: Any,
    prefix: str,
    rows: list[ManifestRow],
    timing: dict[str, Any] | None,
    renders: list[str],
) -> dict[str, Any]:
    """``report.json``: a function of the rows and of the timing of the run that generated."""
    return {
        "musicgen_version": __version__,
        "batch": prefix,
        "run": cfg.run,
        "model_file": run.model_file,
        "family": run.family,
        "encoding": run.info.name,
        "num_samples": len(rows),
        "settings": rows[0].settings if rows else {},
        "quality": batch_summary(r.metrics for r in rows),
        "memorization": {
            "corpus_records": cfg.memorization_records,
            "longest_shared_run": batch_summary(
                {"longest_shared_run": r.metrics.get("longest_shared_run")} for r in rows
            ).get("longest_shared_run"),
            "unit": "notes (pitch, onset gap) shared in a row with the training split",
        },
        "renders": renders,
        "timing": timing,
        "events_per_second": (timing or {}).get("events_per_second"),
        "config": dataclasses.asdict(cfg),
    }
