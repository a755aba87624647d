/* Unit tests of common/base: errors, arenas, buffers, hashing, time, number formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/base/hash.h"
#include "common/base/mem.h"
#include "common/base/strutil.h"
#include "common/base/timeutil.h"

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(cf_strerror(CF_OK), "success");
    assert_string_equal(cf_strerror(CF_EPARSE), "parse error");
    assert_string_equal(cf_strerror(-9999), "unknown error");
    struct cf_err err;
    cf_err_clear(&err);
    assert_int_equal(cf_err_set(&err, CF_EINVAL, "bad %s", "thing"), CF_EINVAL);
    assert_string_equal(err.msg, "bad thing");
    cf_err_clear(&err);
    cf_err_append(&err, CF_ESPEC, "first");
    cf_err_append(&err, CF_EINVAL, "second %d", 2);
    assert_int_equal(err.code, CF_ESPEC);
    assert_string_equal(err.msg, "first\nsecond 2");
    assert_int_equal(cf_err_set(NULL, CF_EIO, "x"), CF_EIO);
}

static void test_arena(void **state)
{
    (void)state;
    struct cf_arena a;
    cf_arena_init(&a, 1024);
    char *p = cf_arena_alloc(&a, 10);
    assert_true(((uintptr_t)p & 7) == 0);
    char *big = cf_arena_alloc(&a, 5000); /* larger than a chunk */
    memset(big, 'x', 5000);
    char *s = cf_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_true(a.used >= 5016);
    cf_arena_reset(&a);
    assert_int_equal(a.used, 0);
    for (int i = 0; i < 1000; i++) {
        char *q = cf_arena_alloc(&a, 100);
        memset(q, i & 0xff, 100);
    }
    struct cf_arena b;
    cf_arena_init(&b, 1024);
    char *kept = cf_arena_strndup(&b, "survives", 8);
    cf_arena_absorb(&a, &b);
    assert_int_equal(b.used, 0);
    assert_string_equal(kept, "survives");
    cf_arena_destroy(&b);
    cf_arena_destroy(&a);
}

static void test_buf(void **state)
{
    (void)state;
    struct cf_buf b;
    cf_buf_init(&b);
    cf_buf_puts(&b, "abc");
    cf_buf_putc(&b, '-');
    cf_buf_appendf(&b, "%d/%s", 42, "x");
    assert_string_equal(b.data, "abc-42/x");
    assert_int_equal(b.len, 8);
    for (int i = 0; i < 10000; i++) {
        cf_buf_putc(&b, 'z');
    }
    assert_int_equal(b.len, 10008);
    cf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    cf_buf_destroy(&b);
}

static void test_hash(void **state)
{
    (void)state;
    /* Fixed values: key groups live in checkpoints, so the function must never change. */
    assert_true(cf_hash64("user-1", 6, 0) == cf_hash64("user-1", 6, 0));
    assert_true(cf_hash64("user-1", 6, 0) != cf_hash64("user-2", 6, 0));
    assert_true(cf_hash64("user-1", 6, 0) != cf_hash64("user-1", 6, 1));
    assert_true(cf_hash64("", 0, 0) != cf_hash64("a", 1, 0));
    /* Every length path (0..40 bytes) differs from its neighbours. */
    char buf[48];
    memset(buf, 'q', sizeof(buf));
    for (size_t n = 1; n < 40; n++) {
        assert_true(cf_hash64(buf, n, 7) != cf_hash64(buf, n + 1, 7));
    }
    /* Distribution over 128 key groups: no group is empty or overfull for 12800 keys. */
    int groups[128] = {0};
    for (int i = 0; i < 12800; i++) {
        char key[32];
        size_t n = cf_int_format(i, key);
        groups[cf_hash64(key, n, 0) % 128]++;
    }
    for (int g = 0; g < 128; g++) {
        assert_in_range(groups[g], 50, 150);
    }
    assert_true(cf_hash_u64(1, 0) != cf_hash_u64(2, 0));
}

static void test_duration(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(cf_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cf_duration_parse("30s", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(cf_duration_parse("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(cf_duration_parse("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(cf_duration_parse("1d", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(cf_duration_parse("0ms", &ms), 0);
    assert_int_equal(ms, 0);
    const char *bad[] = {"", "5", "5x", "-5s", "s", "5 s", "1.5s", "99999999999999999999s", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(cf_duration_parse(bad[i], &ms), CF_EPARSE);
    }
    assert_int_equal(cf_duration_parse(NULL, &ms), CF_EPARSE);
    char out[32];
    assert_string_equal(cf_duration_format(300000, out, sizeof(out)), "5m");
    assert_string_equal(cf_duration_format(90000, out, sizeof(out)), "90s");
    assert_string_equal(cf_duration_format(250, out, sizeof(out)), "250ms");
    assert_string_equal(cf_duration_format(0, out, sizeof(out)), "0ms");
}

static int64_t ts(const char *s)
{
    int64_t ms = -1;
    assert_int_equal(cf_ts_parse(s, strlen(s), &ms), 0);
    return ms;
}

static void test_timestamps(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(ts("2024-10-22T18:05:00.000Z"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22T18:05:00Z"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22 18:05:00.123"), 1729620300123LL);
    assert_int_equal(ts("2024-10-22T20:05:00+02:00"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22T13:05:00-0500"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22T19:05:00+01"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22T18:05:00.1234567Z"), 1729620300123LL);
    assert_int_equal(ts("2024-10-22T18:05Z"), 1729620300000LL);
    assert_int_equal(ts("2024-10-22"), 1729555200000LL);
    assert_int_equal(ts("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(ts("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(ts("2024-10-22t18:05:00.123z"), 1729620300123LL);
    assert_int_equal(ts("2016-12-31T23:59:60.000Z"), 1483228800000LL); /* a leap second */
    assert_int_equal(ts("0000-01-01T00:00:00.000Z"), -62167219200000LL);
    const char *bad[] = {
        "2023-02-29T00:00:00Z", "2024-13-01", "2024-10-32", "2024-10-22T24:00:00Z",
        "2024-10-22T18:05:00.Z", "2024-10-22T18:05:00Zjunk", "24-10-22", "2024-10-22T18",
        "not a time", "", "2024-10-22T18:05:00+25:00",
        /* the encoder's 24-byte form, parsed by a fast path */
        "2023-02-29T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-00-01T00:00:00.000Z",
        "2024-10-00T00:00:00.000Z", "2024-10-22T24:00:00.000Z", "2024-10-22T18:60:00.000Z",
        "2024-10-22T18:05:61.000Z", "2024-1a-22T18:05:00.000Z", "2024/10-22T18:05:00.000Z",
        "2024-10-22T18:05:00.000+", "2024-10-22T18:05:00:000Z", NULL};
    int64_t ms;
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(cf_ts_parse(bad[i], strlen(bad[i]), &ms), CF_EPARSE);
    }
    char buf[32];
    cf_ts_format(1729620300123LL, buf, sizeof(buf));
    assert_string_equal(buf, "2024-10-22T18:05:00.123Z");
    cf_ts_format(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    cf_ts_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    /* Round trip over a wide range. */
    for (int64_t t = -86400000LL * 800; t < 86400000LL * 40000; t += 86400000LL * 37 + 12345) {
        cf_ts_format(t, buf, sizeof(buf));
        assert_int_equal(ts(buf), t);
    }
    struct cf_tm tm;
    cf_tm_from_ms(1729620300123LL, &tm);
    assert_int_equal(tm.year, 2024);
    assert_int_equal(tm.month, 10);
    assert_int_equal(tm.day, 22);
    assert_int_equal(tm.hour, 18);
    assert_int_equal(tm.wday, 2); /* a Tuesday */
    assert_int_equal(tm.yday, 295);
}

static void test_strftime(void **state)
{
    (void)state;
    char buf[128];
    int64_t t = 1729620300123LL;
    assert_int_equal(cf_ts_strftime(buf, sizeof(buf), "year=%Y/month=%m/day=%d/hour=%H", t), 33);
    assert_string_equal(buf, "year=2024/month=10/day=22/hour=18");
    cf_ts_strftime(buf, sizeof(buf), "%F %T.%L %a %u %w %j %y %e %s %%", t);
    assert_string_equal(buf, "2024-10-22 18:05:00.123 Tue 2 2 296 24 22 1729620300 %");
    assert_int_equal(cf_ts_strftime(buf, 5, "%Y-%m", t), -1);
    assert_int_equal(cf_ts_strftime(buf, sizeof(buf), "%Q", t), -1);
    const char *bad = NULL;
    assert_int_equal(cf_ts_strftime_check("ok/%Y/%Q", &bad), CF_EPARSE);
    assert_string_equal(bad, "%Q");
    assert_int_equal(cf_ts_strftime_check("%Y/%m/%d %%", &bad), 0);
    assert_int_equal(cf_ts_strftime_check("trailing %", &bad), CF_EPARSE);
}

static void test_numbers(void **state)
{
    (void)state;
    char buf[32];
    cf_double_format(0.1, buf);
    assert_string_equal(buf, "0.1");
    cf_double_format(4.0, buf);
    assert_string_equal(buf, "4.0");
    cf_double_format(-2.5, buf);
    assert_string_equal(buf, "-2.5");
    cf_double_format(1e300, buf);
    assert_string_equal(buf, "1e+300");
    cf_double_format(0.1 + 0.2, buf);
    assert_string_equal(buf, "0.30000000000000004");
    cf_int_format(INT64_MIN, buf);
    assert_string_equal(buf, "-9223372036854775808");
    cf_int_format(0, buf);
    assert_string_equal(buf, "0");
    int64_t v;
    assert_int_equal(cf_int_parse("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(cf_int_parse("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(cf_int_parse("9223372036854775808", 19, &v), CF_EPARSE);
    assert_int_equal(cf_int_parse("12a", 3, &v), CF_EPARSE);
    assert_int_equal(cf_int_parse("-", 1, &v), CF_EPARSE);
    double d;
    assert_int_equal(cf_double_parse("2.5e3", 5, &d), 0);
    assert_true(d == 2500.0);
    assert_int_equal(cf_double_parse("2.5x", 4, &d), CF_EPARSE);
    assert_int_equal(cf_double_parse("1e999", 5, &d), CF_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_arena),
        cmocka_unit_test(test_buf),      cmocka_unit_test(test_hash),
        cmocka_unit_test(test_duration), cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_strftime), cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
