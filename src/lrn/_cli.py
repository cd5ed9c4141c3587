"""The pieces of the command line that ``python -m lrn`` and ``python -m lrn
bench`` (:mod:`lrn.benchmark`) share: a parser whose errors are one line, and
option types that apply the library's own checks (:mod:`lrn._params`), so the
command line accepts exactly what ``lrn.lrn`` accepts."""
import argparse

from . import _params


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def plain(error):
    """An exception's message on one line, without the library's backquotes."""
    return " ".join(str(error).replace("`", "").split())


# Option types: argparse calls them and reports a ValueError/TypeError as
# "argument --NAME: message"; the checks themselves are the library's
# (lrn._params), so the command line accepts exactly what lrn.lrn accepts.

def checked(convert, check, what):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        try:
            return check(value)
        except (TypeError, ValueError) as e:
            # the library's message less its argument name (argparse names the option)
            # and less "None or", which a command line cannot pass
            reason = plain(e).split(" must ", 1)[-1].replace("None or ", "")
            raise argparse.ArgumentTypeError(f"must {reason}") from None
    parse.__name__ = what        # argparse names the type in some messages
    return parse


positive_int = checked(int, _params.check_size, "a positive integer")
real = checked(float, lambda v: _params.check_real(v, "value"), "a finite real number")
threads = checked(int, _params.check_threads, "a nonzero integer")


def choice(name, choices):
    """An option of ``choices`` in the library's one rule for case."""
    parse = checked(str, lambda v: _params.check_choice(v, name, choices), name)
    return dict(type=parse, metavar="{" + ",".join(choices) + "}")
