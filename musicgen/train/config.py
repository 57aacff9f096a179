"""Typed training configs. Defaults live here; YAML under configs/ only overrides them.

A run is fully described by one :class:`TrainConfig`, saved resolved as
``config.resolved.yaml`` in the run directory, from which generation rebuilds the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from musicgen.errors import ConfigError

FAMILIES = ("performance_rnn", "pianoroll_lstm", "biaxial_lstm", "chord_lstm", "seq2seq_lstm")
LOSSES = ("bce", "focal")
INPUT_MODES = ("one_hot", "embedding")
_ROLL_LOSS = ("loss", "focal_alpha", "focal_gamma", "teacher_forcing", "threshold")
# The ModelConfig keys each family reads (besides ``family``); the others do not apply to it.
FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "performance_rnn": ("layers", "dropout", "input_mode", "embedding_dim"),
    "pianoroll_lstm": ("layers", "dropout", *_ROLL_LOSS, "ramp_steps"),
    "biaxial_lstm": ("time_layers", "note_layers", "dropout", "threshold"),
    "chord_lstm": ("layers", "dropout", "embedding_dim", "chords", "max_chords"),
    "seq2seq_lstm": ("layers", "dropout", *_ROLL_LOSS, "seq2seq_window"),
}


@dataclass(frozen=True)
class ModelConfig:
    """The model: which family, and its hyper-parameters (unused ones are ignored).

    Attributes:
        family: ``performance_rnn``, ``pianoroll_lstm``, ``biaxial_lstm``, ``chord_lstm`` or
            ``seq2seq_lstm``.
        layers: LSTM sizes (performance_rnn: Magenta's 3 x 512; pianoroll_lstm: 2 layers;
            seq2seq_lstm: the encoder's and the decoder's, whose states they hand over).
        dropout: Output dropout between LSTM layers (Magenta's keep_prob 1.0 = 0.0 here).
        input_mode: performance_rnn inputs: ``one_hot`` (Magenta's exact inputs, also for
            conditioned/modulo/note encodings) or ``embedding`` (token ids; plain encodings).
        embedding_dim: Width of the token embedding in ``embedding`` mode (and of
            chord_lstm's chord embedding).
        loss: piano-roll loss: ``bce`` (binary cross-entropy with logits) or ``focal``.
        focal_alpha: Focal-loss weight of positive (sounding) keys.
        focal_gamma: Focal-loss focusing exponent.
        ramp_steps: Loss ramp: the first ``ramp_steps`` steps of each window get linearly
            growing weight (0 = off), since the state there has seen little context.
        teacher_forcing: Share of ground-truth previous frames fed as inputs during training;
            below 1.0 the rest are replaced by the model's own sampled predictions.
        time_layers: biaxial_lstm time-axis LSTM sizes (Johnson 2017: 300, 300).
        note_layers: biaxial_lstm note-axis LSTM sizes (Johnson 2017: 100, 50).
        threshold: Probability above which a key counts as on (accuracy, generation).
        chords: chord_lstm's vocabulary file; None: ``<data.dataset>/chords.json``, which
            :class:`TrainConfig` fills in (so the resolved config names the file it used).
        max_chords: chord_lstm: keep only the most frequent chords, this many classes in all
            (the out-of-vocabulary and silence classes included); None: the whole vocabulary.
        seq2seq_window: seq2seq_lstm: frames the encoder reads and the decoder writes.
    """

    family: str = "performance_rnn"
    layers: tuple[int, ...] = (512, 512, 512)
    dropout: float = 0.0
    input_mode: str = "one_hot"
    embedding_dim: int = 256
    loss: str = "bce"
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    ramp_steps: int = 0
    teacher_forcing: float = 1.0
    time_layers: tuple[int, ...] = (300, 300)
    note_layers: tuple[int, ...] = (100, 50)
    threshold: float = 0.5
    chords: str | None = None
    max_chords: int | None = None
    seq2seq_window: int = 16

    def applicable(self) -> dict[str, object]:
        """``family`` and the keys this family reads, with their values (for ``--dry-run``)."""
        return {"family": self.family} | {k: getattr(self, k) for k in FAMILY_KEYS[self.family]}

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"model.family must be one of {FAMILIES}, got {self.family!r}")
        for name in ("layers", "time_layers", "note_layers"):
            sizes = getattr(self, name)
            if not sizes or any(s < 1 for s in sizes):
                raise ConfigError(f"model.{name} must be positive sizes, got {sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.input_mode not in INPUT_MODES:
            raise ConfigError(f"model.input_mode must be one of {INPUT_MODES}")
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ConfigError(
                f"model.teacher_forcing must be in [0, 1], got {self.teacher_forcing}"
            )
        if self.ramp_steps < 0:
            raise ConfigError(f"model.ramp_steps must be >= 0, got {self.ramp_steps}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"model.threshold must be in (0, 1), got {self.threshold}")
        if self.max_chords is not None and self.max_chords < 3:
            raise ConfigError(f"model.max_chords must be >= 3 (2 reserved), got {self.max_chords}")
        if self.seq2seq_window < 1:
            raise ConfigError(f"model.seq2seq_window must be >= 1, got {self.seq2seq_window}")
        if self.embedding_dim < 1:
            raise ConfigError(f"model.embedding_dim must be >= 1, got {self.embedding_dim}")


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
class TrainConfig:
    """One training run.

    Attributes:
        model: The model.
        data: The examples.
        optimizer: The optimizer.
        runs_dir: Runs go to ``<runs_dir>/<model.family>/<run_id>/`` (local or gs://).
        run_id: The run's name; None makes one from the time. Re-using an id resumes that run.
        batch_size: Global batch size, split evenly over the workers (Magenta: 64).
        num_steps: Optimizer steps in all.
        log_every: Steps between progress lines and metrics.jsonl rows.
        eval_every: Steps between evaluations (0: only at the end).
        eval_batches: Batches per evaluation (None: the whole eval split).
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

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    runs_dir: str = "runs"
    run_id: str | None = None
    batch_size: int = 64
    num_steps: int = 1000
    log_every: int = 10
    eval_every: int = 0
    eval_batches: int | None = None
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
        if self.model.family == "chord_lstm" and self.model.chords is None:
            # The examples job writes the vocabulary beside the shards; the family's build only
            # sees the model config, so the path is resolved here, once, and recorded.
            from musicgen.storage import join, layout

            chords = join(self.data.dataset, layout.CHORD_VOCABULARY)
            object.__setattr__(self, "model", dataclasses.replace(self.model, chords=chords))

    @property
    def per_worker_batch_size(self) -> int:
        """Examples each worker takes per step."""
        return self.batch_size // self.num_workers

    @property
    def use_mixed_precision(self) -> bool:
        """float16 compute: explicit, or on exactly when training on GPUs."""
        return self.use_gpu if self.mixed_precision is None else self.mixed_precision
