/*
 * xwriter.c - the sending side of an exchange between two vertices.
 *
 * REBALANCE sends whole batches round-robin; BROADCAST copies each batch to every
 * downstream subtask; HASH splits a batch by key group into one pending batch per
 * downstream subtask, sending a pending batch when it is full, before every watermark, when
 * the task goes idle, and at the end of the stream, so buffering never delays a result
 * past the next watermark.
 */
#include <string.h>

#include "common/base/log.h"
#include "common/data/keys.h"
#include "runtime_int.h"

static int push(struct cf_xwriter *xw, int target, struct cf_msg *msg)
{
    struct cf_xtarget *t = &xw->targets[target];
    if (t->gate) {
        return cf_gate_push(t->gate, xw->chan, msg, &xw->task->backpressured_ns);
    }
    return cf_dp_output_send(t->out, msg, &xw->task->backpressured_ns);
}

static int push_batch(struct cf_xwriter *xw, int target, struct cf_batch *batch)
{
    CF_STAT_ADD(xw->records_out, batch->n);
    struct cf_msg msg = {.kind = CF_MSG_BATCH, .batch = batch};
    return push(xw, target, &msg);
}

int cf_xwriter_send(struct cf_xwriter *xw, struct cf_batch *batch)
{
    if (batch->n == 0) {
        cf_batch_release(batch);
        return 0;
    }
    switch (xw->exchange) {
    case CF_EXCHANGE_HASH: break;
    case CF_EXCHANGE_BROADCAST:
        for (int t = 0; t < xw->nout - 1; t++) {
            struct cf_batch *copy = cf_batch_pool_get(xw->pool);
            for (uint32_t r = 0; r < batch->n; r++) {
                cf_batch_copy_row(copy, batch, r);
            }
            int rc = push_batch(xw, t, copy);
            if (rc) {
                cf_batch_release(batch);
                return rc;
            }
        }
        return push_batch(xw, xw->nout - 1, batch);
    default: {
        int t = xw->rr;
        xw->rr = (xw->rr + 1) % xw->nout;
        return push_batch(xw, t, batch);
    }
    }

    /* HASH: route each row to the subtask that owns its key group. */
    cf_keys_hash(batch, xw->key_idx, xw->nkeys, xw->hashes);
    int rc = 0;
    for (uint32_t r = 0; r < batch->n && rc == 0; r++) {
        int kg = cf_key_group(xw->hashes[r], xw->max_parallelism);
        int t = cf_key_group_subtask(kg, xw->max_parallelism, xw->nout);
        struct cf_batch *p = xw->pending[t];
        if (!p) {
            p = xw->pending[t] = cf_batch_pool_get(xw->pool);
        }
        cf_batch_copy_row(p, batch, r);
        if (cf_batch_full(p)) {
            xw->pending[t] = NULL;
            rc = push_batch(xw, t, p);
        }
    }
    cf_batch_release(batch);
    return rc;
}

int cf_xwriter_flush(struct cf_xwriter *xw)
{
    if (!xw->pending) {
        return 0;
    }
    for (int t = 0; t < xw->nout; t++) {
        struct cf_batch *p = xw->pending[t];
        if (p && p->n) {
            xw->pending[t] = NULL;
            int rc = push_batch(xw, t, p);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

int cf_xwriter_watermark(struct cf_xwriter *xw, int64_t wm)
{
    if (wm <= xw->watermark) {
        return 0;
    }
    xw->watermark = wm;
    int rc = cf_xwriter_flush(xw);
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        struct cf_msg msg = {.kind = CF_MSG_WATERMARK, .value = wm};
        rc = push(xw, t, &msg);
    }
    return rc;
}

int cf_xwriter_eos(struct cf_xwriter *xw)
{
    int rc = cf_xwriter_flush(xw);
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        struct cf_msg msg = {.kind = CF_MSG_EOS};
        rc = push(xw, t, &msg);
    }
    return rc;
}

int cf_xwriter_barrier(struct cf_xwriter *xw, int64_t checkpoint_id)
{
    int rc = cf_xwriter_flush(xw);
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        struct cf_msg msg = {.kind = CF_MSG_BARRIER, .value = checkpoint_id};
        rc = push(xw, t, &msg);
    }
    return rc;
}

void cf_xwriter_destroy(struct cf_xwriter *xw)
{
    if (!xw) {
        return;
    }
    if (xw->pending) {
        for (int t = 0; t < xw->nout; t++) {
            cf_batch_release(xw->pending[t]);
        }
    }
    cf_free(xw->pending);
    cf_free(xw->hashes);
    for (int t = 0; t < xw->nout; t++) {
        cf_dp_output_close(xw->targets[t].out);
    }
    cf_free(xw->targets);
    cf_free(xw);
}
