/*
 * jobstore.h - the coordinator's durable job store (DESIGN.md section 5).
 *
 * Jobs (id, name, submitted spec, state, times, restarts, failure, restore pointers) are
 * kept in an LMDB environment under the coordinator's --data-dir, one record per job, so a
 * coordinator that is killed and restarted on the same directory finds its jobs again.
 * Each put is one committed LMDB transaction: it survives the process being killed (the
 * data is in the OS page cache); durability across an OS crash is not promised.
 *
 * A store is used by one thread at a time (the coordinator holds its lock around it).
 */
#ifndef CF_JOBSTORE_H
#define CF_JOBSTORE_H

#include <stdint.h>

#include "common/base/err.h"
#include "common/base/id.h"

struct cf_job_record {
    char id[CF_ID_LEN + 1];
    char *name;
    char *spec;         /* the job spec as submitted (JSON text) */
    int parallelism;    /* cfctl run -p; 0: the spec's */
    int state;          /* enum cf_job_state */
    int64_t start_time; /* ms since the epoch */
    int64_t end_time;   /* ms, -1 while running */
    int64_t restarts;   /* attempts restarted so far */
    char *failure;      /* why the last attempt failed, or NULL */
    char *restore_path; /* savepoint or checkpoint to start from, or NULL */
    int allow_non_restored;
    /* The latest completed checkpoint (restarts resume from it) and the retained ones,
     * oldest first, newline-separated (deleted beyond `retain`; fallbacks when corrupt). */
    int64_t checkpoint_id;
    char *checkpoint_path;
    char *retained;
};

struct cf_jobstore;

int cf_jobstore_open(const char *dir, struct cf_jobstore **out, struct cf_err *err);
void cf_jobstore_close(struct cf_jobstore *js);
/* Inserts or replaces the record with rec->id. */
int cf_jobstore_put(struct cf_jobstore *js, const struct cf_job_record *rec, struct cf_err *err);
/* Reads a record into rec (caller frees with cf_job_record_clear); CF_ENOENT if unknown. */
int cf_jobstore_get(struct cf_jobstore *js, const char *id, struct cf_job_record *rec);
/* Calls fn for every record (in id order); a nonzero return stops and is returned. */
int cf_jobstore_each(struct cf_jobstore *js, int (*fn)(void *arg, const struct cf_job_record *rec),
                     void *arg);
int cf_jobstore_delete(struct cf_jobstore *js, const char *id);
void cf_job_record_clear(struct cf_job_record *rec);

#endif
