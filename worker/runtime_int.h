/*
 * runtime_int.h - internals shared by the runtime's files (runtime.c, xwriter.c).
 */
#ifndef CF_RUNTIME_INT_H
#define CF_RUNTIME_INT_H

#include <pthread.h>

#include "dataplane.h"
#include "gate.h"
#include "runtime.h"

#define CF_STAT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define CF_STAT_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* One downstream subtask of an exchange: its gate in this process, or a data-plane
 * channel to the worker that runs it. */
struct cf_xtarget {
    struct cf_gate *gate;
    struct cf_dp_output *out;
};

/* Sends a vertex's output to the subtasks of the next vertex. */
struct cf_xwriter {
    int exchange; /* REBALANCE, HASH or BROADCAST */
    struct cf_task *task;
    int nout;                   /* downstream subtasks */
    struct cf_xtarget *targets; /* one per downstream subtask */
    int chan;                   /* this subtask's channel in each gate */
    int rr;                     /* next target for REBALANCE */
    const int *key_idx;
    int nkeys;
    int max_parallelism;
    struct cf_batch_pool *pool;
    struct cf_batch **pending; /* HASH: a batch being filled per downstream subtask */
    uint64_t *hashes;          /* HASH: scratch for one batch */
    int64_t watermark;
    uint64_t records_out;
};

struct cf_op_target {
    struct cf_op *op;      /* chained operator, or NULL */
    struct cf_xwriter *xw; /* or an exchange */
};

struct cf_timer {
    int64_t at;
    struct cf_op *op;
};

struct cf_task {
    struct cf_runtime *rt;
    int remote; /* runs on another worker: only a placeholder here */
    const struct cf_plan_vertex *vertex;
    int subtask;
    int nops;
    struct cf_op *ops;    /* chain order: ops[k] is vertex->ops[k] */
    struct cf_gate *gate; /* NULL for a source vertex */
    int nxw;
    struct cf_xwriter **xws;
    int64_t *chan_wm;   /* per input channel watermark */
    uint8_t *chan_done; /* per input channel end-of-stream */
    int chans_open;
    int64_t input_wm;
    int ntimers, cap_timers;
    struct cf_timer *timers;
    pthread_t thread;
    int started;
    int state; /* enum cf_job_state of the subtask: RUNNING, FINISHED, FAILED, CANCELED */
    int64_t backpressured_ns;
    struct cf_state *kv; /* keyed state, opened by the first cf_op_state() */
    char log_ctx[160];
    char failure[1024];
};

int cf_xwriter_send(struct cf_xwriter *xw, struct cf_batch *batch);
int cf_xwriter_watermark(struct cf_xwriter *xw, int64_t wm);
int cf_xwriter_flush(struct cf_xwriter *xw);
int cf_xwriter_eos(struct cf_xwriter *xw);
void cf_xwriter_destroy(struct cf_xwriter *xw);

#endif
