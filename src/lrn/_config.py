"""Build and runtime facts for ``lrn.show_config()``."""
from __future__ import annotations

import platform
import sys
from typing import Any, TextIO

import numpy as np

from . import _cpu, _gpu
from ._version import __version__


def config() -> dict[str, Any]:
    """A dict of what this build of lrn can do (see :func:`show_config`)."""
    return {
        "lrn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        **_cpu.info(),
        "gpu": _gpu.info(),
    }


def show_config(file: TextIO | None = None) -> None:
    """Print the version, OpenMP support, threads, compile flags and GPU backend.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Examples
    --------
    >>> import lrn
    >>> lrn.show_config()  # doctest: +SKIP
    lrn 0.1.0
    openmp: yes (max threads 2, processors 2)
    ...
    """
    c = config()
    omp = (f"yes (max threads {c['max_threads']}, processors {c['processors']})"
           if c["openmp"] else "NO: built without OpenMP, one thread by default")
    lines = [
        f"lrn {c['lrn']}",
        f"python {c['python']}, numpy {c['numpy']}, {c['platform']}",
        f"openmp: {omp}",
        f"kernels: {c['kernels']} (compile flags: {c['compile_flags']})",
        f"gpu: {c['gpu'] or 'not available (needs CuPy and a CUDA device)'}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
