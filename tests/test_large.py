"""Tensors over 2**31 elements: the kernels index with Py_ssize_t throughout."""

import numpy as np
import pytest

import lrn

from .reference import ref_forward


def _free_bytes():
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 0


N_ELEM = 2**31 + 4099  # past the int32 range, not a multiple of any tile


@pytest.mark.skipif(_free_bytes() < 3 * 2 * N_ELEM, reason="needs ~13 GB of free memory")
def test_more_than_2_31_elements_float16():
    # float16 keeps this at 4 GiB per array; channels-last puts the last
    # positions at byte offsets above 2**32 and element offsets above 2**31
    # (position * C leaves 32 bits).  C = 64 rather than a handful of channels:
    # the kernel's cost per position dominates below that (C = 3 took 8 times
    # the CPU time for the same bytes) and the index arithmetic is the same.
    C = 64
    S = N_ELEM // C
    assert S * C > 2**31
    # Zeros but for the last positions: pages never written are the kernel's one zero
    # page, so only y costs memory and page faults (filling x took 1-5 s more).
    x = np.zeros((1, S, C), dtype=np.float16)
    tail = np.random.default_rng(0).standard_normal((1, 4099, C)).astype(np.float16)
    x[0, -4099:] = tail[0]
    y = np.full_like(x, np.nan)          # poisoned: every element must be written
    lrn.lrn(x, 3, alpha=0.5, beta=0.75, bias=1.0, layout="NHWC", out=y)
    del x
    # The windows do not cross positions, so the tail's reference is the tail's LRN.
    np.testing.assert_allclose(y[:, -4099:].astype(np.float64),
                               ref_forward(tail, 3, 0.5, 0.75, 1.0, layout="NHWC")[0],
                               rtol=2e-3, atol=1e-7)
    # +0 everywhere else (as bits: the NaN poison, or -0, would be nonzero)
    assert not y.view(np.uint16)[:, :-4099].any(), "a zero input's positions must give +0"
