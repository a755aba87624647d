/*
 * state.c - the keyed state backend on LMDB. See state.h for the contract.
 *
 * Layout: one environment per subtask, one named database per namespace (operator id), keys
 * "kg(2 bytes, big-endian) | user key". The main database holds only the names of the
 * namespaces (LMDB keeps named databases there), so cf_state_open() can list them.
 *
 * Transactions: at most one write transaction (wtxn) and one kept read transaction (rtxn).
 * The read transaction is created on the first get/scan outside a write transaction, reset
 * (not freed) when a write transaction begins - a reader left open would pin old pages and
 * make the file grow - and renewed on the next read. MDB_NOTLS makes the read transaction
 * independent of the thread's LMDB reader slot, which is what lets mdb_env_copy2() open a
 * read transaction of its own on the same thread while ours is open.
 */
#include "state.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/fs.h"
#include "common/base/log.h"
#include "common/base/mem.h"

/*
 * MDB_WRITEMAP makes LMDB write dirty pages straight into a shared writable map: measured
 * with 1M 24-byte keys and 32-byte values in transactions of 512 puts, about 3x faster for
 * keys in hashed order (the window operator's spill pattern). It is off by default because
 * of its failure modes: a full disk becomes SIGBUS in the worker instead of a CF_EIO that
 * fails the job with a message, and a stray write through a pointer from get() corrupts
 * state instead of faulting. Spilling is the cold path (state beyond the memory budget),
 * so the clear error is worth more here. Build with -DCF_STATE_WRITEMAP=1 to measure.
 */
#ifndef CF_STATE_WRITEMAP
#define CF_STATE_WRITEMAP 0
#endif

/* The map is virtual address space, not memory or disk: reserve plenty on 64-bit, less
 * where the address space is limited. */
#define STATE_MAP_SIZE     (sizeof(size_t) >= 8 ? (size_t)64 << 30 : (size_t)1 << 30)
#define STATE_MAP_SIZE_MIN ((size_t)256 << 20)
#define STATE_FILE_MODE    0600
#define STATE_DIR_MODE     0700
#define KG_BYTES           2

struct cf_state_ns {
    struct cf_state *st;
    char *name;
    MDB_dbi dbi;
    struct cf_state_ns *next;
};

struct cf_state {
    MDB_env *env;
    char *dir;
    size_t map_size;
    MDB_txn *wtxn;          /* the open write transaction, or NULL */
    MDB_txn *rtxn;          /* the kept read transaction (active or reset), or NULL */
    int rtxn_live;          /* rtxn is active (not reset) */
    struct cf_state_ns *ns; /* every namespace of the environment */
    int nns;
    char errmsg[512];
};

static int set_msg(struct cf_state *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_msg(struct cf_state *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

/* The CF_E* code of an LMDB (or errno) return code. */
static int map_code(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return CF_OK;
    case MDB_NOTFOUND: return CF_ENOENT;
    case MDB_MAP_FULL:
    case MDB_DBS_FULL: return CF_ERANGE;
    case ENOMEM: return CF_ENOMEM;
    default: return CF_EIO;
    }
}

/* Maps an LMDB failure of `what` and records why in st->errmsg. */
static int lmdb_fail(struct cf_state *st, int rc, const char *what, const struct cf_state_ns *ns)
{
    int code = map_code(rc);
    if (rc == MDB_MAP_FULL) {
        return set_msg(st, code,
                       "state in %s is full: %s exceeds the LMDB map size of %zu bytes "
                       "(namespace %s)",
                       st->dir, what, st->map_size, ns ? ns->name : "-");
    }
    return set_msg(st, code, "state in %s: %s%s%s: %s", st->dir, what, ns ? " in namespace " : "",
                   ns ? ns->name : "", mdb_strerror(rc));
}

static void put_kg(unsigned char *buf, int key_group)
{
    buf[0] = (unsigned char)(key_group >> 8);
    buf[1] = (unsigned char)key_group;
}

static int get_kg(const MDB_val *k)
{
    const unsigned char *p = k->mv_data;
    return (p[0] << 8) | p[1];
}

/* Writes "kg | key" into buf (CF_STATE_KEY_MAX + KG_BYTES bytes) and points k at it. */
static int make_key(struct cf_state_ns *ns, int key_group, const void *key, size_t klen,
                    unsigned char *buf, MDB_val *k)
{
    if (klen > CF_STATE_KEY_MAX) {
        return set_msg(ns->st, CF_ERANGE,
                       "state key of %zu bytes in namespace %s is longer than the maximum of "
                       "%d bytes (hash long keys before storing them)",
                       klen, ns->name, CF_STATE_KEY_MAX);
    }
    put_kg(buf, key_group);
    if (klen) {
        memcpy(buf + KG_BYTES, key, klen);
    }
    k->mv_data = buf;
    k->mv_size = klen + KG_BYTES;
    return 0;
}

static void check_kg(int key_group, int allow_all)
{
    cf_assert((key_group >= 0 && key_group < CF_STATE_KEY_GROUPS) ||
              (allow_all && key_group == -1));
}

/* The transaction reads use: the write transaction if open, else the kept read one. */
static int read_txn(struct cf_state *st, MDB_txn **txn)
{
    int rc;
    if (st->wtxn) {
        *txn = st->wtxn;
        return 0;
    }
    if (!st->rtxn) {
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
        if (rc) {
            st->rtxn = NULL;
            return lmdb_fail(st, rc, "beginning a read transaction", NULL);
        }
        st->rtxn_live = 1;
    } else if (!st->rtxn_live) {
        rc = mdb_txn_renew(st->rtxn);
        if (rc) {
            return lmdb_fail(st, rc, "renewing the read transaction", NULL);
        }
        st->rtxn_live = 1;
    }
    *txn = st->rtxn;
    return 0;
}

static void read_txn_reset(struct cf_state *st)
{
    if (st->rtxn && st->rtxn_live) {
        mdb_txn_reset(st->rtxn);
        st->rtxn_live = 0;
    }
}

static struct cf_state_ns *ns_find(struct cf_state *st, const char *name, size_t len)
{
    for (struct cf_state_ns *ns = st->ns; ns; ns = ns->next) {
        if (strlen(ns->name) == len && memcmp(ns->name, name, len) == 0) {
            return ns;
        }
    }
    return NULL;
}

static struct cf_state_ns *ns_add(struct cf_state *st, char *name, MDB_dbi dbi)
{
    struct cf_state_ns *ns = cf_new(struct cf_state_ns);
    ns->st = st;
    ns->name = name;
    ns->dbi = dbi;
    ns->next = st->ns;
    st->ns = ns;
    st->nns++;
    return ns;
}

/*
 * Registers every namespace of an existing environment: the keys of the main database are
 * the names of the named databases. The handles are opened in a read transaction that is
 * committed (not aborted), which is what keeps LMDB handles opened in it.
 */
static int ns_load(struct cf_state *st, struct cf_err *err)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int code = 0;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        txn = NULL;
        goto out;
    }
    rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (!rc) {
        rc = mdb_cursor_open(txn, main_dbi, &cur);
    }
    for (int op = MDB_FIRST; !rc; op = MDB_NEXT) {
        rc = mdb_cursor_get(cur, &k, &v, op);
        if (rc) {
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            names = cf_realloc(names, cap * sizeof(*names));
        }
        names[n++] = cf_strndup(k.mv_data, k.mv_size);
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (rc != MDB_NOTFOUND) {
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        MDB_dbi dbi;
        rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == MDB_INCOMPATIBLE) {
            code = cf_err_set(err, CF_EIO,
                              "state directory %s: not a Creekflow state environment (main "
                              "database entry '%s' is not a namespace)",
                              st->dir, names[i]);
            goto out;
        }
        if (rc) {
            goto out;
        }
        ns_add(st, names[i], dbi);
        names[i] = NULL;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
out:
    if (rc && !code) {
        code = cf_err_set(err, map_code(rc), "state directory %s: listing namespaces: %s", st->dir,
                          mdb_strerror(rc));
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    for (size_t i = 0; i < n; i++) {
        cf_free(names[i]);
    }
    cf_free(names);
    return code;
}

int cf_lmdb_env_open(struct MDB_env **env, const char *path, unsigned flags, unsigned maxdbs,
                     size_t *map_size)
{
    for (size_t size = STATE_MAP_SIZE;; size /= 2) {
        int rc = mdb_env_create(env);
        if (rc) {
            *env = NULL;
            return rc;
        }
        rc = mdb_env_set_maxdbs(*env, maxdbs);
        if (!rc) {
            rc = mdb_env_set_mapsize(*env, size);
        }
        if (!rc) {
            rc = mdb_env_open(*env, path, flags, STATE_FILE_MODE);
        }
        if (!rc) {
            if (map_size) {
                *map_size = size;
            }
            return 0;
        }
        mdb_env_close(*env); /* a failed open leaves the handle unusable */
        *env = NULL;
        if ((rc != EINVAL && rc != ENOMEM) || size / 2 < STATE_MAP_SIZE_MIN) {
            return rc;
        }
    }
}

int cf_state_open(const char *dir, struct cf_state **out, struct cf_err *err)
{
    struct cf_state *st = NULL;
    int code, rc;
    *out = NULL;
    cf_err_clear(err);
    if (!dir || !*dir) {
        return cf_err_set(err, CF_EINVAL, "state directory: empty path");
    }
    rc = cf_mkdirs(dir, STATE_DIR_MODE);
    if (rc) {
        return cf_err_set(err, CF_EIO, "state directory %s: %s", dir, strerror(rc));
    }
    st = cf_new(struct cf_state);
    st->dir = cf_strdup(dir);
    unsigned flags = MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS;
    if (CF_STATE_WRITEMAP) {
        flags |= MDB_WRITEMAP;
    }
    rc = cf_lmdb_env_open(&st->env, dir, flags, CF_STATE_MAX_NAMESPACES, &st->map_size);
    if (rc) {
        code = cf_err_set(err, map_code(rc), "state directory %s: opening LMDB: %s", dir,
                          mdb_strerror(rc));
        goto fail;
    }
    if (mdb_env_get_maxkeysize(st->env) < CF_STATE_KEY_MAX + KG_BYTES) {
        code = cf_err_set(err, CF_EUNSUPPORTED,
                          "state directory %s: this LMDB build allows keys of %d bytes, "
                          "Creekflow needs %d",
                          dir, mdb_env_get_maxkeysize(st->env), CF_STATE_KEY_MAX + KG_BYTES);
        goto fail;
    }
    code = ns_load(st, err);
    if (code) {
        goto fail;
    }
    *out = st;
    return 0;
fail:
    cf_state_close(st, 0);
    return code;
}

static void unlink_in(const char *dir, const char *file)
{
    char *path = cf_asprintf("%s/%s", dir, file);
    if (unlink(path) != 0 && errno != ENOENT) {
        cf_warn("state: cannot remove %s: %s", path, strerror(errno));
    }
    cf_free(path);
}

void cf_state_close(struct cf_state *st, int remove)
{
    if (!st) {
        return;
    }
    if (st->wtxn) {
        mdb_txn_abort(st->wtxn);
    }
    if (st->rtxn) {
        mdb_txn_abort(st->rtxn);
    }
    if (st->env) {
        /* Handles need not be closed one by one: mdb_env_close() closes them all. */
        mdb_env_close(st->env);
    }
    if (remove) {
        unlink_in(st->dir, "data.mdb");
        unlink_in(st->dir, "lock.mdb");
        if (rmdir(st->dir) != 0 && errno != ENOENT) {
            cf_warn("state: cannot remove directory %s: %s", st->dir, strerror(errno));
        }
    }
    while (st->ns) {
        struct cf_state_ns *ns = st->ns;
        st->ns = ns->next;
        cf_free(ns->name);
        cf_free(ns);
    }
    cf_free(st->dir);
    cf_free(st);
}

int cf_state_begin(struct cf_state *st)
{
    cf_assert(!st->wtxn);
    read_txn_reset(st);
    int rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
    if (rc) {
        st->wtxn = NULL;
        return lmdb_fail(st, rc, "beginning a write transaction", NULL);
    }
    return 0;
}

int cf_state_commit(struct cf_state *st)
{
    cf_assert(st->wtxn);
    int rc = mdb_txn_commit(st->wtxn); /* frees the transaction even when it fails */
    st->wtxn = NULL;
    return rc ? lmdb_fail(st, rc, "committing", NULL) : 0;
}

void cf_state_abort(struct cf_state *st)
{
    if (st->wtxn) {
        mdb_txn_abort(st->wtxn);
        st->wtxn = NULL;
    }
}

int cf_state_in_txn(const struct cf_state *st)
{
    return st->wtxn != NULL;
}

int cf_state_ns_open(struct cf_state *st, const char *name, struct cf_state_ns **out,
                     struct cf_err *err)
{
    cf_assert(!st->wtxn);
    *out = NULL;
    if (!name || !*name) {
        return cf_err_set(err, CF_EINVAL, "state directory %s: empty namespace name", st->dir);
    }
    struct cf_state_ns *ns = ns_find(st, name, strlen(name));
    if (ns) {
        *out = ns;
        return 0;
    }
    if (st->nns >= CF_STATE_MAX_NAMESPACES) {
        return cf_err_set(err, CF_ERANGE,
                          "state directory %s: cannot add namespace %s: at most %d namespaces "
                          "per subtask",
                          st->dir, name, CF_STATE_MAX_NAMESPACES);
    }
    /* The handle is usable by other transactions only once this one commits. */
    MDB_dbi dbi;
    int rc = cf_state_begin(st);
    if (rc) {
        return cf_err_set(err, rc, "%s", st->errmsg);
    }
    rc = mdb_dbi_open(st->wtxn, name, MDB_CREATE, &dbi);
    if (rc) {
        cf_state_abort(st);
        return cf_err_set(err, map_code(rc), "state directory %s: creating namespace %s: %s",
                          st->dir, name, mdb_strerror(rc));
    }
    rc = cf_state_commit(st);
    if (rc) {
        return cf_err_set(err, rc, "%s", st->errmsg);
    }
    *out = ns_add(st, cf_strdup(name), dbi);
    return 0;
}

const char *cf_state_ns_name(const struct cf_state_ns *ns)
{
    return ns->name;
}

int cf_state_put(struct cf_state_ns *ns, int key_group, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    static const unsigned char empty[1];
    struct cf_state *st = ns->st;
    unsigned char buf[CF_STATE_KEY_MAX + KG_BYTES];
    MDB_val k, v;
    check_kg(key_group, 0);
    cf_assert(st->wtxn);
    int rc = make_key(ns, key_group, key, klen, buf, &k);
    if (rc) {
        return rc;
    }
    v.mv_data = vlen ? (void *)val : (void *)empty;
    v.mv_size = vlen;
    rc = mdb_put(st->wtxn, ns->dbi, &k, &v, 0);
    return rc ? lmdb_fail(st, rc, "put", ns) : 0;
}

int cf_state_get(struct cf_state_ns *ns, int key_group, const void *key, size_t klen,
                 const void **val, size_t *vlen)
{
    struct cf_state *st = ns->st;
    unsigned char buf[CF_STATE_KEY_MAX + KG_BYTES];
    MDB_txn *txn;
    MDB_val k, v;
    check_kg(key_group, 0);
    int rc = make_key(ns, key_group, key, klen, buf, &k);
    if (!rc) {
        rc = read_txn(st, &txn);
    }
    if (rc) {
        return rc;
    }
    rc = mdb_get(txn, ns->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return CF_ENOENT;
    }
    if (rc) {
        return lmdb_fail(st, rc, "get", ns);
    }
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 0;
}

int cf_state_del(struct cf_state_ns *ns, int key_group, const void *key, size_t klen)
{
    struct cf_state *st = ns->st;
    unsigned char buf[CF_STATE_KEY_MAX + KG_BYTES];
    MDB_val k;
    check_kg(key_group, 0);
    cf_assert(st->wtxn);
    int rc = make_key(ns, key_group, key, klen, buf, &k);
    if (rc) {
        return rc;
    }
    rc = mdb_del(st->wtxn, ns->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        return CF_ENOENT;
    }
    return rc ? lmdb_fail(st, rc, "delete", ns) : 0;
}

/* Positions cur at the first entry >= (key_group, prefix). */
static int seek(MDB_cursor *cur, int key_group, const void *prefix, size_t plen, MDB_val *k,
                MDB_val *v)
{
    unsigned char buf[CF_STATE_KEY_MAX + KG_BYTES];
    put_kg(buf, key_group);
    if (plen) {
        memcpy(buf + KG_BYTES, prefix, plen);
    }
    k->mv_data = buf;
    k->mv_size = plen + KG_BYTES;
    /* On success LMDB points k at the stored key, so buf may go out of scope. */
    return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

/*
 * The walk shared by scan and delete_prefix: every entry starting with (key_group, prefix)
 * in key order, calling fn or (fn == NULL) deleting it. With key_group -1 and a prefix it
 * skips from group to group: g is the group last sought or matched in; seek (g, prefix);
 * while the cursor is on a match, take it; otherwise the cursor is past group g's matches,
 * so seek (g + 1, prefix), or on the first entry of a later group h, so seek (h, prefix). That
 * costs one seek per non-empty key group, not a pass over the namespace. Returns fn's nonzero
 * value, 0 at the end, or a negative CF_E* code; *count gets the number of entries visited or
 * deleted.
 */
static int walk(struct cf_state_ns *ns, int key_group, const void *prefix, size_t plen,
                cf_state_visit_fn fn, void *arg, int64_t *count)
{
    struct cf_state *st = ns->st;
    MDB_cursor *cur = NULL;
    MDB_txn *txn;
    MDB_val k, v;
    int rc;
    *count = 0;
    check_kg(key_group, 1);
    if (plen > CF_STATE_KEY_MAX) {
        return set_msg(st, CF_ERANGE,
                       "state key prefix of %zu bytes in namespace %s is longer than the "
                       "maximum key of %d bytes",
                       plen, ns->name, CF_STATE_KEY_MAX);
    }
    rc = read_txn(st, &txn);
    if (rc) {
        return rc;
    }
    rc = mdb_cursor_open(txn, ns->dbi, &cur);
    if (rc) {
        return lmdb_fail(st, rc, "opening a cursor", ns);
    }
    int g = key_group < 0 ? 0 : key_group;
    rc = seek(cur, g, prefix, plen, &k, &v);
    while (rc == MDB_SUCCESS) {
        if (k.mv_size < KG_BYTES) {
            rc = set_msg(st, CF_EIO, "state in %s: namespace %s holds a key of %zu bytes", st->dir,
                         ns->name, k.mv_size);
            goto out;
        }
        int kg = get_kg(&k);
        const unsigned char *key = (const unsigned char *)k.mv_data + KG_BYTES;
        size_t klen = k.mv_size - KG_BYTES;
        if (key_group >= 0 && kg != key_group) {
            break;
        }
        if (klen >= plen && (plen == 0 || memcmp(key, prefix, plen) == 0)) {
            g = kg;
            (*count)++;
            if (fn) {
                rc = fn(arg, kg, key, klen, v.mv_data, v.mv_size);
                if (rc) {
                    goto out;
                }
            } else {
                rc = mdb_cursor_del(cur, 0);
                if (rc) {
                    rc = lmdb_fail(st, rc, "delete", ns);
                    goto out;
                }
            }
            /* After mdb_cursor_del() MDB_NEXT returns the entry that followed the deleted one. */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        /* Not a match: past the prefix's entries of group kg (keys are sorted) when the
         * cursor got here from a match or a seek in kg; when it got here from group g < kg
         * (by MDB_NEXT or a seek that overshot), this is kg's first entry, so seek in kg. */
        if (key_group >= 0) {
            break;
        }
        g = kg == g ? g + 1 : kg;
        if (g >= CF_STATE_KEY_GROUPS) {
            break;
        }
        rc = seek(cur, g, prefix, plen, &k, &v);
    }
    /* Here rc is LMDB's (fn's values and our own errors jumped to out untouched). */
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else if (rc) {
        rc = lmdb_fail(st, rc, fn ? "scan" : "delete_prefix", ns);
    }
out:
    mdb_cursor_close(cur);
    return rc;
}

int cf_state_scan(struct cf_state_ns *ns, int key_group, const void *prefix, size_t plen,
                  cf_state_visit_fn fn, void *arg)
{
    int64_t count;
    cf_assert(fn);
    return walk(ns, key_group, prefix, plen, fn, arg, &count);
}

int64_t cf_state_delete_prefix(struct cf_state_ns *ns, int key_group, const void *prefix,
                               size_t plen)
{
    int64_t count;
    cf_assert(ns->st->wtxn);
    int rc = walk(ns, key_group, prefix, plen, NULL, NULL, &count);
    return rc ? rc : count;
}

int cf_state_stats(struct cf_state *st, uint64_t *entries, uint64_t *bytes)
{
    MDB_txn *txn;
    MDB_stat ms;
    MDB_envinfo info;
    uint64_t n = 0;
    int rc = read_txn(st, &txn);
    if (rc) {
        return rc;
    }
    for (struct cf_state_ns *ns = st->ns; ns; ns = ns->next) {
        rc = mdb_stat(txn, ns->dbi, &ms);
        if (rc) {
            return lmdb_fail(st, rc, "stat", ns);
        }
        n += ms.ms_entries;
    }
    rc = mdb_env_stat(st->env, &ms);
    if (!rc) {
        rc = mdb_env_info(st->env, &info);
    }
    if (rc) {
        return lmdb_fail(st, rc, "stat", NULL);
    }
    *entries = n;
    *bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    return 0;
}

int cf_state_copy(struct cf_state *st, const char *path, struct cf_err *err)
{
    cf_assert(!st->wtxn);
    int rc = cf_mkdirs(path, STATE_DIR_MODE);
    if (rc) {
        return cf_err_set(err, CF_EIO, "state copy to %s: %s", path, strerror(rc));
    }
    rc = mdb_env_copy2(st->env, path, MDB_CP_COMPACT);
    if (rc) {
        return cf_err_set(err, map_code(rc), "state copy of %s to %s: %s", st->dir, path,
                          mdb_strerror(rc));
    }
    return 0;
}

const char *cf_state_errmsg(const struct cf_state *st)
{
    return st->errmsg;
}

struct cf_state *cf_state_ns_env(struct cf_state_ns *ns)
{
    return ns->st;
}
