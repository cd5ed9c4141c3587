"""Lines a test wants in CI's log (`record_property("ci_log", line)`), printed in the
summary by the main pytest process: under pytest-xdist a worker's own output never reaches
the terminal, but its reports' properties do.

The tests write bytecode even where PYTHONDONTWRITEBYTECODE is set, as it is on CI's
machines (this file is loaded before pytest-xdist starts its workers, which inherit
the environment, as do the tests' child processes): CI installs the frameworks without
bytecode (pip's --no-compile saves the install half a minute), and with neither, every
process that imported TensorFlow compiled its sources again: 4 s of the 7 s the import
took here.  Written on first import, the bytecode of the modules in use costs that once.
"""
import os
import sys

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

_CI_LOG = []

# Tests that take seconds each (CI's durations): the doc blocks that install lrn or run
# the demo, bench or a cluster, the Sphinx builds, nvcc, the 2**31-element test.
SLOW = ("test_readme.py::test_block_runs[README.md:29]", "test_readme.py::test_block_runs[docs/",
        "test_readme.py::test_block_runs[README.md:648]", "test_sitedocs.py::",
        "test_large.py::", "::test_kernel_sources_compile_with_nvcc",
        "::test_gpu_backend_line_coverage", "::test_out_of_core", "::test_local_cluster_bitwise",
        "::test_side_by_side_peers_in_a_child_process", "::test_opcheck_custom_ops",
        "::test_top_level_options_run_the_demo", "::test_bench_onnx_model_script",
        "test_public_api.py::")


def pytest_runtest_logreport(report):
    if report.when == "call":
        _CI_LOG.extend(value for key, value in report.user_properties if key == "ci_log")


def pytest_terminal_summary(terminalreporter):
    for line in _CI_LOG:
        terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """The slow tests first.  pytest-xdist's worksteal hands each worker a contiguous
    part of the list and, when one runs dry, moves the tail of another's to it: with the
    slow tests at the head, one worker starts on them (the doc blocks that build lrn in
    order, sharing one build) while the other runs short tests, and the run ends on short
    tests on both, rather than one worker finishing a 20 s doc block while the other
    waits."""
    items.sort(key=lambda item: not any(s in item.nodeid for s in SLOW))
