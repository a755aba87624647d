/*
 * ckpt_meta.h - a checkpoint's or savepoint's _metadata (DESIGN.md section 5).
 *
 * Written by the coordinator once every task acknowledged, read by restoring tasks and by
 * the coordinator after its own restart. JSON, so an operator can read it with jq:
 *
 *   {"version": 1, "job_id": "...", "checkpoint_id": 7, "timestamp": 1700000000000,
 *    "savepoint": false, "max_parallelism": 128,
 *    "operators": [{"id": "per-user", "parallelism": 2,
 *                   "files": [{"subtask": 0, "path": "s3://b/p/<job>/chk-7/per-user/0.mdb",
 *                              "size": 8192, "checksum": "cfh64:0123456789abcdef",
 *                              "key_group_start": 0, "key_group_end": 63}]}]}
 *
 * Every operator of the job is listed, with or without files, so a restore can tell
 * "this operator had no state" from "this operator did not exist".
 */
#ifndef CF_CKPT_META_H
#define CF_CKPT_META_H

#include <stdint.h>

#include "common/base/buf.h"
#include "common/base/err.h"

struct cf_ckpt_file {
    int subtask;
    char *path;
    uint64_t size;
    char *checksum;
    int kg_lo, kg_hi;
};

struct cf_ckpt_op {
    char *id;
    int parallelism;
    int nfiles;
    struct cf_ckpt_file *files;
};

struct cf_ckpt_meta {
    char *job_id;
    int64_t checkpoint_id;
    int64_t timestamp;
    int savepoint;
    int max_parallelism;
    int nops;
    struct cf_ckpt_op *ops;
};

int cf_ckpt_meta_parse(const char *text, size_t len, struct cf_ckpt_meta **out, struct cf_err *err);
void cf_ckpt_meta_write(const struct cf_ckpt_meta *meta, struct cf_buf *out);
void cf_ckpt_meta_free(struct cf_ckpt_meta *meta);
/* The operator's entry, or NULL. */
const struct cf_ckpt_op *cf_ckpt_meta_op(const struct cf_ckpt_meta *meta, const char *id);
/* Adds a file to operator id (created with parallelism if absent); copies the strings. */
void cf_ckpt_meta_add_file(struct cf_ckpt_meta *meta, const char *id, int parallelism,
                           const struct cf_ckpt_file *file);
/* Reads <dir>/_metadata through the object store. */
int cf_ckpt_meta_load(const char *dir, struct cf_ckpt_meta **out, struct cf_err *err);
/* "cfh64:<16 hex>" of a local file's content; 0 or CF_EIO. */
int cf_ckpt_checksum_file(const char *path, char out[32], uint64_t *size, struct cf_err *err);

#endif
