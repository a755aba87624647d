/*
 * mem.h - allocation helpers and arenas.
 *
 * cf_malloc() and friends abort on failure: an allocation the program sized itself
 * cannot fail gracefully. cf_try_malloc() returns NULL, for sizes that come from outside.
 *
 * An arena is a bump allocator tied to a lifetime (a batch, a parse): everything allocated
 * from it is released at once by cf_arena_reset() or cf_arena_destroy(). Not thread-safe;
 * an arena belongs to one thread at a time (it may move with the batch that owns it).
 */
#ifndef CF_MEM_H
#define CF_MEM_H

#include <stddef.h>
#include <stdint.h>

void *cf_malloc(size_t size);
void *cf_calloc(size_t n, size_t size);
void *cf_realloc(void *p, size_t size);
char *cf_strdup(const char *s);
char *cf_strndup(const char *s, size_t n);
void *cf_try_malloc(size_t size);
void cf_free(void *p);

/* printf into a fresh cf_malloc'd string (caller frees). */
char *cf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define cf_new(type) ((type *)cf_calloc(1, sizeof(type)))

struct cf_arena_chunk;

struct cf_arena {
    struct cf_arena_chunk *head;  /* chunk being filled */
    struct cf_arena_chunk *spare; /* chunks kept by reset, reused before new ones */
    size_t chunk_size;            /* default size of a new chunk */
    size_t used;                  /* bytes handed out since the last reset */
};

/* Initializes an arena whose chunks are chunk_size bytes (0: 32 KiB). */
void cf_arena_init(struct cf_arena *arena, size_t chunk_size);
/* Frees every chunk. */
void cf_arena_destroy(struct cf_arena *arena);
/* Forgets every allocation but keeps the memory for reuse. */
void cf_arena_reset(struct cf_arena *arena);
/* Allocates size bytes aligned to 8. Never returns NULL. */
void *cf_arena_alloc(struct cf_arena *arena, size_t size);
/* Copies n bytes into the arena and NUL-terminates the copy. */
char *cf_arena_strndup(struct cf_arena *arena, const char *s, size_t n);
/* Moves every chunk of src into dst (src ends empty); pointers into src stay valid. */
void cf_arena_absorb(struct cf_arena *dst, struct cf_arena *src);

#endif
