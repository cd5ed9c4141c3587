# The same kernels as _kernels.pyx, compiled with AVX2, FMA, F16C and AVX-512 F
# and VL (setup.py adds the flags); lrn._cpu picks this module at import when the
# CPU has them.  Its forward passes step sixteen lanes (csrc/lrn_fused.h).
include "_kernels.pyx"
