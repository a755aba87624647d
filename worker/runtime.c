#include "runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/keys.h"
#include "runtime_int.h"
#include "state.h"

static const char *const state_names[] = {
#define CF_JOB_STATE_NAME(name, text) text,
    CF_JOB_STATES(CF_JOB_STATE_NAME)
#undef CF_JOB_STATE_NAME
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == CF_JOB__COUNT,
               "state_names covers every state");

const char *cf_job_state_name(enum cf_job_state state)
{
    return (unsigned)state < CF_JOB__COUNT ? state_names[state] : "UNKNOWN";
}

int cf_job_state_terminal(enum cf_job_state state)
{
    return state == CF_JOB_FAILED || state == CF_JOB_CANCELED || state == CF_JOB_FINISHED ||
           state == CF_JOB_SUSPENDED;
}

/* ---- the operator API (task thread) ---- */

struct cf_batch *cf_op_batch_get(struct cf_op *op, int out)
{
    return cf_batch_pool_get(op->routes[out].pool);
}

int cf_op_has_consumers(const struct cf_op *op, int out)
{
    return op->routes[out].ntargets > 0;
}

static int process_in(struct cf_op *op, struct cf_batch *batch)
{
    CF_STAT_ADD(op->metrics.records_in, batch->n);
    return op->decl->plugin->process(op, batch);
}

static struct cf_batch *clone_batch(struct cf_op *op, int out, const struct cf_batch *batch)
{
    struct cf_batch *copy = cf_op_batch_get(op, out);
    for (uint32_t r = 0; r < batch->n; r++) {
        cf_batch_copy_row(copy, batch, r);
    }
    return copy;
}

int cf_op_emit(struct cf_op *op, int out, struct cf_batch *batch)
{
    struct cf_op_route *route = &op->routes[out];
    if (batch->n == 0) {
        cf_batch_release(batch);
        return 0;
    }
    CF_STAT_ADD(op->metrics.records_out[out], batch->n);
    if (route->ntargets == 0) {
        CF_STAT_ADD(op->metrics.dropped[out], batch->n);
        cf_batch_release(batch);
        return 0;
    }
    int rc = 0;
    for (int t = 0; t < route->ntargets && rc == 0; t++) {
        /* Fan-out: every consumer but the last gets a copy (consumers modify batches). */
        struct cf_batch *b = t + 1 < route->ntargets ? clone_batch(op, out, batch) : batch;
        struct cf_op_target *target = &route->targets[t];
        rc = target->op ? process_in(target->op, b) : cf_xwriter_send(target->xw, b);
        if (t + 1 == route->ntargets) {
            batch = NULL;
        }
    }
    cf_batch_release(batch);
    return rc;
}

static int deliver_watermark(struct cf_op *op, int64_t wm)
{
    if (wm <= op->watermark) {
        return 0;
    }
    __atomic_store_n(&op->watermark, wm, __ATOMIC_RELAXED); /* read by metrics */
    if (op->decl->plugin->on_watermark) {
        return op->decl->plugin->on_watermark(op, wm);
    }
    return cf_op_emit_watermark(op, wm);
}

int cf_op_emit_watermark(struct cf_op *op, int64_t wm)
{
    if (wm <= op->out_watermark) {
        return 0;
    }
    __atomic_store_n(&op->out_watermark, wm, __ATOMIC_RELAXED); /* read by metrics */
    for (int o = 0; o < op->decl->noutputs; o++) {
        struct cf_op_route *route = &op->routes[o];
        for (int t = 0; t < route->ntargets; t++) {
            struct cf_op_target *target = &route->targets[t];
            int rc = target->op ? deliver_watermark(target->op, wm)
                                : cf_xwriter_watermark(target->xw, wm);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

void cf_op_timer_set(struct cf_op *op, int64_t at_ms)
{
    struct cf_task *task = op->task;
    for (int i = 0; i < task->ntimers; i++) {
        if (task->timers[i].op == op && task->timers[i].at == at_ms) {
            return;
        }
    }
    if (task->ntimers == task->cap_timers) {
        task->cap_timers = task->cap_timers ? task->cap_timers * 2 : 8;
        task->timers = cf_realloc(task->timers, (size_t)task->cap_timers * sizeof(*task->timers));
    }
    task->timers[task->ntimers].at = at_ms;
    task->timers[task->ntimers].op = op;
    task->ntimers++;
}

int cf_op_canceled(const struct cf_op *op)
{
    return __atomic_load_n(&op->task->rt->canceled, __ATOMIC_RELAXED);
}

int cf_op_fail(struct cf_op *op, const char *fmt, ...)
{
    struct cf_task *task = op->task;
    if (!task->failure[0]) {
        int n = snprintf(task->failure, sizeof(task->failure), "%s (subtask %d/%d): ", op->decl->id,
                         op->subtask + 1, op->parallelism);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof(task->failure)) {
            vsnprintf(task->failure + n, sizeof(task->failure) - (size_t)n, fmt, ap);
        }
        va_end(ap);
    }
    return CF_EFAILED;
}

struct cf_state_ns *cf_op_state(struct cf_op *op, struct cf_err *err)
{
    struct cf_task *task = op->task;
    if (!task->kv) {
        char *dir =
            cf_asprintf("%s/v%d-s%d", task->rt->state_dir, task->vertex->index, task->subtask);
        int rc = cf_state_open(dir, &task->kv, err);
        cf_free(dir);
        if (rc) {
            return NULL;
        }
    }
    if (!op->ns) {
        cf_state_ns_open(task->kv, op->decl->id, &op->ns, err);
    }
    return op->ns;
}

const char *cf_op_job_id(const struct cf_op *op)
{
    return op->task->rt->job_id;
}

void *cf_op_shared(struct cf_op *op, void *(*create)(struct cf_op *op), void (*destroy)(void *obj))
{
    struct cf_runtime *rt = op->task->rt;
    pthread_mutex_lock(&rt->lock);
    void *obj = NULL;
    for (int i = 0; i < rt->nshared && !obj; i++) {
        if (rt->shared[i].op == op->decl->index) {
            obj = rt->shared[i].obj;
        }
    }
    if (!obj) {
        obj = create(op);
        rt->shared = cf_realloc(rt->shared, (size_t)(rt->nshared + 1) * sizeof(*rt->shared));
        rt->shared[rt->nshared++] = (struct cf_rt_shared){op->decl->index, obj, destroy};
    }
    pthread_mutex_unlock(&rt->lock);
    return obj;
}

int cf_op_subtask_local(const struct cf_op *op, int s)
{
    struct cf_runtime *rt = op->task->rt;
    return s >= 0 && s < op->parallelism && !cf_rt_task(rt, op->task->vertex->index, s)->remote;
}

const char *cf_op_log_prefix(const struct cf_op *op)
{
    return op->task->log_ctx;
}

/* ---- task threads ---- */

static int64_t next_timer(const struct cf_task *task)
{
    int64_t at = INT64_MAX;
    for (int i = 0; i < task->ntimers; i++) {
        if (task->timers[i].at < at) {
            at = task->timers[i].at;
        }
    }
    return at;
}

static int fire_timers(struct cf_task *task)
{
    if (task->ntimers == 0) {
        return 0;
    }
    int64_t now = cf_now_ms();
    for (int i = 0; i < task->ntimers;) {
        if (task->timers[i].at <= now) {
            struct cf_op *op = task->timers[i].op;
            task->timers[i] = task->timers[--task->ntimers];
            if (op->decl->plugin->on_timer) {
                int rc = op->decl->plugin->on_timer(op, now);
                if (rc) {
                    return rc;
                }
            }
            i = 0; /* the callback may have added timers */
        } else {
            i++;
        }
    }
    return 0;
}

/* Wakes the local consumers of what the task sent deferred: before it waits or idles. */
static void kick_exchanges(struct cf_task *task)
{
    for (int i = 0; i < task->nxw; i++) {
        cf_xwriter_kick(task->xws[i]);
    }
}

void cf_op_idle(struct cf_op *op)
{
    kick_exchanges(op->task);
}

/* The task goes idle: sends what exchanges hold back and wakes their consumers. */
static int flush_exchanges(struct cf_task *task)
{
    for (int i = 0; i < task->nxw; i++) {
        int rc = cf_xwriter_flush(task->xws[i]);
        if (rc) {
            return rc;
        }
    }
    kick_exchanges(task);
    return 0;
}

/* End of input: the final watermark, then finish() in chain order, then end-of-stream. */
static int finish_chain(struct cf_task *task)
{
    struct cf_op *head = &task->ops[0];
    int rc = head->decl->plugin->kind == CF_OP_KIND_SOURCE ? cf_op_emit_watermark(head, CF_TS_MAX)
                                                           : deliver_watermark(head, CF_TS_MAX);
    for (int k = 0; k < task->nops && rc == 0; k++) {
        struct cf_op *op = &task->ops[k];
        if (op->decl->plugin->finish) {
            rc = op->decl->plugin->finish(op);
        }
    }
    for (int i = 0; i < task->nxw && rc == 0; i++) {
        rc = cf_xwriter_eos(task->xws[i]);
    }
    return rc;
}

void cf_rt_idle_wait(struct cf_runtime *rt, int64_t deadline_ms)
{
    pthread_mutex_lock(&rt->lock);
    if (!rt->canceled) {
        struct timespec ts;
        cf_monotonic_timespec(deadline_ms, &ts);
        pthread_cond_timedwait(&rt->changed, &rt->lock, &ts);
    }
    pthread_mutex_unlock(&rt->lock);
}

static int run_source(struct cf_task *task)
{
    struct cf_op *head = &task->ops[0];
    for (;;) {
        if (cf_op_canceled(head)) {
            return CF_ECANCELED;
        }
        int rc = fire_timers(task);
        if (rc == 0) {
            rc = cf_rt_ckpt_source_step(task);
        }
        if (rc) {
            return rc;
        }
        int64_t wait_ms = 10;
        rc = task->ck_stopped ? CF_EAGAIN : head->decl->plugin->poll(head, &wait_ms);
        if (rc == CF_EEOF) {
            rc = finish_chain(task);
            return rc ? rc : cf_rt_ckpt_end_of_input(task);
        }
        if (rc == CF_EAGAIN) {
            rc = flush_exchanges(task);
            if (rc) {
                return rc;
            }
            int64_t deadline = cf_monotonic_ms() + (wait_ms > 0 ? wait_ms : 1);
            int64_t t = next_timer(task);
            if (t != INT64_MAX) {
                int64_t until = t - cf_now_ms();
                if (cf_monotonic_ms() + until < deadline) {
                    deadline = cf_monotonic_ms() + (until > 0 ? until : 0);
                }
            }
            cf_rt_idle_wait(task->rt, deadline);
        } else if (rc) {
            return rc;
        }
    }
}

static int64_t min_open_watermark(const struct cf_task *task)
{
    int64_t wm = CF_TS_MAX;
    for (int c = 0; c < cf_gate_channels(task->gate); c++) {
        if (!task->chan_done[c] && task->chan_wm[c] < wm) {
            wm = task->chan_wm[c];
        }
    }
    return wm;
}

static int run_consumer(struct cf_task *task)
{
    struct cf_op *head = &task->ops[0];
    int idle_flushed = 1;
    for (;;) {
        int rc = fire_timers(task);
        if (rc == 0) {
            rc = cf_rt_ckpt_notify_step(task);
        }
        if (rc) {
            return rc;
        }
        /* Wake for the next timer, and after 50 ms without input flush partial batches. */
        int64_t deadline = -1;
        int64_t t = next_timer(task);
        if (t != INT64_MAX) {
            int64_t until = t - cf_now_ms();
            deadline = cf_monotonic_ms() + (until > 0 ? until : 0);
        }
        if (!idle_flushed) {
            int64_t d = cf_monotonic_ms() + 50;
            deadline = deadline < 0 || d < deadline ? d : deadline;
        }
        int ch;
        struct cf_msg msg;
        kick_exchanges(task); /* the pop may wait */
        rc = cf_gate_pop(task->gate, &ch, &msg, deadline);
        if (rc == CF_EAGAIN) {
            if (!idle_flushed) {
                rc = flush_exchanges(task);
                if (rc) {
                    return rc;
                }
                idle_flushed = 1;
            }
            continue;
        }
        if (rc) {
            return rc;
        }
        idle_flushed = 0;
        switch (msg.kind) {
        case CF_MSG_BATCH: rc = process_in(head, msg.batch); break;
        case CF_MSG_WATERMARK:
            if (msg.value > task->chan_wm[ch]) {
                task->chan_wm[ch] = msg.value;
                rc = deliver_watermark(head, min_open_watermark(task));
            }
            break;
        case CF_MSG_EOS:
            if (!task->chan_done[ch]) {
                task->chan_done[ch] = 1;
                if (--task->chans_open == 0) {
                    rc = finish_chain(task);
                    return rc ? rc : cf_rt_ckpt_end_of_input(task);
                }
                rc = deliver_watermark(head, min_open_watermark(task));
                if (rc == 0) {
                    rc = cf_rt_ckpt_channel_done(task);
                }
            }
            break;
        case CF_MSG_BARRIER: rc = cf_rt_ckpt_barrier(task, ch, msg.value); break;
        default: break;
        }
        if (rc) {
            return rc;
        }
    }
}

static void task_end(struct cf_task *task, int state)
{
    struct cf_runtime *rt = task->rt;
    pthread_mutex_lock(&rt->lock);
    task->state = state;
    if (state == CF_JOB_FAILED && !rt->failed) {
        rt->failed = 1;
        snprintf(rt->failure, sizeof(rt->failure), "%s", task->failure);
    }
    if (--rt->running == 0) {
        if (rt->failed) {
            rt->state = CF_JOB_FAILED;
        } else if (rt->canceled) {
            rt->state = CF_JOB_CANCELED;
        } else {
            rt->state = CF_JOB_FINISHED;
        }
    }
    pthread_cond_broadcast(&rt->changed);
    pthread_mutex_unlock(&rt->lock);
}

static void cancel_all(struct cf_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    rt->canceled = 1;
    pthread_cond_broadcast(&rt->changed);
    pthread_mutex_unlock(&rt->lock);
    for (int i = 0; i < rt->ntasks; i++) {
        struct cf_task *task = &rt->tasks[i];
        if (task->gate) {
            cf_gate_cancel(task->gate);
        }
        for (int x = 0; x < task->nxw; x++) {
            for (int t = 0; t < task->xws[x]->nout; t++) {
                if (task->xws[x]->targets[t].out) {
                    cf_dp_output_cancel(task->xws[x]->targets[t].out);
                }
            }
        }
    }
}

void cf_runtime_fail(struct cf_runtime *rt, const char *reason)
{
    pthread_mutex_lock(&rt->lock);
    if (!rt->failed && !cf_job_state_terminal(rt->state)) {
        rt->failed = 1;
        snprintf(rt->failure, sizeof(rt->failure), "%s", reason);
    }
    pthread_mutex_unlock(&rt->lock);
    cancel_all(rt);
}

static void *task_main(void *arg)
{
    struct cf_task *task = arg;
    struct cf_runtime *rt = task->rt;
    cf_log_ctx_set(task->log_ctx);
    int rc = 0;
    int opened = 0;
    /* Open in chain order; on failure close only what was opened (including the failed
     * operator: its close() frees what its open() built before failing). */
    while (opened < task->nops && rc == 0) {
        struct cf_op *op = &task->ops[opened++];
        if (op->decl->plugin->open) {
            struct cf_err err;
            cf_err_clear(&err);
            rc = op->decl->plugin->open(op, &err);
            if (rc) {
                cf_op_fail(op, "%s", err.msg[0] ? err.msg : cf_strerror(rc));
            }
        }
    }
    if (rc == 0) {
        rc = cf_rt_ckpt_restore(task);
    }
    if (rc == 0) {
        rc = task->gate ? run_consumer(task) : run_source(task);
    }
    for (int k = opened - 1; k >= 0; k--) {
        struct cf_op *op = &task->ops[k];
        if (op->decl->plugin->close) {
            op->decl->plugin->close(op);
        }
    }
    if (task->kv) {
        cf_state_close(task->kv, !rt->keep_state);
        task->kv = NULL;
    }
    int state = CF_JOB_FINISHED;
    if (rc == CF_ECANCELED ||
        (rc && __atomic_load_n(&rt->canceled, __ATOMIC_RELAXED) && !task->failure[0])) {
        state = CF_JOB_CANCELED;
    } else if (rc) {
        state = CF_JOB_FAILED;
        if (!task->failure[0]) {
            snprintf(task->failure, sizeof(task->failure), "%s (subtask %d/%d): %s",
                     task->vertex->name, task->subtask + 1, task->vertex->parallelism,
                     cf_strerror(rc));
        }
        cf_error("task failed: %s", task->failure);
        cancel_all(rt);
    }
    task_end(task, state);
    cf_log_ctx_set(NULL);
    return NULL;
}

/* ---- setup ---- */

/* Index of operator op_index within its vertex's chain. */
static int chain_pos(const struct cf_plan_vertex *v, int op_index)
{
    for (int k = 0; k < v->nops; k++) {
        if (v->ops[k] == op_index) {
            return k;
        }
    }
    return -1;
}

/* "<job>/<attempt>/<up vertex>.<up subtask>-><down vertex>.<down subtask>" */
static char *channel_key(const struct cf_runtime *rt, int uv, int us, int dv, int ds)
{
    return cf_asprintf("%s/%d/%d.%d->%d.%d", rt->job_id, rt->placement.attempt, uv, us, dv, ds);
}

static int xwriter_create(struct cf_runtime *rt, struct cf_task *task,
                          const struct cf_plan_op *consumer, struct cf_batch_pool *pool,
                          struct cf_xwriter **out, struct cf_err *err)
{
    const struct cf_plan_vertex *dv = &rt->plan->vertices[consumer->vertex];
    struct cf_xwriter *xw = cf_new(struct cf_xwriter);
    xw->exchange = consumer->exchange;
    xw->task = task;
    xw->nout = dv->parallelism;
    xw->targets = cf_calloc((size_t)xw->nout, sizeof(*xw->targets));
    xw->chan = task->subtask;
    xw->rr = task->subtask % xw->nout;
    xw->key_idx = consumer->decl.key_idx;
    xw->nkeys = consumer->decl.nkeys;
    xw->max_parallelism = rt->plan->max_parallelism;
    if ((xw->max_parallelism & (xw->max_parallelism - 1)) == 0) {
        xw->kg_mask = (uint64_t)xw->max_parallelism - 1;
    }
    xw->pool = pool;
    xw->watermark = CF_TS_MIN;
    if (xw->exchange == CF_EXCHANGE_HASH) {
        cf_assert(xw->nout <= UINT16_MAX + 1);
        xw->pending = cf_calloc((size_t)xw->nout, sizeof(*xw->pending));
        xw->used = consumer->in_used;
        xw->hashes = cf_calloc(CF_BATCH_ROWS, sizeof(*xw->hashes));
        xw->kg_target = cf_calloc((size_t)xw->max_parallelism, sizeof(*xw->kg_target));
        for (int kg = 0; kg < xw->max_parallelism; kg++) {
            xw->kg_target[kg] = (uint16_t)cf_key_group_subtask(kg, xw->max_parallelism, xw->nout);
        }
        xw->row_target = cf_calloc(CF_BATCH_ROWS, sizeof(*xw->row_target));
        xw->row_dst = cf_calloc(CF_BATCH_ROWS, sizeof(*xw->row_dst));
        xw->count = cf_calloc((size_t)xw->nout, sizeof(*xw->count));
        xw->fill = cf_calloc((size_t)xw->nout, sizeof(*xw->fill));
        xw->min_ts = cf_calloc((size_t)xw->nout, sizeof(*xw->min_ts));
        xw->dst_data = cf_calloc((size_t)xw->nout, sizeof(*xw->dst_data));
        xw->dst_nulls = cf_calloc((size_t)xw->nout, sizeof(*xw->dst_nulls));
    }
    task->xws = cf_realloc(task->xws, (size_t)(task->nxw + 1) * sizeof(*task->xws));
    task->xws[task->nxw++] = xw;
    *out = xw;
    for (int s = 0; s < xw->nout; s++) {
        xw->targets[s].wm_sent = CF_TS_MIN;
        struct cf_task *down = cf_rt_task(rt, dv->index, s);
        if (!down->remote) {
            xw->targets[s].gate = down->gate;
            continue;
        }
        int w = rt->slot_worker[s];
        char *key = channel_key(rt, task->vertex->index, task->subtask, dv->index, s);
        xw->targets[s].out =
            cf_dataplane_open_output(rt->placement.dp, rt->hosts[w], rt->data_ports[w], key,
                                     cf_batch_pool_schema(pool), err);
        cf_free(key);
        if (!xw->targets[s].out) {
            return CF_EIO;
        }
    }
    return 0;
}

/* Connects every output of every operator of a task to its consumers. */
static int wire_task(struct cf_runtime *rt, struct cf_task *task, struct cf_err *err)
{
    const struct cf_plan *plan = rt->plan;
    for (int k = 0; k < task->nops; k++) {
        struct cf_op *op = &task->ops[k];
        int oi = task->vertex->ops[k];
        for (int o = 0; o < op->decl->noutputs; o++) {
            struct cf_op_route *route = &op->routes[o];
            route->pool = rt->pools[oi][o];
            for (int c = 0; c < plan->nops; c++) {
                const struct cf_plan_op *cons = &plan->ops[c];
                if (cons->input_op != oi || cons->input_out != o) {
                    continue;
                }
                route->targets = cf_realloc(route->targets, (size_t)(route->ntargets + 1) *
                                                                sizeof(*route->targets));
                struct cf_op_target *target = &route->targets[route->ntargets++];
                memset(target, 0, sizeof(*target));
                if (cons->exchange == CF_EXCHANGE_FORWARD) {
                    target->op = &task->ops[chain_pos(task->vertex, c)];
                } else if (xwriter_create(rt, task, cons, route->pool, &target->xw, err) != 0) {
                    return CF_EIO;
                }
            }
        }
    }
    return 0;
}

/* Registers the data-plane inputs of a local task whose upstream subtasks run elsewhere. */
static int register_remote_inputs(struct cf_runtime *rt, struct cf_task *task, struct cf_err *err)
{
    const struct cf_plan_vertex *v = task->vertex;
    if (v->input_vertex < 0) {
        return 0;
    }
    const struct cf_plan_op *head = &rt->plan->ops[v->ops[0]];
    struct cf_batch_pool *pool = rt->pools[head->input_op][head->input_out];
    int up_par = rt->plan->vertices[v->input_vertex].parallelism;
    for (int u = 0; u < up_par; u++) {
        if (!cf_rt_task(rt, v->input_vertex, u)->remote) {
            continue;
        }
        char *key = channel_key(rt, v->input_vertex, u, v->index, task->subtask);
        int rc = cf_dataplane_register_input(rt->placement.dp, key, task->gate, u, pool);
        if (rc) {
            cf_err_set(err, rc, "cannot register data channel %s: %s", key, cf_strerror(rc));
            cf_free(key);
            return rc;
        }
        rt->input_keys =
            cf_realloc(rt->input_keys, (size_t)(rt->ninput_keys + 1) * sizeof(*rt->input_keys));
        rt->input_keys[rt->ninput_keys++] = key;
    }
    return 0;
}

static struct cf_runtime *runtime_create(const struct cf_plan *plan, const char *job_id,
                                         const struct cf_runtime_placement *placement,
                                         struct cf_err *err);

struct cf_runtime *cf_runtime_create(const struct cf_plan *plan, const char *job_id,
                                     struct cf_err *err)
{
    return runtime_create(plan, job_id, NULL, err);
}

struct cf_runtime *cf_runtime_create_placed(const struct cf_plan *plan, const char *job_id,
                                            const struct cf_runtime_placement *placement,
                                            struct cf_err *err)
{
    return runtime_create(plan, job_id, placement, err);
}

static struct cf_runtime *runtime_create(const struct cf_plan *plan, const char *job_id,
                                         const struct cf_runtime_placement *placement,
                                         struct cf_err *err)
{
    struct cf_runtime *rt = cf_new(struct cf_runtime);
    rt->plan = plan;
    snprintf(rt->job_id, sizeof(rt->job_id), "%s", job_id ? job_id : "local");
    if (placement) {
        int nslots = cf_plan_slots(plan);
        rt->placed = 1;
        rt->placement = *placement;
        rt->slot_worker = cf_calloc((size_t)nslots, sizeof(int));
        memcpy(rt->slot_worker, placement->slot_worker, (size_t)nslots * sizeof(int));
        rt->hosts = cf_calloc((size_t)placement->nworkers, sizeof(char *));
        rt->data_ports = cf_calloc((size_t)placement->nworkers, sizeof(int));
        for (int w = 0; w < placement->nworkers; w++) {
            rt->hosts[w] = cf_strdup(placement->hosts[w]);
            rt->data_ports[w] = placement->data_ports[w];
        }
        rt->placement.slot_worker = rt->slot_worker;
        rt->placement.hosts = (const char *const *)rt->hosts;
        rt->placement.data_ports = rt->data_ports;
    }
    pthread_mutex_init(&rt->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->changed, &attr);
    pthread_condattr_destroy(&attr);
    rt->state = CF_JOB_CREATED;
    const char *tmp = getenv("TMPDIR");
    rt->state_dir = cf_asprintf("%s/creekflow-state/%s.%d", tmp && *tmp ? tmp : "/tmp", rt->job_id,
                                rt->placement.attempt);

    rt->pools = cf_calloc((size_t)plan->nops, sizeof(*rt->pools));
    for (int i = 0; i < plan->nops; i++) {
        const struct cf_op_decl *d = &plan->ops[i].decl;
        rt->pools[i] = cf_calloc(CF_OP_MAX_OUTPUTS, sizeof(**rt->pools));
        for (int o = 0; o < d->noutputs; o++) {
            rt->pools[i][o] = cf_batch_pool_create(d->outputs[o].schema, 64);
        }
    }

    rt->vertex_first_task = cf_calloc((size_t)plan->nvertices, sizeof(int));
    for (int v = 0; v < plan->nvertices; v++) {
        rt->vertex_first_task[v] = rt->ntasks;
        rt->ntasks += plan->vertices[v].parallelism;
    }
    rt->tasks = cf_calloc((size_t)rt->ntasks, sizeof(*rt->tasks));
    for (int v = 0; v < plan->nvertices; v++) {
        const struct cf_plan_vertex *vx = &plan->vertices[v];
        for (int s = 0; s < vx->parallelism; s++) {
            struct cf_task *task = cf_rt_task(rt, v, s);
            task->rt = rt;
            task->vertex = vx;
            task->subtask = s;
            task->state = CF_JOB_CREATED;
            task->remote = rt->placed && rt->slot_worker[s] != rt->placement.self;
            if (task->remote) {
                continue;
            }
            snprintf(task->log_ctx, sizeof(task->log_ctx), "job=%s vertex=%d subtask=%d/%d",
                     rt->job_id, v, s + 1, vx->parallelism);
            if (vx->input_vertex >= 0) {
                int nchan = plan->vertices[vx->input_vertex].parallelism;
                task->gate = cf_gate_create(nchan);
                task->chan_wm = cf_calloc((size_t)nchan, sizeof(int64_t));
                task->chan_done = cf_calloc((size_t)nchan, 1);
                task->ck_chan = cf_calloc((size_t)nchan, sizeof(int64_t));
                for (int c = 0; c < nchan; c++) {
                    task->chan_wm[c] = CF_TS_MIN;
                }
                task->chans_open = nchan;
            }
            task->input_wm = CF_TS_MIN;
            task->nops = vx->nops;
            task->ops = cf_calloc((size_t)vx->nops, sizeof(*task->ops));
            for (int k = 0; k < vx->nops; k++) {
                struct cf_op *op = &task->ops[k];
                op->decl = &plan->ops[vx->ops[k]].decl;
                op->conf = op->decl->conf;
                op->subtask = s;
                op->parallelism = vx->parallelism;
                op->max_parallelism = plan->max_parallelism;
                op->watermark = CF_TS_MIN;
                op->out_watermark = CF_TS_MIN;
                op->task = task;
            }
        }
    }
    for (int i = 0; i < rt->ntasks; i++) {
        struct cf_task *task = &rt->tasks[i];
        if (task->remote) {
            continue;
        }
        if (wire_task(rt, task, err) != 0 || register_remote_inputs(rt, task, err) != 0) {
            cf_runtime_destroy(rt);
            return NULL;
        }
    }
    return rt;
}

void cf_runtime_set_state_dir(struct cf_runtime *rt, const char *dir, int keep)
{
    cf_free(rt->state_dir);
    rt->state_dir = cf_asprintf("%s/%s.%d", dir, rt->job_id, rt->placement.attempt);
    rt->keep_state = keep;
}

int cf_runtime_start(struct cf_runtime *rt, struct cf_err *err)
{
    if (rt->ck) {
        cf_rt_ckpt_set_tmpdir(rt);
    }
    pthread_mutex_lock(&rt->lock);
    rt->state = CF_JOB_RUNNING;
    rt->running = 0;
    for (int i = 0; i < rt->ntasks; i++) {
        rt->running += !rt->tasks[i].remote;
    }
    int none = rt->running == 0;
    if (none) {
        rt->state = CF_JOB_FINISHED; /* nothing placed here */
    }
    pthread_mutex_unlock(&rt->lock);
    for (int i = 0; i < rt->ntasks; i++) {
        struct cf_task *task = &rt->tasks[i];
        if (task->remote) {
            continue;
        }
        task->state = CF_JOB_RUNNING;
        int rc = pthread_create(&task->thread, NULL, task_main, task);
        if (rc == 0) {
            /* "cf-task 1.0": vertex 1, subtask 0, for top -H, perf and gdb (15 bytes at most) */
            char name[16];
            snprintf(name, sizeof(name), "cf-task %u.%u", (unsigned)task->vertex->index % 100u,
                     (unsigned)task->subtask % 1000u);
            pthread_setname_np(task->thread, name);
        }
        if (rc != 0) {
            cf_err_set(err, CF_EFAILED, "cannot start task thread: %s", strerror(rc));
            snprintf(task->failure, sizeof(task->failure), "cannot start thread: %s", strerror(rc));
            /* Account for the tasks that will never run. */
            for (int j = i; j < rt->ntasks; j++) {
                if (!rt->tasks[j].remote) {
                    task_end(&rt->tasks[j], j == i ? CF_JOB_FAILED : CF_JOB_CANCELED);
                }
            }
            cancel_all(rt);
            return CF_EFAILED;
        }
        task->started = 1;
    }
    return 0;
}

enum cf_job_state cf_runtime_wait(struct cf_runtime *rt, int64_t timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : cf_monotonic_ms() + timeout_ms;
    pthread_mutex_lock(&rt->lock);
    while (!cf_job_state_terminal(rt->state)) {
        if (deadline < 0) {
            pthread_cond_wait(&rt->changed, &rt->lock);
        } else {
            if (cf_monotonic_ms() >= deadline) {
                break;
            }
            struct timespec ts;
            cf_monotonic_timespec(deadline, &ts);
            pthread_cond_timedwait(&rt->changed, &rt->lock, &ts);
        }
    }
    enum cf_job_state state = rt->state;
    pthread_mutex_unlock(&rt->lock);
    return state;
}

enum cf_job_state cf_runtime_state(struct cf_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    enum cf_job_state state = rt->state;
    pthread_mutex_unlock(&rt->lock);
    return state;
}

void cf_runtime_cancel(struct cf_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    int live = !cf_job_state_terminal(rt->state);
    if (live && rt->state != CF_JOB_CREATED) {
        rt->state = CF_JOB_CANCELLING;
    }
    pthread_mutex_unlock(&rt->lock);
    if (live) {
        cancel_all(rt);
    }
}

const char *cf_runtime_failure(struct cf_runtime *rt)
{
    return rt->failure;
}

void cf_runtime_subtask_op_stats(struct cf_runtime *rt, int op_index, int subtask,
                                 struct cf_runtime_op_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    const struct cf_plan_op *pop = &rt->plan->ops[op_index];
    const struct cf_task *task = cf_rt_task(rt, pop->vertex, subtask);
    if (task->remote) {
        return;
    }
    const struct cf_op *op = &task->ops[chain_pos(task->vertex, op_index)];
    stats->records_in = CF_STAT_GET(op->metrics.records_in);
    stats->records_out = CF_STAT_GET(op->metrics.records_out[0]);
    stats->bytes_in = CF_STAT_GET(op->metrics.bytes_in);
    for (int o = 0; o < CF_OP_MAX_OUTPUTS; o++) {
        stats->dropped += CF_STAT_GET(op->metrics.dropped[o]);
        if (o > 0) {
            stats->side_out += CF_STAT_GET(op->metrics.records_out[o]);
        }
    }
}

void cf_runtime_op_stats_add(struct cf_runtime_op_stats *to, const struct cf_runtime_op_stats *s)
{
    to->records_in += s->records_in;
    to->records_out += s->records_out;
    to->side_out += s->side_out;
    to->dropped += s->dropped;
    to->bytes_in += s->bytes_in;
}

void cf_runtime_op_stats(struct cf_runtime *rt, int op_index, struct cf_runtime_op_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    const struct cf_plan_vertex *v = &rt->plan->vertices[rt->plan->ops[op_index].vertex];
    for (int s = 0; s < v->parallelism; s++) {
        struct cf_runtime_op_stats one;
        cf_runtime_subtask_op_stats(rt, op_index, s, &one);
        cf_runtime_op_stats_add(stats, &one);
    }
}

int cf_runtime_subtask_stats(struct cf_runtime *rt, int vertex, int subtask,
                             struct cf_runtime_subtask_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    struct cf_task *task = cf_rt_task(rt, vertex, subtask);
    if (task->remote) {
        return -1;
    }
    const struct cf_op *head = &task->ops[0];
    stats->records_in = CF_STAT_GET(head->metrics.records_in);
    for (int i = 0; i < task->nxw; i++) {
        stats->records_out += CF_STAT_GET(task->xws[i]->records_out);
    }
    for (int k = 0; k < task->nops; k++) {
        if (task->ops[k].decl->plugin->kind == CF_OP_KIND_SINK) {
            stats->records_out += CF_STAT_GET(task->ops[k].metrics.records_in);
        }
    }
    stats->backpressured_ns = (uint64_t)CF_STAT_GET(task->backpressured_ns);
    stats->watermark = head->decl->plugin->kind == CF_OP_KIND_SOURCE
                           ? CF_STAT_GET(head->out_watermark)
                           : CF_STAT_GET(head->watermark);
    pthread_mutex_lock(&rt->lock);
    stats->state = task->state;
    pthread_mutex_unlock(&rt->lock);
    return 0;
}

void cf_runtime_vertex_stats(struct cf_runtime *rt, int vertex,
                             struct cf_runtime_vertex_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    const struct cf_plan_vertex *v = &rt->plan->vertices[vertex];
    for (int s = 0; s < v->parallelism; s++) {
        struct cf_runtime_subtask_stats one;
        if (cf_runtime_subtask_stats(rt, vertex, s, &one) != 0) {
            continue;
        }
        stats->records_in += one.records_in;
        stats->records_out += one.records_out;
        stats->backpressured_ns += one.backpressured_ns;
        stats->subtasks_running += one.state == CF_JOB_RUNNING;
        stats->subtasks_finished += one.state == CF_JOB_FINISHED;
    }
}

static void join_tasks(struct cf_runtime *rt)
{
    for (int i = 0; i < rt->ntasks; i++) {
        if (rt->tasks[i].started) {
            pthread_join(rt->tasks[i].thread, NULL);
            rt->tasks[i].started = 0;
        }
    }
}

void cf_runtime_settle(struct cf_runtime *rt)
{
    join_tasks(rt);
    cf_rt_ckpt_destroy(rt); /* finishes the queued uploads (skips them once canceled) */
}

void cf_runtime_destroy(struct cf_runtime *rt)
{
    if (!rt) {
        return;
    }
    cf_runtime_cancel(rt);
    join_tasks(rt);
    cf_rt_ckpt_destroy(rt); /* uploads still queued refer to the tasks */
    for (int i = 0; i < rt->ntasks; i++) {
        struct cf_task *task = &rt->tasks[i];
        for (int x = 0; x < task->nxw; x++) {
            cf_xwriter_destroy(task->xws[x]);
        }
        cf_free(task->xws);
        for (int k = 0; k < task->nops; k++) {
            for (int o = 0; o < CF_OP_MAX_OUTPUTS; o++) {
                cf_free(task->ops[k].routes[o].targets);
            }
        }
        cf_free(task->ops);
        cf_free(task->timers);
        cf_free(task->chan_wm);
        cf_free(task->chan_done);
        cf_free(task->ck_chan);
    }
    /* Inputs stop feeding the gates before the gates go. */
    for (int i = 0; i < rt->ninput_keys; i++) {
        cf_dataplane_unregister_input(rt->placement.dp, rt->input_keys[i]);
        cf_free(rt->input_keys[i]);
    }
    cf_free(rt->input_keys);
    for (int i = 0; i < rt->ntasks; i++) {
        cf_gate_destroy(rt->tasks[i].gate);
    }
    for (int i = 0; i < rt->plan->nops; i++) {
        for (int o = 0; o < CF_OP_MAX_OUTPUTS; o++) {
            cf_batch_pool_destroy(rt->pools[i][o]);
        }
        cf_free(rt->pools[i]);
    }
    cf_free(rt->pools);
    if (!rt->keep_state) {
        rmdir(rt->state_dir); /* empty once every task removed its environment */
    }
    cf_free(rt->state_dir);
    if (rt->placed) {
        for (int w = 0; w < rt->placement.nworkers; w++) {
            cf_free(rt->hosts[w]);
        }
        cf_free(rt->hosts);
        cf_free(rt->data_ports);
        cf_free(rt->slot_worker);
    }
    for (int i = 0; i < rt->nshared; i++) {
        rt->shared[i].destroy(rt->shared[i].obj);
    }
    cf_free(rt->shared);
    cf_free(rt->tasks);
    cf_free(rt->vertex_first_task);
    pthread_cond_destroy(&rt->changed);
    pthread_mutex_destroy(&rt->lock);
    cf_free(rt);
}
