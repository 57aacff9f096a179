"""Model families by name; each family module is imported on first use, so this one stays light.

Importing this module must not import TensorFlow: the CLI and config validation use the names
without paying for TF.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from musicgen.errors import ConfigError

if TYPE_CHECKING:
    from musicgen.models.family import ModelFamily

# name -> (module, class); the same names as musicgen.train.config.FAMILIES (a test checks it).
_FAMILIES: dict[str, tuple[str, str]] = {
    "performance_rnn": ("musicgen.models.performance_rnn", "PerformanceRNNFamily"),
    "pianoroll_lstm": ("musicgen.models.pianoroll_lstm", "PianorollLSTMFamily"),
    "biaxial_lstm": ("musicgen.models.biaxial_lstm", "BiaxialLSTMFamily"),
    "chord_lstm": ("musicgen.models.chord_lstm", "ChordLSTMFamily"),
    "seq2seq_lstm": ("musicgen.models.seq2seq_lstm", "Seq2SeqLSTMFamily"),
    "endecell": ("musicgen.models.endecell", "EndecellFamily"),
    "seq2one_lstm": ("musicgen.models.seq2one_lstm", "Seq2OneLSTMFamily"),
}
FAMILY_NAMES: tuple[str, ...] = tuple(_FAMILIES)


def get_family(name: str) -> ModelFamily:
    """The family called ``name`` (imports its module, and so TensorFlow, now).

    Raises:
        ConfigError: No family has that name; the message lists the known ones.
    """
    if name not in _FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(FAMILY_NAMES)}")
    module_name, class_name = _FAMILIES[name]
    family: ModelFamily = getattr(importlib.import_module(module_name), class_name)()
    return family
