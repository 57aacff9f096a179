"""Training examples: SequenceExample formats and the datasets they are built from."""
