/*
 * batch_wire.c - encoder and validating decoder of the batch wire format (batch_wire.h).
 *
 * Column arrays are copied with memcpy in host order. That is only the wire's little-endian
 * order on a little-endian host, so the build refuses anything else rather than carry a
 * byte-swapping path no test exercises.
 */
#include "batch_wire.h"

#include <string.h>

#include "../base/hash.h"
#include "../base/log.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the batch wire format is little-endian and copied with memcpy");
_Static_assert(sizeof(double) == 8 && sizeof(int64_t) == 8, "8-byte values on the wire");

#define WIRE_TS_PRESENT 1u
#define WIRE_COL_NULLS  1u

uint64_t cf_batch_wire_fingerprint(const struct cf_schema *schema)
{
    uint64_t h = cf_hash_u64(schema->nfields, 0x43465731u);
    for (uint32_t c = 0; c < schema->nfields; c++) {
        const struct cf_field *f = &schema->fields[c];
        h = cf_hash_combine(h, cf_hash64(f->name, strlen(f->name), (uint64_t)f->type + 1));
    }
    return h;
}

static int col_has_nulls(const struct cf_col *col, uint32_t n)
{
    /* memchr is vectorised; NULL flags are 0 or 1. */
    return n && memchr(col->nulls, 1, n) != NULL;
}

static int has_ts(const struct cf_batch *batch)
{
    for (uint32_t r = 0; r < batch->n; r++) {
        if (batch->ts[r] != CF_TS_NONE) {
            return 1;
        }
    }
    return 0;
}

size_t cf_batch_wire_size(const struct cf_batch *batch)
{
    uint32_t n = batch->n;
    size_t size = CF_BATCH_WIRE_HEADER + (has_ts(batch) ? (size_t)n * 8 : 0);
    for (uint32_t c = 0; c < batch->schema->nfields; c++) {
        const struct cf_col *col = &batch->cols[c];
        int nulls = col_has_nulls(col, n);
        size += 1 + (nulls ? n : 0);
        switch (col->type) {
        case CF_TYPE_NULL: break;
        case CF_TYPE_BOOL: size += n; break;
        case CF_TYPE_STRING:
            size += (size_t)n * 4;
            for (uint32_t r = 0; r < n; r++) {
                if (!col->nulls[r]) {
                    size += col->v.str[r].len;
                }
            }
            break;
        default: size += (size_t)n * 8; break;
        }
    }
    return size;
}

static uint8_t *put32(uint8_t *d, uint32_t v)
{
    memcpy(d, &v, 4);
    return d + 4;
}

static uint8_t *put64(uint8_t *d, uint64_t v)
{
    memcpy(d, &v, 8);
    return d + 8;
}

/* Copies a fixed-width value array, writing zeros for the NULL rows. */
static uint8_t *put_values(uint8_t *d, const struct cf_col *col, uint32_t n, size_t width,
                           int nulls)
{
    memcpy(d, col->v.data, (size_t)n * width);
    if (nulls) {
        for (uint32_t r = 0; r < n; r++) {
            if (col->nulls[r]) {
                memset(d + (size_t)r * width, 0, width);
            }
        }
    }
    return d + (size_t)n * width;
}

size_t cf_batch_wire_write(const struct cf_batch *batch, uint8_t *dst)
{
    uint32_t n = batch->n;
    int ts = has_ts(batch);
    uint8_t *d = dst;
    d = put32(d, CF_BATCH_WIRE_MAGIC);
    d = put32(d, n);
    d = put64(d, cf_batch_wire_fingerprint(batch->schema));
    d = put32(d, batch->schema->nfields);
    d = put32(d, ts ? WIRE_TS_PRESENT : 0);
    if (ts) {
        memcpy(d, batch->ts, (size_t)n * 8);
        d += (size_t)n * 8;
    }
    for (uint32_t c = 0; c < batch->schema->nfields; c++) {
        const struct cf_col *col = &batch->cols[c];
        int nulls = col_has_nulls(col, n);
        *d++ = nulls ? WIRE_COL_NULLS : 0;
        if (nulls) {
            memcpy(d, col->nulls, n);
            d += n;
        }
        switch (col->type) {
        case CF_TYPE_NULL: break;
        case CF_TYPE_BOOL: d = put_values(d, col, n, 1, nulls); break;
        case CF_TYPE_STRING: {
            /* Lengths first, then one blob: the decoder sizes its arena copy up front. */
            for (uint32_t r = 0; r < n; r++) {
                d = put32(d, col->nulls[r] ? 0 : col->v.str[r].len);
            }
            for (uint32_t r = 0; r < n; r++) {
                if (!col->nulls[r] && col->v.str[r].len) {
                    memcpy(d, col->v.str[r].ptr, col->v.str[r].len);
                    d += col->v.str[r].len;
                }
            }
            break;
        }
        default: d = put_values(d, col, n, 8, nulls); break;
        }
    }
    return (size_t)(d - dst);
}

void cf_batch_wire_encode(const struct cf_batch *batch, struct cf_buf *out)
{
    size_t size = cf_batch_wire_size(batch);
    cf_buf_reserve(out, size);
    size_t written = cf_batch_wire_write(batch, (uint8_t *)out->data + out->len);
    cf_assert(written == size);
    out->len += written;
    out->data[out->len] = '\0';
}

/* ---- decoding ---- */

struct reader {
    const uint8_t *p;
    size_t len;
    size_t off;
};

/* Returns a pointer to the next n bytes and advances, or NULL when fewer remain. */
static const uint8_t *take(struct reader *rd, size_t n)
{
    if (n > rd->len - rd->off) {
        return NULL;
    }
    const uint8_t *at = rd->p + rd->off;
    rd->off += n;
    return at;
}

static uint32_t get32(const uint8_t *s)
{
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

static uint64_t get64(const uint8_t *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

/* 1 if every byte of a[0..n) is 0 or 1. */
static int all_flags(const uint8_t *a, uint32_t n)
{
    uint8_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        bad |= a[i] & 0xfe;
    }
    return bad == 0;
}

static int fail(struct cf_batch *into, struct cf_err *err, int code, size_t off, const char *what,
                uint32_t col)
{
    cf_batch_reset(into);
    if (col == UINT32_MAX) {
        return cf_err_set(err, code, "batch wire: %s at byte %zu", what, off);
    }
    return cf_err_set(err, code, "batch wire: %s in column %u (%s) at byte %zu", what, col,
                      into->schema->fields[col].name, off);
}

static int decode_strings(struct reader *rd, struct cf_batch *into, uint32_t c, uint32_t n,
                          const uint8_t *nulls, struct cf_err *err)
{
    struct cf_col *col = &into->cols[c];
    const uint8_t *lens = take(rd, (size_t)n * 4);
    if (!lens) {
        return fail(into, err, CF_EPARSE, rd->off, "truncated string lengths", c);
    }
    uint64_t total = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t l = get32(lens + (size_t)r * 4);
        if (l && nulls && nulls[r]) {
            return fail(into, err, CF_EPARSE, rd->off, "NULL string with a length", c);
        }
        total += l;
    }
    /* total is at most n * (2^32 - 1): no overflow in 64 bits. */
    if (total > rd->len - rd->off) {
        return fail(into, err, CF_EPARSE, rd->off, "string bytes beyond the end", c);
    }
    const uint8_t *blob = take(rd, (size_t)total);
    char *copy = NULL;
    if (total) {
        copy = cf_arena_alloc(&into->arena, (size_t)total);
        memcpy(copy, blob, (size_t)total);
    }
    size_t at = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t l = get32(lens + (size_t)r * 4);
        /* Empty strings point at a valid address too (some callers memcmp them). */
        col->v.str[r].ptr = copy ? copy + at : "";
        col->v.str[r].len = l;
        at += l;
    }
    return 0;
}

int cf_batch_wire_decode(const uint8_t *p, size_t len, struct cf_batch *into, struct cf_err *err)
{
    cf_assert(into->n == 0);
    struct reader rd = {.p = p, .len = len, .off = 0};
    const uint8_t *h = take(&rd, CF_BATCH_WIRE_HEADER);
    if (!h) {
        return fail(into, err, CF_EPARSE, len, "truncated header", UINT32_MAX);
    }
    if (get32(h) != CF_BATCH_WIRE_MAGIC) {
        return fail(into, err, CF_EPARSE, 0, "bad magic", UINT32_MAX);
    }
    uint32_t n = get32(h + 4);
    uint64_t fp = get64(h + 8);
    uint32_t nfields = get32(h + 16);
    uint32_t flags = get32(h + 20);
    const struct cf_schema *schema = into->schema;
    if (nfields != schema->nfields || fp != cf_batch_wire_fingerprint(schema)) {
        cf_batch_reset(into);
        return cf_err_set(err, CF_ETYPE,
                          "batch wire: schema mismatch (%u fields, fingerprint %016llx; expected "
                          "%u fields, fingerprint %016llx)",
                          nfields, (unsigned long long)fp, schema->nfields,
                          (unsigned long long)cf_batch_wire_fingerprint(schema));
    }
    if (n > into->cap) {
        return fail(into, err, CF_EPARSE, 4, "more rows than the batch holds", UINT32_MAX);
    }
    if (flags & ~WIRE_TS_PRESENT) {
        return fail(into, err, CF_EPARSE, 20, "unknown flags", UINT32_MAX);
    }
    if (flags & WIRE_TS_PRESENT) {
        const uint8_t *ts = take(&rd, (size_t)n * 8);
        if (!ts) {
            return fail(into, err, CF_EPARSE, rd.off, "truncated event times", UINT32_MAX);
        }
        memcpy(into->ts, ts, (size_t)n * 8);
    } else {
        for (uint32_t r = 0; r < n; r++) {
            into->ts[r] = CF_TS_NONE;
        }
    }
    for (uint32_t c = 0; c < nfields; c++) {
        struct cf_col *col = &into->cols[c];
        const uint8_t *cf = take(&rd, 1);
        if (!cf) {
            return fail(into, err, CF_EPARSE, rd.off, "truncated column", c);
        }
        if (*cf & ~WIRE_COL_NULLS) {
            return fail(into, err, CF_EPARSE, rd.off - 1, "unknown column flags", c);
        }
        const uint8_t *nulls = NULL;
        if (*cf & WIRE_COL_NULLS) {
            nulls = take(&rd, n);
            if (!nulls) {
                return fail(into, err, CF_EPARSE, rd.off, "truncated NULL flags", c);
            }
            if (!all_flags(nulls, n)) {
                return fail(into, err, CF_EPARSE, rd.off, "NULL flag not 0 or 1", c);
            }
            memcpy(col->nulls, nulls, n);
        } else if (n) {
            memset(col->nulls, 0, n);
        }
        switch (col->type) {
        case CF_TYPE_NULL: break;
        case CF_TYPE_BOOL: {
            const uint8_t *v = take(&rd, n);
            if (!v) {
                return fail(into, err, CF_EPARSE, rd.off, "truncated values", c);
            }
            if (!all_flags(v, n)) {
                return fail(into, err, CF_EPARSE, rd.off, "boolean not 0 or 1", c);
            }
            memcpy(col->v.b, v, n);
            break;
        }
        case CF_TYPE_STRING: {
            int rc = decode_strings(&rd, into, c, n, nulls, err);
            if (rc) {
                return rc;
            }
            break;
        }
        default: {
            const uint8_t *v = take(&rd, (size_t)n * 8);
            if (!v) {
                return fail(into, err, CF_EPARSE, rd.off, "truncated values", c);
            }
            memcpy(col->v.data, v, (size_t)n * 8);
            break;
        }
        }
    }
    if (rd.off != len) {
        return fail(into, err, CF_EPARSE, rd.off, "trailing bytes", UINT32_MAX);
    }
    into->n = n;
    return 0;
}
