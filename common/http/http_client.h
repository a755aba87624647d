/*
 * http_client.h - blocking HTTP requests on libcurl, for cfctl, tests and the worker.
 *
 * Each thread keeps one curl handle (created on its first request), so consecutive requests
 * from a thread to the same server reuse a keep-alive connection. Any thread may call these
 * functions; no lock is needed. curl_global_init() runs once per process, on the first
 * request. Environment proxies (http_proxy, ...) are honoured except for localhost, 127.0.0.1
 * and ::1.
 */
#ifndef CF_HTTP_CLIENT_H
#define CF_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/err.h"

/* Responses larger than this fail with CF_EIO instead of exhausting memory. */
#define CF_HTTP_MAX_RESPONSE (256u * 1024 * 1024)

/* A response: the HTTP status and the body (NUL-terminated when body.len > 0). Owned by the
 * caller; release with cf_http_result_free(). */
struct cf_http_result {
    int status;
    struct cf_buf body;
};

/*
 * Sends method ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE") to url and waits for the
 * whole response. body/body_len is sent with Content-Type content_type (NULL means
 * "application/json"); for POST, PUT and PATCH a NULL body sends an empty one
 * (Content-Length: 0). timeout_ms bounds the whole exchange, connection included; 0 means no
 * overall limit (connecting still gives up after 10 s).
 *
 * Returns 0 when a response arrived - whatever its status, 4xx and 5xx included: read
 * out->status. On failure returns
 *   CF_EIO     the server cannot be reached ("cannot reach http://127.0.0.1:8081: Connection
 *              refused"), or the exchange broke off, or the response is over
 *              CF_HTTP_MAX_RESPONSE;
 *   CF_ERETRY  timed out ("no response from http://127.0.0.1:8081/jobs within 200 ms");
 *   CF_EINVAL  malformed or non-HTTP URL.
 * Messages name the server and path, never user info or the query string.
 * *out is always initialised (status 0 and an empty body on failure), so
 * cf_http_result_free() is always safe; a previous content of *out is not freed.
 */
int cf_http_request(const char *method, const char *url, const char *body, size_t body_len,
                    const char *content_type, int64_t timeout_ms, struct cf_http_result *out,
                    struct cf_err *err);

/* Frees the body; the result may be reused. NULL is a no-op. */
void cf_http_result_free(struct cf_http_result *r);

/* Parses the body as JSON; NULL when it is empty or not JSON. The caller owns the tree. */
cJSON *cf_http_json(const struct cf_http_result *r);

/*
 * A one-line description of an error response, for messages to users: the strings of
 * Flink's {"errors": [...]} joined by "; ", else the first line of the body, else
 * "HTTP <status>". Written into buf (truncated to size); returns buf.
 */
const char *cf_http_result_error(const struct cf_http_result *r, char *buf, size_t size);

/*
 * The calling thread's libcurl easy handle (a CURL *), shared by every HTTP user of the
 * thread (cf_http_request, the object store) so they share its connection cache. Each user
 * calls curl_easy_reset() before setting its options. NULL if curl cannot allocate one.
 */
void *cf_http_thread_curl(void);

/*
 * Closes the calling thread's cached connections and frees its curl handle (threads that
 * exit do this automatically). For long-lived threads that are done with HTTP, and tests
 * counting file descriptors.
 */
void cf_http_client_thread_cleanup(void);

#endif
