/*
 * objstore.h - one client for the object stores checkpoints, savepoints and file sinks
 * write to: local files, Amazon S3 (and S3-compatible servers), Google Cloud Storage.
 *
 * URLs
 *   "file:///abs/path", or a plain local path ("/abs/path", "rel/path"): the local file
 *   system. Paths are taken literally (no percent-decoding).
 *   "s3://bucket/key": S3. Requests are signed with AWS SigV4 (libcurl's CURLOPT_AWS_SIGV4)
 *   using AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when set), region
 *   AWS_REGION (else AWS_DEFAULT_REGION, else us-east-1). With CF_S3_ENDPOINT set (e.g.
 *   "http://127.0.0.1:4569": MinIO, s3rver) requests go path-style to that endpoint;
 *   otherwise to https://<bucket>.s3.<region>.amazonaws.com.
 *   "gs://bucket/key": Google Cloud Storage through its S3-compatible XML API with HMAC keys
 *   (CF_GCS_ACCESS_KEY_ID / CF_GCS_SECRET_ACCESS_KEY, else the AWS_* ones), signed for
 *   region CF_GCS_REGION (default "auto"), path-style to CF_GCS_ENDPOINT, default
 *   https://storage.googleapis.com.
 *   Without an access key, requests go unsigned (public buckets).
 *
 * A "prefix" (cf_obj_list, cf_obj_delete_prefix) names a directory: it covers the objects
 * whose key starts with "<prefix>/" - never "<prefix>-other" - and for file: the directory
 * tree at that path. The bucket itself ("s3://bucket") is the prefix of every object in it.
 *
 * Errors: 0 on success or a negative CF_E* code, with a message in err naming the URL (and
 * for S3 the HTTP status and the service's error code, and the name of the variable to
 * check on an authentication failure), never a credential. CF_ENOENT: the object is absent;
 * CF_EIO: refused (HTTP 403, ...) or failed after the retries (5 attempts with exponential
 * backoff and jitter on connection errors, HTTP 5xx and 429/SlowDown; other 4xx answers are
 * not retried); CF_EINVAL: a malformed URL or setting; CF_EUNSUPPORTED: an unknown scheme.
 *
 * Threads: every function may be called from any thread, concurrently, without a lock.
 * Each thread keeps one curl handle (keep-alive connections are reused). A struct
 * cf_obj_upload is used by one thread at a time.
 */
#ifndef CF_OBJSTORE_H
#define CF_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"

/* Default size of a multipart part and threshold of cf_obj_put_file's multipart path. */
#define CF_OBJ_PART_SIZE_DEFAULT (8u * 1024 * 1024)

/* Writes data as the object at url, replacing it. file: a temp file in the same directory,
 * fsync, rename, fsync of the directory (atomic; parent directories are created). */
int cf_obj_put(const char *url, const void *data, size_t len, struct cf_err *err);

/* Uploads the local file as the object at url. Above the part size (cf_obj_set_part_size)
 * S3 and GCS get a multipart upload, so memory use stays at one part. */
int cf_obj_put_file(const char *url, const char *local_path, struct cf_err *err);

/* Appends the object's content to out (out is left as it was on failure). CF_ENOENT when
 * the object is absent. The whole object lands in memory: large ones go to a file with
 * cf_obj_get_file(). */
int cf_obj_get(const char *url, struct cf_buf *out, struct cf_err *err);

/* Downloads the object into local_path (written to a temp file and renamed, so a failed
 * download leaves local_path untouched; parent directories are created). CF_ENOENT when the
 * object is absent. */
int cf_obj_get_file(const char *url, const char *local_path, struct cf_err *err);

/* Deletes the object; an absent object is not an error. */
int cf_obj_delete(const char *url, struct cf_err *err);

/* Deletes every object under the prefix (for file: the whole directory tree, temp files of
 * unfinished uploads included). An empty or absent prefix is not an error. Refuses "/" and
 * the empty path. */
int cf_obj_delete_prefix(const char *url_prefix, struct cf_err *err);

/* Called by cf_obj_list for each object: its full URL (borrowed, valid during the call) and
 * size in bytes. Return 0 to go on; any other value stops the listing and is returned by
 * cf_obj_list. The callback may call other cf_obj_* functions. */
typedef int (*cf_obj_list_fn)(void *arg, const char *url, uint64_t size);

/* Calls fn for every object under the prefix, in byte order of the URL (S3's order), as
 * "<scheme>://bucket/key" or, for local files, the prefix as given joined with the relative
 * path. Unfinished uploads (multipart, or file's ".<name>.inprogress-*") are not objects.
 * An absent prefix lists nothing. */
int cf_obj_list(const char *url_prefix, cf_obj_list_fn fn, void *arg, struct cf_err *err);

/* 1 if the object exists, 0 if not, or a negative CF_E* code. */
int cf_obj_exists(const char *url, struct cf_err *err);

/* base + "/" + name with exactly one slash between them ("s3://b/p" + "x/y" ->
 * "s3://b/p/x/y"; "s3://b/p/" + "/x" -> "s3://b/p/x"); an empty name gives base. The caller
 * frees the result with free(). */
char *cf_obj_join(const char *base, const char *name);

/*
 * Streaming upload that can be completed later, in another process: the two-phase commit
 * of a file sink (write during the checkpoint, prepare at the barrier, commit when the
 * checkpoint is complete, possibly after a restart).
 *   file: writes "<dir>/.<name>.inprogress-<random>"; commit renames it to the final name.
 *   s3/gs: a multipart upload (parts of the part size, the last one smaller); commit is
 *   CompleteMultipartUpload.
 * Nothing is visible at the final URL before the commit.
 */
struct cf_obj_upload;

/* Starts an upload to url. *out is owned by the caller until cf_obj_upload_prepare() or
 * cf_obj_upload_discard() frees it. */
int cf_obj_upload_begin(const char *url, struct cf_obj_upload **out, struct cf_err *err);

/* Appends data. Buffers up to one part, uploading each full part (so it may block on the
 * network). On failure the upload stays valid only for cf_obj_upload_discard(). */
int cf_obj_upload_write(struct cf_obj_upload *up, const void *data, size_t len, struct cf_err *err);

/* Flushes everything written (uploads the last part, fsyncs the file) and returns in
 * *token a malloc'd one-line printable text (URL, upload id or temp path, size, part ETags;
 * no secret) that cf_obj_upload_commit() or cf_obj_upload_abort() accepts in any process.
 * up is freed, on success and on failure (on failure the upload is aborted). */
int cf_obj_upload_prepare(struct cf_obj_upload *up, char **token, struct cf_err *err);

/* Makes the prepared upload visible at its URL. Idempotent: when the upload is gone and the
 * object is there with the upload's size, the commit already happened and this succeeds.
 * Upload gone and object absent (or another size): CF_ENOENT. */
int cf_obj_upload_commit(const char *token, struct cf_err *err);

/* Discards a prepared upload; an absent one (committed or aborted) is not an error. S3
 * servers without AbortMultipartUpload (s3rver) leave the parts behind (logged). */
int cf_obj_upload_abort(const char *token, struct cf_err *err);

/* Aborts an unprepared upload and frees it. NULL is a no-op. */
void cf_obj_upload_discard(struct cf_obj_upload *up);

/* Sets the multipart part size and put_file threshold for the whole process (default
 * CF_OBJ_PART_SIZE_DEFAULT; 0 restores it). For tests: real S3 and GCS reject parts under
 * 5 MiB other than the last. Uploads already begun keep theirs. Any thread. */
void cf_obj_set_part_size(size_t bytes);

/* The current part size. Any thread. */
size_t cf_obj_get_part_size(void);

/* Sets how many keys one ListObjectsV2 page asks for (default and maximum 1000; 0 restores
 * the default), so tests can exercise continuation tokens. Any thread. */
void cf_obj_set_list_page_size(unsigned keys);

#endif
