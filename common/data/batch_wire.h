/*
 * batch_wire.h - the binary form of a batch, for the data plane between workers.
 *
 * A batch is encoded column by column so both sides mostly memcpy whole arrays: the row
 * count, the event times, then per column its NULL flags (only when it has NULLs) and its
 * values; a string column is an array of lengths followed by one blob of bytes. Everything
 * is little-endian (Creekflow only builds on little-endian hosts; see batch_wire.c).
 *
 *   header   u32 magic "CFW1" | u32 nrows | u64 schema fingerprint | u32 nfields | u32 flags
 *            flags bit 0: an event-time array follows (else every row has CF_TS_NONE)
 *   ts       nrows x i64                                  (only with flags bit 0)
 *   column   u8 cflags (bit 0: NULL flags follow)
 *            [nrows x u8 NULL flags, each 0 or 1]
 *            INT, TIMESTAMP, DOUBLE: nrows x 8 bytes      BOOL: nrows x u8 (0 or 1)
 *            STRING: nrows x u32 lengths, then the bytes of every string, in row order
 *            NULL-typed column: no values
 *
 * The values of NULL rows are written as zeros (strings as length 0) so an encoding never
 * carries stale memory and is a pure function of the batch's contents.
 *
 * Decoding trusts nothing: every length is checked against the input before it is used,
 * flags must be 0 or 1, unknown flag bits and trailing bytes are errors. It never reads
 * outside [p, p + len) and never writes beyond the batch's capacity.
 *
 * Thread-safety: pure functions over the caller's objects; any thread.
 */
#ifndef CF_BATCH_WIRE_H
#define CF_BATCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "batch.h"
#include "schema.h"

#define CF_BATCH_WIRE_MAGIC  0x31574643u /* "CFW1" read as a little-endian u32 */
#define CF_BATCH_WIRE_HEADER 24

/*
 * A 64-bit fingerprint of a schema: a hash of the field count and of every field's type and
 * name, in order. Two schemas with the same fingerprint are (with overwhelming probability)
 * cf_schema_equal(). The function is part of the wire format: changing it breaks mixed
 * versions of workers.
 */
uint64_t cf_batch_wire_fingerprint(const struct cf_schema *schema);

/* Exact size in bytes of the encoding of batch (what cf_batch_wire_encode appends). */
size_t cf_batch_wire_size(const struct cf_batch *batch);

/* Appends the encoding of batch to out. The batch is not changed. */
void cf_batch_wire_encode(const struct cf_batch *batch, struct cf_buf *out);

/*
 * Encodes batch into dst, which has room for cf_batch_wire_size(batch) bytes (for callers
 * that frame the encoding themselves). Returns the number of bytes written.
 */
size_t cf_batch_wire_write(const struct cf_batch *batch, uint8_t *dst);

/*
 * Decodes len bytes at p into `into`, an empty batch (n == 0) of the schema the data was
 * encoded with; strings are copied into its arena. Returns 0, or
 *   CF_ETYPE   the schema fingerprint (or field count) differs from into's schema;
 *   CF_EPARSE  anything malformed: bad magic, truncation, a length that does not fit,
 *              more rows than into->cap, a flag that is not 0 or 1, trailing bytes.
 * On failure err (if not NULL) says what and at which byte offset, and `into` is left
 * empty (n = 0, arena reset).
 */
int cf_batch_wire_decode(const uint8_t *p, size_t len, struct cf_batch *into, struct cf_err *err);

#endif
