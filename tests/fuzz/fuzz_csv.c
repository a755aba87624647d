/*
 * fuzz_csv.c - libFuzzer target for the CSV line codec.
 *
 * Decodes arbitrary bytes against a fixed schema with every type (no header). A failure
 * must leave the batch untouched; a success must survive encode -> decode unchanged. The
 * input is also fed to a header-mode decoder, split at its first newline into the header
 * and one row, which must not crash. Any violation aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/data/batch.h"
#include "common/data/csv_codec.h"
#include "common/data/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_schema *schema;
static struct cf_csv_decoder *dec, *hdec;
static struct cf_batch *batch;
static struct cf_buf out, again;

static void init(void)
{
    schema = cf_schema_create();
    cf_schema_add(schema, "s", CF_TYPE_STRING);
    cf_schema_add(schema, "i", CF_TYPE_INT);
    cf_schema_add(schema, "d", CF_TYPE_DOUBLE);
    cf_schema_add(schema, "b", CF_TYPE_BOOL);
    cf_schema_add(schema, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(schema, "s2", CF_TYPE_STRING);
    struct cf_csv_options opts = {.delimiter = ',', .header = 0};
    dec = cf_csv_decoder_create(schema, &opts);
    struct cf_csv_options hopts = {.delimiter = ';', .header = 1};
    hdec = cf_csv_decoder_create(schema, &hopts);
    batch = cf_batch_create(schema, CF_BATCH_ROWS);
    cf_buf_init(&out);
    cf_buf_init(&again);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_csv: %s\nencoded: %s\n", what, out.data ? out.data : "");
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
        case CF_TYPE_DOUBLE: {
            double x = col->v.f64[a], y = col->v.f64[b];
            check((isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof(double)) == 0,
                  "double changed in the round trip");
            break;
        }
        case CF_TYPE_BOOL: check(col->v.b[a] == col->v.b[b], "bool changed"); break;
        default: check(col->v.i64[a] == col->v.i64[b], "int/timestamp changed"); break;
        }
    }
}

static void check_failed(int rc, uint32_t n, size_t used, const struct cf_err *err)
{
    check(rc == CF_EPARSE || rc == CF_ETYPE, "unexpected error code");
    check(batch->n == n && batch->arena.used == used, "failed decode changed the batch");
    check(err->code == rc && err->msg[0] && !strchr(err->msg, '\n'), "bad error message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) {
        init();
    }
    if (batch->n + 3 > batch->cap || cf_batch_full(batch)) {
        cf_batch_reset(batch);
    }
    const char *line = (const char *)data;
    struct cf_err err;

    /* header mode: header line, then one row */
    const char *nl = memchr(line, '\n', size);
    cf_csv_decoder_reset(hdec);
    int rc = cf_csv_decode_line(hdec, line, nl ? (size_t)(nl - line) : size, batch, &err);
    if (rc == 1 && nl) {
        uint32_t n = batch->n;
        size_t used = batch->arena.used;
        rc = cf_csv_decode_line(hdec, nl + 1, size - (size_t)(nl + 1 - line), batch, &err);
        if (rc) {
            check_failed(rc, n, used, &err);
        }
    }

    uint32_t n = batch->n;
    size_t used = batch->arena.used;
    rc = cf_csv_decode_line(dec, line, size, batch, &err);
    if (rc) {
        check_failed(rc, n, used, &err);
        return 0;
    }
    check(batch->n == n + 1, "decode did not add one row");
    uint32_t r = n;
    cf_buf_reset(&out);
    cf_csv_encode_row(batch, r, ',', &out);
    rc = cf_csv_decode_line(dec, out.data, out.len, batch, &err);
    if (rc) {
        fprintf(stderr, "re-decode failed: %s\n", err.msg);
    }
    check(rc == 0, "decoding the encoded row failed");
    check_same_row(r, r + 1);
    cf_buf_reset(&again);
    cf_csv_encode_row(batch, r + 1, ',', &again);
    check(again.len == out.len && memcmp(again.data, out.data, out.len) == 0,
          "second encoding differs");
    return 0;
}
