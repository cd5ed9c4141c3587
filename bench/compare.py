"""Side-by-side comparison of lrn, the memory-copy floor, NumPy and every installed peer.

A thin wrapper: the comparison lives in ``lrn.benchmark`` (also ``python -m lrn bench``).

    python bench/compare.py --help
    python bench/compare.py --shapes alexnet1 --layouts NCHW --repeats 5
"""
import sys


def main(argv=None):
    from lrn.benchmark import main as bench_main

    return bench_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
