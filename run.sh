#!/usr/bin/env bash
# The two set-up commands:  ./run.sh demo   |   ./run.sh test
# Each creates .venv (Python >= 3.11) and installs the package with its dev tools on first use.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"

# WAV rendering uses Debian's fluidsynth and a General MIDI soundfont (6 MB); installed when we may.
ensure_system_packages() {
  command -v fluidsynth >/dev/null && [ -e /usr/share/sounds/sf2/TimGM6mb.sf2 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends fluidsynth timgm6mb-soundfont >/dev/null \
      || echo "warning: could not install fluidsynth; WAV rendering will fail" >&2
  else
    echo "note: WAV rendering needs fluidsynth and a GM soundfont:" \
      "sudo apt-get install fluidsynth timgm6mb-soundfont" >&2
  fi
}

ensure_venv() {
  [ -f "$STAMP" ] && return 0
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "musicgen needs Python >= 3.11; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=..." >&2
    exit 2
  }
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian ships venv separately; install it when we may, else say exactly what is missing.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv "$VENV"
    else
      echo "python3 -m venv failed: install Debian's python3-venv (sudo apt-get install python3-venv)" >&2
      exit 2
    fi
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
}

case "${1:-}" in
  demo)
    ensure_system_packages
    ensure_venv
    out="${DEMO_OUTPUT:-demo-output}"
    echo "== 1/4 convert the bundled sample corpus (data/sample-corpus) -> $out/sequences"
    "$VENV/bin/musicgen" convert data/sample-corpus "$out/sequences" --num-cpus 2
    echo "== 2/4 training examples (performance_with_dynamics, compact, augmented) -> $out/examples"
    "$VENV/bin/musicgen" examples "$out/sequences" "$out/examples" \
      --encoding performance_with_dynamics --num-cpus 2
    echo "== 3/4 train a small PerformanceRNN briefly (Ray Train) -> $out/runs/performance_rnn/demo"
    "$VENV/bin/musicgen" train --config configs/performance_rnn_smoke.yaml \
      --dataset "$out/examples" --runs-dir "$out/runs" --run-id demo --num-cpus 2
    echo "== 4/4 generate 4 pieces (10 s each) with a manifest, a report and a piano-roll PNG"
    "$VENV/bin/musicgen" generate --run "$out/runs/performance_rnn/demo" --output "$out" \
      --batch-id demo --num-samples 4 --num-steps 1000 --render 1 --num-cpus 2
    echo "== outputs"
    batch=$(dirname "$(find "$out/generated" -name manifest.jsonl | head -1)")
    (cd "$batch" && find . -type f -printf '%P (%s bytes)\n' | sort | paste -sd ' ' | fold -s -w 100)
    "$VENV/bin/python" - "$batch/report.json" "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["timing"] or {}
print(f"generated {r['num_samples']} pieces ({r['family']}): {t.get('events')} events sampled at "
      f"{r['events_per_second']} events/s per actor (model load {t.get('load_s')} s and tracing "
      f"{t.get('compile_s')} s not counted; batch of {t.get('pieces')} pieces, README: 1,274 events/s "
      "one at a time, ~130,000 at batch 1024)")
q = {k: round(v["median"], 3) for k, v in r["quality"].items() if isinstance(v, dict) and "median" in v}
print("median quality:", ", ".join(f"{k} {v}" for k, v in q.items()))
print(f"outputs under {sys.argv[2]}/: sequences/, examples/, runs/, generated/")
PY
    ;;
  test)
    ensure_system_packages
    ensure_venv
    export PATH="$PWD/$VENV/bin:$PATH"
    echo "== lint (ruff) and types (mypy)"
    ruff check .
    ruff format --check .
    mypy
    echo "== tests (unit, integration with local Ray + GCS emulator, e2e ray job submit)"
    pytest "${@:2}"
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
