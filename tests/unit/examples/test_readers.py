"""tf.data readers: shapes, masks, sharding, and compact pairs equal to Magenta's records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musicgen.encodings import biaxial, pianoroll
from musicgen.encodings.augment import Example, magenta_pipeline
from musicgen.encodings.chords import ChordVocabulary
from musicgen.encodings.performance_configs import CONFIGS, get_config
from musicgen.errors import ConfigError, InputError
from musicgen.examples import magenta_format
from musicgen.examples.compact_format import (
    decode_performance,
    serialize_example,
    serialize_pianoroll,
)
from musicgen.examples.encoding_info import EncodingInfo, read_encoding_info, write_encoding_info
from musicgen.examples.readers import list_shards, performance_dataset, pianoroll_dataset
from musicgen.storage.tfrecord import read_records, write_tfrecord_file

ALL = sorted(CONFIGS)
DYNAMICS = "performance_with_dynamics"


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[music_pb2.NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [music_pb2.NoteSequence.FromString(r) for r in read_records(data)]


def _write_split(root: Path, split: str, records: Sequence[bytes], num_files: int) -> list[str]:
    """Records dealt into `<root>/<split>/examples-0000i-of-0000n.tfrecord`, contiguous."""
    bounds = np.linspace(0, len(records), num_files + 1).astype(int)
    uris = []
    for i in range(num_files):
        uri = str(root / split / f"examples-{i:05d}-of-{num_files:05d}.tfrecord")
        write_tfrecord_file(uri, records[bounds[i] : bounds[i + 1]])
        uris.append(uri)
    return uris


def _write_dataset(
    root: Path, info: EncodingInfo, records: Sequence[bytes], num_files: int
) -> list[str]:
    write_encoding_info(str(root), info)
    _write_split(root, "train", records, num_files)
    files = list_shards(str(root), "train")
    assert read_encoding_info(str(root)) == info
    return files


def _unbatch(ds: Any) -> list[dict[str, np.ndarray]]:
    """Per-example arrays, padding cut off by the mask; checks the padding on the way."""
    out = []
    for batch in ds.as_numpy_iterator():
        mask = batch["mask"]
        assert mask.dtype == np.float32
        lengths = mask.sum(axis=1).astype(int)
        for b, n in enumerate(lengths):
            assert np.all(mask[b, :n] == 1.0)
            assert np.all(mask[b, n:] == 0.0)
            for key, value in batch.items():
                assert value.shape[:2] == mask.shape, key
                assert not np.any(value[b, n:]), f"{key} padding is not zero"
            out.append({k: v[b, :n] for k, v in batch.items() if k != "mask"})
    return out


def _key(example: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(example[k]).tobytes() for k in sorted(example))


def _examples(seqs: list[music_pb2.NoteSequence], name: str) -> list[tuple[str, Example]]:
    config = get_config(name)
    return [(ns.id, e) for ns in seqs for e in magenta_pipeline(ns, config, training=False)]


@pytest.fixture(scope="module")
def dynamics_examples(golden_sequences: list[music_pb2.NoteSequence]) -> list[tuple[str, Example]]:
    return _examples(golden_sequences, DYNAMICS)


def _compact_records(examples: list[tuple[str, Example]], name: str) -> list[bytes]:
    return [serialize_example(e, get_config(name), id=s, split="train") for s, e in examples]


def test_list_shards_sorted_and_only_tfrecords(tmp_path: Path) -> None:
    for name in ("b.tfrecord", "a.tfrecord", "notes.txt", "c.tfrecord.tmp"):
        (tmp_path / "train" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "train" / name).write_bytes(b"")
    (tmp_path / "train" / "deeper").mkdir()
    (tmp_path / "train" / "deeper" / "z.tfrecord").write_bytes(b"")
    assert list_shards(str(tmp_path), "train") == [
        str(tmp_path / "train" / "a.tfrecord"),
        str(tmp_path / "train" / "b.tfrecord"),
    ]
    (tmp_path / "eval").mkdir()
    with pytest.raises(InputError, match="eval") as err:
        list_shards(str(tmp_path), "eval")
    assert err.value.reason == "no-shards"


def test_ids_batches_shapes_masks_and_content(
    tmp_path: Path, dynamics_examples: list[tuple[str, Example]]
) -> None:
    info = EncodingInfo.for_performance(DYNAMICS, "compact")
    files = _write_dataset(tmp_path, info, _compact_records(dynamics_examples, DYNAMICS), 2)
    assert len(files) == 2
    ds = performance_dataset(files, info, batch_size=5, seed=3)
    batches = list(ds.as_numpy_iterator())
    assert [len(b["inputs"]) for b in batches] == [5, 5, 5, 1]
    for batch in batches:
        assert batch["inputs"].dtype == np.int32
        assert batch["labels"].dtype == np.int32
        assert batch["inputs"].ndim == 2
        assert batch["mask"].shape == batch["inputs"].shape
        assert batch["mask"].min() == 0.0 or len(set(batch["mask"].sum(axis=1))) == 1
    got = _unbatch(ds)
    want = [{"inputs": e.events[:-1], "labels": e.events[1:]} for _, e in dynamics_examples]
    assert Counter(_key(g) for g in got) == Counter(
        _key({k: v.astype(np.int32) for k, v in w.items()}) for w in want
    )

    # seeded: the same order again, another order for another seed
    def order(dataset: Any) -> list[bytes]:
        return [g["inputs"][:8].tobytes() for g in _unbatch(dataset)]

    fresh = performance_dataset(files, info, batch_size=5, seed=3)
    first_pass = order(fresh)
    assert order(performance_dataset(files, info, batch_size=5, seed=3)) == first_pass
    assert order(fresh) != first_pass, "each pass reshuffles"
    assert order(performance_dataset(files, info, batch_size=5, seed=4)) != first_pass
    unshuffled = _unbatch(performance_dataset(files, info, batch_size=3, shuffle=False))
    assert [len(g["inputs"]) for g in unshuffled] == [
        len(e.events) - 1 for _, e in dynamics_examples
    ]


@pytest.mark.parametrize(("num_files", "num_shards"), [(2, 2), (4, 2), (1, 3), (2, 3)])
def test_shards_partition_the_records(
    tmp_path: Path, dynamics_examples: list[tuple[str, Example]], num_files: int, num_shards: int
) -> None:
    info = EncodingInfo.for_performance(DYNAMICS, "compact")
    files = _write_dataset(tmp_path, info, _compact_records(dynamics_examples, DYNAMICS), num_files)
    whole = Counter(_key(g) for g in _unbatch(performance_dataset(files, info, batch_size=4)))
    parts = [
        Counter(
            _key(g)
            for g in _unbatch(
                performance_dataset(
                    files, info, batch_size=4, num_shards=num_shards, shard_index=i, seed=i
                )
            )
        )
        for i in range(num_shards)
    ]
    assert all(parts), "every shard gets records"
    assert sum(parts, Counter()) == whole
    assert sum(whole.values()) == len(dynamics_examples)


def test_repeat_and_drop_remainder(
    tmp_path: Path, dynamics_examples: list[tuple[str, Example]]
) -> None:
    info = EncodingInfo.for_performance(DYNAMICS, "compact")
    files = _write_dataset(tmp_path, info, _compact_records(dynamics_examples, DYNAMICS), 2)
    ds = performance_dataset(files, info, batch_size=5, repeat=True, drop_remainder=True)
    batches = list(ds.take(7).as_numpy_iterator())  # 35 examples: more than two passes
    assert all(b["inputs"].shape[0] == 5 for b in batches)
    assert ds.element_spec["inputs"].shape.as_list() == [5, None]
    once = performance_dataset(files, info, batch_size=5, drop_remainder=True)
    assert sum(1 for _ in once) == 3


@pytest.mark.parametrize("name", ALL)
def test_compact_pairs_equal_decode_and_magenta_records(
    name: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence], tmp_path: Path
) -> None:
    """Compact "pairs" = decode_performance = the magenta-format reader on Magenta's own file."""
    config = get_config(name)
    examples = _examples(golden_sequences, name)
    records = _compact_records(examples, name)
    compact_info = EncodingInfo.for_performance(name, "compact")
    files = _write_dataset(tmp_path, compact_info, records, 2)
    compact = performance_dataset(files, compact_info, batch_size=8, shuffle=False, mode="pairs")
    got = _unbatch(compact)
    assert len(got) == len(records)
    for i, (element, record) in enumerate(zip(got, records, strict=True)):
        inputs, labels = decode_performance(record, config)
        assert element["inputs"].dtype == np.float32
        assert element["labels"].dtype == np.int32
        assert np.array_equal(element["inputs"], inputs), f"record {i}"
        assert np.array_equal(element["labels"], labels), f"record {i}"

    golden = golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
    magenta_info = EncodingInfo.for_performance(name, "magenta")
    magenta = performance_dataset(
        [str(golden)], magenta_info, batch_size=8, shuffle=False, mode="pairs"
    )
    for ours, theirs in zip(compact.as_numpy_iterator(), magenta.as_numpy_iterator(), strict=True):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert ours[key].dtype == theirs[key].dtype, key
            assert np.array_equal(ours[key], theirs[key]), key
    width = [6] if config.note_performance else []
    assert compact.element_spec["labels"].shape.as_list() == [None, None, *width]
    assert compact.element_spec["inputs"].shape.as_list() == [None, None, config.input_size]


def test_magenta_format_written_by_us_reads_back(
    tmp_path: Path, dynamics_examples: list[tuple[str, Example]]
) -> None:
    info = EncodingInfo.for_performance(DYNAMICS, "magenta")
    records = [magenta_format.serialize(e) for _, e in dynamics_examples]
    files = _write_dataset(tmp_path, info, records, 2)
    got = _unbatch(performance_dataset(files, info, batch_size=4, mode="pairs"))
    want = [
        {"inputs": e.inputs.astype(np.float32), "labels": e.labels} for _, e in dynamics_examples
    ]
    assert Counter(_key(g) for g in got) == Counter(
        _key({"inputs": w["inputs"], "labels": w["labels"].astype(np.int32)}) for w in want
    )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        (DYNAMICS, "magenta"),
        ("density_conditioned_performance_with_dynamics", "compact"),
        ("performance_with_dynamics_and_note_encoding", "compact"),
    ],
)
def test_ids_mode_only_where_ids_are_the_inputs(name: str, fmt: str) -> None:
    info = EncodingInfo.for_performance(name, fmt)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'ids'"):
        performance_dataset(["x.tfrecord"], info, batch_size=2, mode="ids")


def test_argument_errors() -> None:
    info = EncodingInfo.for_performance(DYNAMICS)
    with pytest.raises(ConfigError, match="shard_index"):
        performance_dataset(["a.tfrecord"], info, batch_size=2, num_shards=2, shard_index=2)
    with pytest.raises(ConfigError, match="no files"):
        performance_dataset([], info, batch_size=2)
    with pytest.raises(ConfigError, match="batch_size"):
        performance_dataset(["a.tfrecord"], info, batch_size=0)
    with pytest.raises(ConfigError, match="not one string"):
        performance_dataset("a.tfrecord", info, batch_size=2)
    with pytest.raises(ConfigError, match="piano-roll"):
        pianoroll_dataset(["a.tfrecord"], info, batch_size=2)
    roll_info = EncodingInfo.for_pianoroll(2)
    with pytest.raises(ConfigError, match="performance encoding"):
        performance_dataset(["a.tfrecord"], roll_info, batch_size=2)
    with pytest.raises(ConfigError, match="vocabulary"):
        pianoroll_dataset(["a.tfrecord"], roll_info, batch_size=2, features="chords")
    with pytest.raises(ConfigError, match="hop"):
        pianoroll_dataset(["a.tfrecord"], roll_info, batch_size=2, hop=4)


def test_records_of_another_encoding_fail(
    tmp_path: Path, dynamics_examples: list[tuple[str, Example]]
) -> None:
    import tensorflow as tf

    info = EncodingInfo.for_performance("performance", "compact")
    files = _write_dataset(tmp_path, info, _compact_records(dynamics_examples[:2], DYNAMICS), 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="encoding"):
        list(performance_dataset(files, info, batch_size=2))


# ---------------------------------------------------------------------------------------------
# piano rolls


@pytest.fixture(scope="module")
def rolls(golden_sequences: list[music_pb2.NoteSequence]) -> list[pianoroll.PianoRoll]:
    cfg = pianoroll.PianorollEncodingConfig(steps_per_quarter=2)
    out = [pianoroll.encode(ns, cfg) for ns in golden_sequences]
    return [r for r in out if r.num_steps > 0]


def _roll_records(rolls: list[pianoroll.PianoRoll]) -> list[bytes]:
    return [serialize_pianoroll(r, id=f"piece{i}", split="train") for i, r in enumerate(rolls)]


def _windows(num_frames: int, window: int, hop: int) -> list[int]:
    return list(range(0, max(num_frames - window, 0) + 1, hop))


def test_pianoroll_whole_pieces(tmp_path: Path, rolls: list[pianoroll.PianoRoll]) -> None:
    info = EncodingInfo.for_pianoroll(2)
    files = _write_dataset(tmp_path, info, _roll_records(rolls), 2)
    ds = pianoroll_dataset(files, info, batch_size=3, shuffle=False)
    first = next(ds.as_numpy_iterator())
    assert first["frames"].dtype == first["onsets"].dtype == np.float32
    assert first["frames"].shape[2] == 88
    got = _unbatch(ds)
    assert len(got) == len(rolls)
    for element, roll in zip(got, rolls, strict=True):
        assert np.array_equal(element["frames"], roll.frames.astype(np.float32))
        assert np.array_equal(element["onsets"], roll.onsets.astype(np.float32))
    # by-record sharding (2 files, 3 workers) partitions the pieces
    parts = [
        Counter(
            _key(g)
            for g in _unbatch(
                pianoroll_dataset(files, info, batch_size=2, num_shards=3, shard_index=i)
            )
        )
        for i in range(3)
    ]
    assert sum(parts, Counter()) == Counter(_key(g) for g in got)


def test_pianoroll_windows_with_biaxial_features(
    tmp_path: Path, rolls: list[pianoroll.PianoRoll]
) -> None:
    info = EncodingInfo.for_pianoroll(2)
    files = _write_dataset(tmp_path, info, _roll_records(rolls), 1)
    window, hop = 24, 20
    ds = pianoroll_dataset(
        files, info, batch_size=4, window=window, hop=hop, features="biaxial", shuffle=False
    )
    spec = ds.element_spec["features"]
    assert spec.shape.as_list() == [None, None, 88, biaxial.NUM_FEATURES]
    got = _unbatch(ds)
    expected = [(roll, s) for roll in rolls for s in _windows(roll.num_steps, window, hop)]
    assert len(got) == len(expected)
    assert any(roll.num_steps < window for roll, _ in expected), "a short, padded piece"
    assert any(s % 16 for _, s in expected), "a window off the 16-step beat cycle"
    for element, (roll, start) in zip(got, expected, strict=True):
        end = min(start + window, roll.num_steps)
        assert np.array_equal(element["frames"], roll.frames[start:end])
        assert np.array_equal(element["onsets"], roll.onsets[start:end])
        whole = biaxial.features(roll)  # features of the whole piece, then cut
        assert np.array_equal(element["features"], whole[start:end])


def test_pianoroll_chords_shuffled_windows(
    tmp_path: Path, rolls: list[pianoroll.PianoRoll]
) -> None:
    info = EncodingInfo.for_pianoroll(2)
    files = _write_dataset(tmp_path, info, _roll_records(rolls), 2)
    vocabulary = ChordVocabulary.build(rolls[:4], max_size=40)
    ds = pianoroll_dataset(
        files, info, batch_size=8, window=32, features="chords", vocabulary=vocabulary, seed=5
    )
    got = _unbatch(ds)
    assert {g["chords"].dtype for g in got} == {np.dtype(np.int32)}
    want = []
    for roll in rolls:
        for s in _windows(roll.num_steps, 32, 32):
            frames = roll.frames[s : s + 32]
            want.append(
                {
                    "chords": vocabulary.encode(frames).astype(np.int32),
                    "frames": frames.astype(np.float32),
                    "onsets": roll.onsets[s : s + 32].astype(np.float32),
                }
            )
    assert Counter(_key(g) for g in got) == Counter(_key(w) for w in want)
    assert any(g["chords"].min() == 0 for g in got), "some out-of-vocabulary frames"
    unshuffled = _unbatch(
        pianoroll_dataset(
            files,
            info,
            batch_size=8,
            window=32,
            features="chords",
            vocabulary=vocabulary,
            shuffle=False,
        )
    )
    assert [_key(g) for g in got] != [_key(g) for g in unshuffled]
