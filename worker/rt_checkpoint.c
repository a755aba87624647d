/*
 * rt_checkpoint.c - checkpoints inside the runtime: barriers, snapshots, uploads, restore.
 *
 * Asynchronous barrier snapshots (DESIGN.md section 5):
 *  - cf_runtime_trigger_checkpoint() records the trigger; each local source task sees it on
 *    its next loop turn, snapshots its chain and sends barrier n down every exchange, after
 *    every batch it emitted before.
 *  - A task with inputs aligns (exactly_once): a channel that delivered barrier n is blocked
 *    in the gate until every open channel delivered it; then the chain is snapshotted, the
 *    barrier forwarded and the channels unblocked. at_least_once does not block: records
 *    behind an early barrier are processed before the snapshot and may be replayed.
 *  - A snapshot writes one LMDB file per operator with state (snapshot.h) on the task thread:
 *    the operator's snapshot() and a copy of its keyed-state namespace. The upload to object
 *    storage runs on the runtime's upload thread while the task goes on; when a subtask's
 *    files are uploaded, hooks.ack reports them (path, size, checksum, key-group range).
 *  - cf_runtime_notify_checkpoint() publishes the newest completed id; every task delivers
 *    it to its operators on its own thread (notify_checkpoint_complete).
 *  - End of input under exactly_once: a task that finished its input reports it and waits
 *    for CF_CKPT_FINAL (sent by the coordinator once every task got there), so sinks commit
 *    their last output only when no restart can replay it.
 *  - Restore: before the first record each task downloads the files of its operators (those
 *    overlapping its key-group range for keyed operators, all of them otherwise), checks
 *    their checksums, refills keyed state and calls restore().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_meta.h"
#include "common/base/fs.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/objstore/objstore.h"
#include "runtime_int.h"
#include "snapshot.h"

#define TRIGGERS_KEPT 4

struct trigger {
    int64_t id;
    char *dir;
    int stop;
};

struct upload_file {
    int op; /* chain position */
    char *local;
    int kg_lo, kg_hi;
};

struct upload_job {
    struct upload_job *next;
    int64_t id;
    struct cf_task *task;
    char *dir;
    const char *decline; /* static text, or NULL */
    int nfiles;
    struct upload_file *files;
    int64_t start_ns, alignment_ms;
};

struct cf_rt_ckpt {
    struct cf_runtime_ckpt_hooks hooks;
    int enabled;      /* the job checkpoints (else: savepoints only) */
    int exactly_once; /* enabled, aligned barriers, two-phase-commit sinks */
    /* under rt->lock */
    struct trigger triggers[TRIGGERS_KEPT]; /* the newest ones, by id % TRIGGERS_KEPT */
    int64_t latest_trigger;                 /* written under rt->lock, read atomically by sources */
    int64_t completed;                      /* atomic */
    struct cf_ckpt_meta *restore;
    /* the upload thread */
    pthread_t uploader;
    int uploader_started;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct upload_job *head, *tail;
    int stopping;
    char *tmpdir;
};

static void *upload_main(void *arg);

void cf_runtime_set_checkpointing(struct cf_runtime *rt, const struct cf_runtime_ckpt_hooks *hooks)
{
    if (rt->ck) {
        return;
    }
    struct cf_rt_ckpt *ck = cf_new(struct cf_rt_ckpt);
    ck->hooks = *hooks;
    ck->enabled = rt->plan->spec->checkpoints.enabled;
    ck->exactly_once = ck->enabled && rt->plan->spec->checkpoints.mode == CF_CKPT_EXACTLY_ONCE;
    pthread_mutex_init(&ck->qlock, NULL);
    pthread_cond_init(&ck->qcond, NULL);
    rt->ck = ck;
    if (pthread_create(&ck->uploader, NULL, upload_main, rt) == 0) {
        ck->uploader_started = 1;
    }
}

void cf_runtime_set_restore(struct cf_runtime *rt, struct cf_ckpt_meta *meta)
{
    if (!rt->ck) {
        cf_ckpt_meta_free(meta);
        return;
    }
    cf_ckpt_meta_free(rt->ck->restore);
    rt->ck->restore = meta;
    /* New checkpoint ids continue after the restored one. */
    rt->ck->latest_trigger = meta->checkpoint_id;
    for (int i = 0; i < rt->ntasks; i++) {
        rt->tasks[i].ck_taken = meta->checkpoint_id;
        rt->tasks[i].ck_notified = meta->checkpoint_id;
    }
    __atomic_store_n(&rt->ck->completed, meta->checkpoint_id, __ATOMIC_RELEASE);
}

void cf_rt_ckpt_set_tmpdir(struct cf_runtime *rt)
{
    cf_free(rt->ck->tmpdir);
    rt->ck->tmpdir = cf_asprintf("%s/checkpoints", rt->state_dir);
}

static void wake_tasks(struct cf_runtime *rt)
{
    pthread_cond_broadcast(&rt->changed);
    for (int i = 0; i < rt->ntasks; i++) {
        if (rt->tasks[i].gate) {
            cf_gate_wake(rt->tasks[i].gate);
        }
    }
}

void cf_runtime_trigger_checkpoint(struct cf_runtime *rt, int64_t id, const char *dir_url, int stop)
{
    struct cf_rt_ckpt *ck = rt->ck;
    if (!ck) {
        return;
    }
    pthread_mutex_lock(&rt->lock);
    if (id > ck->latest_trigger) {
        struct trigger *t = &ck->triggers[id % TRIGGERS_KEPT];
        cf_free(t->dir);
        t->id = id;
        t->dir = cf_strdup(dir_url);
        t->stop = stop;
        __atomic_store_n(&ck->latest_trigger, id, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&rt->changed);
    }
    pthread_mutex_unlock(&rt->lock);
}

void cf_runtime_notify_checkpoint(struct cf_runtime *rt, int64_t id)
{
    struct cf_rt_ckpt *ck = rt->ck;
    if (!ck) {
        return;
    }
    pthread_mutex_lock(&rt->lock);
    if (id > ck->completed) {
        __atomic_store_n(&ck->completed, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&rt->lock);
    wake_tasks(rt);
}

/* The trigger of checkpoint id (copied out under the lock), or 0 if it is not known. */
static int trigger_of(struct cf_runtime *rt, int64_t id, struct trigger *out)
{
    pthread_mutex_lock(&rt->lock);
    const struct trigger *t = &rt->ck->triggers[id % TRIGGERS_KEPT];
    int found = t->id == id && t->dir;
    if (found) {
        *out = *t;
        out->dir = cf_strdup(t->dir);
    }
    pthread_mutex_unlock(&rt->lock);
    return found;
}

/* Key groups [lo, hi] of subtask s of p (keys.h: subtask = kg * p / max). */
static void kg_range(int s, int p, int max, int *lo, int *hi)
{
    *lo = (int)(((int64_t)s * max + p - 1) / p);
    *hi = (int)(((int64_t)(s + 1) * max + p - 1) / p) - 1;
}

static int op_keyed(const struct cf_op *op)
{
    return (op->decl->plugin->flags & CF_OP_F_KEYED) != 0;
}

static void enqueue(struct cf_rt_ckpt *ck, struct upload_job *job)
{
    pthread_mutex_lock(&ck->qlock);
    if (ck->tail) {
        ck->tail->next = job;
    } else {
        ck->head = job;
    }
    ck->tail = job;
    pthread_cond_signal(&ck->qcond);
    pthread_mutex_unlock(&ck->qlock);
}

/* Snapshots the task's chain for checkpoint id and forwards the barrier. */
static int take_snapshot(struct cf_task *task, int64_t id, int64_t alignment_ms)
{
    struct cf_runtime *rt = task->rt;
    struct cf_rt_ckpt *ck = rt->ck;
    task->ck_taken = id;
    struct trigger trig = {0};
    struct upload_job *job = cf_new(struct upload_job);
    job->id = id;
    job->task = task;
    job->start_ns = cf_monotonic_ns();
    job->alignment_ms = alignment_ms;
    if (!trigger_of(rt, id, &trig)) {
        job->decline = "the checkpoint was superseded before its barrier arrived";
    } else {
        job->dir = trig.dir;
        if (cf_mkdirs(ck->tmpdir, 0700) != 0) {
            job->decline = "cannot create the local snapshot directory (see the worker log)";
            cf_warn("checkpoint %" PRId64 ": cannot create %s: %s", id, ck->tmpdir,
                    strerror(errno));
        }
    }
    for (int k = 0; k < task->nops && !job->decline; k++) {
        struct cf_op *op = &task->ops[k];
        if (!op->decl->plugin->snapshot && !op->ns) {
            continue;
        }
        char *path = cf_asprintf("%s/%" PRId64 "-v%d-s%d-%d.mdb", ck->tmpdir, id,
                                 task->vertex->index, task->subtask, k);
        struct cf_err err;
        cf_err_clear(&err);
        struct cf_snapshot *snap = NULL;
        int rc = cf_snapshot_create(path, id, &snap, &err);
        if (rc == 0 && op->ns) {
            rc = cf_snapshot_copy_ns(snap, op->ns, &err);
        }
        if (rc == 0 && op->decl->plugin->snapshot) {
            rc = op->decl->plugin->snapshot(op, snap);
            if (rc) {
                cf_err_set(&err, rc, "%s: snapshot failed: %s", op->decl->id,
                           task->failure[0] ? task->failure : cf_strerror(rc));
            }
        }
        uint64_t entries = 0;
        if (rc == 0) {
            rc = cf_snapshot_finish(snap, &entries, &err);
        } else {
            cf_snapshot_free(snap);
        }
        if (rc) {
            cf_warn("checkpoint %" PRId64 ": %s", id, err.msg);
            job->decline = "a snapshot could not be written (see the worker log)";
        }
        if (rc || entries == 0) {
            unlink(path);
            cf_free(path);
            continue;
        }
        job->files = cf_realloc(job->files, (size_t)(job->nfiles + 1) * sizeof(*job->files));
        struct upload_file *f = &job->files[job->nfiles++];
        f->op = k;
        f->local = path;
        if (op_keyed(op)) {
            kg_range(task->subtask, op->parallelism, op->max_parallelism, &f->kg_lo, &f->kg_hi);
        } else {
            f->kg_lo = 0;
            f->kg_hi = op->max_parallelism - 1;
        }
    }
    if (job->dir && trig.stop && !task->gate) {
        task->ck_stopped = 1; /* stop with savepoint: this source emits nothing more */
    }
    int rc = 0;
    for (int i = 0; i < task->nxw && rc == 0; i++) {
        rc = cf_xwriter_barrier(task->xws[i], id);
    }
    enqueue(ck, job);
    return rc;
}

int cf_rt_ckpt_source_step(struct cf_task *task)
{
    struct cf_rt_ckpt *ck = task->rt->ck;
    if (!ck) {
        return 0;
    }
    int rc = cf_rt_ckpt_notify_step(task);
    if (rc) {
        return rc;
    }
    /* Every poll passes here: an atomic read, no lock (the trigger itself is read under the
     * lock by take_snapshot). */
    int64_t want = __atomic_load_n(&ck->latest_trigger, __ATOMIC_ACQUIRE);
    return want > task->ck_taken && !task->ck_stopped ? take_snapshot(task, want, 0) : 0;
}

int cf_rt_ckpt_notify_step(struct cf_task *task)
{
    struct cf_rt_ckpt *ck = task->rt->ck;
    if (!ck) {
        return 0;
    }
    int64_t done = __atomic_load_n(&ck->completed, __ATOMIC_ACQUIRE);
    if (done <= task->ck_notified) {
        return 0;
    }
    task->ck_notified = done;
    for (int k = 0; k < task->nops; k++) {
        struct cf_op *op = &task->ops[k];
        if (op->decl->plugin->notify_checkpoint_complete) {
            int rc = op->decl->plugin->notify_checkpoint_complete(op, done);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

static void unblock_all(struct cf_task *task)
{
    for (int c = 0; c < cf_gate_channels(task->gate); c++) {
        cf_gate_block(task->gate, c, 0);
    }
}

/* Completes the alignment of ck_aligning once every open channel delivered it. */
static int check_aligned(struct cf_task *task)
{
    if (!task->ck_aligning) {
        return 0;
    }
    for (int c = 0; c < cf_gate_channels(task->gate); c++) {
        if (!task->chan_done[c] && task->ck_chan[c] < task->ck_aligning) {
            return 0;
        }
    }
    int64_t id = task->ck_aligning;
    int64_t align_ms = (cf_monotonic_ns() - task->ck_align_ns) / 1000000;
    task->ck_aligning = 0;
    int rc = take_snapshot(task, id, align_ms);
    unblock_all(task);
    return rc;
}

int cf_rt_ckpt_barrier(struct cf_task *task, int ch, int64_t id)
{
    struct cf_rt_ckpt *ck = task->rt->ck;
    if (!ck || id <= task->ck_taken || id < task->ck_aligning) {
        return 0; /* stale: an older checkpoint, or not checkpointing here */
    }
    if (id > task->ck_aligning) {
        if (task->ck_aligning) {
            unblock_all(task); /* a newer barrier overtook: the older one is abandoned */
        }
        task->ck_aligning = id;
        task->ck_align_ns = cf_monotonic_ns();
    }
    task->ck_chan[ch] = id;
    if (ck->exactly_once) {
        cf_gate_block(task->gate, ch, 1);
    }
    return check_aligned(task);
}

int cf_rt_ckpt_channel_done(struct cf_task *task)
{
    return task->rt->ck ? check_aligned(task) : 0;
}

int cf_rt_ckpt_end_of_input(struct cf_task *task)
{
    struct cf_runtime *rt = task->rt;
    struct cf_rt_ckpt *ck = rt->ck;
    if (!ck) {
        return 0;
    }
    if (ck->hooks.end_of_input) {
        ck->hooks.end_of_input(ck->hooks.arg, task->vertex->index, task->subtask);
    }
    if (!ck->exactly_once) {
        return 0;
    }
    cf_debug("end of input: waiting for the final commit");
    while (task->ck_notified < CF_CKPT_FINAL) {
        if (__atomic_load_n(&rt->canceled, __ATOMIC_RELAXED)) {
            return CF_ECANCELED;
        }
        int rc = cf_rt_ckpt_notify_step(task);
        if (rc) {
            return rc;
        }
        if (task->ck_notified < CF_CKPT_FINAL) {
            cf_rt_idle_wait(rt, cf_monotonic_ms() + 200);
        }
    }
    return 0;
}

int cf_op_exactly_once(const struct cf_op *op)
{
    return op->task->rt->ck && op->task->rt->ck->exactly_once;
}

int cf_op_checkpointing(const struct cf_op *op)
{
    return op->task->rt->ck && op->task->rt->ck->enabled;
}

/* ---- restore ---- */

static int restore_op(struct cf_task *task, struct cf_op *op, const struct cf_ckpt_meta *meta,
                      const struct cf_ckpt_op *mop, struct cf_err *err)
{
    struct cf_rt_ckpt *ck = task->rt->ck;
    int keyed = op_keyed(op);
    if (keyed && meta->max_parallelism != op->max_parallelism) {
        return cf_err_set(err, CF_ESPEC,
                          "%s: the checkpoint has max_parallelism %d, the job %d (key groups "
                          "cannot be redistributed)",
                          op->decl->id, meta->max_parallelism, op->max_parallelism);
    }
    int lo, hi;
    kg_range(op->subtask, op->parallelism, op->max_parallelism, &lo, &hi);
    struct cf_snapshot *snap = cf_snapshot_reader(meta->checkpoint_id, keyed ? lo : 0,
                                                  keyed ? hi : CF_STATE_KEY_GROUPS - 1);
    char **locals = cf_calloc((size_t)mop->nfiles + 1, sizeof(char *));
    int rc = cf_mkdirs(ck->tmpdir, 0700);
    if (rc) {
        rc = cf_err_set(err, CF_EIO, "cannot create %s: %s", ck->tmpdir, strerror(rc));
    }
    for (int i = 0; i < mop->nfiles && rc == 0; i++) {
        const struct cf_ckpt_file *f = &mop->files[i];
        if (keyed && (f->kg_hi < lo || f->kg_lo > hi)) {
            continue;
        }
        locals[i] = cf_asprintf("%s/restore-v%d-s%d-%s-%d.mdb", ck->tmpdir, task->vertex->index,
                                task->subtask, op->decl->id, i);
        rc = cf_obj_get_file(f->path, locals[i], err);
        if (rc) {
            cf_err_set(err, rc, "corrupt checkpoint %" PRId64 ": snapshot file %s: %s",
                       meta->checkpoint_id, f->path, err->msg);
            break;
        }
        char sum[32];
        rc = cf_ckpt_checksum_file(locals[i], sum, NULL, err);
        if (rc == 0 && strcmp(sum, f->checksum) != 0) {
            rc = cf_err_set(err, CF_EIO,
                            "corrupt checkpoint %" PRId64 ": snapshot file %s has checksum %s, "
                            "_metadata says %s",
                            meta->checkpoint_id, f->path, sum, f->checksum);
        }
        if (rc == 0) {
            rc = cf_snapshot_add_file(snap, locals[i], err);
        }
    }
    if (rc == 0 && cf_snapshot_has_ns(snap)) {
        struct cf_state_ns *ns = cf_op_state(op, err);
        rc = ns ? cf_snapshot_restore_ns(snap, ns, err) : CF_EIO;
    }
    if (rc == 0 && op->decl->plugin->restore) {
        rc = op->decl->plugin->restore(op, snap);
        if (rc) {
            cf_err_set(err, rc, "%s", task->failure[0] ? task->failure : cf_strerror(rc));
        }
    }
    cf_snapshot_free(snap);
    for (int i = 0; i < mop->nfiles; i++) {
        if (locals[i]) {
            unlink(locals[i]);
            cf_free(locals[i]);
        }
    }
    cf_free(locals);
    return rc;
}

int cf_rt_ckpt_restore(struct cf_task *task)
{
    struct cf_rt_ckpt *ck = task->rt->ck;
    if (!ck || !ck->restore) {
        return 0;
    }
    for (int k = 0; k < task->nops; k++) {
        struct cf_op *op = &task->ops[k];
        const struct cf_ckpt_op *mop = cf_ckpt_meta_op(ck->restore, op->decl->id);
        if (!mop || mop->nfiles == 0) {
            continue;
        }
        struct cf_err err;
        cf_err_clear(&err);
        int rc = restore_op(task, op, ck->restore, mop, &err);
        if (rc) {
            if (!task->failure[0] || !strstr(err.msg, task->failure)) {
                snprintf(task->failure, sizeof(task->failure),
                         "%s (subtask %d/%d): restore: %.900s", op->decl->id, op->subtask + 1,
                         op->parallelism, err.msg);
            }
            return rc;
        }
    }
    cf_info("restored from %s %" PRId64, ck->restore->savepoint ? "savepoint" : "checkpoint",
            ck->restore->checkpoint_id);
    return 0;
}

/* ---- uploads ---- */

static void run_upload(struct cf_runtime *rt, struct upload_job *job)
{
    struct cf_task *task = job->task;
    struct cf_runtime_ckpt_ack ack = {
        .checkpoint_id = job->id,
        .vertex = task->vertex->index,
        .subtask = task->subtask,
        .decline = job->decline,
        .alignment_ms = job->alignment_ms,
    };
    struct cf_ckpt_file *files = cf_calloc((size_t)job->nfiles + 1, sizeof(*files));
    const char **ids = cf_calloc((size_t)job->nfiles + 1, sizeof(char *));
    int *pars = cf_calloc((size_t)job->nfiles + 1, sizeof(int));
    char(*sums)[32] = cf_calloc((size_t)job->nfiles + 1, sizeof(*sums));
    for (int i = 0; i < job->nfiles && !ack.decline; i++) {
        const struct upload_file *uf = &job->files[i];
        const struct cf_op *op = &task->ops[uf->op];
        struct cf_err err;
        cf_err_clear(&err);
        char *name = cf_asprintf("%s/%d.mdb", op->decl->id, task->subtask);
        char *url = cf_obj_join(job->dir, name);
        cf_free(name);
        int rc = cf_ckpt_checksum_file(uf->local, sums[i], &files[i].size, &err);
        if (rc == 0) {
            rc = cf_obj_put_file(url, uf->local, &err);
        }
        if (rc) {
            cf_warn("checkpoint %" PRId64 ": upload failed: %s", job->id, err.msg);
            ack.decline = "a snapshot upload failed (see the worker log)";
            cf_free(url);
            break;
        }
        files[i].subtask = task->subtask;
        files[i].path = url;
        files[i].checksum = sums[i];
        files[i].kg_lo = uf->kg_lo;
        files[i].kg_hi = uf->kg_hi;
        ids[i] = op->decl->id;
        pars[i] = op->parallelism;
        ack.state_bytes += files[i].size;
        ack.nfiles = i + 1;
    }
    ack.files = files;
    ack.op_ids = ids;
    ack.op_parallelism = pars;
    ack.duration_ms = (cf_monotonic_ns() - job->start_ns) / 1000000 + job->alignment_ms;
    if (ack.decline) {
        ack.nfiles = 0;
    }
    rt->ck->hooks.ack(rt->ck->hooks.arg, &ack);
    for (int i = 0; i < job->nfiles; i++) {
        unlink(job->files[i].local);
        cf_free(job->files[i].local);
        cf_free(files[i].path);
    }
    cf_free(files);
    cf_free(ids);
    cf_free(pars);
    cf_free(sums);
}

static void job_free(struct upload_job *job)
{
    cf_free(job->files);
    cf_free(job->dir);
    cf_free(job);
}

static void *upload_main(void *arg)
{
    struct cf_runtime *rt = arg;
    struct cf_rt_ckpt *ck = rt->ck;
    for (;;) {
        pthread_mutex_lock(&ck->qlock);
        while (!ck->head && !ck->stopping) {
            pthread_cond_wait(&ck->qcond, &ck->qlock);
        }
        struct upload_job *job = ck->head;
        if (job) {
            ck->head = job->next;
            if (!ck->head) {
                ck->tail = NULL;
            }
        }
        pthread_mutex_unlock(&ck->qlock);
        if (!job) {
            return NULL; /* stopping, queue drained */
        }
        if (!(ck->stopping && __atomic_load_n(&rt->canceled, __ATOMIC_RELAXED))) {
            run_upload(rt, job);
        } else {
            for (int i = 0; i < job->nfiles; i++) {
                unlink(job->files[i].local);
                cf_free(job->files[i].local);
            }
        }
        job_free(job);
    }
}

void cf_rt_ckpt_destroy(struct cf_runtime *rt)
{
    struct cf_rt_ckpt *ck = rt->ck;
    if (!ck) {
        return;
    }
    pthread_mutex_lock(&ck->qlock);
    ck->stopping = 1;
    pthread_cond_signal(&ck->qcond);
    pthread_mutex_unlock(&ck->qlock);
    if (ck->uploader_started) {
        pthread_join(ck->uploader, NULL);
    }
    for (int i = 0; i < TRIGGERS_KEPT; i++) {
        cf_free(ck->triggers[i].dir);
    }
    cf_ckpt_meta_free(ck->restore);
    if (ck->tmpdir) {
        rmdir(ck->tmpdir);
    }
    cf_free(ck->tmpdir);
    pthread_cond_destroy(&ck->qcond);
    pthread_mutex_destroy(&ck->qlock);
    cf_free(ck);
    rt->ck = NULL;
}
