# The same kernels as _kernels.pyx, compiled with AVX2, FMA and F16C (setup.py
# adds the flags); lrn._cpu picks this module at import when the CPU has them.
include "_kernels.pyx"
