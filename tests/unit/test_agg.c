/* Unit tests of common/data/agg: aggregate functions, merging and serialization. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/data/agg.h"

static struct cf_schema *schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "name", CF_TYPE_STRING);
    cf_schema_add(s, "n", CF_TYPE_INT);
    cf_schema_add(s, "x", CF_TYPE_DOUBLE);
    return s;
}

/* Rows: (name, n, x) with NULL where the pointer / flag says so. */
struct row {
    const char *name;
    int has_n;
    int64_t n;
    int has_x;
    double x;
    int64_t ts;
};

static struct cf_batch *batch_of(struct cf_schema *s, const struct row *rows, int count)
{
    struct cf_batch *b = cf_batch_create(s, CF_BATCH_ROWS);
    for (int i = 0; i < count; i++) {
        uint32_t r = cf_batch_add_row(b);
        if (rows[i].name) {
            cf_batch_set_str(b, 0, r, rows[i].name, strlen(rows[i].name));
        }
        if (rows[i].has_n) {
            cf_batch_set_int(b, 1, r, rows[i].n);
        }
        if (rows[i].has_x) {
            cf_batch_set_double(b, 2, r, rows[i].x);
        }
        b->ts[r] = rows[i].ts;
    }
    return b;
}

static const char *SPEC = "{\"c\": \"count(*)\", \"cn\": \"count(n)\", \"s\": \"sum(n)\", "
                          "\"sx\": \"sum(x)\", \"lo\": \"min(name)\", \"hi\": \"max(n)\", "
                          "\"a\": \"avg(x)\", \"d\": \"count_distinct(name)\", "
                          "\"f\": \"first(name)\", \"l\": \"last(name)\", \"dn\": "
                          "\"count_distinct(n * 2)\"}";

struct fixture {
    struct cf_schema *in;
    struct cf_aggs aggs;
    struct cf_schema *out;
    struct cf_aggs_eval *ev;
    struct cf_arena scratch;
};

static void setup(struct fixture *f)
{
    f->in = schema();
    cJSON *obj = cJSON_Parse(SPEC);
    struct cf_err err;
    cf_err_clear(&err);
    if (cf_aggs_parse(&f->aggs, obj, f->in, "op.aggregates", &err) != 0) {
        fail_msg("%s", err.msg);
    }
    cJSON_Delete(obj);
    f->out = cf_schema_create();
    assert_int_equal(cf_aggs_add_fields(&f->aggs, f->out, "p", &err), 0);
    f->ev = cf_aggs_eval_create(&f->aggs);
    cf_arena_init(&f->scratch, 0);
}

static void teardown(struct fixture *f)
{
    cf_aggs_eval_destroy(f->ev);
    cf_arena_destroy(&f->scratch);
    cf_aggs_destroy(&f->aggs);
    cf_schema_release(f->in);
    cf_schema_release(f->out);
}

static void fold_rows(struct fixture *f, struct cf_agg_slot *acc, const struct row *rows, int count)
{
    struct cf_batch *b = batch_of(f->in, rows, count);
    cf_aggs_eval_batch(f->ev, b, &f->scratch);
    for (uint32_t r = 0; r < b->n; r++) {
        cf_aggs_update(&f->aggs, f->ev, acc, r, b->ts[r]);
    }
    cf_batch_destroy(b);
    cf_arena_reset(&f->scratch);
}

/* Output of acc as text "c=.. cn=.. ..." for exact comparison. */
static void text_of(struct fixture *f, const struct cf_agg_slot *acc, char *out, size_t size)
{
    struct cf_batch *b = cf_batch_create(f->out, 1);
    uint32_t r = cf_batch_add_row(b);
    cf_aggs_output(&f->aggs, acc, b, r, 0);
    struct cf_buf buf;
    cf_buf_init(&buf);
    for (uint32_t c = 0; c < f->out->nfields; c++) {
        cf_buf_appendf(&buf, "%s%s=", c ? " " : "", f->out->fields[c].name);
        cf_batch_value_text(b, c, r, &buf);
    }
    snprintf(out, size, "%s", buf.data);
    cf_buf_destroy(&buf);
    cf_batch_destroy(b);
}

static const struct row ROWS[] = {
    {"bob", 1, 5, 1, 1.5, 300},    {"alice", 1, 7, 0, 0, 100}, {NULL, 0, 0, 1, 2.5, 200},
    {"carol", 1, 5, 1, -1.0, 100}, {"bob", 1, -2, 0, 0, 400},
};

static void test_update_and_nulls(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct cf_agg_slot acc[16];
    char text[512];
    cf_aggs_init(&f.aggs, acc);
    text_of(&f, acc, text, sizeof(text));
    /* No rows: counts 0, everything else NULL. */
    assert_string_equal(text, "c=0 cn=0 s=null sx=null lo=null hi=null a=null d=0 f=null "
                              "l=null dn=0");
    fold_rows(&f, acc, ROWS, 5);
    text_of(&f, acc, text, sizeof(text));
    /* first: smallest ts (100) has alice and carol: the smaller value wins; last: ts 400. */
    assert_string_equal(text, "c=5 cn=4 s=15 sx=3 lo=alice hi=7 a=1 d=3 f=alice l=bob dn=3");
    cf_aggs_free(&f.aggs, acc);
    teardown(&f);
}

static void test_merge_equals_single_pass(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct cf_agg_slot whole[16], a[16], b[16];
    char t1[512], t2[512];
    cf_aggs_init(&f.aggs, whole);
    cf_aggs_init(&f.aggs, a);
    cf_aggs_init(&f.aggs, b);
    fold_rows(&f, whole, ROWS, 5);
    fold_rows(&f, a, ROWS, 2);
    fold_rows(&f, b, ROWS + 2, 3);
    cf_aggs_merge(&f.aggs, b, a); /* order of panes must not matter */
    text_of(&f, whole, t1, sizeof(t1));
    text_of(&f, b, t2, sizeof(t2));
    assert_string_equal(t1, t2);
    cf_aggs_free(&f.aggs, whole);
    cf_aggs_free(&f.aggs, a);
    cf_aggs_free(&f.aggs, b);
    teardown(&f);
}

static void test_serialize_round_trip(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct cf_agg_slot acc[16], back[16];
    cf_aggs_init(&f.aggs, acc);
    fold_rows(&f, acc, ROWS, 5);
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_aggs_serialize(&f.aggs, acc, &buf);
    assert_int_equal(cf_aggs_deserialize(&f.aggs, back, buf.data, buf.len), 0);
    char t1[512], t2[512];
    text_of(&f, acc, t1, sizeof(t1));
    text_of(&f, back, t2, sizeof(t2));
    assert_string_equal(t1, t2);
    /* Every truncation is rejected cleanly. */
    for (size_t n = 0; n < buf.len; n++) {
        struct cf_agg_slot bad[16];
        assert_int_equal(cf_aggs_deserialize(&f.aggs, bad, buf.data, n), CF_EPARSE);
    }
    cf_buf_destroy(&buf);
    cf_aggs_free(&f.aggs, acc);
    cf_aggs_free(&f.aggs, back);
    teardown(&f);
}

/* count_distinct keeps strings up to 16 bytes in its entries and longer ones apart: every
 * length counts exactly, through growth, merges and serialization. */
static void test_distinct_strings(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    static char names[300][64];
    struct row rows[300];
    for (int i = 0; i < 300; i++) {
        int len = i % 50; /* 0..49 bytes, each length 6 times, all distinct */
        snprintf(names[i], sizeof(names[i]), "%03d%.*s", i, len,
                 "-abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
        rows[i] = (struct row){names[i], 0, 0, 0, 0, i};
    }
    struct cf_agg_slot acc[16], other[16], back[16];
    cf_aggs_init(&f.aggs, acc);
    cf_aggs_init(&f.aggs, other);
    fold_rows(&f, acc, rows, 200);
    fold_rows(&f, acc, rows, 100); /* again: no new value */
    fold_rows(&f, other, rows + 150, 150);
    char t[512];
    text_of(&f, acc, t, sizeof(t));
    assert_non_null(strstr(t, " d=200 "));
    cf_aggs_merge(&f.aggs, acc, other);
    text_of(&f, acc, t, sizeof(t));
    assert_non_null(strstr(t, " d=300 "));
    struct cf_buf buf;
    cf_buf_init(&buf);
    cf_aggs_serialize(&f.aggs, acc, &buf);
    assert_int_equal(cf_aggs_deserialize(&f.aggs, back, buf.data, buf.len), 0);
    fold_rows(&f, back, rows, 300);
    text_of(&f, back, t, sizeof(t));
    assert_non_null(strstr(t, " d=300 "));
    cf_buf_destroy(&buf);
    cf_aggs_free(&f.aggs, acc);
    cf_aggs_free(&f.aggs, other);
    cf_aggs_free(&f.aggs, back);
    teardown(&f);
}

static void test_sum_overflow_is_null(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct cf_agg_slot acc[16];
    cf_aggs_init(&f.aggs, acc);
    struct row big[2] = {{"a", 1, INT64_MAX, 0, 0, 1}, {"a", 1, 1, 0, 0, 2}};
    fold_rows(&f, acc, big, 2);
    char text[512];
    text_of(&f, acc, text, sizeof(text));
    assert_non_null(strstr(text, " s=null "));
    assert_non_null(strstr(text, " cn=2 "));
    cf_aggs_free(&f.aggs, acc);
    teardown(&f);
}

static void test_string_values_grow_and_shrink(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct cf_agg_slot acc[16];
    cf_aggs_init(&f.aggs, acc);
    /* last(name) replaces the value on every row; lengths go up and down. */
    static const char *const names[] = {"a", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cc",
                                        "ddddddddddddddddd", "e"};
    for (int i = 0; i < 5; i++) {
        struct row one = {names[i], 1, i, 0, 0, 1000 + i};
        fold_rows(&f, acc, &one, 1);
    }
    char text[512];
    text_of(&f, acc, text, sizeof(text));
    assert_non_null(strstr(text, " l=e "));
    assert_non_null(strstr(text, " f=a "));
    assert_non_null(strstr(text, " lo=a "));
    assert_non_null(strstr(text, " d=5 "));
    cf_aggs_free(&f.aggs, acc);
    teardown(&f);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct cf_schema *in = schema();
    const char *cases[][2] = {
        {"{\"a\": \"median(n)\"}", "op.a: unknown aggregate 'median'"},
        {"{\"a\": \"sum(name)\"}", "op.a: sum() needs a number, not string"},
        {"{\"a\": \"count\"}", "op.a: \"count\" is not an aggregate"},
        {"{\"a\": \"sum(nope)\"}", "op.a: unknown field 'nope'"},
        {"{\"a\": \"max()\"}", "op.a: max() needs an argument"},
        {"{\"a\": 5}", "op.a: must be a string"},
        {"{}", "op: must be an object"},
        {"{\"a\": \"sum(n) x\"}", "unexpected text after ')'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *obj = cJSON_Parse(cases[i][0]);
        struct cf_aggs aggs;
        struct cf_err err;
        cf_err_clear(&err);
        assert_int_equal(cf_aggs_parse(&aggs, obj, in, "op", &err), CF_ESPEC);
        if (!strstr(err.msg, cases[i][1])) {
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i][1], err.msg);
        }
        cJSON_Delete(obj);
    }
    cf_schema_release(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_and_nulls),
        cmocka_unit_test(test_merge_equals_single_pass),
        cmocka_unit_test(test_serialize_round_trip),
        cmocka_unit_test(test_distinct_strings),
        cmocka_unit_test(test_sum_overflow_is_null),
        cmocka_unit_test(test_string_values_grow_and_shrink),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
