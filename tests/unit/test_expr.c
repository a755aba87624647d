/*
 * test_expr.c - the expression engine: parsing, binding (types and messages), evaluation
 * with SQL NULL semantics, filters, batches larger than CF_BATCH_ROWS, concurrency.
 *
 * Most tests evaluate an expression over a few rows of a fixed schema and compare the
 * results, joined with '|' (NULL as "NULL"), with the exact expected text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/strutil.h"
#include "common/base/timeutil.h"
#include "common/data/batch.h"
#include "common/data/expr.h"

/* One row of the fixed test schema; each value is text parsed by the field's type, NULL
 * (left out) is SQL NULL. Timestamps are ISO-8601. */
struct row {
    const char *i, *j, *d, *e, *s, *u, *b, *c, *t, *t2;
};

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static struct cf_schema *test_schema(void)
{
    struct cf_schema *schema = cf_schema_create();
    cf_schema_add(schema, "i", CF_TYPE_INT);
    cf_schema_add(schema, "j", CF_TYPE_INT);
    cf_schema_add(schema, "d", CF_TYPE_DOUBLE);
    cf_schema_add(schema, "e", CF_TYPE_DOUBLE);
    cf_schema_add(schema, "s", CF_TYPE_STRING);
    cf_schema_add(schema, "u", CF_TYPE_STRING);
    cf_schema_add(schema, "b", CF_TYPE_BOOL);
    cf_schema_add(schema, "c", CF_TYPE_BOOL);
    cf_schema_add(schema, "t", CF_TYPE_TIMESTAMP);
    cf_schema_add(schema, "t2", CF_TYPE_TIMESTAMP);
    cf_schema_add(schema, "my field", CF_TYPE_INT);
    return schema;
}

static void set_value(struct cf_batch *batch, uint32_t c, uint32_t r, const char *v)
{
    if (!v) {
        return; /* cf_batch_add_row left it NULL */
    }
    int64_t x;
    double f;
    switch (batch->schema->fields[c].type) {
    case CF_TYPE_INT:
        assert_int_equal(cf_int_parse(v, strlen(v), &x), 0);
        cf_batch_set_int(batch, c, r, x);
        break;
    case CF_TYPE_DOUBLE:
        assert_int_equal(cf_double_parse(v, strlen(v), &f), 0);
        cf_batch_set_double(batch, c, r, f);
        break;
    case CF_TYPE_STRING: cf_batch_set_str(batch, c, r, v, strlen(v)); break;
    case CF_TYPE_BOOL: cf_batch_set_bool(batch, c, r, strcmp(v, "true") == 0); break;
    case CF_TYPE_TIMESTAMP:
        assert_int_equal(cf_ts_parse(v, strlen(v), &x), 0);
        cf_batch_set_int(batch, c, r, x);
        break;
    default: fail();
    }
}

/* A batch of the test schema holding rows (repeated to fill `total` rows if larger). */
static struct cf_batch *make_batch(const struct row *rows, size_t n, size_t total)
{
    struct cf_schema *schema = test_schema();
    if (total < n) {
        total = n;
    }
    struct cf_batch *batch = cf_batch_create(schema, (uint32_t)(total ? total : 1));
    cf_schema_release(schema);
    for (size_t k = 0; k < total; k++) {
        const struct row *rw = &rows[k % n];
        uint32_t r = cf_batch_add_row(batch);
        const char *vals[] = {rw->i, rw->j, rw->d, rw->e,  rw->s, rw->u,
                              rw->b, rw->c, rw->t, rw->t2, NULL};
        for (uint32_t c = 0; c < batch->schema->nfields; c++) {
            set_value(batch, c, r, vals[c]);
        }
    }
    return batch;
}

static void format_value(const struct cf_col *col, uint32_t r, char *buf, size_t size)
{
    if (col->nulls[r]) {
        snprintf(buf, size, "NULL");
        return;
    }
    switch (col->type) {
    case CF_TYPE_INT: snprintf(buf, size, "%" PRId64, col->v.i64[r]); break;
    case CF_TYPE_DOUBLE: cf_double_format(col->v.f64[r], buf); break;
    case CF_TYPE_BOOL: snprintf(buf, size, "%s", col->v.b[r] ? "true" : "false"); break;
    case CF_TYPE_STRING:
        snprintf(buf, size, "%.*s", (int)col->v.str[r].len, col->v.str[r].ptr);
        break;
    case CF_TYPE_TIMESTAMP: cf_ts_format(col->v.i64[r], buf, size); break;
    default: snprintf(buf, size, "?");
    }
}

static struct cf_expr *parse_bind(const char *text)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_expr *expr = cf_expr_parse(text, &err);
    if (!expr) {
        print_error("parse of \"%s\" failed: %s\n", text, err.msg);
        fail();
    }
    struct cf_schema *schema = test_schema();
    int rc = cf_expr_bind(expr, schema, &err);
    cf_schema_release(schema);
    if (rc) {
        print_error("bind of \"%s\" failed: %s\n", text, err.msg);
        fail();
    }
    return expr;
}

/* Evaluates text over rows; returns the values joined by '|' (static buffer). */
static char result_buf[1 << 16];

static const char *ev_n(const char *text, const struct row *rows, size_t n, size_t total)
{
    struct cf_expr *expr = parse_bind(text);
    struct cf_batch *in = make_batch(rows, n, total);
    struct cf_schema *os = cf_schema_create();
    cf_schema_add(os, "out", cf_expr_type(expr));
    struct cf_batch *out = cf_batch_create(os, in->cap);
    cf_schema_release(os);
    /* Poison the output so rows the engine forgets to write show up. */
    memset(out->cols[0].nulls, 0xAA, in->cap);
    struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
    assert_int_equal(cf_expr_eval(expr, ctx, in, &out->cols[0], &out->arena), 0);
    size_t off = 0;
    result_buf[0] = '\0';
    for (uint32_t r = 0; r < in->n; r++) {
        char v[256];
        assert_true(out->cols[0].nulls[r] == 0 || out->cols[0].nulls[r] == 1);
        format_value(&out->cols[0], r, v, sizeof(v));
        off +=
            (size_t)snprintf(result_buf + off, sizeof(result_buf) - off, "%s%s", r ? "|" : "", v);
        assert_true(off < sizeof(result_buf));
    }
    cf_expr_eval_ctx_destroy(ctx);
    cf_batch_destroy(out);
    cf_batch_destroy(in);
    cf_expr_destroy(expr);
    return result_buf;
}

#define EV(text, rows)              ev_n(text, rows, NROWS(rows), 0)
#define CHECK(text, rows, expected) assert_string_equal(EV(text, rows), expected)

/* One row with a value in every field. */
static const struct row one[] = {{.i = "7",
                                  .j = "2",
                                  .d = "2.5",
                                  .e = "-1.5",
                                  .s = "Hello",
                                  .u = "",
                                  .b = "true",
                                  .c = "false",
                                  .t = "2024-10-22T18:05:30.250Z",
                                  .t2 = "2024-10-22T18:00:00Z"}};
/* One row with every field NULL. */
static const struct row nul[] = {{0}};

#define CHECK1(text, expected) CHECK(text, one, expected)

static enum cf_type type_of(const char *text)
{
    struct cf_expr *expr = parse_bind(text);
    enum cf_type t = cf_expr_type(expr);
    cf_expr_destroy(expr);
    return t;
}

static char err_buf[CF_ERR_MSG_MAX];

/* The parse error of text (which must fail to parse). */
static const char *parse_err(const char *text)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_expr *expr = cf_expr_parse(text, &err);
    if (expr) {
        print_error("\"%s\" parsed but should not\n", text);
        cf_expr_destroy(expr);
        fail();
    }
    assert_int_equal(err.code, CF_EPARSE);
    snprintf(err_buf, sizeof(err_buf), "%s", err.msg);
    return err_buf;
}

/* The bind error of text (which must parse and fail to bind); *code gets the code. */
static const char *bind_err_code(const char *text, int *code)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_expr *expr = cf_expr_parse(text, &err);
    if (!expr) {
        print_error("parse of \"%s\" failed: %s\n", text, err.msg);
        fail();
    }
    struct cf_schema *schema = test_schema();
    int rc = cf_expr_bind(expr, schema, &err);
    cf_schema_release(schema);
    if (rc == 0) {
        print_error("\"%s\" bound but should not\n", text);
        cf_expr_destroy(expr);
        fail();
    }
    assert_int_equal(rc, err.code);
    assert_int_equal(cf_expr_type(expr), CF_TYPE_NULL);
    assert_int_equal(cf_expr_field_index(expr), -1);
    cf_expr_destroy(expr);
    *code = rc;
    snprintf(err_buf, sizeof(err_buf), "%s", err.msg);
    return err_buf;
}

static const char *bind_err(const char *text)
{
    int code;
    const char *msg = bind_err_code(text, &code);
    assert_true(code == CF_ETYPE || code == CF_ENOENT);
    return msg;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) {
        print_error("\"%s\"\n  does not contain\n\"%s\"\n", haystack, needle);
        fail();
    }
}

/* ------------------------------------------------------------------------------------------ */

static void test_literals(void **state)
{
    (void)state;
    CHECK1("42", "42");
    CHECK1("-42", "-42");
    CHECK1("-9223372036854775808", "-9223372036854775808");
    CHECK1("9223372036854775807", "9223372036854775807");
    CHECK1("2.5", "2.5");
    CHECK1("1e3", "1000.0");
    CHECK1("1.5E-1", "0.15");
    CHECK1(".5", "0.5");
    CHECK1("'text'", "text");
    CHECK1("'it''s'", "it's");
    CHECK1("''", "");
    CHECK1("TRUE", "true");
    CHECK1("true", "true");
    CHECK1("False", "false");
    CHECK1("NULL", "NULL");
    CHECK1("null", "NULL");
    CHECK1("\"i\"", "7");
    CHECK1("\"my field\"", "NULL");
    CHECK1("  i  ", "7");
    CHECK1("s", "Hello");
    CHECK1("(((i)))", "7");
    CHECK1("+i", "7");
    CHECK1("- -i", "7");
    CHECK1("--5", "5");
    assert_int_equal(type_of("42"), CF_TYPE_INT);
    assert_int_equal(type_of("2.5"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("1e3"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("'x'"), CF_TYPE_STRING);
    assert_int_equal(type_of("TRUE"), CF_TYPE_BOOL);
    assert_int_equal(type_of("NULL"), CF_TYPE_NULL);
    assert_int_equal(type_of("t"), CF_TYPE_TIMESTAMP);
}

static void test_arith_int(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "7", .j = "2"}, {.i = "-7", .j = "2"}, {.i = "7", .j = "-2"}, {.i = "-7", .j = "-2"},
        {.i = "7", .j = "0"}, {.i = "0", .j = "5"},  {.i = NULL, .j = "1"}, {.i = "1", .j = NULL},
    };
    CHECK("i + j", r, "9|-5|5|-9|7|5|NULL|NULL");
    CHECK("i - j", r, "5|-9|9|-5|7|-5|NULL|NULL");
    CHECK("i * j", r, "14|-14|-14|14|0|0|NULL|NULL");
    CHECK("i / j", r, "3|-3|-3|3|NULL|0|NULL|NULL");
    CHECK("i % j", r, "1|-1|1|-1|NULL|0|NULL|NULL");
    CHECK("-i", r, "-7|7|-7|7|-7|0|NULL|-1");
    assert_int_equal(type_of("i + j"), CF_TYPE_INT);
    assert_int_equal(type_of("i / j"), CF_TYPE_INT);
    /* Precedence and associativity. */
    CHECK1("1 + 2 * 3", "7");
    CHECK1("(1 + 2) * 3", "9");
    CHECK1("7 - 2 - 1", "4");
    CHECK1("100 / 10 / 5", "2");
    CHECK1("2 * -3", "-6");
    CHECK1("-i * 2", "-14");
    CHECK1("17 % 5 * 2", "4");
    CHECK1("i + j * 2 - 1", "10");
    /* Division by zero never traps. */
    CHECK1("1 / 0", "NULL");
    CHECK1("1 % 0", "NULL");
    CHECK1("i / (j - 2)", "NULL");
    CHECK1("i % (j - 2)", "NULL");
    assert_int_equal(type_of("1 / 0"), CF_TYPE_INT);
}

static void test_int_overflow(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "9223372036854775807", .j = "1"},
        {.i = "-9223372036854775808", .j = "-1"},
        {.i = "4611686018427387904", .j = "2"},
        {.i = "-9223372036854775808", .j = "2"},
    };
    CHECK("i + j", r, "NULL|NULL|4611686018427387906|-9223372036854775806");
    CHECK("i - j", r, "9223372036854775806|-9223372036854775807|4611686018427387902|NULL");
    CHECK("i * j", r, "9223372036854775807|NULL|NULL|NULL");
    CHECK("i / j", r, "9223372036854775807|NULL|2305843009213693952|-4611686018427387904");
    CHECK("i % j", r, "0|0|0|0");
    CHECK("-i", r, "-9223372036854775807|NULL|-4611686018427387904|NULL");
    CHECK("abs(i)", r, "9223372036854775807|NULL|4611686018427387904|NULL");
    /* Folded at bind time: same rules. */
    CHECK1("9223372036854775807 + 1", "NULL");
    CHECK1("-9223372036854775808 / -1", "NULL");
    CHECK1("-9223372036854775808 % -1", "0");
    CHECK1("-(-9223372036854775808)", "NULL");
    CHECK1("t + 9223372036854775807", "NULL");
}

static void test_arith_double(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .d = "2.5", .e = "0.5"},
        {.i = "-3", .d = "7.5", .e = "2"},
        {.i = "4", .d = "1", .e = "0"},
        {.i = "4", .d = NULL, .e = "1"},
    };
    CHECK("d + e", r, "3.0|9.5|1.0|NULL");
    CHECK("d - e", r, "2.0|5.5|1.0|NULL");
    CHECK("d * e", r, "1.25|15.0|0.0|NULL");
    CHECK("d / e", r, "5.0|3.75|NULL|NULL");
    CHECK("d % e", r, "0.0|1.5|NULL|NULL");
    CHECK("i + d", r, "3.5|4.5|5.0|NULL");
    CHECK("i * e", r, "0.5|-6.0|0.0|4.0");
    CHECK("-d", r, "-2.5|-7.5|-1.0|NULL");
    assert_int_equal(type_of("i + d"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("d + i"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("1 / 2.0"), CF_TYPE_DOUBLE);
    CHECK1("1 / 2", "0");
    CHECK1("1 / 2.0", "0.5");
    CHECK1("1.0 / 0", "NULL");
    CHECK1("7.5 % 2", "1.5");
    CHECK1("2 * 1.5 + 1", "4.0");
}

static void test_compare(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .j = "2", .d = "1.0", .s = "a", .u = "b", .b = "false", .c = "true"},
        {.i = "2", .j = "2", .d = "2.5", .s = "ab", .u = "a", .b = "true", .c = "true"},
        {.i = "3", .j = "2", .d = "2.0", .s = "B", .u = "a", .b = "true", .c = "false"},
        {.i = NULL, .j = "2", .d = NULL, .s = "", .u = "a", .b = NULL, .c = "true"},
    };
    CHECK("i = j", r, "false|true|false|NULL");
    CHECK("i <> j", r, "true|false|true|NULL");
    CHECK("i != j", r, "true|false|true|NULL");
    CHECK("i < j", r, "true|false|false|NULL");
    CHECK("i <= j", r, "true|true|false|NULL");
    CHECK("i > j", r, "false|false|true|NULL");
    CHECK("i >= j", r, "false|true|true|NULL");
    /* int vs double */
    CHECK("i = d", r, "true|false|false|NULL");
    CHECK("i < d", r, "false|true|false|NULL");
    CHECK("d > 2", r, "false|true|false|NULL");
    /* strings compare bytewise: 'B' (0x42) < 'a' (0x61), prefix sorts first */
    CHECK("s < u", r, "true|false|true|true");
    CHECK("s = 'ab'", r, "false|true|false|false");
    CHECK("s > 'a'", r, "false|true|false|false");
    CHECK("s >= ''", r, "true|true|true|true");
    CHECK("s <> ''", r, "true|true|true|false");
    /* bools: FALSE < TRUE */
    CHECK("b = c", r, "false|true|false|NULL");
    CHECK("b < c", r, "true|false|false|NULL");
    CHECK("b = TRUE", r, "false|true|true|NULL");
    /* NULL compares to NULL */
    CHECK("i = NULL", r, "NULL|NULL|NULL|NULL");
    CHECK("NULL <> 1", r, "NULL|NULL|NULL|NULL");
    CHECK1("NULL = NULL", "NULL");
    CHECK1("NULL > 5", "NULL");
    assert_int_equal(type_of("NULL = NULL"), CF_TYPE_BOOL);
    assert_int_equal(type_of("i = NULL"), CF_TYPE_BOOL);
    CHECK1("1 = 1.0", "true");
    CHECK1("'abc' < 'abd'", "true");
    CHECK1("'é' > 'z'", "true"); /* 0xc3 > 0x7a */
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.t = "2024-10-22T18:05:30.250Z", .t2 = "2024-10-22T18:00:00Z", .i = "1000"},
        {.t = "2023-01-01T00:00:00Z", .t2 = "2024-01-01T00:00:00Z", .i = "-1"},
        {.t = "1969-12-31T23:00:00Z", .t2 = "1970-01-01T00:00:00Z", .i = NULL},
        {.t = NULL, .t2 = "2024-01-01T00:00:00Z", .i = "5"},
    };
    CHECK("t > '2024-01-01'", r, "true|false|false|NULL");
    CHECK("t >= '2024-10-22T18:05:30.250Z'", r, "true|false|false|NULL");
    CHECK("t = '2024-10-22 18:05:30.250'", r, "true|false|false|NULL");
    CHECK("'2024-01-01' < t", r, "true|false|false|NULL");
    CHECK("t < t2", r, "false|true|true|NULL");
    CHECK("t > 0", r, "true|true|false|NULL");
    CHECK("t = 1729620330250", r, "true|false|false|NULL");
    CHECK("t < 1.5", r, "false|false|true|NULL");
    CHECK("t IN ('2023-01-01', '2024-10-22T18:05:30.250Z')", r, "true|true|false|NULL");
    CHECK("t IN ('2023-01-01', t2)", r, "false|true|false|NULL");
    CHECK("t BETWEEN '2023-01-01' AND '2024-01-01'", r, "false|true|false|NULL");
    CHECK("t + i", r, "2024-10-22T18:05:31.250Z|2022-12-31T23:59:59.999Z|NULL|NULL");
    CHECK("i + t", r, "2024-10-22T18:05:31.250Z|2022-12-31T23:59:59.999Z|NULL|NULL");
    CHECK("t - 60000", r,
          "2024-10-22T18:04:30.250Z|2022-12-31T23:59:00.000Z|1969-12-31T22:59:00.000Z|NULL");
    CHECK("t - t2", r, "330250|-31536000000|-3600000|NULL");
    assert_int_equal(type_of("t + 1"), CF_TYPE_TIMESTAMP);
    assert_int_equal(type_of("t - 1"), CF_TYPE_TIMESTAMP);
    assert_int_equal(type_of("t - t2"), CF_TYPE_INT);
    CHECK("hour(t)", r, "18|0|23|NULL");
    CHECK("day_of_week(t)", r, "2|7|3|NULL");
    CHECK("day_of_week(t2)", r, "2|1|4|1");
    CHECK("date_format(t, '%Y-%m-%d')", r, "2024-10-22|2023-01-01|1969-12-31|NULL");
    CHECK("date_format(t, '%H:%M:%S.%L %a %u %j')", r,
          "18:05:30.250 Tue 2 296|00:00:00.000 Sun 7 001|23:00:00.000 Wed 3 365|NULL");
    CHECK("date_format(t, '')", r, "|||NULL");
    CHECK("date_format(t, 'year=%Y/month=%m %%')", r,
          "year=2024/month=10 %|year=2023/month=01 %|year=1969/month=12 %|NULL");
    CHECK1("hour('2024-10-22T07:59:59Z')", "7");
    CHECK1("day_of_week('2024-10-27')", "7");
    CHECK1("date_format('2024-10-22', '%F')", "2024-10-22");
    CHECK1("hour(NULL)", "NULL");
    /* date_format with a format from data: a bad one gives NULL */
    static const struct row f[] = {
        {.t = "2024-10-22T18:05:30Z", .s = "%Y"},
        {.t = "2024-10-22T18:05:30Z", .s = "%Q"},
        {.t = "2024-10-22T18:05:30Z", .s = "%"},
        {.t = "2024-10-22T18:05:30Z", .s = NULL},
        {.t = "2024-10-22T18:05:30Z", .s = "%s%s%s%s%s%s%Y%Y%Y"},
    };
    CHECK("date_format(t, s)", f,
          "2024|NULL|NULL|NULL|172962033017296203301729620330172962033017296203301729620330"
          "202420242024");
    /* to_timestamp */
    static const struct row g[] = {
        {.i = "1729620330250", .s = "2024-10-22T18:05:30.250Z", .d = "1729620330250.9"},
        {.i = "0", .s = "2024-10-22", .d = "-1.5"},
        {.i = NULL, .s = "garbage", .d = "1e300"},
        {.i = "-1", .s = "2024-02-30", .d = NULL},
    };
    CHECK("to_timestamp(i)", g,
          "2024-10-22T18:05:30.250Z|1970-01-01T00:00:00.000Z|NULL|1969-12-31T23:59:59.999Z");
    CHECK("to_timestamp(s)", g, "2024-10-22T18:05:30.250Z|2024-10-22T00:00:00.000Z|NULL|NULL");
    CHECK("to_timestamp(d)", g, "2024-10-22T18:05:30.250Z|1969-12-31T23:59:59.999Z|NULL|NULL");
    CHECK1("to_timestamp(t)", "2024-10-22T18:05:30.250Z");
    CHECK1("to_timestamp('nope')", "NULL");
    CHECK1("to_timestamp(0) = '1970-01-01'", "true");
    assert_int_equal(type_of("to_timestamp(i)"), CF_TYPE_TIMESTAMP);
    assert_int_equal(type_of("to_timestamp(NULL)"), CF_TYPE_TIMESTAMP);
    /* Extreme values do not crash or overflow. */
    static const struct row x[] = {
        {.i = "-9223372036854775808"},
        {.i = "9223372036854775807"},
    };
    CHECK("hour(to_timestamp(i)) >= 0 AND hour(to_timestamp(i)) < 24", x, "true|true");
    CHECK("day_of_week(to_timestamp(i)) BETWEEN 1 AND 7", x, "true|true");
    /* Formatting gives NULL within a day of INT64_MIN (cf_tm_from_ms would overflow). */
    CHECK("length(date_format(to_timestamp(i), '%Y-%m-%d %H:%M:%S.%L %s')) > 0", x, "NULL|true");
    CHECK("length(concat(to_timestamp(i))) > 0", x, "NULL|true");
    CHECK("date_format(to_timestamp(i + 86400000), '%Y') = ''", x, "false|NULL");
}

static void test_logic_truth_tables(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.b = "true", .c = "true"},  {.b = "true", .c = "false"},  {.b = "true", .c = NULL},
        {.b = "false", .c = "true"}, {.b = "false", .c = "false"}, {.b = "false", .c = NULL},
        {.b = NULL, .c = "true"},    {.b = NULL, .c = "false"},    {.b = NULL, .c = NULL},
    };
    CHECK("b AND c", r, "true|false|NULL|false|false|false|NULL|false|NULL");
    CHECK("b OR c", r, "true|true|true|true|false|NULL|true|NULL|NULL");
    CHECK("NOT b", r, "false|false|false|true|true|true|NULL|NULL|NULL");
    CHECK("NOT c", r, "false|true|NULL|false|true|NULL|false|true|NULL");
    CHECK("b AND NULL", r, "NULL|NULL|NULL|false|false|false|NULL|NULL|NULL");
    CHECK("b OR NULL", r, "true|true|true|NULL|NULL|NULL|NULL|NULL|NULL");
    CHECK("NOT (b AND c)", r, "false|true|NULL|true|true|true|NULL|true|NULL");
    CHECK("NOT b OR NOT c", r, "false|true|NULL|true|true|true|NULL|true|NULL");
    /* Literal versions are folded at bind time with the same kernels. */
    CHECK1("NULL AND FALSE", "false");
    CHECK1("FALSE AND NULL", "false");
    CHECK1("NULL AND TRUE", "NULL");
    CHECK1("NULL OR TRUE", "true");
    CHECK1("NULL OR FALSE", "NULL");
    CHECK1("NOT NULL", "NULL");
    CHECK1("NULL AND NULL", "NULL");
    CHECK1("NOT TRUE", "false");
    CHECK1("NOT NOT TRUE", "true");
    assert_int_equal(type_of("NOT NULL"), CF_TYPE_BOOL);
    assert_int_equal(type_of("NULL OR NULL"), CF_TYPE_BOOL);
    /* Precedence: NOT > AND > OR; comparisons bind tighter than NOT. */
    CHECK1("TRUE OR TRUE AND FALSE", "true");
    CHECK1("(TRUE OR TRUE) AND FALSE", "false");
    CHECK1("NOT i = 7", "false");
    CHECK1("NOT i = 8 AND b", "true");
    CHECK1("i > 5 and j < 3 OR FALSE", "true");
}

static void test_is_null(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .d = "1", .s = "x", .b = "false", .t = "2024-01-01"},
        {.s = ""},
        {0},
    };
    CHECK("i IS NULL", r, "false|true|true");
    CHECK("i IS NOT NULL", r, "true|false|false");
    CHECK("d IS NULL", r, "false|true|true");
    CHECK("s IS NULL", r, "false|false|true");
    CHECK("s is not null", r, "true|true|false");
    CHECK("b IS NULL", r, "false|true|true");
    CHECK("t IS NULL", r, "false|true|true");
    CHECK("i + 1 IS NULL", r, "false|true|true");
    CHECK("(i = 1) IS NULL", r, "false|true|true");
    CHECK("i = 1 IS NULL", r, "false|true|true");
    CHECK("i IS NULL IS NULL", r, "false|false|false");
    CHECK("NOT i IS NULL", r, "true|false|false");
    CHECK1("NULL IS NULL", "true");
    CHECK1("NULL IS NOT NULL", "false");
    CHECK1("1 / 0 IS NULL", "true");
    assert_int_equal(type_of("NULL IS NULL"), CF_TYPE_BOOL);
}

static void test_like(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.s = "abc"}, {.s = "ab"}, {.s = ""},    {.s = "xabcx"},
        {.s = "ABC"}, {.s = NULL}, {.s = "a%c"}, {.s = "\xc3\xa9"}, /* é: two bytes */
        {.s = "a_c"},
    };
    CHECK("s LIKE 'abc'", r, "true|false|false|false|false|NULL|false|false|false");
    CHECK("s LIKE 'ab%'", r, "true|true|false|false|false|NULL|false|false|false");
    CHECK("s LIKE '%bc'", r, "true|false|false|false|false|NULL|false|false|false");
    CHECK("s LIKE '%bc%'", r, "true|false|false|true|false|NULL|false|false|false");
    CHECK("s LIKE '%'", r, "true|true|true|true|true|NULL|true|true|true");
    CHECK("s LIKE '%%'", r, "true|true|true|true|true|NULL|true|true|true");
    CHECK("s LIKE ''", r, "false|false|true|false|false|NULL|false|false|false");
    CHECK("s LIKE '_'", r, "false|false|false|false|false|NULL|false|false|false");
    CHECK("s LIKE '__'", r, "false|true|false|false|false|NULL|false|true|false");
    CHECK("s LIKE '___'", r, "true|false|false|false|true|NULL|true|false|true");
    CHECK("s LIKE 'a_c'", r, "true|false|false|false|false|NULL|true|false|true");
    CHECK("s LIKE 'a%c'", r, "true|false|false|false|false|NULL|true|false|true");
    CHECK("s LIKE '%a%c%'", r, "true|false|false|true|false|NULL|true|false|true");
    CHECK("s LIKE '_%'", r, "true|true|false|true|true|NULL|true|true|true");
    CHECK("s LIKE '%_'", r, "true|true|false|true|true|NULL|true|true|true");
    CHECK("s LIKE 'ab%%'", r, "true|true|false|false|false|NULL|false|false|false");
    CHECK("s LIKE '%%bc'", r, "true|false|false|false|false|NULL|false|false|false");
    CHECK("s LIKE '\xc3%'", r, "false|false|false|false|false|NULL|false|true|false");
    CHECK("s NOT LIKE 'ab%'", r, "false|false|true|true|true|NULL|true|true|true");
    CHECK("s NOT LIKE '%'", r, "false|false|false|false|false|NULL|false|false|false");
    CHECK("s NOT LIKE '%b%'", r, "false|false|true|false|true|NULL|true|true|true");
    CHECK("NOT s LIKE 'ab%'", r, "false|false|true|true|true|NULL|true|true|true");
    CHECK("s LIKE NULL", r, "NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL");
    CHECK("lower(s) LIKE 'abc'", r, "true|false|false|false|true|NULL|false|false|false");
    /* Backtracking */
    CHECK1("'mississippi' LIKE '%iss%ppi'", "true");
    CHECK1("'mississippi' LIKE 'm%s%s%s%i'", "true");
    CHECK1("'mississippi' LIKE '%iss%iss%iss%'", "false");
    CHECK1("'aaa' LIKE '%a%a%a%'", "true");
    CHECK1("'aa' LIKE '%a%a%a%'", "false");
    CHECK1("'abc' LIKE 'a__'", "true");
    CHECK1("'abc' LIKE 'a__c'", "false");
    /* Pattern from data (not compiled) */
    static const struct row p[] = {
        {.s = "abc", .u = "a%"}, {.s = "abc", .u = "%d"}, {.s = "abc", .u = "_b_"},
        {.s = "abc", .u = ""},   {.s = "", .u = ""},      {.s = "abc", .u = NULL},
        {.s = NULL, .u = "%"},   {.s = "abc", .u = "%"},
    };
    CHECK("s LIKE u", p, "true|false|true|false|true|NULL|NULL|true");
    CHECK("s NOT LIKE u", p, "false|true|false|true|false|NULL|NULL|false");
}

static void test_in(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .j = "1", .s = "a", .d = "1.5", .b = "true"},
        {.i = "2", .j = "5", .s = "b", .d = "2", .b = "false"},
        {.i = "3", .j = "3", .s = "zz", .d = "3.25", .b = NULL},
        {.i = NULL, .j = "5", .s = NULL, .d = NULL, .b = "true"},
    };
    CHECK("i IN (1, 3, 5)", r, "true|false|true|NULL");
    CHECK("i NOT IN (1, 3, 5)", r, "false|true|false|NULL");
    CHECK("i IN (5, 3, 1, 3, 1)", r, "true|false|true|NULL");
    CHECK("i IN (1)", r, "true|false|false|NULL");
    CHECK("i IN (1, NULL)", r, "true|NULL|NULL|NULL");
    CHECK("i NOT IN (1, NULL)", r, "false|NULL|NULL|NULL");
    CHECK("i IN (NULL)", r, "NULL|NULL|NULL|NULL");
    CHECK("i IN (1.0, 2.5)", r, "true|false|false|NULL");
    CHECK("d IN (2, 3.25)", r, "false|true|true|NULL");
    CHECK("s IN ('a', 'zz', '')", r, "true|false|true|NULL");
    CHECK("s NOT IN ('a', 'zz')", r, "false|true|false|NULL");
    CHECK("b IN (TRUE)", r, "true|false|NULL|true");
    CHECK("b IN (FALSE, NULL)", r, "NULL|true|NULL|NULL");
    /* Items that are not literals */
    CHECK("i IN (j, 2)", r, "true|true|true|NULL");
    CHECK("i IN (j)", r, "true|false|true|NULL");
    CHECK("i IN (j, NULL)", r, "true|NULL|true|NULL");
    CHECK("i NOT IN (j, 7)", r, "false|true|false|NULL");
    CHECK("i NOT IN (j, NULL)", r, "false|NULL|false|NULL");
    CHECK("i IN (j + 1, i * 1)", r, "true|true|true|NULL");
    /* More than 16 literals: a binary search instead of column passes. */
    static const struct row big[] = {
        {.i = "-100", .d = "-0.0", .s = "k05"}, {.i = "0", .d = "0.5", .s = "k00"},
        {.i = "17", .d = "17.25", .s = "k17"},  {.i = "18", .d = "1e300", .s = "k18"},
        {.i = "99", .d = "99.5", .s = ""},      {.i = "100", .d = "-3.5", .s = "k1"},
        {.i = "101", .d = "100", .s = "k9"},    {.i = NULL, .d = NULL, .s = NULL},
    };
    CHECK("i IN (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 99, 100, -100)", big,
          "true|true|true|false|true|true|false|NULL");
    CHECK("i NOT IN (100, 99, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, NULL)",
          big, "NULL|NULL|false|NULL|false|false|NULL|NULL");
    CHECK("d IN (0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17.25, 99.5, -3.5)",
          big, "true|false|true|false|true|true|false|NULL");
    CHECK("s IN ('k00', 'k01', 'k02', 'k03', 'k04', 'k05', 'k06', 'k07', 'k08', 'k09', 'k10', "
          "'k11', 'k12', 'k13', 'k14', 'k15', 'k16', 'k17', 'k9', '')",
          big, "true|true|true|false|true|false|true|NULL");
    CHECK1("2 IN (1, NULL)", "NULL");
    CHECK1("1 IN (1, NULL)", "true");
    CHECK1("NULL IN (1, 2)", "NULL");
    CHECK1("2 NOT IN (1, NULL)", "NULL");
    CHECK1("2 NOT IN (1, 3)", "true");
    CHECK1("'b' in ('a', 'b')", "true");
}

static void test_between(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "0"}, {.i = "1"}, {.i = "2"}, {.i = "3"}, {.i = "4"}, {.i = NULL},
    };
    CHECK("i BETWEEN 1 AND 3", r, "false|true|true|true|false|NULL");
    CHECK("i NOT BETWEEN 1 AND 3", r, "true|false|false|false|true|NULL");
    CHECK("i BETWEEN 3 AND 1", r, "false|false|false|false|false|NULL");
    CHECK("i BETWEEN 0.5 AND 2.5", r, "false|true|true|false|false|NULL");
    /* i >= NULL is NULL, so only a false upper bound decides */
    CHECK("i BETWEEN NULL AND 2", r, "NULL|NULL|NULL|false|false|NULL");
    CHECK("i NOT BETWEEN NULL AND 2", r, "NULL|NULL|NULL|true|true|NULL");
    CHECK("i BETWEEN 2 AND NULL", r, "false|false|NULL|NULL|NULL|NULL");
    CHECK("i BETWEEN 1 AND 3 AND i <> 2", r, "false|true|false|true|false|NULL");
    CHECK("i + 1 BETWEEN i AND i + 2", r, "true|true|true|true|true|NULL");
    CHECK1("'b' BETWEEN 'a' AND 'c'", "true");
    CHECK1("s BETWEEN 'A' AND 'Z'", "true");
    CHECK1("s BETWEEN 'a' AND 'z'", "false");
}

static void test_case(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .s = "x"},
        {.i = "2", .s = "y"},
        {.i = "3", .s = NULL},
        {.i = NULL, .s = "z"},
    };
    CHECK("CASE WHEN i = 1 THEN 'one' WHEN i = 2 THEN 'two' ELSE 'many' END", r,
          "one|two|many|many");
    CHECK("CASE WHEN i = 1 THEN 'one' WHEN i = 2 THEN 'two' END", r, "one|two|NULL|NULL");
    CHECK("CASE WHEN i >= 1 THEN 'a' WHEN i >= 2 THEN 'b' END", r, "a|a|a|NULL");
    CHECK("CASE WHEN i > 1 THEN s ELSE 'low' END", r, "low|y|NULL|low");
    CHECK("CASE WHEN i IS NULL THEN -1 ELSE i * 10 END", r, "10|20|30|-1");
    CHECK("CASE WHEN i = 1 THEN 1 ELSE 2.5 END", r, "1.0|2.5|2.5|2.5");
    CHECK("CASE WHEN i = 1 THEN NULL ELSE i END", r, "NULL|2|3|NULL");
    CHECK("CASE WHEN NULL THEN 1 ELSE 2 END", r, "2|2|2|2");
    CHECK("CASE WHEN i = 9 THEN 1 END", r, "NULL|NULL|NULL|NULL");
    /* Simple CASE */
    CHECK("CASE i WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'other' END", r, "one|two|other|other");
    CHECK("CASE i WHEN 1 THEN 'one' END", r, "one|NULL|NULL|NULL");
    CHECK("CASE s WHEN 'x' THEN 1 WHEN 'z' THEN 26 END", r, "1|NULL|NULL|26");
    CHECK("CASE i WHEN NULL THEN 'null' ELSE 'not' END", r, "not|not|not|not");
    CHECK("CASE i + 1 WHEN 2.0 THEN 'two' WHEN 3 THEN 'three' END", r, "two|three|NULL|NULL");
    CHECK("case When i = 2 Then TRUE else FALSE end", r, "false|true|false|false");
    /* Nested */
    CHECK("CASE WHEN i < 3 THEN CASE WHEN i = 1 THEN 'a' ELSE 'b' END ELSE 'c' END", r, "a|b|c|c");
    CHECK1("CASE WHEN TRUE THEN 1 ELSE 2 END", "1");
    CHECK1("CASE 3 WHEN 1 THEN 'a' WHEN 3 THEN 'c' END", "c");
    assert_int_equal(type_of("CASE WHEN b THEN 1 ELSE 2.5 END"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("CASE WHEN b THEN NULL END"), CF_TYPE_NULL);
    assert_int_equal(type_of("CASE WHEN b THEN NULL ELSE 's' END"), CF_TYPE_STRING);
    assert_int_equal(type_of("CASE WHEN b THEN t END"), CF_TYPE_TIMESTAMP);
}

static void test_string_functions(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.s = "Hello World", .u = "!", .i = "42"},
        {.s = "", .u = "x", .i = "-1"},
        {.s = NULL, .u = "y", .i = "0"},
        {.s = "\xc3\x89t\xc3\xa9", .u = NULL, .i = NULL}, /* Été */
    };
    CHECK("lower(s)", r, "hello world||NULL|\xc3\x89t\xc3\xa9");
    CHECK("upper(s)", r, "HELLO WORLD||NULL|\xc3\x89T\xc3\xa9");
    CHECK("LOWER(s)", r, "hello world||NULL|\xc3\x89t\xc3\xa9");
    CHECK("length(s)", r, "11|0|NULL|5");
    CHECK("concat(s, u)", r, "Hello World!|x|NULL|NULL");
    CHECK("concat(s, '-', u, '-', s)", r, "Hello World-!-Hello World|-x-|NULL|NULL");
    CHECK("concat(u)", r, "!|x|y|NULL");
    CHECK("concat(u, i)", r, "!42|x-1|y0|NULL");
    CHECK("concat(u, NULL)", r, "NULL|NULL|NULL|NULL");
    CHECK("concat('', '')", r, "|||");
    CHECK("length(concat(s, s))", r, "22|0|NULL|10");
    CHECK1("concat(i, ':', d, ':', b, ':', c, ':', t)",
           "7:2.5:true:false:2024-10-22T18:05:30.250Z");
    CHECK1("concat(1.0, ' ', 0.1, ' ', -3)", "1.0 0.1 -3");
    /* substr is 1-based, PostgreSQL-style clamping */
    static const struct row h[] = {{.s = "hello"}};
    CHECK("substr(s, 1)", h, "hello");
    CHECK("substr(s, 2)", h, "ello");
    CHECK("substr(s, 2, 3)", h, "ell");
    CHECK("substr(s, 0, 2)", h, "h");
    CHECK("substr(s, -1, 3)", h, "h");
    CHECK("substr(s, -5, 3)", h, "");
    CHECK("substr(s, 5, 10)", h, "o");
    CHECK("substr(s, 6)", h, "");
    CHECK("substr(s, 100, 2)", h, "");
    CHECK("substr(s, 2, 0)", h, "");
    CHECK("substr(s, 2, -1)", h, "NULL");
    CHECK("substr(s, NULL)", h, "NULL");
    CHECK("substr(s, 1, NULL)", h, "NULL");
    CHECK("substr(s, -9223372036854775808, 9223372036854775807)", h, "");
    CHECK("substr(s, 2, 9223372036854775807)", h, "ello");
    CHECK("substr(s, length(s))", h, "o");
    CHECK("substr(s, 1, 1) = 'h'", h, "true");
    /* trim */
    static const struct row w[] = {
        {.s = "  a b  "}, {.s = "\t\n x\r\n"}, {.s = "   "}, {.s = ""}, {.s = "ab"}, {.s = NULL},
    };
    CHECK("concat('[', trim(s), ']')", w, "[a b]|[x]|[]|[]|[ab]|NULL");
    CHECK("length(trim(s))", w, "3|1|0|0|2|NULL");
    CHECK1("trim('  x  ') = 'x'", "true");
    CHECK1("upper(substr(s, 2))", "ELLO");
    CHECK1("lower('ÀB')", "Àb");
}

static void test_numeric_functions(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "-5", .d = "-2.5", .j = "1"},     {.i = "5", .d = "2.5", .j = "-1"},
        {.i = "1250", .d = "1.2345", .j = "2"}, {.i = "-1250", .d = "-1.2355", .j = "-2"},
        {.i = NULL, .d = NULL, .j = NULL},
    };
    CHECK("abs(i)", r, "5|5|1250|1250|NULL");
    CHECK("abs(d)", r, "2.5|2.5|1.2345|1.2355|NULL");
    CHECK("round(d)", r, "-3.0|3.0|1.0|-1.0|NULL");
    CHECK("round(d, 1)", r, "-2.5|2.5|1.2|-1.2|NULL");
    CHECK("round(d, j)", r, "-2.5|0.0|1.23|-0.0|NULL");
    CHECK("round(i)", r, "-5|5|1250|-1250|NULL");
    CHECK("round(i, -1)", r, "-10|10|1250|-1250|NULL");
    CHECK("round(i, -2)", r, "0|0|1300|-1300|NULL");
    CHECK("round(i, -3)", r, "0|0|1000|-1000|NULL");
    CHECK("round(i, -30)", r, "0|0|0|0|NULL");
    CHECK("round(i, 3)", r, "-5|5|1250|-1250|NULL");
    CHECK("floor(d)", r, "-3.0|2.0|1.0|-2.0|NULL");
    CHECK("ceil(d)", r, "-2.0|3.0|2.0|-1.0|NULL");
    CHECK("floor(i)", r, "-5|5|1250|-1250|NULL");
    CHECK("ceil(i)", r, "-5|5|1250|-1250|NULL");
    assert_int_equal(type_of("floor(i)"), CF_TYPE_INT);
    assert_int_equal(type_of("floor(d)"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("round(i, 2)"), CF_TYPE_INT);
    assert_int_equal(type_of("round(d)"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("abs(NULL)"), CF_TYPE_NULL);
    CHECK1("round(2.5)", "3.0");
    CHECK1("round(-0.5)", "-1.0");
    CHECK1("round(1234.5678, -2)", "1200.0");
    CHECK1("round(1.5, 400)", "1.5");
    CHECK1("round(1.5, -400)", "0.0");
    CHECK1("round(9223372036854775807, -1)", "NULL");
    CHECK1("round(9223372036854775807, -19)", "0");
    CHECK1("abs(-3) + abs(-2.5)", "5.5");
    /* coalesce */
    static const struct row c[] = {
        {.i = "1", .j = "2"},
        {.i = NULL, .j = "2"},
        {.i = NULL, .j = NULL},
    };
    CHECK("coalesce(i, j)", c, "1|2|NULL");
    CHECK("coalesce(i, j, 0)", c, "1|2|0");
    CHECK("coalesce(NULL, i, NULL, j, -1)", c, "1|2|-1");
    CHECK("coalesce(i, 2.5)", c, "1.0|2.5|2.5");
    CHECK("coalesce(i)", c, "1|NULL|NULL");
    CHECK("coalesce(NULL, NULL)", c, "NULL|NULL|NULL");
    CHECK("coalesce(s, 'none')", c, "none|none|none");
    CHECK("coalesce(7, i)", c, "7|7|7");
    assert_int_equal(type_of("coalesce(NULL, NULL)"), CF_TYPE_NULL);
    assert_int_equal(type_of("coalesce(i, d)"), CF_TYPE_DOUBLE);
}

static void test_null_typing(void **state)
{
    (void)state;
    assert_int_equal(type_of("NULL + 1"), CF_TYPE_INT);
    assert_int_equal(type_of("i + NULL"), CF_TYPE_INT);
    assert_int_equal(type_of("d * NULL"), CF_TYPE_DOUBLE);
    assert_int_equal(type_of("NULL + NULL"), CF_TYPE_NULL);
    assert_int_equal(type_of("-NULL"), CF_TYPE_NULL);
    assert_int_equal(type_of("lower(NULL)"), CF_TYPE_STRING);
    assert_int_equal(type_of("length(NULL)"), CF_TYPE_INT);
    assert_int_equal(type_of("concat(s, NULL)"), CF_TYPE_STRING);
    assert_int_equal(type_of("s LIKE NULL"), CF_TYPE_BOOL);
    assert_int_equal(type_of("date_format(NULL, '%Y')"), CF_TYPE_STRING);
    static const struct row r[] = {{.i = "1"}, {0}};
    CHECK("NULL", r, "NULL|NULL");
    CHECK("NULL + 1", r, "NULL|NULL");
    CHECK("i + NULL", r, "NULL|NULL");
    CHECK("lower(NULL)", r, "NULL|NULL");
    CHECK("NULL + NULL", r, "NULL|NULL");
    CHECK("i + 1", nul, "NULL");
}

static void test_type_errors(void **state)
{
    (void)state;
    int code;
    assert_contains(bind_err_code("s = 5", &code), "cannot compare string with int in 's = 5'");
    assert_int_equal(code, CF_ETYPE);
    assert_contains(bind_err("5 = s"), "cannot compare int with string in '5 = s'");
    assert_contains(bind_err("i = 1 AND s = 5"), "cannot compare string with int in 's = 5'");
    assert_contains(bind_err("b = 1"), "cannot compare bool with int in 'b = 1'");
    assert_contains(bind_err("t = s"),
                    "cannot compare timestamp with string (use to_timestamp()) in 't = s'");
    assert_contains(bind_err("t > '2024-13-01'"),
                    "cannot parse '2024-13-01' as a timestamp in 't > '2024-13-01''");
    assert_contains(bind_err("t IN ('2024-01-01', 'soon')"), "cannot parse 'soon' as a timestamp");
    assert_contains(bind_err("i IN (1, 'a')"), "cannot compare int with string");
    assert_contains(bind_err("i BETWEEN 'a' AND 'b'"), "cannot compare int with string");
    assert_contains(bind_err("CASE s WHEN 1 THEN 2 END"), "cannot compare string with int");
    assert_contains(bind_err("s + 1"), "cannot apply '+' to string and int in 's + 1'");
    assert_contains(bind_err("1 - s"), "cannot apply '-' to int and string");
    assert_contains(bind_err("s * s"), "cannot apply '*' to string and string");
    assert_contains(bind_err("b + 1"), "cannot apply '+' to bool and int");
    assert_contains(bind_err("t * 2"), "cannot apply '*' to timestamp and int");
    assert_contains(bind_err("t + t2"), "cannot apply '+' to timestamp and timestamp");
    assert_contains(bind_err("1 - t"), "cannot apply '-' to int and timestamp");
    assert_contains(bind_err("t + 1.5"), "cannot apply '+' to timestamp and double");
    assert_contains(bind_err("s % NULL"), "cannot apply '%' to string and null");
    assert_contains(bind_err("-s"), "cannot negate string in '-s'");
    assert_contains(bind_err("-t"), "cannot negate timestamp");
    assert_contains(bind_err("i AND b"), "AND needs bool operands, got int in 'i AND b'");
    assert_contains(bind_err("b OR s"), "OR needs bool operands, got string");
    assert_contains(bind_err("NOT i"), "NOT needs bool operands, got int in 'NOT i'");
    assert_contains(bind_err("i LIKE 'x'"), "LIKE needs string operands, got int");
    assert_contains(bind_err("s LIKE 5"), "LIKE needs string operands, got int");
    assert_contains(bind_err("CASE WHEN i THEN 1 END"),
                    "CASE WHEN condition must be bool, got int in 'i'");
    assert_contains(bind_err("CASE WHEN b THEN 1 ELSE 'x' END"),
                    "CASE branches have incompatible types int and string");
    assert_contains(bind_err("CASE WHEN b THEN t ELSE 1 END"),
                    "CASE branches have incompatible types timestamp and int");
    assert_contains(bind_err("coalesce(i, s)"),
                    "coalesce() arguments have incompatible types int and string");
    assert_contains(bind_err("lower(i)"), "lower() needs a string argument, got int in 'lower(i)'");
    assert_contains(bind_err("length(b)"), "length() needs a string argument, got bool");
    assert_contains(bind_err("substr(s, 'a')"), "substr() argument 2 must be int, got string");
    assert_contains(bind_err("substr(s, 1, 2.5)"), "substr() argument 3 must be int, got double");
    assert_contains(bind_err("substr(1, 1)"), "substr() argument 1 must be string, got int");
    assert_contains(bind_err("abs(s)"), "abs() needs a number argument, got string");
    assert_contains(bind_err("round(d, 1.5)"), "round() argument 2 must be int, got double");
    assert_contains(bind_err("hour(i)"), "hour() needs a timestamp argument, got int");
    assert_contains(bind_err("hour('yesterday')"), "cannot parse 'yesterday' as a timestamp");
    assert_contains(bind_err("day_of_week(s)"),
                    "day_of_week() needs a timestamp argument, got string");
    assert_contains(bind_err("date_format(t, '%Q')"), "unknown conversion '%Q'");
    assert_contains(bind_err("date_format(t, 'abc%')"), "unknown conversion '%'");
    assert_contains(bind_err("date_format(t, 5)"), "date_format() argument 2 must be string");
    assert_contains(bind_err("to_timestamp(b)"), "to_timestamp() needs an int, double, string");
    assert_contains(bind_err_code("no_such_field > 1", &code), "unknown field 'no_such_field'");
    assert_int_equal(code, CF_ENOENT);
    assert_contains(bind_err("I > 1"), "unknown field 'I'"); /* field names are case-sensitive */
    assert_contains(bind_err("\"my field \" > 1"), "unknown field 'my field '");
    assert_contains(bind_err("lower(nope)"), "unknown field 'nope'");
    /* Long texts are cut in messages. */
    char big[600];
    snprintf(big, sizeof(big), "i = '%0300d'", 1);
    const char *msg = bind_err(big);
    assert_contains(msg, "cannot compare int with string in 'i = '0000");
    assert_contains(msg, "...'");
    assert_true(strlen(msg) < 250);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_string_equal(parse_err("(a = 1"),
                        "unexpected end of expression at column 7 (expected ')')");
    assert_string_equal(parse_err("a = 1)"), "unexpected ')' at column 6");
    assert_string_equal(parse_err("f(a))"), "unknown function 'f' at column 1");
    assert_string_equal(parse_err("lower(a))"), "unexpected ')' at column 9");
    assert_string_equal(parse_err("a = 'abc"), "unterminated string starting at column 5");
    assert_string_equal(parse_err("a = 'it''s"), "unterminated string starting at column 5");
    assert_string_equal(parse_err("\"abc = 1"),
                        "unterminated quoted identifier starting at column 1");
    assert_string_equal(parse_err("\"\" = 1"), "empty quoted identifier at column 1");
    assert_string_equal(parse_err(""), "empty expression");
    assert_string_equal(parse_err("   \t\n"), "empty expression");
    assert_string_equal(parse_err("a = = 1"), "unexpected '=' at column 5");
    assert_string_equal(parse_err("a b"), "unexpected 'b' at column 3");
    assert_string_equal(parse_err("1 2"), "unexpected '2' at column 3");
    assert_string_equal(parse_err("a # b"), "unexpected character '#' at column 3");
    assert_string_equal(parse_err("a = \x01"), "unexpected byte 0x01 at column 5");
    assert_string_equal(parse_err("a !"), "unexpected character '!' at column 3");
    assert_string_equal(parse_err("a +"), "unexpected end of expression at column 4");
    assert_string_equal(parse_err("a < b < c"), "unexpected '<' at column 7");
    assert_string_equal(parse_err("12abc"), "invalid number at column 1");
    assert_string_equal(parse_err("1.2.3"), "invalid number at column 1");
    assert_string_equal(parse_err("99999999999999999999"),
                        "integer 99999999999999999999 out of range at column 1");
    assert_string_equal(parse_err("-9223372036854775809"),
                        "integer -9223372036854775809 out of range at column 1");
    assert_string_equal(parse_err("1e999"), "number 1e999 out of range at column 1");
    assert_string_equal(parse_err("foo(1)"), "unknown function 'foo' at column 1");
    assert_string_equal(parse_err("lower(1, 2)"), "lower() takes 1 argument, got 2 at column 1");
    assert_string_equal(parse_err("x = lower()"), "lower() takes 1 argument, got 0 at column 5");
    assert_string_equal(parse_err("substr('a')"),
                        "substr() takes 2 to 3 arguments, got 1 at column 1");
    assert_string_equal(parse_err("concat()"),
                        "concat() takes at least 1 argument, got 0 at column 1");
    assert_string_equal(parse_err("lower(1 2)"),
                        "unexpected '2' at column 9 (expected ',' or ')')");
    assert_string_equal(parse_err("lower(1,)"), "unexpected ')' at column 9");
    assert_string_equal(parse_err("a IN ()"), "unexpected ')' at column 7");
    assert_string_equal(parse_err("a IN 1"), "unexpected '1' at column 6 (expected '(')");
    assert_string_equal(parse_err("a IN (1, 2"),
                        "unexpected end of expression at column 11 (expected ',' or ')')");
    assert_string_equal(parse_err("a BETWEEN 1"), "unexpected end of expression at column 12");
    assert_string_equal(parse_err("a BETWEEN 1 OR 2"), "expected AND in BETWEEN at column 13");
    assert_string_equal(parse_err("a NOT 5"), "expected LIKE, IN or BETWEEN after NOT at column 7");
    assert_string_equal(parse_err("a IS 5"), "expected NULL after IS at column 6");
    assert_string_equal(parse_err("a IS"), "unexpected end of expression at column 5");
    assert_string_equal(parse_err("CASE WHEN a THEN 1"),
                        "unexpected end of expression at column 19 (expected END)");
    assert_string_equal(parse_err("CASE END"), "CASE needs at least one WHEN at column 6");
    assert_string_equal(parse_err("CASE WHEN a 1 END"), "expected THEN at column 13");
    assert_string_equal(parse_err("CASE WHEN a THEN 1 ELSE 2 WHEN"),
                        "expected WHEN, ELSE or END at column 27");
    assert_string_equal(parse_err("a AND"), "unexpected end of expression at column 6");
    assert_string_equal(parse_err("AND a"), "unexpected 'AND' at column 1");
    assert_string_equal(parse_err("a = end"), "unexpected 'end' at column 5");
    assert_string_equal(parse_err("()"), "unexpected ')' at column 2");
    assert_string_equal(parse_err("NOT"), "unexpected end of expression at column 4");
    /* Nesting limits */
    char deep[2048];
    size_t n = 0;
    for (int k = 0; k < 300; k++) {
        deep[n++] = '(';
    }
    deep[n++] = '1';
    for (int k = 0; k < 300; k++) {
        deep[n++] = ')';
    }
    deep[n] = '\0';
    assert_string_equal(parse_err(deep), "expression nested too deeply");
    n = 0;
    for (int k = 0; k < 300; k++) {
        memcpy(deep + n, "NOT ", 4);
        n += 4;
    }
    memcpy(deep + n, "b", 2);
    assert_string_equal(parse_err(deep), "expression nested too deeply");
    n = 0;
    for (int k = 0; k < 300; k++) {
        memcpy(deep + n, "- ", 2);
        n += 2;
    }
    memcpy(deep + n, "i", 2);
    assert_string_equal(parse_err(deep), "expression nested too deeply");
    n = 0;
    for (int k = 0; k < 300; k++) {
        memcpy(deep + n, "abs(", 4);
        n += 4;
    }
    deep[n++] = '1';
    for (int k = 0; k < 300; k++) {
        deep[n++] = ')';
    }
    deep[n] = '\0';
    assert_string_equal(parse_err(deep), "expression nested too deeply");
    /* A long flat chain nests in the tree, not in the parser: limited too. */
    char *chain = malloc(20000);
    n = 0;
    chain[n++] = '1';
    for (int k = 0; k < 3000; k++) {
        memcpy(chain + n, " + 1", 4);
        n += 4;
    }
    chain[n] = '\0';
    assert_string_equal(parse_err(chain), "expression nested too deeply");
    free(chain);
}

static void test_deep_but_legal(void **state)
{
    (void)state;
    char deep[4096];
    size_t n = 0;
    for (int k = 0; k < 200; k++) {
        deep[n++] = '(';
    }
    memcpy(deep + n, "i + 1", 5);
    n += 5;
    for (int k = 0; k < 200; k++) {
        deep[n++] = ')';
    }
    deep[n] = '\0';
    CHECK1(deep, "8");
    /* 500 terms: a tree 500 high, evaluated column at a time. */
    n = 0;
    memcpy(deep, "i", 1);
    n = 1;
    for (int k = 0; k < 500; k++) {
        memcpy(deep + n, " + j", 4);
        n += 4;
    }
    deep[n] = '\0';
    CHECK1(deep, "1007");
}

static void test_metadata(void **state)
{
    (void)state;
    struct cf_err err;
    struct cf_expr *expr = cf_expr_parse("  s  ", &err);
    assert_non_null(expr);
    assert_string_equal(cf_expr_text(expr), "  s  ");
    assert_int_equal(cf_expr_type(expr), CF_TYPE_NULL); /* not bound yet */
    assert_int_equal(cf_expr_field_index(expr), -1);
    struct cf_schema *schema = test_schema();
    assert_int_equal(cf_expr_bind(expr, schema, &err), 0);
    assert_int_equal(cf_expr_field_index(expr), 4);
    assert_int_equal(cf_expr_type(expr), CF_TYPE_STRING);
    /* Rebinding against another schema */
    struct cf_schema *other = cf_schema_create();
    cf_schema_add(other, "x", CF_TYPE_INT);
    cf_schema_add(other, "s", CF_TYPE_BOOL);
    assert_int_equal(cf_expr_bind(expr, other, &err), 0);
    assert_int_equal(cf_expr_field_index(expr), 1);
    assert_int_equal(cf_expr_type(expr), CF_TYPE_BOOL);
    /* A failed rebind leaves it unbound */
    struct cf_schema *empty = cf_schema_create();
    assert_int_equal(cf_expr_bind(expr, empty, &err), CF_ENOENT);
    assert_int_equal(cf_expr_type(expr), CF_TYPE_NULL);
    assert_int_equal(cf_expr_field_index(expr), -1);
    assert_int_equal(cf_expr_bind(expr, schema, &err), 0);
    assert_int_equal(cf_expr_field_index(expr), 4);
    cf_expr_destroy(expr);
    cf_schema_release(empty);
    cf_schema_release(other);

    const char *fields[] = {"i", "(i)", "\"i\"", "((\"my field\"))", "coalesce(NULL, j)"};
    const int idx[] = {0, 0, 0, 10, 1};
    for (size_t k = 0; k < NROWS(fields); k++) {
        expr = cf_expr_parse(fields[k], &err);
        assert_non_null(expr);
        assert_int_equal(cf_expr_bind(expr, schema, &err), 0);
        assert_int_equal(cf_expr_field_index(expr), idx[k]);
        cf_expr_destroy(expr);
    }
    const char *computed[] = {"i + 0", "-i", "lower(s)", "1", "NULL", "i IS NULL"};
    for (size_t k = 0; k < NROWS(computed); k++) {
        expr = cf_expr_parse(computed[k], &err);
        assert_non_null(expr);
        assert_int_equal(cf_expr_bind(expr, schema, &err), 0);
        assert_int_equal(cf_expr_field_index(expr), -1);
        cf_expr_destroy(expr);
    }
    cf_schema_release(schema);
    cf_expr_destroy(NULL);
    cf_expr_eval_ctx_destroy(NULL);
}

/* keep vector of a filter, as "1|0|..." */
static const char *filter_rows(const char *text, const struct row *rows, size_t n, size_t total,
                               int *kept)
{
    struct cf_expr *expr = parse_bind(text);
    struct cf_batch *in = make_batch(rows, n, total);
    uint8_t *keep = malloc(in->n + 1);
    memset(keep, 0xAA, in->n + 1);
    struct cf_arena scratch;
    cf_arena_init(&scratch, 0);
    struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
    *kept = cf_expr_eval_filter(expr, ctx, in, keep, &scratch);
    assert_int_equal(keep[in->n], 0xAA); /* nothing written past n */
    size_t off = 0;
    int count = 0;
    for (uint32_t r = 0; r < in->n; r++) {
        assert_true(keep[r] == 0 || keep[r] == 1);
        count += keep[r];
        off += (size_t)snprintf(result_buf + off, sizeof(result_buf) - off, "%s%d", r ? "|" : "",
                                keep[r]);
    }
    assert_int_equal(count, *kept);
    cf_expr_eval_ctx_destroy(ctx);
    cf_arena_destroy(&scratch);
    free(keep);
    cf_batch_destroy(in);
    cf_expr_destroy(expr);
    return result_buf;
}

static void test_filter(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .s = "xa", .b = "true"},  {.i = "6", .s = "xb", .b = "false"},
        {.i = "7", .s = "ya", .b = NULL},    {.i = NULL, .s = "xc", .b = "true"},
        {.i = "10", .s = NULL, .b = "true"}, {.i = "9", .s = "Xd", .b = "false"},
    };
    int kept;
    assert_string_equal(filter_rows("i > 5", r, NROWS(r), 0, &kept), "0|1|1|0|1|1");
    assert_int_equal(kept, 4);
    assert_string_equal(filter_rows("i > 5 AND lower(s) LIKE 'x%'", r, NROWS(r), 0, &kept),
                        "0|1|0|0|0|1");
    assert_int_equal(kept, 2);
    assert_string_equal(filter_rows("b", r, NROWS(r), 0, &kept), "1|0|0|1|1|0");
    assert_int_equal(kept, 3);
    assert_string_equal(filter_rows("NOT b", r, NROWS(r), 0, &kept), "0|1|0|0|0|1");
    assert_string_equal(filter_rows("b IS NULL OR i IS NULL", r, NROWS(r), 0, &kept),
                        "0|0|1|1|0|0");
    assert_string_equal(filter_rows("TRUE", r, NROWS(r), 0, &kept), "1|1|1|1|1|1");
    assert_int_equal(kept, 6);
    assert_string_equal(filter_rows("FALSE", r, NROWS(r), 0, &kept), "0|0|0|0|0|0");
    assert_string_equal(filter_rows("NULL", r, NROWS(r), 0, &kept), "0|0|0|0|0|0");
    assert_int_equal(kept, 0);
    assert_string_equal(filter_rows("NULL AND b", r, NROWS(r), 0, &kept), "0|0|0|0|0|0");
    assert_string_equal(filter_rows("concat(s, '!') = 'xa!'", r, NROWS(r), 0, &kept),
                        "1|0|0|0|0|0");
    /* Batches larger than CF_BATCH_ROWS are filtered in slices. */
    filter_rows("i > 5", r, NROWS(r), 6 * 300, &kept);
    assert_int_equal(kept, 4 * 300);
    assert_int_equal(strlen(result_buf), 6 * 300 * 2 - 1);
    for (size_t k = 0; k < 6 * 300; k++) {
        assert_int_equal(result_buf[2 * k], "011011"[k % 6]);
    }
    /* Empty batch */
    struct cf_expr *expr = parse_bind("i > 5");
    struct cf_batch *in = make_batch(r, 1, 1);
    in->n = 0;
    struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
    uint8_t keep[1] = {7};
    assert_int_equal(cf_expr_eval_filter(expr, ctx, in, keep, NULL), 0);
    assert_int_equal(keep[0], 7);
    cf_expr_eval_ctx_destroy(ctx);
    cf_batch_destroy(in);
    cf_expr_destroy(expr);
}

static void test_large_batches(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .s = "a"},
        {.i = "2", .s = NULL},
        {.i = NULL, .s = "c"},
    };
    /* 1301 rows: two full slices and a partial one; the row pattern does not align with
     * slice boundaries. */
    const char *exprs[] = {"i * 10", "concat(s, '-', i)", "CASE WHEN i = 1 THEN 'one' END",
                           "coalesce(s, 'none')", "upper(s)"};
    const char *pattern[][3] = {
        {"10", "20", "NULL"}, {"a-1", "NULL", "NULL"}, {"one", "NULL", "NULL"},
        {"a", "none", "c"},   {"A", "NULL", "C"},
    };
    for (size_t k = 0; k < NROWS(exprs); k++) {
        const char *res = ev_n(exprs[k], r, NROWS(r), 1301);
        const char *p = res;
        for (size_t row = 0; row < 1301; row++) {
            const char *want = pattern[k][row % 3];
            size_t wl = strlen(want);
            if (strncmp(p, want, wl) != 0 || (p[wl] != '|' && p[wl] != '\0')) {
                print_error("%s row %zu: want %s at \"%.20s\"\n", exprs[k], row, want, p);
                fail();
            }
            p += wl + (p[wl] == '|');
        }
        assert_int_equal(*p, '\0');
    }
}

/* String results never point into the expression: they stay valid after it is destroyed. */
static void test_strings_outlive_expr(void **state)
{
    (void)state;
    static const struct row r[] = {{.i = "1", .s = "abc"}, {.i = "2", .s = "de"}};
    const char *texts[] = {"CASE WHEN i = 1 THEN 'lit' ELSE s END",
                           "'const'",
                           "coalesce(NULL, 'c2')",
                           "substr('literal', 2, 3)",
                           "trim('  t  ')",
                           "CASE i WHEN 2 THEN substr('xyz', 2) ELSE coalesce(s, 'q') END"};
    const char *want[][2] = {{"lit", "de"},  {"const", "const"}, {"c2", "c2"},
                             {"ite", "ite"}, {"t", "t"},         {"abc", "yz"}};
    for (size_t k = 0; k < NROWS(texts); k++) {
        struct cf_expr *expr = parse_bind(texts[k]);
        struct cf_batch *in = make_batch(r, NROWS(r), 0);
        struct cf_schema *os = cf_schema_create();
        cf_schema_add(os, "out", CF_TYPE_STRING);
        struct cf_batch *out = cf_batch_create(os, 4);
        cf_schema_release(os);
        struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
        assert_int_equal(cf_expr_eval(expr, ctx, in, &out->cols[0], &out->arena), 0);
        cf_expr_eval_ctx_destroy(ctx);
        cf_expr_destroy(expr);
        /* The input may only be referenced for field values; drop the expression first. */
        for (uint32_t i = 0; i < 2; i++) {
            assert_int_equal(out->cols[0].nulls[i], 0);
            assert_int_equal(out->cols[0].v.str[i].len, strlen(want[k][i]));
            assert_memory_equal(out->cols[0].v.str[i].ptr, want[k][i], strlen(want[k][i]));
        }
        cf_batch_destroy(in);
        cf_batch_destroy(out);
    }
}

/* One context evaluates many batches; a NULL arena is fine without new strings. */
static void test_ctx_reuse(void **state)
{
    (void)state;
    struct cf_expr *expr = parse_bind("CASE WHEN i > 2 THEN i * 2 ELSE -i END");
    struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(expr);
    struct cf_schema *os = cf_schema_create();
    cf_schema_add(os, "out", CF_TYPE_INT);
    struct cf_batch *out = cf_batch_create(os, 8);
    cf_schema_release(os);
    for (int round = 0; round < 5; round++) {
        char v[3][8];
        struct row r[3];
        memset(r, 0, sizeof(r));
        for (int k = 0; k < 3; k++) {
            snprintf(v[k], sizeof(v[k]), "%d", round + k);
            r[k].i = v[k];
        }
        struct cf_batch *in = make_batch(r, 3, 0);
        assert_int_equal(cf_expr_eval(expr, ctx, in, &out->cols[0], NULL), 0);
        for (int k = 0; k < 3; k++) {
            int64_t x = round + k;
            assert_int_equal(out->cols[0].nulls[k], 0);
            assert_int_equal(out->cols[0].v.i64[k], x > 2 ? x * 2 : -x);
        }
        cf_batch_destroy(in);
    }
    cf_batch_destroy(out);
    cf_expr_eval_ctx_destroy(ctx);
    cf_expr_destroy(expr);
}

struct thread_arg {
    const struct cf_expr *expr;
    struct cf_batch *in;
    int64_t sum;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    struct cf_expr_eval_ctx *ctx = cf_expr_eval_ctx_create(a->expr);
    struct cf_schema *os = cf_schema_create();
    cf_schema_add(os, "out", CF_TYPE_INT);
    struct cf_batch *out = cf_batch_create(os, a->in->cap);
    cf_schema_release(os);
    a->sum = 0;
    for (int round = 0; round < 200; round++) {
        cf_expr_eval(a->expr, ctx, a->in, &out->cols[0], &out->arena);
        for (uint32_t r = 0; r < a->in->n; r++) {
            a->sum += out->cols[0].nulls[r] ? 1000000 : out->cols[0].v.i64[r];
        }
        cf_arena_reset(&out->arena);
    }
    cf_batch_destroy(out);
    cf_expr_eval_ctx_destroy(ctx);
    return NULL;
}

/* A bound expression is shared by threads, each with its own context. */
static void test_threads(void **state)
{
    (void)state;
    static const struct row r[] = {
        {.i = "1", .s = "ab"}, {.i = "2", .s = NULL}, {.i = "3", .s = "xyz"}};
    struct cf_expr *expr = parse_bind("length(concat(upper(s), 'x')) + i");
    struct thread_arg args[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        args[k].expr = expr;
        args[k].in = make_batch(r, NROWS(r), 1000);
        assert_int_equal(pthread_create(&th[k], NULL, thread_main, &args[k]), 0);
    }
    /* per 3 rows: (3 + 1) + NULL + (4 + 3); 1000 rows = 333 groups + 1 row */
    int64_t want = (int64_t)200 * (333 * (4 + 1000000 + 7) + 4);
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(args[k].sum, want);
        cf_batch_destroy(args[k].in);
    }
    cf_expr_destroy(expr);
}

static void test_keywords_and_idents(void **state)
{
    (void)state;
    CHECK1("i iS nOt NuLl AnD s LiKe 'H%' Or FaLsE", "true");
    CHECK1("i In (7) AND i NoT bEtWeEn 1 aNd 2", "true");
    CHECK1("CaSe WhEn TrUe ThEn 1 eLsE 2 eNd", "1");
    CHECK1("Lower(s)", "hello");
}

static void test_unknown_case_field(void **state)
{
    (void)state;
    assert_contains(bind_err("Lower(S)"), "unknown field 'S'");
    CHECK1("UPPER(s)", "HELLO");
    CHECK1("\"s\" = 'Hello'", "true");
    CHECK1("\"my field\" IS NULL", "true");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_arith_int),
        cmocka_unit_test(test_int_overflow),
        cmocka_unit_test(test_arith_double),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_logic_truth_tables),
        cmocka_unit_test(test_is_null),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_in),
        cmocka_unit_test(test_between),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_string_functions),
        cmocka_unit_test(test_numeric_functions),
        cmocka_unit_test(test_null_typing),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_deep_but_legal),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_large_batches),
        cmocka_unit_test(test_strings_outlive_expr),
        cmocka_unit_test(test_ctx_reuse),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_keywords_and_idents),
        cmocka_unit_test(test_unknown_case_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
