/*
 * refresh-client — the load client of bench/run for POST /api/auth/refresh.
 *
 * wrk cannot carry state from one response to the next request, and a refresh token can be used once: every
 * connection here is its own client with its own session. It logs in once (POST /api/auth/login, JSON body, the
 * refresh token taken from the Set-Cookie header), then rotates in a loop with body-mode refresh
 * ({"refreshToken": "..."} -> 200 {"accessToken","refreshToken","expiresIn"}), always presenting the token the
 * previous response returned. HTTP/1.1 keep-alive on one TCP connection per thread, blocking I/O, one thread per
 * connection: its CPU cost per request is a fraction of wrk's Lua path.
 *
 * The measured window starts when every connection has logged in (a barrier; at most --login-concurrency logins at
 * once, default 2, so the start-up does not inflate the workers' memory with Argon2 buffers), and lasts --duration
 * seconds.
 * A request counts when its response is complete; the latency is from the first byte written to the last byte
 * read. Any status other than 200, a malformed answer or a socket error is an error: that connection logs in
 * again on a new TCP connection and carries on (so one failure does not end its load).
 *
 * --window-file PATH: the file is created when the measured window starts (after the logins), so that bench/run's
 * CPU sampler can leave the logins' Argon2id hashing out of the CPU per rotation.
 *
 * --static PATH instead sends "GET PATH" in the same loop (no login, any 2xx counts): the client's own ceiling
 * against nginx's `return 204`, to show it is not the bottleneck.
 *
 * Prints one JSON object: requests, errors (non2xx + socket_errors), per_second, p50_ms, p90_ms, p99_ms, max_ms,
 * statuses (count per status code, errors included).
 *
 * Usage: refresh-client --port P [--host 127.0.0.1] [--connections 32] [--duration 10] [--users 16]
 *                       [--email-format bench-%d@example.com] [--password PW] [--login-concurrency 2]
 *                       [--static PATH] [--window-file PATH]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define BUFFER_SIZE 65536
#define TOKEN_MAX 4096

static const char *host = "127.0.0.1";
static int port;
static int connections = 32;
static double duration = 10;
static int users = 16;
static const char *email_format = "bench-%d@example.com";
static const char *password = "bench-password-1";
static const char *static_path;
static int login_concurrency = 2;
static sem_t login_slots; /* logins at once: each one holds an Argon2 buffer (19 MiB) in a worker */

static pthread_barrier_t ready, go; /* logged in; window set */
static double start_time, end_time;
static const char *window_file; /* created when the measured window starts */

struct worker {
    int index;
    int fd;
    char buffer[BUFFER_SIZE];
    size_t buffered;
    char token[TOKEN_MAX];
    uint32_t *latencies; /* microseconds */
    size_t count, capacity;
    long errors, socket_errors, non2xx;
    long statuses[600];
    int login_failed;
};

static int open_connection(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -1;
    inet_pton(AF_INET, host, &address.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return -1;
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* Reads more bytes into the worker's buffer; -1 on error or end of stream. */
static int fill(struct worker *w)
{
    ssize_t got;
    if (w->buffered >= BUFFER_SIZE - 1)
        return -1;
    do
        got = read(w->fd, w->buffer + w->buffered, BUFFER_SIZE - 1 - w->buffered);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return -1;
    w->buffered += (size_t)got;
    w->buffer[w->buffered] = 0;
    return 0;
}

/*
 * Reads one HTTP/1.1 response: returns its status code, or -1 on a socket or framing error. The header block is
 * copied NUL-terminated into `headers` and the (de-chunked) body into `body`, both truncated to their size. Bytes
 * after the response stay buffered for the next one.
 */
static int read_response(struct worker *w, char *headers, size_t headers_max, char *body, size_t body_max)
{
    char *end;
    size_t header_length, content_length = 0, consumed, body_length = 0;
    int chunked = 0, status;

    while ((end = strstr(w->buffer, "\r\n\r\n")) == NULL)
        if (fill(w) < 0)
            return -1;
    header_length = (size_t)(end - w->buffer) + 4;
    if (sscanf(w->buffer, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    {
        size_t copy = header_length - 2 < headers_max - 1 ? header_length - 2 : headers_max - 1;
        memcpy(headers, w->buffer, copy);
        headers[copy] = 0;
    }
    for (char *line = strstr(headers, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *name = line + 2;
        if (strncasecmp(name, "Content-Length:", 15) == 0)
            content_length = strtoul(name + 15, NULL, 10);
        else if (strncasecmp(name, "Transfer-Encoding:", 18) == 0 && strstr(name, "chunked"))
            chunked = 1;
    }
    consumed = header_length;
    if (!chunked) {
        while (w->buffered < header_length + content_length)
            if (fill(w) < 0)
                return -1;
        body_length = content_length < body_max - 1 ? content_length : body_max - 1;
        memcpy(body, w->buffer + header_length, body_length);
        consumed += content_length;
    } else {
        for (;;) {
            char *size_end;
            size_t size, copy;
            while ((size_end = memmem(w->buffer + consumed, w->buffered - consumed, "\r\n", 2)) == NULL)
                if (fill(w) < 0)
                    return -1;
            size = strtoul(w->buffer + consumed, NULL, 16);
            consumed = (size_t)(size_end - w->buffer) + 2;
            while (w->buffered < consumed + size + 2)
                if (fill(w) < 0)
                    return -1;
            copy = body_length + size < body_max - 1 ? size : body_max - 1 - body_length;
            memcpy(body + body_length, w->buffer + consumed, copy);
            body_length += copy;
            consumed += size + 2;
            if (size == 0)
                break;
        }
    }
    body[body_length] = 0;
    memmove(w->buffer, w->buffer + consumed, w->buffered - consumed);
    w->buffered -= consumed;
    w->buffer[w->buffered] = 0;
    return status;
}

static int extract(const char *text, const char *prefix, const char *stop, char *out, size_t max)
{
    const char *start = strstr(text, prefix), *finish;
    if (!start)
        return -1;
    start += strlen(prefix);
    finish = start + strcspn(start, stop);
    if ((size_t)(finish - start) >= max || finish == start)
        return -1;
    memcpy(out, start, (size_t)(finish - start));
    out[finish - start] = 0;
    return 0;
}

/*
 * One request/response exchange; returns the status, or -1 on a socket/framing error. With `cookie_token`, the
 * value of the response's refresh_token cookie is stored there (empty if none).
 */
static int exchange(struct worker *w, const char *request, size_t length, char *body, size_t body_max,
                    char *cookie_token, size_t cookie_max)
{
    char headers[16384];
    int status;

    if (write_all(w->fd, request, length) < 0)
        return -1;
    status = read_response(w, headers, sizeof headers, body, body_max);
    if (status >= 0 && cookie_token &&
        extract(headers, "refresh_token=", ";\r\n", cookie_token, cookie_max) != 0)
        cookie_token[0] = 0;
    return status;
}

static void record(struct worker *w, double started)
{
    double elapsed = now() - started;
    if (w->count == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 65536;
        w->latencies = realloc(w->latencies, w->capacity * sizeof *w->latencies);
        if (!w->latencies) {
            perror("realloc");
            exit(1);
        }
    }
    w->latencies[w->count++] = (uint32_t)(elapsed * 1e6);
}

static void reset_connection(struct worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = open_connection();
    w->buffered = 0;
    w->buffer[0] = 0;
}

static int login(struct worker *w)
{
    char body[512], request[1024], response[8192];
    char email[256];
    int length, status;

    snprintf(email, sizeof email, email_format, w->index % users);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    length = snprintf(request, sizeof request,
                      "POST /api/auth/login HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      host, port, strlen(body), body);
    if (w->fd < 0)
        return -1;
    sem_wait(&login_slots);
    status = exchange(w, request, (size_t)length, response, sizeof response, w->token, sizeof w->token);
    sem_post(&login_slots);
    if (status != 200 || !w->token[0]) {
        fprintf(stderr, "refresh-client: login of %s failed: status %d: %.200s\n", email, status, response);
        return -1;
    }
    return 0;
}

static void *run(void *argument)
{
    struct worker *w = argument;
    char request[TOKEN_MAX + 512], body[TOKEN_MAX + 64], response[16384];
    int length, status;
    double started;

    w->fd = open_connection();
    w->buffered = 0;
    w->buffer[0] = 0;
    if (!static_path && login(w) != 0)
        w->login_failed = 1;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    if (w->login_failed)
        return NULL;
    while ((started = now()) < end_time) {
        if (static_path) {
            length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", static_path, host,
                              port);
        } else {
            int body_length = snprintf(body, sizeof body, "{\"refreshToken\":\"%s\"}", w->token);
            length = snprintf(request, sizeof request,
                              "POST /api/auth/refresh HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                              "Content-Length: %d\r\n\r\n%s",
                              host, port, body_length, body);
        }
        status = w->fd < 0 ? -1 : exchange(w, request, (size_t)length, response, sizeof response, NULL, 0);
        if (status < 0) {
            w->socket_errors++;
        } else {
            w->statuses[status >= 0 && status < 600 ? status : 0]++;
            if (static_path ? (status < 200 || status > 299) : status != 200)
                w->non2xx++;
            else if (!static_path &&
                     extract(response, "\"refreshToken\":\"", "\"", w->token, sizeof w->token) != 0)
                w->non2xx++, status = -2; /* 200 without a token: counted as an error */
        }
        if (status == 200 || (static_path && status >= 200 && status <= 299)) {
            record(w, started);
            continue;
        }
        /* Anything else: a new connection, a new session, and on. */
        if (status != -1 && status >= 0)
            fprintf(stderr, "refresh-client: connection %d: status %d: %.300s\n", w->index, status, response);
        w->errors++;
        reset_connection(w);
        if (!static_path && login(w) != 0) {
            usleep(100000);
            reset_connection(w);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct worker *workers;
    pthread_t *threads;
    uint32_t *all;
    size_t total = 0, at = 0;
    long socket_errors = 0, non2xx = 0, login_failures = 0;
    long statuses[600] = {0};
    double seconds;

    for (int i = 1; i < argc; i++) {
        const char *option = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            fprintf(stderr, "refresh-client: %s needs a value\n", option);
            return 2;
        }
        i++;
        if (!strcmp(option, "--host"))
            host = value;
        else if (!strcmp(option, "--port"))
            port = atoi(value);
        else if (!strcmp(option, "--connections"))
            connections = atoi(value);
        else if (!strcmp(option, "--duration"))
            duration = atof(value);
        else if (!strcmp(option, "--users"))
            users = atoi(value);
        else if (!strcmp(option, "--email-format"))
            email_format = value;
        else if (!strcmp(option, "--password"))
            password = value;
        else if (!strcmp(option, "--login-concurrency"))
            login_concurrency = atoi(value);
        else if (!strcmp(option, "--static"))
            static_path = value;
        else if (!strcmp(option, "--window-file"))
            window_file = value;
        else {
            fprintf(stderr, "refresh-client: unknown option %s\n", option);
            return 2;
        }
    }
    if (port <= 0 || connections < 1 || duration <= 0 || users < 1) {
        fprintf(stderr, "usage: refresh-client --port P [--connections N] [--duration S] [--users N] ...\n");
        return 2;
    }

    sem_init(&login_slots, 0, (unsigned)(login_concurrency > 0 ? login_concurrency : 1));
    workers = calloc((size_t)connections, sizeof *workers);
    threads = calloc((size_t)connections, sizeof *threads);
    pthread_barrier_init(&ready, NULL, (unsigned)connections + 1);
    pthread_barrier_init(&go, NULL, (unsigned)connections + 1);
    for (int i = 0; i < connections; i++) {
        pthread_attr_t attributes;
        workers[i].index = i;
        workers[i].fd = -1;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, 256 * 1024);
        if (pthread_create(&threads[i], &attributes, run, &workers[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    /* Every connection has logged in: the window starts now (the second barrier publishes end_time). */
    pthread_barrier_wait(&ready);
    start_time = now();
    end_time = start_time + duration;
    mark_window_start(window_file);
    pthread_barrier_wait(&go);
    for (int i = 0; i < connections; i++)
        pthread_join(threads[i], NULL);
    seconds = now() - start_time;

    for (int i = 0; i < connections; i++) {
        total += workers[i].count;
        socket_errors += workers[i].socket_errors;
        non2xx += workers[i].non2xx;
        login_failures += workers[i].login_failed;
        for (int s = 0; s < 600; s++)
            statuses[s] += workers[i].statuses[s];
    }
    all = malloc((total ? total : 1) * sizeof *all);
    for (int i = 0; i < connections; i++) {
        memcpy(all + at, workers[i].latencies, workers[i].count * sizeof *all);
        at += workers[i].count;
    }
    struct latency_summary latency = summarize_latencies(all, total);
    printf("{\"requests\": %zu, \"errors\": %ld, \"non2xx\": %ld, \"socket_errors\": %ld, \"login_failures\": %ld, "
           "\"seconds\": %.3f, \"per_second\": %.1f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f, \"statuses\": {",
           total, non2xx + socket_errors + login_failures, non2xx, socket_errors, login_failures, seconds,
           (double)total / seconds, latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms);
    for (int s = 0, first = 1; s < 600; s++)
        if (statuses[s]) {
            printf("%s\"%d\": %ld", first ? "" : ", ", s, statuses[s]);
            first = 0;
        }
    printf("}}\n");
    return 0;
}
