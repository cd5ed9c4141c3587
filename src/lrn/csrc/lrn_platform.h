/* What the kernels need from the platform, kept out of the Cython sources:
   OpenMP queries that also compile without OpenMP, the compiler flags of the
   build, a software prefetch, 64-byte aligned zeroed allocation, a thread's
   kept scratch and the CPU feature test that picks the AVX2 build.  Included
   after Python.h by the Cython module (Py_ssize_t). */
#ifndef LRN_PLATFORM_H
#define LRN_PLATFORM_H

#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

/* setup.py defines it with the flags it passed, for lrn.show_config(). */
#ifndef LRN_CFLAGS
#define LRN_CFLAGS "unknown"
#endif

static const char *lrn_cflags(void) { return LRN_CFLAGS; }

#ifdef _OPENMP
#include <omp.h>
static int lrn_openmp(void) { return 1; }
static int lrn_max_threads(void) { return omp_get_max_threads(); }
static int lrn_num_procs(void) { return omp_get_num_procs(); }
#else
static int lrn_openmp(void) { return 0; }
static int lrn_max_threads(void) { return 1; }
static int lrn_num_procs(void) { return 1; }
#endif

/* Asks for a row ahead of use (``write``: for a store, so that the line
   arrives owned): the strided rows of a channels-first tile are too many
   short streams for the hardware prefetcher. */
static inline void lrn_prefetch(const void *p, Py_ssize_t bytes, int write) {
#if defined(__GNUC__) || defined(__clang__)
    const char *c = (const char *)p;
    Py_ssize_t i;
    if (write)
        for (i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 1, 3);
    else
        for (i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
#else
    (void)p;
    (void)bytes;
    (void)write;
#endif
}

/* Zeroed 64-byte aligned blocks from calloc (C11's aligned_alloc is missing
   from MSVC): the distance back to calloc's pointer, 1 to 64, is kept in the
   byte just before the block. */
static void *lrn_alloc64(size_t size) {
    unsigned char *raw = (unsigned char *)calloc(size + 64, 1), *p;
    if (raw == NULL) return NULL;
    p = raw + 64 - ((uintptr_t)raw & 63);
    p[-1] = (unsigned char)(p - raw);
    return p;
}

static void lrn_free64(void *p) {
    if (p != NULL) free((unsigned char *)p - ((unsigned char *)p)[-1]);
}

/* A thread's scratch for the calls it runs alone, kept from call to call
   (a (1, 8, 4, 4) call spent a fifth of its time in calloc and free), in
   static thread-local storage, which the thread's exit frees: NULL when
   ``size`` exceeds it, for the caller to allocate.  Not zeroed: every pass
   writes its scratch before reading it (tests/test_isa.py leaves NaN in
   it between calls). */
#ifdef _MSC_VER
#define LRN_THREAD_LOCAL __declspec(thread)
#else
#define LRN_THREAD_LOCAL _Thread_local
#endif
#define LRN_THREAD_SCRATCH 65536

static void *lrn_thread_scratch(size_t size) {
    static LRN_THREAD_LOCAL unsigned char block[LRN_THREAD_SCRATCH + 64];
    if (size > LRN_THREAD_SCRATCH) return NULL;
    return block + 64 - ((uintptr_t)block & 63);
}

/* The AVX2 build also relies on F16C (lrn_half.h), so all three are needed;
   the AVX-512 build on those and AVX-512 F and VL.  (The compilers' tests
   also ask the OS whether it saves the vector registers.) */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
static int lrn_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
           && __builtin_cpu_supports("f16c");
}

static int lrn_cpu_has_avx512(void) {
    return lrn_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f")
           && __builtin_cpu_supports("avx512vl");
}
#else
static int lrn_cpu_has_avx2_fma(void) { return 0; }
static int lrn_cpu_has_avx512(void) { return 0; }
#endif

#endif /* LRN_PLATFORM_H */
