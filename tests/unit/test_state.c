/* Unit tests of the LMDB keyed state backend (worker/state.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base/err.h"
#include "common/base/mem.h"
#include "worker/state.h"

/* Each test gets a fresh temporary directory; teardown removes whatever is left in it. */
struct fx {
    char base[256];
};

static int setup(void **state)
{
    struct fx *fx = cf_new(struct fx);
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->base, sizeof(fx->base), "%s/cf_test_state.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->base)) {
        cf_free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    int rc = nftw(fx->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cf_free(fx);
    return rc;
}

/* fx->base/name, in one of 16 static buffers used in turn: copy a path that must survive
 * more calls. */
static const char *path_in(void **state, const char *name)
{
    static char bufs[16][512];
    static int slot;
    struct fx *fx = *state;
    char *p = bufs[slot++ % 16];
    snprintf(p, 512, "%s/%s", fx->base, name);
    return p;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static struct cf_state *open_ok(const char *dir)
{
    struct cf_state *st = NULL;
    struct cf_err err;
    int rc = cf_state_open(dir, &st, &err);
    if (rc) {
        fail_msg("cf_state_open(%s): %s", dir, err.msg);
    }
    assert_non_null(st);
    return st;
}

static struct cf_state_ns *ns_ok(struct cf_state *st, const char *name)
{
    struct cf_state_ns *ns = NULL;
    struct cf_err err;
    int rc = cf_state_ns_open(st, name, &ns, &err);
    if (rc) {
        fail_msg("cf_state_ns_open(%s): %s", name, err.msg);
    }
    assert_non_null(ns);
    return ns;
}

static void put_str(struct cf_state_ns *ns, int kg, const char *key, const char *val)
{
    assert_int_equal(cf_state_put(ns, kg, key, strlen(key), val, strlen(val)), 0);
}

/* Asserts that (kg, key) holds exactly the string want. */
static void assert_get(struct cf_state_ns *ns, int kg, const char *key, const char *want)
{
    const void *val = NULL;
    size_t vlen = 0;
    assert_int_equal(cf_state_get(ns, kg, key, strlen(key), &val, &vlen), 0);
    assert_int_equal(vlen, strlen(want));
    assert_memory_equal(val, want, vlen);
}

static void assert_absent(struct cf_state_ns *ns, int kg, const char *key)
{
    const void *val;
    size_t vlen;
    assert_int_equal(cf_state_get(ns, kg, key, strlen(key), &val, &vlen), CF_ENOENT);
}

/* Collects what a scan visits: "kg:key=val" strings (keys here are printable or \xNN). */
struct seen {
    int n;
    int stop_after; /* 0: never stop */
    char items[64][96];
};

static int collect(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct seen *s = arg;
    char *out = s->items[s->n % 64];
    int len = snprintf(out, 96, "%d:", kg);
    for (size_t i = 0; i < klen && len < 80; i++) {
        unsigned char c = ((const unsigned char *)key)[i];
        len += c >= 0x20 && c < 0x7f ? snprintf(out + len, 96 - (size_t)len, "%c", c)
                                     : snprintf(out + len, 96 - (size_t)len, "\\x%02x", c);
    }
    snprintf(out + len, 96 - (size_t)len, "=%.*s", (int)(vlen > 8 ? 8 : vlen), (const char *)val);
    s->n++;
    return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static void assert_scan(struct cf_state_ns *ns, int kg, const void *prefix, size_t plen,
                        const char *const *want, int nwant)
{
    struct seen s = {0};
    assert_int_equal(cf_state_scan(ns, kg, prefix, plen, collect, &s), 0);
    for (int i = 0; i < s.n && i < nwant; i++) {
        assert_string_equal(s.items[i], want[i]);
    }
    assert_int_equal(s.n, nwant);
}

static int count_cb(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)kg;
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (*(int64_t *)arg)++;
    return 0;
}

static int64_t count(struct cf_state_ns *ns, int kg, const void *prefix, size_t plen)
{
    int64_t n = 0;
    assert_int_equal(cf_state_scan(ns, kg, prefix, plen, count_cb, &n), 0);
    return n;
}

static void test_roundtrip(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *a = ns_ok(st, "window-1");
    struct cf_state_ns *b = ns_ok(st, "window-2");
    assert_ptr_equal(ns_ok(st, "window-1"), a);
    assert_string_equal(cf_state_ns_name(b), "window-2");

    assert_int_equal(cf_state_in_txn(st), 0);
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_in_txn(st), 1);
    /* The same user key in two namespaces and two key groups: four distinct entries. */
    put_str(a, 1, "user-7", "a1");
    put_str(a, 2, "user-7", "a2");
    put_str(b, 1, "user-7", "b1");
    put_str(b, 2, "user-7", "b2");
    /* Reads inside the write transaction see its writes. */
    assert_get(a, 1, "user-7", "a1");
    assert_get(b, 2, "user-7", "b2");
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(cf_state_in_txn(st), 0);

    /* Outside a transaction: the kept read transaction. */
    assert_get(a, 1, "user-7", "a1");
    assert_get(a, 2, "user-7", "a2");
    assert_get(b, 1, "user-7", "b1");
    assert_get(b, 2, "user-7", "b2");
    assert_absent(a, 3, "user-7");
    assert_absent(a, 1, "user-8");
    assert_absent(a, 1, "user-");

    /* Overwrite (longer, then shorter) and delete. */
    assert_int_equal(cf_state_begin(st), 0);
    put_str(a, 1, "user-7", "a1-overwritten-with-a-longer-value");
    assert_get(a, 1, "user-7", "a1-overwritten-with-a-longer-value");
    put_str(a, 1, "user-7", "x");
    assert_int_equal(cf_state_del(b, 1, "user-7", 6), 0);
    assert_int_equal(cf_state_del(b, 1, "user-7", 6), CF_ENOENT);
    assert_int_equal(cf_state_del(b, 3, "user-7", 6), CF_ENOENT);
    assert_absent(b, 1, "user-7");
    assert_int_equal(cf_state_commit(st), 0);
    assert_get(a, 1, "user-7", "x");
    assert_get(a, 2, "user-7", "a2");
    assert_absent(b, 1, "user-7");
    assert_get(b, 2, "user-7", "b2");

    /* An empty key is a valid key (just the key group), distinct per key group. */
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_put(a, 0, NULL, 0, "e0", 2), 0);
    assert_int_equal(cf_state_put(a, CF_STATE_KEY_GROUPS - 1, "", 0, "eM", 2), 0);
    assert_int_equal(cf_state_commit(st), 0);
    assert_get(a, 0, "", "e0");
    assert_get(a, CF_STATE_KEY_GROUPS - 1, "", "eM");
    assert_absent(a, 1, "");

    /* Pointers from get() stay valid across other gets outside a transaction. */
    const void *v1, *v2;
    size_t l1, l2;
    assert_int_equal(cf_state_get(a, 2, "user-7", 6, &v1, &l1), 0);
    assert_int_equal(cf_state_get(b, 2, "user-7", 6, &v2, &l2), 0);
    assert_memory_equal(v1, "a2", 2);
    assert_memory_equal(v2, "b2", 2);

    struct cf_err err;
    struct cf_state_ns *bad = NULL;
    assert_int_equal(cf_state_ns_open(st, "", &bad, &err), CF_EINVAL);
    assert_null(bad);
    cf_state_close(st, 1);
}

static void test_value_sizes(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    size_t big = 1 << 20;
    unsigned char *mb = cf_malloc(big);
    for (size_t i = 0; i < big; i++) {
        mb[i] = (unsigned char)(i * 2654435761u >> 13);
    }
    const void *val;
    size_t vlen;

    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_put(ns, 3, "empty", 5, NULL, 0), 0);
    assert_int_equal(cf_state_put(ns, 3, "empty2", 6, "ignored", 0), 0);
    assert_int_equal(cf_state_put(ns, 3, "mb", 2, mb, big), 0);
    assert_int_equal(cf_state_get(ns, 3, "mb", 2, &val, &vlen), 0);
    assert_int_equal(vlen, big);
    assert_memory_equal(val, mb, big);
    assert_int_equal(cf_state_commit(st), 0);

    vlen = 99;
    assert_int_equal(cf_state_get(ns, 3, "empty", 5, &val, &vlen), 0);
    assert_int_equal(vlen, 0);
    vlen = 99;
    assert_int_equal(cf_state_get(ns, 3, "empty2", 6, &val, &vlen), 0);
    assert_int_equal(vlen, 0);
    assert_int_equal(cf_state_get(ns, 3, "mb", 2, &val, &vlen), 0);
    assert_int_equal(vlen, big);
    assert_memory_equal(val, mb, big);

    /* Shrink the 1 MB value to 1 byte and grow the empty one to 1 MB. */
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_put(ns, 3, "mb", 2, "z", 1), 0);
    assert_int_equal(cf_state_put(ns, 3, "empty", 5, mb, big), 0);
    assert_int_equal(cf_state_commit(st), 0);
    assert_get(ns, 3, "mb", "z");
    assert_int_equal(cf_state_get(ns, 3, "empty", 5, &val, &vlen), 0);
    assert_int_equal(vlen, big);
    assert_memory_equal(val, mb, big);

    uint64_t entries, bytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 3);
    assert_true(bytes >= big);
    cf_free(mb);
    cf_state_close(st, 1);
}

/* Keys inserted out of order for the scan tests: 0xff bytes, key groups 0, 5, 6 and 32767. */
static void fill_scan_keys(struct cf_state_ns *ns)
{
    static const struct {
        int kg;
        const char *key;
        size_t klen;
    } keys[] = {
        {5, "b", 1},
        {5, "ab", 2},
        {5, "a", 1},
        {5, "\xff\xff", 2},
        {6, "a", 1},
        {5, "aa", 2},
        {5, "\xff\xfe", 2},
        {0, "a", 1},
        {5, "\xff\xff\x00", 3},
        {32767, "\xff\xff\xff", 3},
        {6, "\xff\xff", 2},
        {5, "\xff\xff\xff", 3},
        {0, "", 0},
        {5, "abc", 3},
        {32767, "a", 1},
        {5, "ac", 2},
        {0, "\xff", 1},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char val[8];
        snprintf(val, sizeof(val), "v%zu", i);
        assert_int_equal(cf_state_put(ns, keys[i].kg, keys[i].key, keys[i].klen, val, strlen(val)),
                         0);
    }
}

static void test_scan(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    struct cf_state_ns *other = ns_ok(st, "other");
    assert_scan(ns, -1, NULL, 0, NULL, 0); /* empty namespace */
    assert_int_equal(cf_state_begin(st), 0);
    fill_scan_keys(ns);
    put_str(other, 5, "a", "not-mine");
    /* Inside the write transaction the scan sees the uncommitted entries. */
    assert_int_equal(count(ns, -1, NULL, 0), 17);
    assert_int_equal(cf_state_commit(st), 0);

    /* One key group, no prefix: memcmp order, shorter keys first. */
    static const char *const kg5[] = {
        "5:a=v2",
        "5:aa=v5",
        "5:ab=v1",
        "5:abc=v13",
        "5:ac=v15",
        "5:b=v0",
        "5:\\xff\\xfe=v6",
        "5:\\xff\\xff=v3",
        "5:\\xff\\xff\\x00=v8",
        "5:\\xff\\xff\\xff=v11",
    };
    assert_scan(ns, 5, NULL, 0, kg5, 10);
    /* Prefix bounds: "a" includes "a" itself, excludes "b"; "ab" includes "abc". */
    assert_scan(ns, 5, "a", 1, kg5, 5);
    static const char *const ab[] = {"5:ab=v1", "5:abc=v13"};
    assert_scan(ns, 5, "ab", 2, ab, 2);
    assert_scan(ns, 5, "abcd", 4, NULL, 0);
    assert_scan(ns, 5, "c", 1, NULL, 0);
    /* An all-0xff prefix: no "prefix + 1" upper bound exists; must stop at the key group. */
    static const char *const ff5[] = {"5:\\xff\\xff=v3", "5:\\xff\\xff\\x00=v8",
                                      "5:\\xff\\xff\\xff=v11"};
    assert_scan(ns, 5, "\xff\xff", 2, ff5, 3);
    static const char *const ff6[] = {"6:\\xff\\xff=v10"};
    assert_scan(ns, 6, "\xff\xff", 2, ff6, 1);
    static const char *const fffall[] = {"5:\\xff\\xff\\xff=v11", "32767:\\xff\\xff\\xff=v9"};
    assert_scan(ns, -1, "\xff\xff\xff", 3, fffall, 2);
    /* Key group boundaries 0 and 32767. */
    static const char *const kg0[] = {"0:=v12", "0:a=v7", "0:\\xff=v16"};
    assert_scan(ns, 0, NULL, 0, kg0, 3);
    static const char *const kgmax[] = {"32767:a=v14", "32767:\\xff\\xff\\xff=v9"};
    assert_scan(ns, 32767, NULL, 0, kgmax, 2);
    assert_scan(ns, 1, NULL, 0, NULL, 0);
    assert_scan(ns, 32766, NULL, 0, NULL, 0);
    /* All key groups: key group order, then key order. */
    const char *const all[] = {
        "0:=v12", "0:a=v7", "0:\\xff=v16", kg5[0],   kg5[1],
        kg5[2],   kg5[3],   kg5[4],        kg5[5],   kg5[6],
        kg5[7],   kg5[8],   kg5[9],        "6:a=v4", "6:\\xff\\xff=v10",
        kgmax[0], kgmax[1],
    };
    assert_scan(ns, -1, NULL, 0, all, 17);
    /* All key groups with a prefix skips from group to group. */
    static const char *const aall[] = {"0:a=v7",    "5:a=v2",   "5:aa=v5", "5:ab=v1",
                                       "5:abc=v13", "5:ac=v15", "6:a=v4",  "32767:a=v14"};
    assert_scan(ns, -1, "a", 1, aall, 8);
    static const char *const ffall[] = {"5:\\xff\\xff=v3", "5:\\xff\\xff\\x00=v8",
                                        "5:\\xff\\xff\\xff=v11", "6:\\xff\\xff=v10",
                                        "32767:\\xff\\xff\\xff=v9"};
    assert_scan(ns, -1, "\xff\xff", 2, ffall, 5);
    assert_scan(ns, -1, "zz", 2, NULL, 0);

    /* Stopping: the callback's value comes back and nothing more is visited. */
    struct seen s = {.stop_after = 3};
    assert_int_equal(cf_state_scan(ns, -1, NULL, 0, collect, &s), 7);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.items[2], "0:\\xff=v16");

    /* The other namespace is untouched by all of the above. */
    static const char *const oth[] = {"5:a=not-mine"};
    assert_scan(other, -1, NULL, 0, oth, 1);

    /* A prefix as long as the longest key is fine; longer is CF_ERANGE. */
    char longp[CF_STATE_KEY_MAX + 1];
    memset(longp, 'a', sizeof(longp));
    assert_int_equal(count(ns, 5, longp, CF_STATE_KEY_MAX), 0);
    struct seen s2 = {0};
    assert_int_equal(cf_state_scan(ns, 5, longp, sizeof(longp), collect, &s2), CF_ERANGE);
    assert_non_null(strstr(cf_state_errmsg(st), "prefix"));
    cf_state_close(st, 1);
}

/* Deletes inside a scan are not allowed, so a typical caller collects first: check that a get
 * from inside the callback (another namespace) does not disturb the scan. */
struct nested {
    struct cf_state_ns *other;
    int hits;
    int visited;
};

static int nested_cb(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct nested *n = arg;
    const void *v;
    size_t l;
    (void)val;
    (void)vlen;
    n->visited++;
    if (cf_state_get(n->other, kg, key, klen, &v, &l) == 0) {
        n->hits++;
    }
    return 0;
}

static void test_scan_with_get(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "a");
    struct cf_state_ns *other = ns_ok(st, "b");
    assert_int_equal(cf_state_begin(st), 0);
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "k%05d", i);
        assert_int_equal(cf_state_put(ns, i % 7, key, (size_t)n, "v", 1), 0);
        if (i % 3 == 0) {
            assert_int_equal(cf_state_put(other, i % 7, key, (size_t)n, "w", 1), 0);
        }
    }
    assert_int_equal(cf_state_commit(st), 0);
    struct nested n = {.other = other};
    assert_int_equal(cf_state_scan(ns, -1, "k0", 2, nested_cb, &n), 0);
    assert_int_equal(n.visited, 1000);
    assert_int_equal(n.hits, 334);
    /* And the same inside a write transaction. */
    assert_int_equal(cf_state_begin(st), 0);
    n = (struct nested){.other = other};
    assert_int_equal(cf_state_scan(ns, 3, NULL, 0, nested_cb, &n), 0);
    assert_int_equal(n.visited, 143); /* i % 7 == 3 for i < 1000 */
    assert_int_equal(n.hits, 48);     /* and i % 3 == 0: i % 21 == 3 */
    cf_state_abort(st);
    cf_state_close(st, 1);
}

/* Every entry of a namespace, for the brute-force comparison below. */
struct entry {
    int kg;
    unsigned char key[8];
    size_t klen;
};

struct entries {
    struct entry e[4096];
    int n;
};

static int entries_cb(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct entries *es = arg;
    (void)val;
    (void)vlen;
    assert_true(es->n < 4096 && klen <= 8);
    es->e[es->n].kg = kg;
    memcpy(es->e[es->n].key, key, klen);
    es->e[es->n].klen = klen;
    es->n++;
    return 0;
}

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static int entry_matches(const struct entry *e, int kg, const unsigned char *prefix, size_t plen)
{
    return (kg < 0 || e->kg == kg) && e->klen >= plen && memcmp(e->key, prefix, plen) == 0;
}

/*
 * Random keys over a tiny alphabet (0x00, 'a', 0xff) in key groups at the edges, and random
 * (key group, prefix) scans and deletes compared with filtering the full list: exercises the
 * group-to-group skipping of key group -1 and every prefix boundary.
 */
static void test_scan_random(void **state)
{
    static const int groups[] = {0, 1, 2, 255, 256, 257, 32766, 32767};
    static const unsigned char alpha[] = {0x00, 'a', 0xff};
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    static struct entries all, got;
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        assert_int_equal(cf_state_begin(st), 0);
        assert_true(cf_state_delete_prefix(ns, -1, NULL, 0) >= 0);
        int nput = (int)rnd(&seed) % 400;
        for (int i = 0; i < nput; i++) {
            unsigned char key[4];
            size_t klen = rnd(&seed) % 5;
            for (size_t j = 0; j < klen; j++) {
                key[j] = alpha[rnd(&seed) % 3];
            }
            int kg = groups[rnd(&seed) % 8];
            assert_int_equal(cf_state_put(ns, kg, key, klen, "v", 1), 0);
        }
        assert_int_equal(cf_state_commit(st), 0);
        all.n = 0;
        assert_int_equal(cf_state_scan(ns, -1, NULL, 0, entries_cb, &all), 0);
        for (int i = 1; i < all.n; i++) { /* strictly increasing (kg, key) */
            const struct entry *a = &all.e[i - 1], *b = &all.e[i];
            size_t m = a->klen < b->klen ? a->klen : b->klen;
            int c = memcmp(a->key, b->key, m);
            assert_true(a->kg < b->kg ||
                        (a->kg == b->kg && (c < 0 || (c == 0 && a->klen < b->klen))));
        }
        for (int q = 0; q < 200; q++) {
            unsigned char prefix[4];
            size_t plen = rnd(&seed) % 4;
            for (size_t j = 0; j < plen; j++) {
                prefix[j] = alpha[rnd(&seed) % 3];
            }
            int kg = rnd(&seed) % 3 == 0 ? -1 : groups[rnd(&seed) % 8] + (int)(rnd(&seed) % 2);
            if (kg >= CF_STATE_KEY_GROUPS) {
                kg = -1;
            }
            got.n = 0;
            assert_int_equal(cf_state_scan(ns, kg, prefix, plen, entries_cb, &got), 0);
            int k = 0;
            for (int i = 0; i < all.n; i++) {
                if (entry_matches(&all.e[i], kg, prefix, plen)) {
                    assert_true(k < got.n);
                    assert_int_equal(got.e[k].kg, all.e[i].kg);
                    assert_int_equal(got.e[k].klen, all.e[i].klen);
                    assert_memory_equal(got.e[k].key, all.e[i].key, all.e[i].klen);
                    k++;
                }
            }
            assert_int_equal(k, got.n);
            if (q % 50 == 49) { /* now and then delete what matched, in a txn we abort */
                assert_int_equal(cf_state_begin(st), 0);
                assert_int_equal(cf_state_delete_prefix(ns, kg, prefix, plen), k);
                assert_int_equal(count(ns, kg, prefix, plen), 0);
                assert_int_equal(count(ns, -1, NULL, 0), all.n - k);
                cf_state_abort(st);
            }
        }
    }
    cf_state_close(st, 1);
}

static void test_delete_prefix(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_delete_prefix(ns, -1, NULL, 0), 0); /* empty namespace */
    fill_scan_keys(ns);
    assert_int_equal(cf_state_delete_prefix(ns, 5, "zz", 2), 0);
    assert_int_equal(cf_state_delete_prefix(ns, 5, "ab", 2), 2);
    assert_int_equal(cf_state_delete_prefix(ns, 5, "ab", 2), 0);
    assert_int_equal(cf_state_delete_prefix(ns, 5, "\xff\xff", 2), 3);
    assert_int_equal(count(ns, 5, NULL, 0), 5);
    assert_int_equal(count(ns, 6, NULL, 0), 2); /* the next key group is untouched */
    assert_int_equal(cf_state_delete_prefix(ns, -1, "a", 1), 6);
    static const char *const left[] = {"0:=v12",           "0:\\xff=v16",
                                       "5:b=v0",           "5:\\xff\\xfe=v6",
                                       "6:\\xff\\xff=v10", "32767:\\xff\\xff\\xff=v9"};
    assert_scan(ns, -1, NULL, 0, left, 6);
    assert_int_equal(cf_state_delete_prefix(ns, 0, NULL, 0), 2);
    assert_int_equal(cf_state_delete_prefix(ns, 32767, NULL, 0), 1);
    assert_int_equal(cf_state_commit(st), 0);
    static const char *const left2[] = {"5:b=v0", "5:\\xff\\xfe=v6", "6:\\xff\\xff=v10"};
    assert_scan(ns, -1, NULL, 0, left2, 3);

    /* Many pages: 200 key groups x 3 windows x 100 keys; delete one window everywhere, then
     * one key group, then all. Cursor deletes cross page boundaries. */
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_delete_prefix(ns, -1, NULL, 0), 3);
    for (int kg = 0; kg < 200; kg++) {
        for (int w = 0; w < 3; w++) {
            for (int k = 0; k < 100; k++) {
                char key[32];
                int n = snprintf(key, sizeof(key), "w%d/key-%04d", w, k);
                assert_int_equal(cf_state_put(ns, kg * 97, key, (size_t)n, key, (size_t)n), 0);
            }
        }
    }
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(count(ns, -1, NULL, 0), 60000);
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_delete_prefix(ns, -1, "w1/", 3), 20000);
    assert_int_equal(count(ns, -1, "w1/", 3), 0);
    assert_int_equal(count(ns, -1, "w0/", 3), 20000);
    assert_int_equal(count(ns, -1, "w2/", 3), 20000);
    assert_int_equal(cf_state_delete_prefix(ns, 97 * 5, NULL, 0), 200);
    assert_int_equal(count(ns, 97 * 4, NULL, 0), 200);
    assert_int_equal(count(ns, 97 * 6, NULL, 0), 200);
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(count(ns, -1, NULL, 0), 39800);
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_delete_prefix(ns, -1, NULL, 0), 39800);
    assert_int_equal(cf_state_commit(st), 0);
    uint64_t entries, bytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 0);
    cf_state_close(st, 1);
}

static void test_abort(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    cf_state_abort(st); /* no transaction: no-op */
    assert_int_equal(cf_state_begin(st), 0);
    put_str(ns, 1, "keep", "1");
    put_str(ns, 1, "change", "old");
    assert_int_equal(cf_state_commit(st), 0);

    assert_int_equal(cf_state_begin(st), 0);
    put_str(ns, 1, "change", "new");
    put_str(ns, 1, "added", "x");
    assert_int_equal(cf_state_del(ns, 1, "keep", 4), 0);
    assert_int_equal(cf_state_delete_prefix(ns, -1, NULL, 0), 2);
    cf_state_abort(st);
    assert_int_equal(cf_state_in_txn(st), 0);

    assert_get(ns, 1, "keep", "1");
    assert_get(ns, 1, "change", "old");
    assert_absent(ns, 1, "added");
    uint64_t entries, bytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 2);

    /* Closing with a transaction open discards it too. */
    assert_int_equal(cf_state_begin(st), 0);
    put_str(ns, 1, "lost", "x");
    cf_state_close(st, 0);
    st = open_ok(path_in(state, "st"));
    ns = ns_ok(st, "op");
    assert_absent(ns, 1, "lost");
    assert_get(ns, 1, "keep", "1");
    cf_state_close(st, 1);
}

/*
 * Where the address space is limited (`ulimit -v`, valgrind), the 64 GB map is refused and
 * the state opens with a smaller one: in a child process limited to 2 GB, a state directory
 * opens, takes writes, reads them back and reopens.
 */
static void test_small_address_space(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* ASan's shadow memory needs terabytes of address space: the plain run tests it */
#endif
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path_in(state, "small-as"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {(rlim_t)2 << 30, (rlim_t)2 << 30};
        if (setrlimit(RLIMIT_AS, &lim) != 0) {
            _exit(10);
        }
        for (int round = 0; round < 2; round++) {
            struct cf_state *st = NULL;
            struct cf_state_ns *ns = NULL;
            struct cf_err err;
            if (cf_state_open(dir, &st, &err) != 0) {
                fprintf(stderr, "open: %s\n", err.msg);
                _exit(11);
            }
            if (cf_state_ns_open(st, "n", &ns, &err) != 0 || cf_state_begin(st) != 0) {
                _exit(12);
            }
            char key[16];
            snprintf(key, sizeof(key), "k%d", round);
            if (cf_state_put(ns, 3, key, strlen(key), "v", 1) != 0 || cf_state_commit(st) != 0) {
                _exit(13);
            }
            const void *val = NULL;
            size_t vlen = 0;
            if (cf_state_get(ns, 3, "k0", 2, &val, &vlen) != 0 || vlen != 1) {
                _exit(14);
            }
            cf_state_close(st, round == 1);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_reopen(void **state)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path_in(state, "nested/dirs/st")); /* parents are made */
    struct cf_state *st = open_ok(dir);
    struct cf_state_ns *a = ns_ok(st, "a");
    struct cf_state_ns *b = ns_ok(st, "b");
    assert_int_equal(cf_state_begin(st), 0);
    put_str(a, 10, "k", "va");
    put_str(b, 20, "k", "vb");
    put_str(b, 21, "k2", "vb2");
    assert_int_equal(cf_state_commit(st), 0);
    cf_state_close(st, 0);
    assert_true(exists(path_in(state, "nested/dirs/st/data.mdb")));
    assert_true(exists(path_in(state, "nested/dirs/st/lock.mdb")));

    st = open_ok(dir);
    /* The namespaces are known before ns_open (stats count them). */
    uint64_t entries, bytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 3);
    b = ns_ok(st, "b");
    a = ns_ok(st, "a");
    assert_get(a, 10, "k", "va");
    assert_get(b, 20, "k", "vb");
    assert_get(b, 21, "k2", "vb2");
    assert_absent(a, 20, "k");
    cf_state_close(st, 1);
    assert_false(exists(dir));
    assert_false(exists(path_in(state, "nested/dirs/st/data.mdb")));
    assert_true(exists(path_in(state, "nested/dirs")));

    /* remove=1 keeps a directory that holds other files (and says so in the log). */
    st = open_ok(dir);
    FILE *f = fopen(path_in(state, "nested/dirs/st/other"), "w");
    assert_non_null(f);
    fclose(f);
    cf_state_close(st, 1);
    assert_true(exists(path_in(state, "nested/dirs/st/other")));
    assert_false(exists(path_in(state, "nested/dirs/st/data.mdb")));
    cf_state_close(NULL, 1);
}

static void test_stats(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    uint64_t entries = 99, bytes = 0, bytes0;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 0);
    assert_true(bytes > 0);
    bytes0 = bytes;
    struct cf_state_ns *a = ns_ok(st, "a");
    struct cf_state_ns *b = ns_ok(st, "b");
    assert_int_equal(cf_state_begin(st), 0);
    for (int i = 0; i < 1000; i++) {
        char key[16], val[64];
        int n = snprintf(key, sizeof(key), "%08d", i);
        memset(val, 'v', sizeof(val));
        assert_int_equal(cf_state_put(i % 2 ? a : b, i % 100, key, (size_t)n, val, 64), 0);
    }
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 1000); /* includes the open transaction's writes */
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 1000);
    assert_true(bytes > bytes0 + 1000 * 64);
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_delete_prefix(a, -1, NULL, 0), 500);
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, 500);
    cf_state_close(st, 1);
}

/* Collects every entry of a namespace as "kg|key|val" lines, for comparing environments. */
struct dump {
    char *buf;
    size_t len, cap;
};

static int dump_cb(void *arg, int kg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct dump *d = arg;
    size_t need = d->len + klen + vlen + 32;
    if (need > d->cap) {
        d->cap = need * 2;
        d->buf = cf_realloc(d->buf, d->cap);
    }
    d->len += (size_t)snprintf(d->buf + d->len, 16, "%d|", kg);
    memcpy(d->buf + d->len, key, klen);
    d->len += klen;
    d->buf[d->len++] = '|';
    memcpy(d->buf + d->len, val, vlen);
    d->len += vlen;
    d->buf[d->len++] = '\n';
    return 0;
}

static struct dump dump_ns(struct cf_state_ns *ns)
{
    struct dump d = {0};
    assert_int_equal(cf_state_scan(ns, -1, NULL, 0, dump_cb, &d), 0);
    return d;
}

static void fill_copy_data(struct cf_state *st, struct cf_state_ns *a, struct cf_state_ns *b)
{
    assert_int_equal(cf_state_begin(st), 0);
    for (int i = 0; i < 5000; i++) {
        char key[32], val[128];
        int kn = snprintf(key, sizeof(key), "key-%d", i * 7919 % 5000);
        int vn = snprintf(val, sizeof(val), "value-%d-%0*d", i, i % 90, 0);
        assert_int_equal(cf_state_put(i % 3 ? a : b, i % 128, key, (size_t)kn, val, (size_t)vn), 0);
    }
    assert_int_equal(cf_state_commit(st), 0);
    /* Free some pages so the compacting copy has something to compact. */
    assert_int_equal(cf_state_begin(st), 0);
    assert_true(cf_state_delete_prefix(a, -1, "key-1", 5) > 0);
    assert_int_equal(cf_state_commit(st), 0);
}

static void test_copy(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *a = ns_ok(st, "a");
    struct cf_state_ns *b = ns_ok(st, "b");
    fill_copy_data(st, a, b);
    struct dump da = dump_ns(a), db = dump_ns(b); /* the kept read txn is open now */
    assert_true(da.len > 0 && db.len > 0);
    uint64_t entries, bytes, centries, cbytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);

    struct cf_err err;
    const char *cdir = path_in(state, "copy/chk-1");
    assert_int_equal(cf_state_copy(st, cdir, &err), 0);
    assert_true(exists(path_in(state, "copy/chk-1/data.mdb")));
    /* Writes after the copy do not reach it. */
    assert_int_equal(cf_state_begin(st), 0);
    put_str(a, 1, "after-copy", "x");
    assert_int_equal(cf_state_commit(st), 0);
    /* Copying into a directory that already holds a copy fails and names the path. */
    assert_int_equal(cf_state_copy(st, cdir, &err), CF_EIO);
    assert_non_null(strstr(err.msg, cdir));

    struct cf_state *cp = open_ok(cdir);
    assert_int_equal(cf_state_stats(cp, &centries, &cbytes), 0);
    assert_int_equal(centries, entries);
    assert_true(cbytes <= bytes);
    struct cf_state_ns *ca = ns_ok(cp, "a");
    struct cf_state_ns *cb = ns_ok(cp, "b");
    struct dump dca = dump_ns(ca), dcb = dump_ns(cb);
    assert_int_equal(dca.len, da.len);
    assert_memory_equal(dca.buf, da.buf, da.len);
    assert_int_equal(dcb.len, db.len);
    assert_memory_equal(dcb.buf, db.buf, db.len);
    assert_absent(ca, 1, "after-copy");
    assert_get(a, 1, "after-copy", "x");
    cf_state_close(cp, 1);
    assert_false(exists(cdir));
    cf_free(da.buf);
    cf_free(db.buf);
    cf_free(dca.buf);
    cf_free(dcb.buf);
    cf_state_close(st, 1);
}

static void test_many(void **state)
{
    struct cf_state *st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "window");
    enum { N = 100000 };
    assert_int_equal(cf_state_begin(st), 0);
    for (uint32_t i = 0; i < N; i++) {
        /* 24-byte keys in scattered order, like hashed window keys. */
        uint64_t h = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        unsigned char key[24];
        memcpy(key, &h, 8);
        memset(key + 8, 0, 12);
        memcpy(key + 20, &i, 4);
        uint32_t val[8] = {i, ~i};
        assert_int_equal(cf_state_put(ns, (int)(h >> 49), key, sizeof(key), val, sizeof(val)), 0);
    }
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(count(ns, -1, NULL, 0), N);
    uint64_t entries, bytes;
    assert_int_equal(cf_state_stats(st, &entries, &bytes), 0);
    assert_int_equal(entries, N);
    int64_t per_group = 0;
    for (int kg = 0; kg < CF_STATE_KEY_GROUPS; kg += 1024) {
        per_group += count(ns, kg, NULL, 0);
    }
    assert_true(per_group > 0 && per_group < N);
    /* Spot-check values. */
    for (uint32_t i = 0; i < N; i += 9973) {
        uint64_t h = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        unsigned char key[24];
        memcpy(key, &h, 8);
        memset(key + 8, 0, 12);
        memcpy(key + 20, &i, 4);
        const void *val;
        size_t vlen;
        assert_int_equal(cf_state_get(ns, (int)(h >> 49), key, sizeof(key), &val, &vlen), 0);
        assert_int_equal(vlen, 32);
        uint32_t got[2];
        memcpy(got, val, sizeof(got));
        assert_int_equal(got[0], i);
        assert_int_equal(got[1], ~i);
    }
    cf_state_close(st, 1);
}

static void test_errors(void **state)
{
    struct cf_err err;
    struct cf_state *st = (struct cf_state *)&err; /* must be reset to NULL on failure */

    /* A path that is a file, and a path under a file. */
    const char *file = path_in(state, "a-file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cf_state_open(file, &st, &err), CF_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "Not a directory"));
    const char *under = path_in(state, "a-file/st");
    assert_int_equal(cf_state_open(under, &st, &err), CF_EIO);
    assert_non_null(strstr(err.msg, under));
    assert_int_equal(cf_state_open("", &st, &err), CF_EINVAL);

    /* Not an LMDB file. */
    const char *junk = path_in(state, "junk");
    assert_int_equal(mkdir(junk, 0700), 0);
    f = fopen(path_in(state, "junk/data.mdb"), "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++) {
        fputc('x', f);
    }
    fclose(f);
    assert_int_equal(cf_state_open(junk, &st, &err), CF_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, junk));

    /* Keys: CF_STATE_KEY_MAX bytes work, one more is CF_ERANGE, and the txn lives on. */
    st = open_ok(path_in(state, "st"));
    struct cf_state_ns *ns = ns_ok(st, "op");
    char key[CF_STATE_KEY_MAX + 1];
    memset(key, 'k', sizeof(key));
    const void *val;
    size_t vlen;
    assert_int_equal(cf_state_begin(st), 0);
    assert_int_equal(cf_state_put(ns, 1, key, CF_STATE_KEY_MAX, "max", 3), 0);
    assert_int_equal(cf_state_put(ns, 1, key, sizeof(key), "x", 1), CF_ERANGE);
    assert_non_null(strstr(cf_state_errmsg(st), "510 bytes"));
    assert_non_null(strstr(cf_state_errmsg(st), "op"));
    assert_int_equal(cf_state_get(ns, 1, key, sizeof(key), &val, &vlen), CF_ERANGE);
    assert_int_equal(cf_state_del(ns, 1, key, sizeof(key)), CF_ERANGE);
    assert_int_equal(cf_state_commit(st), 0);
    assert_int_equal(cf_state_get(ns, 1, key, CF_STATE_KEY_MAX, &val, &vlen), 0);
    assert_int_equal(vlen, 3);

    /* At most CF_STATE_MAX_NAMESPACES namespaces. */
    for (int i = 1; i < CF_STATE_MAX_NAMESPACES; i++) {
        char name[16];
        snprintf(name, sizeof(name), "op-%d", i);
        ns_ok(st, name);
    }
    assert_ptr_equal(ns_ok(st, "op-63"), ns_ok(st, "op-63"));
    struct cf_state_ns *extra = NULL;
    assert_int_equal(cf_state_ns_open(st, "one-too-many", &extra, &err), CF_ERANGE);
    assert_null(extra);
    assert_non_null(strstr(err.msg, "one-too-many"));
    cf_state_close(st, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_with_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_address_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
