/*
 * objstore.c - the public cf_obj_* functions: URL parsing, dispatch to the file backend
 * (objstore_file.c) or the S3/GCS backend (objstore_s3.c), and what both share: joining
 * URLs, the commit token of a prepared upload, URI encoding and the small XML reader.
 *
 * cf_obj_put_file() is written once here on top of the backends: small files are one put,
 * larger ones stream through an upload (begin/write/prepare/commit), so a multipart upload
 * to S3 never holds more than one part in memory and a local copy never holds the file.
 */
#include "objstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/mem.h"
#include "../base/strutil.h"
#include "objstore_int.h"

/* Bytes read from a local file per cf_obj_upload_write() call in cf_obj_put_file(). */
#define PUT_FILE_CHUNK (1u << 20)
#define LIST_PAGE_MAX  1000u

static _Atomic size_t g_part_size = CF_OBJ_PART_SIZE_DEFAULT;
static _Atomic unsigned g_list_page = LIST_PAGE_MAX;

void cf_obj_set_part_size(size_t bytes)
{
    atomic_store(&g_part_size, bytes ? bytes : CF_OBJ_PART_SIZE_DEFAULT);
}

size_t cf_obj_get_part_size(void)
{
    return atomic_load(&g_part_size);
}

void cf_obj_set_list_page_size(unsigned keys)
{
    atomic_store(&g_list_page, keys && keys < LIST_PAGE_MAX ? keys : LIST_PAGE_MAX);
}

unsigned cf_obj_list_page_size(void)
{
    return atomic_load(&g_list_page);
}

void cf_obj_random_hex(char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    cf_assert(n <= sizeof(raw));
    size_t got = 0;
    while (got < n) {
        /* Without flags, getrandom() waits for the entropy pool; for up to 256 bytes it
         * can only fail by being interrupted. */
        ssize_t r = getrandom(raw + got, n - got, 0);
        cf_assert(r >= 0 || errno == EINTR);
        got += r > 0 ? (size_t)r : 0;
    }
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[2 * n] = '\0';
}

/* ---- URLs ---- */

/* Length of "scheme://" at the start of s, or 0 if s has no such prefix. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return 0;
    }
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.') {
        i++;
    }
    return strncmp(s + i, "://", 3) == 0 ? i + 3 : 0;
}

static int bucket_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static char *path_dup_trimmed(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') {
        n--;
    }
    return cf_strndup(p, n);
}

int cf_obj_url_parse(const char *url, struct cf_obj_url *out, struct cf_err *err)
{
    cf_assert(url && out);
    memset(out, 0, sizeof(*out));
    size_t sl = scheme_len(url);
    if (sl == 0) {
        if (!url[0]) {
            return cf_err_set(err, CF_EINVAL, "empty object store URL");
        }
        out->kind = CF_OBJ_FILE;
        out->raw = cf_strdup(url);
        out->path = path_dup_trimmed(url);
        return 0;
    }
    if (sl == 7 && strncmp(url, "file://", 7) == 0) {
        const char *p = url + 7;
        if (strncmp(p, "localhost/", 10) == 0) {
            p += 9;
        }
        if (p[0] != '/') {
            return cf_err_set(err, CF_EINVAL,
                              "invalid URL '%s': a file URL needs an absolute path "
                              "(file:///abs/path)",
                              url);
        }
        out->kind = CF_OBJ_FILE;
        out->raw = cf_strdup(url);
        out->path = path_dup_trimmed(p);
        return 0;
    }
    if (sl == 5 && (strncmp(url, "s3://", 5) == 0 || strncmp(url, "gs://", 5) == 0)) {
        const char *b = url + 5;
        size_t blen = strcspn(b, "/");
        if (blen == 0) {
            return cf_err_set(err, CF_EINVAL, "invalid URL '%s': no bucket (%.5sbucket/key)", url,
                              url);
        }
        for (size_t i = 0; i < blen; i++) {
            if (!bucket_char_ok(b[i])) {
                return cf_err_set(err, CF_EINVAL, "invalid URL '%s': bad bucket name '%.*s'", url,
                                  (int)blen, b);
            }
        }
        out->kind = url[0] == 's' ? CF_OBJ_S3 : CF_OBJ_GS;
        out->raw = cf_strdup(url);
        out->bucket = cf_strndup(b, blen);
        out->key = cf_strdup(b[blen] == '/' ? b + blen + 1 : "");
        return 0;
    }
    return cf_err_set(err, CF_EUNSUPPORTED,
                      "unsupported object store URL '%s': use file://, s3:// or gs://", url);
}

void cf_obj_url_free(struct cf_obj_url *u)
{
    if (!u) {
        return;
    }
    cf_free(u->raw);
    cf_free(u->path);
    cf_free(u->bucket);
    cf_free(u->key);
    memset(u, 0, sizeof(*u));
}

char *cf_obj_join(const char *base, const char *name)
{
    cf_assert(base && name);
    while (*name == '/') {
        name++;
    }
    if (!*name) {
        return cf_strdup(base);
    }
    if (!*base) {
        return cf_strdup(name);
    }
    /* Trailing slashes go, but never into "scheme://": "file:///" + "x" -> "file:///x". */
    size_t min = scheme_len(base);
    size_t n = strlen(base);
    while (n > min && base[n - 1] == '/') {
        n--;
    }
    return cf_asprintf("%.*s/%s", (int)n, base, name);
}

/* Parses url into u and checks that it names an object (not a bucket, not empty). */
static int parse_object_url(const char *url, struct cf_obj_url *u, struct cf_err *err)
{
    int rc = cf_obj_url_parse(url, u, err);
    if (rc < 0) {
        return rc;
    }
    if (u->kind != CF_OBJ_FILE && (!u->key[0] || u->key[strlen(u->key) - 1] == '/')) {
        cf_obj_url_free(u);
        return cf_err_set(err, CF_EINVAL,
                          "invalid URL '%s': names a bucket or a directory, "
                          "not an object",
                          url);
    }
    return 0;
}

/* ---- public operations: dispatch ---- */

int cf_obj_put(const char *url, const void *data, size_t len, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_put(&u, data, len, err)
                               : cf_obj_s3_put(&u, data, len, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_get(const char *url, struct cf_buf *out, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_get(&u, out, err) : cf_obj_s3_get(&u, out, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_get_file(const char *url, const char *local_path, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_get_file(&u, local_path, err)
                               : cf_obj_s3_get_file(&u, local_path, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_delete(const char *url, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_delete(&u, err) : cf_obj_s3_delete(&u, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_delete_prefix(const char *url_prefix, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = cf_obj_url_parse(url_prefix, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_delete_prefix(&u, err)
                               : cf_obj_s3_delete_prefix(&u, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_list(const char *url_prefix, cf_obj_list_fn fn, void *arg, struct cf_err *err)
{
    cf_assert(fn);
    struct cf_obj_url u;
    int rc = cf_obj_url_parse(url_prefix, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_list(&u, fn, arg, err)
                               : cf_obj_s3_list(&u, fn, arg, err);
    cf_obj_url_free(&u);
    return rc;
}

int cf_obj_exists(const char *url, struct cf_err *err)
{
    struct cf_obj_url u;
    int rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = u.kind == CF_OBJ_FILE ? cf_obj_file_exists(&u, err) : cf_obj_s3_exists(&u, err);
    cf_obj_url_free(&u);
    return rc;
}

/* ---- uploads ---- */

static void upload_free(struct cf_obj_upload *up)
{
    cf_obj_url_free(&up->url);
    cf_free(up->tmp_path);
    cf_free(up->upload_id);
    cf_buf_destroy(&up->part);
    for (size_t i = 0; i < up->n_parts; i++) {
        cf_free(up->etags[i]);
    }
    cf_free(up->etags);
    cf_free(up);
}

/* Starts an upload with the given part size (put_file grows it for very large files). */
static int upload_begin(const char *url, size_t part_size, struct cf_obj_upload **out,
                        struct cf_err *err)
{
    cf_assert(out);
    *out = NULL;
    struct cf_obj_upload *up = cf_new(struct cf_obj_upload);
    up->fd = -1;
    up->part_size = part_size;
    cf_buf_init(&up->part);
    int rc = parse_object_url(url, &up->url, err);
    if (rc == 0) {
        rc = up->url.kind == CF_OBJ_FILE ? cf_obj_file_upload_begin(up, err)
                                         : cf_obj_s3_upload_begin(up, err);
    }
    if (rc < 0) {
        upload_free(up);
        return rc;
    }
    *out = up;
    return 0;
}

int cf_obj_upload_begin(const char *url, struct cf_obj_upload **out, struct cf_err *err)
{
    return upload_begin(url, cf_obj_get_part_size(), out, err);
}

int cf_obj_upload_write(struct cf_obj_upload *up, const void *data, size_t len, struct cf_err *err)
{
    cf_assert(up && (data || len == 0));
    if (len == 0) {
        return 0;
    }
    return up->url.kind == CF_OBJ_FILE ? cf_obj_file_upload_write(up, data, len, err)
                                       : cf_obj_s3_upload_write(up, data, len, err);
}

int cf_obj_upload_prepare(struct cf_obj_upload *up, char **token, struct cf_err *err)
{
    cf_assert(up && token);
    *token = NULL;
    struct cf_obj_token t = {0};
    int rc = up->url.kind == CF_OBJ_FILE ? cf_obj_file_upload_prepare(up, &t, err)
                                         : cf_obj_s3_upload_prepare(up, &t, err);
    if (rc < 0) {
        cf_obj_upload_discard(up);
        return rc;
    }
    *token = cf_obj_token_format(&t);
    cf_obj_token_free(&t);
    upload_free(up);
    return 0;
}

void cf_obj_upload_discard(struct cf_obj_upload *up)
{
    if (!up) {
        return;
    }
    if (up->url.kind == CF_OBJ_FILE) {
        cf_obj_file_upload_discard(up);
    } else {
        cf_obj_s3_upload_discard(up);
    }
    upload_free(up);
}

/* Parses a token and the URL inside it. */
static int token_open(const char *token, struct cf_obj_token *t, struct cf_obj_url *u,
                      struct cf_err *err)
{
    int rc = cf_obj_token_parse(token, t, err);
    if (rc < 0) {
        return rc;
    }
    rc = parse_object_url(t->url, u, err);
    if (rc < 0) {
        cf_obj_token_free(t);
    }
    return rc;
}

typedef int (*token_fn)(const struct cf_obj_url *u, const struct cf_obj_token *t,
                        struct cf_err *err);

/* Opens the token and hands it to the backend of its URL. */
static int on_token(const char *token, token_fn file_fn, token_fn s3_fn, struct cf_err *err)
{
    cf_assert(token);
    struct cf_obj_token t;
    struct cf_obj_url u;
    int rc = token_open(token, &t, &u, err);
    if (rc < 0) {
        return rc;
    }
    rc = (u.kind == CF_OBJ_FILE ? file_fn : s3_fn)(&u, &t, err);
    cf_obj_url_free(&u);
    cf_obj_token_free(&t);
    return rc;
}

int cf_obj_upload_commit(const char *token, struct cf_err *err)
{
    return on_token(token, cf_obj_file_upload_commit, cf_obj_s3_upload_commit, err);
}

int cf_obj_upload_abort(const char *token, struct cf_err *err)
{
    return on_token(token, cf_obj_file_upload_abort, cf_obj_s3_upload_abort, err);
}

/* ---- put_file ---- */

/* Reads exactly len bytes (a file that shrinks under us is an error). */
static int read_full(int fd, void *buf, size_t len, const char *path, struct cf_err *err)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return cf_err_set(err, CF_EIO, "cannot read %s: %s", path, strerror(errno));
        }
        if (r == 0) {
            return cf_err_set(err, CF_EIO, "cannot read %s: file shrank while reading", path);
        }
        got += (size_t)r;
    }
    return 0;
}

int cf_obj_put_file(const char *url, const char *local_path, struct cf_err *err)
{
    cf_assert(url && local_path);
    int rc = 0;
    char *data = NULL;
    struct cf_obj_upload *up = NULL;
    char *token = NULL;
    int fd = open(local_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = cf_err_set(err, errno == ENOENT ? CF_ENOENT : CF_EIO, "cannot upload %s to %s: %s",
                        local_path, url, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = cf_err_set(err, CF_EINVAL, "cannot upload %s to %s: not a regular file", local_path,
                        url);
        goto out;
    }
    struct cf_obj_url u;
    rc = parse_object_url(url, &u, err);
    if (rc < 0) {
        goto out;
    }
    int is_file = u.kind == CF_OBJ_FILE;
    cf_obj_url_free(&u);
    uint64_t size = (uint64_t)st.st_size;
    size_t part = cf_obj_get_part_size();

    if (!is_file && size <= part) {
        /* One PUT: at most one part in memory, as for the multipart path. */
        data = cf_try_malloc((size_t)size);
        if (!data) {
            rc = cf_err_set(err, CF_ENOMEM, "cannot upload %s to %s: out of memory", local_path,
                            url);
            goto out;
        }
        rc = read_full(fd, data, (size_t)size, local_path, err);
        if (rc == 0) {
            rc = cf_obj_put(url, data, (size_t)size, err);
        }
        goto out;
    }

    /* Grow the part size so that the whole file fits in S3's 10000 parts. */
    while (!is_file && size / part >= CF_OBJ_MAX_PARTS) {
        part *= 2;
    }
    rc = upload_begin(url, part, &up, err);
    if (rc < 0) {
        goto out;
    }
    data = cf_malloc(PUT_FILE_CHUNK);
    for (uint64_t left = size; left > 0;) {
        size_t n = left < PUT_FILE_CHUNK ? (size_t)left : PUT_FILE_CHUNK;
        rc = read_full(fd, data, n, local_path, err);
        if (rc == 0) {
            rc = cf_obj_upload_write(up, data, n, err);
        }
        if (rc < 0) {
            goto out;
        }
        left -= n;
    }
    rc = cf_obj_upload_prepare(up, &token, err);
    up = NULL; /* freed by prepare, on failure too */
    if (rc == 0) {
        rc = cf_obj_upload_commit(token, err);
        if (rc < 0) {
            cf_obj_upload_abort(token, NULL);
        }
    }

out:
    cf_obj_upload_discard(up);
    cf_free(token);
    cf_free(data);
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* ---- tokens ---- */

static void field_encode(struct cf_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            cf_buf_putc(out, '%');
            cf_buf_putc(out, hex[c >> 4]);
            cf_buf_putc(out, hex[c & 15]);
        } else {
            cf_buf_putc(out, (char)c);
        }
    }
}

/* Decodes s[0..n) (a field); NULL when a %XX escape is broken or decodes to NUL. */
static char *field_decode(const char *s, size_t n)
{
    char *d = cf_malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? cf_hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? cf_hex_digit(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            cf_free(d);
            return NULL;
        }
        d[j++] = (char)(hi << 4 | lo);
        i += 2;
    }
    d[j] = '\0';
    return d;
}

char *cf_obj_token_format(const struct cf_obj_token *t)
{
    struct cf_buf b;
    cf_buf_init(&b);
    cf_buf_puts(&b, "cfup1 ");
    field_encode(&b, t->url);
    cf_buf_appendf(&b, " %llu ", (unsigned long long)t->size);
    field_encode(&b, t->id);
    for (size_t i = 0; i < t->n_parts; i++) {
        cf_buf_putc(&b, ' ');
        field_encode(&b, t->etags[i]);
    }
    return b.data;
}

void cf_obj_token_free(struct cf_obj_token *t)
{
    if (!t) {
        return;
    }
    cf_free(t->url);
    cf_free(t->id);
    for (size_t i = 0; i < t->n_parts; i++) {
        cf_free(t->etags[i]);
    }
    cf_free(t->etags);
    memset(t, 0, sizeof(*t));
}

int cf_obj_token_parse(const char *s, struct cf_obj_token *t, struct cf_err *err)
{
    memset(t, 0, sizeof(*t));
    size_t cap = 0, nf = 0;
    const char *p = s;
    char *size_text = NULL;
    if (strncmp(p, "cfup1 ", 6) != 0) {
        goto bad;
    }
    p += 6;
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n == 0) {
            goto bad;
        }
        char *f = field_decode(p, n);
        if (!f) {
            goto bad;
        }
        if (nf == 0) {
            t->url = f;
        } else if (nf == 1) {
            size_text = f;
        } else if (nf == 2) {
            t->id = f;
        } else {
            if (t->n_parts == cap) {
                cap = cap ? cap * 2 : 8;
                t->etags = cf_realloc(t->etags, cap * sizeof(*t->etags));
            }
            t->etags[t->n_parts++] = f;
        }
        nf++;
        p += n;
        if (*p == ' ') {
            p++;
            if (!*p) {
                goto bad;
            }
        }
    }
    if (nf < 3 || t->n_parts > CF_OBJ_MAX_PARTS) {
        goto bad;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(size_text, &end, 10);
    if (errno || !size_text[0] || *end || size_text[0] == '-') {
        goto bad;
    }
    t->size = v;
    cf_free(size_text);
    return 0;
bad:
    cf_free(size_text);
    cf_obj_token_free(t);
    return cf_err_set(err, CF_EINVAL, "invalid upload token '%.80s%s'", s,
                      strlen(s) > 80 ? "..." : "");
}

/* ---- text helpers ---- */

void cf_obj_uri_encode(struct cf_buf *out, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
            cf_buf_putc(out, (char)c);
        } else {
            cf_buf_putc(out, '%');
            cf_buf_putc(out, hex[c >> 4]);
            cf_buf_putc(out, hex[c & 15]);
        }
    }
}

static const char *find_n(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

int cf_obj_xml_find(const char *xml, size_t len, size_t *pos, const char *tag, const char **inner,
                    size_t *inner_len)
{
    size_t tl = strlen(tag);
    size_t i = *pos;
    while (i < len) {
        const char *lt = memchr(xml + i, '<', len - i);
        if (!lt) {
            return 0;
        }
        size_t at = (size_t)(lt - xml);
        i = at + 1;
        if (at + 1 + tl >= len || memcmp(lt + 1, tag, tl) != 0) {
            continue;
        }
        char c = lt[1 + tl];
        if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/') {
            continue; /* <KeyCount> is not <Key> */
        }
        const char *gt = memchr(lt, '>', len - at);
        if (!gt) {
            return 0;
        }
        size_t start = (size_t)(gt - xml) + 1;
        if (gt[-1] == '/') { /* <Tag/> */
            *inner = xml + start;
            *inner_len = 0;
            *pos = start;
            return 1;
        }
        char close[80];
        if (tl + 4 > sizeof(close)) {
            return 0;
        }
        snprintf(close, sizeof(close), "</%s>", tag);
        const char *end = find_n(xml + start, len - start, close);
        if (!end) {
            return 0;
        }
        *inner = xml + start;
        *inner_len = (size_t)(end - (xml + start));
        *pos = (size_t)(end - xml) + tl + 3;
        return 1;
    }
    return 0;
}

/* Appends code point cp as UTF-8. */
static void put_utf8(struct cf_buf *out, unsigned long cp)
{
    if (cp < 0x80) {
        cf_buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        cf_buf_putc(out, (char)(0xC0 | (cp >> 6)));
        cf_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        cf_buf_putc(out, (char)(0xE0 | (cp >> 12)));
        cf_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        cf_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else {
        cf_buf_putc(out, (char)(0xF0 | (cp >> 18)));
        cf_buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
        cf_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        cf_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    }
}

void cf_obj_xml_text(struct cf_buf *out, const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    cf_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '&') {
            cf_buf_putc(out, s[i]);
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        size_t n = semi ? (size_t)(semi - (s + i)) + 1 : 0; /* "&...;" */
        int done = 0;
        if (n > 2 && s[i + 1] == '#') {
            int base = (s[i + 2] == 'x' || s[i + 2] == 'X') ? 16 : 10;
            size_t d = base == 16 ? i + 3 : i + 2;
            unsigned long cp = 0;
            int ok = d < i + n - 1;
            for (size_t k = d; ok && k < i + n - 1; k++) {
                int v = base == 16 ? cf_hex_digit(s[k])
                                   : (s[k] >= '0' && s[k] <= '9' ? s[k] - '0' : -1);
                ok = v >= 0 && cp <= 0x10FFFF;
                cp = cp * (unsigned long)base + (unsigned long)(v < 0 ? 0 : v);
            }
            if (ok && cp > 0 && cp <= 0x10FFFF) {
                put_utf8(out, cp);
                done = 1;
            }
        } else if (n > 2) {
            for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
                if (n - 1 == strlen(named[k].name) &&
                    memcmp(s + i + 1, named[k].name, n - 1) == 0) {
                    cf_buf_putc(out, named[k].c);
                    done = 1;
                    break;
                }
            }
        }
        if (done) {
            i += n - 1;
        } else {
            cf_buf_putc(out, '&');
        }
    }
}
