# The same kernels as _kernels.pyx, compiled with AVX2 and FMA (setup.py adds
# the flags); lrn._api picks this module at import when the CPU supports it.
include "_kernels.pyx"
