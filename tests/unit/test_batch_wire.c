/* Unit tests of the batch wire format: exact layout, round trips, validation of bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/data/batch.h"
#include "common/data/batch_wire.h"

static struct cf_schema *all_types_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "name", CF_TYPE_STRING);
    cf_schema_add(s, "n", CF_TYPE_INT);
    cf_schema_add(s, "x", CF_TYPE_DOUBLE);
    cf_schema_add(s, "b", CF_TYPE_BOOL);
    cf_schema_add(s, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(s, "tag", CF_TYPE_STRING);
    return s;
}

/* Row i: every field set from i, some NULLs, some empty strings. */
static void fill(struct cf_batch *b, uint32_t rows)
{
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t r = cf_batch_add_row(b);
        char name[32];
        int n = snprintf(name, sizeof(name), "user-%u", i * 7919u);
        if (i % 5 != 3) {
            cf_batch_set_str(b, 0, r, name, (size_t)n);
        }
        cf_batch_set_int(b, 1, r, (int64_t)i * -123456789 + 42);
        if (i % 3) {
            cf_batch_set_double(b, 2, r, i / 7.0);
        }
        cf_batch_set_bool(b, 3, r, i % 2);
        cf_batch_set_int(b, 4, r, 1700000000000 + i);
        cf_batch_set_str(b, 5, r, "", 0); /* empty, not NULL */
        if (i % 4 == 0) {
            cf_batch_set_str(b, 5, r, "tag", 3);
        }
        b->ts[r] = i % 6 == 5 ? CF_TS_NONE : 1700000000000 + (int64_t)i * 10;
    }
}

static void assert_same_batch(const struct cf_batch *a, const struct cf_batch *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->schema->nfields, b->schema->nfields);
    for (uint32_t r = 0; r < a->n; r++) {
        assert_int_equal(a->ts[r], b->ts[r]);
        for (uint32_t c = 0; c < a->schema->nfields; c++) {
            const struct cf_col *x = &a->cols[c], *y = &b->cols[c];
            assert_int_equal(x->nulls[r], y->nulls[r]);
            if (x->nulls[r]) {
                continue;
            }
            switch (x->type) {
            case CF_TYPE_STRING:
                assert_int_equal(x->v.str[r].len, y->v.str[r].len);
                assert_memory_equal(x->v.str[r].ptr, y->v.str[r].ptr, x->v.str[r].len);
                break;
            case CF_TYPE_DOUBLE: assert_memory_equal(&x->v.f64[r], &y->v.f64[r], 8); break;
            case CF_TYPE_BOOL: assert_int_equal(x->v.b[r], y->v.b[r]); break;
            default: assert_int_equal(x->v.i64[r], y->v.i64[r]); break;
            }
        }
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cf_schema *s = all_types_schema();
    uint32_t sizes[] = {0, 1, 2, 7, 100, CF_BATCH_ROWS};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct cf_batch *b = cf_batch_create(s, CF_BATCH_ROWS);
        fill(b, sizes[k]);
        struct cf_buf buf;
        cf_buf_init(&buf);
        cf_buf_append(&buf, "xyz", 3); /* encode appends */
        cf_batch_wire_encode(b, &buf);
        assert_int_equal(buf.len, 3 + cf_batch_wire_size(b));

        struct cf_batch *d = cf_batch_create(s, CF_BATCH_ROWS);
        struct cf_err err;
        cf_err_clear(&err);
        int rc = cf_batch_wire_decode((const uint8_t *)buf.data + 3, buf.len - 3, d, &err);
        assert_int_equal(rc, 0);
        assert_same_batch(b, d);
        /* The decoded strings live in d's arena: b can go. */
        cf_batch_destroy(b);
        if (d->n > 0) {
            assert_memory_equal(d->cols[0].v.str[0].ptr, "user-0", 6);
            assert_int_equal(d->cols[5].v.str[1].len, 0);
            assert_int_equal(d->cols[5].nulls[1], 0);
        }
        /* Re-encoding gives the same bytes. */
        struct cf_buf again;
        cf_buf_init(&again);
        cf_batch_wire_encode(d, &again);
        assert_int_equal(again.len, buf.len - 3);
        assert_memory_equal(again.data, buf.data + 3, again.len);
        cf_buf_destroy(&again);
        cf_buf_destroy(&buf);
        cf_batch_destroy(d);
    }
    cf_schema_release(s);
}

/* The exact bytes of a small batch: the layout documented in batch_wire.h. */
static void test_exact_layout(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "s", CF_TYPE_STRING);
    cf_schema_add(s, "i", CF_TYPE_INT);
    cf_schema_add(s, "b", CF_TYPE_BOOL);
    struct cf_batch *b = cf_batch_create(s, 4);
    uint32_t r = cf_batch_add_row(b);
    cf_batch_set_str(b, 0, r, "ab", 2);
    cf_batch_set_int(b, 1, r, 0x0102030405060708);
    cf_batch_set_bool(b, 2, r, 1);
    b->ts[r] = 5;
    r = cf_batch_add_row(b); /* s NULL, i NULL (garbage value must not leak), b false */
    b->cols[1].v.i64[r] = 0x7777777777777777;
    cf_batch_set_bool(b, 2, r, 0);
    b->ts[r] = 6;

    uint64_t fp = cf_batch_wire_fingerprint(s);
    uint8_t want[] = {
        'C', 'F', 'W', '1',                                     /* magic */
        2,   0,   0,   0,                                       /* rows */
        0,   0,   0,   0,   0, 0, 0, 0,                         /* fingerprint, patched below */
        3,   0,   0,   0,                                       /* fields */
        1,   0,   0,   0,                                       /* flags: ts present */
        5,   0,   0,   0,   0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, /* ts */
        1,   0,   1,                                            /* s: NULL flags 0, 1 */
        2,   0,   0,   0,   0, 0, 0, 0,                         /* s: lengths 2, 0 */
        'a', 'b',                                               /* s: bytes */
        1,   0,   1,                                            /* i: NULL flags */
        8,   7,   6,   5,   4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, /* i: values (NULL row zeroed) */
        0,                                                      /* b: no NULLs */
        1,   0,                                                 /* b: values */
    };
    memcpy(want + 8, &fp, 8);
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_batch_wire_encode(b, &buf);
    assert_int_equal(buf.len, sizeof(want));
    assert_memory_equal(buf.data, want, sizeof(want));

    /* No event times: flag 0 and no array; decoding restores CF_TS_NONE. */
    b->ts[0] = b->ts[1] = CF_TS_NONE;
    cf_buf_reset(&buf);
    cf_batch_wire_encode(b, &buf);
    assert_int_equal(buf.len, sizeof(want) - 16);
    assert_int_equal((uint8_t)buf.data[20], 0);
    struct cf_batch *d = cf_batch_create(s, 4);
    assert_int_equal(cf_batch_wire_decode((const uint8_t *)buf.data, buf.len, d, NULL), 0);
    assert_int_equal(d->ts[1], CF_TS_NONE);
    assert_int_equal(d->cols[1].nulls[1], 1);
    cf_buf_destroy(&buf);
    cf_batch_destroy(d);
    cf_batch_destroy(b);
    cf_schema_release(s);
}

static void test_fingerprint(void **state)
{
    (void)state;
    struct cf_schema *a = all_types_schema();
    struct cf_schema *same = all_types_schema();
    assert_true(cf_batch_wire_fingerprint(a) == cf_batch_wire_fingerprint(same));

    struct cf_schema *renamed = cf_schema_create();
    struct cf_schema *retyped = cf_schema_create();
    struct cf_schema *shorter = cf_schema_create();
    for (uint32_t c = 0; c < a->nfields; c++) {
        cf_schema_add(renamed, c == 2 ? "y" : a->fields[c].name, a->fields[c].type);
        cf_schema_add(retyped, a->fields[c].name, c == 1 ? CF_TYPE_TIMESTAMP : a->fields[c].type);
        if (c + 1 < a->nfields) {
            cf_schema_add(shorter, a->fields[c].name, a->fields[c].type);
        }
    }
    uint64_t fp = cf_batch_wire_fingerprint(a);
    assert_true(fp != cf_batch_wire_fingerprint(renamed));
    assert_true(fp != cf_batch_wire_fingerprint(retyped));
    assert_true(fp != cf_batch_wire_fingerprint(shorter));
    struct cf_schema *empty = cf_schema_create();
    assert_true(fp != cf_batch_wire_fingerprint(empty));

    /* Decoding into another schema: CF_ETYPE, the batch stays empty. */
    struct cf_batch *b = cf_batch_create(a, 16);
    fill(b, 10);
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_batch_wire_encode(b, &buf);
    struct cf_schema *others[] = {renamed, retyped, shorter, empty};
    for (size_t k = 0; k < 4; k++) {
        struct cf_batch *d = cf_batch_create(others[k], 16);
        struct cf_err err;
        cf_err_clear(&err);
        assert_int_equal(cf_batch_wire_decode((const uint8_t *)buf.data, buf.len, d, &err),
                         CF_ETYPE);
        assert_int_equal(err.code, CF_ETYPE);
        assert_non_null(strstr(err.msg, "schema mismatch"));
        assert_int_equal(d->n, 0);
        cf_batch_destroy(d);
    }
    cf_buf_destroy(&buf);
    cf_batch_destroy(b);
    cf_schema_release(a);
    cf_schema_release(same);
    cf_schema_release(renamed);
    cf_schema_release(retyped);
    cf_schema_release(shorter);
    cf_schema_release(empty);
}

static void expect_parse_error(struct cf_schema *s, const uint8_t *p, size_t len, uint32_t cap,
                               const char *what)
{
    struct cf_batch *d = cf_batch_create(s, cap);
    struct cf_err err;
    cf_err_clear(&err);
    int rc = cf_batch_wire_decode(p, len, d, &err);
    if (rc != CF_EPARSE) {
        fail_msg("%s: expected CF_EPARSE, got %d (%s)", what, rc, err.msg);
    }
    if (what && !strstr(err.msg, what)) {
        fail_msg("expected '%s' in '%s'", what, err.msg);
    }
    assert_int_equal(d->n, 0);
    assert_int_equal(d->arena.used, 0);
    cf_batch_destroy(d);
}

static void test_truncation_and_corruption(void **state)
{
    (void)state;
    struct cf_schema *s = all_types_schema();
    struct cf_batch *b = cf_batch_create(s, CF_BATCH_ROWS);
    fill(b, 20);
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_batch_wire_encode(b, &buf);
    const uint8_t *enc = (const uint8_t *)buf.data;
    size_t len = buf.len;

    /* Every proper prefix is an error (each in a fresh heap copy so ASan sees overreads). */
    for (size_t l = 0; l < len; l++) {
        uint8_t *copy = malloc(l ? l : 1);
        memcpy(copy, enc, l);
        expect_parse_error(s, copy, l, CF_BATCH_ROWS, NULL);
        free(copy);
    }
    uint8_t *m = malloc(len + 1);

#define MUTATE(off, val, what)                                                                     \
    do {                                                                                           \
        memcpy(m, enc, len);                                                                       \
        m[off] = (val);                                                                            \
        expect_parse_error(s, m, len, CF_BATCH_ROWS, what);                                        \
    } while (0)

    MUTATE(0, 'X', "bad magic");
    MUTATE(20, 3, "unknown flags");
    /* More rows than fit. */
    expect_parse_error(s, enc, len, 10, "more rows");
    /* Column 0 (string) flags byte follows the header and ts array. */
    size_t col0 = CF_BATCH_WIRE_HEADER + 20 * 8;
    MUTATE(col0, 2, "unknown column flags");
    MUTATE(col0 + 1, 2, "NULL flag not 0 or 1");
    /* Row 3 of column 0 is NULL: give it a length. */
    size_t lens0 = col0 + 1 + 20;
    MUTATE(lens0 + 3 * 4, 1, "NULL string with a length");
    /* A huge length. */
    MUTATE(lens0 + 3, 0xff, "string bytes beyond the end");
    memcpy(m, enc, len);
    m[len] = 0;
    expect_parse_error(s, m, len + 1, CF_BATCH_ROWS, "trailing bytes");
    /* Dropping the ts flag shifts everything: an error, never a crash. */
    MUTATE(20, 0, NULL);
#undef MUTATE
    free(m);

    /* Booleans must be 0 or 1. */
    struct cf_schema *bs = cf_schema_create();
    cf_schema_add(bs, "b", CF_TYPE_BOOL);
    struct cf_batch *bb = cf_batch_create(bs, 4);
    cf_batch_set_bool(bb, 0, cf_batch_add_row(bb), 1);
    cf_buf_reset(&buf);
    cf_batch_wire_encode(bb, &buf);
    buf.data[buf.len - 1] = 2;
    expect_parse_error(bs, (const uint8_t *)buf.data, buf.len, 4, "boolean not 0 or 1");
    cf_batch_destroy(bb);
    cf_schema_release(bs);

    cf_buf_destroy(&buf);
    cf_batch_destroy(b);
    cf_schema_release(s);
}

/* Random damage to valid encodings: decode either succeeds or fails cleanly. */
static void test_random_damage(void **state)
{
    (void)state;
    struct cf_schema *s = all_types_schema();
    struct cf_batch *b = cf_batch_create(s, CF_BATCH_ROWS);
    fill(b, 50);
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_batch_wire_encode(b, &buf);
    struct cf_batch *d = cf_batch_create(s, CF_BATCH_ROWS);
    uint8_t *m = malloc(buf.len);
    srand(7);
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(m, buf.data, buf.len);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++) {
            m[(size_t)rand() % buf.len] ^= (uint8_t)(1u << (rand() % 8));
        }
        size_t l = it % 3 == 0 ? (size_t)rand() % (buf.len + 1) : buf.len;
        int rc = cf_batch_wire_decode(m, l, d, NULL);
        if (rc == 0) {
            ok++;
            assert_true(d->n <= CF_BATCH_ROWS);
        } else {
            bad++;
            assert_true(rc == CF_EPARSE || rc == CF_ETYPE);
            assert_int_equal(d->n, 0);
        }
        cf_batch_reset(d);
    }
    assert_true(ok > 0 && bad > 0); /* flipping value bytes keeps it valid; others do not */
    free(m);
    cf_batch_destroy(d);
    cf_buf_destroy(&buf);
    cf_batch_destroy(b);
    cf_schema_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_exact_layout),
        cmocka_unit_test(test_fingerprint),   cmocka_unit_test(test_truncation_and_corruption),
        cmocka_unit_test(test_random_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
