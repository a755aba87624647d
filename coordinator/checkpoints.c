/*
 * checkpoints.c - the checkpoint coordinator (DESIGN.md section 5).
 *
 * Per running job, one checkpoint at a time:
 *  - trigger: every `interval` (and not before `min_pause` after the last one ended), or at
 *    once for a savepoint request or `cfctl checkpoint`: TriggerCheckpoint to every worker of
 *    the attempt, which injects the barrier at its source subtasks;
 *  - acknowledge: each subtask's AckCheckpoint lists its uploaded snapshot files; when every
 *    subtask acked, the monitor thread writes <dir>/_metadata, records the checkpoint in the
 *    job store (restarts and a restarted coordinator resume from it), deletes checkpoints
 *    beyond `retain` and sends NotifyCheckpointComplete so two-phase-commit sinks commit;
 *  - abort: a decline, a timeout, a failure of the attempt or the end of input of a subtask
 *    aborts the pending checkpoint (its files stay unreferenced and are deleted);
 *  - end of input (exactly_once): when every subtask processed all its input, the final
 *    notification (id 2^63-1) lets sinks commit their last output.
 * Savepoints use the same path into a directory of their own and are never deleted.
 *
 * RPCs and object storage calls happen on the monitor thread without the lock held.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_server.h"
#include "common/objstore/objstore.h"
#include "common/rpc/rpc.h"
#include "coordinator/coord_int.h"
#include "proto/creekflow.pb-c.h"
#include "worker/ckpt_meta.h"

#define FINAL_ID ((uint64_t)INT64_MAX)

enum { ST_PROGRESS, ST_COMPLETED, ST_FAILED };

int cf_coord_task_index(const struct cf_plan *plan, int vertex, int subtask)
{
    int idx = 0;
    for (int v = 0; v < vertex && v < plan->nvertices; v++) {
        idx += plan->vertices[v].parallelism;
    }
    return idx + subtask;
}

void cf_ckpt_job_init(struct job *j)
{
    struct cf_job_ckpt *k = &j->ck;
    k->ntasks = cf_coord_task_index(j->plan, j->plan->nvertices, 0);
    k->acked = cf_calloc((size_t)k->ntasks + 1, 1);
    k->eoi = cf_calloc((size_t)k->ntasks + 1, 1);
    k->last_id = j->rec.checkpoint_id;
}

static void abort_pending(struct job *j, const char *why)
{
    struct cf_job_ckpt *k = &j->ck;
    if (!k->pending) {
        return;
    }
    cf_warn("job %s: checkpoint %" PRId64 " aborted: %s", j->rec.id, k->pending, why);
    if (k->pstat) {
        k->pstat->status = ST_FAILED;
        snprintf(k->pstat->failure, sizeof(k->pstat->failure), "%s", why);
        k->counts_failed++;
        k->latest_failed = k->pending;
    }
    if (k->psp) {
        k->psp->status = ST_FAILED;
        snprintf(k->psp->failure, sizeof(k->psp->failure), "checkpoint %" PRId64 " aborted: %s",
                 k->pending, why);
    }
    cf_ckpt_meta_free(k->meta);
    k->meta = NULL;
    k->pending = 0;
    k->pstat = NULL;
    k->psp = NULL;
    k->last_end = cf_monotonic_ms();
}

void cf_ckpt_job_reset(struct job *j)
{
    struct cf_job_ckpt *k = &j->ck;
    abort_pending(j, "the job attempt ended");
    cf_ckpt_meta_free(k->ready);
    k->ready = NULL;
    memset(k->eoi, 0, (size_t)k->ntasks);
    k->neoi = 0;
    k->final_sent = 0;
    k->last_trigger = cf_monotonic_ms();
    int64_t id = 0;
    const char *path = cf_ckpt_restore_path(j, &id);
    if (path[0]) {
        k->restored_id = id;
        k->restored_savepoint = !j->rec.checkpoint_path;
        k->restore_ts = cf_now_ms();
        snprintf(k->restored_path, sizeof(k->restored_path), "%s", path);
    }
}

void cf_ckpt_job_free(struct job *j)
{
    struct cf_job_ckpt *k = &j->ck;
    if (k->psp && k->psp->status == ST_PROGRESS) {
        k->psp->status = ST_FAILED;
        snprintf(k->psp->failure, sizeof(k->psp->failure), "the job ended first");
    }
    cf_ckpt_meta_free(k->meta);
    cf_ckpt_meta_free(k->ready);
    cf_free(k->acked);
    cf_free(k->eoi);
}

const char *cf_ckpt_restore_path(const struct job *j, int64_t *id)
{
    if (j->rec.checkpoint_path) {
        *id = j->rec.checkpoint_id;
        return j->rec.checkpoint_path;
    }
    *id = 0;
    return j->rec.restore_path ? j->rec.restore_path : "";
}

/* ---- retained checkpoints (newline-separated in the record, oldest first) ---- */

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Appends path; returns the paths that fall out beyond `retain` (newline-separated). */
static char *retain_push(struct cf_job_record *rec, const char *path, int retain)
{
    char *all = cf_asprintf("%s%s\n", rec->retained ? rec->retained : "", path);
    char *dropped = NULL;
    while (count_lines(all) > (retain > 0 ? retain : 1)) {
        char *nl = strchr(all, '\n');
        char *first = cf_strndup(all, (size_t)(nl - all));
        char *rest = cf_strdup(nl + 1);
        char *d = cf_asprintf("%s%s\n", dropped ? dropped : "", first);
        cf_free(dropped);
        dropped = d;
        cf_free(first);
        cf_free(all);
        all = rest;
    }
    cf_free(rec->retained);
    rec->retained = all;
    return dropped;
}

void cf_ckpt_restore_failed(struct cf_coord *c, struct job *j, const char *failure)
{
    (void)c;
    static const char mark[] = "corrupt checkpoint ";
    const char *at = strstr(failure, mark);
    if (!at) {
        return;
    }
    int64_t bad = strtoll(at + sizeof(mark) - 1, NULL, 10);
    if (!j->rec.checkpoint_path) {
        /* The savepoint the job started from is damaged: no restart can help. */
        j->ck.unrecoverable = 1;
        cf_error("job %s: the savepoint it starts from is corrupt; not restarting", j->rec.id);
        return;
    }
    if (bad != j->rec.checkpoint_id) {
        return; /* another subtask reporting the same checkpoint: already handled */
    }
    /* retained: the completed checkpoints, oldest first, one per line; the last one is the
     * corrupt one. Drop it and fall back to the one before. */
    char *ret = j->rec.retained ? j->rec.retained : cf_strdup("");
    j->rec.retained = NULL;
    size_t len = strlen(ret);
    while (len && ret[len - 1] == '\n') {
        ret[--len] = 0;
    }
    char *last = strrchr(ret, '\n');
    char *prev = NULL;
    if (last) {
        *last = 0;
        char *p = strrchr(ret, '\n');
        prev = cf_strdup(p ? p + 1 : ret);
        j->rec.retained = cf_asprintf("%s\n", ret);
    }
    cf_free(ret);
    cf_free(j->rec.checkpoint_path);
    j->rec.checkpoint_path = prev;
    const char *chk = prev ? strstr(prev, "/chk-") : NULL; /* ".../chk-<n>" */
    j->rec.checkpoint_id = chk ? strtoll(chk + 5, NULL, 10) : 0;
    if (!prev && !j->rec.restore_path) {
        /* Starting over from nothing would repeat output that checkpoints already
         * committed: fail instead, as Flink does without a usable checkpoint. */
        j->ck.unrecoverable = 1;
        cf_error("job %s: checkpoint %lld is corrupt and no older one is retained; not "
                 "restarting",
                 j->rec.id, (long long)bad);
        return;
    }
    cf_warn("job %s: checkpoint %lld is corrupt; falling back to %s", j->rec.id, (long long)bad,
            prev ? prev : j->rec.restore_path);
}

/* ---- RPCs from workers ---- */

static int reply_ok(struct cf_buf *resp)
{
    Cf__Ack a = CF__ACK__INIT;
    a.ok = 1;
    cf_rpc_pb_pack(&a.base, resp);
    return 0;
}

static int rpc_ack(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                   struct cf_err *err)
{
    struct cf_coord *c = arg;
    Cf__CheckpointAck *r = NULL;
    int rc =
        cf_rpc_pb_unpack(&cf__checkpoint_ack__descriptor, req, len, (ProtobufCMessage **)&r, err);
    if (rc) {
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, r->job_id);
    struct cf_job_ckpt *k = j ? &j->ck : NULL;
    if (k && j->attempt == r->attempt && k->pending == (int64_t)r->checkpoint_id &&
        r->vertex < (uint32_t)j->plan->nvertices &&
        r->subtask < (uint32_t)j->plan->vertices[r->vertex].parallelism) {
        int t = cf_coord_task_index(j->plan, (int)r->vertex, (int)r->subtask);
        if (!k->acked[t]) {
            k->acked[t] = 1;
            k->nacked++;
            for (size_t i = 0; i < r->n_files; i++) {
                const Cf__SnapshotFile *f = r->files[i];
                struct cf_ckpt_file file = {.subtask = (int)r->subtask,
                                            .path = f->path,
                                            .size = f->size,
                                            .checksum = f->checksum,
                                            .kg_lo = (int)f->key_group_start,
                                            .kg_hi = (int)f->key_group_end};
                const struct cf_plan_vertex *v = &j->plan->vertices[r->vertex];
                cf_ckpt_meta_add_file(k->meta, f->operator_id, v->parallelism, &file);
            }
            if (k->pstat) {
                k->pstat->acked = k->nacked;
                k->pstat->state_size += r->state_bytes;
                k->pstat->ack_ts = cf_now_ms();
                if (r->alignment_ms > k->pstat->alignment_ms) {
                    k->pstat->alignment_ms = r->alignment_ms;
                }
            }
            if (k->nacked == k->ntasks) {
                k->ready = k->meta;
                k->meta = NULL;
                pthread_cond_broadcast(&c->stop_cond);
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return reply_ok(resp);
}

static int rpc_decline(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                       struct cf_err *err)
{
    struct cf_coord *c = arg;
    Cf__CheckpointDecline *r = NULL;
    int rc = cf_rpc_pb_unpack(&cf__checkpoint_decline__descriptor, req, len,
                              (ProtobufCMessage **)&r, err);
    if (rc) {
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, r->job_id);
    if (j && j->attempt == r->attempt && j->ck.pending == (int64_t)r->checkpoint_id &&
        !j->ck.ready) {
        char why[400];
        snprintf(why, sizeof(why), "subtask %u/%u declined: %.300s", r->vertex, r->subtask,
                 r->reason);
        abort_pending(j, why);
    }
    pthread_mutex_unlock(&c->lock);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return reply_ok(resp);
}

void cf_ckpt_end_of_input(struct cf_coord *c, struct job *j, int vertex, int subtask)
{
    struct cf_job_ckpt *k = &j->ck;
    if (vertex < 0 || vertex >= j->plan->nvertices || subtask < 0 ||
        subtask >= j->plan->vertices[vertex].parallelism) {
        return;
    }
    int t = cf_coord_task_index(j->plan, vertex, subtask);
    if (!k->eoi[t]) {
        k->eoi[t] = 1;
        k->neoi++;
        /* Barriers cannot pass a subtask that has no input any more. */
        if (k->pending && !k->ready) {
            abort_pending(j, "a subtask reached the end of its input");
        }
        pthread_cond_broadcast(&c->stop_cond);
    }
}

/* ---- the monitor's pass ---- */

struct call {
    struct cf_rpc_channel *ch;
    char worker_id[128];
};

/* The channels to every worker of the job's attempt (monitor thread, lock held). */
static struct call *job_calls(struct cf_coord *c, struct job *j, int *n)
{
    struct call *calls = cf_calloc((size_t)j->nparts + 1, sizeof(*calls));
    *n = 0;
    for (int p = 0; p < j->nparts; p++) {
        for (int w = 0; w < c->nworkers; w++) {
            if (!strcmp(c->workers[w].id, j->parts[p].worker_id) && !j->parts[p].state) {
                calls[*n].ch = c->workers[w].ch;
                snprintf(calls[*n].worker_id, sizeof(calls[*n].worker_id), "%s", c->workers[w].id);
                (*n)++;
            }
        }
    }
    return calls;
}

static void send_all(const char *job_id, struct call *calls, int n, const char *method,
                     const ProtobufCMessage *msg)
{
    for (int i = 0; i < n; i++) {
        struct cf_err err;
        cf_err_clear(&err);
        ProtobufCMessage *reply = NULL;
        if (cf_rpc_call_pb(calls[i].ch, method, msg, &cf__ack__descriptor, &reply, 5000, &err)) {
            cf_warn("job %s: %s to worker %s failed: %s", job_id, method, calls[i].worker_id,
                    err.msg);
        }
        if (reply) {
            protobuf_c_message_free_unpacked(reply, NULL);
        }
    }
}

static struct cf_savepoint_op *queued_savepoint(struct cf_coord *c, const struct job *j)
{
    struct cf_savepoint_op *found = NULL;
    for (struct cf_savepoint_op *op = c->savepoints; op; op = op->next) {
        if (!strcmp(op->job_id, j->rec.id) && op->status == ST_PROGRESS && op->ck_id == 0) {
            found = op; /* the list is newest first: keep the oldest */
        }
    }
    return found;
}

/* Starts checkpoint (or savepoint) id; lock held. Returns the calls to make. */
static struct call *start(struct cf_coord *c, struct job *j, struct cf_savepoint_op *sp,
                          Cf__TriggerCheckpointRequest *req, char *dir, size_t dirlen, int *n)
{
    struct cf_job_ckpt *k = &j->ck;
    int64_t id = ++k->last_id;
    k->pending = id;
    k->pending_start = cf_monotonic_ms();
    k->last_trigger = k->pending_start;
    k->nacked = 0;
    memset(k->acked, 0, (size_t)k->ntasks);
    k->meta = cf_new(struct cf_ckpt_meta);
    k->meta->job_id = cf_strdup(j->rec.id);
    k->meta->checkpoint_id = id;
    k->meta->timestamp = cf_now_ms();
    k->meta->max_parallelism = j->plan->max_parallelism;
    for (int i = 0; i < j->plan->nops; i++) {
        const struct cf_plan_op *op = &j->plan->ops[i];
        cf_ckpt_meta_add_file(k->meta, op->decl.id, op->decl.parallelism, NULL);
    }
    k->psp = sp && sp->target[0] ? sp : NULL;
    dir[0] = 0;
    if (k->psp) {
        char rand[CF_ID_LEN + 1];
        cf_id_new(rand);
        char name[64];
        snprintf(name, sizeof(name), "savepoint-%.6s-%.12s", j->rec.id, rand);
        char *d = cf_obj_join(sp->target, name);
        snprintf(dir, dirlen, "%s", d);
        cf_free(d);
        k->meta->savepoint = 1;
    } else if (j->plan->spec->checkpoints.dir) {
        char name[64];
        snprintf(name, sizeof(name), "%s/chk-%" PRId64, j->rec.id, id);
        char *d = cf_obj_join(j->plan->spec->checkpoints.dir, name);
        snprintf(dir, dirlen, "%s", d);
        cf_free(d);
    }
    if (sp) {
        sp->ck_id = id;
    }
    struct cf_ckpt_stat *st = &k->history[id % CF_CKPT_HISTORY];
    memset(st, 0, sizeof(*st));
    st->id = id;
    st->savepoint = k->psp != NULL;
    st->trigger_ts = k->meta->timestamp;
    st->subtasks = k->ntasks;
    snprintf(st->path, sizeof(st->path), "%s", dir);
    k->pstat = st;
    if (!k->psp && sp) {
        k->psp = sp; /* cfctl checkpoint: reported when this checkpoint completes */
    }
    req->job_id = j->rec.id;
    req->checkpoint_id = (uint64_t)id;
    req->timestamp_ms = k->meta->timestamp;
    req->savepoint_dir = st->savepoint ? dir : (char *)"";
    req->dir = dir;
    req->attempt = j->attempt;
    req->stop = st->savepoint && sp->stop;
    cf_note("job %s: triggering %s %" PRId64 " (%s)", j->rec.id,
            st->savepoint ? "savepoint" : "checkpoint", id, dir);
    return job_calls(c, j, n);
}

struct sweep {
    char **dirs;
    int n;
    int64_t below;
    const char *retained;
};

static int sweep_visit(void *arg, const char *url, uint64_t size)
{
    (void)size;
    struct sweep *sw = arg;
    const char *chk = strstr(url, "/chk-");
    if (!chk) {
        return 0;
    }
    char *end;
    int64_t n = strtoll(chk + 5, &end, 10);
    if (*end != '/' || n >= sw->below) {
        return 0;
    }
    char *dir = cf_strndup(url, (size_t)(end - url));
    char *line = cf_asprintf("%s\n", dir);
    int keep = sw->retained && strstr(sw->retained, line) != NULL;
    cf_free(line);
    for (int i = 0; i < sw->n && !keep; i++) {
        keep = strcmp(sw->dirs[i], dir) == 0;
    }
    if (keep) {
        cf_free(dir);
        return 0;
    }
    sw->dirs = cf_realloc(sw->dirs, (size_t)(sw->n + 1) * sizeof(char *));
    sw->dirs[sw->n++] = dir;
    return 0;
}

/* Deletes checkpoint directories older than id that are not retained: aborted checkpoints
 * and late uploads of failed attempts (monitor thread, no lock). */
static void sweep_aborted(const char *job_id, const char *dir, int64_t id, const char *retained)
{
    const char *chk = strstr(dir, "/chk-");
    if (!chk) {
        return;
    }
    char *parent = cf_strndup(dir, (size_t)(chk - dir));
    struct sweep sw = {.below = id, .retained = retained};
    struct cf_err err;
    cf_err_clear(&err);
    cf_obj_list(parent, sweep_visit, &sw, &err);
    for (int i = 0; i < sw.n; i++) {
        if (cf_obj_delete_prefix(sw.dirs[i], &err)) {
            cf_warn("job %s: cannot delete %s: %s", job_id, sw.dirs[i], err.msg);
        }
        cf_free(sw.dirs[i]);
    }
    cf_free(sw.dirs);
    cf_free(parent);
}

/* Writes _metadata and records the completed checkpoint. Called with the lock held; releases
 * it around the object storage calls and RPCs, and returns with it held. */
static void complete(struct cf_coord *c, const char *job_id, struct cf_ckpt_meta *meta)
{
    struct cf_err err;
    cf_err_clear(&err);
    char *dir = NULL;
    struct job *j = cf_coord_live_job(c, job_id);
    if (j && j->ck.pstat && j->ck.pstat->path[0]) {
        dir = cf_strdup(j->ck.pstat->path);
    }
    pthread_mutex_unlock(&c->lock);
    int rc = 0;
    if (!dir) {
        rc = cf_err_set(&err, CF_EINVAL,
                        "the job has no checkpoints.dir (set it in the spec, or give a "
                        "savepoint target directory)");
    } else {
        struct cf_buf text;
        cf_buf_init(&text);
        cf_ckpt_meta_write(meta, &text);
        char *url = cf_obj_join(dir, "_metadata");
        rc = cf_obj_put(url, text.data, text.len, &err);
        cf_free(url);
        cf_buf_destroy(&text);
    }

    pthread_mutex_lock(&c->lock);
    j = cf_coord_live_job(c, job_id);
    if (!j || j->ck.pending != meta->checkpoint_id || rc) {
        if (j && j->ck.pending == meta->checkpoint_id) {
            char why[600];
            snprintf(why, sizeof(why), "writing _metadata failed: %.500s", err.msg);
            abort_pending(j, why);
        }
        cf_free(dir);
        cf_ckpt_meta_free(meta);
        return;
    }
    struct cf_job_ckpt *k = &j->ck;
    int64_t id = meta->checkpoint_id;
    int savepoint = meta->savepoint;
    char *dropped = NULL, *retained = NULL;
    if (!savepoint) {
        cf_free(j->rec.checkpoint_path);
        j->rec.checkpoint_path = cf_strdup(dir);
        j->rec.checkpoint_id = id;
        dropped = retain_push(&j->rec, dir, (int)j->plan->spec->checkpoints.retain);
        retained = cf_strdup(j->rec.retained);
        cf_jobstore_put(c->jobs, &j->rec, &err);
    }
    k->pstat->status = ST_COMPLETED;
    k->counts_completed++;
    if (savepoint) {
        k->latest_savepoint = id;
    } else {
        k->latest_completed = id;
    }
    int stop = 0;
    if (k->psp) {
        k->psp->status = ST_COMPLETED;
        if (savepoint) {
            snprintf(k->psp->location, sizeof(k->psp->location), "%s", dir);
        }
        stop = k->psp->stop && savepoint;
    }
    int64_t took = cf_monotonic_ms() - k->pending_start;
    k->pending = 0;
    k->pstat = NULL;
    k->psp = NULL;
    k->last_end = cf_monotonic_ms();
    cf_note("job %s: %s %" PRId64 " complete in %" PRId64 " ms: %s", j->rec.id,
            savepoint ? "savepoint" : "checkpoint", id, took, dir);
    int n = 0;
    struct call *calls = job_calls(c, j, &n);
    unsigned attempt = j->attempt;
    if (stop) {
        j->stop_with_savepoint = 1;
    }
    pthread_mutex_unlock(&c->lock);

    Cf__CheckpointNotification note = CF__CHECKPOINT_NOTIFICATION__INIT;
    note.job_id = (char *)job_id;
    note.checkpoint_id = (uint64_t)id;
    note.attempt = attempt;
    send_all(job_id, calls, n, CF_RPC_WORKER_NOTIFY_CHECKPOINT_COMPLETE, &note.base);
    cf_free(calls);
    for (char *line = dropped; line && *line;) {
        char *nl = strchr(line, '\n');
        *nl = 0;
        struct cf_err e;
        cf_err_clear(&e);
        if (cf_obj_delete_prefix(line, &e)) {
            cf_warn("job %s: cannot delete old checkpoint %s: %s", job_id, line, e.msg);
        }
        line = nl + 1;
    }
    cf_free(dropped);
    if (!savepoint) {
        sweep_aborted(job_id, dir, id, retained);
    }
    cf_free(retained);
    cf_free(dir);
    cf_ckpt_meta_free(meta);
    pthread_mutex_lock(&c->lock);
    if (stop) {
        j = cf_coord_live_job(c, job_id);
        if (j && !j->cancel_requested) {
            j->cancel_requested = 1; /* the job ends FINISHED (stop_with_savepoint) */
            pthread_cond_broadcast(&c->stop_cond);
        }
    }
}

void cf_ckpt_monitor(struct cf_coord *c)
{
    for (struct cf_job_archive *a = c->archive; a; a = a->next) {
        if (a->sweep_dir) {
            char *dir = a->sweep_dir, *retained = a->sweep_retained;
            char id[CF_ID_LEN + 1];
            snprintf(id, sizeof(id), "%s", a->job_id);
            a->sweep_dir = a->sweep_retained = NULL;
            pthread_mutex_unlock(&c->lock);
            sweep_aborted(id, dir, INT64_MAX, retained);
            cf_free(dir);
            cf_free(retained);
            pthread_mutex_lock(&c->lock);
            return; /* the list may have changed */
        }
    }
    int64_t now = cf_monotonic_ms();
    for (struct job *j = c->live; j; j = j->next) {
        struct cf_job_ckpt *k = &j->ck;
        if (!j->plan || !k->acked) {
            continue;
        }
        if (k->ready) {
            struct cf_ckpt_meta *meta = k->ready;
            k->ready = NULL;
            char id[CF_ID_LEN + 1];
            snprintf(id, sizeof(id), "%s", j->rec.id);
            complete(c, id, meta);
            return; /* the list may have changed: the next pass goes on */
        }
        int running =
            j->deployed && j->rec.state == CF_JOB_RUNNING && !j->failing && !j->cancel_requested;
        if (!running) {
            if (k->pending) {
                abort_pending(j, "the job is not running");
            }
            continue;
        }
        const struct cf_spec *spec = j->plan->spec;
        if (k->pending) {
            int64_t timeout = spec->checkpoints.timeout > 0 ? spec->checkpoints.timeout : 600000;
            if (now - k->pending_start > timeout) {
                abort_pending(j, "timed out");
            }
            continue;
        }
        if (k->neoi == k->ntasks && !k->final_sent) {
            k->final_sent = 1;
            int n = 0;
            struct call *calls = job_calls(c, j, &n);
            char id[CF_ID_LEN + 1];
            snprintf(id, sizeof(id), "%s", j->rec.id);
            Cf__CheckpointNotification note = CF__CHECKPOINT_NOTIFICATION__INIT;
            note.job_id = id;
            note.checkpoint_id = FINAL_ID;
            note.attempt = j->attempt;
            pthread_mutex_unlock(&c->lock);
            cf_note("job %s: every subtask reached the end of its input: final commit", id);
            send_all(id, calls, n, CF_RPC_WORKER_NOTIFY_CHECKPOINT_COMPLETE, &note.base);
            cf_free(calls);
            pthread_mutex_lock(&c->lock);
            return;
        }
        if (k->neoi > 0) {
            continue; /* no more checkpoints once input ends somewhere */
        }
        struct cf_savepoint_op *sp = queued_savepoint(c, j);
        int due = spec->checkpoints.enabled && spec->checkpoints.interval > 0 &&
                  now - k->last_trigger >= spec->checkpoints.interval &&
                  now - k->last_end >= spec->checkpoints.min_pause;
        if (!sp && !due) {
            continue;
        }
        Cf__TriggerCheckpointRequest req = CF__TRIGGER_CHECKPOINT_REQUEST__INIT;
        char dir[600];
        int n = 0;
        struct call *calls = start(c, j, sp, &req, dir, sizeof(dir), &n);
        char id[CF_ID_LEN + 1];
        snprintf(id, sizeof(id), "%s", j->rec.id);
        req.job_id = id;
        pthread_mutex_unlock(&c->lock);
        send_all(id, calls, n, CF_RPC_WORKER_TRIGGER_CHECKPOINT, &req.base);
        cf_free(calls);
        pthread_mutex_lock(&c->lock);
        return;
    }
}

void cf_ckpt_job_archive(struct cf_job_archive *a, const struct job *j)
{
    a->ck = j->ck;
    a->ck.pending = 0;
    a->ck.meta = a->ck.ready = NULL;
    a->ck.acked = a->ck.eoi = NULL;
    a->ck.pstat = NULL;
    a->ck.psp = NULL;
    if (j->rec.checkpoint_path) {
        a->sweep_dir = cf_strdup(j->rec.checkpoint_path);
        a->sweep_retained = cf_strdup(j->rec.retained ? j->rec.retained : "");
    }
}

void cf_ckpt_ops_free(struct cf_coord *c)
{
    while (c->savepoints) {
        struct cf_savepoint_op *op = c->savepoints;
        c->savepoints = op->next;
        cf_free(op);
    }
}

/* ---- REST ---- */

static const char *body_str(const cJSON *body, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, a);
    if (!cJSON_IsString(v) && b) {
        v = cJSON_GetObjectItemCaseSensitive(body, b);
    }
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int cf_coord_trigger(struct cf_coord *c, const char *jid, enum cf_trigger_kind kind,
                     const char *target, char request_id[CF_ID_LEN + 1], struct cf_err *err)
{
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, jid);
    if (!j || j->rec.state != CF_JOB_RUNNING || j->cancel_requested) {
        int known = j != NULL;
        struct cf_job_record rec;
        int stored = !known && cf_jobstore_get(c->jobs, jid, &rec) == 0;
        int status = known || stored ? 409 : 404;
        if (status == 409) {
            cf_err_set(err, CF_EFAILED, "job %s is not running (%s)", jid,
                       cf_job_state_name(known ? j->rec.state : rec.state));
        } else {
            cf_err_set(err, CF_ENOENT, "job %s not found", jid);
        }
        if (stored) {
            cf_job_record_clear(&rec);
        }
        pthread_mutex_unlock(&c->lock);
        return status;
    }
    const char *dir = j->plan->spec->checkpoints.dir;
    if (kind != CF_TRIGGER_CHECKPOINT && !target && !dir) {
        pthread_mutex_unlock(&c->lock);
        cf_err_set(err, CF_EINVAL,
                   "target-directory: no savepoint directory given and the job has no "
                   "checkpoints.dir to default to");
        return 400;
    }
    if (kind == CF_TRIGGER_CHECKPOINT && !dir) {
        pthread_mutex_unlock(&c->lock);
        cf_err_set(err, CF_EINVAL, "job %s has no checkpoints.dir in its spec", jid);
        return 400;
    }
    struct cf_savepoint_op *op = cf_new(struct cf_savepoint_op);
    cf_id_new(op->request_id);
    snprintf(op->job_id, sizeof(op->job_id), "%s", j->rec.id);
    if (kind != CF_TRIGGER_CHECKPOINT) {
        char *dflt = target ? NULL : cf_obj_join(dir, "savepoints");
        snprintf(op->target, sizeof(op->target), "%s", target ? target : dflt);
        cf_free(dflt);
    }
    op->stop = kind == CF_TRIGGER_STOP || kind == CF_TRIGGER_SAVEPOINT_CANCEL;
    op->next = c->savepoints;
    c->savepoints = op;
    pthread_cond_broadcast(&c->stop_cond);
    snprintf(request_id, CF_ID_LEN + 1, "%s", op->request_id);
    pthread_mutex_unlock(&c->lock);
    return 202;
}

int cf_coord_trigger_status(struct cf_coord *c, const char *request_id, char *location, size_t size,
                            struct cf_err *err)
{
    pthread_mutex_lock(&c->lock);
    const struct cf_savepoint_op *op = c->savepoints;
    while (op && strcmp(op->request_id, request_id) != 0) {
        op = op->next;
    }
    int status = op ? op->status : ST_FAILED;
    if (!op) {
        cf_err_set(err, CF_ENOENT, "no operation %s", request_id);
    } else if (status == ST_COMPLETED) {
        snprintf(location, size, "%s", op->location);
    } else if (status == ST_FAILED) {
        cf_err_set(err, CF_EFAILED, "%s", op->failure);
    }
    pthread_mutex_unlock(&c->lock);
    return status == ST_PROGRESS ? 0 : status == ST_COMPLETED ? 1 : -1;
}

/* POST /jobs/:jid/savepoints, /jobs/:jid/stop and /jobs/:jid/checkpoints. */
static void trigger_op(struct cf_coord *c, struct cf_http_req *req, struct cf_http_resp *resp,
                       enum cf_trigger_kind kind)
{
    const char *jid = cf_http_req_param(req, "jid");
    size_t len;
    const char *text = cf_http_req_body(req, &len);
    cJSON *body = len ? cJSON_ParseWithLength(text, len) : cJSON_CreateObject();
    if (!body || !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        cf_http_resp_error(resp, 400, "the request body is not a JSON object");
        return;
    }
    const char *target = body_str(body, "target-directory", "targetDirectory");
    if (kind == CF_TRIGGER_SAVEPOINT &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "cancel-job"))) {
        kind = CF_TRIGGER_SAVEPOINT_CANCEL;
    }
    char rid[CF_ID_LEN + 1];
    struct cf_err err;
    cf_err_clear(&err);
    int status = cf_coord_trigger(c, jid ? jid : "", kind, target, rid, &err);
    cJSON_Delete(body);
    if (status != 202) {
        cf_http_resp_error(resp, status, "%s", err.msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "request-id", rid);
    cf_http_resp_json(resp, 202, o);
}

static void h_savepoint(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    trigger_op(arg, req, resp, CF_TRIGGER_SAVEPOINT);
}

static void h_stop(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    trigger_op(arg, req, resp, CF_TRIGGER_STOP);
}

static void h_checkpoint_now(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    trigger_op(arg, req, resp, CF_TRIGGER_CHECKPOINT);
}

/* GET /jobs/:jid/savepoints/:rid and /jobs/:jid/checkpoints/:rid */
static void h_op_status(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    const char *rid = cf_http_req_param(req, "rid");
    pthread_mutex_lock(&c->lock);
    struct cf_savepoint_op *op = c->savepoints;
    while (op && !(jid && rid && !strcmp(op->job_id, jid) && !strcmp(op->request_id, rid))) {
        op = op->next;
    }
    if (!op) {
        pthread_mutex_unlock(&c->lock);
        cf_http_resp_error(resp, 404, "no operation %s for job %s", rid ? rid : "", jid ? jid : "");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(o, "status");
    cJSON_AddStringToObject(st, "id", op->status == ST_PROGRESS ? "IN_PROGRESS" : "COMPLETED");
    if (op->status != ST_PROGRESS) {
        cJSON *oper = cJSON_AddObjectToObject(o, "operation");
        if (op->status == ST_COMPLETED) {
            if (op->location[0]) {
                cJSON_AddStringToObject(oper, "location", op->location);
            }
            cJSON_AddNumberToObject(oper, "checkpointId", (double)op->ck_id);
        } else {
            cJSON *cause = cJSON_AddObjectToObject(oper, "failure-cause");
            cJSON_AddStringToObject(cause, "class", "CheckpointException");
            cJSON_AddStringToObject(cause, "stack-trace", op->failure);
        }
    }
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_json(resp, 200, o);
}

static cJSON *stat_json(const struct cf_ckpt_stat *s)
{
    static const char *const names[] = {"IN_PROGRESS", "COMPLETED", "FAILED"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)s->id);
    cJSON_AddStringToObject(o, "status", names[s->status]);
    cJSON_AddBoolToObject(o, "is_savepoint", s->savepoint);
    cJSON_AddStringToObject(o, "checkpoint_type", s->savepoint ? "SAVEPOINT" : "CHECKPOINT");
    cJSON_AddNumberToObject(o, "trigger_timestamp", (double)s->trigger_ts);
    cJSON_AddNumberToObject(o, "latest_ack_timestamp", (double)s->ack_ts);
    cJSON_AddNumberToObject(o, "state_size", (double)s->state_size);
    cJSON_AddNumberToObject(o, "checkpointed_size", (double)s->state_size);
    cJSON_AddNumberToObject(o, "end_to_end_duration",
                            (double)(s->ack_ts > s->trigger_ts ? s->ack_ts - s->trigger_ts : 0));
    cJSON_AddNumberToObject(o, "alignment_buffered", 0);
    cJSON_AddNumberToObject(o, "num_subtasks", s->subtasks);
    cJSON_AddNumberToObject(o, "num_acknowledged_subtasks", s->acked);
    if (s->status == ST_COMPLETED) {
        cJSON_AddStringToObject(o, "external_path", s->path);
    }
    if (s->status == ST_FAILED) {
        cJSON_AddStringToObject(o, "failure_message", s->failure);
    }
    return o;
}

static const struct cf_ckpt_stat *find_stat(const struct cf_job_ckpt *k, int64_t id)
{
    const struct cf_ckpt_stat *s = id ? &k->history[id % CF_CKPT_HISTORY] : NULL;
    return s && s->id == id ? s : NULL;
}

static void render_stats(const struct cf_job_ckpt *k, cJSON *counts, cJSON *summary, cJSON *latest,
                         cJSON *hist)
{
    cJSON_AddNumberToObject(counts, "restored", k->restored_path[0] ? 1 : 0);
    cJSON_AddNumberToObject(
        counts, "total", (double)(k->counts_completed + k->counts_failed + (k->pending ? 1 : 0)));
    cJSON_AddNumberToObject(counts, "in_progress", k->pending ? 1 : 0);
    cJSON_AddNumberToObject(counts, "completed", (double)k->counts_completed);
    cJSON_AddNumberToObject(counts, "failed", (double)k->counts_failed);
    uint64_t mn = UINT64_MAX, mx = 0, sum = 0;
    int64_t dmn = INT64_MAX, dmx = 0, dsum = 0;
    int cnt = 0;
    for (int64_t id = k->last_id; id > 0 && id > k->last_id - CF_CKPT_HISTORY; id--) {
        const struct cf_ckpt_stat *s = find_stat(k, id);
        if (!s) {
            continue;
        }
        cJSON_AddItemToArray(hist, stat_json(s));
        if (s->status == ST_COMPLETED) {
            int64_t d = s->ack_ts - s->trigger_ts;
            mn = s->state_size < mn ? s->state_size : mn;
            mx = s->state_size > mx ? s->state_size : mx;
            sum += s->state_size;
            dmn = d < dmn ? d : dmn;
            dmx = d > dmx ? d : dmx;
            dsum += d;
            cnt++;
        }
    }
    const char *names[] = {"state_size", "checkpointed_size", "end_to_end_duration"};
    for (int m = 0; m < 3; m++) {
        cJSON *x = cJSON_AddObjectToObject(summary, names[m]);
        int dur = m == 2;
        cJSON_AddNumberToObject(x, "min", cnt ? (double)(dur ? dmn : (int64_t)mn) : 0);
        cJSON_AddNumberToObject(x, "max", cnt ? (double)(dur ? dmx : (int64_t)mx) : 0);
        cJSON_AddNumberToObject(x, "avg", cnt ? (double)(dur ? dsum : (int64_t)sum) / cnt : 0);
    }
    const struct cf_ckpt_stat *s;
    cJSON_AddItemToObject(latest, "completed",
                          (s = find_stat(k, k->latest_completed)) ? stat_json(s)
                                                                  : cJSON_CreateNull());
    cJSON_AddItemToObject(latest, "savepoint",
                          (s = find_stat(k, k->latest_savepoint)) ? stat_json(s)
                                                                  : cJSON_CreateNull());
    cJSON_AddItemToObject(latest, "failed",
                          (s = find_stat(k, k->latest_failed)) ? stat_json(s) : cJSON_CreateNull());
    if (k->restored_path[0]) {
        cJSON *r = cJSON_AddObjectToObject(latest, "restored");
        cJSON_AddNumberToObject(r, "id", (double)k->restored_id);
        cJSON_AddNumberToObject(r, "restore_timestamp", (double)k->restore_ts);
        cJSON_AddBoolToObject(r, "is_savepoint", k->restored_savepoint);
        cJSON_AddStringToObject(r, "external_path", k->restored_path);
    } else {
        cJSON_AddNullToObject(latest, "restored");
    }
}

/* GET /jobs/:jid/checkpoints (Flink's CheckpointingStatistics). */
static void h_checkpoints(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, jid ? jid : "");
    struct cf_job_record rec;
    int stored = !j && cf_jobstore_get(c->jobs, jid ? jid : "", &rec) == 0;
    if (!j && !stored) {
        pthread_mutex_unlock(&c->lock);
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *counts = cJSON_AddObjectToObject(o, "counts");
    cJSON *summary = cJSON_AddObjectToObject(o, "summary");
    cJSON *latest = cJSON_AddObjectToObject(o, "latest");
    cJSON *hist = cJSON_AddArrayToObject(o, "history");
    const struct cf_job_ckpt *arch = NULL;
    for (const struct cf_job_archive *a = c->archive; a && !j; a = a->next) {
        arch = !strcmp(a->job_id, jid ? jid : "") ? &a->ck : arch;
    }
    if (j || arch) {
        render_stats(j ? &j->ck : arch, counts, summary, latest, hist);
        if (stored) {
            cf_job_record_clear(&rec);
        }
    } else {
        /* An ended job: what the job store kept. */
        cJSON_AddNumberToObject(counts, "restored", 0);
        cJSON_AddNumberToObject(counts, "total", rec.checkpoint_path ? 1 : 0);
        cJSON_AddNumberToObject(counts, "in_progress", 0);
        cJSON_AddNumberToObject(counts, "completed", rec.checkpoint_path ? 1 : 0);
        cJSON_AddNumberToObject(counts, "failed", 0);
        if (rec.checkpoint_path) {
            cJSON *x = cJSON_AddObjectToObject(latest, "completed");
            cJSON_AddNumberToObject(x, "id", (double)rec.checkpoint_id);
            cJSON_AddStringToObject(x, "status", "COMPLETED");
            cJSON_AddStringToObject(x, "external_path", rec.checkpoint_path);
        } else {
            cJSON_AddNullToObject(latest, "completed");
        }
        cJSON_AddNullToObject(latest, "savepoint");
        cJSON_AddNullToObject(latest, "failed");
        cJSON_AddNullToObject(latest, "restored");
        cf_job_record_clear(&rec);
    }
    pthread_mutex_unlock(&c->lock);
    cf_http_resp_json(resp, 200, o);
}

/* GET /jobs/:jid/checkpoints/config */
static void h_checkpoints_config(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct cf_coord *c = arg;
    const char *jid = cf_http_req_param(req, "jid");
    pthread_mutex_lock(&c->lock);
    struct job *j = cf_coord_live_job(c, jid ? jid : "");
    struct cf_job_record rec;
    int stored = !j && cf_jobstore_get(c->jobs, jid ? jid : "", &rec) == 0;
    const char *text = j ? j->rec.spec : stored ? rec.spec : NULL;
    struct cf_spec *spec = NULL;
    struct cf_err err;
    cf_err_clear(&err);
    if (text) {
        cf_spec_parse(text, strlen(text), &spec, &err);
    }
    if (stored) {
        cf_job_record_clear(&rec);
    }
    pthread_mutex_unlock(&c->lock);
    if (!spec) {
        cf_http_resp_error(resp, 404, "job %s not found", jid ? jid : "");
        return;
    }
    if (!spec->checkpoints.enabled) {
        cf_spec_destroy(spec);
        cf_http_resp_error(resp, 404, "job %s has checkpointing disabled", jid);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode",
                            spec->checkpoints.mode == CF_CKPT_EXACTLY_ONCE ? "exactly_once"
                                                                           : "at_least_once");
    cJSON_AddNumberToObject(o, "interval", (double)spec->checkpoints.interval);
    cJSON_AddNumberToObject(o, "timeout", (double)spec->checkpoints.timeout);
    cJSON_AddNumberToObject(o, "min_pause", (double)spec->checkpoints.min_pause);
    cJSON_AddNumberToObject(o, "max_concurrent", 1);
    cJSON *ext = cJSON_AddObjectToObject(o, "externalization");
    cJSON_AddBoolToObject(ext, "enabled", 1);
    cJSON_AddBoolToObject(ext, "delete_on_cancellation", 0);
    cJSON_AddStringToObject(o, "state_backend", "lmdb");
    cJSON_AddStringToObject(o, "checkpoint_storage",
                            spec->checkpoints.dir ? spec->checkpoints.dir : "");
    cJSON_AddNumberToObject(o, "checkpoints_retained", (double)spec->checkpoints.retain);
    cJSON_AddBoolToObject(o, "unaligned_checkpoints", 0);
    cf_spec_destroy(spec);
    cf_http_resp_json(resp, 200, o);
}

void cf_ckpt_serve(struct cf_coord *c)
{
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_ACK_CHECKPOINT, rpc_ack, c);
    cf_rpc_server_handle(c->rpc, CF_RPC_COORDINATOR_DECLINE_CHECKPOINT, rpc_decline, c);
    cf_http_route(c->http, "POST", "/jobs/:jid/savepoints", h_savepoint, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/savepoints/:rid", h_op_status, c);
    cf_http_route(c->http, "POST", "/jobs/:jid/stop", h_stop, c);
    cf_http_route(c->http, "POST", "/jobs/:jid/checkpoints", h_checkpoint_now, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/checkpoints", h_checkpoints, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/checkpoints/config", h_checkpoints_config, c);
    cf_http_route(c->http, "GET", "/jobs/:jid/checkpoints/:rid", h_op_status, c);
}

int cf_ckpt_check_restore(const struct cf_plan *plan, const char *path, int allow_non_restored,
                          int64_t *id, struct cf_err *err)
{
    struct cf_ckpt_meta *meta = NULL;
    int rc = cf_ckpt_meta_load(path, &meta, err);
    if (rc) {
        return cf_err_set(err, rc, "savepointPath: %s", err->msg);
    }
    *id = meta->checkpoint_id;
    for (int i = 0; i < meta->nops && rc == 0; i++) {
        const struct cf_ckpt_op *mop = &meta->ops[i];
        const struct cf_plan_op *op = NULL;
        for (int k = 0; k < plan->nops && !op; k++) {
            op = strcmp(plan->ops[k].decl.id, mop->id) == 0 ? &plan->ops[k] : NULL;
        }
        if (!op && mop->nfiles > 0 && !allow_non_restored) {
            rc = cf_err_set(err, CF_ESPEC,
                            "savepointPath: %s has state for operator '%s', which the job does "
                            "not have (keep operator ids when editing a job, or allow "
                            "non-restored state: cfctl run -n / allowNonRestoredState=true)",
                            path, mop->id);
        } else if (op && mop->nfiles > 0 && (op->decl.plugin->flags & CF_OP_F_KEYED) &&
                   meta->max_parallelism != plan->max_parallelism) {
            rc = cf_err_set(err, CF_ESPEC,
                            "savepointPath: %s was taken with max_parallelism %d, the job has %d "
                            "(keyed state is split into max_parallelism key groups; keep it)",
                            path, meta->max_parallelism, plan->max_parallelism);
        }
    }
    cf_ckpt_meta_free(meta);
    return rc;
}
