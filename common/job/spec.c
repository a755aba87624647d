#include "spec.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../base/mem.h"

#define JOB_OFF(f) offsetof(struct cf_spec, f)

const struct cf_conf_key cf_spec_job_keys[] = {
    {"name", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, JOB_OFF(name), NULL, "Job name."},
    {"parallelism", CF_CONF_INT, 0, "1", JOB_OFF(parallelism), NULL,
     "Default parallelism of every operator."},
    {"max_parallelism", CF_CONF_INT, 0, "128", JOB_OFF(max_parallelism), NULL,
     "Number of key groups: the upper bound for rescaling keyed state."},
    {"operators", CF_CONF_JSON, CF_CONF_REQUIRED, NULL, JOB_OFF(operators), NULL,
     "The operators, in order; each reads the one before it unless it names an `input`."},
    {"checkpoints", CF_CONF_OBJECT, 0, NULL, 0, NULL, "Periodic checkpoints."},
    {"checkpoints.interval", CF_CONF_DURATION, 0, "30s", JOB_OFF(checkpoints.interval), NULL,
     "Time between checkpoint triggers."},
    {"checkpoints.mode", CF_CONF_ENUM, 0, "exactly_once", JOB_OFF(checkpoints.mode),
     "exactly_once|at_least_once", "Barrier alignment (exactly_once) or none."},
    {"checkpoints.timeout", CF_CONF_DURATION, 0, "10m", JOB_OFF(checkpoints.timeout), NULL,
     "A checkpoint not complete by then is abandoned."},
    {"checkpoints.min_pause", CF_CONF_DURATION, 0, "0ms", JOB_OFF(checkpoints.min_pause), NULL,
     "Minimum time between the end of one checkpoint and the next trigger."},
    {"checkpoints.dir", CF_CONF_STRING, 0, NULL, JOB_OFF(checkpoints.dir), NULL,
     "Where snapshots go: a local directory, file://, s3:// or gs://."},
    {"checkpoints.retain", CF_CONF_INT, 0, "3", JOB_OFF(checkpoints.retain), NULL,
     "Completed checkpoints kept."},
    {"restart", CF_CONF_OBJECT, 0, NULL, 0, NULL, "Restart strategy after a failure."},
    {"restart.strategy", CF_CONF_ENUM, 0, "none", JOB_OFF(restart.strategy),
     "none|fixed_delay|exponential_delay|failure_rate", "How failed jobs are restarted."},
    {"restart.attempts", CF_CONF_INT, 0, "3", JOB_OFF(restart.attempts), NULL,
     "fixed_delay: attempts before the job fails; failure_rate: failures per interval."},
    {"restart.delay", CF_CONF_DURATION, 0, "10s", JOB_OFF(restart.delay), NULL,
     "Delay before a restart (initial delay for exponential_delay)."},
    {"restart.max_delay", CF_CONF_DURATION, 0, "5m", JOB_OFF(restart.max_delay), NULL,
     "exponential_delay: the largest delay."},
    {"restart.failure_interval", CF_CONF_DURATION, 0, "1m", JOB_OFF(restart.failure_interval), NULL,
     "failure_rate: the window in which `attempts` failures are allowed."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

#define OP_OFF(f) offsetof(struct cf_spec_op, f)

/* Keys every operator may carry; the rest belong to the operator's plugin. */
const struct cf_conf_key cf_spec_op_keys[] = {
    {"id", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, OP_OFF(id), NULL,
     "Stable operator id (`^[a-z0-9][a-z0-9-]*$`): state is matched by it."},
    {"type", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, OP_OFF(type), NULL, "Operator type."},
    {"input", CF_CONF_STRING, 0, NULL, OP_OFF(input), NULL,
     "`<id>` or `<id>.<side output>` to read; default: the operator listed before."},
    {"parallelism", CF_CONF_INT, 0, "0", OP_OFF(parallelism), NULL,
     "Subtasks of this operator; default: the job's."},
    {"exchange", CF_CONF_ENUM, 0, "auto", OP_OFF(exchange), "auto|forward|rebalance|hash|broadcast",
     "How records reach this operator's subtasks (auto: forward/chained when possible, hash "
     "for keyed operators, rebalance when the parallelism changes)."},
    {"key_by", CF_CONF_STRLIST, 0, NULL, OP_OFF(key_by), NULL,
     "Key fields: records with equal keys go to the same subtask."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

int cf_spec_id_valid(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            return 0;
        }
    }
    return strlen(s) <= 64;
}

int cf_spec_find_op(const struct cf_spec *spec, const char *id)
{
    for (int i = 0; i < spec->nops; i++) {
        if (spec->ops[i].id && strcmp(spec->ops[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* Line and column of a byte offset, for JSON syntax errors. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static const char *const op_generic[] = {"id",       "type",   "input", "parallelism",
                                         "exchange", "key_by", NULL};

int cf_spec_parse(const char *text, size_t len, struct cf_spec **out, struct cf_err *err)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        int line, col;
        size_t off = end ? (size_t)(end - text) : 0;
        line_col(text, off, &line, &col);
        return cf_err_set(err, CF_ESPEC, "$: invalid JSON at line %d, column %d", line, col);
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return cf_err_set(err, CF_ESPEC, "$: a job spec must be a JSON object");
    }
    struct cf_spec *spec = cf_new(struct cf_spec);
    spec->doc = doc;
    int bad = cf_conf_parse(cf_spec_job_keys, doc, spec, "$", NULL, err) != 0;
    spec->checkpoints.enabled =
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "checkpoints"));
    if (spec->parallelism < 1 || spec->parallelism > 4096) {
        bad = cf_err_append(err, CF_ESPEC, "$.parallelism: must be between 1 and 4096");
    }
    if (spec->max_parallelism < 1 || spec->max_parallelism > 32768) {
        bad = cf_err_append(err, CF_ESPEC, "$.max_parallelism: must be between 1 and 32768");
    } else if (spec->parallelism > spec->max_parallelism) {
        bad = cf_err_append(err, CF_ESPEC, "$.parallelism: %lld exceeds max_parallelism %lld",
                            (long long)spec->parallelism, (long long)spec->max_parallelism);
    }
    if (spec->checkpoints.enabled && spec->checkpoints.interval < 10) {
        bad = cf_err_append(err, CF_ESPEC, "$.checkpoints.interval: must be at least 10ms");
    }
    if (spec->checkpoints.retain < 1) {
        bad = cf_err_append(err, CF_ESPEC, "$.checkpoints.retain: must be at least 1");
    }
    if (spec->restart.attempts < 0) {
        bad = cf_err_append(err, CF_ESPEC, "$.restart.attempts: must not be negative");
    }

    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(doc, "operators");
    if (ops && (!cJSON_IsArray(ops) || cJSON_GetArraySize(ops) == 0)) {
        bad = cf_err_append(err, CF_ESPEC, "$.operators: must be a non-empty array");
        ops = NULL;
    }
    int n = ops ? cJSON_GetArraySize(ops) : 0;
    spec->ops = cf_calloc((size_t)(n ? n : 1), sizeof(*spec->ops));
    spec->nops = n;
    int i = 0;
    for (const cJSON *o = ops ? ops->child : NULL; o; o = o->next, i++) {
        struct cf_spec_op *op = &spec->ops[i];
        op->index = i;
        snprintf(op->path, sizeof(op->path), "operators[%d]", i);
        op->json = o;
        if (!cJSON_IsObject(o)) {
            bad = cf_err_append(err, CF_ESPEC, "%s: must be an object", op->path);
            continue;
        }
        /* Only the generic keys here; the plugin checks the rest (and unknown keys). */
        cJSON *only = cJSON_CreateObject();
        for (const char *const *name = op_generic; *name; name++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, *name);
            if (v) {
                cJSON_AddItemReferenceToObject(only, *name, (cJSON *)v);
            }
        }
        if (cf_conf_parse(cf_spec_op_keys, only, op, op->path, NULL, err) != 0) {
            bad = 1;
        }
        cJSON_Delete(only);
        if (op->id && !cf_spec_id_valid(op->id)) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.id: \"%s\" is not a valid id (lowercase letters, digits and "
                                "'-', starting with a letter or digit)",
                                op->path, op->id);
        } else if (op->id) {
            for (int j = 0; j < i; j++) {
                if (spec->ops[j].id && strcmp(spec->ops[j].id, op->id) == 0) {
                    bad = cf_err_append(err, CF_ESPEC, "%s.id: \"%s\" is already used by %s",
                                        op->path, op->id, spec->ops[j].path);
                }
            }
        }
        if (op->parallelism < 0 || op->parallelism > 4096) {
            bad = cf_err_append(err, CF_ESPEC, "%s.parallelism: must be between 1 and 4096",
                                op->path);
        }
        if (op->exchange == CF_EXCHANGE_HASH && op->key_by.n == 0) {
            bad = cf_err_append(err, CF_ESPEC, "%s.exchange: \"hash\" needs key_by", op->path);
        }
    }
    if (bad) {
        cf_spec_destroy(spec);
        return CF_ESPEC;
    }
    *out = spec;
    return 0;
}

int cf_spec_load(const char *path, struct cf_spec **out, struct cf_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return cf_err_set(err, CF_EIO, "%s: %s", path, strerror(errno));
    }
    struct cf_buf buf;
    cf_buf_init(&buf);
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cf_buf_append(&buf, chunk, n);
        if (buf.len > 16 * 1024 * 1024) {
            fclose(f);
            cf_buf_destroy(&buf);
            return cf_err_set(err, CF_ESPEC, "%s: larger than 16 MiB", path);
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        cf_buf_destroy(&buf);
        return cf_err_set(err, CF_EIO, "%s: read error", path);
    }
    int rc = cf_spec_parse(buf.data ? buf.data : "", buf.len, out, err);
    cf_buf_destroy(&buf);
    return rc;
}

void cf_spec_destroy(struct cf_spec *spec)
{
    if (!spec) {
        return;
    }
    for (int i = 0; i < spec->nops; i++) {
        cf_conf_free(cf_spec_op_keys, &spec->ops[i]);
    }
    cf_free(spec->ops);
    cf_conf_free(cf_spec_job_keys, spec);
    cJSON_Delete(spec->doc);
    cf_free(spec);
}
