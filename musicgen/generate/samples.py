"""Makes the samples of a batch inside one generator actor: model loaded once, rows batched.

A row's quality metrics are computed from the MIDI bytes written (parsed back), never from the
generator's NoteSequence, so a re-run or a pull recomputes the very same numbers. What only
generation knows (``events``/``frames`` and the model's ``log_likelihood`` of the sampled tokens,
see ``quality.GENERATION_FACTS``) is added to the row once, when the piece is generated.

Timing (:attr:`SampleMaker.timing`) keeps model loading, tracing/compiling and generating apart.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Sequence
from typing import Any

from musicgen import storage
from musicgen.errors import ConfigError
from musicgen.generate.config import GenerateConfig
from musicgen.generate.manifest import ManifestRow, write_sample
from musicgen.generate.quality import CorpusIndex, metrics_of_bytes
from musicgen.storage import layout


def sample_seed(base: int, batch_id: str, index: int) -> int:
    """A 63-bit seed fixed by (base seed, batch id, index): re-runs redraw the same piece."""
    digest = hashlib.sha256(f"{base}:{batch_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def midi_bytes(ns: Any) -> bytes:
    """A Standard MIDI File of a NoteSequence (note_seq's writer, as Magenta's generator)."""
    from note_seq import midi_io

    buf = io.BytesIO()
    midi_io.note_sequence_to_pretty_midi(ns).write(buf)
    return buf.getvalue()


def settings_of(cfg: GenerateConfig, family: str) -> dict[str, Any]:
    """The sampling settings recorded with every sample (JSON values)."""
    common = {
        "temperature": cfg.temperature,
        "top_k": cfg.top_k,
        "top_p": cfg.top_p,
        "argmax": cfg.argmax,
        "seed_base": cfg.seed,
    }
    if family == "performance_rnn":
        return {
            **common,
            "num_steps": cfg.num_steps,
            "beam_size": cfg.beam_size,
            "branch_factor": cfg.branch_factor,
            "steps_per_iteration": cfg.steps_per_iteration,
            "notes_per_second": cfg.notes_per_second,
            "pitch_class_histogram": cfg.pitch_class_histogram,
            "disable_conditioning": cfg.disable_conditioning,
            "primer": cfg.primer,
        }
    if family in ("chord_lstm", "seq2one_lstm"):
        return {**common, "num_frames": cfg.num_frames, "loop_window": cfg.loop_window,
                "primer": cfg.primer}  # fmt: skip
    return {**common, "num_frames": cfg.num_frames, "primer": cfg.primer}


class SampleMaker:
    """Loads the run once; :meth:`make` generates, writes and describes samples by index."""

    def __init__(
        self,
        cfg: GenerateConfig,
        prefix: str,
        batch_id: str,
        corpus: CorpusIndex | None = None,
    ) -> None:
        from musicgen.generate.loaded_run import load_run

        self.cfg = cfg
        self.prefix = prefix
        self.batch_id = batch_id
        self.corpus = corpus
        started = time.perf_counter()
        self.run = load_run(cfg.run)
        self.settings = settings_of(cfg, self.run.family)
        self.primer = _load_primer(cfg.primer) if cfg.primer else None
        self.load_s = time.perf_counter() - started
        self.compile_s: float | None = None  # set by the first make()
        self.timing: dict[str, Any] = {}

    def make(self, indices: Sequence[int]) -> list[ManifestRow]:
        """Generates the pieces ``indices`` together and writes each one's MIDI object.

        Afterwards :attr:`timing` describes this call: ``load_s`` and ``compile_s`` (the model's
        loading and the warm-up that traces the compiled step: nonzero on an actor's first call
        only; ``compile_s`` is ``None`` for the piano-roll families, whose generators trace
        inside every call, and for beam search), ``generate_s`` (the generation alone),
        ``events`` and ``pieces``.
        """
        seeds = [sample_seed(self.cfg.seed, self.batch_id, i) for i in indices]
        first = not self.timing
        if first:
            self.compile_s = self._warm_up(seeds)
        compile_s = self.compile_s if first or self.compile_s is None else 0.0
        started = time.perf_counter()
        pieces = self._generate(seeds)
        seconds = time.perf_counter() - started
        rows = []
        events = 0
        for index, seed, (ns, facts) in zip(indices, seeds, pieces, strict=True):
            data = midi_bytes(ns)
            metrics = {**metrics_of_bytes(data, corpus=self.corpus), **facts}
            events += int(facts.get("events") or facts.get("frames") or 0)
            sample = layout.sample_id(self.batch_id, index)
            rows.append(write_sample(self.prefix, sample, data, seed, self.settings, metrics))
        self.timing = {
            "load_s": self.load_s if first else 0.0,
            "compile_s": compile_s,
            "generate_s": seconds,
            "events": events,
            "pieces": len(rows),
        }
        return rows

    def _warm_up(self, seeds: list[int]) -> float | None:
        """Traces the compiled step outside the timed generation; its seconds (or ``None``).

        PerformanceRNN keeps one compiled step per model and settings: two events for the same
        rows trace it, and the real call reuses it. The piano-roll generators build their step
        inside each call, so there is nothing to warm up.
        """
        if (
            self.run.family != "performance_rnn"
            or self.cfg.beam_size > 1
            or self.cfg.branch_factor > 1
        ):
            return None  # beam search compiles inside its call: its compile time is not apart
        started = time.perf_counter()
        self._generate(seeds, max_events=2)
        return time.perf_counter() - started

    def _generate(
        self, seeds: list[int], max_events: int | None = None
    ) -> list[tuple[Any, dict[str, Any]]]:
        """(sequence, generation facts) per seed; facts are rounded so re-runs match."""
        cfg, family, model = self.cfg, self.run.family, self.run.model
        if family == "performance_rnn":
            from musicgen.generate.performance_generator import PerformanceSettings, generate
            from musicgen.generate.sampling import SamplingSettings

            settings = PerformanceSettings(
                num_steps=cfg.num_steps,
                sampling=SamplingSettings(
                    temperature=cfg.temperature,
                    beam_size=cfg.beam_size,
                    branch_factor=cfg.branch_factor,
                    steps_per_iteration=cfg.steps_per_iteration,
                    argmax=cfg.argmax,
                    loop_window=cfg.loop_window,
                    top_k=cfg.top_k,
                    top_p=cfg.top_p,
                ),
                notes_per_second=cfg.notes_per_second,
                pitch_class_histogram=cfg.histogram(),
                disable_conditioning=cfg.disable_conditioning,
            )
            out = generate(model, settings, seeds, primer=self.primer, max_events=max_events)
            return [
                (g.sequence, {"events": g.num_generated, "log_likelihood": _fact(g.log_likelihood)})
                for g in out
            ]
        from musicgen.generate.roll_generator import (
            RollSettings,
            generate_chords,
        )

        roll_settings = RollSettings(
            num_frames=cfg.num_frames,
            steps_per_quarter=self.run.info.steps_per_quarter or 4,
            temperature=cfg.temperature,
            argmax=cfg.argmax,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
        )
        primer = _primer_roll(self.primer, roll_settings.steps_per_quarter) if self.primer else None
        if family == "chord_lstm":
            rolls = generate_chords(
                model, roll_settings, seeds, primer=primer, loop_window=cfg.loop_window
            )
        elif family == "seq2one_lstm":
            from musicgen.generate.seq2one_generator import generate_seq2one

            rolls = generate_seq2one(
                model, roll_settings, seeds, primer=primer, loop_window=cfg.loop_window
            )
        else:
            rolls = _roll_generator(family)(model, roll_settings, seeds, primer=primer)
        return [
            (r.sequence, {"frames": cfg.num_frames, "log_likelihood": _fact(r.log_likelihood)})
            for r in rolls
        ]


def _roll_generator(family: str) -> Any:
    """The frame-by-frame generator of a piano-roll family (chord_lstm's takes a loop window)."""
    from musicgen.generate import roll_generator
    from musicgen.generate.endecell_generator import generate_endecell

    generators = {
        "pianoroll_lstm": roll_generator.generate_pianoroll,
        "biaxial_lstm": roll_generator.generate_biaxial,
        "seq2seq_lstm": roll_generator.generate_seq2seq,
        "endecell": generate_endecell,
    }
    if family not in generators:
        raise ConfigError(f"generate: no generator for the {family} family")
    return generators[family]


def _fact(value: float) -> float | None:
    """A float generation fact, rounded (4 decimals) so that a piece regenerated in another
    batch composition gets the same row; non-finite values are ``None`` (JSON null)."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def _load_primer(uri: str) -> Any:
    from musicgen.corpus.midi_fast import midi_to_note_sequence
    from musicgen.corpus.reference import midi_to_note_sequence as reference_parse

    data = storage.read_bytes(uri)
    try:
        return midi_to_note_sequence(data)
    except Exception:  # noqa: BLE001 - the fast parser declines: the reference decides
        return reference_parse(data)


def _primer_roll(ns: Any, steps_per_quarter: int) -> tuple[Any, Any]:
    from musicgen.encodings import pianoroll

    roll = pianoroll.encode(ns, pianoroll.PianorollEncodingConfig(steps_per_quarter))
    return roll.frames, roll.onsets
