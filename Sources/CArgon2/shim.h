#ifndef CARGON2_SHIM_H
#define CARGON2_SHIM_H
#include <argon2.h>
#include <stddef.h>
#include <stdint.h>

/* Argon2 raw hashing at version 0x13 (the only version jwt-authd accepts). type: 1 = argon2i, 2 = argon2id.
   Returns ARGON2_OK (0) or a libargon2 error code. */
static inline int CArgon2_hash_raw(int type, uint32_t t_cost, uint32_t m_cost_kib, uint32_t parallelism,
                                   const void *password, size_t password_length, const void *salt, size_t salt_length,
                                   void *out, size_t out_length) {
    if (type == 1)
        return argon2i_hash_raw(t_cost, m_cost_kib, parallelism, password, password_length, salt, salt_length, out,
                                out_length);
    return argon2id_hash_raw(t_cost, m_cost_kib, parallelism, password, password_length, salt, salt_length, out,
                             out_length);
}
#endif
