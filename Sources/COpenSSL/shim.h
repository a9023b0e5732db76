#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/* OpenSSL 3 libcrypto for CryptoPrimitives. Only non-deprecated APIs. The helpers below keep OSSL_PARAM building,
   variadic calls (EVP_PKEY_Q_keygen) and DER <-> raw ECDSA conversion in C; they are reached from Swift only
   through the CryptoPrimitives target. Every function returns 1 / a pointer on success, 0 / NULL on failure. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* MARK: HMAC-SHA256 with the key set up once: the inner and outer digest states after the padded key block. */

typedef struct COpenSSL_hmac_key {
    EVP_MD_CTX *inner;
    EVP_MD_CTX *outer;
} COpenSSL_hmac_key;

static inline void COpenSSL_hmac_sha256_free(COpenSSL_hmac_key *key) {
    if (!key) return;
    EVP_MD_CTX_free(key->inner);
    EVP_MD_CTX_free(key->outer);
    OPENSSL_cleanse(key, sizeof(*key));
    CRYPTO_free(key, __FILE__, __LINE__);
}

static inline COpenSSL_hmac_key *COpenSSL_hmac_sha256_new(const uint8_t *secret, size_t length) {
    uint8_t block[64];
    uint8_t pad[64];
    memset(block, 0, sizeof(block));
    if (length > 64) {
        unsigned int digest_length = 0;
        if (!EVP_Digest(secret, length, block, &digest_length, EVP_sha256(), NULL)) return NULL;
    } else if (length > 0) {
        memcpy(block, secret, length);
    }
    COpenSSL_hmac_key *key = CRYPTO_zalloc(sizeof(COpenSSL_hmac_key), __FILE__, __LINE__);
    int ok = key != NULL;
    if (ok) {
        key->inner = EVP_MD_CTX_new();
        key->outer = EVP_MD_CTX_new();
        ok = key->inner && key->outer;
    }
    for (int i = 0; ok && i < 64; i++) pad[i] = block[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(key->inner, EVP_sha256(), NULL) && EVP_DigestUpdate(key->inner, pad, 64);
    for (int i = 0; ok && i < 64; i++) pad[i] = block[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(key->outer, EVP_sha256(), NULL) && EVP_DigestUpdate(key->outer, pad, 64);
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok) {
        COpenSSL_hmac_sha256_free(key);
        return NULL;
    }
    return key;
}

/* out receives 32 bytes. Safe to call from several threads on one key: the key's states are only copied. */
static inline int COpenSSL_hmac_sha256(const COpenSSL_hmac_key *key, const uint8_t *message, size_t length,
                                       uint8_t *out) {
    uint8_t inner_digest[32];
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context != NULL
        && EVP_MD_CTX_copy_ex(context, key->inner) && EVP_DigestUpdate(context, message, length)
        && EVP_DigestFinal_ex(context, inner_digest, NULL)
        && EVP_MD_CTX_copy_ex(context, key->outer) && EVP_DigestUpdate(context, inner_digest, 32)
        && EVP_DigestFinal_ex(context, out, NULL);
    EVP_MD_CTX_free(context);
    OPENSSL_cleanse(inner_digest, sizeof(inner_digest));
    return ok;
}

static inline int COpenSSL_sha256(const uint8_t *data, size_t length, uint8_t *out) {
    unsigned int out_length = 0;
    return EVP_Digest(data, length, out, &out_length, EVP_sha256(), NULL) && out_length == 32;
}

/* HKDF-SHA256 (RFC 5869, extract then expand) through OpenSSL's KDF provider; out receives out_length bytes. */
static inline int COpenSSL_hkdf_sha256(const uint8_t *secret, size_t secret_length, const uint8_t *salt,
                                       size_t salt_length, const uint8_t *info, size_t info_length, uint8_t *out,
                                       size_t out_length) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *context = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!context) return 0;
    /* An empty salt or info is left out (RFC 5869: no salt is a zero salt; OpenSSL refuses a NULL buffer). */
    OSSL_PARAM params[5];
    int n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_length);
    if (salt_length > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_length);
    if (info_length > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_length);
    params[n] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(context, out, out_length, params) == 1;
    EVP_KDF_CTX_free(context);
    return ok;
}

/* MARK: HMAC with a named digest (one shot), and AES-256-GCM */

/* HMAC of message under key with digest "SHA1", "SHA256" or "SHA512" (TOTP); out has room for 64 bytes; *out_length
   receives the MAC's length. */
static inline int COpenSSL_hmac(const char *digest, const uint8_t *key, size_t key_length, const uint8_t *message,
                                size_t length, uint8_t *out, size_t *out_length) {
    static const uint8_t empty[1] = {0};
    return EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key_length ? key : empty, key_length, length ? message : empty,
                     length, out, 64, out_length) != NULL;
}

/* AES-256-GCM with a 12-byte nonce and a 16-byte tag. seal: ciphertext_out has plaintext's length. open: 1 only
   when the tag authenticates the ciphertext and the additional data. */
static inline int COpenSSL_aes256gcm(int seal, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                                     size_t aad_length, const uint8_t *input, size_t length, uint8_t *output,
                                     uint8_t *tag) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (!context) return 0;
    int out_length = 0;
    int ok = EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL, seal)
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL)
        && EVP_CipherInit_ex(context, NULL, NULL, key, nonce, seal)
        && (aad_length == 0 || EVP_CipherUpdate(context, NULL, &out_length, aad, (int)aad_length))
        && (length == 0 || EVP_CipherUpdate(context, output, &out_length, input, (int)length));
    if (ok && !seal) ok = EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, tag);
    uint8_t final_block[16];
    ok = ok && EVP_CipherFinal_ex(context, final_block, &out_length) == 1;
    if (ok && seal) ok = EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(context);
    if (!ok && !seal && length > 0) OPENSSL_cleanse(output, length);
    return ok;
}

/* MARK: Keys */

enum { COpenSSL_KEY_OTHER = 0, COpenSSL_KEY_ED25519 = 1, COpenSSL_KEY_P256 = 2 };

static inline int COpenSSL_key_kind(const EVP_PKEY *key) {
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return COpenSSL_KEY_ED25519;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[64] = {0};
        size_t group_length = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &group_length)
            && strcmp(group, "prime256v1") == 0)
            return COpenSSL_KEY_P256;
    }
    return COpenSSL_KEY_OTHER;
}

/* Whether the key holds private material. */
static inline int COpenSSL_key_has_private(const EVP_PKEY *key) {
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        size_t length = 0;
        return EVP_PKEY_get_raw_private_key(key, NULL, &length) == 1 && length == 32;
    }
    BIGNUM *d = NULL;
    int has = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;
    BN_clear_free(d);
    return has;
}

static inline EVP_PKEY *COpenSSL_generate(int kind) {
    if (kind == COpenSSL_KEY_ED25519) return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (kind == COpenSSL_KEY_P256) return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return NULL;
}

static inline EVP_PKEY *COpenSSL_ed25519_from_private(const uint8_t *seed) {
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

static inline EVP_PKEY *COpenSSL_ed25519_from_public(const uint8_t *public_key) {
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, 32);
}

/* public_out: 32 bytes; private_out: 32 bytes or NULL. */
static inline int COpenSSL_ed25519_export(const EVP_PKEY *key, uint8_t *public_out, uint8_t *private_out) {
    size_t length = 32;
    if (EVP_PKEY_get_raw_public_key(key, public_out, &length) != 1 || length != 32) return 0;
    if (private_out) {
        length = 32;
        if (EVP_PKEY_get_raw_private_key(key, private_out, &length) != 1 || length != 32) return 0;
    }
    return 1;
}

/* A P-256 key from its affine coordinates (32 bytes each) and, for a private key, d (32 bytes, or NULL).
   OpenSSL checks that the point is on the curve (and matches d). */
static inline EVP_PKEY *COpenSSL_p256_from_raw(const uint8_t *x, const uint8_t *y, const uint8_t *d) {
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    EVP_PKEY *key = NULL;
    BIGNUM *private_value = d ? BN_bin2bn(d, 32, NULL) : NULL;
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int ok = builder && context && (!d || private_value)
        && OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
        && OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point))
        && (!d || OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_PRIV_KEY, private_value));
    if (ok) params = OSSL_PARAM_BLD_to_param(builder);
    ok = ok && params && EVP_PKEY_fromdata_init(context) == 1
        && EVP_PKEY_fromdata(context, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
    if (ok) {
        /* fromdata does not validate: check the point (and the pair) explicitly. */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = check && (d ? EVP_PKEY_pairwise_check(check) == 1 : EVP_PKEY_public_check(check) == 1);
        EVP_PKEY_CTX_free(check);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    EVP_PKEY_CTX_free(context);
    BN_clear_free(private_value);
    if (!ok) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        return NULL;
    }
    return key;
}

/* x_out, y_out: 32 bytes; d_out: 32 bytes or NULL. */
static inline int COpenSSL_p256_export(const EVP_PKEY *key, uint8_t *x_out, uint8_t *y_out, uint8_t *d_out) {
    uint8_t point[65];
    size_t length = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &length) != 1
        || length != 65 || point[0] != 0x04)
        return 0;
    memcpy(x_out, point + 1, 32);
    memcpy(y_out, point + 33, 32);
    if (d_out) {
        BIGNUM *d = NULL;
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) return 0;
        int ok = BN_bn2binpad(d, d_out, 32) == 32;
        BN_clear_free(d);
        return ok;
    }
    return 1;
}

/* MARK: Signatures */

/* Ed25519 over the message; signature_out: 64 bytes. */
static inline int COpenSSL_ed25519_sign(EVP_PKEY *key, const uint8_t *message, size_t length, uint8_t *signature_out) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    size_t signature_length = 64;
    int ok = context && EVP_DigestSignInit(context, NULL, NULL, NULL, key) == 1
        && EVP_DigestSign(context, signature_out, &signature_length, message, length) == 1 && signature_length == 64;
    EVP_MD_CTX_free(context);
    return ok;
}

static inline int COpenSSL_ed25519_verify(EVP_PKEY *key, const uint8_t *message, size_t length,
                                          const uint8_t *signature, size_t signature_length) {
    if (signature_length != 64) return 0;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context && EVP_DigestVerifyInit(context, NULL, NULL, NULL, key) == 1
        && EVP_DigestVerify(context, signature, signature_length, message, length) == 1;
    EVP_MD_CTX_free(context);
    ERR_clear_error();
    return ok;
}

/* ES256: ECDSA P-256 with SHA-256; the JWS form is r || s, 32 bytes each (RFC 7518 3.4), not DER. */
static inline int COpenSSL_es256_sign(EVP_PKEY *key, const uint8_t *message, size_t length, uint8_t *signature_out) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_length = sizeof(der);
    int ok = context && EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSign(context, der, &der_length, message, length) == 1;
    EVP_MD_CTX_free(context);
    if (!ok) return 0;
    const uint8_t *cursor = der;
    ECDSA_SIG *signature = d2i_ECDSA_SIG(NULL, &cursor, (long)der_length);
    if (!signature) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(signature, &r, &s);
    ok = BN_bn2binpad(r, signature_out, 32) == 32 && BN_bn2binpad(s, signature_out + 32, 32) == 32;
    ECDSA_SIG_free(signature);
    return ok;
}

/* Rejects any length but 64 and r = 0 or s = 0 (the "psychic signature", CVE-2022-21449) before OpenSSL sees it. */
static inline int COpenSSL_es256_verify(EVP_PKEY *key, const uint8_t *message, size_t length,
                                        const uint8_t *signature, size_t signature_length) {
    if (signature_length != 64) return 0;
    BIGNUM *r = BN_bin2bn(signature, 32, NULL);
    BIGNUM *s = BN_bin2bn(signature + 32, 32, NULL);
    if (!r || !s || BN_is_zero(r) || BN_is_zero(s)) {
        BN_free(r);
        BN_free(s);
        return 0;
    }
    ECDSA_SIG *parsed = ECDSA_SIG_new();
    if (!parsed || !ECDSA_SIG_set0(parsed, r, s)) {
        ECDSA_SIG_free(parsed);
        BN_free(r);
        BN_free(s);
        return 0;
    }
    uint8_t *der = NULL;
    int der_length = i2d_ECDSA_SIG(parsed, &der);
    ECDSA_SIG_free(parsed);
    if (der_length <= 0) return 0;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context && EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(context, der, (size_t)der_length, message, length) == 1;
    EVP_MD_CTX_free(context);
    CRYPTO_free(der, __FILE__, __LINE__);
    ERR_clear_error();
    return ok;
}

/* MARK: WebAuthn signatures (COSE keys): ECDSA in its DER form, RSA PKCS#1 v1.5, both with SHA-256 */

/* An RSA public key from its modulus and exponent (big-endian); NULL when either is malformed. */
static inline EVP_PKEY *COpenSSL_rsa_from_ne(const uint8_t *n, size_t n_length, const uint8_t *e, size_t e_length) {
    EVP_PKEY *key = NULL;
    BIGNUM *modulus = BN_bin2bn(n, (int)n_length, NULL);
    BIGNUM *exponent = BN_bin2bn(e, (int)e_length, NULL);
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    int ok = builder && context && modulus && exponent && n_length <= 2048 && e_length <= 8
        && OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, modulus)
        && OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, exponent);
    if (ok) params = OSSL_PARAM_BLD_to_param(builder);
    ok = ok && params && EVP_PKEY_fromdata_init(context) == 1 && EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
    if (ok) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    EVP_PKEY_CTX_free(context);
    BN_free(modulus);
    BN_free(exponent);
    if (!ok) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        return NULL;
    }
    return key;
}

/* The public key of a DER X.509 certificate (the certificate itself is not validated: no chain, no dates); NULL when
   it does not parse. */
static inline EVP_PKEY *COpenSSL_certificate_public_key(const uint8_t *der, size_t length) {
    const uint8_t *cursor = der;
    X509 *certificate = d2i_X509(NULL, &cursor, (long)length);
    if (!certificate || cursor != der + length) {
        X509_free(certificate);
        ERR_clear_error();
        return NULL;
    }
    EVP_PKEY *key = X509_get_pubkey(certificate);
    X509_free(certificate);
    ERR_clear_error();
    return key;
}

/* Whether the key is an RSA key. */
static inline int COpenSSL_key_is_rsa(const EVP_PKEY *key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA; }

/* The key's size in bits. */
static inline int COpenSSL_key_bits(const EVP_PKEY *key) { return EVP_PKEY_get_bits(key); }

/* A SHA-256 signature as the key's type defines it: ECDSA as DER (OpenSSL refuses non-minimal DER, r or s of 0 or
   past the order), RSA as PKCS#1 v1.5. */
static inline int COpenSSL_verify_sha256(EVP_PKEY *key, const uint8_t *message, size_t length, const uint8_t *signature,
                                         size_t signature_length) {
    if (signature_length == 0) return 0;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context && EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(context, signature, signature_length, message, length) == 1;
    EVP_MD_CTX_free(context);
    ERR_clear_error();
    return ok;
}

/* MARK: PEM */

static inline EVP_PKEY *COpenSSL_pem_read(const char *pem, size_t length, int private_key) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (!bio) return NULL;
    EVP_PKEY *key = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return key;
}

/* Writes PKCS#8 (private) or SubjectPublicKeyInfo (public) PEM. Returns its length; copies it to out when it fits
   in capacity (call with capacity 0 to learn the length). */
static inline size_t COpenSSL_pem_write(EVP_PKEY *key, int private_key, char *out, size_t capacity) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return 0;
    int ok = private_key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, key);
    char *data = NULL;
    long length = ok ? BIO_get_mem_data(bio, &data) : 0;
    size_t result = length > 0 ? (size_t)length : 0;
    if (result > 0 && out && capacity >= result) memcpy(out, data, result);
    BIO_free(bio);
    return result;
}
#endif
