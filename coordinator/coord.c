#include "coord.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/base/buf.h"
#include "common/base/id.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_server.h"
#include "common/rpc/rpc.h"
#include "coordinator/coord_int.h"
#include "coordinator/jobstore.h"
#include "coordinator/rest_json.h"
#include "coordinator/scheduler.h"
#include "proto/creekflow.pb-c.h"
#include "worker/runtime.h"

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
        int existing = i >= 0;
        if (!existing) {
            if (c->nworkers == c->cap_workers) {
                c->cap_workers = c->cap_workers ? c->cap_workers * 2 : 8;
                c->workers = cf_realloc(c->workers, (size_t)c->cap_workers * sizeof(*c->workers));
            }
            i = c->nworkers++;
        }
        struct worker *w = &c->workers[i];
        struct cf_rpc_channel *keep = existing ? w->ch : NULL;
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
        if (keep) {
            w->ch = keep; /* the same worker again: keep its channel */
        } else {
            char target[200];
            snprintf(target, sizeof(target), "%s:%d", w->host, w->rpc_port);
            w->ch = cf_rpc_channel_create(target);
        }
        cf_note("worker %s registered: %s data port %d, %d slots", r->worker_id, w->host,
                w->data_port, w->slots);
        pthread_cond_broadcast(&c->stop_cond); /* the monitor schedules waiting jobs now */
        pthread_mutex_unlock(&c->lock);
        out.accepted = 1;
    }
    out.heartbeat_interval_ms = c->opts.heartbeat_interval_ms;
    out.heartbeat_timeout_ms = c->opts.heartbeat_timeout_ms;
    out.coordinator_id = c->id;
    cf_rpc_pb_pack(&out.base, resp);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ---- metrics (lock held) ---- */

/* Keeps the latest counters a worker sent for one subtask of a live job attempt. */
static void record_metric(struct cf_coord *c, const char *worker_id, const Cf__TaskMetrics *m)
{
    struct job *j = cf_coord_live_job(c, m->job_id);
    if (!j || j->attempt != m->attempt || !j->plan || m->vertex >= (uint32_t)j->plan->nvertices ||
        m->subtask >= (uint32_t)j->plan->vertices[m->vertex].parallelism) {
        return;
    }
    int x = 0;
    while (x < j->nmetrics &&
           !(j->metrics[x].vertex == (int)m->vertex && j->metrics[x].subtask == (int)m->subtask)) {
        x++;
    }
    if (x == j->nmetrics) {
        if (j->nmetrics == j->cap_metrics) {
            j->cap_metrics = j->cap_metrics ? j->cap_metrics * 2 : 8;
            j->metrics = cf_realloc(j->metrics, (size_t)j->cap_metrics * sizeof(*j->metrics));
        }
        struct vmetric *vm = &j->metrics[x];
        memset(vm, 0, sizeof(*vm));
        vm->ops = cf_calloc((size_t)j->plan->nops, sizeof(*vm->ops));
        vm->vertex = (int)m->vertex;
        vm->subtask = (int)m->subtask;
        j->nmetrics++;
    }
    struct vmetric *vm = &j->metrics[x];
    int64_t now = cf_monotonic_ms();
    if (vm->sample_ms && now > vm->sample_ms && m->backpressured_ms >= vm->backpressured_ms) {
        double r =
            (double)(m->backpressured_ms - vm->backpressured_ms) / (double)(now - vm->sample_ms);
        vm->bp_ratio = r > 1 ? 1 : r;
    }
    vm->sample_ms = now;
    snprintf(vm->worker_id, sizeof(vm->worker_id), "%s", worker_id);
    vm->state = m->state;
    vm->records_in = m->records_in;
    vm->records_out = m->records_out;
    vm->bytes_in = m->bytes_in;
    vm->backpressured_ms = m->backpressured_ms;
    vm->watermark = m->watermark_ms;
    for (size_t k = 0; k < m->n_operators; k++) {
        const Cf__OperatorMetrics *om = m->operators[k];
        if (om->op < (uint32_t)j->plan->nops && j->plan->ops[om->op].vertex == (int)m->vertex) {
            struct cf_runtime_op_stats *os = &vm->ops[om->op];
            os->records_in = om->records_in;
            os->records_out = om->records_out;
            os->side_out = om->side_out;
            os->dropped = om->dropped;
            os->bytes_in = om->bytes_in;
        }
    }
}

/* The job's counters summed over the workers of its current attempt (lock held). */
static struct cf_job_totals *job_totals(const struct job *j)
{
    const struct cf_plan *plan = j->plan;
    struct cf_job_totals *t = cf_new(struct cf_job_totals);
    t->nvertices = plan->nvertices;
    t->nops = plan->nops;
    t->vertices = cf_calloc((size_t)plan->nvertices + 1, sizeof(*t->vertices));
    t->ops = cf_calloc((size_t)plan->nops + 1, sizeof(*t->ops));
    for (int x = 0; x < j->nmetrics; x++) {
        const struct vmetric *vm = &j->metrics[x];
        struct cf_runtime_vertex_stats *v = &t->vertices[vm->vertex];
        v->records_in += vm->records_in;
        v->records_out += vm->records_out;
        v->backpressured_ns += vm->backpressured_ms * 1000000;
        for (int i = 0; i < plan->nops; i++) {
            cf_runtime_op_stats_add(&t->ops[i], &vm->ops[i]);
        }
    }
    for (int v = 0; v < plan->nvertices; v++) {
        if (j->rec.state == CF_JOB_RUNNING) {
            t->vertices[v].subtasks_running = plan->vertices[v].parallelism;
        } else if (j->rec.state == CF_JOB_FINISHED) {
            t->vertices[v].subtasks_finished = plan->vertices[v].parallelism;
        }
    }
    return t;
}

static struct cf_job_totals *job_totals_copy(const struct cf_job_totals *src)
{
    struct cf_job_totals *t = cf_new(struct cf_job_totals);
    *t = *src;
    t->vertices = cf_calloc((size_t)src->nvertices + 1, sizeof(*t->vertices));
    memcpy(t->vertices, src->vertices, (size_t)src->nvertices * sizeof(*t->vertices));
    t->ops = cf_calloc((size_t)src->nops + 1, sizeof(*t->ops));
    memcpy(t->ops, src->ops, (size_t)src->nops * sizeof(*t->ops));
    return t;
}

static void job_totals_free(struct cf_job_totals *t)
{
    if (t) {
        cf_free(t->vertices);
        cf_free(t->ops);
        cf_free(t);
    }
}

static void vmetrics_free(struct vmetric *metrics, int n)
{
    for (int x = 0; x < n; x++) {
        cf_free(metrics[x].ops);
    }
    cf_free(metrics);
}

/* Forgets the counters of the previous attempt. */
static void metrics_clear(struct job *j)
{
    vmetrics_free(j->metrics, j->nmetrics);
    j->metrics = NULL;
    j->nmetrics = j->cap_metrics = 0;
}

static void archive_free(struct cf_job_archive *a)
{
    vmetrics_free(a->metrics, a->nmetrics);
    job_totals_free(a->totals);
    cf_free(a->sweep_dir);
    cf_free(a->sweep_retained);
    cf_free(a);
}

/* Keeps what the REST API shows of a job that ends, newest CF_JOB_ARCHIVE jobs; takes the
 * job's counters. */
static void job_archive(struct cf_coord *c, struct job *j)
{
    struct cf_job_archive *a = cf_new(struct cf_job_archive);
    snprintf(a->job_id, sizeof(a->job_id), "%s", j->rec.id);
    if (j->plan) {
        a->totals = job_totals(j);
        cf_ckpt_job_archive(a, j);
    }
    a->metrics = j->metrics; /* moved: the job is freed next */
    a->nmetrics = j->nmetrics;
    a->attempt = j->attempt;
    j->metrics = NULL;
    j->nmetrics = j->cap_metrics = 0;
    a->next = c->archive;
    c->archive = a;
    struct cf_job_archive *x = a;
    for (int n = 1; x && n < CF_JOB_ARCHIVE; n++) {
        x = x->next;
    }
    while (x && x->next) {
        struct cf_job_archive *d = x->next;
        x->next = d->next;
        archive_free(d);
    }
}

static const struct cf_job_archive *find_archive(const struct cf_coord *c, const char *jid)
{
    for (const struct cf_job_archive *a = c->archive; a; a = a->next) {
        if (!strcmp(a->job_id, jid)) {
            return a;
        }
    }
    return NULL;
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
        for (size_t k = 0; k < r->n_metrics; k++) {
            record_metric(c, r->worker_id, r->metrics[k]);
        }
    }
    pthread_mutex_unlock(&c->lock);
    cf_rpc_pb_pack(&out.base, resp);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ---- jobs (state under c->lock; RPCs to workers only from the monitor thread) ---- */

struct job *cf_coord_live_job(struct cf_coord *c, const char *id)
{
    for (struct job *j = c->live; j; j = j->next) {
        if (strcmp(j->rec.id, id) == 0) {
            return j;
        }
    }
    return NULL;
}

static void job_set_state(struct cf_coord *c, struct job *j, int state)
{
    j->rec.state = state;
    j->state_since[state] = cf_now_ms();
    struct cf_err err;
    cf_err_clear(&err);
    if (cf_jobstore_put(c->jobs, &j->rec, &err) != 0) {
        cf_error("job %s: %s", j->rec.id, err.msg);
    }
}

static void job_free(struct job *j)
{
    if (j->plan) {
        cf_ckpt_job_free(j);
    }
    metrics_clear(j);
    cf_plan_destroy(j->plan);
    cf_free(j->slot_worker);
    cf_free(j->parts);
    cf_job_record_clear(&j->rec);
    cf_free(j);
}

/* Plans a stored job again (after a restart of the coordinator, or on submission). */
static struct cf_plan *plan_spec(const char *text, int parallelism, struct cf_err *err)
{
    struct cf_spec *spec = NULL;
    struct cf_plan *plan = NULL;
    if (cf_spec_parse(text, strlen(text), &spec, err) != 0 ||
        cf_plan_build(spec, parallelism, &plan, err) != 0) {
        return NULL;
    }
    return plan;
}

static void release_slots(struct cf_coord *c, struct job *j)
{
    for (int p = 0; p < j->nparts; p++) {
        int w = find_worker(c, j->parts[p].worker_id);
        if (w >= 0) {
            c->workers[w].free_slots += j->parts[p].slots;
        }
    }
    cf_free(j->parts);
    j->parts = NULL;
    j->nparts = 0;
    j->deployed = 0;
}

/* The restart strategy (DESIGN.md section 3): returns 1 and sets the delay when the job may
 * restart after this failure. */
static int may_restart(struct job *j)
{
    const struct cf_spec *spec = j->plan->spec;
    if (j->ck.unrecoverable) {
        return 0;
    }
    switch (spec->restart.strategy) {
    case CF_RESTART_FIXED_DELAY:
        if (j->rec.restarts >= spec->restart.attempts) {
            return 0;
        }
        j->restart_delay_ms = spec->restart.delay;
        return 1;
    case CF_RESTART_FAILURE_RATE: {
        /* At most `attempts` failures within any `failure_interval`: keep the times of the
         * last failures in a ring and compare with the oldest one that still counts. */
        int64_t now = cf_monotonic_ms();
        int n = (int)(spec->restart.attempts < CF_FAILURE_RING ? spec->restart.attempts
                                                               : CF_FAILURE_RING);
        if (n <= 0) {
            return 0;
        }
        int64_t oldest = j->failures[(j->nfailures + CF_FAILURE_RING - n) % CF_FAILURE_RING];
        j->failures[j->nfailures++ % CF_FAILURE_RING] = now;
        if (j->nfailures > n && now - oldest < spec->restart.failure_interval) {
            return 0; /* this failure is one too many within the interval */
        }
        j->restart_delay_ms = spec->restart.delay;
        return 1;
    }
    case CF_RESTART_EXPONENTIAL_DELAY:
        j->restart_delay_ms = j->restart_delay_ms ? j->restart_delay_ms * 2 : spec->restart.delay;
        if (j->restart_delay_ms > spec->restart.max_delay) {
            j->restart_delay_ms = spec->restart.max_delay;
        }
        return 1;
    default: return 0;
    }
}

/* Every part ended: decide the job's state. */
static void job_parts_done(struct cf_coord *c, struct job *j, struct job **pp)
{
    int failed = j->failing;
    for (int p = 0; p < j->nparts; p++) {
        failed |= j->parts[p].state == CF_JOB_FAILED;
    }
    release_slots(c, j);
    if (failed && !j->cancel_requested && may_restart(j)) {
        j->rec.restarts++;
        j->attempt++;
        metrics_clear(j);
        j->failing = 0;
        j->cancel_sent = 0;
        j->not_before_ms = cf_monotonic_ms() + j->restart_delay_ms;
        cf_warn("job %s: restarting (attempt %u) in %lld ms after: %s", j->rec.id, j->attempt,
                (long long)j->restart_delay_ms, j->rec.failure ? j->rec.failure : "failure");
        job_set_state(c, j, CF_JOB_RESTARTING);
        return;
    }
    int state = j->stop_with_savepoint ? CF_JOB_FINISHED
                : j->cancel_requested  ? CF_JOB_CANCELED
                : failed               ? CF_JOB_FAILED
                                       : CF_JOB_FINISHED;
    j->rec.end_time = cf_now_ms();
    cf_note("job %s (%s): %s", j->rec.id, j->rec.name, cf_job_state_name(state));
    job_set_state(c, j, state);
    *pp = j->next;
    job_archive(c, j);
    job_free(j);
}

static void job_fail(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_fail(struct job *j, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!j->failing) {
        cf_free(j->rec.failure);
        j->rec.failure = cf_strdup(msg);
    }
    j->failing = 1;
}

struct rpc_todo {
    struct cf_rpc_channel *ch;
    char worker_id[128];
    int deploy; /* 1: DeployTask with `req`, 0: CancelTask */
    char job_id[40];
    unsigned attempt;
    uint8_t *req;
    size_t len;
};

/* Assigns slots and prepares DeployTask requests; called with the lock held. CF_EAGAIN
 * with why (how many slots are needed and free) when the free slots are too few. */
static int schedule(struct cf_coord *c, struct job *j, struct rpc_todo **todo, int *ntodo,
                    struct cf_err *why)
{
    struct cf_sched_worker *sw = cf_calloc((size_t)c->nworkers + 1, sizeof(*sw));
    for (int w = 0; w < c->nworkers; w++) {
        sw[w].slots = c->workers[w].slots;
        sw[w].used = c->workers[w].slots - c->workers[w].free_slots;
        sw[w].available = 1;
    }
    int *slot_w = cf_calloc((size_t)j->nslots, sizeof(int));
    int rc = cf_sched_assign(sw, c->nworkers, j->nslots, slot_w, why);
    cf_free(sw);
    if (rc) {
        cf_free(slot_w);
        return rc; /* wait for workers */
    }
    j->slot_worker = cf_realloc(j->slot_worker, (size_t)j->nslots * sizeof(*j->slot_worker));
    j->parts = cf_calloc((size_t)j->nslots, sizeof(*j->parts));
    j->nparts = 0;
    for (int s = 0; s < j->nslots; s++) {
        struct worker *w = &c->workers[slot_w[s]];
        snprintf(j->slot_worker[s], sizeof(j->slot_worker[s]), "%s", w->id);
        w->free_slots--;
        int p = 0;
        while (p < j->nparts && strcmp(j->parts[p].worker_id, w->id) != 0) {
            p++;
        }
        if (p == j->nparts) {
            snprintf(j->parts[p].worker_id, sizeof(j->parts[p].worker_id), "%s", w->id);
            j->nparts++;
        }
        j->parts[p].slots++;
    }
    /* One DeployTask per worker: the spec and where every slot runs. */
    Cf__ChannelEndpoint *eps = cf_calloc((size_t)j->nslots, sizeof(*eps));
    Cf__ChannelEndpoint **epp = cf_calloc((size_t)j->nslots, sizeof(*epp));
    for (int s = 0; s < j->nslots; s++) {
        struct worker *w = &c->workers[slot_w[s]];
        Cf__ChannelEndpoint init = CF__CHANNEL_ENDPOINT__INIT;
        eps[s] = init;
        eps[s].subtask = (uint32_t)s;
        eps[s].host = w->host;
        eps[s].data_port = (uint32_t)w->data_port;
        eps[s].worker_id = w->id;
        epp[s] = &eps[s];
    }
    cf_ckpt_job_reset(j);
    int64_t restore_id = 0;
    Cf__DeployTaskRequest req = CF__DEPLOY_TASK_REQUEST__INIT;
    req.restore_checkpoint_path = (char *)cf_ckpt_restore_path(j, &restore_id);
    req.restore_checkpoint_id = (uint64_t)restore_id;
    req.allow_non_restored_state = j->rec.allow_non_restored;
    req.job_id = j->rec.id;
    req.attempt = j->attempt;
    req.job_spec_json = j->rec.spec;
    req.parallelism_override = (uint32_t)j->rec.parallelism;
    req.n_outputs = (size_t)j->nslots;
    req.outputs = epp;
    *todo = cf_calloc((size_t)j->nparts, sizeof(**todo));
    for (int p = 0; p < j->nparts; p++) {
        struct rpc_todo *t = &(*todo)[p];
        int w = find_worker(c, j->parts[p].worker_id);
        t->ch = c->workers[w].ch;
        snprintf(t->worker_id, sizeof(t->worker_id), "%s", j->parts[p].worker_id);
        t->deploy = 1;
        snprintf(t->job_id, sizeof(t->job_id), "%s", j->rec.id);
        t->attempt = j->attempt;
        t->len = protobuf_c_message_get_packed_size(&req.base);
        t->req = cf_malloc(t->len ? t->len : 1);
        protobuf_c_message_pack(&req.base, t->req);
    }
    *ntodo = j->nparts;
    cf_free(eps);
    cf_free(epp);
    cf_free(slot_w);
    j->deployed = 1;
    return 0;
}

static void cancel_todo(struct cf_coord *c, struct job *j, struct rpc_todo **todo, int *ntodo)
{
    *todo = cf_calloc((size_t)j->nparts + 1, sizeof(**todo));
    *ntodo = 0;
    for (int p = 0; p < j->nparts; p++) {
        int w = find_worker(c, j->parts[p].worker_id);
        if (j->parts[p].state || w < 0) {
            continue;
        }
        struct rpc_todo *t = &(*todo)[(*ntodo)++];
        t->ch = c->workers[w].ch;
        snprintf(t->worker_id, sizeof(t->worker_id), "%s", j->parts[p].worker_id);
        snprintf(t->job_id, sizeof(t->job_id), "%s", j->rec.id);
        t->attempt = j->attempt;
    }
    j->cancel_sent = 1;
}

/* Sends the prepared calls without the lock; a refused deployment fails the attempt. */
static void run_todo(struct cf_coord *c, struct rpc_todo *todo, int n)
{
    for (int i = 0; i < n; i++) {
        struct rpc_todo *t = &todo[i];
        struct cf_err err;
        cf_err_clear(&err);
        char why[2400] = "";
        if (t->deploy) {
            struct cf_buf out;
            cf_buf_init(&out);
            int rc =
                cf_rpc_call(t->ch, CF_RPC_WORKER_DEPLOY_TASK, t->req, t->len, &out, 10000, &err);
            if (rc) {
                snprintf(why, sizeof(why), "deploying to worker %s failed: %.1500s", t->worker_id,
                         err.msg);
            } else {
                Cf__Ack *a = cf__ack__unpack(NULL, out.len, (const uint8_t *)out.data);
                if (!a || !a->ok) {
                    snprintf(why, sizeof(why), "worker %s refused the deployment: %.1500s",
                             t->worker_id, a ? a->error : "malformed reply");
                }
                if (a) {
                    cf__ack__free_unpacked(a, NULL);
                }
            }
            cf_buf_destroy(&out);
        } else {
            Cf__CancelTaskRequest req = CF__CANCEL_TASK_REQUEST__INIT;
            req.job_id = t->job_id;
            req.attempt = t->attempt;
            ProtobufCMessage *resp = NULL;
            if (cf_rpc_call_pb(t->ch, CF_RPC_WORKER_CANCEL_TASK, &req.base, &cf__ack__descriptor,
                               &resp, 5000, &err) != 0) {
                cf_warn("job %s: cancel on worker %s failed: %s", t->job_id, t->worker_id, err.msg);
            }
            if (resp) {
                protobuf_c_message_free_unpacked(resp, NULL);
            }
        }
        cf_free(t->req);
        if (!why[0]) {
            continue;
        }
        cf_warn("job %s: %s", t->job_id, why);
        pthread_mutex_lock(&c->lock);
        struct job *j = cf_coord_live_job(c, t->job_id);
        if (j && j->attempt == t->attempt) {
            job_fail(j, "%s", why);
            for (int p = 0; p < j->nparts; p++) {
                if (!strcmp(j->parts[p].worker_id, t->worker_id)) {
                    j->parts[p].state = CF_JOB_FAILED; /* nothing runs there */
                }
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
}

/* Ends a job that has nothing deployed (lock held): *pp, which points to it, becomes the
 * next job. */
static void end_undeployed(struct cf_coord *c, struct job *j, struct job **pp, int state)
{
    j->rec.end_time = cf_now_ms();
    job_set_state(c, j, state);
    *pp = j->next;
    job_free(j);
}

/* One pass over the live jobs (lock held): completes, schedules or cancels; RPCs to make
 * are returned in todo and sent by the caller without the lock. */
static void advance_jobs(struct cf_coord *c, struct rpc_todo **todo, int *ntodo)
{
    struct job **pp = &c->live;
    while (*pp && !*todo) {
        struct job *j = *pp;
        if (j->deployed) {
            int all = 1;
            for (int p = 0; p < j->nparts; p++) {
                all &= j->parts[p].state != 0;
            }
            if (all) {
                job_parts_done(c, j, pp);
                continue; /* *pp is the next job, or j again waiting to restart */
            }
            if ((j->cancel_requested || j->failing) && !j->cancel_sent) {
                cancel_todo(c, j, todo, ntodo);
            }
        } else if (j->cancel_requested) {
            end_undeployed(c, j, pp, CF_JOB_CANCELED);
            continue;
        } else if (cf_monotonic_ms() >= j->not_before_ms) {
            struct cf_err why;
            cf_err_clear(&why);
            int64_t now = cf_monotonic_ms();
            if (schedule(c, j, todo, ntodo, &why) == 0) {
                cf_note("job %s (%s): attempt %u deployed on %d workers", j->rec.id, j->rec.name,
                        j->attempt, j->nparts);
                j->waiting_since_ms = 0;
                job_set_state(c, j, CF_JOB_RUNNING);
            } else if (!j->waiting_since_ms) {
                j->waiting_since_ms = now;
            } else if (now - j->waiting_since_ms >= c->opts.slot_request_timeout_ms) {
                /* As Flink's NoResourceAvailableException: the job fails, with the numbers. */
                cf_free(j->rec.failure);
                j->rec.failure =
                    cf_asprintf("could not get the job's slots within %lld s "
                                "(slot request timeout): %s",
                                (long long)(c->opts.slot_request_timeout_ms / 1000), why.msg);
                cf_warn("job %s (%s): %s", j->rec.id, j->rec.name, j->rec.failure);
                end_undeployed(c, j, pp, CF_JOB_FAILED);
                continue;
            }
        }
        pp = &(*pp)->next;
    }
}

static int rpc_report(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                      struct cf_err *err)
{
    struct cf_coord *c = arg;
    Cf__TaskStateReport *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__task_state_report__descriptor, req, len, (ProtobufCMessage **)&r,
                              err);
    if (rc) {
        return rc;
    }
    int state = r->state == CF__TASK_STATE__TASK_STATE_FINISHED   ? CF_JOB_FINISHED
                : r->state == CF__TASK_STATE__TASK_STATE_CANCELED ? CF_JOB_CANCELED
                : r->state == CF__TASK_STATE__TASK_STATE_FAILED   ? CF_JOB_FAILED
                                                                  : 0;
    pthread_mutex_lock(&c->lock);
    for (size_t k = 0; k < r->n_metrics; k++) {
        record_metric(c, r->worker_id, r->metrics[k]);
    }
    struct job *j = cf_coord_live_job(c, r->job_id);
    if (j && j->attempt == r->attempt && r->end_of_input && j->plan) {
        cf_ckpt_end_of_input(c, j, (int)r->vertex, (int)r->subtask);
    }
    if (j && j->attempt == r->attempt && state) {
        for (int p = 0; p < j->nparts; p++) {
            if (!strcmp(j->parts[p].worker_id, r->worker_id) && !j->parts[p].state) {
                j->parts[p].state = state;
            }
        }
        if (state == CF_JOB_FAILED) {
            job_fail(j, "%s", r->failure[0] ? r->failure : "a task failed");
            cf_ckpt_restore_failed(c, j, r->failure);
        }
        pthread_cond_broadcast(&c->stop_cond);
    }
    pthread_mutex_unlock(&c->lock);
    Cf__Ack a = CF__ACK__INIT;
    a.ok = 1;
    cf_rpc_pb_pack(&a.base, resp);
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
                for (struct job *j = c->live; j; j = j->next) {
                    for (int p = 0; p < j->nparts; p++) {
                        if (!strcmp(j->parts[p].worker_id, w->id) && !j->parts[p].state) {
                            j->parts[p].state = CF_JOB_FAILED;
                            job_fail(j, "worker %s (%s) lost: no heartbeat for %lld ms", w->id,
                                     w->host, (long long)(now - w->last_heartbeat_ms));
                        }
                    }
                }
                cf_rpc_channel_destroy(w->ch);
                c->workers[i] = c->workers[--c->nworkers];
            } else {
                i++;
            }
        }
        struct rpc_todo *todo = NULL;
        int ntodo = 0;
        advance_jobs(c, &todo, &ntodo);
        if (!todo) {
            cf_ckpt_monitor(c); /* may release the lock around its calls */
        }
        if (todo) {
            pthread_mutex_unlock(&c->lock);
            run_todo(c, todo, ntodo);
            cf_free(todo);
            pthread_mutex_lock(&c->lock);
            continue; /* look again at once: more may be due */
        }
        struct timespec ts;
        cf_monotonic_timespec(cf_monotonic_ms() + 200, &ts);
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
    struct cf_job_totals **totals; /* per view: live jobs' counters, else NULL */
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

/* Views of every stored job; live jobs with their plan and counters (lock held until
 * jobs_free, as the views point into live jobs). */
static void jobs_list(struct cf_coord *c, struct jobs_ctx *jc)
{
    memset(jc, 0, sizeof(*jc));
    cf_jobstore_each(c->jobs, collect_job, jc);
    jc->views = cf_calloc((size_t)jc->n + 1, sizeof(*jc->views));
    jc->totals = cf_calloc((size_t)jc->n + 1, sizeof(*jc->totals));
    for (int i = 0; i < jc->n; i++) {
        struct cf_job_view *v = &jc->views[i];
        v->id = jc->recs[i].id;
        v->name = jc->recs[i].name;
        v->state = jc->recs[i].state;
        v->start_time = jc->recs[i].start_time;
        v->end_time = jc->recs[i].end_time;
        v->now = cf_now_ms();
        const struct job *j = cf_coord_live_job(c, v->id);
        if (j && j->plan) {
            jc->totals[i] = job_totals(j);
            v->plan = j->plan;
            v->vstats = jc->totals[i]->vertices;
        }
    }
}

static void jobs_free(struct jobs_ctx *jc)
{
    for (int i = 0; i < jc->n; i++) {
        cf_job_record_clear(&jc->recs[i]);
        job_totals_free(jc->totals[i]);
    }
    cf_free(jc->recs);
    cf_free(jc->views);
    cf_free(jc->totals);
}

static void h_jobs(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_coord *c = arg;
    struct jobs_ctx jc;
    pthread_mutex_lock(&c->lock);
    jobs_list(c, &jc);
    cJSON *body = cf_rest_jobs(jc.views, jc.n);
    jobs_free(&jc);
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_json(resp, 200, body);
}

static void h_jobs_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_coord *c = arg;
    struct jobs_ctx jc;
    pthread_mutex_lock(&c->lock);
    jobs_list(c, &jc);
    cJSON *body = cf_rest_jobs_overview(jc.views, jc.n);
    jobs_free(&jc);
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_json(resp, 200, body);
}

static void h_job(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    struct cf_job_record rec;
    pthread_mutex_lock(&c->lock);
    struct job *live = cf_coord_live_job(c, jid ? jid : "");
    if (live && live->plan) {
        struct cf_job_totals *t = job_totals(live);
        struct cf_job_view v = {.id = live->rec.id,
                                .name = live->rec.name,
                                .state = live->rec.state,
                                .start_time = live->rec.start_time,
                                .end_time = -1,
                                .now = cf_now_ms(),
                                .plan = live->plan,
                                .vstats = t->vertices};
        memcpy(v.state_since, live->state_since, sizeof(v.state_since));
        cJSON *body = cf_rest_job_details(&v);
        job_totals_free(t);
        pthread_mutex_unlock(&c->lock);
        cf_http_resp_json(resp, 200, body);
        return;
    }
    int rc = cf_jobstore_get(c->jobs, jid ? jid : "", &rec);
    /* A copy: the archive may drop the job once the lock is released. */
    const struct cf_job_archive *a = rc ? NULL : find_archive(c, rec.id);
    struct cf_job_totals *totals = a && a->totals ? job_totals_copy(a->totals) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return;
    }
    /* An ended job: its vertices from the stored spec, with the final counters if kept. */
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_plan *plan = plan_spec(rec.spec, rec.parallelism, &err);
    int counted = plan && totals && plan->nvertices == totals->nvertices;
    struct cf_job_view v = {.id = rec.id,
                            .name = rec.name,
                            .state = rec.state,
                            .start_time = rec.start_time,
                            .end_time = rec.end_time,
                            .now = cf_now_ms(),
                            .plan = plan,
                            .vstats = counted ? totals->vertices : NULL};
    cf_http_resp_json(resp, 200, cf_rest_job_details(&v));
    cf_plan_destroy(plan);
    job_totals_free(totals);
    cf_job_record_clear(&rec);
}

int cf_coord_submit(struct cf_coord *c, const struct cf_submit *sub, char job_id[CF_ID_LEN + 1],
                    struct cf_err *err)
{
    char *text = cf_strndup(sub->spec, sub->len);
    struct cf_plan *plan = plan_spec(text, sub->parallelism, err);
    char *restore = NULL;
    int64_t restore_id = 0;
    const char *sp = sub->savepoint_path;
    if (plan && sp && *sp) {
        /* Check the savepoint now, so a wrong path or state that fits no operator is an
         * error naming it rather than a failing job. */
        if (cf_ckpt_check_restore(plan, sp, sub->allow_non_restored, &restore_id, err) != 0) {
            cf_plan_destroy(plan);
            plan = NULL;
        } else {
            restore = cf_strdup(sp);
        }
    }
    if (!plan) {
        cf_free(text);
        return -1;
    }
    struct job *j = cf_new(struct job);
    cf_id_new(j->rec.id);
    j->rec.name = cf_strdup(plan->spec->name);
    j->rec.spec = text;
    j->rec.parallelism = sub->parallelism;
    j->rec.start_time = cf_now_ms();
    j->rec.end_time = -1;
    j->plan = plan;
    j->nslots = cf_plan_slots(plan);
    j->attempt = 1;
    j->rec.restore_path = restore;
    j->rec.allow_non_restored = sub->allow_non_restored;
    cf_ckpt_job_init(j);
    j->ck.last_id = restore_id; /* checkpoint ids continue after the savepoint's */
    snprintf(job_id, CF_ID_LEN + 1, "%s", j->rec.id);
    pthread_mutex_lock(&c->lock);
    job_set_state(c, j, CF_JOB_CREATED);
    j->next = c->live;
    c->live = j;
    pthread_cond_broadcast(&c->stop_cond);
    pthread_mutex_unlock(&c->lock);
    cf_note("job %s (%s) submitted: %d slots", job_id, plan->spec->name, cf_plan_slots(plan));
    return 0;
}

/* POST /jobs: body = a job spec; ?parallelism=N, savepointPath, allowNonRestoredState.
 * Validated here (400 with every problem), scheduled and deployed by the monitor thread. */
static void h_submit(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    struct cf_submit sub = {0};
    sub.spec = cf_http_req_body(req, &sub.len);
    const char *p = cf_http_req_query(req, "parallelism");
    if (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (*end || v < 1 || v > 4096) {
            cf_http_resp_error(resp, 400, "parallelism: must be an integer between 1 and 4096");
            return;
        }
        sub.parallelism = (int)v;
    }
    sub.savepoint_path = cf_http_req_query(req, "savepointPath");
    const char *anr = cf_http_req_query(req, "allowNonRestoredState");
    sub.allow_non_restored = anr && (!strcmp(anr, "true") || !strcmp(anr, "1"));
    struct cf_err err;
    cf_err_clear(&err);
    char jid[CF_ID_LEN + 1];
    if (cf_coord_submit(c, &sub, jid, &err) != 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "errors");
        for (char *line = strtok(err.msg, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(line));
        }
        cf_http_resp_json(resp, 400, o);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jobid", jid);
    cf_http_resp_json(resp, 202, o);
}

int cf_coord_cancel(struct cf_coord *c, const char *jid, struct cf_err *err)
{
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, jid);
    int known = j != NULL;
    if (j && !j->cancel_requested) {
        j->cancel_requested = 1;
        job_set_state(c, j, CF_JOB_CANCELLING);
        pthread_cond_broadcast(&c->stop_cond);
    }
    struct cf_job_record rec;
    int stored = !known && cf_jobstore_get(c->jobs, jid, &rec) == 0;
    pthread_mutex_unlock(&c->lock);
    if (known) {
        return 202;
    }
    if (stored) {
        cf_err_set(err, CF_EFAILED, "job %s is already %s", rec.id, cf_job_state_name(rec.state));
        cf_job_record_clear(&rec);
        return 409;
    }
    cf_err_set(err, CF_ENOENT, "job %s not found", jid);
    return 404;
}

/* PATCH /jobs/:jid?mode=cancel */
static void h_cancel(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    const char *jid = cf_http_req_param(req, "jid");
    const char *mode = cf_http_req_query(req, "mode");
    if (mode && strcmp(mode, "cancel") != 0) {
        cf_http_resp_error(resp, 400, "mode '%s' is not supported (use mode=cancel)", mode);
        return;
    }
    struct cf_err err;
    cf_err_clear(&err);
    int status = cf_coord_cancel(arg, jid ? jid : "", &err);
    if (status == 202) {
        cf_http_resp_json(resp, 202, cJSON_CreateObject());
    } else {
        cf_http_resp_error(resp, status, "%s", err.msg);
    }
}

int cf_coord_job_status(struct cf_coord *c, const char *jid, struct cf_coord_job_status *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&c->lock);
    const struct job *j = cf_coord_live_job(c, jid);
    struct cf_job_record rec;
    int rc = 0;
    if (j) {
        st->state = j->rec.state;
        snprintf(st->failure, sizeof(st->failure), "%s", j->rec.failure ? j->rec.failure : "");
        st->totals = j->plan ? job_totals(j) : NULL;
    } else if (cf_jobstore_get(c->jobs, jid, &rec) == 0) {
        st->state = rec.state;
        snprintf(st->failure, sizeof(st->failure), "%s", rec.failure ? rec.failure : "");
        const struct cf_job_archive *a = find_archive(c, jid);
        if (a && a->totals) {
            st->totals = job_totals_copy(a->totals);
        }
        cf_job_record_clear(&rec);
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void cf_coord_job_status_clear(struct cf_coord_job_status *st)
{
    job_totals_free(st->totals);
    st->totals = NULL;
}

/* Loads jobs that had not ended when the coordinator stopped: they restart from scratch
 * once workers register (recovery from checkpoints is issue [4]). */
static int resume_job(void *arg, const struct cf_job_record *rec)
{
    struct cf_coord *c = arg;
    if (cf_job_state_terminal(rec->state)) {
        return 0;
    }
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_plan *plan = plan_spec(rec->spec ? rec->spec : "", rec->parallelism, &err);
    struct job *j = cf_new(struct job);
    j->rec = *rec;
    j->rec.name = cf_strdup(rec->name ? rec->name : "");
    j->rec.spec = cf_strdup(rec->spec ? rec->spec : "");
    j->rec.failure = rec->failure ? cf_strdup(rec->failure) : NULL;
    j->rec.restore_path = rec->restore_path ? cf_strdup(rec->restore_path) : NULL;
    j->rec.checkpoint_path = rec->checkpoint_path ? cf_strdup(rec->checkpoint_path) : NULL;
    j->rec.retained = rec->retained ? cf_strdup(rec->retained) : NULL;
    j->attempt = (unsigned)rec->restarts + 2;
    j->rec.restarts = rec->restarts + 1;
    j->next = c->live;
    c->live = j;
    if (!plan) {
        j->rec.end_time = cf_now_ms();
        cf_free(j->rec.failure);
        j->rec.failure = cf_strdup(err.msg);
        j->plan = NULL;
        j->cancel_requested = 0;
        return 0;
    }
    j->plan = plan;
    j->nslots = cf_plan_slots(plan);
    cf_ckpt_job_init(j);
    cf_info("job %s (%s) was %s when the coordinator stopped: restarting it", j->rec.id,
            j->rec.name, cf_job_state_name(rec->state));
    return 0;
}

/* GET /jobs/:jid/plan: the live job's plan, or the stored spec planned again. */
static void h_plan(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    struct cf_job_record rec;
    pthread_mutex_lock(&c->lock);
    struct job *live = cf_coord_live_job(c, jid ? jid : "");
    if (live && live->plan) {
        struct cf_job_view v = {.id = live->rec.id, .name = live->rec.name, .plan = live->plan};
        cJSON *body = cf_rest_job_plan(&v);
        pthread_mutex_unlock(&c->lock);
        cf_http_resp_json(resp, 200, body);
        return;
    }
    int rc = cf_jobstore_get(c->jobs, jid ? jid : "", &rec);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return;
    }
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_plan *plan = plan_spec(rec.spec ? rec.spec : "", rec.parallelism, &err);
    struct cf_job_view v = {.id = rec.id, .name = rec.name, .plan = plan};
    cf_http_resp_json(resp, 200, cf_rest_job_plan(&v));
    cf_plan_destroy(plan);
    cf_job_record_clear(&rec);
}

/* ---- vertices ---- */

static const char *const task_state_names[] = {
    [CF__TASK_STATE__TASK_STATE_UNSPECIFIED] = "CREATED",
    [CF__TASK_STATE__TASK_STATE_CREATED] = "CREATED",
    [CF__TASK_STATE__TASK_STATE_DEPLOYING] = "DEPLOYING",
    [CF__TASK_STATE__TASK_STATE_INITIALIZING] = "INITIALIZING",
    [CF__TASK_STATE__TASK_STATE_RUNNING] = "RUNNING",
    [CF__TASK_STATE__TASK_STATE_FINISHED] = "FINISHED",
    [CF__TASK_STATE__TASK_STATE_CANCELING] = "CANCELING",
    [CF__TASK_STATE__TASK_STATE_CANCELED] = "CANCELED",
    [CF__TASK_STATE__TASK_STATE_FAILED] = "FAILED",
};

enum vertex_view { VX_DETAILS, VX_BACKPRESSURE, VX_WATERMARKS };

/* Builds the body of a vertex endpoint from the subtasks' latest counters (lock held). */
static cJSON *vertex_body(struct cf_coord *c, const struct cf_job_view *v, int vertex,
                          const struct vmetric *ms, int nms, unsigned attempt,
                          enum vertex_view what)
{
    int p = v->plan->vertices[vertex].parallelism;
    struct cf_subtask_view *subs = cf_calloc((size_t)p, sizeof(*subs));
    for (int s = 0; s < p; s++) {
        subs[s].state = cf_job_state_terminal(v->state) ? cf_job_state_name(v->state)
                        : v->state == CF_JOB_RUNNING    ? "DEPLOYING"
                                                        : "CREATED";
        subs[s].attempt = (int)attempt - 1;
        subs[s].host = subs[s].worker_id = "";
        subs[s].watermark = INT64_MIN;
    }
    for (int x = 0; x < nms; x++) {
        const struct vmetric *vm = &ms[x];
        if (vm->vertex != vertex || vm->subtask >= p) {
            continue;
        }
        struct cf_subtask_view *sv = &subs[vm->subtask];
        if (vm->state > 0 && vm->state <= CF__TASK_STATE__TASK_STATE_FAILED) {
            sv->state = task_state_names[vm->state];
        }
        int w = find_worker(c, vm->worker_id);
        sv->host = w >= 0 ? c->workers[w].host : "";
        sv->worker_id = vm->worker_id;
        sv->records_in = vm->records_in;
        sv->records_out = vm->records_out;
        sv->backpressured_ms = vm->backpressured_ms;
        sv->bp_ratio = vm->bp_ratio;
        sv->watermark = vm->watermark;
    }
    cJSON *body = what == VX_DETAILS        ? cf_rest_vertex_details(v, vertex, subs)
                  : what == VX_BACKPRESSURE ? cf_rest_vertex_backpressure(v, vertex, subs)
                                            : cf_rest_vertex_watermarks(v, vertex, subs);
    cf_free(subs);
    return body;
}

/* The vertex of a plan whose id is vid, or -1. */
static int vertex_of(const char *jid, const struct cf_plan *plan, const char *vid)
{
    for (int x = 0; plan && x < plan->nvertices; x++) {
        char id[33];
        cf_rest_vertex_id(jid, x, id);
        if (!strcmp(id, vid)) {
            return x;
        }
    }
    return -1;
}

/* GET /jobs/:jid/vertices/:vid[/backpressure|/watermarks], of running and ended jobs. */
static void vertex_endpoint(struct cf_coord *c, struct cf_http_req *req, struct cf_http_resp *resp,
                            enum vertex_view what)
{
    const char *jid = cf_http_req_param(req, "jid");
    const char *vid = cf_http_req_param(req, "vid");
    jid = jid ? jid : "";
    vid = vid ? vid : "";
    struct cf_job_record rec;
    struct cf_plan *stored_plan = NULL;
    pthread_mutex_lock(&c->lock);
    const struct job *j = cf_coord_live_job(c, jid);
    int found = j && j->plan;
    if (!found && cf_jobstore_get(c->jobs, jid, &rec) == 0) {
        /* Ended: the plan from the stored spec, the counters from the archive if kept. */
        struct cf_err err;
        cf_err_clear(&err);
        stored_plan = plan_spec(rec.spec, rec.parallelism, &err);
        found = 1;
    } else {
        memset(&rec, 0, sizeof(rec));
    }
    if (!found) {
        pthread_mutex_unlock(&c->lock);
        cf_http_resp_error(resp, 404, "job %s not found", jid);
        return;
    }
    const struct cf_job_record *r = j && j->plan ? &j->rec : &rec;
    const struct cf_plan *plan = j && j->plan ? j->plan : stored_plan;
    int vertex = vertex_of(r->id, plan, vid);
    cJSON *body = NULL;
    if (vertex >= 0) {
        struct cf_job_view v = {.id = r->id,
                                .name = r->name,
                                .state = r->state,
                                .start_time = r->start_time,
                                .end_time = r->end_time,
                                .now = cf_now_ms(),
                                .plan = plan};
        const struct cf_job_archive *a = j && j->plan ? NULL : find_archive(c, r->id);
        body = j && j->plan ? vertex_body(c, &v, vertex, j->metrics, j->nmetrics, j->attempt, what)
               : a          ? vertex_body(c, &v, vertex, a->metrics, a->nmetrics, a->attempt, what)
                            : vertex_body(c, &v, vertex, NULL, 0, 1, what);
    }
    pthread_mutex_unlock(&c->lock);
    if (body) {
        cf_http_resp_json(resp, 200, body);
    } else {
        cf_http_resp_error(resp, 404, "job %s has no vertex %s", jid, vid);
    }
    cf_plan_destroy(stored_plan);
    cf_job_record_clear(&rec);
}

static void h_vertex(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    vertex_endpoint(arg, req, resp, VX_DETAILS);
}

static void h_vertex_backpressure(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    vertex_endpoint(arg, req, resp, VX_BACKPRESSURE);
}

static void h_vertex_watermarks(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    vertex_endpoint(arg, req, resp, VX_WATERMARKS);
}

/* GET /jobs/:jid/exceptions: the last failure (Flink's exceptionHistory shape). */
static void h_exceptions(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
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
    cJSON *o = cJSON_CreateObject();
    cJSON *hist = cJSON_AddObjectToObject(o, "exceptionHistory");
    cJSON *entries = cJSON_AddArrayToObject(hist, "entries");
    if (rec.failure && rec.failure[0]) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "exceptionName", "JobFailure");
        cJSON_AddStringToObject(e, "stacktrace", rec.failure);
        cJSON_AddNumberToObject(e, "timestamp",
                                (double)(rec.end_time > 0 ? rec.end_time : rec.start_time));
        cJSON_AddNumberToObject(e, "restarts", (double)rec.restarts);
        cJSON_AddItemToArray(entries, e);
    }
    cJSON_AddBoolToObject(hist, "truncated", 0);
    cf_http_resp_json(resp, 200, o);
    cf_job_record_clear(&rec);
}

/* GET /metrics: Prometheus text for the cluster and the running jobs' vertices. */
static void h_metrics(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)req;
    struct cf_coord *c = arg;
    struct cf_buf b;
    cf_buf_init(&b);
    pthread_mutex_lock(&c->lock);
    int slots = 0, free_slots = 0;
    for (int i = 0; i < c->nworkers; i++) {
        slots += c->workers[i].slots;
        free_slots += c->workers[i].free_slots;
    }
    cf_buf_appendf(&b, "# TYPE creekflow_taskmanagers gauge\ncreekflow_taskmanagers %d\n",
                   c->nworkers);
    cf_buf_appendf(&b, "# TYPE creekflow_slots_total gauge\ncreekflow_slots_total %d\n", slots);
    cf_buf_appendf(&b, "# TYPE creekflow_slots_available gauge\ncreekflow_slots_available %d\n",
                   free_slots);
    static const char *const names[] = {"records_in", "records_out", "records_dropped"};
    for (int m = 0; m < 2; m++) {
        cf_buf_appendf(&b, "# TYPE creekflow_task_%s_total counter\n", names[m]);
        for (struct job *j = c->live; j; j = j->next) {
            for (int x = 0; x < j->nmetrics; x++) {
                const struct vmetric *vm = &j->metrics[x];
                cf_buf_appendf(&b,
                               "creekflow_task_%s_total{job_id=\"%s\",vertex=\"%d\",subtask=\"%d\","
                               "worker=\"%s\"} %llu\n",
                               names[m], j->rec.id, vm->vertex, vm->subtask, vm->worker_id,
                               (unsigned long long)(m == 0 ? vm->records_in : vm->records_out));
            }
        }
    }
    for (int m = 0; m < 3; m++) {
        cf_buf_appendf(&b, "# TYPE creekflow_operator_%s_total counter\n", names[m]);
        for (struct job *j = c->live; j; j = j->next) {
            for (int x = 0; x < j->nmetrics; x++) {
                const struct vmetric *vm = &j->metrics[x];
                for (int i = 0; i < j->plan->nops; i++) {
                    if (j->plan->ops[i].vertex != vm->vertex) {
                        continue;
                    }
                    const struct cf_runtime_op_stats *os = &vm->ops[i];
                    cf_buf_appendf(&b,
                                   "creekflow_operator_%s_total{job_id=\"%s\",operator=\"%s\","
                                   "vertex=\"%d\",subtask=\"%d\",worker=\"%s\"} %llu\n",
                                   names[m], j->rec.id, j->plan->ops[i].decl.id, vm->vertex,
                                   vm->subtask, vm->worker_id,
                                   (unsigned long long)(m == 0   ? os->records_in
                                                        : m == 1 ? os->records_out
                                                                 : os->dropped));
                }
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_text(resp, 200, "text/plain; version=0.0.4", b.data, b.len);
    cf_buf_destroy(&b);
}

/* ---- lifecycle ---- */

struct cf_coord *cf_coord_start(const struct cf_coord_opts *opts, struct cf_err *err)
{
    struct cf_coord *c = cf_new(struct cf_coord);
    c->opts = *opts;
    if (c->opts.slot_request_timeout_ms <= 0) {
        c->opts.slot_request_timeout_ms = 5 * 60 * 1000;
    }
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
    cf_jobstore_each(c->jobs, resume_job, c);
    for (struct job **pp = &c->live; *pp;) {
        struct job *j = *pp;
        if (j->plan) {
            job_set_state(c, j, CF_JOB_RESTARTING);
            pp = &j->next;
            continue;
        }
        job_set_state(c, j, CF_JOB_FAILED); /* its spec no longer plans with this version */
        *pp = j->next;
        job_free(j);
    }
    c->rpc = cf_rpc_server_create(opts->bind, opts->rpc_port, err);
    if (!c->rpc) {
        cf_coord_stop(c);
        return NULL;
    }
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_REGISTER_WORKER, rpc_register, c);
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_HEARTBEAT, rpc_heartbeat, c);
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_REPORT_TASK_STATE, rpc_report, c);
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
    cf_http_route(c->http, "POST", "/jobs", h_submit, c);
    cf_http_route(c->http, "PATCH", "/jobs/:jid", h_cancel, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/plan", h_plan, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/exceptions", h_exceptions, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/vertices/:vid", h_vertex, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/vertices/:vid/backpressure", h_vertex_backpressure,
                  c);
    cf_http_route(c->http, "GET", "/jobs/:jid/vertices/:vid/watermarks", h_vertex_watermarks, c);
    cf_http_route(c->http, "GET", "/metrics", h_metrics, c);
    cf_ckpt_serve(c);
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
    while (c->live) {
        struct job *j = c->live;
        c->live = j->next;
        job_free(j);
    }
    cf_jobstore_close(c->jobs);
    cf_ckpt_ops_free(c);
    while (c->archive) {
        struct cf_job_archive *a = c->archive;
        c->archive = a->next;
        archive_free(a);
    }
    for (int i = 0; i < c->nworkers; i++) {
        cf_rpc_channel_destroy(c->workers[i].ch);
    }
    cf_free(c->workers);
    pthread_cond_destroy(&c->stop_cond);
    pthread_mutex_destroy(&c->lock);
    cf_free(c);
}
