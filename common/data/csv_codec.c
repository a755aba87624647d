/*
 * csv_codec.c - CSV line decoder and row encoder.
 *
 * A line is first split into column spans (validating the quoting and counting columns),
 * then the mapped columns are converted into a new row. Like the JSON decoder, the row's
 * strings are copied into one arena allocation only once every column has converted, so a
 * failing line leaves no trace in the batch.
 */
#include "csv_codec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/log.h"
#include "../base/mem.h"
#include "../base/strutil.h"
#include "../base/timeutil.h"

/* Same range as the JSON codec: years 0000..9999, what ISO-8601 output can read back. */
#define TS_MIN (-62167219200000LL)
#define TS_MAX (253402300799999LL)

/* Longest value shown in an error message. */
#define SHOW_MAX 40

/* One column of a line. */
struct span {
    const char *s; /* content (inside the quotes when quoted) */
    uint32_t raw;  /* content length */
    uint32_t out;  /* length once doubled quotes are undone */
    uint8_t quoted;
    uint8_t dq; /* has doubled quotes */
};

struct cf_csv_decoder {
    const struct cf_schema *schema;
    uint32_t nfields;
    char delim;
    int header;         /* the option */
    int need_header;    /* the next line is the header */
    uint32_t ncols;     /* columns every row must have */
    int32_t *colmap;    /* column -> field index or -1 */
    struct span *spans; /* per column of the current line */
    uint32_t cap;       /* entries in colmap and spans */
    uint32_t *str_col;  /* per field: the column holding it in the current line */
    struct cf_buf scratch;
};

static void ensure_cols(struct cf_csv_decoder *dec, uint32_t n)
{
    if (n <= dec->cap) {
        return;
    }
    uint32_t cap = dec->cap ? dec->cap : 16;
    while (cap < n) {
        cap *= 2;
    }
    dec->colmap = cf_realloc(dec->colmap, cap * sizeof(*dec->colmap));
    dec->spans = cf_realloc(dec->spans, cap * sizeof(*dec->spans));
    dec->cap = cap;
}

struct cf_csv_decoder *cf_csv_decoder_create(const struct cf_schema *schema,
                                             const struct cf_csv_options *opts)
{
    struct cf_csv_decoder *dec = cf_new(struct cf_csv_decoder);
    char delim = opts && opts->delimiter ? opts->delimiter : ',';
    cf_assert(delim != '"' && delim != '\r' && delim != '\n');
    dec->schema = schema;
    dec->nfields = schema->nfields;
    dec->delim = delim;
    dec->header = opts ? opts->header : 0;
    dec->need_header = dec->header;
    dec->str_col = cf_calloc(schema->nfields, sizeof(*dec->str_col));
    cf_buf_init(&dec->scratch);
    if (!dec->header) {
        /* columns are the schema's fields in order */
        ensure_cols(dec, schema->nfields);
        for (uint32_t i = 0; i < schema->nfields; i++) {
            dec->colmap[i] = (int32_t)i;
        }
        dec->ncols = schema->nfields;
    }
    return dec;
}

void cf_csv_decoder_destroy(struct cf_csv_decoder *dec)
{
    if (!dec) {
        return;
    }
    cf_free(dec->colmap);
    cf_free(dec->spans);
    cf_free(dec->str_col);
    cf_buf_destroy(&dec->scratch);
    cf_free(dec);
}

void cf_csv_decoder_reset(struct cf_csv_decoder *dec)
{
    dec->need_header = dec->header;
}

/*
 * Splits [p, end) into columns; stores the first `store` spans and returns the column count
 * in *count. Returns 0 or CF_EPARSE.
 */
static int split_line(struct cf_csv_decoder *dec, const char *line, const char *p, const char *end,
                      uint32_t store, uint32_t *count, struct cf_err *err)
{
    const char delim = dec->delim;
    uint32_t n = 0;
    for (;;) {
        struct span sp;
        if (p < end && *p == '"') {
            const char *open = p++;
            uint32_t dq = 0;
            sp.s = p;
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) {
                    return cf_err_set(err, CF_EPARSE,
                                      "invalid CSV: unterminated quote in column %u (opened at "
                                      "byte %zu)",
                                      n + 1, (size_t)(open - line));
                }
                if (q + 1 < end && q[1] == '"') {
                    dq++;
                    p = q + 2;
                    continue;
                }
                p = q + 1;
                break;
            }
            if (p < end && *p != delim) {
                return cf_err_set(err, CF_EPARSE,
                                  "invalid CSV at byte %zu: expected a delimiter after the "
                                  "closing quote of column %u",
                                  (size_t)(p - line), n + 1);
            }
            size_t raw = (size_t)(p - 1 - sp.s);
            if (raw > UINT32_MAX) {
                return cf_err_set(err, CF_EPARSE, "invalid CSV: column %u is over 4 GiB", n + 1);
            }
            sp.raw = (uint32_t)raw;
            sp.out = (uint32_t)(raw - dq);
            sp.quoted = 1;
            sp.dq = dq != 0;
        } else {
            sp.s = p;
            const char *q = memchr(p, delim, (size_t)(end - p));
            p = q ? q : end;
            size_t raw = (size_t)(p - sp.s);
            if (raw > UINT32_MAX) {
                return cf_err_set(err, CF_EPARSE, "invalid CSV: column %u is over 4 GiB", n + 1);
            }
            sp.raw = sp.out = (uint32_t)raw;
            sp.quoted = 0;
            sp.dq = 0;
        }
        if (n < store) {
            dec->spans[n] = sp;
        }
        n++;
        if (p >= end) {
            break;
        }
        p++; /* the delimiter: another column follows, possibly empty */
    }
    *count = n;
    return 0;
}

/* Writes a quoted field's content with doubled quotes undone; returns the length. */
static size_t undouble(const struct span *sp, char *dst)
{
    const char *s = sp->s, *end = sp->s + sp->raw;
    char *d = dst;
    while (s < end) {
        const char *q = memchr(s, '"', (size_t)(end - s));
        if (!q) {
            memcpy(d, s, (size_t)(end - s));
            d += end - s;
            break;
        }
        memcpy(d, s, (size_t)(q + 1 - s)); /* keep one quote, skip its double */
        d += q + 1 - s;
        s = q + 2;
    }
    return (size_t)(d - dst);
}

/* The span's text without doubled quotes: in place, or in the scratch buffer. */
static const char *span_text(struct cf_csv_decoder *dec, const struct span *sp)
{
    if (!sp->dq) {
        return sp->s;
    }
    cf_buf_reset(&dec->scratch);
    cf_buf_reserve(&dec->scratch, sp->raw);
    undouble(sp, dec->scratch.data);
    return dec->scratch.data;
}

/* Copies up to SHOW_MAX bytes of s for an error message, control bytes as '?'. */
static void show(const char *s, size_t n, char *buf)
{
    size_t k = n;
    if (k > SHOW_MAX) {
        k = SHOW_MAX;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) {
            k--; /* do not cut a UTF-8 sequence */
        }
    }
    for (size_t i = 0; i < k; i++) {
        buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    }
    if (k < n) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
}

static int conv_err(struct cf_csv_decoder *dec, uint32_t col, uint32_t f, const char *what,
                    const char *s, size_t n, const char *after, struct cf_err *err)
{
    char shown[SHOW_MAX + 4];
    show(s, n, shown);
    return cf_err_set(err, CF_ETYPE, "column %u '%s': %s\"%s\"%s", col + 1,
                      dec->schema->fields[f].name, what, shown, after);
}

static int parse_double(const char *s, size_t n, double *out)
{
    if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' ||
        s[0] == '\v') {
        return CF_EPARSE; /* strtod would skip leading space */
    }
    if (n < 64) {
        return cf_double_parse(s, n, out);
    }
    /* s may already be the scratch buffer: copy through a fresh allocation (rare path) */
    char *tmp = cf_strndup(s, n);
    char *endp;
    errno = 0;
    double v = strtod(tmp, &endp);
    int ok = endp == tmp + n && !(errno == ERANGE && isinf(v));
    cf_free(tmp);
    if (!ok) {
        return CF_EPARSE;
    }
    *out = v;
    return 0;
}

/* Converts column `col` (span sp) into field f of row r. Returns 0 or CF_ETYPE. */
static int convert(struct cf_csv_decoder *dec, uint32_t col, uint32_t f, const struct span *sp,
                   struct cf_batch *batch, uint32_t r, struct cf_err *err)
{
    enum cf_type type = batch->cols[f].type;
    if (sp->out == 0) {
        if (sp->quoted && type == CF_TYPE_STRING) {
            cf_batch_set_str_ref(batch, f, r, "", 0);
            dec->str_col[f] = UINT32_MAX; /* nothing to copy */
        }
        return 0; /* otherwise NULL, as cf_batch_add_row left it */
    }
    if (type == CF_TYPE_STRING) {
        batch->cols[f].nulls[r] = 0; /* the bytes are copied by commit_strings() */
        dec->str_col[f] = col;
        return 0;
    }
    const char *s = span_text(dec, sp);
    size_t n = sp->out;
    switch (type) {
    case CF_TYPE_INT: {
        int64_t v;
        if (cf_int_parse(s, n, &v) != 0) {
            return conv_err(dec, col, f, "expected int, got ", s, n, "", err);
        }
        cf_batch_set_int(batch, f, r, v);
        return 0;
    }
    case CF_TYPE_DOUBLE: {
        double v;
        if (parse_double(s, n, &v) != 0) {
            return conv_err(dec, col, f, "expected double, got ", s, n, "", err);
        }
        cf_batch_set_double(batch, f, r, v);
        return 0;
    }
    case CF_TYPE_BOOL: {
        int v;
        if ((n == 4 && strncasecmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1')) {
            v = 1;
        } else if ((n == 5 && strncasecmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0')) {
            v = 0;
        } else {
            return conv_err(dec, col, f, "expected bool, got ", s, n, "", err);
        }
        cf_batch_set_bool(batch, f, r, v);
        return 0;
    }
    case CF_TYPE_TIMESTAMP: {
        size_t i = s[0] == '-' ? 1 : 0;
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            i++;
        }
        int64_t ms;
        int epoch = i == n && n > (s[0] == '-' ? 1u : 0u);
        int rc = epoch ? cf_int_parse(s, n, &ms) : cf_ts_parse(s, n, &ms);
        if (rc != 0) {
            return conv_err(dec, col, f, "cannot parse timestamp ", s, n, "", err);
        }
        if (ms < TS_MIN || ms > TS_MAX) {
            return conv_err(dec, col, f, "timestamp ", s, n, " is outside years 0000..9999", err);
        }
        cf_batch_set_int(batch, f, r, ms);
        return 0;
    }
    default: return 0;
    }
}

/* Copies the row's non-empty strings into one arena allocation. */
static void commit_strings(struct cf_csv_decoder *dec, struct cf_batch *batch, uint32_t r)
{
    size_t total = 0;
    for (uint32_t f = 0; f < dec->nfields; f++) {
        if (batch->cols[f].type == CF_TYPE_STRING && !batch->cols[f].nulls[r] &&
            dec->str_col[f] != UINT32_MAX) {
            total += dec->spans[dec->str_col[f]].out;
        }
    }
    if (!total) {
        return;
    }
    char *mem = cf_arena_alloc(&batch->arena, total);
    for (uint32_t f = 0; f < dec->nfields; f++) {
        if (batch->cols[f].type != CF_TYPE_STRING || batch->cols[f].nulls[r] ||
            dec->str_col[f] == UINT32_MAX) {
            continue;
        }
        const struct span *sp = &dec->spans[dec->str_col[f]];
        if (sp->dq) {
            undouble(sp, mem);
        } else {
            memcpy(mem, sp->s, sp->out);
        }
        cf_batch_set_str_ref(batch, f, r, mem, sp->out);
        mem += sp->out;
    }
}

static int read_header(struct cf_csv_decoder *dec, const char *line, const char *p, const char *end,
                       struct cf_err *err)
{
    uint32_t count;
    int rc = split_line(dec, line, p, end, 0, &count, err);
    if (rc) {
        return rc;
    }
    ensure_cols(dec, count);
    split_line(dec, line, p, end, count, &count, err);
    for (uint32_t i = 0; i < count; i++) {
        dec->colmap[i] = -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        const struct span *sp = &dec->spans[i];
        const char *name = span_text(dec, sp);
        for (uint32_t f = 0; f < dec->nfields; f++) {
            const char *fname = dec->schema->fields[f].name;
            if (strlen(fname) != sp->out || memcmp(fname, name, sp->out) != 0) {
                continue;
            }
            for (uint32_t j = 0; j < i; j++) {
                if (dec->colmap[j] == (int32_t)f) {
                    return cf_err_set(err, CF_EPARSE,
                                      "invalid CSV header: column '%s' appears twice (columns "
                                      "%u and %u)",
                                      fname, j + 1, i + 1);
                }
            }
            dec->colmap[i] = (int32_t)f;
            break;
        }
    }
    dec->ncols = count;
    dec->need_header = 0;
    return 1;
}

int cf_csv_decode_line(struct cf_csv_decoder *dec, const char *line, size_t len,
                       struct cf_batch *batch, struct cf_err *err)
{
    const char *p = line, *end = line + len;
    if (end > p && end[-1] == '\r') {
        end--;
    }
    if (dec->need_header) {
        if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
        }
        return read_header(dec, line, p, end, err);
    }
    cf_assert(batch->n < batch->cap && batch->schema->nfields == dec->nfields);
    uint32_t count;
    int rc = split_line(dec, line, p, end, dec->ncols, &count, err);
    if (rc) {
        return rc;
    }
    if (count != dec->ncols) {
        return cf_err_set(err, CF_EPARSE, "invalid CSV: expected %u columns, got %u", dec->ncols,
                          count);
    }
    uint32_t r = cf_batch_add_row(batch);
    for (uint32_t i = 0; i < count; i++) {
        int32_t f = dec->colmap[i];
        if (f < 0) {
            continue;
        }
        rc = convert(dec, i, (uint32_t)f, &dec->spans[i], batch, r, err);
        if (rc) {
            cf_batch_drop_last(batch);
            return rc;
        }
    }
    commit_strings(dec, batch, r);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Encoder.
 */

static int needs_quote(const char *s, size_t n, char delim)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == delim || c == '"' || c == '\r' || c == '\n') {
            return 1;
        }
    }
    return 0;
}

static void put_field(struct cf_buf *out, const char *s, size_t n, char delim)
{
    if (!needs_quote(s, n, delim)) {
        cf_buf_append(out, s, n);
        return;
    }
    cf_buf_reserve(out, n + 2);
    cf_buf_putc(out, '"');
    const char *end = s + n;
    while (s < end) {
        const char *q = memchr(s, '"', (size_t)(end - s));
        if (!q) {
            cf_buf_append(out, s, (size_t)(end - s));
            break;
        }
        cf_buf_append(out, s, (size_t)(q + 1 - s));
        cf_buf_putc(out, '"');
        s = q + 1;
    }
    cf_buf_putc(out, '"');
}

void cf_csv_encode_header(const struct cf_schema *schema, char delimiter, struct cf_buf *out)
{
    char delim = delimiter ? delimiter : ',';
    for (uint32_t c = 0; c < schema->nfields; c++) {
        if (c) {
            cf_buf_putc(out, delim);
        }
        const char *name = schema->fields[c].name;
        size_t n = strlen(name);
        if (n == 0) {
            cf_buf_append(out, "\"\"", 2);
        } else {
            put_field(out, name, n, delim);
        }
    }
}

void cf_csv_encode_row(const struct cf_batch *batch, uint32_t r, char delimiter, struct cf_buf *out)
{
    char delim = delimiter ? delimiter : ',';
    for (uint32_t c = 0; c < batch->schema->nfields; c++) {
        const struct cf_col *col = &batch->cols[c];
        if (c) {
            cf_buf_putc(out, delim);
        }
        if (col->nulls[r]) {
            continue;
        }
        char tmp[48];
        size_t n;
        switch (col->type) {
        case CF_TYPE_STRING:
            if (col->v.str[r].len == 0) {
                cf_buf_append(out, "\"\"", 2); /* empty, not NULL */
            } else {
                put_field(out, col->v.str[r].ptr, col->v.str[r].len, delim);
            }
            continue;
        case CF_TYPE_INT: n = cf_int_format(col->v.i64[r], tmp); break;
        case CF_TYPE_DOUBLE: {
            double v = col->v.f64[r];
            if (isfinite(v) && fabs(v) >= 1e15) {
                /* cf_double_format()'s int64 cast is undefined for |v| >= 2^63; from 1e15
                 * on it prints the shortest of %.15g..%.17g that reads back */
                n = 0;
                for (int prec = 15; prec <= 17; prec++) {
                    n = (size_t)snprintf(tmp, 32, "%.*g", prec, v);
                    if (strtod(tmp, NULL) == v) {
                        break;
                    }
                }
            } else {
                n = cf_double_format(v, tmp);
            }
            break;
        }
        case CF_TYPE_BOOL:
            n = col->v.b[r] ? 4 : 5;
            memcpy(tmp, col->v.b[r] ? "true" : "false", n);
            break;
        case CF_TYPE_TIMESTAMP: {
            /* cf_tm_from_ms() overflows int64 within a day of INT64_MIN: saturate there */
            int64_t ms = col->v.i64[r];
            n = cf_ts_format(ms < INT64_MIN + 86400000 ? INT64_MIN + 86400000 : ms, tmp,
                             sizeof(tmp));
            break;
        }
        default: continue;
        }
        put_field(out, tmp, n, delim);
    }
}
