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


def pytest_runtest_logreport(report):
    if report.when == "call":
        _CI_LOG.extend(value for key, value in report.user_properties if key == "ci_log")


def pytest_terminal_summary(terminalreporter):
    for line in _CI_LOG:
        terminalreporter.write_line(line)
