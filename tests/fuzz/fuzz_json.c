/*
 * fuzz_json.c - libFuzzer target for the JSON line codec.
 *
 * Decodes arbitrary bytes against a fixed schema with every type. A failure must leave the
 * batch untouched; a success must survive encode -> decode unchanged (doubles bit for bit),
 * and both encoders must agree. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/data/batch.h"
#include "common/data/json_codec.h"
#include "common/data/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_schema *schema;
static struct cf_json_decoder *dec;
static struct cf_json_encoder *enc;
static struct cf_batch *batch;
static struct cf_buf out, out2, again;

static void init(void)
{
    schema = cf_schema_create();
    cf_schema_add(schema, "s", CF_TYPE_STRING);
    cf_schema_add(schema, "i", CF_TYPE_INT);
    cf_schema_add(schema, "d", CF_TYPE_DOUBLE);
    cf_schema_add(schema, "b", CF_TYPE_BOOL);
    cf_schema_add(schema, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(schema, "s2", CF_TYPE_STRING);
    cf_schema_add(schema, "event_id", CF_TYPE_STRING);
    dec = cf_json_decoder_create(schema);
    enc = cf_json_encoder_create(schema);
    batch = cf_batch_create(schema, CF_BATCH_ROWS);
    cf_buf_init(&out);
    cf_buf_init(&out2);
    cf_buf_init(&again);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_json: %s\nencoded: %s\n", what, out.data ? out.data : "");
        abort();
    }
}

static void check_same_row(uint32_t a, uint32_t b)
{
    for (uint32_t c = 0; c < schema->nfields; c++) {
        const struct cf_col *col = &batch->cols[c];
        check(col->nulls[a] == col->nulls[b], "NULL flag changed in the round trip");
        if (col->nulls[a]) {
            continue;
        }
        switch (col->type) {
        case CF_TYPE_STRING:
            check(col->v.str[a].len == col->v.str[b].len &&
                      memcmp(col->v.str[a].ptr, col->v.str[b].ptr, col->v.str[a].len) == 0,
                  "string changed in the round trip");
            break;
        case CF_TYPE_DOUBLE:
            check(memcmp(&col->v.f64[a], &col->v.f64[b], sizeof(double)) == 0,
                  "double changed in the round trip");
            break;
        case CF_TYPE_BOOL: check(col->v.b[a] == col->v.b[b], "bool changed"); break;
        default: check(col->v.i64[a] == col->v.i64[b], "int/timestamp changed"); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) {
        init();
    }
    if (batch->n + 2 > batch->cap || cf_batch_full(batch)) {
        cf_batch_reset(batch);
    }
    struct cf_err err;
    uint32_t n = batch->n;
    size_t used = batch->arena.used;
    int rc = cf_json_decode_line(dec, (const char *)data, size, batch, &err);
    if (rc) {
        check(rc == CF_EPARSE || rc == CF_ETYPE, "unexpected error code");
        check(batch->n == n && batch->arena.used == used, "failed decode changed the batch");
        check(err.code == rc && err.msg[0] && !strchr(err.msg, '\n'), "bad error message");
        return 0;
    }
    check(batch->n == n + 1, "decode did not add one row");
    uint32_t r = n;
    cf_buf_reset(&out);
    cf_buf_reset(&out2);
    cf_json_encoder_row(enc, batch, r, &out);
    cf_json_encode_row(batch, r, &out2);
    check(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0, "encoders disagree");
    check(strlen(out.data) == out.len, "NUL byte in encoded JSON");
    rc = cf_json_decode_line(dec, out.data, out.len, batch, &err);
    if (rc) {
        fprintf(stderr, "re-decode failed: %s\n", err.msg);
    }
    check(rc == 0, "decoding the encoded row failed");
    check_same_row(r, r + 1);
    cf_buf_reset(&again);
    cf_json_encoder_row(enc, batch, r + 1, &again);
    check(again.len == out.len && memcmp(again.data, out.data, out.len) == 0,
          "second encoding differs");
    return 0;
}
