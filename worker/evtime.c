#include "evtime.h"

#include "common/base/mem.h"
#include "common/base/timeutil.h"

int cf_evtime_check(const struct cf_evtime_conf *conf, const struct cf_schema *schema,
                    const char *path, int *field_idx, struct cf_err *err)
{
    *field_idx = -1;
    if (!conf->field) {
        if (conf->max_ooo || conf->idle_timeout) {
            return cf_err_append(err, CF_ESPEC, "%s.event_time.field: required", path);
        }
        return 0;
    }
    int idx = cf_schema_find(schema, conf->field);
    if (idx < 0) {
        return cf_err_append(err, CF_ESPEC, "%s.event_time.field: unknown field '%s'", path,
                             conf->field);
    }
    enum cf_type t = schema->fields[idx].type;
    if (t != CF_TYPE_TIMESTAMP && t != CF_TYPE_INT) {
        return cf_err_append(err, CF_ESPEC,
                             "%s.event_time.field: '%s' is %s; event time needs a timestamp "
                             "(or int epoch ms) field",
                             path, conf->field, cf_type_name(t));
    }
    *field_idx = idx;
    return 0;
}

void cf_wmgen_init(struct cf_wmgen *gen, const struct cf_evtime_conf *conf, int nsplits)
{
    gen->bound = conf->max_ooo;
    gen->idle_timeout = conf->idle_timeout;
    gen->nsplits = nsplits > 0 ? nsplits : 1;
    gen->max_ts = cf_calloc((size_t)gen->nsplits, sizeof(int64_t));
    gen->last_active = cf_calloc((size_t)gen->nsplits, sizeof(int64_t));
    gen->done = cf_calloc((size_t)gen->nsplits, 1);
    for (int i = 0; i < gen->nsplits; i++) {
        gen->max_ts[i] = CF_TS_MIN;
    }
}

void cf_wmgen_destroy(struct cf_wmgen *gen)
{
    cf_free(gen->max_ts);
    cf_free(gen->last_active);
    cf_free(gen->done);
    gen->max_ts = gen->last_active = NULL;
    gen->done = NULL;
}

void cf_wmgen_touch(struct cf_wmgen *gen, int split, int64_t now_ms)
{
    gen->last_active[split] = now_ms;
}

void cf_wmgen_split_done(struct cf_wmgen *gen, int split)
{
    gen->done[split] = 1;
}

int64_t cf_wmgen_current(const struct cf_wmgen *gen, int64_t now_ms)
{
    int64_t wm = CF_TS_MAX;
    int active = 0;
    int64_t best_idle = CF_TS_MIN;
    for (int i = 0; i < gen->nsplits; i++) {
        if (gen->done[i]) {
            continue;
        }
        int64_t split_wm =
            gen->max_ts[i] == CF_TS_MIN ? CF_TS_MIN : gen->max_ts[i] - gen->bound - 1;
        if (gen->idle_timeout > 0 && now_ms - gen->last_active[i] >= gen->idle_timeout) {
            if (split_wm > best_idle) {
                best_idle = split_wm;
            }
            continue; /* idle: does not hold the watermark back */
        }
        active++;
        if (split_wm < wm) {
            wm = split_wm;
        }
    }
    if (!active) {
        /* Every split idle or done: advance to what the idle ones have seen. */
        return best_idle;
    }
    return wm;
}

uint32_t cf_evtime_assign(struct cf_batch *batch, int field_idx, uint32_t from,
                          struct cf_wmgen *gen, int split)
{
    const struct cf_col *col = &batch->cols[field_idx];
    uint32_t missing = 0;
    int64_t max = gen->max_ts[split];
    for (uint32_t r = from; r < batch->n; r++) {
        if (col->nulls[r]) {
            batch->ts[r] = CF_TS_NONE;
            missing++;
            continue;
        }
        int64_t ts = col->v.i64[r];
        batch->ts[r] = ts;
        if (ts > max) {
            max = ts;
        }
    }
    gen->max_ts[split] = max;
    return missing;
}
