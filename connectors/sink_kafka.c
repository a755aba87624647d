/*
 * sink.kafka - writes each row as one JSON message to a Kafka topic (librdkafka).
 *
 * A row's message: the value is the row as a JSON object (json_codec.h), the key is the
 * `key` expression's value as text (no key when absent or NULL), the timestamp is the row's
 * event time when it has one. Messages with a key are partitioned as Kafka's Java client
 * does (murmur2), so Creekflow and JVM producers agree on where a key goes.
 *
 * Delivery guarantees:
 *  - at_least_once (default): an idempotent producer (no duplicates from its own retries,
 *    order kept per partition); snapshot() flushes, waiting until the brokers acknowledged
 *    every message written before the checkpoint barrier, and so does finish(). A restart
 *    from a checkpoint may write again what followed that checkpoint.
 *  - exactly_once, when the job checkpoints in exactly_once mode (cf_op_exactly_once()): a
 *    transactional producer and one Kafka transaction per checkpoint interval. snapshot(n)
 *    flushes the open transaction (pre-commit), records it as pending in the checkpoint and
 *    moves on to a new transaction; notify_checkpoint_complete(n) commits the transactions
 *    pending at n. librdkafka allows one open transaction per producer, so the subtask keeps
 *    a small pool of producers with transactional ids "<job-id>-<operator-id>-<subtask>-<k>"
 *    (k = 0, 1, ...; pending ones wait for their commit while the next one writes). At the
 *    end of the input finish() pre-commits the last transaction, which the runtime's final
 *    notification commits. On restore (and at open) initializing the transactional ids of
 *    the checkpoint's producers fences and aborts whatever those ids left open.
 *    Not guaranteed: librdkafka cannot resume a transaction opened by another producer
 *    instance (Flink's Java connector resumes it through producer internals), so when a job
 *    fails after checkpoint n completed but before the sink committed n's transaction, that
 *    transaction is aborted on restore and its records are lost to read_committed readers
 *    (the restored sources do not replay them). The window is the time between the
 *    checkpoint's completion and the commit (normally milliseconds). Whether a transaction
 *    was committed cannot be asked of the brokers with librdkafka 2.0, so on restore the
 *    sink logs the pre-committed transactions it found (committed, or aborted just now).
 *    delivery: exactly_once without exactly_once checkpoints writes at least once (with a
 *    warning): without checkpoints there is nothing to tie transactions to.
 *
 * Errors: a message the brokers refuse or that cannot be delivered within
 * message.timeout.ms (2 minutes by default here, Kafka's delivery.timeout.ms) fails the
 * task with the reason; a full local queue blocks (back-pressure) while librdkafka sends.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/expr.h"
#include "common/data/json_codec.h"
#include "kafka_common.h"
#include "worker/op.h"

enum ksink_delivery { DELIVERY_AT_LEAST_ONCE, DELIVERY_EXACTLY_ONCE };

struct ksink_conf {
    char *brokers;
    char *topic;
    char *key;
    int format;
    int delivery;
    int64_t startup_timeout;
    const cJSON *properties;
};

static const struct cf_conf_key ksink_keys[] = {
    {"brokers", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct ksink_conf, brokers), NULL,
     "Bootstrap brokers, \"host:port[,host:port...]\"."},
    {"topic", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct ksink_conf, topic), NULL,
     "The topic to write to."},
    {"key", CF_CONF_STRING, 0, NULL, offsetof(struct ksink_conf, key), NULL,
     "Expression giving each message's key (as text; NULL: no key), e.g. \"user_id\"."},
    {"format", CF_CONF_ENUM, 0, "json", offsetof(struct ksink_conf, format), "json",
     "Message values are JSON objects."},
    {"delivery", CF_CONF_ENUM, 0, "at_least_once", offsetof(struct ksink_conf, delivery),
     "at_least_once|exactly_once",
     "at_least_once: flush on every checkpoint; exactly_once: one Kafka transaction per "
     "checkpoint, committed when it completes (needs exactly_once checkpoints)."},
    CF_KAFKA_STARTUP_TIMEOUT_KEY(struct ksink_conf, startup_timeout),
    CF_KAFKA_PROPERTIES_KEY(struct ksink_conf, properties),
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

static const char *const ksink_managed[] = {
    "bootstrap.servers", "brokers", "metadata.broker.list", "brokers", "transactional.id",
    "delivery",          NULL,
};

struct ksink_prep {
    struct cf_expr *key; /* bound, string-typed; NULL without a key */
};

enum prod_status { PROD_IDLE, PROD_OPEN, PROD_PENDING };

/* One producer of the pool (exactly_once) or the only one (at_least_once). */
struct kprod {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char txn_id[320]; /* "" when not transactional */
    enum prod_status status;
    int64_t checkpoint; /* PROD_PENDING: the checkpoint whose completion commits it */
};

struct ksink_state {
    struct cf_kafka_client kc;
    int eo; /* transactional */
    struct kprod *prods;
    int nprods;
    int cur; /* the producer being written to */
    struct cf_json_encoder *enc;
    struct cf_buf value;
    struct cf_expr_eval_ctx *kctx;
    struct cf_col keycol;
    uint32_t keycap;
    struct cf_arena karena;
    uint64_t failed; /* delivery failures reported */
    char fail_msg[600];
};

static int ksink_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct ksink_conf *conf = decl->conf;
    struct ksink_prep *prep = cf_new(struct ksink_prep);
    decl->prep = prep;
    int bad = 0;
    if (!conf->brokers[0]) {
        bad = cf_err_append(err, CF_ESPEC, "%s.brokers: must not be empty", decl->path);
    }
    size_t tl = strlen(conf->topic);
    if (tl == 0 || tl > 249 ||
        strspn(conf->topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            tl) {
        bad = cf_err_append(err, CF_ESPEC,
                            "%s.topic: '%s' is not a topic name (1-249 characters of "
                            "[a-zA-Z0-9._-])",
                            decl->path, conf->topic);
    }
    if (conf->startup_timeout < 100) {
        bad =
            cf_err_append(err, CF_ESPEC, "%s.startup_timeout: must be at least 100ms", decl->path);
    }
    if (cf_kafka_properties_check(conf->properties, ksink_managed, decl->path, err) != 0) {
        bad = CF_ESPEC;
    }
    if (conf->key) {
        struct cf_err e;
        cf_err_clear(&e);
        prep->key = cf_expr_parse(conf->key, &e);
        if (!prep->key || cf_expr_bind(prep->key, decl->in_schema, &e) != 0) {
            return cf_err_append(err, CF_ESPEC, "%s.key: %s", decl->path, e.msg);
        }
        enum cf_type t = cf_expr_type(prep->key);
        if (t == CF_TYPE_NULL) {
            return cf_err_append(err, CF_ESPEC, "%s.key: is always NULL (omit 'key' instead)",
                                 decl->path);
        }
        if (t != CF_TYPE_STRING) {
            /* Keys are bytes: other types become the text concat() gives them (ints in
             * decimal, timestamps in ISO-8601), as everywhere else in the engine. */
            char *text = cf_asprintf("concat((%s))", conf->key);
            cf_expr_destroy(prep->key);
            prep->key = cf_expr_parse(text, &e);
            cf_free(text);
            if (!prep->key || cf_expr_bind(prep->key, decl->in_schema, &e) != 0) {
                return cf_err_append(err, CF_ESPEC, "%s.key: %s", decl->path, e.msg);
            }
        }
    }
    return bad ? CF_ESPEC : 0;
}

static void ksink_unconfigure(struct cf_op_decl *decl)
{
    struct ksink_prep *prep = decl->prep;
    if (prep) {
        cf_expr_destroy(prep->key);
        cf_free(prep);
    }
}

/* Delivery reports, served by rd_kafka_poll()/rd_kafka_flush() on the task thread. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct ksink_state *st = m->_private;
    if (!m->err || !st) {
        return;
    }
    if (st->failed++ == 0) {
        snprintf(st->fail_msg, sizeof(st->fail_msg),
                 "cannot deliver to topic '%s' on brokers "
                 "'%s': %s",
                 rd_kafka_topic_name(m->rkt), st->kc.brokers, rd_kafka_err2str(m->err));
    }
}

static void prod_destroy(struct kprod *p, int abort_open)
{
    if (!p->rk) {
        return;
    }
    if (abort_open && p->txn_id[0] && p->status != PROD_IDLE) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(p->rk, 5000);
        if (e) {
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (p->rkt) {
        rd_kafka_topic_destroy(p->rkt);
    }
    rd_kafka_destroy(p->rk);
    memset(p, 0, sizeof(*p));
}

/* "<job-id>-<operator-id>-<subtask>-<k>" */
static void txn_id_of(const struct cf_op *op, int subtask, int k, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%s-%d-%d", cf_op_job_id(op), op->decl->id, subtask, k);
}

/* A transaction error as one line; destroys it. */
static void txn_error_text(rd_kafka_error_t *e, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", rd_kafka_error_string(e),
             rd_kafka_error_is_fatal(e)             ? " (fatal)"
             : rd_kafka_error_txn_requires_abort(e) ? " (transaction must be aborted)"
                                                    : "");
    rd_kafka_error_destroy(e);
}

/*
 * Creates a producer. txn_id: "" for an idempotent one, else the transactional id, whose
 * init_transactions() fences any earlier producer of that id and aborts what it left open.
 * wait_topic: wait for the brokers (and the topic) first, up to startup_timeout.
 */
static int prod_create(struct cf_op *op, struct ksink_state *st, struct kprod *p,
                       const char *txn_id, int wait_topic, struct cf_err *err)
{
    const struct ksink_conf *conf = op->conf;
    memset(p, 0, sizeof(*p));
    snprintf(p->txn_id, sizeof(p->txn_id), "%s", txn_id);
    const char *defaults[] = {
        "client.id",
        "creekflow",
        "enable.idempotence",
        "true",
        "partitioner",
        "murmur2_random",
        "message.timeout.ms",
        "120000",
        "transaction.timeout.ms",
        "900000",
        NULL,
    };
    const char *forced[] = {"bootstrap.servers", conf->brokers,
                            txn_id[0] ? "transactional.id" : NULL, txn_id, NULL};
    if (!txn_id[0]) {
        defaults[8] = NULL; /* transaction.timeout.ms only with transactions */
    }
    rd_kafka_conf_t *kconf = cf_kafka_conf_create(&st->kc, defaults, conf->properties, forced, err);
    if (!kconf) {
        return CF_ESPEC;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
    if (!p->rk) {
        rd_kafka_conf_destroy(kconf);
        return cf_err_set(err, CF_EINVAL, "cannot create a Kafka producer: %s", errstr);
    }
    p->rkt = rd_kafka_topic_new(p->rk, conf->topic, NULL);
    if (wait_topic) {
        const struct rd_kafka_metadata *md = NULL;
        int rc = cf_kafka_wait_metadata(&st->kc, p->rk, conf->topic, conf->startup_timeout, op, &md,
                                        err);
        if (rc) {
            return rc;
        }
        int missing = md->topic_cnt < 1 || md->topics[0].err != 0;
        rd_kafka_resp_err_t terr = md->topic_cnt ? md->topics[0].err : 0;
        rd_kafka_metadata_destroy(md);
        if (missing) {
            return cf_err_set(err, CF_ENOENT, "topic '%s' on brokers '%s': %s", conf->topic,
                              conf->brokers,
                              terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                                  ? "does not exist (and the brokers do not create topics)"
                                  : rd_kafka_err2str(terr));
        }
    }
    if (txn_id[0]) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, (int)conf->startup_timeout);
        if (e) {
            char why[512];
            txn_error_text(e, why, sizeof(why));
            return cf_err_set(err, CF_EIO,
                              "cannot initialize transactions for '%s' on brokers '%s': %s", txn_id,
                              conf->brokers, why);
        }
    }
    return 0;
}

static int begin_txn(struct cf_op *op, struct kprod *p)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e) {
        char why[512];
        txn_error_text(e, why, sizeof(why));
        return cf_op_fail(op, "cannot begin a transaction on '%s': %s", p->txn_id, why);
    }
    p->status = PROD_OPEN;
    return 0;
}

static int ksink_open(struct cf_op *op, struct cf_err *err)
{
    const struct ksink_conf *conf = op->conf;
    const struct ksink_prep *prep = op->decl->prep;
    struct ksink_state *st = cf_new(struct ksink_state);
    op->state = st;
    cf_kafka_client_init(&st->kc, op, conf->brokers);
    st->enc = cf_json_encoder_create(op->decl->in_schema);
    cf_buf_init(&st->value);
    cf_arena_init(&st->karena, 0);
    if (prep->key) {
        st->kctx = cf_expr_eval_ctx_create(prep->key);
    }
    st->eo = conf->delivery == DELIVERY_EXACTLY_ONCE && cf_op_exactly_once(op);
    if (conf->delivery == DELIVERY_EXACTLY_ONCE && !st->eo && op->subtask == 0) {
        cf_warn("%s: delivery exactly_once needs checkpoints in exactly_once mode; without "
                "them this sink writes at least once",
                op->decl->id);
    }
    st->prods = cf_calloc(1, sizeof(struct kprod));
    st->nprods = 1;
    char txn_id[320] = "";
    if (st->eo) {
        txn_id_of(op, op->subtask, 0, txn_id, sizeof(txn_id));
    }
    int rc = prod_create(op, st, &st->prods[0], txn_id, 1, err);
    if (rc) {
        return rc;
    }
    if (st->eo) {
        return begin_txn(op, &st->prods[0]);
    }
    st->prods[0].status = PROD_OPEN;
    return 0;
}

/* Serves callbacks and turns what they reported into a task failure. */
static int check_errors(struct cf_op *op, struct ksink_state *st)
{
    if (st->kc.fatal) {
        return cf_op_fail(op, "Kafka producer failed on brokers '%s': %s", st->kc.brokers,
                          st->kc.fatal_msg);
    }
    if (st->failed) {
        return cf_op_fail(op, "%s (%" PRIu64 " message(s) not delivered)", st->fail_msg,
                          st->failed);
    }
    return 0;
}

/* The key of row r as bytes in *k, *klen (NULL: no key). */
static void key_of(struct ksink_state *st, uint32_t r, const void **k, size_t *klen)
{
    if (st->keycol.nulls[r]) {
        *k = NULL;
        *klen = 0;
        return;
    }
    *k = st->keycol.v.str[r].ptr;
    *klen = st->keycol.v.str[r].len;
}

static int ksink_process(struct cf_op *op, struct cf_batch *b)
{
    const struct ksink_prep *prep = op->decl->prep;
    struct ksink_state *st = op->state;
    struct kprod *p = &st->prods[st->cur];
    int rc = 0;
    if (prep->key) {
        if (b->n > st->keycap) {
            st->keycap = b->n;
            cf_free(st->keycol.nulls);
            cf_free(st->keycol.v.str);
            st->keycol.type = CF_TYPE_STRING;
            st->keycol.nulls = cf_malloc(st->keycap);
            st->keycol.v.str = cf_malloc(st->keycap * sizeof(struct cf_str));
        }
        cf_expr_eval(prep->key, st->kctx, b, &st->keycol, &st->karena);
    }
    for (uint32_t r = 0; r < b->n && rc == 0; r++) {
        cf_buf_reset(&st->value);
        cf_json_encoder_row(st->enc, b, r, &st->value);
        const void *k = NULL;
        size_t klen = 0;
        if (prep->key) {
            key_of(st, r, &k, &klen);
        }
        int64_t ts = b->ts[r] != CF_TS_NONE && b->ts[r] > 0 ? b->ts[r] : 0;
        for (;;) {
            rd_kafka_resp_err_t code = rd_kafka_producev(
                p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(st->value.data, st->value.len), RD_KAFKA_V_KEY(k, klen),
                RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_OPAQUE(st), RD_KAFKA_V_END);
            if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }
            if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                /* Back-pressure: wait for the brokers to take some. */
                rd_kafka_poll(p->rk, 50);
                if (cf_op_canceled(op)) {
                    rc = CF_ECANCELED;
                    break;
                }
                if ((rc = check_errors(op, st)) != 0) {
                    break;
                }
                continue;
            }
            if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                rc = cf_op_fail(op,
                                "a record of %zu bytes is larger than the producer allows "
                                "(properties: message.max.bytes)",
                                st->value.len);
            } else {
                rc =
                    cf_op_fail(op, "cannot write to topic '%s' on brokers '%s': %s",
                               rd_kafka_topic_name(p->rkt), st->kc.brokers, rd_kafka_err2str(code));
            }
            break;
        }
    }
    cf_batch_release(b);
    cf_arena_reset(&st->karena);
    rd_kafka_poll(p->rk, 0);
    return rc ? rc : check_errors(op, st);
}

/* Waits until the brokers acknowledged everything p was given (or it failed). */
static int flush_prod(struct cf_op *op, struct ksink_state *st, struct kprod *p)
{
    while (rd_kafka_outq_len(p->rk) > 0) {
        if (cf_op_canceled(op)) {
            return CF_ECANCELED;
        }
        rd_kafka_flush(p->rk, 200);
        int rc = check_errors(op, st);
        if (rc) {
            return rc;
        }
    }
    rd_kafka_poll(p->rk, 0);
    return check_errors(op, st);
}

/* A producer for the next transaction: an idle one of the pool, or a new one. */
static int next_producer(struct cf_op *op, struct ksink_state *st)
{
    int k = 0;
    while (k < st->nprods && st->prods[k].status != PROD_IDLE) {
        k++;
    }
    if (k == st->nprods) {
        st->prods = cf_realloc(st->prods, (size_t)(st->nprods + 1) * sizeof(struct kprod));
        char txn_id[320];
        txn_id_of(op, op->subtask, k, txn_id, sizeof(txn_id));
        struct cf_err err;
        cf_err_clear(&err);
        int rc = prod_create(op, st, &st->prods[k], txn_id, 0, &err);
        st->nprods++;
        if (rc) {
            return cf_op_fail(op, "%s", err.msg);
        }
        if (st->nprods > 4) {
            cf_warn("%s: %d transactions wait for their checkpoint to complete", op->decl->id,
                    st->nprods - 1);
        }
    }
    st->cur = k;
    return begin_txn(op, &st->prods[k]);
}

/* Pre-commit: flush the open transaction and leave it pending for checkpoint id. */
static int precommit(struct cf_op *op, struct ksink_state *st, int64_t id)
{
    struct kprod *p = &st->prods[st->cur];
    int rc = flush_prod(op, st, p);
    if (rc) {
        return rc;
    }
    p->status = PROD_PENDING;
    p->checkpoint = id;
    return 0;
}

static int ksink_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    struct ksink_state *st = op->state;
    if (!st->eo) {
        return flush_prod(op, st, &st->prods[0]);
    }
    int64_t id = cf_snapshot_id(snap);
    int rc = precommit(op, st, id);
    /* What a restore needs: how many ids this subtask used (to fence them all) and which
     * transactions were pending (to report them). */
    char key[64], val[400];
    int kl = snprintf(key, sizeof(key), "pool/%d", op->subtask);
    int vl = snprintf(val, sizeof(val), "%d", st->nprods);
    if (rc == 0) {
        rc = cf_snapshot_put(snap, key, (size_t)kl, val, (size_t)vl);
    }
    for (int k = 0; k < st->nprods && rc == 0; k++) {
        const struct kprod *p = &st->prods[k];
        if (p->status != PROD_PENDING) {
            continue;
        }
        kl = snprintf(key, sizeof(key), "txn/%d/%d", op->subtask, k);
        vl = snprintf(val, sizeof(val), "%" PRId64 " %s", p->checkpoint, p->txn_id);
        rc = cf_snapshot_put(snap, key, (size_t)kl, val, (size_t)vl);
    }
    return rc ? rc : next_producer(op, st);
}

static int commit_txn(struct cf_op *op, struct kprod *p)
{
    const struct ksink_conf *conf = op->conf;
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(p->rk, 60000);
        if (!e) {
            cf_debug("%s: committed transaction '%s' of checkpoint %" PRId64, op->decl->id,
                     p->txn_id, p->checkpoint);
            p->status = PROD_IDLE;
            return 0;
        }
        int retriable = rd_kafka_error_is_retriable(e);
        char why[512];
        txn_error_text(e, why, sizeof(why));
        if (retriable && attempt < 5 && !cf_op_canceled(op)) {
            cf_warn("%s: committing transaction '%s': %s; retrying", op->decl->id, p->txn_id, why);
            continue;
        }
        return cf_op_fail(
            op, "cannot commit transaction '%s' of checkpoint %" PRId64 " on brokers '%s': %s",
            p->txn_id, p->checkpoint, conf->brokers, why);
    }
}

static int ksink_notify_checkpoint_complete(struct cf_op *op, int64_t checkpoint_id)
{
    struct ksink_state *st = op->state;
    if (!st->eo) {
        return 0;
    }
    /* Oldest first, so readers see the transactions in checkpoint order. */
    for (;;) {
        int best = -1;
        for (int k = 0; k < st->nprods; k++) {
            const struct kprod *p = &st->prods[k];
            if (p->status == PROD_PENDING && p->checkpoint <= checkpoint_id &&
                (best < 0 || p->checkpoint < st->prods[best].checkpoint)) {
                best = k;
            }
        }
        if (best < 0) {
            return 0;
        }
        int rc = commit_txn(op, &st->prods[best]);
        if (rc) {
            return rc;
        }
    }
}

struct restore_ctx {
    struct cf_op *op;
    int *pool; /* per old subtask: ids used, indexed by old subtask */
    int npool;
    int pending;
    char first[320]; /* the first pending transaction seen */
};

static int restore_visit(void *arg, int key_group, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    (void)key_group;
    struct restore_ctx *rc = arg;
    char k[64], v[400];
    if (klen >= sizeof(k) || vlen >= sizeof(v)) {
        return 0;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    memcpy(v, val, vlen);
    v[vlen] = '\0';
    int s, n;
    if (sscanf(k, "pool/%d", &s) == 1 && sscanf(v, "%d", &n) == 1 && s >= 0 && s < 100000 &&
        n > 0 && n < 100000) {
        if (s >= rc->npool) {
            rc->pool = cf_realloc(rc->pool, (size_t)(s + 1) * sizeof(int));
            for (int i = rc->npool; i <= s; i++) {
                rc->pool[i] = 0;
            }
            rc->npool = s + 1;
        }
        rc->pool[s] = n;
        return 0;
    }
    long long ckpt;
    char txn[320];
    if (sscanf(k, "txn/%d/%d", &s, &n) == 2 && sscanf(v, "%lld %319s", &ckpt, txn) == 2 &&
        s % rc->op->parallelism == rc->op->subtask) {
        if (rc->pending++ == 0) {
            snprintf(rc->first, sizeof(rc->first), "%s", txn);
        }
    }
    return 0;
}

/*
 * Fences every transactional id the checkpointed subtasks used that this subtask now owns
 * (old subtask s belongs to s % parallelism): init_transactions() on an id aborts what it
 * left open, so no transaction of the failed attempt lingers until its timeout.
 */
static int ksink_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    struct ksink_state *st = op->state;
    if (!st->eo) {
        return 0;
    }
    struct restore_ctx rctx = {.op = op};
    int rc = cf_snapshot_scan(snap, restore_visit, &rctx);
    for (int s = 0; s < rctx.npool && rc == 0; s++) {
        if (s % op->parallelism != op->subtask) {
            continue;
        }
        for (int k = 0; k < rctx.pool[s] && rc == 0; k++) {
            if (s == op->subtask && k < st->nprods) {
                continue; /* already initialized by open() */
            }
            char txn_id[320];
            txn_id_of(op, s, k, txn_id, sizeof(txn_id));
            struct kprod fence;
            struct cf_err err;
            cf_err_clear(&err);
            rc = prod_create(op, st, &fence, txn_id, 0, &err);
            if (rc) {
                rc = cf_op_fail(op, "%s", err.msg);
            }
            prod_destroy(&fence, 0);
        }
    }
    cf_free(rctx.pool);
    if (rc == 0 && rctx.pending) {
        /* Whether they were committed before the failure cannot be asked of the brokers with
         * librdkafka 2.0 (no DescribeTransactions); init_transactions() above aborted any
         * still open. */
        cf_info("%s: restored from checkpoint %" PRId64 "; its %d pre-committed transaction(s) "
                "('%s'%s) were committed if the failure came after the checkpoint's commit, "
                "else they have just been aborted (librdkafka cannot resume another producer's "
                "transaction): their records are then missing for read_committed readers",
                op->decl->id, cf_snapshot_id(snap), rctx.pending, rctx.first,
                rctx.pending > 1 ? ", ..." : "");
    }
    return rc;
}

static int ksink_finish(struct cf_op *op)
{
    struct ksink_state *st = op->state;
    if (!st->eo) {
        return flush_prod(op, st, &st->prods[0]);
    }
    /* The runtime's final notification (after every task finished) commits this. */
    return precommit(op, st, INT64_MAX);
}

static void ksink_close(struct cf_op *op)
{
    struct ksink_state *st = op->state;
    if (!st) {
        return;
    }
    for (int k = 0; k < st->nprods; k++) {
        prod_destroy(&st->prods[k], 1);
    }
    cf_free(st->prods);
    cf_json_encoder_destroy(st->enc);
    cf_buf_destroy(&st->value);
    cf_expr_eval_ctx_destroy(st->kctx);
    cf_free(st->keycol.nulls);
    cf_free(st->keycol.v.str);
    cf_arena_destroy(&st->karena);
    cf_kafka_client_destroy(&st->kc);
    cf_free(st);
}

const struct cf_op_plugin cf_conn_sink_kafka = {
    .type = "sink.kafka",
    .kind = CF_OP_KIND_SINK,
    .doc = "Writes rows as JSON messages to a Kafka topic, at least once or exactly once "
           "(transactions committed with checkpoints).",
    .conf_size = sizeof(struct ksink_conf),
    .conf_keys = ksink_keys,
    .configure = ksink_configure,
    .unconfigure = ksink_unconfigure,
    .open = ksink_open,
    .process = ksink_process,
    .snapshot = ksink_snapshot,
    .restore = ksink_restore,
    .notify_checkpoint_complete = ksink_notify_checkpoint_complete,
    .finish = ksink_finish,
    .close = ksink_close,
};
