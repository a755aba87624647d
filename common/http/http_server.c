/*
 * http_server.c - routing and responses on top of evhttp, one loop thread per server.
 *
 * Life of a request: evhttp reads it (rejecting malformed ones and bodies over the limit on
 * its own), then calls on_request() on the loop thread. on_request() splits and decodes the
 * path and the query into the server's arena, picks the most specific matching route, runs
 * the handler with a stack-allocated cf_http_req/cf_http_resp, sends what the handler put in
 * the response, and resets the arena. Nothing outlives the callback: routing allocates from
 * the arena only, and the response is written straight into evhttp's output buffer.
 *
 * Stopping: cf_http_server_destroy() writes a byte to a pipe the loop watches; the loop
 * breaks out after the current callback and the thread exits. Only then, with no callback
 * running, are evhttp and its connections freed by the destroying thread. The pipe (rather
 * than event_base_loopbreak() from the other thread) keeps this independent of whether
 * evthread_use_pthreads() was called before the base was created.
 */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../base/log.h"
#include "../base/mem.h"
#include "../base/strutil.h"

#define LISTEN_BACKLOG       128
#define MAX_HEADERS_SIZE     (64 * 1024)
#define IDLE_TIMEOUT_SECONDS 60
#define JSON_CONTENT_TYPE    "application/json; charset=UTF-8"

/* A path with more segments than this cannot match any route: 404 without splitting it. */
#define MAX_PATH_SEGMENTS 256

/* Methods as evhttp reports them. The index is also the bit in an allow mask, and the order
 * is the order of the Allow header. */
enum method {
    M_GET,
    M_HEAD,
    M_POST,
    M_PUT,
    M_PATCH,
    M_DELETE,
    M_OPTIONS,
    M_TRACE,
    M_CONNECT,
    M_COUNT
};
static const struct {
    enum evhttp_cmd_type cmd;
    const char *name;
} methods[] = {
    [M_GET] = {EVHTTP_REQ_GET, "GET"},
    [M_HEAD] = {EVHTTP_REQ_HEAD, "HEAD"},
    [M_POST] = {EVHTTP_REQ_POST, "POST"},
    [M_PUT] = {EVHTTP_REQ_PUT, "PUT"},
    [M_PATCH] = {EVHTTP_REQ_PATCH, "PATCH"},
    [M_DELETE] = {EVHTTP_REQ_DELETE, "DELETE"},
    [M_OPTIONS] = {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    [M_TRACE] = {EVHTTP_REQ_TRACE, "TRACE"},
    [M_CONNECT] = {EVHTTP_REQ_CONNECT, "CONNECT"},
};
_Static_assert(sizeof(methods) / sizeof(methods[0]) == M_COUNT, "methods[] must cover enum method");

struct route {
    int method;  /* enum method */
    char **segs; /* literal text, or the param name for a ":param" segment */
    unsigned char *is_param;
    int nseg;          /* fixed segments, not counting a trailing "*" */
    int wild;          /* pattern ends in "*": matches nseg + 1 or more segments */
    unsigned lit_mask; /* bit (31 - i) set when segment i is literal; higher = more specific */
    cf_http_handler fn;
    void *arg;
};

struct cf_http_server {
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;
    int stop_pipe[2];
    pthread_t thread;
    int started;
    int port;
    struct route *routes;
    int nroutes;
    int cap_routes;
    struct cf_arena arena; /* loop thread only: per-request strings, reset after each */
};

struct kv {
    const char *key;
    const char *value;
};

struct cf_http_req {
    struct evhttp_request *ev;
    const char *method;
    const char *path;
    struct kv *params;
    int nparams;
    struct kv *query;
    int nquery;
    int body_terminated;
    size_t body_len;
    char *peer; /* formatted on first use */
    struct cf_arena *arena;
};

struct cf_http_resp {
    struct evhttp_request *ev;
    struct cf_arena *arena;
    int status; /* 0 until the handler answers */
    const char *content_type;
};

/* "host:port", with brackets around an IPv6 address. */
static void format_hostport(char *buf, size_t size, const char *addr, int port)
{
    snprintf(buf, size, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
}

/* ---- percent-decoding, path and query splitting ---- */

/*
 * Decodes n bytes of s into a NUL-terminated arena string. plus_is_space for query strings
 * (form encoding). Returns NULL for a malformed escape or an escaped NUL, which could not
 * survive as a C string and is never legitimate in Creekflow's ids and options.
 */
static char *pct_decode(struct cf_arena *arena, const char *s, size_t n, int plus_is_space)
{
    char *out = cf_arena_alloc(arena, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? cf_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? cf_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

/*
 * Splits the raw path into decoded segments (arena), skipping empty ones so that "/jobs/",
 * "/jobs" and "//jobs" are the same path. Returns the count, -1 for a malformed path (bad
 * escape, escaped NUL, a "." or ".." segment - never meaningful to a route, and a trap for
 * static file handlers), or MAX_PATH_SEGMENTS + 1 when there are too many to match anything.
 */
static int split_path(struct cf_arena *arena, const char *path, const char ***out)
{
    int max = 1;
    for (const char *p = path; *p; p++) {
        max += *p == '/';
    }
    if (max > MAX_PATH_SEGMENTS) {
        return MAX_PATH_SEGMENTS + 1;
    }
    const char **segs = cf_arena_alloc(arena, (size_t)max * sizeof(*segs));
    int n = 0;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            char *seg = pct_decode(arena, p, len, 0);
            if (!seg || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
                return -1;
            }
            segs[n++] = seg;
        }
        p += len;
        if (*p == '/') {
            p++;
        }
    }
    *out = segs;
    return n;
}

/*
 * Parses "a=1&b=x%20y&flag" into decoded pairs (arena). A name without '=' gets "". Returns
 * 0, or -1 for a malformed escape.
 */
static int parse_query(struct cf_arena *arena, const char *q, struct kv **out, int *count)
{
    int max = 1;
    for (const char *p = q; *p; p++) {
        max += *p == '&';
    }
    struct kv *kv = cf_arena_alloc(arena, (size_t)max * sizeof(*kv));
    int n = 0;
    const char *p = q;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            kv[n].key = pct_decode(arena, p, klen, 1);
            kv[n].value = eq ? pct_decode(arena, eq + 1, len - klen - 1, 1) : "";
            if (!kv[n].key || !kv[n].value) {
                return -1;
            }
            n++;
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    *out = kv;
    *count = n;
    return 0;
}

/* ---- routes ---- */

static int method_index(const char *name)
{
    for (int i = 0; i < M_COUNT; i++) {
        if (strcmp(methods[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

static int method_of_cmd(enum evhttp_cmd_type cmd)
{
    for (int i = 0; i < M_COUNT; i++) {
        if (methods[i].cmd == cmd) {
            return i;
        }
    }
    return -1;
}

static void route_free(struct route *r)
{
    for (int i = 0; i < r->nseg; i++) {
        cf_free(r->segs[i]);
    }
    cf_free(r->segs);
    cf_free(r->is_param);
}

/* Parses pattern into r (segments malloc'd). Returns 0 or CF_EINVAL. */
static int route_parse(struct route *r, const char *pattern)
{
    memset(r, 0, sizeof(*r));
    if (pattern[0] != '/') {
        return CF_EINVAL;
    }
    r->segs = cf_calloc(CF_HTTP_MAX_SEGMENTS, sizeof(*r->segs));
    r->is_param = cf_calloc(CF_HTTP_MAX_SEGMENTS, 1);
    const char *p = pattern;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (r->wild || r->nseg == CF_HTTP_MAX_SEGMENTS) {
                return CF_EINVAL; /* a segment after "*", or too many */
            }
            if (len == 1 && p[0] == '*') {
                r->wild = 1;
            } else if (p[0] == ':') {
                if (len == 1) {
                    return CF_EINVAL;
                }
                char *name = cf_strndup(p + 1, len - 1);
                for (int i = 0; i < r->nseg; i++) {
                    if (r->is_param[i] && strcmp(r->segs[i], name) == 0) {
                        cf_free(name);
                        return CF_EINVAL;
                    }
                }
                r->is_param[r->nseg] = 1;
                r->segs[r->nseg++] = name;
            } else {
                r->lit_mask |= 1u << (31 - r->nseg);
                r->segs[r->nseg++] = cf_strndup(p, len);
            }
        }
        p += len;
        if (*p == '/') {
            p++;
        }
    }
    return 0;
}

/* Two patterns of the same shape (same literals at the same places) match the same paths. */
static int route_same_shape(const struct route *a, const struct route *b)
{
    if (a->nseg != b->nseg || a->wild != b->wild || a->lit_mask != b->lit_mask) {
        return 0;
    }
    for (int i = 0; i < a->nseg; i++) {
        if (!a->is_param[i] && strcmp(a->segs[i], b->segs[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

int cf_http_route(struct cf_http_server *s, const char *method, const char *pattern,
                  cf_http_handler fn, void *arg)
{
    cf_assert(s && method && pattern && fn);
    cf_assert(!s->started);
    int m = method_index(method);
    if (m < 0 || m == M_HEAD || m == M_OPTIONS || m == M_TRACE || m == M_CONNECT) {
        return CF_EINVAL;
    }
    struct route r;
    int rc = route_parse(&r, pattern);
    if (rc < 0) {
        route_free(&r);
        return rc;
    }
    for (int i = 0; i < s->nroutes; i++) {
        if (s->routes[i].method == m && route_same_shape(&s->routes[i], &r)) {
            route_free(&r);
            return CF_EEXIST;
        }
    }
    r.method = m;
    r.fn = fn;
    r.arg = arg;
    if (s->nroutes == s->cap_routes) {
        s->cap_routes = s->cap_routes ? s->cap_routes * 2 : 16;
        s->routes = cf_realloc(s->routes, (size_t)s->cap_routes * sizeof(*s->routes));
    }
    s->routes[s->nroutes++] = r;
    return 0;
}

static int route_matches(const struct route *r, const char **segs, int nseg)
{
    if (r->wild ? nseg <= r->nseg : nseg != r->nseg) {
        return 0;
    }
    for (int i = 0; i < r->nseg; i++) {
        if (!r->is_param[i] && strcmp(r->segs[i], segs[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Whether a is more specific than b (both match the same path). */
static int route_beats(const struct route *a, const struct route *b)
{
    if (a->wild != b->wild) {
        return !a->wild;
    }
    if (a->nseg != b->nseg) {
        return a->nseg > b->nseg;
    }
    return a->lit_mask > b->lit_mask;
}

/* ---- responses ---- */

static void resp_reset(struct cf_http_resp *resp, int status)
{
    cf_assert(status >= 100 && status <= 599);
    struct evbuffer *out = evhttp_request_get_output_buffer(resp->ev);
    evbuffer_drain(out, evbuffer_get_length(out));
    resp->status = status;
    resp->content_type = NULL;
}

void cf_http_resp_json(struct cf_http_resp *resp, int status, cJSON *body)
{
    resp_reset(resp, status);
    if (!body) {
        return;
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    cf_assert(text); /* NULL only when cJSON's malloc failed */
    evbuffer_add(evhttp_request_get_output_buffer(resp->ev), text, strlen(text));
    cJSON_free(text);
    resp->content_type = JSON_CONTENT_TYPE;
}

void cf_http_resp_text(struct cf_http_resp *resp, int status, const char *content_type,
                       const char *data, size_t len)
{
    cf_assert(content_type && !strpbrk(content_type, "\r\n"));
    resp_reset(resp, status);
    evbuffer_add(evhttp_request_get_output_buffer(resp->ev), data, len);
    resp->content_type = cf_arena_strndup(resp->arena, content_type, strlen(content_type));
}

static void resp_verror(struct cf_http_resp *resp, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void resp_verror(struct cf_http_resp *resp, int status, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    cJSON *body = cJSON_CreateObject();
    cJSON *errors = cJSON_AddArrayToObject(body, "errors");
    cJSON_AddItemToArray(errors, cJSON_CreateString(msg));
    cf_http_resp_json(resp, status, body);
}

void cf_http_resp_error(struct cf_http_resp *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp_verror(resp, status, fmt, ap);
    va_end(ap);
}

int cf_http_resp_header(struct cf_http_resp *resp, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        return CF_EINVAL;
    }
    return evhttp_add_header(evhttp_request_get_output_headers(resp->ev), name, value) == 0
               ? 0
               : CF_EINVAL;
}

static void resp_send(struct cf_http_resp *resp)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(resp->ev);
    if (!evhttp_find_header(h, "Access-Control-Allow-Origin")) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    }
    if (resp->content_type) {
        evhttp_add_header(h, "Content-Type", resp->content_type);
    }
    /* reason NULL: evhttp fills in the standard phrase for the code. */
    evhttp_send_reply(resp->ev, resp->status, NULL, NULL);
}

/* ---- request accessors ---- */

const char *cf_http_req_method(const struct cf_http_req *req)
{
    return req->method;
}

const char *cf_http_req_path(const struct cf_http_req *req)
{
    return req->path;
}

const char *cf_http_req_param(const struct cf_http_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].key, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *cf_http_req_query(const struct cf_http_req *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].key, name) == 0) {
            return req->query[i].value;
        }
    }
    return NULL;
}

const char *cf_http_req_peer(struct cf_http_req *req)
{
    if (!req->peer) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evhttp_request_get_connection(req->ev), &addr, &port);
        req->peer = cf_arena_alloc(req->arena, 300);
        format_hostport(req->peer, 300, addr ? addr : "?", port);
    }
    return req->peer;
}

const char *cf_http_req_header(const struct cf_http_req *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const char *cf_http_req_body(struct cf_http_req *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req->ev);
    if (!req->body_terminated) {
        /* The input buffer is ours until the reply: a NUL behind the body lets handlers use
         * C string functions, and makes the buffer non-empty so pullup never returns NULL. */
        req->body_len = evbuffer_get_length(in);
        evbuffer_add(in, "", 1);
        req->body_terminated = 1;
    }
    if (len) {
        *len = req->body_len;
    }
    return (const char *)evbuffer_pullup(in, -1);
}

/* ---- dispatch (loop thread) ---- */

/* "GET, HEAD, POST, OPTIONS": the methods of mask, HEAD with GET, OPTIONS always. */
static void allow_list(unsigned mask, char *buf, size_t size)
{
    if (mask & (1u << M_GET)) {
        mask |= 1u << M_HEAD;
    }
    mask |= 1u << M_OPTIONS;
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < M_COUNT; i++) {
        if (mask & (1u << i)) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", methods[i].name);
        }
    }
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct cf_http_server *s = arg;
    struct cf_arena *arena = &s->arena;
    struct cf_http_resp resp = {.ev = ev, .arena = arena};
    struct cf_http_req req = {.ev = ev, .arena = arena};

    int m = method_of_cmd(evhttp_request_get_command(ev));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!path || !path[0]) {
        path = "/";
    }
    req.method = m >= 0 ? methods[m].name : "?";
    req.path = path;

    const char **segs = NULL;
    int nseg = path[0] == '/' ? split_path(arena, path, &segs) : -1;
    if (m < 0 || nseg < 0) {
        cf_http_resp_error(&resp, 400, "bad request: malformed path %s", path);
        goto send;
    }
    if (query && parse_query(arena, query, &req.query, &req.nquery) < 0) {
        cf_http_resp_error(&resp, 400, "bad request: malformed query string");
        goto send;
    }

    int want = m == M_HEAD ? M_GET : m;
    const struct route *best = NULL;
    unsigned allow = 0;
    if (nseg <= MAX_PATH_SEGMENTS) {
        for (int i = 0; i < s->nroutes; i++) {
            const struct route *r = &s->routes[i];
            if (!route_matches(r, segs, nseg)) {
                continue;
            }
            allow |= 1u << r->method;
            if (r->method == want && (!best || route_beats(r, best))) {
                best = r;
            }
        }
    }
    if (!best) {
        char allowed[128];
        allow_list(allow, allowed, sizeof(allowed));
        if (!allow) {
            cf_http_resp_error(&resp, 404, "not found: %s", path);
        } else if (m == M_OPTIONS) {
            /* CORS preflight and plain OPTIONS: what may be done with this resource. */
            cf_http_resp_json(&resp, 204, NULL);
            cf_http_resp_header(&resp, "Allow", allowed);
            cf_http_resp_header(&resp, "Access-Control-Allow-Methods", allowed);
            cf_http_resp_header(&resp, "Access-Control-Allow-Headers", "Content-Type");
            cf_http_resp_header(&resp, "Access-Control-Max-Age", "600");
        } else {
            cf_http_resp_error(&resp, 405, "method not allowed: %s %s", req.method, path);
            cf_http_resp_header(&resp, "Allow", allowed);
        }
        goto send;
    }

    int nparams = best->wild;
    for (int i = 0; i < best->nseg; i++) {
        nparams += best->is_param[i];
    }
    req.params = cf_arena_alloc(arena, (size_t)(nparams ? nparams : 1) * sizeof(*req.params));
    for (int i = 0; i < best->nseg; i++) {
        if (best->is_param[i]) {
            req.params[req.nparams++] = (struct kv){best->segs[i], segs[i]};
        }
    }
    if (best->wild) {
        size_t len = 0;
        for (int i = best->nseg; i < nseg; i++) {
            len += strlen(segs[i]) + 1;
        }
        char *rest = cf_arena_alloc(arena, len);
        char *o = rest;
        for (int i = best->nseg; i < nseg; i++) {
            size_t l = strlen(segs[i]);
            memcpy(o, segs[i], l);
            o += l;
            *o++ = i + 1 < nseg ? '/' : '\0';
        }
        req.params[req.nparams++] = (struct kv){"*", rest};
    }

    best->fn(best->arg, &req, &resp);
    if (!resp.status) {
        cf_error("http: the handler of %s %s sent no response", req.method, path);
        cf_http_resp_error(&resp, 500, "internal error: no response for %s %s", req.method, path);
    }

send:
    resp_send(&resp);
    cf_arena_reset(arena);
}

/* ---- listening socket, loop thread, lifetime ---- */

/* Binds and listens on addr:port; returns the non-blocking fd and the actual port. */
static int listen_on(const char *addr, int port, int *bound_port, struct cf_err *err)
{
    char where[300];
    format_hostport(where, sizeof(where), addr, port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0) {
        return cf_err_set(err, CF_EIO, "cannot listen on %s: %s", where, gai_strerror(rc));
    }
    int fd = -1;
    int saved = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0) {
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return cf_err_set(err, CF_EIO, "cannot listen on %s: %s", where, strerror(saved));
    }
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
        saved = errno;
        close(fd);
        return cf_err_set(err, CF_EIO, "cannot listen on %s: %s", where, strerror(saved));
    }
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cf_http_server *s = arg;
    event_base_loopbreak(s->base);
}

struct cf_http_server *cf_http_server_create(const char *bind_addr, int port, struct cf_err *err)
{
    if (!bind_addr) {
        bind_addr = "127.0.0.1";
    }
    if (port < 0 || port > 65535) {
        cf_err_set(err, CF_EINVAL, "invalid port %d for %s (0..65535)", port, bind_addr);
        return NULL;
    }
    int bound_port = 0;
    int fd = listen_on(bind_addr, port, &bound_port, err);
    if (fd < 0) {
        return NULL;
    }
    struct cf_http_server *s = cf_new(struct cf_http_server);
    s->port = bound_port;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    cf_arena_init(&s->arena, 0);
    errno = 0;
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    if (!s->http || pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        cf_err_set(err, CF_EIO, "cannot create the HTTP server for port %d: %s", bound_port,
                   strerror(errno ? errno : ENOMEM));
        close(fd);
        cf_http_server_destroy(s);
        return NULL;
    }
    /* evhttp owns the fd from here (closed by evhttp_free). */
    if (!evhttp_accept_socket_with_handle(s->http, fd)) {
        cf_err_set(err, CF_EIO, "cannot serve HTTP on port %d", bound_port);
        close(fd);
        cf_http_server_destroy(s);
        return NULL;
    }
    s->stop_ev = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s);
    cf_assert(s->stop_ev);
    event_add(s->stop_ev, NULL);

    /* Every method reaches on_request, so unknown ones get our JSON 404/405, not evhttp's. */
    uint16_t all = 0;
    for (int i = 0; i < M_COUNT; i++) {
        all |= (uint16_t)methods[i].cmd;
    }
    evhttp_set_allowed_methods(s->http, all);
    evhttp_set_default_content_type(s->http, NULL);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(s->http, CF_HTTP_MAX_BODY_DEFAULT);
    evhttp_set_timeout(s->http, IDLE_TIMEOUT_SECONDS);
    evhttp_set_gencb(s->http, on_request, s);
    return s;
}

int cf_http_server_port(const struct cf_http_server *s)
{
    return s->port;
}

void cf_http_server_set_max_body(struct cf_http_server *s, size_t max_body)
{
    cf_assert(!s->started && max_body <= (size_t)INT64_MAX);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
}

static void *loop_main(void *arg)
{
    struct cf_http_server *s = arg;
    if (event_base_dispatch(s->base) < 0) {
        cf_error("http: the event loop of port %d failed", s->port);
    }
    return NULL;
}

int cf_http_server_start(struct cf_http_server *s)
{
    cf_assert(!s->started);
    /* The thread inherits this mask: asynchronous signals stay with the application's
     * threads, and SIGPIPE from writing to a client that hung up stays pending, harmlessly,
     * instead of killing the process. Faults stay deliverable. */
    sigset_t block, old;
    sigfillset(&block);
    sigdelset(&block, SIGSEGV);
    sigdelset(&block, SIGBUS);
    sigdelset(&block, SIGFPE);
    sigdelset(&block, SIGILL);
    sigdelset(&block, SIGABRT);
    sigdelset(&block, SIGTRAP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&s->thread, NULL, loop_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        cf_error("http: cannot start the loop thread for port %d: %s", s->port, strerror(rc));
        return CF_EIO;
    }
    pthread_setname_np(s->thread, "cf-http");
    s->started = 1;
    return 0;
}

void cf_http_server_destroy(struct cf_http_server *s)
{
    if (!s) {
        return;
    }
    if (s->started) {
        cf_assert(!pthread_equal(pthread_self(), s->thread));
        char b = 1;
        while (write(s->stop_pipe[1], &b, 1) < 0 && errno == EINTR) {
        }
        pthread_join(s->thread, NULL);
    }
    /* No callback runs now: free connections (idle or mid-request) and the listener. */
    if (s->http) {
        evhttp_free(s->http);
    }
    if (s->stop_ev) {
        event_free(s->stop_ev);
    }
    if (s->base) {
        event_base_free(s->base);
    }
    for (int i = 0; i < 2; i++) {
        if (s->stop_pipe[i] >= 0) {
            close(s->stop_pipe[i]);
        }
    }
    for (int i = 0; i < s->nroutes; i++) {
        route_free(&s->routes[i]);
    }
    cf_free(s->routes);
    cf_arena_destroy(&s->arena);
    cf_free(s);
}
