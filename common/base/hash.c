#include "hash.h"

#include <string.h>

/*
 * A multiply-mix hash in the style of wyhash/rapidhash: 128-bit multiply folding, reading
 * 8 bytes at a time. Written for Creekflow; little-endian reads are made explicit so the
 * result is the same on every host.
 */
static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static const uint64_t K0 = 0xa0761d6478bd642fULL;
static const uint64_t K1 = 0xe7037ed1a0b428dbULL;
static const uint64_t K2 = 0x8ebc6af09c88c6e3ULL;

uint64_t cf_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ K0 ^ mix(seed ^ K1, (uint64_t)len ^ K2);
    size_t i = len;
    while (i > 16) {
        h = mix(rd64(p) ^ K1, rd64(p + 8) ^ h);
        p += 16;
        i -= 16;
    }
    uint64_t a = 0, b = 0;
    if (i >= 8) {
        a = rd64(p);
        b = rd64(p + i - 8);
    } else if (i >= 4) {
        a = rd32(p);
        b = rd32(p + i - 4);
    } else if (i > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[i >> 1] << 8) | p[i - 1];
    }
    return mix(K1 ^ (uint64_t)len, mix(a ^ K1, b ^ h));
}

uint64_t cf_hash_u64(uint64_t v, uint64_t seed)
{
    return mix(v ^ K0, seed ^ K1 ^ K2);
}
