/*
 * batch.h - typed rows in columnar batches.
 *
 * Records travel in batches of up to CF_BATCH_ROWS rows. Each field is a column: a value
 * array and a null-flag array (1 = NULL). Strings are (ptr, len) views whose bytes live in
 * the batch's arena (or in an arena the batch absorbed), so a batch never mallocs per record.
 * Every row also carries its event time in `ts` (CF_TS_NONE when it has none).
 *
 * Ownership: a batch belongs to one thread at a time; it moves between threads through
 * queues. Batches come from a pool (cf_batch_pool_get) and go back with cf_batch_release();
 * a pool must outlive every batch taken from it (the job runtime owns the pools).
 *
 * Pins: a batch may also point at strings of other batches it pinned (cf_batch_pin), so an
 * exchange can split a batch's rows over several batches without copying a string byte.
 * A pinned batch is read-only from then on and stays alive (refcounted) until every batch
 * pinning it is released or reset, on whatever thread that happens.
 */
#ifndef CF_BATCH_H
#define CF_BATCH_H

#include <pthread.h>
#include <stdint.h>

#include "../base/mem.h"
#include "schema.h"

#define CF_BATCH_ROWS 512
/* A batch is also full when its arena holds this many string bytes. */
#define CF_BATCH_BYTES (64 * 1024)
/* Event time of a row that has none. */
#define CF_TS_NONE INT64_MIN

struct cf_str {
    const char *ptr;
    uint32_t len;
};

struct cf_col {
    enum cf_type type;
    uint8_t *nulls; /* nulls[i] = 1 when row i is NULL; values of NULL rows are undefined */
    union {
        int64_t *i64;       /* CF_TYPE_INT, CF_TYPE_TIMESTAMP */
        double *f64;        /* CF_TYPE_DOUBLE */
        uint8_t *b;         /* CF_TYPE_BOOL: 0 or 1 */
        struct cf_str *str; /* CF_TYPE_STRING */
        void *data;
    } v;
};

struct cf_batch_pool;

struct cf_batch {
    struct cf_schema *schema; /* a reference */
    uint32_t n;               /* rows in use */
    uint32_t cap;             /* rows allocated in every column */
    struct cf_col *cols;      /* schema->nfields columns */
    int64_t *ts;              /* event time per row */
    struct cf_arena arena;    /* string bytes */
    struct cf_batch_pool *pool;
    struct cf_batch *next;  /* link for pools and queues */
    int refs;               /* atomic: 1 for the owner, plus one per batch pinning it */
    struct cf_batch **pins; /* batches whose strings rows of this one point into */
    uint32_t npins, cap_pins;
    /* Optional, set by a hash exchange: key_hash[r] is the hash of row r's fields
     * hash_keys[0, hash_nkeys) (cf_keys_hash), so the keyed operator it feeds need not hash
     * again. Valid while hash_nkeys > 0: reset and cf_batch_compact() keep it right; code
     * that changes rows otherwise clears hash_nkeys. hash_keys is borrowed (the plan's). */
    uint64_t *key_hash;
    const int *hash_keys;
    int hash_nkeys;
};

/* Size in bytes of one value of a type in a column. */
size_t cf_type_width(enum cf_type type);

/* A standalone batch (not pooled) with room for cap rows. */
struct cf_batch *cf_batch_create(struct cf_schema *schema, uint32_t cap);
void cf_batch_destroy(struct cf_batch *batch);
/* Empties the batch (n = 0, arena reset, pins released); keeps its memory. */
void cf_batch_reset(struct cf_batch *batch);
/* Drops the owner's reference: once no batch pins it either, a pooled batch goes back to
 * its pool and a standalone one is destroyed. NULL is a no-op. Any thread. */
void cf_batch_release(struct cf_batch *batch);
/*
 * Rows of dst may from now on point at strings of src: dst keeps src alive until dst is
 * reset or released. src must not change any more (its owner may still read and release
 * it). Pinning the batch pinned last again is a no-op. dst's thread.
 */
void cf_batch_pin(struct cf_batch *dst, struct cf_batch *src);
/* dst takes over what src's strings live in (src's arena and pins), so rows copied or
 * moved from src to dst stay valid after src is released. */
void cf_batch_take_strings(struct cf_batch *dst, struct cf_batch *src);

/* Pools: thread-safe, keep up to `keep` idle batches of one schema. */
struct cf_batch_pool *cf_batch_pool_create(struct cf_schema *schema, uint32_t keep);
void cf_batch_pool_destroy(struct cf_batch_pool *pool);
/* An empty batch of the pool's schema with CF_BATCH_ROWS rows. Any thread. */
struct cf_batch *cf_batch_pool_get(struct cf_batch_pool *pool);
struct cf_schema *cf_batch_pool_schema(struct cf_batch_pool *pool);

static inline int cf_batch_full(const struct cf_batch *batch)
{
    return batch->n >= batch->cap || batch->arena.used >= CF_BATCH_BYTES;
}

/* Appends a row with every field NULL and ts = CF_TS_NONE; returns its index.
 * The caller checks cf_batch_full() first. */
static inline uint32_t cf_batch_add_row(struct cf_batch *batch)
{
    /* Locals: the flag stores may alias anything, so fields read in the loop would be
     * loaded again on every iteration. */
    uint32_t r = batch->n++;
    uint32_t nf = batch->schema->nfields;
    struct cf_col *cols = batch->cols;
    for (uint32_t c = 0; c < nf; c++) {
        cols[c].nulls[r] = 1;
    }
    batch->ts[r] = CF_TS_NONE;
    return r;
}

/* Drops the last row (undo of cf_batch_add_row after a failed decode). */
static inline void cf_batch_drop_last(struct cf_batch *batch)
{
    if (batch->n) {
        batch->n--;
    }
}

static inline void cf_batch_set_int(struct cf_batch *batch, uint32_t c, uint32_t r, int64_t v)
{
    batch->cols[c].v.i64[r] = v;
    batch->cols[c].nulls[r] = 0;
}

static inline void cf_batch_set_double(struct cf_batch *batch, uint32_t c, uint32_t r, double v)
{
    batch->cols[c].v.f64[r] = v;
    batch->cols[c].nulls[r] = 0;
}

static inline void cf_batch_set_bool(struct cf_batch *batch, uint32_t c, uint32_t r, int v)
{
    batch->cols[c].v.b[r] = v ? 1 : 0;
    batch->cols[c].nulls[r] = 0;
}

/* Sets a string by copying its bytes into the batch arena. */
void cf_batch_set_str(struct cf_batch *batch, uint32_t c, uint32_t r, const char *s, size_t len);

/* Sets a string that already lives in memory the batch outlives (its arena). */
static inline void cf_batch_set_str_ref(struct cf_batch *batch, uint32_t c, uint32_t r,
                                        const char *s, uint32_t len)
{
    batch->cols[c].v.str[r].ptr = s;
    batch->cols[c].v.str[r].len = len;
    batch->cols[c].nulls[r] = 0;
}

/* Copies row `r` of src into a new row of dst (same schema); strings are copied into dst's
 * arena. Returns the new row index. */
uint32_t cf_batch_copy_row(struct cf_batch *dst, const struct cf_batch *src, uint32_t r);

/* Keeps the rows whose keep[i] is nonzero, in order, compacting in place. */
void cf_batch_compact(struct cf_batch *batch, const uint8_t *keep);

/* Appends the text of a value to buf (strings raw, timestamps ISO-8601, NULL as "null"),
 * for logs, templates and tests. */
struct cf_buf;
void cf_batch_value_text(const struct cf_batch *batch, uint32_t c, uint32_t r, struct cf_buf *buf);

#endif
