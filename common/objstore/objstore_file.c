/*
 * objstore_file.c - the local file system behind file:// URLs and plain paths.
 *
 * Objects are regular files; a prefix is a directory tree. Every write is crash-safe: the
 * data goes to a temp file in the target's directory (".<name>.cftmp-<random>", or
 * ".<name>.inprogress-<random>" for a two-phase upload), is fsync'ed, renamed over the
 * target, and the directory is fsync'ed, so a reader sees the old or the new object, never
 * a part of one, even after a crash. Listing skips those temp files: like an unfinished
 * multipart upload on S3, they are not objects yet.
 *
 * No state is shared between calls, so any thread may call these at any time; concurrent
 * writers of one object each write their own temp file and the last rename wins.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/mem.h"
#include "objstore_int.h"

#define COPY_CHUNK      (256u * 1024)
#define TMP_MARK        ".cftmp-"
#define INPROGRESS_MARK ".inprogress-"

/* The directory part of path ("a" -> ".", "/a" -> "/"). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return cf_strdup(".");
    }
    if (slash == path) {
        return cf_strdup("/");
    }
    return cf_strndup(path, (size_t)(slash - path));
}

/* The last component of path (borrowed). */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "<dir>/.<name><mark><16 hex>" for a temp file next to path. Caller frees. */
static char *temp_name(const char *path, const char *mark)
{
    char *dir = dir_of(path);
    char rnd[17];
    cf_obj_random_hex(rnd, 8);
    char *tmp = cf_asprintf("%s/.%s%s%s", dir, base_of(path), mark, rnd);
    cf_free(dir);
    return tmp;
}

/* mkdir -p. */
static int make_dirs(const char *dir, const char *what, struct cf_err *err)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        return 0;
    }
    char *p = cf_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            rc = cf_err_set(err, errno == ENOENT ? CF_ENOENT : CF_EIO,
                            "%s: cannot create directory %s: %s", what, p, strerror(errno));
            break;
        }
        *s = saved;
        if (!saved) {
            break;
        }
    }
    if (rc == 0 && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
        rc = cf_err_set(err, CF_EIO, "%s: %s is not a directory", what, dir);
    }
    cf_free(p);
    return rc;
}

/* fsyncs a directory so a rename or a new entry in it survives a crash. */
static int sync_dir(const char *dir, const char *what, struct cf_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        return cf_err_set(err, CF_EIO, "%s: cannot sync directory %s: %s", what, dir, strerror(e));
    }
    close(fd);
    return 0;
}

static int write_all(int fd, const void *data, size_t len, const char *what, const char *path,
                     struct cf_err *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return cf_err_set(err, CF_EIO, "%s: cannot write %s: %s", what, path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int cf_obj_file_write_atomic(const char *path, const char *what,
                             int (*fill)(void *arg, int fd, struct cf_err *err), void *arg,
                             struct cf_err *err)
{
    char *dir = dir_of(path);
    char *tmp = NULL;
    int fd = -1;
    int rc = make_dirs(dir, what, err);
    if (rc < 0) {
        goto out;
    }
    tmp = temp_name(path, TMP_MARK);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = cf_err_set(err, CF_EIO, "%s: cannot create %s: %s", what, tmp, strerror(errno));
        goto out;
    }
    rc = fill(arg, fd, err);
    if (rc < 0) {
        goto out;
    }
    if (fsync(fd) < 0) {
        rc = cf_err_set(err, CF_EIO, "%s: cannot sync %s: %s", what, tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = cf_err_set(err, CF_EIO, "%s: cannot write %s: %s", what, tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = cf_err_set(err, CF_EIO, "%s: cannot rename %s to %s: %s", what, tmp, path,
                        strerror(errno));
        goto out;
    }
    cf_free(tmp);
    tmp = NULL; /* renamed: nothing to clean up */
    rc = sync_dir(dir, what, err);
out:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp) {
        unlink(tmp);
    }
    cf_free(tmp);
    cf_free(dir);
    return rc;
}

struct mem_src {
    const void *data;
    size_t len;
    const char *what;
};

static int fill_mem(void *arg, int fd, struct cf_err *err)
{
    struct mem_src *m = arg;
    return write_all(fd, m->data, m->len, m->what, "temp file", err);
}

int cf_obj_file_put(const struct cf_obj_url *u, const void *data, size_t len, struct cf_err *err)
{
    struct mem_src m = {data, len, u->raw};
    return cf_obj_file_write_atomic(u->path, u->raw, fill_mem, &m, err);
}

/* Opens an object for reading: CF_ENOENT when absent or a directory. */
static int open_object(const struct cf_obj_url *u, struct stat *st, struct cf_err *err)
{
    int fd = open(u->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return cf_err_set(err, CF_ENOENT, "%s: no such object", u->raw);
        }
        return cf_err_set(err, CF_EIO, "%s: cannot open: %s", u->raw, strerror(e));
    }
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        return cf_err_set(err, CF_EIO, "%s: %s", u->raw, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        int dir = S_ISDIR(st->st_mode);
        close(fd);
        return cf_err_set(err, dir ? CF_ENOENT : CF_EIO, "%s: %s", u->raw,
                          dir ? "no such object (a directory)" : "not a regular file");
    }
    return fd;
}

int cf_obj_file_get(const struct cf_obj_url *u, struct cf_buf *out, struct cf_err *err)
{
    struct stat st;
    int fd = open_object(u, &st, err);
    if (fd < 0) {
        return fd;
    }
    size_t old_len = out->len;
    int rc = 0;
    cf_buf_reserve(out, (size_t)st.st_size);
    for (;;) {
        cf_buf_reserve(out, COPY_CHUNK);
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = cf_err_set(err, CF_EIO, "%s: cannot read: %s", u->raw, strerror(errno));
            out->len = old_len;
            break;
        }
        if (r == 0) {
            break;
        }
        out->len += (size_t)r;
    }
    if (out->cap) {
        out->data[out->len] = '\0';
    }
    close(fd);
    return rc;
}

struct fd_src {
    int fd;
    const char *what;
};

static int fill_copy(void *arg, int fd, struct cf_err *err)
{
    struct fd_src *src = arg;
    char *buf = cf_malloc(COPY_CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t r = read(src->fd, buf, COPY_CHUNK);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = cf_err_set(err, CF_EIO, "%s: cannot read: %s", src->what, strerror(errno));
            break;
        }
        if (r == 0) {
            break;
        }
        rc = write_all(fd, buf, (size_t)r, src->what, "temp file", err);
        if (rc < 0) {
            break;
        }
    }
    cf_free(buf);
    return rc;
}

int cf_obj_file_get_file(const struct cf_obj_url *u, const char *local_path, struct cf_err *err)
{
    struct stat st;
    int fd = open_object(u, &st, err);
    if (fd < 0) {
        return fd;
    }
    struct fd_src src = {fd, u->raw};
    int rc = cf_obj_file_write_atomic(local_path, u->raw, fill_copy, &src, err);
    close(fd);
    return rc;
}

int cf_obj_file_delete(const struct cf_obj_url *u, struct cf_err *err)
{
    if (unlink(u->path) == 0 || errno == ENOENT || errno == ENOTDIR) {
        return 0;
    }
    if (errno == EISDIR || errno == EPERM) {
        struct stat st;
        if (stat(u->path, &st) == 0 && S_ISDIR(st.st_mode)) {
            return cf_err_set(err, CF_EINVAL, "%s: is a directory, not an object", u->raw);
        }
    }
    return cf_err_set(err, CF_EIO, "%s: cannot delete: %s", u->raw, strerror(errno));
}

/* rm -rf path (a directory; symlinks are removed, never followed). */
static int remove_tree(const char *path, const char *what, struct cf_err *err)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) {
            return 0;
        }
        return cf_err_set(err, CF_EIO, "%s: cannot open directory %s: %s", what, path,
                          strerror(errno));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char *child = cf_asprintf("%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = remove_tree(child, what, err);
        } else if (unlink(child) < 0 && errno != ENOENT) {
            rc = cf_err_set(err, CF_EIO, "%s: cannot delete %s: %s", what, child, strerror(errno));
        }
        cf_free(child);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) < 0 && errno != ENOENT) {
        rc = cf_err_set(err, CF_EIO, "%s: cannot delete directory %s: %s", what, path,
                        strerror(errno));
    }
    return rc;
}

int cf_obj_file_delete_prefix(const struct cf_obj_url *u, struct cf_err *err)
{
    if (strcmp(u->path, "/") == 0 || !u->path[0]) {
        return cf_err_set(err, CF_EINVAL, "%s: refusing to delete the root directory", u->raw);
    }
    struct stat st;
    if (lstat(u->path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return 0;
        }
        return cf_err_set(err, CF_EIO, "%s: %s", u->raw, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return 0; /* an object, not a prefix: nothing lies under "<path>/" */
    }
    return remove_tree(u->path, u->raw, err);
}

struct entry {
    char *rel;
    uint64_t size;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

/* A temp file of a put or an unfinished upload: ".<name>.cftmp-*" / ".<name>.inprogress-*". */
static int is_temp_name(const char *name)
{
    return name[0] == '.' && (strstr(name, TMP_MARK) || strstr(name, INPROGRESS_MARK));
}

/* Collects the regular files under dir (rel: its path relative to the prefix, "" at the
 * top). Directories are descended, never through symlinks; symlinks to files are listed. */
static int walk(const char *dir, const char *rel, struct entries *out, const char *what,
                struct cf_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return 0; /* vanished while we walked: as if absent */
        }
        return cf_err_set(err, CF_EIO, "%s: cannot list %s: %s", what, dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            is_temp_name(e->d_name)) {
            continue;
        }
        char *child = cf_asprintf("%s/%s", dir, e->d_name);
        char *child_rel = rel[0] ? cf_asprintf("%s/%s", rel, e->d_name) : cf_strdup(e->d_name);
        struct stat st;
        if (lstat(child, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rc = walk(child, child_rel, out, what, err);
            } else if (S_ISREG(st.st_mode) ||
                       (S_ISLNK(st.st_mode) && stat(child, &st) == 0 && S_ISREG(st.st_mode))) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 64;
                    out->v = cf_realloc(out->v, out->cap * sizeof(*out->v));
                }
                out->v[out->n].rel = child_rel;
                out->v[out->n].size = (uint64_t)st.st_size;
                out->n++;
                child_rel = NULL;
            }
        }
        cf_free(child);
        cf_free(child_rel);
    }
    closedir(d);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

int cf_obj_file_list(const struct cf_obj_url *u, cf_obj_list_fn fn, void *arg, struct cf_err *err)
{
    struct entries es = {0};
    int rc = walk(u->path, "", &es, u->raw, err);
    /* Byte order of the relative paths is S3's order of the keys. */
    if (rc == 0 && es.n > 1) {
        qsort(es.v, es.n, sizeof(*es.v), entry_cmp);
    }
    for (size_t i = 0; rc == 0 && i < es.n; i++) {
        char *url = cf_obj_join(u->raw, es.v[i].rel);
        rc = fn(arg, url, es.v[i].size);
        cf_free(url);
    }
    for (size_t i = 0; i < es.n; i++) {
        cf_free(es.v[i].rel);
    }
    cf_free(es.v);
    return rc;
}

int cf_obj_file_exists(const struct cf_obj_url *u, struct cf_err *err)
{
    struct stat st;
    if (stat(u->path, &st) == 0) {
        return S_ISREG(st.st_mode) ? 1 : 0;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        return 0;
    }
    return cf_err_set(err, CF_EIO, "%s: %s", u->raw, strerror(errno));
}

/* ---- two-phase uploads ---- */

int cf_obj_file_upload_begin(struct cf_obj_upload *up, struct cf_err *err)
{
    char *dir = dir_of(up->url.path);
    int rc = make_dirs(dir, up->url.raw, err);
    cf_free(dir);
    if (rc < 0) {
        return rc;
    }
    up->tmp_path = temp_name(up->url.path, INPROGRESS_MARK);
    up->fd = open(up->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (up->fd < 0) {
        return cf_err_set(err, CF_EIO, "%s: cannot create %s: %s", up->url.raw, up->tmp_path,
                          strerror(errno));
    }
    return 0;
}

int cf_obj_file_upload_write(struct cf_obj_upload *up, const void *data, size_t len,
                             struct cf_err *err)
{
    int rc = write_all(up->fd, data, len, up->url.raw, up->tmp_path, err);
    if (rc == 0) {
        up->size += len;
    }
    return rc;
}

int cf_obj_file_upload_prepare(struct cf_obj_upload *up, struct cf_obj_token *t, struct cf_err *err)
{
    if (fsync(up->fd) < 0 || close(up->fd) < 0) {
        up->fd = -1;
        return cf_err_set(err, CF_EIO, "%s: cannot sync %s: %s", up->url.raw, up->tmp_path,
                          strerror(errno));
    }
    up->fd = -1;
    /* The temp file's directory entry must survive a crash too: the commit may come after
     * a restart. */
    char *dir = dir_of(up->url.path);
    int rc = sync_dir(dir, up->url.raw, err);
    cf_free(dir);
    if (rc < 0) {
        return rc;
    }
    t->url = cf_strdup(up->url.raw);
    t->id = cf_strdup(up->tmp_path);
    t->size = up->size;
    return 0;
}

void cf_obj_file_upload_discard(struct cf_obj_upload *up)
{
    if (up->fd >= 0) {
        close(up->fd);
        up->fd = -1;
    }
    if (up->tmp_path) {
        unlink(up->tmp_path);
    }
}

/* A token's temp path must be one of ours, next to the target: a forged or corrupted token
 * must not rename or delete an arbitrary file. */
static int check_temp_of(const struct cf_obj_url *u, const struct cf_obj_token *t,
                         struct cf_err *err)
{
    char *dir = dir_of(u->path);
    char *want = cf_asprintf("%s/.%s%s", dir, base_of(u->path), INPROGRESS_MARK);
    int ok = strncmp(t->id, want, strlen(want)) == 0 && !strchr(t->id + strlen(want), '/') &&
             t->n_parts == 0;
    cf_free(want);
    cf_free(dir);
    return ok ? 0
              : cf_err_set(err, CF_EINVAL,
                           "invalid upload token for %s: temp file %s is not "
                           "an upload of it",
                           u->raw, t->id);
}

int cf_obj_file_upload_commit(const struct cf_obj_url *u, const struct cf_obj_token *t,
                              struct cf_err *err)
{
    int rc = check_temp_of(u, t, err);
    if (rc < 0) {
        return rc;
    }
    if (rename(t->id, u->path) < 0) {
        int e = errno;
        struct stat st;
        if (e == ENOENT && stat(u->path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == t->size) {
            return 0; /* committed before */
        }
        if (e == ENOENT) {
            return cf_err_set(err, CF_ENOENT,
                              "%s: cannot commit: the upload's temp file %s is gone and the "
                              "object is not there",
                              u->raw, t->id);
        }
        return cf_err_set(err, CF_EIO, "%s: cannot rename %s: %s", u->raw, t->id, strerror(e));
    }
    char *dir = dir_of(u->path);
    rc = sync_dir(dir, u->raw, err);
    cf_free(dir);
    return rc;
}

int cf_obj_file_upload_abort(const struct cf_obj_url *u, const struct cf_obj_token *t,
                             struct cf_err *err)
{
    int rc = check_temp_of(u, t, err);
    if (rc < 0) {
        return rc;
    }
    if (unlink(t->id) < 0 && errno != ENOENT) {
        return cf_err_set(err, CF_EIO, "%s: cannot delete %s: %s", u->raw, t->id, strerror(errno));
    }
    return 0;
}
