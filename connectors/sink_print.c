/*
 * sink.print - writes each row as one JSON line to standard output (or standard error).
 * With parallelism > 1 each line is prefixed with "<subtask>> " as Flink's print sink
 * does, unless `prefix` says otherwise. Lines of one batch are written in one call under a
 * process-wide lock, so lines of concurrent subtasks never interleave.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/data/csv_codec.h"
#include "common/data/json_codec.h"
#include "worker/op.h"

enum print_target { PRINT_STDOUT, PRINT_STDERR };
enum print_format { PRINT_JSON, PRINT_CSV };

struct print_conf {
    int target;
    int format;
    char *prefix;
};

static const struct cf_conf_key print_keys[] = {
    {"target", CF_CONF_ENUM, 0, "stdout", offsetof(struct print_conf, target), "stdout|stderr",
     "Where lines go."},
    {"format", CF_CONF_ENUM, 0, "json", offsetof(struct print_conf, format), "json|csv",
     "Line format."},
    {"prefix", CF_CONF_STRING, 0, NULL, offsetof(struct print_conf, prefix), NULL,
     "Text before each line (default: \"<subtask>> \" when parallelism > 1, else none)."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

struct print_state {
    struct cf_json_encoder *enc;
    struct cf_buf buf;
    char prefix[64];
};

static int print_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    (void)decl;
    (void)err;
    return 0;
}

static int print_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    const struct print_conf *conf = op->conf;
    struct print_state *st = cf_new(struct print_state);
    st->enc = cf_json_encoder_create(op->decl->in_schema);
    cf_buf_init(&st->buf);
    if (conf->prefix) {
        snprintf(st->prefix, sizeof(st->prefix), "%s", conf->prefix);
    } else if (op->parallelism > 1) {
        snprintf(st->prefix, sizeof(st->prefix), "%d> ", op->subtask + 1);
    }
    op->state = st;
    return 0;
}

static int print_process(struct cf_op *op, struct cf_batch *batch)
{
    const struct print_conf *conf = op->conf;
    struct print_state *st = op->state;
    cf_buf_reset(&st->buf);
    for (uint32_t r = 0; r < batch->n; r++) {
        cf_buf_puts(&st->buf, st->prefix);
        if (conf->format == PRINT_CSV) {
            cf_csv_encode_row(batch, r, ',', &st->buf);
        } else {
            cf_json_encoder_row(st->enc, batch, r, &st->buf);
        }
        cf_buf_putc(&st->buf, '\n');
    }
    cf_batch_release(batch);
    int fd = conf->target == PRINT_STDERR ? STDERR_FILENO : STDOUT_FILENO;
    pthread_mutex_lock(&print_lock);
    size_t off = 0;
    while (off < st->buf.len) {
        ssize_t w = write(fd, st->buf.data + off, st->buf.len - off);
        if (w <= 0) {
            break; /* a closed pipe: nothing sensible to do with the output */
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&print_lock);
    return 0;
}

static void print_close(struct cf_op *op)
{
    struct print_state *st = op->state;
    if (st) {
        cf_json_encoder_destroy(st->enc);
        cf_buf_destroy(&st->buf);
        cf_free(st);
    }
}

const struct cf_op_plugin cf_conn_sink_print = {
    .type = "sink.print",
    .kind = CF_OP_KIND_SINK,
    .doc = "Prints rows as JSON (or CSV) lines on standard output.",
    .conf_size = sizeof(struct print_conf),
    .conf_keys = print_keys,
    .configure = print_configure,
    .open = print_open,
    .process = print_process,
    .close = print_close,
};
