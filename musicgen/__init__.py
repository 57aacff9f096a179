"""musicgen: MIDI corpora to Magenta-compatible datasets, models and generated MIDI on Ray.

Importing the package imports neither TensorFlow nor Ray; each step imports them where it runs.
"""

__version__ = "0.1.0"
