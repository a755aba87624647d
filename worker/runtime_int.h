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
    int unkicked;    /* deferred pushes since the last cf_gate_kick() */
    int64_t wm_sent; /* the last watermark sent to this subtask */
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
    uint64_t kg_mask; /* max_parallelism - 1 when it is a power of 2, else 0 */
    struct cf_batch_pool *pool;
    struct cf_batch **pending; /* HASH: a batch being filled per downstream subtask */
    const uint8_t *used;       /* HASH: the columns the consumer reads (plan in_used) */
    /* HASH scratch: per row of the batch being split, and per downstream subtask */
    uint64_t *hashes;
    uint16_t *kg_target; /* the downstream subtask of each key group */
    uint16_t *row_target;
    uint32_t *row_dst;
    uint32_t *count, *fill;
    int64_t *min_ts; /* the earliest event time among a batch's rows per downstream subtask */
    void **dst_data, **dst_nulls; /* per downstream subtask: where a column's rows go */
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
    /* checkpoints (rt_checkpoint.c), task thread only */
    int64_t ck_taken;    /* last checkpoint this task snapshotted (or skipped) */
    int64_t ck_notified; /* last completion delivered to the operators */
    int64_t ck_aligning; /* barrier being aligned, 0 if none */
    int64_t ck_align_ns; /* when the first barrier of ck_aligning arrived */
    int64_t *ck_chan;    /* per input channel: last barrier id seen */
    int ck_stopped;      /* a source after a stop-with-savepoint barrier: emits nothing more */
    struct cf_state *kv; /* keyed state, opened by the first cf_op_state() */
    char log_ctx[160];
    char failure[1024];
};

struct cf_runtime {
    const struct cf_plan *plan;
    char job_id[64];
    int ntasks;
    struct cf_task *tasks;
    int *vertex_first_task;        /* index of subtask 0 of each vertex in tasks */
    struct cf_batch_pool ***pools; /* [op][output] */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int state;    /* enum cf_job_state */
    int canceled; /* tasks must stop */
    int running;  /* tasks not yet ended */
    int failed;
    char failure[2048];
    char *state_dir; /* <root>/<job id> */
    int keep_state;
    int placed;                            /* spread over workers (cf_runtime_create_placed) */
    struct cf_runtime_placement placement; /* arrays below are the runtime's copies */
    int *slot_worker;
    char **hosts;
    int *data_ports;
    char **input_keys; /* data-plane inputs registered for local gates */
    int ninput_keys;
    struct cf_rt_ckpt *ck; /* checkpointing (rt_checkpoint.c); NULL when off */
    struct cf_rt_shared {  /* cf_op_shared() objects, under lock */
        int op;            /* plan op index */
        void *obj;
        void (*destroy)(void *obj);
    } * shared;
    int nshared;
};

static inline struct cf_task *cf_rt_task(struct cf_runtime *rt, int vertex, int subtask)
{
    return &rt->tasks[rt->vertex_first_task[vertex] + subtask];
}

int cf_xwriter_send(struct cf_xwriter *xw, struct cf_batch *batch);
int cf_xwriter_watermark(struct cf_xwriter *xw, int64_t wm);
int cf_xwriter_flush(struct cf_xwriter *xw);
int cf_xwriter_eos(struct cf_xwriter *xw);
int cf_xwriter_barrier(struct cf_xwriter *xw, int64_t checkpoint_id);
/* Wakes the local consumers of messages sent deferred: before the task waits or idles. */
void cf_xwriter_kick(struct cf_xwriter *xw);

/* rt_checkpoint.c: the task-thread side of checkpoints. Each returns 0 or a CF_E* code. */
int cf_rt_ckpt_restore(struct cf_task *task);                     /* after open(), before input */
int cf_rt_ckpt_source_step(struct cf_task *task);                 /* every source loop turn */
int cf_rt_ckpt_notify_step(struct cf_task *task);                 /* every loop turn */
int cf_rt_ckpt_barrier(struct cf_task *task, int ch, int64_t id); /* a barrier arrived */
int cf_rt_ckpt_channel_done(struct cf_task *task);                /* an input channel ended */
int cf_rt_ckpt_end_of_input(struct cf_task *task);                /* after finish: wait to commit */
void cf_rt_ckpt_destroy(struct cf_runtime *rt);
void cf_rt_ckpt_set_tmpdir(struct cf_runtime *rt); /* once the state directory is final */
/* Waits until deadline (monotonic ms) or until the runtime changes (runtime.c). */
void cf_rt_idle_wait(struct cf_runtime *rt, int64_t deadline_ms);
void cf_xwriter_destroy(struct cf_xwriter *xw);

#endif
