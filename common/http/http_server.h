/*
 * http_server.h - the HTTP server behind the REST API and web UI (port 8081), on libevent's
 * evhttp.
 *
 * A server owns one listening socket, one event_base and one loop thread. Routes are
 * registered before cf_http_server_start(); requests are matched against them segment by
 * segment ("/jobs/:jid/vertices/:vid") and handed to a cf_http_handler on the loop thread.
 * Every response of ours carries "Access-Control-Allow-Origin: *" (Flink's UI and tools
 * expect it), and every error of ours has Flink's shape: {"errors": ["..."]} with a 4xx/5xx
 * status - unknown paths (404), known paths with another method (405, with Allow), malformed
 * escapes in the path or query and "." or ".." path segments (400).
 *
 * Threads: handlers run on the loop thread, one request at a time, and must not block - no
 * sleeps, no network calls, no waiting on a job. A handler that reads shared state takes the
 * owner's mutex for a short critical section (the coordinator guards its job table this way).
 * A handler must answer before it returns (cf_http_resp_json/_text/_error); one that does not
 * gets a 500.
 *
 * What evhttp answers on its own, before a request reaches this layer: a body over the limit
 * (default CF_HTTP_MAX_BODY_DEFAULT) gets 413 - at once when Content-Length declares it, with
 * no body byte read, so a client that sent "Expect: 100-continue" (curl does above 1 MiB)
 * never uploads it; a chunked body when it crosses the limit. Malformed request lines and
 * headers, and header blocks over 64 KiB, get 400; unknown methods 501. Those answers close
 * the connection, and their body is libevent's small HTML page without the CORS header:
 * libevent 2.1 has no hook to replace them (2.2's evhttp_set_errorcb would be the place).
 * cf_http_result_error() turns such a page into "HTTP 413 Request Entity Too Large".
 * Connections idle (or stalled mid-request) for 60 s are closed.
 */
#ifndef CF_HTTP_SERVER_H
#define CF_HTTP_SERVER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "../base/err.h"

#define CF_HTTP_MAX_BODY_DEFAULT (16u * 1024 * 1024)

/* Most segments a route pattern may have ("/a/b/c" has 3). */
#define CF_HTTP_MAX_SEGMENTS 32

struct cf_http_server;
struct cf_http_req;
struct cf_http_resp;

/*
 * A route handler. Runs on the loop thread; must not block (see above). req and resp, and
 * every string read from req, are valid only until the handler returns.
 */
typedef void (*cf_http_handler)(void *arg, struct cf_http_req *req, struct cf_http_resp *resp);

/*
 * Creates a server listening on bind_addr:port (a numeric IPv4 or IPv6 address or a host
 * name; NULL means "127.0.0.1"; port 0 picks any free port - read it with
 * cf_http_server_port()). The socket is bound and listening when this returns, so clients
 * may connect at once; their requests wait until cf_http_server_start(). Returns NULL and
 * sets err (CF_EIO "cannot listen on 127.0.0.1:8081: Address already in use", CF_EINVAL for a
 * bad port) on failure. Any thread.
 */
struct cf_http_server *cf_http_server_create(const char *bind_addr, int port, struct cf_err *err);

/* The port the server listens on (the one picked when created with port 0). Any thread. */
int cf_http_server_port(const struct cf_http_server *s);

/*
 * Caps request bodies at max_body bytes (default CF_HTTP_MAX_BODY_DEFAULT); larger ones get
 * 413. Call before cf_http_server_start(), from the thread that created the server.
 */
void cf_http_server_set_max_body(struct cf_http_server *s, size_t max_body);

/*
 * Registers fn for method ("GET", "POST", "PUT", "PATCH", "DELETE") on pattern: segments
 * separated by '/', a segment ":name" captures that segment (read it with
 * cf_http_req_param(req, "name")), and a last segment "*" captures one or more remaining
 * segments joined by '/' (cf_http_req_param(req, "*"); for static assets). Empty segments
 * are ignored, so "/jobs/" and "/jobs" are the same pattern and match both paths.
 *
 * When several routes match a path, the most specific wins: a literal segment beats a
 * ":param" at the first position where they differ ("/jobs/overview" before "/jobs/:jid"),
 * and any exact-length route beats a "*" route. HEAD is served by the GET route; OPTIONS is
 * answered by the server (204 with Allow and CORS headers).
 *
 * Returns 0, CF_EINVAL for an unknown method or a malformed pattern (empty or repeated param
 * name, '*' not last, more than CF_HTTP_MAX_SEGMENTS segments), CF_EEXIST when the same
 * method and pattern shape is already registered. arg is borrowed and passed to fn; it must
 * outlive the server. Call before cf_http_server_start(), from the creating thread.
 */
int cf_http_route(struct cf_http_server *s, const char *method, const char *pattern,
                  cf_http_handler fn, void *arg);

/*
 * Starts the loop thread (named "cf-http"); from now on requests are served. The thread
 * blocks every asynchronous signal, so SIGINT/SIGTERM go to the application's threads and a
 * client that hangs up mid-response cannot raise SIGPIPE in it. Returns 0 or CF_EIO (thread
 * creation failed). Call once, from the creating thread.
 */
int cf_http_server_start(struct cf_http_server *s);

/*
 * Stops the loop (after the handler running now, if any, returns), joins the thread, closes
 * the listening socket and every connection - idle keep-alive ones and ones in the middle of
 * sending a request alike - and frees the server. NULL is a no-op. Any thread except the loop
 * thread (never from a handler).
 */
void cf_http_server_destroy(struct cf_http_server *s);

/* ---- request accessors: call from the handler only ---- */

/* "GET", "HEAD" (served by the GET route), "POST", "PUT", "PATCH", "DELETE". */
const char *cf_http_req_method(const struct cf_http_req *req);

/* The path as received, still percent-encoded, without the query ("/jobs/ab%20c/"). */
const char *cf_http_req_path(const struct cf_http_req *req);

/* The percent-decoded value of path parameter name (":jid" -> "jid"), or NULL. */
const char *cf_http_req_param(const struct cf_http_req *req, const char *name);

/*
 * The decoded value of query parameter name ('+' is a space, %XX a byte), or NULL when
 * absent. "?flag" and "?flag=" both give "". For a repeated name, the first value.
 */
const char *cf_http_req_query(const struct cf_http_req *req, const char *name);

/* The client's address and port, "127.0.0.1:53412" (for logs and audit lines). */
const char *cf_http_req_peer(struct cf_http_req *req);

/* A request header (case-insensitive name), or NULL. */
const char *cf_http_req_header(const struct cf_http_req *req, const char *name);

/*
 * The request body and its length in *len (may be NULL). Never NULL: "" when there is no
 * body. Always NUL-terminated (after len bytes), but may contain NULs itself.
 */
const char *cf_http_req_body(struct cf_http_req *req, size_t *len);

/* ---- responses: call one of these once from the handler (a second call replaces) ---- */

/*
 * Answers status with body printed as compact JSON ("application/json; charset=UTF-8").
 * Takes ownership of body (freed here); NULL sends no body (e.g. 202 or 204).
 */
void cf_http_resp_json(struct cf_http_resp *resp, int status, cJSON *body);

/* Answers status with len bytes of data (copied) and the given Content-Type. */
void cf_http_resp_text(struct cf_http_resp *resp, int status, const char *content_type,
                       const char *data, size_t len);

/* Answers status with {"errors": ["<formatted message>"]}. */
void cf_http_resp_error(struct cf_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Adds a response header (e.g. "Location", "Cache-Control"). Returns 0, or CF_EINVAL when
 * the name or value contains CR or LF (header injection) - nothing is added then.
 */
int cf_http_resp_header(struct cf_http_resp *resp, const char *name, const char *value);

#endif
