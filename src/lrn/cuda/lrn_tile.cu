// Channels-last ("tile") kernels: a block stages up to TILE elements (whole rows of C
// channels) in shared memory and takes every window sum as a block suffix plus a prefix.
// Compiled after lrn_common.cuh and the variant's typedefs (see there).
//
// Inputs are read before the outputs at the same index are written, so an output may be
// exactly one of the inputs (in-place); pointers are therefore not __restrict__.

// The block's rows (values, then prefix sums) and their suffix sums.
__shared__ A tile_values[TILE], tile_suffix[TILE];
#define PER (TILE / BLOCK)

// In-place: P holds the values on entry; afterwards P and Sf hold their prefix and suffix
// sums within blocks of m channels of each of the `rows` rows of C channels.
__device__ void block_scans(A* P, A* Sf, int rows, int C, int m) {
    const int nseg = (C + m - 1) / m;
    for (int g = threadIdx.x; g < rows * nseg; g += BLOCK) {
        const int r = g / nseg;
        const int lo = r * C + (g - r * nseg) * m;
        const int hi = lo + m < (r + 1) * C ? lo + m : (r + 1) * C;
        A acc = 0;
        for (int i = hi - 1; i >= lo; --i) {
            acc += P[i];
            Sf[i] = acc;
        }
        acc = 0;
        for (int i = lo; i < hi; ++i) {
            acc += P[i];
            P[i] = acc;
        }
    }
}

// Sum over channels [c - before, c - before + m - 1] & [0, C) of the row starting at `row`:
// a suffix of one block plus a prefix of the next.
__device__ A window(const A* P, const A* Sf, int row, int c, int before, int m, int C) {
    const int a = c - before;
    const int b = a + m - 1 < C - 1 ? a + m - 1 : C - 1;
    if (a < 0) return P[row + b];
    A sum = Sf[row + a];
    if (b >= (a / m + 1) * m) sum += P[row + b];
    return sum;
}

extern "C" __global__ void lrn_forward(const T* x, T* y, T* scale, I M, I C, I R,
                                       I pre, I post, A coef, double beta, A bias) {
    A* const P = tile_values;
    A* const Sf = tile_suffix;
    const int c_ = (int)C, m = (int)(pre + post + 1);
    const I row0 = (I)blockIdx.x * R;
    const int count = (int)(M - row0 < R ? M - row0 : R) * c_;
    x += row0 * C;
    y += row0 * C;
    if (scale) scale += row0 * C;
    A xv[PER];
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK;
        if (e < count) {
            xv[k] = ld(x + e);
            P[e] = xv[k] * xv[k];
        }
    }
    __syncthreads();
    block_scans(P, Sf, count / c_, c_, m);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK, c = e % c_;
        if (e < count) {
            const A s = bias + coef * window(P, Sf, e - c, c, (int)pre, m, c_);
            st(y + e, scaled(xv[k], s, beta));
            if (scale) st(scale + e, s);
        }
    }
}

extern "C" __global__ void lrn_backward(const T* x, const T* y, const T* dy, const T* scale,
                                        T* dx, I M, I C, I R, I pre, I post,
                                        A coef, double beta, A bias, A coef2) {
    A* const P = tile_values;
    A* const Sf = tile_suffix;
    const int c_ = (int)C, m = (int)(pre + post + 1);
    const I row0 = (I)blockIdx.x * R;
    const int count = (int)(M - row0 < R ? M - row0 : R) * c_;
    x += row0 * C;
    y += row0 * C;
    dy += row0 * C;
    dx += row0 * C;
    if (scale) scale += row0 * C;
    A xv[PER], gv[PER], sv[PER], dyy[PER];
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK;
        if (e < count) {
            xv[k] = ld(x + e);
            gv[k] = ld(dy + e);
            dyy[k] = gv[k] * ld(y + e);
            if (scale) {
                sv[k] = ld(scale + e);
                P[e] = dyy[k] / sv[k];
            } else {
                P[e] = xv[k] * xv[k];
            }
        }
    }
    __syncthreads();
    if (!scale) {
        block_scans(P, Sf, count / c_, c_, m);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < PER; ++k) {
            const int e = threadIdx.x + k * BLOCK, c = e % c_;
            if (e < count) sv[k] = bias + coef * window(P, Sf, e - c, c, (int)pre, m, c_);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < PER; ++k) {
            const int e = threadIdx.x + k * BLOCK;
            if (e < count) P[e] = dyy[k] / sv[k];
        }
        __syncthreads();
    }
    block_scans(P, Sf, count / c_, c_, m);   // t = dy * y / scale, summed over [c - post, c + pre]
    __syncthreads();
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK, c = e % c_;
        if (e < count) {
            const A sum = window(P, Sf, e - c, c, (int)post, m, c_);
            st(dx + e, scaled(gv[k], sv[k], beta) - coef2 * xv[k] * sum);
        }
    }
}
