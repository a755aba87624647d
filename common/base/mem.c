#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
    fprintf(stderr, "creekflow: out of memory allocating %zu bytes\n", size);
    abort();
}

void *cf_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        oom(size);
    }
    return p;
}

void *cf_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        oom(n * size);
    }
    return p;
}

void *cf_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        oom(size);
    }
    return q;
}

char *cf_strdup(const char *s)
{
    return cf_strndup(s, strlen(s));
}

char *cf_strndup(const char *s, size_t n)
{
    char *d = cf_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *cf_try_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

void cf_free(void *p)
{
    free(p);
}

char *cf_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = cf_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

struct cf_arena_chunk {
    struct cf_arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t off;  /* next free offset */
    _Alignas(8) unsigned char data[];
};

void cf_arena_init(struct cf_arena *arena, size_t chunk_size)
{
    arena->head = NULL;
    arena->spare = NULL;
    arena->chunk_size = chunk_size ? chunk_size : 32 * 1024;
    arena->used = 0;
}

static void free_chunks(struct cf_arena_chunk *c)
{
    while (c) {
        struct cf_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void cf_arena_destroy(struct cf_arena *arena)
{
    free_chunks(arena->head);
    free_chunks(arena->spare);
    arena->head = arena->spare = NULL;
    arena->used = 0;
}

void cf_arena_reset(struct cf_arena *arena)
{
    /* Keep standard-size chunks for reuse; free oversized ones so one huge record does not
     * pin memory for the arena's whole life. */
    size_t nspare = 0;
    for (struct cf_arena_chunk *s = arena->spare; s; s = s->next) {
        nspare++;
    }
    struct cf_arena_chunk *c = arena->head;
    while (c) {
        struct cf_arena_chunk *next = c->next;
        /* Bounded: an arena that absorbed others' chunks must not hoard them forever. */
        if (c->size == arena->chunk_size && nspare < 8) {
            nspare++;
            c->off = 0;
            c->next = arena->spare;
            arena->spare = c;
        } else {
            free(c);
        }
        c = next;
    }
    arena->head = NULL;
    arena->used = 0;
}

void *cf_arena_alloc(struct cf_arena *arena, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    struct cf_arena_chunk *c = arena->head;
    if (!c || c->size - c->off < size) {
        if (size <= arena->chunk_size && arena->spare) {
            c = arena->spare;
            arena->spare = c->next;
        } else {
            size_t csize = size > arena->chunk_size ? size : arena->chunk_size;
            c = cf_malloc(sizeof(*c) + csize);
            c->size = csize;
        }
        c->off = 0;
        c->next = arena->head;
        arena->head = c;
    }
    void *p = c->data + c->off;
    c->off += size;
    arena->used += size;
    return p;
}

char *cf_arena_strndup(struct cf_arena *arena, const char *s, size_t n)
{
    char *d = cf_arena_alloc(arena, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void cf_arena_absorb(struct cf_arena *dst, struct cf_arena *src)
{
    /* Append src's chunks behind dst's current head so dst keeps filling its own chunk. */
    struct cf_arena_chunk *c = src->head;
    while (c) {
        struct cf_arena_chunk *next = c->next;
        if (dst->head) {
            c->next = dst->head->next;
            dst->head->next = c;
        } else {
            c->next = NULL;
            dst->head = c;
        }
        c = next;
    }
    dst->used += src->used;
    src->head = NULL;
    src->used = 0;
}
