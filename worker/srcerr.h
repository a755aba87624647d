/*
 * srcerr.h - the `<id>.errors` side output of sources.
 *
 * A record that does not parse or does not fit the schema becomes a row (raw, error,
 * location) on the source's "errors" output. When nothing consumes that output the record
 * is counted (in the operator's dropped metric) and logged, rate-limited, so a bad input
 * never stops a job and is never lost silently. Task thread only.
 */
#ifndef CF_SRCERR_H
#define CF_SRCERR_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/log.h"
#include "op.h"

/* Raw input kept in an error row is cut at this many bytes. */
#define CF_SRCERR_RAW_MAX 65536

struct cf_srcerr {
    int out; /* the errors output index */
    struct cf_batch *batch;
    struct cf_log_ratelimit rl;
    uint64_t count;
};

/*
 * Spec time, for sources that decode records against a `schema`: parses the schema JSON into
 * *schema (the caller releases it), with messages at "<decl path>.schema". 0 or CF_ESPEC.
 */
struct cJSON;
int cf_srcerr_schema(struct cf_op_decl *decl, const struct cJSON *json, struct cf_schema **schema,
                     struct cf_err *err);
/* Declares such a source's outputs: the main one (with event time when ts_idx >= 0) and
 * "errors"; returns the index of "errors". */
int cf_srcerr_declare(struct cf_op_decl *decl, struct cf_schema *schema, int ts_idx);

/* Run time: a JSON decoder of such a source's schema (the caller destroys it) that stores
 * only the fields its consumers read, and the event time field ts_idx (if >= 0). */
struct cf_json_decoder;
struct cf_json_decoder *cf_srcerr_json_decoder(const struct cf_op *op,
                                               const struct cf_schema *schema, int ts_idx);

void cf_srcerr_init(struct cf_srcerr *se, int out);
/* Records one bad record. Returns 0 or a downstream error. */
int cf_srcerr_add(struct cf_srcerr *se, struct cf_op *op, const char *raw, size_t raw_len,
                  const char *reason, const char *location);
/* Emits the pending error rows (call before each watermark and at the end). */
int cf_srcerr_flush(struct cf_srcerr *se, struct cf_op *op);
void cf_srcerr_destroy(struct cf_srcerr *se);

#endif
