#include "rest_json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/base/hash.h"

void cf_rest_vertex_id(const char *job_id, int vertex, char out[33])
{
    uint64_t a = cf_hash64(job_id, strlen(job_id), (uint64_t)vertex * 2 + 1);
    uint64_t b = cf_hash64(job_id, strlen(job_id), (uint64_t)vertex * 2 + 2);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

cJSON *cf_rest_overview(const struct cf_cluster_view *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "taskmanagers", v->taskmanagers);
    cJSON_AddNumberToObject(o, "slots-total", v->slots_total);
    cJSON_AddNumberToObject(o, "slots-available", v->slots_available);
    cJSON_AddNumberToObject(o, "jobs-running", v->jobs_running);
    cJSON_AddNumberToObject(o, "jobs-finished", v->jobs_finished);
    cJSON_AddNumberToObject(o, "jobs-cancelled", v->jobs_cancelled);
    cJSON_AddNumberToObject(o, "jobs-failed", v->jobs_failed);
    cJSON_AddStringToObject(o, "flink-version", "creekflow-" CF_VERSION);
    cJSON_AddStringToObject(o, "flink-commit", "");
    return o;
}

cJSON *cf_rest_config(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "refresh-interval", 3000);
    cJSON_AddStringToObject(o, "timezone-name", "Coordinated Universal Time");
    cJSON_AddNumberToObject(o, "timezone-offset", 0);
    cJSON_AddStringToObject(o, "flink-version", "creekflow-" CF_VERSION);
    cJSON_AddStringToObject(o, "flink-revision", "");
    cJSON *features = cJSON_AddObjectToObject(o, "features");
    cJSON_AddBoolToObject(features, "web-submit", 1);
    cJSON_AddBoolToObject(features, "web-cancel", 1);
    cJSON_AddBoolToObject(features, "web-history", 0);
    return o;
}

cJSON *cf_rest_errors(const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "errors");
    cJSON_AddItemToArray(arr, cJSON_CreateString(message));
    return o;
}

cJSON *cf_rest_jobs(const struct cf_job_view *jobs, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "jobs");
    for (int i = 0; i < n; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", jobs[i].id);
        cJSON_AddStringToObject(j, "status", cf_job_state_name(jobs[i].state));
        cJSON_AddItemToArray(arr, j);
    }
    return o;
}

/* Flink's per-state task counts. Subtask states come from the vertex stats. */
static const char *const task_states[] = {"CREATED",     "SCHEDULED",   "DEPLOYING", "RUNNING",
                                          "FINISHED",    "CANCELING",   "CANCELED",  "FAILED",
                                          "RECONCILING", "INITIALIZING"};

static void add_task_counts(cJSON *parent, const char *name, int total, int running, int finished,
                            int job_state)
{
    cJSON *t = cJSON_AddObjectToObject(parent, name);
    int rest = total - running - finished;
    for (size_t i = 0; i < sizeof(task_states) / sizeof(task_states[0]); i++) {
        int v = 0;
        if (!strcmp(task_states[i], "RUNNING")) {
            v = running;
        } else if (!strcmp(task_states[i], "FINISHED")) {
            v = finished;
        } else if (!strcmp(task_states[i], "CANCELED") && job_state == CF_JOB_CANCELED) {
            v = rest;
        } else if (!strcmp(task_states[i], "FAILED") && job_state == CF_JOB_FAILED) {
            v = rest;
        } else if (!strcmp(task_states[i], "CREATED") && job_state == CF_JOB_CREATED) {
            v = rest;
        }
        cJSON_AddNumberToObject(t, task_states[i], v);
    }
    if (!strcmp(name, "tasks")) {
        cJSON_AddNumberToObject(t, "total", total); /* /jobs/overview carries the total */
    }
}

static int64_t duration(const struct cf_job_view *j)
{
    return (j->end_time >= 0 ? j->end_time : j->now) - j->start_time;
}

static void job_counts(const struct cf_job_view *j, int *total, int *running, int *finished)
{
    *total = *running = *finished = 0;
    if (!j->plan) {
        return;
    }
    for (int v = 0; v < j->plan->nvertices; v++) {
        *total += j->plan->vertices[v].parallelism;
        if (j->vstats) {
            *running += j->vstats[v].subtasks_running;
            *finished += j->vstats[v].subtasks_finished;
        }
    }
}

cJSON *cf_rest_jobs_overview(const struct cf_job_view *jobs, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "jobs");
    for (int i = 0; i < n; i++) {
        const struct cf_job_view *j = &jobs[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "jid", j->id);
        cJSON_AddStringToObject(x, "name", j->name);
        cJSON_AddStringToObject(x, "state", cf_job_state_name(j->state));
        cJSON_AddNumberToObject(x, "start-time", (double)j->start_time);
        cJSON_AddNumberToObject(x, "end-time", (double)j->end_time);
        cJSON_AddNumberToObject(x, "duration", (double)duration(j));
        cJSON_AddNumberToObject(x, "last-modification",
                                (double)(j->end_time >= 0 ? j->end_time : j->start_time));
        int total, running, finished;
        job_counts(j, &total, &running, &finished);
        add_task_counts(x, "tasks", total, running, finished, j->state);
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}

static const char *ship_strategy(int exchange)
{
    switch (exchange) {
    case CF_EXCHANGE_HASH: return "HASH";
    case CF_EXCHANGE_REBALANCE: return "REBALANCE";
    case CF_EXCHANGE_BROADCAST: return "BROADCAST";
    default: return "FORWARD";
    }
}

static cJSON *plan_nodes(const struct cf_job_view *j)
{
    cJSON *nodes = cJSON_CreateArray();
    const struct cf_plan *plan = j->plan;
    for (int v = 0; plan && v < plan->nvertices; v++) {
        const struct cf_plan_vertex *vx = &plan->vertices[v];
        char id[33];
        cf_rest_vertex_id(j->id, v, id);
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "id", id);
        cJSON_AddNumberToObject(n, "parallelism", vx->parallelism);
        cJSON_AddStringToObject(n, "operator", "");
        cJSON_AddStringToObject(n, "operator_strategy", "");
        cJSON_AddStringToObject(n, "description", vx->name);
        if (vx->input_vertex >= 0) {
            char in_id[33];
            cf_rest_vertex_id(j->id, vx->input_vertex, in_id);
            cJSON *inputs = cJSON_AddArrayToObject(n, "inputs");
            cJSON *in = cJSON_CreateObject();
            cJSON_AddNumberToObject(in, "num", 0);
            cJSON_AddStringToObject(in, "id", in_id);
            cJSON_AddStringToObject(in, "ship_strategy", ship_strategy(vx->input_exchange));
            cJSON_AddStringToObject(in, "exchange", "pipelined_bounded");
            cJSON_AddItemToArray(inputs, in);
        }
        cJSON_AddObjectToObject(n, "optimizer_properties");
        cJSON_AddItemToArray(nodes, n);
    }
    return nodes;
}

cJSON *cf_rest_job_plan(const struct cf_job_view *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(o, "plan");
    cJSON_AddStringToObject(p, "jid", j->id);
    cJSON_AddStringToObject(p, "name", j->name);
    cJSON_AddStringToObject(p, "type", "STREAMING");
    cJSON_AddItemToObject(p, "nodes", plan_nodes(j));
    return o;
}

/* The "metrics" object of a vertex or subtask, with Flink's names. */
static void add_io_metrics(cJSON *x, uint64_t in, uint64_t out, uint64_t bp_ms, int done)
{
    cJSON *m = cJSON_AddObjectToObject(x, "metrics");
    cJSON_AddNumberToObject(m, "read-bytes", 0);
    cJSON_AddBoolToObject(m, "read-bytes-complete", done);
    cJSON_AddNumberToObject(m, "write-bytes", 0);
    cJSON_AddBoolToObject(m, "write-bytes-complete", done);
    cJSON_AddNumberToObject(m, "read-records", (double)in);
    cJSON_AddBoolToObject(m, "read-records-complete", done);
    cJSON_AddNumberToObject(m, "write-records", (double)out);
    cJSON_AddBoolToObject(m, "write-records-complete", done);
    cJSON_AddNumberToObject(m, "accumulated-backpressured-time", (double)bp_ms);
    cJSON_AddNumberToObject(m, "accumulated-idle-time", 0);
    cJSON_AddNumberToObject(m, "accumulated-busy-time", 0);
}

cJSON *cf_rest_job_details(const struct cf_job_view *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jid", j->id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddBoolToObject(o, "isStoppable", 0);
    cJSON_AddStringToObject(o, "state", cf_job_state_name(j->state));
    cJSON_AddStringToObject(o, "job-type", "STREAMING");
    cJSON_AddNumberToObject(o, "start-time", (double)j->start_time);
    cJSON_AddNumberToObject(o, "end-time", (double)j->end_time);
    cJSON_AddNumberToObject(o, "duration", (double)duration(j));
    cJSON_AddNumberToObject(o, "maxParallelism", j->plan ? j->plan->max_parallelism : -1);
    cJSON_AddNumberToObject(o, "now", (double)j->now);
    cJSON *ts = cJSON_AddObjectToObject(o, "timestamps");
    for (int s = 0; s < CF_JOB__COUNT; s++) {
        cJSON_AddNumberToObject(ts, cf_job_state_name(s), (double)j->state_since[s]);
    }
    cJSON *vertices = cJSON_AddArrayToObject(o, "vertices");
    int status_counts[3] = {0, 0, 0}; /* running, finished, other */
    for (int v = 0; j->plan && v < j->plan->nvertices; v++) {
        const struct cf_plan_vertex *vx = &j->plan->vertices[v];
        const struct cf_runtime_vertex_stats *st = j->vstats ? &j->vstats[v] : NULL;
        char id[33];
        cf_rest_vertex_id(j->id, v, id);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", id);
        cJSON_AddStringToObject(x, "name", vx->name);
        cJSON_AddNumberToObject(x, "maxParallelism", j->plan->max_parallelism);
        cJSON_AddNumberToObject(x, "parallelism", vx->parallelism);
        int running = st ? st->subtasks_running : 0;
        int finished = st ? st->subtasks_finished : 0;
        const char *status = running                       ? "RUNNING"
                             : finished == vx->parallelism ? "FINISHED"
                                                           : cf_job_state_name(j->state);
        status_counts[running ? 0 : finished == vx->parallelism ? 1 : 2]++;
        cJSON_AddStringToObject(x, "status", status);
        cJSON_AddNumberToObject(x, "start-time", (double)j->start_time);
        cJSON_AddNumberToObject(x, "end-time", (double)j->end_time);
        cJSON_AddNumberToObject(x, "duration", (double)duration(j));
        add_task_counts(x, "tasks", vx->parallelism, running, finished, j->state);
        add_io_metrics(x, st ? st->records_in : 0, st ? st->records_out : 0,
                       st ? st->backpressured_ns / 1000000 : 0, cf_job_state_terminal(j->state));
        cJSON_AddItemToArray(vertices, x);
    }
    cJSON *sc = cJSON_AddObjectToObject(o, "status-counts");
    for (size_t i = 0; i < sizeof(task_states) / sizeof(task_states[0]); i++) {
        int v = !strcmp(task_states[i], "RUNNING")    ? status_counts[0]
                : !strcmp(task_states[i], "FINISHED") ? status_counts[1]
                                                      : 0;
        cJSON_AddNumberToObject(sc, task_states[i], v);
    }
    cJSON *plan = cf_rest_job_plan(j);
    cJSON_AddItemToObject(o, "plan", cJSON_DetachItemFromObject(plan, "plan"));
    cJSON_Delete(plan);
    return o;
}

cJSON *cf_rest_vertex_details(const struct cf_job_view *j, int vertex,
                              const struct cf_subtask_view *subs)
{
    const struct cf_plan_vertex *vx = &j->plan->vertices[vertex];
    char id[33];
    cf_rest_vertex_id(j->id, vertex, id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "name", vx->name);
    cJSON_AddNumberToObject(o, "parallelism", vx->parallelism);
    cJSON_AddNumberToObject(o, "maxParallelism", j->plan->max_parallelism);
    cJSON_AddNumberToObject(o, "now", (double)j->now);
    cJSON *arr = cJSON_AddArrayToObject(o, "subtasks");
    for (int s = 0; s < vx->parallelism; s++) {
        const struct cf_subtask_view *sv = &subs[s];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "subtask", s);
        cJSON_AddStringToObject(x, "status", sv->state);
        cJSON_AddNumberToObject(x, "attempt", sv->attempt);
        cJSON_AddStringToObject(x, "host", sv->host);
        cJSON_AddStringToObject(x, "taskmanager-id", sv->worker_id);
        cJSON_AddNumberToObject(x, "start-time", (double)j->start_time);
        cJSON_AddNumberToObject(x, "end-time", (double)j->end_time);
        cJSON_AddNumberToObject(x, "duration", (double)duration(j));
        add_io_metrics(x, sv->records_in, sv->records_out, sv->backpressured_ms,
                       cf_job_state_terminal(j->state));
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}

/* Flink's levels: a back-pressured share of time up to 10% is ok, up to 50% low. */
static const char *bp_level(double ratio)
{
    return ratio <= 0.10 ? "ok" : ratio <= 0.5 ? "low" : "high";
}

cJSON *cf_rest_vertex_backpressure(const struct cf_job_view *j, int vertex,
                                   const struct cf_subtask_view *subs)
{
    const struct cf_plan_vertex *vx = &j->plan->vertices[vertex];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    double worst = 0;
    cJSON *arr = cJSON_CreateArray();
    for (int s = 0; s < vx->parallelism; s++) {
        double r = subs[s].bp_ratio;
        worst = r > worst ? r : worst;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "subtask", s);
        cJSON_AddNumberToObject(x, "attempt-number", subs[s].attempt);
        cJSON_AddStringToObject(x, "backpressure-level", bp_level(r));
        cJSON_AddNumberToObject(x, "ratio", r);
        cJSON_AddNumberToObject(x, "backPressuredRatio", r);
        cJSON_AddItemToArray(arr, x);
    }
    cJSON_AddStringToObject(o, "backpressure-level", bp_level(worst));
    cJSON_AddNumberToObject(o, "end-timestamp", (double)j->now);
    cJSON_AddItemToObject(o, "subtasks", arr);
    return o;
}

cJSON *cf_rest_vertex_watermarks(const struct cf_job_view *j, int vertex,
                                 const struct cf_subtask_view *subs)
{
    cJSON *arr = cJSON_CreateArray();
    for (int s = 0; s < j->plan->vertices[vertex].parallelism; s++) {
        char id[64], value[32];
        snprintf(id, sizeof(id), "%d.currentInputWatermark", s);
        snprintf(value, sizeof(value), "%lld", (long long)subs[s].watermark);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", id);
        cJSON_AddStringToObject(x, "value", value);
        cJSON_AddItemToArray(arr, x);
    }
    return arr;
}
