/*
 * strutil.h - number formatting and small string helpers shared by codecs and templates.
 */
#ifndef CF_STRUTIL_H
#define CF_STRUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Shortest text that reads back as the same double ("0.1", "1e+300"); non-finite values
 * give "null"-free text "NaN"/"Infinity"/"-Infinity" (callers that write JSON check
 * isfinite first). buf must hold 32 bytes. Returns the length. */
size_t cf_double_format(double v, char *buf);
/* Decimal text of an int64; buf must hold 21 bytes. Returns the length. */
size_t cf_int_format(int64_t v, char *buf);
/* Parses a whole string of n bytes as an int64 / double; 0 or CF_EPARSE. */
int cf_int_parse(const char *s, size_t n, int64_t *out);
int cf_double_parse(const char *s, size_t n, double *out);
/* Value of a hexadecimal digit (either case), or -1. */
static inline int cf_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

#endif
