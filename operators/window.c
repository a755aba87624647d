/*
 * window - keyed tumbling, sliding and session windows with aggregates, in event time or
 * processing time, with allowed lateness and a "late" side output (DESIGN.md section 3).
 *
 * Tumbling and sliding windows are computed from panes: a pane is gcd(size, slide) long,
 * each record updates exactly one pane of its key, and a window's result merges the panes it
 * covers when it fires. So a 10-minute window sliding every 10 seconds costs one
 * accumulator update per record, as a tumbling window does; the extra work is per window
 * and key, not per record.
 *
 * A window [start, end) fires when the watermark reaches end - 1 and is purged when it
 * passes end - 1 + allowed_lateness. A record for a window that fired but is not purged
 * updates it and re-emits its row (for that key). A record whose every window is purged
 * goes to "<id>.late" once (or is dropped and counted when nothing consumes it).
 *
 * Session windows: a record opens [ts, ts + gap); sessions of a key that intersect it merge
 * (their accumulators too). A session fires when the watermark reaches its end - 1.
 *
 * Output rows: the key fields, window_start, window_end, then the aggregates, with event
 * time window_end - 1 (so downstream event-time operators can window them again).
 *
 * State: entries (key, pane or session) with accumulators, in a hash table owned by the
 * subtask. Memory stays bounded in an unbounded job because panes and sessions are freed
 * once purged.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/buf.h"
#include "common/base/hash.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/agg.h"
#include "common/data/keys.h"
#include "worker/op.h"
#include "worker/state.h"

enum win_type { WIN_TUMBLING, WIN_SLIDING, WIN_SESSION };
enum win_time { TIME_AUTO, TIME_EVENT, TIME_PROCESSING };

struct window_conf {
    int type;
    int64_t size;
    int64_t offset;
    int64_t slide;
    int64_t gap;
    int time;
    const cJSON *aggregates;
    int64_t lateness;
    int64_t state_memory;
};

#define OFF(f) offsetof(struct window_conf, f)

static const struct cf_conf_key window_keys[] = {
    {"window", CF_CONF_OBJECT, CF_CONF_REQUIRED, NULL, 0, NULL, "The window assigner."},
    {"window.type", CF_CONF_ENUM, CF_CONF_REQUIRED, NULL, OFF(type), "tumbling|sliding|session",
     "Window kind."},
    {"window.size", CF_CONF_DURATION, 0, "0ms", OFF(size), NULL,
     "tumbling, sliding: window length."},
    {"window.offset", CF_CONF_DURATION, 0, "0ms", OFF(offset), NULL,
     "tumbling, sliding: shift of window starts from the epoch (e.g. time zones)."},
    {"window.slide", CF_CONF_DURATION, 0, "0ms", OFF(slide), NULL,
     "sliding: distance between window starts."},
    {"window.gap", CF_CONF_DURATION, 0, "0ms", OFF(gap), NULL,
     "session: inactivity that closes a session."},
    {"time", CF_CONF_ENUM, 0, "auto", OFF(time), "auto|event|processing",
     "event or processing time; auto: event time when the input carries it."},
    {"aggregates", CF_CONF_JSON, CF_CONF_REQUIRED, NULL, OFF(aggregates), NULL,
     "Object of output name to aggregate: count(*), count(x), sum(x), min(x), max(x), avg(x), "
     "count_distinct(x), first(x), last(x)."},
    {"allowed_lateness", CF_CONF_DURATION, 0, "0ms", OFF(lateness), NULL,
     "How long after a window fires late records still update it (and re-emit its row)."},
    {"state_memory", CF_CONF_SIZE, 0, "256MB", OFF(state_memory), NULL,
     "Window state kept in memory per subtask; beyond it the coldest panes spill to the "
     "subtask's LMDB state (tumbling and sliding windows) and are read back when needed."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

struct window_prep {
    struct cf_aggs aggs;
    int type;
    int event_time;
    int64_t size, slide, pane, offset, gap, lateness;
    int64_t state_memory;
    int nkeys;
    const int *key_idx;
    int late_out;
};

/* ---- state ---- */

struct entry {
    struct entry *hnext;   /* hash chain */
    struct entry **hprevp; /* the link pointing here (O(1) unlink); NULL when not linked */
    struct entry *pnext;   /* next entry of the same pane */
    uint64_t hash;         /* key hash */
    int64_t start;         /* pane start, or session start */
    int64_t end;           /* pane end, or session end */
    uint32_t klen;
    uint16_t kg;
    uint8_t dead;             /* sessions: merged away or purged, waiting for heap references */
    uint8_t fired;            /* sessions: the current [start, end) was emitted */
    uint32_t heap_refs;       /* sessions: heap items pointing here */
    struct cf_agg_slot acc[]; /* then the key bytes */
};

struct pane {
    int64_t start;
    struct entry *head; /* entries in memory */
    uint32_t n;
    uint32_t spilled; /* entries in LMDB */
};

struct heap_item {
    int64_t at;  /* watermark at which to act */
    int64_t end; /* the session end the item was made for (stale if it changed) */
    struct entry *e;
    int purge;
};

struct window_state {
    const struct window_prep *prep;
    struct entry **buckets;
    uint64_t mask;
    uint64_t nentries;
    struct pane *panes; /* sorted by start */
    int npanes, cap_panes;
    struct heap_item *heap;
    int nheap, cap_heap;
    int64_t wm; /* last watermark processed */
    struct cf_aggs_eval *ev;
    struct cf_arena scratch;
    struct cf_buf key; /* serialized key of the current row */
    uint64_t hash_scratch[CF_BATCH_ROWS];
    const uint64_t *hashes;             /* key hash per row of the batch being processed */
    uint32_t bucket_idx[CF_BATCH_ROWS]; /* prefetch_entries() scratch */
    struct cf_batch *out;
    struct cf_batch *late;
    uint64_t state_bytes;
    uint64_t late_records;
    struct cf_state_ns *ns; /* LMDB namespace, opened at the first spill */
    uint64_t spilled;       /* entries in LMDB */
    struct cf_buf skey;     /* LMDB key being built */
    struct cf_buf sval;     /* LMDB value being built */
    /* sliding: merge of panes per key */
    struct entry **mbuckets;
    uint64_t mmask;
    struct entry *mlist;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static inline uint8_t *entry_key(const struct window_prep *prep, struct entry *e)
{
    return (uint8_t *)(e->acc + prep->aggs.n);
}

static inline uint64_t bucket_of(uint64_t hash, int64_t start, int session)
{
    return session ? hash : cf_hash_combine(hash, (uint64_t)start * 0x9e3779b97f4a7c15ULL);
}

/* ---- spec time ---- */

static int window_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct window_conf *conf = decl->conf;
    struct window_prep *prep = cf_new(struct window_prep);
    decl->prep = prep;
    prep->type = conf->type;
    prep->size = conf->size;
    prep->offset = conf->offset;
    prep->gap = conf->gap;
    prep->lateness = conf->lateness;
    prep->state_memory = conf->state_memory;
    prep->nkeys = decl->nkeys;
    prep->key_idx = decl->key_idx;
    int bad = 0;
    char where[96];
    if (conf->type == WIN_SESSION) {
        if (conf->gap <= 0) {
            bad = cf_err_append(err, CF_ESPEC, "%s.window.gap: a session window needs a gap",
                                decl->path);
        }
        if (cf_conf_is_set(decl->spec->json, "window.size") ||
            cf_conf_is_set(decl->spec->json, "window.slide")) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.window: a session window takes gap, not size or slide",
                                decl->path);
        }
    } else {
        if (conf->size <= 0) {
            bad = cf_err_append(err, CF_ESPEC, "%s.window.size: required and positive", decl->path);
        }
        prep->slide = conf->type == WIN_SLIDING ? conf->slide : conf->size;
        if (conf->type == WIN_SLIDING && (conf->slide <= 0 || conf->slide > conf->size)) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.window.slide: required, positive and at most the size",
                                decl->path);
        }
        if (conf->type == WIN_TUMBLING && cf_conf_is_set(decl->spec->json, "window.slide")) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.window.slide: a tumbling window has no slide (use sliding)",
                                decl->path);
        }
        if (conf->gap) {
            bad = cf_err_append(err, CF_ESPEC, "%s.window.gap: only session windows have a gap",
                                decl->path);
        }
        if (!bad && conf->offset >= prep->slide) {
            bad = cf_err_append(err, CF_ESPEC, "%s.window.offset: must be less than the %s",
                                decl->path, conf->type == WIN_SLIDING ? "slide" : "size");
        }
        if (!bad) {
            prep->pane = gcd64(prep->size, prep->slide);
            if (prep->size / prep->pane > 100000) {
                bad = cf_err_append(err, CF_ESPEC,
                                    "%s.window: size/slide give %lld panes per window (at most "
                                    "100000)",
                                    decl->path, (long long)(prep->size / prep->pane));
            }
        }
    }
    if (conf->time == TIME_EVENT && !decl->in_event_time) {
        bad = cf_err_append(err, CF_ESPEC,
                            "%s.time: the input has no event time (set event_time on the "
                            "source)",
                            decl->path);
    }
    prep->event_time = conf->time == TIME_EVENT || (conf->time == TIME_AUTO && decl->in_event_time);
    snprintf(where, sizeof(where), "%s.aggregates", decl->path);
    if (cf_aggs_parse(&prep->aggs, conf->aggregates, decl->in_schema, where, err) != 0) {
        return CF_ESPEC;
    }
    if (bad) {
        return CF_ESPEC;
    }
    struct cf_schema *out = cf_schema_create();
    for (int k = 0; k < decl->nkeys; k++) {
        const struct cf_field *f = &decl->in_schema->fields[decl->key_idx[k]];
        if (cf_schema_add(out, f->name, f->type) < 0) {
            bad = cf_err_append(err, CF_ESPEC, "%s.key_by: '%s' is listed twice", decl->path,
                                f->name);
        }
    }
    if (cf_schema_add(out, "window_start", CF_TYPE_TIMESTAMP) < 0 ||
        cf_schema_add(out, "window_end", CF_TYPE_TIMESTAMP) < 0) {
        bad = cf_err_append(err, CF_ESPEC,
                            "%s.key_by: a key named window_start or window_end clashes with "
                            "the window bounds",
                            decl->path);
    }
    if (!bad && cf_aggs_add_fields(&prep->aggs, out, where, err) != 0) {
        bad = 1;
    }
    if (!bad) {
        int o = cf_op_decl_output(decl, "", out);
        decl->outputs[o].event_time = 1;
        prep->late_out = cf_op_decl_output(decl, "late", decl->in_schema);
        decl->outputs[prep->late_out].rows_of_input = 1;
        uint8_t *reads = cf_op_decl_reads(decl);
        for (int k = 0; k < decl->nkeys; k++) {
            reads[decl->key_idx[k]] = 1;
        }
        cf_aggs_mark_fields(&prep->aggs, reads);
    }
    cf_schema_release(out);
    return bad ? CF_ESPEC : 0;
}

static void window_unconfigure(struct cf_op_decl *decl)
{
    struct window_prep *prep = decl->prep;
    if (prep) {
        cf_aggs_destroy(&prep->aggs);
        cf_free(prep);
    }
}

/* ---- run time ---- */

static int window_open(struct cf_op *op, struct cf_err *err)
{
    (void)err;
    const struct window_prep *prep = op->decl->prep;
    struct window_state *st = cf_new(struct window_state);
    st->prep = prep;
    st->mask = 1023;
    st->buckets = cf_calloc(st->mask + 1, sizeof(*st->buckets));
    st->mmask = 255;
    st->mbuckets = cf_calloc(st->mmask + 1, sizeof(*st->mbuckets));
    st->wm = CF_TS_MIN;
    st->ev = cf_aggs_eval_create(&prep->aggs);
    cf_arena_init(&st->scratch, 0);
    cf_buf_init(&st->key);
    cf_buf_init(&st->skey);
    cf_buf_init(&st->sval);
    op->state = st;
    return 0;
}

/* Serializes row r's key fields into st->key: per field a NULL flag, then 8 bytes, 1 byte
 * (bool) or a 4-byte length and the bytes (string). */
static void key_bytes(struct window_state *st, const struct cf_batch *b, uint32_t r)
{
    const struct window_prep *prep = st->prep;
    cf_buf_reset(&st->key);
    for (int k = 0; k < prep->nkeys; k++) {
        const struct cf_col *col = &b->cols[prep->key_idx[k]];
        uint8_t isnull = col->nulls[r];
        cf_buf_putc(&st->key, (char)isnull);
        if (isnull) {
            continue;
        }
        switch (col->type) {
        case CF_TYPE_STRING: {
            uint32_t len = col->v.str[r].len;
            cf_buf_append(&st->key, &len, 4);
            cf_buf_append(&st->key, col->v.str[r].ptr, len);
            break;
        }
        case CF_TYPE_BOOL: cf_buf_putc(&st->key, (char)col->v.b[r]); break;
        default: cf_buf_append(&st->key, &col->v.i64[r], 8); break;
        }
    }
}

/* Writes an entry's key fields into row r of out. */
static void key_output(const struct window_prep *prep, struct entry *e, struct cf_batch *out,
                       uint32_t r, const struct cf_schema *in)
{
    const uint8_t *p = entry_key(prep, e);
    for (int k = 0; k < prep->nkeys; k++) {
        uint8_t isnull = *p++;
        if (isnull) {
            continue;
        }
        switch (in->fields[prep->key_idx[k]].type) {
        case CF_TYPE_STRING: {
            uint32_t len;
            memcpy(&len, p, 4);
            cf_batch_set_str(out, (uint32_t)k, r, (const char *)p + 4, len);
            p += 4 + len;
            break;
        }
        case CF_TYPE_BOOL:
            cf_batch_set_bool(out, (uint32_t)k, r, *p);
            p++;
            break;
        case CF_TYPE_DOUBLE: {
            double d;
            memcpy(&d, p, 8);
            cf_batch_set_double(out, (uint32_t)k, r, d);
            p += 8;
            break;
        }
        default: {
            int64_t v;
            memcpy(&v, p, 8);
            cf_batch_set_int(out, (uint32_t)k, r, v);
            p += 8;
            break;
        }
        }
    }
}

static size_t entry_size(const struct window_prep *prep, uint32_t klen)
{
    return sizeof(struct entry) + cf_aggs_acc_size(&prep->aggs) + klen;
}

/* Puts e at the head of the chain *head. */
static void chain_link(struct entry **head, struct entry *e)
{
    e->hnext = *head;
    if (*head) {
        (*head)->hprevp = &e->hnext;
    }
    *head = e;
    e->hprevp = head;
}

static void grow_table(struct window_state *st)
{
    int session = st->prep->type == WIN_SESSION;
    uint64_t nmask = st->mask * 2 + 1;
    struct entry **nb = cf_calloc(nmask + 1, sizeof(*nb));
    for (uint64_t i = 0; i <= st->mask; i++) {
        struct entry *e = st->buckets[i];
        while (e) {
            struct entry *next = e->hnext;
            chain_link(&nb[bucket_of(e->hash, e->start, session) & nmask], e);
            e = next;
        }
    }
    cf_free(st->buckets);
    st->buckets = nb;
    st->mask = nmask;
}

static struct entry *entry_new(struct window_state *st, uint64_t hash, int64_t start, int64_t end,
                               int max_parallelism)
{
    const struct window_prep *prep = st->prep;
    size_t size = entry_size(prep, (uint32_t)st->key.len);
    struct entry *e = cf_malloc(size);
    memset(e, 0, sizeof(*e));
    cf_aggs_init(&prep->aggs, e->acc);
    e->hash = hash;
    e->start = start;
    e->end = end;
    e->klen = (uint32_t)st->key.len;
    e->kg = (uint16_t)cf_key_group(hash, max_parallelism);
    memcpy(entry_key(prep, e), st->key.data, st->key.len);
    if (st->nentries + 1 > (st->mask + 1)) {
        grow_table(st);
    }
    chain_link(&st->buckets[bucket_of(hash, start, prep->type == WIN_SESSION) & st->mask], e);
    st->nentries++;
    st->state_bytes += size;
    return e;
}

static void entry_unlink(struct window_state *st, struct entry *e)
{
    if (!e->hprevp) {
        return;
    }
    *e->hprevp = e->hnext;
    if (e->hnext) {
        e->hnext->hprevp = e->hprevp;
    }
    e->hprevp = NULL;
    st->nentries--;
}

static void entry_free(struct window_state *st, struct entry *e)
{
    st->state_bytes -= entry_size(st->prep, e->klen) + cf_aggs_heap_bytes(&st->prep->aggs, e->acc);
    cf_aggs_free(&st->prep->aggs, e->acc);
    cf_free(e);
}

static int key_equal(const struct window_prep *prep, struct entry *e, uint64_t hash,
                     const struct cf_buf *key)
{
    return e->hash == hash && e->klen == key->len &&
           memcmp(entry_key(prep, e), key->data, key->len) == 0;
}

/* The entry of the current key (st->key) for pane `start`, or NULL. */
static struct entry *pane_entry_find(struct window_state *st, uint64_t hash, int64_t start)
{
    uint64_t b = bucket_of(hash, start, 0) & st->mask;
    for (struct entry *e = st->buckets[b]; e; e = e->hnext) {
        if (e->start == start && key_equal(st->prep, e, hash, &st->key)) {
            return e;
        }
    }
    return NULL;
}

static struct pane *pane_get(struct window_state *st, int64_t start, int create)
{
    int lo = 0, hi = st->npanes;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (st->panes[mid].start < start) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < st->npanes && st->panes[lo].start == start) {
        return &st->panes[lo];
    }
    if (!create) {
        return NULL;
    }
    if (st->npanes == st->cap_panes) {
        st->cap_panes = st->cap_panes ? st->cap_panes * 2 : 16;
        st->panes = cf_realloc(st->panes, (size_t)st->cap_panes * sizeof(*st->panes));
    }
    memmove(&st->panes[lo + 1], &st->panes[lo], (size_t)(st->npanes - lo) * sizeof(*st->panes));
    st->npanes++;
    st->panes[lo] = (struct pane){.start = start};
    return &st->panes[lo];
}

/* ---- spilling cold panes to LMDB ---- */

/*
 * LMDB key of an entry: its pane start (8 bytes big-endian, sign bit flipped, so keys sort
 * by time) then the key bytes; the backend puts the key group in front. Value: the key hash
 * then the serialized accumulators.
 */
static void spill_prefix(int64_t start, uint8_t be[8])
{
    uint64_t u = (uint64_t)start ^ (1ULL << 63);
    for (int i = 0; i < 8; i++) {
        be[i] = (uint8_t)(u >> (56 - 8 * i));
    }
}

static void spill_key(struct window_state *st, int64_t start, const void *key, uint32_t klen)
{
    uint8_t be[8];
    spill_prefix(start, be);
    cf_buf_reset(&st->skey);
    cf_buf_append(&st->skey, be, 8);
    cf_buf_append(&st->skey, key, klen);
}

static int state_fail(struct cf_op *op, struct window_state *st, int rc)
{
    return cf_op_fail(op, "keyed state: %s",
                      st->ns ? cf_state_errmsg(cf_state_ns_env(st->ns)) : cf_strerror(rc));
}

/* Moves entries of the oldest panes (the next to fire, rarely updated) to LMDB until the
 * state is back under 3/4 of its budget. */
static int spill(struct cf_op *op, struct window_state *st)
{
    const struct window_prep *prep = st->prep;
    if (!st->ns) {
        struct cf_err err;
        cf_err_clear(&err);
        st->ns = cf_op_state(op, &err);
        if (!st->ns) {
            return cf_op_fail(op, "cannot open keyed state: %s", err.msg);
        }
        cf_info("%s: window state exceeds state_memory (%lld bytes): spilling cold panes to "
                "LMDB",
                op->decl->id, (long long)prep->state_memory);
    }
    struct cf_state *env = cf_state_ns_env(st->ns);
    int rc = cf_state_begin(env);
    if (rc) {
        return state_fail(op, st, rc);
    }
    uint64_t target = (uint64_t)prep->state_memory / 4 * 3;
    for (int i = 0; i < st->npanes && st->state_bytes > target && rc == 0; i++) {
        struct pane *p = &st->panes[i];
        while (p->head && st->state_bytes > target) {
            struct entry *e = p->head;
            spill_key(st, e->start, entry_key(prep, e), e->klen);
            cf_buf_reset(&st->sval);
            cf_buf_append(&st->sval, &e->hash, 8);
            cf_aggs_serialize(&prep->aggs, e->acc, &st->sval);
            rc = cf_state_put(st->ns, e->kg, st->skey.data, st->skey.len, st->sval.data,
                              st->sval.len);
            if (rc) {
                break;
            }
            p->head = e->pnext;
            p->n--;
            p->spilled++;
            st->spilled++;
            entry_unlink(st, e);
            entry_free(st, e);
        }
    }
    if (rc) {
        cf_state_abort(env);
        return state_fail(op, st, rc); /* the job fails; entries freed above are lost with it */
    }
    rc = cf_state_commit(env);
    return rc ? state_fail(op, st, rc) : 0;
}

/* Makes an entry from a spilled value and links it into pane p. */
static int entry_from_value(struct cf_op *op, struct window_state *st, struct pane *p,
                            const void *val, size_t vlen, struct entry **out)
{
    const struct window_prep *prep = st->prep;
    uint64_t hash;
    if (vlen < 8) {
        return cf_op_fail(op, "keyed state: corrupt entry in pane %lld", (long long)p->start);
    }
    memcpy(&hash, val, 8);
    struct entry *e = entry_new(st, hash, p->start, p->start + prep->pane, op->max_parallelism);
    if (cf_aggs_deserialize(&prep->aggs, e->acc, (const uint8_t *)val + 8, vlen - 8) != 0) {
        return cf_op_fail(op, "keyed state: corrupt entry in pane %lld", (long long)p->start);
    }
    st->state_bytes += cf_aggs_heap_bytes(&prep->aggs, e->acc);
    e->pnext = p->head;
    p->head = e;
    p->n++;
    *out = e;
    return 0;
}

/*
 * The entry of the current key (st->key, hash) in pane `start`: from memory, or moved back
 * from LMDB. *out is NULL if there is none. Runs inside a write transaction when the pane has
 * spilled entries.
 */
static int find_entry(struct cf_op *op, struct window_state *st, uint64_t hash, int64_t start,
                      struct entry **out)
{
    *out = pane_entry_find(st, hash, start);
    struct pane *p = *out || !st->spilled ? NULL : pane_get(st, start, 0);
    if (!p || !p->spilled) {
        return 0;
    }
    int kg = cf_key_group(hash, op->max_parallelism);
    spill_key(st, start, st->key.data, (uint32_t)st->key.len);
    const void *val;
    size_t vlen;
    int rc = cf_state_get(st->ns, kg, st->skey.data, st->skey.len, &val, &vlen);
    if (rc == CF_ENOENT) {
        return 0;
    }
    if (rc) {
        return state_fail(op, st, rc);
    }
    if ((rc = entry_from_value(op, st, p, val, vlen, out)) != 0) {
        return rc;
    }
    spill_key(st, start, st->key.data, (uint32_t)st->key.len);
    rc = cf_state_del(st->ns, kg, st->skey.data, st->skey.len);
    p->spilled--;
    st->spilled--;
    return rc ? state_fail(op, st, rc) : 0;
}

struct load_ctx {
    struct cf_op *op;
    struct window_state *st;
    struct pane *p;
    int rc;
};

static int load_one(void *arg, int key_group, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    (void)key_group;
    struct load_ctx *ctx = arg;
    struct window_state *st = ctx->st;
    cf_buf_reset(&st->key);
    cf_buf_append(&st->key, (const char *)key + 8, klen - 8);
    struct entry *e;
    ctx->rc = entry_from_value(ctx->op, st, ctx->p, val, vlen, &e);
    return ctx->rc;
}

/* Brings every spilled entry of pane p back to memory (before its windows fire). */
static int load_pane(struct cf_op *op, struct window_state *st, struct pane *p)
{
    if (!p->spilled) {
        return 0;
    }
    struct cf_state *env = cf_state_ns_env(st->ns);
    int own = !cf_state_in_txn(env);
    int rc = own ? cf_state_begin(env) : 0;
    uint8_t prefix[8];
    spill_prefix(p->start, prefix);
    struct load_ctx ctx = {op, st, p, 0};
    if (rc == 0) {
        rc = cf_state_scan(st->ns, -1, prefix, 8, load_one, &ctx);
        rc = ctx.rc ? ctx.rc : rc;
    }
    if (rc == 0 && cf_state_delete_prefix(st->ns, -1, prefix, 8) < 0) {
        rc = CF_EIO;
    }
    st->spilled -= p->spilled;
    p->spilled = 0;
    if (own) {
        if (rc) {
            cf_state_abort(env);
        } else {
            rc = cf_state_commit(env);
        }
    }
    return rc == 0 || rc == CF_EFAILED ? rc : state_fail(op, st, rc);
}

/* Forgets pane p's spilled entries (the pane is purged). */
static int drop_spilled(struct cf_op *op, struct window_state *st, struct pane *p)
{
    if (!p->spilled) {
        return 0;
    }
    struct cf_state *env = cf_state_ns_env(st->ns);
    int rc = cf_state_begin(env);
    uint8_t prefix[8];
    spill_prefix(p->start, prefix);
    if (rc == 0 && cf_state_delete_prefix(st->ns, -1, prefix, 8) < 0) {
        rc = CF_EIO;
    }
    st->spilled -= p->spilled;
    p->spilled = 0;
    if (rc) {
        cf_state_abort(env);
        return state_fail(op, st, rc);
    }
    rc = cf_state_commit(env);
    return rc ? state_fail(op, st, rc) : 0;
}

/* Start of the last window (largest start) that contains time t. */
static inline int64_t last_window_start(const struct window_prep *prep, int64_t t)
{
    return floor_div(t - prep->offset, prep->slide) * prep->slide + prep->offset;
}

static int emit_out_row(struct cf_op *op, struct window_state *st, struct entry *key_entry,
                        int64_t start, int64_t end, const struct cf_agg_slot *acc)
{
    const struct window_prep *prep = st->prep;
    if (!st->out) {
        st->out = cf_op_batch_get(op, 0);
    }
    struct cf_batch *out = st->out;
    uint32_t r = cf_batch_add_row(out);
    key_output(prep, key_entry, out, r, op->decl->in_schema);
    cf_batch_set_int(out, (uint32_t)prep->nkeys, r, start);
    cf_batch_set_int(out, (uint32_t)prep->nkeys + 1, r, end);
    cf_aggs_output(&prep->aggs, acc, out, r, (uint32_t)prep->nkeys + 2);
    out->ts[r] = end - 1;
    if (cf_batch_full(out)) {
        st->out = NULL;
        return cf_op_emit(op, 0, out);
    }
    return 0;
}

static int flush_outputs(struct cf_op *op, struct window_state *st)
{
    int rc = 0;
    if (st->out) {
        rc = cf_op_emit(op, 0, st->out);
        st->out = NULL;
    }
    if (st->late && rc == 0) {
        rc = cf_op_emit(op, st->prep->late_out, st->late);
        st->late = NULL;
    } else if (st->late) {
        cf_batch_release(st->late);
        st->late = NULL;
    }
    return rc;
}

static int emit_late(struct cf_op *op, struct window_state *st, const struct cf_batch *in,
                     uint32_t r)
{
    st->late_records++;
    if (!cf_op_has_consumers(op, st->prep->late_out)) {
        /* Counted like any emit to an unconsumed output. */
        op->metrics.records_out[st->prep->late_out]++;
        op->metrics.dropped[st->prep->late_out]++;
        return 0;
    }
    if (!st->late) {
        st->late = cf_op_batch_get(op, st->prep->late_out);
    }
    cf_batch_copy_row(st->late, in, r);
    if (cf_batch_full(st->late)) {
        struct cf_batch *b = st->late;
        st->late = NULL;
        return cf_op_emit(op, st->prep->late_out, b);
    }
    return 0;
}

/* ---- tumbling and sliding ---- */

/* Merges the panes of window [start, start + size) for the key of `e` into acc. */
static int merge_key_window(struct cf_op *op, struct window_state *st, struct entry *e,
                            int64_t start, struct cf_agg_slot *acc)
{
    const struct window_prep *prep = st->prep;
    cf_buf_reset(&st->key);
    cf_buf_append(&st->key, entry_key(prep, e), e->klen);
    for (int64_t p = start; p < start + prep->size; p += prep->pane) {
        struct entry *pe;
        int rc = find_entry(op, st, e->hash, p, &pe);
        if (rc) {
            return rc;
        }
        if (pe) {
            cf_aggs_merge(&prep->aggs, acc, pe->acc);
        }
    }
    return 0;
}

/* Emits window [start, start + size) again for the key of e. */
static int refire(struct cf_op *op, struct window_state *st, struct entry *e, int64_t start)
{
    const struct window_prep *prep = st->prep;
    if (prep->pane == prep->size) {
        return emit_out_row(op, st, e, start, start + prep->size, e->acc);
    }
    struct cf_agg_slot *acc = cf_malloc(cf_aggs_acc_size(&prep->aggs));
    cf_aggs_init(&prep->aggs, acc);
    int rc = merge_key_window(op, st, e, start, acc);
    if (rc == 0) {
        rc = emit_out_row(op, st, e, start, start + prep->size, acc);
    }
    cf_aggs_free(&prep->aggs, acc);
    cf_free(acc);
    return rc;
}

static int process_panes_txn(struct cf_op *op, struct window_state *st, struct cf_batch *in,
                             int64_t now);

/* Updates from a batch; inside one LMDB write transaction when entries are spilled. */
static int process_panes(struct cf_op *op, struct window_state *st, struct cf_batch *in,
                         int64_t now)
{
    if (!st->spilled) {
        return process_panes_txn(op, st, in, now);
    }
    struct cf_state *env = cf_state_ns_env(st->ns);
    int rc = cf_state_begin(env);
    if (rc) {
        return state_fail(op, st, rc);
    }
    rc = process_panes_txn(op, st, in, now);
    if (rc) {
        cf_state_abort(env);
        return rc;
    }
    rc = cf_state_commit(env);
    return rc ? state_fail(op, st, rc) : 0;
}

/* State this large (entries) no longer fits the caches: prefetch_entries() pays off. */
#define PREFETCH_MIN 16384

/*
 * With large state every lookup misses the cache twice (the bucket, then the entry).
 * Fetching the batch's buckets, then the entries they point to, before the updates overlaps
 * those misses instead of taking them one after the other. Only a hint: no effect on results.
 */
static void prefetch_entries(struct window_state *st, const struct cf_batch *in, int64_t now)
{
    const struct window_prep *prep = st->prep;
    uint32_t n = in->n;
    for (uint32_t r = 0; r < n; r++) {
        int64_t ts = prep->event_time ? in->ts[r] : now;
        int64_t pane = ts == CF_TS_NONE
                           ? 0
                           : floor_div(ts - prep->offset, prep->pane) * prep->pane + prep->offset;
        st->bucket_idx[r] = (uint32_t)(bucket_of(st->hashes[r], pane, 0) & st->mask);
        __builtin_prefetch(&st->buckets[st->bucket_idx[r]]);
    }
    for (uint32_t r = 0; r < n; r++) {
        const struct entry *e = st->buckets[st->bucket_idx[r]];
        if (e) {
            __builtin_prefetch(e);
        }
    }
}

static int process_panes_txn(struct cf_op *op, struct window_state *st, struct cf_batch *in,
                             int64_t now)
{
    const struct window_prep *prep = st->prep;
    int rc = 0;
    if (st->nentries >= PREFETCH_MIN && st->mask <= UINT32_MAX) {
        prefetch_entries(st, in, now);
    }
    /* The pane of the previous row, and the last window containing it: rows of a batch are
     * mostly close in time, so most rows skip the two divisions. A pane lies within one slide
     * (the pane length divides it), so s_max is constant over the pane. */
    int64_t pane = CF_TS_MIN, s_max = 0;
    for (uint32_t r = 0; r < in->n && rc == 0; r++) {
        int64_t ts = prep->event_time ? in->ts[r] : now;
        if (ts == CF_TS_NONE) {
            rc = emit_late(op, st, in, r); /* no event time: never on time */
            continue;
        }
        if (pane == CF_TS_MIN || ts < pane ||
            (uint64_t)ts - (uint64_t)pane >= (uint64_t)prep->pane) {
            pane = floor_div(ts - prep->offset, prep->pane) * prep->pane + prep->offset;
            s_max = last_window_start(prep, ts);
        }
        if (prep->event_time && s_max + prep->size - 1 + prep->lateness <= st->wm) {
            rc = emit_late(op, st, in, r);
            continue;
        }
        key_bytes(st, in, r);
        struct entry *e;
        rc = find_entry(op, st, st->hashes[r], pane, &e);
        if (rc) {
            break;
        }
        if (!e) {
            e = entry_new(st, st->hashes[r], pane, pane + prep->pane, op->max_parallelism);
            struct pane *p = pane_get(st, pane, 1);
            e->pnext = p->head;
            p->head = e;
            p->n++;
            if (!prep->event_time) {
                /* Processing time: a timer at the end of each window of this pane. */
                for (int64_t s = s_max; s > pane - prep->size; s -= prep->slide) {
                    cf_op_timer_set(op, s + prep->size);
                }
            }
        }
        st->state_bytes += cf_aggs_update(&prep->aggs, st->ev, e->acc, r, ts);
        if (prep->lateness > 0 && prep->event_time && st->wm != CF_TS_MIN) {
            /* Windows of this pane that fired and are not purged fire again for this key,
             * once per late record (as Flink's event-time trigger does), oldest first. */
            int64_t s_min = s_max;
            while (s_min - prep->slide > pane - prep->size) {
                s_min -= prep->slide;
            }
            for (int64_t s = s_min; s <= s_max && rc == 0; s += prep->slide) {
                int64_t last = s + prep->size - 1;
                if (last <= st->wm && last + prep->lateness > st->wm) {
                    rc = refire(op, st, e, s);
                }
            }
        }
    }
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Finds or adds the merge entry of e's key (sliding windows). */
static struct entry *merge_slot(struct window_state *st, struct entry *e)
{
    const struct window_prep *prep = st->prep;
    uint64_t b = e->hash & st->mmask;
    for (struct entry *m = st->mbuckets[b]; m; m = m->hnext) {
        if (m->hash == e->hash && m->klen == e->klen &&
            memcmp(entry_key(prep, m), entry_key(prep, e), e->klen) == 0) {
            return m;
        }
    }
    struct entry *m = cf_malloc(entry_size(prep, e->klen));
    memset(m, 0, sizeof(*m));
    cf_aggs_init(&prep->aggs, m->acc);
    m->hash = e->hash;
    m->klen = e->klen;
    memcpy(entry_key(prep, m), entry_key(prep, e), e->klen);
    m->hnext = st->mbuckets[b];
    st->mbuckets[b] = m;
    m->pnext = st->mlist;
    st->mlist = m;
    return m;
}

static int fire_window(struct cf_op *op, struct window_state *st, int64_t start)
{
    const struct window_prep *prep = st->prep;
    int64_t end = start + prep->size;
    int rc = 0;
    for (int i = 0; i < st->npanes && rc == 0; i++) {
        if (st->panes[i].start >= start && st->panes[i].start < end) {
            rc = load_pane(op, st, &st->panes[i]);
        }
    }
    if (rc) {
        return rc;
    }
    if (prep->pane == prep->size) {
        struct pane *p = pane_get(st, start, 0);
        for (struct entry *e = p ? p->head : NULL; e && rc == 0; e = e->pnext) {
            rc = emit_out_row(op, st, e, start, end, e->acc);
        }
        return rc;
    }
    /* Sliding: merge the window's panes by key, then emit. */
    size_t want = 256;
    for (int i = 0; i < st->npanes; i++) {
        if (st->panes[i].start >= start && st->panes[i].start < end) {
            want += st->panes[i].n;
        }
    }
    if (want > st->mmask + 1) {
        uint64_t m = st->mmask + 1;
        while (m < want) {
            m *= 2;
        }
        cf_free(st->mbuckets);
        st->mbuckets = cf_calloc(m, sizeof(*st->mbuckets));
        st->mmask = m - 1;
    }
    for (int i = 0; i < st->npanes; i++) {
        if (st->panes[i].start < start || st->panes[i].start >= end) {
            continue;
        }
        for (struct entry *e = st->panes[i].head; e; e = e->pnext) {
            struct entry *m = merge_slot(st, e);
            cf_aggs_merge(&prep->aggs, m->acc, e->acc);
        }
    }
    struct entry *m = st->mlist;
    while (m) {
        struct entry *next = m->pnext;
        if (rc == 0) {
            rc = emit_out_row(op, st, m, start, end, m->acc);
        }
        cf_aggs_free(&prep->aggs, m->acc);
        cf_free(m);
        m = next;
    }
    st->mlist = NULL;
    memset(st->mbuckets, 0, (st->mmask + 1) * sizeof(*st->mbuckets));
    return rc;
}

/* Fires every window whose end - 1 is in (st->wm, wm], then purges panes no longer needed. */
static int advance_panes(struct cf_op *op, struct window_state *st, int64_t wm)
{
    const struct window_prep *prep = st->prep;
    int64_t *starts = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < st->npanes; i++) {
        int64_t p = st->panes[i].start;
        for (int64_t s = last_window_start(prep, p); s > p - prep->size; s -= prep->slide) {
            int64_t last = s + prep->size - 1;
            if (last <= wm && (st->wm == CF_TS_MIN || last > st->wm)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    starts = cf_realloc(starts, cap * sizeof(*starts));
                }
                starts[n++] = s;
            }
        }
    }
    int rc = 0;
    if (n) {
        qsort(starts, n, sizeof(*starts), cmp_i64);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i == 0 || starts[i] != starts[i - 1]) {
                rc = fire_window(op, st, starts[i]);
            }
        }
    }
    cf_free(starts);
    /* Purge panes whose last window is past its lateness. */
    int w = 0;
    for (int i = 0; i < st->npanes; i++) {
        struct pane *p = &st->panes[i];
        int64_t last = last_window_start(prep, p->start) + prep->size - 1;
        if (last + prep->lateness <= wm) {
            if (rc == 0) {
                rc = drop_spilled(op, st, p);
            }
            struct entry *e = p->head;
            while (e) {
                struct entry *next = e->pnext;
                entry_unlink(st, e);
                entry_free(st, e);
                e = next;
            }
        } else {
            st->panes[w++] = *p;
        }
    }
    st->npanes = w;
    return rc;
}

/* ---- sessions ---- */

static void heap_push(struct window_state *st, struct entry *e, int64_t at, int purge)
{
    if (st->nheap == st->cap_heap) {
        st->cap_heap = st->cap_heap ? st->cap_heap * 2 : 64;
        st->heap = cf_realloc(st->heap, (size_t)st->cap_heap * sizeof(*st->heap));
    }
    int i = st->nheap++;
    struct heap_item item = {at, e->end, e, purge};
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (st->heap[parent].at <= at) {
            break;
        }
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = item;
    e->heap_refs++;
}

static struct heap_item heap_pop(struct window_state *st)
{
    struct heap_item top = st->heap[0];
    struct heap_item last = st->heap[--st->nheap];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= st->nheap) {
            break;
        }
        if (c + 1 < st->nheap && st->heap[c + 1].at < st->heap[c].at) {
            c++;
        }
        if (st->heap[c].at >= last.at) {
            break;
        }
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (st->nheap) {
        st->heap[i] = last;
    }
    return top;
}

/* Drops a session from the table; freed once no heap item points at it. */
static void session_retire(struct window_state *st, struct entry *e)
{
    entry_unlink(st, e);
    e->dead = 1;
    if (e->heap_refs == 0) {
        entry_free(st, e);
    }
}

static int process_sessions(struct cf_op *op, struct window_state *st, struct cf_batch *in,
                            int64_t now)
{
    const struct window_prep *prep = st->prep;
    int rc = 0;
    struct entry *hits[64];
    for (uint32_t r = 0; r < in->n && rc == 0; r++) {
        int64_t ts = prep->event_time ? in->ts[r] : now;
        if (ts == CF_TS_NONE) {
            rc = emit_late(op, st, in, r);
            continue;
        }
        int64_t start = ts, end = ts + prep->gap;
        key_bytes(st, in, r);
        uint64_t hash = st->hashes[r];
        /* Sessions of this key that intersect [ts, ts + gap). */
        int nhits = 0;
        uint64_t b = bucket_of(hash, 0, 1) & st->mask;
        for (struct entry *e = st->buckets[b]; e; e = e->hnext) {
            if (key_equal(prep, e, hash, &st->key) && e->start <= end && e->end >= start) {
                if (nhits < 64) {
                    hits[nhits++] = e;
                }
                if (e->start < start) {
                    start = e->start;
                }
                if (e->end > end) {
                    end = e->end;
                }
            }
        }
        if (prep->event_time && end - 1 + prep->lateness <= st->wm) {
            rc = emit_late(op, st, in, r);
            continue;
        }
        struct entry *s;
        if (nhits == 0) {
            s = entry_new(st, hash, start, end, op->max_parallelism);
        } else {
            s = hits[0];
            for (int i = 1; i < nhits; i++) {
                size_t before = cf_aggs_heap_bytes(&prep->aggs, s->acc);
                cf_aggs_merge(&prep->aggs, s->acc, hits[i]->acc);
                st->state_bytes += cf_aggs_heap_bytes(&prep->aggs, s->acc) - before;
                session_retire(st, hits[i]);
            }
            /* The entry's start is part of nothing hashed (sessions hash by key only). */
            s->start = start;
        }
        int changed = s->end != end || nhits > 1;
        s->end = end;
        st->state_bytes += cf_aggs_update(&prep->aggs, st->ev, s->acc, r, ts);
        if (!prep->event_time) {
            if (nhits == 0 || changed) {
                cf_op_timer_set(op, end);
                heap_push(st, s, end - 1, 0);
            }
        } else if (end - 1 <= st->wm) {
            /* Already past its end: a late update within lateness; emit it again. */
            s->fired = 1;
            rc = emit_out_row(op, st, s, s->start, s->end, s->acc);
            if (changed || nhits == 0) {
                heap_push(st, s, end - 1 + prep->lateness, 1);
            }
        } else if (nhits == 0 || changed) {
            s->fired = 0;
            heap_push(st, s, end - 1, 0);
        }
    }
    return rc;
}

static int advance_sessions(struct cf_op *op, struct window_state *st, int64_t wm)
{
    const struct window_prep *prep = st->prep;
    int rc = 0;
    while (st->nheap && st->heap[0].at <= wm && rc == 0) {
        struct heap_item it = heap_pop(st);
        struct entry *e = it.e;
        e->heap_refs--;
        if (e->dead || e->end != it.end) {
            if (e->dead && e->heap_refs == 0) {
                entry_free(st, e);
            }
            continue; /* stale: the session merged or grew since */
        }
        if (!it.purge) {
            if (!e->fired) {
                e->fired = 1;
                rc = emit_out_row(op, st, e, e->start, e->end, e->acc);
            }
            if (prep->lateness > 0) {
                heap_push(st, e, e->end - 1 + prep->lateness, 1);
                continue;
            }
        }
        session_retire(st, e);
    }
    return rc;
}

/* ---- callbacks ---- */

static int window_process(struct cf_op *op, struct cf_batch *in)
{
    struct window_state *st = op->state;
    const struct window_prep *prep = st->prep;
    st->hashes = cf_keys_hashes(in, prep->key_idx, prep->nkeys, st->hash_scratch);
    cf_aggs_eval_batch(st->ev, in, &st->scratch);
    int64_t now = prep->event_time ? 0 : cf_now_ms();
    int rc = prep->type == WIN_SESSION ? process_sessions(op, st, in, now)
                                       : process_panes(op, st, in, now);
    cf_arena_reset(&st->scratch);
    if (rc == 0) {
        rc = flush_outputs(op, st);
    }
    cf_batch_release(in);
    if (rc == 0 && prep->type != WIN_SESSION && st->state_bytes > (uint64_t)prep->state_memory) {
        rc = spill(op, st);
    }
    return rc;
}

static int advance(struct cf_op *op, struct window_state *st, int64_t wm)
{
    int rc =
        st->prep->type == WIN_SESSION ? advance_sessions(op, st, wm) : advance_panes(op, st, wm);
    st->wm = wm;
    if (rc == 0) {
        rc = flush_outputs(op, st);
    }
    if (rc == 0 && st->prep->type != WIN_SESSION &&
        st->state_bytes > (uint64_t)st->prep->state_memory) {
        rc = spill(op, st);
    }
    return rc;
}

static int window_on_watermark(struct cf_op *op, int64_t wm)
{
    struct window_state *st = op->state;
    int rc = 0;
    if (st->prep->event_time) {
        rc = advance(op, st, wm);
    }
    return rc ? rc : cf_op_emit_watermark(op, wm);
}

static int window_on_timer(struct cf_op *op, int64_t now)
{
    struct window_state *st = op->state;
    if (st->prep->event_time) {
        return 0;
    }
    /* Processing time: every window that ended by now. */
    return advance(op, st, now - 1);
}

static int window_finish(struct cf_op *op)
{
    struct window_state *st = op->state;
    /* Event time already saw the final watermark; processing time fires what is left. */
    return st->prep->event_time ? 0 : advance(op, st, CF_TS_MAX - 1);
}

/* ---- checkpoints ----
 *
 * Keyed entries, one per (key, pane) or (key, session), with the key of the spill format
 * (pane or session start, then the key bytes; the key group in front): value hash then the
 * accumulators (panes), or hash, end, fired flag, accumulators (sessions). Panes spilled to
 * LMDB are in the namespace, which the runtime copies itself. Operator entries
 * "wm/<subtask>": the last watermark processed, so windows that fired before the checkpoint
 * do not fire again (at an aligned barrier every subtask has seen the same watermarks).
 */
static int64_t prefix_start(const uint8_t *be)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) {
        u = u << 8 | be[i];
    }
    return (int64_t)(u ^ (1ULL << 63));
}

static int window_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    struct window_state *st = op->state;
    const struct window_prep *prep = st->prep;
    int session = prep->type == WIN_SESSION;
    int rc = 0;
    for (uint64_t i = 0; i <= st->mask && rc == 0; i++) {
        for (struct entry *e = st->buckets[i]; e && rc == 0; e = e->hnext) {
            if (e->dead) {
                continue;
            }
            spill_key(st, e->start, entry_key(prep, e), e->klen);
            cf_buf_reset(&st->sval);
            cf_buf_append(&st->sval, &e->hash, 8);
            if (session) {
                cf_buf_append(&st->sval, &e->end, 8);
                cf_buf_putc(&st->sval, (char)e->fired);
            }
            cf_aggs_serialize(&prep->aggs, e->acc, &st->sval);
            rc = cf_snapshot_put_keyed(snap, e->kg, st->skey.data, st->skey.len, st->sval.data,
                                       st->sval.len);
        }
    }
    char key[32];
    int kl = snprintf(key, sizeof(key), "wm/%d", op->subtask);
    if (rc == 0) {
        rc = cf_snapshot_put(snap, key, (size_t)kl, &st->wm, 8);
    }
    return rc ? cf_op_fail(op, "cannot write window state into checkpoint: %s", cf_strerror(rc))
              : 0;
}

struct wrestore {
    struct cf_op *op;
    struct window_state *st;
    int64_t wm;
    int nwm;
    int rc;
};

static int restore_wm(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)kg;
    struct wrestore *r = arg;
    if (klen > 3 && memcmp(key, "wm/", 3) == 0 && vlen == 8) {
        int64_t wm;
        memcpy(&wm, val, 8);
        if (r->nwm++ == 0 || wm < r->wm) {
            r->wm = wm;
        }
    }
    return 0;
}

static int restore_entry(void *arg, int kg, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    (void)kg;
    struct wrestore *r = arg;
    struct window_state *st = r->st;
    const struct window_prep *prep = st->prep;
    if (klen < 8) {
        return r->rc = cf_op_fail(r->op, "window checkpoint: malformed entry");
    }
    int64_t start = prefix_start(key);
    cf_buf_reset(&st->key);
    cf_buf_append(&st->key, (const char *)key + 8, klen - 8);
    if (prep->type != WIN_SESSION) {
        struct entry *e;
        return r->rc = entry_from_value(r->op, st, pane_get(st, start, 1), val, vlen, &e);
    }
    const uint8_t *v = val;
    if (vlen < 17) {
        return r->rc = cf_op_fail(r->op, "window checkpoint: malformed session");
    }
    uint64_t hash;
    int64_t end;
    memcpy(&hash, v, 8);
    memcpy(&end, v + 8, 8);
    struct entry *e = entry_new(st, hash, start, end, r->op->max_parallelism);
    e->fired = v[16];
    if (cf_aggs_deserialize(&prep->aggs, e->acc, v + 17, vlen - 17) != 0) {
        return r->rc = cf_op_fail(r->op, "window checkpoint: malformed session");
    }
    st->state_bytes += cf_aggs_heap_bytes(&prep->aggs, e->acc);
    if (!prep->event_time) {
        cf_op_timer_set(r->op, end);
        heap_push(st, e, end - 1, 0);
    } else if (e->fired) {
        heap_push(st, e, end - 1 + prep->lateness, 1);
    } else {
        heap_push(st, e, end - 1, 0);
    }
    return 0;
}

static int count_spilled(void *arg, int kg, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    (void)kg, (void)val, (void)vlen;
    struct wrestore *r = arg;
    if (klen >= 8) {
        pane_get(r->st, prefix_start(key), 1)->spilled++;
        r->st->spilled++;
    }
    return 0;
}

static int window_restore(struct cf_op *op, struct cf_snapshot *snap)
{
    struct window_state *st = op->state;
    const struct window_prep *prep = st->prep;
    struct wrestore r = {.op = op, .st = st};
    int rc = cf_snapshot_scan(snap, restore_wm, &r);
    if (rc == 0 && r.nwm) {
        st->wm = r.wm;
    }
    if (rc == 0) {
        rc = cf_snapshot_scan_keyed(snap, restore_entry, &r);
        rc = r.rc ? r.rc : rc;
    }
    if (rc == 0 && op->ns && prep->type != WIN_SESSION) {
        st->ns = op->ns; /* panes spilled before the checkpoint, restored by the runtime */
        rc = cf_state_scan(st->ns, -1, NULL, 0, count_spilled, &r);
    }
    if (rc == 0 && !prep->event_time && prep->type != WIN_SESSION) {
        for (int i = 0; i < st->npanes; i++) {
            int64_t p = st->panes[i].start;
            for (int64_t w = last_window_start(prep, p); w > p - prep->size; w -= prep->slide) {
                cf_op_timer_set(op, w + prep->size);
            }
        }
    }
    return rc == 0 || rc == CF_EFAILED ? rc : cf_op_fail(op, "restore: %s", cf_strerror(rc));
}

static void window_close(struct cf_op *op)
{
    struct window_state *st = op->state;
    if (!st) {
        return;
    }
    for (uint64_t i = 0; i <= st->mask; i++) {
        struct entry *e = st->buckets[i];
        while (e) {
            struct entry *next = e->hnext;
            e->dead = 1;
            if (e->heap_refs == 0) {
                entry_free(st, e);
            }
            e = next;
        }
    }
    /* Sessions retired but still referenced by the heap. */
    for (int i = 0; i < st->nheap; i++) {
        struct entry *e = st->heap[i].e;
        if (--e->heap_refs == 0) {
            entry_free(st, e);
        }
    }
    cf_free(st->buckets);
    cf_free(st->mbuckets);
    cf_free(st->panes);
    cf_free(st->heap);
    cf_aggs_eval_destroy(st->ev);
    cf_arena_destroy(&st->scratch);
    cf_buf_destroy(&st->key);
    cf_buf_destroy(&st->skey);
    cf_buf_destroy(&st->sval);
    cf_batch_release(st->out);
    cf_batch_release(st->late);
    cf_free(st);
}

const struct cf_op_plugin cf_op_window = {
    .type = "window",
    .kind = CF_OP_KIND_TRANSFORM,
    .flags = CF_OP_F_KEYED,
    .doc = "Keyed tumbling, sliding or session windows with aggregates; rows later than the "
           "watermark plus allowed_lateness go to the side output `<id>.late`.",
    .conf_size = sizeof(struct window_conf),
    .conf_keys = window_keys,
    .configure = window_configure,
    .unconfigure = window_unconfigure,
    .open = window_open,
    .process = window_process,
    .on_watermark = window_on_watermark,
    .on_timer = window_on_timer,
    .finish = window_finish,
    .snapshot = window_snapshot,
    .restore = window_restore,
    .close = window_close,
};
