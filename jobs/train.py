"""Training as a Ray job; same options as `musicgen train`.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/train.py --config configs/performance_rnn.yaml \\
        --dataset gs://bucket/examples/pop909 --num-workers 4 --use-gpu
"""

import sys

from musicgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
