#!/usr/bin/env bash
# The GPU check, for a short turn on a GPU machine (CuPy, PyTorch, Cython, numpy and pytest
# installed; no network): build lrn from this tree, run the GPU tests on the device and the
# GPU comparison, and keep every log under $OUT (default ./gpu-check).  Target: < 5 minutes
# (each step has a timeout, so one hang cannot take the rest).
#
#     bash bench/gpu_check.sh            # from the repository root
#
# CI cannot run this: it has no GPU.  There the same Python path and the same CUDA sources
# run through the host emulation in tests/test_gpu.py instead.
set -uo pipefail
py=${PYTHON:-python3}   # the GPU image's python3 is the one with CuPy and PyTorch
out=${OUT:-gpu-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
status=0

echo "== build" | tee "$out/summary.txt"
if ! "$py" -m pip install --no-build-isolation --no-deps -q . > "$out/build.log" 2>&1; then
    tail -20 "$out/build.log"
    exit 1
fi
(cd / && "$py" -m lrn info) | tee -a "$out/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    >> "$out/summary.txt" 2>&1

echo "== GPU tests (device runs; the emulated ones run in CI)" | tee -a "$out/summary.txt"
workers=$("$py" -c "import xdist" 2>/dev/null && echo "-n 12")
timeout 200 "$py" -m pytest -q -rfEs -p no:cacheprovider $workers tests/test_gpu.py \
    tests/test_torch.py -k "not emulated" > "$out/tests.log" 2>&1 || status=1
tail -3 "$out/tests.log" | tee -a "$out/summary.txt"

# the streams and CUDA graph tests by name (issue 13 item 3): they ran above; this shows
# each one's verdict and any skip reason in the summary (a few seconds)
echo "== streams and CUDA graphs" | tee -a "$out/summary.txt"
timeout 90 "$py" -m pytest -q -rA -p no:cacheprovider tests/test_gpu.py tests/test_torch.py \
    -k "side_stream or graph_capture or waits_for or producer or foreign_array_streams" \
    > "$out/streams.log" 2>&1 || status=1
grep -E "^(PASSED|FAILED|ERROR|SKIPPED)|passed|failed" "$out/streams.log" \
    | tee -a "$out/summary.txt"

echo "== kernels against a device copy (CUDA-graph replays, medians)" | tee -a "$out/summary.txt"
timeout 100 "$py" -u bench/gpu_kernels.py --variants "window;stream-tile" > "$out/kernels.log" 2>&1 || status=1
cat "$out/kernels.log" | tee -a "$out/summary.txt"

echo "== GPU comparison (CUDA events, 20 calls per sample, medians)" | tee -a "$out/summary.txt"
(cd / && timeout 200 "$py" -u -m lrn bench --gpu --repeats 15 --json "$out/bench-gpu.json") \
    > "$out/bench.log" 2>&1 || status=1
cat "$out/bench.log" | tee -a "$out/summary.txt"
exit $status
