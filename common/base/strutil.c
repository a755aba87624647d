#include "strutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

size_t cf_double_format(double v, char *buf)
{
    if (isnan(v)) {
        memcpy(buf, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        const char *s = v > 0 ? "Infinity" : "-Infinity";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    /*
     * Fast path, no printf: values with at most 6 decimals and a magnitude below 1e9 (prices,
     * durations, ratios) print as m / 10^k for the smallest k whose division gives v back
     * exactly; that decimal is the shortest that reads back as v.
     */
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    if (fabs(v) < 1e9 && (v == 0 || fabs(v) >= 1e-6)) {
        for (int k = 0; k <= 6; k++) {
            double scaled = v * pow10[k];
            int64_t m = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
            if ((double)m / pow10[k] != v) {
                continue;
            }
            char digits[24];
            size_t nd = cf_int_format(m < 0 ? -m : m, digits);
            size_t len = 0;
            if (v < 0 || (v == 0 && signbit(v))) {
                buf[len++] = '-';
            }
            int frac = k ? k : 1; /* integral values print as "4.0" */
            if ((int)nd <= k) {   /* 0.05: pad with leading zeros */
                buf[len++] = '0';
                buf[len++] = '.';
                for (int z = 0; z < k - (int)nd; z++) {
                    buf[len++] = '0';
                }
                memcpy(buf + len, digits, nd);
                len += nd;
            } else if (k == 0) {
                memcpy(buf + len, digits, nd);
                len += nd;
                buf[len++] = '.';
                buf[len++] = '0';
            } else {
                memcpy(buf + len, digits, nd - (size_t)frac);
                len += nd - (size_t)frac;
                buf[len++] = '.';
                memcpy(buf + len, digits + nd - frac, (size_t)frac);
                len += (size_t)frac;
            }
            buf[len] = '\0';
            return len;
        }
    }
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        int n = snprintf(buf, 32, "%.1f", v);
        return (size_t)n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return (size_t)n;
        }
    }
    return (size_t)snprintf(buf, 32, "%.17g", v);
}

size_t cf_int_format(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0) {
        buf[len++] = '-';
    }
    while (n) {
        buf[len++] = tmp[--n];
    }
    buf[len] = '\0';
    return len;
}

int cf_int_parse(const char *s, size_t n, int64_t *out)
{
    if (n == 0) {
        return CF_EPARSE;
    }
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1) {
            return CF_EPARSE;
        }
    }
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) {
            return CF_EPARSE;
        }
        if (v > (limit - d) / 10) {
            return CF_EPARSE;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int cf_double_parse(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp)) {
        return CF_EPARSE;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n || (errno == ERANGE && isinf(v))) {
        return CF_EPARSE;
    }
    *out = v;
    return 0;
}
