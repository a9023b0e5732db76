#ifndef CCBOR_SHIM_H
#define CCBOR_SHIM_H
/* libcbor (libcbor-dev) for the CBOR target, its only importer. libcbor's streaming decoder reads one data item's
   head at a time (major type, argument, and a definite string's bytes) without allocating; the CBOR target builds
   values from these heads and enforces what WebAuthn allows (definite lengths only, no tags or floats, unique map
   keys, depth and count limits). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cbor.h>

/* What one head was. */
enum {
    CCbor_UNSIGNED = 1,  /* value */
    CCbor_NEGATIVE = 2,  /* the integer -1 - value */
    CCbor_BYTES = 3,     /* data[0..<length] (points into the input) */
    CCbor_TEXT = 4,      /* data[0..<length] */
    CCbor_ARRAY = 5,     /* value items follow */
    CCbor_MAP = 6,       /* value pairs follow */
    CCbor_FALSE = 7,
    CCbor_TRUE = 8,
    CCbor_NULL = 9,
    CCbor_INDEFINITE = 10, /* an indefinite-length string, array or map, or a break */
    CCbor_TAG = 11,
    CCbor_FLOAT = 12,
    CCbor_UNDEFINED = 13,
};

typedef struct CCbor_head {
    int kind;
    uint64_t value;
    const uint8_t *data;
    size_t length;
} CCbor_head;

static inline void CCbor_u8(void *c, uint8_t v) { ((CCbor_head *)c)->kind = CCbor_UNSIGNED; ((CCbor_head *)c)->value = v; }
static inline void CCbor_u16(void *c, uint16_t v) { ((CCbor_head *)c)->kind = CCbor_UNSIGNED; ((CCbor_head *)c)->value = v; }
static inline void CCbor_u32(void *c, uint32_t v) { ((CCbor_head *)c)->kind = CCbor_UNSIGNED; ((CCbor_head *)c)->value = v; }
static inline void CCbor_u64(void *c, uint64_t v) { ((CCbor_head *)c)->kind = CCbor_UNSIGNED; ((CCbor_head *)c)->value = v; }
static inline void CCbor_n8(void *c, uint8_t v) { ((CCbor_head *)c)->kind = CCbor_NEGATIVE; ((CCbor_head *)c)->value = v; }
static inline void CCbor_n16(void *c, uint16_t v) { ((CCbor_head *)c)->kind = CCbor_NEGATIVE; ((CCbor_head *)c)->value = v; }
static inline void CCbor_n32(void *c, uint32_t v) { ((CCbor_head *)c)->kind = CCbor_NEGATIVE; ((CCbor_head *)c)->value = v; }
static inline void CCbor_n64(void *c, uint64_t v) { ((CCbor_head *)c)->kind = CCbor_NEGATIVE; ((CCbor_head *)c)->value = v; }
static inline void CCbor_bytes(void *c, cbor_data d, size_t n) {
    CCbor_head *h = c; h->kind = CCbor_BYTES; h->data = d; h->length = n;
}
static inline void CCbor_text(void *c, cbor_data d, size_t n) {
    CCbor_head *h = c; h->kind = CCbor_TEXT; h->data = d; h->length = n;
}
static inline void CCbor_array(void *c, size_t n) { ((CCbor_head *)c)->kind = CCbor_ARRAY; ((CCbor_head *)c)->value = n; }
static inline void CCbor_map(void *c, size_t n) { ((CCbor_head *)c)->kind = CCbor_MAP; ((CCbor_head *)c)->value = n; }
static inline void CCbor_indefinite(void *c) { ((CCbor_head *)c)->kind = CCbor_INDEFINITE; }
static inline void CCbor_tag(void *c, uint64_t v) { ((CCbor_head *)c)->kind = CCbor_TAG; ((CCbor_head *)c)->value = v; }
static inline void CCbor_float(void *c, float v) { (void)v; ((CCbor_head *)c)->kind = CCbor_FLOAT; }
static inline void CCbor_double(void *c, double v) { (void)v; ((CCbor_head *)c)->kind = CCbor_FLOAT; }
static inline void CCbor_undefined(void *c) { ((CCbor_head *)c)->kind = CCbor_UNDEFINED; }
static inline void CCbor_null(void *c) { ((CCbor_head *)c)->kind = CCbor_NULL; }
static inline void CCbor_bool(void *c, bool v) { ((CCbor_head *)c)->kind = v ? CCbor_TRUE : CCbor_FALSE; }

/* Decodes the head at `input` (and a definite string's bytes) into `head`. Returns the bytes it took, or 0 when the
   input ends first or is not well-formed CBOR (reserved values, an unassigned simple value). */
static inline size_t CCbor_next_head(const uint8_t *input, size_t length, CCbor_head *head) {
    static const struct cbor_callbacks callbacks = {
        .uint8 = CCbor_u8, .uint16 = CCbor_u16, .uint32 = CCbor_u32, .uint64 = CCbor_u64,
        .negint8 = CCbor_n8, .negint16 = CCbor_n16, .negint32 = CCbor_n32, .negint64 = CCbor_n64,
        .byte_string = CCbor_bytes, .byte_string_start = CCbor_indefinite,
        .string = CCbor_text, .string_start = CCbor_indefinite,
        .array_start = CCbor_array, .indef_array_start = CCbor_indefinite,
        .map_start = CCbor_map, .indef_map_start = CCbor_indefinite,
        .tag = CCbor_tag, .float2 = CCbor_float, .float4 = CCbor_float, .float8 = CCbor_double,
        .undefined = CCbor_undefined, .null = CCbor_null, .boolean = CCbor_bool, .indef_break = CCbor_indefinite,
    };
    if (length == 0) return 0;
    head->kind = 0;
    head->value = 0;
    head->data = NULL;
    head->length = 0;
    struct cbor_decoder_result result = cbor_stream_decode(input, length, &callbacks, head);
    if (result.status != CBOR_DECODER_FINISHED || head->kind == 0 || result.read == 0 || result.read > length) return 0;
    return result.read;
}

/* MARK: Encoding (canonical heads, RFC 8949 4.2.1: the shortest argument), for the CBOR target's encoder. */

/* Writes the head of major type `major` (0-7) with `argument` to out (9 bytes at most). Returns its length. */
static inline size_t CCbor_encode_head(int major, uint64_t argument, uint8_t *out, size_t capacity) {
    switch (major) {
    case 0: return cbor_encode_uint(argument, out, capacity);
    case 1: return cbor_encode_negint(argument, out, capacity);
    case 2: return cbor_encode_bytestring_start(argument, out, capacity);
    case 3: return cbor_encode_string_start(argument, out, capacity);
    case 4: return cbor_encode_array_start(argument, out, capacity);
    case 5: return cbor_encode_map_start(argument, out, capacity);
    case 7: return argument == 20 ? cbor_encode_bool(false, out, capacity)
                 : argument == 21 ? cbor_encode_bool(true, out, capacity)
                 : argument == 22 ? cbor_encode_null(out, capacity) : 0;
    default: return 0;
    }
}
#endif
