/*
 * select - projection and computed fields: {"fields": {"out_name": "expression", ...}}.
 * The key "*" (with any value) copies every input field at that position. Fields that are
 * plain references are moved without evaluating; the input's string memory is handed to the
 * output batch, so nothing is copied per record.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <string.h>

#include "common/base/mem.h"
#include "common/data/expr.h"
#include "worker/op.h"

struct select_conf {
    const cJSON *fields;
};

static const struct cf_conf_key select_keys[] = {
    {"fields", CF_CONF_JSON, CF_CONF_REQUIRED, NULL, offsetof(struct select_conf, fields), NULL,
     "Object of output field name to expression, in output order; \"*\" copies all input "
     "fields."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

struct select_prep {
    int n;
    struct cf_expr **exprs; /* per output field; NULL when `src` copies an input field */
    int *src;               /* input field index for plain copies, else -1 */
};

struct select_state {
    struct cf_expr_eval_ctx **ctx;
};

static void prep_free(struct select_prep *prep)
{
    if (!prep) {
        return;
    }
    for (int i = 0; i < prep->n; i++) {
        cf_expr_destroy(prep->exprs[i]);
    }
    cf_free(prep->exprs);
    cf_free(prep->src);
    cf_free(prep);
}

static int select_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct select_conf *conf = decl->conf;
    if (!cJSON_IsObject(conf->fields) || !conf->fields->child) {
        return cf_err_append(err, CF_ESPEC,
                             "%s.fields: must be a non-empty object of name to expression",
                             decl->path);
    }
    const struct cf_schema *in = decl->in_schema;
    int cap = cJSON_GetArraySize(conf->fields) + (int)in->nfields;
    struct select_prep *prep = cf_new(struct select_prep);
    prep->exprs = cf_calloc((size_t)cap, sizeof(*prep->exprs));
    prep->src = cf_calloc((size_t)cap, sizeof(int));
    struct cf_schema *out = cf_schema_create();
    int bad = 0;
    for (const cJSON *f = conf->fields->child; f; f = f->next) {
        if (strcmp(f->string, "*") == 0) {
            for (uint32_t i = 0; i < in->nfields; i++) {
                if (cf_schema_add(out, in->fields[i].name, in->fields[i].type) < 0) {
                    bad = cf_err_append(err, CF_ESPEC, "%s.fields: '%s' appears twice", decl->path,
                                        in->fields[i].name);
                    continue;
                }
                prep->src[prep->n++] = (int)i;
            }
            continue;
        }
        if (!cJSON_IsString(f)) {
            bad = cf_err_append(err, CF_ESPEC, "%s.fields.%s: must be an expression string",
                                decl->path, f->string);
            continue;
        }
        struct cf_err e;
        cf_err_clear(&e);
        struct cf_expr *expr = cf_expr_parse(f->valuestring, &e);
        if (!expr || cf_expr_bind(expr, in, &e) != 0) {
            cf_expr_destroy(expr);
            bad = cf_err_append(err, CF_ESPEC, "%s.fields.%s: %s", decl->path, f->string, e.msg);
            continue;
        }
        enum cf_type t = cf_expr_type(expr);
        if (t == CF_TYPE_NULL) {
            cf_expr_destroy(expr);
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.fields.%s: a bare NULL has no type; use coalesce or CASE "
                                "to give it one",
                                decl->path, f->string);
            continue;
        }
        if (!f->string[0] || cf_schema_add(out, f->string, t) < 0) {
            cf_expr_destroy(expr);
            bad = cf_err_append(err, CF_ESPEC, "%s.fields.%s: %s", decl->path, f->string,
                                f->string[0] ? "appears twice" : "empty name");
            continue;
        }
        int src = cf_expr_field_index(expr);
        if (src >= 0) {
            cf_expr_destroy(expr);
            expr = NULL;
        }
        prep->exprs[prep->n] = expr;
        prep->src[prep->n++] = src;
    }
    if (bad) {
        prep_free(prep);
        cf_schema_release(out);
        return CF_ESPEC;
    }
    decl->prep = prep;
    uint8_t *reads = cf_op_decl_reads(decl);
    for (int i = 0; i < prep->n; i++) {
        if (prep->src[i] >= 0) {
            reads[prep->src[i]] = 1;
        } else {
            cf_expr_mark_fields(prep->exprs[i], reads);
        }
    }
    cf_op_decl_output(decl, "", out);
    cf_schema_release(out);
    return 0;
}

static void select_unconfigure(struct cf_op_decl *decl)
{
    prep_free(decl->prep);
}

static int select_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    const struct select_prep *prep = op->decl->prep;
    struct select_state *st = cf_new(struct select_state);
    st->ctx = cf_calloc((size_t)prep->n, sizeof(*st->ctx));
    for (int i = 0; i < prep->n; i++) {
        if (prep->exprs[i]) {
            st->ctx[i] = cf_expr_eval_ctx_create(prep->exprs[i]);
        }
    }
    op->state = st;
    return 0;
}

static int select_process(struct cf_op *op, struct cf_batch *in)
{
    const struct select_prep *prep = op->decl->prep;
    struct select_state *st = op->state;
    struct cf_batch *out = cf_op_batch_get(op, 0);
    uint32_t n = in->n;
    for (int i = 0; i < prep->n; i++) {
        struct cf_col *oc = &out->cols[i];
        if (prep->src[i] >= 0) {
            const struct cf_col *ic = &in->cols[prep->src[i]];
            memcpy(oc->v.data, ic->v.data, cf_type_width(ic->type) * n);
            memcpy(oc->nulls, ic->nulls, n);
        } else {
            cf_expr_eval(prep->exprs[i], st->ctx[i], in, oc, &out->arena);
        }
    }
    memcpy(out->ts, in->ts, sizeof(int64_t) * n);
    out->n = n;
    /* Output strings may point into the input's arena (or batches it pinned): the output
     * takes them over. */
    cf_batch_take_strings(out, in);
    cf_batch_release(in);
    return cf_op_emit(op, 0, out);
}

static void select_close(struct cf_op *op)
{
    const struct select_prep *prep = op->decl->prep;
    struct select_state *st = op->state;
    if (st) {
        for (int i = 0; i < prep->n; i++) {
            cf_expr_eval_ctx_destroy(st->ctx[i]);
        }
        cf_free(st->ctx);
        cf_free(st);
    }
}

const struct cf_op_plugin cf_op_select = {
    .type = "select",
    .kind = CF_OP_KIND_TRANSFORM,
    .doc = "Projects and computes fields: each output field is an expression over the input.",
    .conf_size = sizeof(struct select_conf),
    .conf_keys = select_keys,
    .configure = select_configure,
    .unconfigure = select_unconfigure,
    .open = select_open,
    .process = select_process,
    .close = select_close,
};
