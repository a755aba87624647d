/*
 * op.h - the operator and connector plugin interface.
 *
 * Every operator (operators/) and connector (connectors/) is one file exporting one
 * `const struct cf_op_plugin`: its type name, its config table and its callbacks. The
 * registry (worker/registry.c) lists them. Everything else in a plugin file is static.
 *
 * Two lifetimes:
 *  - spec time: the planner parses the plugin's config (conf_keys) into a zeroed struct of
 *    conf_size bytes and calls configure() with a struct cf_op_decl, which checks the
 *    config against the input schema (binding expressions) and declares the outputs. This
 *    runs once per operator, in `cfctl validate` as much as before a run.
 *  - run time: each subtask gets a struct cf_op; open() builds per-subtask state, then the
 *    task thread calls process()/poll(), on_watermark(), on_timer() and finish(), and
 *    close(). All run-time callbacks of one struct cf_op run on its task's thread.
 *
 * Data flow: a plugin hands batches on with cf_op_emit() (ownership passes), and must
 * emit or release every batch it receives in process(). Chained operators are called
 * directly; exchanges move batches to other subtasks through bounded queues, so emit may
 * block while downstream is slow (back-pressure).
 */
#ifndef CF_OP_H
#define CF_OP_H

#include <stdint.h>

#include "common/base/err.h"
#include "common/data/batch.h"
#include "common/job/conf.h"
#include "common/job/spec.h"

#define CF_OP_MAX_OUTPUTS 4

enum cf_op_kind {
    CF_OP_KIND_SOURCE,
    CF_OP_KIND_TRANSFORM,
    CF_OP_KIND_SINK,
};

/* The operator needs key_by; its input arrives partitioned by key group. */
#define CF_OP_F_KEYED 1u

struct cf_op_decl;
struct cf_op;
struct cf_snapshot; /* checkpoint state, defined by the state backend (step [4]) */

struct cf_op_plugin {
    const char *type; /* "filter", "source.file", ... */
    enum cf_op_kind kind;
    unsigned flags; /* CF_OP_F_* */
    const char *doc;
    size_t conf_size;
    const struct cf_conf_key *conf_keys;

    /* Spec time. Required. Checks decl->conf against decl->in_schema and declares outputs
     * with cf_op_decl_output() (sinks declare none). Errors go to err with decl->path. */
    int (*configure)(struct cf_op_decl *decl, struct cf_err *err);
    /* Frees decl->prep. Optional. */
    void (*unconfigure)(struct cf_op_decl *decl);

    /* Run time (task thread). open() is optional; on failure it fills err. */
    int (*open)(struct cf_op *op, struct cf_err *err);
    /* Transforms and sinks: takes ownership of batch (emit or release it). */
    int (*process)(struct cf_op *op, struct cf_batch *batch);
    /* Sources: produce some output. Returns 0 after emitting something, CF_EAGAIN when
     * nothing is ready (the task waits up to *wait_ms, preset to 10), or CF_EEOF when the
     * input is exhausted (a bounded source; the runtime then emits the maximum watermark). */
    int (*poll)(struct cf_op *op, int64_t *wait_ms);
    /* The operator's input watermark advanced. Optional: without it the watermark is
     * forwarded unchanged; with it the plugin forwards with cf_op_emit_watermark(). */
    int (*on_watermark)(struct cf_op *op, int64_t watermark);
    /* A processing-time timer set with cf_op_timer_set() is due. Optional. */
    int (*on_timer)(struct cf_op *op, int64_t now_ms);
    /* End of input, after the final watermark: flush what is buffered. Optional. */
    int (*finish)(struct cf_op *op);
    /* Checkpoints (step [4]): write and read state; commit on completion. Optional. */
    int (*snapshot)(struct cf_op *op, struct cf_snapshot *snap);
    int (*restore)(struct cf_op *op, struct cf_snapshot *snap);
    int (*notify_checkpoint_complete)(struct cf_op *op, int64_t checkpoint_id);
    /* Frees op->state. Optional. Called after a failure too. */
    void (*close)(struct cf_op *op);
};

struct cf_op_output {
    char *name;               /* "" for the main output, else the side output's name */
    struct cf_schema *schema; /* a reference */
    int event_time;           /* rows carry event time (batch->ts) */
    /* The rows are the operator's input rows (a filter's output, late data): fields its
     * consumers read are read from the input. Set by configure(). */
    int rows_of_input;
    /* Projection, set by the planner: used[f] is 1 when a consumer reads field f. The
     * producer may leave the other fields NULL (sources do not decode them, exchanges do
     * not copy them). */
    uint8_t *used;
};

/* Spec-time description of one operator. */
struct cf_op_decl {
    int index;
    const char *id;   /* spec->id */
    const char *path; /* "operators[2]", for messages */
    const struct cf_spec_op *spec;
    const struct cf_spec *job;
    const struct cf_op_plugin *plugin;
    void *conf;                  /* the plugin's config struct, parsed from conf_keys */
    struct cf_schema *in_schema; /* NULL for sources */
    int in_event_time;           /* the input rows carry event time */
    int *key_idx;                /* key_by resolved in in_schema */
    int nkeys;
    int noutputs;
    struct cf_op_output outputs[CF_OP_MAX_OUTPUTS]; /* [0] is the main output */
    int parallelism;
    void *prep;     /* plugin's spec-time products (bound expressions), freed by unconfigure */
    uint8_t *reads; /* input fields the operator itself reads (cf_op_decl_reads); NULL: all */
};

/* Declares an output ("" = main, else a side output name such as "errors"). The decl
 * takes its own reference to schema. The output carries event time when the input does;
 * sources and operators that change that set outputs[i].event_time. Returns the index. */
int cf_op_decl_output(struct cf_op_decl *decl, const char *name, struct cf_schema *schema);
/* Index of a declared output by name, or -1. */
int cf_op_decl_output_find(const struct cf_op_decl *decl, const char *name);
/*
 * Declares that the operator reads only the input fields it marks (reads[f] = 1) in the
 * returned map of in_schema->nfields flags (zeroed by the first call; later calls return the
 * same map). Fields that no operator reads are then neither decoded by the source nor copied
 * by exchanges. Without it every input field counts as read. configure() only.
 */
uint8_t *cf_op_decl_reads(struct cf_op_decl *decl);

struct cf_op_metrics {
    uint64_t records_in;
    uint64_t records_out[CF_OP_MAX_OUTPUTS];
    uint64_t dropped[CF_OP_MAX_OUTPUTS]; /* emitted to an output nobody consumes */
    uint64_t bytes_in;                   /* sources: input bytes read */
};

struct cf_task;
struct cf_op_target;

/* Run-time instance of an operator in one subtask. */
struct cf_op {
    const struct cf_op_decl *decl;
    const void *conf; /* decl->conf */
    void *state;      /* the plugin's */
    int subtask;
    int parallelism;
    int max_parallelism;
    int64_t watermark;     /* last watermark delivered to this operator */
    int64_t out_watermark; /* last watermark this operator emitted */
    struct cf_task *task;
    struct cf_op_metrics metrics; /* written by the task thread, read relaxed by others */
    /* Internal: the keyed-state namespace once cf_op_state() opened it. */
    struct cf_state_ns *ns;
    /* Internal: where each output goes. */
    struct cf_op_route {
        int ntargets;
        struct cf_op_target *targets;
        struct cf_batch_pool *pool;
    } routes[CF_OP_MAX_OUTPUTS];
};

/* An empty batch for output `out`, from that output's pool. */
struct cf_batch *cf_op_batch_get(struct cf_op *op, int out);
/* Hands a batch to output `out`'s consumers (ownership passes; empty batches are just
 * released). Returns 0 or the error of a downstream operator. */
int cf_op_emit(struct cf_op *op, int out, struct cf_batch *batch);
/* 1 if something consumes output `out`. */
int cf_op_has_consumers(const struct cf_op *op, int out);
/* Forwards a watermark to every output (monotonic: lower values are ignored). */
int cf_op_emit_watermark(struct cf_op *op, int64_t watermark);
/* Registers a processing-time timer (wall clock ms). One pending timer per time per op. */
void cf_op_timer_set(struct cf_op *op, int64_t at_ms);
/* A source about to wait for input inside poll() calls it first: the runtime wakes the
 * consumers of what the task sent them without waking them yet (they are otherwise woken
 * once poll() returns CF_EAGAIN). Task thread. */
void cf_op_idle(struct cf_op *op);
/* 1 once the job is being canceled (sources check it in long loops). */
int cf_op_canceled(const struct cf_op *op);
/* Records why the operator fails (shown in the job's exceptions); returns CF_EFAILED. */
int cf_op_fail(struct cf_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The subtasks of an operator that run in this process (all of them under `cfctl local`, the
 * ones in this worker's slots on a cluster) may share an object, such as a source's queue of
 * splits: the first caller creates it with create(op), every later caller gets the same one,
 * from any of those subtasks' threads (the object's own fields need atomics or a lock). It
 * lives as long as the job attempt; destroy(obj) frees it then. open() or later.
 */
void *cf_op_shared(struct cf_op *op, void *(*create)(struct cf_op *op), void (*destroy)(void *obj));
/* 1 if subtask s of the operator runs in this process (and so shares cf_op_shared's object). */
int cf_op_subtask_local(const struct cf_op *op, int s);

struct cf_state_ns;
/*
 * The operator's keyed-state namespace (named by its id) in its subtask's LMDB environment
 * (worker/state.h), opened on first use; NULL with err on failure. Task thread.
 */
struct cf_state_ns *cf_op_state(struct cf_op *op, struct cf_err *err);

/*
 * Checkpoints (DESIGN.md section 5). snapshot() runs on the task thread when barrier n
 * reaches the operator, after every record before the barrier and before any after it; it
 * writes what the operator needs to resume into snap. Two kinds of entries:
 *  - keyed: stored under a key group; on restore (at any parallelism) an entry goes to the
 *    subtask that owns its key group. Keyed state kept with cf_op_state() is copied into
 *    the snapshot by the runtime (from an LMDB read transaction, while processing goes on)
 *    and restored into the namespace before restore() runs: do not put it again.
 *  - operator (non-keyed) state, such as a source's positions: on restore every subtask
 *    sees the entries of all the old subtasks (Flink's union list state) and keeps the part
 *    it now owns (for example partitions p with p % parallelism == subtask).
 * Keys are at most CF_STATE_KEY_MAX bytes. The put functions copy key and value.
 * restore() is called after open() and before any record, only when the attempt restores
 * from a checkpoint or savepoint that has state for this operator id.
 * notify_checkpoint_complete(n) comes once checkpoint n is complete (its _metadata written):
 * two-phase-commit sinks commit what they pre-committed in snapshots <= n. It may come
 * late or never (a failure first): restore() must then finish the commit from the entries
 * the sink put into the snapshot.
 */
int cf_snapshot_put_keyed(struct cf_snapshot *snap, int key_group, const void *key, size_t klen,
                          const void *val, size_t vlen);
int cf_snapshot_put(struct cf_snapshot *snap, const void *key, size_t klen, const void *val,
                    size_t vlen);
/* The checkpoint id being written or restored from. */
int64_t cf_snapshot_id(const struct cf_snapshot *snap);
/* Restore: visits the keyed entries this subtask owns that the operator itself put (not the
 * namespace copy, already restored), then the operator entries of all old subtasks. The
 * callbacks follow cf_state_scan()'s rules (key_group is -1 for operator entries); a
 * nonzero return stops the visit and is returned. */
typedef int (*cf_snapshot_visit_fn)(void *arg, int key_group, const void *key, size_t klen,
                                    const void *val, size_t vlen);
int cf_snapshot_scan_keyed(struct cf_snapshot *snap, cf_snapshot_visit_fn fn, void *arg);
int cf_snapshot_scan(struct cf_snapshot *snap, cf_snapshot_visit_fn fn, void *arg);
/* 1 if the job checkpoints in exactly_once mode (two-phase-commit sinks then hold output
 * until notify_checkpoint_complete; without checkpoints they commit on their own). */
int cf_op_exactly_once(const struct cf_op *op);
/* 1 if the job checkpoints at all. */
int cf_op_checkpointing(const struct cf_op *op);

/* The job's id (32 hex characters on a cluster; "local-..." in tests). */
const char *cf_op_job_id(const struct cf_op *op);
/* "job=<name> op=<id> subtask=1/2" for log lines. */
const char *cf_op_log_prefix(const struct cf_op *op);

#endif
