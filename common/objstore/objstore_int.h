/*
 * objstore_int.h - internals shared by the files of common/objstore: the parsed URL, the
 * upload state, the commit token, the two backends (objstore_file.c, objstore_s3.c) and
 * small text helpers (URI encoding, XML). Not for other modules; the unit test includes it
 * to check URL parsing, tokens and the XML reader directly.
 *
 * Every function here follows objstore.h's conventions: 0 or a negative CF_E* code, err
 * naming the URL, callable from any thread.
 */
#ifndef CF_OBJSTORE_INT_H
#define CF_OBJSTORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "objstore.h"

/* S3 allows at most this many parts in one multipart upload. */
#define CF_OBJ_MAX_PARTS 10000

enum cf_obj_kind {
    CF_OBJ_FILE,
    CF_OBJ_S3,
    CF_OBJ_GS,
};

/* A parsed URL. Strings are owned (cf_obj_url_free). */
struct cf_obj_url {
    enum cf_obj_kind kind;
    char *raw;    /* the URL as given, for messages and for building listed URLs */
    char *path;   /* file: the local path, trailing slashes removed (but "/" stays) */
    char *bucket; /* s3/gs: the bucket */
    char *key;    /* s3/gs: the key, "" for the bucket itself; no leading slash */
};

/* Parses url. CF_EINVAL when malformed (no bucket, empty path), CF_EUNSUPPORTED for a
 * scheme other than file, s3, gs. On failure *out holds nothing to free. */
int cf_obj_url_parse(const char *url, struct cf_obj_url *out, struct cf_err *err);
void cf_obj_url_free(struct cf_obj_url *u);

/* A prepared upload as carried by the commit token. Strings are owned. */
struct cf_obj_token {
    char *url;      /* the final URL */
    uint64_t size;  /* bytes written */
    char *id;       /* file: the temp path; s3/gs: the multipart upload id */
    char **etags;   /* s3/gs: ETag of part i+1, as the server sent it */
    size_t n_parts; /* s3/gs: number of parts (0 for file) */
};

/* Formats t as one line of printable ASCII without spaces inside fields:
 * "cfup1 <url> <size> <id> [<etag>...]", each field percent-encoded. Caller frees. */
char *cf_obj_token_format(const struct cf_obj_token *t);
/* Parses a token; CF_EINVAL if it is not one. On failure *t holds nothing to free. */
int cf_obj_token_parse(const char *s, struct cf_obj_token *t, struct cf_err *err);
void cf_obj_token_free(struct cf_obj_token *t);

/* An upload in progress: the backend's state. Owned by whoever holds the pointer. */
struct cf_obj_upload {
    struct cf_obj_url url;
    size_t part_size; /* s3/gs: size of every part but the last */
    uint64_t size;    /* bytes accepted by cf_obj_upload_write */
    /* file */
    int fd;
    char *tmp_path;
    /* s3/gs */
    char *upload_id;
    struct cf_buf part; /* the part being filled */
    char **etags;
    size_t n_parts, cap_parts;
};

/* Appends s[0..len) to out, percent-encoding every byte but RFC 3986's unreserved ones
 * (A-Z a-z 0-9 - . _ ~) and, when keep_slash, '/': the form SigV4 canonical requests use
 * for S3 keys (keep_slash) and query values (not). */
void cf_obj_uri_encode(struct cf_buf *out, const char *s, size_t len, int keep_slash);

/*
 * A minimal reader for the XML S3 sends back (no CDATA, comments or namespaced tags are
 * needed). Finds the next element <tag> (attributes allowed, "<tag/>" is empty) in
 * xml[*pos..len), points *inner / *inner_len at its raw inner text and moves *pos past the
 * element. Returns 1 when found, 0 when not. The inner text of a container (<Contents>) is
 * a sub-document to search again; decode leaf text with cf_obj_xml_text().
 */
int cf_obj_xml_find(const char *xml, size_t len, size_t *pos, const char *tag, const char **inner,
                    size_t *inner_len);
/* Appends s[0..len) to out with the five predefined entities and numeric character
 * references (&#38; &#x26;) decoded; anything else is copied as is. */
void cf_obj_xml_text(struct cf_buf *out, const char *s, size_t len);

/* Keys per ListObjectsV2 page (cf_obj_set_list_page_size). */
unsigned cf_obj_list_page_size(void);
/* Fills buf with 2*n lowercase hex digits of getrandom() bytes plus a NUL. */
void cf_obj_random_hex(char *buf, size_t n);

/* The file backend (objstore_file.c). */
int cf_obj_file_put(const struct cf_obj_url *u, const void *data, size_t len, struct cf_err *err);
int cf_obj_file_get(const struct cf_obj_url *u, struct cf_buf *out, struct cf_err *err);
int cf_obj_file_get_file(const struct cf_obj_url *u, const char *local_path, struct cf_err *err);
int cf_obj_file_delete(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_file_delete_prefix(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_file_list(const struct cf_obj_url *u, cf_obj_list_fn fn, void *arg, struct cf_err *err);
int cf_obj_file_exists(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_file_upload_begin(struct cf_obj_upload *up, struct cf_err *err);
int cf_obj_file_upload_write(struct cf_obj_upload *up, const void *data, size_t len,
                             struct cf_err *err);
int cf_obj_file_upload_prepare(struct cf_obj_upload *up, struct cf_obj_token *t,
                               struct cf_err *err);
void cf_obj_file_upload_discard(struct cf_obj_upload *up);
int cf_obj_file_upload_commit(const struct cf_obj_url *u, const struct cf_obj_token *t,
                              struct cf_err *err);
int cf_obj_file_upload_abort(const struct cf_obj_url *u, const struct cf_obj_token *t,
                             struct cf_err *err);
/* Writes a local file crash-safe (temp, fsync, rename, fsync dir), creating parents; the
 * data comes from fill(arg, fd) (0 or CF_E*, err set). Used by put and get_file. */
int cf_obj_file_write_atomic(const char *path, const char *what,
                             int (*fill)(void *arg, int fd, struct cf_err *err), void *arg,
                             struct cf_err *err);

/* The S3 / GCS backend (objstore_s3.c). */
int cf_obj_s3_put(const struct cf_obj_url *u, const void *data, size_t len, struct cf_err *err);
int cf_obj_s3_get(const struct cf_obj_url *u, struct cf_buf *out, struct cf_err *err);
int cf_obj_s3_get_file(const struct cf_obj_url *u, const char *local_path, struct cf_err *err);
int cf_obj_s3_delete(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_s3_delete_prefix(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_s3_list(const struct cf_obj_url *u, cf_obj_list_fn fn, void *arg, struct cf_err *err);
int cf_obj_s3_exists(const struct cf_obj_url *u, struct cf_err *err);
int cf_obj_s3_upload_begin(struct cf_obj_upload *up, struct cf_err *err);
int cf_obj_s3_upload_write(struct cf_obj_upload *up, const void *data, size_t len,
                           struct cf_err *err);
int cf_obj_s3_upload_prepare(struct cf_obj_upload *up, struct cf_obj_token *t, struct cf_err *err);
void cf_obj_s3_upload_discard(struct cf_obj_upload *up);
int cf_obj_s3_upload_commit(const struct cf_obj_url *u, const struct cf_obj_token *t,
                            struct cf_err *err);
int cf_obj_s3_upload_abort(const struct cf_obj_url *u, const struct cf_obj_token *t,
                           struct cf_err *err);

#endif
