/*
 * csv_codec.h - CSV lines <-> rows of a batch (RFC 4180 quoting within one line).
 *
 * Decoding: a field is either unquoted (taken verbatim up to the next delimiter; a '"'
 * inside it is an ordinary character) or quoted ("a ""quoted"" value, with, delimiters"),
 * in which case the closing quote must be followed by the delimiter or the end of the line.
 * One trailing '\r' (CRLF files) is dropped; nothing else is trimmed. An empty unquoted
 * field is NULL for every type; an empty quoted field ("") is the empty string for a string
 * field and NULL for the other types. Values convert per field type:
 *   int        cf_int_parse: optional sign and digits
 *   double     a decimal number (strtod syntax, also NaN/Infinity; no surrounding spaces)
 *   bool       true/false/1/0, case-insensitive
 *   timestamp  an optional '-' and digits: epoch ms; anything else: ISO-8601 (cf_ts_parse);
 *              within years 0000..9999 like the JSON codec
 *   string     the field's bytes (not checked for UTF-8)
 * Every row has exactly as many columns as the header (or the schema without a header).
 * Errors: CF_EPARSE for malformed CSV (unterminated quote, wrong column count), CF_ETYPE
 * for a value that does not convert ("column 7 'duration_ms': expected int, got \"abc\"").
 * A line that fails leaves the batch exactly as it was. Strings of a row are copied into the
 * batch arena in one allocation; no malloc per line.
 *
 * Threads: a decoder is used by one thread at a time; the encoder functions are pure.
 */
#ifndef CF_CSV_CODEC_H
#define CF_CSV_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "batch.h"
#include "schema.h"

struct cf_csv_options {
    char delimiter; /* 0 means ','; must not be '"', '\r' or '\n' */
    int header;     /* 1: the first line names the columns */
};

struct cf_csv_decoder;

/* A decoder for lines of `schema` (borrowed: it must outlive the decoder). opts may be NULL
 * (',' and no header). */
struct cf_csv_decoder *cf_csv_decoder_create(const struct cf_schema *schema,
                                             const struct cf_csv_options *opts);
/* NULL is a no-op. */
void cf_csv_decoder_destroy(struct cf_csv_decoder *dec);

/*
 * Makes the next line the header again (a source moving to the next file). No-op without
 * header=1.
 */
void cf_csv_decoder_reset(struct cf_csv_decoder *dec);

/*
 * Decodes one line (len bytes without its newline; need not be NUL-terminated). The caller
 * ensures !cf_batch_full(batch); batch must have the decoder's schema.
 *
 * With header=1 the first line decoded is the header: it maps columns to schema fields by
 * exact name (unknown columns are ignored, fields the header does not name stay NULL, a name
 * given twice is an error) and returns 1: "header consumed, no row". A UTF-8 byte-order mark
 * before the header is skipped. Without a header, columns map to the schema's fields in
 * order.
 *
 * Returns 0 with a row added, 1 for the header, or CF_EPARSE / CF_ETYPE with no row added
 * and err->msg saying why in one line.
 */
int cf_csv_decode_line(struct cf_csv_decoder *dec, const char *line, size_t len,
                       struct cf_batch *batch, struct cf_err *err);

/* Appends the header line (field names, quoted when needed), without a newline. A delimiter
 * of 0 means ',' here and in cf_csv_encode_row(). */
void cf_csv_encode_header(const struct cf_schema *schema, char delimiter, struct cf_buf *out);

/*
 * Appends row r, without a newline: NULL as an empty field, the empty string as "", ints and
 * doubles as text (non-finite doubles as NaN/Infinity/-Infinity), bools as true/false,
 * timestamps as ISO-8601 UTC with millis. A value is quoted (RFC 4180, quotes doubled) when
 * it holds the delimiter, a quote, CR or LF.
 */
void cf_csv_encode_row(const struct cf_batch *batch, uint32_t r, char delimiter,
                       struct cf_buf *out);

#endif
