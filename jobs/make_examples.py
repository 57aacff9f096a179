"""Training examples as a Ray job; same options as `musicgen examples`.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/make_examples.py gs://bucket/sequences/pop909 gs://bucket/examples/pop909 \
        --encoding performance_with_dynamics
"""

import sys

from musicgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["examples", *sys.argv[1:]]))
