#include "coord.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/base/id.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_server.h"
#include "common/rpc/rpc.h"
#include "coordinator/jobstore.h"
#include "coordinator/rest_json.h"
#include "proto/creekflow.pb-c.h"
#include "worker/runtime.h"

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
    struct cf_http_server *http;
    struct cf_rpc_server *rpc;
    pthread_t monitor;
    int monitor_started;
};

static int find_worker(struct cf_coord *c, const char *id)
{
    for (int i = 0; i < c->nworkers; i++) {
        if (strcmp(c->workers[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- RPC (gRPC serving thread) ---- */

static int rpc_register(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                        struct cf_err *err)
{
    struct cf_coord *c = arg;
    Cf__RegisterWorkerRequest *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__register_worker_request__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc) {
        return rc;
    }
    Cf__RegisterWorkerResponse out = CF__REGISTER_WORKER_RESPONSE__INIT;
    if (!r->worker_id[0] || r->slots == 0 || r->data_port == 0) {
        out.accepted = 0;
        out.reason = "worker_id, slots and data_port are required";
    } else {
        pthread_mutex_lock(&c->lock);
        int i = find_worker(c, r->worker_id);
        if (i < 0) {
            if (c->nworkers == c->cap_workers) {
                c->cap_workers = c->cap_workers ? c->cap_workers * 2 : 8;
                c->workers = cf_realloc(c->workers, (size_t)c->cap_workers * sizeof(*c->workers));
            }
            i = c->nworkers++;
        }
        struct worker *w = &c->workers[i];
        memset(w, 0, sizeof(*w));
        snprintf(w->id, sizeof(w->id), "%s", r->worker_id);
        snprintf(w->host, sizeof(w->host), "%s", r->host[0] ? r->host : "127.0.0.1");
        snprintf(w->version, sizeof(w->version), "%s", r->version);
        w->data_port = (int)r->data_port;
        w->rpc_port = (int)r->rpc_port;
        w->slots = (int)r->slots;
        w->free_slots = (int)r->slots;
        w->registered_ms = cf_now_ms();
        w->last_heartbeat_ms = cf_monotonic_ms();
        pthread_mutex_unlock(&c->lock);
        cf_info("worker %s registered: %s data port %d, %d slots", r->worker_id, w->host,
                w->data_port, w->slots);
        out.accepted = 1;
    }
    out.heartbeat_interval_ms = c->opts.heartbeat_interval_ms;
    out.heartbeat_timeout_ms = c->opts.heartbeat_timeout_ms;
    out.coordinator_id = c->id;
    cf_rpc_pb_pack(&out.base, resp);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static int rpc_heartbeat(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                         struct cf_err *err)
{
    struct cf_coord *c = arg;
    Cf__HeartbeatRequest *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__heartbeat_request__descriptor, req, len, (ProtobufCMessage **)&r,
                              err);
    if (rc) {
        return rc;
    }
    Cf__HeartbeatResponse out = CF__HEARTBEAT_RESPONSE__INIT;
    pthread_mutex_lock(&c->lock);
    int i = find_worker(c, r->worker_id);
    if (i >= 0) {
        c->workers[i].last_heartbeat_ms = cf_monotonic_ms();
        out.known = 1;
    }
    pthread_mutex_unlock(&c->lock);
    cf_rpc_pb_pack(&out.base, resp);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ---- failure detection ---- */

static void *monitor_main(void *arg)
{
    struct cf_coord *c = arg;
    cf_log_ctx_set("coordinator");
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        int64_t now = cf_monotonic_ms();
        for (int i = 0; i < c->nworkers;) {
            struct worker *w = &c->workers[i];
            if (now - w->last_heartbeat_ms > c->opts.heartbeat_timeout_ms) {
                cf_warn("worker %s (%s) lost: no heartbeat for %lld ms; its %d slots are gone",
                        w->id, w->host, (long long)(now - w->last_heartbeat_ms), w->slots);
                c->workers[i] = c->workers[--c->nworkers];
            } else {
                i++;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->stop_cond, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- REST (HTTP loop thread) ---- */

struct job_counts {
    int running, finished, canceled, failed, n;
};

static int count_job(void *arg, const struct cf_job_record *rec)
{
    struct job_counts *jc = arg;
    jc->n++;
    jc->running += !cf_job_state_terminal(rec->state);
    jc->finished += rec->state == CF_JOB_FINISHED;
    jc->canceled += rec->state == CF_JOB_CANCELED;
    jc->failed += rec->state == CF_JOB_FAILED;
    return 0;
}

static void h_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_coord *c = arg;
    struct cf_cluster_view v = {0};
    struct job_counts jc = {0};
    pthread_mutex_lock(&c->lock);
    v.taskmanagers = c->nworkers;
    for (int i = 0; i < c->nworkers; i++) {
        v.slots_total += c->workers[i].slots;
        v.slots_available += c->workers[i].free_slots;
    }
    cf_jobstore_each(c->jobs, count_job, &jc);
    pthread_mutex_unlock(&c->lock);
    v.jobs_running = jc.running;
    v.jobs_finished = jc.finished;
    v.jobs_cancelled = jc.canceled;
    v.jobs_failed = jc.failed;
    cf_http_resp_json(resp, 200, cf_rest_overview(&v));
}

static void h_config(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    cf_http_resp_json(resp, 200, cf_rest_config());
}

static cJSON *taskmanager_json(const struct worker *w)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "id", w->id);
    char path[200];
    snprintf(path, sizeof(path), "%s:%d", w->host, w->rpc_port);
    cJSON_AddStringToObject(t, "path", path);
    cJSON_AddNumberToObject(t, "dataPort", w->data_port);
    cJSON_AddNumberToObject(t, "jmxPort", -1);
    cJSON_AddNumberToObject(t, "timeSinceLastHeartbeat",
                            (double)(cf_monotonic_ms() - w->last_heartbeat_ms));
    cJSON_AddNumberToObject(t, "slotsNumber", w->slots);
    cJSON_AddNumberToObject(t, "freeSlots", w->free_slots);
    cJSON *hw = cJSON_AddObjectToObject(t, "hardware");
    cJSON_AddNumberToObject(hw, "cpuCores", 0);
    cJSON_AddStringToObject(t, "version", w->version);
    return t;
}

static void h_taskmanagers(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_coord *c = arg;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "taskmanagers");
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->nworkers; i++) {
        cJSON_AddItemToArray(arr, taskmanager_json(&c->workers[i]));
    }
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_json(resp, 200, o);
}

static void h_taskmanager(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *id = cf_http_req_param(req, "tmid");
    pthread_mutex_lock(&c->lock);
    int i = find_worker(c, id ? id : "");
    cJSON *t = i >= 0 ? taskmanager_json(&c->workers[i]) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (!t) {
        cf_http_resp_error(resp, 404, "taskmanager %s not found", id ? id : "");
        return;
    }
    cf_http_resp_json(resp, 200, t);
}

struct jobs_ctx {
    struct cf_job_view *views;
    struct cf_job_record *recs;
    int n, cap;
};

static int collect_job(void *arg, const struct cf_job_record *rec)
{
    struct jobs_ctx *jc = arg;
    if (jc->n == jc->cap) {
        jc->cap = jc->cap ? jc->cap * 2 : 8;
        jc->recs = cf_realloc(jc->recs, (size_t)jc->cap * sizeof(*jc->recs));
    }
    struct cf_job_record *r = &jc->recs[jc->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->id, rec->id, sizeof(r->id));
    r->name = cf_strdup(rec->name ? rec->name : "");
    r->state = rec->state;
    r->start_time = rec->start_time;
    r->end_time = rec->end_time;
    return 0;
}

static void jobs_list(struct cf_coord *c, struct jobs_ctx *jc)
{
    memset(jc, 0, sizeof(*jc));
    pthread_mutex_lock(&c->lock);
    cf_jobstore_each(c->jobs, collect_job, jc);
    pthread_mutex_unlock(&c->lock);
    jc->views = cf_calloc((size_t)jc->n + 1, sizeof(*jc->views));
    for (int i = 0; i < jc->n; i++) {
        struct cf_job_view *v = &jc->views[i];
        v->id = jc->recs[i].id;
        v->name = jc->recs[i].name;
        v->state = jc->recs[i].state;
        v->start_time = jc->recs[i].start_time;
        v->end_time = jc->recs[i].end_time;
        v->now = cf_now_ms();
    }
}

static void jobs_free(struct jobs_ctx *jc)
{
    for (int i = 0; i < jc->n; i++) {
        cf_job_record_clear(&jc->recs[i]);
    }
    cf_free(jc->recs);
    cf_free(jc->views);
}

static void h_jobs(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct jobs_ctx jc;
    jobs_list(arg, &jc);
    cf_http_resp_json(resp, 200, cf_rest_jobs(jc.views, jc.n));
    jobs_free(&jc);
}

static void h_jobs_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct jobs_ctx jc;
    jobs_list(arg, &jc);
    cf_http_resp_json(resp, 200, cf_rest_jobs_overview(jc.views, jc.n));
    jobs_free(&jc);
}

static void h_job(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    struct cf_job_record rec;
    pthread_mutex_lock(&c->lock);
    int rc = cf_jobstore_get(c->jobs, jid ? jid : "", &rec);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return;
    }
    struct cf_job_view v = {.id = rec.id,
                            .name = rec.name,
                            .state = rec.state,
                            .start_time = rec.start_time,
                            .end_time = rec.end_time,
                            .now = cf_now_ms()};
    cf_http_resp_json(resp, 200, cf_rest_job_details(&v));
    cf_job_record_clear(&rec);
}

/* ---- lifecycle ---- */

struct cf_coord *cf_coord_start(const struct cf_coord_opts *opts, struct cf_err *err)
{
    struct cf_coord *c = cf_new(struct cf_coord);
    c->opts = *opts;
    cf_id_new(c->id);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    char *store = cf_asprintf("%s/jobstore", opts->data_dir);
    int rc = cf_jobstore_open(store, &c->jobs, err);
    cf_free(store);
    if (rc) {
        cf_coord_stop(c);
        return NULL;
    }
    c->rpc = cf_rpc_server_create(opts->bind, opts->rpc_port, err);
    if (!c->rpc) {
        cf_coord_stop(c);
        return NULL;
    }
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_REGISTER_WORKER, rpc_register, c);
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_HEARTBEAT, rpc_heartbeat, c);
    c->http = cf_http_server_create(opts->bind, opts->rest_port, err);
    if (!c->http) {
        cf_coord_stop(c);
        return NULL;
    }
    cf_http_route(c->http, "GET", "/overview", h_overview, c);
    cf_http_route(c->http, "GET", "/config", h_config, c);
    cf_http_route(c->http, "GET", "/taskmanagers", h_taskmanagers, c);
    cf_http_route(c->http, "GET", "/taskmanagers/:tmid", h_taskmanager, c);
    cf_http_route(c->http, "GET", "/jobs", h_jobs, c);
    cf_http_route(c->http, "GET", "/jobs/overview", h_jobs_overview, c);
    cf_http_route(c->http, "GET", "/jobs/:jid", h_job, c);
    if (cf_rpc_server_start(c->rpc) != 0 || cf_http_server_start(c->http) != 0) {
        cf_err_set(err, CF_EFAILED, "cannot start the RPC or HTTP server");
        cf_coord_stop(c);
        return NULL;
    }
    if (pthread_create(&c->monitor, NULL, monitor_main, c) == 0) {
        c->monitor_started = 1;
    }
    return c;
}

int cf_coord_rest_port(const struct cf_coord *c)
{
    return cf_http_server_port(c->http);
}

int cf_coord_rpc_port(const struct cf_coord *c)
{
    return cf_rpc_server_port(c->rpc);
}

void cf_coord_stop(struct cf_coord *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_broadcast(&c->stop_cond);
    pthread_mutex_unlock(&c->lock);
    if (c->monitor_started) {
        pthread_join(c->monitor, NULL);
    }
    cf_http_server_destroy(c->http);
    cf_rpc_server_destroy(c->rpc);
    cf_jobstore_close(c->jobs);
    cf_free(c->workers);
    pthread_cond_destroy(&c->stop_cond);
    pthread_mutex_destroy(&c->lock);
    cf_free(c);
}
