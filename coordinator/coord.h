/*
 * coord.h - cf-coordinator's core: worker membership over gRPC (register, heartbeats, loss
 * detection), the job store, and the REST API on the HTTP server.
 *
 * State is guarded by one mutex; RPC handlers (gRPC serving thread), REST handlers (HTTP
 * loop thread) and the monitor thread take it briefly and never block while holding it.
 * The functions below serve the REST API and `cfctl local`, which embeds a coordinator.
 */
#ifndef CF_COORD_H
#define CF_COORD_H

#include <stdint.h>

#include <stddef.h>

#include "common/base/err.h"
#include "common/base/id.h"
#include "worker/runtime.h"

struct cf_coord_opts {
    const char *bind; /* address for REST and RPC */
    int rest_port;    /* 8081; 0: any free port */
    int rpc_port;     /* 6123; 0: any free port */
    const char *data_dir;
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_timeout_ms;
    /* A job (or a restart of it) that cannot get its slots for this long fails, as Flink's
     * slot.request.timeout; 0: 5 minutes. */
    int64_t slot_request_timeout_ms;
};

struct cf_coord;

struct cf_coord *cf_coord_start(const struct cf_coord_opts *opts, struct cf_err *err);
int cf_coord_rest_port(const struct cf_coord *c);
int cf_coord_rpc_port(const struct cf_coord *c);
void cf_coord_stop(struct cf_coord *c);

/* A job to submit (POST /jobs). */
struct cf_submit {
    const char *spec; /* the job spec's JSON text */
    size_t len;
    int parallelism;            /* 0: the spec's */
    const char *savepoint_path; /* state to start from, or NULL */
    int allow_non_restored;     /* state of operators the job no longer has is skipped */
};

/* Validates, plans and queues the job; 0 with its id, or -1 with every problem of the spec
 * (or the savepoint) on its own line in err. Any thread. */
int cf_coord_submit(struct cf_coord *c, const struct cf_submit *sub, char job_id[CF_ID_LEN + 1],
                    struct cf_err *err);
/* Requests cancellation. Returns the REST status: 202 accepted, 404 unknown job, 409 the job
 * already ended (with err). */
int cf_coord_cancel(struct cf_coord *c, const char *job_id, struct cf_err *err);

enum cf_trigger_kind {
    CF_TRIGGER_SAVEPOINT,
    CF_TRIGGER_SAVEPOINT_CANCEL, /* a savepoint, then the job ends */
    CF_TRIGGER_STOP,             /* stop with a savepoint: sources end at the barrier */
    CF_TRIGGER_CHECKPOINT,
};
/* Triggers a savepoint or checkpoint (target NULL: the spec's checkpoints.dir/savepoints).
 * Returns the REST status: 202 with the request id, else 400/404/409 with err. */
int cf_coord_trigger(struct cf_coord *c, const char *job_id, enum cf_trigger_kind kind,
                     const char *target, char request_id[CF_ID_LEN + 1], struct cf_err *err);
/* 0 while in progress, 1 completed (location filled), -1 failed or unknown (err). */
int cf_coord_trigger_status(struct cf_coord *c, const char *request_id, char *location, size_t size,
                            struct cf_err *err);

/* A job's counters summed over workers: per vertex and per operator. */
struct cf_job_totals {
    int nvertices, nops;
    struct cf_runtime_vertex_stats *vertices;
    struct cf_runtime_op_stats *ops;
};

struct cf_coord_job_status {
    int state; /* enum cf_job_state */
    char failure[1024];
    /* Counters of the current attempt, or the final ones of an ended job; NULL if none. */
    struct cf_job_totals *totals;
};
/* 0, or -1 if the job is unknown. Release with cf_coord_job_status_clear(). */
int cf_coord_job_status(struct cf_coord *c, const char *job_id, struct cf_coord_job_status *st);
void cf_coord_job_status_clear(struct cf_coord_job_status *st);

#endif
