"""Keras 3 models, one module per family, looked up by name in :mod:`musicgen.models.registry`."""
