#include "conf.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/mem.h"
#include "../base/timeutil.h"

static const char *const type_doc[] = {
    "",     "string", "int",         "number", "bool",   "duration",
    "size", "enum",   "string list", "object", "object",
};
_Static_assert(sizeof(type_doc) / sizeof(type_doc[0]) == CF_CONF_OBJECT + 1,
               "type_doc covers every conf type");

int cf_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return 99;
    }
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = (int)j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v) {
                v = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < v) {
                v = cur[j - 1] + 1;
            }
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

int cf_size_parse(const char *s, int64_t *bytes)
{
    if (!s || !isdigit((unsigned char)*s)) {
        return CF_EPARSE;
    }
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ') {
        end++;
    }
    double mult;
    if (!*end || !strcasecmp(end, "b")) {
        mult = 1;
    } else if (!strcasecmp(end, "kb") || !strcasecmp(end, "k") || !strcasecmp(end, "kib")) {
        mult = 1024;
    } else if (!strcasecmp(end, "mb") || !strcasecmp(end, "m") || !strcasecmp(end, "mib")) {
        mult = 1024.0 * 1024;
    } else if (!strcasecmp(end, "gb") || !strcasecmp(end, "g") || !strcasecmp(end, "gib")) {
        mult = 1024.0 * 1024 * 1024;
    } else {
        return CF_EPARSE;
    }
    if (v * mult > 9e18) {
        return CF_EPARSE;
    }
    *bytes = (int64_t)(v * mult);
    return 0;
}

/* Looks up "a.b" style keys in nested objects. */
static const cJSON *lookup(const cJSON *obj, const char *key)
{
    const char *dot = strchr(key, '.');
    if (!dot) {
        return cJSON_GetObjectItemCaseSensitive(obj, key);
    }
    char head[64];
    size_t n = (size_t)(dot - key);
    if (n >= sizeof(head)) {
        return NULL;
    }
    memcpy(head, key, n);
    head[n] = '\0';
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(obj, head);
    return cJSON_IsObject(sub) ? lookup(sub, dot + 1) : NULL;
}

int cf_conf_is_set(const cJSON *obj, const char *key)
{
    const cJSON *v = lookup(obj, key);
    return v && !cJSON_IsNull(v);
}

static int enum_index(const char *choices, const char *value)
{
    int idx = 0;
    size_t vlen = strlen(value);
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && strncmp(p, value, n) == 0) {
            return idx;
        }
        if (!bar) {
            break;
        }
        p = bar + 1;
    }
    return -1;
}

static void choices_text(const char *choices, char *buf, size_t size)
{
    size_t o = 0;
    for (const char *p = choices; *p && o + 8 < size; p++) {
        if (*p == '|') {
            o += (size_t)snprintf(buf + o, size - o, ", ");
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
}

/* Sets one value from JSON (v) or from the default text (def) into field. */
static int set_value(const struct cf_conf_key *k, const cJSON *v, const char *def, void *field,
                     const char *path, struct cf_err *err)
{
    char what[80];
    const char *text = def;
    if (v && cJSON_IsString(v)) {
        text = v->valuestring;
    }
    switch (k->type) {
    case CF_CONF_STRING:
        if (v && !cJSON_IsString(v)) {
            return cf_err_append(err, CF_ESPEC, "%s.%s: must be a string", path, k->key);
        }
        *(char **)field = cf_strdup(text);
        return 0;
    case CF_CONF_INT:
    case CF_CONF_DOUBLE: {
        double d;
        if (v) {
            if (!cJSON_IsNumber(v)) {
                return cf_err_append(err, CF_ESPEC, "%s.%s: must be a number", path, k->key);
            }
            d = v->valuedouble;
        } else {
            d = strtod(def, NULL);
        }
        if (k->type == CF_CONF_INT) {
            if (d != floor(d) || fabs(d) > 9e15) {
                return cf_err_append(err, CF_ESPEC, "%s.%s: must be an integer", path, k->key);
            }
            *(int64_t *)field = (int64_t)d;
        } else {
            *(double *)field = d;
        }
        return 0;
    }
    case CF_CONF_BOOL:
        if (v) {
            if (!cJSON_IsBool(v)) {
                return cf_err_append(err, CF_ESPEC, "%s.%s: must be true or false", path, k->key);
            }
            *(int *)field = cJSON_IsTrue(v);
        } else {
            *(int *)field = strcmp(def, "true") == 0;
        }
        return 0;
    case CF_CONF_DURATION:
        if (v && !cJSON_IsString(v)) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.%s: must be a duration string such as \"30s\" or \"5m\"", path,
                                 k->key);
        }
        if (cf_duration_parse(text, (int64_t *)field) != 0) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.%s: \"%s\" is not a duration (use ms, s, m, h or d, as "
                                 "in \"250ms\", \"30s\", \"5m\")",
                                 path, k->key, text);
        }
        return 0;
    case CF_CONF_SIZE:
        if (v && cJSON_IsNumber(v)) {
            if (v->valuedouble < 0) {
                return cf_err_append(err, CF_ESPEC, "%s.%s: must not be negative", path, k->key);
            }
            *(int64_t *)field = (int64_t)v->valuedouble;
            return 0;
        }
        if (v && !cJSON_IsString(v)) {
            return cf_err_append(err, CF_ESPEC, "%s.%s: must be a size such as \"128MB\"", path,
                                 k->key);
        }
        if (cf_size_parse(text, (int64_t *)field) != 0) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.%s: \"%s\" is not a size (use B, KB, MB or GB, as in "
                                 "\"128MB\")",
                                 path, k->key, text);
        }
        return 0;
    case CF_CONF_ENUM: {
        if (v && !cJSON_IsString(v)) {
            choices_text(k->choices, what, sizeof(what));
            return cf_err_append(err, CF_ESPEC, "%s.%s: must be one of %s", path, k->key, what);
        }
        int idx = enum_index(k->choices, text);
        if (idx < 0) {
            choices_text(k->choices, what, sizeof(what));
            return cf_err_append(err, CF_ESPEC, "%s.%s: \"%s\" is not one of %s", path, k->key,
                                 text, what);
        }
        *(int *)field = idx;
        return 0;
    }
    case CF_CONF_STRLIST: {
        struct cf_strlist *list = field;
        if (!v) {
            return 0;
        }
        if (cJSON_IsString(v)) {
            list->n = 1;
            list->v = cf_calloc(1, sizeof(char *));
            list->v[0] = cf_strdup(v->valuestring);
            return 0;
        }
        if (!cJSON_IsArray(v)) {
            return cf_err_append(err, CF_ESPEC, "%s.%s: must be a string or an array of strings",
                                 path, k->key);
        }
        int n = cJSON_GetArraySize(v);
        list->v = cf_calloc((size_t)n + 1, sizeof(char *));
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e)) {
                return cf_err_append(err, CF_ESPEC, "%s.%s[%d]: must be a string", path, k->key, i);
            }
            list->v[list->n++] = cf_strdup(e->valuestring);
        }
        return 0;
    }
    case CF_CONF_JSON: *(const cJSON **)field = v; return 0;
    case CF_CONF_OBJECT:
        if (v && !cJSON_IsObject(v)) {
            return cf_err_append(err, CF_ESPEC, "%s.%s: must be an object", path, k->key);
        }
        return 0;
    case CF_CONF_END: break;
    }
    return 0;
}

/* Reports keys of obj (at prefix) that the table does not know. */
static int check_unknown(const struct cf_conf_key *keys, const cJSON *obj, const char *prefix,
                         const char *path, const char *const *generic, struct cf_err *err)
{
    int problems = 0;
    for (const cJSON *item = obj->child; item; item = item->next) {
        char full[128];
        snprintf(full, sizeof(full), "%s%s", prefix, item->string);
        int known = 0;
        if (!prefix[0] && generic) {
            for (const char *const *g = generic; *g; g++) {
                if (strcmp(*g, full) == 0) {
                    known = 1;
                }
            }
        }
        const struct cf_conf_key *best = NULL;
        int best_d = 99;
        for (const struct cf_conf_key *k = keys; k->type != CF_CONF_END && !known; k++) {
            if (strcmp(k->key, full) == 0) {
                known = 1;
                if (k->type == CF_CONF_OBJECT && cJSON_IsObject(item)) {
                    char sub[160];
                    snprintf(sub, sizeof(sub), "%s.", full);
                    problems += check_unknown(keys, item, sub, path, NULL, err);
                }
                break;
            }
            int d = cf_edit_distance(k->key, full);
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        if (!known) {
            problems++;
            if (best && best_d <= 2) {
                cf_err_append(err, CF_ESPEC, "%s.%s: unknown key (did you mean '%s'?)", path, full,
                              best->key);
            } else {
                cf_err_append(err, CF_ESPEC, "%s.%s: unknown key", path, full);
            }
        }
    }
    return problems;
}

int cf_conf_parse(const struct cf_conf_key *keys, const cJSON *obj, void *conf, const char *path,
                  const char *const *generic, struct cf_err *err)
{
    int failed = check_unknown(keys, obj, "", path, generic, err) > 0;
    for (const struct cf_conf_key *k = keys; k->type != CF_CONF_END; k++) {
        if (k->flags & CF_CONF_GENERIC) {
            continue;
        }
        const cJSON *v = lookup(obj, k->key);
        if (v && cJSON_IsNull(v)) {
            v = NULL;
        }
        if (!v && !k->def) {
            if (k->flags & CF_CONF_REQUIRED) {
                cf_err_append(err, CF_ESPEC, "%s.%s: required", path, k->key);
                failed = 1;
            }
            continue;
        }
        if (set_value(k, v, k->def, (char *)conf + k->offset, path, err) != 0) {
            failed = 1;
        }
    }
    if (failed) {
        return CF_ESPEC;
    }
    return 0;
}

void cf_conf_free(const struct cf_conf_key *keys, void *conf)
{
    for (const struct cf_conf_key *k = keys; k->type != CF_CONF_END; k++) {
        void *field = (char *)conf + k->offset;
        if (k->flags & CF_CONF_GENERIC) {
            continue;
        }
        if (k->type == CF_CONF_STRING) {
            cf_free(*(char **)field);
            *(char **)field = NULL;
        } else if (k->type == CF_CONF_STRLIST) {
            struct cf_strlist *list = field;
            for (int i = 0; i < list->n; i++) {
                cf_free(list->v[i]);
            }
            cf_free(list->v);
            list->v = NULL;
            list->n = 0;
        }
    }
}

void cf_conf_doc(const struct cf_conf_key *keys, struct cf_buf *out)
{
    cf_buf_puts(out, "| key | type | default | description |\n|---|---|---|---|\n");
    for (const struct cf_conf_key *k = keys; k->type != CF_CONF_END; k++) {
        char choices[128] = "";
        if (k->type == CF_CONF_ENUM) {
            choices_text(k->choices, choices, sizeof(choices));
        }
        cf_buf_appendf(out, "| `%s` | %s%s%s%s | %s%s%s | %s |\n", k->key, type_doc[k->type],
                       choices[0] ? ": " : "", choices,
                       (k->flags & CF_CONF_REQUIRED) ? ", required" : "", k->def ? "`" : "",
                       k->def ? k->def : "", k->def ? "`" : "", k->doc ? k->doc : "");
    }
}
