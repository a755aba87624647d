#include "schema.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "../base/mem.h"

static const char *const type_names[] = {"null", "string", "int", "double", "bool", "timestamp"};
_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == CF_TYPE__COUNT,
               "type_names must cover every type");

const char *cf_type_name(enum cf_type type)
{
    return (unsigned)type < CF_TYPE__COUNT ? type_names[type] : "?";
}

int cf_type_parse(const char *name)
{
    for (int i = CF_TYPE_STRING; i < CF_TYPE__COUNT; i++) {
        if (strcasecmp(name, type_names[i]) == 0) {
            return i;
        }
    }
    if (!strcasecmp(name, "long") || !strcasecmp(name, "bigint") || !strcasecmp(name, "integer")) {
        return CF_TYPE_INT;
    }
    if (!strcasecmp(name, "float")) {
        return CF_TYPE_DOUBLE;
    }
    if (!strcasecmp(name, "boolean")) {
        return CF_TYPE_BOOL;
    }
    return -1;
}

struct cf_schema *cf_schema_create(void)
{
    struct cf_schema *schema = cf_new(struct cf_schema);
    schema->refcnt = 1;
    return schema;
}

struct cf_schema *cf_schema_keep(struct cf_schema *schema)
{
    if (schema) {
        __atomic_add_fetch(&schema->refcnt, 1, __ATOMIC_RELAXED);
    }
    return schema;
}

void cf_schema_release(struct cf_schema *schema)
{
    if (!schema || __atomic_sub_fetch(&schema->refcnt, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    for (uint32_t i = 0; i < schema->nfields; i++) {
        cf_free(schema->fields[i].name);
    }
    cf_free(schema->fields);
    cf_free(schema);
}

int cf_schema_add(struct cf_schema *schema, const char *name, enum cf_type type)
{
    if (cf_schema_find(schema, name) >= 0) {
        return CF_EEXIST;
    }
    if (schema->nfields == schema->cap) {
        schema->cap = schema->cap ? schema->cap * 2 : 8;
        schema->fields = cf_realloc(schema->fields, schema->cap * sizeof(*schema->fields));
    }
    schema->fields[schema->nfields].name = cf_strdup(name);
    schema->fields[schema->nfields].type = type;
    return (int)schema->nfields++;
}

int cf_schema_find(const struct cf_schema *schema, const char *name)
{
    for (uint32_t i = 0; i < schema->nfields; i++) {
        if (strcmp(schema->fields[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

struct cf_schema *cf_schema_dup(const struct cf_schema *schema)
{
    struct cf_schema *copy = cf_schema_create();
    for (uint32_t i = 0; i < schema->nfields; i++) {
        cf_schema_add(copy, schema->fields[i].name, schema->fields[i].type);
    }
    return copy;
}

int cf_schema_equal(const struct cf_schema *a, const struct cf_schema *b)
{
    if (a->nfields != b->nfields) {
        return 0;
    }
    for (uint32_t i = 0; i < a->nfields; i++) {
        if (a->fields[i].type != b->fields[i].type ||
            strcmp(a->fields[i].name, b->fields[i].name) != 0) {
            return 0;
        }
    }
    return 1;
}

struct cf_schema *cf_schema_from_json(const cJSON *obj, const char *path, struct cf_err *err)
{
    if (!cJSON_IsObject(obj)) {
        cf_err_set(err, CF_ESPEC, "%s: must be an object of field name to type", path);
        return NULL;
    }
    if (!obj->child) {
        cf_err_set(err, CF_ESPEC, "%s: has no fields", path);
        return NULL;
    }
    struct cf_schema *schema = cf_schema_create();
    for (const cJSON *f = obj->child; f; f = f->next) {
        int type = cJSON_IsString(f) ? cf_type_parse(f->valuestring) : -1;
        if (type < 0) {
            cf_err_set(err, CF_ESPEC,
                       "%s.%s: unknown type %s (expected string, int, double, bool or "
                       "timestamp)",
                       path, f->string, cJSON_IsString(f) ? f->valuestring : "(not a string)");
            cf_schema_release(schema);
            return NULL;
        }
        if (!f->string[0]) {
            cf_err_set(err, CF_ESPEC, "%s: empty field name", path);
            cf_schema_release(schema);
            return NULL;
        }
        if (cf_schema_add(schema, f->string, (enum cf_type)type) < 0) {
            cf_err_set(err, CF_ESPEC, "%s.%s: duplicate field", path, f->string);
            cf_schema_release(schema);
            return NULL;
        }
    }
    return schema;
}

static struct cf_schema *g_errors_schema;
static pthread_once_t g_errors_once = PTHREAD_ONCE_INIT;

static void errors_schema_init(void)
{
    g_errors_schema = cf_schema_create();
    cf_schema_add(g_errors_schema, "raw", CF_TYPE_STRING);
    cf_schema_add(g_errors_schema, "error", CF_TYPE_STRING);
    cf_schema_add(g_errors_schema, "location", CF_TYPE_STRING);
}

struct cf_schema *cf_schema_errors(void)
{
    pthread_once(&g_errors_once, errors_schema_init);
    return cf_schema_keep(g_errors_schema);
}
