/*
 * http_client.c - cf_http_request() on a per-thread libcurl easy handle.
 *
 * Why per thread: a curl handle may be used by one thread at a time, and it is the handle
 * that keeps the connection cache. One handle per thread (a pthread key, cleaned up when the
 * thread exits) gives keep-alive without a lock. curl_easy_reset() before each request
 * clears the previous request's options but keeps the open connections.
 *
 * The URL is parsed once with curl's URL API; the parsed handle both drives the transfer
 * (CURLOPT_CURLU) and names the server in error messages, so the two always agree and
 * messages never carry user info or the query string.
 */
#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "../base/log.h"
#include "../base/mem.h"

#define CONNECT_TIMEOUT_DEFAULT_MS 10000

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_handle_key;
static CURLcode g_init_rc;

static void handle_free(void *p)
{
    curl_easy_cleanup(p);
}

static void global_init(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    cf_assert(pthread_key_create(&g_handle_key, handle_free) == 0);
}

/* This thread's handle, created on first use; NULL only if curl cannot allocate one. */
void *cf_http_thread_curl(void)
{
    pthread_once(&g_once, global_init);
    if (g_init_rc != CURLE_OK) {
        return NULL;
    }
    CURL *curl = pthread_getspecific(g_handle_key);
    if (!curl) {
        curl = curl_easy_init();
        if (curl) {
            pthread_setspecific(g_handle_key, curl);
        }
    }
    return curl;
}

void cf_http_client_thread_cleanup(void)
{
    pthread_once(&g_once, global_init);
    CURL *curl = pthread_getspecific(g_handle_key);
    if (curl) {
        pthread_setspecific(g_handle_key, NULL);
        curl_easy_cleanup(curl);
    }
}

void cf_http_result_free(struct cf_http_result *r)
{
    if (!r) {
        return;
    }
    cf_buf_destroy(&r->body);
    r->status = 0;
}

struct sink {
    struct cf_buf *buf;
    int too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *sink = arg;
    size_t n = size * nmemb;
    if (sink->buf->len + n > CF_HTTP_MAX_RESPONSE) {
        sink->too_big = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    cf_buf_append(sink->buf, data, n);
    return n;
}

/* "http://host:port" and "http://host:port/path" of a parsed URL, for messages. */
static void describe(CURLU *u, char *origin, size_t osize, char *full, size_t fsize)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* absent when the URL names none */
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    snprintf(origin, osize, "%s://%s%s%s", scheme ? scheme : "?", host ? host : "?",
             port ? ":" : "", port ? port : "");
    snprintf(full, fsize, "%s%s", origin, path && strcmp(path, "/") != 0 ? path : "");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
}

static int method_has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

int cf_http_request(const char *method, const char *url, const char *body, size_t body_len,
                    const char *content_type, int64_t timeout_ms, struct cf_http_result *out,
                    struct cf_err *err)
{
    cf_assert(method && url && out);
    out->status = 0;
    cf_buf_init(&out->body);

    int rc = 0;
    char origin[512], full[1024];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct sink sink = {.buf = &out->body};
    CURLU *u = curl_url();
    CURL *curl = cf_http_thread_curl();
    if (!u || !curl) {
        rc = cf_err_set(err, CF_ENOMEM, "cannot set up an HTTP request: out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) != CURLUE_OK) {
        rc = cf_err_set(err, CF_EINVAL, "invalid URL '%s'", url);
        goto out;
    }
    describe(u, origin, sizeof(origin), full, sizeof(full));
    if (strncmp(origin, "http://", 7) != 0 && strncmp(origin, "https://", 8) != 0) {
        rc =
            cf_err_set(err, CF_EINVAL, "invalid URL '%s': only http and https are supported", full);
        goto out;
    }

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_CURLU, u);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "creekflow");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (timeout_ms > 0) {
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    } else {
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_DEFAULT_MS);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (body || method_has_body(method)) {
        char ct[256];
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        headers = curl_slist_append(headers, ct);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        if (strcmp(method, "POST") != 0) {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        }
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(curl);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    long os_errno = 0;
    long request_size = 0;
    switch (cc) {
    case CURLE_OK: {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        out->status = (int)status;
        break;
    }
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        rc = cf_err_set(err, CF_EIO, "cannot reach %s: %s", origin,
                        os_errno ? strerror((int)os_errno) : why);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        rc = cf_err_set(err, CF_EIO, "cannot reach %s: %s", origin, why);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        /* Request bytes went out (on a new or a reused connection): the server is slow.
         * Nothing went out: connecting took too long. */
        curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
        if (request_size == 0) {
            rc = cf_err_set(err, CF_ERETRY, "cannot reach %s: connection timed out after %lld ms",
                            origin,
                            (long long)(timeout_ms > 0 ? timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS));
        } else {
            rc = cf_err_set(err, CF_ERETRY, "no response from %s within %lld ms", full,
                            (long long)timeout_ms);
        }
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = cf_err_set(err, CF_EINVAL, "invalid URL '%s': %s", full, why);
        break;
    default:
        if (sink.too_big) {
            rc = cf_err_set(err, CF_EIO, "response from %s is larger than %u bytes", full,
                            CF_HTTP_MAX_RESPONSE);
        } else {
            rc = cf_err_set(err, CF_EIO, "%s %s failed: %s", method, full, why);
        }
        break;
    }

out:
    if (rc < 0) {
        cf_http_result_free(out);
    }
    curl_slist_free_all(headers);
    if (curl) {
        /* The handle must not keep pointers to u, headers or errbuf past this call. */
        curl_easy_setopt(curl, CURLOPT_CURLU, NULL);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    }
    curl_url_cleanup(u);
    return rc;
}

cJSON *cf_http_json(const struct cf_http_result *r)
{
    if (!r->body.len) {
        return NULL;
    }
    return cJSON_ParseWithLength(r->body.data, r->body.len);
}

const char *cf_http_result_error(const struct cf_http_result *r, char *buf, size_t size)
{
    cf_assert(size > 0);
    buf[0] = '\0';
    cJSON *json = cf_http_json(r);
    cJSON *errors = cJSON_GetObjectItemCaseSensitive(json, "errors");
    size_t n = 0;
    if (cJSON_IsArray(errors)) {
        cJSON *e;
        cJSON_ArrayForEach(e, errors)
        {
            if (cJSON_IsString(e) && n < size) {
                n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "; " : "", e->valuestring);
            }
        }
    }
    cJSON_Delete(json);
    if (n > 0) {
        return buf;
    }
    /* evhttp's own error pages (400, 413) are HTML: their title is the status line. */
    const char *title = r->body.len ? strstr(r->body.data, "<TITLE>") : NULL;
    if (title) {
        title += strlen("<TITLE>");
        snprintf(buf, size, "HTTP %.*s", (int)strcspn(title, "<\r\n"), title);
        return buf;
    }
    if (r->body.len) {
        const char *p = r->body.data;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        }
        size_t len = strcspn(p, "\r\n");
        if (len > 0) {
            snprintf(buf, size, "HTTP %d: %.*s", r->status, (int)len, p);
            return buf;
        }
    }
    snprintf(buf, size, "HTTP %d", r->status);
    return buf;
}
