/*
 * libjwt sign and verify rates for HS256 or ES256 (Debian's libjwt 1.10, OpenSSL backend; it has no EdDSA).
 *
 *   libjwt_bench --alg HS256|ES256 --sign-key FILE --verify-key FILE --token FILE [--kid KID] [--seconds 2]
 *
 * Keys: for HS256 both files hold the raw secret; for ES256 --sign-key is the private key and --verify-key the
 * public key, both PEM (libjwt 1.10 reads no JWK). The token is a seed-shaped access token signed with that key,
 * but with header typ "JWT": libjwt 1.10's jwt_decode rejects (EINVAL) any other typ, "at+jwt" included, and its
 * jwt_encode always writes typ "JWT", whatever header was added.
 *
 * sign:   jwt_new, the token's claims (jwt_add_grants_json), header kid, jwt_set_alg with the key, jwt_encode_str:
 *         what building and signing a fresh access token costs.
 * verify: jwt_decode with the key (signature, and typ "JWT" if present: libjwt 1.10 checks no claim), then what it
 *         leaves to the caller: the alg must be the expected one and exp, read with jwt_get_grant_int, in the future.
 * libjwt takes the key as bytes and parses it on every jwt_encode and jwt_decode (PEM_read_bio_* for ES256).
 *
 * Each operation runs for a tenth of --seconds to warm up, then in a loop for --seconds; prints one JSON line each:
 *   {"lib":"libjwt","alg":"HS256","op":"verify","per_second":N,"us_per_op":X}
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench {
    jwt_alg_t alg;
    const char *alg_name;
    unsigned char *sign_key;
    size_t sign_key_length;
    unsigned char *verify_key;
    size_t verify_key_length;
    char *token;  /* the driver's token, verified by the verify operation */
    char *claims; /* its claims as JSON, signed by the sign operation */
    const char *kid;
};

static void fail(const char *what, int error)
{
    fprintf(stderr, "libjwt_bench: %s: %s\n", what, strerror(error));
    exit(1);
}

/* The whole file, NUL-terminated (so a PEM or a token can be used as a C string); its length in *length. */
static unsigned char *read_file(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        fail(path, errno);
    size_t capacity = 4096, used = 0, got;
    unsigned char *data = malloc(capacity);
    while (data != NULL && (got = fread(data + used, 1, capacity - used - 1, file)) > 0) {
        used += got;
        if (capacity - used == 1)
            data = realloc(data, capacity *= 2);
    }
    if (data == NULL)
        fail(path, ENOMEM);
    if (ferror(file))
        fail(path, EIO);
    fclose(file);
    data[used] = '\0';
    *length = used;
    return data;
}

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Builds and signs one access token with the bench's claims. Returns 0, or an errno value. */
static int sign_once(const struct bench *bench)
{
    jwt_t *jwt;
    int error = jwt_new(&jwt);
    if (error)
        return error;
    error = jwt_add_grants_json(jwt, bench->claims);
    if (!error && bench->kid != NULL)
        error = jwt_add_header(jwt, "kid", bench->kid);
    if (!error)
        error = jwt_set_alg(jwt, bench->alg, bench->sign_key, (int)bench->sign_key_length);
    if (!error) {
        char *token = jwt_encode_str(jwt);
        if (token == NULL)
            error = errno ? errno : EINVAL;
        free(token);
    }
    jwt_free(jwt);
    return error;
}

/* Verifies the bench's token: signature, the expected alg, and exp in the future. Returns 0, or an errno value. */
static int verify_once(const struct bench *bench)
{
    jwt_t *jwt;
    int error = jwt_decode(&jwt, bench->token, bench->verify_key, (int)bench->verify_key_length);
    if (error)
        return error;
    if (jwt_get_alg(jwt) != bench->alg) {
        error = EINVAL;
    } else {
        errno = 0;
        long exp = jwt_get_grant_int(jwt, "exp");
        if (errno)
            error = errno; /* ENOENT: no exp claim */
        else if (exp <= (long)time(NULL))
            error = ETIMEDOUT; /* expired */
    }
    jwt_free(jwt);
    return error;
}

/* Runs operation for seconds / 10 to warm up, then for seconds, and prints its rate. */
static void measure(const struct bench *bench, const char *op, int (*operation)(const struct bench *),
                    double seconds)
{
    long calls = 0;
    double start = 0, now = 0;
    for (int round = 0; round < 2; round++) {
        double measured = round == 0 ? seconds / 10 : seconds;
        calls = 0;
        start = monotonic_seconds();
        do {
            int error = operation(bench);
            if (error)
                fail(op, error);
            calls++;
            now = monotonic_seconds();
        } while (now - start < measured);
    }
    double elapsed = now - start;
    printf("{\"lib\":\"libjwt\",\"alg\":\"%s\",\"op\":\"%s\",\"per_second\":%.0f,\"us_per_op\":%.3f}\n",
           bench->alg_name, op, (double)calls / elapsed, elapsed / (double)calls * 1e6);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: libjwt_bench --alg HS256|ES256 --sign-key FILE --verify-key FILE --token FILE"
                    " [--kid KID] [--seconds S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"alg", required_argument, NULL, 'a'},        {"sign-key", required_argument, NULL, 's'},
        {"verify-key", required_argument, NULL, 'v'}, {"token", required_argument, NULL, 't'},
        {"kid", required_argument, NULL, 'k'},        {"seconds", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    struct bench bench = {.alg = JWT_ALG_INVAL};
    const char *sign_key_path = NULL, *verify_key_path = NULL, *token_path = NULL;
    double seconds = 2;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'a':
            bench.alg_name = optarg;
            bench.alg = jwt_str_alg(optarg);
            break;
        case 's': sign_key_path = optarg; break;
        case 'v': verify_key_path = optarg; break;
        case 't': token_path = optarg; break;
        case 'k': bench.kid = optarg; break;
        case 'S': seconds = strtod(optarg, NULL); break;
        default: usage();
        }
    }
    if ((bench.alg != JWT_ALG_HS256 && bench.alg != JWT_ALG_ES256) || sign_key_path == NULL ||
        verify_key_path == NULL || token_path == NULL || !(seconds > 0) || optind != argc)
        usage();

    bench.sign_key = read_file(sign_key_path, &bench.sign_key_length);
    bench.verify_key = read_file(verify_key_path, &bench.verify_key_length);
    size_t token_length;
    bench.token = (char *)read_file(token_path, &token_length);
    bench.token[strcspn(bench.token, " \t\r\n")] = '\0';

    /* Verify once before timing (fails loudly if the token or key is wrong) and take the claims to sign. */
    int error = verify_once(&bench);
    if (error)
        fail("the token does not verify (key, signature, typ \"JWT\", alg and exp)", error);
    jwt_t *jwt;
    if ((error = jwt_decode(&jwt, bench.token, bench.verify_key, (int)bench.verify_key_length)))
        fail("jwt_decode", error);
    bench.claims = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    if (bench.claims == NULL)
        fail("jwt_get_grants_json", errno ? errno : EINVAL);

    measure(&bench, "sign", sign_once, seconds);
    measure(&bench, "verify", verify_once, seconds);

    free(bench.claims);
    free(bench.token);
    free(bench.verify_key);
    free(bench.sign_key);
    return 0;
}
