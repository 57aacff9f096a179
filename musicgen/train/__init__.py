"""Data-parallel training on Ray Train: the driver, the per-worker loop, checkpoints, metrics."""
