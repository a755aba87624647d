#include "agg.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../base/hash.h"
#include "../base/mem.h"

static const char *const kind_names[] = {"count", "count",          "sum",   "min", "max",
                                         "avg",   "count_distinct", "first", "last"};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == CF_AGG__COUNT,
               "kind_names covers every aggregate");

/* ---- exact distinct sets ---- */

/* Strings up to this long live in their entry, the others in the set's arena. */
#define DSET_INLINE 16

struct dset_entry {
    uint64_t h;   /* nonzero; 0 marks an empty slot */
    uint32_t len; /* strings: the length */
    uint32_t str; /* 1 for a string */
    union {
        int64_t v;            /* other types: the value's bits */
        const char *p;        /* a string longer than DSET_INLINE: its bytes in the arena */
        char in[DSET_INLINE]; /* a shorter one: its bytes */
    } u;
};

struct cf_dset {
    uint32_t n;
    uint32_t cap; /* power of two, 0 before the first insert */
    struct dset_entry *e;
    struct cf_arena arena;
};

static inline const char *dset_bytes(const struct dset_entry *e)
{
    return e->len <= DSET_INLINE ? e->u.in : e->u.p;
}

static struct cf_dset *dset_create(void)
{
    struct cf_dset *s = cf_new(struct cf_dset);
    cf_arena_init(&s->arena, 256); /* most sets are small: start small */
    return s;
}

static void dset_destroy(struct cf_dset *s)
{
    if (s) {
        cf_free(s->e);
        cf_arena_destroy(&s->arena);
        cf_free(s);
    }
}

/* The slot of a value (1), or the empty slot where it would go (0). p is NULL for values
 * that are not strings. */
static int dset_find(const struct cf_dset *s, uint64_t h, const char *p, uint32_t len, int64_t v,
                     uint32_t *slot)
{
    uint32_t mask = s->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        const struct dset_entry *e = &s->e[i];
        if (e->h == 0) {
            *slot = i;
            return 0;
        }
        if (e->h == h && (p ? (e->str && e->len == len && memcmp(dset_bytes(e), p, len) == 0)
                            : (!e->str && e->u.v == v))) {
            *slot = i;
            return 1;
        }
    }
}

static void dset_grow(struct cf_dset *s)
{
    uint32_t old_cap = s->cap;
    struct dset_entry *old = s->e;
    s->cap = old_cap ? old_cap * 2 : 16;
    s->e = cf_calloc(s->cap, sizeof(*s->e));
    uint32_t mask = s->cap - 1;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i].h) { /* distinct values: the first free slot */
            uint32_t j = (uint32_t)old[i].h & mask;
            while (s->e[j].h) {
                j = (j + 1) & mask;
            }
            s->e[j] = old[i];
        }
    }
    cf_free(old);
}

/* Adds a value; strings are copied (into the entry or the set's arena). h must be nonzero. */
static void dset_add(struct cf_dset *s, uint64_t h, const char *p, uint32_t len, int64_t v)
{
    if ((s->n + 1) * 4 > s->cap * 3) {
        dset_grow(s);
    }
    uint32_t slot;
    if (dset_find(s, h, p, len, v, &slot)) {
        return;
    }
    struct dset_entry *e = &s->e[slot];
    e->h = h;
    e->len = len;
    e->str = p != NULL;
    if (!p) {
        e->u.v = v;
    } else if (len <= DSET_INLINE) {
        memcpy(e->u.in, p, len);
    } else {
        e->u.p = cf_arena_strndup(&s->arena, p, len);
    }
    s->n++;
}

static uint64_t nonzero(uint64_t h)
{
    return h ? h : 1;
}

/* ---- parsing ---- */

static int parse_one(struct cf_agg_spec *spec, const char *text, const struct cf_schema *in,
                     const char *where, struct cf_err *err)
{
    const char *p = text;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    const char *name = p;
    while (isalnum((unsigned char)*p) || *p == '_') {
        p++;
    }
    size_t nlen = (size_t)(p - name);
    while (isspace((unsigned char)*p)) {
        p++;
    }
    const char *close = strrchr(p, ')');
    if (nlen == 0 || *p != '(' || !close) {
        return cf_err_append(err, CF_ESPEC,
                             "%s: \"%s\" is not an aggregate such as count(*), sum(x), avg(x)",
                             where, text);
    }
    for (const char *q = close + 1; *q; q++) {
        if (!isspace((unsigned char)*q)) {
            return cf_err_append(err, CF_ESPEC, "%s: unexpected text after ')' in \"%s\"", where,
                                 text);
        }
    }
    int kind = -1;
    for (int k = CF_AGG_COUNT; k < CF_AGG__COUNT; k++) {
        if (strlen(kind_names[k]) == nlen && strncasecmp(name, kind_names[k], nlen) == 0) {
            kind = k;
        }
    }
    if (kind < 0) {
        return cf_err_append(err, CF_ESPEC,
                             "%s: unknown aggregate '%.*s' (use count, sum, min, max, avg, "
                             "count_distinct, first, last)",
                             where, (int)nlen, name);
    }
    char *arg = cf_strndup(p + 1, (size_t)(close - p - 1));
    const char *a = arg;
    while (isspace((unsigned char)*a)) {
        a++;
    }
    if (kind == CF_AGG_COUNT && strcmp(a, "*") == 0) {
        spec->kind = CF_AGG_COUNT_STAR;
        spec->arg_type = CF_TYPE_NULL;
        spec->out_type = CF_TYPE_INT;
        cf_free(arg);
        return 0;
    }
    spec->kind = (enum cf_agg_kind)kind;
    struct cf_err e;
    cf_err_clear(&e);
    if (!*a) {
        cf_free(arg);
        return cf_err_append(err, CF_ESPEC, "%s: %s() needs an argument", where, kind_names[kind]);
    }
    spec->arg = cf_expr_parse(a, &e);
    cf_free(arg);
    if (!spec->arg || cf_expr_bind(spec->arg, in, &e) != 0) {
        return cf_err_append(err, CF_ESPEC, "%s: %s", where, e.msg);
    }
    enum cf_type t = cf_expr_type(spec->arg);
    spec->arg_type = t;
    switch (spec->kind) {
    case CF_AGG_COUNT:
    case CF_AGG_COUNT_DISTINCT: spec->out_type = CF_TYPE_INT; break;
    case CF_AGG_SUM:
    case CF_AGG_AVG:
        if (t != CF_TYPE_INT && t != CF_TYPE_DOUBLE) {
            return cf_err_append(err, CF_ESPEC, "%s: %s() needs a number, not %s", where,
                                 kind_names[kind], cf_type_name(t));
        }
        spec->out_type = spec->kind == CF_AGG_AVG ? CF_TYPE_DOUBLE : t;
        break;
    default:
        if (t == CF_TYPE_NULL) {
            return cf_err_append(err, CF_ESPEC, "%s: %s(NULL) has no type", where,
                                 kind_names[kind]);
        }
        spec->out_type = t;
        break;
    }
    return 0;
}

int cf_aggs_parse(struct cf_aggs *aggs, const cJSON *obj, const struct cf_schema *in,
                  const char *path, struct cf_err *err)
{
    memset(aggs, 0, sizeof(*aggs));
    if (!cJSON_IsObject(obj) || !obj->child) {
        return cf_err_append(err, CF_ESPEC,
                             "%s: must be an object of output name to aggregate, such as "
                             "{\"events\": \"count(*)\"}",
                             path);
    }
    aggs->v = cf_calloc((size_t)cJSON_GetArraySize(obj), sizeof(*aggs->v));
    int bad = 0;
    for (const cJSON *f = obj->child; f; f = f->next) {
        char where[160];
        snprintf(where, sizeof(where), "%s.%s", path, f->string);
        struct cf_agg_spec *spec = &aggs->v[aggs->n++];
        spec->name = cf_strdup(f->string);
        if (!cJSON_IsString(f)) {
            bad = cf_err_append(err, CF_ESPEC, "%s: must be a string such as \"sum(x)\"", where);
            continue;
        }
        if (parse_one(spec, f->valuestring, in, where, err) != 0) {
            bad = 1;
        }
    }
    if (bad) {
        cf_aggs_destroy(aggs);
        return CF_ESPEC;
    }
    return 0;
}

void cf_aggs_destroy(struct cf_aggs *aggs)
{
    for (int i = 0; i < aggs->n; i++) {
        cf_free(aggs->v[i].name);
        cf_expr_destroy(aggs->v[i].arg);
    }
    cf_free(aggs->v);
    aggs->v = NULL;
    aggs->n = 0;
}

void cf_aggs_mark_fields(const struct cf_aggs *aggs, uint8_t *used)
{
    for (int i = 0; i < aggs->n; i++) {
        if (aggs->v[i].arg) {
            cf_expr_mark_fields(aggs->v[i].arg, used);
        }
    }
}

int cf_aggs_add_fields(const struct cf_aggs *aggs, struct cf_schema *schema, const char *path,
                       struct cf_err *err)
{
    int bad = 0;
    for (int i = 0; i < aggs->n; i++) {
        if (cf_schema_add(schema, aggs->v[i].name, aggs->v[i].out_type) < 0) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.%s: the output already has a field '%s' (a key or "
                                "window_start/window_end)",
                                path, aggs->v[i].name, aggs->v[i].name);
        }
    }
    return bad ? CF_ESPEC : 0;
}

/* ---- evaluation ---- */

struct cf_aggs_eval {
    const struct cf_aggs *aggs;
    int n;
    struct cf_expr_eval_ctx **ctx;
    struct cf_col *cols;
    void *mem;
};

struct cf_aggs_eval *cf_aggs_eval_create(const struct cf_aggs *aggs)
{
    struct cf_aggs_eval *ev = cf_new(struct cf_aggs_eval);
    ev->aggs = aggs;
    ev->n = aggs->n;
    ev->ctx = cf_calloc((size_t)aggs->n + 1, sizeof(*ev->ctx));
    ev->cols = cf_calloc((size_t)aggs->n + 1, sizeof(*ev->cols));
    /* Room for the widest value (a string view) per row, then the null flags. */
    size_t width =
        sizeof(struct cf_str) > sizeof(int64_t) ? sizeof(struct cf_str) : sizeof(int64_t);
    ev->mem = cf_calloc((size_t)aggs->n + 1, (width + 1) * CF_BATCH_ROWS + 16);
    char *m = ev->mem;
    for (int i = 0; i < aggs->n; i++) {
        struct cf_col *col = &ev->cols[i];
        col->type = aggs->v[i].arg_type;
        col->v.data = m;
        m += width * CF_BATCH_ROWS + 8;
        col->nulls = (uint8_t *)m;
        m += CF_BATCH_ROWS + 8;
        if (aggs->v[i].arg) {
            ev->ctx[i] = cf_expr_eval_ctx_create(aggs->v[i].arg);
        }
    }
    return ev;
}

void cf_aggs_eval_destroy(struct cf_aggs_eval *ev)
{
    if (!ev) {
        return;
    }
    for (int i = 0; i < ev->n; i++) {
        cf_expr_eval_ctx_destroy(ev->ctx[i]);
    }
    cf_free(ev->ctx);
    cf_free(ev->cols);
    cf_free(ev->mem);
    cf_free(ev);
}

void cf_aggs_eval_batch(struct cf_aggs_eval *ev, const struct cf_batch *in,
                        struct cf_arena *scratch)
{
    for (int i = 0; i < ev->n; i++) {
        if (ev->ctx[i]) {
            cf_expr_eval(ev->aggs->v[i].arg, ev->ctx[i], in, &ev->cols[i], scratch);
        }
    }
}

/* Compares two values of one type: <0, 0, >0. */
static int cmp_vals(enum cf_type t, const struct cf_agg_slot *a, int64_t bi, double bd,
                    const char *bs, uint32_t blen)
{
    switch (t) {
    case CF_TYPE_STRING: {
        uint32_t n = a->len < blen ? a->len : blen;
        int c = n ? memcmp(a->v.s, bs, n) : 0;
        return c ? c : (a->len > blen) - (a->len < blen);
    }
    case CF_TYPE_DOUBLE: return (a->v.d > bd) - (a->v.d < bd);
    default: return (a->v.i > bi) - (a->v.i < bi);
    }
}

static void set_val(enum cf_type t, struct cf_agg_slot *s, int64_t i, double d, const char *p,
                    uint32_t len)
{
    if (t == CF_TYPE_STRING) {
        /* last(x)/first(x) may replace the value on every row: grow the buffer
         * geometrically and keep it, instead of a free and malloc per row. */
        if (!s->has || s->cap < len) {
            uint32_t cap = s->has && s->cap * 2 > len ? s->cap * 2 : (len > 16 ? len : 16);
            s->v.s = cf_realloc(s->has ? s->v.s : NULL, cap);
            s->cap = cap;
        }
        memcpy(s->v.s, p, len);
        s->len = len;
    } else if (t == CF_TYPE_DOUBLE) {
        s->v.d = d;
    } else {
        s->v.i = i;
    }
    s->has = 1;
}

/* Folds one value into a slot. */
static void fold(const struct cf_agg_spec *spec, struct cf_agg_slot *s, int64_t i, double d,
                 const char *p, uint32_t len, int64_t ts)
{
    enum cf_type t = spec->arg_type;
    switch (spec->kind) {
    case CF_AGG_COUNT_STAR:
    case CF_AGG_COUNT: s->v.i++; break;
    case CF_AGG_SUM:
        if (t == CF_TYPE_DOUBLE) {
            s->v.d += d;
        } else if (__builtin_add_overflow(s->v.i, i, &s->v.i)) {
            s->overflow = 1;
        }
        s->has = 1;
        break;
    case CF_AGG_AVG:
        s->v.d += t == CF_TYPE_DOUBLE ? d : (double)i;
        s->aux.i++;
        s->has = 1;
        break;
    case CF_AGG_MIN:
        if (!s->has || cmp_vals(t, s, i, d, p, len) > 0) {
            set_val(t, s, i, d, p, len);
        }
        break;
    case CF_AGG_MAX:
        if (!s->has || cmp_vals(t, s, i, d, p, len) < 0) {
            set_val(t, s, i, d, p, len);
        }
        break;
    case CF_AGG_FIRST:
        if (!s->has || ts < s->aux.i || (ts == s->aux.i && cmp_vals(t, s, i, d, p, len) > 0)) {
            set_val(t, s, i, d, p, len);
            s->aux.i = ts;
        }
        break;
    case CF_AGG_LAST:
        if (!s->has || ts > s->aux.i || (ts == s->aux.i && cmp_vals(t, s, i, d, p, len) < 0)) {
            set_val(t, s, i, d, p, len);
            s->aux.i = ts;
        }
        break;
    case CF_AGG_COUNT_DISTINCT:
        if (!s->v.set) {
            s->v.set = dset_create();
        }
        if (t == CF_TYPE_STRING) {
            dset_add(s->v.set, nonzero(cf_hash64(p, len, 0x64736574)), p, len, 0);
        } else {
            int64_t bits = i;
            if (t == CF_TYPE_DOUBLE) {
                double z = d == 0 ? 0 : d;
                memcpy(&bits, &z, sizeof(bits));
            }
            dset_add(s->v.set, nonzero(cf_hash_u64((uint64_t)bits, 0x64736574)), NULL, 0, bits);
        }
        break;
    case CF_AGG__COUNT: break;
    }
}

void cf_aggs_init(const struct cf_aggs *aggs, struct cf_agg_slot *acc)
{
    memset(acc, 0, cf_aggs_acc_size(aggs));
}

static int owns_string(const struct cf_agg_spec *spec)
{
    return spec->arg_type == CF_TYPE_STRING &&
           (spec->kind == CF_AGG_MIN || spec->kind == CF_AGG_MAX || spec->kind == CF_AGG_FIRST ||
            spec->kind == CF_AGG_LAST);
}

/* Heap bytes one slot owns (see cf_aggs_heap_bytes). */
static size_t slot_heap(const struct cf_agg_spec *spec, const struct cf_agg_slot *slot)
{
    if (spec->kind == CF_AGG_COUNT_DISTINCT && slot->v.set) {
        const struct cf_dset *set = slot->v.set;
        return sizeof(*set) + set->cap * sizeof(struct dset_entry) + set->arena.used;
    }
    if (owns_string(spec) && slot->has) {
        return slot->cap + 16;
    }
    return 0;
}

size_t cf_aggs_update(const struct cf_aggs *aggs, const struct cf_aggs_eval *ev,
                      struct cf_agg_slot *acc, uint32_t r, int64_t ts)
{
    size_t grown = 0;
    for (int k = 0; k < aggs->n; k++) {
        const struct cf_agg_spec *spec = &aggs->v[k];
        if (spec->kind == CF_AGG_COUNT_STAR) {
            acc[k].v.i++;
            continue;
        }
        const struct cf_col *col = &ev->cols[k];
        if (col->nulls[r]) {
            continue;
        }
        int64_t i = 0;
        double d = 0;
        const char *p = NULL;
        uint32_t len = 0;
        switch (col->type) {
        case CF_TYPE_STRING:
            p = col->v.str[r].ptr;
            len = col->v.str[r].len;
            if (!p) {
                p = "";
            }
            break;
        case CF_TYPE_DOUBLE: d = col->v.f64[r]; break;
        case CF_TYPE_BOOL: i = col->v.b[r]; break;
        default: i = col->v.i64[r]; break;
        }
        if (spec->kind == CF_AGG_COUNT_DISTINCT || owns_string(spec)) {
            size_t before = slot_heap(spec, &acc[k]);
            fold(spec, &acc[k], i, d, p, len, ts);
            grown += slot_heap(spec, &acc[k]) - before;
        } else {
            fold(spec, &acc[k], i, d, p, len, ts);
        }
    }
    return grown;
}

void cf_aggs_merge(const struct cf_aggs *aggs, struct cf_agg_slot *dst,
                   const struct cf_agg_slot *src)
{
    for (int k = 0; k < aggs->n; k++) {
        const struct cf_agg_spec *spec = &aggs->v[k];
        struct cf_agg_slot *d = &dst[k];
        const struct cf_agg_slot *s = &src[k];
        enum cf_type t = spec->arg_type;
        switch (spec->kind) {
        case CF_AGG_COUNT_STAR:
        case CF_AGG_COUNT: d->v.i += s->v.i; break;
        case CF_AGG_SUM:
            if (!s->has) {
                break;
            }
            if (t == CF_TYPE_DOUBLE) {
                d->v.d += s->v.d;
            } else if (__builtin_add_overflow(d->v.i, s->v.i, &d->v.i)) {
                d->overflow = 1;
            }
            d->overflow |= s->overflow;
            d->has = 1;
            break;
        case CF_AGG_AVG:
            d->v.d += s->v.d;
            d->aux.i += s->aux.i;
            d->has |= s->has;
            break;
        case CF_AGG_COUNT_DISTINCT:
            if (s->v.set && s->v.set->n) {
                if (!d->v.set) {
                    d->v.set = dset_create();
                }
                for (uint32_t i = 0; i < s->v.set->cap; i++) {
                    const struct dset_entry *e = &s->v.set->e[i];
                    if (e->h) {
                        dset_add(d->v.set, e->h, e->str ? dset_bytes(e) : NULL, e->len, e->u.v);
                    }
                }
            }
            break;
        default:
            if (s->has) {
                /* min, max, first, last: fold src's value with its event time. */
                fold(spec, d, s->v.i, s->v.d, t == CF_TYPE_STRING ? s->v.s : NULL, s->len,
                     s->aux.i);
            }
            break;
        }
    }
}

void cf_aggs_output(const struct cf_aggs *aggs, const struct cf_agg_slot *acc, struct cf_batch *out,
                    uint32_t r, uint32_t first_col)
{
    for (int k = 0; k < aggs->n; k++) {
        const struct cf_agg_spec *spec = &aggs->v[k];
        const struct cf_agg_slot *s = &acc[k];
        uint32_t c = first_col + (uint32_t)k;
        switch (spec->kind) {
        case CF_AGG_COUNT_STAR:
        case CF_AGG_COUNT: cf_batch_set_int(out, c, r, s->v.i); break;
        case CF_AGG_COUNT_DISTINCT: cf_batch_set_int(out, c, r, s->v.set ? s->v.set->n : 0); break;
        case CF_AGG_AVG:
            if (s->has && s->aux.i > 0) {
                cf_batch_set_double(out, c, r, s->v.d / (double)s->aux.i);
            }
            break;
        case CF_AGG_SUM:
            if (s->has && !s->overflow) {
                if (spec->out_type == CF_TYPE_DOUBLE) {
                    cf_batch_set_double(out, c, r, s->v.d);
                } else {
                    cf_batch_set_int(out, c, r, s->v.i);
                }
            }
            break;
        default:
            if (!s->has) {
                break;
            }
            switch (spec->out_type) {
            case CF_TYPE_STRING: cf_batch_set_str(out, c, r, s->v.s, s->len); break;
            case CF_TYPE_DOUBLE: cf_batch_set_double(out, c, r, s->v.d); break;
            case CF_TYPE_BOOL: cf_batch_set_bool(out, c, r, (int)s->v.i); break;
            default: cf_batch_set_int(out, c, r, s->v.i); break;
            }
            break;
        }
    }
}

void cf_aggs_free(const struct cf_aggs *aggs, struct cf_agg_slot *acc)
{
    for (int k = 0; k < aggs->n; k++) {
        if (aggs->v[k].kind == CF_AGG_COUNT_DISTINCT) {
            dset_destroy(acc[k].v.set);
            acc[k].v.set = NULL;
        } else if (owns_string(&aggs->v[k]) && acc[k].has) {
            cf_free(acc[k].v.s);
            acc[k].v.s = NULL;
            acc[k].cap = 0;
            acc[k].has = 0;
        }
    }
}

size_t cf_aggs_heap_bytes(const struct cf_aggs *aggs, const struct cf_agg_slot *acc)
{
    size_t bytes = 0;
    for (int k = 0; k < aggs->n; k++) {
        bytes += slot_heap(&aggs->v[k], &acc[k]);
    }
    return bytes;
}

/* ---- serialization: per slot has, overflow, then the kind's fields (host byte order) ---- */

static void put_bytes(struct cf_buf *out, const void *p, size_t n)
{
    cf_buf_append(out, p, n);
}

void cf_aggs_serialize(const struct cf_aggs *aggs, const struct cf_agg_slot *acc,
                       struct cf_buf *out)
{
    for (int k = 0; k < aggs->n; k++) {
        const struct cf_agg_spec *spec = &aggs->v[k];
        const struct cf_agg_slot *s = &acc[k];
        uint8_t flags[2] = {s->has, s->overflow};
        put_bytes(out, flags, 2);
        if (spec->kind == CF_AGG_COUNT_DISTINCT) {
            uint32_t n = s->v.set ? s->v.set->n : 0;
            put_bytes(out, &n, 4);
            for (uint32_t i = 0; s->v.set && i < s->v.set->cap; i++) {
                const struct dset_entry *e = &s->v.set->e[i];
                if (!e->h) {
                    continue;
                }
                put_bytes(out, &e->h, 8);
                if (spec->arg_type == CF_TYPE_STRING) {
                    put_bytes(out, &e->len, 4);
                    put_bytes(out, dset_bytes(e), e->len);
                } else {
                    put_bytes(out, &e->u.v, 8);
                }
            }
            continue;
        }
        put_bytes(out, &s->aux, 8);
        if (owns_string(spec)) {
            uint32_t len = s->has ? s->len : 0;
            put_bytes(out, &len, 4);
            if (len) {
                put_bytes(out, s->v.s, len);
            }
        } else {
            put_bytes(out, &s->v, 8);
        }
    }
}

struct reader {
    const uint8_t *p;
    size_t left;
};

static int take(struct reader *rd, void *dst, size_t n)
{
    if (rd->left < n) {
        return CF_EPARSE;
    }
    memcpy(dst, rd->p, n);
    rd->p += n;
    rd->left -= n;
    return 0;
}

int cf_aggs_deserialize(const struct cf_aggs *aggs, struct cf_agg_slot *acc, const void *data,
                        size_t len)
{
    struct reader rd = {data, len};
    cf_aggs_init(aggs, acc);
    for (int k = 0; k < aggs->n; k++) {
        const struct cf_agg_spec *spec = &aggs->v[k];
        struct cf_agg_slot *s = &acc[k];
        uint8_t flags[2];
        if (take(&rd, flags, 2)) {
            goto bad;
        }
        s->has = flags[0];
        s->overflow = flags[1];
        if (spec->kind == CF_AGG_COUNT_DISTINCT) {
            uint32_t n;
            if (take(&rd, &n, 4)) {
                goto bad;
            }
            if (n) {
                s->v.set = dset_create();
            }
            for (uint32_t i = 0; i < n; i++) {
                uint64_t h;
                if (take(&rd, &h, 8)) {
                    goto bad;
                }
                if (spec->arg_type == CF_TYPE_STRING) {
                    uint32_t slen;
                    if (take(&rd, &slen, 4) || rd.left < slen) {
                        goto bad;
                    }
                    dset_add(s->v.set, nonzero(h), (const char *)rd.p, slen, 0);
                    rd.p += slen;
                    rd.left -= slen;
                } else {
                    int64_t v;
                    if (take(&rd, &v, 8)) {
                        goto bad;
                    }
                    dset_add(s->v.set, nonzero(h), NULL, 0, v);
                }
            }
            continue;
        }
        if (take(&rd, &s->aux, 8)) {
            goto bad;
        }
        if (owns_string(spec)) {
            uint32_t slen;
            if (take(&rd, &slen, 4) || rd.left < slen) {
                goto bad;
            }
            if (s->has) {
                s->v.s = cf_malloc(slen ? slen : 1);
                memcpy(s->v.s, rd.p, slen);
                s->len = slen;
                s->cap = slen ? slen : 1;
            }
            rd.p += slen;
            rd.left -= slen;
        } else if (take(&rd, &s->v, 8)) {
            goto bad;
        }
    }
    return rd.left == 0 ? 0 : CF_EPARSE;
bad:
    cf_aggs_free(aggs, acc);
    return CF_EPARSE;
}
