/*
 * objstore_s3.c - s3:// and gs:// over the S3 REST API (GCS through its S3-compatible XML
 * API with HMAC keys), on libcurl.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4 ("aws:amz:<region>:s3"). Two quirks of libcurl
 * 7.x's signer shape the requests (DESIGN.md section 9):
 *   - it signs the query string as given, so every query here is built already in SigV4
 *     canonical form: parameters sorted by name, names and values URI-encoded (RFC 3986
 *     unreserved characters kept), "name=" for a parameter without a value;
 *   - it only hashes CURLOPT_POSTFIELDS bodies, and S3 rejects a signed request without an
 *     x-amz-content-sha256 header, so every request sends "x-amz-content-sha256:
 *     UNSIGNED-PAYLOAD" (valid for S3, GCS and s3rver; TLS protects the body on the wire).
 * The request path is the key URI-encoded the same way ('/' kept) and sent as is
 * (CURLOPT_PATH_AS_IS), because the server signs the path it decodes and re-encodes.
 *
 * Credentials come from the environment at each call and only reach curl's USERNAME and
 * PASSWORD options: no message or log line here prints a header, the Authorization value,
 * the access key or the secret; error messages carry the URL, the HTTP status and S3's
 * <Code>/<Message>, plus the *name* of the variable to check.
 *
 * Retries: a request is tried up to RETRY_MAX times, sleeping 100 ms, 200 ms, 400 ms, ...
 * (each jittered down to between half and all of it) after connection errors, timeouts,
 * HTTP 5xx and 429, and S3's SlowDown/RequestTimeout codes. 4xx answers are final.
 *
 * Threads: each thread keeps one curl easy handle (a pthread key, freed when the thread
 * exits), reset before every request but keeping its connections alive. Nothing else is
 * shared, so no lock is needed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/http/http_client.h"

#include "../base/log.h"
#include "../base/mem.h"
#include "objstore_int.h"

#define RETRY_MAX            5
#define RETRY_BASE_MS        100
#define CONNECT_TIMEOUT_MS   10000L
#define STALL_TIMEOUT_S      60L          /* abort a transfer that moves nothing this long */
#define ERROR_BODY_MAX       (64u * 1024) /* error bodies beyond this are cut */
#define RECV_BUFFER_SIZE     (256L * 1024)
#define AWS_REGION_DEFAULT   "us-east-1"
#define GCS_REGION_DEFAULT   "auto"
#define GCS_ENDPOINT_DEFAULT "https://storage.googleapis.com"

/* ---- configuration from the environment ---- */

struct s3_cfg {
    char endpoint[512];       /* scheme://host[:port], no trailing slash */
    const char *endpoint_var; /* the variable it came from, NULL for the default */
    int path_style;           /* "/<bucket>/<key>" rather than "<bucket>.host/<key>" */
    char sigv4[96];           /* CURLOPT_AWS_SIGV4 value */
    const char *access;       /* NULL: unsigned requests */
    const char *secret;
    const char *session; /* AWS_SESSION_TOKEN, or NULL */
    const char *access_var;
    const char *secret_var;
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static int region_ok(const char *r)
{
    if (!r[0] || strlen(r) > 40) {
        return 0;
    }
    for (; *r; r++) {
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-')) {
            return 0;
        }
    }
    return 1;
}

static int cfg_init(const struct cf_obj_url *u, struct s3_cfg *c, struct cf_err *err)
{
    memset(c, 0, sizeof(*c));
    int gcs = u->kind == CF_OBJ_GS;
    const char *region_var = gcs ? "CF_GCS_REGION" : "AWS_REGION";
    const char *region = env(region_var);
    if (!region && !gcs) {
        region = env("AWS_DEFAULT_REGION");
    }
    if (!region) {
        region = gcs ? GCS_REGION_DEFAULT : AWS_REGION_DEFAULT;
    }
    if (!region_ok(region)) {
        return cf_err_set(err, CF_EINVAL, "%s: invalid region '%s' in %s", u->raw, region,
                          region_var);
    }
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", region);

    c->endpoint_var = gcs ? "CF_GCS_ENDPOINT" : "CF_S3_ENDPOINT";
    const char *ep = env(c->endpoint_var);
    if (ep) {
        if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
            return cf_err_set(err, CF_EINVAL, "%s: %s must be http://host[:port] or https://...",
                              u->raw, c->endpoint_var);
        }
        size_t n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/') {
            n--;
        }
        if (n >= sizeof(c->endpoint)) {
            return cf_err_set(err, CF_EINVAL, "%s: %s is too long", u->raw, c->endpoint_var);
        }
        memcpy(c->endpoint, ep, n);
        c->path_style = 1;
    } else if (gcs) {
        c->endpoint_var = NULL;
        snprintf(c->endpoint, sizeof(c->endpoint), "%s", GCS_ENDPOINT_DEFAULT);
        c->path_style = 1;
    } else {
        c->endpoint_var = NULL;
        /* A bucket name with dots does not match the wildcard TLS certificate of the
         * virtual-hosted name: those go path-style. */
        if (strchr(u->bucket, '.')) {
            snprintf(c->endpoint, sizeof(c->endpoint), "https://s3.%s.amazonaws.com", region);
            c->path_style = 1;
        } else {
            snprintf(c->endpoint, sizeof(c->endpoint), "https://%s.s3.%s.amazonaws.com", u->bucket,
                     region);
        }
    }

    if (gcs && env("CF_GCS_ACCESS_KEY_ID")) {
        c->access_var = "CF_GCS_ACCESS_KEY_ID";
        c->secret_var = "CF_GCS_SECRET_ACCESS_KEY";
    } else {
        c->access_var = "AWS_ACCESS_KEY_ID";
        c->secret_var = "AWS_SECRET_ACCESS_KEY";
        c->session = gcs ? NULL : env("AWS_SESSION_TOKEN");
    }
    c->access = env(c->access_var);
    c->secret = env(c->secret_var);
    if (c->access && !c->secret) {
        return cf_err_set(err, CF_EINVAL, "%s: %s is set but %s is not", u->raw, c->access_var,
                          c->secret_var);
    }
    return 0;
}

/* ---- one request, with retries ---- */

struct req {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* NULL: the bucket itself */
    const char *query;  /* canonical query string, or NULL */
    const void *body;   /* PUT/POST body (NULL: empty) */
    size_t body_len;
    const char *content_type;
    struct cf_buf *out; /* a 2xx body is appended here ... */
    int out_fd;         /* ... or written here (>= 0), else kept in resp.body */
    int error_in_200;   /* CompleteMultipartUpload: a 200 may carry an <Error> */
};

struct resp {
    long status;
    struct cf_buf body; /* the error body, or the 2xx body when the request has no out */
    char etag[256];
    uint64_t length; /* Content-Length */
    char code[64];   /* S3's <Code> of an error */
    char message[256];
    int attempts;
};

struct xfer {
    CURL *curl;
    const struct req *rq;
    struct resp *rs;
    int fd_errno; /* a failed write to req.out_fd */
};

static void resp_init(struct resp *rs)
{
    memset(rs, 0, sizeof(*rs));
    cf_buf_init(&rs->body);
}

static void resp_free(struct resp *rs)
{
    cf_buf_destroy(&rs->body);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && x->rq->out) {
        cf_buf_append(x->rq->out, data, n);
    } else if (status >= 200 && status < 300 && x->rq->out_fd >= 0) {
        for (size_t done = 0; done < n;) {
            ssize_t w = write(x->rq->out_fd, data + done, n - done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                x->fd_errno = errno;
                return 0; /* CURLE_WRITE_ERROR */
            }
            done += (size_t)w;
        }
    } else if (status >= 200 && status < 300) {
        cf_buf_append(&x->rs->body, data, n);
    } else if (x->rs->body.len < ERROR_BODY_MAX) {
        size_t room = ERROR_BODY_MAX - x->rs->body.len;
        cf_buf_append(&x->rs->body, data, n < room ? n : room);
    }
    return n;
}

/* Copies header value (after "name:") into dst when the line is that header. */
static int header_value(const char *line, size_t n, const char *name, char *dst, size_t dsize)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') {
        return 0;
    }
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    snprintf(dst, dsize, "%.*s", (int)(end - v), v);
    return 1;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    char len[32];
    header_value(data, n, "ETag", x->rs->etag, sizeof(x->rs->etag));
    if (header_value(data, n, "Content-Length", len, sizeof(len))) {
        x->rs->length = strtoull(len, NULL, 10);
    }
    return n;
}

/* Reads <Code> and <Message> of an S3 error body into rs. */
static void parse_error(struct resp *rs)
{
    const char *in;
    size_t in_len, pos = 0;
    struct cf_buf t;
    cf_buf_init(&t);
    if (cf_obj_xml_find(rs->body.data, rs->body.len, &pos, "Code", &in, &in_len)) {
        cf_obj_xml_text(&t, in, in_len);
        snprintf(rs->code, sizeof(rs->code), "%s", t.data);
    }
    pos = 0;
    if (cf_obj_xml_find(rs->body.data, rs->body.len, &pos, "Message", &in, &in_len)) {
        cf_buf_reset(&t);
        cf_obj_xml_text(&t, in, in_len);
        snprintf(rs->message, sizeof(rs->message), "%s", t.data ? t.data : "");
    }
    cf_buf_destroy(&t);
}

static int curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return 1;
    default: return 0;
    }
}

static int status_retryable(const struct resp *rs)
{
    return rs->status >= 500 || rs->status == 429 || strcmp(rs->code, "SlowDown") == 0 ||
           strcmp(rs->code, "RequestTimeout") == 0;
}

static void backoff_sleep(int attempt)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
        r = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&r;
    }
    long delay_ms = (long)RETRY_BASE_MS << (attempt - 1);
    delay_ms = delay_ms / 2 + (long)(r % (unsigned)(delay_ms / 2 + 1));
    struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Builds the request URL. */
static void build_url(struct cf_buf *b, const struct s3_cfg *c, const struct cf_obj_url *u,
                      const struct req *rq)
{
    cf_buf_puts(b, c->endpoint);
    if (c->path_style) {
        cf_buf_putc(b, '/');
        cf_buf_puts(b, u->bucket);
        if (rq->key) {
            cf_buf_putc(b, '/');
        }
    } else {
        cf_buf_putc(b, '/');
    }
    if (rq->key) {
        cf_obj_uri_encode(b, rq->key, strlen(rq->key), 1);
    }
    if (rq->query) {
        cf_buf_putc(b, '?');
        cf_buf_puts(b, rq->query);
    }
}

/* Returns the variable to blame for an authentication failure, or NULL. */
static const char *auth_hint(const struct s3_cfg *c, const struct resp *rs, char *buf, size_t size)
{
    if (!c->access && (rs->status == 403 || rs->status == 401)) {
        snprintf(buf, size, " (no credentials: %s is not set)", c->access_var);
    } else if (strcmp(rs->code, "SignatureDoesNotMatch") == 0) {
        snprintf(buf, size, " (check %s)", c->secret_var);
    } else if (strcmp(rs->code, "InvalidAccessKeyId") == 0) {
        snprintf(buf, size, " (check %s)", c->access_var);
    } else if (rs->status == 403 && !rs->code[0]) {
        snprintf(buf, size, " (check %s and %s)", c->access_var, c->secret_var);
    } else if (rs->status == 403) {
        snprintf(buf, size, " (the key in %s lacks permission)", c->access_var);
    } else {
        return NULL;
    }
    return buf;
}

/* Sets err for an HTTP answer that is an error ("s3://b/k: PUT: HTTP 403 Code: Message"). */
static int http_error(const struct s3_cfg *c, const struct cf_obj_url *u, const struct req *rq,
                      const struct resp *rs, int code, struct cf_err *err)
{
    char hint[160];
    const char *h = auth_hint(c, rs, hint, sizeof(hint));
    char tries[48] = "";
    if (rs->attempts > 1) {
        snprintf(tries, sizeof(tries), " (after %d attempts)", rs->attempts);
    }
    return cf_err_set(err, code, "%s: %s failed: HTTP %ld%s%s%s%s%s%s", u->raw, rq->method,
                      rs->status, rs->code[0] ? " " : "", rs->code, rs->message[0] ? ": " : "",
                      rs->message, h ? h : "", tries);
}

/*
 * Sends the request, retrying transient failures. Returns 0 when an HTTP answer arrived
 * (read rs->status: 4xx and 5xx included, 5xx after the last retry), CF_EIO when the
 * server could not be reached or the exchange broke off every time, CF_ENOMEM.
 */
static int perform(const struct s3_cfg *c, const struct cf_obj_url *u, const struct req *rq,
                   struct resp *rs, struct cf_err *err)
{
    CURL *curl = cf_http_thread_curl();
    if (!curl) {
        return cf_err_set(err, CF_ENOMEM, "%s: cannot set up an HTTP request", u->raw);
    }
    struct cf_buf url;
    cf_buf_init(&url);
    build_url(&url, c, u, rq);

    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    /* No "Expect:" to suppress 100-continue here: curl's signer would sign that empty
     * header, which it then does not send. */
    char line[256];
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        headers = curl_slist_append(headers, line);
    }
    char *token_hdr = NULL;
    if (c->session && c->access) {
        token_hdr = cf_asprintf("x-amz-security-token: %s", c->session);
        headers = curl_slist_append(headers, token_hdr);
    }

    size_t out_base = rq->out ? rq->out->len : 0;
    char errbuf[CURL_ERROR_SIZE];
    struct xfer x = {.curl = curl, .rq = rq, .rs = rs};
    CURLcode cc = CURLE_OK;
    int rc = 0;
    for (int attempt = 1;; attempt++) {
        /* A fresh start for this attempt: nothing of the previous one's answer stays. */
        rs->status = 0;
        rs->length = 0;
        rs->etag[0] = rs->code[0] = rs->message[0] = '\0';
        rs->attempts = attempt;
        cf_buf_reset(&rs->body);
        x.fd_errno = 0;
        if (rq->out) {
            rq->out->len = out_base;
            if (rq->out->cap) {
                rq->out->data[out_base] = '\0';
            }
        }
        if (rq->out_fd >= 0 &&
            (ftruncate(rq->out_fd, 0) < 0 || lseek(rq->out_fd, 0, SEEK_SET) < 0)) {
            rc = cf_err_set(err, CF_EIO, "%s: cannot rewind the download file: %s", u->raw,
                            strerror(errno));
            break;
        }
        errbuf[0] = '\0';

        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url.data);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "creekflow");
        curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
        if (c->access) {
            curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, c->sigv4);
            curl_easy_setopt(curl, CURLOPT_USERNAME, c->access);
            curl_easy_setopt(curl, CURLOPT_PASSWORD, c->secret);
        }
        if (strcmp(rq->method, "HEAD") == 0) {
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        } else if (strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
            if (strcmp(rq->method, "PUT") == 0) {
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
            }
        } else if (strcmp(rq->method, "GET") != 0) {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, rq->method);
        }

        cc = curl_easy_perform(curl);
        int retry;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &rs->status);
            if (rs->status >= 300) {
                parse_error(rs);
            } else if (rq->error_in_200 && strstr(rs->body.data ? rs->body.data : "", "<Error>")) {
                /* S3 may answer 200 and then report a failed CompleteMultipartUpload in the
                 * body: treat it as the 500 it stands for. */
                parse_error(rs);
                rs->status = 500;
            }
            retry = status_retryable(rs);
        } else {
            retry = curl_retryable(cc) && !x.fd_errno;
        }
        if (!retry || attempt == RETRY_MAX) {
            break;
        }
        cf_debug("%s: %s attempt %d failed (%s), retrying", u->raw, rq->method, attempt,
                 cc == CURLE_OK ? "HTTP error" : curl_easy_strerror(cc));
        backoff_sleep(attempt);
    }

    if (rc == 0 && cc != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
        char origin[600];
        snprintf(origin, sizeof(origin), "%s%s%s%s", c->endpoint, c->endpoint_var ? " (" : "",
                 c->endpoint_var ? c->endpoint_var : "", c->endpoint_var ? ")" : "");
        char tries[48] = "";
        if (rs->attempts > 1) {
            snprintf(tries, sizeof(tries), " (after %d attempts)", rs->attempts);
        }
        if (x.fd_errno) {
            rc = cf_err_set(err, CF_EIO, "%s: cannot write the download: %s", u->raw,
                            strerror(x.fd_errno));
        } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
            long os_errno = 0;
            curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
            rc = cf_err_set(err, CF_EIO, "%s: cannot reach %s: %s%s", u->raw, origin,
                            os_errno ? strerror((int)os_errno) : why, tries);
        } else {
            rc = cf_err_set(err, CF_EIO, "%s: %s to %s failed: %s%s", u->raw, rq->method, origin,
                            why, tries);
        }
    }
    if (rc < 0 && rq->out) {
        rq->out->len = out_base;
        if (rq->out->cap) {
            rq->out->data[out_base] = '\0';
        }
    }
    /* The handle must not keep pointers to our headers or errbuf past this call. */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, NULL);
    curl_slist_free_all(headers);
    cf_free(token_hdr);
    cf_buf_destroy(&url);
    return rc;
}

/* A request with no body to send and nothing to capture but the answer. */
static struct req req_simple(const char *method, const char *key, const char *query)
{
    struct req rq = {.method = method, .key = key, .query = query, .out_fd = -1};
    return rq;
}

/* ---- objects ---- */

int cf_obj_s3_put(const struct cf_obj_url *u, const void *data, size_t len, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct req rq = req_simple("PUT", u->key, NULL);
    rq.body = data;
    rq.body_len = len;
    rq.content_type = "application/octet-stream";
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status != 200) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    }
    resp_free(&rs);
    return rc;
}

/* GET into a buffer or a file descriptor. */
static int get_into(const struct cf_obj_url *u, struct cf_buf *out, int fd, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct req rq = req_simple("GET", u->key, NULL);
    rq.out = out;
    rq.out_fd = fd;
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status == 404) {
        rc = strcmp(rs.code, "NoSuchBucket") == 0
                 ? cf_err_set(err, CF_ENOENT, "%s: no such object: bucket '%s' does not exist",
                              u->raw, u->bucket)
                 : cf_err_set(err, CF_ENOENT, "%s: no such object", u->raw);
    } else if (rc == 0 && rs.status != 200) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    }
    resp_free(&rs);
    return rc;
}

int cf_obj_s3_get(const struct cf_obj_url *u, struct cf_buf *out, struct cf_err *err)
{
    size_t old_len = out->len;
    int rc = get_into(u, out, -1, err);
    if (rc < 0) {
        out->len = old_len;
        if (out->cap) {
            out->data[old_len] = '\0';
        }
    }
    return rc;
}

struct get_src {
    const struct cf_obj_url *u;
};

static int fill_get(void *arg, int fd, struct cf_err *err)
{
    struct get_src *g = arg;
    return get_into(g->u, NULL, fd, err);
}

int cf_obj_s3_get_file(const struct cf_obj_url *u, const char *local_path, struct cf_err *err)
{
    struct get_src g = {u};
    return cf_obj_file_write_atomic(local_path, u->raw, fill_get, &g, err);
}

int cf_obj_s3_delete(const struct cf_obj_url *u, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct req rq = req_simple("DELETE", u->key, NULL);
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status != 204 && rs.status != 200 &&
        !(rs.status == 404 && strcmp(rs.code, "NoSuchBucket") != 0)) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    }
    resp_free(&rs);
    return rc;
}

int cf_obj_s3_exists(const struct cf_obj_url *u, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct req rq = req_simple("HEAD", u->key, NULL);
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0) {
        if (rs.status == 200) {
            rc = 1;
        } else if (rs.status != 404) {
            rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
        }
    }
    resp_free(&rs);
    return rc;
}

/* ---- listing ---- */

struct key_ent {
    char *key;
    uint64_t size;
};

struct key_list {
    struct key_ent *v;
    size_t n, cap;
};

static void key_list_free(struct key_list *kl)
{
    for (size_t i = 0; i < kl->n; i++) {
        cf_free(kl->v[i].key);
    }
    cf_free(kl->v);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct key_ent *)a)->key, ((const struct key_ent *)b)->key);
}

/*
 * Collects every object under the prefix, page by page (ListObjectsV2 with continuation
 * tokens), sorted by key. S3 already answers in byte order, but s3rver does not (it walks
 * its directories), and sorting is cheap next to the requests.
 */
static int list_keys(const struct cf_obj_url *u, struct key_list *kl, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    /* The prefix names a directory: "p" lists "p/...", never "p-other". */
    size_t klen = strlen(u->key);
    while (klen > 0 && u->key[klen - 1] == '/') {
        klen--;
    }
    struct cf_buf prefix, query, token, text;
    cf_buf_init(&prefix);
    cf_buf_init(&query);
    cf_buf_init(&token);
    cf_buf_init(&text);
    if (klen) {
        cf_buf_append(&prefix, u->key, klen);
        cf_buf_putc(&prefix, '/');
    }
    struct resp rs;
    resp_init(&rs);
    for (int more = 1; rc == 0 && more;) {
        /* Canonical order: continuation-token, list-type, max-keys, prefix. */
        cf_buf_reset(&query);
        if (token.len) {
            cf_buf_puts(&query, "continuation-token=");
            cf_obj_uri_encode(&query, token.data, token.len, 0);
            cf_buf_putc(&query, '&');
        }
        cf_buf_appendf(&query, "list-type=2&max-keys=%u", cf_obj_list_page_size());
        if (prefix.len) {
            cf_buf_puts(&query, "&prefix=");
            cf_obj_uri_encode(&query, prefix.data, prefix.len, 0);
        }
        struct req rq = req_simple("GET", NULL, query.data);
        rc = perform(&c, u, &rq, &rs, err);
        if (rc < 0) {
            break;
        }
        if (rs.status == 404 && strcmp(rs.code, "NoSuchBucket") == 0) {
            rc = cf_err_set(err, CF_ENOENT, "%s: bucket '%s' does not exist", u->raw, u->bucket);
            break;
        }
        if (rs.status != 200) {
            rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
            break;
        }
        const char *xml = rs.body.data ? rs.body.data : "";
        size_t len = rs.body.len, pos = 0;
        const char *in, *v;
        size_t in_len, v_len;
        while (rc == 0 && cf_obj_xml_find(xml, len, &pos, "Contents", &in, &in_len)) {
            size_t p = 0;
            if (!cf_obj_xml_find(in, in_len, &p, "Key", &v, &v_len)) {
                continue;
            }
            cf_buf_reset(&text);
            cf_obj_xml_text(&text, v, v_len);
            uint64_t size = 0;
            p = 0;
            if (cf_obj_xml_find(in, in_len, &p, "Size", &v, &v_len)) {
                size = strtoull(v, NULL, 10);
            }
            if (text.len && strncmp(text.data, prefix.data ? prefix.data : "", prefix.len) == 0) {
                if (kl->n == kl->cap) {
                    kl->cap = kl->cap ? kl->cap * 2 : 64;
                    kl->v = cf_realloc(kl->v, kl->cap * sizeof(*kl->v));
                }
                kl->v[kl->n].key = cf_strndup(text.data, text.len);
                kl->v[kl->n].size = size;
                kl->n++;
            }
        }
        pos = 0;
        more = cf_obj_xml_find(xml, len, &pos, "IsTruncated", &v, &v_len) && v_len == 4 &&
               memcmp(v, "true", 4) == 0;
        if (rc == 0 && more) {
            pos = 0;
            cf_buf_reset(&token);
            if (cf_obj_xml_find(xml, len, &pos, "NextContinuationToken", &v, &v_len)) {
                cf_obj_xml_text(&token, v, v_len);
            }
            if (!token.len) {
                rc = cf_err_set(err, CF_EIO, "%s: truncated listing without a continuation token",
                                u->raw);
            }
        }
    }
    resp_free(&rs);
    cf_buf_destroy(&prefix);
    cf_buf_destroy(&query);
    cf_buf_destroy(&token);
    cf_buf_destroy(&text);
    if (rc == 0 && kl->n > 1) {
        qsort(kl->v, kl->n, sizeof(*kl->v), key_cmp);
    }
    return rc;
}

int cf_obj_s3_list(const struct cf_obj_url *u, cf_obj_list_fn fn, void *arg, struct cf_err *err)
{
    struct key_list kl = {0};
    int rc = list_keys(u, &kl, err);
    struct cf_buf url;
    cf_buf_init(&url);
    for (size_t i = 0; rc == 0 && i < kl.n; i++) {
        cf_buf_reset(&url);
        cf_buf_appendf(&url, "%s://%s/%s", u->kind == CF_OBJ_GS ? "gs" : "s3", u->bucket,
                       kl.v[i].key);
        rc = fn(arg, url.data, kl.v[i].size);
    }
    cf_buf_destroy(&url);
    key_list_free(&kl);
    return rc;
}

int cf_obj_s3_delete_prefix(const struct cf_obj_url *u, struct cf_err *err)
{
    /* List first, then delete: deleting while paging would move the pages under us. One
     * DELETE per object: the batch DeleteObjects call needs a Content-MD5 header. */
    struct key_list kl = {0};
    int rc = list_keys(u, &kl, err);
    if (rc == CF_ENOENT) {
        rc = 0; /* no bucket: nothing to delete */
    }
    for (size_t i = 0; rc == 0 && i < kl.n; i++) {
        struct cf_obj_url one = *u;
        one.key = kl.v[i].key;
        rc = cf_obj_s3_delete(&one, err);
    }
    key_list_free(&kl);
    return rc;
}

/* ---- multipart uploads ---- */

int cf_obj_s3_upload_begin(struct cf_obj_upload *up, struct cf_err *err)
{
    const struct cf_obj_url *u = &up->url;
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct req rq = req_simple("POST", u->key, "uploads=");
    rq.content_type = "application/octet-stream"; /* the object's type, kept by S3 */
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status != 200) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    }
    const char *v;
    size_t v_len, pos = 0;
    if (rc == 0) {
        if (!cf_obj_xml_find(rs.body.data ? rs.body.data : "", rs.body.len, &pos, "UploadId", &v,
                             &v_len) ||
            v_len == 0) {
            rc = cf_err_set(err, CF_EIO, "%s: the multipart upload answer has no UploadId", u->raw);
        } else {
            struct cf_buf id;
            cf_buf_init(&id);
            cf_obj_xml_text(&id, v, v_len);
            up->upload_id = id.data;
            /* Exactly one part of room: cf_buf's doubling would reserve twice that. */
            up->part.data = cf_malloc(up->part_size + 1);
            up->part.data[0] = '\0';
            up->part.cap = up->part_size + 1;
        }
    }
    resp_free(&rs);
    return rc;
}

/* The query of one part's or the whole upload's requests. */
static char *upload_query(const char *upload_id, size_t part_number)
{
    struct cf_buf q;
    cf_buf_init(&q);
    if (part_number) {
        cf_buf_appendf(&q, "partNumber=%zu&", part_number);
    }
    cf_buf_puts(&q, "uploadId=");
    cf_obj_uri_encode(&q, upload_id, strlen(upload_id), 0);
    return q.data;
}

static int upload_part(struct cf_obj_upload *up, const void *data, size_t len, struct cf_err *err)
{
    const struct cf_obj_url *u = &up->url;
    if (up->n_parts >= CF_OBJ_MAX_PARTS) {
        return cf_err_set(err, CF_ERANGE,
                          "%s: more than %d parts of %zu bytes: raise the part size", u->raw,
                          CF_OBJ_MAX_PARTS, up->part_size);
    }
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    char *query = upload_query(up->upload_id, up->n_parts + 1);
    struct req rq = req_simple("PUT", u->key, query);
    rq.body = data;
    rq.body_len = len;
    rq.content_type = "application/octet-stream";
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status != 200) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    } else if (rc == 0 && !rs.etag[0]) {
        rc = cf_err_set(err, CF_EIO, "%s: part %zu uploaded but the answer has no ETag", u->raw,
                        up->n_parts + 1);
    }
    if (rc == 0) {
        if (up->n_parts == up->cap_parts) {
            up->cap_parts = up->cap_parts ? up->cap_parts * 2 : 16;
            up->etags = cf_realloc(up->etags, up->cap_parts * sizeof(*up->etags));
        }
        up->etags[up->n_parts++] = cf_strdup(rs.etag);
    }
    resp_free(&rs);
    cf_free(query);
    return rc;
}

int cf_obj_s3_upload_write(struct cf_obj_upload *up, const void *data, size_t len,
                           struct cf_err *err)
{
    const char *p = data;
    while (len > 0) {
        if (up->part.len == 0 && len >= up->part_size) {
            /* A whole part in the caller's memory: send it from there. */
            int rc = upload_part(up, p, up->part_size, err);
            if (rc < 0) {
                return rc;
            }
            p += up->part_size;
            len -= up->part_size;
            up->size += up->part_size;
            continue;
        }
        size_t room = up->part_size - up->part.len;
        size_t n = len < room ? len : room;
        cf_buf_append(&up->part, p, n);
        p += n;
        len -= n;
        up->size += n;
        if (up->part.len == up->part_size) {
            int rc = upload_part(up, up->part.data, up->part.len, err);
            if (rc < 0) {
                return rc;
            }
            cf_buf_reset(&up->part);
        }
    }
    return 0;
}

int cf_obj_s3_upload_prepare(struct cf_obj_upload *up, struct cf_obj_token *t, struct cf_err *err)
{
    /* The last part (S3 needs at least one, even if empty). */
    if (up->part.len > 0 || up->n_parts == 0) {
        int rc = upload_part(up, up->part.data ? up->part.data : "", up->part.len, err);
        if (rc < 0) {
            return rc;
        }
        cf_buf_destroy(&up->part);
    }
    t->url = cf_strdup(up->url.raw);
    t->id = cf_strdup(up->upload_id);
    t->size = up->size;
    t->n_parts = up->n_parts;
    t->etags = cf_calloc(up->n_parts, sizeof(*t->etags));
    for (size_t i = 0; i < up->n_parts; i++) {
        t->etags[i] = cf_strdup(up->etags[i]);
    }
    return 0;
}

/* AbortMultipartUpload. 404 (gone) is success; servers without the call (405/501) leave
 * the parts for the bucket's lifecycle rule, which is logged. */
static int abort_upload(const struct cf_obj_url *u, const char *upload_id, struct cf_err *err)
{
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    char *query = upload_query(upload_id, 0);
    struct req rq = req_simple("DELETE", u->key, query);
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && (rs.status == 405 || rs.status == 501)) {
        cf_warn("%s: the server does not support AbortMultipartUpload (HTTP %ld %s); the "
                "upload's parts stay until a lifecycle rule removes them",
                u->raw, rs.status, rs.code);
    } else if (rc == 0 && rs.status != 204 && rs.status != 200 && rs.status != 404) {
        rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
    }
    resp_free(&rs);
    cf_free(query);
    return rc;
}

void cf_obj_s3_upload_discard(struct cf_obj_upload *up)
{
    if (!up->upload_id) {
        return;
    }
    struct cf_err err;
    cf_err_clear(&err);
    if (abort_upload(&up->url, up->upload_id, &err) < 0) {
        cf_warn("discarding an upload: %s", err.msg);
    }
}

static void xml_escape(struct cf_buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': cf_buf_puts(out, "&amp;"); break;
        case '<': cf_buf_puts(out, "&lt;"); break;
        case '>': cf_buf_puts(out, "&gt;"); break;
        default: cf_buf_putc(out, *s); break;
        }
    }
}

/* The object is there with the upload's size (and part count, when its ETag shows one):
 * an earlier commit of this upload went through. */
static int committed_before(const struct s3_cfg *c, const struct cf_obj_url *u,
                            const struct cf_obj_token *t)
{
    struct req rq = req_simple("HEAD", u->key, NULL);
    struct resp rs;
    resp_init(&rs);
    int yes = 0;
    if (perform(c, u, &rq, &rs, NULL) == 0 && rs.status == 200 && rs.length == t->size) {
        /* A multipart ETag is "<md5 of the part md5s>-<number of parts>". */
        const char *dash = strrchr(rs.etag, '-');
        yes = !dash || strtoull(dash + 1, NULL, 10) == t->n_parts;
    }
    resp_free(&rs);
    return yes;
}

int cf_obj_s3_upload_commit(const struct cf_obj_url *u, const struct cf_obj_token *t,
                            struct cf_err *err)
{
    if (t->n_parts == 0) {
        return cf_err_set(err, CF_EINVAL, "invalid upload token for %s: no parts", u->raw);
    }
    struct s3_cfg c;
    int rc = cfg_init(u, &c, err);
    if (rc < 0) {
        return rc;
    }
    struct cf_buf body;
    cf_buf_init(&body);
    cf_buf_puts(&body, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < t->n_parts; i++) {
        cf_buf_appendf(&body, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
        xml_escape(&body, t->etags[i]);
        cf_buf_puts(&body, "</ETag></Part>");
    }
    cf_buf_puts(&body, "</CompleteMultipartUpload>");
    char *query = upload_query(t->id, 0);
    struct req rq = req_simple("POST", u->key, query);
    rq.body = body.data;
    rq.body_len = body.len;
    rq.content_type = "application/xml";
    rq.error_in_200 = 1;
    struct resp rs;
    resp_init(&rs);
    rc = perform(&c, u, &rq, &rs, err);
    if (rc == 0 && rs.status != 200) {
        /* NoSuchUpload (404), or a server that fails on an unknown upload (s3rver: 500): if
         * the object is already there, an earlier commit succeeded. */
        if ((rs.status == 404 || rs.status >= 500) && committed_before(&c, u, t)) {
            cf_info("%s: upload already committed", u->raw);
        } else if (rs.status == 404 && strcmp(rs.code, "NoSuchBucket") != 0) {
            rc = cf_err_set(err, CF_ENOENT,
                            "%s: cannot commit: the multipart upload is gone (%s) and the "
                            "object is not there",
                            u->raw, rs.code[0] ? rs.code : "HTTP 404");
        } else {
            rc = http_error(&c, u, &rq, &rs, CF_EIO, err);
        }
    }
    resp_free(&rs);
    cf_free(query);
    cf_buf_destroy(&body);
    return rc;
}

int cf_obj_s3_upload_abort(const struct cf_obj_url *u, const struct cf_obj_token *t,
                           struct cf_err *err)
{
    return abort_upload(u, t->id, err);
}
