#include "jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/rpc/rpc.h"
#include "ckpt_meta.h"
#include "dataplane.h"
#include "proto/creekflow.pb-c.h"
#include "runtime.h"

/* Worker-wide marker for "every subtask of this attempt on this worker" in task messages. */
#define ALL_SUBTASKS 0xffffffffu

struct attempt {
    char job_id[40];
    unsigned attempt;
    struct cf_plan *plan;
    struct cf_runtime *rt;
    struct cf_worker_jobs *wj;
    struct attempt *next;
};

struct cf_worker_jobs {
    struct cf_dataplane *dp;
    char *state_dir; /* --data-dir/state, or NULL: the runtime's default under $TMPDIR */
    char *worker_id;
    struct cf_rpc_channel *coord;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct attempt *attempts;
    int stopping;
    pthread_t watcher;
};

static const int task_state_of[] = {
    [CF_JOB_FINISHED] = CF__TASK_STATE__TASK_STATE_FINISHED,
    [CF_JOB_CANCELED] = CF__TASK_STATE__TASK_STATE_CANCELED,
    [CF_JOB_FAILED] = CF__TASK_STATE__TASK_STATE_FAILED,
};

/* The counters of one subtask of an attempt running here, with its operators'; NULL when
 * the subtask runs on another worker. */
static Cf__TaskMetrics *task_metrics(struct attempt *a, int v, int subtask)
{
    struct cf_runtime_subtask_stats st;
    if (cf_runtime_subtask_stats(a->rt, v, subtask, &st) != 0) {
        return NULL;
    }
    Cf__TaskMetrics *m = cf_new(Cf__TaskMetrics);
    Cf__TaskMetrics init = CF__TASK_METRICS__INIT;
    *m = init;
    m->job_id = cf_strdup(a->job_id);
    m->attempt = a->attempt;
    m->vertex = (uint32_t)v;
    m->subtask = (uint32_t)subtask;
    m->records_in = st.records_in;
    m->records_out = st.records_out;
    m->backpressured_ms = st.backpressured_ns / 1000000;
    m->watermark_ms = st.watermark;
    m->state = st.state == CF_JOB_RUNNING        ? CF__TASK_STATE__TASK_STATE_RUNNING
               : cf_job_state_terminal(st.state) ? (Cf__TaskState)task_state_of[st.state]
                                                 : CF__TASK_STATE__TASK_STATE_CANCELING;
    const struct cf_plan *plan = a->plan;
    const struct cf_plan_vertex *pv = &plan->vertices[v];
    m->operators = cf_calloc((size_t)pv->nops, sizeof(*m->operators));
    for (int k = 0; k < pv->nops; k++) {
        struct cf_runtime_op_stats os;
        cf_runtime_subtask_op_stats(a->rt, pv->ops[k], subtask, &os);
        Cf__OperatorMetrics *om = cf_new(Cf__OperatorMetrics);
        Cf__OperatorMetrics oinit = CF__OPERATOR_METRICS__INIT;
        *om = oinit;
        om->op = (uint32_t)pv->ops[k];
        om->records_in = os.records_in;
        om->records_out = os.records_out;
        om->side_out = os.side_out;
        om->dropped = os.dropped;
        om->bytes_in = os.bytes_in;
        m->bytes_in += os.bytes_in;
        m->operators[m->n_operators++] = om;
    }
    return m;
}

/* Every subtask of an attempt running here: appends to ms (room for plan_tasks(a)). */
static size_t attempt_metrics(struct attempt *a, Cf__TaskMetrics **ms)
{
    size_t n = 0;
    for (int v = 0; v < a->plan->nvertices; v++) {
        for (int s = 0; s < a->plan->vertices[v].parallelism; s++) {
            Cf__TaskMetrics *m = task_metrics(a, v, s);
            if (m) {
                ms[n++] = m;
            }
        }
    }
    return n;
}

static size_t plan_tasks(const struct attempt *a)
{
    size_t n = 0;
    for (int v = 0; v < a->plan->nvertices; v++) {
        n += (size_t)a->plan->vertices[v].parallelism;
    }
    return n;
}

static void task_metrics_free(Cf__TaskMetrics **ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ms[i]->n_operators; k++) {
            cf_free(ms[i]->operators[k]);
        }
        cf_free(ms[i]->operators);
        cf_free(ms[i]->job_id);
        cf_free(ms[i]);
    }
    cf_free(ms);
}

static void report(struct cf_worker_jobs *wj, struct attempt *a, int state)
{
    Cf__TaskStateReport r = CF__TASK_STATE_REPORT__INIT;
    r.job_id = a->job_id;
    r.attempt = a->attempt;
    r.vertex = ALL_SUBTASKS;
    r.subtask = ALL_SUBTASKS;
    r.state = (Cf__TaskState)task_state_of[state];
    r.failure = (char *)cf_runtime_failure(a->rt);
    r.worker_id = wj->worker_id;
    r.timestamp_ms = cf_now_ms();
    r.metrics = cf_calloc(plan_tasks(a) + 1, sizeof(*r.metrics));
    r.n_metrics = attempt_metrics(a, r.metrics);
    for (int tries = 0; tries < 5; tries++) {
        struct cf_err err;
        cf_err_clear(&err);
        ProtobufCMessage *ack = NULL;
        int rc = cf_rpc_call_pb(wj->coord, CF_RPC_COORDINATOR_REPORT_TASK_STATE, &r.base,
                                &cf__ack__descriptor, &ack, 5000, &err);
        if (rc == 0) {
            protobuf_c_message_free_unpacked(ack, NULL);
            break;
        }
        cf_warn("job %s: cannot report %s to the coordinator: %s", a->job_id,
                cf_job_state_name(state), err.msg);
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    task_metrics_free(r.metrics, r.n_metrics);
}

/* Reports and frees attempts that ended. */
static void *watch_main(void *arg)
{
    struct cf_worker_jobs *wj = arg;
    cf_log_ctx_set("worker");
    pthread_mutex_lock(&wj->lock);
    while (!wj->stopping) {
        struct attempt **pp = &wj->attempts;
        while (*pp) {
            struct attempt *a = *pp;
            int state = cf_runtime_state(a->rt);
            if (!cf_job_state_terminal(state)) {
                pp = &a->next;
                continue;
            }
            *pp = a->next;
            pthread_mutex_unlock(&wj->lock);
            cf_note("job %s attempt %u: %s here", a->job_id, a->attempt, cf_job_state_name(state));
            cf_runtime_settle(a->rt);
            report(wj, a, state);
            cf_runtime_destroy(a->rt);
            cf_plan_destroy(a->plan);
            cf_free(a);
            pthread_mutex_lock(&wj->lock);
            pp = &wj->attempts;
        }
        struct timespec ts;
        /* Polled: an attempt's end is reported within 20 ms. */
        cf_monotonic_timespec(cf_monotonic_ms() + 20, &ts);
        pthread_cond_timedwait(&wj->cond, &wj->lock, &ts);
    }
    pthread_mutex_unlock(&wj->lock);
    return NULL;
}

/* Data-plane channel failures fail the attempt named by the key "<job>/<attempt>/...". */
static void on_channel_failure(void *arg, const char *key, int is_input, const char *peer,
                               const char *reason)
{
    struct cf_worker_jobs *wj = arg;
    pthread_mutex_lock(&wj->lock);
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        size_t n = strlen(a->job_id);
        if (strncmp(key, a->job_id, n) == 0 && key[n] == '/') {
            char why[512];
            snprintf(why, sizeof(why), "data channel %s %s %s failed: %s", key,
                     is_input ? "from" : "to", peer, reason);
            cf_runtime_fail(a->rt, why);
        }
    }
    pthread_mutex_unlock(&wj->lock);
}

static int ack(struct cf_buf *resp, int ok, const char *error)
{
    Cf__Ack a = CF__ACK__INIT;
    a.ok = ok;
    a.error = (char *)(error ? error : "");
    cf_rpc_pb_pack(&a.base, resp);
    return 0;
}

/* ---- checkpoints ---- */

/* Sends one message to the coordinator, retrying a few times (it may be restarting). */
static void call_coordinator(struct cf_worker_jobs *wj, const char *method,
                             const ProtobufCMessage *msg, const char *what)
{
    for (int tries = 0; tries < 5; tries++) {
        struct cf_err err;
        cf_err_clear(&err);
        ProtobufCMessage *reply = NULL;
        if (cf_rpc_call_pb(wj->coord, method, msg, &cf__ack__descriptor, &reply, 5000, &err) == 0) {
            protobuf_c_message_free_unpacked(reply, NULL);
            return;
        }
        cf_warn("cannot send %s to the coordinator: %s", what, err.msg);
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void on_ckpt_ack(void *arg, const struct cf_runtime_ckpt_ack *ack)
{
    struct attempt *a = arg;
    if (ack->decline) {
        Cf__CheckpointDecline d = CF__CHECKPOINT_DECLINE__INIT;
        d.job_id = a->job_id;
        d.checkpoint_id = (uint64_t)ack->checkpoint_id;
        d.vertex = (uint32_t)ack->vertex;
        d.subtask = (uint32_t)ack->subtask;
        d.reason = (char *)ack->decline;
        d.attempt = a->attempt;
        call_coordinator(a->wj, CF_RPC_COORDINATOR_DECLINE_CHECKPOINT, &d.base, "a decline");
        return;
    }
    Cf__CheckpointAck m = CF__CHECKPOINT_ACK__INIT;
    m.job_id = a->job_id;
    m.checkpoint_id = (uint64_t)ack->checkpoint_id;
    m.vertex = (uint32_t)ack->vertex;
    m.subtask = (uint32_t)ack->subtask;
    m.state_bytes = ack->state_bytes;
    m.attempt = a->attempt;
    m.alignment_ms = ack->alignment_ms;
    m.duration_ms = ack->duration_ms;
    Cf__SnapshotFile *files = cf_calloc((size_t)ack->nfiles + 1, sizeof(*files));
    Cf__SnapshotFile **ptrs = cf_calloc((size_t)ack->nfiles + 1, sizeof(*ptrs));
    for (int i = 0; i < ack->nfiles; i++) {
        Cf__SnapshotFile init = CF__SNAPSHOT_FILE__INIT;
        files[i] = init;
        files[i].operator_id = (char *)ack->op_ids[i];
        files[i].path = ack->files[i].path;
        files[i].size = ack->files[i].size;
        files[i].checksum = ack->files[i].checksum;
        files[i].key_group_start = (uint32_t)ack->files[i].kg_lo;
        files[i].key_group_end = (uint32_t)ack->files[i].kg_hi;
        ptrs[i] = &files[i];
    }
    m.files = ptrs;
    m.n_files = (size_t)ack->nfiles;
    call_coordinator(a->wj, CF_RPC_COORDINATOR_ACK_CHECKPOINT, &m.base, "a checkpoint ack");
    cf_free(ptrs);
    cf_free(files);
}

static void on_end_of_input(void *arg, int vertex, int subtask)
{
    struct attempt *a = arg;
    Cf__TaskStateReport r = CF__TASK_STATE_REPORT__INIT;
    r.job_id = a->job_id;
    r.attempt = a->attempt;
    r.vertex = (uint32_t)vertex;
    r.subtask = (uint32_t)subtask;
    r.state = CF__TASK_STATE__TASK_STATE_RUNNING;
    r.worker_id = a->wj->worker_id;
    r.timestamp_ms = cf_now_ms();
    r.end_of_input = 1;
    call_coordinator(a->wj, CF_RPC_COORDINATOR_REPORT_TASK_STATE, &r.base, "end of input");
}

static struct attempt *find_attempt(struct cf_worker_jobs *wj, const char *job_id, unsigned attempt)
{
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        if (strcmp(a->job_id, job_id) == 0 && a->attempt == attempt) {
            return a;
        }
    }
    return NULL;
}

/* The checkpoint RPCs address one attempt: apply fn to it under the lock, and answer. */
static void with_attempt(struct cf_worker_jobs *wj, const char *job_id, unsigned attempt,
                         void (*fn)(struct attempt *a, const void *msg), const void *msg,
                         struct cf_buf *resp)
{
    pthread_mutex_lock(&wj->lock);
    struct attempt *a = find_attempt(wj, job_id, attempt);
    if (a) {
        fn(a, msg);
    }
    pthread_mutex_unlock(&wj->lock);
    ack(resp, a != NULL, a ? NULL : "no such attempt here");
}

static void trigger(struct attempt *a, const void *msg)
{
    const Cf__TriggerCheckpointRequest *r = msg;
    cf_runtime_trigger_checkpoint(a->rt, (int64_t)r->checkpoint_id, r->dir, r->stop);
}

static void notify(struct attempt *a, const void *msg)
{
    const Cf__CheckpointNotification *r = msg;
    cf_runtime_notify_checkpoint(
        a->rt, r->checkpoint_id > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)r->checkpoint_id);
}

static int rpc_trigger(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                       struct cf_err *err)
{
    Cf__TriggerCheckpointRequest *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__trigger_checkpoint_request__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc == 0) {
        with_attempt(arg, r->job_id, r->attempt, trigger, r, resp);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return rc;
}

static int rpc_notify(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                      struct cf_err *err)
{
    Cf__CheckpointNotification *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__checkpoint_notification__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc == 0) {
        with_attempt(arg, r->job_id, r->attempt, notify, r, resp);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return rc;
}

static int rpc_deploy(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                      struct cf_err *err)
{
    struct cf_worker_jobs *wj = arg;
    Cf__DeployTaskRequest *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__deploy_task_request__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc) {
        return rc;
    }
    struct cf_err e;
    cf_err_clear(&e);
    struct cf_spec *spec = NULL;
    struct cf_plan *plan = NULL;
    rc = cf_spec_parse(r->job_spec_json, strlen(r->job_spec_json), &spec, &e);
    if (rc == 0) {
        rc = cf_plan_build(spec, (int)r->parallelism_override, &plan, &e);
    }
    int nslots = plan ? cf_plan_slots(plan) : 0;
    if (rc == 0 && (int)r->n_outputs != nslots) {
        rc = cf_err_set(&e, CF_EINVAL, "placement lists %zu slots, the job needs %d", r->n_outputs,
                        nslots);
    }
    /* The placement: outputs[s] is the worker running slot s; workers numbered by first
     * appearance. */
    int *slot_worker = cf_calloc((size_t)nslots + 1, sizeof(int));
    const char **hosts = cf_calloc((size_t)nslots + 1, sizeof(char *));
    const char **ids = cf_calloc((size_t)nslots + 1, sizeof(char *));
    int *ports = cf_calloc((size_t)nslots + 1, sizeof(int));
    int nworkers = 0, self = -1;
    for (int s = 0; rc == 0 && s < nslots; s++) {
        const Cf__ChannelEndpoint *ep = r->outputs[s];
        int w = 0;
        while (w < nworkers && strcmp(ids[w], ep->worker_id) != 0) {
            w++;
        }
        if (w == nworkers) {
            ids[w] = ep->worker_id;
            hosts[w] = ep->host;
            ports[w] = (int)ep->data_port;
            nworkers++;
        }
        slot_worker[ep->subtask < (uint32_t)nslots ? ep->subtask : 0] = w;
        if (strcmp(ep->worker_id, wj->worker_id) == 0) {
            self = w;
        }
    }
    if (rc == 0 && self < 0) {
        rc = cf_err_set(&e, CF_EINVAL, "no slot of this job is placed on worker %s", wj->worker_id);
    }
    struct cf_runtime *rt = NULL;
    if (rc == 0) {
        struct cf_runtime_placement pl = {.self = self,
                                          .nworkers = nworkers,
                                          .slot_worker = slot_worker,
                                          .hosts = hosts,
                                          .data_ports = ports,
                                          .attempt = (int)r->attempt,
                                          .dp = wj->dp};
        rt = cf_runtime_create_placed(plan, r->job_id, &pl, &e);
        rc = rt ? 0 : CF_EIO;
    }
    struct attempt *a = cf_new(struct attempt);
    snprintf(a->job_id, sizeof(a->job_id), "%s", r->job_id);
    a->attempt = r->attempt;
    a->plan = plan;
    a->rt = rt;
    a->wj = wj;
    if (rc == 0 && wj->state_dir) {
        cf_runtime_set_state_dir(rt, wj->state_dir, 0);
    }
    if (rc == 0) {
        /* Always: without checkpoints in the spec, savepoints are still possible. */
        struct cf_runtime_ckpt_hooks hooks = {
            .ack = on_ckpt_ack, .end_of_input = on_end_of_input, .arg = a};
        cf_runtime_set_checkpointing(rt, &hooks);
    }
    if (rc == 0 && r->restore_checkpoint_path && r->restore_checkpoint_path[0]) {
        struct cf_ckpt_meta *meta = NULL;
        rc = cf_ckpt_meta_load(r->restore_checkpoint_path, &meta, &e);
        if (rc == 0) {
            cf_runtime_set_restore(rt, meta);
        }
    }
    if (rc == 0) {
        rc = cf_runtime_start(rt, &e);
    }
    cf_free(slot_worker);
    cf_free(hosts);
    cf_free(ids);
    cf_free(ports);
    if (rc) {
        cf_warn("job %s: deploy refused: %s", r->job_id, e.msg);
        cf_runtime_destroy(rt);
        cf_plan_destroy(plan);
        cf_free(a);
        ack(resp, 0, e.msg);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return 0;
    }
    pthread_mutex_lock(&wj->lock);
    a->next = wj->attempts;
    wj->attempts = a;
    pthread_mutex_unlock(&wj->lock);
    cf_note("job %s attempt %u: deployed %d of %d slots here", r->job_id, r->attempt, 0 + nslots,
            nslots);
    ack(resp, 1, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static int rpc_cancel(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                      struct cf_err *err)
{
    struct cf_worker_jobs *wj = arg;
    Cf__CancelTaskRequest *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__cancel_task_request__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc) {
        return rc;
    }
    int found = 0;
    pthread_mutex_lock(&wj->lock);
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        if (strcmp(a->job_id, r->job_id) == 0 && (r->attempt == 0 || a->attempt == r->attempt)) {
            cf_runtime_cancel(a->rt);
            found = 1;
        }
    }
    pthread_mutex_unlock(&wj->lock);
    ack(resp, 1, found ? NULL : "no such attempt here (already ended)");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

struct cf_worker_jobs *cf_worker_jobs_create(struct cf_dataplane *dp, const char *worker_id,
                                             const char *coordinator, struct cf_err *err)
{
    struct cf_worker_jobs *wj = cf_new(struct cf_worker_jobs);
    wj->dp = dp;
    wj->worker_id = cf_strdup(worker_id);
    wj->coord = cf_rpc_channel_create(coordinator);
    pthread_mutex_init(&wj->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wj->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (!wj->coord || pthread_create(&wj->watcher, NULL, watch_main, wj) != 0) {
        cf_err_set(err, CF_EFAILED, "cannot start the job manager");
        cf_rpc_channel_destroy(wj->coord);
        cf_free(wj->worker_id);
        cf_free(wj);
        return NULL;
    }
    cf_dataplane_set_failure_hook(dp, on_channel_failure, wj);
    return wj;
}

void cf_worker_jobs_set_data_dir(struct cf_worker_jobs *wj, const char *dir)
{
    cf_free(wj->state_dir);
    wj->state_dir = dir ? cf_asprintf("%s/state", dir) : NULL;
}

void cf_worker_jobs_serve(struct cf_worker_jobs *wj, struct cf_rpc_server *rpc)
{
    cf_rpc_server_handle(rpc, CF_RPC_WORKER_DEPLOY_TASK, rpc_deploy, wj);
    cf_rpc_server_handle(rpc, CF_RPC_WORKER_CANCEL_TASK, rpc_cancel, wj);
    cf_rpc_server_handle(rpc, CF_RPC_WORKER_TRIGGER_CHECKPOINT, rpc_trigger, wj);
    cf_rpc_server_handle(rpc, CF_RPC_WORKER_NOTIFY_CHECKPOINT_COMPLETE, rpc_notify, wj);
}

void cf_worker_jobs_cancel_all(struct cf_worker_jobs *wj)
{
    pthread_mutex_lock(&wj->lock);
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        cf_runtime_cancel(a->rt);
    }
    pthread_mutex_unlock(&wj->lock);
}

void cf_worker_jobs_metrics(struct cf_worker_jobs *wj, void *heartbeat_request)
{
    Cf__HeartbeatRequest *req = heartbeat_request;
    pthread_mutex_lock(&wj->lock);
    size_t n = 0;
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        n += plan_tasks(a);
    }
    req->metrics = cf_calloc(n + 1, sizeof(*req->metrics));
    req->n_metrics = 0;
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        req->n_metrics += attempt_metrics(a, req->metrics + req->n_metrics);
    }
    pthread_mutex_unlock(&wj->lock);
}

void cf_worker_jobs_metrics_free(void *heartbeat_request)
{
    Cf__HeartbeatRequest *req = heartbeat_request;
    task_metrics_free(req->metrics, req->n_metrics);
    req->metrics = NULL;
    req->n_metrics = 0;
}

int cf_worker_jobs_running(struct cf_worker_jobs *wj)
{
    int n = 0;
    pthread_mutex_lock(&wj->lock);
    for (struct attempt *a = wj->attempts; a; a = a->next) {
        n++;
    }
    pthread_mutex_unlock(&wj->lock);
    return n;
}

void cf_worker_jobs_destroy(struct cf_worker_jobs *wj)
{
    if (!wj) {
        return;
    }
    cf_worker_jobs_cancel_all(wj);
    /* Let the watcher report the cancellations, then stop it. */
    for (int i = 0; i < 50 && cf_worker_jobs_running(wj) > 0; i++) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&wj->lock);
    wj->stopping = 1;
    pthread_cond_broadcast(&wj->cond);
    pthread_mutex_unlock(&wj->lock);
    pthread_join(wj->watcher, NULL);
    cf_dataplane_set_failure_hook(wj->dp, NULL, NULL);
    while (wj->attempts) {
        struct attempt *a = wj->attempts;
        wj->attempts = a->next;
        cf_runtime_destroy(a->rt);
        cf_plan_destroy(a->plan);
        cf_free(a);
    }
    cf_rpc_channel_destroy(wj->coord);
    pthread_cond_destroy(&wj->cond);
    pthread_mutex_destroy(&wj->lock);
    cf_free(wj->worker_id);
    cf_free(wj->state_dir);
    cf_free(wj);
}
