"""Corpus conversion as a Ray job; same options as `musicgen convert`.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/convert_corpus.py gs://bucket/corpora/pop909 gs://bucket/sequences/pop909
"""

import sys

from musicgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
