#include "srcerr.h"

#include <string.h>

#include "common/base/mem.h"
#include "common/data/json_codec.h"
#include "runtime_int.h"

struct cf_json_decoder *cf_srcerr_json_decoder(const struct cf_op *op,
                                               const struct cf_schema *schema, int ts_idx)
{
    struct cf_json_decoder *dec = cf_json_decoder_create(schema);
    uint8_t *keep = cf_malloc(schema->nfields + 1);
    memcpy(keep, op->decl->outputs[0].used, schema->nfields);
    if (ts_idx >= 0) {
        keep[ts_idx] = 1;
    }
    cf_json_decoder_project(dec, keep);
    cf_free(keep);
    return dec;
}

int cf_srcerr_schema(struct cf_op_decl *decl, const struct cJSON *json, struct cf_schema **schema,
                     struct cf_err *err)
{
    char path[64];
    snprintf(path, sizeof(path), "%s.schema", decl->path);
    *schema = cf_schema_from_json(json, path, err);
    if (!*schema) {
        if (err && !err->msg[0]) {
            cf_err_append(err, CF_ESPEC, "%s: invalid", path);
        }
        return CF_ESPEC;
    }
    return 0;
}

int cf_srcerr_declare(struct cf_op_decl *decl, struct cf_schema *schema, int ts_idx)
{
    int out = cf_op_decl_output(decl, "", schema);
    decl->outputs[out].event_time = ts_idx >= 0;
    struct cf_schema *errs = cf_schema_errors();
    int errors_out = cf_op_decl_output(decl, "errors", errs);
    cf_schema_release(errs);
    return errors_out;
}

void cf_srcerr_init(struct cf_srcerr *se, int out)
{
    memset(se, 0, sizeof(*se));
    se->out = out;
}

int cf_srcerr_add(struct cf_srcerr *se, struct cf_op *op, const char *raw, size_t raw_len,
                  const char *reason, const char *location)
{
    se->count++;
    if (!cf_op_has_consumers(op, se->out)) {
        /* Counted as emitted and dropped, as cf_op_emit() counts rows nobody consumes. */
        CF_STAT_ADD(op->metrics.records_out[se->out], 1);
        CF_STAT_ADD(op->metrics.dropped[se->out], 1);
        uint64_t suppressed = 0;
        if (cf_log_ratelimit_allow(&se->rl, &suppressed)) {
            cf_warn("%s: bad record at %s: %s (%llu bad records so far; route '%s.errors' to a "
                    "sink to keep them)%s",
                    op->decl->id, location, reason, (unsigned long long)se->count, op->decl->id,
                    suppressed ? " [similar messages suppressed]" : "");
        }
        return 0;
    }
    if (!se->batch) {
        se->batch = cf_op_batch_get(op, se->out);
    }
    struct cf_batch *b = se->batch;
    uint32_t r = cf_batch_add_row(b);
    cf_batch_set_str(b, 0, r, raw, raw_len > CF_SRCERR_RAW_MAX ? CF_SRCERR_RAW_MAX : raw_len);
    cf_batch_set_str(b, 1, r, reason, strlen(reason));
    cf_batch_set_str(b, 2, r, location, strlen(location));
    if (cf_batch_full(b)) {
        se->batch = NULL;
        return cf_op_emit(op, se->out, b);
    }
    return 0;
}

int cf_srcerr_flush(struct cf_srcerr *se, struct cf_op *op)
{
    struct cf_batch *b = se->batch;
    se->batch = NULL;
    return b ? cf_op_emit(op, se->out, b) : 0;
}

void cf_srcerr_destroy(struct cf_srcerr *se)
{
    cf_batch_release(se->batch);
    se->batch = NULL;
}
