/*
 * fuzz_batch_wire.c - libFuzzer target for the batch wire decoder.
 *
 * Decodes arbitrary bytes against a fixed schema with every type (the seeds carry its
 * fingerprint). A failure must be CF_EPARSE or CF_ETYPE with a message and leave the batch
 * empty. A success must re-encode to at most as many bytes, decode again to the same rows,
 * and re-encode to the same bytes (the encoding is canonical). A second decoder with room for
 * only 8 rows must agree. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/data/batch.h"
#include "common/data/batch_wire.h"
#include "common/data/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_schema *schema;
static struct cf_batch *batch, *again, *small;
static struct cf_buf enc1, enc2;

static void init(void)
{
    schema = cf_schema_create();
    cf_schema_add(schema, "s", CF_TYPE_STRING);
    cf_schema_add(schema, "i", CF_TYPE_INT);
    cf_schema_add(schema, "d", CF_TYPE_DOUBLE);
    cf_schema_add(schema, "b", CF_TYPE_BOOL);
    cf_schema_add(schema, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(schema, "s2", CF_TYPE_STRING);
    batch = cf_batch_create(schema, CF_BATCH_ROWS);
    again = cf_batch_create(schema, CF_BATCH_ROWS);
    small = cf_batch_create(schema, 8);
    cf_buf_init(&enc1);
    cf_buf_init(&enc2);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_batch_wire: %s\n", what);
        abort();
    }
}

static void check_failed(int rc, const struct cf_batch *b, const struct cf_err *err)
{
    check(rc == CF_EPARSE || rc == CF_ETYPE, "unexpected error code");
    check(b->n == 0 && b->arena.used == 0, "failed decode left rows or bytes in the batch");
    check(err->code == rc && err->msg[0], "error without a message");
}

static void check_same(const struct cf_batch *a, const struct cf_batch *b)
{
    check(a->n == b->n, "row count changed in the round trip");
    for (uint32_t r = 0; r < a->n; r++) {
        check(a->ts[r] == b->ts[r], "event time changed in the round trip");
        for (uint32_t c = 0; c < schema->nfields; c++) {
            const struct cf_col *x = &a->cols[c], *y = &b->cols[c];
            check(x->nulls[r] == y->nulls[r], "NULL flag changed in the round trip");
            if (x->nulls[r]) {
                continue;
            }
            switch (x->type) {
            case CF_TYPE_STRING:
                check(x->v.str[r].len == y->v.str[r].len &&
                          memcmp(x->v.str[r].ptr, y->v.str[r].ptr, x->v.str[r].len) == 0,
                      "string changed in the round trip");
                break;
            case CF_TYPE_BOOL: check(x->v.b[r] == y->v.b[r], "bool changed"); break;
            default:
                /* Doubles compared bit for bit: NaN payloads travel unchanged. */
                check(memcmp(&x->v.i64[r], &y->v.i64[r], 8) == 0, "8-byte value changed");
                break;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) {
        init();
    }
    cf_batch_reset(batch);
    cf_batch_reset(again);
    cf_batch_reset(small);
    /* A private copy so ASan catches any read past `size`. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct cf_err err;
    cf_err_clear(&err);
    int rc = cf_batch_wire_decode(copy, size, batch, &err);

    struct cf_err serr;
    cf_err_clear(&serr);
    int src = cf_batch_wire_decode(copy, size, small, &serr);
    free(copy);
    if (src == 0) {
        check(rc == 0 && batch->n <= 8, "the small decoder accepted what the large one refused");
        check_same(batch, small);
    } else {
        check_failed(src, small, &serr);
        check(rc != 0 || batch->n > 8, "the small decoder refused a batch that fits");
    }
    if (rc) {
        check_failed(rc, batch, &err);
        return 0;
    }
    check(batch->n <= CF_BATCH_ROWS, "more rows than the capacity");

    cf_buf_reset(&enc1);
    cf_batch_wire_encode(batch, &enc1);
    check(enc1.len == cf_batch_wire_size(batch), "cf_batch_wire_size disagrees with the encoding");
    check(enc1.len <= size, "the canonical encoding is longer than the input");
    rc = cf_batch_wire_decode((const uint8_t *)enc1.data, enc1.len, again, &err);
    if (rc) {
        fprintf(stderr, "re-decode: %s\n", err.msg);
    }
    check(rc == 0, "decoding the encoded batch failed");
    check_same(batch, again);
    cf_buf_reset(&enc2);
    cf_batch_wire_encode(again, &enc2);
    check(enc2.len == enc1.len && memcmp(enc1.data, enc2.data, enc1.len) == 0,
          "second encoding differs");
    return 0;
}
