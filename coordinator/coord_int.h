/*
 * coord_int.h - the coordinator's internal state, shared by coord.c (membership, jobs,
 * REST) and checkpoints.c (checkpoint coordination). Everything here is guarded by
 * struct cf_coord's lock.
 */
#ifndef CF_COORD_INT_H
#define CF_COORD_INT_H

#include <pthread.h>
#include <stdint.h>

#include "common/base/id.h"
#include "coordinator/coord.h"
#include "coordinator/jobstore.h"
#include "worker/plan.h"
#include "worker/runtime.h"

struct cf_http_server;
struct cf_rpc_server;
struct cf_rpc_channel;
struct cf_ckpt_meta;

#define CF_CKPT_HISTORY 10
#define CF_FAILURE_RING 64 /* failure_rate counts at most this many failures per interval */

/* One checkpoint or savepoint as the REST API shows it. */
struct cf_ckpt_stat {
    int64_t id;
    int status; /* 0 in progress, 1 completed, 2 failed */
    int savepoint;
    int64_t trigger_ts, ack_ts;
    uint64_t state_size;
    int acked, subtasks;
    int64_t alignment_ms;
    char path[512];
    char failure[256];
};

/* A savepoint request (POST /jobs/:jid/savepoints or /stop), kept after the job ends. */
struct cf_savepoint_op {
    char request_id[CF_ID_LEN + 1];
    char job_id[CF_ID_LEN + 1];
    char target[512];
    int stop;
    int status;    /* 0 in progress, 1 completed, 2 failed */
    int64_t ck_id; /* the checkpoint id it was triggered as, 0 until then */
    char location[600];
    char failure[512];
    struct cf_savepoint_op *next;
};

/* Per job: what checkpoints.c tracks. */
struct cf_job_ckpt {
    int ntasks;                  /* subtasks of the job: sum of the vertices' parallelism */
    int64_t last_id;             /* highest id triggered (or restored) */
    int64_t pending;             /* checkpoint in flight, 0 if none */
    int64_t pending_start;       /* monotonic ms */
    struct cf_ckpt_stat *pstat;  /* its entry in history */
    struct cf_savepoint_op *psp; /* the savepoint request it serves, or NULL */
    struct cf_ckpt_meta *meta;   /* assembled from acks */
    uint8_t *acked;              /* per subtask */
    int nacked;
    struct cf_ckpt_meta *ready; /* every subtask acked: the monitor writes _metadata */
    int64_t last_trigger;       /* monotonic ms */
    int64_t last_end;           /* monotonic ms */
    uint8_t *eoi;               /* per subtask: reached its end of input */
    int neoi;
    int final_sent;
    int unrecoverable; /* the state to restore from is corrupt and nothing older is left */
    int64_t restored_id;
    int restored_savepoint;
    int64_t restore_ts;
    char restored_path[512];
    int64_t counts_completed, counts_failed;
    struct cf_ckpt_stat history[CF_CKPT_HISTORY];              /* ring by id */
    int64_t latest_completed, latest_savepoint, latest_failed; /* ids in history, 0 if none */
};

/* What the REST API still shows of an ended job: its final counters (GET /jobs/:jid) and
 * checkpoint statistics (GET /jobs/:jid/checkpoints). */
#define CF_JOB_ARCHIVE 64
struct cf_job_archive {
    char job_id[CF_ID_LEN + 1];
    struct cf_job_totals *totals;
    struct vmetric *metrics; /* the last attempt's subtasks */
    int nmetrics;
    unsigned attempt;
    struct cf_job_ckpt ck; /* statistics only: no pointers */
    /* Checkpoint directories not retained are swept once more after the job ended (late
     * uploads of aborted checkpoints): the latest checkpoint's URL and the retained list. */
    char *sweep_dir;
    char *sweep_retained;
    struct cf_job_archive *next;
};

struct worker {
    char id[128];
    char host[128];
    int data_port;
    int rpc_port;
    int slots;
    int free_slots;
    int64_t registered_ms;
    int64_t last_heartbeat_ms; /* monotonic */
    char version[32];
    struct cf_rpc_channel *ch; /* to its Worker service; used by the monitor thread */
};

/* Counters of one subtask, from the heartbeats and the final report of its worker. */
struct vmetric {
    char worker_id[128];
    int vertex, subtask;
    int state; /* Cf__TaskState */
    uint64_t records_in, records_out, bytes_in, backpressured_ms;
    int64_t watermark; /* CF_TS_MIN: none yet */
    double bp_ratio;   /* share of the time between its last two samples spent blocked */
    int64_t sample_ms; /* monotonic time of the last sample */
    struct cf_runtime_op_stats *ops; /* indexed by operator (plan->nops); its vertex's filled */
};

/* One worker's part of a job attempt. */
struct part {
    char worker_id[128];
    int slots; /* the job's slots on that worker */
    int state; /* 0 while running, else its final enum cf_job_state */
};

/* A job that has not ended: scheduled, running, canceling or waiting to restart. */
struct job {
    struct cf_job_record rec;
    struct cf_plan *plan;
    unsigned attempt;
    int nslots;
    char (*slot_worker)[128]; /* worker id per slot of the current attempt */
    struct part *parts;
    int nparts;
    int deployed;
    int cancel_requested;
    int cancel_sent;
    int failing;
    int64_t not_before_ms;    /* restart delay (monotonic) */
    int64_t waiting_since_ms; /* waiting for free slots since (monotonic), 0: not waiting */
    int64_t restart_delay_ms;
    int64_t state_since[CF_JOB__COUNT];
    struct vmetric *metrics; /* the latest counters per subtask of this attempt */
    int nmetrics, cap_metrics;
    int stop_with_savepoint;           /* a stop's savepoint completed: the job ends FINISHED */
    int64_t failures[CF_FAILURE_RING]; /* failure_rate: monotonic times of the last failures */
    int nfailures;
    struct cf_job_ckpt ck; /* checkpoint coordination (checkpoints.c) */
    struct job *next;
};

struct cf_coord {
    struct cf_coord_opts opts;
    char id[CF_ID_LEN + 1];
    pthread_mutex_t lock;
    pthread_cond_t stop_cond;
    int stopping;
    struct worker *workers;
    int nworkers, cap_workers;
    struct cf_jobstore *jobs;
    struct job *live;
    struct cf_http_server *http;
    struct cf_rpc_server *rpc;
    pthread_t monitor;
    int monitor_started;
    struct cf_savepoint_op *savepoints; /* every savepoint request, newest first */
    struct cf_job_archive *archive;     /* ended jobs, newest first */
};

/* The job with this id among the live ones, or NULL (lock held). */
struct job *cf_coord_live_job(struct cf_coord *c, const char *id);

/* Index of subtask (vertex, subtask) among the job's ntasks. */
int cf_coord_task_index(const struct cf_plan *plan, int vertex, int subtask);

/* checkpoints.c. Called with c->lock held unless noted. */
void cf_ckpt_job_init(struct job *j);
void cf_ckpt_job_free(struct job *j);
/* A new attempt is about to be deployed: forget everything of the previous one. */
void cf_ckpt_job_reset(struct job *j);
/* The monitor thread's pass: triggers, timeouts, completions, final notifications. Takes
 * and releases the lock itself around RPCs and object storage calls; called with it held,
 * returns with it held. */
void cf_ckpt_monitor(struct cf_coord *c);
void cf_ckpt_serve(struct cf_coord *c); /* registers RPC handlers and REST routes */
/* A task reported end of input. */
void cf_ckpt_end_of_input(struct cf_coord *c, struct job *j, int vertex, int subtask);
/* The attempt failed because its restore found a corrupt checkpoint: fall back. */
void cf_ckpt_restore_failed(struct cf_coord *c, struct job *j, const char *failure);
/* Where the next attempt restores from ("" : no state), and the id it continues after. */
const char *cf_ckpt_restore_path(const struct job *j, int64_t *id);
void cf_ckpt_ops_free(struct cf_coord *c);
/* Copies the checkpoint statistics of a job that ends into its archive entry. */
void cf_ckpt_job_archive(struct cf_job_archive *a, const struct job *j);
/* Reads the _metadata of a savepoint or checkpoint directory and checks that its state
 * fits the plan (operator ids, max_parallelism); any thread, no lock needed. */
int cf_ckpt_check_restore(const struct cf_plan *plan, const char *path, int allow_non_restored,
                          int64_t *id, struct cf_err *err);

#endif
