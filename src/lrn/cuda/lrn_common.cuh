// Shared by every LRN kernel.  lrn._gpu compiles each variant as one source: its typedefs
// (storage T, arithmetic A: float for half data, index I; for the tile kernels the BLOCK and
// TILE defines), then this file, then lrn_stream.cu or lrn_tile.cu.  Plain CUDA C++ with no inline assembly and no
// preprocessor branches, so that the tests can compile the very same text on the host.

// libdevice's half <-> float conversions (PTX cvt; round to nearest even).
extern "C" __device__ float __nv_half2float(unsigned short h);
extern "C" __device__ unsigned short __nv_float2half_rn(float v);

__device__ __forceinline__ float ld(const unsigned short* p) { return __nv_half2float(*p); }
__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ double ld(const double* p) { return *p; }
__device__ __forceinline__ void st(unsigned short* p, float v) { *p = __nv_float2half_rn(v); }
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
__device__ __forceinline__ void st(double* p, double v) { *p = v; }

// x * s ** e with no intermediate that overflows or underflows when the result does not: where
// pow(s, e) leaves double's normal range, x times s ** (e / 4) four times (the partial products
// move monotonically from x to the result); x = 0 stays 0.  As csrc/lrn_power.h on the CPU.
__device__ __forceinline__ double scaled_pow(double x, double s, double e) {
    const double p = pow(s, e);
    if ((p >= 2.2250738585072014e-308 && p <= 1.7976931348623157e308) ||
        !(s > 0.0 && s <= 1.7976931348623157e308))
        return x * p;
    if (x == 0.0) return x;
    const double q = pow(s, e * 0.25);
    return x * q * q * q * q;
}

// x * s ** -0.75 (beta = 0.75: AlexNet's, GoogLeNet's and most networks'); not
// rsqrt(s * sqrt(s)): s * sqrt(s) overflows.
__device__ __forceinline__ float scaled_075(float x, float s) {
    const float r = rsqrtf(s);
    return x * (r * sqrtf(r));
}
__device__ __forceinline__ double scaled_075(double x, double s) {
    const double r = 1.0 / sqrt(s);
    return x * (r * sqrt(r));
}

// x * s ** -beta; beta comes as a double for every dtype.  Exact forms for the usual
// exponents (IEEE results for 0, inf, NaN, s < 0); any other beta in double, rounded once:
// the CPU kernels compute the same.
__device__ __forceinline__ float scaled(float x, float s, double beta) {
    if (beta == 0.75) return scaled_075(x, s);
    if (beta == 0.5) return x * rsqrtf(s);
    if (beta == 1.0) return x / s;   // not x * (1 / s): 1 / s overflows for a subnormal s
    return (float)scaled_pow((double)x, (double)s, -beta);
}
__device__ __forceinline__ double scaled(double x, double s, double beta) {
    if (beta == 0.75) return scaled_075(x, s);
    if (beta == 0.5) return x * (1.0 / sqrt(s));
    if (beta == 1.0) return x / s;
    return scaled_pow(x, s, -beta);
}
