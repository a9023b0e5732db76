#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H
/* libfcgi's thread-safe request API. fcgi_stdio.h is deliberately not included: it redefines stdio. */
#include <fcgiapp.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* GNU extensions that Swift's Glibc module does not expose (it is built without _GNU_SOURCE). Declared here with
   their glibc prototypes and wrapped under this module's prefix. */
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
extern int pipe2(int pipefd[2], int flags);

static inline int CFastCGI_accept_cloexec(int listen_fd) {
    return accept4(listen_fd, 0, 0, SOCK_CLOEXEC);
}

static inline int CFastCGI_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
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
#endif
