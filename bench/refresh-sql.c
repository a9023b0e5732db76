/*
 * refresh-sql — the raw MariaDB baseline of bench/run for a refresh-token rotation: the statements jwt-authd runs
 * for one successful POST /api/auth/refresh (Sources/AuthCore/Domain/Auth+Sessions.swift, `rotate`), in the same
 * transaction shape, straight to MariaDB with libmariadb, with no HTTP, no JWT and no JSON:
 *
 *   START TRANSACTION                                             (text protocol, as jwt-authd's Connection does)
 *   SELECT user_id, expires_at, revoked_at FROM sessions WHERE id = ? FOR UPDATE
 *   UPDATE refresh_tokens t JOIN sessions s ON s.id = t.family
 *       SET t.revoked_at = ?, t.rotated_at = ?, t.replaced_by = ?,
 *           s.last_used_at = ?, s.ip = ?, s.user_agent = COALESCE(?, s.user_agent)
 *       WHERE t.id = ? AND t.family = ? AND t.revoked_at IS NULL AND t.expires_at > ?   (must change a row)
 *   INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at, replaces) VALUES (?, ?, ?, ?, ?, ?)
 *   SELECT u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at FROM users u WHERE u.id = ?
 *   COMMIT
 *
 * Every statement with values is a server-side prepared statement, prepared once per connection; results are
 * fetched with mysql_stmt_store_result (as jwt-authd does); dates are bound as MYSQL_TIME (UTC, microseconds), ids
 * are UUIDv7 strings like jwt-authd's (time-ordered primary keys). Each connection (one thread) first starts its
 * own session for one of the existing users (a session row and its first refresh token, as a login does), then
 * carries its own rotation chain forward, the successor of one rotation being the token retired by the next:
 * the same rows and locks as one HTTP client per connection in bench/refresh-client.
 *
 * Prints one JSON object like refresh-client's: requests (committed rotations), errors, per_second, p50_ms,
 * p90_ms, p99_ms, max_ms.
 *
 * Usage: refresh-sql --socket PATH --database DB [--user USER] [--connections 32] [--duration 10]
 *                    [--window-file PATH]   (created when the measured window starts; see timing.h)
 */
#define _GNU_SOURCE
#include <mysql.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

static const char *socket_path, *database, *user = "root";
static int connections = 32;
static double duration = 10;

static char (*user_ids)[37];
static int user_count;

static pthread_barrier_t ready, go;
static double end_time;
static const char *window_file; /* created when the measured window starts */

struct worker {
    int index;
    MYSQL *db;
    MYSQL_STMT *lock_session, *retire, *insert, *load_user;
    char session_id[37], token_id[37], user_id[37];
    uint32_t *latencies;
    size_t count, capacity;
    long errors;
    int failed;
};

/* A UUIDv7 string, as jwt-authd's Identifier.make. */
static void uuid7(char out[37])
{
    unsigned char bytes[16];
    struct timespec ts;
    uint64_t millis;
    if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
        abort();
    clock_gettime(CLOCK_REALTIME, &ts);
    millis = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        bytes[i] = (unsigned char)(millis >> (40 - 8 * i));
    bytes[6] = 0x70 | (bytes[6] & 0x0F);
    bytes[8] = 0x80 | (bytes[8] & 0x3F);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1],
             bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11],
             bytes[12], bytes[13], bytes[14], bytes[15]);
}

/* UTC now plus `offset` seconds, with microseconds. */
static MYSQL_TIME utc(double offset)
{
    struct timespec ts;
    struct tm tm;
    time_t seconds;
    MYSQL_TIME t;
    clock_gettime(CLOCK_REALTIME, &ts);
    seconds = ts.tv_sec + (time_t)offset;
    gmtime_r(&seconds, &tm);
    memset(&t, 0, sizeof t);
    t.year = (unsigned)tm.tm_year + 1900;
    t.month = (unsigned)tm.tm_mon + 1;
    t.day = (unsigned)tm.tm_mday;
    t.hour = (unsigned)tm.tm_hour;
    t.minute = (unsigned)tm.tm_min;
    t.second = (unsigned)tm.tm_sec;
    t.second_part = (unsigned long)(ts.tv_nsec / 1000);
    t.time_type = MYSQL_TIMESTAMP_DATETIME;
    return t;
}

static void bind_string(MYSQL_BIND *b, const char *text, unsigned long *length)
{
    memset(b, 0, sizeof *b);
    *length = (unsigned long)strlen(text);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)text;
    b->buffer_length = *length;
    b->length = length;
}

static void bind_null(MYSQL_BIND *b)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_NULL;
}

static void bind_time(MYSQL_BIND *b, MYSQL_TIME *t)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_DATETIME;
    b->buffer = t;
    b->buffer_length = sizeof *t;
}

static MYSQL_STMT *prepare(struct worker *w, const char *sql)
{
    MYSQL_STMT *stmt = mysql_stmt_init(w->db);
    my_bool update_max_length = 1;
    if (!stmt || mysql_stmt_prepare(stmt, sql, (unsigned long)strlen(sql)) != 0) {
        fprintf(stderr, "refresh-sql: prepare failed: %s\n", stmt ? mysql_stmt_error(stmt) : mysql_error(w->db));
        exit(1);
    }
    mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
    return stmt;
}

/* Executes; for a statement with a result, stores and fetches every row into bound buffers. Returns rows or -1. */
static long run(MYSQL_STMT *stmt, MYSQL_BIND *params, long *affected)
{
    MYSQL_RES *metadata;
    long rows = 0;
    if (params && mysql_stmt_bind_param(stmt, params) != 0)
        return -1;
    if (mysql_stmt_execute(stmt) != 0) {
        fprintf(stderr, "refresh-sql: execute failed: %s\n", mysql_stmt_error(stmt));
        return -1;
    }
    if (affected)
        *affected = (long)mysql_stmt_affected_rows(stmt);
    metadata = mysql_stmt_result_metadata(stmt);
    if (metadata) {
        unsigned fields = mysql_num_fields(metadata);
        MYSQL_BIND result[8];
        char buffers[8][256];
        unsigned long lengths[8];
        my_bool nulls[8];
        memset(result, 0, sizeof result);
        for (unsigned i = 0; i < fields && i < 8; i++) {
            result[i].buffer_type = MYSQL_TYPE_STRING;
            result[i].buffer = buffers[i];
            result[i].buffer_length = sizeof buffers[i];
            result[i].length = &lengths[i];
            result[i].is_null = &nulls[i];
        }
        if (mysql_stmt_store_result(stmt) != 0 || mysql_stmt_bind_result(stmt, result) != 0) {
            mysql_free_result(metadata);
            return -1;
        }
        while (mysql_stmt_fetch(stmt) == 0)
            rows++;
        mysql_stmt_free_result(stmt);
        mysql_free_result(metadata);
    }
    return rows;
}

static int command(struct worker *w, const char *sql)
{
    if (mysql_real_query(w->db, sql, (unsigned long)strlen(sql)) != 0) {
        fprintf(stderr, "refresh-sql: %s failed: %s\n", sql, mysql_error(w->db));
        return -1;
    }
    return 0;
}

/* A login's session: the session row and its first refresh token. */
static int start_session(struct worker *w)
{
    char sql[1024];
    uuid7(w->session_id);
    uuid7(w->token_id);
    snprintf(sql, sizeof sql,
             "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip) VALUES "
             "('%s', '%s', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 30 DAY, "
             "'refresh-sql', '127.0.0.1')",
             w->session_id, w->user_id);
    if (command(w, "START TRANSACTION") || command(w, sql))
        return -1;
    snprintf(sql, sizeof sql,
             "INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES "
             "('%s', '%s', '%s', UTC_TIMESTAMP(6) + INTERVAL 7 DAY, UTC_TIMESTAMP(6))",
             w->token_id, w->user_id, w->session_id);
    if (command(w, sql) || command(w, "COMMIT"))
        return -1;
    return 0;
}

/* One rotation: 0 when committed with the conditional update changing one row. */
static int rotate(struct worker *w)
{
    MYSQL_BIND p[9];
    unsigned long l[9];
    MYSQL_TIME t_now = utc(0), t_expiry = utc(7 * 86400);
    char successor[37];
    long affected = 0;

    uuid7(successor);
    if (command(w, "START TRANSACTION"))
        return -1;
    bind_string(&p[0], w->session_id, &l[0]);
    if (run(w->lock_session, p, NULL) != 1)
        goto fail;
    bind_time(&p[0], &t_now);
    bind_time(&p[1], &t_now);
    bind_string(&p[2], successor, &l[2]);
    bind_time(&p[3], &t_now);
    bind_string(&p[4], "127.0.0.1", &l[4]);
    bind_null(&p[5]); /* no User-Agent header: COALESCE keeps the old one, as for refresh-client's requests */
    bind_string(&p[6], w->token_id, &l[6]);
    bind_string(&p[7], w->session_id, &l[7]);
    bind_time(&p[8], &t_now);
    if (run(w->retire, p, &affected) < 0 || affected < 1)
        goto fail;
    bind_string(&p[0], successor, &l[0]);
    bind_string(&p[1], w->user_id, &l[1]);
    bind_string(&p[2], w->session_id, &l[2]);
    bind_time(&p[3], &t_expiry);
    bind_time(&p[4], &t_now);
    bind_string(&p[5], w->token_id, &l[5]);
    if (run(w->insert, p, NULL) < 0)
        goto fail;
    bind_string(&p[0], w->user_id, &l[0]);
    if (run(w->load_user, p, NULL) != 1)
        goto fail;
    if (command(w, "COMMIT"))
        goto fail;
    memcpy(w->token_id, successor, sizeof successor);
    return 0;
fail:
    command(w, "ROLLBACK");
    return -1;
}

static void record(struct worker *w, double started)
{
    if (w->count == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 65536;
        w->latencies = realloc(w->latencies, w->capacity * sizeof *w->latencies);
        if (!w->latencies)
            abort();
    }
    w->latencies[w->count++] = (uint32_t)((now() - started) * 1e6);
}

static void *thread_main(void *argument)
{
    struct worker *w = argument;
    double started;

    mysql_thread_init();
    w->db = mysql_init(NULL);
    if (!mysql_real_connect(w->db, NULL, user, NULL, database, 0, socket_path, 0)) {
        fprintf(stderr, "refresh-sql: connect failed: %s\n", mysql_error(w->db));
        w->failed = 1;
    } else {
        memcpy(w->user_id, user_ids[w->index % user_count], 37);
        w->lock_session = prepare(w, "SELECT user_id, expires_at, revoked_at FROM sessions WHERE id = ? FOR UPDATE");
        w->retire = prepare(w, "UPDATE refresh_tokens t JOIN sessions s ON s.id = t.family\n"
                               "SET t.revoked_at = ?, t.rotated_at = ?, t.replaced_by = ?,\n"
                               "    s.last_used_at = ?, s.ip = ?, s.user_agent = COALESCE(?, s.user_agent)\n"
                               "WHERE t.id = ? AND t.family = ? AND t.revoked_at IS NULL AND t.expires_at > ?");
        w->insert = prepare(w, "INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at, replaces) "
                               "VALUES (?, ?, ?, ?, ?, ?)");
        w->load_user = prepare(w, "SELECT u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at "
                                  "FROM users u WHERE u.id = ?");
        if (start_session(w) != 0)
            w->failed = 1;
    }
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    while (!w->failed && (started = now()) < end_time) {
        if (rotate(w) == 0) {
            record(w, started);
        } else {
            w->errors++;
            if (start_session(w) != 0) /* a broken chain: start another, as a client would log in again */
                break;
        }
    }
    if (w->db)
        mysql_close(w->db);
    mysql_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    struct worker *workers;
    pthread_t *threads;
    MYSQL *db;
    MYSQL_RES *result;
    MYSQL_ROW row;
    uint32_t *all;
    size_t total = 0, at = 0;
    long errors = 0;
    double start, seconds;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--socket"))
            socket_path = argv[i + 1];
        else if (!strcmp(argv[i], "--database"))
            database = argv[i + 1];
        else if (!strcmp(argv[i], "--user"))
            user = argv[i + 1];
        else if (!strcmp(argv[i], "--connections"))
            connections = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--window-file"))
            window_file = argv[i + 1];
        else {
            fprintf(stderr, "refresh-sql: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!socket_path || !database || connections < 1 || duration <= 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: refresh-sql --socket PATH --database DB [--user U] [--connections N] [--duration S]"
                        " [--window-file PATH]\n");
        return 2;
    }
    mysql_library_init(0, NULL, NULL);
    db = mysql_init(NULL);
    if (!mysql_real_connect(db, NULL, user, NULL, database, 0, socket_path, 0) ||
        mysql_query(db, "SELECT id FROM users ORDER BY email LIMIT 1000") != 0 || !(result = mysql_store_result(db))) {
        fprintf(stderr, "refresh-sql: cannot read users: %s\n", mysql_error(db));
        return 1;
    }
    user_ids = calloc(1000, sizeof *user_ids);
    while ((row = mysql_fetch_row(result)))
        snprintf(user_ids[user_count++], 37, "%s", row[0]);
    mysql_free_result(result);
    mysql_close(db);
    if (user_count == 0) {
        fprintf(stderr, "refresh-sql: no users in %s\n", database);
        return 1;
    }

    workers = calloc((size_t)connections, sizeof *workers);
    threads = calloc((size_t)connections, sizeof *threads);
    pthread_barrier_init(&ready, NULL, (unsigned)connections + 1);
    pthread_barrier_init(&go, NULL, (unsigned)connections + 1);
    for (int i = 0; i < connections; i++) {
        workers[i].index = i;
        if (pthread_create(&threads[i], NULL, thread_main, &workers[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    pthread_barrier_wait(&ready);
    start = now();
    end_time = start + duration;
    mark_window_start(window_file);
    pthread_barrier_wait(&go);
    for (int i = 0; i < connections; i++)
        pthread_join(threads[i], NULL);
    seconds = now() - start;

    for (int i = 0; i < connections; i++) {
        total += workers[i].count;
        errors += workers[i].errors + workers[i].failed;
    }
    all = malloc((total ? total : 1) * sizeof *all);
    for (int i = 0; i < connections; i++) {
        memcpy(all + at, workers[i].latencies, workers[i].count * sizeof *all);
        at += workers[i].count;
    }
    struct latency_summary latency = summarize_latencies(all, total);
    printf("{\"requests\": %zu, \"errors\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"p50_ms\": %.3f, "
           "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
           total, errors, seconds, (double)total / seconds, latency.p50_ms, latency.p90_ms, latency.p99_ms,
           latency.max_ms);
    mysql_library_end();
    return 0;
}
