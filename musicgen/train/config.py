"""Typed training configs. Defaults live here; YAML under configs/ only overrides them.

A run is fully described by one :class:`TrainConfig`, saved resolved as
``config.resolved.yaml`` in the run directory, from which generation rebuilds the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from musicgen.errors import ConfigError
from musicgen.models.configs import FAMILIES, ModelConfig, PerformanceRNNConfig, model_config
from musicgen.models.configs.base import with_chords

# Each family's model config lives beside its model (musicgen.models.configs); re-exported here
# because a training config is where users meet them.
__all__ = [
    "FAMILIES",
    "DataConfig",
    "EarlyStoppingConfig",
    "ModelConfig",
    "OptimizerConfig",
    "TrainConfig",
    "model_config",
]


@dataclass(frozen=True)
class DataConfig:
    """Where the examples are and how batches are cut.

    Attributes:
        dataset: The folder ``musicgen examples`` wrote (encoding.json, train/, eval/ ...).
        train_split: Split folder to train on.
        eval_split: Split folder to evaluate on (``valid``/``test`` for the B-L benchmarks).
        window: Piano rolls: frames per training window (None: whole pieces).
        hop: Piano rolls: frames between window starts (None: ``window``).
        shuffle_buffer: Records in the shuffle buffer (None: the reader's default).
    """

    dataset: str = ""
    train_split: str = "train"
    eval_split: str = "eval"
    window: int | None = None
    hop: int | None = None
    shuffle_buffer: int | None = None

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 2:
            raise ConfigError(f"data.window must be >= 2, got {self.window}")
        if self.hop is not None and self.hop < 1:
            raise ConfigError(f"data.hop must be >= 1, got {self.hop}")


@dataclass(frozen=True)
class OptimizerConfig:
    """Adam as Magenta configures it.

    Attributes:
        learning_rate: Adam's step size (Magenta: 1e-3).
        epsilon: Adam's epsilon (TF1's 1e-8, as Magenta; Keras' default is 1e-7).
        clip_norm: Clip each gradient tensor to this norm (Magenta/tf_slim: 3), or None.
        global_clip_norm: Clip all gradients jointly instead, or None.
    """

    learning_rate: float = 1e-3
    epsilon: float = 1e-8
    clip_norm: float | None = 3.0
    global_clip_norm: float | None = None

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ConfigError(f"optimizer.learning_rate must be > 0, got {self.learning_rate}")
        if self.clip_norm is not None and self.global_clip_norm is not None:
            raise ConfigError("optimizer: set clip_norm or global_clip_norm, not both")


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop when the evaluation stops improving, and keep the best evaluated model.

    On (``patience`` > 0): every evaluation is also a checkpoint; the model of the best
    evaluation is kept as ``best.keras`` (its step and score in ``best.json``), and the run's
    ``model.keras`` is that model, not the last one (the last stays in the newest checkpoint).
    A run stopped early is finished: running it again trains nothing.

    Attributes:
        patience: Evaluations in a row without a better ``metric`` before the run stops
            (0: off).
        metric: The evaluation metric to minimize (a key of the family's summary:
            ``loss``; ``nll_per_frame`` for the piano-roll families).
        min_delta: An evaluation counts as better only if it beats the best by more than this.
    """

    patience: int = 0
    metric: str = "loss"
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 0:
            raise ConfigError(f"early_stopping.patience must be >= 0, got {self.patience}")
        if self.min_delta < 0:
            raise ConfigError(f"early_stopping.min_delta must be >= 0, got {self.min_delta}")
        if not self.metric:
            raise ConfigError("early_stopping.metric is empty (an evaluation metric, e.g. loss)")

    @property
    def enabled(self) -> bool:
        return self.patience > 0


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: The model: its family's config (``model.family`` picks which).
        data: The examples.
        optimizer: The optimizer.
        runs_dir: Runs go to ``<runs_dir>/<model.family>/<run_id>/`` (local or gs://).
        run_id: The run's name; None makes one from the time. Re-using an id resumes that run.
        batch_size: Global batch size, split evenly over the workers (Magenta: 64).
        num_steps: Optimizer steps in all.
        log_every: Steps between progress lines and metrics.jsonl rows.
        eval_every: Steps between evaluations (0: only at the end).
        eval_batches: Batches per evaluation (None: the whole eval split).
        early_stopping: Stop when the evaluation stops improving; keep the best model.
        max_minutes: Stop cleanly after this many minutes of training (a checkpoint and a
            ``model.keras`` are written); running the same config again resumes. None: no limit.
        checkpoint_every: Steps between checkpoints.
        keep_checkpoints: Checkpoints kept (the newest).
        seed: Seeds weight init and the shuffle.
        num_workers: Ray Train workers (one per GPU on GPU nodes).
        use_gpu: One GPU per worker.
        mixed_precision: float16 compute (None: on when use_gpu).
        max_failures: Ray Train restarts of a failed worker group (each resumes from the latest
            checkpoint).
        address: Ray cluster address; None: the job's cluster, or an embedded local Ray.
        num_cpus: CPUs for the embedded local Ray.
        init_from: Another run directory (trained, or imported from Magenta) whose weights a
            new run starts from, with that run's model; its encoding must be the dataset's.
    """

    model: ModelConfig = field(default_factory=PerformanceRNNConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    runs_dir: str = "runs"
    run_id: str | None = None
    batch_size: int = 64
    num_steps: int = 1000
    log_every: int = 10
    eval_every: int = 0
    eval_batches: int | None = None
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    max_minutes: float | None = None
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    seed: int = 0
    num_workers: int = 1
    use_gpu: bool = False
    mixed_precision: bool | None = None
    max_failures: int = 2
    address: str | None = None
    num_cpus: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        if not self.data.dataset:
            raise ConfigError("train: data.dataset is empty (the folder `musicgen examples` wrote)")
        for name in ("batch_size", "num_steps", "log_every", "checkpoint_every",
                     "keep_checkpoints", "num_workers"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"train: {name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.num_workers:
            raise ConfigError(
                f"train: batch_size {self.batch_size} must divide evenly over "
                f"{self.num_workers} workers"
            )
        if self.eval_every < 0 or self.max_failures < 0:
            raise ConfigError("train: eval_every and max_failures must be >= 0")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ConfigError(f"train: eval_batches must be >= 1, got {self.eval_batches}")
        if self.early_stopping.enabled and self.eval_every < 1:
            raise ConfigError(
                "train: early_stopping.patience needs eval_every >= 1 (evaluations to compare)"
            )
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"train: max_minutes must be > 0, got {self.max_minutes}")
        if getattr(self.model, "chords", "") is None:
            # The examples job writes the vocabulary beside the shards; the family's build only
            # sees the model config, so the path is resolved here, once, and recorded.
            from musicgen.storage import join, layout

            chords = join(self.data.dataset, layout.CHORD_VOCABULARY)
            object.__setattr__(self, "model", with_chords(self.model, chords))

    @property
    def per_worker_batch_size(self) -> int:
        """Examples each worker takes per step."""
        return self.batch_size // self.num_workers

    @property
    def use_mixed_precision(self) -> bool:
        """float16 compute: explicit, or on exactly when training on GPUs."""
        return self.use_gpu if self.mixed_precision is None else self.mixed_precision
