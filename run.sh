#!/usr/bin/env bash
# The two set-up commands:  ./run.sh demo   |   ./run.sh test   (and ./run.sh image: see README)
# Each creates .venv (Python >= 3.11) and installs the package with its dev tools on first use.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"

# WAV rendering uses Debian's fluidsynth and a General MIDI soundfont (6 MB), report.html's audio
# oggenc (vorbis-tools); the tests also open report.html in a headless Chromium (chromium and
# chromium-driver, `test` only). Installed when we may; without oggenc the page plays WAVs.
ensure_system_packages() {
  local packages="fluidsynth timgm6mb-soundfont vorbis-tools" browser="${1:-}"
  [ -n "$browser" ] && packages="$packages chromium chromium-driver"
  command -v fluidsynth >/dev/null && [ -e /usr/share/sounds/sf2/TimGM6mb.sf2 ] \
    && command -v oggenc >/dev/null \
    && { [ -z "$browser" ] || { command -v chromium && command -v chromedriver; } >/dev/null; } \
    && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # shellcheck disable=SC2086 # the package list is meant to split
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $packages >/dev/null \
      || echo "warning: could not install $packages; rendering or browser tests will fail" >&2
  else
    echo "note: rendering (and the browser tests) need: sudo apt-get install $packages" >&2
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
      f"{t.get('compile_s')} s not counted; batch of {t.get('pieces')} pieces; this 1 x 64 "
      "preset on a 2-core VM, README: ~7,000 events/s one at a time, ~134,000 at batch 1024)")
q = {k: round(v["median"], 3) for k, v in r["quality"].items() if isinstance(v, dict) and "median" in v}
print("median quality:", ", ".join(f"{k} {v}" for k, v in q.items()))
print(f"outputs under {sys.argv[2]}/: sequences/, examples/, runs/, generated/")
PY
    ;;
  test)
    ensure_system_packages browser
    ensure_venv
    export PATH="$PWD/$VENV/bin:$PATH"
    echo "== lint (ruff) and types (mypy)"
    ruff check .
    ruff format --check .
    mypy
    echo "== tests (unit, integration with local Ray + GCS emulator, e2e ray job submit)"
    pytest "${@:2}"
    ;;
  system-packages)  # what `test` installs first; the browser tests call it when Chromium is missing
    ensure_system_packages browser
    ;;
  image)
    # docker/Dockerfile built for real with buildah (no Docker daemon) on a Debian stand-in for
    # rayproject/ray, then the jobs run in it (tests/image). Kept out of `test`: it needs root,
    # deb.debian.org and PyPI, and takes about 7 minutes on 2 cores (6 with the stand-in cached).
    if ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends buildah mmdebstrap >/dev/null
      else
        echo "./run.sh image needs buildah and mmdebstrap, and root:" \
          "sudo apt-get install buildah mmdebstrap; sudo ./run.sh image" >&2
        exit 2
      fi
    fi
    ensure_venv
    "$VENV/bin/pytest" -m image tests/image "${@:2}"
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test [pytest args] | ./run.sh image [pytest args]" \
      "| ./run.sh system-packages" >&2
    exit 2
    ;;
esac
