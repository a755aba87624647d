/*
 * schema.h - field types and record schemas.
 *
 * A schema is an ordered list of named, typed, nullable fields. Schemas are immutable once
 * built and shared by refcount (cf_schema_keep/release); any thread may read one.
 */
#ifndef CF_SCHEMA_H
#define CF_SCHEMA_H

#include <stdint.h>

#include "../base/err.h"

struct cJSON;

enum cf_type {
    CF_TYPE_NULL, /* only the type of the literal NULL in expressions */
    CF_TYPE_STRING,
    CF_TYPE_INT, /* int64 */
    CF_TYPE_DOUBLE,
    CF_TYPE_BOOL,
    CF_TYPE_TIMESTAMP, /* int64 ms since the epoch, UTC */
    CF_TYPE__COUNT
};

/* "string", "int", ... Never NULL. */
const char *cf_type_name(enum cf_type type);
/* Parses a type name (also accepts "long"/"bigint" for int, "float" for double,
 * "boolean" for bool); returns -1 if unknown. */
int cf_type_parse(const char *name);

struct cf_field {
    char *name;
    enum cf_type type;
};

struct cf_schema {
    int refcnt;
    uint32_t nfields;
    uint32_t cap;
    struct cf_field *fields;
};

/* An empty schema (refcount 1). */
struct cf_schema *cf_schema_create(void);
struct cf_schema *cf_schema_keep(struct cf_schema *schema);
void cf_schema_release(struct cf_schema *schema);
/* Appends a field; returns its index, or CF_EEXIST if the name is taken. Only while the
 * schema is being built (before it is shared). */
int cf_schema_add(struct cf_schema *schema, const char *name, enum cf_type type);
/* Index of a field by name, or -1. */
int cf_schema_find(const struct cf_schema *schema, const char *name);
/* A deep copy (refcount 1), to extend. */
struct cf_schema *cf_schema_dup(const struct cf_schema *schema);
/* 1 if both have the same names and types in the same order. */
int cf_schema_equal(const struct cf_schema *a, const struct cf_schema *b);

/*
 * Builds a schema from the spec's {"name": "type", ...} object. `path` names the object in
 * error messages ("operators[0].schema").
 */
struct cf_schema *cf_schema_from_json(const struct cJSON *obj, const char *path,
                                      struct cf_err *err);

/* The schema of every source's "<id>.errors" side output: raw string, error string,
 * location string. Shared; caller gets a reference. */
struct cf_schema *cf_schema_errors(void);

#endif
