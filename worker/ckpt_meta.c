/*
 * ckpt_meta.c - _metadata of checkpoints and savepoints. See ckpt_meta.h.
 */
#include "ckpt_meta.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/base/hash.h"
#include "common/base/mem.h"
#include "common/objstore/objstore.h"

#define META_VERSION 1

static char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? cf_strdup(v->valuestring) : NULL;
}

static int64_t json_int(const cJSON *o, const char *name, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    /* Out of int64 range (or NaN) is treated as absent: converting it would be undefined. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble > -9.2e18 && v->valuedouble < 9.2e18)) {
        return dflt;
    }
    return (int64_t)v->valuedouble;
}

int cf_ckpt_meta_parse(const char *text, size_t len, struct cf_ckpt_meta **out, struct cf_err *err)
{
    *out = NULL;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return cf_err_set(err, CF_EPARSE, "_metadata is not a JSON object");
    }
    int64_t version = json_int(doc, "version", 0);
    if (version != META_VERSION) {
        cJSON_Delete(doc);
        return cf_err_set(err, CF_EPARSE, "_metadata version %" PRId64 " (this build reads %d)",
                          version, META_VERSION);
    }
    struct cf_ckpt_meta *m = cf_new(struct cf_ckpt_meta);
    m->job_id = json_str(doc, "job_id");
    m->checkpoint_id = json_int(doc, "checkpoint_id", 0);
    m->timestamp = json_int(doc, "timestamp", 0);
    m->savepoint = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "savepoint"));
    m->max_parallelism = (int)json_int(doc, "max_parallelism", 0);
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(doc, "operators");
    int bad = !m->job_id || m->max_parallelism <= 0 || !cJSON_IsArray(ops);
    const cJSON *o;
    const cJSON *list = bad ? NULL : ops;
    cJSON_ArrayForEach(o, list)
    {
        char *id = json_str(o, "id");
        int par = (int)json_int(o, "parallelism", 0);
        const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
        if (!id || par <= 0 || !cJSON_IsArray(files)) {
            cf_free(id);
            bad = 1;
            break;
        }
        m->ops = cf_realloc(m->ops, (size_t)(m->nops + 1) * sizeof(*m->ops));
        struct cf_ckpt_op *op = &m->ops[m->nops++];
        memset(op, 0, sizeof(*op));
        op->id = id;
        op->parallelism = par;
        const cJSON *f;
        cJSON_ArrayForEach(f, files)
        {
            struct cf_ckpt_file file = {
                .subtask = (int)json_int(f, "subtask", -1),
                .path = json_str(f, "path"),
                .size = (uint64_t)json_int(f, "size", 0),
                .checksum = json_str(f, "checksum"),
                .kg_lo = (int)json_int(f, "key_group_start", 0),
                .kg_hi = (int)json_int(f, "key_group_end", 0),
            };
            op->files = cf_realloc(op->files, (size_t)(op->nfiles + 1) * sizeof(*op->files));
            op->files[op->nfiles++] = file;
            if (file.subtask < 0 || !file.path || !file.checksum || file.kg_lo < 0 ||
                file.kg_hi < file.kg_lo) {
                bad = 1;
            }
        }
    }
    cJSON_Delete(doc);
    if (bad) {
        cf_ckpt_meta_free(m);
        return cf_err_set(err, CF_EPARSE, "_metadata lacks a field or has a wrong type");
    }
    *out = m;
    return 0;
}

void cf_ckpt_meta_write(const struct cf_ckpt_meta *m, struct cf_buf *out)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "version", META_VERSION);
    cJSON_AddStringToObject(doc, "job_id", m->job_id ? m->job_id : "");
    cJSON_AddNumberToObject(doc, "checkpoint_id", (double)m->checkpoint_id);
    cJSON_AddNumberToObject(doc, "timestamp", (double)m->timestamp);
    cJSON_AddBoolToObject(doc, "savepoint", m->savepoint);
    cJSON_AddNumberToObject(doc, "max_parallelism", m->max_parallelism);
    cJSON *ops = cJSON_AddArrayToObject(doc, "operators");
    for (int i = 0; i < m->nops; i++) {
        const struct cf_ckpt_op *op = &m->ops[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", op->id);
        cJSON_AddNumberToObject(o, "parallelism", op->parallelism);
        cJSON *files = cJSON_AddArrayToObject(o, "files");
        for (int k = 0; k < op->nfiles; k++) {
            const struct cf_ckpt_file *f = &op->files[k];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "subtask", f->subtask);
            cJSON_AddStringToObject(j, "path", f->path);
            cJSON_AddNumberToObject(j, "size", (double)f->size);
            cJSON_AddStringToObject(j, "checksum", f->checksum);
            cJSON_AddNumberToObject(j, "key_group_start", f->kg_lo);
            cJSON_AddNumberToObject(j, "key_group_end", f->kg_hi);
            cJSON_AddItemToArray(files, j);
        }
        cJSON_AddItemToArray(ops, o);
    }
    char *text = cJSON_Print(doc);
    cf_buf_puts(out, text);
    cf_buf_putc(out, '\n');
    cJSON_free(text);
    cJSON_Delete(doc);
}

void cf_ckpt_meta_free(struct cf_ckpt_meta *m)
{
    if (!m) {
        return;
    }
    for (int i = 0; i < m->nops; i++) {
        for (int k = 0; k < m->ops[i].nfiles; k++) {
            cf_free(m->ops[i].files[k].path);
            cf_free(m->ops[i].files[k].checksum);
        }
        cf_free(m->ops[i].files);
        cf_free(m->ops[i].id);
    }
    cf_free(m->ops);
    cf_free(m->job_id);
    cf_free(m);
}

const struct cf_ckpt_op *cf_ckpt_meta_op(const struct cf_ckpt_meta *m, const char *id)
{
    for (int i = 0; i < m->nops; i++) {
        if (strcmp(m->ops[i].id, id) == 0) {
            return &m->ops[i];
        }
    }
    return NULL;
}

void cf_ckpt_meta_add_file(struct cf_ckpt_meta *m, const char *id, int parallelism,
                           const struct cf_ckpt_file *file)
{
    struct cf_ckpt_op *op = (struct cf_ckpt_op *)cf_ckpt_meta_op(m, id);
    if (!op) {
        m->ops = cf_realloc(m->ops, (size_t)(m->nops + 1) * sizeof(*m->ops));
        op = &m->ops[m->nops++];
        memset(op, 0, sizeof(*op));
        op->id = cf_strdup(id);
        op->parallelism = parallelism;
    }
    if (!file) {
        return;
    }
    op->files = cf_realloc(op->files, (size_t)(op->nfiles + 1) * sizeof(*op->files));
    struct cf_ckpt_file *f = &op->files[op->nfiles++];
    *f = *file;
    f->path = cf_strdup(file->path);
    f->checksum = cf_strdup(file->checksum);
}

int cf_ckpt_meta_load(const char *dir, struct cf_ckpt_meta **out, struct cf_err *err)
{
    *out = NULL;
    char *url = cf_obj_join(dir, "_metadata");
    struct cf_buf buf;
    cf_buf_init(&buf);
    int rc = cf_obj_get(url, &buf, err);
    if (rc == 0) {
        rc = cf_ckpt_meta_parse(buf.data, buf.len, out, err);
        if (rc) {
            cf_err_set(err, rc, "%s: %s", url, err->msg);
        }
    } else if (rc == CF_ENOENT) {
        cf_err_set(err, rc, "%s: no such checkpoint or savepoint (its _metadata is missing)", url);
    }
    cf_buf_destroy(&buf);
    cf_free(url);
    return rc;
}

int cf_ckpt_checksum_file(const char *path, char out[32], uint64_t *size, struct cf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cf_err_set(err, CF_EIO, "%s: %s", path, strerror(errno));
    }
    static const size_t chunk = 1 << 20;
    char *buf = cf_malloc(chunk);
    uint64_t h = 0x63666b7074ULL, total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            cf_free(buf);
            close(fd);
            return cf_err_set(err, CF_EIO, "%s: %s", path, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        h = cf_hash64(buf, (size_t)n, h);
        total += (uint64_t)n;
    }
    cf_free(buf);
    close(fd);
    snprintf(out, 32, "cfh64:%016" PRIx64, h);
    if (size) {
        *size = total;
    }
    return 0;
}
