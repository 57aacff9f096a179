"""Magenta's ``tf.train.SequenceExample`` layout (``pipelines_common.make_sequence_example``).

Two feature lists and no context: ``inputs`` (one float_list per step) and ``labels`` (one
int64_list per step: one value, or six for the note encoding). TensorFlow is imported inside
the functions, so importing this module stays light.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from musicgen.encodings.augment import Example


def make_sequence_example(inputs: np.ndarray, labels: np.ndarray) -> Any:
    """A ``tf.train.SequenceExample`` from ``(steps, input_size)`` inputs and labels.

    Args:
        inputs: Floats, one row per step (stored as float32, as protobuf does).
        labels: Ints, ``(steps,)`` or ``(steps, k)``.

    Returns:
        The SequenceExample proto.
    """
    from tensorflow.core.example import example_pb2, feature_pb2

    inputs32 = np.asarray(inputs, dtype=np.float32)
    labels2 = np.asarray(labels, dtype=np.int64).reshape(len(labels), -1)
    if len(inputs32) != len(labels2):
        raise ValueError(f"{len(inputs32)} input rows but {len(labels2)} labels")
    feature_lists = feature_pb2.FeatureLists()
    input_list = feature_lists.feature_list["inputs"].feature
    for row in inputs32.tolist():
        input_list.add().float_list.value.extend(row)
    label_list = feature_lists.feature_list["labels"].feature
    for label in labels2.tolist():
        label_list.add().int64_list.value.extend(label)
    return example_pb2.SequenceExample(feature_lists=feature_lists)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2) with a one-byte tag."""
    return bytes((tag << 3 | 2,)) + _varint(len(payload)) + payload


def _float_features(inputs: np.ndarray) -> bytes:
    """The repeated ``Feature(float_list=...)`` of a FeatureList, all rows at once."""
    rows = np.ascontiguousarray(inputs, dtype="<f4")
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise ValueError(f"inputs must be (steps, size>0), got {rows.shape}")
    float_list = _field(1, b"\0" * (4 * rows.shape[1]))  # FloatList: packed field 1
    head = _field(2, float_list)  # Feature.float_list = 2
    prefix = _field(1, head)[: -len(head)] + head[: -4 * rows.shape[1]]
    out = np.empty((rows.shape[0], len(prefix) + 4 * rows.shape[1]), dtype=np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    out[:, len(prefix) :] = rows.view(np.uint8).reshape(rows.shape[0], -1)
    return out.tobytes()


@lru_cache(maxsize=1 << 16)
def _int64_feature(label: tuple[int, ...]) -> bytes:
    """One FeatureList entry ``Feature(int64_list=label)``; labels repeat, so cached."""
    packed = b"".join(_varint(v if v >= 0 else v + (1 << 64)) for v in label)
    int64_list = _field(1, packed) if packed else b""
    return _field(1, _field(3, int64_list))  # Feature.int64_list = 3


def _int64_features(labels: np.ndarray) -> bytes:
    return b"".join([_int64_feature(tuple(label)) for label in labels.tolist()])


def serialize_sequence_example(inputs: np.ndarray, labels: np.ndarray) -> bytes:
    """The bytes of ``make_sequence_example(inputs, labels)``, serialized deterministically.

    Pure numpy, no TensorFlow; equal to ``SerializeToString(deterministic=True)`` (map keys
    sorted: ``inputs`` before ``labels``; packed float32 and int64 lists).
    """
    labels2 = np.asarray(labels, dtype=np.int64).reshape(len(labels), -1)
    if len(inputs) != len(labels2):
        raise ValueError(f"{len(inputs)} input rows but {len(labels2)} labels")
    entries = b""
    for key, features in (
        (b"inputs", _float_features(np.asarray(inputs))),
        (b"labels", _int64_features(labels2)),
    ):
        entry = _field(1, key) + _field(2, features)  # map entry: key = 1, FeatureList = 2
        entries += _field(1, entry)  # FeatureLists.feature_list = 1
    return _field(2, entries)  # SequenceExample.feature_lists = 2


def example_to_sequence_example(example: Example) -> Any:
    """The SequenceExample Magenta writes for one pipeline :class:`Example`."""
    from tensorflow.core.example import example_pb2

    return example_pb2.SequenceExample.FromString(serialize(example))


def serialize(example: Example) -> bytes:
    """Deterministic serialization of one :class:`Example` (no TensorFlow needed)."""
    return serialize_sequence_example(example.inputs, example.labels)
