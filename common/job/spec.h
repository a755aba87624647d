/*
 * spec.h - the job spec v1 document (DESIGN.md section 3): parsing and the job-level checks.
 *
 * cf_spec_parse() reads the JSON, validates the job-level keys (name, parallelism,
 * checkpoints, restart) and each operator's generic keys (id, type, input, parallelism,
 * key_by, exchange). The operator-specific keys are validated by the planner
 * (worker/plan.h), which knows the plugins. Every problem is reported with its JSON path.
 * A spec is immutable after parsing; any thread may read it.
 */
#ifndef CF_SPEC_H
#define CF_SPEC_H

#include <stdint.h>

#include "../base/err.h"
#include "conf.h"

struct cJSON;

enum cf_ckpt_mode { CF_CKPT_EXACTLY_ONCE, CF_CKPT_AT_LEAST_ONCE };
enum cf_restart_strategy {
    CF_RESTART_NONE,
    CF_RESTART_FIXED_DELAY,
    CF_RESTART_EXPONENTIAL_DELAY,
    CF_RESTART_FAILURE_RATE,
};
/* How an operator's input arrives. AUTO: forward when possible (chained), hash when the
 * operator is keyed, rebalance when the parallelism changes. */
enum cf_exchange {
    CF_EXCHANGE_AUTO,
    CF_EXCHANGE_FORWARD,
    CF_EXCHANGE_REBALANCE,
    CF_EXCHANGE_HASH,
    CF_EXCHANGE_BROADCAST,
};

struct cf_spec_op {
    int index;
    char path[32];            /* "operators[2]" */
    char *id;                 /* stable uid */
    char *type;               /* "filter", "source.kafka", ... */
    char *input;              /* "<id>" or "<id>.<side output>"; NULL for sources */
    int parallelism;          /* 0: the job's */
    int exchange;             /* enum cf_exchange */
    struct cf_strlist key_by; /* fields for hash exchange / keyed operators */
    const struct cJSON *json; /* the operator's object (owned by the spec's document) */
};

struct cf_spec {
    struct cJSON *doc;
    const struct cJSON *operators; /* the "operators" array inside doc */
    char *name;
    int64_t parallelism;
    int64_t max_parallelism;
    struct {
        int enabled; /* the "checkpoints" object was given */
        int64_t interval;
        int mode; /* enum cf_ckpt_mode */
        int64_t timeout;
        int64_t min_pause;
        char *dir;
        int64_t retain;
    } checkpoints;
    struct {
        int strategy; /* enum cf_restart_strategy */
        int64_t attempts;
        int64_t delay;
        int64_t max_delay;
        int64_t failure_interval;
    } restart;
    int nops;
    struct cf_spec_op *ops;
};

/* Parses and validates a spec from JSON text. Returns 0 and *out (caller destroys), or
 * CF_ESPEC with every problem in err (one per line). */
int cf_spec_parse(const char *text, size_t len, struct cf_spec **out, struct cf_err *err);
/* Reads a file and parses it; an unreadable file is CF_EIO with the path in err. */
int cf_spec_load(const char *path, struct cf_spec **out, struct cf_err *err);
void cf_spec_destroy(struct cf_spec *spec);
/* Index of the operator with this id, or -1. */
int cf_spec_find_op(const struct cf_spec *spec, const char *id);
/* 1 if s is a valid operator id (^[a-z0-9][a-z0-9-]*$). */
int cf_spec_id_valid(const char *s);
/* The job-level key table (for the docs). */
extern const struct cf_conf_key cf_spec_job_keys[];
extern const struct cf_conf_key cf_spec_op_keys[];

#endif
