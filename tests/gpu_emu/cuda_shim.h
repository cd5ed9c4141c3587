// Host emulation of the CUDA C++ that lrn's kernels (src/lrn/cuda) use, for the tests.
//
// Force-included before a kernel source, which is compiled unchanged with g++/clang++
// (-std=c++20).  A launch runs the grid's blocks one after another; the threads of a block
// are std::threads that meet at a std::barrier for __syncthreads.  Because one block runs at
// a time, __shared__ variables (which the sources declare at file scope) are plain globals,
// and `extern __shared__` memory is one static buffer.  EMU_EXPORT(kernel), appended after
// the source, gives a kernel C entry points: a launch that takes the arguments as
// cudaLaunchKernel does (an array of pointers to each value) and the parameters' sizes.
#include <barrier>
#include <cstddef>
#include <cstring>
#include <math.h>
#include <thread>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

static std::barrier<>* emu_block_barrier;
inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }

// libdevice's conversions, round to nearest even (GCC's _Float16 converts in IEEE fashion).
extern "C" float __nv_half2float(unsigned short h) {
    _Float16 v;
    std::memcpy(&v, &h, 2);
    return (float)v;
}
extern "C" unsigned short __nv_float2half_rn(float f) {
    const _Float16 v = (_Float16)f;
    unsigned short h;
    std::memcpy(&h, &v, 2);
    return h;
}

// Dynamic shared memory (the sources' one `extern __shared__` array), as large as lrn asks.
constexpr std::size_t EMU_SHARED_BYTES = 48 * 1024;
alignas(16) unsigned char smem_bytes[EMU_SHARED_BYTES];

namespace emu {

template <class... P, std::size_t... K>
void call(void (*kernel)(P...), void** args, std::index_sequence<K...>) {
    kernel(*static_cast<P*>(args[K])...);
}

// Run `kernel` on a 1-D grid; 0 on success, 1 if the launch asks for too much shared memory.
template <class... P>
int launch(void (*kernel)(P...), unsigned grid, unsigned block, void** args,
           std::size_t shared) {
    if (shared > EMU_SHARED_BYTES) return 1;
    std::memset(smem_bytes, 0xff, sizeof smem_bytes);   // NaN: uninitialised on a GPU too
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    std::barrier<> barrier(block);
    emu_block_barrier = &barrier;
    std::vector<std::thread> threads;
    threads.reserve(block);
    for (unsigned t = 0; t < block; ++t) {
        threads.emplace_back([=, &barrier] {
            threadIdx = {t, 0, 0};
            for (unsigned b = 0; b < grid; ++b) {
                blockIdx = {b, 0, 0};
                call(kernel, args, std::index_sequence_for<P...>{});
                barrier.arrive_and_wait();   // the block is done: the next reuses its memory
            }
        });
    }
    for (auto& t : threads) t.join();
    return 0;
}

// The byte size of each parameter, for the caller to check its arguments against.
template <class... P>
int signature(void (*)(P...), std::size_t* sizes) {
    const std::size_t s[] = {sizeof(P)..., 0};
    for (std::size_t i = 0; i < sizeof...(P); ++i) sizes[i] = s[i];
    return (int)sizeof...(P);
}

}  // namespace emu

#define EMU_EXPORT(name)                                                                  \
    extern "C" int emu_launch_##name(unsigned grid, unsigned block, void** args,          \
                                     std::size_t shared) {                                \
        return emu::launch(name, grid, block, args, shared);                              \
    }                                                                                     \
    extern "C" int emu_signature_##name(std::size_t* sizes) {                             \
        return emu::signature(name, sizes);                                               \
    }

// A check of the conversions against NumPy's.
extern "C" void emu_float_to_half(const float* src, unsigned short* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = __nv_float2half_rn(src[i]);
}
extern "C" void emu_half_to_float(const unsigned short* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = __nv_half2float(src[i]);
}
