/*
 * test_csv_codec.c - the CSV line decoder and encoder (common/data/csv_codec.h).
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
#include "common/data/csv_codec.h"
#include "common/data/schema.h"

/* Field indexes of the test schema. */
enum { F_S, F_I, F_D, F_B, F_T };

/* 2024-10-22T18:05:00.123Z */
#define TS 1729620300123LL

struct fx {
    struct cf_schema *schema;
    struct cf_csv_decoder *dec;
    struct cf_batch *batch;
    struct cf_err err;
};

static struct cf_schema *test_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "s", CF_TYPE_STRING);
    cf_schema_add(s, "i", CF_TYPE_INT);
    cf_schema_add(s, "d", CF_TYPE_DOUBLE);
    cf_schema_add(s, "b", CF_TYPE_BOOL);
    cf_schema_add(s, "t", CF_TYPE_TIMESTAMP);
    return s;
}

static struct fx *fx_new(char delimiter, int header)
{
    struct fx *fx = cf_new(struct fx);
    struct cf_csv_options opts = {.delimiter = delimiter, .header = header};
    fx->schema = test_schema();
    fx->dec = cf_csv_decoder_create(fx->schema, &opts);
    fx->batch = cf_batch_create(fx->schema, CF_BATCH_ROWS);
    return fx;
}

static void fx_free(struct fx *fx)
{
    cf_batch_destroy(fx->batch);
    cf_csv_decoder_destroy(fx->dec);
    cf_schema_release(fx->schema);
    cf_free(fx);
}

static int setup(void **state)
{
    *state = fx_new(0, 0);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Decodes a NUL-terminated line; checks that a failure leaves the batch untouched. */
static int dec(struct fx *fx, const char *line)
{
    uint32_t n = fx->batch->n;
    size_t used = fx->batch->arena.used;
    cf_err_clear(&fx->err);
    int rc = cf_csv_decode_line(fx->dec, line, strlen(line), fx->batch, &fx->err);
    if (rc < 0) {
        assert_int_equal(fx->batch->n, n);
        assert_int_equal(fx->batch->arena.used, used);
        assert_int_equal(fx->err.code, rc);
        assert_true(fx->err.msg[0] != '\0');
    } else if (rc == 0) {
        assert_int_equal(fx->batch->n, n + 1);
    } else {
        assert_int_equal(rc, 1);
        assert_int_equal(fx->batch->n, n);
    }
    return rc;
}

static uint32_t dec_ok(struct fx *fx, const char *line)
{
    int rc = dec(fx, line);
    if (rc != 0) {
        fail_msg("decode of %s: rc %d: %s", line, rc, fx->err.msg);
    }
    return fx->batch->n - 1;
}

static void assert_strv(const struct cf_batch *b, uint32_t c, uint32_t r, const char *want)
{
    assert_int_equal(b->cols[c].nulls[r], 0);
    assert_int_equal(b->cols[c].v.str[r].len, strlen(want));
    assert_memory_equal(b->cols[c].v.str[r].ptr, want, strlen(want));
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

static void test_basic_row(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "hello,42,2.5,true,2024-10-22T18:05:00.123Z");
    assert_strv(b, F_S, r, "hello");
    assert_intv(b, F_I, r, 42);
    assert_int_equal(b->cols[F_D].nulls[r], 0);
    assert_true(b->cols[F_D].v.f64[r] == 2.5);
    assert_int_equal(b->cols[F_B].v.b[r], 1);
    assert_intv(b, F_T, r, TS);
    assert_true(b->ts[r] == CF_TS_NONE);
    r = dec_ok(fx, " spaced ,-7,-1e-3,0,1729620300123");
    assert_strv(b, F_S, r, " spaced ");
    assert_intv(b, F_I, r, -7);
    assert_true(b->cols[F_D].v.f64[r] == -1e-3);
    assert_int_equal(b->cols[F_B].v.b[r], 0);
    assert_intv(b, F_T, r, TS);
}

static void test_quotes(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "\"a \"\"quoted\"\" value\",\"42\",\"2.5\",\"TRUE\",\"1729620300123\"");
    assert_strv(b, F_S, r, "a \"quoted\" value");
    assert_intv(b, F_I, r, 42);
    assert_true(b->cols[F_D].v.f64[r] == 2.5);
    assert_int_equal(b->cols[F_B].v.b[r], 1);
    assert_intv(b, F_T, r, TS);
    r = dec_ok(fx, "\"x,y;z\",1,,,");
    assert_strv(b, F_S, r, "x,y;z");
    r = dec_ok(fx, "\"\"\"\",1,,,"); /* a lone quote */
    assert_strv(b, F_S, r, "\"");
    r = dec_ok(fx, "\"\"\"\"\"\",1,,,");
    assert_strv(b, F_S, r, "\"\"");
    r = dec_ok(fx, "\"line\nbreak\r\",1,,,");
    assert_strv(b, F_S, r, "line\nbreak\r");
    r = dec_ok(fx, "ab\"cd,1,,,"); /* a quote inside an unquoted field is literal */
    assert_strv(b, F_S, r, "ab\"cd");
    r = dec_ok(fx, "\"4\"\"2\",,,,");
    assert_strv(b, F_S, r, "4\"2");
    assert_int_equal(dec(fx, ",\"4\"\"2\",,,"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "column 2 'i': expected int, got \"4\"2\"");
    r = dec_ok(fx, "\"caf\xC3\xA9 \xE2\x82\xAC\",,,,");
    assert_strv(b, F_S, r, "caf\xC3\xA9 \xE2\x82\xAC");
}

static void test_empty_vs_null(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, ",,,,");
    for (uint32_t c = 0; c < 5; c++) {
        assert_nullv(b, c, r);
    }
    r = dec_ok(fx, "\"\",\"\",\"\",\"\",\"\"");
    assert_strv(b, F_S, r, ""); /* empty string, not NULL */
    for (uint32_t c = 1; c < 5; c++) {
        assert_nullv(b, c, r); /* no empty int, double, bool or timestamp */
    }
    r = dec_ok(fx, "x,,1.5,,");
    assert_strv(b, F_S, r, "x");
    assert_nullv(b, F_I, r);
    assert_true(b->cols[F_D].v.f64[r] == 1.5);
    assert_nullv(b, F_B, r);
    assert_nullv(b, F_T, r);
}

static void test_conversions(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    static const struct {
        const char *text;
        int want;
    } bools[] = {{"true", 1},  {"TRUE", 1},  {"True", 1},  {"1", 1},
                 {"false", 0}, {"FALSE", 0}, {"fAlSe", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), ",,,%s,", bools[i].text);
        uint32_t r = dec_ok(fx, line);
        assert_int_equal(b->cols[F_B].nulls[r], 0);
        assert_int_equal(b->cols[F_B].v.b[r], bools[i].want);
    }
    static const struct {
        const char *text;
        int64_t want;
    } ts[] = {{"1729620300123", TS},
              {"0", 0},
              {"-1000", -1000},
              {"2024-10-22T18:05:00.123Z", TS},
              {"2024-10-22T20:05:00.123+02:00", TS},
              {"2024-10-22 18:05:00.123", TS},
              {"2024-10-22T18:05:00Z", TS - 123},
              {"2024-10-22", 1729555200000LL},
              {"\"2024-10-22T18:05:00.123Z\"", TS}};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), ",,,,%s", ts[i].text);
        uint32_t r = dec_ok(fx, line);
        assert_intv(b, F_T, r, ts[i].want);
    }
    static const struct {
        const char *text;
        double want;
    } dbl[] = {{"2.5", 2.5}, {"-0.1", -0.1}, {"1e300", 1e300}, {"42", 42.0}, {"+3", 3.0}};
    for (size_t i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), ",,%s,,", dbl[i].text);
        uint32_t r = dec_ok(fx, line);
        assert_true(b->cols[F_D].v.f64[r] == dbl[i].want);
    }
    uint32_t r = dec_ok(fx, ",,NaN,,");
    assert_true(isnan(b->cols[F_D].v.f64[r]));
    r = dec_ok(fx, ",,-Infinity,,");
    assert_true(isinf(b->cols[F_D].v.f64[r]) && b->cols[F_D].v.f64[r] < 0);
    /* a long number goes through the slow path */
    r = dec_ok(fx, ",,3.14159265358979323846264338327950288419716939937510582097494459230781,,");
    assert_true(b->cols[F_D].v.f64[r] == 3.14159265358979323846);
    r = dec_ok(fx, ",9223372036854775807,,,");
    assert_intv(b, F_I, r, INT64_MAX);
    r = dec_ok(fx, ",-9223372036854775808,,,");
    assert_intv(b, F_I, r, INT64_MIN);
    r = dec_ok(fx, ",+5,,,");
    assert_intv(b, F_I, r, 5);
}

static void test_conversion_errors(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {",abc,,,", "column 2 'i': expected int, got \"abc\""},
        {", 1,,,", "column 2 'i': expected int, got \" 1\""},
        {",2.5,,,", "column 2 'i': expected int, got \"2.5\""},
        {",9223372036854775808,,,", "column 2 'i': expected int, got \"9223372036854775808\""},
        {",,x1,,", "column 3 'd': expected double, got \"x1\""},
        {",, 1,,", "column 3 'd': expected double, got \" 1\""},
        {",,1 ,,", "column 3 'd': expected double, got \"1 \""},
        {",,1e400,,", "column 3 'd': expected double, got \"1e400\""},
        {",,,yes,", "column 4 'b': expected bool, got \"yes\""},
        {",,,2,", "column 4 'b': expected bool, got \"2\""},
        {",,,,2024-13-45", "column 5 't': cannot parse timestamp \"2024-13-45\""},
        {",,,,-", "column 5 't': cannot parse timestamp \"-\""},
        {",,,,99999999999999999999", "column 5 't': cannot parse timestamp "
                                     "\"99999999999999999999\""},
        {",,,,253402300800000", "column 5 't': timestamp \"253402300800000\" is outside years "
                                "0000..9999"},
        {",\"a\nb\",,,", "column 2 'i': expected int, got \"a?b\""},
        {",01234567890123456789012345678901234567890123456789,,,",
         "column 2 'i': expected int, got \"0123456789012345678901234567890123456789...\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dec(fx, bad[i].line) != CF_ETYPE) {
            fail_msg("accepted %s", bad[i].line);
        }
        assert_string_equal(fx->err.msg, bad[i].msg);
    }
    /* strings converted before the failing column leave nothing in the arena */
    assert_int_equal(dec(fx, "some text,bad,,,"), CF_ETYPE);
    assert_int_equal(fx->batch->n, 0);
    assert_int_equal(fx->batch->arena.used, 0);
}

static void test_structure_errors(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(dec(fx, "\"abc,1,,,"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid CSV: unterminated quote in column 1 (opened at byte 0)");
    assert_int_equal(dec(fx, "a,\"b\"\",,,"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid CSV: unterminated quote in column 2 (opened at byte 2)");
    assert_int_equal(dec(fx, "\"ab\"c,1,,,"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid CSV at byte 4: expected a delimiter after the "
                                     "closing quote of column 1");
    assert_int_equal(dec(fx, "a,1"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid CSV: expected 5 columns, got 2");
    assert_int_equal(dec(fx, "a,1,,,,"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid CSV: expected 5 columns, got 6");
    assert_int_equal(dec(fx, ""), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid CSV: expected 5 columns, got 1");
    /* the column count is checked before values convert */
    assert_int_equal(dec(fx, "a,x"), CF_EPARSE);
    assert_int_equal(fx->batch->n, 0);
}

static void test_crlf_and_delimiters(void **state)
{
    (void)state;
    struct fx *fx = fx_new(';', 0);
    struct cf_batch *b = fx->batch;
    uint32_t r = dec_ok(fx, "a,b;1;2.5;true;0\r");
    assert_strv(b, F_S, r, "a,b");
    assert_intv(b, F_I, r, 1);
    assert_intv(b, F_T, r, 0);
    r = dec_ok(fx, "\"x;y\";;;;\r");
    assert_strv(b, F_S, r, "x;y");
    assert_nullv(b, F_T, r);
    fx_free(fx);

    fx = fx_new('\t', 0);
    b = fx->batch;
    r = dec_ok(fx, "a b\t7\t\t\t");
    assert_strv(b, F_S, r, "a b");
    assert_intv(b, F_I, r, 7);
    fx_free(fx);

    fx = fx_new('|', 0);
    r = dec_ok(fx, "\"a|b\"|1|||");
    assert_strv(fx->batch, F_S, r, "a|b");
    fx_free(fx);
}

static void test_header(void **state)
{
    (void)state;
    struct fx *fx = fx_new(',', 1);
    struct cf_batch *b = fx->batch;
    /* reordered, an unknown column, d and b missing */
    assert_int_equal(dec(fx, "t,extra,\"i\",s\r"), 1);
    assert_int_equal(b->n, 0);
    uint32_t r = dec_ok(fx, "2024-10-22T18:05:00.123Z,whatever,5,hello");
    assert_intv(b, F_T, r, TS);
    assert_intv(b, F_I, r, 5);
    assert_strv(b, F_S, r, "hello");
    assert_nullv(b, F_D, r);
    assert_nullv(b, F_B, r);
    assert_int_equal(dec(fx, "0,x,1"), CF_EPARSE);
    assert_string_equal(fx->err.msg, "invalid CSV: expected 4 columns, got 3");
    /* a second header-looking line is data */
    assert_int_equal(dec(fx, "t,extra,i,s"), CF_ETYPE);
    assert_string_equal(fx->err.msg, "column 1 't': cannot parse timestamp \"t\"");
    /* reset: the next line is a header again */
    cf_csv_decoder_reset(fx->dec);
    assert_int_equal(dec(fx, "\xEF\xBB\xBF"
                             "s,b"),
                     1);
    r = dec_ok(fx, "x,false");
    assert_strv(b, F_S, r, "x");
    assert_int_equal(b->cols[F_B].v.b[r], 0);
    assert_nullv(b, F_I, r);
    cf_csv_decoder_reset(fx->dec);
    assert_int_equal(dec(fx, "s,i,s"), CF_EPARSE);
    assert_string_equal(fx->err.msg,
                        "invalid CSV header: column 's' appears twice (columns 1 and 3)");
    assert_int_equal(dec(fx, "\"s,i"), CF_EPARSE); /* still the header: bad quoting */
    /* a header with many columns, names quoted with doubled quotes */
    struct cf_buf line;
    cf_buf_init(&line);
    for (int i = 0; i < 40; i++) {
        cf_buf_appendf(&line, "\"c\"\"%d\",", i);
    }
    cf_buf_puts(&line, "i");
    assert_int_equal(dec(fx, line.data), 1);
    cf_buf_reset(&line);
    for (int i = 0; i < 40; i++) {
        cf_buf_appendf(&line, "v%d,", i);
    }
    cf_buf_puts(&line, "77");
    r = dec_ok(fx, line.data);
    assert_intv(b, F_I, r, 77);
    assert_nullv(b, F_S, r);
    cf_buf_destroy(&line);
    fx_free(fx);
}

static void test_no_opts(void **state)
{
    (void)state;
    struct cf_schema *s = test_schema();
    struct cf_csv_decoder *d = cf_csv_decoder_create(s, NULL);
    struct cf_batch *b = cf_batch_create(s, 4);
    struct cf_err err;
    assert_int_equal(cf_csv_decode_line(d, "x,1,,,", 6, b, &err), 0);
    assert_strv(b, F_S, 0, "x");
    /* a header row without header=1 is data, and fails to convert */
    assert_int_equal(cf_csv_decode_line(d, "s,i,d,b,t", 9, b, &err), CF_ETYPE);
    cf_batch_destroy(b);
    cf_csv_decoder_destroy(d);
    cf_csv_decoder_destroy(NULL);
    cf_schema_release(s);
}

static void test_encode(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    struct cf_buf out;
    cf_buf_init(&out);
    cf_csv_encode_header(fx->schema, ',', &out);
    assert_string_equal(out.data, "s,i,d,b,t");

    uint32_t r = cf_batch_add_row(b);
    cf_batch_set_str(b, F_S, r, "plain", 5);
    cf_batch_set_int(b, F_I, r, -42);
    cf_batch_set_double(b, F_D, r, 2.5);
    cf_batch_set_bool(b, F_B, r, 1);
    cf_batch_set_int(b, F_T, r, TS);
    cf_buf_reset(&out);
    cf_csv_encode_row(b, r, ',', &out);
    assert_string_equal(out.data, "plain,-42,2.5,true,2024-10-22T18:05:00.123Z");

    static const struct {
        const char *s;
        const char *csv;
    } strs[] = {{"a,b", "\"a,b\""},   {"say \"hi\"", "\"say \"\"hi\"\"\""},
                {"cr\r", "\"cr\r\""}, {"lf\n", "\"lf\n\""},
                {"", "\"\""},         {"semi;colon", "semi;colon"},
                {" pad ", " pad "},   {"\"", "\"\"\"\""}};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        cf_batch_set_str(b, F_S, r, strs[i].s, strlen(strs[i].s));
        cf_buf_reset(&out);
        cf_csv_encode_row(b, r, ',', &out);
        char want[128];
        snprintf(want, sizeof(want), "%s,-42,2.5,true,2024-10-22T18:05:00.123Z", strs[i].csv);
        assert_string_equal(out.data, want);
    }

    r = cf_batch_add_row(b); /* all NULL */
    cf_buf_reset(&out);
    cf_csv_encode_row(b, r, ',', &out);
    assert_string_equal(out.data, ",,,,");

    r = cf_batch_add_row(b);
    cf_batch_set_str(b, F_S, r, "x;y", 3);
    cf_batch_set_double(b, F_D, r, 1e300);
    cf_batch_set_bool(b, F_B, r, 0);
    cf_buf_reset(&out);
    cf_csv_encode_row(b, r, ';', &out);
    assert_string_equal(out.data, "\"x;y\";;1e+300;false;");
    cf_batch_set_double(b, F_D, r, NAN);
    cf_buf_reset(&out);
    cf_csv_encode_row(b, r, 0, &out); /* 0 means ',' */
    assert_string_equal(out.data, "x;y,,NaN,false,");
    cf_batch_set_double(b, F_D, r, 0.5);
    cf_buf_reset(&out);
    cf_csv_encode_row(b, r, '.', &out); /* a value holding the delimiter gets quoted */
    assert_string_equal(out.data, "x;y..\"0.5\".false.");
    /* timestamps outside years 0000..9999 print (without reading back), extremes included */
    static const struct {
        int64_t ms;
        const char *text;
    } far[] = {{253402300800000LL, "x;y,,0.5,false,10000-01-01T00:00:00.000Z"},
               {-62167219200001LL, "x;y,,0.5,false,-0001-12-31T23:59:59.999Z"}};
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        cf_batch_set_int(b, F_T, r, far[i].ms);
        cf_buf_reset(&out);
        cf_csv_encode_row(b, r, ',', &out);
        assert_string_equal(out.data, far[i].text);
    }
    int64_t extremes[] = {INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        cf_batch_set_int(b, F_T, r, extremes[i]);
        cf_buf_reset(&out);
        cf_csv_encode_row(b, r, ',', &out);
        char ts[48];
        cf_ts_format(extremes[i] == INT64_MIN ? INT64_MIN + 86400000 : extremes[i], ts, sizeof(ts));
        assert_string_equal(out.data + strlen("x;y,,0.5,false,"), ts);
    }
    cf_buf_destroy(&out);
}

static void test_encode_header_quoting(void **state)
{
    (void)state;
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "a,b", CF_TYPE_INT);
    cf_schema_add(s, "q\"", CF_TYPE_INT);
    cf_schema_add(s, "", CF_TYPE_INT);
    cf_schema_add(s, "plain", CF_TYPE_INT);
    struct cf_buf out;
    cf_buf_init(&out);
    cf_csv_encode_header(s, ',', &out);
    assert_string_equal(out.data, "\"a,b\",\"q\"\"\",\"\",plain");
    /* a decoder with a header reads its own header back */
    struct cf_csv_options opts = {.delimiter = ',', .header = 1};
    struct cf_csv_decoder *d = cf_csv_decoder_create(s, &opts);
    struct cf_batch *b = cf_batch_create(s, 4);
    struct cf_err err;
    assert_int_equal(cf_csv_decode_line(d, out.data, out.len, b, &err), 1);
    assert_int_equal(cf_csv_decode_line(d, "1,2,3,4", 7, b, &err), 0);
    for (uint32_t c = 0; c < 4; c++) {
        assert_intv(b, c, 0, (int64_t)c + 1);
    }
    cf_csv_decoder_destroy(d);
    cf_batch_destroy(b);
    cf_buf_destroy(&out);
    cf_schema_release(s);
}

static void test_round_trip(void **state)
{
    struct fx *fx = *state;
    struct cf_batch *b = fx->batch;
    const char *lines[] = {
        "hello,42,2.5,true,2024-10-22T18:05:00.123Z",
        "\"a \"\"q\"\", b\",-9223372036854775808,-0.0,FALSE,-62167219200000",
        "\"\",,1e300,1,2024-10-22T20:05:00.123+02:00",
        ",,,,",
        "\"x\ny\r\",+7,NaN,0,0",
        "\",\",9223372036854775807,5e-324,,253402300799999",
    };
    struct cf_buf out, again;
    cf_buf_init(&out);
    cf_buf_init(&again);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        uint32_t r = dec_ok(fx, lines[i]);
        cf_buf_reset(&out);
        cf_csv_encode_row(b, r, ',', &out);
        uint32_t r2 = dec_ok(fx, out.data);
        for (uint32_t c = 0; c < 5; c++) {
            assert_int_equal(b->cols[c].nulls[r], b->cols[c].nulls[r2]);
        }
        cf_buf_reset(&again);
        cf_csv_encode_row(b, r2, ',', &again);
        assert_string_equal(out.data, again.data);
    }
    cf_buf_destroy(&again);
    cf_buf_destroy(&out);
}

/* Every prefix of a line either decodes or fails cleanly (exact-size heap copies). */
static void test_prefixes(void **state)
{
    struct fx *fx = *state;
    const char *line = "\"a \"\"q\"\", b\",-42,\"2.5\",true,\"2024-10-22T18:05:00.123Z\"";
    size_t len = strlen(line);
    for (size_t n = 0; n <= len; n++) {
        char *copy = cf_malloc(n ? n : 1);
        memcpy(copy, line, n);
        uint32_t rows = fx->batch->n;
        size_t used = fx->batch->arena.used;
        int rc = cf_csv_decode_line(fx->dec, copy, n, fx->batch, &fx->err);
        if (rc) {
            assert_true(rc == CF_EPARSE || rc == CF_ETYPE);
            assert_int_equal(fx->batch->n, rows);
            assert_int_equal(fx->batch->arena.used, used);
        } else {
            assert_int_equal(fx->batch->n, rows + 1);
        }
        cf_free(copy);
    }
    /* the whole line, and the prefix ending in the last delimiter (an empty, NULL 't') */
    assert_int_equal(fx->batch->n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_vs_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversion_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_structure_errors, setup, teardown),
        cmocka_unit_test(test_crlf_and_delimiters),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_no_opts),
        cmocka_unit_test_setup_teardown(test_encode, setup, teardown),
        cmocka_unit_test(test_encode_header_quoting),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefixes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
