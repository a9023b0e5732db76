/*
 * argon2-rate — libargon2's own rate for the login benchmark of bench/run: N threads, each verifying a password
 * against an Argon2id hash in a loop (argon2id_verify: one full hash with the stored parameters, as a login does),
 * for --duration seconds. Default parameters are jwt-authd's (OWASP): m=19456 KiB, t=2, p=1.
 *
 * Prints one JSON object: requests (verifications), errors, per_second, p50_ms, p99_ms.
 *
 * Usage: argon2-rate [--threads 2] [--duration 10] [--memory 19456] [--iterations 2] [--parallelism 1]
 *                    [--window-file PATH]   (created when the measured window starts; see timing.h)
 */
#include <argon2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

static int threads = 2, memory = 19456, iterations = 2, parallelism = 1;
static double duration = 10;
static char encoded[256];
static const char password[] = "bench-password-1";
static pthread_barrier_t ready;
static double end_time;
static const char *window_file;

struct worker {
    uint32_t *latencies;
    size_t count, capacity;
    long errors;
};

static void *run(void *argument)
{
    struct worker *w = argument;
    double started;
    pthread_barrier_wait(&ready);
    while ((started = now()) < end_time) {
        if (argon2id_verify(encoded, password, sizeof password - 1) != ARGON2_OK) {
            w->errors++;
            continue;
        }
        if (w->count == w->capacity) {
            w->capacity = w->capacity ? w->capacity * 2 : 1024;
            w->latencies = realloc(w->latencies, w->capacity * sizeof *w->latencies);
            if (!w->latencies)
                abort();
        }
        w->latencies[w->count++] = (uint32_t)((now() - started) * 1e6);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static const uint8_t salt[16] = "bench-salt-16byt";
    struct worker *workers;
    pthread_t *ids;
    uint32_t *all;
    size_t total = 0, at = 0;
    long errors = 0;
    double start, seconds;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--memory"))
            memory = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iterations"))
            iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--parallelism"))
            parallelism = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--window-file"))
            window_file = argv[i + 1];
        else {
            fprintf(stderr, "argon2-rate: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || duration <= 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: argon2-rate [--threads N] [--duration S] [--memory KIB] [--iterations T]\n");
        return 2;
    }
    if (argon2id_hash_encoded((uint32_t)iterations, (uint32_t)memory, (uint32_t)parallelism, password,
                              sizeof password - 1, salt, sizeof salt, 32, encoded, sizeof encoded) != ARGON2_OK) {
        fprintf(stderr, "argon2-rate: hashing failed\n");
        return 1;
    }
    workers = calloc((size_t)threads, sizeof *workers);
    ids = calloc((size_t)threads, sizeof *ids);
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    end_time = 1e300;
    for (int i = 0; i < threads; i++)
        pthread_create(&ids[i], NULL, run, &workers[i]);
    start = now();
    end_time = start + duration;
    mark_window_start(window_file);
    pthread_barrier_wait(&ready);
    for (int i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    seconds = now() - start;
    for (int i = 0; i < threads; i++) {
        total += workers[i].count;
        errors += workers[i].errors;
    }
    all = malloc((total ? total : 1) * sizeof *all);
    for (int i = 0; i < threads; i++) {
        memcpy(all + at, workers[i].latencies, workers[i].count * sizeof *all);
        at += workers[i].count;
    }
    struct latency_summary latency = summarize_latencies(all, total);
    printf("{\"requests\": %zu, \"errors\": %ld, \"seconds\": %.3f, \"per_second\": %.2f, \"p50_ms\": %.3f, "
           "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"encoded\": \"%s\"}\n",
           total, errors, seconds, (double)total / seconds, latency.p50_ms, latency.p90_ms, latency.p99_ms,
           latency.max_ms, encoded);
    return 0;
}
