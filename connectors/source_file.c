/*
 * source.file - reads JSON-lines or CSV files: a file, a directory (its regular files not
 * starting with '.' or '_', in name order) or a glob. Bounded: the job finishes at the end
 * of the input.
 *
 * Files are cut into splits of `split_size` bytes (CSV with a header: whole files); split k
 * is owned by subtask k % parallelism. A line belongs to the split in which it starts, so
 * splits never lose or duplicate a line. Lines that do not parse or fit the schema go to
 * the "errors" side output with their location as "<path>@<byte offset>".
 *
 * The subtasks in one process read the splits of all of them, each taking the next one in
 * split order when it is done with its last (as Flink's split enumerator hands splits to the
 * reader that asks), so they end together however the work falls; subtasks in other
 * processes read their own. Each subtask so reads its splits in file order, as before.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/mem.h"
#include "common/data/csv_codec.h"
#include "common/data/json_codec.h"
#include "worker/evtime.h"
#include "worker/op.h"
#include "worker/ratelimit.h"
#include "worker/srcerr.h"

enum file_format { FMT_JSON, FMT_CSV };

struct file_conf {
    char *path;
    int format;
    const cJSON *schema;
    char *delimiter;
    int header;
    int64_t rate;
    int64_t batch_rows;
    int64_t split_size;
    struct cf_evtime_conf event_time;
};

static const struct cf_conf_key file_keys[] = {
    {"path", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct file_conf, path), NULL,
     "A file, a directory or a glob pattern."},
    {"format", CF_CONF_ENUM, 0, "json", offsetof(struct file_conf, format), "json|csv",
     "json: one JSON object per line; csv: RFC 4180 lines."},
    {"schema", CF_CONF_JSON, CF_CONF_REQUIRED, NULL, offsetof(struct file_conf, schema), NULL,
     "Object of field name to type (string, int, double, bool, timestamp)."},
    {"delimiter", CF_CONF_STRING, 0, ",", offsetof(struct file_conf, delimiter), NULL,
     "csv: the field delimiter (one character)."},
    {"header", CF_CONF_BOOL, 0, "false", offsetof(struct file_conf, header), NULL,
     "csv: the first line of each file names the columns."},
    {"rate", CF_CONF_INT, 0, "0", offsetof(struct file_conf, rate), NULL,
     "Replay speed in records/s over all subtasks; 0: as fast as possible."},
    {"batch_rows", CF_CONF_INT, 0, "512", offsetof(struct file_conf, batch_rows), NULL,
     "Rows per batch at most (a watermark follows every batch): lower it to cut latency or "
     "to decide lateness record by record."},
    {"split_size", CF_CONF_SIZE, 0, "32MB", offsetof(struct file_conf, split_size), NULL,
     "Files are read in splits of this size; the subtasks in one process take the next split "
     "when they finish one."},
    CF_EVTIME_CONF_KEYS(struct file_conf, event_time),
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

#define LINE_MAX_BYTES (16 * 1024 * 1024)
#define READ_CHUNK     (1024 * 1024)

struct file_prep {
    struct cf_schema *schema;
    int ts_idx;
    int errors_out;
};

struct split {
    int file;
    int owner; /* k % parallelism: writes the split's restored entry to checkpoints */
    int64_t start;
    int64_t end;
    int64_t resume; /* restored: offset of the next line to read (a line start; >= end: read
                     * to its end), else -1 */
};

/* Shared by the subtasks in this process (cf_op_shared): the next split to hand out. */
struct split_queue {
    int next;
};

struct file_state {
    char **files;
    int nfiles;
    struct split *splits; /* the splits of the subtasks in this process, in order */
    int nsplits;
    struct split_queue *queue;
    int *taken; /* indexes in splits of the splits this subtask took, in order */
    int ntaken;
    int cur;         /* split being read (the last taken), or -1 */
    int drained;     /* the queue had no split left */
    int fd;          /* -1 when no split is open */
    char *buf;       /* read buffer */
    size_t cap;      /* its size */
    size_t lo, hi;   /* unread bytes are buf[lo, hi) */
    int64_t buf_off; /* file offset of buf[0] */
    int eof;
    int64_t line_off;     /* file offset of the next line */
    int skipping;         /* discarding the rest of an overlong line */
    int64_t cur_line_off; /* file offset of the line last returned */
    struct cf_json_decoder *json;
    struct cf_csv_decoder *csv;
    struct cf_srcerr errors;
    struct cf_wmgen wm;
    struct cf_pace pace;
    char location[512];
};

static int file_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct file_conf *conf = decl->conf;
    struct file_prep *prep = cf_new(struct file_prep);
    decl->prep = prep;
    if (cf_srcerr_schema(decl, conf->schema, &prep->schema, err) != 0) {
        return CF_ESPEC;
    }
    if (strlen(conf->delimiter) != 1 || strchr("\"\r\n", conf->delimiter[0])) {
        return cf_err_append(err, CF_ESPEC, "%s.delimiter: must be one character (not a quote)",
                             decl->path);
    }
    if (conf->rate < 0) {
        return cf_err_append(err, CF_ESPEC, "%s.rate: must not be negative", decl->path);
    }
    if (conf->batch_rows < 1 || conf->batch_rows > CF_BATCH_ROWS) {
        return cf_err_append(err, CF_ESPEC, "%s.batch_rows: must be between 1 and %d", decl->path,
                             CF_BATCH_ROWS);
    }
    if (conf->split_size < 4096) {
        return cf_err_append(err, CF_ESPEC, "%s.split_size: must be at least 4KB", decl->path);
    }
    if (cf_evtime_check(&conf->event_time, prep->schema, decl->path, &prep->ts_idx, err) != 0) {
        return CF_ESPEC;
    }
    prep->errors_out = cf_srcerr_declare(decl, prep->schema, prep->ts_idx);
    return 0;
}

static void file_unconfigure(struct cf_op_decl *decl)
{
    struct file_prep *prep = decl->prep;
    if (prep) {
        cf_schema_release(prep->schema);
        cf_free(prep);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(struct file_state *st, const char *path)
{
    st->files = cf_realloc(st->files, (size_t)(st->nfiles + 1) * sizeof(char *));
    st->files[st->nfiles++] = cf_strdup(path);
}

/* Expands conf->path into the sorted list of input files. */
static int list_files(struct file_state *st, const char *path, struct cf_err *err)
{
    struct stat sb;
    if (strpbrk(path, "*?[")) {
        glob_t g;
        int rc = glob(path, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            return cf_err_set(err, CF_ENOENT, "no file matches '%s'", path);
        }
        if (rc != 0) {
            return cf_err_set(err, CF_EIO, "cannot expand '%s'", path);
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (stat(g.gl_pathv[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
                add_file(st, g.gl_pathv[i]);
            }
        }
        globfree(&g);
    } else if (stat(path, &sb) != 0) {
        return cf_err_set(err, CF_ENOENT, "cannot read '%s': %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (!d) {
            return cf_err_set(err, CF_EIO, "cannot open directory '%s': %s", path, strerror(errno));
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.' || de->d_name[0] == '_') {
                continue;
            }
            char *full = cf_asprintf("%s/%s", path, de->d_name);
            if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {
                add_file(st, full);
            }
            cf_free(full);
        }
        closedir(d);
    } else {
        add_file(st, path);
    }
    qsort(st->files, (size_t)st->nfiles, sizeof(char *), cmp_str);
    return 0;
}

static void *queue_create(struct cf_op *op)
{
    (void)op;
    return cf_new(struct split_queue);
}

static void queue_destroy(void *queue)
{
    cf_free(queue);
}

/* The next split for this subtask to read (an index in st->splits), or -1 when none is left. */
static int take_split(struct file_state *st)
{
    for (;;) {
        int k = __atomic_fetch_add(&st->queue->next, 1, __ATOMIC_RELAXED);
        if (k >= st->nsplits) {
            return -1;
        }
        const struct split *sp = &st->splits[k];
        if (sp->resume < sp->end) {
            st->taken[st->ntaken++] = k;
            return k;
        }
        /* read to its end before the checkpoint restored: its owner keeps its entry */
    }
}

static int file_open(struct cf_op *op, struct cf_err *err)
{
    const struct file_conf *conf = op->conf;
    const struct file_prep *prep = op->decl->prep;
    struct file_state *st = cf_new(struct file_state);
    op->state = st;
    st->fd = -1;
    st->cur = -1;
    int rc = list_files(st, conf->path, err);
    if (rc) {
        return rc;
    }
    /* Cut every file into splits; keep those of the subtasks in this process. */
    int k = 0;
    int whole = conf->format == FMT_CSV && conf->header;
    for (int f = 0; f < st->nfiles; f++) {
        struct stat sb;
        if (stat(st->files[f], &sb) != 0) {
            return cf_err_set(err, CF_EIO, "cannot read '%s': %s", st->files[f], strerror(errno));
        }
        int64_t size = sb.st_size;
        int64_t step = whole ? (size > 0 ? size : 1) : conf->split_size;
        for (int64_t start = 0; start < size || (start == 0 && size == 0); start += step, k++) {
            int owner = k % op->parallelism;
            if (cf_op_subtask_local(op, owner) && size > 0) {
                st->splits =
                    cf_realloc(st->splits, (size_t)(st->nsplits + 1) * sizeof(struct split));
                st->splits[st->nsplits++] =
                    (struct split){f, owner, start, start + step < size ? start + step : size, -1};
            }
            if (size == 0) {
                break;
            }
        }
    }
    st->taken = cf_calloc((size_t)st->nsplits + 1, sizeof(*st->taken));
    st->queue = cf_op_shared(op, queue_create, queue_destroy);
    st->cap = READ_CHUNK;
    st->buf = cf_malloc(st->cap);
    if (conf->format == FMT_CSV) {
        struct cf_csv_options opts = {.delimiter = conf->delimiter[0], .header = conf->header};
        st->csv = cf_csv_decoder_create(prep->schema, &opts);
    } else {
        st->json = cf_srcerr_json_decoder(op, prep->schema, prep->ts_idx);
    }
    cf_srcerr_init(&st->errors, prep->errors_out);
    cf_wmgen_init(&st->wm, &conf->event_time, 1);
    cf_pace_init(&st->pace, (double)conf->rate / op->parallelism);
    return 0;
}

static int fill(struct file_state *st)
{
    if (st->lo > 0) {
        memmove(st->buf, st->buf + st->lo, st->hi - st->lo);
        st->buf_off += (int64_t)st->lo;
        st->hi -= st->lo;
        st->lo = 0;
    }
    if (st->hi == st->cap) {
        if (st->cap >= LINE_MAX_BYTES + READ_CHUNK) {
            return 1; /* caller handles the overlong line */
        }
        st->cap *= 2;
        st->buf = cf_realloc(st->buf, st->cap);
    }
    ssize_t n;
    do {
        n = read(st->fd, st->buf + st->hi, st->cap - st->hi);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -1;
    }
    if (n == 0) {
        st->eof = 1;
    }
    st->hi += (size_t)n;
    return 0;
}

/* A CSV file resumed past its header: decode the header line again (column mapping). */
static int read_header(struct cf_op *op, struct file_state *st, const char *path)
{
    char *buf = cf_malloc(READ_CHUNK);
    ssize_t n = pread(st->fd, buf, READ_CHUNK, 0);
    char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
    int rc = 0;
    if (!nl) {
        rc = cf_op_fail(op, "cannot read the CSV header of '%s' again", path);
    } else {
        struct cf_batch *b = cf_op_batch_get(op, 0);
        struct cf_err err;
        cf_err_clear(&err);
        size_t len = (size_t)(nl - buf);
        if (len && buf[len - 1] == '\r') {
            len--;
        }
        if (cf_csv_decode_line(st->csv, buf, len, b, &err) != 1) {
            rc = cf_op_fail(op, "the CSV header of '%s' changed: %s", path, err.msg);
        }
        cf_batch_release(b);
    }
    cf_free(buf);
    return rc;
}

static int open_split(struct cf_op *op, struct file_state *st)
{
    const struct split *sp = &st->splits[st->cur];
    const char *path = st->files[sp->file];
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0) {
        return cf_op_fail(op, "cannot open '%s': %s", path, strerror(errno));
    }
    int64_t from = sp->start > 0 ? sp->start - 1 : 0;
    if (lseek(st->fd, from, SEEK_SET) < 0) {
        return cf_op_fail(op, "cannot seek in '%s': %s", path, strerror(errno));
    }
    st->lo = st->hi = 0;
    st->buf_off = from;
    st->eof = 0;
    st->skipping = 0;
    st->line_off = sp->start;
    if (st->csv) {
        cf_csv_decoder_reset(st->csv);
    }
    if (sp->resume >= 0) {
        /* Restored from a checkpoint: resume at a line start (a CSV header, if any, was
         * read before the checkpoint). */
        if (lseek(st->fd, sp->resume, SEEK_SET) < 0) {
            return cf_op_fail(op, "cannot seek in '%s': %s", path, strerror(errno));
        }
        st->buf_off = sp->resume;
        st->line_off = sp->resume;
        const struct file_conf *conf = op->conf;
        if (st->csv && conf->header && sp->resume > 0) {
            return read_header(op, st, path);
        }
        return 0;
    }
    if (sp->start > 0) {
        /* Skip the line that began in the previous split. */
        st->skipping = 1;
        st->line_off = from;
    }
    return 0;
}

/*
 * Returns the next line of the current split in *line and *len (without "\n"), 1 at the end of
 * the split, or a negative error.
 */
static int next_line(struct cf_op *op, struct file_state *st, const char **line, size_t *len)
{
    const struct split *sp = &st->splits[st->cur];
    for (;;) {
        if (!st->skipping && st->line_off >= sp->end) {
            return 1;
        }
        char *nl = st->lo < st->hi ? memchr(st->buf + st->lo, '\n', st->hi - st->lo) : NULL;
        if (nl || (st->eof && st->lo < st->hi)) {
            size_t n = nl ? (size_t)(nl - (st->buf + st->lo)) : st->hi - st->lo;
            const char *l = st->buf + st->lo;
            int64_t off = st->line_off;
            st->lo += n + (nl ? 1 : 0);
            st->line_off = st->buf_off + (int64_t)st->lo;
            if (st->skipping) {
                st->skipping = 0;
                continue;
            }
            if (n > LINE_MAX_BYTES) {
                snprintf(st->location, sizeof(st->location), "%s@%lld", st->files[sp->file],
                         (long long)off);
                int rc =
                    cf_srcerr_add(&st->errors, op, l, 256, "line longer than 16 MiB", st->location);
                if (rc) {
                    return rc;
                }
                continue;
            }
            *line = l;
            *len = n;
            st->cur_line_off = off; /* the location text is built only for bad records */
            return 0;
        }
        if (st->eof) {
            return 1;
        }
        int rc = fill(st);
        if (rc < 0) {
            return cf_op_fail(op, "cannot read '%s': %s", st->files[sp->file], strerror(errno));
        }
        if (rc > 0) {
            /* No newline within the limit: report the line and drop bytes up to the next
             * newline. */
            snprintf(st->location, sizeof(st->location), "%s@%lld", st->files[sp->file],
                     (long long)st->line_off);
            int e = cf_srcerr_add(&st->errors, op, st->buf + st->lo, 256, "line longer than 16 MiB",
                                  st->location);
            if (e) {
                return e;
            }
            st->skipping = 1;
            st->buf_off += (int64_t)st->hi;
            st->lo = st->hi = 0;
        }
    }
}

static int decode(struct file_state *st, const struct file_prep *prep, const char *line, size_t len,
                  struct cf_batch *b, struct cf_err *err)
{
    int rc = st->json ? cf_json_decode_line(st->json, line, len, b, err)
                      : cf_csv_decode_line(st->csv, line, len, b, err);
    if (rc == 0 && prep->ts_idx >= 0 && b->cols[prep->ts_idx].nulls[b->n - 1]) {
        cf_batch_drop_last(b);
        return cf_err_set(err, CF_ETYPE, "field '%s' is null: the record has no event time",
                          prep->schema->fields[prep->ts_idx].name);
    }
    return rc;
}

static int file_poll(struct cf_op *op, int64_t *wait_ms)
{
    const struct file_prep *prep = op->decl->prep;
    struct file_state *st = op->state;
    const struct file_conf *conf = op->conf;
    int64_t budget = cf_pace_allow(&st->pace, conf->batch_rows, wait_ms);
    if (budget == 0) {
        return CF_EAGAIN;
    }
    struct cf_batch *b = cf_op_batch_get(op, 0);
    int rc = 0;
    while (budget > 0 && !cf_batch_full(b)) {
        if (st->fd < 0) {
            st->cur = st->drained ? -1 : take_split(st);
            if (st->cur < 0) {
                st->drained = 1;
                break;
            }
            if ((rc = open_split(op, st)) != 0) {
                break;
            }
        }
        const char *line = NULL;
        size_t len = 0;
        rc = next_line(op, st, &line, &len);
        if (rc == 1) {
            close(st->fd);
            st->fd = -1;
            rc = 0;
            continue;
        }
        if (rc) {
            break;
        }
        __atomic_store_n(&op->metrics.bytes_in, op->metrics.bytes_in + len + 1, __ATOMIC_RELAXED);
        /* Blank lines are not records. */
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) {
            k++;
        }
        if (k == len) {
            continue;
        }
        struct cf_err err;
        err.code = 0;
        int d = decode(st, prep, line, len, b, &err);
        if (d == 0) {
            budget--;
            st->pace.produced++;
        } else if (d < 0) {
            snprintf(st->location, sizeof(st->location), "%s@%lld",
                     st->files[st->splits[st->cur].file], (long long)st->cur_line_off);
            rc = cf_srcerr_add(&st->errors, op, line, len, err.msg, st->location);
            if (rc) {
                break;
            }
        }
    }
    if (rc) {
        cf_batch_release(b);
        return rc;
    }
    int done = st->fd < 0 && st->drained;
    if (prep->ts_idx >= 0) {
        cf_evtime_assign(b, prep->ts_idx, 0, &st->wm, 0);
    }
    if ((rc = cf_op_emit(op, 0, b)) != 0 || (rc = cf_srcerr_flush(&st->errors, op)) != 0) {
        return rc;
    }
    if (prep->ts_idx >= 0) {
        rc = cf_op_emit_watermark(op, cf_wmgen_current(&st->wm, cf_monotonic_ms()));
    }
    if (rc == 0 && done) {
        return CF_EEOF;
    }
    return rc;
}

/*
 * Checkpoint entries (operator state, seen by every subtask on restore): key
 * "<split start>:<file path>", value the offset of the next line to read as decimal text, or
 * "done". Splits not yet started have no entry. A subtask writes the entries of the splits
 * it took, and its owner carries a restored entry on into every later checkpoint (the split
 * may not be taken again before it); a restore keeps the furthest entry of a split. Restoring
 * with another parallelism works: splits are owned again by k % parallelism.
 */
static int split_key(const struct file_state *st, const struct split *sp, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%lld:%s", (long long)sp->start, st->files[sp->file]);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static int put_entry(struct cf_op *op, struct cf_snapshot *snap, const struct split *sp,
                     int64_t resume)
{
    struct file_state *st = op->state;
    char key[600], val[32];
    int kl = split_key(st, sp, key, sizeof(key));
    if (kl < 0) {
        return cf_op_fail(op, "file path too long for a checkpoint: %s", st->files[sp->file]);
    }
    int vl = resume >= sp->end ? snprintf(val, sizeof(val), "done")
                               : snprintf(val, sizeof(val), "%lld", (long long)resume);
    if (cf_snapshot_put(snap, key, (size_t)kl, val, (size_t)vl) != 0) {
        return cf_op_fail(op, "cannot write the checkpoint entry of %s", key);
    }
    return 0;
}

static int file_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    struct file_state *st = op->state;
    int rc = 0;
    for (int i = 0; i < st->nsplits && rc == 0; i++) {
        const struct split *sp = &st->splits[i];
        if (sp->owner == op->subtask && sp->resume >= 0) {
            rc = put_entry(op, snap, sp, sp->resume);
        }
    }
    for (int t = 0; t < st->ntaken && rc == 0; t++) {
        const struct split *sp = &st->splits[st->taken[t]];
        if (st->taken[t] != st->cur || st->fd < 0) {
            rc = put_entry(op, snap, sp, sp->end);
        } else if (!(st->skipping && st->line_off < sp->start)) {
            /* (opened, first partial line not skipped yet: no entry, start over) */
            rc = put_entry(op, snap, sp, st->line_off);
        }
    }
    return rc;
}

/* The split of this process that a checkpoint entry's key names, or NULL: a binary search in
 * the sorted file names, then in the splits (in file, then start order). */
static struct split *find_split(struct file_state *st, const void *key, size_t klen)
{
    char buf[600];
    if (klen >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    char *colon = strchr(buf, ':'), *end;
    if (!colon) {
        return NULL;
    }
    *colon = '\0';
    long long start = strtoll(buf, &end, 10);
    const char *path = colon + 1;
    char **f = bsearch(&path, st->files, (size_t)st->nfiles, sizeof(char *), cmp_str);
    if (end != colon || !f) {
        return NULL;
    }
    int file = (int)(f - st->files), lo = 0, hi = st->nsplits;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const struct split *sp = &st->splits[mid];
        if (sp->file < file || (sp->file == file && sp->start < start)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < st->nsplits && st->splits[lo].file == file && st->splits[lo].start == start) {
        return &st->splits[lo];
    }
    return NULL;
}

static int file_restore_visit(void *arg, int kg, const void *key, size_t klen, const void *val,
                              size_t vlen)
{
    (void)kg;
    struct split *sp = find_split(arg, key, klen);
    if (!sp) {
        return 0; /* a split of a subtask in another process */
    }
    int64_t resume = sp->end; /* "done": nothing left */
    if (vlen != 4 || memcmp(val, "done", 4) != 0) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(vlen < 31 ? vlen : 31), (const char *)val);
        resume = strtoll(num, NULL, 10);
    }
    if (resume > sp->resume) {
        sp->resume = resume; /* several subtasks wrote the split: the furthest is right */
    }
    return 0;
}

static int file_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    /* Splits read to their end are skipped by take_split(); the rest resume where they were. */
    return cf_snapshot_scan(snap, file_restore_visit, op->state);
}

static void file_close(struct cf_op *op)
{
    struct file_state *st = op->state;
    if (!st) {
        return;
    }
    if (st->fd >= 0) {
        close(st->fd);
    }
    for (int i = 0; i < st->nfiles; i++) {
        cf_free(st->files[i]);
    }
    cf_free(st->files);
    cf_free(st->splits);
    cf_free(st->taken);
    cf_free(st->buf);
    cf_json_decoder_destroy(st->json);
    cf_csv_decoder_destroy(st->csv);
    cf_srcerr_destroy(&st->errors);
    cf_wmgen_destroy(&st->wm);
    cf_free(st);
}

const struct cf_op_plugin cf_conn_source_file = {
    .type = "source.file",
    .kind = CF_OP_KIND_SOURCE,
    .doc = "Reads JSON-lines or CSV files (a file, a directory or a glob); bounded.",
    .conf_size = sizeof(struct file_conf),
    .conf_keys = file_keys,
    .configure = file_configure,
    .unconfigure = file_unconfigure,
    .open = file_open,
    .poll = file_poll,
    .snapshot = file_snapshot,
    .restore = file_restore,
    .close = file_close,
};
