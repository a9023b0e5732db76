/*
 * c-responder — the smallest useful libfcgi responder, the FastCGI floor that
 * bench/run (and bench/health-baseline.sh) compares jwt-authd with.
 *
 * Every request gets "Status: 200", "Content-Type: application/json" and the
 * body {"status":"ok"}, except a gate request: REQUEST_URI /api/auth/verify,
 * which is what nginx/jwt-authd.conf's gate location sends for every
 * auth_request subrequest. That one gets what jwt-authd's verify sends for a
 * valid token: "Status: 204", X-Accel-Expires, the eight X-Auth-* headers
 * (a user id, an email, a role...: constant values of the same length as
 * the bench's) and "Cache-Control: no-store", and no body. So bench/run can
 * put this program behind the same gate location and compare a page gated
 * by jwt-authd with the same page gated by a responder that checks nothing.
 * N threads each call FCGX_Accept_r on the shared
 * listen socket WITHOUT libfcgi's example accept mutex: with persistent
 * connections (FCGI_KEEP_CONN) a thread waits inside FCGX_Accept_r for the
 * next request on its kept connection, and a mutex held across that wait
 * would stall every other thread.
 *
 * Usage: c-responder [-t THREADS] [ADDRESS]
 *   ADDRESS is a unix socket path or ":PORT" (FCGX_OpenSocket syntax);
 *   without it the listen socket is fd 0 (spawn-fcgi convention).
 * SIGTERM or SIGINT exits at once (a benchmark helper needs no drain).
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char response[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 15\r\n"
    "\r\n"
    "{\"status\":\"ok\"}";

/* The answer of jwt-authd's GET /api/auth/verify to a bench user's access token, header for header. */
static const char gate_response[] =
    "Status: 204 No Content\r\n"
    "X-Accel-Expires: 60\r\n"
    "X-Auth-User-Id: 019aefd2-5b0c-7c3e-9a41-2f6d8e1b7a90\r\n"
    "X-Auth-Email: bench-0@example.com\r\n"
    "X-Auth-Email-Verified: true\r\n"
    "X-Auth-Role: user\r\n"
    "X-Auth-Method: jwt\r\n"
    "X-Auth-Scopes: full\r\n"
    "X-Auth-AAL: 1\r\n"
    "X-Auth-AMR: pwd\r\n"
    "Cache-Control: no-store\r\n"
    "\r\n";

static int listen_fd = 0;

static void *serve(void *unused)
{
    FCGX_Request request;
    char discard[4096];

    (void)unused;
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) {
        fprintf(stderr, "c-responder: FCGX_InitRequest failed\n");
        return NULL;
    }
    while (FCGX_Accept_r(&request) >= 0) {
        /*
         * Read the body to its end: libfcgi treats leftover STDIN records
         * as a protocol error at the next accept and drops a kept connection.
         */
        while (FCGX_GetStr(discard, sizeof discard, request.in) > 0)
            ;
        const char *uri = FCGX_GetParam("REQUEST_URI", request.envp);
        if (uri != NULL && strcmp(uri, "/api/auth/verify") == 0)
            FCGX_PutStr(gate_response, (int)sizeof gate_response - 1, request.out);
        else
            FCGX_PutStr(response, (int)sizeof response - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 4;
    int opt;
    sigset_t stop_signals;
    int sig;

    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt != 't' || (threads = atoi(optarg)) < 1) {
            fprintf(stderr, "usage: %s [-t THREADS] [SOCKET_PATH | :PORT]\n", argv[0]);
            return 2;
        }
    }

    /* Block the stop signals in every thread; main collects them with sigwait. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    if (FCGX_Init() != 0) {
        fprintf(stderr, "c-responder: FCGX_Init failed\n");
        return 1;
    }
    if (optind < argc) {
        listen_fd = FCGX_OpenSocket(argv[optind], 1024);
        if (listen_fd < 0) {
            fprintf(stderr, "c-responder: cannot listen on %s\n", argv[optind]);
            return 1;
        }
        if (argv[optind][0] != ':')
            chmod(argv[optind], 0666);
    }

    for (int i = 0; i < threads; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, NULL) != 0) {
            fprintf(stderr, "c-responder: pthread_create failed\n");
            return 1;
        }
        pthread_detach(thread);
    }

    sigwait(&stop_signals, &sig);
    _exit(0);
}
