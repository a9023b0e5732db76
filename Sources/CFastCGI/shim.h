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


/* The guard in front of libfcgi's parameter parsing. libfcgi (2.4.2, CVE-2025-23016 patched) still aborts the whole
   process when a name-value pair announces a length whose allocation fails: its Malloc asserts (found by
   scripts/fuzz fastcgi). Before libfcgi reads a request, this looks at the bytes waiting on the connection (MSG_PEEK:
   nothing is consumed) until the request's parameter stream is complete, and checks every name and value length in
   it (and in FCGI_GET_VALUES records). Returns 0 when the request may go to libfcgi (its parameters are complete and
   every length is at most `limit`; or the connection has ended or failed, which libfcgi reports itself), -1 when it
   must be closed unread: a length above `limit`, parameters that do not end within `window` bytes (at most 256 KiB),
   or not complete within `timeout_ms`. */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    int state;            /* 0: name length, 1: value length, 2: skipping name and value bytes */
    int length_bytes;     /* bytes of the current length field seen */
    uint32_t length;      /* the length field so far */
    uint32_t name_length;
    uint64_t skip;        /* name and value bytes still to skip */
} CFastCGI_pairs;

/* Feeds content bytes of a name-value stream; returns -1 when a length exceeds `limit`. */
static inline int CFastCGI_pairs_feed(CFastCGI_pairs *pairs, const unsigned char *bytes, size_t count, uint32_t limit) {
    for (size_t i = 0; i < count;) {
        if (pairs->state == 2) {
            uint64_t take = pairs->skip < count - i ? pairs->skip : count - i;
            pairs->skip -= take;
            i += take;
            if (pairs->skip == 0) pairs->state = 0;
            continue;
        }
        unsigned char byte = bytes[i++];
        if (pairs->length_bytes == 0 && (byte & 0x80) == 0) {
            pairs->length = byte;
        } else {
            pairs->length = (pairs->length << 8) | (pairs->length_bytes == 0 ? (byte & 0x7f) : byte);
            if (++pairs->length_bytes < 4) continue;
        }
        pairs->length_bytes = 0;
        if (pairs->length > limit) return -1;
        if (pairs->state == 0) {
            pairs->name_length = pairs->length;
            pairs->state = 1;
        } else {
            pairs->skip = (uint64_t)pairs->name_length + pairs->length;
            pairs->state = pairs->skip ? 2 : 0;
        }
        pairs->length = 0;
    }
    return 0;
}

static inline int64_t CFastCGI_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static inline int CFastCGI_params_guard(int fd, uint32_t limit, int window, int timeout_ms) {
    /* One buffer per thread, from malloc: 256 KiB is mapped, but only the pages a peek writes become resident (a
       static thread-local array would be cleared, and so resident, in every thread). */
    static __thread unsigned char *buffer;
    if (!buffer && !(buffer = malloc(262144))) return 0;
    if (window > 262144) window = 262144;
    int64_t deadline = CFastCGI_now_ms() + timeout_ms;
    ssize_t seen = -1;
    for (;;) {
        ssize_t n = recv(fd, buffer, (size_t)window, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return seen < 0 ? 1 : 0; /* 1: closed before sending anything (a kept connection nginx ended) */
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 0;
        if (n > 0 && n != seen) {
            seen = n;
            /* The records as libfcgi's FCGX_Accept_r takes them (fcgiapp.c: ProcessHeader, ProcessBeginRecord,
               ReadParams): what it refuses ends the connection before any parameter is parsed (0); what it skips,
               this skips too, and reads on. */
            CFastCGI_pairs params = {0};
            int request = -1;
            size_t at = 0;
            while (at + 8 <= (size_t)n) {
                const unsigned char *h = buffer + at;
                int id = (h[2] << 8) | h[3], type = h[1];
                size_t content = ((size_t)h[4] << 8) | h[5], padding = h[6];
                size_t available = (size_t)n - (at + 8) < content ? (size_t)n - (at + 8) : content;
                if (h[0] != 1) return 0;
                if (type == 1 /* FCGI_BEGIN_REQUEST */) {
                    if (id == 0 || content != 8) return 0;
                    if (request < 0) {
                        if (available < 2) break; /* the role is not here yet */
                        int role = (buffer[at + 8] << 8) | buffer[at + 9];
                        if (role < 1 || role > 3) return 0; /* libfcgi closes the connection */
                        request = id;
                        /* libfcgi then re-types its reader for the parameters (SetReaderType), which drops the
                           rest of this record: its padding is read as the next record. */
                        at += 8 + content;
                        continue;
                    } /* else: multiplexing, answered FCGI_CANT_MPX_CONN and skipped */
                } else if (id == 0) {
                    if (type == 9 /* FCGI_GET_VALUES */) {
                        CFastCGI_pairs values = {0};
                        if (CFastCGI_pairs_feed(&values, buffer + at + 8, available, limit) != 0) return -1;
                    } else if (request >= 0) {
                        /* libfcgi answers FCGI_UNKNOWN_TYPE but leaves the content unread: it flows on into the
                           parameter stream. */
                        if (CFastCGI_pairs_feed(&params, buffer + at + 8, available, limit) != 0) return -1;
                    } else if (content > 0) {
                        return 0; /* before any request the content ends libfcgi's wait for one: it closes */
                    } /* else: answered FCGI_UNKNOWN_TYPE, and libfcgi reads on */
                } else if (request >= 0 && id == request) {
                    if (type != 4 /* FCGI_PARAMS */) return 0; /* a protocol error to libfcgi */
                    if (content == 0) return 0; /* the parameters are complete and every length was checked */
                    if (CFastCGI_pairs_feed(&params, buffer + at + 8, available, limit) != 0) return -1;
                } else if (content == 0) {
                    /* A record of no request, or of another one, without content: libfcgi's skip flag stays set
                       after it and silently skips the next record's content, whatever that record is (a management
                       record's included), which this model does not follow. No web server sends one: refused. */
                    return -1;
                } /* else: a record of no request, or of another one: libfcgi skips it and reads on */
                at += 8 + content + padding;
            }
            if (n >= window) return -1; /* the parameters do not end within the window */
        }
        int64_t left = deadline - CFastCGI_now_ms();
        if (left <= 0) return -1;
        /* Wait for more bytes. Readable now means the peeked ones, so with bytes seen, wait 1 ms for the peer to
           hang up (0x2000: POLLRDHUP; then no more will come, and libfcgi meets the end itself) and look again. */
        if (seen > 0) {
            struct pollfd peer = { fd, 0x2000, 0 };
            if (poll(&peer, 1, 1) > 0) return 0;
        } else {
            struct pollfd peer = { fd, POLLIN, 0 };
            if (poll(&peer, 1, (int)left) == 0) return -1;
        }
    }
}

/* A connected pair of unix stream sockets (the fuzz target's stand-in for a connection). */
#include <sys/socket.h>
static inline int CFastCGI_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

/* Accept waiting without a thundering herd: each server thread owns an epoll instance that watches the shared
   listen socket with EPOLLEXCLUSIVE (so one new connection wakes one waiter, not every thread of every process) and
   the wake-up pipe without it (so a stop wakes everybody), and the pipe that announces a kept connection handed back
   after a held answer, with EPOLLEXCLUSIVE too (one connection, one thread). Returns the epoll descriptor, or -1
   with errno set. */
static inline int CFastCGI_accept_waiter_create(int listen_fd, int wake_fd, int return_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    struct epoll_event listen_event = {0};
    listen_event.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen_event.data.fd = listen_fd;
    struct epoll_event wake_event = {0};
    wake_event.events = EPOLLIN;
    wake_event.data.fd = wake_fd;
    struct epoll_event return_event = {0};
    return_event.events = EPOLLIN | EPOLLEXCLUSIVE;
    return_event.data.fd = return_fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &listen_event) < 0
        || epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &wake_event) < 0
        || epoll_ctl(ep, EPOLL_CTL_ADD, return_fd, &return_event) < 0) {
        int saved = errno;
        close(ep);
        errno = saved;
        return -1;
    }
    return ep;
}

/* Waits on an accept waiter. Returns a mask: 1 when the listen socket is readable, 2 when the wake-up pipe fired, 4
   when a kept connection was handed back (several may come in one wait); 0 when interrupted, -1 on error (errno
   set). The listen socket is registered with
   EPOLLEXCLUSIVE, so its readiness wakes one waiter of all the processes sharing it: the waiter that gets it must
   try an accept even when the wake-up came with it, or the connection waits in the backlog for the next one. */
static inline int CFastCGI_accept_waiter_wait(int ep, int listen_fd, int wake_fd) {
    struct epoll_event events[3];
    int count = epoll_wait(ep, events, 3, -1);
    if (count < 0) return errno == EINTR ? 0 : -1;
    int result = 0;
    for (int i = 0; i < count; i++) {
        int fd = events[i].data.fd;
        result |= fd == listen_fd ? 1 : fd == wake_fd ? 2 : 4;
    }
    return result;
}
#endif
