"""Fixtures shared by the generation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def performance_models() -> dict[str, object]:
    """Small untrained PerformanceRNNs: embedding input, one-hot (3 layers), one-hot with
    controls, and the modulo encoding (not one-hot)."""
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(2)
    return {
        "embedding": PerformanceRNN("performance_with_dynamics", layers=(32, 24),
                                    input_mode="embedding", embedding_dim=8),
        "one_hot": PerformanceRNN("performance_with_dynamics", layers=(24, 16, 16)),
        "multi": PerformanceRNN("optional_multiconditioned_performance_with_dynamics",
                                layers=(16, 12)),
        "modulo": PerformanceRNN("performance_with_dynamics_and_modulo_encoding", layers=(8,)),
    }  # fmt: skip
