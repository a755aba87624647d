/*
 * hash.h - a fast 64-bit hash for keys and key groups.
 *
 * The function is fixed: key groups are derived from it (kg = hash % max_parallelism) and
 * stored in checkpoints, so changing it breaks restoring state. Portable, endian-neutral.
 */
#ifndef CF_HASH_H
#define CF_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hashes len bytes with a seed. Any thread. */
uint64_t cf_hash64(const void *data, size_t len, uint64_t seed);
/* Hashes one 64-bit integer (a cheap mixer). */
uint64_t cf_hash_u64(uint64_t v, uint64_t seed);
/* Combines two hashes (order-sensitive), for composite keys. */
static inline uint64_t cf_hash_combine(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 12) + (h >> 4);
    return h;
}

#endif
