/*
 * jobs.h - the jobs a worker runs: DeployTask / CancelTask handlers for the Worker gRPC
 * service, one placed runtime per job attempt (the subtasks in this worker's slots), and a
 * watcher thread that reports each attempt's end to the coordinator (ReportTaskState).
 * A failing data channel fails the attempt it belongs to.
 */
#ifndef CF_WORKER_JOBS_H
#define CF_WORKER_JOBS_H

#include "common/base/err.h"

struct cf_dataplane;
struct cf_rpc_server;
struct cf_worker_jobs;

struct cf_worker_jobs *cf_worker_jobs_create(struct cf_dataplane *dp, const char *worker_id,
                                             const char *coordinator, struct cf_err *err);
/* Registers DeployTask and CancelTask on the worker's RPC server (before it starts). */
/* Keyed state and snapshots being written go under dir/state (cf-worker --data-dir). */
void cf_worker_jobs_set_data_dir(struct cf_worker_jobs *wj, const char *dir);
void cf_worker_jobs_serve(struct cf_worker_jobs *wj, struct cf_rpc_server *rpc);
/* Cancels every running attempt (the coordinator was lost: its jobs will be redeployed). */
void cf_worker_jobs_cancel_all(struct cf_worker_jobs *wj);
/* Adds one TaskMetrics per (running attempt, vertex) to a Cf__HeartbeatRequest (passed as
 * void * to keep protobuf types out of this header); cf_worker_jobs_metrics_free() releases
 * them after the call. Any thread. */
void cf_worker_jobs_metrics(struct cf_worker_jobs *wj, void *heartbeat_request);
void cf_worker_jobs_metrics_free(void *heartbeat_request);
/* Number of attempts still running. */
int cf_worker_jobs_running(struct cf_worker_jobs *wj);
void cf_worker_jobs_destroy(struct cf_worker_jobs *wj);

#endif
