/*
 * test_json_codec.c - the JSON line decoder and encoder (common/data/json_codec.h).
 */
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
#include "common/base/err.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/batch.h"
#include "common/data/json_codec.h"
#include "common/data/schema.h"

/* Field indexes of the all-types schema. */
enum { F_S, F_I, F_D, F_B, F_T };

struct fx {
    struct cf_schema *schema;
    struct cf_json_decoder *dec;
    struct cf_batch *batch;
    struct cf_err err;
};

static struct cf_schema *all_types_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "s", CF_TYPE_STRING);
    cf_schema_add(s, "i", CF_TYPE_INT);
    cf_schema_add(s, "d", CF_TYPE_DOUBLE);
    cf_schema_add(s, "b", CF_TYPE_BOOL);
    cf_schema_add(s, "t", CF_TYPE_TIMESTAMP);
    return s;
}

static struct cf_schema *clicks_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "event_id", CF_TYPE_STRING);
    cf_schema_add(s, "user_id", CF_TYPE_STRING);
    cf_schema_add(s, "event_type", CF_TYPE_STRING);
    cf_schema_add(s, "page_url", CF_TYPE_STRING);
    cf_schema_add(s, "ts", CF_TYPE_TIMESTAMP);
    cf_schema_add(s, "country", CF_TYPE_STRING);
    cf_schema_add(s, "duration_ms", CF_TYPE_INT);
    return s;
}

static int fx_setup_with(void **state, struct cf_schema *schema)
{
    struct fx *fx = cf_new(struct fx);
    fx->schema = schema;
    fx->dec = cf_json_decoder_create(schema);
    fx->batch = cf_batch_create(schema, CF_BATCH_ROWS);
    *state = fx;
    return 0;
}

static int setup_all(void **state)
{
    return fx_setup_with(state, all_types_schema());
}

static int setup_clicks(void **state)
{
    return fx_setup_with(state, clicks_schema());
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    cf_batch_destroy(fx->batch);
    cf_json_decoder_destroy(fx->dec);
    cf_schema_release(fx->schema);
    cf_free(fx);
    return 0;
}

/* Decodes a NUL-terminated line; also checks that a failure leaves the batch untouched. */
static int dec(struct fx *fx, const char *line)
{
    uint32_t n = fx->batch->n;
    size_t used = fx->batch->arena.used;
    cf_err_clear(&fx->err);
    int rc = cf_json_decode_line(fx->dec, line, strlen(line), fx->batch, &fx->err);
    if (rc) {
        assert_int_equal(fx->batch->n, n);
        assert_int_equal(fx->batch->arena.used, used);
        assert_int_equal(fx->err.code, rc);
        assert_true(fx->err.msg[0] != '\0');
    } else {
        assert_int_equal(fx->batch->n, n + 1);
    }
    return rc;
}

/* Decodes a line that must succeed; returns its row. */
static uint32_t dec_ok(struct fx *fx, const char *line)
{
    int rc = dec(fx, line);
    if (rc) {
        fail_msg("decode of %s failed: %s", line, fx->err.msg);
    }
    return fx->batch->n - 1;
}

static void assert_strv_n(const struct cf_batch *b, uint32_t c, uint32_t r, const char *want,
                          size_t n)
{
    assert_int_equal(b->cols[c].nulls[r], 0);
    assert_int_equal(b->cols[c].v.str[r].len, n);
    assert_memory_equal(b->cols[c].v.str[r].ptr, want, n);
}

static void assert_strv(const struct cf_batch *b, uint32_t c, uint32_t r, const char *want)
{
    assert_strv_n(b, c, r, want, strlen(want));
}

static void assert_intv(const struct cf_batch *b, uint32_t c, uint32_t r, int64_t want)
{
    assert_int_equal(b->cols[c].nulls[r], 0);
    assert_true(b->cols[c].v.i64[r] == want);
}

static void assert_nullv(const struct cf_batch *b, uint32_t c, uint32_t r)
{
    assert_int_equal(b->cols[c].nulls[r], 1);
}

static const char *click_line =
    "{\"event_id\":\"e-000001\",\"user_id\":\"u-42\",\"event_type\":\"page_view\","
    "\"page_url\":\"https://shop.example/p/123\",\"ts\":\"2024-10-22T18:05:00.123Z\","
    "\"country\":\"DE\",\"duration_ms\":1234}";

/* 2024-10-22T18:05:00.123Z */
#define CLICK_TS 1729620300123LL

static void check_click_row(const struct cf_batch *b, uint32_t r)
{
    assert_strv(b, 0, r, "e-000001");
    assert_strv(b, 1, r, "u-42");
    assert_strv(b, 2, r, "page_view");
    assert_strv(b, 3, r, "https://shop.example/p/123");
    assert_intv(b, 4, r, CLICK_TS);
    assert_strv(b, 5, r, "DE");
    assert_intv(b, 6, r, 1234);
    assert_true(b->ts[r] == CF_TS_NONE); /* event time is the source's job */
}

static void test_clickstream_line(void **state)
{
    struct fx *fx = *state;
    uint32_t r = dec_ok(fx, click_line);
    assert_int_equal(r, 0);
    check_click_row(fx->batch, r);
}

static void test_key_order(void **state)
{
    struct fx *fx = *state;
    const char *lines[] = {
        "{\"duration_ms\":1234,\"country\":\"DE\",\"ts\":\"2024-10-22T18:05:00.123Z\","
        "\"page_url\":\"https://shop.example/p/123\",\"event_type\":\"page_view\","
        "\"user_id\":\"u-42\",\"event_id\":\"e-000001\"}",
        "{\"ts\":\"2024-10-22T18:05:00.123Z\",\"event_id\":\"e-000001\",\"duration_ms\":1234,"
        "\"user_id\":\"u-42\",\"country\":\"DE\",\"page_url\":\"https://shop.example/p/123\","
        "\"event_type\":\"page_view\"}",
        "{\"country\":\"DE\",\"event_type\":\"page_view\",\"event_id\":\"e-000001\","
        "\"duration_ms\":1234,\"page_url\":\"https://shop.example/p/123\",\"user_id\":\"u-42\","
        "\"ts\":1729620300123}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        uint32_t r = dec_ok(fx, lines[i]);
        check_click_row(fx->batch, r);
    }
}

/* Decodes a copy of line in a buffer of exactly its length (ASan sees any overread). */
static int dec_exact(struct cf_json_decoder *d, struct cf_batch *b, const char *line)
{
    size_t n = strlen(line);
    char *copy = cf_malloc(n ? n : 1);
    memcpy(copy, line, n);
    struct cf_err err;
    cf_err_clear(&err);
    int rc = cf_json_decode_line(d, copy, n, b, &err);
    cf_free(copy);
    return rc;
}

/* The decoder predicts each key from the previous line's order: a wrong or partial
 * prediction must fall back to the full key scan. */
static void test_predicted_keys(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "ts", CF_TYPE_INT);
    cf_schema_add(s, "tsx", CF_TYPE_INT);
    cf_schema_add(s, "q\"k", CF_TYPE_INT);
    cf_schema_add(s, "\xc3\xa9", CF_TYPE_INT);
    struct cf_json_decoder *d = cf_json_decoder_create(s);
    struct cf_batch *b = cf_batch_create(s, 16);
    for (int i = 0; i < 3; i++) { /* the same layout again and again */
        assert_int_equal(dec_exact(d, b, "{\"ts\":1,\"tsx\":2,\"q\\\"k\":3,\"\xc3\xa9\":4}"), 0);
        assert_intv(b, 0, b->n - 1, 1);
        assert_intv(b, 1, b->n - 1, 2);
        assert_intv(b, 2, b->n - 1, 3);
        assert_intv(b, 3, b->n - 1, 4);
    }
    /* the predicted name is a prefix of the key, or the key a prefix of the name */
    assert_int_equal(dec_exact(d, b, "{\"tsx\":5,\"ts\":6}"), 0);
    assert_intv(b, 0, b->n - 1, 6);
    assert_intv(b, 1, b->n - 1, 5);
    assert_nullv(b, 2, b->n - 1);
    assert_int_equal(dec_exact(d, b, "{\"tsx\":7,\"ts\":8}"), 0);
    assert_intv(b, 0, b->n - 1, 8);
    assert_intv(b, 1, b->n - 1, 7);
    /* the predicted key written with an escape, then an unknown key where one is expected */
    assert_int_equal(dec_exact(d, b, "{\"\\u0074sx\":9,\"t\":0,\"ts\":10}"), 0);
    assert_intv(b, 0, b->n - 1, 10);
    assert_intv(b, 1, b->n - 1, 9);
    /* lines that end inside or right after a predicted key */
    dec_exact(d, b, "{\"ts\":1,\"tsx\":2}");
    uint32_t n = b->n;
    assert_int_equal(dec_exact(d, b, "{\"ts"), CF_EPARSE);
    assert_int_equal(dec_exact(d, b, "{\"ts\""), CF_EPARSE);
    assert_int_equal(dec_exact(d, b, "{\"ts\":1,\"tsx"), CF_EPARSE);
    assert_int_equal(dec_exact(d, b, "{\"ts\":1,\"ts"), CF_EPARSE);
    /* a raw quote never matches a name that needs an escape */
    assert_int_equal(dec_exact(d, b, "{\"q\\\"k\":1}"), 0);
    assert_int_equal(dec_exact(d, b, "{\"q\"k\":1}"), CF_EPARSE);
    assert_int_equal(b->n, n + 1);
    cf_batch_destroy(b);
    cf_json_decoder_destroy(d);
    cf_schema_release(s);
}

static void test_unknown_fields_skipped(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"x\":{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{}},\"s\":\"v\","
                            "\"y\":[[1,[2,[3]]],{\"k\":[true,false,null]},\"str\\n\\u00e9\"],"
                            "\"i\":7,\"z\":-1.5e-3,\"w\":\"\\ud83d\\ude00\",\"e\":[],\"o\":{},"
                            "\"u\":true,\"v\":null}");
    assert_strv(b, F_S, r, "v");
    assert_intv(b, F_I, r, 7);
    assert_nullv(b, F_D, r);
    assert_nullv(b, F_B, r);
    assert_nullv(b, F_T, r);

    /* unknown values are validated while skipped */
    assert_int_equal(dec(fx, "{\"x\":[1,2,],\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":{\"a\" 1},\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":{\"a\":1,},\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":{1:1},\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":[1 2],\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":tru,\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":\"\\q\",\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":01,\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":[}],\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"x\":{]},\"s\":\"v\"}"), CF_EPARSE);
    assert_int_equal(b->n, 1);
}

static void test_escapes(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"s\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}");
    assert_strv(b, F_S, r, "q\"b\\s/b\bf\fn\nr\rt\t");
    r = dec_ok(fx, "{\"s\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uFFFF\"}");
    assert_strv(b, F_S, r, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBF");
    r = dec_ok(fx, "{\"s\":\"a\\u0000b\"}");
    assert_strv_n(b, F_S, r, "a\0b", 3);
    r = dec_ok(fx, "{\"s\":\"\\uDBFF\\uDFFF\"}"); /* U+10FFFF */
    assert_strv(b, F_S, r, "\xF4\x8F\xBF\xBF");
    r = dec_ok(fx, "{\"s\":\"\\\\u0041\"}"); /* an escaped backslash, not an escape */
    assert_strv(b, F_S, r, "\\u0041");
    /* escapes straddling the 8-byte scanning blocks */
    for (int pad = 0; pad < 20; pad++) {
        char line[128], want[64];
        snprintf(line, sizeof(line), "{\"s\":\"%.*s\\n\\u00e9x\"}", pad, "abcdefghijklmnopqrstu");
        snprintf(want, sizeof(want), "%.*s\n\xC3\xA9x", pad, "abcdefghijklmnopqrstu");
        r = dec_ok(fx, line);
        assert_strv(b, F_S, r, want);
    }
    /* escaped keys find their field */
    r = dec_ok(fx, "{\"\\u0069\":5,\"\\/x\":1,\"\\u0073\":\"k\"}");
    assert_intv(b, F_I, r, 5);
    assert_strv(b, F_S, r, "k");
}

static void test_invalid_escapes(void **state)
{
    struct fx *fx = *state;
    const char *bad[] = {
        "{\"s\":\"\\x\"}",
        "{\"s\":\"\\u12\"}",
        "{\"s\":\"\\u12G4\"}",
        "{\"s\":\"\\ud83d\"}",
        "{\"s\":\"\\ud83dx\"}",
        "{\"s\":\"\\ud83d\\u0041\"}",
        "{\"s\":\"\\ud83d\\ud83d\"}",
        "{\"s\":\"\\ude00\"}",
        "{\"s\":\"\\ude00\\ud83d\"}",
        "{\"s\":\"\\\"}",
        "{\"s\":\"\\",
        "{\"s\":\"\\U0041\"}",
        "{\"s\":\"\\'\"}",
        "{\"s\":\"\\ud83d\\n\"}",
        "{\"s\":\"\\ud83d\\ude0\"}",
        "{\"\\ud800\":1}",
        "{\"s\":\"\\u-123\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dec(fx, bad[i]) != CF_EPARSE) {
            fail_msg("accepted %s", bad[i]);
        }
    }
    assert_int_equal(dec(fx, "{\"s\":\"ab\\x\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 8: invalid escape in string");
    assert_int_equal(dec(fx, "{\"s\":\"\\ude00\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 6: lone low surrogate \\u escape");
    assert_int_equal(dec(fx, "{\"s\":\"\\ud83d\\u0041\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid JSON at byte 6: high surrogate \\u escape without a low one");
    assert_int_equal(fx->batch->n, 0);
}

static void test_nulls_and_missing(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"s\":null,\"i\":null,\"d\":null,\"b\":null,\"t\":null}");
    for (uint32_t c = 0; c < 5; c++) {
        assert_nullv(b, c, r);
    }
    r = dec_ok(fx, "{\"i\":1}");
    assert_nullv(b, F_S, r);
    assert_intv(b, F_I, r, 1);
    assert_nullv(b, F_D, r);
    assert_nullv(b, F_B, r);
    assert_nullv(b, F_T, r);
    r = dec_ok(fx, "{}");
    for (uint32_t c = 0; c < 5; c++) {
        assert_nullv(b, c, r);
    }
    r = dec_ok(fx, "{\"other\":1}");
    for (uint32_t c = 0; c < 5; c++) {
        assert_nullv(b, c, r);
    }
    r = dec_ok(fx, "{\"s\":\"\"}"); /* the empty string is not NULL */
    assert_strv(b, F_S, r, "");
    assert_int_equal(dec(fx, "{\"s\":nul}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"s\":NULL}"), CF_EPARSE);
}

static void test_duplicate_keys(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"i\":1,\"s\":\"first\",\"i\":2,\"s\":\"second\"}");
    assert_intv(b, F_I, r, 2);
    assert_strv(b, F_S, r, "second");
    r = dec_ok(fx, "{\"s\":\"x\",\"s\":null,\"i\":3,\"i\":null}");
    assert_nullv(b, F_S, r);
    assert_nullv(b, F_I, r);
    r = dec_ok(fx, "{\"s\":null,\"s\":\"y\",\"b\":true,\"b\":false}");
    assert_strv(b, F_S, r, "y");
    assert_int_equal(b->cols[F_B].nulls[r], 0);
    assert_int_equal(b->cols[F_B].v.b[r], 0);
}

static void test_int_values(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        {"0", 0},
        {"-0", 0},
        {"42", 42},
        {"-17", -17},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"999999999999999999", 999999999999999999LL},
        {"1000000000000000000", 1000000000000000000LL},
        {"3.0", 3},
        {"3.000", 3},
        {"-3.0", -3},
        {"3e2", 300},
        {"3E+2", 300},
        {"12.50e1", 125},
        {"1.5e1", 15},
        {"0.0", 0},
        {"-0.0e10", 0},
        {"0e-5", 0},
        {"9.223372036854775807e18", INT64_MAX},
        {"-9.223372036854775808e18", INT64_MIN},
        {"9223372036854775807.000", INT64_MAX},
        {"100e-2", 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"i\":%s}", ok[i].text);
        uint32_t r = dec_ok(fx, line);
        if (b->cols[F_I].v.i64[r] != ok[i].want) {
            fail_msg("%s decoded as %lld", ok[i].text, (long long)b->cols[F_I].v.i64[r]);
        }
    }
    const char *out_of_range[] = {"9223372036854775808",
                                  "-9223372036854775809",
                                  "99999999999999999999",
                                  "1e19",
                                  "9.3e18",
                                  "-9223372036854775808.0001e1",
                                  "1e1000000000000000",
                                  "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"i\":%s}", out_of_range[i]);
        if (dec(fx, line) != CF_ETYPE) {
            fail_msg("accepted %s", out_of_range[i]);
        }
    }
    assert_int_equal(dec(fx, "{\"i\":9223372036854775808}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': 9223372036854775808 is out of range for int");
    const char *fractions[] = {"2.5",    "-0.1",          "1e-1",  "3.0000001",
                               "1.05e1", "1e-1000000000", "250e-2"};
    for (size_t i = 0; i < sizeof(fractions) / sizeof(fractions[0]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"i\":%s}", fractions[i]);
        if (dec(fx, line) != CF_ETYPE) {
            fail_msg("accepted %s", fractions[i]);
        }
    }
    assert_int_equal(dec(fx, "{\"i\":2.5}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': expected int, got number 2.5");
    assert_int_equal(dec(fx, "{\"i\":\"12\"}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': expected int, got string \"12\"");
    assert_int_equal(dec(fx, "{\"i\":true}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': expected int, got true");
    assert_int_equal(dec(fx, "{\"i\":[1]}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': expected int, got array");
    assert_int_equal(dec(fx, "{\"i\":{\"a\":1}}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'i': expected int, got object");
}

static void test_number_grammar(void **state)
{
    struct fx *fx = *state;
    const char *bad[] = {"012", "-012", "00",   "+1",       ".5",        "1.",   "1.e5", "-",
                         "--1", "NaN",  "-NaN", "Infinity", "-Infinity", "0x10", "1e",   "1e+",
                         "1e-", "1E",   "- 1",  "1e5e5",    "0-1",       "1..2", "٣"};
    const char *fields[] = {"i", "d", "s", "x"};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char line[96];
            snprintf(line, sizeof(line), "{\"%s\":%s}", fields[k], bad[i]);
            if (dec(fx, line) != CF_EPARSE) {
                fail_msg("accepted %s", line);
            }
        }
    }
    assert_int_equal(dec(fx, "{\"i\":012}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 6: leading zero in number");
    assert_int_equal(dec(fx, "{\"d\":.5}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 5: expected a value");
    assert_int_equal(dec(fx, "{\"d\":1.}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 7: expected a digit after '.'");
    assert_int_equal(fx->batch->n, 0);
}

static void test_double_values(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    static const struct {
        const char *text;
        double want;
    } ok[] = {
        {"2.5", 2.5},
        {"-2.5", -2.5},
        {"0.1", 0.1},
        {"1e300", 1e300},
        {"1E-300", 1e-300},
        {"123456789012345678901234567890", 123456789012345678901234567890.0},
        {"9007199254740993", 9007199254740993.0},
        {"0.30000000000000004", 0.30000000000000004},
        {"5e-324", 5e-324},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"42", 42.0},
        {"1e-400", 0.0},
        {"3.14159265358979323846264338327950288419716939937510582097494459230781640628620899",
         3.14159265358979323846},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char line[160];
        snprintf(line, sizeof(line), "{\"d\":%s}", ok[i].text);
        uint32_t r = dec_ok(fx, line);
        assert_int_equal(b->cols[F_D].nulls[r], 0);
        if (b->cols[F_D].v.f64[r] != ok[i].want) {
            fail_msg("%s decoded as %.17g", ok[i].text, b->cols[F_D].v.f64[r]);
        }
    }
    uint32_t r = dec_ok(fx, "{\"d\":-0.0}");
    assert_true(b->cols[F_D].v.f64[r] == 0.0 && signbit(b->cols[F_D].v.f64[r]));
    r = dec_ok(fx, "{\"d\":-0}");
    assert_true(signbit(b->cols[F_D].v.f64[r]));
    assert_int_equal(dec(fx, "{\"d\":1e400}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'd': 1e400 is out of range for double");
    assert_int_equal(dec(fx, "{\"d\":-1e400}"), CF_ETYPE);
    assert_int_equal(dec(fx, "{\"d\":\"2.5\"}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'd': expected double, got string \"2.5\"");
    assert_int_equal(dec(fx, "{\"d\":false}"), CF_ETYPE);
}

static void test_bool_values(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"b\":true}");
    assert_int_equal(b->cols[F_B].nulls[r], 0);
    assert_int_equal(b->cols[F_B].v.b[r], 1);
    r = dec_ok(fx, "{\"b\":false}");
    assert_int_equal(b->cols[F_B].nulls[r], 0);
    assert_int_equal(b->cols[F_B].v.b[r], 0);
    assert_int_equal(dec(fx, "{\"b\":\"true\"}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'b': expected bool, got string \"true\"");
    assert_int_equal(dec(fx, "{\"b\":1}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'b': expected bool, got number 1");
    assert_int_equal(dec(fx, "{\"b\":True}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"b\":fals}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"b\":truex}"), CF_EPARSE);
}

static void test_string_from_literals(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "{\"s\":42}");
    assert_strv(b, F_S, r, "42");
    r = dec_ok(fx, "{\"s\":-1.5e3}");
    assert_strv(b, F_S, r, "-1.5e3");
    r = dec_ok(fx, "{\"s\":true}");
    assert_strv(b, F_S, r, "true");
    r = dec_ok(fx, "{\"s\":false}");
    assert_strv(b, F_S, r, "false");
    assert_int_equal(dec(fx, "{\"s\":{\"a\":\"b\"}}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 's': expected string, got object");
    assert_int_equal(dec(fx, "{\"s\":[\"a\"]}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 's': expected string, got array");
}

static void test_timestamps(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        {"1729620300123", CLICK_TS},
        {"0", 0},
        {"-1000", -1000},
        {"1729620300123.0", CLICK_TS},
        {"1.729620300123e12", CLICK_TS},
        {"\"2024-10-22T18:05:00.123Z\"", CLICK_TS},
        {"\"2024-10-22T18:05:00.123z\"", CLICK_TS},
        {"\"2024-10-22T20:05:00.123+02:00\"", CLICK_TS},
        {"\"2024-10-22T12:35:00.123-0530\"", CLICK_TS},
        {"\"2024-10-22T19:05:00.123+01\"", CLICK_TS},
        {"\"2024-10-22T18:05:00.123\"", CLICK_TS},
        {"\"2024-10-22 18:05:00.123Z\"", CLICK_TS},
        {"\"2024-10-22T18:05:00Z\"", CLICK_TS - 123},
        {"\"2024-10-22T18:05Z\"", CLICK_TS - 123},
        {"\"2024-10-22T18:05:00.123456Z\"", CLICK_TS},
        {"\"2024-10-22\"", 1729555200000LL},
        {"\"2024\\u002d10-22T18:05:00.123Z\"", CLICK_TS},
        {"\"1970-01-01T00:00:00.000Z\"", 0},
        {"\"0000-01-01T00:00:00.000Z\"", CF_JSON_TS_MIN},
        {"\"9999-12-31T23:59:59.999Z\"", CF_JSON_TS_MAX},
        {"253402300799999", CF_JSON_TS_MAX},
        {"-62167219200000", CF_JSON_TS_MIN},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"t\":%s}", ok[i].text);
        uint32_t r = dec_ok(fx, line);
        assert_int_equal(b->cols[F_T].nulls[r], 0);
        if (b->cols[F_T].v.i64[r] != ok[i].want) {
            fail_msg("%s decoded as %lld", ok[i].text, (long long)b->cols[F_T].v.i64[r]);
        }
    }
    const char *bad[] = {"\"2024-13-45\"",
                         "\"2024-10-22T25:00:00Z\"",
                         "\"yesterday\"",
                         "\"\"",
                         "\"1729620300123\"",
                         "\"2024-10-22T18:05:00.123Zjunk\"",
                         "\"2023-02-29\"",
                         "1.5",
                         "true",
                         "[1]",
                         "{}",
                         "253402300800000",
                         "-62167219200001",
                         "9223372036854775807",
                         "\"9999-12-31T23:59:59.999-01:00\"",
                         "\"0000-01-01T00:00:00.000+00:01\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"t\":%s}", bad[i]);
        if (dec(fx, line) != CF_ETYPE) {
            fail_msg("accepted %s: %s", bad[i], fx->err.msg);
        }
    }
    assert_int_equal(dec(fx, "{\"t\":\"2024-13-45\"}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 't': cannot parse timestamp \"2024-13-45\"");
    assert_int_equal(dec(fx, "{\"t\":1.5}"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 't': expected timestamp, got number 1.5");
    assert_int_equal(dec(fx, "{\"t\":253402300800000}"), CF_ETYPE);
    assert_string_equal(fx->err.msg,
                        "field 't': timestamp 253402300800000 is outside years 0000..9999");
}

static void test_trailing_garbage(void **state)
{
    struct fx *fx = *state;
    const char *bad[] = {"{\"s\":\"x\"} x", "{\"s\":\"x\"}}",   "{\"s\":\"x\"},",
                         "{\"s\":\"x\"}{}", "{\"s\":\"x\"} \"", "{\"s\":\"x\"}\x01",
                         "{\"s\":\"x\"}\0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]) + (i == 6 ? 1 : 0); /* the last one has an embedded NUL */
        uint32_t n = fx->batch->n;
        int rc = cf_json_decode_line(fx->dec, bad[i], len, fx->batch, &fx->err);
        assert_int_equal(rc, CF_EPARSE);
        assert_int_equal(fx->batch->n, n);
    }
    assert_int_equal(dec(fx, "{\"s\":\"x\"} x"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 10: unexpected data after the object");
}

static void test_whitespace_and_empty(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, " \t{ \"s\" : \"x\" ,\n\"i\"\t:\r1 , \"x\" : [ 1 , { } ] }  \r");
    assert_strv(b, F_S, r, "x");
    assert_intv(b, F_I, r, 1);
    r = dec_ok(fx, "{\"s\":\"x\"}\r");
    assert_strv(b, F_S, r, "x");
    r = dec_ok(fx, "{ }");
    assert_nullv(b, F_S, r);
    assert_int_equal(dec(fx, ""), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 0: empty line");
    assert_int_equal(dec(fx, "  \r"), CF_EPARSE);
    assert_int_equal(dec(fx, "{"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid JSON at byte 1: expected '\"' (an object key), got end of line");
    assert_int_equal(dec(fx, "{\"s\" \"x\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 5: expected ':'");
    assert_int_equal(dec(fx, "{\"s\":\"x\" \"i\":1}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 9: expected ',' or '}'");
    assert_int_equal(dec(fx, "{\"s\":\"x\",}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{,}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"s\"}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{\"s\":}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{'s':1}"), CF_EPARSE);
    assert_int_equal(dec(fx, "{s:1}"), CF_EPARSE);
    assert_int_equal(dec(fx, "\xEF\xBB\xBF{}"), CF_EPARSE); /* a BOM is not JSON whitespace */
    assert_int_equal(dec(fx, "\v{}"), CF_EPARSE);
}

static void test_not_an_object(void **state)
{
    struct fx *fx = *state;
    const char *bad[] = {"[1]", "42", "\"s\"", "null", "true", "[]", "}", "x", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dec(fx, bad[i]), CF_EPARSE);
    }
    assert_int_equal(dec(fx, " [1]"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid JSON at byte 1: expected '{' (a line must be a JSON object)");
    assert_int_equal(fx->batch->n, 0);
}

static char *nested(int levels, char open, char close)
{
    static const char head[] = "{\"s\":\"a\",\"x\":";
    size_t n = sizeof(head) - 1 + 2 * (size_t)levels + 2;
    char *line = cf_malloc(n);
    char *p = line;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    for (int i = 0; i < levels; i++) {
        *p++ = open;
    }
    for (int i = 0; i < levels; i++) {
        *p++ = close;
    }
    *p++ = '}';
    *p = '\0';
    return line;
}

static void test_deep_nesting(void **state)
{
    struct fx *fx = *state;
    /* the line's object is level 1, so 63 levels inside it are the most allowed */
    char *line = nested(CF_JSON_MAX_DEPTH - 1, '[', ']');
    uint32_t r = dec_ok(fx, line);
    assert_strv(fx->batch, F_S, r, "a");
    cf_free(line);
    line = nested(CF_JSON_MAX_DEPTH, '[', ']');
    assert_int_equal(dec(fx, line), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 76: nesting deeper than 64 levels");
    cf_free(line);
    line = nested(100000, '[', ']');
    assert_int_equal(dec(fx, line), CF_EPARSE);
    cf_free(line);
    /* objects nest the same way */
    struct cf_buf b;
    cf_buf_init(&b);
    cf_buf_puts(&b, "{\"x\":");
    for (int i = 0; i < 70; i++) {
        cf_buf_puts(&b, "{\"k\":");
    }
    cf_buf_puts(&b, "1");
    for (int i = 0; i < 71; i++) {
        cf_buf_putc(&b, '}');
    }
    assert_int_equal(dec(fx, b.data), CF_EPARSE);
    cf_buf_destroy(&b);
}

/* Every proper prefix of a valid line fails cleanly (each in an exact-size heap copy, so the
 * sanitizers catch any read past the end). */
static void check_prefixes(struct fx *fx, const char *line)
{
    size_t len = strlen(line);
    for (size_t n = 0; n < len; n++) {
        char *copy = cf_malloc(n ? n : 1);
        memcpy(copy, line, n);
        uint32_t rows = fx->batch->n;
        size_t used = fx->batch->arena.used;
        int rc = cf_json_decode_line(fx->dec, copy, n, fx->batch, &fx->err);
        if (rc != CF_EPARSE) {
            fail_msg("prefix of %zu bytes: rc %d (%s)", n, rc, fx->err.msg);
        }
        assert_int_equal(fx->batch->n, rows);
        assert_int_equal(fx->batch->arena.used, used);
        cf_free(copy);
    }
    char *copy = cf_malloc(len);
    memcpy(copy, line, len);
    assert_int_equal(cf_json_decode_line(fx->dec, copy, len, fx->batch, &fx->err), 0);
    cf_free(copy);
}

static void test_truncated_prefixes(void **state)
{
    struct fx *fx = *state;
    check_prefixes(fx, "{\"s\":\"a\\\"b\\u00e9\\ud83d\\ude00\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                       "xyz0123456789\",\"i\":-9223372036854775808,\"d\":-1.25e-3,\"b\":false,"
                       "\"t\":\"2024-10-22T18:05:00.123+02:00\",\"x\":{\"a\":[1,2.5,true,null,"
                       "\"q\"],\"b\":{}},\"y\":null,\"z\":true}");
    check_prefixes(fx, "{\"i\":123,\"t\":1729620300123,\"d\":0}");
}

static void test_utf8(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    const char *good = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87 "
                       "\xF4\x8F\xBF\xBF \xED\x9F\xBF \xEE\x80\x80 \x7F";
    char line[128];
    snprintf(line, sizeof(line), "{\"s\":\"%s\",\"\xC3\xA9\":1}", good);
    uint32_t r = dec_ok(fx, line);
    assert_strv(b, F_S, r, good);
    const char *bad[] = {"\x80",
                         "\xBF",
                         "\xC0\x80",
                         "\xC1\xBF",
                         "\xC3",
                         "\xC3x",
                         "\xE0\x80\x80",
                         "\xE0\x9F\xBF",
                         "\xED\xA0\x80",
                         "\xED\xBF\xBF",
                         "\xE2\x82",
                         "\xF0\x80\x80\x80",
                         "\xF0\x8F\xBF\xBF",
                         "\xF4\x90\x80\x80",
                         "\xF5\x80\x80\x80",
                         "\xFF",
                         "\xFE",
                         "\xF0\x9F\x98"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(line, sizeof(line), "{\"s\":\"ab%s\"}", bad[i]);
        if (dec(fx, line) != CF_EPARSE) {
            fail_msg("accepted bad UTF-8 #%zu", i);
        }
        snprintf(line, sizeof(line), "{\"x\":\"%s\",\"s\":\"a\"}", bad[i]);
        assert_int_equal(dec(fx, line), CF_EPARSE);
    }
    assert_int_equal(dec(fx, "{\"s\":\"ab\x80\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid JSON at byte 8: invalid UTF-8 in string");
    /* raw control characters must be escaped */
    for (int c = 1; c < 0x20; c++) {
        snprintf(line, sizeof(line), "{\"s\":\"a%cb\"}", c);
        assert_int_equal(dec(fx, line), CF_EPARSE);
    }
    assert_int_equal(dec(fx, "{\"s\":\"a\tb\"}"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid JSON at byte 7: control character in string (must be escaped)");
    static const char with_nul[] = "{\"s\":\"a\0b\"}";
    assert_int_equal(
        cf_json_decode_line(fx->dec, with_nul, sizeof(with_nul) - 1, fx->batch, &fx->err),
        CF_EPARSE);
}

static void test_failed_line_leaves_batch(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    dec_ok(fx, click_line);
    size_t used = b->arena.used;
    /* strings parsed, then a type error in the last field */
    assert_int_equal(dec(fx, "{\"event_id\":\"e-2\",\"user_id\":\"u-\\n2\",\"page_url\":\"p\","
                             "\"duration_ms\":\"slow\"}"),
                     CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'duration_ms': expected int, got string \"slow\"");
    assert_int_equal(b->n, 1);
    assert_int_equal(b->arena.used, used);
    /* a syntax error after strings */
    assert_int_equal(dec(fx, "{\"event_id\":\"e-2\",\"user_id\":\"u-2\" x}"), CF_EPARSE);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->arena.used, used);
    uint32_t r = dec_ok(fx, click_line);
    assert_int_equal(r, 1);
    check_click_row(b, 0);
    check_click_row(b, 1);
    /* long values in the message are cut */
    assert_int_equal(dec(fx, "{\"duration_ms\":\"0123456789012345678901234567890123456789"
                             "0123456789\"}"),
                     CF_ETYPE);
    assert_string_equal(fx->err.msg, "field 'duration_ms': expected int, got string "
                                     "\"0123456789012345678901234567890123456789...\"");
}

static void test_many_fields_lookup(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        cf_schema_add(s, name, CF_TYPE_INT);
    }
    cf_schema_add(s, "a_rather_long_field_name_x", CF_TYPE_INT);
    cf_schema_add(s, "a_rather_long_field_name_y", CF_TYPE_INT);
    cf_schema_add(s, "", CF_TYPE_INT);
    struct cf_json_decoder *d = cf_json_decoder_create(s);
    struct cf_batch *b = cf_batch_create(s, 4);
    struct cf_buf line;
    cf_buf_init(&line);
    cf_buf_puts(&line, "{");
    for (int i = 49; i >= 0; i--) {
        cf_buf_appendf(&line, "\"f%d\":%d,\"f%dx\":-1,\"g%d\":-2,", i, i * 10, i, i);
    }
    cf_buf_puts(&line, "\"a_rather_long_field_name_y\":2,\"a_rather_long_field_name_x\":1,"
                       "\"a_rather_long_field_name_\":-3,\"\":99,\"F1\":-4}");
    struct cf_err err;
    assert_int_equal(cf_json_decode_line(d, line.data, line.len, b, &err), 0);
    for (int i = 0; i < 50; i++) {
        assert_intv(b, (uint32_t)i, 0, i * 10);
    }
    assert_intv(b, 50, 0, 1);
    assert_intv(b, 51, 0, 2);
    assert_intv(b, 52, 0, 99);
    cf_buf_destroy(&line);
    cf_batch_destroy(b);
    cf_json_decoder_destroy(d);
    cf_schema_release(s);
}

static void test_empty_schema(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    struct cf_json_decoder *d = cf_json_decoder_create(s);
    struct cf_batch *b = cf_batch_create(s, 4);
    struct cf_err err;
    assert_int_equal(cf_json_decode_line(d, "{\"a\":1}", 7, b, &err), 0);
    assert_int_equal(b->n, 1);
    struct cf_json_encoder *enc = cf_json_encoder_create(s);
    struct cf_buf out;
    cf_buf_init(&out);
    cf_json_encoder_row(enc, b, 0, &out);
    assert_string_equal(out.data, "{}");
    cf_buf_reset(&out);
    cf_json_encode_row(b, 0, &out);
    assert_string_equal(out.data, "{}");
    cf_buf_destroy(&out);
    cf_json_encoder_destroy(enc);
    cf_batch_destroy(b);
    cf_json_decoder_destroy(d);
    cf_schema_release(s);
    cf_json_decoder_destroy(NULL);
    cf_json_encoder_destroy(NULL);
}

/* Both encoders give the same text; returns it in out. */
static void encode_both(const struct cf_batch *b, uint32_t r, struct cf_buf *out)
{
    struct cf_json_encoder *enc = cf_json_encoder_create(b->schema);
    struct cf_buf other;
    cf_buf_init(&other);
    cf_buf_reset(out);
    cf_json_encoder_row(enc, b, r, out);
    cf_json_encode_row(b, r, &other);
    assert_string_equal(out->data, other.data);
    assert_int_equal(out->len, strlen(out->data));
    cf_buf_destroy(&other);
    cf_json_encoder_destroy(enc);
}

static void test_encode_exact(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    struct cf_buf out;
    cf_buf_init(&out);
    uint32_t r = cf_batch_add_row(b);
    cf_batch_set_str(b, F_S, r, "a\"b\\c/d\ne\x01\x1f\xC3\xA9\x7f", 14);
    cf_batch_set_int(b, F_I, r, -42);
    cf_batch_set_double(b, F_D, r, 2.5);
    cf_batch_set_bool(b, F_B, r, 1);
    cf_batch_set_int(b, F_T, r, CLICK_TS);
    encode_both(b, r, &out);
    assert_string_equal(out.data,
                        "{\"s\":\"a\\\"b\\\\c/d\\ne\\u0001\\u001f\xC3\xA9\x7f\",\"i\":-42,"
                        "\"d\":2.5,\"b\":true,\"t\":\"2024-10-22T18:05:00.123Z\"}");

    r = cf_batch_add_row(b); /* all NULL */
    encode_both(b, r, &out);
    assert_string_equal(out.data, "{\"s\":null,\"i\":null,\"d\":null,\"b\":null,\"t\":null}");

    r = cf_batch_add_row(b);
    cf_batch_set_str(b, F_S, r, "", 0);
    cf_batch_set_int(b, F_I, r, INT64_MIN);
    cf_batch_set_double(b, F_D, r, NAN);
    cf_batch_set_bool(b, F_B, r, 0);
    cf_batch_set_int(b, F_T, r, 0);
    encode_both(b, r, &out);
    assert_string_equal(out.data, "{\"s\":\"\",\"i\":-9223372036854775808,\"d\":null,\"b\":false,"
                                  "\"t\":\"1970-01-01T00:00:00.000Z\"}");
    static const struct {
        double v;
        const char *text;
    } doubles[] = {{INFINITY, "null"}, {-INFINITY, "null"}, {0.1, "0.1"},
                   {-0.0, "-0.0"},     {100, "100.0"},      {1e300, "1e+300"},
                   {1e15, "1e+15"},    {-2e20, "-2e+20"},   {5e-324, "4.94065645841247e-324"},
                   {1e21, "1e+21"}};
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
        cf_batch_set_double(b, F_D, r, doubles[i].v);
        cf_buf_reset(&out);
        cf_json_encode_row(b, r, &out);
        char want[160];
        snprintf(want, sizeof(want),
                 "{\"s\":\"\",\"i\":-9223372036854775808,\"d\":%s,\"b\":false,"
                 "\"t\":\"1970-01-01T00:00:00.000Z\"}",
                 doubles[i].text);
        assert_string_equal(out.data, want);
    }
    /* appends: existing content stays */
    cf_buf_reset(&out);
    cf_buf_puts(&out, "prefix ");
    cf_json_encode_row(b, 1, &out);
    assert_string_equal(out.data,
                        "prefix {\"s\":null,\"i\":null,\"d\":null,\"b\":null,\"t\":null}");
    cf_buf_destroy(&out);
}

/* The encoder's timestamp text is cf_ts_format()'s, in range and out of it. */
static void test_encode_timestamps(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    struct cf_buf out;
    cf_buf_init(&out);
    int64_t fixed[] = {0,
                       -1,
                       1,
                       999,
                       -999,
                       -1000,
                       -86400000,
                       -86399999,
                       CLICK_TS,
                       951782400000LL, /* 2000-02-29 */
                       CF_JSON_TS_MIN,
                       CF_JSON_TS_MAX,
                       CF_JSON_TS_MIN - 1,
                       CF_JSON_TS_MAX + 1,
                       INT64_MIN,
                       INT64_MAX};
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        int64_t ms;
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            ms = fixed[i];
        } else {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            ms = CF_JSON_TS_MIN + (int64_t)(x % (uint64_t)(CF_JSON_TS_MAX - CF_JSON_TS_MIN + 1));
        }
        cf_batch_reset(b);
        uint32_t r = cf_batch_add_row(b);
        cf_batch_set_int(b, F_T, r, ms);
        cf_buf_reset(&out);
        cf_json_encode_row(b, r, &out);
        char ts[48], want[128];
        /* cf_ts_format() itself overflows within a day of INT64_MIN: the encoder saturates */
        cf_ts_format(ms == INT64_MIN ? INT64_MIN + 86400000 : ms, ts, sizeof(ts));
        snprintf(want, sizeof(want), "{\"s\":null,\"i\":null,\"d\":null,\"b\":null,\"t\":\"%s\"}",
                 ts);
        if (strcmp(out.data, want) != 0) {
            fail_msg("%lld: %s, want %s", (long long)ms, out.data, want);
        }
        if (ms >= CF_JSON_TS_MIN && ms <= CF_JSON_TS_MAX) {
            uint32_t r2 = dec_ok(fx, out.data);
            assert_intv(b, F_T, r2, ms);
        }
    }
    cf_buf_destroy(&out);
}

static void test_encode_escaped_names(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "we\"ird", CF_TYPE_INT);
    cf_schema_add(s, "new\nline", CF_TYPE_BOOL);
    struct cf_batch *b = cf_batch_create(s, 2);
    uint32_t r = cf_batch_add_row(b);
    cf_batch_set_int(b, 0, r, 7);
    struct cf_buf out;
    cf_buf_init(&out);
    encode_both(b, r, &out);
    assert_string_equal(out.data, "{\"we\\\"ird\":7,\"new\\nline\":null}");
    /* and the decoder finds them through their escapes */
    struct cf_json_decoder *d = cf_json_decoder_create(s);
    struct cf_err err;
    assert_int_equal(cf_json_decode_line(d, out.data, out.len, b, &err), 0);
    assert_intv(b, 0, 1, 7);
    assert_nullv(b, 1, 1);
    cf_json_decoder_destroy(d);
    cf_buf_destroy(&out);
    cf_batch_destroy(b);
    cf_schema_release(s);
}

static void test_escape_output(void **state)
{
    (void)state;
    struct cf_buf out;
    cf_buf_init(&out);
    char all[32];
    for (int c = 0; c < 32; c++) {
        all[c] = (char)c;
    }
    cf_json_escape(&out, all, 32);
    assert_string_equal(out.data,
                        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
                        "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015"
                        "\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
    cf_buf_reset(&out);
    cf_json_escape(&out, "plain text / with \xE2\x82\xAC and \x7f", 27);
    assert_string_equal(out.data, "\"plain text / with \xE2\x82\xAC and \x7f\"");
    cf_buf_reset(&out);
    cf_json_escape(&out, "", 0);
    assert_string_equal(out.data, "\"\"");
    cf_buf_reset(&out);
    cf_json_escape(&out, "\"\\\"\\", 4);
    assert_string_equal(out.data, "\"\\\"\\\\\\\"\\\\\"");
    /* a long string with escapes everywhere grows the buffer correctly */
    char big[3000];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = i % 3 == 0 ? '\n' : (char)('a' + i % 26);
    }
    cf_buf_reset(&out);
    cf_json_escape(&out, big, sizeof(big));
    assert_int_equal(out.len, 2 + 1000 * 2 + 2000);
    assert_int_equal(out.len, strlen(out.data));
    cf_buf_destroy(&out);
}

/* Values of two rows are equal (doubles bitwise). */
static void assert_rows_equal(const struct cf_batch *a, uint32_t ra, const struct cf_batch *b,
                              uint32_t rb)
{
    for (uint32_t c = 0; c < a->schema->nfields; c++) {
        const struct cf_col *ca = &a->cols[c], *cb = &b->cols[c];
        assert_int_equal(ca->nulls[ra], cb->nulls[rb]);
        if (ca->nulls[ra]) {
            continue;
        }
        switch (ca->type) {
        case CF_TYPE_STRING:
            assert_int_equal(ca->v.str[ra].len, cb->v.str[rb].len);
            assert_memory_equal(ca->v.str[ra].ptr, cb->v.str[rb].ptr, ca->v.str[ra].len);
            break;
        case CF_TYPE_DOUBLE:
            assert_memory_equal(&ca->v.f64[ra], &cb->v.f64[rb], sizeof(double));
            break;
        case CF_TYPE_BOOL: assert_int_equal(ca->v.b[ra], cb->v.b[rb]); break;
        default: assert_true(ca->v.i64[ra] == cb->v.i64[rb]); break;
        }
    }
}

static void test_round_trip(void **state)
{
    struct fx *fx = *state;
    const char *lines[] = {
        "{\"s\":\"hello\",\"i\":1,\"d\":0.1,\"b\":true,\"t\":\"2024-10-22T18:05:00.123Z\"}",
        "{\"s\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\\u00e9\\ud83d\\ude00\",\"i\":"
        "-9223372036854775808,\"d\":-0.0,\"b\":false,\"t\":-62167219200000}",
        "{\"s\":12.50,\"i\":9223372036854775807,\"d\":1.7976931348623157e308,\"t\":0}",
        "{\"d\":5e-324,\"t\":\"2024-10-22T20:05:00.999+02:00\",\"s\":\"\"}",
        "{\"d\":123456789012345678901234567890,\"i\":3.0e0,\"s\":true}",
        "{\"d\":0.30000000000000004}",
        "{\"d\":1e22}",
        "{\"d\":9007199254740993}",
        "{\"d\":2.2250738585072014e-308}",
        "{}",
    };
    struct cf_buf out, again;
    cf_buf_init(&out);
    cf_buf_init(&again);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        uint32_t r = dec_ok(fx, lines[i]);
        encode_both(fx->batch, r, &out);
        uint32_t r2 = dec_ok(fx, out.data);
        assert_rows_equal(fx->batch, r, fx->batch, r2);
        encode_both(fx->batch, r2, &again);
        assert_string_equal(out.data, again.data);
    }
    cf_buf_destroy(&again);
    cf_buf_destroy(&out);
}

static void test_encode_clickstream(void **state)
{
    struct fx *fx = *state;
    uint32_t r = dec_ok(fx, click_line);
    struct cf_buf out;
    cf_buf_init(&out);
    encode_both(fx->batch, r, &out);
    assert_string_equal(out.data, click_line);
    cf_buf_destroy(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clickstream_line, setup_clicks, teardown),
        cmocka_unit_test_setup_teardown(test_key_order, setup_clicks, teardown),
        cmocka_unit_test(test_predicted_keys),
        cmocka_unit_test_setup_teardown(test_unknown_fields_skipped, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_escapes, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_nulls_and_missing, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_int_values, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_number_grammar, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_double_values, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_bool_values, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_string_from_literals, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_garbage, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_whitespace_and_empty, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_not_an_object, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_prefixes, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_utf8, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_failed_line_leaves_batch, setup_clicks, teardown),
        cmocka_unit_test(test_many_fields_lookup),
        cmocka_unit_test(test_empty_schema),
        cmocka_unit_test_setup_teardown(test_encode_exact, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_encode_timestamps, setup_all, teardown),
        cmocka_unit_test(test_encode_escaped_names),
        cmocka_unit_test(test_escape_output),
        cmocka_unit_test_setup_teardown(test_round_trip, setup_all, teardown),
        cmocka_unit_test_setup_teardown(test_encode_clickstream, setup_clicks, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
