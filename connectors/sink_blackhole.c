/*
 * sink.blackhole - discards rows (Flink's blackhole connector): measures a pipeline without
 * a sink's cost. With `rate` it accepts at most that many rows/s per subtask and blocks
 * otherwise, which back-pressures everything upstream (tests and demos of flow control).
 */
#include <stddef.h>
#include <time.h>

#include "common/base/mem.h"
#include "worker/op.h"
#include "worker/ratelimit.h"

struct blackhole_conf {
    int64_t rate;
};

static const struct cf_conf_key blackhole_keys[] = {
    {"rate", CF_CONF_INT, 0, "0", offsetof(struct blackhole_conf, rate), NULL,
     "Rows/s each subtask accepts (0: unlimited); a slower consumer back-pressures upstream."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

static int blackhole_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct blackhole_conf *conf = decl->conf;
    if (conf->rate < 0) {
        return cf_err_append(err, CF_ESPEC, "%s.rate: must not be negative", decl->path);
    }
    return 0;
}

static int blackhole_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    const struct blackhole_conf *conf = op->conf;
    struct cf_pace *pace = cf_new(struct cf_pace);
    cf_pace_init(pace, (double)conf->rate);
    op->state = pace;
    return 0;
}

static int blackhole_process(struct cf_op *op, struct cf_batch *batch)
{
    struct cf_pace *pace = op->state;
    int64_t left = batch->n;
    cf_batch_release(batch);
    while (left > 0 && !cf_op_canceled(op)) {
        int64_t wait_ms = 0;
        int64_t n = cf_pace_allow(pace, left, &wait_ms);
        if (n == 0) {
            struct timespec ts = {0, (long)(wait_ms > 0 ? wait_ms : 1) * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        pace->produced += n;
        left -= n;
    }
    return 0;
}

static void blackhole_close(struct cf_op *op)
{
    cf_free(op->state);
}

const struct cf_op_plugin cf_conn_sink_blackhole = {
    .type = "sink.blackhole",
    .kind = CF_OP_KIND_SINK,
    .doc = "Discards rows, optionally at a limited rate (back-pressure tests, benchmarks).",
    .conf_size = sizeof(struct blackhole_conf),
    .conf_keys = blackhole_keys,
    .configure = blackhole_configure,
    .open = blackhole_open,
    .process = blackhole_process,
    .close = blackhole_close,
};
