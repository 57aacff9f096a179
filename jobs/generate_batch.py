"""Batch generation as a Ray job (and the CronJob's RayJob entrypoint); same options as
`musicgen generate`.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/generate_batch.py --run gs://bucket/runs/performance_rnn/pwd-1 \
        --output gs://bucket --num-samples 1000 --batch-id nightly-2026-12-01
"""

import sys

from musicgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
