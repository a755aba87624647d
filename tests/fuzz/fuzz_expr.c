/*
 * fuzz_expr.c - libFuzzer target for the expression engine.
 *
 * The input is expression text. If it parses, it is bound against a fixed schema with a
 * field of every type; if that succeeds, it is evaluated (and used as a filter when it is a
 * condition) over a batch of 515 rows - more than one CF_BATCH_ROWS slice - holding NULLs
 * and extreme values. Everything is destroyed, so leaks are reported too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/timeutil.h"
#include "common/data/batch.h"
#include "common/data/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_schema *fuzz_schema;
static struct cf_batch *fuzz_batch;

#define FUZZ_ROWS 515

static void fuzz_setup(void)
{
    fuzz_schema = cf_schema_create();
    cf_schema_add(fuzz_schema, "i", CF_TYPE_INT);
    cf_schema_add(fuzz_schema, "j", CF_TYPE_INT);
    cf_schema_add(fuzz_schema, "d", CF_TYPE_DOUBLE);
    cf_schema_add(fuzz_schema, "s", CF_TYPE_STRING);
    cf_schema_add(fuzz_schema, "u", CF_TYPE_STRING);
    cf_schema_add(fuzz_schema, "b", CF_TYPE_BOOL);
    cf_schema_add(fuzz_schema, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(fuzz_schema, "x y", CF_TYPE_INT);

    static const int64_t ints[] = {0, 1, -1, 7, INT64_MIN, INT64_MAX, 1729620330250, 86400000};
    static const double dbls[] = {0.0, -0.0, 2.5, -1e308, 1e308, 0.1, NAN, INFINITY};
    static const char *const strs[] = {
        "", "abc", "a%_b", "\xc3\xa9\xff", "  pad  ", "2024-10-22T18:05:30.250Z", "%Y-%m-%d %H",
        "%"};
    static const int64_t tss[] = {0,
                                  -1,
                                  INT64_MIN,
                                  INT64_MAX,
                                  1729620330250,
                                  -86400001,
                                  INT64_MIN + 86400000,
                                  253402300799999};
    fuzz_batch = cf_batch_create(fuzz_schema, FUZZ_ROWS);
    for (uint32_t r = 0; r < FUZZ_ROWS; r++) {
        uint32_t row = cf_batch_add_row(fuzz_batch);
        /* Every field is NULL on some rows, never all on the same ones. */
        if (r % 5 != 1) {
            cf_batch_set_int(fuzz_batch, 0, row, ints[r % 8]);
        }
        if (r % 7 != 2) {
            cf_batch_set_int(fuzz_batch, 1, row, ints[(r / 3) % 8]);
        }
        if (r % 6 != 3) {
            cf_batch_set_double(fuzz_batch, 2, row, dbls[r % 8]);
        }
        if (r % 4 != 0) {
            const char *s = strs[r % 8];
            cf_batch_set_str(fuzz_batch, 3, row, s, strlen(s));
        }
        if (r % 9 != 4) {
            const char *s = strs[(r / 2) % 8];
            cf_batch_set_str(fuzz_batch, 4, row, s, strlen(s));
        }
        if (r % 3 != 2) {
            cf_batch_set_bool(fuzz_batch, 5, row, (int)(r & 1));
        }
        if (r % 8 != 5) {
            cf_batch_set_int(fuzz_batch, 6, row, tss[r % 8]);
        }
        if (r % 2) {
            cf_batch_set_int(fuzz_batch, 7, row, (int64_t)r);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_batch) {
        fuzz_setup();
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    struct cf_err err;
    cf_err_clear(&err);
    struct cf_expr *expr = cf_expr_parse(text, &err);
    if (!expr) {
        /* A failed parse always explains itself. */
        if (err.code != CF_EPARSE || !err.msg[0]) {
            abort();
        }
        free(text);
        return 0;
    }
    if (strcmp(cf_expr_text(expr), text) != 0) {
        abort();
    }
    if (cf_expr_bind(expr, fuzz_schema, &err) == 0) {
        enum cf_type type = cf_expr_type(expr);
        struct cf_schema *os = cf_schema_create();
        cf_schema_add(os, "out", type);
        struct cf_batch *out = cf_batch_create(os, FUZZ_ROWS);
        cf_schema_release(os);
        struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
        cf_expr_eval(expr, ctx, fuzz_batch, &out->cols[0], &out->arena);
        /* Touch every result so ASan checks string views and nulls were written. */
        volatile uint64_t sink = 0;
        for (uint32_t r = 0; r < fuzz_batch->n; r++) {
            uint8_t nul = out->cols[0].nulls[r];
            if (nul > 1) {
                abort();
            }
            if (!nul && type == CF_TYPE_STRING) {
                const struct cf_str *s = &out->cols[0].v.str[r];
                for (uint32_t k = 0; k < s->len; k++) {
                    sink += (unsigned char)s->ptr[k];
                }
            }
        }
        (void)sink;
        if (type == CF_TYPE_BOOL || type == CF_TYPE_NULL) {
            uint8_t keep[FUZZ_ROWS];
            struct cf_arena scratch;
            cf_arena_init(&scratch, 0);
            int kept = cf_expr_eval_filter(expr, ctx, fuzz_batch, keep, &scratch);
            int count = 0;
            for (uint32_t r = 0; r < fuzz_batch->n; r++) {
                /* keep[r] is exactly "the value is TRUE". */
                int want = type == CF_TYPE_BOOL && !out->cols[0].nulls[r] && out->cols[0].v.b[r];
                if (keep[r] != want) {
                    abort();
                }
                count += keep[r];
            }
            if (count != kept) {
                abort();
            }
            cf_arena_destroy(&scratch);
        }
        cf_expr_eval_ctx_destroy(ctx);
        cf_batch_destroy(out);
    } else if (!err.msg[0] || err.code == 0) {
        abort();
    }
    cf_expr_destroy(expr);
    free(text);
    return 0;
}
