"""lrn's worker threads (csrc/lrn_pool.h): calls from many Python threads at once, calls
after a pause (the workers asleep), more threads than processors, many calls on 3-6
threads, and a forked child, each bitwise equal to the 1-thread result."""
import multiprocessing
import sys
import threading
import time

import numpy as np
import pytest

import lrn

P = dict(size=5, alpha=1e-3, beta=0.75, bias=1.0)


def _data(seed, shape=(3, 24, 40, 41), dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _run(x, dy, threads):
    y, s = lrn.lrn(x, **P, return_scale=True, num_threads=threads)
    return y, s, lrn.lrn_backward(x, y, dy, **P, num_threads=threads)


def _same(a, b):
    return all(u.tobytes() == v.tobytes() for u, v in zip(a, b))


def test_calls_from_many_threads_at_once():
    """One call has the pool at a time; the others run their tiles on their own
    threads.  Every result must be the 1-thread one, whoever ran its tiles."""
    inputs = [_data(seed) for seed in range(4)]
    expected = [_run(x, dy, 1) for x, dy in inputs]
    wrong = []

    def caller(k):
        x, dy = inputs[k]
        for i in range(25):
            if not _same(_run(x, dy, 2 + i % 3), expected[k]):
                wrong.append((k, i))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, f"(caller, call) pairs that differ from 1 thread: {wrong}"


@pytest.mark.parametrize("pause", [0.0, 0.001, 0.02])
def test_after_a_pause_and_back_to_back(pause):
    """After a pause the workers sleep and the calling thread starts alone; the bits
    do not depend on when, or whether, a worker joins."""
    x, dy = _data(1)
    expected = _run(x, dy, 1)
    for _ in range(5):
        time.sleep(pause)
        assert _same(_run(x, dy, 2), expected)


def test_more_threads_than_processors():
    x, dy = _data(2, (8, 16, 33, 35))
    assert _same(_run(x, dy, 16), _run(x, dy, 1))


def test_many_calls_with_workers_joining_and_leaving():
    """Back-to-back calls on 3-6 threads: workers join a task while others leave it, the
    count of those inside kept without a lock; a lost update would end a call early
    (wrong bits) or never (a hang)."""
    x, dy = _data(4, (6, 16, 40, 41))
    expected = _run(x, dy, 1)
    for i in range(60):
        assert _same(_run(x, dy, 3 + i % 4), expected), f"call {i}"


def _child(conn):
    x, dy = _data(3)
    conn.send([a.tobytes() for a in _run(x, dy, 2)])


@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork on this platform")
def test_forked_child_starts_its_own_workers():
    """A child forked after the parent's workers started has none of them: its first
    threaded call starts its own (and must not wait for the parent's)."""
    x, dy = _data(3)
    expected = [a.tobytes() for a in _run(x, dy, 2)]     # the parent's workers run
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child,))
    proc.start()
    try:
        assert parent.poll(60), "the forked child's threaded call did not finish in 60 s"
        assert parent.recv() == expected
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == 0
