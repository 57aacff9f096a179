"""Loader for the Boulanger-Lewandowski (2012) piano-roll benchmarks, official splits kept."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from musicgen.errors import InputError

SPLITS = ("train", "valid", "test")
MIN_PITCH = 21
MAX_PITCH = 108
NUM_PITCHES = MAX_PITCH - MIN_PITCH + 1
DATASETS = ("JSB_Chorales", "Nottingham", "Piano-midi.de")


class _PlainUnpickler(pickle.Unpickler):
    """Refuses every global: the benchmark pickles hold only dicts, lists and ints."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def _roll(piece: object, where: str, uri: str) -> np.ndarray:
    if not isinstance(piece, list | tuple):
        raise InputError(uri, "malformed", f"{where} is {type(piece).__name__}, not a list")
    rows: list[int] = []
    cols: list[int] = []
    for t, step in enumerate(piece):
        if not isinstance(step, list | tuple) or any(type(n) is not int for n in step):
            raise InputError(uri, "malformed", f"{where} step {t} is not a list of int notes")
        rows.extend([t] * len(step))
        cols.extend(step)
    pitches = np.asarray(cols, np.int64)
    if len(pitches) and (pitches.min() < MIN_PITCH or pitches.max() > MAX_PITCH):
        raise InputError(uri, "malformed", f"{where} has notes outside {MIN_PITCH}..{MAX_PITCH}")
    roll = np.zeros((len(piece), NUM_PITCHES), bool)
    roll[np.asarray(rows, np.int64), pitches - MIN_PITCH] = True
    return roll


def load_polyphonic(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Load one benchmark pickle as piano rolls.

    Args:
        path: a ``{JSB_Chorales,Nottingham,Piano-midi.de}.pickle`` file: a dict of splits, each a
            list of pieces, each a list of steps, each a list of MIDI note numbers in 21..108.

    Returns:
        ``{'train', 'valid', 'test'}`` -> pieces as bool [T, 88] rolls (column 0 = MIDI 21), in
        the file's order.

    Raises:
        InputError: the file is missing (reason ``not-found``) or not in that layout
            (``malformed``); the message names the file.
    """
    uri = str(path)
    try:
        with Path(path).open("rb") as f:
            data = _PlainUnpickler(f).load()
    except FileNotFoundError as exc:
        raise InputError(uri, "not-found", "no such file") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(uri, "malformed", f"not a plain pickle: {exc}") from exc
    if not isinstance(data, dict) or not set(SPLITS) <= set(data):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise InputError(uri, "malformed", f"expected a dict with keys {SPLITS}, got {keys}")
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        pieces = data[split]
        if not isinstance(pieces, list | tuple):
            raise InputError(uri, "malformed", f"split {split!r} is not a list of pieces")
        out[split] = [_roll(p, f"{split}[{i}]", uri) for i, p in enumerate(pieces)]
    return out
