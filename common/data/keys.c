#include "keys.h"

#include <string.h>

#include "../base/hash.h"

#define NULL_HASH 0x6e756c6c6e756c6cULL /* any fixed value: all NULLs share a key */
#define KEY_SEED  0x43726565666c6f77ULL

static inline uint64_t value_hash(const struct cf_col *col, uint32_t r)
{
    if (col->nulls[r]) {
        return NULL_HASH;
    }
    switch (col->type) {
    case CF_TYPE_STRING: return cf_hash64(col->v.str[r].ptr, col->v.str[r].len, KEY_SEED);
    case CF_TYPE_DOUBLE: {
        double d = col->v.f64[r];
        uint64_t bits;
        if (d == 0) {
            d = 0; /* -0.0 and 0.0 are one key */
        }
        memcpy(&bits, &d, sizeof(bits));
        return cf_hash_u64(bits, KEY_SEED);
    }
    case CF_TYPE_BOOL: return cf_hash_u64(col->v.b[r], KEY_SEED);
    default: return cf_hash_u64((uint64_t)col->v.i64[r], KEY_SEED);
    }
}

uint64_t cf_keys_hash_row(const struct cf_batch *batch, const int *idx, int nkeys, uint32_t r)
{
    uint64_t h = KEY_SEED;
    for (int k = 0; k < nkeys; k++) {
        h = cf_hash_combine(h, value_hash(&batch->cols[idx[k]], r));
    }
    return h;
}

void cf_keys_hash(const struct cf_batch *batch, const int *idx, int nkeys, uint64_t *out)
{
    for (uint32_t r = 0; r < batch->n; r++) {
        out[r] = KEY_SEED;
    }
    for (int k = 0; k < nkeys; k++) {
        const struct cf_col *col = &batch->cols[idx[k]];
        for (uint32_t r = 0; r < batch->n; r++) {
            out[r] = cf_hash_combine(out[r], value_hash(col, r));
        }
    }
}

const uint64_t *cf_keys_hashes(const struct cf_batch *batch, const int *idx, int nkeys,
                               uint64_t *scratch)
{
    if (batch->hash_nkeys == nkeys && nkeys > 0 &&
        memcmp(batch->hash_keys, idx, (size_t)nkeys * sizeof(*idx)) == 0) {
        return batch->key_hash;
    }
    cf_keys_hash(batch, idx, nkeys, scratch);
    return scratch;
}
