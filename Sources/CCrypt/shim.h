#ifndef CCRYPT_SHIM_H
#define CCRYPT_SHIM_H
/* libxcrypt, for verifying bcrypt hashes ($2y$, $2b$, $2a$) imported from PHP's password_hash. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* Hashes password with the setting (the stored hash) into out (capacity CRYPT_OUTPUT_SIZE). struct crypt_data is
   about 32 KiB, so it lives on the heap and is wiped. Returns 1 on success, 0 on failure. */
static inline int CCrypt_hash(const char *password, const char *setting, char *out, size_t capacity) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (!data) return 0;
    char *result = crypt_rn(password, setting, data, sizeof(struct crypt_data));
    int ok = result != NULL && result[0] != '*' && strlen(result) < capacity;
    if (ok) memcpy(out, result, strlen(result) + 1);
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return ok;
}
#endif
