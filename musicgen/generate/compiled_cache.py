"""A model's own cache of compiled generation functions.

Tracing a ``tf.function`` costs far more than a generation step, so the generators (event and
piano-roll alike) compile each step once per model, keyed by whatever the traced code depends
on, and reuse it call after call instead of tracing a new one per piece.
"""

from __future__ import annotations

from typing import Any

# The compiled functions of a model live on the model itself (``generation_cache``): a global
# cache keyed by the model would hold them, and through them the model, forever.
_CACHE_ATTRIBUTE = "_musicgen_generation_cache"


def generation_cache(model: Any) -> dict[str, Any]:
    """The model's own cache of compiled generation functions, freed with the model.

    Stored in the instance ``__dict__`` directly: Keras tracks attributes set the usual way,
    and a cache is not part of the model's state.
    """
    cache = vars(model).get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = vars(model)[_CACHE_ATTRIBUTE] = {}
    return cache
