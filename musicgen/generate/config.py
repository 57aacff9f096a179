"""The typed config of a generation batch (``musicgen generate``, ``jobs/generate_batch.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.errors import ConfigError


@dataclass(frozen=True)
class GenerateConfig:
    """One batch of generated pieces.

    Attributes:
        run: A training run directory (local or gs://); the model is rebuilt from its own
            ``config.resolved.yaml`` and ``model.keras`` (or its newest checkpoint).
        output: Root under which ``generated/<model>/<date>/<batch_id>/`` is written.
        num_samples: Pieces in the batch.
        batch_size: Pieces generated together by one actor call (rows of one step).
        batch_id: The batch's name; re-running the same id completes or reproduces it. None:
            made from the time.
        date: ``YYYY-MM-DD`` folder (None: today, UTC).
        model_name: The ``<model>`` folder (None: ``<family>-<run id>``).
        seed: Base seed; sample i uses a seed derived from (seed, batch_id, i).
        num_steps: PerformanceRNN: length in 10 ms steps, primer included (Magenta: 3000).
        num_frames: Piano-roll models: frames to generate.
        temperature: Sampling temperature.
        top_k: Sample among the k likeliest tokens (piano-roll keys: of a frame); 0: off.
        top_p: Nucleus sampling: the smallest set of tokens with mass >= p (piano-roll keys:
            of each key's on/off draw); 1.0: off.
        beam_size: Magenta's beam search (PerformanceRNN).
        branch_factor: Magenta's beam search branching.
        steps_per_iteration: Magenta's beam search pruning interval.
        argmax: Most likely token instead of sampling, with loop-breaking...
        loop_window: ...over runs of this many tokens.
        notes_per_second: Density control for density-conditioned configs.
        pitch_class_histogram: Comma-separated 12 weights for pitch-conditioned configs.
        disable_conditioning: Optional-conditioning configs: unconditioned.
        primer: A MIDI file (local or gs://) to continue; None: Magenta's empty primer.
        render: Render this many samples as PNG (and WAV where fluidsynth is installed).
        memorization_records: Training records indexed for the memorization check (0: off).
        compare_records: Held-out (eval split) records the batch is compared with, and at most
            as many of the batch's pieces, in report.json's ``corpus_comparison`` (0: off).
        num_actors: A fixed pool of generator actors. None: one per CPU present; with
            num_gpus, a pool that grows with the GPUs the cluster adds, up to the autoscaler's
            maximum (see :mod:`musicgen.generate.actor_pool`).
        num_gpus: GPUs per actor; a fraction shares a GPU (TensorFlow's memory then grows as
            needed instead of being taken whole). GPU actors reserve one CPU too.
        max_gpu_actors: The GPU pool's ceiling where the cluster does not publish its
            autoscaler's maximum (num_actors unset).
        address: Ray cluster address; None: the job's cluster or an embedded local Ray.
        num_cpus: CPUs for the embedded local Ray.
    """

    run: str
    output: str
    num_samples: int = 16
    batch_size: int = 64
    batch_id: str | None = None
    date: str | None = None
    model_name: str | None = None
    seed: int = 0
    num_steps: int = 3000
    num_frames: int = 128
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    beam_size: int = 1
    branch_factor: int = 1
    steps_per_iteration: int = 1
    argmax: bool = False
    loop_window: int = 8
    notes_per_second: float | None = None
    pitch_class_histogram: str | None = None
    disable_conditioning: bool = False
    primer: str | None = None
    render: int = 2
    memorization_records: int = 2000
    compare_records: int = 200
    num_actors: int | None = None
    num_gpus: float = 0.0
    max_gpu_actors: int = 4
    address: str | None = None
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if not self.run or not self.output:
            raise ConfigError("generate: run and output are required")
        for name in ("num_samples", "batch_size", "num_steps", "num_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"generate: {name} must be >= 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise ConfigError(f"generate: temperature must be > 0, got {self.temperature}")
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"generate: top_k must be >= 0 and top_p in (0, 1], got {self.top_k}, {self.top_p}"
            )
        if self.compare_records < 0:
            raise ConfigError(f"generate: compare_records must be >= 0, got {self.compare_records}")
        if self.num_actors is not None and self.num_actors < 1:
            raise ConfigError(f"generate: num_actors must be >= 1, got {self.num_actors}")
        if self.max_gpu_actors < 1:
            raise ConfigError(f"generate: max_gpu_actors must be >= 1, got {self.max_gpu_actors}")
        if self.render < 0 or self.memorization_records < 0 or self.num_gpus < 0:
            raise ConfigError("generate: render, memorization_records and num_gpus must be >= 0")
        if self.pitch_class_histogram is not None:
            self.histogram()  # validates

    def histogram(self) -> tuple[float, ...] | None:
        """The pitch-class histogram as 12 floats."""
        if self.pitch_class_histogram is None:
            return None
        try:
            values = tuple(float(v) for v in self.pitch_class_histogram.split(","))
        except ValueError as exc:
            raise ConfigError(f"generate: pitch_class_histogram: {exc}") from exc
        if len(values) != 12 or min(values) < 0:
            raise ConfigError("generate: pitch_class_histogram needs 12 non-negative weights")
        return values
