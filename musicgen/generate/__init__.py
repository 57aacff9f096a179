"""Batch generation: names, manifests, pulling, rendering and quality metrics of generated MIDI."""
