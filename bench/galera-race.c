// Lost updates between Galera nodes, and what a claim read back after the commit makes of them (bench/galera-race).
//
// Each round inserts one unconsumed row, then RACERS threads (spread over the nodes given) consume it at once with a
// conditional update that writes their own claim, in the shape a jwt-authd single-use write has:
//   single  one autocommit UPDATE ... WHERE claim IS NULL (a TOTP step, a recovery code, a passkey challenge)
//   short   BEGIN; the conditional UPDATE; UPDATE of the owner's row; COMMIT (a second-factor sign-in)
//   reset   BEGIN; the conditional UPDATE joined to the owner; two reads; three UPDATEs; COMMIT (a password reset)
//   counter one autocommit INSERT ... ON DUPLICATE KEY UPDATE n = LAST_INSERT_ID(n + 1) (a throttle count): every
//           racer counts once, so the row must end at RACERS and the places handed back must be distinct
// optionally with a pause between the conditional update and the rest. A conflict (1213, 1205) re-runs the
// transaction with wsrep_sync_wait = 7, as jwt-authd does. A racer "commits" when its COMMIT answered OK after its
// update changed the row; it "holds" when, after that, a causal read (wsrep_sync_wait = 7) finds its claim in the row.
// A round is a double commit when two racers committed, and a double hold when two held (what the read-back misses).
// owner_not_holder counts the rounds whose owner row (written by the same transactions) does not hold the secret of
// the racer whose claim the consumed row holds: the rows of two committed racers ending up from different ones.
// For counter: a round loses increments when the count ends below RACERS, or two racers were handed one place.
//
// Usage: galera-race single|short|reset|counter PAUSE_US ROUNDS PORT...   (user and database "race", password
// "race", on 127.0.0.1; PAUSE_US is ignored by single and counter)
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RACERS 8

static const char *mode;
static int pause_us;
static int ports[16];
static int port_count;
static int round_id;
static pthread_barrier_t start_line, finish_line;
static int committed[RACERS], held[RACERS];
static long long place[RACERS];

static MYSQL *open_node(int port) {
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, "127.0.0.1", "race", "race", "race", port, NULL, 0)) {
        fprintf(stderr, "connect to %d: %s\n", port, mysql_error(m));
        exit(2);
    }
    return m;
}

// 0, or the error number. Results are read and dropped.
static unsigned run(MYSQL *m, const char *sql) {
    if (mysql_query(m, sql)) return mysql_errno(m);
    MYSQL_RES *result = mysql_store_result(m);
    if (result) mysql_free_result(result);
    return mysql_errno(m);
}

static unsigned runf(MYSQL *m, const char *format, long long a, long long b) {
    char sql[512];
    snprintf(sql, sizeof sql, format, a, b);
    return run(m, sql);
}

// The first column of the first row as a number (-1 for NULL or no row); *error gets the error number.
static long long value(MYSQL *m, const char *format, long long a, unsigned *error) {
    char sql[256];
    snprintf(sql, sizeof sql, format, a);
    *error = 0;
    if (mysql_query(m, sql)) {
        *error = mysql_errno(m);
        return -1;
    }
    MYSQL_RES *result = mysql_store_result(m);
    MYSQL_ROW row = result ? mysql_fetch_row(result) : NULL;
    long long found = row && row[0] ? atoll(row[0]) : -1;
    if (result) mysql_free_result(result);
    return found;
}

// One attempt: 1 committed, 0 found the row consumed, or an error number (> 1).
static unsigned attempt(MYSQL *m, long long claim, int index) {
    if (strcmp(mode, "counter") == 0) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO hits (id, n) VALUES (%d, LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE n = LAST_INSERT_ID(n + 1)",
                 round_id);
        unsigned error = run(m, sql);
        if (error) return error;
        place[index] = (long long)mysql_insert_id(m);
        return 1;
    }
    int single = strcmp(mode, "single") == 0, reset = strcmp(mode, "reset") == 0;
    unsigned error;
    if (!single && (error = run(m, "BEGIN"))) return error;
    const char *consume = reset ? "UPDATE item i JOIN owner o ON o.id = i.owner SET i.claim = %lld "
                                  "WHERE i.id = %lld AND i.claim IS NULL AND i.epoch = o.epoch"
                                : "UPDATE item SET claim = %lld WHERE id = %lld AND claim IS NULL";
    if ((error = runf(m, consume, claim, round_id))) return error;
    if (mysql_affected_rows(m) != 1) {
        if (!single) run(m, "ROLLBACK");
        return 0;
    }
    if (single) return 1;
    if (pause_us > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "DO SLEEP(%f)", pause_us / 1e6);
        if ((error = run(m, sql))) return error;
    }
    if (reset) {
        value(m, "SELECT owner FROM item WHERE id = %lld", round_id, &error);
        if (error) return error;
        value(m, "SELECT COUNT(*) FROM owner_extra WHERE owner = %lld", round_id, &error);
        if (error) return error;
        if ((error = runf(m, "UPDATE owner SET secret = %lld, epoch = epoch + 1 WHERE id = %lld", claim, round_id))) return error;
        if ((error = runf(m, "UPDATE owner SET verified = COALESCE(verified, %lld) WHERE id = %lld", claim, round_id))) return error;
        if ((error = runf(m, "UPDATE owner_extra SET revoked = %lld WHERE owner = %lld AND revoked IS NULL", claim, round_id))) return error;
    } else if ((error = runf(m, "UPDATE owner SET secret = %lld WHERE id = %lld", claim, round_id))) {
        return error;
    }
    if ((error = run(m, "COMMIT"))) return error;
    return 1;
}

static void *racer(void *argument) {
    int index = (int)(long)argument;
    MYSQL *m = open_node(ports[index % port_count]);
    for (;;) {
        pthread_barrier_wait(&start_line);
        if (round_id < 0) break;
        long long claim = (long long)round_id * 100 + index + 1;
        unsigned outcome = 0;
        for (int tries = 0; tries < 15; tries++) {
            if (tries > 0) run(m, "SET SESSION wsrep_sync_wait = 7");
            outcome = attempt(m, claim, index);
            if (tries > 0) run(m, "SET SESSION wsrep_sync_wait = DEFAULT");
            if (outcome != 1213 && outcome != 1205) break;
            run(m, "ROLLBACK");
        }
        if (outcome > 1) fprintf(stderr, "racer %d, round %d: error %u\n", index, round_id, outcome);
        committed[index] = outcome == 1;
        held[index] = 0;
        if (committed[index] && strcmp(mode, "counter") != 0) {
            unsigned error;
            run(m, "SET SESSION wsrep_sync_wait = 7");
            held[index] = value(m, "SELECT claim FROM item WHERE id = %lld", round_id, &error) == claim;
            run(m, "SET SESSION wsrep_sync_wait = DEFAULT");
        }
        pthread_barrier_wait(&finish_line);
    }
    mysql_close(m);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: galera-race single|short|reset|counter PAUSE_US ROUNDS PORT...\n");
        return 2;
    }
    mode = argv[1];
    pause_us = atoi(argv[2]);
    int rounds = atoi(argv[3]);
    for (int i = 4; i < argc && port_count < 16; i++) ports[port_count++] = atoi(argv[i]);
    MYSQL *setup[16];
    for (int i = 0; i < port_count; i++) setup[i] = open_node(ports[i]);
    MYSQL *first = setup[0];
    const char *schema[] = {
        "DROP TABLE IF EXISTS hits", "CREATE TABLE hits (id INT PRIMARY KEY, n BIGINT UNSIGNED NOT NULL)",
        "DROP TABLE IF EXISTS item", "DROP TABLE IF EXISTS owner_extra", "DROP TABLE IF EXISTS owner",
        "CREATE TABLE owner (id INT PRIMARY KEY, epoch INT NOT NULL DEFAULT 0, secret BIGINT, verified BIGINT)",
        "CREATE TABLE owner_extra (id INT PRIMARY KEY, owner INT NOT NULL, revoked BIGINT, KEY (owner))",
        "CREATE TABLE item (id INT PRIMARY KEY, owner INT NOT NULL, epoch INT NOT NULL DEFAULT 0, claim BIGINT NULL, "
        "KEY (owner), FOREIGN KEY (owner) REFERENCES owner (id))",
    };
    for (size_t i = 0; i < sizeof schema / sizeof *schema; i++) {
        if (run(first, schema[i])) {
            fprintf(stderr, "%s: %s\n", schema[i], mysql_error(first));
            return 2;
        }
    }
    pthread_barrier_init(&start_line, NULL, RACERS + 1);
    pthread_barrier_init(&finish_line, NULL, RACERS + 1);
    pthread_t threads[RACERS];
    for (long i = 0; i < RACERS; i++) pthread_create(&threads[i], NULL, racer, (void *)i);
    int double_commits = 0, double_holds = 0, none_held = 0, conflicts_left = 0, lost_counts = 0, shared_places = 0;
    int owner_not_holder = 0;
    int counter = strcmp(mode, "counter") == 0;
    for (int r = 1; r <= rounds; r++) {
        runf(first, "INSERT INTO owner (id, epoch) VALUES (%lld, %lld)", r, 0);
        runf(first, "INSERT INTO owner_extra (id, owner) VALUES (%lld, %lld)", r, r);
        runf(first, "INSERT INTO item (id, owner) VALUES (%lld, %lld)", r, r);
        runf(first, "INSERT INTO hits (id, n) VALUES (%lld, %lld)", r, 0);  // a count in its window, as a hot throttle row
        // Every node has the row before the race starts.
        for (int i = 1; i < port_count; i++) {
            unsigned error;
            run(setup[i], "SET SESSION wsrep_sync_wait = 7");
            value(setup[i], "SELECT id FROM item WHERE id = %lld", r, &error);
        }
        round_id = r;
        pthread_barrier_wait(&start_line);
        pthread_barrier_wait(&finish_line);
        if (counter) {
            unsigned error;
            run(first, "SET SESSION wsrep_sync_wait = 7");
            long long total = value(first, "SELECT n FROM hits WHERE id = %lld", r, &error);
            run(first, "SET SESSION wsrep_sync_wait = DEFAULT");
            int counted = 0, shared = 0;
            for (int i = 0; i < RACERS; i++) {
                counted += committed[i];
                for (int j = 0; j < i; j++) shared |= committed[i] && committed[j] && place[i] == place[j];
            }
            lost_counts += total != counted;
            shared_places += shared;
            continue;
        }
        int commits = 0, holds = 0;
        for (int i = 0; i < RACERS; i++) {
            commits += committed[i];
            holds += held[i];
        }
        if (holds == 1 && strcmp(mode, "single") != 0) {  // the shapes that also write the owner's row
            unsigned error;
            run(first, "SET SESSION wsrep_sync_wait = 7");
            long long secret = value(first, "SELECT secret FROM owner WHERE id = %lld", r, &error);
            run(first, "SET SESSION wsrep_sync_wait = DEFAULT");
            for (int i = 0; i < RACERS; i++)
                if (held[i] && secret != (long long)r * 100 + i + 1) {
                    owner_not_holder++;
                    fprintf(stderr, "round %d: the row's claim is racer %d's, its owner's secret %lld\n", r, i, secret);
                }
        }
        double_commits += commits > 1;
        double_holds += holds > 1;
        none_held += commits > 0 && holds == 0;
        conflicts_left += commits == 0;
    }
    round_id = -1;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < RACERS; i++) pthread_join(threads[i], NULL);
    if (counter) {
        printf("%s rounds=%d nodes=%d lost_counts=%d shared_places=%d\n", mode, rounds, port_count, lost_counts, shared_places);
    } else {
        printf("%s pause_us=%d rounds=%d nodes=%d double_commits=%d double_holds=%d none_held=%d no_commit=%d "
               "owner_not_holder=%d\n",
               mode, pause_us, rounds, port_count, double_commits, double_holds, none_held, conflicts_left, owner_not_holder);
    }
    return 0;
}
