/*
 * filter - keeps the rows on which a SQL condition is TRUE (FALSE and NULL are dropped).
 */
#include <stddef.h>

#include "common/base/mem.h"
#include "common/data/expr.h"
#include "worker/op.h"

struct filter_conf {
    char *where;
};

static const struct cf_conf_key filter_keys[] = {
    {"where", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct filter_conf, where), NULL,
     "Condition over the input fields; rows where it is TRUE pass."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

struct filter_state {
    struct cf_expr_eval_ctx *ctx;
    struct cf_arena scratch;
    uint8_t keep[CF_BATCH_ROWS];
};

static int filter_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct filter_conf *conf = decl->conf;
    struct cf_err e;
    cf_err_clear(&e);
    struct cf_expr *expr = cf_expr_parse(conf->where, &e);
    if (!expr || cf_expr_bind(expr, decl->in_schema, &e) != 0) {
        cf_expr_destroy(expr);
        return cf_err_append(err, CF_ESPEC, "%s.where: %s", decl->path, e.msg);
    }
    enum cf_type t = cf_expr_type(expr);
    if (t != CF_TYPE_BOOL && t != CF_TYPE_NULL) {
        cf_expr_destroy(expr);
        return cf_err_append(err, CF_ESPEC, "%s.where: must be a condition (bool), not %s",
                             decl->path, cf_type_name(t));
    }
    decl->prep = expr;
    cf_expr_mark_fields(expr, cf_op_decl_reads(decl));
    int o = cf_op_decl_output(decl, "", decl->in_schema);
    decl->outputs[o].rows_of_input = 1;
    return 0;
}

static void filter_unconfigure(struct cf_op_decl *decl)
{
    cf_expr_destroy(decl->prep);
}

static int filter_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    struct filter_state *st = cf_new(struct filter_state);
    st->ctx = cf_expr_eval_ctx_create(op->decl->prep);
    cf_arena_init(&st->scratch, 0);
    op->state = st;
    return 0;
}

static int filter_process(struct cf_op *op, struct cf_batch *batch)
{
    struct filter_state *st = op->state;
    int kept = cf_expr_eval_filter(op->decl->prep, st->ctx, batch, st->keep, &st->scratch);
    cf_arena_reset(&st->scratch);
    if ((uint32_t)kept != batch->n) {
        cf_batch_compact(batch, st->keep);
    }
    return cf_op_emit(op, 0, batch);
}

static void filter_close(struct cf_op *op)
{
    struct filter_state *st = op->state;
    if (st) {
        cf_expr_eval_ctx_destroy(st->ctx);
        cf_arena_destroy(&st->scratch);
        cf_free(st);
    }
}

const struct cf_op_plugin cf_op_filter = {
    .type = "filter",
    .kind = CF_OP_KIND_TRANSFORM,
    .doc = "Keeps the rows on which `where` is TRUE.",
    .conf_size = sizeof(struct filter_conf),
    .conf_keys = filter_keys,
    .configure = filter_configure,
    .unconfigure = filter_unconfigure,
    .open = filter_open,
    .process = filter_process,
    .close = filter_close,
};
