"""tf.data readers of example shards: shuffled, padded batches with masks, shardable per worker.

TensorFlow is imported inside the functions only, so importing this module stays light.

Both readers take the shard files (local paths or ``gs://`` URIs; ``.gz`` files are read as
GZIP, as Magenta's golden files are) and the folder's :class:`EncodingInfo`. Every byte is read
through :mod:`musicgen.storage` by :mod:`musicgen.examples.record_stream`, so local folders, the
emulator and GCS take the same path, and TensorFlow's own file system never sees a URI.
Sharding between workers: by file when there are at least as many files as shards (file ``i``
goes to shard ``i % num_shards``), else by record (every ``num_shards``-th record of the
stream). Shuffling is seeded: the same seed gives the same order, and every repetition
(``repeat=True``) and every new iteration reshuffles. With ``shuffle=False`` records come in
file order, the files one after the other.

Every batch is a dict of tensors padded to the longest element, with ``mask`` 1.0 on real steps
and 0.0 on padding (padded labels are 0).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from musicgen.encodings import biaxial
from musicgen.encodings import performance as perf
from musicgen.encodings.chords import ChordVocabulary
from musicgen.encodings.performance_configs import NOTE_NUM_CLASSES, Encoding, PerformanceConfig
from musicgen.errors import ConfigError, InputError
from musicgen.examples import compact_format
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.examples.record_stream import ShardPlan, stream_records

if TYPE_CHECKING:
    import tensorflow as tf

Mode = Literal["ids", "pairs"]
RollFeatures = Literal["frames", "biaxial", "chords"]
SHARD_SUFFIX = ".tfrecord"
COMPACT_SHUFFLE_BUFFER = 1024
MAGENTA_SHUFFLE_BUFFER = 64  # a one-hot Magenta record is ~0.7 MB
_BEAT_PERIOD = 2**biaxial.BEAT_BITS
_IDS_ENCODINGS = (Encoding.ONE_HOT, Encoding.COMPACT, Encoding.MODULO)


def list_shards(dir_uri: str, split: str) -> list[str]:
    """The ``*.tfrecord`` files directly under ``<dir_uri>/<split>/``, sorted.

    Raises:
        ObjectNotFound: The local folder does not exist.
        BucketNotFound: The bucket does not exist.
        InputError: No shard there (``no-shards``), naming the folder.
    """
    from musicgen import storage

    folder = storage.join(dir_uri, split)
    files = sorted(
        f.uri for f in storage.list_files(folder, recursive=False) if f.uri.endswith(SHARD_SUFFIX)
    )
    if not files:
        raise InputError(folder, "no-shards", f"no *{SHARD_SUFFIX} files")
    return files


def _check_args(files: Sequence[str], num_shards: int, shard_index: int, batch_size: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(files, str):
        raise ConfigError("files must be a sequence of URIs, not one string")
    if not files:
        raise ConfigError("no files to read")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ConfigError(f"shard_index {shard_index} out of range for {num_shards} shards")


def _records(
    files: Sequence[str],
    *,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int,
    num_shards: int,
    shard_index: int,
    repeat: bool,
) -> tf.data.Dataset:
    """Serialized records of this worker's shard, shuffled (seeded) and repeated if asked.

    The bytes come through :mod:`musicgen.storage` (:mod:`record_stream`), never from
    TensorFlow's file system; each new iteration of the dataset starts a new, reshuffled pass.
    """
    import tensorflow as tf

    plan = ShardPlan.for_worker(files, num_shards, shard_index)
    passes = itertools.count()

    def generate() -> Iterator[bytes]:
        return stream_records(
            plan, shuffle=shuffle, seed=seed, repeat=repeat, first_epoch=next(passes)
        )

    ds = tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec([], tf.string))
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def _batch(
    ds: tf.data.Dataset, batch_size: int, drop_remainder: bool, shapes: dict[str, list[int | None]]
) -> tf.data.Dataset:
    import tensorflow as tf

    ds = ds.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def _checked(value: tf.Tensor, actual: tf.Tensor, expected: Any, message: str) -> tf.Tensor:
    """``value``, once ``actual == expected`` has been asserted."""
    import tensorflow as tf

    check = tf.debugging.assert_equal(actual, expected, message=message)
    with tf.control_dependencies([check]):
        return tf.identity(value)


# ---------------------------------------------------------------------------------------------
# performances


def _compact_pairs_fn(config: PerformanceConfig) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """tokens -> float32 inputs of Magenta's pairs, with TF ops (configs without controls)."""
    import tensorflow as tf

    if config.encoding is Encoding.ONE_HOT:
        return lambda tokens, _: tf.one_hot(tokens[:-1], config.num_event_classes)
    if config.encoding is Encoding.COMPACT:
        return lambda tokens, _: tf.cast(tokens[:-1], tf.float32)[:, None]
    if config.encoding is Encoding.MODULO:
        # The row of each id, from the same table augment uses, stored as float32 as Magenta does.
        table = np.asarray(perf.event_inputs(np.arange(config.num_event_classes), config))
        constant = tf.constant(table.astype(np.float32))
        return lambda tokens, _: tf.gather(constant, tokens[:-1])
    if config.encoding is Encoding.NOTE:
        return lambda tokens, _: tf.concat(
            [tf.one_hot(tokens[:-1, k], n) for k, n in enumerate(NOTE_NUM_CLASSES)], axis=1
        )
    raise AssertionError(config.encoding)


def _control_pairs_fn(config: PerformanceConfig) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """tokens -> inputs through :func:`compact_format.performance_pair` (controls in Python)."""
    import tensorflow as tf

    def inputs(tokens: np.ndarray, conditioned: np.ndarray) -> np.ndarray:
        flag = None if int(conditioned) < 0 else bool(conditioned)
        return compact_format.performance_pair(tokens, config, flag)[0]

    def fn(tokens: tf.Tensor, conditioned: tf.Tensor) -> tf.Tensor:
        out = tf.numpy_function(inputs, [tokens, conditioned], tf.float32, stateful=False)
        out.set_shape([None, config.input_size])
        return out

    return fn


def performance_dataset(
    files: Sequence[str],
    info: EncodingInfo,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    shuffle_buffer: int | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    repeat: bool = False,
    mode: Mode = "ids",
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of PerformanceRNN examples, from compact or Magenta records (``info.format``).

    Args:
        files: Shard files (local or gs://), e.g. from :func:`list_shards`.
        info: The folder's encoding (family ``performance``).
        batch_size: Examples per batch.
        shuffle: Shuffle files (when sharding by file) and records.
        seed: The shuffle seed.
        shuffle_buffer: Records in the shuffle buffer (default 1024 compact, 64 magenta).
        num_shards: Workers reading disjoint parts.
        shard_index: This worker.
        repeat: Repeat forever (reshuffling each pass).
        mode: ``ids``: ``inputs`` int32 ``[B, T]``, the ids of events[:-1] (compact records of
            one-hot, compact and modulo configs without controls, for embedding models);
            ``pairs``: ``inputs`` float32 ``[B, T, input_size]``, exactly Magenta's.
            ``labels`` are int32 ``[B, T]`` (``[B, T, 6]`` for the note encoding) either way.
        drop_remainder: Drop a last, smaller batch.

    Returns:
        A dataset of ``{"inputs", "labels", "mask"}`` dicts; ``mask`` float32 ``[B, T]``.

    Raises:
        ConfigError: A mode the encoding cannot give, or bad sharding or batch arguments.
    """
    import tensorflow as tf

    _check_args(files, num_shards, shard_index, batch_size)
    if info.family != "performance":
        raise ConfigError(f"performance_dataset needs a performance encoding, got {info.name!r}")
    if mode not in ("ids", "pairs"):
        raise ConfigError(f"mode must be 'ids' or 'pairs', got {mode!r}")
    config = info.performance_config
    if mode == "ids" and (
        info.format != "compact" or config.controls or config.encoding not in _IDS_ENCODINGS
    ):
        raise ConfigError(
            f"mode 'ids' needs compact records of a config without controls or note encoding; "
            f"{info.name} ({info.format}) gives 'pairs' only"
        )
    label_shape: list[int] = [len(NOTE_NUM_CLASSES)] if config.note_performance else []
    default_buffer = COMPACT_SHUFFLE_BUFFER if info.format == "compact" else MAGENTA_SHUFFLE_BUFFER
    ds = _records(
        files,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer or default_buffer,
        num_shards=num_shards,
        shard_index=shard_index,
        repeat=repeat,
    )
    if info.format == "magenta":
        sequence_features = {
            "inputs": tf.io.FixedLenSequenceFeature([config.input_size], tf.float32),
            "labels": tf.io.FixedLenSequenceFeature(label_shape, tf.int64),
        }

        def parse(record: tf.Tensor) -> dict[str, tf.Tensor]:
            _, seq = tf.io.parse_single_sequence_example(record, {}, sequence_features)
            labels = tf.cast(seq["labels"], tf.int32)
            mask = tf.ones([tf.shape(labels)[0]], tf.float32)
            return {"inputs": seq["inputs"], "labels": labels, "mask": mask}

    else:
        context_features = {
            "encoding": tf.io.FixedLenFeature([], tf.string),
            "conditioned": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        }
        token_feature = {"tokens": tf.io.FixedLenSequenceFeature(label_shape, tf.int64)}
        pairs = _control_pairs_fn(config) if config.controls else _compact_pairs_fn(config)
        message = f"record encoding differs from encoding.json ({info.name})"

        def parse(record: tf.Tensor) -> dict[str, tf.Tensor]:
            ctx, seq = tf.io.parse_single_sequence_example(record, context_features, token_feature)
            tokens = _checked(seq["tokens"], ctx["encoding"], info.name, message)
            labels = tf.cast(tokens[1:], tf.int32)
            if mode == "ids":
                inputs = tf.cast(tokens[:-1], tf.int32)
            else:
                inputs = pairs(tokens, ctx["conditioned"])
            mask = tf.ones([tf.shape(labels)[0]], tf.float32)
            return {"inputs": inputs, "labels": labels, "mask": mask}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    input_shape: list[int | None] = [None] if mode == "ids" else [None, config.input_size]
    label_padded: list[int | None] = [None, *label_shape]
    shapes: dict[str, list[int | None]] = {
        "inputs": input_shape,
        "labels": label_padded,
        "mask": [None],
    }
    return _batch(ds, batch_size, drop_remainder, shapes)


# ---------------------------------------------------------------------------------------------
# piano rolls


def _window_starts(num_frames: tf.Tensor, window: int, hop: int) -> tf.Tensor:
    """Window starts 0, hop, 2 hop, ... of the full windows; one window for short pieces."""
    import tensorflow as tf

    count = tf.maximum((num_frames - window) // hop + 1, 1)
    return tf.range(count) * hop


def pianoroll_dataset(
    files: Sequence[str],
    info: EncodingInfo,
    *,
    batch_size: int,
    window: int | None = None,
    hop: int | None = None,
    features: RollFeatures = "frames",
    vocabulary: ChordVocabulary | None = None,
    shuffle: bool = True,
    seed: int = 0,
    shuffle_buffer: int = COMPACT_SHUFFLE_BUFFER,
    num_shards: int = 1,
    shard_index: int = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of piano rolls (or windows of them) from compact piano-roll records.

    Args:
        files: Shard files (local or gs://).
        info: The folder's encoding (family ``pianoroll``).
        batch_size: Elements per batch.
        window: Cut each piece into windows of this many frames, starting every ``hop``
            frames; only full windows are kept (a piece's last ``< hop`` frames may be left
            out), except that a piece shorter than ``window`` gives one short, padded window.
            None: whole pieces.
        hop: Frames between window starts (default ``window``: no overlap).
        features: ``frames``: frames and onsets only; ``biaxial``: also ``"features"`` float32
            ``[B, T, 88, 79]`` (:func:`biaxial.features` of the whole piece, so the first frame
            of a window sees the frame before it and its true beat position); ``chords``: also
            ``"chords"`` int32 ``[B, T]`` (``vocabulary.encode``, padding 0).
        vocabulary: The chord vocabulary, for ``features="chords"``.
        shuffle: Shuffle files (when sharding by file), records and windows.
        seed: The shuffle seed.
        shuffle_buffer: Records (and windows) in each shuffle buffer.
        num_shards: Workers reading disjoint parts.
        shard_index: This worker.
        repeat: Repeat forever (reshuffling each pass).
        drop_remainder: Drop a last, smaller batch.

    Returns:
        A dataset of ``{"frames", "onsets", "mask"}`` dicts (float32 ``[B, T, 88]``,
        ``[B, T, 88]``, ``[B, T]``), plus ``features`` or ``chords``.

    Raises:
        ConfigError: Bad window, features, vocabulary, sharding or batch arguments.
    """
    import tensorflow as tf

    _check_args(files, num_shards, shard_index, batch_size)
    if info.family != "pianoroll":
        raise ConfigError(f"pianoroll_dataset needs a piano-roll encoding, got {info.name!r}")
    if features not in ("frames", "biaxial", "chords"):
        raise ConfigError(f"features must be frames, biaxial or chords, got {features!r}")
    if features == "chords" and vocabulary is None:
        raise ConfigError("features='chords' needs a vocabulary")
    if vocabulary is not None and (
        vocabulary.num_pitches != info.num_pitches or vocabulary.min_pitch != info.min_pitch
    ):
        raise ConfigError("the vocabulary's pitch range differs from the encoding's")
    if window is not None and window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    if hop is not None and (window is None or hop < 1):
        raise ConfigError("hop needs a window and must be >= 1")
    width = info.num_pitches
    ds = _records(
        files,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        num_shards=num_shards,
        shard_index=shard_index,
        repeat=repeat,
    )
    context_features = {
        "encoding": tf.io.FixedLenFeature([], tf.string),
        "num_frames": tf.io.FixedLenFeature([], tf.int64),
        "num_pitches": tf.io.FixedLenFeature([], tf.int64),
    }
    sequence_features = {
        "pitches": tf.io.VarLenFeature(tf.int64),
        "onsets": tf.io.VarLenFeature(tf.int64),
    }

    def dense(sparse: tf.SparseTensor, num_frames: tf.Tensor) -> tf.Tensor:
        indices = tf.stack([sparse.indices[:, 0], sparse.values], axis=1)
        ones = tf.ones([tf.shape(sparse.values)[0]], tf.bool)
        return tf.scatter_nd(indices, ones, tf.stack([num_frames, width]))

    def parse(record: tf.Tensor) -> dict[str, tf.Tensor]:
        ctx, seq = tf.io.parse_single_sequence_example(record, context_features, sequence_features)
        num_frames = _checked(ctx["num_frames"], ctx["encoding"], "pianoroll", "not a piano roll")
        num_frames = _checked(
            num_frames, ctx["num_pitches"], tf.constant(width, tf.int64), "roll width != encoding's"
        )
        return {
            "frames": dense(seq["pitches"], num_frames),
            "onsets": dense(seq["onsets"], num_frames),
        }

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(lambda piece: tf.shape(piece["frames"])[0] > 0)

    # A window keeps up to 16 frames before its start ("offset" of them) for biaxial features.
    if window is None:
        ds = ds.map(lambda piece: {**piece, "offset": tf.constant(0, tf.int64)})
    else:
        size, step = window, hop or window

        def windows(piece: dict[str, tf.Tensor]) -> tf.data.Dataset:
            num_frames = tf.cast(tf.shape(piece["frames"])[0], tf.int64)
            starts = _window_starts(num_frames, size, step)

            def cut(start: tf.Tensor) -> dict[str, tf.Tensor]:
                first = tf.maximum((start - 1) // _BEAT_PERIOD * _BEAT_PERIOD, 0)
                end = tf.minimum(start + size, num_frames)
                return {
                    "frames": piece["frames"][first:end],
                    "onsets": piece["onsets"][first:end],
                    "offset": start - first,
                }

            return tf.data.Dataset.from_tensor_slices(tf.cast(starts, tf.int64)).map(cut)

        ds = ds.flat_map(windows)
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)

    min_pitch = info.min_pitch
    spq = info.steps_per_quarter or 1

    def biaxial_features(frames: np.ndarray, onsets: np.ndarray, offset: np.ndarray) -> np.ndarray:
        roll = compact_format.pianoroll_of(
            compact_format.PianorollRecord("", "", spq, min_pitch, frames, onsets)
        )
        return biaxial.features(roll)[int(offset) :]

    def chord_ids(frames: np.ndarray) -> np.ndarray:
        if vocabulary is None:  # checked above; narrows the type
            raise AssertionError("no vocabulary")
        return vocabulary.encode(frames).astype(np.int32)

    def finish(element: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        offset = element["offset"]
        frames, onsets = element["frames"][offset:], element["onsets"][offset:]
        out = {
            "frames": tf.cast(frames, tf.float32),
            "onsets": tf.cast(onsets, tf.float32),
            "mask": tf.ones([tf.shape(frames)[0]], tf.float32),
        }
        if features == "biaxial":
            feats = tf.numpy_function(
                biaxial_features,
                [element["frames"], element["onsets"], offset],
                tf.float32,
                stateful=False,
            )
            feats.set_shape([None, width, biaxial.NUM_FEATURES])
            out["features"] = feats
        elif features == "chords":
            chords = tf.numpy_function(chord_ids, [frames], tf.int32, stateful=False)
            chords.set_shape([None])
            out["chords"] = chords
        return out

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    shapes: dict[str, list[int | None]] = {
        "frames": [None, width],
        "onsets": [None, width],
        "mask": [None],
    }
    if features == "biaxial":
        shapes["features"] = [None, width, biaxial.NUM_FEATURES]
    elif features == "chords":
        shapes["chords"] = [None]
    return _batch(ds, batch_size, drop_remainder, shapes)
