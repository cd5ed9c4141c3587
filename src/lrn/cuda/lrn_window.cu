// Window kernels, for windows of at most W channels (m = pre + post + 1 <= W) and outputs
// that are not inputs.  Every window sum is taken afresh, in channel order, from values a
// thread holds in registers (or reads from L1): no running sums, so nothing is subtracted.
// A thread issues all its loads before any arithmetic (a division or square root has a
// slow path, a branch the compiler will not hoist later loads above), so that many are in
// flight at once.  Each kernel comes twice: for beta = 0.75 (most networks') and for any
// beta, whose double-precision power would cost the other a third more registers.
// Compiled after lrn_common.cuh and the variant's typedefs (see there).
//
// A thread reads channels that other threads write, so an output must not be an input:
// lrn._gpu sends in-place calls to the stream and tile kernels.

constexpr int W = 8;       // the widest window these kernels take
constexpr int CHUNK = 8;   // channels-first: channels per thread

template <bool B075>
__device__ __forceinline__ A power(A x, A s, double beta) {
    if constexpr (B075) return scaled_075(x, s);
    else return scaled(x, s, beta);
}

// Four consecutive values (16-byte aligned for float and double, 8-byte for half).
__device__ __forceinline__ void ld4(const float* p, float* v) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void ld4(const unsigned short* p, float* v) {
    const ushort4 q = *reinterpret_cast<const ushort4*>(p);
    v[0] = __nv_half2float(q.x), v[1] = __nv_half2float(q.y);
    v[2] = __nv_half2float(q.z), v[3] = __nv_half2float(q.w);
}
__device__ __forceinline__ void ld4(const double* p, double* v) {
    const double2 a = reinterpret_cast<const double2*>(p)[0];
    const double2 b = reinterpret_cast<const double2*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}
__device__ __forceinline__ void st4(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void st4(unsigned short* p, const float* v) {
    *reinterpret_cast<ushort4*>(p) =
        make_ushort4(__nv_float2half_rn(v[0]), __nv_float2half_rn(v[1]),
                     __nv_float2half_rn(v[2]), __nv_float2half_rn(v[3]));
}
__device__ __forceinline__ void st4(double* p, const double* v) {
    reinterpret_cast<double2*>(p)[0] = make_double2(v[0], v[1]);
    reinterpret_cast<double2*>(p)[1] = make_double2(v[2], v[3]);
}

template <int V>
__device__ __forceinline__ void ldv(const T* p, A* v) {
    if constexpr (V == 4) ld4(p, v);
    else v[0] = ld(p);
}
template <int V>
__device__ __forceinline__ void stv(T* p, const A* v) {
    if constexpr (V == 4) st4(p, v);
    else st(p, v[0]);
}

// Channels-first forward: a thread takes V adjacent positions (one vector load each) and a
// chunk of CHUNK channels; v[i] holds channel c0 - pre + i, so output j's window is
// v[j .. j + m - 1].  Positions vary fastest across threads (coalesced), then chunks, so the
// chunks that re-read a neighbour's margin run side by side (L2 hits).
template <int V, bool B075>
__device__ void planes_forward(const T* x, T* y, T* scale, I N, I C, I S, I pre, I post,
                               A coef, double beta, A bias) {
    const I m = pre + post + 1, groups = S / V, chunks = (C + CHUNK - 1) / CHUNK;
    const I count = N * chunks * groups;
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const I n = g / (chunks * groups), r = g - n * (chunks * groups);
        const I c0 = r / groups * CHUNK, base = n * C * S + (r % groups) * V;
        A v[CHUNK + W - 1][V], xo[CHUNK][V];
#pragma unroll
        for (int i = 0; i < CHUNK + W - 1; ++i) {
            const I b = c0 - pre + i;
            if (i < CHUNK + m - 1 && b >= 0 && b < C) {
                ldv<V>(x + base + b * S, v[i]);
            } else {
#pragma unroll
                for (int u = 0; u < V; ++u) v[i][u] = 0;
            }
        }
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {   // v's index of channel c0 + j depends on pre
            if (c0 + j < C) ldv<V>(x + base + (c0 + j) * S, xo[j]);
        }
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {
            if (c0 + j >= C) break;
            A sum[V], s[V], out[V];
#pragma unroll
            for (int u = 0; u < V; ++u) sum[u] = 0;
#pragma unroll
            for (int i = 0; i < W; ++i) {
                if (i < m) {
#pragma unroll
                    for (int u = 0; u < V; ++u) sum[u] += v[j + i][u] * v[j + i][u];
                }
            }
#pragma unroll
            for (int u = 0; u < V; ++u) {
                s[u] = bias + coef * sum[u];
                out[u] = power<B075>(xo[j][u], s[u], beta);
            }
            const I at = base + (c0 + j) * S;
            stv<V>(y + at, out);
            if (scale) stv<V>(scale + at, s);
        }
    }
}

// Channels-first gradient: a thread takes one position and a chunk of CHUNK channels.  The
// terms t = dy * y / scale of channels c0 - post + a, a < CHUNK + m - 1, cover the mirrored
// windows [c - post, c + pre] of the chunk (output j's is t[j .. j + m - 1]); without the
// forward's scale, each term's scale is summed from xs, which holds channel
// c0 - post - pre + i (term a's window is xs[a .. a + m - 1]).
template <bool B075>
__device__ void planes_backward(const T* x, const T* y, const T* dy, const T* scale, T* dx,
                                I N, I C, I S, I pre, I post, A coef, double beta, A bias,
                                A coef2) {
    const I m = pre + post + 1, chunks = (C + CHUNK - 1) / CHUNK, count = N * chunks * S;
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const I n = g / (chunks * S), r = g - n * (chunks * S);
        const I c0 = r / S * CHUNK, base = n * C * S + r % S;
        // the loads: the terms' dy, y and scale (1 where recomputed or outside), the
        // chunk's own x, dy and scale, and without the scale the x of the terms' windows
        A dyv[CHUNK + W - 1], yv[CHUNK + W - 1], sv[CHUNK + W - 1];
        A xo[CHUNK], dyo[CHUNK], so[CHUNK], xs[CHUNK + 2 * (W - 1)];
        bool in[CHUNK + W - 1];
#pragma unroll
        for (int a = 0; a < CHUNK + W - 1; ++a) {
            const I b = c0 - post + a, at = base + b * S;
            in[a] = a < CHUNK + m - 1 && b >= 0 && b < C;
            dyv[a] = in[a] ? ld(dy + at) : A(0);
            yv[a] = in[a] ? ld(y + at) : A(0);
            sv[a] = in[a] && scale ? ld(scale + at) : A(1);
        }
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {
            const I at = base + (c0 + j) * S;
            const bool in = c0 + j < C;
            xo[j] = in ? ld(x + at) : A(0);
            dyo[j] = in ? ld(dy + at) : A(0);
            so[j] = in && scale ? ld(scale + at) : A(1);
        }
        if (!scale) {
#pragma unroll
            for (int i = 0; i < CHUNK + 2 * (W - 1); ++i) {
                const I b = c0 - post - pre + i;
                xs[i] = i < CHUNK + 2 * (m - 1) && b >= 0 && b < C ? ld(x + base + b * S)
                                                                    : A(0);
            }
#pragma unroll
            for (int a = 0; a < CHUNK + W - 1; ++a) {
                A sum = 0;
#pragma unroll
                for (int i = 0; i < W; ++i) {
                    if (i < m) sum += xs[a + i] * xs[a + i];
                }
                sv[a] = bias + coef * sum;
            }
#pragma unroll
            for (int j = 0; j < CHUNK; ++j) {   // so[j] = sv[j + post], by selection
#pragma unroll
                for (int a = 0; a < CHUNK + W - 1; ++a) {
                    if (a == j + post) so[j] = sv[a];
                }
            }
        }
        A t[CHUNK + W - 1];
#pragma unroll
        for (int a = 0; a < CHUNK + W - 1; ++a) t[a] = in[a] ? dyv[a] * yv[a] / sv[a] : A(0);
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {
            if (c0 + j >= C) break;
            A sum = 0;
#pragma unroll
            for (int i = 0; i < W; ++i) {
                if (i < m) sum += t[j + i];
            }
            st(dx + base + (c0 + j) * S,
               power<B075>(dyo[j], so[j], beta) - coef2 * xo[j] * sum);
        }
    }
}

// Channels-last forward: a thread per element; its window is read from L1 (the neighbours'
// loads fetched the same lines).
template <bool B075>
__device__ void rows_forward(const T* x, T* y, T* scale, I M, I C, I pre, I post, A coef,
                             double beta, A bias) {
    const I m = pre + post + 1, count = M * C;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < count;
         e += (I)gridDim.x * blockDim.x) {
        const I c = e % C;
        A v[W];
#pragma unroll
        for (int i = 0; i < W; ++i) {
            const I b = c - pre + i;
            v[i] = i < m && b >= 0 && b < C ? ld(x + e - c + b) : A(0);
        }
        const A xe = ld(x + e);
        A sum = 0;
#pragma unroll
        for (int i = 0; i < W; ++i) {
            if (i < m) sum += v[i] * v[i];
        }
        const A s = bias + coef * sum;
        st(y + e, power<B075>(xe, s, beta));
        if (scale) st(scale + e, s);
    }
}

// The entry points: the kernel, then the beta class (b075: beta = 0.75; any).
#define FORWARD_ARGS const T *x, T *y, T *scale
extern "C" __global__ void lrn_forward_planes1_b075(FORWARD_ARGS, I N, I C, I S, I pre, I post,
                                                    A coef, double beta, A bias) {
    planes_forward<1, true>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_planes1_any(FORWARD_ARGS, I N, I C, I S, I pre, I post,
                                                   A coef, double beta, A bias) {
    planes_forward<1, false>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_planes4_b075(FORWARD_ARGS, I N, I C, I S, I pre, I post,
                                                    A coef, double beta, A bias) {
    planes_forward<4, true>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_planes4_any(FORWARD_ARGS, I N, I C, I S, I pre, I post,
                                                   A coef, double beta, A bias) {
    planes_forward<4, false>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_rows_b075(FORWARD_ARGS, I M, I C, I pre, I post,
                                                 A coef, double beta, A bias) {
    rows_forward<true>(x, y, scale, M, C, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_rows_any(FORWARD_ARGS, I M, I C, I pre, I post,
                                                A coef, double beta, A bias) {
    rows_forward<false>(x, y, scale, M, C, pre, post, coef, beta, bias);
}
#define BACKWARD_ARGS const T *x, const T *y, const T *dy, const T *scale, T *dx
extern "C" __global__ void lrn_backward_planes_b075(BACKWARD_ARGS, I N, I C, I S, I pre,
                                                    I post, A coef, double beta, A bias,
                                                    A coef2) {
    planes_backward<true>(x, y, dy, scale, dx, N, C, S, pre, post, coef, beta, bias, coef2);
}
extern "C" __global__ void lrn_backward_planes_any(BACKWARD_ARGS, I N, I C, I S, I pre,
                                                   I post, A coef, double beta, A bias,
                                                   A coef2) {
    planes_backward<false>(x, y, dy, scale, dx, N, C, S, pre, post, coef, beta, bias, coef2);
}
