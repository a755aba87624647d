/*
 * xwriter.c - the sending side of an exchange between two vertices.
 *
 * REBALANCE sends whole batches round-robin; BROADCAST copies each batch to every
 * downstream subtask; HASH splits a batch by key group into one pending batch per
 * downstream subtask (copying the columns the consumer reads, pinning the strings), sending
 * a pending batch when it is full or pins many inputs, when the task goes idle, before a
 * barrier and at the end of the stream.
 *
 * Watermarks coalesce behind pending rows: a watermark for a subtask with pending rows is
 * sent right after them, once the batch goes, instead of cutting the batch short (sources
 * emit one per batch, which halved every batch and doubled the messages). Only rows with
 * an event time after the watermark may so overtake it, which no operator can tell apart
 * from the original order (a watermark W says no more rows at or before W follow): a row
 * at or before a held watermark (a late row) first sends the batch and the watermark, so
 * late-data decisions are those of the unbuffered stream. A held watermark waits at most
 * until the batch fills, pins MAX_PINS inputs, or the task idles.
 *
 * Consumers in this process are woken once per few messages, or when the task goes idle.
 */
#include <string.h>

#include "common/base/log.h"
#include "common/data/keys.h"
#include "runtime_int.h"

/*
 * Batches and watermarks go to local gates deferred: the consumer is woken once several are
 * queued, or by cf_xwriter_kick() when this task goes idle (end-of-stream and barriers wake
 * it at once).
 */
static int push(struct cf_xwriter *xw, int target, struct cf_msg *msg)
{
    struct cf_xtarget *t = &xw->targets[target];
    if (!t->gate) {
        return cf_dp_output_send(t->out, msg, &xw->task->backpressured_ns);
    }
    if (msg->kind == CF_MSG_BATCH || msg->kind == CF_MSG_WATERMARK) {
        t->unkicked = 1;
        return cf_gate_push_deferred(t->gate, xw->chan, msg, &xw->task->backpressured_ns);
    }
    return cf_gate_push(t->gate, xw->chan, msg, &xw->task->backpressured_ns);
}

void cf_xwriter_kick(struct cf_xwriter *xw)
{
    for (int t = 0; t < xw->nout; t++) {
        if (xw->targets[t].unkicked) {
            xw->targets[t].unkicked = 0;
            cf_gate_kick(xw->targets[t].gate);
        }
    }
}

static int push_batch(struct cf_xwriter *xw, int target, struct cf_batch *batch)
{
    CF_STAT_ADD(xw->records_out, batch->n);
    struct cf_msg msg = {.kind = CF_MSG_BATCH, .batch = batch};
    return push(xw, target, &msg);
}

/* Sends the exchange's watermark to a downstream subtask that has not had it yet. */
static int push_watermark(struct cf_xwriter *xw, int target)
{
    if (xw->targets[target].wm_sent >= xw->watermark) {
        return 0;
    }
    xw->targets[target].wm_sent = xw->watermark;
    struct cf_msg msg = {.kind = CF_MSG_WATERMARK, .value = xw->watermark};
    return push(xw, target, &msg);
}

/* HASH: sends a downstream subtask's pending batch, then the watermark held behind it. */
static int push_pending(struct cf_xwriter *xw, int target)
{
    struct cf_batch *p = xw->pending[target];
    xw->pending[target] = NULL;
    int rc = push_batch(xw, target, p);
    return rc ? rc : push_watermark(xw, target);
}

/* A pending batch is sent once it pins this many batches, which bounds the memory that
 * pins keep alive when rows of many batches trickle into one target. */
#define MAX_PINS 16

/* Copies column c's values (w bytes each) and null flags of the rows of `in` to the rows
 * row_dst[r] of their targets' pending batches. */
static inline void scatter(struct cf_xwriter *xw, const struct cf_batch *in, uint32_t c, size_t w)
{
    /* Locals throughout: the stores may alias anything, so fields read in the loop would be
     * loaded again on every row. */
    void **dst = xw->dst_data, **dnull = xw->dst_nulls;
    for (int t = 0; t < xw->nout; t++) {
        struct cf_batch *p = xw->pending[t];
        dst[t] = p ? p->cols[c].v.data : NULL;
        dnull[t] = p ? p->cols[c].nulls : NULL;
    }
    const uint16_t *tg = xw->row_target;
    const uint32_t *d = xw->row_dst;
    const char *src = in->cols[c].v.data;
    const uint8_t *nulls = in->cols[c].nulls;
    uint32_t n = in->n;
    for (uint32_t r = 0; r < n; r++) {
        uint16_t t = tg[r];
        uint32_t at = d[r];
        ((uint8_t *)dnull[t])[at] = nulls[r];
        memcpy((char *)dst[t] + (size_t)at * w, src + (size_t)r * w, w);
    }
}

/* An empty batch to fill for a downstream subtask, carrying the rows' key hashes. */
static struct cf_batch *new_pending(struct cf_xwriter *xw)
{
    struct cf_batch *p = cf_batch_pool_get(xw->pool);
    if (!p->key_hash) {
        p->key_hash = cf_malloc(p->cap * sizeof(*p->key_hash));
    }
    p->hash_keys = xw->key_idx;
    p->hash_nkeys = xw->nkeys;
    return p;
}

/*
 * HASH: routes each row to the subtask that owns its key group. Rows are copied column by
 * column, only the columns the consumer reads (the others are NULL), with their key hash;
 * strings are not copied: each pending batch pins the input batch their bytes live in.
 */
static int send_hash(struct cf_xwriter *xw, struct cf_batch *batch)
{
    uint32_t n = batch->n;
    cf_assert(n <= CF_BATCH_ROWS);
    cf_keys_hash(batch, xw->key_idx, xw->nkeys, xw->hashes);
    const uint64_t *h = xw->hashes;
    const int64_t *ts = batch->ts;
    const uint16_t *kg_target = xw->kg_target;
    uint16_t *row_target = xw->row_target;
    uint32_t *count = xw->count;
    int64_t *min_ts = xw->min_ts;
    memset(count, 0, (size_t)xw->nout * sizeof(*count));
    for (int t = 0; t < xw->nout; t++) {
        min_ts[t] = INT64_MAX;
    }
    uint64_t mask = xw->kg_mask;
    for (uint32_t r = 0; r < n; r++) {
        /* cf_key_group(): a mask instead of a division when max_parallelism is a power of 2 */
        uint16_t t =
            kg_target[mask ? h[r] & mask : (uint64_t)cf_key_group(h[r], xw->max_parallelism)];
        row_target[r] = t;
        count[t]++;
        if (ts[r] < min_ts[t]) {
            min_ts[t] = ts[r];
        }
    }
    int rc = 0;
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        struct cf_batch *p = xw->pending[t];
        if (!xw->count[t]) {
            continue;
        }
        /* A late row must not overtake the watermark held behind the pending rows. */
        int late = xw->targets[t].wm_sent < xw->watermark && xw->min_ts[t] <= xw->watermark;
        if (p && (p->n + xw->count[t] > p->cap || p->npins >= MAX_PINS || late)) {
            rc = push_pending(xw, t);
        }
        if (!xw->pending[t]) {
            xw->pending[t] = new_pending(xw);
        }
        cf_batch_pin(xw->pending[t], batch);
        xw->fill[t] = xw->pending[t]->n;
    }
    if (rc) {
        cf_batch_release(batch);
        return rc;
    }
    uint32_t *fill = xw->fill, *row_dst = xw->row_dst;
    for (uint32_t r = 0; r < n; r++) {
        row_dst[r] = fill[row_target[r]]++;
    }
    void **dst_ts = xw->dst_data, **dst_hash = xw->dst_nulls;
    for (int t = 0; t < xw->nout; t++) {
        dst_ts[t] = xw->pending[t] ? xw->pending[t]->ts : NULL;
        dst_hash[t] = xw->pending[t] ? xw->pending[t]->key_hash : NULL;
    }
    for (uint32_t r = 0; r < n; r++) {
        ((int64_t *)dst_ts[row_target[r]])[row_dst[r]] = ts[r];
        ((uint64_t *)dst_hash[row_target[r]])[row_dst[r]] = h[r];
    }
    for (uint32_t c = 0; c < batch->schema->nfields; c++) {
        if (xw->used[c]) {
            switch (cf_type_width(batch->cols[c].type)) {
            case sizeof(struct cf_str): scatter(xw, batch, c, sizeof(struct cf_str)); break;
            case 8: scatter(xw, batch, c, 8); break;
            default: scatter(xw, batch, c, 1); break;
            }
            continue;
        }
        for (int t = 0; t < xw->nout; t++) {
            struct cf_batch *p = xw->pending[t];
            if (xw->count[t]) {
                memset(p->cols[c].nulls + p->n, 1, xw->count[t]);
            }
        }
    }
    for (int t = 0; t < xw->nout; t++) {
        if (xw->count[t]) {
            xw->pending[t]->n += xw->count[t];
        }
    }
    cf_batch_release(batch); /* the pins keep it while pending rows point into it */
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        struct cf_batch *p = xw->pending[t];
        if (p && cf_batch_full(p)) {
            rc = push_pending(xw, t);
        }
    }
    return rc;
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

    return send_hash(xw, batch);
}

int cf_xwriter_flush(struct cf_xwriter *xw)
{
    if (!xw->pending) {
        return 0;
    }
    for (int t = 0; t < xw->nout; t++) {
        struct cf_batch *p = xw->pending[t];
        if (p && p->n) {
            int rc = push_pending(xw, t);
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
    int rc = 0;
    for (int t = 0; t < xw->nout && rc == 0; t++) {
        if (xw->pending && xw->pending[t] && xw->pending[t]->n) {
            continue; /* held behind the pending rows: push_pending() sends it */
        }
        rc = push_watermark(xw, t);
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
    cf_free(xw->row_target);
    cf_free(xw->kg_target);
    cf_free(xw->row_dst);
    cf_free(xw->count);
    cf_free(xw->fill);
    cf_free(xw->min_ts);
    cf_free(xw->dst_data);
    cf_free(xw->dst_nulls);
    for (int t = 0; t < xw->nout; t++) {
        cf_dp_output_close(xw->targets[t].out);
    }
    cf_free(xw->targets);
    cf_free(xw);
}
