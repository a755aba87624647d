#include "jobstore.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "common/base/mem.h"
#include "worker/state.h"

struct cf_jobstore {
    struct cf_state *st;
    struct cf_state_ns *jobs;
};

/* Records are JSON objects (readable with any LMDB tool, easy to extend). */
static char *encode(const struct cf_job_record *rec)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", rec->id);
    cJSON_AddStringToObject(o, "name", rec->name ? rec->name : "");
    cJSON_AddStringToObject(o, "spec", rec->spec ? rec->spec : "");
    cJSON_AddNumberToObject(o, "parallelism", rec->parallelism);
    cJSON_AddNumberToObject(o, "state", rec->state);
    cJSON_AddNumberToObject(o, "start_time", (double)rec->start_time);
    cJSON_AddNumberToObject(o, "end_time", (double)rec->end_time);
    cJSON_AddNumberToObject(o, "restarts", (double)rec->restarts);
    if (rec->failure) {
        cJSON_AddStringToObject(o, "failure", rec->failure);
    }
    if (rec->restore_path) {
        cJSON_AddStringToObject(o, "restore_path", rec->restore_path);
    }
    cJSON_AddBoolToObject(o, "allow_non_restored", rec->allow_non_restored);
    cJSON_AddNumberToObject(o, "checkpoint_id", (double)rec->checkpoint_id);
    if (rec->checkpoint_path) {
        cJSON_AddStringToObject(o, "checkpoint_path", rec->checkpoint_path);
    }
    if (rec->retained) {
        cJSON_AddStringToObject(o, "retained", rec->retained);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static char *dup_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? cf_strdup(v->valuestring) : NULL;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int decode(const void *val, size_t len, struct cf_job_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    cJSON *o = cJSON_ParseWithLength(val, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!o || !cJSON_IsString(id) || !cf_id_valid(id->valuestring)) {
        cJSON_Delete(o);
        return CF_EPARSE;
    }
    memcpy(rec->id, id->valuestring, CF_ID_LEN + 1);
    rec->name = dup_str(o, "name");
    rec->spec = dup_str(o, "spec");
    rec->parallelism = (int)num(o, "parallelism");
    rec->state = (int)num(o, "state");
    rec->start_time = num(o, "start_time");
    rec->end_time = num(o, "end_time");
    rec->restarts = num(o, "restarts");
    rec->failure = dup_str(o, "failure");
    rec->restore_path = dup_str(o, "restore_path");
    rec->allow_non_restored =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "allow_non_restored"));
    rec->checkpoint_id = num(o, "checkpoint_id");
    rec->checkpoint_path = dup_str(o, "checkpoint_path");
    rec->retained = dup_str(o, "retained");
    cJSON_Delete(o);
    return 0;
}

int cf_jobstore_open(const char *dir, struct cf_jobstore **out, struct cf_err *err)
{
    *out = NULL;
    struct cf_jobstore *js = cf_new(struct cf_jobstore);
    int rc = cf_state_open(dir, &js->st, err);
    if (rc == 0) {
        rc = cf_state_ns_open(js->st, "jobs", &js->jobs, err);
    }
    if (rc) {
        cf_jobstore_close(js);
        return rc;
    }
    *out = js;
    return 0;
}

void cf_jobstore_close(struct cf_jobstore *js)
{
    if (js) {
        cf_state_close(js->st, 0);
        cf_free(js);
    }
}

int cf_jobstore_put(struct cf_jobstore *js, const struct cf_job_record *rec, struct cf_err *err)
{
    char *text = encode(rec);
    int rc = cf_state_begin(js->st);
    if (rc == 0) {
        rc = cf_state_put(js->jobs, 0, rec->id, CF_ID_LEN, text, strlen(text));
        rc = rc ? (cf_state_abort(js->st), rc) : cf_state_commit(js->st);
    }
    cf_free(text);
    if (rc) {
        return cf_err_set(err, rc, "job store: %s", cf_state_errmsg(js->st));
    }
    return 0;
}

int cf_jobstore_get(struct cf_jobstore *js, const char *id, struct cf_job_record *rec)
{
    if (!cf_id_valid(id)) {
        return CF_ENOENT;
    }
    const void *val;
    size_t len;
    int rc = cf_state_get(js->jobs, 0, id, CF_ID_LEN, &val, &len);
    return rc ? rc : decode(val, len, rec);
}

struct each_ctx {
    int (*fn)(void *arg, const struct cf_job_record *rec);
    void *arg;
};

static int each_one(void *arg, int key_group, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    (void)key_group;
    (void)key;
    (void)klen;
    struct each_ctx *ctx = arg;
    struct cf_job_record rec;
    if (decode(val, vlen, &rec) != 0) {
        return 0; /* skip a record this version cannot read */
    }
    int rc = ctx->fn(ctx->arg, &rec);
    cf_job_record_clear(&rec);
    return rc;
}

int cf_jobstore_each(struct cf_jobstore *js, int (*fn)(void *arg, const struct cf_job_record *rec),
                     void *arg)
{
    struct each_ctx ctx = {fn, arg};
    return cf_state_scan(js->jobs, 0, NULL, 0, each_one, &ctx);
}

int cf_jobstore_delete(struct cf_jobstore *js, const char *id)
{
    if (!cf_id_valid(id)) {
        return CF_ENOENT;
    }
    int rc = cf_state_begin(js->st);
    if (rc == 0) {
        rc = cf_state_del(js->jobs, 0, id, CF_ID_LEN);
        if (rc) {
            cf_state_abort(js->st);
        } else {
            rc = cf_state_commit(js->st);
        }
    }
    return rc;
}

void cf_job_record_clear(struct cf_job_record *rec)
{
    cf_free(rec->name);
    cf_free(rec->spec);
    cf_free(rec->failure);
    cf_free(rec->restore_path);
    cf_free(rec->checkpoint_path);
    cf_free(rec->retained);
    memset(rec, 0, sizeof(*rec));
}
