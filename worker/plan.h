/*
 * plan.h - from a job spec to a validated job graph.
 *
 * cf_plan_build() resolves every operator's plugin and input, parses and checks its
 * config (binding expressions to the input schema), derives schemas, decides each input's
 * exchange and chains operators into vertices: an operator whose input arrives by a
 * forward exchange runs in its upstream's task, called directly. Each vertex runs as
 * `parallelism` subtasks. The plan owns the spec and is immutable once built: any thread may
 * read it, and the runtime keeps pointers into it while a job runs.
 */
#ifndef CF_PLAN_H
#define CF_PLAN_H

#include <stdio.h>

#include "common/base/buf.h"
#include "op.h"

struct cf_plan_op {
    struct cf_op_decl decl;
    int input_op;  /* upstream operator index, -1 for sources */
    int input_out; /* which output of the upstream operator */
    int exchange;  /* resolved enum cf_exchange: FORWARD means chained */
    int vertex;
    /* Projection: in_used[f] is 1 when the operator, or a consumer of the input rows it
     * passes on, reads field f of its input (NULL for sources). */
    uint8_t *in_used;
};

struct cf_plan_vertex {
    int index;
    char name[256]; /* "Source: events -> valid -> to-lake" */
    int *ops;       /* operator indexes in chain order (an upstream before its consumers) */
    int nops;
    int parallelism;
    int input_vertex; /* -1 for a source vertex */
    int input_exchange;
};

struct cf_plan {
    struct cf_spec *spec;
    int max_parallelism;
    int nops;
    struct cf_plan_op *ops;
    int nvertices;
    struct cf_plan_vertex *vertices;
};

/*
 * Builds the plan; takes ownership of spec in every case. parallelism > 0 overrides the
 * job's default parallelism (cfctl -p). Every problem is appended to err with its JSON path.
 */
int cf_plan_build(struct cf_spec *spec, int parallelism, struct cf_plan **out, struct cf_err *err);
void cf_plan_destroy(struct cf_plan *plan);
/* Human-readable task graph (cfctl plan). */
void cf_plan_describe(const struct cf_plan *plan, struct cf_buf *out);
/* Slots the job needs: the largest vertex parallelism (slot sharing). */
int cf_plan_slots(const struct cf_plan *plan);

/* The plugin registry (worker/registry.c). */
const struct cf_op_plugin *cf_registry_find(const char *type);
/* NULL-terminated list of every plugin. */
const struct cf_op_plugin *const *cf_registry_all(void);

const char *cf_exchange_name(int exchange);

#endif
