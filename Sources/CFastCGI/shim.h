#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H
/* libfcgi's thread-safe request API. fcgi_stdio.h is deliberately not included: it redefines stdio. */
#include <fcgiapp.h>
#include <pthread.h>
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <signal.h>
#include <time.h>
#include <sys/syscall.h>
#include <linux/futex.h>

/* GNU extensions that Swift's Glibc module does not expose (it is built without _GNU_SOURCE). Declared here with
   their glibc prototypes and wrapped under this module's prefix. */
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
extern int pipe2(int pipefd[2], int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CFastCGI_accept_cloexec(int listen_fd) {
    return accept4(listen_fd, 0, 0, SOCK_CLOEXEC);
}

static inline int CFastCGI_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

static inline int CFastCGI_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

/* prctl is variadic: a worker asks for SIGTERM when its supervisor dies, so no orphan keeps serving. */
static inline int CFastCGI_terminate_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Counters shared by the worker processes of one supervisor (a memfd mapped by all of them). */
extern int memfd_create(const char *name, unsigned int flags);

static inline int CFastCGI_memfd(const char *name) {
    return memfd_create(name, 1U /* MFD_CLOEXEC */);
}

static inline void CFastCGI_counter_add(uint64_t *counter, uint64_t value) {
    __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}

static inline uint64_t CFastCGI_counter_load(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Accept waiting without a thundering herd: each server thread owns an epoll instance that watches the shared
   listen socket with EPOLLEXCLUSIVE (so one new connection wakes one waiter, not every thread of every process) and
   the wake-up pipe without it (so a stop wakes everybody). Returns the epoll descriptor, or -1 with errno set. */
static inline int CFastCGI_accept_waiter_create(int listen_fd, int wake_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    struct epoll_event listen_event = {0};
    listen_event.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen_event.data.fd = listen_fd;
    struct epoll_event wake_event = {0};
    wake_event.events = EPOLLIN;
    wake_event.data.fd = wake_fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &listen_event) < 0
        || epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &wake_event) < 0) {
        int saved = errno;
        close(ep);
        errno = saved;
        return -1;
    }
    return ep;
}

/* Waits on an accept waiter. Returns 2 when the wake-up pipe fired, 1 when the listen socket is readable, 0 when
   interrupted, -1 on error (errno set). */
static inline int CFastCGI_accept_waiter_wait(int ep, int wake_fd) {
    struct epoll_event events[2];
    int count = epoll_wait(ep, events, 2, -1);
    if (count < 0) return errno == EINTR ? 0 : -1;
    int result = 0;
    for (int i = 0; i < count; i++) {
        if (events[i].data.fd == wake_fd) return 2;
        result = 1;
    }
    return result;
}
/* Permits shared by the worker processes of one supervisor (a counting semaphore that survives a holder's death).
   The region is: a generation word (changed by every release; waiters sleep on it with a futex), a count of
   sleeping waiters, then one cell per permit holding the pid of its holder (0: free). A holder that dies without
   releasing is found by pid: the supervisor frees its cells when it reaps it, and a waiter that slept for
   `reclaim_ms` frees the cells of holders that no longer exist. */
enum { CFastCGI_permit_header_words = 2 };

static inline int CFastCGI_permit_try(uint32_t *region, int count, uint32_t pid) {
    uint32_t *cells = region + CFastCGI_permit_header_words;
    for (int i = 0; i < count; i++) {
        uint32_t expected = 0;
        if (__atomic_load_n(&cells[i], __ATOMIC_RELAXED) == 0
            && __atomic_compare_exchange_n(&cells[i], &expected, pid, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return i;
    }
    return -1;
}

/* Frees the cells held by `pid` or, with `dead_only`, the cells of every holder that no longer exists (kill(holder, 0)
   fails with ESRCH; a zombie still exists until its parent reaps it). Returns how many cells it freed. */
static inline int CFastCGI_permit_reclaim(uint32_t *region, int count, uint32_t pid, int dead_only) {
    uint32_t *cells = region + CFastCGI_permit_header_words;
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
static inline int CFastCGI_permit_acquire(uint32_t *region, int count, uint32_t pid, int reclaim_ms) {
    for (;;) {
        uint32_t seen = __atomic_load_n(&region[0], __ATOMIC_SEQ_CST);
        int index = CFastCGI_permit_try(region, count, pid);
        if (index >= 0) return index;
        __atomic_add_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        index = CFastCGI_permit_try(region, count, pid);
        if (index >= 0) {
            __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
            return index;
        }
        /* Sleeps until a release changes the generation (or returns at once if one already did). */
        struct timespec timeout = { reclaim_ms / 1000, (long)(reclaim_ms % 1000) * 1000000L };
        long rc = syscall(SYS_futex, &region[0], FUTEX_WAIT, seen, &timeout, NULL, 0);
        int timed_out = rc == -1 && errno == ETIMEDOUT;
        __atomic_sub_fetch(&region[1], 1, __ATOMIC_SEQ_CST);
        if (timed_out) CFastCGI_permit_reclaim(region, count, 0, 1);
    }
}

static inline void CFastCGI_permit_release(uint32_t *region, int index) {
    __atomic_store_n(&region[CFastCGI_permit_header_words + index], 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&region[0], 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&region[1], __ATOMIC_SEQ_CST) > 0) syscall(SYS_futex, &region[0], FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Permits held now among the first `count`. */
static inline int CFastCGI_permit_held(const uint32_t *region, int count) {
    int held = 0;
    for (int i = 0; i < count; i++) held += __atomic_load_n(&region[CFastCGI_permit_header_words + i], __ATOMIC_RELAXED) != 0;
    return held;
}
#endif
