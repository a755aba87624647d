#include "plan.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/mem.h"

static const char *const exchange_names[] = {"AUTO", "FORWARD", "REBALANCE", "HASH", "BROADCAST"};
_Static_assert(sizeof(exchange_names) / sizeof(exchange_names[0]) == CF_EXCHANGE_BROADCAST + 1,
               "exchange_names covers every exchange");

const char *cf_exchange_name(int exchange)
{
    return exchange >= 0 && exchange <= CF_EXCHANGE_BROADCAST ? exchange_names[exchange] : "?";
}

int cf_op_decl_output(struct cf_op_decl *decl, const char *name, struct cf_schema *schema)
{
    cf_assert(decl->noutputs < CF_OP_MAX_OUTPUTS);
    cf_assert(cf_op_decl_output_find(decl, name) < 0);
    struct cf_op_output *o = &decl->outputs[decl->noutputs];
    o->name = cf_strdup(name);
    o->schema = cf_schema_keep(schema);
    o->event_time = decl->in_event_time;
    return decl->noutputs++;
}

int cf_op_decl_output_find(const struct cf_op_decl *decl, const char *name)
{
    for (int i = 0; i < decl->noutputs; i++) {
        if (strcmp(decl->outputs[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

uint8_t *cf_op_decl_reads(struct cf_op_decl *decl)
{
    cf_assert(decl->in_schema);
    if (!decl->reads) {
        decl->reads = cf_calloc(decl->in_schema->nfields + 1, 1);
    }
    return decl->reads;
}

static const char *const generic_keys[] = {"id",       "type",   "input", "parallelism",
                                           "exchange", "key_by", NULL};

static void suggest_type(const char *type, char *buf, size_t size)
{
    const struct cf_op_plugin *const *all = cf_registry_all();
    int best = 99;
    buf[0] = '\0';
    for (int i = 0; all[i]; i++) {
        int d = cf_edit_distance(type, all[i]->type);
        if (d < best) {
            best = d;
            snprintf(buf, size, " (did you mean '%s'?)", all[i]->type);
        }
    }
    if (best > 3) {
        buf[0] = '\0';
    }
}

/* Resolves op i's plugin, input and config. Returns 0, or CF_ESPEC when the operator is
 * unusable (its dependents are then skipped, so one mistake gives one message). */
static int configure_op(struct cf_plan *plan, int i, const uint8_t *ok, struct cf_err *err)
{
    struct cf_spec *spec = plan->spec;
    struct cf_spec_op *sop = &spec->ops[i];
    struct cf_plan_op *pop = &plan->ops[i];
    struct cf_op_decl *decl = &pop->decl;
    decl->index = i;
    decl->id = sop->id;
    decl->path = sop->path;
    decl->spec = sop;
    decl->job = spec;
    pop->input_op = -1;
    pop->vertex = -1;

    const struct cf_op_plugin *plugin = cf_registry_find(sop->type);
    if (!plugin) {
        char hint[64];
        suggest_type(sop->type, hint, sizeof(hint));
        return cf_err_append(err, CF_ESPEC, "%s.type: unknown operator type '%s'%s", sop->path,
                             sop->type, hint);
    }
    decl->plugin = plugin;

    /* The input: a named operator (and side output) listed earlier, or the one before. */
    if (plugin->kind == CF_OP_KIND_SOURCE) {
        if (sop->input) {
            return cf_err_append(err, CF_ESPEC, "%s.input: a source has no input", sop->path);
        }
    } else {
        char name[80] = "";
        const char *side = "";
        if (sop->input) {
            snprintf(name, sizeof(name), "%s", sop->input);
            char *dot = strchr(name, '.');
            if (dot) {
                *dot = '\0';
                side = dot + 1;
            }
            int up = cf_spec_find_op(spec, name);
            if (up < 0 || up >= i) {
                return cf_err_append(err, CF_ESPEC,
                                     "%s.input: '%s' is not an operator listed before %s",
                                     sop->path, name, sop->path);
            }
            pop->input_op = up;
        } else {
            if (i == 0) {
                return cf_err_append(err, CF_ESPEC,
                                     "%s: the first operator must be a source (source.*), not "
                                     "'%s'",
                                     sop->path, sop->type);
            }
            pop->input_op = i - 1;
        }
        if (!ok[pop->input_op]) {
            return CF_ESPEC; /* already reported */
        }
        const struct cf_op_decl *up = &plan->ops[pop->input_op].decl;
        if (up->plugin->kind == CF_OP_KIND_SINK) {
            return cf_err_append(err, CF_ESPEC, "%s.input: '%s' is a sink and has no output%s",
                                 sop->path, up->id, sop->input ? "" : " (set input)");
        }
        pop->input_out = cf_op_decl_output_find(up, side);
        if (pop->input_out < 0) {
            char outs[160] = "";
            size_t o = 0;
            for (int k = 1; k < up->noutputs && o < sizeof(outs) - 40; k++) {
                o += (size_t)snprintf(outs + o, sizeof(outs) - o, "%s'%s.%s'", o ? ", " : "",
                                      up->id, up->outputs[k].name);
            }
            return cf_err_append(err, CF_ESPEC, "%s.input: '%s' has no side output '%s'%s%s",
                                 sop->path, up->id, side, o ? " (it has " : "", o ? outs : "");
        }
        decl->in_schema = cf_schema_keep(up->outputs[pop->input_out].schema);
        decl->in_event_time = up->outputs[pop->input_out].event_time;
    }

    int64_t par = sop->parallelism ? sop->parallelism : spec->parallelism;
    decl->parallelism = (int)par;
    if (par > plan->max_parallelism) {
        return cf_err_append(err, CF_ESPEC, "%s.parallelism: %lld exceeds max_parallelism %d",
                             sop->path, (long long)par, plan->max_parallelism);
    }

    /* Keys. */
    if (sop->key_by.n) {
        if (!decl->in_schema) {
            return cf_err_append(err, CF_ESPEC, "%s.key_by: a source cannot be keyed", sop->path);
        }
        decl->key_idx = cf_calloc((size_t)sop->key_by.n, sizeof(int));
        decl->nkeys = sop->key_by.n;
        for (int k = 0; k < sop->key_by.n; k++) {
            decl->key_idx[k] = cf_schema_find(decl->in_schema, sop->key_by.v[k]);
            if (decl->key_idx[k] < 0) {
                return cf_err_append(err, CF_ESPEC, "%s.key_by[%d]: unknown field '%s'", sop->path,
                                     k, sop->key_by.v[k]);
            }
        }
    }

    /* The plugin's own keys, then its checks. */
    decl->conf = cf_calloc(1, plugin->conf_size ? plugin->conf_size : 1);
    if (cf_conf_parse(plugin->conf_keys, sop->json, decl->conf, sop->path, generic_keys, err) !=
        0) {
        return CF_ESPEC;
    }
    if (plugin->configure(decl, err) != 0) {
        return CF_ESPEC;
    }
    if (plugin->kind != CF_OP_KIND_SINK && decl->noutputs == 0) {
        return cf_err_append(err, CF_ESPEC, "%s: plugin '%s' declared no output", sop->path,
                             plugin->type);
    }

    /* The exchange. */
    pop->exchange = sop->exchange;
    if (pop->input_op >= 0) {
        int up_par = plan->ops[pop->input_op].decl.parallelism;
        if (pop->exchange == CF_EXCHANGE_AUTO) {
            if (plugin->flags & CF_OP_F_KEYED) {
                pop->exchange = CF_EXCHANGE_HASH;
            } else if (sop->key_by.n) {
                pop->exchange = CF_EXCHANGE_HASH;
            } else if (up_par == decl->parallelism) {
                pop->exchange = CF_EXCHANGE_FORWARD;
            } else {
                pop->exchange = CF_EXCHANGE_REBALANCE;
            }
        }
        /* A hash exchange between two single subtasks sends every row to the one
         * downstream subtask, which owns every key group: it is a forward, so the operator
         * chains into its upstream's task (no thread hop, no row copy). Keyed operators
         * compute key groups themselves, so their state still rescales from savepoints. */
        int single = up_par == 1 && decl->parallelism == 1;
        if (pop->exchange == CF_EXCHANGE_HASH && single) {
            pop->exchange = CF_EXCHANGE_FORWARD;
        }
        if (pop->exchange == CF_EXCHANGE_FORWARD && up_par != decl->parallelism) {
            return cf_err_append(
                err, CF_ESPEC, "%s.exchange: forward needs the parallelism of '%s' (%d), not %d",
                sop->path, plan->ops[pop->input_op].decl.id, up_par, decl->parallelism);
        }
        if ((plugin->flags & CF_OP_F_KEYED) && pop->exchange != CF_EXCHANGE_HASH && !single) {
            return cf_err_append(err, CF_ESPEC,
                                 "%s.exchange: a keyed operator receives its input by hash",
                                 sop->path);
        }
    }
    return 0;
}

static void build_vertices(struct cf_plan *plan)
{
    plan->vertices = cf_calloc((size_t)plan->nops, sizeof(*plan->vertices));
    for (int i = 0; i < plan->nops; i++) {
        struct cf_plan_op *pop = &plan->ops[i];
        struct cf_plan_vertex *v;
        if (pop->input_op >= 0 && pop->exchange == CF_EXCHANGE_FORWARD) {
            v = &plan->vertices[plan->ops[pop->input_op].vertex];
        } else {
            v = &plan->vertices[plan->nvertices];
            v->index = plan->nvertices++;
            v->parallelism = pop->decl.parallelism;
            v->input_vertex = pop->input_op >= 0 ? plan->ops[pop->input_op].vertex : -1;
            v->input_exchange = pop->input_op >= 0 ? pop->exchange : CF_EXCHANGE_AUTO;
            v->ops = cf_calloc((size_t)plan->nops, sizeof(int));
        }
        pop->vertex = v->index;
        v->ops[v->nops++] = i;
    }
    for (int vi = 0; vi < plan->nvertices; vi++) {
        struct cf_plan_vertex *v = &plan->vertices[vi];
        size_t o = 0;
        for (int k = 0; k < v->nops && o < sizeof(v->name) - 8; k++) {
            const struct cf_op_decl *d = &plan->ops[v->ops[k]].decl;
            const char *prefix = "";
            if (k == 0 && d->plugin->kind == CF_OP_KIND_SOURCE) {
                prefix = "Source: ";
            } else if (d->plugin->kind == CF_OP_KIND_SINK) {
                prefix = "Sink: ";
            }
            o += (size_t)snprintf(v->name + o, sizeof(v->name) - o, "%s%s%s", k ? " -> " : "",
                                  prefix, d->id);
        }
    }
}

/*
 * Projection: the fields of every output that some consumer reads, from the last operator to
 * the first (an input is listed before its consumers, so they are done first). An operator
 * needs of its input what it reads itself and what the consumers of the outputs that carry
 * its input rows need.
 */
static void plan_projection(struct cf_plan *plan)
{
    for (int i = plan->nops - 1; i >= 0; i--) {
        struct cf_plan_op *pop = &plan->ops[i];
        struct cf_op_decl *d = &pop->decl;
        for (int o = 0; o < d->noutputs; o++) {
            uint32_t nf = d->outputs[o].schema->nfields;
            uint8_t *used = cf_calloc(nf + 1, 1);
            for (int c = i + 1; c < plan->nops; c++) {
                const struct cf_plan_op *cons = &plan->ops[c];
                if (cons->input_op != i || cons->input_out != o) {
                    continue;
                }
                for (uint32_t f = 0; f < nf; f++) {
                    used[f] |= cons->in_used[f];
                }
            }
            d->outputs[o].used = used;
        }
        if (!d->in_schema) {
            continue;
        }
        uint32_t nf = d->in_schema->nfields;
        pop->in_used = cf_calloc(nf + 1, 1);
        for (uint32_t f = 0; f < nf; f++) {
            pop->in_used[f] = d->reads ? d->reads[f] : 1;
            for (int o = 0; o < d->noutputs; o++) {
                pop->in_used[f] |= d->outputs[o].rows_of_input && d->outputs[o].used[f];
            }
        }
        for (int k = 0; k < d->nkeys; k++) {
            pop->in_used[d->key_idx[k]] = 1; /* a hash exchange reads the keys */
        }
    }
}

int cf_plan_build(struct cf_spec *spec, int parallelism, struct cf_plan **out, struct cf_err *err)
{
    *out = NULL;
    struct cf_plan *plan = cf_new(struct cf_plan);
    plan->spec = spec;
    if (parallelism > 0) {
        spec->parallelism = parallelism;
    }
    plan->max_parallelism = (int)spec->max_parallelism;
    if (spec->parallelism > plan->max_parallelism) {
        cf_err_append(err, CF_ESPEC, "parallelism %lld exceeds max_parallelism %d",
                      (long long)spec->parallelism, plan->max_parallelism);
        cf_plan_destroy(plan);
        return CF_ESPEC;
    }
    plan->nops = spec->nops;
    plan->ops = cf_calloc((size_t)spec->nops, sizeof(*plan->ops));
    uint8_t *ok = cf_calloc((size_t)spec->nops, 1);
    int bad = 0;
    for (int i = 0; i < spec->nops; i++) {
        if (configure_op(plan, i, ok, err) == 0) {
            ok[i] = 1;
        } else {
            bad = 1;
        }
    }
    cf_free(ok);
    if (bad) {
        cf_plan_destroy(plan);
        return CF_ESPEC;
    }
    build_vertices(plan);
    plan_projection(plan);
    *out = plan;
    return 0;
}

void cf_plan_destroy(struct cf_plan *plan)
{
    if (!plan) {
        return;
    }
    for (int i = 0; i < plan->nops; i++) {
        struct cf_op_decl *decl = &plan->ops[i].decl;
        if (decl->plugin && decl->plugin->unconfigure) {
            decl->plugin->unconfigure(decl);
        }
        if (decl->plugin && decl->conf) {
            cf_conf_free(decl->plugin->conf_keys, decl->conf);
        }
        cf_free(decl->conf);
        cf_free(decl->key_idx);
        cf_free(decl->reads);
        cf_free(plan->ops[i].in_used);
        cf_schema_release(decl->in_schema);
        for (int k = 0; k < decl->noutputs; k++) {
            cf_free(decl->outputs[k].used);
            cf_free(decl->outputs[k].name);
            cf_schema_release(decl->outputs[k].schema);
        }
    }
    for (int v = 0; v < plan->nvertices; v++) {
        cf_free(plan->vertices[v].ops);
    }
    cf_free(plan->vertices);
    cf_free(plan->ops);
    cf_spec_destroy(plan->spec);
    cf_free(plan);
}

int cf_plan_slots(const struct cf_plan *plan)
{
    int slots = 0;
    for (int v = 0; v < plan->nvertices; v++) {
        if (plan->vertices[v].parallelism > slots) {
            slots = plan->vertices[v].parallelism;
        }
    }
    return slots;
}

static void describe_schema(const struct cf_schema *schema, struct cf_buf *out)
{
    cf_buf_putc(out, '{');
    for (uint32_t f = 0; f < schema->nfields; f++) {
        cf_buf_appendf(out, "%s%s: %s", f ? ", " : "", schema->fields[f].name,
                       cf_type_name(schema->fields[f].type));
    }
    cf_buf_putc(out, '}');
}

void cf_plan_describe(const struct cf_plan *plan, struct cf_buf *out)
{
    cf_buf_appendf(out, "Job \"%s\": %d vertices, %d slots (max_parallelism %d)\n",
                   plan->spec->name, plan->nvertices, cf_plan_slots(plan), plan->max_parallelism);
    for (int vi = 0; vi < plan->nvertices; vi++) {
        const struct cf_plan_vertex *v = &plan->vertices[vi];
        cf_buf_appendf(out, "\nVertex %d: %s\n  parallelism: %d\n", v->index, v->name,
                       v->parallelism);
        if (v->input_vertex >= 0) {
            const struct cf_plan_op *head = &plan->ops[v->ops[0]];
            cf_buf_appendf(out, "  input: vertex %d via %s", v->input_vertex,
                           cf_exchange_name(v->input_exchange));
            if (v->input_exchange == CF_EXCHANGE_HASH) {
                cf_buf_puts(out, " by (");
                for (int k = 0; k < head->decl.nkeys; k++) {
                    cf_buf_appendf(out, "%s%s", k ? ", " : "",
                                   head->decl.in_schema->fields[head->decl.key_idx[k]].name);
                }
                cf_buf_putc(out, ')');
            }
            cf_buf_putc(out, '\n');
        }
        cf_buf_puts(out, "  chain:\n");
        for (int k = 0; k < v->nops; k++) {
            const struct cf_plan_op *pop = &plan->ops[v->ops[k]];
            const struct cf_op_decl *d = &pop->decl;
            cf_buf_appendf(out, "    %-24s %-14s", d->id, d->plugin->type);
            if (pop->input_op >= 0) {
                const struct cf_op_decl *up = &plan->ops[pop->input_op].decl;
                cf_buf_appendf(out, " <- %s%s%s", up->id, pop->input_out ? "." : "",
                               pop->input_out ? up->outputs[pop->input_out].name : "");
            }
            cf_buf_putc(out, '\n');
            for (int o = 0; o < d->noutputs; o++) {
                cf_buf_appendf(out, "      %s ", o == 0 ? "out" : d->outputs[o].name);
                describe_schema(d->outputs[o].schema, out);
                cf_buf_putc(out, '\n');
            }
        }
    }
}
