/*
 * rest_json.h - the REST API's JSON bodies, in Flink's REST v1 shapes (DESIGN.md section 7).
 *
 * Builders take plain views of the cluster and its jobs, filled by whoever serves the API
 * (the coordinator, or `cfctl local` for its embedded cluster), and return cJSON trees the
 * caller owns. Field names and state names are Flink's, so tools written for Flink's REST
 * API read them unchanged. Pure functions; any thread.
 */
#ifndef CF_REST_JSON_H
#define CF_REST_JSON_H

#include <stdint.h>

#include "worker/plan.h"
#include "worker/runtime.h"

struct cJSON;

#define CF_VERSION "0.1.0"

struct cf_cluster_view {
    int taskmanagers;
    int slots_total;
    int slots_available;
    int jobs_running;
    int jobs_finished;
    int jobs_cancelled;
    int jobs_failed;
};

struct cf_job_view {
    const char *id; /* 32 hex */
    const char *name;
    int state;          /* enum cf_job_state */
    int64_t start_time; /* ms since the epoch */
    int64_t end_time;   /* -1 while running */
    int64_t now;
    const struct cf_plan *plan;                   /* NULL when the spec cannot be planned */
    const struct cf_runtime_vertex_stats *vstats; /* per vertex, or NULL */
    int64_t state_since[CF_JOB__COUNT];           /* when the job entered each state, 0 if never */
};

/* Vertex ids: 32 hex characters derived from the job id and the vertex index (stable). */
void cf_rest_vertex_id(const char *job_id, int vertex, char out[33]);

struct cJSON *cf_rest_overview(const struct cf_cluster_view *v);
struct cJSON *cf_rest_config(void);
/* GET /jobs: {"jobs": [{"id", "status"}]} */
struct cJSON *cf_rest_jobs(const struct cf_job_view *jobs, int n);
/* GET /jobs/overview */
struct cJSON *cf_rest_jobs_overview(const struct cf_job_view *jobs, int n);
/* GET /jobs/:jid */
struct cJSON *cf_rest_job_details(const struct cf_job_view *job);
/* GET /jobs/:jid/plan */
struct cJSON *cf_rest_job_plan(const struct cf_job_view *job);
/* One subtask of a vertex, for the vertex endpoints. */
struct cf_subtask_view {
    const char *state; /* RUNNING, FINISHED, ... */
    int attempt;       /* 0-based, as Flink counts */
    const char *host;
    const char *worker_id;
    uint64_t records_in, records_out, backpressured_ms;
    double bp_ratio;   /* share of the recent time spent back-pressured, 0..1 */
    int64_t watermark; /* INT64_MIN: none yet */
};

/* GET /jobs/:jid/vertices/:vid, .../backpressure and .../watermarks; job->plan is set and
 * subs has one entry per subtask of the vertex. */
struct cJSON *cf_rest_vertex_details(const struct cf_job_view *job, int vertex,
                                     const struct cf_subtask_view *subs);
struct cJSON *cf_rest_vertex_backpressure(const struct cf_job_view *job, int vertex,
                                          const struct cf_subtask_view *subs);
struct cJSON *cf_rest_vertex_watermarks(const struct cf_job_view *job, int vertex,
                                        const struct cf_subtask_view *subs);

/* The "errors" body of every failed request. */
struct cJSON *cf_rest_errors(const char *message);

#endif
