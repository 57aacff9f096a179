"""Interoperability with other projects' model files (Magenta's GeneratorBundles, for now)."""
