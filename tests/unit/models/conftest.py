"""A few real JSB Chorales pieces as compact piano-roll shards, for the piano-roll families."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.examples.compact_format import serialize_pianoroll
from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
from musicgen.examples.polyphonic import load_polyphonic
from musicgen.examples.readers import list_shards
from musicgen.storage.tfrecord import write_tfrecord_file
from tests.conftest import in_testdata

NUM_PIECES = 8


@pytest.fixture(scope="session")
def jsb_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncodingInfo, list[str]]:
    """(info, train shard files) of the first JSB training pieces (one frame per quarter)."""
    rolls = load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))
    root = tmp_path_factory.mktemp("jsb")
    records = []
    for i, frames in enumerate(rolls["train"][:NUM_PIECES]):
        prev = np.zeros_like(frames)
        prev[1:] = frames[:-1]
        onsets = frames & ~prev  # a bare roll: a key articulates where it was silent before
        records.append(
            serialize_pianoroll((frames, onsets), id=f"jsb-{i}", split="train", steps_per_quarter=1)
        )
    write_tfrecord_file(str(root / "train" / "examples-00000-of-00001.tfrecord"), records)
    info = EncodingInfo.for_pianoroll(steps_per_quarter=1)
    write_encoding_info(str(root), info)
    return info, list_shards(str(root), "train")
