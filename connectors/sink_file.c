/*
 * sink.file - writes rows as JSON lines or CSV into part files under a local directory or an
 * object storage prefix (s3://bucket/prefix, gs://bucket/prefix), optionally partitioned by
 * time and fields: "partition_by": "{event_type}/year=%Y/month=%m".
 *
 * A part is "<path>/<partition>/part-<run>-<subtask>-<n>.<ext>". It becomes visible under
 * that name only when it is complete: rolled by size or age, or at the end of the input.
 *  - Local directory: written as ".part-<run>-<subtask>-<n>.<ext>.inprogress", fsync'd and
 *    renamed. A reader that skips dot-files never sees a partial file.
 *  - Object storage: a streaming upload to the final URL (common/objstore: a multipart
 *    upload in parts of the client's part size, 8 MiB, so a large part never sits in memory
 *    whole, but each open part may hold one); completing it is cf_obj_upload_prepare(),
 *    which gives a token, and cf_obj_upload_commit(token) makes the object appear. Nothing
 *    is listed before that. A failing or canceled task aborts its open uploads (close()).
 * Both are one mechanism: a complete part is "staged" (the tmp path, or the upload token)
 * and commit_part() makes it visible (rename, or CompleteMultipartUpload), idempotently.
 * Uploads run on the task thread: a slow store back-pressures the job like a slow disk.
 *
 * Checkpoints: every snapshot completes the open parts (parts roll on every checkpoint), so
 * what came before the barrier is never only in a part that a failure would lose. Names then
 * carry the job id and a random tag per subtask and attempt, so attempts never collide.
 *  - at_least_once: they are committed at once.
 *  - exactly_once (two-phase commit): they become pending; the snapshot records the pending
 *    ones (final name -> tmp path or upload token) and they are committed when that
 *    checkpoint completes (notify_checkpoint_complete), or at the end of the job's input
 *    once the coordinator confirms it. After a failure, restore() commits the pending parts
 *    of the checkpoint it restores from (idempotent: they may have been committed before the
 *    failure; tokens can be committed by any process), so the output is exactly what the
 *    checkpointed state says was written.
 *    Output of failed attempts that no completed checkpoint covers: in a local directory,
 *    restore() deletes those hidden part files. In object storage it is invisible - uploads
 *    never completed - but not deleted: the client has no way to find them (no
 *    ListMultipartUploads), so their parts stay until the bucket's lifecycle rule
 *    (AbortIncompleteMultipartUpload) removes them. docs/job-spec.md says so.
 *
 * Partition time: the `partition_time` field if set, else a `window_start` field (window
 * output), else the row's event time, else the processing time.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/buf.h"
#include "common/base/fs.h"
#include "common/base/hash.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/csv_codec.h"
#include "common/data/json_codec.h"
#include "common/objstore/objstore.h"
#include "worker/op.h"

enum sink_format { OUT_JSON, OUT_CSV };

struct fsink_conf {
    char *path;
    int format;
    char *partition_by;
    char *partition_time;
    int64_t max_size;
    int64_t interval;
    int header;
    int64_t max_open;
};

static const struct cf_conf_key fsink_keys[] = {
    {"path", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct fsink_conf, path), NULL,
     "Output directory (created if missing), or an object storage prefix: s3://bucket/prefix, "
     "gs://bucket/prefix."},
    {"format", CF_CONF_ENUM, 0, "json", offsetof(struct fsink_conf, format), "json|csv",
     "json: one object per line; csv: RFC 4180."},
    {"partition_by", CF_CONF_STRING, 0, NULL, offsetof(struct fsink_conf, partition_by), NULL,
     "Subdirectory template: strftime conversions (%Y %m %d %H %M ...) on the partition time "
     "and {field} values, e.g. \"{event_type}/year=%Y/month=%m/day=%d/hour=%H\"."},
    {"partition_time", CF_CONF_STRING, 0, NULL, offsetof(struct fsink_conf, partition_time), NULL,
     "Timestamp field for partition_by (default: window_start, else event time)."},
    {"rolling", CF_CONF_OBJECT, 0, NULL, 0, NULL, "When a part file is completed."},
    {"rolling.max_size", CF_CONF_SIZE, 0, "128MB", offsetof(struct fsink_conf, max_size), NULL,
     "Roll a part file when it reaches this size."},
    {"rolling.interval", CF_CONF_DURATION, 0, "60s", offsetof(struct fsink_conf, interval), NULL,
     "Roll a part file this long after it was opened."},
    {"header", CF_CONF_BOOL, 0, "true", offsetof(struct fsink_conf, header), NULL,
     "csv: start each part file with a header line."},
    {"max_open_files", CF_CONF_INT, 0, "256", offsetof(struct fsink_conf, max_open), NULL,
     "Part files open at once per subtask; the least recently used is rolled beyond it."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

/* A partition template: literal runs (with strftime conversions) and {field} values. */
struct seg {
    char *text; /* literal, or NULL for a field */
    int field;
};

struct fsink_prep {
    int nsegs;
    struct seg *segs;
    int has_fields;
    int has_time;
    int64_t granularity; /* ms: the partition string changes at most this often */
    int time_idx;        /* partition time field, or -1 */
};

/* An open part. Exactly one of fd (local) and up (object storage) is in use. */
struct writer {
    char *part;               /* partition path ("" without partition_by) */
    char *final;              /* full path or object URL once committed */
    char *tmp;                /* local: full path of the in-progress file; else NULL */
    int fd;                   /* local: open on tmp; else -1 */
    struct cf_obj_upload *up; /* object storage: the streaming upload; else NULL */
    int64_t size;
    int64_t opened_ms;
    uint64_t last_use;
    struct cf_buf buf;
};

/* A complete part waiting for the checkpoint that covers it (exactly once). `staged` is what
 * commit_part() needs to make it visible: the local tmp path, or the upload's token. */
struct pending {
    char *final, *staged;
    int64_t ckpt; /* 0: not yet in a snapshot; else the checkpoint that covers it */
};

struct fsink_state {
    struct pending *pending;
    int npending, cap_pending;
    int exactly_once;
    int remote; /* path is an object storage URL */
    struct writer *writers;
    int nwriters;
    int cap;
    uint64_t use_clock;
    int64_t counter;
    char run[32];
    const char *ext;
    struct cf_json_encoder *enc;
    struct cf_buf part;  /* partition of the current row */
    struct cf_buf cache; /* cached partition string for time-only templates */
    int64_t cache_bucket;
    int cache_valid;
    int64_t last_roll_check;
    int timer_set;
};

static void prep_free(struct fsink_prep *prep)
{
    if (!prep) {
        return;
    }
    for (int i = 0; i < prep->nsegs; i++) {
        cf_free(prep->segs[i].text);
    }
    cf_free(prep->segs);
    cf_free(prep);
}

static int64_t conversion_granularity(char c)
{
    switch (c) {
    case 'L': return 1;
    case 'S':
    case 's':
    case 'T': return 1000;
    case 'M': return 60000;
    case 'H': return 3600000;
    case '%': return INT64_MAX;
    default: return 86400000; /* dates: days and coarser */
    }
}

static int parse_template(struct fsink_prep *prep, const char *tpl, const struct cf_schema *in,
                          const char *path, struct cf_err *err)
{
    prep->granularity = INT64_MAX;
    const char *p = tpl;
    while (*p) {
        prep->segs = cf_realloc(prep->segs, (size_t)(prep->nsegs + 1) * sizeof(struct seg));
        struct seg *s = &prep->segs[prep->nsegs++];
        s->text = NULL;
        s->field = -1;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close) {
                return cf_err_append(err, CF_ESPEC, "%s.partition_by: unclosed '{'", path);
            }
            char name[128];
            size_t n = (size_t)(close - p - 1);
            if (n == 0 || n >= sizeof(name)) {
                return cf_err_append(err, CF_ESPEC, "%s.partition_by: bad field reference", path);
            }
            memcpy(name, p + 1, n);
            name[n] = '\0';
            s->field = cf_schema_find(in, name);
            if (s->field < 0) {
                return cf_err_append(err, CF_ESPEC, "%s.partition_by: unknown field '%s'", path,
                                     name);
            }
            prep->has_fields = 1;
            p = close + 1;
            continue;
        }
        const char *q = p;
        while (*q && *q != '{') {
            if (*q == '%' && q[1]) {
                int64_t g = conversion_granularity(q[1]);
                if (g < prep->granularity) {
                    prep->granularity = g;
                }
                if (q[1] != '%') {
                    prep->has_time = 1;
                }
                q++;
            }
            q++;
        }
        s->text = cf_strndup(p, (size_t)(q - p));
        const char *bad = NULL;
        if (cf_ts_strftime_check(s->text, &bad) != 0) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.partition_by: unknown conversion '%.2s' (use %%Y %%m %%d "
                                 "%%H %%M %%S %%j %%a %%u %%w %%y %%e %%F %%T %%s %%L)",
                                 path, bad);
        }
        if (strstr(s->text, "..")) {
            return cf_err_append(err, CF_ESPEC, "%s.partition_by: must not contain '..'", path);
        }
        p = q;
    }
    if (tpl[0] == '/') {
        return cf_err_append(err, CF_ESPEC, "%s.partition_by: must be a relative path", path);
    }
    return 0;
}

/* 1 if path (a configured path or a part's final name) is in object storage. */
static int is_remote(const char *path)
{
    return strncmp(path, "s3://", 5) == 0 || strncmp(path, "gs://", 5) == 0;
}

static int fsink_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct fsink_conf *conf = decl->conf;
    struct fsink_prep *prep = cf_new(struct fsink_prep);
    decl->prep = prep;
    prep->time_idx = -1;
    if (is_remote(conf->path) && (conf->path[5] == '\0' || conf->path[5] == '/')) {
        return cf_err_append(err, CF_ESPEC, "%s.path: '%s' names no bucket (%.5sbucket/prefix)",
                             decl->path, conf->path, conf->path);
    }
    if (!conf->path[0]) {
        return cf_err_append(err, CF_ESPEC, "%s.path: must not be empty", decl->path);
    }
    if (conf->max_size < 1024) {
        return cf_err_append(err, CF_ESPEC, "%s.rolling.max_size: must be at least 1KB",
                             decl->path);
    }
    if (conf->interval < 1) {
        return cf_err_append(err, CF_ESPEC, "%s.rolling.interval: must be positive", decl->path);
    }
    if (conf->max_open < 1) {
        return cf_err_append(err, CF_ESPEC, "%s.max_open_files: must be at least 1", decl->path);
    }
    const struct cf_schema *in = decl->in_schema;
    const char *tf = conf->partition_time;
    if (tf) {
        prep->time_idx = cf_schema_find(in, tf);
        if (prep->time_idx < 0 || in->fields[prep->time_idx].type != CF_TYPE_TIMESTAMP) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.partition_time: '%s' is not a timestamp field of the input",
                                 decl->path, tf);
        }
    } else {
        int ws = cf_schema_find(in, "window_start");
        if (ws >= 0 && in->fields[ws].type == CF_TYPE_TIMESTAMP) {
            prep->time_idx = ws;
        }
    }
    if (conf->partition_by && parse_template(prep, conf->partition_by, in, decl->path, err) != 0) {
        return CF_ESPEC;
    }
    return 0;
}

static void fsink_unconfigure(struct cf_op_decl *decl)
{
    prep_free(decl->prep);
}

static int fsink_open(struct cf_op *op, struct cf_err *err)
{
    const struct fsink_conf *conf = op->conf;
    struct fsink_state *st = cf_new(struct fsink_state);
    op->state = st;
    st->remote = is_remote(conf->path);
    if (!st->remote) {
        int rc = cf_mkdirs(conf->path, 0777);
        if (rc != 0) {
            return cf_err_set(err, CF_EIO, "cannot create '%s': %s", conf->path, strerror(rc));
        }
    }
    /* Part names carry the run (job id) so reruns into one directory never collide. A job
     * that checkpoints also tags each attempt: a restored attempt numbers its parts from 0
     * again and must not replace the committed parts of the attempt before it. */
    const char *jid = cf_op_job_id(op);
    st->exactly_once = cf_op_exactly_once(op);
    if (cf_op_checkpointing(op)) {
        snprintf(st->run, sizeof(st->run), "%.8s-%08x", jid,
                 (unsigned)(cf_hash_u64((uint64_t)cf_now_ms() * 1000003u + (uint64_t)getpid(),
                                        (uint64_t)op->subtask) &
                            0xffffffffu));
    } else {
        snprintf(st->run, sizeof(st->run), "%.8s", jid);
    }
    st->ext = conf->format == OUT_CSV ? "csv" : "json";
    st->enc = cf_json_encoder_create(op->decl->in_schema);
    cf_buf_init(&st->part);
    cf_buf_init(&st->cache);
    return 0;
}

/* Hands the buffered bytes to the part: write(2) or the upload (which sends each full
 * multipart part, so it may block on the network). */
static int flush_writer(struct cf_op *op, struct writer *w)
{
    if (w->up) {
        struct cf_err err;
        cf_err_clear(&err);
        if (w->buf.len && cf_obj_upload_write(w->up, w->buf.data, w->buf.len, &err) < 0) {
            /* the client's message names the URL, never a credential */
            return cf_op_fail(op, "cannot upload part: %s", err.msg);
        }
        cf_buf_reset(&w->buf);
        return 0;
    }
    size_t off = 0;
    while (off < w->buf.len) {
        ssize_t n = write(w->fd, w->buf.data + off, w->buf.len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return cf_op_fail(op, "cannot write '%s': %s", w->tmp, strerror(errno));
        }
        off += (size_t)n;
    }
    cf_buf_reset(&w->buf);
    return 0;
}

/* Frees a writer's resources. A part not completed stays invisible: a local in-progress
 * file stays a dot-file, an upload is aborted (cf_obj_upload_discard). */
static void writer_free(struct writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
    }
    cf_obj_upload_discard(w->up);
    cf_free(w->part);
    cf_free(w->tmp);
    cf_free(w->final);
    cf_buf_destroy(&w->buf);
}

/*
 * Makes a complete part visible under its final name: renames the local tmp file, or
 * commits the upload token. Idempotent, as restore() needs: a tmp already gone while final
 * exists, or an upload already completed, is success. With `recheck` (restore: the part was
 * probably committed before the failure) an object that exists is not committed again, which
 * costs one HEAD where a repeated commit may cost retries (s3rver answers 500 to an upload it
 * no longer knows). An existing final name is this part: names are unique per attempt.
 */
static int commit_part(struct cf_op *op, const char *final, const char *staged, int recheck)
{
    if (is_remote(final)) {
        struct cf_err err;
        cf_err_clear(&err);
        if (recheck && cf_obj_exists(final, &err) == 1) {
            return 0;
        }
        cf_err_clear(&err);
        if (cf_obj_upload_commit(staged, &err) < 0) {
            return cf_op_fail(op, "cannot commit part: %s", err.msg);
        }
        return 0;
    }
    if (rename(staged, final) == 0) {
        return 0;
    }
    if (errno == ENOENT && access(final, F_OK) == 0) {
        return 0;
    }
    return cf_op_fail(op, "cannot commit '%s' as '%s': %s", staged, final, strerror(errno));
}

/* Completes a part: flush, then fsync (local) or prepare the upload (object storage) -
 * either gives what commit_part() needs - and commit it now or, exactly once, make it
 * pending. Removes the writer. */
static int commit_writer(struct cf_op *op, struct fsink_state *st, int i)
{
    struct writer *w = &st->writers[i];
    char *staged = NULL;
    int rc = flush_writer(op, w);
    if (w->up) {
        if (rc == 0) {
            struct cf_err err;
            cf_err_clear(&err);
            /* prepare frees the upload, on failure too; the token is malloc'd (cf_free) */
            rc = cf_obj_upload_prepare(w->up, &staged, &err);
            w->up = NULL;
            if (rc < 0) {
                rc = cf_op_fail(op, "cannot upload part: %s", err.msg);
            }
        }
    } else {
        if (rc == 0 && fsync(w->fd) != 0) {
            rc = cf_op_fail(op, "cannot sync '%s': %s", w->tmp, strerror(errno));
        }
        close(w->fd);
        w->fd = -1;
        staged = w->tmp;
        w->tmp = NULL;
    }
    if (rc == 0 && st->exactly_once) {
        if (st->npending == st->cap_pending) {
            st->cap_pending = st->cap_pending ? st->cap_pending * 2 : 8;
            st->pending = cf_realloc(st->pending, (size_t)st->cap_pending * sizeof(*st->pending));
        }
        st->pending[st->npending++] = (struct pending){w->final, staged, 0};
        w->final = staged = NULL;
    } else if (rc == 0) {
        rc = commit_part(op, w->final, staged, 0);
    }
    cf_free(staged);
    writer_free(w);
    st->writers[i] = st->writers[--st->nwriters];
    return rc;
}

static int open_writer(struct cf_op *op, struct fsink_state *st, const char *part, int *index)
{
    const struct fsink_conf *conf = op->conf;
    if (st->nwriters >= conf->max_open) {
        int lru = 0;
        for (int i = 1; i < st->nwriters; i++) {
            if (st->writers[i].last_use < st->writers[lru].last_use) {
                lru = i;
            }
        }
        int rc = commit_writer(op, st, lru);
        if (rc) {
            return rc;
        }
    }
    if (st->nwriters == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->writers = cf_realloc(st->writers, (size_t)st->cap * sizeof(*st->writers));
    }
    struct writer *w = &st->writers[st->nwriters];
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    long long n = (long long)st->counter++;
    if (st->remote) {
        char *name =
            part[0] ? cf_asprintf("%s/part-%s-%d-%lld.%s", part, st->run, op->subtask, n, st->ext)
                    : cf_asprintf("part-%s-%d-%lld.%s", st->run, op->subtask, n, st->ext);
        char *url = cf_obj_join(conf->path, name); /* malloc'd: cf_free is free() */
        cf_free(name);
        struct cf_err err;
        cf_err_clear(&err);
        if (cf_obj_upload_begin(url, &w->up, &err) < 0) {
            cf_free(url);
            return cf_op_fail(op, "cannot start upload: %s", err.msg);
        }
        w->final = url;
    } else {
        char *dir = part[0] ? cf_asprintf("%s/%s", conf->path, part) : cf_strdup(conf->path);
        int errnum = cf_mkdirs(dir, 0777);
        if (errnum != 0) {
            int rc = cf_op_fail(op, "cannot create '%s': %s", dir, strerror(errnum));
            cf_free(dir);
            return rc;
        }
        w->final = cf_asprintf("%s/part-%s-%d-%lld.%s", dir, st->run, op->subtask, n, st->ext);
        w->tmp =
            cf_asprintf("%s/.part-%s-%d-%lld.%s.inprogress", dir, st->run, op->subtask, n, st->ext);
        cf_free(dir);
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (w->fd < 0) {
            int rc = cf_op_fail(op, "cannot create '%s': %s", w->tmp, strerror(errno));
            cf_free(w->tmp);
            cf_free(w->final);
            return rc;
        }
    }
    w->part = cf_strdup(part);
    w->opened_ms = cf_now_ms();
    cf_buf_init(&w->buf);
    if (conf->format == OUT_CSV && conf->header) {
        cf_csv_encode_header(op->decl->in_schema, ',', &w->buf);
        cf_buf_putc(&w->buf, '\n');
    }
    *index = st->nwriters++;
    return 0;
}

static int find_writer(struct cf_op *op, struct fsink_state *st, const char *part, size_t len)
{
    for (int i = 0; i < st->nwriters; i++) {
        if (strlen(st->writers[i].part) == len && memcmp(st->writers[i].part, part, len) == 0) {
            return i;
        }
    }
    int idx = -1;
    int rc = open_writer(op, st, part, &idx);
    return rc ? rc : idx;
}

/* Appends a field value to a partition path: '/' and NUL are replaced, NULL is "__null__". */
static void append_field(struct cf_buf *out, const struct cf_batch *b, int f, uint32_t r)
{
    if (b->cols[f].nulls[r]) {
        cf_buf_puts(out, "__null__");
        return;
    }
    size_t start = out->len;
    cf_batch_value_text(b, (uint32_t)f, r, out);
    for (size_t i = start; i < out->len; i++) {
        if (out->data[i] == '/' || out->data[i] == '\0') {
            out->data[i] = '_';
        }
    }
    if (out->len == start || (out->len - start <= 2 && out->data[start] == '.')) {
        cf_buf_puts(out, "__empty__");
    }
}

static void partition_of(const struct fsink_prep *prep, struct fsink_state *st,
                         const struct cf_batch *b, uint32_t r, int64_t now)
{
    int64_t t = now;
    if (prep->time_idx >= 0 && !b->cols[prep->time_idx].nulls[r]) {
        t = b->cols[prep->time_idx].v.i64[r];
    } else if (b->ts[r] != CF_TS_NONE) {
        t = b->ts[r];
    }
    if (!prep->has_fields) {
        int64_t bucket = prep->granularity == INT64_MAX ? 0 : t / prep->granularity;
        if (st->cache_valid && bucket == st->cache_bucket && t >= 0) {
            return; /* st->part already holds it */
        }
        st->cache_bucket = bucket;
        st->cache_valid = 1;
    }
    cf_buf_reset(&st->part);
    for (int i = 0; i < prep->nsegs; i++) {
        const struct seg *s = &prep->segs[i];
        if (s->text) {
            char tmp[512];
            int n = cf_ts_strftime(tmp, sizeof(tmp), s->text, t);
            if (n > 0) {
                cf_buf_append(&st->part, tmp, (size_t)n);
            }
        } else {
            append_field(&st->part, b, s->field, r);
        }
    }
}

static int roll_due(struct cf_op *op, struct fsink_state *st, int64_t now)
{
    const struct fsink_conf *conf = op->conf;
    for (int i = 0; i < st->nwriters;) {
        if (now - st->writers[i].opened_ms >= conf->interval) {
            int rc = commit_writer(op, st, i);
            if (rc) {
                return rc;
            }
        } else {
            i++;
        }
    }
    return 0;
}

static int fsink_process(struct cf_op *op, struct cf_batch *b)
{
    const struct fsink_conf *conf = op->conf;
    const struct fsink_prep *prep = op->decl->prep;
    struct fsink_state *st = op->state;
    int64_t now = cf_now_ms();
    int rc = 0;
    int cur = -1;
    if (!prep->nsegs && st->nwriters) {
        cur = 0;
    }
    for (uint32_t r = 0; r < b->n && rc == 0; r++) {
        if (prep->nsegs) {
            int was_valid = st->cache_valid;
            int64_t bucket = st->cache_bucket;
            partition_of(prep, st, b, r, now);
            if (prep->has_fields || !was_valid || bucket != st->cache_bucket) {
                cur = -1;
            }
        }
        if (cur < 0) {
            cur = find_writer(op, st, st->part.data ? st->part.data : "", st->part.len);
            if (cur < 0) {
                rc = cur;
                break;
            }
        }
        struct writer *w = &st->writers[cur];
        w->last_use = ++st->use_clock;
        size_t before = w->buf.len;
        if (conf->format == OUT_CSV) {
            cf_csv_encode_row(b, r, ',', &w->buf);
        } else {
            cf_json_encoder_row(st->enc, b, r, &w->buf);
        }
        cf_buf_putc(&w->buf, '\n');
        w->size += (int64_t)(w->buf.len - before);
        if (w->buf.len >= 64 * 1024) {
            rc = flush_writer(op, w);
        }
        if (rc == 0 && w->size >= conf->max_size) {
            rc = commit_writer(op, st, cur);
            cur = -1;
        }
    }
    cf_batch_release(b);
    if (rc == 0 && now - st->last_roll_check >= 1000) {
        st->last_roll_check = now;
        rc = roll_due(op, st, now);
    }
    if (rc == 0 && st->nwriters && !st->timer_set) {
        cf_op_timer_set(op, now + 1000);
        st->timer_set = 1;
    }
    return rc;
}

static int fsink_on_timer(struct cf_op *op, int64_t now)
{
    struct fsink_state *st = op->state;
    st->timer_set = 0;
    int rc = roll_due(op, st, now);
    if (rc == 0 && st->nwriters) {
        cf_op_timer_set(op, now + 1000);
        st->timer_set = 1;
    }
    return rc;
}

/* Completes every open part (committed, or pending under exactly once). */
static int commit_all(struct cf_op *op, struct fsink_state *st)
{
    while (st->nwriters) {
        int rc = commit_writer(op, st, st->nwriters - 1);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int fsink_finish(struct cf_op *op)
{
    return commit_all(op, op->state);
}

static int fsink_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    struct fsink_state *st = op->state;
    /* A restart replays only what came after this barrier: what came before must not stay
     * in an open part, which the failure would lose (an in-progress file is never renamed,
     * an upload never completed). At least once, completing commits; exactly once, the
     * parts become pending and are recorded below. */
    int rc = commit_all(op, st);
    if (rc || !st->exactly_once) {
        return rc;
    }
    int64_t id = cf_snapshot_id(snap);
    for (int i = 0; i < st->npending; i++) {
        struct pending *p = &st->pending[i];
        if (!p->ckpt) {
            p->ckpt = id;
        }
        rc = cf_snapshot_put(snap, p->final, strlen(p->final), p->staged, strlen(p->staged));
        if (rc) {
            return cf_op_fail(op, "cannot record pending part '%s' in checkpoint %lld", p->final,
                              (long long)id);
        }
    }
    return 0;
}

static int fsink_notify(struct cf_op *op, int64_t id)
{
    struct fsink_state *st = op->state;
    int rc = 0;
    for (int i = 0; i < st->npending && rc == 0;) {
        struct pending *p = &st->pending[i];
        if ((p->ckpt && p->ckpt <= id) || id == INT64_MAX) {
            rc = commit_part(op, p->final, p->staged, 0);
            cf_free(p->final);
            cf_free(p->staged);
            st->pending[i] = st->pending[--st->npending];
        } else {
            i++;
        }
    }
    return rc;
}

/* Commits one pending part recorded in the restored checkpoint (key: final name, value:
 * tmp path or upload token). Every subtask sees every entry. Local renames are cheap and
 * each subtask's orphan sweep relies on having done them all itself, so every subtask renames
 * every file (the first one wins, the others find it done). A remote commit costs round
 * trips, so each is done by one subtask, chosen by a hash of the name; all of them finish
 * before their subtask processes a record, and a failure fails the attempt, whose
 * successor commits again. */
static int restore_visit(void *arg, int key_group, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    (void)key_group;
    struct cf_op *op = arg;
    char *final = cf_strndup(key, klen);
    int rc = 0;
    if (!is_remote(final) ||
        cf_hash64(key, klen, 0) % (uint64_t)op->parallelism == (uint64_t)op->subtask) {
        char *staged = cf_strndup(val, vlen);
        rc = commit_part(op, final, staged, 1);
        cf_free(staged);
    }
    cf_free(final);
    return rc;
}

/*
 * 1 if the hidden part file `name` (".part-<job>-<tag>-<subtask>-<n>...") is an orphan this
 * subtask removes: another run tag than its own, and a subtask index i with i % parallelism
 * == this subtask. Tags are per subtask, so a file of this attempt has either this subtask's
 * tag or another index than those this subtask sweeps: another subtask of the attempt may
 * already be writing its first part while this one restores.
 */
static int is_my_orphan(const struct cf_op *op, const char *name, const char *prefix,
                        const char *mine)
{
    if (strncmp(name, prefix, strlen(prefix)) != 0 || !strncmp(name, mine, strlen(mine))) {
        return 0;
    }
    const char *tag = name + strlen(prefix);
    const char *dash = strchr(tag, '-');
    char *end;
    long idx = dash ? strtol(dash + 1, &end, 10) : -1;
    return idx >= 0 && end != dash + 1 && *end == '-' && idx % op->parallelism == op->subtask;
}

/* Deletes the hidden part files of this job under dir that older attempts wrote for the
 * subtask indexes this subtask sweeps (is_my_orphan): output written after the checkpoint
 * that was restored. */
static void remove_orphans(struct cf_op *op, const char *dir, int depth)
{
    struct fsink_state *st = op->state;
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    char prefix[64];
    snprintf(prefix, sizeof(prefix), ".part-%.8s-", cf_op_job_id(op));
    char mine[64];
    snprintf(mine, sizeof(mine), ".part-%s-", st->run);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
            continue;
        }
        char *path = cf_asprintf("%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && depth < 16) {
            remove_orphans(op, path, depth + 1);
        } else if (is_my_orphan(op, de->d_name, prefix, mine)) {
            unlink(path);
        }
        cf_free(path);
    }
    closedir(d);
}

static int fsink_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    struct fsink_state *st = op->state;
    int rc = cf_snapshot_scan(snap, restore_visit, op);
    if (rc == 0 && st->exactly_once && !st->remote) {
        /* Every pending file of the checkpoint is committed (by whichever subtask got there
         * first; this one renamed them all above); what is still hidden and from an older
         * attempt was never covered. Each subtask sweeps the indexes it owns, never the
         * files another subtask of this attempt is writing already. Object storage has no
         * such sweep (see the comment at the top of the file). */
        remove_orphans(op, ((const struct fsink_conf *)op->conf)->path, 0);
    }
    return rc;
}

static void fsink_close(struct cf_op *op)
{
    struct fsink_state *st = op->state;
    if (!st) {
        return;
    }
    /* Failed or canceled: pending parts stay staged (a completed checkpoint may cover them:
     * the next attempt's restore() commits those). */
    for (int i = 0; i < st->npending; i++) {
        cf_free(st->pending[i].final);
        cf_free(st->pending[i].staged);
    }
    cf_free(st->pending);
    /* Open parts stay incomplete and invisible: local in-progress files as dot-files (what
     * was written is flushed), uploads aborted. */
    for (int i = 0; i < st->nwriters; i++) {
        struct writer *w = &st->writers[i];
        if (w->fd >= 0) {
            flush_writer(op, w);
        }
        writer_free(w);
    }
    cf_free(st->writers);
    cf_json_encoder_destroy(st->enc);
    cf_buf_destroy(&st->part);
    cf_buf_destroy(&st->cache);
    cf_free(st);
}

const struct cf_op_plugin cf_conn_sink_file = {
    .type = "sink.file",
    .kind = CF_OP_KIND_SINK,
    .doc = "Writes JSON-lines or CSV part files into a directory or object storage (s3://, gs://), "
           "optionally partitioned.",
    .conf_size = sizeof(struct fsink_conf),
    .conf_keys = fsink_keys,
    .configure = fsink_configure,
    .unconfigure = fsink_unconfigure,
    .open = fsink_open,
    .process = fsink_process,
    .on_timer = fsink_on_timer,
    .finish = fsink_finish,
    .snapshot = fsink_snapshot,
    .restore = fsink_restore,
    .notify_checkpoint_complete = fsink_notify,
    .close = fsink_close,
};
