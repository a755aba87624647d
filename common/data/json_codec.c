/*
 * json_codec.c - schema-directed JSON line decoder and row encoder.
 *
 * The decoder walks the line once with a pointer and an end (lines are not NUL-terminated).
 * Scanning helpers return the position after what they consumed, or NULL after writing the
 * error into the context. Strings are first only validated (escapes, UTF-8) while their
 * unescaped length is counted; the row's strings are materialized at the end, all in one
 * arena allocation, so a failing line costs the batch nothing.
 */
#include "json_codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"
#include "../base/mem.h"
#include "../base/strutil.h"
#include "../base/timeutil.h"

/* ------------------------------------------------------------------------------------------
 * Byte-parallel (SWAR) scanning helpers.
 */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/*
 * Nonzero when some byte of w needs the decoder's attention inside a string: '"', '\\', a
 * control character (< 0x20) or a non-ASCII byte (>= 0x80, UTF-8 to validate). Only "any"
 * matters, so the non-ASCII test absorbs the usual "& ~x" terms of the zero-byte tricks.
 */
static inline uint64_t str_special(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"');
    uint64_t b = w ^ (ONES * '\\');
    return ((q - ONES) | (b - ONES) | (w - ONES * 0x20) | w) & HIGHS;
}

/* Nonzero when some byte of w must be escaped on output: '"', '\\' or < 0x20 (exact). */
static inline uint64_t esc_special(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"');
    uint64_t b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

/* 1 for bytes that pass through a string unexamined: printable ASCII except '"' and '\\'. */
static const uint8_t plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * The first byte at or after p that is not plain (see plain_byte), or end. The lowest flagged
 * byte of str_special() is exact: its false positives come only from borrows out of a lower
 * flagged byte, so on a little-endian machine the count of trailing zero bits finds it.
 */
static inline const char *skip_plain(const char *p, const char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t m = str_special(load8(p));
        if (m) {
            return p + (__builtin_ctzll(m) >> 3);
        }
        p += 8;
    }
#endif
    while (p < end && plain_byte[(unsigned char)*p]) {
        p++;
    }
    return p;
}

/* a[0, n) == b[0, n), both readable for n bytes: word compares, no call for short keys. */
static inline int bytes_equal(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            if (load8(a + i) != load8(b + i)) {
                return 0;
            }
        }
        return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4) {
        uint32_t x, y, z, w;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&z, a + n - 4, 4);
        memcpy(&w, b + n - 4, 4);
        return x == y && z == w;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static inline int is_digit(char c)
{
    return (unsigned)(c - '0') < 10;
}

static inline const char *skip_ws(const char *p, const char *end)
{
    /* Every whitespace byte is <= ' ', so one compare settles the usual case (none). */
    while (p < end && (unsigned char)*p <= ' ' &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The code unit of 4 hex digits at p, or -1. The caller checked that 4 bytes exist. */
static int32_t hex4(const char *p)
{
    int a = hex_val(p[0]), b = hex_val(p[1]), c = hex_val(p[2]), d = hex_val(p[3]);
    if ((a | b | c | d) < 0) {
        return -1;
    }
    return (a << 12) | (b << 8) | (c << 4) | d;
}

static inline size_t utf8_width(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static char *put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xC0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    return d;
}

/*
 * Length of the well-formed UTF-8 sequence starting at the non-ASCII byte p[0] (Unicode
 * table 3-7: no overlongs, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0xC2) {
        return 0;
    }
    if (c < 0xE0) {
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c < 0xF0) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/*
 * Unescapes the content of a JSON string that scan_string() validated (n raw bytes) into
 * dst, which has room for the unescaped length. Returns that length.
 */
static size_t unescape(const char *s, size_t n, char *dst)
{
    const char *end = s + n;
    char *d = dst;
    while (s < end) {
        const char *bs = memchr(s, '\\', (size_t)(end - s));
        if (!bs) {
            memcpy(d, s, (size_t)(end - s));
            d += end - s;
            break;
        }
        memcpy(d, s, (size_t)(bs - s));
        d += bs - s;
        s = bs + 1;
        char c = *s++;
        switch (c) {
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(s);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = (uint32_t)hex4(s + 2);
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            d = put_utf8(d, cp);
            break;
        }
        default: *d++ = c; break; /* '"', '\\', '/' */
        }
    }
    return (size_t)(d - dst);
}

/* ------------------------------------------------------------------------------------------
 * Double formatting shared by the encoders.
 */

/*
 * cf_double_format() without its int64 cast of huge values (undefined behaviour for
 * |v| >= 2^63): from 1e15 up it prints the shortest of %.15g..%.17g that reads back, which
 * is exactly what cf_double_format() prints there. v is finite.
 */
static size_t format_double(double v, char *buf)
{
    if (fabs(v) < 1e15) {
        return cf_double_format(v, buf);
    }
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return (size_t)n;
        }
    }
    return (size_t)snprintf(buf, 32, "%.17g", v);
}

/* ------------------------------------------------------------------------------------------
 * Decoder.
 */

/* A string field's value, materialized into the arena once the line has parsed. */
struct pend_str {
    const char *s; /* raw content in the line */
    uint32_t raw;  /* raw length */
    uint32_t out;  /* unescaped length */
    int esc;       /* has escapes: unescape instead of memcpy */
};

struct cf_json_decoder {
    const struct cf_schema *schema;
    uint32_t nfields;
    uint32_t mask;         /* slots - 1, a power of two minus one */
    uint32_t *slots;       /* open addressing, linear probing: field index + 1, 0 = empty */
    const char **names;    /* field names (the schema's) */
    uint32_t *name_lens;   /* their lengths */
    uint8_t *types;        /* enum cf_type per field */
    uint32_t *str_cols;    /* indexes of the string fields */
    uint32_t nstr;         /* how many */
    struct pend_str *pend; /* per field; used for string fields */
    struct cf_buf scratch; /* escaped keys, escaped timestamps, long numbers */
    /*
     * Key prediction: lines of one source nearly always list their keys in the same order,
     * so follow[k] is the field whose key came next the last time (k = 0 at the start of
     * the object, 1 + f after field f, nfields + 1 after a key the schema does not name; -1
     * when unknown or not predictable). A predicted key is matched by comparing the
     * raw bytes with the name and its closing quote, which skips scanning, hashing and
     * probing; only names of plain bytes (plain_name) are predicted, so the raw bytes
     * matching is the key being that name.
     */
    int32_t *follow;
    uint8_t *plain_name;
    uint8_t *keep; /* per field: store its value (cf_json_decoder_project) */
};

/*
 * Hash of a key: its length and its first and last 8 bytes. Names in a schema rarely share
 * all three, and the probe compares lengths before bytes, so this is cheap and good enough.
 */
static inline uint32_t key_hash(const char *s, size_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        a = load8(s);
        b = load8(s + n - 8);
    } else {
        memcpy(&a, s, n);
    }
    uint64_t h = (a ^ (b * 0xC2B2AE3D27D4EB4FULL) ^ (uint64_t)n) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 32);
}

static inline int find_field(const struct cf_json_decoder *dec, const char *s, size_t n)
{
    uint32_t i = key_hash(s, n) & dec->mask;
    for (;;) {
        uint32_t f = dec->slots[i];
        if (!f) {
            return -1;
        }
        f--;
        if (dec->name_lens[f] == n && memcmp(dec->names[f], s, n) == 0) {
            return (int)f;
        }
        i = (i + 1) & dec->mask;
    }
}

struct cf_json_decoder *cf_json_decoder_create(const struct cf_schema *schema)
{
    struct cf_json_decoder *dec = cf_new(struct cf_json_decoder);
    uint32_t nf = schema->nfields;
    dec->schema = schema;
    dec->nfields = nf;
    uint32_t size = 8;
    while (size < 2 * nf) {
        size *= 2;
    }
    dec->mask = size - 1;
    dec->slots = cf_calloc(size, sizeof(*dec->slots));
    dec->names = cf_calloc(nf, sizeof(*dec->names));
    dec->name_lens = cf_calloc(nf, sizeof(*dec->name_lens));
    dec->types = cf_calloc(nf, sizeof(*dec->types));
    dec->str_cols = cf_calloc(nf, sizeof(*dec->str_cols));
    dec->pend = cf_calloc(nf, sizeof(*dec->pend));
    dec->follow = cf_malloc((nf + 2) * sizeof(*dec->follow));
    dec->plain_name = cf_calloc(nf, 1);
    dec->keep = cf_malloc(nf + 1);
    memset(dec->keep, 1, nf + 1);
    for (uint32_t k = 0; k < nf + 2; k++) {
        dec->follow[k] = -1;
    }
    for (uint32_t f = 0; f < nf; f++) {
        const char *name = schema->fields[f].name;
        size_t len = strlen(name);
        dec->names[f] = name;
        dec->name_lens[f] = (uint32_t)len;
        dec->plain_name[f] = skip_plain(name, name + len) == name + len;
        dec->types[f] = (uint8_t)schema->fields[f].type;
        if (schema->fields[f].type == CF_TYPE_STRING) {
            dec->str_cols[dec->nstr++] = f;
        }
        uint32_t i = key_hash(name, len) & dec->mask;
        while (dec->slots[i]) {
            i = (i + 1) & dec->mask;
        }
        dec->slots[i] = f + 1;
    }
    cf_buf_init(&dec->scratch);
    return dec;
}

void cf_json_decoder_destroy(struct cf_json_decoder *dec)
{
    if (!dec) {
        return;
    }
    cf_free(dec->slots);
    cf_free(dec->names);
    cf_free(dec->name_lens);
    cf_free(dec->types);
    cf_free(dec->str_cols);
    cf_free(dec->pend);
    cf_free(dec->follow);
    cf_free(dec->plain_name);
    cf_free(dec->keep);
    cf_buf_destroy(&dec->scratch);
    cf_free(dec);
}

void cf_json_decoder_project(struct cf_json_decoder *dec, const uint8_t *keep)
{
    memcpy(dec->keep, keep, dec->nfields);
}

/* State of one decode. */
struct jcx {
    const char *start; /* the line, for byte offsets */
    const char *end;
    struct cf_err *err;
    struct cf_json_decoder *dec;
    int rc;
};

struct jstr {
    const char *s; /* content after the opening quote */
    size_t raw;    /* raw content length */
    size_t out;    /* unescaped length */
    int esc;       /* content has escapes */
};

struct jnum {
    const char *s; /* the number's text */
    size_t n;
    uint64_t mant; /* value of the integer digits when ndig <= 19 (wraps beyond) */
    size_t ndig;   /* integer digits */
    int neg;
    int is_int; /* no fraction, no exponent */
};

static const char *syntax_err(struct jcx *cx, const char *p, const char *what)
{
    size_t off = (size_t)(p - cx->start);
    if (p >= cx->end) {
        cf_err_set(cx->err, CF_EPARSE, "invalid JSON at byte %zu: %s, got end of line", off, what);
    } else {
        cf_err_set(cx->err, CF_EPARSE, "invalid JSON at byte %zu: %s", off, what);
    }
    cx->rc = CF_EPARSE;
    return NULL;
}

/* A short, printable rendering of len bytes of the input for an error message. */
#define SHOW_MAX 40

static int show_len(const char *s, size_t len)
{
    if (len <= SHOW_MAX) {
        return (int)len;
    }
    size_t n = SHOW_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--; /* do not cut a UTF-8 sequence */
    }
    return (int)n;
}

/* "string \"abc\"", "number 2.5", "true", "object": what a value is, for type errors. */
static void describe(const char *v, size_t len, char *buf, size_t size)
{
    switch (*v) {
    case '"': {
        /* v spans the quotes; the content is validated, so it holds no control bytes */
        const char *s = v + 1;
        size_t n = len - 2;
        int k = show_len(s, n);
        snprintf(buf, size, "string \"%.*s%s\"", k, s, (size_t)k < n ? "..." : "");
        break;
    }
    case '{': snprintf(buf, size, "object"); break;
    case '[': snprintf(buf, size, "array"); break;
    case 't':
    case 'f': snprintf(buf, size, "%s", *v == 't' ? "true" : "false"); break;
    default: {
        int k = show_len(v, len);
        snprintf(buf, size, "number %.*s%s", k, v, (size_t)k < len ? "..." : "");
        break;
    }
    }
}

static const char *type_err(struct jcx *cx, uint32_t f, const char *v, size_t len)
{
    char what[SHOW_MAX + 32];
    describe(v, len, what, sizeof(what));
    cf_err_set(cx->err, CF_ETYPE, "field '%s': expected %s, got %s", cx->dec->names[f],
               cf_type_name((enum cf_type)cx->dec->types[f]), what);
    cx->rc = CF_ETYPE;
    return NULL;
}

/*
 * A value that has the right JSON type but does not fit: "field 'x': <before><value><after>",
 * the value shown (truncated) in quotes when `quote`.
 */
static const char *value_err(struct jcx *cx, uint32_t f, const char *before, const char *v,
                             size_t len, int quote, const char *after)
{
    int k = show_len(v, len);
    const char *q = quote ? "\"" : "";
    cf_err_set(cx->err, CF_ETYPE, "field '%s': %s%s%.*s%s%s%s", cx->dec->names[f], before, q, k, v,
               (size_t)k < len ? "..." : "", q, after);
    cx->rc = CF_ETYPE;
    return NULL;
}

/* scan_string() for a string with escapes, non-ASCII bytes or an error. */
static const char *scan_string_slow(struct jcx *cx, const char *p, struct jstr *js)
{
    const char *end = cx->end;
    size_t saved = 0; /* bytes the escapes save when unescaped */
    js->s = p;
    js->esc = 0;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end) {
            return syntax_err(cx, p, "unterminated string");
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            const char *bs = p++;
            if (p >= end) {
                return syntax_err(cx, bs, "unterminated escape in string");
            }
            js->esc = 1;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p++;
                saved += 1;
                break;
            case 'u': {
                int32_t cp = end - p >= 5 ? hex4(p + 1) : -1;
                if (cp < 0) {
                    return syntax_err(cx, bs, "invalid \\u escape (expected 4 hex digits)");
                }
                p += 5;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int32_t lo = -1;
                    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                        lo = hex4(p + 2);
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        return syntax_err(cx, bs, "high surrogate \\u escape without a low one");
                    }
                    p += 6;
                    saved += 12 - 4;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return syntax_err(cx, bs, "lone low surrogate \\u escape");
                } else {
                    saved += 6 - utf8_width((uint32_t)cp);
                }
                break;
            }
            default: return syntax_err(cx, bs, "invalid escape in string");
            }
        } else if (c < 0x20) {
            return syntax_err(cx, p, "control character in string (must be escaped)");
        } else {
            size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (!n) {
                return syntax_err(cx, p, "invalid UTF-8 in string");
            }
            p += n;
        }
    }
    js->raw = (size_t)(p - js->s);
    js->out = js->raw - saved;
    return p + 1;
}

/*
 * Scans a string whose opening quote is at p[-1]: validates escapes and UTF-8, counts the
 * unescaped length. Returns the position after the closing quote. Inline for the usual
 * string, plain bytes up to the quote.
 */
static inline const char *scan_string(struct jcx *cx, const char *p, struct jstr *js)
{
    const char *q = skip_plain(p, cx->end);
    if (q < cx->end && *q == '"') {
        js->s = p;
        js->raw = js->out = (size_t)(q - p);
        js->esc = 0;
        return q + 1;
    }
    return scan_string_slow(cx, p, js);
}

/* Scans a number starting at p ('-' or a digit) by the JSON grammar. */
static const char *scan_number(struct jcx *cx, const char *p, struct jnum *num)
{
    const char *end = cx->end;
    num->s = p;
    num->neg = 0;
    num->is_int = 1;
    if (*p == '-') {
        num->neg = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        return syntax_err(cx, p, "expected a digit");
    }
    const char *ds = p;
    uint64_t m = 0;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            return syntax_err(cx, p, "leading zero in number");
        }
    } else {
        while (p < end && is_digit(*p)) {
            m = m * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    num->mant = m;
    num->ndig = (size_t)(p - ds);
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            return syntax_err(cx, p, "expected a digit after '.'");
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
        num->is_int = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            return syntax_err(cx, p, "expected a digit in exponent");
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
        num->is_int = 0;
    }
    num->n = (size_t)(p - num->s);
    return p;
}

/*
 * The significant digits of a validated number with a fraction or exponent: the value is
 * D * 10^e10 where D is the digits k0..k1 of the integer and fraction digits (no leading or
 * trailing zeros). Returns 0 when the value is zero.
 */
struct digits {
    const char *ip, *fp; /* integer and fraction digits */
    size_t il, fl;
    size_t k0, k1; /* first and last nonzero digit, indexes into ip ++ fp */
    int64_t e10;
};

static inline char digit_at(const struct digits *d, size_t k)
{
    return k < d->il ? d->ip[k] : d->fp[k - d->il];
}

static int split_digits(const struct jnum *num, struct digits *d)
{
    const char *p = num->s + num->neg, *end = num->s + num->n;
    d->ip = p;
    while (p < end && is_digit(*p)) {
        p++;
    }
    d->il = (size_t)(p - d->ip);
    d->fp = p;
    d->fl = 0;
    if (p < end && *p == '.') {
        d->fp = ++p;
        while (p < end && is_digit(*p)) {
            p++;
        }
        d->fl = (size_t)(p - d->fp);
    }
    int64_t exp = 0;
    if (p < end) { /* 'e' or 'E' */
        p++;
        int eneg = *p == '-';
        if (*p == '+' || *p == '-') {
            p++;
        }
        for (; p < end; p++) {
            if (exp < 1000000000000LL) { /* saturate: far beyond any line length */
                exp = exp * 10 + (*p - '0');
            }
        }
        exp = eneg ? -exp : exp;
    }
    size_t total = d->il + d->fl;
    size_t k0 = 0;
    while (k0 < total && digit_at(d, k0) == '0') {
        k0++;
    }
    if (k0 == total) {
        return 0;
    }
    size_t k1 = total - 1;
    while (digit_at(d, k1) == '0') {
        k1--;
    }
    d->k0 = k0;
    d->k1 = k1;
    d->e10 = exp - (int64_t)d->fl + (int64_t)(total - 1 - k1);
    return 1;
}

/* Integral value of a number: 0, 1 when not integral, 2 when outside int64. */
static int num_to_int(const struct jnum *num, int64_t *out)
{
    if (num->is_int) {
        if (num->ndig <= 18) {
            *out = num->neg ? -(int64_t)num->mant : (int64_t)num->mant;
            return 0;
        }
        return cf_int_parse(num->s, num->n, out) == 0 ? 0 : 2;
    }
    struct digits d;
    if (!split_digits(num, &d)) {
        *out = 0;
        return 0;
    }
    if (d.e10 < 0) {
        return 1;
    }
    if ((int64_t)(d.k1 - d.k0 + 1) + d.e10 > 19) {
        return 2;
    }
    uint64_t v = 0;
    for (size_t k = d.k0; k <= d.k1; k++) {
        v = v * 10 + (uint64_t)(digit_at(&d, k) - '0');
    }
    for (int64_t e = 0; e < d.e10; e++) {
        v *= 10; /* at most 19 digits: no overflow of uint64 */
    }
    uint64_t limit = num->neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (v > limit) {
        return 2;
    }
    *out = num->neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Double value of a number: 0, or 2 when it overflows. */
static int num_to_double(struct cf_json_decoder *dec, const struct jnum *num, double *out)
{
    if (num->is_int && num->ndig <= 15) {
        double v = (double)num->mant;
        *out = num->neg ? -v : v;
        return 0;
    }
    struct digits d;
    if (!split_digits(num, &d)) {
        *out = num->neg ? -0.0 : 0.0;
        return 0;
    }
    /* Clinger's fast path: D and 10^|e10| are exact doubles, so one operation rounds right. */
    if (d.k1 - d.k0 < 19 && d.e10 >= -22 && d.e10 <= 22) {
        uint64_t m = 0;
        for (size_t k = d.k0; k <= d.k1; k++) {
            m = m * 10 + (uint64_t)(digit_at(&d, k) - '0');
        }
        if (m <= (1ULL << 53)) {
            double v = (double)m;
            v = d.e10 < 0 ? v / pow10_exact[-d.e10] : v * pow10_exact[d.e10];
            *out = num->neg ? -v : v;
            return 0;
        }
    }
    double v;
    if (num->n < 64) {
        if (cf_double_parse(num->s, num->n, &v) != 0) {
            return 2;
        }
    } else {
        cf_buf_reset(&dec->scratch);
        cf_buf_append(&dec->scratch, num->s, num->n);
        v = strtod(dec->scratch.data, NULL);
    }
    if (!isfinite(v)) {
        return 2;
    }
    *out = v;
    return 0;
}

static inline int ts_in_range(int64_t ms)
{
    return ms >= CF_JSON_TS_MIN && ms <= CF_JSON_TS_MAX;
}

static inline const char *match_lit(struct jcx *cx, const char *p, const char *lit, size_t n)
{
    if ((size_t)(cx->end - p) < n || memcmp(p, lit, n) != 0) {
        return syntax_err(cx, p, "invalid literal (expected true, false or null)");
    }
    return p + n;
}

/* Parses the value at p into field f of row r. */
static const char *parse_field(struct jcx *cx, const char *p, uint32_t f, struct cf_batch *batch,
                               uint32_t r)
{
    struct cf_json_decoder *dec = cx->dec;
    enum cf_type type = (enum cf_type)dec->types[f];
    struct cf_col *col = &batch->cols[f];
    const char *v = p;

    if (*p == '"') {
        struct jstr js;
        p = scan_string(cx, p + 1, &js);
        if (!p) {
            return NULL;
        }
        if (type == CF_TYPE_STRING) {
            if (js.raw > UINT32_MAX) {
                return value_err(cx, f, "string ", js.s, js.raw, 1, " is longer than 4 GiB");
            }
            struct pend_str *ps = &dec->pend[f];
            ps->s = js.s;
            ps->raw = (uint32_t)js.raw;
            ps->out = (uint32_t)js.out;
            ps->esc = js.esc;
            col->nulls[r] = 0;
            return p;
        }
        if (type != CF_TYPE_TIMESTAMP) {
            return type_err(cx, f, v, (size_t)(p - v));
        }
        const char *s = js.s;
        if (js.esc) {
            cf_buf_reset(&dec->scratch);
            cf_buf_reserve(&dec->scratch, js.raw);
            s = dec->scratch.data;
            unescape(js.s, js.raw, dec->scratch.data);
        }
        int64_t ms;
        if (cf_ts_parse(s, js.out, &ms) != 0) {
            return value_err(cx, f, "cannot parse timestamp ", js.s, js.raw, 1, "");
        }
        if (!ts_in_range(ms)) {
            return value_err(cx, f, "timestamp ", js.s, js.raw, 1, " is outside years 0000..9999");
        }
        cf_batch_set_int(batch, f, r, ms);
        return p;
    }

    if (*p == '-' || is_digit(*p)) {
        struct jnum num;
        p = scan_number(cx, p, &num);
        if (!p) {
            return NULL;
        }
        switch (type) {
        case CF_TYPE_INT:
        case CF_TYPE_TIMESTAMP: {
            int64_t iv;
            int rc = num_to_int(&num, &iv);
            if (rc == 1) {
                return type_err(cx, f, num.s, num.n);
            }
            if (rc == 2 || (type == CF_TYPE_TIMESTAMP && !ts_in_range(iv))) {
                if (type == CF_TYPE_INT) {
                    return value_err(cx, f, "", num.s, num.n, 0, " is out of range for int");
                }
                return value_err(cx, f, "timestamp ", num.s, num.n, 0,
                                 " is outside years 0000..9999");
            }
            cf_batch_set_int(batch, f, r, iv);
            return p;
        }
        case CF_TYPE_DOUBLE: {
            double dv;
            if (num_to_double(dec, &num, &dv) != 0) {
                return value_err(cx, f, "", num.s, num.n, 0, " is out of range for double");
            }
            cf_batch_set_double(batch, f, r, dv);
            return p;
        }
        case CF_TYPE_STRING: {
            struct pend_str *ps = &dec->pend[f];
            if (num.n > UINT32_MAX) {
                return value_err(cx, f, "number ", num.s, num.n, 0, " is longer than 4 GiB");
            }
            ps->s = num.s;
            ps->raw = ps->out = (uint32_t)num.n;
            ps->esc = 0;
            col->nulls[r] = 0;
            return p;
        }
        default: return type_err(cx, f, num.s, num.n);
        }
    }

    switch (*p) {
    case 't':
    case 'f': {
        int t = *p == 't';
        p = t ? match_lit(cx, p, "true", 4) : match_lit(cx, p, "false", 5);
        if (!p) {
            return NULL;
        }
        if (type == CF_TYPE_BOOL) {
            cf_batch_set_bool(batch, f, r, t);
        } else if (type == CF_TYPE_STRING) {
            struct pend_str *ps = &dec->pend[f];
            ps->s = v;
            ps->raw = ps->out = t ? 4 : 5;
            ps->esc = 0;
            col->nulls[r] = 0;
        } else {
            return type_err(cx, f, v, (size_t)(p - v));
        }
        return p;
    }
    case 'n':
        p = match_lit(cx, p, "null", 4);
        if (p) {
            col->nulls[r] = 1;
        }
        return p;
    case '{':
    case '[': return type_err(cx, f, v, 1);
    default: return syntax_err(cx, p, "expected a value");
    }
}

/* Validates and skips the value at p, nested inside `depth` objects/arrays. */
static const char *skip_value(struct jcx *cx, const char *p, int depth)
{
    const char *end = cx->end;
    if (p >= end) {
        return syntax_err(cx, p, "expected a value");
    }
    switch (*p) {
    case '"': {
        struct jstr js;
        return scan_string(cx, p + 1, &js);
    }
    case 't': return match_lit(cx, p, "true", 4);
    case 'f': return match_lit(cx, p, "false", 5);
    case 'n': return match_lit(cx, p, "null", 4);
    case '{':
    case '[': {
        int obj = *p == '{';
        char close = obj ? '}' : ']';
        if (depth >= CF_JSON_MAX_DEPTH) {
            return syntax_err(cx, p, "nesting deeper than 64 levels");
        }
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) {
            return p + 1;
        }
        for (;;) {
            if (obj) {
                struct jstr js;
                if (p >= end || *p != '"') {
                    return syntax_err(cx, p, "expected '\"' (an object key)");
                }
                p = scan_string(cx, p + 1, &js);
                if (!p) {
                    return NULL;
                }
                p = skip_ws(p, end);
                if (p >= end || *p != ':') {
                    return syntax_err(cx, p, "expected ':'");
                }
                p = skip_ws(p + 1, end);
            }
            p = skip_value(cx, p, depth + 1);
            if (!p) {
                return NULL;
            }
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == close) {
                return p + 1;
            }
            return syntax_err(cx, p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    default:
        if (*p == '-' || is_digit(*p)) {
            struct jnum num;
            return scan_number(cx, p, &num);
        }
        return syntax_err(cx, p, "expected a value");
    }
}

/* Copies the row's strings into one arena allocation (the line has parsed). */
static void commit_strings(struct cf_json_decoder *dec, struct cf_batch *batch, uint32_t r)
{
    size_t total = 0;
    for (uint32_t i = 0; i < dec->nstr; i++) {
        uint32_t c = dec->str_cols[i];
        if (!batch->cols[c].nulls[r]) {
            total += dec->pend[c].out;
        }
    }
    char *mem = total ? cf_arena_alloc(&batch->arena, total) : NULL;
    for (uint32_t i = 0; i < dec->nstr; i++) {
        uint32_t c = dec->str_cols[i];
        if (batch->cols[c].nulls[r]) {
            continue;
        }
        const struct pend_str *ps = &dec->pend[c];
        if (!ps->out) {
            cf_batch_set_str_ref(batch, c, r, "", 0);
            continue;
        }
        if (ps->esc) {
            unescape(ps->s, ps->raw, mem);
        } else {
            memcpy(mem, ps->s, ps->out);
        }
        cf_batch_set_str_ref(batch, c, r, mem, ps->out);
        mem += ps->out;
    }
}

int cf_json_decode_line(struct cf_json_decoder *dec, const char *line, size_t len,
                        struct cf_batch *batch, struct cf_err *err)
{
    cf_assert(batch->n < batch->cap && batch->schema->nfields == dec->nfields);
    struct jcx cx = {.start = line, .end = line + len, .err = err, .dec = dec, .rc = 0};
    const char *end = cx.end;
    const char *p = skip_ws(line, end);
    if (p >= end) {
        return cf_err_set(err, CF_EPARSE, "invalid JSON at byte %zu: empty line", len);
    }
    if (*p != '{') {
        return cf_err_set(err, CF_EPARSE,
                          "invalid JSON at byte %zu: expected '{' (a line must be a JSON object)",
                          (size_t)(p - line));
    }
    uint32_t r = cf_batch_add_row(batch);
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    uint32_t prev = 0; /* follow[] slot of this key */
    for (;;) {
        if (p >= end || *p != '"') {
            p = syntax_err(&cx, p, "expected '\"' (an object key)");
            goto fail;
        }
        int f = dec->follow[prev];
        size_t flen = f >= 0 ? dec->name_lens[f] : 0;
        if (f >= 0 && (size_t)(end - p) > flen + 1 && p[flen + 1] == '"' &&
            bytes_equal(p + 1, dec->names[f], flen)) {
            p += flen + 2;
        } else {
            struct jstr key;
            p = scan_string(&cx, p + 1, &key);
            if (!p) {
                goto fail;
            }
            if (!key.esc) {
                f = find_field(dec, key.s, key.raw);
            } else {
                cf_buf_reset(&dec->scratch);
                cf_buf_reserve(&dec->scratch, key.raw);
                unescape(key.s, key.raw, dec->scratch.data);
                f = find_field(dec, dec->scratch.data, key.out);
            }
            dec->follow[prev] = f >= 0 && dec->plain_name[f] ? f : -1;
        }
        prev = f >= 0 ? (uint32_t)f + 1 : dec->nfields + 1;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            p = syntax_err(&cx, p, "expected ':'");
            goto fail;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            p = syntax_err(&cx, p, "expected a value");
            goto fail;
        }
        p = f >= 0 ? parse_field(&cx, p, (uint32_t)f, batch, r) : skip_value(&cx, p, 1);
        if (!p) {
            goto fail;
        }
        if (f >= 0 && !dec->keep[f]) {
            batch->cols[f].nulls[r] = 1; /* parsed and checked, not stored */
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        p = syntax_err(&cx, p, "expected ',' or '}'");
        goto fail;
    }
done:
    p = skip_ws(p, end);
    if (p < end) {
        syntax_err(&cx, p, "unexpected data after the object");
        goto fail;
    }
    commit_strings(dec, batch, r);
    return 0;
fail:
    cf_batch_drop_last(batch);
    return cx.rc;
}

/* ------------------------------------------------------------------------------------------
 * Encoder.
 */

static const char hex_digits[] = "0123456789abcdef";

/* 1 for bytes that must be escaped on output. */
static const uint8_t esc_byte[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Room for n more bytes; returns where to write them. */
static inline char *out_reserve(struct cf_buf *out, size_t n)
{
    if (out->len + n + 1 > out->cap) {
        cf_buf_reserve(out, n);
    }
    return out->data + out->len;
}

/* Ends a direct write at w (from out_reserve()). */
static inline void out_commit(struct cf_buf *out, char *w)
{
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
}

void cf_json_escape(struct cf_buf *out, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    char *w = out_reserve(out, len + 2);
    *w++ = '"';
    for (;;) {
        const char *run = p;
        while (end - p >= 8 && !esc_special(load8(p))) {
            p += 8;
        }
        while (p < end && !esc_byte[(unsigned char)*p]) {
            p++;
        }
        memcpy(w, run, (size_t)(p - run));
        w += p - run;
        if (p == end) {
            break;
        }
        /* room for this escape (6), the rest unescaped and the closing quote */
        out_commit(out, w);
        w = out_reserve(out, 6 + (size_t)(end - p) + 1);
        unsigned char c = (unsigned char)*p++;
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\f': *w++ = 'f'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        case '\t': *w++ = 't'; break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = hex_digits[c >> 4];
            *w++ = hex_digits[c & 15];
            break;
        }
    }
    *w++ = '"';
    out_commit(out, w);
}

static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                  "31323334353637383940414243444546474849505152535455565758596061"
                                  "62636465666768697071727374757677787980818283848586878889909192"
                                  "93949596979899";

static inline char *put2(char *w, unsigned v)
{
    memcpy(w, digit_pairs + 2 * v, 2);
    return w + 2;
}

/*
 * Writes ms as "2024-10-22T18:05:00.000Z" (24 bytes), the text of cf_ts_format(), without
 * its generic digit loops: years 0000..9999 (what the decoders accept) take this path, other
 * values go to cf_ts_format() (their text does not read back). w has room for 48 bytes.
 */
static char *put_ts(char *w, int64_t ms)
{
    if (ms < CF_JSON_TS_MIN || ms > CF_JSON_TS_MAX) {
        /* cf_tm_from_ms() overflows int64 within a day of INT64_MIN: saturate there (year
         * -292 million either way) */
        return w + cf_ts_format(ms < INT64_MIN + 86400000 ? INT64_MIN + 86400000 : ms, w, 48);
    }
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned m, d;
    cf_civil_from_days(days, &y, &m, &d);
    unsigned sec = (unsigned)(rem / 1000), milli = (unsigned)(rem % 1000);
    w = put2(w, (unsigned)y / 100);
    w = put2(w, (unsigned)y % 100);
    *w++ = '-';
    w = put2(w, m);
    *w++ = '-';
    w = put2(w, d);
    *w++ = 'T';
    w = put2(w, sec / 3600);
    *w++ = ':';
    w = put2(w, sec / 60 % 60);
    *w++ = ':';
    w = put2(w, sec % 60);
    *w++ = '.';
    *w++ = (char)('0' + milli / 100);
    w = put2(w, milli % 100);
    *w++ = 'Z';
    return w;
}

/* Appends the JSON value of field c of row r. */
static inline void write_value(const struct cf_col *col, uint32_t r, struct cf_buf *out)
{
    if (col->nulls[r]) {
        char *w = out_reserve(out, 4);
        memcpy(w, "null", 4);
        out_commit(out, w + 4);
        return;
    }
    switch (col->type) {
    case CF_TYPE_STRING: cf_json_escape(out, col->v.str[r].ptr, col->v.str[r].len); return;
    case CF_TYPE_INT: {
        char *w = out_reserve(out, 24);
        out_commit(out, w + cf_int_format(col->v.i64[r], w));
        return;
    }
    case CF_TYPE_TIMESTAMP: {
        char *w = out_reserve(out, 50);
        *w++ = '"';
        w = put_ts(w, col->v.i64[r]);
        *w++ = '"';
        out_commit(out, w);
        return;
    }
    case CF_TYPE_DOUBLE: {
        double d = col->v.f64[r];
        char *w = out_reserve(out, 32);
        if (!isfinite(d)) {
            memcpy(w, "null", 4);
            out_commit(out, w + 4);
        } else {
            out_commit(out, w + format_double(d, w));
        }
        return;
    }
    case CF_TYPE_BOOL: {
        char *w = out_reserve(out, 5);
        if (col->v.b[r]) {
            memcpy(w, "true", 4);
            w += 4;
        } else {
            memcpy(w, "false", 5);
            w += 5;
        }
        out_commit(out, w);
        return;
    }
    default: {
        char *w = out_reserve(out, 4);
        memcpy(w, "null", 4);
        out_commit(out, w + 4);
        return;
    }
    }
}

struct cf_json_encoder {
    const struct cf_schema *schema;
    uint32_t nfields;
    char *prefixes;    /* "{\"name\":" for the first field, ",\"name\":" for the others */
    size_t *pre_off;   /* offset of each field's prefix in prefixes */
    uint32_t *pre_len; /* its length */
};

struct cf_json_encoder *cf_json_encoder_create(const struct cf_schema *schema)
{
    struct cf_json_encoder *enc = cf_new(struct cf_json_encoder);
    struct cf_buf b;
    cf_buf_init(&b);
    enc->schema = schema;
    enc->nfields = schema->nfields;
    enc->pre_off = cf_calloc(schema->nfields, sizeof(*enc->pre_off));
    enc->pre_len = cf_calloc(schema->nfields, sizeof(*enc->pre_len));
    for (uint32_t c = 0; c < schema->nfields; c++) {
        enc->pre_off[c] = b.len;
        cf_buf_putc(&b, c ? ',' : '{');
        const char *name = schema->fields[c].name;
        cf_json_escape(&b, name, strlen(name));
        cf_buf_putc(&b, ':');
        enc->pre_len[c] = (uint32_t)(b.len - enc->pre_off[c]);
    }
    enc->prefixes = b.data; /* NULL for an empty schema */
    return enc;
}

void cf_json_encoder_destroy(struct cf_json_encoder *enc)
{
    if (!enc) {
        return;
    }
    cf_free(enc->prefixes);
    cf_free(enc->pre_off);
    cf_free(enc->pre_len);
    cf_free(enc);
}

void cf_json_encoder_row(const struct cf_json_encoder *enc, const struct cf_batch *batch,
                         uint32_t r, struct cf_buf *out)
{
    cf_assert(batch->schema->nfields == enc->nfields);
    if (!enc->nfields) {
        cf_buf_append(out, "{}", 2);
        return;
    }
    for (uint32_t c = 0; c < enc->nfields; c++) {
        uint32_t n = enc->pre_len[c];
        char *w = out_reserve(out, n);
        memcpy(w, enc->prefixes + enc->pre_off[c], n);
        out_commit(out, w + n);
        write_value(&batch->cols[c], r, out);
    }
    cf_buf_putc(out, '}');
}

void cf_json_encode_row(const struct cf_batch *batch, uint32_t r, struct cf_buf *out)
{
    const struct cf_schema *schema = batch->schema;
    cf_buf_putc(out, '{');
    for (uint32_t c = 0; c < schema->nfields; c++) {
        if (c) {
            cf_buf_putc(out, ',');
        }
        const char *name = schema->fields[c].name;
        cf_json_escape(out, name, strlen(name));
        cf_buf_putc(out, ':');
        write_value(&batch->cols[c], r, out);
    }
    cf_buf_putc(out, '}');
}
