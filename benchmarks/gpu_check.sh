#!/usr/bin/env bash
# The GPU readiness check (benchmarks/gpu_check.py): cuDNN LSTM path, float16 training, training
# and generation events/s, matmul GFLOP/s. Under 8 minutes on one GPU; --cpu is a seconds-long
# dry run (what CI runs).
#
#   benchmarks/gpu_check.sh [--cpu] [--budget-s 420] [OUT.json]
#
# The JSON goes to $OUT/gpu_check.json when $OUT is set, else to OUT.json. Exit status: 0 all
# checks passed, 1 a check failed (or the run was cut), 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$python" ]]; then
  python="$(command -v python3)"
fi
# 450 s (+20 s grace before SIGKILL, 7 min 50 s in all): the measurements stop starting at
# --budget-s; this is the hard stop, sent as SIGINT so that the script still writes what it
# measured.
exec timeout --signal=INT --kill-after=20 450 "$python" benchmarks/gpu_check.py "$@"
