"""Lines a test wants in CI's log (`record_property("ci_log", line)`), printed in the
summary by the main pytest process: under pytest-xdist a worker's own output never reaches
the terminal, but its reports' properties do."""

_CI_LOG = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _CI_LOG.extend(value for key, value in report.user_properties if key == "ci_log")


def pytest_terminal_summary(terminalreporter):
    for line in _CI_LOG:
        terminalreporter.write_line(line)
