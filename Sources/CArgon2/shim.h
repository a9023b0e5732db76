#ifndef CARGON2_SHIM_H
#define CARGON2_SHIM_H
/* libargon2 (libargon2-dev) for the Passwords target, its only importer. */
#include <argon2.h>
#include <stddef.h>
#include <stdint.h>

/* Argon2 raw hashing at version 0x13 (the only version jwt-authd accepts), as argon2i_hash_raw and
   argon2id_hash_raw do it, with the working memory from `allocate` and back to `release` (libargon2 wipes it
   first). type: 1 = argon2i, 2 = argon2id. Returns ARGON2_OK (0) or a libargon2 error code. */
static inline int CArgon2_hash_raw(int type, uint32_t t_cost, uint32_t m_cost_kib, uint32_t parallelism,
                                   const void *password, size_t password_length, const void *salt, size_t salt_length,
                                   void *out, size_t out_length, allocate_fptr allocate, deallocate_fptr release) {
    if (password_length > ARGON2_MAX_PWD_LENGTH) return ARGON2_PWD_TOO_LONG;
    if (salt_length > ARGON2_MAX_SALT_LENGTH) return ARGON2_SALT_TOO_LONG;
    if (out_length > ARGON2_MAX_OUTLEN) return ARGON2_OUTPUT_TOO_LONG;
    argon2_context context = {
        .out = (uint8_t *)out,
        .outlen = (uint32_t)out_length,
        .pwd = (uint8_t *)password,
        .pwdlen = (uint32_t)password_length,
        .salt = (uint8_t *)salt,
        .saltlen = (uint32_t)salt_length,
        .secret = NULL, .secretlen = 0, .ad = NULL, .adlen = 0,
        .t_cost = t_cost,
        .m_cost = m_cost_kib,
        .lanes = parallelism,
        .threads = parallelism,
        .version = ARGON2_VERSION_13,
        .allocate_cbk = allocate,
        .free_cbk = release,
        .flags = ARGON2_DEFAULT_FLAGS,
    };
    return argon2_ctx(&context, type == 1 ? Argon2_i : Argon2_id);
}
#endif
