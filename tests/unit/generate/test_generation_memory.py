"""Models loaded one after another for generation are freed: no cache keeps them alive."""

from __future__ import annotations

import gc
import weakref

from musicgen.generate.performance_generator import (
    PerformanceSettings,
    generate,
    generation_cache,
)


def test_twenty_models_in_turn_are_all_freed() -> None:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    refs = []
    for i in range(20):
        keras.utils.set_random_seed(i)
        model = PerformanceRNN("performance", layers=(8,))
        generate(model, PerformanceSettings(num_steps=30), [i])  # compiles and caches its step
        assert "step" in generation_cache(model)
        refs.append(weakref.ref(model))
        del model
    keras.backend.clear_session()
    gc.collect()
    alive = [i for i, ref in enumerate(refs) if ref() is not None]
    assert alive == []
