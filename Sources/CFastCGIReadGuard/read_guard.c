/* See include/CFastCGIReadGuard.h. The record rules below are libfcgi 2.4's (fcgiapp.c), byte for byte: where it
   refuses, this stops following (libfcgi ends the connection itself); where it skips, this skips. */
#define _GNU_SOURCE
#include "CFastCGIReadGuard.h"
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

enum { PHASE_BEGIN, PHASE_PARAMS, PHASE_STDIN, PHASE_DONE };
enum { PART_HEADER, PART_CONTENT, PART_PADDING };

typedef struct {
    int state;        /* 0: name length, 1: value length, 2: skipping name and value bytes */
    int length_bytes; /* bytes of the current four-byte length seen */
    uint32_t length;
    uint32_t name_length;
    uint64_t skip;
} pairs_t;

typedef struct {
    int fd;
    int request_id;
    int phase;
    int refused;      /* a record this guard does not follow came: every later read fails */
    int part;
    unsigned char header[8];
    int header_have;
    uint32_t content, padding;
    int content_is;   /* what the content is: 0 other, 1 parameters, 2 FCGI_GET_VALUES pairs, 3 the begin body */
    pairs_t params;   /* the request's parameter stream (across records) */
    pairs_t values;   /* the current FCGI_GET_VALUES record */
} reader_t;

static __thread reader_t reader = { .fd = -1 };
static uint32_t length_limit = 262144;

void CFastCGIReadGuard_setLimit(uint32_t limit) { length_limit = limit; }

void CFastCGIReadGuard_begin(int fd, int request_id) {
    memset(&reader, 0, sizeof(reader));
    reader.fd = fd;
    reader.request_id = request_id;
    reader.phase = PHASE_BEGIN;
    reader.part = PART_HEADER;
}

/* Feeds name-value stream bytes; -1 when a length exceeds the limit. */
static int pairs_feed(pairs_t *pairs, const unsigned char *bytes, uint32_t count) {
    for (uint32_t i = 0; i < count;) {
        if (pairs->state == 2) {
            uint64_t take = pairs->skip < (uint64_t)(count - i) ? pairs->skip : (uint64_t)(count - i);
            pairs->skip -= take;
            i += (uint32_t)take;
            if (pairs->skip == 0) pairs->state = 0;
            continue;
        }
        unsigned char byte = bytes[i++];
        if (pairs->length_bytes == 0 && (byte & 0x80) == 0) {
            pairs->length = byte;
        } else {
            pairs->length = (pairs->length << 8) | (pairs->length_bytes == 0 ? (uint32_t)(byte & 0x7f) : byte);
            if (++pairs->length_bytes < 4) continue;
        }
        pairs->length_bytes = 0;
        if (pairs->length > length_limit) return -1;
        if (pairs->state == 0) {
            pairs->name_length = pairs->length;
            pairs->state = 1;
        } else {
            pairs->skip = (uint64_t)pairs->name_length + pairs->length;
            pairs->state = pairs->skip ? 2 : 0;
        }
        pairs->length = 0;
    }
    return 0;
}

/* libfcgi's SetError: the reader closes (and the error sticks, but parsing goes on where the reader is read again).
   While reading the parameters, ReadParams then meets the end of its stream: at a pair boundary it returns success,
   and FCGX_Accept_r re-types the reader for stdin (content and padding left are dropped: what follows is read as a
   header); in the middle of a pair it fails, and the connection is closed. Before a request, FCGX_Accept_r closes
   the connection; while reading stdin, the server stops reading this request (its input failed). */
static void fail(void) {
    if (reader.phase == PHASE_PARAMS && reader.params.state == 0 && reader.params.length_bytes == 0) {
        reader.phase = PHASE_STDIN;
        reader.content = 0;
        reader.padding = 0;
        reader.part = PART_HEADER;
    } else {
        reader.phase = PHASE_DONE;
    }
}

/* A whole header: what libfcgi's ProcessHeader decides, as far as it moves bytes. */
static void take_header(void) {
    const unsigned char *h = reader.header;
    int type = h[1], id = (h[2] << 8) | h[3];
    reader.part = PART_HEADER;
    reader.content_is = 0;
    if (h[0] != 1) { fail(); return; }          /* unsupported version: checked before the lengths are taken */
    reader.content = ((uint32_t)h[4] << 8) | h[5];
    reader.padding = h[6];
    if (type == 1 /* FCGI_BEGIN_REQUEST */) {
        if (id == 0 || reader.content != 8) { fail(); return; }
        if (reader.phase == PHASE_BEGIN) {
            reader.request_id = id;
            reader.content_is = 3;               /* read as the body; the padding is then dropped */
        }                                        /* else: multiplexing, skipped whole */
    } else if (id == 0) {
        /* A management record: FCGI_GET_VALUES content is read as pairs; any other type's content is left unread
           and so delivered to the stream being read (the parameters included). Before any request, delivered
           content ends libfcgi's wait for one: it closes. */
        if (type == 9) reader.content_is = 2, memset(&reader.values, 0, sizeof(reader.values));
        else if (reader.phase == PHASE_PARAMS) reader.content_is = 1;
        else if (reader.phase == PHASE_BEGIN && reader.content > 0) { reader.phase = PHASE_DONE; return; }
    } else if (id == reader.request_id && reader.phase != PHASE_BEGIN) {
        int expected = reader.phase == PHASE_PARAMS ? 4 : 5;
        if (type != expected) { fail(); return; } /* a protocol error to libfcgi */
        if (reader.content == 0) {
            /* The stream's end: the parameters' end is a clean end of ReadParams only at a pair boundary (then
               the reader is re-typed for stdin, dropping this record's padding); after stdin, this reader is done. */
            if (reader.phase == PHASE_PARAMS) {
                reader.content = 0;
                fail();
            } else {
                reader.phase = PHASE_DONE;
            }
            return;
        }
        if (reader.phase == PHASE_PARAMS) reader.content_is = 1;
    } else if (id == reader.request_id) {
        /* Before BEGIN_REQUEST, a record of the previous request's id: libfcgi's new reader has type 0, so any
           other type is a protocol error, and a type 0 record ends the wait (delivered or at its end): closed. */
        reader.phase = PHASE_DONE;
        return;
    } else if (reader.content == 0) {
        /* A record of no request, or of another one, without content: libfcgi's skip flag stays set after it and
           skips the next record's content too, whatever that record is (a FCGI_GET_VALUES one included, whose
           pairs this guard would then not see). No web server sends one: the read fails. */
        reader.refused = 1;
        return;
    } /* else: a record of no request, or of another one: skipped */
    reader.part = reader.content > 0 ? PART_CONTENT : (reader.padding > 0 ? PART_PADDING : PART_HEADER);
}

int CFastCGIReadGuard_feed(int fd, const unsigned char *bytes, long count) {
    if (fd != reader.fd) return 0;
    if (reader.refused) return -1;
    long at = 0;
    while (at < count && reader.phase != PHASE_DONE) {
        if (reader.part == PART_HEADER) {
            long take = 8 - reader.header_have < count - at ? 8 - reader.header_have : count - at;
            memcpy(reader.header + reader.header_have, bytes + at, (size_t)take);
            reader.header_have += (int)take;
            at += take;
            if (reader.header_have == 8) {
                reader.header_have = 0;
                take_header();
                if (reader.refused) return -1;
            }
        } else if (reader.part == PART_CONTENT) {
            uint32_t take = reader.content < (uint64_t)(count - at) ? reader.content : (uint32_t)(count - at);
            if (reader.content_is == 1 && pairs_feed(&reader.params, bytes + at, take) != 0) return -1;
            if (reader.content_is == 2 && pairs_feed(&reader.values, bytes + at, take) != 0) return -1;
            reader.content -= take;
            at += take;
            if (reader.content == 0) {
                if (reader.content_is == 2 && (reader.values.state != 0 || reader.values.length_bytes != 0)) {
                    /* FCGI_GET_VALUES content that ends in the middle of a pair: ReadParams fails, and with it the
                       record (a protocol error). */
                    fail();
                    continue;
                }
                if (reader.content_is == 3) {
                    /* The begin body is read; libfcgi re-types the reader for the parameters, which drops the rest
                       of the record (its padding is read as the next header). (A role it does not know ends the
                       connection instead: nothing more is read then.) */
                    reader.phase = PHASE_PARAMS;
                    reader.padding = 0;
                }
                reader.part = reader.padding > 0 ? PART_PADDING : PART_HEADER;
            }
        } else {
            uint32_t take = reader.padding < (uint64_t)(count - at) ? reader.padding : (uint32_t)(count - at);
            reader.padding -= take;
            at += take;
            if (reader.padding == 0) reader.part = PART_HEADER;
        }
    }
    return 0;
}

/* libfcgi's own OS_Read (os_unix.c) is read(2) unless a shutdown is pending, which this service never asks for. */
int OS_Read(int fd, char *buf, size_t len) {
    ssize_t got = read(fd, buf, len);
    if (got > 0 && CFastCGIReadGuard_feed(fd, (const unsigned char *)buf, got) != 0) {
        reader.phase = PHASE_DONE;
        errno = EPROTO;
        return -1;
    }
    return (int)got;
}

int CFastCGIReadGuard_isActive(void) {
    return dlsym(RTLD_DEFAULT, "OS_Read") == (void *)OS_Read;
}
