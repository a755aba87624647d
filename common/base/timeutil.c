#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"

int64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cf_monotonic_ms(void)
{
    return cf_monotonic_ns() / 1000000;
}

void cf_monotonic_timespec(int64_t deadline_ms, struct timespec *ts)
{
    ts->tv_sec = deadline_ms / 1000;
    ts->tv_nsec = (deadline_ms % 1000) * 1000000;
}

int cf_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !isdigit((unsigned char)*s)) {
        return CF_EPARSE;
    }
    int64_t v = 0;
    const char *p = s;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX - 9) / 10) {
            return CF_EPARSE;
        }
        v = v * 10 + (*p - '0');
        p++;
    }
    int64_t mult;
    if (strcmp(p, "ms") == 0) {
        mult = 1;
    } else if (strcmp(p, "s") == 0) {
        mult = 1000;
    } else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0) {
        mult = 60 * 1000;
    } else if (strcmp(p, "h") == 0) {
        mult = 3600 * 1000;
    } else if (strcmp(p, "d") == 0) {
        mult = 86400 * 1000;
    } else {
        return CF_EPARSE;
    }
    if (v > INT64_MAX / mult) {
        return CF_EPARSE;
    }
    *ms = v * mult;
    return 0;
}

char *cf_duration_format(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t mult;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].mult == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].mult), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, size, "%lldms", (long long)ms);
    return buf;
}

/* Civil-date conversions after the well-known era-based formulation (400-year cycles). */
int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

void cf_tm_from_ms(int64_t ms, struct cf_tm *tm)
{
    /* ms % 86400000 cannot overflow, unlike ms - days * 86400000 near INT64_MIN. */
    int64_t days = floor_div(ms, 86400000);
    int64_t rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
    }
    unsigned m, d;
    cf_civil_from_days(days, &tm->year, &m, &d);
    tm->month = (int)m;
    tm->day = (int)d;
    tm->hour = (int)(rem / 3600000);
    tm->minute = (int)(rem / 60000 % 60);
    tm->second = (int)(rem / 1000 % 60);
    tm->millis = (int)(rem % 1000);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    tm->wday = (int)(w < 0 ? w + 7 : w);
    tm->yday = (int)(days - cf_days_from_civil(tm->year, 1, 1));
}

static int digits(const char *s, size_t n, size_t *pos, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (*pos >= n || !isdigit((unsigned char)s[*pos])) {
            return -1;
        }
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
    }
    *out = v;
    return 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dim[m - 1];
}

/*
 * 8 bytes of text match a pattern: the bytes where mask is 0xff are ASCII digits, the others
 * equal those of lit (0 where mask is 0xff). A digit's high nibble is 3 and its low nibble
 * plus 6 stays below 16; no byte carries into the next (every byte + 6 <= 0xff here).
 */
static inline int word_matches(uint64_t w, uint64_t mask, uint64_t lit)
{
    const uint64_t hi = 0xf0f0f0f0f0f0f0f0ULL & mask, three = 0x3030303030303030ULL & mask;
    return (w & ~mask) == lit && (w & hi) == three && ((w + 0x0606060606060606ULL) & hi) == three;
}

/*
 * The form cf_ts_format() writes, "2024-10-22T18:05:00.123Z", by far the most common input:
 * checked a word at a time and converted without the general parser's branches. 0, or -1
 * when s (24 bytes) is not exactly that form (the general parser then decides).
 */
static int parse_canonical(const char *s, int64_t *ms)
{
    uint64_t w[3];
    memcpy(w, s, 24);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* "dddd-dd-", "ddTdd:dd", ":dd.dddZ", byte 0 lowest */
    if (!word_matches(w[0], 0x00ffff00ffffffffULL, 0x2d00002d00000000ULL) ||
        !word_matches(w[1], 0xffff00ffff00ffffULL, 0x00003a0000540000ULL) ||
        !word_matches(w[2], 0x00ffffff00ffff00ULL, 0x5a0000002e00003aULL)) {
        return -1;
    }
#else
    (void)w;
    return -1;
#endif
#define D(i) (s[i] - '0')
    int year = D(0) * 1000 + D(1) * 100 + D(2) * 10 + D(3);
    int mon = D(5) * 10 + D(6), day = D(8) * 10 + D(9);
    int hour = D(11) * 10 + D(12), min = D(14) * 10 + D(15), sec = D(17) * 10 + D(18);
    int millis = D(20) * 100 + D(21) * 10 + D(22);
#undef D
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 60) {
        return -1;
    }
    int64_t days = cf_days_from_civil(year, (unsigned)mon, (unsigned)day);
    *ms = ((days * 24 + hour) * 60 + min) * 60000 + (int64_t)sec * 1000 + millis;
    return 0;
}

int cf_ts_parse(const char *s, size_t n, int64_t *ms)
{
    if (n == 24 && parse_canonical(s, ms) == 0) {
        return 0;
    }
    size_t p = 0;
    int year, mon, day, hour = 0, min = 0, sec = 0, millis = 0;
    if (digits(s, n, &p, 4, &year) || p >= n || s[p++] != '-' || digits(s, n, &p, 2, &mon) ||
        p >= n || s[p++] != '-' || digits(s, n, &p, 2, &day)) {
        return CF_EPARSE;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon)) {
        return CF_EPARSE;
    }
    int64_t offset_min = 0;
    if (p < n && (s[p] == 'T' || s[p] == 't' || s[p] == ' ')) {
        p++;
        if (digits(s, n, &p, 2, &hour) || p >= n || s[p++] != ':' || digits(s, n, &p, 2, &min)) {
            return CF_EPARSE;
        }
        if (p < n && s[p] == ':') {
            p++;
            if (digits(s, n, &p, 2, &sec)) {
                return CF_EPARSE;
            }
            if (p < n && (s[p] == '.' || s[p] == ',')) {
                p++;
                int nd = 0;
                while (p < n && isdigit((unsigned char)s[p])) {
                    if (nd < 3) {
                        millis = millis * 10 + (s[p] - '0');
                    }
                    nd++;
                    p++;
                }
                if (nd == 0) {
                    return CF_EPARSE;
                }
                for (; nd < 3; nd++) {
                    millis *= 10;
                }
            }
        }
        if (hour > 23 || min > 59 || sec > 60) {
            return CF_EPARSE;
        }
        if (p < n && (s[p] == 'Z' || s[p] == 'z')) {
            p++;
        } else if (p < n && (s[p] == '+' || s[p] == '-')) {
            int sign = s[p++] == '-' ? -1 : 1;
            int oh, om = 0;
            if (digits(s, n, &p, 2, &oh)) {
                return CF_EPARSE;
            }
            if (p < n && s[p] == ':') {
                p++;
                if (digits(s, n, &p, 2, &om)) {
                    return CF_EPARSE;
                }
            } else if (p < n) {
                if (digits(s, n, &p, 2, &om)) {
                    return CF_EPARSE;
                }
            }
            if (oh > 23 || om > 59) {
                return CF_EPARSE;
            }
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (p != n) {
        return CF_EPARSE;
    }
    int64_t days = cf_days_from_civil(year, (unsigned)mon, (unsigned)day);
    *ms = ((days * 24 + hour) * 60 + min - offset_min) * 60000 + (int64_t)sec * 1000 + millis;
    return 0;
}

static char *put_num(char *p, int64_t v, int width)
{
    char tmp[24];
    int n = 0;
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) {
        *p++ = '-';
    }
    for (int i = n; i < width; i++) {
        *p++ = '0';
    }
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

size_t cf_ts_format(int64_t ms, char *buf, size_t size)
{
    struct cf_tm tm;
    char tmp[48];
    cf_tm_from_ms(ms, &tm);
    char *p = tmp;
    p = put_num(p, tm.year, 4);
    *p++ = '-';
    p = put_num(p, tm.month, 2);
    *p++ = '-';
    p = put_num(p, tm.day, 2);
    *p++ = 'T';
    p = put_num(p, tm.hour, 2);
    *p++ = ':';
    p = put_num(p, tm.minute, 2);
    *p++ = ':';
    p = put_num(p, tm.second, 2);
    *p++ = '.';
    p = put_num(p, tm.millis, 3);
    *p++ = 'Z';
    size_t len = (size_t)(p - tmp);
    if (size == 0) {
        return 0;
    }
    if (len >= size) {
        len = size - 1;
    }
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}

static const char *const wday_abbr[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

int cf_ts_strftime_check(const char *fmt, const char **bad)
{
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            continue;
        }
        f++;
        if (!*f || !strchr("YmdHMSjauwyeFTsL%", *f)) {
            if (bad) {
                *bad = f - 1;
            }
            return CF_EPARSE;
        }
    }
    return 0;
}

int cf_ts_strftime(char *buf, size_t size, const char *fmt, int64_t ms)
{
    struct cf_tm tm;
    cf_tm_from_ms(ms, &tm);
    char *p = buf, *end = buf + size;
    for (const char *f = fmt; *f; f++) {
        char tmp[64];
        char *t = tmp;
        if (*f != '%') {
            *t++ = *f;
        } else {
            switch (*++f) {
            case 'Y': t = put_num(t, tm.year, 4); break;
            case 'y': t = put_num(t, ((tm.year % 100) + 100) % 100, 2); break;
            case 'm': t = put_num(t, tm.month, 2); break;
            case 'd': t = put_num(t, tm.day, 2); break;
            case 'e':
                if (tm.day < 10) {
                    *t++ = ' ';
                }
                t = put_num(t, tm.day, 1);
                break;
            case 'H': t = put_num(t, tm.hour, 2); break;
            case 'M': t = put_num(t, tm.minute, 2); break;
            case 'S': t = put_num(t, tm.second, 2); break;
            case 'L': t = put_num(t, tm.millis, 3); break;
            case 'j': t = put_num(t, tm.yday + 1, 3); break;
            case 'a':
                memcpy(t, wday_abbr[tm.wday], 3);
                t += 3;
                break;
            case 'u': t = put_num(t, tm.wday == 0 ? 7 : tm.wday, 1); break;
            case 'w': t = put_num(t, tm.wday, 1); break;
            case 's': t = put_num(t, floor_div(ms, 1000), 1); break;
            case 'F':
                t = put_num(t, tm.year, 4);
                *t++ = '-';
                t = put_num(t, tm.month, 2);
                *t++ = '-';
                t = put_num(t, tm.day, 2);
                break;
            case 'T':
                t = put_num(t, tm.hour, 2);
                *t++ = ':';
                t = put_num(t, tm.minute, 2);
                *t++ = ':';
                t = put_num(t, tm.second, 2);
                break;
            case '%': *t++ = '%'; break;
            default: return -1;
            }
        }
        size_t len = (size_t)(t - tmp);
        if ((size_t)(end - p) <= len) {
            return -1;
        }
        memcpy(p, tmp, len);
        p += len;
    }
    if (p >= end) {
        return -1;
    }
    *p = '\0';
    return (int)(p - buf);
}
