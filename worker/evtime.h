/*
 * evtime.h - event time at sources: the `event_time` config block, timestamp assignment
 * and bounded-out-of-orderness watermarks (DESIGN.md section 4).
 *
 * A source assigns each row's event time from a field and tracks, per split or partition,
 * the largest time seen; its watermark is max - max_out_of_orderness - 1 (a record with time
 * t <= watermark is late). The watermark comes from the data, once per batch, so replaying
 * the same input gives the same results. Splits idle longer than idle_timeout are left out
 * of the minimum. Used by one task thread.
 */
#ifndef CF_EVTIME_H
#define CF_EVTIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/data/batch.h"
#include "common/job/conf.h"

struct cf_evtime_conf {
    char *field;          /* NULL: the source assigns no event time */
    int64_t max_ooo;      /* max_out_of_orderness, ms */
    int64_t idle_timeout; /* ms, 0: never idle */
};

/* Conf-table lines for a plugin whose config struct has `struct cf_evtime_conf member`. */
#define CF_EVTIME_CONF_KEYS(type, member)                                                          \
    {"event_time",                                                                                 \
     CF_CONF_OBJECT,                                                                               \
     0,                                                                                            \
     NULL,                                                                                         \
     0,                                                                                            \
     NULL,                                                                                         \
     "Event time: the field that carries it and the watermark strategy."},                         \
        {"event_time.field",                                                                       \
         CF_CONF_STRING,                                                                           \
         0,                                                                                        \
         NULL,                                                                                     \
         offsetof(type, member.field),                                                             \
         NULL,                                                                                     \
         "Timestamp (or int epoch ms) field holding each record's event time."},                   \
        {"event_time.max_out_of_orderness",                                                        \
         CF_CONF_DURATION,                                                                         \
         0,                                                                                        \
         "0ms",                                                                                    \
         offsetof(type, member.max_ooo),                                                           \
         NULL,                                                                                     \
         "How far behind the largest time seen a record may arrive without being late."},          \
    {                                                                                              \
        "event_time.idle_timeout", CF_CONF_DURATION, 0, "0ms",                                     \
            offsetof(type, member.idle_timeout), NULL,                                             \
            "A split or partition without records for this long stops holding back the "           \
            "watermark (0: never)."                                                                \
    }

/* Checks the event time field against the source's schema; returns its index via
 * *field_idx (-1 without event time). Errors name path.event_time.field. */
int cf_evtime_check(const struct cf_evtime_conf *conf, const struct cf_schema *schema,
                    const char *path, int *field_idx, struct cf_err *err);

struct cf_wmgen {
    int64_t bound;
    int64_t idle_timeout;
    int nsplits;
    int64_t *max_ts;      /* per split, CF_TS_MIN before the first record */
    int64_t *last_active; /* monotonic ms of the split's last record */
    uint8_t *done;        /* finished splits no longer hold the watermark back */
};

void cf_wmgen_init(struct cf_wmgen *gen, const struct cf_evtime_conf *conf, int nsplits);
void cf_wmgen_destroy(struct cf_wmgen *gen);
/* Records that split saw event time ts. */
static inline void cf_wmgen_observe(struct cf_wmgen *gen, int split, int64_t ts)
{
    if (ts > gen->max_ts[split]) {
        gen->max_ts[split] = ts;
    }
}
void cf_wmgen_touch(struct cf_wmgen *gen, int split, int64_t now_ms);
void cf_wmgen_split_done(struct cf_wmgen *gen, int split);
/* The current watermark: min over active splits of max_ts - bound - 1 (CF_TS_MIN if none
 * has data yet). */
int64_t cf_wmgen_current(const struct cf_wmgen *gen, int64_t now_ms);

/*
 * Sets batch->ts from column field_idx for rows [from, batch->n) and observes them in
 * split. Rows whose field is NULL get CF_TS_NONE and are counted in the return value.
 */
uint32_t cf_evtime_assign(struct cf_batch *batch, int field_idx, uint32_t from,
                          struct cf_wmgen *gen, int split);

#endif
