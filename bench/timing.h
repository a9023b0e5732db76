/*
 * timing.h — what the suite's C load programs (refresh-client, refresh-sql, argon2-rate) share: a monotonic clock
 * and the summary of their latency samples (microseconds) as the percentiles bench/run reads, and the marker of the
 * measured window's start.
 */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Creates `path` (when not NULL): the measured window starts now. bench/run's sampler takes its first CPU reading
 * when the file appears, so set-up work before the window (logins, sessions) stays out of the CPU per request. */
static inline void mark_window_start(const char *path)
{
    if (!path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        perror(path);
    else
        close(fd);
}

static int compare_latencies(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles and maximum of `count` samples in µs, in ms (0 without samples). Sorts `samples`. */
struct latency_summary {
    double p50_ms, p90_ms, p99_ms, max_ms;
};

static struct latency_summary summarize_latencies(uint32_t *samples, size_t count)
{
    struct latency_summary summary = {0, 0, 0, 0};
    if (count == 0) return summary;
    qsort(samples, count, sizeof *samples, compare_latencies);
#define BENCH_PCT(p) (samples[(size_t)((double)(count - 1) * (p))] / 1000.0)
    summary.p50_ms = BENCH_PCT(0.50);
    summary.p90_ms = BENCH_PCT(0.90);
    summary.p99_ms = BENCH_PCT(0.99);
#undef BENCH_PCT
    summary.max_ms = samples[count - 1] / 1000.0;
    return summary;
}
#endif
