"""Host emulation of lrn's GPU backend: the CUDA kernels compiled with a C++ compiler
(:mod:`gpu_emu.emulator`) and a NumPy-backed stand-in for CuPy (:mod:`gpu_emu.fake_cupy`)."""
