/*
 * state.h - the keyed state backend, on LMDB (DESIGN.md sections 4 and 5).
 *
 * One struct cf_state per subtask: one LMDB environment in its own directory (data.mdb and
 * lock.mdb), used by the subtask's task thread only. Each operator of the subtask gets a
 * namespace, a named LMDB database whose name is the operator's id, so a snapshot can be
 * matched to operators by id on restore.
 *
 * Keys. Inside a namespace every stored key is the 2-byte big-endian key group followed by
 * the caller's key bytes. LMDB orders keys by memcmp, so a namespace is sorted by key group
 * first, then by key: the entries of a key-group range are one contiguous run, which is what
 * restoring with another parallelism splits on. Key groups are 0 <= kg < CF_STATE_KEY_GROUPS
 * (Flink's upper bound on max_parallelism); a key group outside that range is a programmer
 * error (assert). A key is at most CF_STATE_KEY_MAX bytes; longer keys get CF_ERANGE (the
 * window operator keeps keys short and hashes long ones itself). The limit is fixed here
 * rather than taken from the LMDB build so that every worker accepts the same keys and
 * reads every snapshot.
 *
 * Durability comes from checkpoints, not from LMDB: the environment is opened without
 * fsyncs, so after a machine crash its content may be torn. A restarted task restores from
 * the last checkpoint into a fresh directory; never reuse a state directory after a crash.
 * data.mdb is a sparse file whose apparent size is the whole map (64 GiB on 64-bit
 * machines, see state.c on MDB_WRITEMAP); only the pages in use take disk space. Copy it
 * with cf_state_copy(), not with cp or tar.
 *
 * Transactions. Writes are batched: everything between cf_state_begin() and
 * cf_state_commit() is one LMDB write transaction, and callers commit once per batch or per
 * flush, never per record. put(), del() and delete_prefix() need an open write transaction
 * (asserted). get() and scan() work inside one (they see its uncommitted writes) or outside
 * (they use a read transaction the backend keeps open and renews, invalidated by the next
 * begin). Nothing is visible to a copy or after a reopen until it is committed.
 *
 * Errors. Functions with a struct cf_err * fill it; the others return a CF_E* code and leave
 * a message in cf_state_errmsg(). LMDB's MDB_NOTFOUND is CF_ENOENT, MDB_MAP_FULL (and
 * MDB_DBS_FULL) are CF_ERANGE, everything else from LMDB is CF_EIO. After an LMDB error
 * inside a write transaction (not after CF_ENOENT, nor after CF_ERANGE for a too long key,
 * which are checked before LMDB is called) the transaction is unusable: abort it.
 *
 * Threads: a struct cf_state and its namespaces belong to one thread at a time (the task's
 * thread); there is no locking. LMDB transactions never cross threads, so begin and commit
 * (or abort) happen on the same thread. The environment is opened with MDB_NOTLS, so with
 * no write transaction open the object may move to another thread (a task restarted on a
 * new thread) - it is still never used by two threads at once.
 */
#ifndef CF_STATE_H
#define CF_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/base/err.h"

/*
 * Creates an LMDB environment (maxdbs named databases) and opens `path` with `flags`. The
 * map is address space, not memory or disk: it reserves 64 GB on 64-bit, halving down to
 * 256 MB where the address space is smaller (`ulimit -v`, valgrind). Returns an LMDB
 * error code; *env is NULL on failure. *map_size (if not NULL) gets the size mapped.
 */
struct MDB_env;
int cf_lmdb_env_open(struct MDB_env **env, const char *path, unsigned flags, unsigned maxdbs,
                     size_t *map_size);

/* Key groups are 0 .. CF_STATE_KEY_GROUPS - 1 (max_parallelism is at most this). */
#define CF_STATE_KEY_GROUPS 32768
/* Longest key accepted, in bytes, without the 2 key-group bytes: LMDB's default maximum key
 * size (511) minus those two. */
#define CF_STATE_KEY_MAX 509
/* At most this many namespaces per environment (LMDB's maxdbs). */
#define CF_STATE_MAX_NAMESPACES 64

struct cf_state;    /* one LMDB environment; used by one thread (the task's) */
struct cf_state_ns; /* one operator's namespace, owned by its struct cf_state */

/*
 * Opens the environment in directory dir, creating dir (and missing parents) if needed.
 * An existing environment is opened with its content and namespaces. The caller owns *out
 * and releases it with cf_state_close(). On failure *out is NULL and err names dir and
 * gives LMDB's or the system's message. A directory must not be open twice at once in one
 * process (LMDB's rule: its locks are per process).
 */
int cf_state_open(const char *dir, struct cf_state **out, struct cf_err *err);

/*
 * Closes the environment; an open write transaction is aborted (uncommitted writes are
 * lost) and every namespace handle becomes invalid. With remove=1 it also deletes
 * data.mdb, lock.mdb and the directory (cfctl local uses temporary state dirs); the
 * directory stays, with a warning logged, if it holds other files. NULL is a no-op.
 */
void cf_state_close(struct cf_state *st, int remove);

/*
 * The namespace called name (an operator id; not empty), created if it does not exist.
 * *out is owned by st and valid until cf_state_close(); opening the same name again returns
 * the same handle. Must not be called while a write transaction is open (asserted):
 * creating the LMDB database commits a transaction of its own. Fails with CF_ERANGE when
 * the environment already has CF_STATE_MAX_NAMESPACES namespaces.
 */
int cf_state_ns_open(struct cf_state *st, const char *name, struct cf_state_ns **out,
                     struct cf_err *err);

/*
 * Write transactions. begin() asserts that none is open, and ends the kept read
 * transaction (so pointers returned by get() outside a transaction become invalid).
 * commit() (asserts that one is open) makes the writes visible to get/scan, copies and a
 * later reopen (not across a machine crash, see above); the transaction is over even when
 * commit fails (CF_ERANGE when the map is full, CF_EIO otherwise). abort() discards the
 * writes; without an open transaction it does nothing.
 */
int cf_state_begin(struct cf_state *st);
int cf_state_commit(struct cf_state *st);
void cf_state_abort(struct cf_state *st);
/* 1 if a write transaction is open. */
int cf_state_in_txn(const struct cf_state *st);

/*
 * Stores val under (key_group, key), replacing any previous value. Inside a write
 * transaction. Values may be empty (vlen 0, val may then be NULL) and large (values above
 * about 2 KiB go to LMDB overflow pages; fine, but costlier to rewrite). CF_ERANGE when
 * klen > CF_STATE_KEY_MAX or the map is full.
 */
int cf_state_put(struct cf_state_ns *ns, int key_group, const void *key, size_t klen,
                 const void *val, size_t vlen);

/*
 * Looks (key_group, key) up: 0 with *val and *vlen pointing into LMDB's map (never write
 * through it; not NUL-terminated, no alignment guarantee), CF_ENOENT if absent. *val is valid until
 * the next put/del/delete_prefix/commit/abort/begin/ns_open/close on this environment.
 */
int cf_state_get(struct cf_state_ns *ns, int key_group, const void *key, size_t klen,
                 const void **val, size_t *vlen);

/* Deletes (key_group, key) inside a write transaction; CF_ENOENT if absent. */
int cf_state_del(struct cf_state_ns *ns, int key_group, const void *key, size_t klen);

/*
 * Visits, in key order, the entries whose (key_group, key) starts with (key_group,
 * prefix[0..plen)); key_group -1 means every key group (then the order is key group, then
 * key). The callback gets the key without the key-group bytes; key and val point into
 * LMDB's map and are valid during the call only. It may call cf_state_get(), but must not
 * change the environment (put/del/delete_prefix/begin/commit/abort/ns_open): collect keys
 * and delete after the scan. It returns nonzero to stop the scan, and scan returns that
 * value; otherwise scan returns 0, or a negative CF_E* code if LMDB fails. Works inside a
 * write transaction (seeing its writes) and outside one. CF_ERANGE if plen >
 * CF_STATE_KEY_MAX.
 */
typedef int (*cf_state_visit_fn)(void *arg, int key_group, const void *key, size_t klen,
                                 const void *val, size_t vlen);
int cf_state_scan(struct cf_state_ns *ns, int key_group, const void *prefix, size_t plen,
                  cf_state_visit_fn fn, void *arg);

/*
 * Deletes every entry whose (key_group, key) starts with (key_group, prefix[0..plen))
 * (key_group -1: in every key group), inside a write transaction. Returns how many were
 * deleted (0 if none), or a negative CF_E* code.
 */
int64_t cf_state_delete_prefix(struct cf_state_ns *ns, int key_group, const void *prefix,
                               size_t plen);

/*
 * For metrics and tests: *entries is the number of entries in all namespaces (including
 * the open write transaction's changes), *bytes the size of the used part of data.mdb as
 * of the last commit (pages up to the highest one in use, free pages included).
 */
int cf_state_stats(struct cf_state *st, uint64_t *entries, uint64_t *bytes);

/*
 * Writes a consistent, compacted copy of the committed state into directory path (created
 * if needed; it must not already hold a data.mdb): path/data.mdb, an environment that
 * cf_state_open(path) reads back. LMDB takes the copy from a read transaction of its own
 * (and writes it from a helper thread of its own), so it does not conflict with the kept
 * read transaction; it must not be called with a write transaction open (asserted), and
 * it blocks until the copy is written. Errors in err name path.
 */
int cf_state_copy(struct cf_state *st, const char *path, struct cf_err *err);

/* The message of the last error returned by a function of st that takes no struct cf_err
 * ("" if none yet); valid until the next call on st. */
const char *cf_state_errmsg(const struct cf_state *st);

/* The namespace's name (the operator id); valid as long as the namespace. */
const char *cf_state_ns_name(const struct cf_state_ns *ns);
/* The environment a namespace belongs to (for cf_state_begin/commit). */
struct cf_state *cf_state_ns_env(struct cf_state_ns *ns);

#endif
