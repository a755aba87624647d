/*
 * runtime.h - runs a planned job: one thread per subtask, chained operators called
 * directly, bounded gates between vertices.
 *
 * This is the engine inside cf-worker and `cfctl local`. A runtime runs one attempt of one
 * job: create, start, then wait for a terminal state (or cancel). Its functions may be
 * called from any thread unless noted.
 */
#ifndef CF_RUNTIME_H
#define CF_RUNTIME_H

#include <stdint.h>

#include "plan.h"

/* Job states, with Flink's names (REST API contract). */
#define CF_JOB_STATES(X)                                                                           \
    X(CF_JOB_CREATED, "CREATED")                                                                   \
    X(CF_JOB_RUNNING, "RUNNING")                                                                   \
    X(CF_JOB_FAILING, "FAILING")                                                                   \
    X(CF_JOB_FAILED, "FAILED")                                                                     \
    X(CF_JOB_CANCELLING, "CANCELLING")                                                             \
    X(CF_JOB_CANCELED, "CANCELED")                                                                 \
    X(CF_JOB_FINISHED, "FINISHED")                                                                 \
    X(CF_JOB_RESTARTING, "RESTARTING")                                                             \
    X(CF_JOB_SUSPENDED, "SUSPENDED")                                                               \
    X(CF_JOB_RECONCILING, "RECONCILING")

enum cf_job_state {
#define CF_JOB_STATE_ENUM(name, text) name,
    CF_JOB_STATES(CF_JOB_STATE_ENUM)
#undef CF_JOB_STATE_ENUM
        CF_JOB__COUNT
};

const char *cf_job_state_name(enum cf_job_state state);
int cf_job_state_terminal(enum cf_job_state state);

struct cf_runtime;

/* Totals over an operator's subtasks. */
struct cf_runtime_op_stats {
    uint64_t records_in;
    uint64_t records_out;
    uint64_t side_out; /* rows sent to side outputs (errors, late), consumed or not */
    uint64_t dropped;  /* rows emitted to outputs nobody consumes */
    uint64_t bytes_in;
};

struct cf_runtime_vertex_stats {
    uint64_t records_in;       /* into the vertex's head operator */
    uint64_t records_out;      /* out of the vertex's operators through exchanges or sinks */
    uint64_t backpressured_ns; /* time subtasks spent blocked on full downstream queues */
    int subtasks_running;
    int subtasks_finished;
};

/* One subtask's counters. */
struct cf_runtime_subtask_stats {
    uint64_t records_in, records_out, backpressured_ns;
    int64_t watermark; /* input watermark (output watermark for sources); CF_TS_MIN: none */
    int state;         /* enum cf_job_state */
};

/* Instantiates every subtask (operators are opened in their threads). The plan must
 * outlive the runtime. */
struct cf_runtime *cf_runtime_create(const struct cf_plan *plan, const char *job_id,
                                     struct cf_err *err);

struct cf_dataplane;

/*
 * Where a job's subtasks run when it is spread over workers. Slot sharing: subtask s of
 * every vertex runs in the job's slot s, and slot s is on worker slot_worker[s]. Workers
 * are numbered 0..nworkers-1; hosts/data_ports give their data-plane addresses. The arrays
 * are borrowed for the call.
 */
struct cf_runtime_placement {
    int self; /* this worker */
    int nworkers;
    const int *slot_worker;
    const char *const *hosts;
    const int *data_ports;
    int attempt;             /* part of channel keys, so a restarted attempt never mixes */
    struct cf_dataplane *dp; /* this worker's data plane; must outlive the runtime */
};

/*
 * Like cf_runtime_create(), but runs only the subtasks placed on placement->self: exchanges
 * to subtasks elsewhere go over the data plane (channels keyed
 * "<job>/<attempt>/<vertex>.<subtask>-><vertex>.<subtask>"), and inputs from them are
 * registered with it. Fails (NULL, err) when a peer's data plane cannot be reached.
 */
struct cf_runtime *cf_runtime_create_placed(const struct cf_plan *plan, const char *job_id,
                                            const struct cf_runtime_placement *placement,
                                            struct cf_err *err);
/* Fails the job with a reason from outside (a lost data channel or peer). Any thread. */
void cf_runtime_fail(struct cf_runtime *rt, const char *reason);
/*
 * Where subtasks keep keyed state (an LMDB environment each, under <dir>/<job id>.<attempt>/,
 * so a restarted attempt never opens an environment the previous one still closes).
 * Default: $TMPDIR (or /tmp)/creekflow-state; the job's directory is removed when the
 * runtime is destroyed unless keep is set. Before cf_runtime_start().
 */
void cf_runtime_set_state_dir(struct cf_runtime *rt, const char *dir, int keep);
/*
 * Checkpoints (DESIGN.md section 5; rt_checkpoint.c). With hooks set, the runtime takes
 * aligned-barrier snapshots when triggered, uploads them (a thread of the runtime) and calls
 * hooks->ack per subtask; tasks that reach the end of their input call end_of_input and, in
 * exactly_once mode, wait for cf_runtime_notify_checkpoint(CF_CKPT_FINAL) before finishing,
 * so two-phase-commit sinks commit only output no restart can produce again.
 */
#define CF_CKPT_FINAL INT64_MAX

struct cf_ckpt_meta;
struct cf_ckpt_file;

struct cf_runtime_ckpt_ack {
    int64_t checkpoint_id;
    int vertex, subtask;
    const char *decline; /* non-NULL: the subtask could not take it, and why */
    int nfiles;
    const char *const *op_ids; /* per file: the operator id */
    const int *op_parallelism; /* per file: that operator's parallelism */
    const struct cf_ckpt_file *files;
    uint64_t state_bytes;
    int64_t alignment_ms, duration_ms;
};

struct cf_runtime_ckpt_hooks {
    void (*ack)(void *arg, const struct cf_runtime_ckpt_ack *ack); /* the upload thread */
    void (*end_of_input)(void *arg, int vertex, int subtask);      /* a task thread */
    void *arg;
};

/* Before cf_runtime_start(). The mode (exactly/at least once) comes from the job's spec;
 * without `checkpoints` in the spec only savepoints are taken. */
void cf_runtime_set_checkpointing(struct cf_runtime *rt, const struct cf_runtime_ckpt_hooks *hooks);
/* Before cf_runtime_start(): restore every task from this checkpoint (the runtime owns meta). */
void cf_runtime_set_restore(struct cf_runtime *rt, struct cf_ckpt_meta *meta);
/* Injects barrier id at the local source subtasks; their state goes under dir_url
 * (".../chk-<id>" or a savepoint directory). stop: sources emit nothing after the barrier
 * (stop with savepoint). Any thread. */
void cf_runtime_trigger_checkpoint(struct cf_runtime *rt, int64_t id, const char *dir_url,
                                   int stop);
/* Checkpoint id (and every older one) is complete: tasks call notify_checkpoint_complete.
 * Any thread. */
void cf_runtime_notify_checkpoint(struct cf_runtime *rt, int64_t id);

/* Starts the task threads. */
int cf_runtime_start(struct cf_runtime *rt, struct cf_err *err);
/* Waits up to timeout_ms (-1: forever) for a terminal state; returns the current state. */
enum cf_job_state cf_runtime_wait(struct cf_runtime *rt, int64_t timeout_ms);
enum cf_job_state cf_runtime_state(struct cf_runtime *rt);
/* Asks every task to stop; the job ends CANCELED (unless it already ended). */
void cf_runtime_cancel(struct cf_runtime *rt);
/* Why the job failed (empty if it did not); valid until destroy. */
const char *cf_runtime_failure(struct cf_runtime *rt);
void cf_runtime_op_stats(struct cf_runtime *rt, int op, struct cf_runtime_op_stats *stats);
/* Adds one operator's counters to another's (sums over subtasks or workers). */
void cf_runtime_op_stats_add(struct cf_runtime_op_stats *to, const struct cf_runtime_op_stats *s);
void cf_runtime_vertex_stats(struct cf_runtime *rt, int vertex,
                             struct cf_runtime_vertex_stats *stats);
/* One subtask running here: 0, or -1 when it runs on another worker. Any thread. */
int cf_runtime_subtask_stats(struct cf_runtime *rt, int vertex, int subtask,
                             struct cf_runtime_subtask_stats *stats);
/* One operator of one subtask (zeros when the subtask runs elsewhere). Any thread. */
void cf_runtime_subtask_op_stats(struct cf_runtime *rt, int op_index, int subtask,
                                 struct cf_runtime_op_stats *stats);
/*
 * For an attempt whose tasks all ended: waits for their threads and for the checkpoint
 * uploads they queued, so nothing of the attempt reaches object storage after its end is
 * reported (the coordinator then sweeps what no completed checkpoint uses). Counters and
 * the failure stay readable until cf_runtime_destroy().
 */
void cf_runtime_settle(struct cf_runtime *rt);
/* Cancels if needed, joins the threads and frees everything. */
void cf_runtime_destroy(struct cf_runtime *rt);

#endif
