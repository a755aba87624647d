/*
 * json_codec.h - JSON lines <-> rows of a batch: the record codec of every JSON source and
 * sink, and the hottest code in the engine.
 *
 * Decoding is schema-directed: one pass over the line, no DOM, no malloc per line. Each key
 * is first compared with the one that followed the previous key in the last line (lines of
 * one source repeat their layout), then looked up in an open-addressing table of the
 * schema's names built at create; values of keys the schema does not know are validated
 * and skipped. Every string of a row is copied
 * (or unescaped) once, into one allocation from the batch arena, and only after the whole
 * line has parsed, so a line that fails leaves the batch exactly as it was.
 *
 * Accepted input (RFC 8259, strict): one JSON object per line, optionally surrounded by
 * whitespace (a trailing '\r' is whitespace). Keys in any order; a key the schema does not
 * name is skipped, whatever its value (nesting limit CF_JSON_MAX_DEPTH); a schema field the
 * line does not mention, or whose value is null, is NULL; when a key repeats, the last value
 * wins. Strings must be valid UTF-8 without raw control characters; every escape is decoded,
 * \uXXXX surrogate pairs included. Numbers follow the JSON grammar exactly (no leading
 * zeros, '+', ".5", NaN).
 *
 * Value conversion per field type:
 *   int        a JSON number with an integral value within int64 ("3.0" and "3e2" are fine,
 *              "2.5" and strings are not)
 *   double     any JSON number that fits a double (1e400 is rejected)
 *   bool       true / false
 *   string     a JSON string; a number or true/false is taken as its literal text
 *   timestamp  an integral JSON number (epoch ms) or an ISO-8601 string (cf_ts_parse)
 * Timestamps must lie within years 0000..9999 (CF_JSON_TS_MIN..CF_JSON_TS_MAX), the range
 * the encoder's ISO-8601 text can express and read back.
 *
 * Errors: CF_EPARSE for malformed JSON ("invalid JSON at byte 17: expected ':'", byte
 * offsets count from 0), CF_ETYPE for a value that does not fit its field ("field
 * 'duration_ms': expected int, got string \"abc\""). The decoder never sets a row's event
 * time (batch->ts): assigning event time is the source's job.
 *
 * Threads: a decoder or encoder is used by one thread at a time (the decoder keeps scratch
 * space); any number of them may share one schema. cf_json_escape() and
 * cf_json_encode_row() are pure and may be called from any thread.
 */
#ifndef CF_JSON_CODEC_H
#define CF_JSON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "batch.h"
#include "schema.h"

/* Deepest nesting of objects and arrays in a line, the line's own object included. */
#define CF_JSON_MAX_DEPTH 64
/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in epoch ms. */
#define CF_JSON_TS_MIN (-62167219200000LL)
#define CF_JSON_TS_MAX (253402300799999LL)

struct cf_json_decoder;

/* A decoder for lines of `schema` (borrowed: it must outlive the decoder). */
struct cf_json_decoder *cf_json_decoder_create(const struct cf_schema *schema);
/* NULL is a no-op. */
void cf_json_decoder_destroy(struct cf_json_decoder *dec);
/*
 * Projection: fields f with keep[f] == 0 (keep has one flag per schema field; copied) are
 * still parsed and checked as before, so a line fails or passes exactly as without
 * projection, but their values are not stored: they read as NULL, and their strings cost
 * no copy. By default every field is kept.
 */
void cf_json_decoder_project(struct cf_json_decoder *dec, const uint8_t *keep);

/*
 * Decodes one JSON object (one line of len bytes, without its newline; need not be
 * NUL-terminated) into a new row appended to batch, whose schema must have the decoder's
 * fields; the caller ensures !cf_batch_full(batch). Returns 0 with the row added, or
 * CF_EPARSE / CF_ETYPE with the batch untouched (no row, no arena bytes) and err->msg saying
 * why in one line.
 */
int cf_json_decode_line(struct cf_json_decoder *dec, const char *line, size_t len,
                        struct cf_batch *batch, struct cf_err *err);

/*
 * An encoder keeps the escaped "name": prefixes of a schema (borrowed: it must outlive the
 * encoder), so the hot path only writes values.
 */
struct cf_json_encoder;

struct cf_json_encoder *cf_json_encoder_create(const struct cf_schema *schema);
/* NULL is a no-op. */
void cf_json_encoder_destroy(struct cf_json_encoder *enc);

/*
 * Appends the JSON object of row r to out, without a newline: fields in schema order as
 * "name":value, no spaces, NULL as null, timestamps as ISO-8601 UTC with millis
 * ("2024-10-22T18:05:00.000Z"), doubles as the shortest text that reads back the same
 * (non-finite ones as null), strings escaped by cf_json_escape(). batch must have the
 * encoder's schema.
 */
void cf_json_encoder_row(const struct cf_json_encoder *enc, const struct cf_batch *batch,
                         uint32_t r, struct cf_buf *out);

/* The same without an encoder object (escapes the field names on every call). */
void cf_json_encode_row(const struct cf_batch *batch, uint32_t r, struct cf_buf *out);

/*
 * Appends s (len bytes) as a quoted JSON string: '"' and '\\' escaped, control characters
 * as \b \f \n \r \t or \u00XX, everything else (UTF-8 included) passed through unchanged.
 */
void cf_json_escape(struct cf_buf *out, const char *s, size_t len);

#endif
