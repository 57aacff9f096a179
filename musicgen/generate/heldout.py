"""The held-out pieces a batch is compared with: a bounded, deterministic sample of the run's
eval split, decoded back to NoteSequences.

Like the memorization index (``batch.training_corpus``) it reads the run's own dataset, in
shard-name order, and takes the first ``max_records`` usable records. Consecutive records are
often chunks of one song, so at most one chunk per source id is taken: the set then spans as
many songs as it can, and the same dataset always gives the same set.
"""

from __future__ import annotations

import logging
from typing import Any

from note_seq.protobuf.music_pb2 import NoteSequence

log = logging.getLogger(__name__)

_SCAN_FACTOR = 50  # records read per record kept at most: a bound on a corpus of long songs


def heldout_sequences(run: Any, max_records: int) -> tuple[list[NoteSequence], str | None]:
    """Up to ``max_records`` eval-split pieces of the run's dataset (one per source id).

    Args:
        run: A loaded run (``loaded_run.load_run``): its config names the dataset and split.
        max_records: The most pieces to return (0: none).

    Returns:
        The pieces, and why there are none when the list is empty (``None`` otherwise).
    """
    if max_records == 0:
        return [], "compare_records is 0"
    from musicgen.errors import InputError, ObjectNotFound
    from musicgen.examples.readers import list_shards
    from musicgen.storage.tfrecord import read_tfrecord_file

    data, info = run.config.data, run.info
    if info.family != "pianoroll" and info.format != "compact":
        return [], f"the dataset {data.dataset} is in Magenta's format (one-hot events)"
    try:
        shards = list_shards(data.dataset, data.eval_split)
    except (ObjectNotFound, InputError) as exc:
        # Generation needs only the run; the comparison needs the corpus, which may be gone.
        log.warning("no corpus comparison: the run's eval split is not readable (%s)", exc)
        return [], f"the eval split {data.eval_split!r} of {data.dataset} is not readable"
    out: list[NoteSequence] = []
    seen: set[str] = set()
    scanned = 0
    for uri in shards:
        for record in read_tfrecord_file(uri):
            scanned += 1
            piece = record_sequence(record, run.info)
            if piece is not None and piece[0] not in seen:
                seen.add(piece[0])
                out.append(piece[1])
            if len(out) >= max_records or scanned >= _SCAN_FACTOR * max_records:
                return out, None
    return out, None if out else f"no decodable records in the eval split of {data.dataset}"


def record_sequence(record: bytes, info: Any) -> tuple[str, NoteSequence] | None:
    """(source id, NoteSequence) of one compact record; ``None`` for what cannot be compared
    (Magenta-format records, the note encoding, augmented copies)."""
    from musicgen.encodings import performance as perf
    from musicgen.examples import compact_format

    if info.family == "pianoroll":
        from musicgen.generate.roll_generator import RollSettings, to_sequence

        rec = compact_format.parse_pianoroll(record)
        settings = RollSettings(steps_per_quarter=rec.steps_per_quarter)
        return rec.id, to_sequence(rec.frames, rec.onsets, settings, rec.min_pitch)
    if info.format != "compact":
        return None
    parsed = compact_format.parse_performance(record)
    if parsed.stretch != 1.0 or parsed.transpose != 0 or parsed.tokens.ndim != 1:
        return None
    return parsed.id, perf.decode_ids(parsed.tokens, info.performance_config.num_velocity_bins)
