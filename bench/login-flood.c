/*
 * login-flood — the attacker of bench/run's login-flood row (#15 item 4): logins for unknown emails, each on a new
 * FastCGI connection straight to jwt-authd's socket (no nginx in between, as an attacker on the host or a
 * misconfigured proxy would), each from an address in another IPv6 /48 (REMOTE_ADDR), so that neither the
 * per-address nor the per-account throttle ever stops them.
 *
 * --clients threads each loop: connect, send one POST /api/auth/login (FCGI_BEGIN_REQUEST without keep-conn, the
 * params, the JSON body), read the records until FCGI_END_REQUEST, close. No pause between requests, and no respect
 * for Retry-After: a flood does not wait.
 *
 * Prints one JSON object: requests, per_second, statuses (count per HTTP status; a missing Status header counts as
 * 200), socket_errors.
 *
 * Usage: login-flood --socket PATH [--clients 96] [--duration 10] [--window-file PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "timing.h"

static const char *socket_path;
static int clients = 96;
static double duration = 10;
static const char *window_file;
static double deadline;
static atomic_uint_fast64_t sequence;
static atomic_uint_fast64_t socket_errors;
#define STATUS_SLOTS 600
static atomic_uint_fast64_t statuses[STATUS_SLOTS];

static size_t put_header(unsigned char *out, int type, size_t length)
{
    out[0] = 1; out[1] = (unsigned char)type; out[2] = 0; out[3] = 1;
    out[4] = (unsigned char)(length >> 8); out[5] = (unsigned char)length; out[6] = 0; out[7] = 0;
    return 8;
}

static size_t put_param(unsigned char *out, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value), at = 0;
    out[at++] = (unsigned char)n; /* every name and value here is shorter than 128 bytes */
    out[at++] = (unsigned char)v;
    memcpy(out + at, name, n); at += n;
    memcpy(out + at, value, v); at += v;
    return at;
}

static int write_all(int fd, const unsigned char *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written; length -= (size_t)written;
    }
    return 0;
}

static int read_all(int fd, unsigned char *data, size_t length)
{
    while (length > 0) {
        ssize_t got = read(fd, data, length);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        data += got; length -= (size_t)got;
    }
    return 0;
}

/* One login on a new connection; returns the HTTP status, or -1 on a socket error. */
static int one_login(void)
{
    uint64_t n = atomic_fetch_add(&sequence, 1);
    char address[64], body[128], length[16];
    /* 2a00:XXXX:YYYY::/48 — a new /48 for every request. */
    snprintf(address, sizeof address, "2a00:%x:%x::%x", (unsigned)(n >> 16) & 0xffff, (unsigned)n & 0xffff, 1u);
    snprintf(body, sizeof body, "{\"email\":\"flood-%llu@unknown.example\",\"password\":\"not the password\"}",
             (unsigned long long)n);
    snprintf(length, sizeof length, "%zu", strlen(body));

    unsigned char params[1024], record[2048];
    size_t p = 0;
    p += put_param(params + p, "REQUEST_METHOD", "POST");
    p += put_param(params + p, "DOCUMENT_URI", "/api/auth/login");
    p += put_param(params + p, "REQUEST_URI", "/api/auth/login");
    p += put_param(params + p, "QUERY_STRING", "");
    p += put_param(params + p, "CONTENT_TYPE", "application/json");
    p += put_param(params + p, "CONTENT_LENGTH", length);
    p += put_param(params + p, "REMOTE_ADDR", address);
    p += put_param(params + p, "SERVER_PROTOCOL", "HTTP/1.1");
    p += put_param(params + p, "HTTP_HOST", "127.0.0.1");
    p += put_param(params + p, "SERVER_NAME", "localhost");

    size_t at = 0;
    at += put_header(record + at, 1, 8); /* FCGI_BEGIN_REQUEST: responder, no keep-conn */
    memset(record + at, 0, 8); record[at + 1] = 1; at += 8;
    at += put_header(record + at, 4, p); memcpy(record + at, params, p); at += p;
    at += put_header(record + at, 4, 0);
    size_t b = strlen(body);
    at += put_header(record + at, 5, b); memcpy(record + at, body, b); at += b;
    at += put_header(record + at, 5, 0);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strncpy(sun.sun_path, socket_path, sizeof sun.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || write_all(fd, record, at) != 0) {
        close(fd);
        return -1;
    }
    int status = 0;
    unsigned char header[8], content[65536 + 256];
    for (;;) {
        if (read_all(fd, header, 8) != 0) { close(fd); return -1; }
        size_t clen = ((size_t)header[4] << 8) | header[5], plen = header[6];
        if (read_all(fd, content, clen + plen) != 0) { close(fd); return -1; }
        if (header[1] == 6 && status == 0 && clen > 0) {
            content[clen] = 0;
            const char *line = strcasestr((const char *)content, "Status:");
            status = line ? atoi(line + 7) : 200;
        }
        if (header[1] == 3) break; /* FCGI_END_REQUEST */
    }
    close(fd);
    return status ? status : 200;
}

static void *client(void *unused)
{
    (void)unused;
    while (now() < deadline) {
        int status = one_login();
        if (status < 0) {
            atomic_fetch_add(&socket_errors, 1);
            usleep(1000); /* a refused connect must not spin */
        } else {
            atomic_fetch_add(&statuses[status > 0 && status < STATUS_SLOTS ? status : 0], 1);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--socket") && next) socket_path = argv[++i];
        else if (!strcmp(argv[i], "--clients") && next) clients = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--duration") && next) duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--window-file") && next) window_file = argv[++i];
        else { fprintf(stderr, "login-flood: unknown argument %s\n", argv[i]); return 2; }
    }
    if (!socket_path || clients < 1 || duration <= 0) {
        fprintf(stderr, "usage: login-flood --socket PATH [--clients 96] [--duration 10] [--window-file PATH]\n");
        return 2;
    }
    pthread_t threads[clients];
    double start = now();
    deadline = start + duration;
    mark_window_start(window_file);
    for (int i = 0; i < clients; i++) pthread_create(&threads[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++) pthread_join(threads[i], NULL);
    double elapsed = now() - start;
    uint64_t requests = 0;
    for (int s = 0; s < STATUS_SLOTS; s++) requests += atomic_load(&statuses[s]);
    printf("{\"requests\": %llu, \"per_second\": %.1f, \"socket_errors\": %llu, \"statuses\": {",
           (unsigned long long)requests, requests / elapsed, (unsigned long long)atomic_load(&socket_errors));
    const char *comma = "";
    for (int s = 0; s < STATUS_SLOTS; s++) {
        uint64_t count = atomic_load(&statuses[s]);
        if (count) { printf("%s\"%d\": %llu", comma, s, (unsigned long long)count); comma = ", "; }
    }
    printf("}}\n");
    return 0;
}
