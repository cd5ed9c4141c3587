// Channels-first ("stream") kernels: one thread per (n, s) position walks down the C
// channels (stride S), so adjacent threads read adjacent addresses.  Compiled after
// lrn_common.cuh and the variant's typedefs (see there).
//
// Inputs are read before the outputs at the same index are written, so an output may be
// exactly one of the inputs (in-place); pointers are therefore not __restrict__.

// The running windows' slots when they fit: `rings * m * blockDim.x` words of A.
extern __shared__ __align__(16) unsigned char smem_bytes[];
#define U ((int)(16 / sizeof(T)))   // channels loaded ahead per step: 16 bytes per thread

// Unit of work g of a stream kernel: position (n, s) = g % (N * S) (its offset `off` in the
// array) and channels [c0, c1), the chunk g / (N * S) of length L.
struct Chunk {
    I off, c0, c1;
};
__device__ Chunk chunk(I g, I N, I C, I S, I L) {
    const I pos = g % (N * S), c0 = g / (N * S) * L;
    return {pos + pos / S * (C - 1) * S, c0, c0 + L < C ? c0 + L : C};
}

// Thread-private slots p[i * stride], i < m: slot k of a shared-memory array (work == 0)
// or of the global scratch `work`, both laid out so that a warp touches consecutive words.
struct Slots {
    A* p;
    I stride;
};
__device__ Slots slots(A* work, int k, I m) {
    const I g = (I)blockIdx.x * blockDim.x + threadIdx.x;
    if (work) {
        const I stride = (I)gridDim.x * blockDim.x;
        return {work + k * m * stride + g, stride};
    }
    return {(A*)smem_bytes + k * m * blockDim.x + threadIdx.x, (I)blockDim.x};
}

// Sum of the last m values pushed (zeros before the first).  The stream is cut into blocks
// of m: the slots hold the previous block's suffix sums, `run` the current block's prefix
// sum, and every window is one suffix plus one prefix.
struct Ring {
    Slots s;
    I m, j;
    A run;
    __device__ Ring(Slots s_, I m_) : s(s_), m(m_), j(0), run(0) {
        for (I i = 0; i < m; ++i) s.p[i * s.stride] = 0;
    }
    __device__ A push(A q) {
        run += q;
        s.p[j * s.stride] = q;
        if (++j < m) return run + s.p[j * s.stride];
        const A total = run;
        A acc = 0;
        for (I i = m - 1; i >= 0; --i) {
            acc += s.p[i * s.stride];
            s.p[i * s.stride] = acc;
        }
        run = 0;
        j = 0;
        return total;
    }
};

__device__ void forward_chunk(const T* x, T* y, T* scale, A* work, I C, I S, I c0, I c1,
                              I pre, I post, A coef, double beta, A bias) {
    Ring sq(slots(work, 0, pre + post + 1), pre + post + 1);
    for (I b0 = c0 - pre; b0 < c1 + post; b0 += U) {   // b: newest channel in the window
        A q[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const I b = b0 + u;
            const A v = b >= 0 && b < C ? ld(x + b * S) : A(0);
            q[u] = v * v;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const A s = bias + coef * sq.push(q[u]);
            const I c = b0 + u - post;
            if (c >= c0 && c < c1) {
                st(y + c * S, scaled(ld(x + c * S), s, beta));
                if (scale) st(scale + c * S, s);
            }
        }
    }
}

extern "C" __global__ void lrn_forward(const T* x, T* y, T* scale, A* work, I N, I C, I S,
                                       I L, I pre, I post, A coef, double beta,
                                       A bias) {
    const I count = N * S * ((C + L - 1) / L);
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const Chunk k = chunk(g, N, C, S, L);
        forward_chunk(x + k.off, y + k.off, scale ? scale + k.off : scale, work, C, S, k.c0,
                      k.c1, pre, post, coef, beta, bias);
    }
}

__device__ void backward_chunk(const T* x, const T* y, const T* dy, const T* scale, T* dx,
                               A* work, I C, I S, I c0, I c1, I pre, I post, A coef,
                               double beta, A bias, A coef2) {
    const I m = pre + post + 1;
    Ring tsum(slots(work, 0, m), m);   // sums of t = dy * y / scale over [c - post, c + pre]
    if (scale) {
        for (I b0 = c0 - post; b0 < c1 + pre; b0 += U) {   // b: newest channel of t
            A t[U];
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const I b = b0 + u;
                t[u] = b >= 0 && b < C ? ld(dy + b * S) * ld(y + b * S) / ld(scale + b * S)
                                       : A(0);
            }
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const A sum = tsum.push(t[u]);
                const I c = b0 + u - pre;
                if (c >= c0 && c < c1) {
                    const A s = ld(scale + c * S);
                    st(dx + c * S,
                       scaled(ld(dy + c * S), s, beta) - coef2 * ld(x + c * S) * sum);
                }
            }
        }
        return;
    }
    // Recompute the scale: b is the newest channel of x, a = b - post gets its scale and t,
    // c = a - pre its dx; `delay` keeps the scales of the last m channels a.
    Ring sq(slots(work, 1, m), m);
    const Slots delay = slots(work, 2, m);
    I jw = 0, jr = post;   // delay slots of a (from c0 - post) and of c (from c0)
    for (I b0 = c0 - post - pre; b0 < c1 + pre + post; b0 += U) {
        A q[U], dyy[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const I b = b0 + u, a = b - post;
            const A v = b >= 0 && b < C ? ld(x + b * S) : A(0);
            q[u] = v * v;
            dyy[u] = a >= 0 && a < C ? ld(dy + a * S) * ld(y + a * S) : A(0);
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const A sa = bias + coef * sq.push(q[u]);
            const I a = b0 + u - post, c = a - pre;
            if (a < c0 - post) continue;   // the window of x of scale[a] is not complete yet
            delay.p[jw * delay.stride] = sa;
            jw = jw + 1 == m ? 0 : jw + 1;
            const A sum = tsum.push(a >= 0 && a < C ? dyy[u] / sa : A(0));
            if (c >= c0 && c < c1) {
                const A s = delay.p[jr * delay.stride];
                jr = jr + 1 == m ? 0 : jr + 1;
                st(dx + c * S, scaled(ld(dy + c * S), s, beta) - coef2 * ld(x + c * S) * sum);
            }
        }
    }
}

extern "C" __global__ void lrn_backward(const T* x, const T* y, const T* dy, const T* scale,
                                        T* dx, A* work, I N, I C, I S, I L, I pre, I post,
                                        A coef, double beta, A bias, A coef2) {
    const I count = N * S * ((C + L - 1) / L);
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const Chunk k = chunk(g, N, C, S, L);
        backward_chunk(x + k.off, y + k.off, dy + k.off, scale ? scale + k.off : scale,
                       dx + k.off, work, C, S, k.c0, k.c1, pre, post, coef, beta, bias,
                       coef2);
    }
}
