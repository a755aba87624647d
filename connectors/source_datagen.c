/*
 * source.datagen - deterministic generated events, for demos, tests and benchmarks.
 *
 * Event i depends only on `seed` and i: subtask s of p generates i = s, s+p, s+2p, ...
 * so the set of events is the same at any parallelism. `rate` limits events/s over all
 * subtasks (0: as fast as possible); `count` bounds the stream (absent: unbounded).
 *
 * Generators: clickstream (fields of DESIGN.md's example schema plus session_id,
 * ip_address and device_type). Event times advance by `ts_step` per event from
 * `start_time`, minus a pseudo-random lag of up to `ts_jitter` (out-of-order input).
 * nexmark: persons, auctions and bids of the Nexmark benchmark in one flat row form
 * (connectors/datagen_nexmark.c), `event_rate` events per second of event time.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/base/hash.h"
#include "common/base/mem.h"
#include "common/base/strutil.h"
#include "common/base/timeutil.h"
#include "connectors/datagen_nexmark.h"
#include "worker/evtime.h"
#include "worker/op.h"
#include "worker/ratelimit.h"

enum datagen_generator { GEN_CLICKSTREAM, GEN_NEXMARK };

struct datagen_conf {
    int generator;
    int64_t rate;
    int64_t count;
    int64_t seed;
    int64_t users;
    char *start_time;
    int64_t ts_step;
    int64_t ts_jitter;
    int64_t event_rate;
    int ingest_time;
    struct cf_evtime_conf event_time;
};

static const struct cf_conf_key datagen_keys[] = {
    {"generator", CF_CONF_ENUM, 0, "clickstream", offsetof(struct datagen_conf, generator),
     "clickstream|nexmark", "What to generate."},
    {"rate", CF_CONF_INT, 0, "0", offsetof(struct datagen_conf, rate), NULL,
     "Events per second over all subtasks; 0: as fast as possible."},
    {"count", CF_CONF_INT, 0, "-1", offsetof(struct datagen_conf, count), NULL,
     "Number of events; absent or -1: unbounded."},
    {"seed", CF_CONF_INT, 0, "42", offsetof(struct datagen_conf, seed), NULL,
     "Seed: the same seed gives the same events."},
    {"users", CF_CONF_INT, 0, "10000", offsetof(struct datagen_conf, users), NULL,
     "Number of distinct users."},
    {"start_time", CF_CONF_STRING, 0, "2024-10-22T00:00:00Z",
     offsetof(struct datagen_conf, start_time), NULL, "Event time of the first event (ISO-8601)."},
    {"ts_step", CF_CONF_DURATION, 0, "10ms", offsetof(struct datagen_conf, ts_step), NULL,
     "Event-time distance between consecutive events."},
    {"ts_jitter", CF_CONF_DURATION, 0, "0ms", offsetof(struct datagen_conf, ts_jitter), NULL,
     "Up to this much is subtracted from each event time (out-of-order events)."},
    {"event_rate", CF_CONF_INT, 0, "10000", offsetof(struct datagen_conf, event_rate), NULL,
     "nexmark: events per second of event time (date_time advances 1/event_rate s per event)."},
    {"ingest_time", CF_CONF_BOOL, 0, "false", offsetof(struct datagen_conf, ingest_time), NULL,
     "nexmark: add an int field ingest_us, the wall-clock microseconds at generation "
     "(latency measurement; not deterministic)."},
    CF_EVTIME_CONF_KEYS(struct datagen_conf, event_time),
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

enum {
    F_EVENT_ID,
    F_USER_ID,
    F_SESSION_ID,
    F_EVENT_TYPE,
    F_PAGE_URL,
    F_TS,
    F_COUNTRY,
    F_DURATION_MS,
    F_IP_ADDRESS,
    F_DEVICE_TYPE,
    F__COUNT
};

static const struct {
    const char *name;
    enum cf_type type;
} click_fields[] = {
    {"event_id", CF_TYPE_STRING},    {"user_id", CF_TYPE_STRING},  {"session_id", CF_TYPE_STRING},
    {"event_type", CF_TYPE_STRING},  {"page_url", CF_TYPE_STRING}, {"ts", CF_TYPE_TIMESTAMP},
    {"country", CF_TYPE_STRING},     {"duration_ms", CF_TYPE_INT}, {"ip_address", CF_TYPE_STRING},
    {"device_type", CF_TYPE_STRING},
};
_Static_assert(sizeof(click_fields) / sizeof(click_fields[0]) == F__COUNT,
               "click_fields covers every field");

/* Event types with cumulative weights out of 100. */
static const struct {
    const char *name;
    int cum;
} event_types[] = {{"page_view", 60}, {"click", 85}, {"add_to_cart", 93},
                   {"purchase", 96},  {"login", 98}, {"logout", 100}};
static const char *const countries[] = {"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA",
                                        "AU", "ES", "IT", "NL", "SE", "PL", "MX", "KR"};
static const char *const sections[] = {"home",     "search",  "product", "cart",
                                       "checkout", "account", "help",    "blog"};
static const char *const devices[] = {"desktop", "mobile", "tablet"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct datagen_prep {
    int64_t start_ms;
    int ts_idx;
    struct cf_nexmark *nexmark; /* GEN_NEXMARK: its tables, referenced by emitted batches */
};

struct datagen_state {
    int64_t next; /* next event index of this subtask */
    /* Restored with another parallelism: old_p subtasks had emitted every index i with
     * i % old_p == s below old_next[s]; those are skipped (see restore). */
    int old_p;
    int64_t *old_next;
    int64_t old_max;
    struct cf_pace pace;
    struct cf_wmgen wm;
};

static int datagen_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct datagen_conf *conf = decl->conf;
    struct datagen_prep *prep = cf_new(struct datagen_prep);
    decl->prep = prep;
    if (conf->rate < 0) {
        return cf_err_append(err, CF_ESPEC, "%s.rate: must not be negative", decl->path);
    }
    if (conf->count < -1) {
        return cf_err_append(err, CF_ESPEC, "%s.count: must not be negative", decl->path);
    }
    if (conf->users < 1) {
        return cf_err_append(err, CF_ESPEC, "%s.users: must be at least 1", decl->path);
    }
    if (cf_ts_parse(conf->start_time, strlen(conf->start_time), &prep->start_ms) != 0) {
        return cf_err_append(err, CF_ESPEC, "%s.start_time: \"%s\" is not an ISO-8601 timestamp",
                             decl->path, conf->start_time);
    }
    if (conf->event_rate < 1) {
        return cf_err_append(err, CF_ESPEC, "%s.event_rate: must be at least 1", decl->path);
    }
    struct cf_schema *schema = cf_schema_create();
    if (conf->generator == GEN_NEXMARK) {
        prep->nexmark = cf_nexmark_create((uint64_t)conf->seed, prep->start_ms, conf->event_rate);
        cf_nexmark_schema_add(schema, conf->ingest_time);
    } else {
        for (int f = 0; f < F__COUNT; f++) {
            cf_schema_add(schema, click_fields[f].name, click_fields[f].type);
        }
    }
    int rc = cf_evtime_check(&conf->event_time, schema, decl->path, &prep->ts_idx, err);
    if (rc == 0) {
        int out = cf_op_decl_output(decl, "", schema);
        decl->outputs[out].event_time = prep->ts_idx >= 0;
    }
    cf_schema_release(schema);
    return rc;
}

static void datagen_unconfigure(struct cf_op_decl *decl)
{
    struct datagen_prep *prep = decl->prep;
    if (prep) {
        cf_nexmark_destroy(prep->nexmark);
    }
    cf_free(prep);
}

static int datagen_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    const struct datagen_conf *conf = op->conf;
    struct datagen_state *st = cf_new(struct datagen_state);
    st->next = op->subtask;
    cf_pace_init(&st->pace, (double)conf->rate / op->parallelism);
    cf_wmgen_init(&st->wm, &conf->event_time, 1);
    op->state = st;
    return 0;
}

/* Appends prefix + decimal v as a string field. */
static void set_tagged(struct cf_batch *b, int f, uint32_t r, const char *prefix, uint64_t v)
{
    char tmp[48];
    size_t n = strlen(prefix);
    memcpy(tmp, prefix, n);
    n += cf_int_format((int64_t)v, tmp + n);
    cf_batch_set_str(b, (uint32_t)f, r, tmp, n);
}

static void set_const(struct cf_batch *b, int f, uint32_t r, const char *s)
{
    /* Constant strings outlive every batch: no copy needed. */
    cf_batch_set_str_ref(b, (uint32_t)f, r, s, (uint32_t)strlen(s));
}

static void gen_click(const struct datagen_conf *conf, const struct datagen_prep *prep,
                      struct cf_batch *b, uint32_t r, int64_t i)
{
    uint64_t seed = (uint64_t)conf->seed;
    uint64_t h = cf_hash_u64((uint64_t)i, seed);
    uint64_t h2 = cf_hash_u64(h, seed ^ 0x5bd1e995);
    uint64_t user = h % (uint64_t)conf->users;
    uint64_t uh = cf_hash_u64(user, seed ^ 0x27d4eb2f);
    int64_t ts = prep->start_ms + i * conf->ts_step;
    if (conf->ts_jitter > 0) {
        ts -= (int64_t)(h2 % (uint64_t)(conf->ts_jitter + 1));
    }

    set_tagged(b, F_EVENT_ID, r, "evt-", (uint64_t)i);
    set_tagged(b, F_USER_ID, r, "user-", user);
    /* A session: the user's activity in one 30-minute slot. */
    set_tagged(b, F_SESSION_ID, r, "sess-",
               cf_hash_u64(user ^ (uint64_t)(ts / 1800000), seed) % 1000000000ULL);
    int pick = (int)(h2 % 100);
    size_t t = 0;
    while (pick >= event_types[t].cum) {
        t++;
    }
    set_const(b, F_EVENT_TYPE, r, event_types[t].name);
    char url[96];
    const char *section = sections[(h >> 20) % NELEM(sections)];
    size_t n = (size_t)snprintf(url, sizeof(url), "https://shop.example.com/%s/", section);
    n += cf_int_format((int64_t)((h >> 32) % 1000), url + n);
    cf_batch_set_str(b, F_PAGE_URL, r, url, n);
    cf_batch_set_int(b, F_TS, r, ts);
    set_const(b, F_COUNTRY, r, countries[uh % NELEM(countries)]);
    cf_batch_set_int(b, F_DURATION_MS, r, (int64_t)((h2 >> 16) % 30000));
    char ip[24];
    n = 0;
    const char *dot = "";
    for (int k = 0; k < 4; k++) {
        n += (size_t)snprintf(ip + n, sizeof(ip) - n, "%s%u", dot,
                              k == 0 ? 10u : (unsigned)((uh >> (8 * k)) & 0xff));
        dot = ".";
    }
    cf_batch_set_str(b, F_IP_ADDRESS, r, ip, n);
    set_const(b, F_DEVICE_TYPE, r, devices[(uh >> 40) % NELEM(devices)]);
}

static int datagen_poll(struct cf_op *op, int64_t *wait_ms)
{
    const struct datagen_conf *conf = op->conf;
    const struct datagen_prep *prep = op->decl->prep;
    struct datagen_state *st = op->state;
    if (conf->count >= 0 && st->next >= conf->count) {
        return CF_EEOF;
    }
    int64_t budget = cf_pace_allow(&st->pace, CF_BATCH_ROWS, wait_ms);
    if (budget == 0) {
        return CF_EAGAIN;
    }
    struct cf_batch *b = cf_op_batch_get(op, 0);
    while (budget-- > 0 && !cf_batch_full(b)) {
        if (conf->count >= 0 && st->next >= conf->count) {
            break;
        }
        if (st->old_next && st->next < st->old_max &&
            st->next < st->old_next[st->next % st->old_p]) {
            st->next += op->parallelism; /* emitted before the restored checkpoint */
            budget++;
            continue;
        }
        uint32_t r = cf_batch_add_row(b);
        if (prep->nexmark) {
            cf_nexmark_fill_row(prep->nexmark, b, r, st->next, conf->ingest_time);
        } else {
            gen_click(conf, prep, b, r, st->next);
        }
        st->next += op->parallelism;
        st->pace.produced++;
    }
    int has_ts = prep->ts_idx >= 0;
    if (has_ts) {
        cf_evtime_assign(b, prep->ts_idx, 0, &st->wm, 0);
    }
    int rc = cf_op_emit(op, 0, b);
    if (rc == 0 && has_ts) {
        rc = cf_op_emit_watermark(op, cf_wmgen_current(&st->wm, cf_monotonic_ms()));
    }
    return rc;
}

/* Checkpoint entry per subtask: key "next/<subtask>", value "<parallelism> <next index>". */
static int datagen_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    struct datagen_state *st = op->state;
    char key[32], val[64];
    int kl = snprintf(key, sizeof(key), "next/%d", op->subtask);
    int vl = snprintf(val, sizeof(val), "%d %lld", op->parallelism, (long long)st->next);
    return cf_snapshot_put(snap, key, (size_t)kl, val, (size_t)vl);
}

struct datagen_restore {
    int p, n;
    int64_t next[4096];
    int bad;
};

static int datagen_restore_visit(void *arg, int kg, const void *key, size_t klen, const void *val,
                                 size_t vlen)
{
    (void)kg;
    struct datagen_restore *r = arg;
    char k[32], v[64];
    snprintf(k, sizeof(k), "%.*s", (int)(klen < 31 ? klen : 31), (const char *)key);
    snprintf(v, sizeof(v), "%.*s", (int)(vlen < 63 ? vlen : 63), (const char *)val);
    int s, p;
    long long next;
    if (sscanf(k, "next/%d", &s) != 1 || sscanf(v, "%d %lld", &p, &next) != 2 || p <= 0 ||
        p > 4096 || s < 0 || s >= p || (r->p && r->p != p)) {
        r->bad = 1;
        return 0;
    }
    r->p = p;
    r->next[s] = next;
    r->n++;
    return 0;
}

static int datagen_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    struct datagen_state *st = op->state;
    struct datagen_restore *r = cf_new(struct datagen_restore);
    int rc = cf_snapshot_scan(snap, datagen_restore_visit, r);
    if (rc == 0 && (r->bad || r->n != r->p)) {
        rc = cf_op_fail(op, "the checkpoint's generator positions are incomplete or malformed");
    }
    if (rc == 0 && r->p == op->parallelism) {
        st->next = r->next[op->subtask];
    } else if (rc == 0 && r->p > 0) {
        st->old_p = r->p;
        st->old_next = cf_calloc((size_t)r->p, sizeof(int64_t));
        memcpy(st->old_next, r->next, (size_t)r->p * sizeof(int64_t));
        for (int s = 0; s < r->p; s++) {
            st->old_max = r->next[s] > st->old_max ? r->next[s] : st->old_max;
        }
    }
    cf_free(r);
    return rc;
}

static void datagen_close(struct cf_op *op)
{
    struct datagen_state *st = op->state;
    if (st) {
        cf_free(st->old_next);
        cf_wmgen_destroy(&st->wm);
        cf_free(st);
    }
}

const struct cf_op_plugin cf_conn_source_datagen = {
    .type = "source.datagen",
    .kind = CF_OP_KIND_SOURCE,
    .doc = "Generates deterministic events (clickstream, nexmark).",
    .conf_size = sizeof(struct datagen_conf),
    .conf_keys = datagen_keys,
    .configure = datagen_configure,
    .unconfigure = datagen_unconfigure,
    .open = datagen_open,
    .poll = datagen_poll,
    .snapshot = datagen_snapshot,
    .restore = datagen_restore,
    .close = datagen_close,
};
