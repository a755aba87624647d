/*
 * agg.h - aggregate functions over rows: count(*), count(x), sum, min, max, avg,
 * count_distinct (exact), first, last.
 *
 * An accumulator is an array of struct cf_agg_slot, one per aggregate, owned by the
 * caller (window state). Slots are updated a row at a time from argument columns that were
 * evaluated for a whole batch, merged pairwise (sliding windows combine panes), written to an
 * output batch, serialized (state spill and snapshots) and freed. SQL NULL rules: NULL
 * arguments are ignored; sum, min, max, avg, first and last of no values are NULL; counts
 * are 0. first(x) / last(x) take the value with the smallest / largest event time, ties
 * broken by the smallest / largest value, so results do not depend on arrival order. sum of
 * ints that overflows int64 is NULL.
 *
 * Specs are immutable after cf_aggs_parse(); accumulators belong to one thread.
 */
#ifndef CF_AGG_H
#define CF_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "batch.h"
#include "expr.h"
#include "schema.h"

struct cJSON;

enum cf_agg_kind {
    CF_AGG_COUNT_STAR,
    CF_AGG_COUNT,
    CF_AGG_SUM,
    CF_AGG_MIN,
    CF_AGG_MAX,
    CF_AGG_AVG,
    CF_AGG_COUNT_DISTINCT,
    CF_AGG_FIRST,
    CF_AGG_LAST,
    CF_AGG__COUNT
};

struct cf_agg_spec {
    char *name; /* output field */
    enum cf_agg_kind kind;
    struct cf_expr *arg;   /* NULL for count(*) */
    enum cf_type arg_type; /* CF_TYPE_NULL for count(*) */
    enum cf_type out_type;
};

struct cf_aggs {
    int n;
    struct cf_agg_spec *v;
};

struct cf_dset; /* exact distinct set */

struct cf_agg_slot {
    union {
        int64_t i;
        double d;
        char *s; /* strings: a malloc'd copy owned by the slot */
        struct cf_dset *set;
    } v;
    union {
        int64_t i; /* avg: count; first/last: event time */
        double d;
    } aux;
    uint32_t len; /* string length */
    uint32_t cap; /* bytes allocated for v.s (reused while values fit, so no malloc per row) */
    uint8_t has;  /* a value was seen */
    uint8_t overflow;
};

/*
 * Parses {"out": "sum(duration_ms)", ...} and binds each argument to `in`. Messages name
 * `path.out`. Returns 0 or CF_ESPEC (every problem appended to err).
 */
int cf_aggs_parse(struct cf_aggs *aggs, const struct cJSON *obj, const struct cf_schema *in,
                  const char *path, struct cf_err *err);
void cf_aggs_destroy(struct cf_aggs *aggs);
/* Sets used[f] = 1 for every input field an argument reads (cf_expr_mark_fields). */
void cf_aggs_mark_fields(const struct cf_aggs *aggs, uint8_t *used);
/* Adds the aggregates' output fields to schema; CF_EEXIST names a clash in err. */
int cf_aggs_add_fields(const struct cf_aggs *aggs, struct cf_schema *schema, const char *path,
                       struct cf_err *err);

static inline size_t cf_aggs_acc_size(const struct cf_aggs *aggs)
{
    return (size_t)aggs->n * sizeof(struct cf_agg_slot);
}

/* Per-thread evaluation of the arguments over a batch. */
struct cf_aggs_eval;
struct cf_aggs_eval *cf_aggs_eval_create(const struct cf_aggs *aggs);
void cf_aggs_eval_destroy(struct cf_aggs_eval *ev);
/* Evaluates every argument over `in`; temporary strings go to scratch. */
void cf_aggs_eval_batch(struct cf_aggs_eval *ev, const struct cf_batch *in,
                        struct cf_arena *scratch);

void cf_aggs_init(const struct cf_aggs *aggs, struct cf_agg_slot *acc);
/* Folds row r of the last evaluated batch (event time ts) into acc. Returns how many bytes
 * the heap memory of the slots grew by (cf_aggs_heap_bytes after minus before). */
size_t cf_aggs_update(const struct cf_aggs *aggs, const struct cf_aggs_eval *ev,
                      struct cf_agg_slot *acc, uint32_t r, int64_t ts);
/* dst := dst combined with src (src unchanged). */
void cf_aggs_merge(const struct cf_aggs *aggs, struct cf_agg_slot *dst,
                   const struct cf_agg_slot *src);
/* Writes the results into row r of out, columns first_col... */
void cf_aggs_output(const struct cf_aggs *aggs, const struct cf_agg_slot *acc, struct cf_batch *out,
                    uint32_t r, uint32_t first_col);
/* Frees what the slots own. */
void cf_aggs_free(const struct cf_aggs *aggs, struct cf_agg_slot *acc);
/* Bytes of heap memory the slots own (for state memory accounting). */
size_t cf_aggs_heap_bytes(const struct cf_aggs *aggs, const struct cf_agg_slot *acc);

/* Serialization, for spilling and snapshots: appends acc to out / reads it back (acc is
 * initialized by deserialize). Returns 0 or CF_EPARSE on a malformed buffer. */
void cf_aggs_serialize(const struct cf_aggs *aggs, const struct cf_agg_slot *acc,
                       struct cf_buf *out);
int cf_aggs_deserialize(const struct cf_aggs *aggs, struct cf_agg_slot *acc, const void *data,
                        size_t len);

#endif
