// Host emulation of the CUDA C++ that lrn's kernels (src/lrn/cuda) use, for the tests.
//
// Force-included before a kernel source, which is compiled unchanged with g++/clang++
// (-std=c++17).  A launch runs the grid's blocks one after another; the threads of a block
// are fibers (ucontext) on one OS thread, each run until it reaches __syncthreads or returns,
// round after round (in alternating thread order), so a launch is deterministic and cheap.
// A round in which some threads return while others wait at __syncthreads is reported (the
// kernels never diverge so).
// Because one block runs at a time, __shared__ variables (which the sources declare at file
// scope) are plain globals, and `extern __shared__` memory is one static buffer.
// EMU_EXPORT(kernel), appended after the source, gives a kernel C entry points: a launch
// that takes the arguments as cudaLaunchKernel does (an array of pointers to each value)
// and the parameters' sizes.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <ucontext.h>
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
static dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {
struct Fiber {
    ucontext_t context;
    bool done;
};
constexpr std::size_t STACK_BYTES = 256 * 1024;
static ucontext_t scheduler;
static std::vector<Fiber> fibers;
static std::vector<char*> stacks;
static Fiber* current;
static std::function<void()> body;   // the kernel call of the running launch

inline void fiber_main() {
    body();
    current->done = true;   // returning resumes the scheduler (uc_link)
}
}  // namespace emu

inline void __syncthreads() { swapcontext(&emu::current->context, &emu::scheduler); }

inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }

// The vector types the kernels load and store through (CUDA's alignment; the emulation is
// compiled with -fno-strict-aliasing, as these casts need).
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) ushort4 {
    unsigned short x, y, z, w;
};
struct alignas(16) double2 {
    double x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline ushort4 make_ushort4(unsigned short x, unsigned short y, unsigned short z,
                            unsigned short w) {
    return {x, y, z, w};
}
inline double2 make_double2(double x, double y) { return {x, y}; }

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

// Run one block: 0, or 2 if its threads disagree on __syncthreads.
inline int run_block(unsigned block) {
    for (unsigned t = 0; t < block; ++t) {
        Fiber& f = fibers[t];
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = stacks[t];
        f.context.uc_stack.ss_size = STACK_BYTES;
        f.context.uc_link = &scheduler;
        f.done = false;
        makecontext(&f.context, fiber_main, 0);
    }
    // One round runs every thread to its next sync, in turn: ascending and descending
    // thread order alternate, so that a result that depends on the order shows.
    for (unsigned active = block, round = 0; active > 0; ++round) {
        unsigned returned = 0;
        for (unsigned i = 0; i < block; ++i) {
            const unsigned t = (round + blockIdx.x) % 2 ? block - 1 - i : i;
            if (fibers[t].done) continue;
            threadIdx = {t, 0, 0};
            current = &fibers[t];
            swapcontext(&scheduler, &current->context);
            returned += fibers[t].done;
        }
        if (returned != 0 && returned != active) return 2;
        active -= returned;
    }
    return 0;
}

// Run `kernel` on a 1-D grid: 0 on success, 1 if the launch asks for too much shared
// memory, 2 if the threads of a block diverge at __syncthreads.
template <class... P>
int launch(void (*kernel)(P...), unsigned grid, unsigned block, void** args,
           std::size_t shared) {
    if (shared > EMU_SHARED_BYTES) return 1;
    std::memset(smem_bytes, 0xff, sizeof smem_bytes);   // NaN: uninitialised on a GPU too
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    while (stacks.size() < block) stacks.push_back(static_cast<char*>(std::malloc(STACK_BYTES)));
    fibers.resize(block);
    body = [=] { call(kernel, args, std::index_sequence_for<P...>{}); };
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx = {b, 0, 0};
        if (run_block(block)) return 2;
    }
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
