/* lrn's own worker threads, which run a call's tiles (design §4).

   An OpenMP region ends at a barrier that waits for every thread of its
   team, however late it wakes: after an idle pause a 2-thread call waited
   for a sleeping worker and could take longer than 1 thread.  Here the
   calling thread claims tiles itself from the first moment, a worker joins
   when it is awake, and the call waits only for the tiles workers have
   claimed.  Results do not depend on who runs a tile (each tile is written
   by one thread, from its own scratch slot), so they are bitwise the same
   for any thread count and any timing.

   Workers are started on first use and kept; after a task they spin, then
   nap, then sleep (below).  A forked child starts afresh with no workers.
   Included after Python.h (Py_ssize_t). */
#ifndef LRN_POOL_H
#define LRN_POOL_H

#include <Python.h>
#include <stdint.h>

/* An idle worker spins for LRN_SPIN_NS, naps 0.1 ms at a time until
   LRN_NAPS_NS have passed and 1 ms at a time until LRN_LONG_NAPS_NS, then
   sleeps on a condition variable until a call wakes it.  A napping worker
   wakes on its own core and finds the next call within a nap, for a little
   CPU (on the machine of design §4: 13 % of a core for 0.1 ms naps, 3 % for
   1 ms); a worker woken from the condition variable took 0.1-3 ms to start
   there and was often placed on the caller's core, where the two took turns
   (2 threads then took as long as 1).  A worker not yet awake costs a call
   no more than its share of the tiles, which the calling thread does. */
#define LRN_SPIN_NS 1000000
#define LRN_NAPS_NS 50000000
#define LRN_LONG_NAPS_NS 200000000

typedef void (*lrn_job_fn)(Py_ssize_t job, int slot, void *ctx);

#ifdef _WIN32
#include <windows.h>
typedef SRWLOCK lrn_mutex;
typedef CONDITION_VARIABLE lrn_cond;
#define LRN_MUTEX_INIT SRWLOCK_INIT
#define LRN_COND_INIT CONDITION_VARIABLE_INIT
#define lrn_lock(m) AcquireSRWLockExclusive(m)
#define lrn_unlock(m) ReleaseSRWLockExclusive(m)
#define lrn_wait(c, m) SleepConditionVariableSRW(c, m, INFINITE, 0)
#define lrn_signal(c) WakeConditionVariable(c)
#define lrn_broadcast(c) WakeAllConditionVariable(c)
#define lrn_relax() YieldProcessor()
static void lrn_nap(long ns) { Sleep(ns < 1000000 ? 1 : (DWORD)(ns / 1000000)); }
typedef volatile LONG lrn_atomic_int;
typedef volatile LONG64 lrn_atomic_index;
static LONG lrn_load(lrn_atomic_int *v) { return InterlockedCompareExchange(v, 0, 0); }
static LONG lrn_inc(lrn_atomic_int *v) { return InterlockedIncrement(v); }
static LONG lrn_dec(lrn_atomic_int *v) { return InterlockedDecrement(v); }
static Py_ssize_t lrn_claim(lrn_atomic_index *v) {
    return (Py_ssize_t)(InterlockedIncrement64(v) - 1);
}
static int64_t lrn_now_ns(void) {
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (int64_t)((double)t.QuadPart * 1e9 / (double)f.QuadPart);
}
#else
#include <pthread.h>
#include <time.h>
typedef pthread_mutex_t lrn_mutex;
typedef pthread_cond_t lrn_cond;
#define LRN_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define LRN_COND_INIT PTHREAD_COND_INITIALIZER
#define lrn_lock(m) pthread_mutex_lock(m)
#define lrn_unlock(m) pthread_mutex_unlock(m)
#define lrn_wait(c, m) pthread_cond_wait(c, m)
#define lrn_signal(c) pthread_cond_signal(c)
#define lrn_broadcast(c) pthread_cond_broadcast(c)
static void lrn_nap(long ns) {
    struct timespec nap = {0, ns};
    nanosleep(&nap, NULL);
}
#if defined(__x86_64__) || defined(__i386__)
#define lrn_relax() __builtin_ia32_pause()
#else
#define lrn_relax() ((void)0)
#endif
typedef int lrn_atomic_int;
typedef Py_ssize_t lrn_atomic_index;
static int lrn_load(lrn_atomic_int *v) { return __atomic_load_n(v, __ATOMIC_ACQUIRE); }
static int lrn_inc(lrn_atomic_int *v) { return __atomic_add_fetch(v, 1, __ATOMIC_ACQ_REL); }
static int lrn_dec(lrn_atomic_int *v) { return __atomic_sub_fetch(v, 1, __ATOMIC_ACQ_REL); }
static Py_ssize_t lrn_claim(lrn_atomic_index *v) {
    return __atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
}
static int64_t lrn_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#endif

/* The tiles are cut into one contiguous share per thread, as a static
   schedule would: thread k drains share k first, then helps with the others.
   Back to back calls on the same data then give each thread the same tiles
   as the time before, still in its caches. */
#define LRN_SHARES 64

typedef struct {
    lrn_atomic_index next;  /* the next tile to claim */
    Py_ssize_t end;         /* one past the share's last tile */
    char pad[64 - 2 * sizeof(Py_ssize_t)];   /* a cache line each */
} lrn_share;

/* One call's tiles.  Lives on the caller's stack: the caller unpublishes it
   and waits for the workers inside it before returning. */
typedef struct {
    lrn_job_fn fn;
    void *ctx;
    lrn_share shares[LRN_SHARES];
    int nshares;
    lrn_atomic_int active;  /* workers inside the task */
    int slots, max_slots;   /* scratch slots handed out (0 is the caller's) */
} lrn_task;

static struct {
    lrn_mutex lock;
    lrn_cond work, done;
    lrn_task *task;         /* the published task, or NULL */
    lrn_atomic_int gen;     /* bumped (under the lock) when a task is published */
    int workers;            /* started */
} lrn_pool = {LRN_MUTEX_INIT, LRN_COND_INIT, LRN_COND_INIT, NULL, 0, 0};

/* Claims and runs tiles until none is left: its own share, then the rest. */
static void lrn_task_drain(lrn_task *t, int slot) {
    Py_ssize_t job;
    int i;
    for (i = 0; i < t->nshares; i++) {
        lrn_share *share = &t->shares[(slot + i) % t->nshares];
        while ((job = lrn_claim(&share->next)) < share->end) t->fn(job, slot, t->ctx);
    }
}

#ifdef _WIN32
static DWORD WINAPI lrn_worker(LPVOID arg)
#else
static void *lrn_worker(void *arg)
#endif
{
    int seen = (int)(intptr_t)arg, slot;   /* the generation before the first task */
    int64_t start, idle;
    lrn_task *t;
    for (;;) {
        start = lrn_now_ns();
        while (lrn_load(&lrn_pool.gen) == seen) {
            idle = lrn_now_ns() - start;
            if (idle < LRN_SPIN_NS)
                lrn_relax();
            else if (idle < LRN_NAPS_NS)
                lrn_nap(100000);
            else if (idle < LRN_LONG_NAPS_NS)
                lrn_nap(1000000);
            else
                break;
        }
        lrn_lock(&lrn_pool.lock);
        while (lrn_pool.gen == seen) lrn_wait(&lrn_pool.work, &lrn_pool.lock);
        seen = lrn_pool.gen;
        t = lrn_pool.task;
        slot = 0;
        if (t != NULL && t->slots < t->max_slots) {
            slot = t->slots++;
            /* under the lock, as the caller unpublishes the task, and atomic, as
               workers leave it without the lock */
            lrn_inc(&t->active);
        }
        lrn_unlock(&lrn_pool.lock);
        if (slot == 0) continue;
        lrn_task_drain(t, slot);
        /* t may be gone once active is 0: only the pool is touched after */
        if (lrn_dec(&t->active) == 0) {
            lrn_lock(&lrn_pool.lock);
            lrn_signal(&lrn_pool.done);
            lrn_unlock(&lrn_pool.lock);
        }
    }
#ifdef _WIN32
    return 0;
#else
    return NULL;
#endif
}

#ifndef _WIN32
/* A forked child has none of the parent's threads: it starts afresh. */
static void lrn_pool_after_fork(void) {
    pthread_mutex_init(&lrn_pool.lock, NULL);
    pthread_cond_init(&lrn_pool.work, NULL);
    pthread_cond_init(&lrn_pool.done, NULL);
    lrn_pool.task = NULL;
    lrn_pool.workers = 0;
}

static void lrn_pool_register_fork(void) { pthread_atfork(NULL, NULL, lrn_pool_after_fork); }
#endif

/* Starts workers up to ``count`` (under the lock); returns how many run. */
static int lrn_pool_grow(int count) {
    void *arg = (void *)(intptr_t)lrn_pool.gen;
    while (lrn_pool.workers < count) {
#ifdef _WIN32
        HANDLE h = CreateThread(NULL, 0, lrn_worker, arg, 0, NULL);
        if (h == NULL) break;
        CloseHandle(h);
#else
        pthread_t th;
        pthread_attr_t attr;
        int failed;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        failed = pthread_create(&th, &attr, lrn_worker, arg);
        pthread_attr_destroy(&attr);
        if (failed) break;
#endif
        lrn_pool.workers++;
    }
    return lrn_pool.workers;
}

/* fn(job, slot, ctx) for job = 0 .. jobs - 1 on up to ``threads`` threads,
   the calling one included; slot (0 .. threads - 1) names the thread's
   scratch.  Call with the GIL released.  One task runs on the pool at a
   time: a call made while another thread's call has it (a Dask worker's
   threads, say) runs its tiles on its own thread.  Returns once every tile
   is done. */
static void lrn_pool_run(lrn_job_fn fn, void *ctx, Py_ssize_t jobs, int threads) {
    lrn_task t;
    int64_t until;
    Py_ssize_t job;
    int i;
#ifndef _WIN32
    static pthread_once_t once = PTHREAD_ONCE_INIT;
#endif
    t.fn = fn;
    t.ctx = ctx;
    t.active = 0;
    t.slots = 1;
    t.max_slots = 1;
    if (threads > 1 && jobs > 1) {
#ifndef _WIN32
        pthread_once(&once, lrn_pool_register_fork);
#endif
        lrn_lock(&lrn_pool.lock);
        if (lrn_pool.task == NULL) {
            const int workers = lrn_pool_grow(threads - 1);
            t.max_slots = 1 + (workers < threads - 1 ? workers : threads - 1);
        }
        if (t.max_slots > 1) {
            t.nshares = t.max_slots < LRN_SHARES ? t.max_slots : LRN_SHARES;
            for (i = 0; i < t.nshares; i++) {
                t.shares[i].next = jobs * i / t.nshares;
                t.shares[i].end = jobs * (i + 1) / t.nshares;
            }
            lrn_pool.task = &t;
            lrn_inc(&lrn_pool.gen);
            lrn_broadcast(&lrn_pool.work);
        }
        lrn_unlock(&lrn_pool.lock);
    }
    if (t.max_slots == 1) {
        for (job = 0; job < jobs; job++) fn(job, 0, ctx);
        return;
    }
    lrn_task_drain(&t, 0);
    lrn_lock(&lrn_pool.lock);
    lrn_pool.task = NULL;
    lrn_unlock(&lrn_pool.lock);
    /* the workers inside finish their last tiles: spin, then sleep */
    until = lrn_now_ns() + LRN_SPIN_NS;
    while (lrn_load(&t.active) > 0 && lrn_now_ns() < until) lrn_relax();
    lrn_lock(&lrn_pool.lock);
    while (lrn_load(&t.active) > 0) lrn_wait(&lrn_pool.done, &lrn_pool.lock);
    lrn_unlock(&lrn_pool.lock);
}

#endif /* LRN_POOL_H */
