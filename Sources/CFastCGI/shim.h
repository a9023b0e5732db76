#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H
/* libfcgi's thread-safe request API. fcgi_stdio.h is deliberately not included: it redefines stdio. */
#include <fcgiapp.h>
#include <pthread.h>
#include <sys/socket.h>

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
#endif
