"""The lrn test suite: a package, so that its modules import helpers.py and reference.py relatively."""
