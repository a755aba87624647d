/*
 * conf.h - declarative configuration tables for operators and connectors.
 *
 * Each plugin describes its keys in a table of struct cf_conf_key (type, key, default,
 * offset into the plugin's config struct, doc). cf_conf_parse() fills the struct from the
 * operator's JSON object, rejects unknown keys (suggesting the closest valid one), checks
 * types and required keys, and reports every problem with its JSON path. The same table
 * generates the reference docs (cfctl docs).
 */
#ifndef CF_CONF_H
#define CF_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"

struct cJSON;

enum cf_conf_type {
    CF_CONF_END,      /* terminates a table */
    CF_CONF_STRING,   /* char * (owned by the struct, freed by cf_conf_free) */
    CF_CONF_INT,      /* int64_t */
    CF_CONF_DOUBLE,   /* double */
    CF_CONF_BOOL,     /* int 0/1 */
    CF_CONF_DURATION, /* int64_t ms, from "250ms", "30s", "5m", "2h", "1d" */
    CF_CONF_SIZE,     /* int64_t bytes, from 1048576, "512KB", "128MB", "1GB" */
    CF_CONF_ENUM,     /* int: index of the value in `choices` ("json|csv") */
    CF_CONF_STRLIST,  /* struct cf_strlist: a string or an array of strings */
    CF_CONF_JSON,     /* const cJSON * borrowed from the spec (schema, aggregates, ...) */
    CF_CONF_OBJECT,   /* a nested object whose keys are listed as "<key>.<sub>" entries */
};

/* Marks a key in `flags`. */
#define CF_CONF_REQUIRED 1u
/* Ignored by the parser: handled by the job spec itself (id, type, input, parallelism). */
#define CF_CONF_GENERIC 2u

struct cf_conf_key {
    const char *key; /* "path", or "rolling.max_size" for a key of a nested object */
    enum cf_conf_type type;
    unsigned flags;
    const char *def;     /* default in spec syntax ("5m", "json", "128MB"); NULL: none */
    size_t offset;       /* offset of the field in the plugin's config struct */
    const char *choices; /* CF_CONF_ENUM: "a|b|c" */
    const char *doc;
};

struct cf_strlist {
    int n;
    char **v;
};

/*
 * Parses obj into conf (a zeroed struct of the plugin's config type) by the table.
 * `path` prefixes messages ("operators[2]"). Keys flagged CF_CONF_GENERIC and the keys in
 * `generic` (a NULL-terminated list, may be NULL) are accepted and skipped. Every problem is
 * appended to err; returns 0 or CF_ESPEC. Also sets "has" flags: cf_conf_is_set().
 */
int cf_conf_parse(const struct cf_conf_key *keys, const struct cJSON *obj, void *conf,
                  const char *path, const char *const *generic, struct cf_err *err);
/* Frees what cf_conf_parse allocated in conf (strings, lists). */
void cf_conf_free(const struct cf_conf_key *keys, void *conf);
/* 1 if the key was given in the JSON object (not defaulted). */
int cf_conf_is_set(const struct cJSON *obj, const char *key);

/* Appends a Markdown table documenting the keys. */
void cf_conf_doc(const struct cf_conf_key *keys, struct cf_buf *out);

/* Parses "512KB", "128MB", "1GB", "100B" or a plain integer; 0 or CF_EPARSE. */
int cf_size_parse(const char *s, int64_t *bytes);

/* Edit distance between two short strings (for "did you mean"). */
int cf_edit_distance(const char *a, const char *b);

#endif
