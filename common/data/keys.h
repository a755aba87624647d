/*
 * keys.h - hashing of key fields and key groups (DESIGN.md section 4).
 *
 * kg = hash(key) % max_parallelism; subtask = kg * parallelism / max_parallelism, so the
 * key groups of a subtask form one contiguous range and state can be rescaled by ranges.
 * The hash is part of the checkpoint format: do not change it.
 */
#ifndef CF_KEYS_H
#define CF_KEYS_H

#include <stdint.h>

#include "batch.h"

/* Hash of the key fields idx[0..nkeys) of rows [0, batch->n) into out. Any thread. */
void cf_keys_hash(const struct cf_batch *batch, const int *idx, int nkeys, uint64_t *out);
/* The hashes of the key fields idx[0..nkeys) of rows [0, batch->n): the batch's own when it
 * carries them for exactly these fields (batch->key_hash), else computed into scratch. Valid
 * until the batch or scratch changes. Any thread. */
const uint64_t *cf_keys_hashes(const struct cf_batch *batch, const int *idx, int nkeys,
                               uint64_t *scratch);
/* Hash of one row's key fields. */
uint64_t cf_keys_hash_row(const struct cf_batch *batch, const int *idx, int nkeys, uint32_t r);

static inline int cf_key_group(uint64_t hash, int max_parallelism)
{
    return (int)(hash % (uint64_t)max_parallelism);
}

static inline int cf_key_group_subtask(int key_group, int max_parallelism, int parallelism)
{
    return (int)((int64_t)key_group * parallelism / max_parallelism);
}

#endif
