/*
 * snapshot.c - checkpoint state files on LMDB. See snapshot.h for the format.
 */
#include "snapshot.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/base/mem.h"
#include "state.h"

#define KG_BYTES 2
#define KEY_BUF  (KG_BYTES + CF_STATE_KEY_MAX)

static const char *const db_names[] = {"ns", "keyed", "op"};
enum { DB_NS, DB_KEYED, DB_OP, DB__COUNT };

struct snap_file {
    MDB_env *env;
    MDB_dbi dbi[DB__COUNT];
    int has[DB__COUNT];
};

struct cf_snapshot {
    int64_t id;
    int writing;
    /* writer */
    char *path;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[DB__COUNT];
    uint64_t entries;
    int failed; /* a put failed: finish() reports it */
    char errmsg[256];
    /* reader */
    int kg_lo, kg_hi;
    int nfiles;
    struct snap_file *files;
};

static int lmdb_err(struct cf_err *err, int rc, const char *what, const char *path)
{
    cf_err_set(err, rc == MDB_MAP_FULL ? CF_ERANGE : CF_EIO, "snapshot %s: %s: %s", path, what,
               mdb_strerror(rc));
    return rc == MDB_MAP_FULL ? CF_ERANGE : CF_EIO;
}

int cf_snapshot_create(const char *path, int64_t id, struct cf_snapshot **out, struct cf_err *err)
{
    *out = NULL;
    unlink(path);
    struct cf_snapshot *s = cf_new(struct cf_snapshot);
    s->id = id;
    s->writing = 1;
    s->path = cf_strdup(path);
    int rc =
        cf_lmdb_env_open(&s->env, path, MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOLOCK, DB__COUNT, NULL);
    if (rc == 0) {
        rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    }
    for (int d = 0; d < DB__COUNT && rc == 0; d++) {
        rc = mdb_dbi_open(s->txn, db_names[d], MDB_CREATE, &s->dbi[d]);
    }
    if (rc) {
        lmdb_err(err, rc, "create", path);
        cf_snapshot_free(s);
        return CF_EIO;
    }
    *out = s;
    return 0;
}

static int put(struct cf_snapshot *s, int db, int key_group, const void *key, size_t klen,
               const void *val, size_t vlen)
{
    if (!s->writing || s->failed) {
        return CF_EINVAL;
    }
    if (klen > CF_STATE_KEY_MAX) {
        snprintf(s->errmsg, sizeof(s->errmsg), "key of %zu bytes (at most %d)", klen,
                 CF_STATE_KEY_MAX);
        s->failed = CF_ERANGE;
        return CF_ERANGE;
    }
    unsigned char buf[KEY_BUF];
    size_t off = 0;
    if (key_group >= 0) {
        buf[0] = (unsigned char)(key_group >> 8);
        buf[1] = (unsigned char)key_group;
        off = KG_BYTES;
    }
    if (klen) {
        memcpy(buf + off, key, klen);
    }
    MDB_val k = {off + klen, buf};
    MDB_val v = {vlen, (void *)val};
    int rc = mdb_put(s->txn, s->dbi[db], &k, &v, 0);
    if (rc) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", mdb_strerror(rc));
        s->failed = rc == MDB_MAP_FULL ? CF_ERANGE : CF_EIO;
        return s->failed;
    }
    s->entries++;
    return 0;
}

int cf_snapshot_put_keyed(struct cf_snapshot *snap, int key_group, const void *key, size_t klen,
                          const void *val, size_t vlen)
{
    if (key_group < 0 || key_group >= CF_STATE_KEY_GROUPS) {
        return CF_EINVAL;
    }
    return put(snap, DB_KEYED, key_group, key, klen, val, vlen);
}

int cf_snapshot_put(struct cf_snapshot *snap, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    return put(snap, DB_OP, -1, key, klen, val, vlen);
}

int64_t cf_snapshot_id(const struct cf_snapshot *snap)
{
    return snap->id;
}

static int copy_visit(void *arg, int key_group, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    struct cf_snapshot *s = arg;
    return put(s, DB_NS, key_group, key, klen, val, vlen);
}

int cf_snapshot_copy_ns(struct cf_snapshot *snap, struct cf_state_ns *ns, struct cf_err *err)
{
    int rc = cf_state_scan(ns, -1, NULL, 0, copy_visit, snap);
    if (rc) {
        cf_err_set(err, rc, "snapshot %s: copying state of %s: %s", snap->path,
                   cf_state_ns_name(ns),
                   snap->failed ? snap->errmsg : cf_state_errmsg(cf_state_ns_env(ns)));
        return rc < 0 ? rc : CF_EIO;
    }
    return 0;
}

int cf_snapshot_finish(struct cf_snapshot *snap, uint64_t *entries, struct cf_err *err)
{
    int rc = 0;
    if (snap->failed) {
        cf_err_set(err, snap->failed, "snapshot %s: %s", snap->path, snap->errmsg);
        rc = snap->failed;
    } else {
        int lrc = mdb_txn_commit(snap->txn);
        snap->txn = NULL;
        if (lrc == 0) {
            lrc = mdb_env_sync(snap->env, 1);
        }
        if (lrc) {
            rc = lmdb_err(err, lrc, "commit", snap->path);
        }
    }
    *entries = snap->entries;
    cf_snapshot_free(snap);
    return rc;
}

void cf_snapshot_free(struct cf_snapshot *snap)
{
    if (!snap) {
        return;
    }
    if (snap->txn) {
        mdb_txn_abort(snap->txn);
    }
    if (snap->env) {
        mdb_env_close(snap->env);
    }
    for (int f = 0; f < snap->nfiles; f++) {
        mdb_env_close(snap->files[f].env);
    }
    cf_free(snap->files);
    cf_free(snap->path);
    cf_free(snap);
}

/* ---- reading ---- */

struct cf_snapshot *cf_snapshot_reader(int64_t id, int kg_lo, int kg_hi)
{
    struct cf_snapshot *s = cf_new(struct cf_snapshot);
    s->id = id;
    s->kg_lo = kg_lo;
    s->kg_hi = kg_hi;
    return s;
}

int cf_snapshot_add_file(struct cf_snapshot *snap, const char *path, struct cf_err *err)
{
    struct snap_file f = {0};
    int rc =
        cf_lmdb_env_open(&f.env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, DB__COUNT, NULL);
    MDB_txn *txn = NULL;
    if (rc == 0) {
        rc = mdb_txn_begin(f.env, NULL, MDB_RDONLY, &txn);
    }
    for (int d = 0; d < DB__COUNT && rc == 0; d++) {
        int drc = mdb_dbi_open(txn, db_names[d], 0, &f.dbi[d]);
        if (drc == 0) {
            f.has[d] = 1;
        } else if (drc != MDB_NOTFOUND) {
            rc = drc;
        }
    }
    if (txn) {
        /* Committing (not aborting) keeps the database handles open for later readers. */
        int crc = mdb_txn_commit(txn);
        rc = rc ? rc : crc;
    }
    if (rc) {
        if (f.env) {
            mdb_env_close(f.env);
        }
        return lmdb_err(err, rc, "open", path);
    }
    snap->files = cf_realloc(snap->files, (size_t)(snap->nfiles + 1) * sizeof(*snap->files));
    snap->files[snap->nfiles++] = f;
    return 0;
}

/* Visits database db of every file; keyed databases only within [kg_lo, kg_hi]. */
static int visit(struct cf_snapshot *snap, int db, cf_snapshot_visit_fn fn, void *arg)
{
    int keyed = db != DB_OP;
    for (int i = 0; i < snap->nfiles; i++) {
        struct snap_file *f = &snap->files[i];
        if (!f->has[db]) {
            continue;
        }
        MDB_txn *txn;
        MDB_cursor *cur;
        int rc = mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn);
        if (rc) {
            return CF_EIO;
        }
        rc = mdb_cursor_open(txn, f->dbi[db], &cur);
        if (rc) {
            mdb_txn_abort(txn);
            return CF_EIO;
        }
        unsigned char start[KG_BYTES] = {(unsigned char)(snap->kg_lo >> 8),
                                         (unsigned char)snap->kg_lo};
        MDB_val k = {KG_BYTES, start}, v;
        rc = keyed ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                   : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        int ret = 0;
        while (rc == 0) {
            const unsigned char *kb = k.mv_data;
            int kg = -1;
            const void *key = kb;
            size_t klen = k.mv_size;
            if (keyed) {
                if (k.mv_size < KG_BYTES) {
                    ret = CF_EIO;
                    break;
                }
                kg = kb[0] << 8 | kb[1];
                if (kg > snap->kg_hi) {
                    break;
                }
                key = kb + KG_BYTES;
                klen -= KG_BYTES;
            }
            ret = fn(arg, kg, key, klen, v.mv_data, v.mv_size);
            if (ret) {
                break;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc && rc != MDB_NOTFOUND && !ret) {
            ret = CF_EIO;
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        if (ret) {
            return ret;
        }
    }
    return 0;
}

int cf_snapshot_scan_keyed(struct cf_snapshot *snap, cf_snapshot_visit_fn fn, void *arg)
{
    return visit(snap, DB_KEYED, fn, arg);
}

int cf_snapshot_scan(struct cf_snapshot *snap, cf_snapshot_visit_fn fn, void *arg)
{
    return visit(snap, DB_OP, fn, arg);
}

struct restore_ctx {
    struct cf_state_ns *ns;
    uint64_t in_txn;
    int rc;
};

static int restore_visit(void *arg, int key_group, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    struct restore_ctx *c = arg;
    struct cf_state *st = cf_state_ns_env(c->ns);
    if (c->in_txn == 0) {
        cf_state_begin(st);
    }
    int rc = cf_state_put(c->ns, key_group, key, klen, val, vlen);
    if (rc) {
        c->rc = rc;
        return rc;
    }
    if (++c->in_txn == 4096) {
        c->in_txn = 0;
        rc = cf_state_commit(st);
        if (rc) {
            c->rc = rc;
            return rc;
        }
    }
    return 0;
}

int cf_snapshot_restore_ns(struct cf_snapshot *snap, struct cf_state_ns *ns, struct cf_err *err)
{
    struct restore_ctx c = {.ns = ns};
    struct cf_state *st = cf_state_ns_env(ns);
    int rc = visit(snap, DB_NS, restore_visit, &c);
    if (rc == 0 && c.in_txn) {
        rc = cf_state_commit(st);
    } else if (rc) {
        cf_state_abort(st);
    }
    if (rc) {
        cf_err_set(err, rc, "restoring state of %s: %s", cf_state_ns_name(ns),
                   c.rc ? cf_state_errmsg(st) : "unreadable snapshot file");
    }
    return rc;
}

int cf_snapshot_has_ns(struct cf_snapshot *snap)
{
    for (int i = 0; i < snap->nfiles; i++) {
        struct snap_file *f = &snap->files[i];
        if (!f->has[DB_NS]) {
            continue;
        }
        MDB_txn *txn;
        if (mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn)) {
            continue;
        }
        MDB_stat st;
        int n = mdb_stat(txn, f->dbi[DB_NS], &st) == 0 ? (int)(st.ms_entries > 0) : 0;
        mdb_txn_abort(txn);
        if (n) {
            return 1;
        }
    }
    return 0;
}
