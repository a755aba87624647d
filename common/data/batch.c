#include "batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../base/buf.h"
#include "../base/log.h"
#include "../base/timeutil.h"

struct cf_batch_pool {
    pthread_mutex_t lock;
    struct cf_schema *schema;
    struct cf_batch *free;
    uint32_t nfree;
    uint32_t keep;
};

size_t cf_type_width(enum cf_type type)
{
    switch (type) {
    case CF_TYPE_STRING: return sizeof(struct cf_str);
    case CF_TYPE_BOOL:
    case CF_TYPE_NULL: return 1;
    case CF_TYPE_DOUBLE: return sizeof(double);
    default: return sizeof(int64_t);
    }
}

struct cf_batch *cf_batch_create(struct cf_schema *schema, uint32_t cap)
{
    struct cf_batch *batch = cf_new(struct cf_batch);
    uint32_t nf = schema->nfields;
    batch->schema = cf_schema_keep(schema);
    batch->cap = cap;
    batch->refs = 1;
    batch->cols = cf_calloc(nf ? nf : 1, sizeof(*batch->cols));
    /* One allocation for all columns: values first (8-byte aligned), then null flags. */
    size_t bytes = (size_t)cap * sizeof(int64_t);
    for (uint32_t c = 0; c < nf; c++) {
        bytes += ((cf_type_width(schema->fields[c].type) * cap + 7) & ~(size_t)7) + cap;
        bytes = (bytes + 7) & ~(size_t)7;
    }
    char *mem = cf_malloc(bytes);
    batch->ts = (int64_t *)mem;
    size_t off = (size_t)cap * sizeof(int64_t);
    for (uint32_t c = 0; c < nf; c++) {
        struct cf_col *col = &batch->cols[c];
        col->type = schema->fields[c].type;
        col->v.data = mem + off;
        off += (cf_type_width(col->type) * cap + 7) & ~(size_t)7;
        col->nulls = (uint8_t *)(mem + off);
        off = (off + cap + 7) & ~(size_t)7;
    }
    cf_arena_init(&batch->arena, 32 * 1024);
    return batch;
}

void cf_batch_destroy(struct cf_batch *batch)
{
    if (!batch) {
        return;
    }
    cf_batch_reset(batch); /* the pins */
    cf_free(batch->pins);
    cf_free(batch->key_hash);
    cf_arena_destroy(&batch->arena);
    cf_free(batch->ts);
    cf_free(batch->cols);
    cf_schema_release(batch->schema);
    cf_free(batch);
}

void cf_batch_reset(struct cf_batch *batch)
{
    batch->n = 0;
    batch->hash_nkeys = 0;
    cf_arena_reset(&batch->arena);
    for (uint32_t i = 0; i < batch->npins; i++) {
        cf_batch_release(batch->pins[i]);
    }
    batch->npins = 0;
}

void cf_batch_pin(struct cf_batch *dst, struct cf_batch *src)
{
    if (dst->npins && dst->pins[dst->npins - 1] == src) {
        return;
    }
    if (dst->npins == dst->cap_pins) {
        dst->cap_pins = dst->cap_pins ? dst->cap_pins * 2 : 4;
        dst->pins = cf_realloc(dst->pins, dst->cap_pins * sizeof(*dst->pins));
    }
    __atomic_add_fetch(&src->refs, 1, __ATOMIC_RELAXED);
    dst->pins[dst->npins++] = src;
}

void cf_batch_take_strings(struct cf_batch *dst, struct cf_batch *src)
{
    cf_arena_absorb(&dst->arena, &src->arena);
    for (uint32_t i = 0; i < src->npins; i++) {
        cf_batch_pin(dst, src->pins[i]);
        cf_batch_release(src->pins[i]); /* src's reference, now dst's */
    }
    src->npins = 0;
}

struct cf_batch_pool *cf_batch_pool_create(struct cf_schema *schema, uint32_t keep)
{
    struct cf_batch_pool *pool = cf_new(struct cf_batch_pool);
    pthread_mutex_init(&pool->lock, NULL);
    pool->schema = cf_schema_keep(schema);
    pool->keep = keep;
    return pool;
}

void cf_batch_pool_destroy(struct cf_batch_pool *pool)
{
    if (!pool) {
        return;
    }
    struct cf_batch *b = pool->free;
    while (b) {
        struct cf_batch *next = b->next;
        cf_batch_destroy(b);
        b = next;
    }
    cf_schema_release(pool->schema);
    pthread_mutex_destroy(&pool->lock);
    cf_free(pool);
}

struct cf_schema *cf_batch_pool_schema(struct cf_batch_pool *pool)
{
    return pool->schema;
}

struct cf_batch *cf_batch_pool_get(struct cf_batch_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    struct cf_batch *batch = pool->free;
    if (batch) {
        pool->free = batch->next;
        pool->nfree--;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!batch) {
        batch = cf_batch_create(pool->schema, CF_BATCH_ROWS);
        batch->pool = pool;
    }
    batch->next = NULL;
    batch->refs = 1;
    return batch;
}

void cf_batch_release(struct cf_batch *batch)
{
    if (!batch) {
        return;
    }
    /* The last reference frees: its holder saw every write of the others (acq_rel). */
    if (__atomic_sub_fetch(&batch->refs, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    struct cf_batch_pool *pool = batch->pool;
    if (!pool) {
        cf_batch_destroy(batch);
        return;
    }
    cf_batch_reset(batch);
    pthread_mutex_lock(&pool->lock);
    if (pool->nfree < pool->keep) {
        batch->next = pool->free;
        pool->free = batch;
        pool->nfree++;
        batch = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    cf_batch_destroy(batch);
}

void cf_batch_set_str(struct cf_batch *batch, uint32_t c, uint32_t r, const char *s, size_t len)
{
    char *copy = cf_arena_alloc(&batch->arena, len ? len : 1);
    memcpy(copy, s, len);
    cf_batch_set_str_ref(batch, c, r, copy, (uint32_t)len);
}

uint32_t cf_batch_copy_row(struct cf_batch *dst, const struct cf_batch *src, uint32_t r)
{
    cf_assert(dst->schema->nfields == src->schema->nfields);
    uint32_t d = dst->n++;
    dst->ts[d] = src->ts[r];
    for (uint32_t c = 0; c < src->schema->nfields; c++) {
        const struct cf_col *sc = &src->cols[c];
        struct cf_col *dc = &dst->cols[c];
        dc->nulls[d] = sc->nulls[r];
        if (sc->nulls[r]) {
            continue;
        }
        switch (sc->type) {
        case CF_TYPE_STRING: cf_batch_set_str(dst, c, d, sc->v.str[r].ptr, sc->v.str[r].len); break;
        case CF_TYPE_DOUBLE: dc->v.f64[d] = sc->v.f64[r]; break;
        case CF_TYPE_BOOL: dc->v.b[d] = sc->v.b[r]; break;
        default: dc->v.i64[d] = sc->v.i64[r]; break;
        }
    }
    return d;
}

void cf_batch_compact(struct cf_batch *batch, const uint8_t *keep)
{
    uint32_t n = batch->n;
    uint32_t first = 0;
    while (first < n && keep[first]) {
        first++;
    }
    if (first == n) {
        return;
    }
    uint32_t w = first;
    for (uint32_t c = 0; c < batch->schema->nfields; c++) {
        struct cf_col *col = &batch->cols[c];
        size_t width = cf_type_width(col->type);
        char *data = col->v.data;
        uint32_t o = first;
        for (uint32_t i = first; i < n; i++) {
            if (keep[i]) {
                memcpy(data + o * width, data + i * width, width);
                col->nulls[o] = col->nulls[i];
                o++;
            }
        }
    }
    for (uint32_t i = first; i < n; i++) {
        if (keep[i]) {
            batch->ts[w] = batch->ts[i];
            if (batch->hash_nkeys) {
                batch->key_hash[w] = batch->key_hash[i];
            }
            w++;
        }
    }
    batch->n = w;
}

void cf_batch_value_text(const struct cf_batch *batch, uint32_t c, uint32_t r, struct cf_buf *buf)
{
    const struct cf_col *col = &batch->cols[c];
    if (col->nulls[r]) {
        cf_buf_puts(buf, "null");
        return;
    }
    char tmp[40];
    switch (col->type) {
    case CF_TYPE_STRING: cf_buf_append(buf, col->v.str[r].ptr, col->v.str[r].len); break;
    case CF_TYPE_INT: cf_buf_appendf(buf, "%" PRId64, col->v.i64[r]); break;
    case CF_TYPE_DOUBLE: cf_buf_appendf(buf, "%.17g", col->v.f64[r]); break;
    case CF_TYPE_BOOL: cf_buf_puts(buf, col->v.b[r] ? "true" : "false"); break;
    case CF_TYPE_TIMESTAMP:
        cf_ts_format(col->v.i64[r], tmp, sizeof(tmp));
        cf_buf_puts(buf, tmp);
        break;
    default: cf_buf_puts(buf, "?"); break;
    }
}
