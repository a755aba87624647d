/*
 * The embedded cluster's REST endpoints. Handlers run on the HTTP server's loop thread and
 * read the runtime through its thread-safe stats functions.
 */
#include "local_rest.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_server.h"
#include "coordinator/rest_json.h"

struct cf_local_rest {
    struct cf_http_server *http;
    const struct cf_plan *plan;
    struct cf_runtime *rt;
    char job_id[40];
};

/* A snapshot of the job for the JSON builders; vstats must hold nvertices entries. */
static void job_view(struct cf_local_rest *lr, struct cf_job_view *v,
                     struct cf_runtime_vertex_stats *vstats)
{
    memset(v, 0, sizeof(*v));
    v->id = lr->job_id;
    v->name = lr->plan->spec->name;
    v->state = cf_runtime_state(lr->rt);
    v->start_time = cf_runtime_start_ms(lr->rt);
    v->end_time = cf_job_state_terminal(v->state) ? cf_runtime_end_ms(lr->rt) : -1;
    v->now = cf_now_ms();
    v->plan = lr->plan;
    for (int i = 0; i < lr->plan->nvertices; i++) {
        cf_runtime_vertex_stats(lr->rt, i, &vstats[i]);
    }
    v->vstats = vstats;
    v->state_since[CF_JOB_CREATED] = v->start_time;
    v->state_since[CF_JOB_RUNNING] = v->start_time;
    if (v->end_time >= 0) {
        v->state_since[v->state] = v->end_time;
    }
}

/* Runs fn with a job view; the vertex stats live on the heap for the call. */
#define WITH_VIEW(lr, view)                                                                        \
    struct cf_runtime_vertex_stats *vstats_ =                                                      \
        cf_calloc((size_t)(lr)->plan->nvertices + 1, sizeof(*vstats_));                            \
    struct cf_job_view view;                                                                       \
    job_view((lr), &view, vstats_)

static int known_job(struct cf_local_rest *lr, struct cf_http_req *req, struct cf_http_resp *resp)
{
    const char *jid = cf_http_req_param(req, "jid");
    if (!jid || strcmp(jid, lr->job_id) != 0) {
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return 0;
    }
    return 1;
}

static void h_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_local_rest *lr = arg;
    int state = cf_runtime_state(lr->rt);
    int slots = cf_plan_slots(lr->plan);
    struct cf_cluster_view cv = {
        .taskmanagers = 1,
        .slots_total = slots,
        .slots_available = cf_job_state_terminal(state) ? slots : 0,
        .jobs_running = !cf_job_state_terminal(state),
        .jobs_finished = state == CF_JOB_FINISHED,
        .jobs_cancelled = state == CF_JOB_CANCELED,
        .jobs_failed = state == CF_JOB_FAILED,
    };
    cf_http_resp_json(resp, 200, cf_rest_overview(&cv));
}

static void h_config(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    cf_http_resp_json(resp, 200, cf_rest_config());
}

static void h_jobs(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_local_rest *lr = arg;
    WITH_VIEW(lr, v);
    cf_http_resp_json(resp, 200, cf_rest_jobs(&v, 1));
    cf_free(vstats_);
}

static void h_jobs_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_local_rest *lr = arg;
    WITH_VIEW(lr, v);
    cf_http_resp_json(resp, 200, cf_rest_jobs_overview(&v, 1));
    cf_free(vstats_);
}

static void h_job(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_local_rest *lr = arg;
    if (!known_job(lr, req, resp)) {
        return;
    }
    WITH_VIEW(lr, v);
    cf_http_resp_json(resp, 200, cf_rest_job_details(&v));
    cf_free(vstats_);
}

static void h_plan(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_local_rest *lr = arg;
    if (!known_job(lr, req, resp)) {
        return;
    }
    WITH_VIEW(lr, v);
    cf_http_resp_json(resp, 200, cf_rest_job_plan(&v));
    cf_free(vstats_);
}

static void h_exceptions(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_local_rest *lr = arg;
    if (!known_job(lr, req, resp)) {
        return;
    }
    cJSON *o = cJSON_CreateObject();
    const char *failure = cf_runtime_failure(lr->rt);
    cJSON *hist = cJSON_AddObjectToObject(o, "exceptionHistory");
    cJSON *entries = cJSON_AddArrayToObject(hist, "entries");
    if (failure && failure[0]) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "exceptionName", "TaskFailure");
        cJSON_AddStringToObject(e, "stacktrace", failure);
        cJSON_AddNumberToObject(e, "timestamp", (double)cf_runtime_end_ms(lr->rt));
        cJSON_AddItemToArray(entries, e);
    }
    cJSON_AddBoolToObject(hist, "truncated", 0);
    cf_http_resp_json(resp, 200, o);
}

static void h_cancel(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_local_rest *lr = arg;
    if (!known_job(lr, req, resp)) {
        return;
    }
    const char *mode = cf_http_req_query(req, "mode");
    if (mode && strcmp(mode, "cancel") != 0) {
        cf_http_resp_error(resp, 400, "mode '%s' is not supported (use mode=cancel)", mode);
        return;
    }
    cf_runtime_cancel(lr->rt);
    cf_http_resp_json(resp, 202, cJSON_CreateObject());
}

/* Prometheus text: per operator totals. */
static void h_metrics(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_local_rest *lr = arg;
    struct cf_buf b;
    cf_buf_init(&b);
    static const char *const names[] = {"records_in", "records_out", "records_dropped"};
    for (int m = 0; m < 3; m++) {
        cf_buf_appendf(&b, "# TYPE creekflow_operator_%s_total counter\n", names[m]);
        for (int i = 0; i < lr->plan->nops; i++) {
            struct cf_runtime_op_stats s;
            cf_runtime_op_stats(lr->rt, i, &s);
            unsigned long long v = m == 0 ? s.records_in : m == 1 ? s.records_out : s.dropped;
            cf_buf_appendf(&b,
                           "creekflow_operator_%s_total{job_id=\"%s\",operator=\"%s\",vertex="
                           "\"%d\"} %llu\n",
                           names[m], lr->job_id, lr->plan->ops[i].decl.id, lr->plan->ops[i].vertex,
                           v);
        }
    }
    cf_http_resp_text(resp, 200, "text/plain; version=0.0.4", b.data, b.len);
    cf_buf_destroy(&b);
}

struct cf_local_rest *cf_local_rest_start(const char *bind_addr, int port,
                                          const struct cf_plan *plan, struct cf_runtime *rt,
                                          const char *job_id, struct cf_err *err)
{
    struct cf_http_server *http = cf_http_server_create(bind_addr, port, err);
    if (!http) {
        return NULL;
    }
    struct cf_local_rest *lr = cf_new(struct cf_local_rest);
    lr->http = http;
    lr->plan = plan;
    lr->rt = rt;
    snprintf(lr->job_id, sizeof(lr->job_id), "%s", job_id);
    cf_http_route(http, "GET", "/overview", h_overview, lr);
    cf_http_route(http, "GET", "/config", h_config, lr);
    cf_http_route(http, "GET", "/jobs", h_jobs, lr);
    cf_http_route(http, "GET", "/jobs/overview", h_jobs_overview, lr);
    cf_http_route(http, "GET", "/jobs/:jid", h_job, lr);
    cf_http_route(http, "PATCH", "/jobs/:jid", h_cancel, lr);
    cf_http_route(http, "GET", "/jobs/:jid/plan", h_plan, lr);
    cf_http_route(http, "GET", "/jobs/:jid/exceptions", h_exceptions, lr);
    cf_http_route(http, "GET", "/metrics", h_metrics, lr);
    if (cf_http_server_start(http) != 0) {
        cf_err_set(err, CF_EFAILED, "cannot start the REST server");
        cf_local_rest_stop(lr);
        return NULL;
    }
    return lr;
}

int cf_local_rest_port(const struct cf_local_rest *lr)
{
    return cf_http_server_port(lr->http);
}

void cf_local_rest_stop(struct cf_local_rest *lr)
{
    if (lr) {
        cf_http_server_destroy(lr->http);
        cf_free(lr);
    }
}
