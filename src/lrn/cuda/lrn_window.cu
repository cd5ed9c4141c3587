// Window kernels, for windows of at most W channels (m = pre + post + 1 <= W) and outputs
// that are not inputs.  Every window sum is taken afresh, in channel order, from values a
// thread holds (in registers, or in shared memory for the gradient's second window): no
// running sums, so nothing is subtracted, and a thread keeps many independent loads in
// flight.  Compiled after lrn_common.cuh and the variant's typedefs (see there).
//
// A thread reads channels that other threads write, so an output must not be an input:
// lrn._gpu sends in-place calls to the stream and tile kernels.

constexpr int W = 8;        // the widest window these kernels take
constexpr int CHUNK = 8;    // channels-first: channels per thread
constexpr int BLOCK = 256;  // threads per block (the channels-last gradient stages BLOCK + W - 1 terms)

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
template <int V>
__device__ void planes_forward(const T* x, T* y, T* scale, I N, I C, I S, I pre, I post,
                               A coef, double beta, A bias) {
    const I m = pre + post + 1, groups = S / V, chunks = (C + CHUNK - 1) / CHUNK;
    const I count = N * chunks * groups;
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const I n = g / (chunks * groups), r = g - n * (chunks * groups);
        const I c0 = r / groups * CHUNK, base = n * C * S + (r % groups) * V;
        A v[CHUNK + W - 1][V];
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
        for (int j = 0; j < CHUNK; ++j) {
            const I at = base + (c0 + j) * S;
            if (c0 + j >= C) break;
            A sum[V], xo[V], s[V], out[V];
#pragma unroll
            for (int u = 0; u < V; ++u) sum[u] = 0;
#pragma unroll
            for (int i = 0; i < W; ++i) {
                if (i < m) {
#pragma unroll
                    for (int u = 0; u < V; ++u) sum[u] += v[j + i][u] * v[j + i][u];
                }
            }
            ldv<V>(x + at, xo);   // an L1 hit: v's index of it depends on pre
#pragma unroll
            for (int u = 0; u < V; ++u) {
                s[u] = bias + coef * sum[u];
                out[u] = scaled(xo[u], s[u], beta);
            }
            stv<V>(y + at, out);
            if (scale) stv<V>(scale + at, s);
        }
    }
}

extern "C" __global__ void lrn_forward_planes1(const T* x, T* y, T* scale, I N, I C, I S,
                                               I pre, I post, A coef, double beta, A bias) {
    planes_forward<1>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}
extern "C" __global__ void lrn_forward_planes4(const T* x, T* y, T* scale, I N, I C, I S,
                                               I pre, I post, A coef, double beta, A bias) {
    planes_forward<4>(x, y, scale, N, C, S, pre, post, coef, beta, bias);
}

// Channels-first gradient: a thread takes one position and a chunk of CHUNK channels.  The
// terms t = dy * y / scale of channels c0 - post + a, a < CHUNK + m - 1, cover the mirrored
// windows [c - post, c + pre] of the chunk (output j's is t[j .. j + m - 1]); without the
// forward's scale, each term's scale is summed from xs, which holds channel
// c0 - post - pre + i (term a's window is xs[a .. a + m - 1]).
extern "C" __global__ void lrn_backward_planes(const T* x, const T* y, const T* dy,
                                               const T* scale, T* dx, I N, I C, I S, I pre,
                                               I post, A coef, double beta, A bias, A coef2) {
    const I m = pre + post + 1, chunks = (C + CHUNK - 1) / CHUNK, count = N * chunks * S;
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const I n = g / (chunks * S), r = g - n * (chunks * S);
        const I c0 = r / S * CHUNK, base = n * C * S + r % S;
        A t[CHUNK + W - 1], sc[CHUNK + W - 1];   // terms and, recomputed, their scales
        if (scale) {
#pragma unroll
            for (int a = 0; a < CHUNK + W - 1; ++a) {
                const I b = c0 - post + a, at = base + b * S;
                t[a] = a < CHUNK + m - 1 && b >= 0 && b < C
                           ? ld(dy + at) * ld(y + at) / ld(scale + at) : A(0);
            }
        } else {
            A xs[CHUNK + 2 * (W - 1)];
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
                sc[a] = bias + coef * sum;
                const I b = c0 - post + a, at = base + b * S;
                t[a] = a < CHUNK + m - 1 && b >= 0 && b < C ? ld(dy + at) * ld(y + at) / sc[a]
                                                            : A(0);
            }
        }
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {
            const I at = base + (c0 + j) * S;
            if (c0 + j >= C) break;
            A sum = 0;
#pragma unroll
            for (int i = 0; i < W; ++i) {
                if (i < m) sum += t[j + i];
            }
            A s = 0;
            if (scale) {
                s = ld(scale + at);
            } else {
#pragma unroll
                for (int a = 0; a < CHUNK + W - 1; ++a) {   // sc[j + post], by selection
                    if (a == j + post) s = sc[a];
                }
            }
            st(dx + at, scaled(ld(dy + at), s, beta) - coef2 * ld(x + at) * sum);
        }
    }
}

// Channels-last forward: a thread per element; its window is read from L1 (the neighbours'
// loads fetched the same lines).
extern "C" __global__ void lrn_forward_rows(const T* x, T* y, T* scale, I M, I C, I pre,
                                            I post, A coef, double beta, A bias) {
    const I m = pre + post + 1, count = M * C;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < count;
         e += (I)gridDim.x * blockDim.x) {
        const I c = e % C;
        A sum = 0;
#pragma unroll
        for (int i = 0; i < W; ++i) {
            const I b = c - pre + i;
            if (i < m && b >= 0 && b < C) {
                const A v = ld(x + e - c + b);
                sum += v * v;
            }
        }
        const A s = bias + coef * sum;
        st(y + e, scaled(ld(x + e), s, beta));
        if (scale) st(scale + e, s);
    }
}

// Channels-last gradient: a block takes BLOCK consecutive elements e0 + k; the terms
// t = dy * y / scale of elements e0 - post + a (a < BLOCK + m - 1) and their scales are
// staged in shared memory, so element e0 + k's mirrored window is terms[k .. k + m - 1]
// (those of its own row).
__shared__ A terms[BLOCK + W - 1], scales[BLOCK + W - 1];

extern "C" __global__ void lrn_backward_rows(const T* x, const T* y, const T* dy,
                                             const T* scale, T* dx, I M, I C, I pre, I post,
                                             A coef, double beta, A bias, A coef2) {
    const I m = pre + post + 1, count = M * C;
    for (I e0 = (I)blockIdx.x * BLOCK; e0 < count; e0 += (I)gridDim.x * BLOCK) {
        for (int a = threadIdx.x; a < BLOCK + m - 1; a += BLOCK) {
            const I f = e0 - post + a;
            A t = 0, s = 1;
            if (f >= 0 && f < count) {
                if (scale) {
                    s = ld(scale + f);
                } else {
                    const I c = f % C;
                    A sum = 0;
#pragma unroll
                    for (int i = 0; i < W; ++i) {
                        const I b = c - pre + i;
                        if (i < m && b >= 0 && b < C) {
                            const A v = ld(x + f - c + b);
                            sum += v * v;
                        }
                    }
                    s = bias + coef * sum;
                }
                t = ld(dy + f) * ld(y + f) / s;
            }
            terms[a] = t;
            scales[a] = s;
        }
        __syncthreads();
        const I e = e0 + threadIdx.x;
        if (e < count) {
            const I c = e % C;
            A sum = 0;
#pragma unroll
            for (int i = 0; i < W; ++i) {
                const I b = c - post + i;
                if (i < m && b >= 0 && b < C) sum += terms[threadIdx.x + i];
            }
            st(dx + e, scaled(ld(dy + e), scales[threadIdx.x + post], beta) -
                           coef2 * ld(x + e) * sum);
        }
        __syncthreads();   // the next tile's staging overwrites these terms
    }
}
