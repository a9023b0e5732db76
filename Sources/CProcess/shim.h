#ifndef CPROCESS_SHIM_H
#define CPROCESS_SHIM_H
/* The Linux calls of the process infrastructure (ProcessManager): thread names, the parent-death signal, the memfd
   and atomics of the counters the worker pool shares, and the futex-based permits of password hashing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

/* GNU extensions that Swift's Glibc module does not expose (it is built without _GNU_SOURCE). Declared here with
   their glibc prototypes and wrapped under this module's prefix. */
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CProcess_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

/* prctl is variadic: a worker asks for SIGTERM when its supervisor dies, so no orphan keeps serving. */
static inline int CProcess_terminate_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Counters shared by the worker processes of one supervisor (a memfd mapped by all of them). */
extern int memfd_create(const char *name, unsigned int flags);

static inline int CProcess_memfd(const char *name) {
    return memfd_create(name, 1U /* MFD_CLOEXEC */);
}

static inline void CProcess_counter_add(uint64_t *counter, uint64_t value) {
    __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}

static inline uint64_t CProcess_counter_load(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Permits shared by the worker processes of one supervisor (a counting semaphore that survives a holder's death).
   The region is: a generation word (changed by every release; waiters sleep on it with a futex), a count of
   sleeping waiters, then one cell per permit holding the pid of its holder (0: free). A holder that dies without
   releasing is found by pid: the supervisor frees its cells when it reaps it, and a waiter that slept for
   `reclaim_ms` frees the cells of holders that no longer exist. */
enum { CProcess_permit_header_words = 2 };

static inline int CProcess_permit_try(uint32_t *region, int count, uint32_t pid) {
    uint32_t *cells = region + CProcess_permit_header_words;
    for (int i = 0; i < count; i++) {
        uint32_t expected = 0;
        if (__atomic_load_n(&cells[i], __ATOMIC_RELAXED) == 0
            && __atomic_compare_exchange_n(&cells[i], &expected, pid, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return i;
    }
    return -1;
}

/* Frees the cells held by `pid` or, with `dead_only`, the cells of every holder that no longer exists (kill(holder, 0)
   fails with ESRCH; a zombie still exists until its parent reaps it). Returns how many cells it freed. */
static inline int CProcess_permit_reclaim(uint32_t *region, int count, uint32_t pid, int dead_only) {
    uint32_t *cells = region + CProcess_permit_header_words;
    int freed = 0;
    for (int i = 0; i < count; i++) {
        uint32_t holder = __atomic_load_n(&cells[i], __ATOMIC_SEQ_CST);
        if (holder == 0) continue;
        if (dead_only ? !(kill((pid_t)holder, 0) == -1 && errno == ESRCH) : holder != pid) continue;
        if (__atomic_compare_exchange_n(&cells[i], &holder, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) freed++;
    }
    if (freed) {
        __atomic_add_fetch(&region[0], 1, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, &region[0], FUTEX_WAKE, freed, NULL, NULL, 0);
    }
    return freed;
}

/* Waits for one of the first `count` permits; returns its index. */
static inline int CProcess_permit_acquire(uint32_t *region, int count, uint32_t pid, int reclaim_ms) {
    for (;;) {
        uint32_t seen = __atomic_load_n(&region[0], __ATOMIC_SEQ_CST);
        int index = CProcess_permit_try(region, count, pid);
        if (index >= 0) return index;
        __atomic_add_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        index = CProcess_permit_try(region, count, pid);
        if (index >= 0) {
            __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
            return index;
        }
        /* Sleeps until a release changes the generation (or returns at once if one already did). */
        struct timespec timeout = { reclaim_ms / 1000, (long)(reclaim_ms % 1000) * 1000000L };
        long rc = syscall(SYS_futex, &region[0], FUTEX_WAIT, seen, &timeout, NULL, 0);
        int timed_out = rc == -1 && errno == ETIMEDOUT;
        __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        if (timed_out) CProcess_permit_reclaim(region, count, 0, 1);
    }
}

/* Like CProcess_permit_acquire, but gives up after `timeout_ms` (CLOCK_MONOTONIC): returns -1 then. */
static inline int CProcess_permit_acquire_within(uint32_t *region, int count, uint32_t pid, int reclaim_ms, long timeout_ms) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t deadline = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec + (int64_t)timeout_ms * 1000000LL;
    for (;;) {
        uint32_t seen = __atomic_load_n(&region[0], __ATOMIC_SEQ_CST);
        int index = CProcess_permit_try(region, count, pid);
        if (index >= 0) return index;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = deadline - ((int64_t)now.tv_sec * 1000000000LL + now.tv_nsec);
        if (left <= 0) return -1;
        int64_t reclaim = (int64_t)reclaim_ms * 1000000LL;
        int64_t sleep = left < reclaim ? left : reclaim;
        __atomic_add_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        index = CProcess_permit_try(region, count, pid);
        if (index >= 0) {
            __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
            return index;
        }
        struct timespec timeout = { (time_t)(sleep / 1000000000LL), (long)(sleep % 1000000000LL) };
        long rc = syscall(SYS_futex, &region[0], FUTEX_WAIT, seen, &timeout, NULL, 0);
        int timed_out = rc == -1 && errno == ETIMEDOUT;
        __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        if (timed_out && sleep == reclaim) CProcess_permit_reclaim(region, count, 0, 1);
    }
}

/* Lowers the calling thread's scheduling priority for good: SCHED_BATCH (the scheduler treats it as CPU-bound and
   does not let it preempt others on wake-up) and the given nice value (Linux applies nice per thread). Unprivileged
   threads may do both; only raising the priority again needs CAP_SYS_NICE. Returns 0, or the errno of the first
   call that failed. */
#include <sched.h>
#include <sys/resource.h>
extern int sched_setscheduler(pid_t pid, int policy, const struct sched_param *param);
static inline int CProcess_lower_thread_priority(int nice) {
    struct sched_param param = { 0 };
    if (sched_setscheduler(0, 3 /* SCHED_BATCH */, &param) != 0) return errno;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0) return errno;
    return 0;
}

static inline void CProcess_permit_release(uint32_t *region, int index) {
    __atomic_store_n(&region[CProcess_permit_header_words + index], 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&region[0], 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&region[1], __ATOMIC_SEQ_CST) > 0) syscall(SYS_futex, &region[0], FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Permits held now among the first `count`. */
static inline int CProcess_permit_held(const uint32_t *region, int count) {
    int held = 0;
    for (int i = 0; i < count; i++) held += __atomic_load_n(&region[CProcess_permit_header_words + i], __ATOMIC_RELAXED) != 0;
    return held;
}
#endif
