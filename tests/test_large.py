"""Tensors over 2**31 elements: the kernels index with Py_ssize_t throughout."""
import os

import numpy as np
import pytest

import lrn


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
    # float16 keeps this at 4 GiB per array; channels-last with C = 3 puts the
    # last positions at byte offsets above 2**32 and element offsets above 2**31.
    C = 3
    S = N_ELEM // C
    x = np.empty((1, S, C), dtype=np.float16)
    tail = np.random.default_rng(0).standard_normal((4099, C)).astype(np.float16)
    x[0, :-4099] = 1.0
    x[0, -4099:] = tail
    y = lrn.lrn(x, 3, alpha=0.5, beta=0.75, bias=1.0, layout="NHWC")
    del x
    t = tail.astype(np.float64)
    s = 1.0 + 0.5 / 3 * np.stack([t[:, 0]**2 + t[:, 1]**2, (t**2).sum(1), t[:, 1]**2 + t[:, 2]**2], 1)
    np.testing.assert_allclose(y[0, -4099:].astype(np.float64), t * s ** -0.75, rtol=2e-3, atol=1e-7)
    np.testing.assert_allclose(y[0, :8].astype(np.float64),
                               np.full((8, 3), [(1 + 0.5 / 3 * 2) ** -0.75, (1 + 0.5) ** -0.75,
                                                (1 + 0.5 / 3 * 2) ** -0.75]), rtol=2e-3)
