/*
 * fuzz_ckpt_meta.c - libFuzzer target for the checkpoint _metadata reader.
 *
 * _metadata is read back from object storage by restoring tasks and by POST /jobs with a
 * savepointPath, so it must never crash on damaged or foreign content. A successful parse must
 * survive write -> parse unchanged (same operators, files and fields). Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "worker/ckpt_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct cf_ckpt_meta *a, const struct cf_ckpt_meta *b)
{
    if (strcmp(a->job_id, b->job_id) || a->checkpoint_id != b->checkpoint_id ||
        a->timestamp != b->timestamp || a->savepoint != b->savepoint ||
        a->max_parallelism != b->max_parallelism || a->nops != b->nops) {
        abort();
    }
    for (int i = 0; i < a->nops; i++) {
        const struct cf_ckpt_op *x = &a->ops[i], *y = &b->ops[i];
        if (strcmp(x->id, y->id) || x->parallelism != y->parallelism || x->nfiles != y->nfiles) {
            abort();
        }
        for (int k = 0; k < x->nfiles; k++) {
            const struct cf_ckpt_file *f = &x->files[k], *g = &y->files[k];
            if (f->subtask != g->subtask || strcmp(f->path, g->path) || f->size != g->size ||
                strcmp(f->checksum, g->checksum) || f->kg_lo != g->kg_lo || f->kg_hi != g->kg_hi) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_ckpt_meta *m = NULL;
    if (cf_ckpt_meta_parse((const char *)data, size, &m, &err) != 0) {
        if (m || !err.msg[0]) {
            abort(); /* a failure leaves nothing and says why */
        }
        return 0;
    }
    struct cf_buf text;
    cf_buf_init(&text);
    cf_ckpt_meta_write(m, &text);
    struct cf_ckpt_meta *again = NULL;
    if (cf_ckpt_meta_parse(text.data, text.len, &again, &err) != 0) {
        abort();
    }
    same(m, again);
    cf_ckpt_meta_free(again);
    cf_ckpt_meta_free(m);
    cf_buf_destroy(&text);
    return 0;
}
