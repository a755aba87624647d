/*
 * source.kafka - reads JSON records from Kafka topics (librdkafka).
 *
 * Partitions are assigned explicitly, without consumer-group rebalancing (as Flink's
 * KafkaSource does): open() fetches the topics' metadata, sorts every (topic, partition)
 * pair by topic name then partition number, and subtask s reads pair i when
 * i % parallelism == s. Partitions created after the job started are not picked up.
 *
 * Positions: open() resolves each partition's start offset to a number (`start`:
 * earliest, latest, or the `group`'s committed offset with auto.offset.reset as the
 * fallback), and with `stop: latest` its end offset (the high watermark - for the default
 * read_committed isolation the last stable offset - seen at start). A checkpoint stores,
 * as operator (union) state, "<topic>/<partition>" -> "<next offset> <end offset or -1>"
 * for every partition the subtask reads; restore() keeps the entries of the partitions it
 * now owns, so a job can be restored at another parallelism. A partition with no entry in
 * the checkpoint starts from its earliest offset if its topic has entries (it was created
 * since), else by `start`. With `group` set, the offsets of checkpoint n are committed to
 * the group when n completes (for monitoring and `start: committed`; recovery never reads
 * them back).
 *
 * Records: one JSON object per message value, decoded against `schema`; a message that
 * does not parse or fit (or has no value) goes to the "errors" side output with the
 * location "<topic>/<partition>@<offset>". Event time and watermarks are per partition
 * (worker/evtime.h), the source's watermark being the minimum over its partitions that
 * are not idle (`event_time.idle_timeout`) or finished. A subtask that owns no partition
 * never holds the watermark back: it ends at once when bounded, and otherwise emits the
 * maximum watermark.
 *
 * Hot path: poll() drains librdkafka's consumer queue in batches of up to `batch_rows`
 * messages (rd_kafka_consume_batch_queue, no wait), decoding each value straight into one
 * output batch; only when nothing is queued does it wait, at most *wait_ms, for a first
 * message. Messages fetched beyond what fits in the batch wait in a fixed array for the
 * next poll. End of a partition (stop: latest) is seen either from a message at or beyond
 * the end offset or from librdkafka's partition-EOF event, so control records (transaction
 * markers) at the end of a partition never leave the source waiting.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/json_codec.h"
#include "kafka_common.h"
#include "worker/evtime.h"
#include "worker/op.h"
#include "worker/srcerr.h"

enum ksrc_start { START_EARLIEST, START_LATEST, START_COMMITTED };
enum ksrc_stop { STOP_NEVER, STOP_LATEST };

struct ksrc_conf {
    char *brokers;
    char *topic;
    struct cf_strlist topics;
    int start;
    int stop;
    char *group;
    int commit_offsets;
    int format;
    const cJSON *schema;
    int64_t batch_rows;
    int64_t startup_timeout;
    const cJSON *properties;
    struct cf_evtime_conf event_time;
};

static const struct cf_conf_key ksrc_keys[] = {
    {"brokers", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct ksrc_conf, brokers), NULL,
     "Bootstrap brokers, \"host:port[,host:port...]\"."},
    {"topic", CF_CONF_STRING, 0, NULL, offsetof(struct ksrc_conf, topic), NULL,
     "The topic to read (or use `topics`)."},
    {"topics", CF_CONF_STRLIST, 0, NULL, offsetof(struct ksrc_conf, topics), NULL,
     "Several topics to read, all with the same schema."},
    {"start", CF_CONF_ENUM, 0, "earliest", offsetof(struct ksrc_conf, start),
     "earliest|latest|committed",
     "Where to start without a checkpoint: the earliest offset, the end, or the `group`'s "
     "committed offsets (auto.offset.reset, default earliest, where it has none)."},
    {"stop", CF_CONF_ENUM, 0, "never", offsetof(struct ksrc_conf, stop), "never|latest",
     "never: unbounded; latest: read up to the end offsets seen at start, then finish."},
    {"group", CF_CONF_STRING, 0, NULL, offsetof(struct ksrc_conf, group), NULL,
     "Consumer group: offsets are committed to it when a checkpoint completes, and `start: "
     "committed` reads them. Partitions are still assigned by Creekflow, never by the group."},
    {"commit_offsets", CF_CONF_BOOL, 0, "true", offsetof(struct ksrc_conf, commit_offsets), NULL,
     "With `group`: commit the offsets of each completed checkpoint."},
    {"format", CF_CONF_ENUM, 0, "json", offsetof(struct ksrc_conf, format), "json",
     "Message values are JSON objects."},
    {"schema", CF_CONF_JSON, CF_CONF_REQUIRED, NULL, offsetof(struct ksrc_conf, schema), NULL,
     "Object of field name to type (string, int, double, bool, timestamp)."},
    {"batch_rows", CF_CONF_INT, 0, "512", offsetof(struct ksrc_conf, batch_rows), NULL,
     "Rows per batch at most (a watermark follows every batch)."},
    CF_KAFKA_STARTUP_TIMEOUT_KEY(struct ksrc_conf, startup_timeout),
    CF_KAFKA_PROPERTIES_KEY(struct ksrc_conf, properties),
    CF_EVTIME_CONF_KEYS(struct ksrc_conf, event_time),
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

/* Properties the connector owns, each with the key to use instead. */
static const char *const ksrc_managed[] = {
    "bootstrap.servers",
    "brokers",
    "metadata.broker.list",
    "brokers",
    "group.id",
    "group",
    "enable.partition.eof",
    "stop",
    NULL,
};

struct ksrc_prep {
    struct cf_schema *schema;
    int ts_idx;
    int errors_out;
    int ntopics;
    char **topics;    /* sorted, distinct */
    int auto_commit;  /* properties enable librdkafka's own auto-commit */
    int reset_latest; /* auto.offset.reset says latest */
};

/* A partition this subtask reads. */
struct kpart {
    int topic; /* index in prep->topics */
    int32_t partition;
    int64_t low, high; /* at start */
    int64_t next;      /* offset of the next record to read */
    int64_t end;       /* stop before this offset; INT64_MAX: never */
    int done;
    int restored; /* the position came from a checkpoint */
};

/* Message -> partition lookup: the topic handle seen in messages, partition id -> index. */
struct ktopic {
    const rd_kafka_topic_t *rkt;
    int nids;
    int *part_idx; /* partition id -> index in parts, or -1 */
    int restored;  /* the checkpoint has entries of this topic */
};

/* Offsets of a checkpoint, committed to the group when it completes. */
struct kcommit {
    int64_t id;
    int64_t *next; /* per part */
};

#define MAX_PENDING_COMMITS 8

struct ksrc_state {
    struct cf_kafka_client kc;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    struct kpart *parts;
    int nparts;
    int ndone;
    struct ktopic *topics;
    int assigned;
    int finished;
    rd_kafka_message_t **msgs; /* fetched, not yet processed: msgs[mpos, nmsgs) */
    int nmsgs, mpos;
    struct cf_json_decoder *json;
    struct cf_srcerr errors;
    struct cf_wmgen wm;
    struct cf_log_ratelimit consume_rl;
    struct kcommit commits[MAX_PENDING_COMMITS];
    int ncommits;
    char location[320];
};

static int valid_topic_name(const char *t)
{
    size_t n = strlen(t);
    return n > 0 && n < 250 &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ksrc_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct ksrc_conf *conf = decl->conf;
    struct ksrc_prep *prep = cf_new(struct ksrc_prep);
    decl->prep = prep;
    if (cf_srcerr_schema(decl, conf->schema, &prep->schema, err) != 0) {
        return CF_ESPEC;
    }
    int bad = 0;
    if (!conf->brokers[0]) {
        bad = cf_err_append(err, CF_ESPEC, "%s.brokers: must not be empty", decl->path);
    }
    if (!!conf->topic == !!conf->topics.n) {
        bad = cf_err_append(err, CF_ESPEC, "%s: set one of 'topic' and 'topics'", decl->path);
    } else {
        prep->ntopics = conf->topic ? 1 : conf->topics.n;
        prep->topics = cf_calloc((size_t)prep->ntopics, sizeof(char *));
        for (int i = 0; i < prep->ntopics; i++) {
            const char *t = conf->topic ? conf->topic : conf->topics.v[i];
            prep->topics[i] = cf_strdup(t);
            if (!valid_topic_name(t)) {
                bad = cf_err_append(err, CF_ESPEC,
                                    "%s.%s: '%s' is not a topic name (1-249 characters of "
                                    "[a-zA-Z0-9._-])",
                                    decl->path, conf->topic ? "topic" : "topics", t);
            }
        }
        qsort(prep->topics, (size_t)prep->ntopics, sizeof(char *), cmp_str);
        for (int i = 1; i < prep->ntopics; i++) {
            if (strcmp(prep->topics[i - 1], prep->topics[i]) == 0) {
                bad = cf_err_append(err, CF_ESPEC, "%s.topics: '%s' is listed twice", decl->path,
                                    prep->topics[i]);
            }
        }
    }
    if (conf->start == START_COMMITTED && !conf->group) {
        bad = cf_err_append(err, CF_ESPEC, "%s.start: 'committed' needs a 'group'", decl->path);
    }
    if (conf->batch_rows < 1 || conf->batch_rows > CF_BATCH_ROWS) {
        bad = cf_err_append(err, CF_ESPEC, "%s.batch_rows: must be between 1 and %d", decl->path,
                            CF_BATCH_ROWS);
    }
    if (conf->startup_timeout < 100) {
        bad =
            cf_err_append(err, CF_ESPEC, "%s.startup_timeout: must be at least 100ms", decl->path);
    }
    if (cf_kafka_properties_check(conf->properties, ksrc_managed, decl->path, err) != 0) {
        bad = CF_ESPEC;
    }
    char num[64];
    const char *v = cf_kafka_property(conf->properties, "enable.auto.commit", num, sizeof(num));
    prep->auto_commit = v && strcmp(v, "true") == 0;
    v = cf_kafka_property(conf->properties, "auto.offset.reset", num, sizeof(num));
    prep->reset_latest =
        v && (strcmp(v, "latest") == 0 || strcmp(v, "largest") == 0 || strcmp(v, "end") == 0);
    if (cf_evtime_check(&conf->event_time, prep->schema, decl->path, &prep->ts_idx, err) != 0) {
        bad = CF_ESPEC;
    }
    if (bad) {
        return CF_ESPEC;
    }
    prep->errors_out = cf_srcerr_declare(decl, prep->schema, prep->ts_idx);
    return 0;
}

static void ksrc_unconfigure(struct cf_op_decl *decl)
{
    struct ksrc_prep *prep = decl->prep;
    if (!prep) {
        return;
    }
    cf_schema_release(prep->schema);
    for (int i = 0; i < prep->ntopics; i++) {
        cf_free(prep->topics[i]);
    }
    cf_free(prep->topics);
    cf_free(prep);
}

/* The topics' partitions from the metadata; fails on a missing topic. */
static int find_partitions(struct cf_op *op, struct ksrc_state *st,
                           const struct rd_kafka_metadata *md, struct cf_err *err)
{
    const struct ksrc_prep *prep = op->decl->prep;
    const struct ksrc_conf *conf = op->conf;
    int global = 0; /* index in the sorted list of every (topic, partition) */
    for (int t = 0; t < prep->ntopics; t++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int i = 0; i < md->topic_cnt; i++) {
            if (strcmp(md->topics[i].topic, prep->topics[t]) == 0) {
                mt = &md->topics[i];
            }
        }
        if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || mt->partition_cnt == 0) {
            return cf_err_set(err, CF_ENOENT, "topic '%s' does not exist on brokers '%s'",
                              prep->topics[t], conf->brokers);
        }
        if (mt->err) {
            return cf_err_set(err, CF_ERETRY, "topic '%s' on brokers '%s': %s", prep->topics[t],
                              conf->brokers, rd_kafka_err2str(mt->err));
        }
        int maxid = 0;
        for (int i = 0; i < mt->partition_cnt; i++) {
            if (mt->partitions[i].id > maxid) {
                maxid = mt->partitions[i].id;
            }
        }
        struct ktopic *kt = &st->topics[t];
        kt->nids = maxid + 1;
        kt->part_idx = cf_malloc((size_t)kt->nids * sizeof(int));
        for (int i = 0; i < kt->nids; i++) {
            kt->part_idx[i] = -1;
        }
        /* Partition ids in order (metadata lists them in any order). */
        for (int id = 0; id <= maxid; id++) {
            int present = 0;
            for (int i = 0; i < mt->partition_cnt && !present; i++) {
                present = mt->partitions[i].id == id;
            }
            if (!present) {
                continue;
            }
            if (global++ % op->parallelism != op->subtask) {
                continue;
            }
            st->parts = cf_realloc(st->parts, (size_t)(st->nparts + 1) * sizeof(struct kpart));
            st->parts[st->nparts] = (struct kpart){.topic = t, .partition = id};
            kt->part_idx[id] = st->nparts++;
        }
    }
    return 0;
}

static rd_kafka_topic_partition_list_t *part_list(const struct ksrc_state *st,
                                                  const struct ksrc_prep *prep, int only_open)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(st->nparts);
    for (int i = 0; i < st->nparts; i++) {
        const struct kpart *p = &st->parts[i];
        if (only_open && p->done) {
            continue;
        }
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(list, prep->topics[p->topic], p->partition);
        tp->offset = p->next;
    }
    return list;
}

/* Start and end offsets of the owned partitions (blocking, at open). */
static int resolve_offsets(struct cf_op *op, struct ksrc_state *st, int64_t deadline,
                           struct cf_err *err)
{
    const struct ksrc_prep *prep = op->decl->prep;
    const struct ksrc_conf *conf = op->conf;
    for (int i = 0; i < st->nparts; i++) {
        struct kpart *p = &st->parts[i];
        int64_t left = deadline - cf_monotonic_ms();
        rd_kafka_resp_err_t code =
            rd_kafka_query_watermark_offsets(st->rk, prep->topics[p->topic], p->partition, &p->low,
                                             &p->high, (int)(left > 1000 ? left : 1000));
        if (code) {
            return cf_err_set(err, CF_EIO, "cannot read the offsets of %s/%d on brokers '%s': %s",
                              prep->topics[p->topic], p->partition, conf->brokers,
                              rd_kafka_err2str(code));
        }
        p->next = conf->start == START_LATEST ? p->high : p->low;
        p->end = conf->stop == STOP_LATEST ? p->high : INT64_MAX;
    }
    if (conf->start == START_COMMITTED && st->nparts > 0) {
        rd_kafka_topic_partition_list_t *list = part_list(st, prep, 0);
        int64_t left = deadline - cf_monotonic_ms();
        rd_kafka_resp_err_t code =
            rd_kafka_committed(st->rk, list, (int)(left > 1000 ? left : 1000));
        if (code) {
            rd_kafka_topic_partition_list_destroy(list);
            return cf_err_set(err, CF_EIO,
                              "cannot read the committed offsets of group '%s' on brokers "
                              "'%s': %s",
                              conf->group, conf->brokers, rd_kafka_err2str(code));
        }
        for (int i = 0; i < list->cnt; i++) {
            struct kpart *p = &st->parts[i];
            int64_t off = list->elems[i].offset;
            if (off >= 0) {
                p->next = off;
            } else {
                p->next = prep->reset_latest ? p->high : p->low;
            }
        }
        rd_kafka_topic_partition_list_destroy(list);
    }
    return 0;
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t code,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct cf_kafka_client *kc = opaque;
    if (code && code != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        /* As in Flink: a failed commit only delays what monitoring sees; never fatal. */
        cf_warn("%s: committing offsets to the group failed: %s", kc->prefix,
                rd_kafka_err2str(code));
    }
}

static int ksrc_open(struct cf_op *op, struct cf_err *err)
{
    const struct ksrc_conf *conf = op->conf;
    const struct ksrc_prep *prep = op->decl->prep;
    struct ksrc_state *st = cf_new(struct ksrc_state);
    op->state = st;
    cf_kafka_client_init(&st->kc, op, conf->brokers);
    st->topics = cf_calloc((size_t)prep->ntopics, sizeof(struct ktopic));
    st->msgs = cf_calloc((size_t)conf->batch_rows, sizeof(*st->msgs));
    st->json = cf_srcerr_json_decoder(op, prep->schema, prep->ts_idx);
    cf_srcerr_init(&st->errors, prep->errors_out);

    char group[300];
    snprintf(group, sizeof(group), "%s", conf->group ? conf->group : "");
    if (!conf->group) {
        /* librdkafka needs a group id to assign partitions; without `group` nothing is ever
         * committed to it (unless the properties turn on auto-commit). */
        snprintf(group, sizeof(group), "creekflow-%s", op->decl->id);
    }
    const char *defaults[] = {
        "client.id", "creekflow", "auto.offset.reset", "earliest", "enable.auto.commit",
        "false",     NULL,
    };
    const char *forced[] = {
        "bootstrap.servers", conf->brokers, "group.id", group, "enable.partition.eof", "true", NULL,
    };
    rd_kafka_conf_t *kconf = cf_kafka_conf_create(&st->kc, defaults, conf->properties, forced, err);
    if (!kconf) {
        return CF_ESPEC;
    }
    rd_kafka_conf_set_offset_commit_cb(kconf, offset_commit_cb);
    char errstr[512];
    st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, sizeof(errstr));
    if (!st->rk) {
        rd_kafka_conf_destroy(kconf);
        return cf_err_set(err, CF_EINVAL, "cannot create a Kafka consumer: %s", errstr);
    }
    st->queue = rd_kafka_queue_get_consumer(st->rk);

    int64_t deadline = cf_monotonic_ms() + conf->startup_timeout;
    int rc;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rc = cf_kafka_wait_metadata(&st->kc, st->rk, NULL, deadline - cf_monotonic_ms(), op, &md,
                                    err);
        if (rc) {
            if (rc == CF_EIO) {
                /* Name the whole startup timeout, not what was left of it. */
                char last[512], dur[32];
                cf_kafka_client_last_error(&st->kc, last, sizeof(last));
                rc = cf_err_set(err, CF_EIO, "cannot reach Kafka brokers '%s' within %s: %s",
                                conf->brokers,
                                cf_duration_format(conf->startup_timeout, dur, sizeof(dur)),
                                last[0] ? last : "timed out");
            }
            return rc;
        }
        rc = find_partitions(op, st, md, err);
        rd_kafka_metadata_destroy(md);
        if (rc != CF_ERETRY || cf_monotonic_ms() >= deadline) {
            break;
        }
        /* A leader election or a topic being created: ask again shortly. */
        for (int t = 0; t < prep->ntopics; t++) {
            cf_free(st->topics[t].part_idx);
            st->topics[t].part_idx = NULL;
        }
        cf_free(st->parts);
        st->parts = NULL;
        st->nparts = 0;
        cf_err_clear(err);
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc) {
        return rc;
    }
    if ((rc = resolve_offsets(op, st, deadline, err)) != 0) {
        return rc;
    }
    cf_wmgen_init(&st->wm, &conf->event_time, st->nparts);
    return 0;
}

/* "topic/partition" -> "<next> <end or -1>": one entry per partition read. */
static int ksrc_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    const struct ksrc_prep *prep = op->decl->prep;
    const struct ksrc_conf *conf = op->conf;
    struct ksrc_state *st = op->state;
    for (int i = 0; i < st->nparts; i++) {
        const struct kpart *p = &st->parts[i];
        char key[300], val[64];
        int kl = snprintf(key, sizeof(key), "%s/%d", prep->topics[p->topic], (int)p->partition);
        int vl = snprintf(val, sizeof(val), "%" PRId64 " %" PRId64, p->next,
                          p->end == INT64_MAX ? (int64_t)-1 : p->end);
        int rc = cf_snapshot_put(snap, key, (size_t)kl, val, (size_t)vl);
        if (rc) {
            return rc;
        }
    }
    if (conf->group && conf->commit_offsets && st->nparts > 0) {
        if (st->ncommits == MAX_PENDING_COMMITS) {
            /* Completions lag far behind: drop the oldest (a later commit covers it). */
            cf_free(st->commits[0].next);
            memmove(&st->commits[0], &st->commits[1],
                    (MAX_PENDING_COMMITS - 1) * sizeof(st->commits[0]));
            st->ncommits--;
        }
        struct kcommit *c = &st->commits[st->ncommits++];
        c->id = cf_snapshot_id(snap);
        c->next = cf_malloc((size_t)st->nparts * sizeof(int64_t));
        for (int i = 0; i < st->nparts; i++) {
            c->next[i] = st->parts[i].next;
        }
    }
    return 0;
}

static int parse_position(const char *val, size_t vlen, int64_t *next, int64_t *end)
{
    char text[64];
    if (vlen == 0 || vlen >= sizeof(text)) {
        return -1;
    }
    memcpy(text, val, vlen);
    text[vlen] = '\0';
    long long a, b;
    if (sscanf(text, "%lld %lld", &a, &b) != 2 || a < 0) {
        return -1;
    }
    *next = a;
    *end = b < 0 ? INT64_MAX : b;
    return 0;
}

static int restore_visit(void *arg, int key_group, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    (void)key_group;
    struct cf_op *op = arg;
    const struct ksrc_prep *prep = op->decl->prep;
    const struct ksrc_conf *conf = op->conf;
    struct ksrc_state *st = op->state;
    const char *k = key;
    const char *slash = NULL;
    for (size_t i = 0; i < klen; i++) {
        if (k[i] == '/') {
            slash = k + i;
        }
    }
    if (!slash) {
        return 0; /* not a position entry */
    }
    size_t tlen = (size_t)(slash - k);
    int partition = 0;
    for (const char *c = slash + 1; c < k + klen; c++) {
        if (*c < '0' || *c > '9' || partition > 10000000) {
            return 0;
        }
        partition = partition * 10 + (*c - '0');
    }
    for (int t = 0; t < prep->ntopics; t++) {
        if (strlen(prep->topics[t]) != tlen || memcmp(prep->topics[t], k, tlen) != 0) {
            continue;
        }
        st->topics[t].restored = 1;
        if (partition >= st->topics[t].nids || st->topics[t].part_idx[partition] < 0) {
            return 0; /* another subtask's partition now */
        }
        struct kpart *p = &st->parts[st->topics[t].part_idx[partition]];
        int64_t next, end;
        if (parse_position(val, vlen, &next, &end) != 0) {
            return cf_op_fail(op, "checkpoint entry for %.*s is damaged", (int)klen, k);
        }
        p->next = next;
        /* stop: latest keeps the end offsets of the run that took the checkpoint. */
        p->end = conf->stop == STOP_LATEST ? end : INT64_MAX;
        p->restored = 1;
        return 0;
    }
    return 0; /* a topic the job no longer reads */
}

static int ksrc_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    struct ksrc_state *st = op->state;
    const struct ksrc_prep *prep = op->decl->prep;
    int rc = cf_snapshot_scan(snap, restore_visit, op);
    if (rc) {
        return rc;
    }
    for (int i = 0; i < st->nparts; i++) {
        struct kpart *p = &st->parts[i];
        if (!p->restored && st->topics[p->topic].restored) {
            /* Created after the checkpoint: all of it is new to the job. */
            p->next = p->low;
        }
    }
    cf_info("%s: restored the positions of checkpoint %" PRId64 " (%d partition(s) of %s%s)",
            op->decl->id, cf_snapshot_id(snap), st->nparts, prep->topics[0],
            prep->ntopics > 1 ? ", ..." : "");
    return 0;
}

static void mark_done(struct ksrc_state *st, const struct ksrc_prep *prep, int i)
{
    struct kpart *p = &st->parts[i];
    if (p->done) {
        return;
    }
    p->done = 1;
    st->ndone++;
    cf_wmgen_split_done(&st->wm, i);
    if (st->assigned) {
        /* No need to fetch beyond the end. */
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, prep->topics[p->topic], p->partition);
        rd_kafka_pause_partitions(st->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
    }
}

/* First poll: assign the partitions at their (possibly restored) positions. */
static int assign(struct cf_op *op, struct ksrc_state *st)
{
    const struct ksrc_prep *prep = op->decl->prep;
    int64_t now = cf_monotonic_ms();
    struct cf_buf desc;
    cf_buf_init(&desc);
    for (int i = 0; i < st->nparts; i++) {
        struct kpart *p = &st->parts[i];
        cf_wmgen_touch(&st->wm, i, now);
        if (p->next >= p->end && !p->done) {
            mark_done(st, prep, i);
        }
        if (i < 8) {
            cf_buf_appendf(&desc, "%s%s/%d@%" PRId64, i ? ", " : "", prep->topics[p->topic],
                           (int)p->partition, p->next);
            if (p->end != INT64_MAX) {
                cf_buf_appendf(&desc, "..%" PRId64, p->end);
            }
        }
    }
    if (st->nparts > 8) {
        cf_buf_appendf(&desc, ", ... (%d partitions)", st->nparts);
    }
    rd_kafka_topic_partition_list_t *list = part_list(st, prep, 1);
    rd_kafka_resp_err_t code = rd_kafka_assign(st->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (code) {
        cf_buf_destroy(&desc);
        return cf_op_fail(op, "cannot assign Kafka partitions: %s", rd_kafka_err2str(code));
    }
    st->assigned = 1;
    cf_info("%s: reading %s", op->decl->id, st->nparts ? desc.data : "no partition");
    cf_buf_destroy(&desc);
    return 0;
}

static int part_of(struct ksrc_state *st, const struct ksrc_prep *prep, const rd_kafka_message_t *m)
{
    int t = 0;
    while (t < prep->ntopics && st->topics[t].rkt != m->rkt) {
        t++;
    }
    if (t == prep->ntopics) {
        /* First message of a topic: match by name, then compare handles. */
        const char *name = rd_kafka_topic_name(m->rkt);
        for (t = 0; t < prep->ntopics && strcmp(prep->topics[t], name) != 0; t++) {
        }
        if (t == prep->ntopics) {
            return -1;
        }
        st->topics[t].rkt = m->rkt;
    }
    const struct ktopic *kt = &st->topics[t];
    return m->partition >= 0 && m->partition < kt->nids ? kt->part_idx[m->partition] : -1;
}

/* One message into batch b (or the errors output). */
static int handle(struct cf_op *op, struct ksrc_state *st, const struct ksrc_prep *prep,
                  rd_kafka_message_t *m, struct cf_batch *b, int64_t now)
{
    int i = part_of(st, prep, m);
    if (i < 0) {
        return 0;
    }
    struct kpart *p = &st->parts[i];
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The fetch position passed control records (transaction markers). */
            if (m->offset > p->next) {
                p->next = m->offset;
            }
            if (p->next >= p->end) {
                mark_done(st, prep, i);
            }
            return 0;
        }
        uint64_t suppressed = 0;
        if (cf_log_ratelimit_allow(&st->consume_rl, &suppressed)) {
            cf_warn("%s: reading %s/%d: %s (retrying)%s", op->decl->id, prep->topics[p->topic],
                    (int)p->partition, rd_kafka_message_errstr(m),
                    suppressed ? " [similar messages suppressed]" : "");
        }
        return 0;
    }
    if (p->done || m->offset >= p->end) {
        if (!p->done) {
            mark_done(st, prep, i);
        }
        return 0;
    }
    p->next = m->offset + 1;
    __atomic_store_n(&op->metrics.bytes_in, op->metrics.bytes_in + m->len, __ATOMIC_RELAXED);
    cf_wmgen_touch(&st->wm, i, now);
    int rc = 0;
    struct cf_err err;
    err.code = 0;
    err.msg[0] = '\0';
    if (!m->payload) {
        cf_err_set(&err, CF_EPARSE, "the message has no value (null payload)");
        rc = CF_EPARSE;
    } else {
        rc = cf_json_decode_line(st->json, m->payload, m->len, b, &err);
    }
    if (rc == 0 && prep->ts_idx >= 0) {
        uint32_t r = b->n - 1;
        if (b->cols[prep->ts_idx].nulls[r]) {
            cf_batch_drop_last(b);
            rc = cf_err_set(&err, CF_ETYPE, "field '%s' is null: the record has no event time",
                            prep->schema->fields[prep->ts_idx].name);
        } else {
            int64_t ts = b->cols[prep->ts_idx].v.i64[r];
            b->ts[r] = ts;
            cf_wmgen_observe(&st->wm, i, ts);
        }
    }
    if (p->next >= p->end) {
        mark_done(st, prep, i);
    }
    if (rc == 0) {
        return 0;
    }
    snprintf(st->location, sizeof(st->location), "%s/%d@%" PRId64, prep->topics[p->topic],
             (int)p->partition, m->offset);
    return cf_srcerr_add(&st->errors, op, m->payload ? m->payload : "", m->payload ? m->len : 0,
                         err.msg, st->location);
}

static int ksrc_poll(struct cf_op *op, int64_t *wait_ms)
{
    const struct ksrc_conf *conf = op->conf;
    const struct ksrc_prep *prep = op->decl->prep;
    struct ksrc_state *st = op->state;
    int rc;
    if (!st->assigned && (rc = assign(op, st)) != 0) {
        return rc;
    }
    rd_kafka_poll(st->rk, 0); /* error, log and commit callbacks */
    if (st->kc.fatal) {
        return cf_op_fail(op, "Kafka consumer failed on brokers '%s': %s", conf->brokers,
                          st->kc.fatal_msg);
    }
    int bounded = conf->stop == STOP_LATEST;
    if (bounded && st->ndone == st->nparts) {
        st->finished = 1;
        return CF_EEOF;
    }
    int64_t now = cf_monotonic_ms();
    struct cf_batch *b = cf_op_batch_get(op, 0);
    int waited = 0;
    uint32_t limit = (uint32_t)conf->batch_rows;
    rc = 0;
    while (rc == 0 && b->n < limit && !cf_batch_full(b) && !(bounded && st->ndone == st->nparts)) {
        if (st->mpos == st->nmsgs) {
            st->mpos = 0;
            ssize_t n =
                rd_kafka_consume_batch_queue(st->queue, 0, st->msgs, (size_t)conf->batch_rows);
            st->nmsgs = n > 0 ? (int)n : 0;
            if (st->nmsgs == 0) {
                if (b->n > 0 || waited || *wait_ms <= 0) {
                    break;
                }
                /* Nothing queued: wait for a first message, no longer than asked. */
                cf_op_idle(op);
                waited = 1;
                rd_kafka_message_t *m = rd_kafka_consume_queue(st->queue, (int)*wait_ms);
                if (!m) {
                    break;
                }
                st->msgs[0] = m;
                st->nmsgs = 1;
            }
        }
        rd_kafka_message_t *m = st->msgs[st->mpos++];
        rc = handle(op, st, prep, m, b, now);
        rd_kafka_message_destroy(m);
    }
    if (rc) {
        cf_batch_release(b);
        return rc;
    }
    int got = b->n > 0;
    if ((rc = cf_op_emit(op, 0, b)) != 0 || (rc = cf_srcerr_flush(&st->errors, op)) != 0) {
        return rc;
    }
    if (prep->ts_idx >= 0) {
        int64_t wm = st->nparts ? cf_wmgen_current(&st->wm, cf_monotonic_ms()) : CF_TS_MAX;
        if (wm != CF_TS_MIN && (rc = cf_op_emit_watermark(op, wm)) != 0) {
            return rc;
        }
    }
    if (bounded && st->ndone == st->nparts) {
        st->finished = 1;
        return CF_EEOF;
    }
    if (!got) {
        if (waited) {
            *wait_ms = 0; /* already waited in librdkafka */
        }
        return CF_EAGAIN;
    }
    return 0;
}

static int ksrc_notify_checkpoint_complete(struct cf_op *op, int64_t checkpoint_id)
{
    const struct ksrc_prep *prep = op->decl->prep;
    const struct ksrc_conf *conf = op->conf;
    struct ksrc_state *st = op->state;
    int latest = -1;
    for (int k = 0; k < st->ncommits; k++) {
        if (st->commits[k].id <= checkpoint_id) {
            latest = k;
        }
    }
    /* The runtime's final notification (INT64_MAX, after the end of a bounded input under
     * exactly_once) covers everything read: commit the final positions. */
    int final = checkpoint_id == INT64_MAX && st->finished && conf->group && conf->commit_offsets;
    if (latest < 0 && !final) {
        return 0;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(st->nparts);
    for (int i = 0; i < st->nparts; i++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
            list, prep->topics[st->parts[i].topic], st->parts[i].partition);
        tp->offset = final ? st->parts[i].next : st->commits[latest].next[i];
    }
    if (list->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return 0;
    }
    rd_kafka_resp_err_t code;
    if (final) {
        /* The task ends right after this: wait (a bounded time) for the result. */
        rd_kafka_queue_t *q = rd_kafka_queue_new(st->rk);
        code = rd_kafka_commit_queue(st->rk, list, q, offset_commit_cb, &st->kc);
        if (!code) {
            rd_kafka_queue_poll_callback(q, 5000);
        }
        rd_kafka_queue_destroy(q);
    } else {
        /* Asynchronous: the result comes to offset_commit_cb from rd_kafka_poll(). */
        code = rd_kafka_commit(st->rk, list, 1);
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (code) {
        cf_warn("%s: cannot commit the offsets of checkpoint %" PRId64 " to group '%s': %s",
                op->decl->id, final ? checkpoint_id : st->commits[latest].id, conf->group,
                rd_kafka_err2str(code));
    }
    for (int k = 0; k <= latest; k++) {
        cf_free(st->commits[k].next);
    }
    memmove(&st->commits[0], &st->commits[latest + 1],
            (size_t)(st->ncommits - latest - 1) * sizeof(st->commits[0]));
    st->ncommits -= latest + 1;
    return 0;
}

static void ksrc_close(struct cf_op *op)
{
    const struct ksrc_prep *prep = op->decl->prep;
    struct ksrc_state *st = op->state;
    if (!st) {
        return;
    }
    for (int k = st->mpos; k < st->nmsgs; k++) {
        rd_kafka_message_destroy(st->msgs[k]);
    }
    if (st->queue) {
        rd_kafka_queue_destroy(st->queue);
    }
    if (st->rk) {
        if (st->finished && prep->auto_commit) {
            /* librdkafka's auto-commit (from the properties): its final commit. */
            rd_kafka_consumer_close(st->rk);
        }
        rd_kafka_destroy_flags(st->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    for (int t = 0; st->topics && t < prep->ntopics; t++) {
        cf_free(st->topics[t].part_idx);
    }
    for (int k = 0; k < st->ncommits; k++) {
        cf_free(st->commits[k].next);
    }
    cf_free(st->topics);
    cf_free(st->parts);
    cf_free(st->msgs);
    cf_json_decoder_destroy(st->json);
    cf_srcerr_destroy(&st->errors);
    cf_wmgen_destroy(&st->wm);
    cf_kafka_client_destroy(&st->kc);
    cf_free(st);
}

const struct cf_op_plugin cf_conn_source_kafka = {
    .type = "source.kafka",
    .kind = CF_OP_KIND_SOURCE,
    .doc = "Reads JSON records from Kafka topics; partitions are spread over the subtasks, "
           "offsets are kept in checkpoints; unbounded, or bounded with `stop: latest`.",
    .conf_size = sizeof(struct ksrc_conf),
    .conf_keys = ksrc_keys,
    .configure = ksrc_configure,
    .unconfigure = ksrc_unconfigure,
    .open = ksrc_open,
    .poll = ksrc_poll,
    .snapshot = ksrc_snapshot,
    .restore = ksrc_restore,
    .notify_checkpoint_complete = ksrc_notify_checkpoint_complete,
    .close = ksrc_close,
};
