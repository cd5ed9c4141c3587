"""pytest configuration: make tests/reference.py and tests/helpers.py importable."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
