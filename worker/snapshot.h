/*
 * snapshot.h - one operator's checkpoint state in one subtask, as an LMDB file.
 *
 * File format (DESIGN.md section 5: <dir>/<job-id>/chk-<n>/<operator-id>/<subtask>.mdb):
 * an LMDB environment in a single file (MDB_NOSUBDIR) with three named databases:
 *   "ns"    the operator's keyed-state namespace (worker/state.h), copied entry by entry,
 *           keys "kg(2 bytes, big-endian) | key" as in the namespace;
 *   "keyed" keyed entries the operator put itself (cf_snapshot_put_keyed), same key layout;
 *   "op"    operator (non-keyed) entries (cf_snapshot_put), restored to every subtask.
 * Keys are sorted by key group first, so a restore with another parallelism reads one
 * contiguous run per file.
 *
 * A writer is created, filled on the task thread and finished (closing the file) before it
 * is uploaded. A reader gathers every file of one operator that a restoring subtask needs
 * (all of them for "op", those overlapping its key-group range for "ns" and "keyed") and
 * filters keyed entries by that range.
 */
#ifndef CF_SNAPSHOT_H
#define CF_SNAPSHOT_H

#include <stdint.h>

#include "common/base/err.h"
#include "op.h"
#include "state.h"

/* Writing. path is a local file (its directory must exist). */
int cf_snapshot_create(const char *path, int64_t id, struct cf_snapshot **out, struct cf_err *err);
/* Copies every committed entry of the namespace into "ns" (outside a write transaction). */
int cf_snapshot_copy_ns(struct cf_snapshot *snap, struct cf_state_ns *ns, struct cf_err *err);
/* Commits and closes the file. *entries counts what was written (0: the operator has no state
 * in this checkpoint; the caller may skip the upload). Frees snap in every case. */
int cf_snapshot_finish(struct cf_snapshot *snap, uint64_t *entries, struct cf_err *err);
/* Abandons a writer or frees a reader. NULL is a no-op. */
void cf_snapshot_free(struct cf_snapshot *snap);

/* Reading. Keyed entries are visible only for key groups kg_lo..kg_hi (inclusive). */
struct cf_snapshot *cf_snapshot_reader(int64_t id, int kg_lo, int kg_hi);
/* Adds one downloaded file (opened read-only; it must stay until the reader is freed). */
int cf_snapshot_add_file(struct cf_snapshot *snap, const char *path, struct cf_err *err);
/* Puts the "ns" entries in range into the namespace (opens and commits its own write
 * transactions, so no transaction may be open). */
int cf_snapshot_restore_ns(struct cf_snapshot *snap, struct cf_state_ns *ns, struct cf_err *err);
/* 1 if the files hold any "ns" entries (in range or not). */
int cf_snapshot_has_ns(struct cf_snapshot *snap);

#endif
