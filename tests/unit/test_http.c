/*
 * Unit tests of common/http: the evhttp-based server (routing, params, errors, limits,
 * lifetime) and the libcurl client (keep-alive, errors, timeouts), over real sockets on
 * 127.0.0.1 with ephemeral ports. Raw sockets check what a client library would hide: exact
 * status lines and headers, garbage input, half-sent requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_client.h"
#include "common/http/http_server.h"

static int64_t mult(void)
{
    const char *m = getenv("CF_TEST_TIMEOUT_MULT");
    int64_t v = m ? atoll(m) : 1;
    return v > 0 ? v : 1;
}

/* ---- handlers ---- */

struct app {
    pthread_mutex_t lock;
    int count;
    char cancelled[64];
};

static void add_str_or_null(cJSON *obj, const char *name, const char *value)
{
    cJSON_AddItemToObject(obj, name, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

/* Echoes method, path, params and a fixed set of query names. */
static void h_echo(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", cf_http_req_method(req));
    cJSON_AddStringToObject(o, "path", cf_http_req_path(req));
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    add_str_or_null(p, "jid", cf_http_req_param(req, "jid"));
    add_str_or_null(p, "vid", cf_http_req_param(req, "vid"));
    cJSON *q = cJSON_AddObjectToObject(o, "query");
    static const char *const names[] = {"mode", "x", "plus", "empty", "flag", "missing"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        add_str_or_null(q, names[i], cf_http_req_query(req, names[i]));
    }
    cf_http_resp_json(resp, 200, o);
}

static void h_overview(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "route", "overview");
    cf_http_resp_json(resp, 200, o);
}

static void h_job(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "route", "job");
    cJSON_AddStringToObject(o, "jid", cf_http_req_param(req, "jid"));
    cf_http_resp_json(resp, 200, o);
}

static void h_list(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    cf_http_resp_json(resp, 200, cJSON_Parse("{\"jobs\":[]}"));
}

/* POST /jobs: parses the spec and answers {"jobid": ..., "received": <spec>}. */
static void h_submit(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    size_t len;
    const char *body = cf_http_req_body(req, &len);
    cJSON *spec = cJSON_ParseWithLength(body, len);
    if (!spec) {
        cf_http_resp_error(resp, 400, "invalid job spec: not JSON (%zu bytes)", len);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jobid", "0123456789abcdef0123456789abcdef");
    cJSON_AddItemToObject(o, "received", spec);
    cf_http_resp_json(resp, 200, o);
}

static void h_patch_job(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct app *app = arg;
    const char *mode = cf_http_req_query(req, "mode");
    if (!mode || strcmp(mode, "cancel") != 0) {
        cf_http_resp_error(resp, 400, "unknown mode '%s' (expected cancel)", mode ? mode : "");
        return;
    }
    pthread_mutex_lock(&app->lock);
    snprintf(app->cancelled, sizeof(app->cancelled), "%s", cf_http_req_param(req, "jid"));
    pthread_mutex_unlock(&app->lock);
    cf_http_resp_json(resp, 202, cJSON_CreateObject());
}

static const char METRICS[] = "# TYPE creekflow_up gauge\ncreekflow_up 1\n";

static void h_metrics(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    cf_http_resp_text(resp, 200, "text/plain; version=0.0.4", METRICS, sizeof(METRICS) - 1);
}

static void h_silent(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    (void)resp;
}

static void h_count(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    struct app *app = arg;
    pthread_mutex_lock(&app->lock);
    app->count++;
    pthread_mutex_unlock(&app->lock);
    cJSON *o = cJSON_CreateObject();
    add_str_or_null(o, "i", cf_http_req_query(req, "i"));
    cf_http_resp_json(resp, 200, o);
}

static void h_size(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    size_t len;
    const char *body = cf_http_req_body(req, &len);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "len", (double)len);
    cJSON_AddBoolToObject(o, "terminated", body[len] == '\0');
    cf_http_resp_json(resp, 200, o);
}

static void h_asset(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    char text[512];
    int n = snprintf(text, sizeof(text), "asset:%s", cf_http_req_param(req, "*"));
    cf_http_resp_text(resp, 200, "text/plain", text, (size_t)n);
    cf_http_resp_header(resp, "Cache-Control", "max-age=60");
}

static void h_peer(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    const char *peer = cf_http_req_peer(req);
    cf_http_resp_text(resp, 200, "text/plain", peer, strlen(peer));
}

#define BIG_RESPONSE (8u * 1024 * 1024)

static void h_big(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    char *data = cf_malloc(BIG_RESPONSE);
    memset(data, 'z', BIG_RESPONSE);
    cf_http_resp_text(resp, 200, "application/octet-stream", data, BIG_RESPONSE);
    cf_free(data);
}

/* Which signals the loop thread blocks, seen from a handler. */
static void h_sigmask(void *arg, struct cf_http_req *req, struct cf_http_resp *resp)
{
    (void)arg;
    (void)req;
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "PIPE", sigismember(&set, SIGPIPE));
    cJSON_AddBoolToObject(o, "INT", sigismember(&set, SIGINT));
    cJSON_AddBoolToObject(o, "TERM", sigismember(&set, SIGTERM));
    cJSON_AddBoolToObject(o, "SEGV", sigismember(&set, SIGSEGV));
    cf_http_resp_json(resp, 200, o);
}

/* ---- fixture: one server with the REST-like routes ---- */

struct fx {
    struct cf_http_server *s;
    struct app app;
    int port;
    char base[64];
};

static struct cf_http_server *make_server(struct app *app, size_t max_body)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_http_server *s = cf_http_server_create("127.0.0.1", 0, &err);
    assert_non_null(s);
    if (max_body) {
        cf_http_server_set_max_body(s, max_body);
    }
    assert_int_equal(cf_http_route(s, "GET", "/jobs", h_list, app), 0);
    assert_int_equal(cf_http_route(s, "POST", "/jobs", h_submit, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/jobs/:jid", h_job, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/jobs/overview", h_overview, app), 0);
    assert_int_equal(cf_http_route(s, "PATCH", "/jobs/:jid", h_patch_job, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/jobs/:jid/vertices/:vid", h_echo, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/metrics", h_metrics, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/silent", h_silent, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/count", h_count, app), 0);
    assert_int_equal(cf_http_route(s, "POST", "/size", h_size, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/ui/*", h_asset, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/peer", h_peer, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/big", h_big, app), 0);
    assert_int_equal(cf_http_route(s, "GET", "/sigmask", h_sigmask, app), 0);
    assert_int_equal(cf_http_server_start(s), 0);
    return s;
}

static int setup(void **state)
{
    struct fx *fx = cf_new(struct fx);
    pthread_mutex_init(&fx->app.lock, NULL);
    fx->s = make_server(&fx->app, 0);
    fx->port = cf_http_server_port(fx->s);
    snprintf(fx->base, sizeof(fx->base), "http://127.0.0.1:%d", fx->port);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    cf_http_server_destroy(fx->s);
    pthread_mutex_destroy(&fx->app.lock);
    cf_free(fx);
    return 0;
}

/* method + base + path through the client; asserts the transport worked. */
static void call(struct fx *fx, const char *method, const char *path, const char *body,
                 struct cf_http_result *r)
{
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", fx->base, path);
    struct cf_err err;
    cf_err_clear(&err);
    int rc =
        cf_http_request(method, url, body, body ? strlen(body) : 0, NULL, 10000 * mult(), r, &err);
    if (rc != 0) {
        fail_msg("%s %s: %s", method, url, err.msg);
    }
}

static void expect(struct fx *fx, const char *method, const char *path, int status,
                   const char *body)
{
    struct cf_http_result r;
    call(fx, method, path, NULL, &r);
    assert_int_equal(r.status, status);
    assert_string_equal(r.body.len ? r.body.data : "", body);
    cf_http_result_free(&r);
}

/* ---- raw sockets ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return; /* the server may close early on garbage: not an error here */
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Reads until EOF, reset or timeout into out; returns 1 on EOF/reset, 0 on timeout. */
static int raw_read_all(int fd, struct cf_buf *out, int64_t timeout_ms)
{
    int64_t deadline = cf_monotonic_ms() + timeout_ms;
    char buf[8192];
    for (;;) {
        int64_t left = deadline - cf_monotonic_ms();
        if (left <= 0) {
            return 0;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            return 0;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 1;
        }
        cf_buf_append(out, buf, (size_t)n);
    }
}

/* Reads one response with a Content-Length (keep-alive) into out. */
static void raw_read_response(int fd, struct cf_buf *out)
{
    char buf[4096];
    for (;;) {
        const char *end = out->len ? strstr(out->data, "\r\n\r\n") : NULL;
        if (end) {
            const char *cl = strstr(out->data, "Content-Length: ");
            size_t body = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
            if (out->len >= (size_t)(end + 4 - out->data) + body) {
                return;
            }
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, (int)(5000 * mult())), 1);
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        assert_true(n > 0);
        cf_buf_append(out, buf, (size_t)n);
    }
}

/* Sends req on a new connection and returns everything the server writes until it closes. */
static void raw_exchange(int port, const char *req, size_t len, struct cf_buf *out)
{
    int fd = raw_connect(port);
    raw_send(fd, req, len);
    cf_buf_init(out);
    assert_int_equal(raw_read_all(fd, out, 5000 * mult()), 1);
    close(fd);
}

static void assert_has(const struct cf_buf *b, const char *needle)
{
    if (!b->len || !strstr(b->data, needle)) {
        fail_msg("expected '%s' in:\n%s", needle, b->len ? b->data : "(nothing)");
    }
}

static const char *body_of(const struct cf_buf *b)
{
    const char *p = b->len ? strstr(b->data, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

/* ---- routing ---- */

static void test_params_and_query(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/jobs/abc/vertices/v%201?mode=a%26b&x=%E2%9C%93&plus=a+b&empty=&flag", 200,
           "{\"method\":\"GET\",\"path\":\"/jobs/abc/vertices/v%201\",\"params\":{\"jid\":\"abc\","
           "\"vid\":\"v 1\"},\"query\":{\"mode\":\"a&b\",\"x\":\"\xE2\x9C\x93\",\"plus\":\"a b\","
           "\"empty\":\"\",\"flag\":\"\",\"missing\":null}}");
    /* An encoded '/' stays inside its segment. */
    expect(fx, "GET", "/jobs/a%2Fb/vertices/7", 200,
           "{\"method\":\"GET\",\"path\":\"/jobs/a%2Fb/vertices/7\",\"params\":{\"jid\":\"a/b\","
           "\"vid\":\"7\"},\"query\":{\"mode\":null,\"x\":null,\"plus\":null,\"empty\":null,"
           "\"flag\":null,\"missing\":null}}");
    /* Trailing slash: same route, path as received. */
    expect(fx, "GET", "/jobs/abc/vertices/v1/?mode=x", 200,
           "{\"method\":\"GET\",\"path\":\"/jobs/abc/vertices/v1/\",\"params\":{\"jid\":\"abc\","
           "\"vid\":\"v1\"},\"query\":{\"mode\":\"x\",\"x\":null,\"plus\":null,\"empty\":null,"
           "\"flag\":null,\"missing\":null}}");
    expect(fx, "GET", "/jobs/", 200, "{\"jobs\":[]}");
}

static void test_most_specific_route_wins(void **state)
{
    struct fx *fx = *state;
    /* Registered after "/jobs/:jid", still preferred: literal beats param. */
    expect(fx, "GET", "/jobs/overview", 200, "{\"route\":\"overview\"}");
    expect(fx, "GET", "/jobs/overview/", 200, "{\"route\":\"overview\"}");
    expect(fx, "GET", "/jobs/0123456789abcdef0123456789abcdef", 200,
           "{\"route\":\"job\",\"jid\":\"0123456789abcdef0123456789abcdef\"}");
    /* A trailing "*" takes the rest of the path, and needs at least one segment. */
    expect(fx, "GET", "/ui/js/app%20main.js", 200, "asset:js/app main.js");
    expect(fx, "GET", "/ui/index.html", 200, "asset:index.html");
    expect(fx, "GET", "/ui", 404, "{\"errors\":[\"not found: /ui\"]}");
}

static void test_not_found_and_method_not_allowed(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/nope", 404, "{\"errors\":[\"not found: /nope\"]}");
    expect(fx, "GET", "/jobs/a/b", 404, "{\"errors\":[\"not found: /jobs/a/b\"]}");
    expect(fx, "DELETE", "/jobs", 405, "{\"errors\":[\"method not allowed: DELETE /jobs\"]}");
    expect(fx, "PUT", "/jobs/x", 405, "{\"errors\":[\"method not allowed: PUT /jobs/x\"]}");

    /* Exact wire format: status line, Allow, CORS, content type, Connection honoured. */
    struct cf_buf b;
    const char del[] = "DELETE /jobs HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, del, sizeof(del) - 1, &b);
    assert_has(&b, "HTTP/1.1 405 Method Not Allowed\r\n");
    assert_has(&b, "\r\nAllow: GET, HEAD, POST, OPTIONS\r\n");
    assert_has(&b, "\r\nAccess-Control-Allow-Origin: *\r\n");
    assert_has(&b, "\r\nContent-Type: application/json; charset=UTF-8\r\n");
    assert_string_equal(body_of(&b), "{\"errors\":[\"method not allowed: DELETE /jobs\"]}");
    cf_buf_destroy(&b);

    const char put[] = "PUT /jobs/abc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "Content-Length: 2\r\n\r\n{}";
    raw_exchange(fx->port, put, sizeof(put) - 1, &b);
    assert_has(&b, "HTTP/1.1 405 Method Not Allowed\r\n");
    assert_has(&b, "\r\nAllow: GET, HEAD, PATCH, OPTIONS\r\n");
    cf_buf_destroy(&b);

    const char nf[] = "GET /nope/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, nf, sizeof(nf) - 1, &b);
    assert_has(&b, "HTTP/1.1 404 Not Found\r\n");
    assert_has(&b, "\r\nAccess-Control-Allow-Origin: *\r\n");
    assert_string_equal(body_of(&b), "{\"errors\":[\"not found: /nope/\"]}");
    cf_buf_destroy(&b);

    /* OPTIONS (CORS preflight) on a known path, unknown methods, HEAD. */
    const char opt[] = "OPTIONS /jobs/abc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, opt, sizeof(opt) - 1, &b);
    assert_has(&b, "HTTP/1.1 204 No Content\r\n");
    assert_has(&b, "\r\nAccess-Control-Allow-Methods: GET, HEAD, PATCH, OPTIONS\r\n");
    assert_has(&b, "\r\nAccess-Control-Allow-Origin: *\r\n");
    assert_string_equal(body_of(&b), "");
    cf_buf_destroy(&b);

    const char trace[] = "TRACE /jobs HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, trace, sizeof(trace) - 1, &b);
    assert_has(&b, "HTTP/1.1 405 Method Not Allowed\r\n");
    cf_buf_destroy(&b);

    struct cf_http_result r;
    call(fx, "HEAD", "/jobs/overview", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    cf_http_result_free(&r);
}

static void test_malformed_paths_and_queries(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/jobs/%zz", 400, "{\"errors\":[\"bad request: malformed path /jobs/%zz\"]}");
    expect(fx, "GET", "/jobs/a%00b", 400,
           "{\"errors\":[\"bad request: malformed path /jobs/a%00b\"]}");
    expect(fx, "GET", "/jobs/a%4", 400, "{\"errors\":[\"bad request: malformed path /jobs/a%4\"]}");
    expect(fx, "GET", "/jobs?mode=%G1", 400,
           "{\"errors\":[\"bad request: malformed query string\"]}");
    /* Dot segments never reach a handler (curl would normalise them away: raw socket). */
    struct cf_buf b;
    const char dots[] = "GET /ui/../../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, dots, sizeof(dots) - 1, &b);
    assert_has(&b, "HTTP/1.1 400 Bad Request\r\n");
    assert_string_equal(body_of(&b),
                        "{\"errors\":[\"bad request: malformed path /ui/../../etc/passwd\"]}");
    cf_buf_destroy(&b);
}

/* ---- bodies and responses ---- */

static void test_post_json_round_trip(void **state)
{
    struct fx *fx = *state;
    const char *spec = "{\"name\":\"wordcount\",\"parallelism\":4,\"nested\":{\"a\":[1,2.5,"
                       "null,true]},\"s\":\"\xC3\xBC \\\"q\\\" \\\\ \\n\"}";
    struct cf_http_result r;
    call(fx, "POST", "/jobs?parallelism=2", spec, &r);
    assert_int_equal(r.status, 200);
    cJSON *got = cf_http_json(&r);
    assert_non_null(got);
    cJSON *want = cJSON_Parse(spec);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(got, "received"), want, 1));
    assert_string_equal(cJSON_GetObjectItem(got, "jobid")->valuestring,
                        "0123456789abcdef0123456789abcdef");
    cJSON_Delete(got);
    cJSON_Delete(want);
    cf_http_result_free(&r);

    call(fx, "POST", "/jobs", "{not json", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body.data, "{\"errors\":[\"invalid job spec: not JSON (9 bytes)\"]}");
    char msg[256];
    assert_string_equal(cf_http_result_error(&r, msg, sizeof(msg)),
                        "invalid job spec: not JSON (9 bytes)");
    cf_http_result_free(&r);

    /* Empty POST: Content-Length 0, body "" (NUL-terminated). */
    call(fx, "POST", "/size", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"len\":0,\"terminated\":true}");
    cf_http_result_free(&r);
}

static void test_patch_cancel(void **state)
{
    struct fx *fx = *state;
    struct cf_http_result r;
    call(fx, "PATCH", "/jobs/0123456789abcdef0123456789abcdef?mode=cancel", NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body.data, "{}");
    cf_http_result_free(&r);
    pthread_mutex_lock(&fx->app.lock);
    assert_string_equal(fx->app.cancelled, "0123456789abcdef0123456789abcdef");
    pthread_mutex_unlock(&fx->app.lock);

    expect(fx, "PATCH", "/jobs/abc?mode=stop", 400,
           "{\"errors\":[\"unknown mode 'stop' (expected cancel)\"]}");
    expect(fx, "PATCH", "/jobs/abc", 400, "{\"errors\":[\"unknown mode '' (expected cancel)\"]}");
}

static void test_text_response_and_headers(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/metrics", 200, METRICS);

    struct cf_buf b;
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, req, sizeof(req) - 1, &b);
    assert_has(&b, "HTTP/1.1 200 OK\r\n");
    assert_has(&b, "\r\nContent-Type: text/plain; version=0.0.4\r\n");
    assert_has(&b, "\r\nAccess-Control-Allow-Origin: *\r\n");
    char cl[64];
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", sizeof(METRICS) - 1);
    assert_has(&b, cl);
    assert_string_equal(body_of(&b), METRICS);
    cf_buf_destroy(&b);

    const char asset[] = "GET /ui/a.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    raw_exchange(fx->port, asset, sizeof(asset) - 1, &b);
    assert_has(&b, "\r\nCache-Control: max-age=60\r\n");
    assert_string_equal(body_of(&b), "asset:a.css");
    cf_buf_destroy(&b);
}

static void test_handler_without_response(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/silent", 500,
           "{\"errors\":[\"internal error: no response for GET /silent\"]}");
}

static void test_body_limit(void **state)
{
    struct fx *fx = *state;
    char url[128];
    struct cf_err err;
    struct cf_http_result r;

    /* Default limit, 16 MiB: exactly the limit passes, one byte more is refused. */
    size_t big = CF_HTTP_MAX_BODY_DEFAULT + 1;
    char *data = cf_malloc(big);
    memset(data, 'x', big);
    snprintf(url, sizeof(url), "%s/size", fx->base);
    assert_int_equal(cf_http_request("POST", url, data, big - 1, "application/octet-stream",
                                     30000 * mult(), &r, &err),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"len\":16777216,\"terminated\":true}");
    cf_http_result_free(&r);
    assert_int_equal(cf_http_request("POST", url, data, big, "application/octet-stream",
                                     30000 * mult(), &r, &err),
                     0);
    assert_int_equal(r.status, 413);
    char msg[128];
    assert_string_equal(cf_http_result_error(&r, msg, sizeof(msg)),
                        "HTTP 413 Request Entity Too Large");
    cf_http_result_free(&r);
    cf_free(data);

    /* A declared length over the limit is refused before any body byte is sent. */
    struct cf_buf b;
    const char huge[] = "POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n";
    raw_exchange(fx->port, huge, sizeof(huge) - 1, &b);
    assert_has(&b, "HTTP/1.1 413 ");
    cf_buf_destroy(&b);

    /* A smaller configured limit. */
    struct app app = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cf_http_server *s = make_server(&app, 1024);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/size", cf_http_server_port(s));
    char small[1025];
    memset(small, 'y', sizeof(small));
    assert_int_equal(cf_http_request("POST", url, small, 1024, NULL, 10000 * mult(), &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"len\":1024,\"terminated\":true}");
    cf_http_result_free(&r);
    assert_int_equal(cf_http_request("POST", url, small, 1025, NULL, 10000 * mult(), &r, &err), 0);
    assert_int_equal(r.status, 413);
    cf_http_result_free(&r);
    /* Chunked: 2 x 512 bytes fit the limit, 3 x 512 are refused once the body crosses it. */
    for (int chunks = 2; chunks <= 3; chunks++) {
        struct cf_buf req;
        cf_buf_init(&req);
        cf_buf_puts(&req, "POST /size HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < chunks; i++) {
            cf_buf_puts(&req, "200\r\n");
            for (int k = 0; k < 0x200; k++) {
                cf_buf_putc(&req, 'c');
            }
            cf_buf_puts(&req, "\r\n");
        }
        cf_buf_puts(&req, "0\r\n\r\n");
        raw_exchange(cf_http_server_port(s), req.data, req.len, &b);
        if (chunks == 2) {
            assert_has(&b, "HTTP/1.1 200 OK\r\n");
            assert_string_equal(body_of(&b), "{\"len\":1024,\"terminated\":true}");
        } else {
            assert_has(&b, "HTTP/1.1 413 ");
        }
        cf_buf_destroy(&b);
        cf_buf_destroy(&req);
    }
    cf_http_server_destroy(s);

    /* The big server still serves. */
    expect(fx, "GET", "/jobs/overview", 200, "{\"route\":\"overview\"}");
}

/* ---- robustness ---- */

static void test_garbage_does_not_kill_the_server(void **state)
{
    struct fx *fx = *state;
    char big_header[100 * 1024];
    int n = snprintf(big_header, sizeof(big_header), "GET /jobs HTTP/1.1\r\nX-Big: ");
    memset(big_header + n, 'a', sizeof(big_header) - (size_t)n - 5);
    memcpy(big_header + sizeof(big_header) - 5, "\r\n\r\n", 5);
    char noise[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(noise); i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char)(x >> 16);
    }
    /* want: the status line's start, "HTTP/1.1 4" for "some 4xx", NULL for "just closes". */
#define LIT(s) s, sizeof(s) - 1
    struct {
        const char *data;
        size_t len;
        const char *want;
    } cases[] = {
        {LIT("\x00\x01\x02garbage\r\n\r\n"), "HTTP/1.1 400 "},
        {LIT("GET\r\n\r\n"), "HTTP/1.1 400 "},
        {LIT("FOO /jobs HTTP/1.1\r\n\r\n"), "HTTP/1.1 501 "},
        {LIT("GET /jobs HTTP/9.9\r\n\r\n"), "HTTP/1.1 400 "},
        {LIT("GET jobs HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 "},
        {LIT("GET /jobs HTTP/1.1\r\nNoColonHere\r\n\r\n"), "HTTP/1.1 4"},
        {LIT("POST /jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), "HTTP/1.1 4"},
        {LIT("POST /jobs HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
         "HTTP/1.1 413 "},
        {LIT("POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"),
         "HTTP/1.1 4"},
        {LIT("GET /jobs HTTP/1.1\r\nHost: t"), NULL}, /* cut off, then EOF */
        {big_header, sizeof(big_header) - 1, "HTTP/1.1 400 "},
        {noise, sizeof(noise), "HTTP/1.1 4"},
    };
#undef LIT
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = raw_connect(fx->port);
        raw_send(fd, cases[i].data, cases[i].len);
        shutdown(fd, SHUT_WR);
        struct cf_buf b;
        cf_buf_init(&b);
        /* The server answers or closes; it must not hang, crash or stop serving. */
        if (!raw_read_all(fd, &b, 5000 * mult())) {
            fail_msg("case %zu: no answer and no close", i);
        }
        const char *want = cases[i].want;
        if (want ? !b.len || strncmp(b.data, want, strlen(want)) != 0 : b.len != 0) {
            fail_msg("case %zu: expected %s, got %.40s", i, want ? want : "a close",
                     b.len ? b.data : "a close");
        }
        cf_buf_destroy(&b);
        close(fd);
        /* The next request is served. */
        expect(fx, "GET", "/jobs/overview", 200, "{\"route\":\"overview\"}");
    }
}

/* A client that resets the connection while a large answer is being written: the server must
 * drop that connection and go on serving. (Whether the loop sees the reset on its read or its
 * write side is a race; test_loop_thread_signal_mask covers the SIGPIPE side for certain.) */
static void test_client_hangs_up_mid_response(void **state)
{
    struct fx *fx = *state;
    for (int i = 0; i < 5; i++) {
        int fd = raw_connect(fx->port);
        const char req[] = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
        raw_send(fd, req, sizeof(req) - 1);
        char buf[1024];
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, (int)(5000 * mult())), 1);
        assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd); /* RST */
    }
    struct cf_http_result r;
    call(fx, "GET", "/big", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, BIG_RESPONSE);
    cf_http_result_free(&r);
}

/* SIGPIPE (a client hung up) must not kill the process from the loop thread, and SIGINT or
 * SIGTERM belong to the application's threads; faults stay deliverable. The caller's own mask
 * is left as it was. */
static void test_loop_thread_signal_mask(void **state)
{
    struct fx *fx = *state;
    expect(fx, "GET", "/sigmask", 200, "{\"PIPE\":true,\"INT\":true,\"TERM\":true,\"SEGV\":false}");
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    assert_false(sigismember(&set, SIGINT));
}

/* Consecutive requests from one thread share a connection until the thread lets it go. */
static void test_client_keep_alive(void **state)
{
    struct fx *fx = *state;
    struct cf_http_result a, b, c;
    cf_http_client_thread_cleanup();
    call(fx, "GET", "/peer", NULL, &a);
    call(fx, "POST", "/jobs", "{}", &b);
    cf_http_result_free(&b);
    call(fx, "GET", "/peer", NULL, &b);
    cf_http_client_thread_cleanup();
    call(fx, "GET", "/peer", NULL, &c);
    assert_int_equal(a.status, 200);
    assert_true(strncmp(a.body.data, "127.0.0.1:", 10) == 0);
    assert_string_equal(a.body.data, b.body.data);
    assert_string_not_equal(a.body.data, c.body.data);
    cf_http_result_free(&a);
    cf_http_result_free(&b);
    cf_http_result_free(&c);
}

struct load {
    struct fx *fx;
    int thread;
    int ok;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    for (int i = 0; i < 200; i++) {
        char url[128], want[64];
        int v = l->thread * 1000 + i;
        snprintf(url, sizeof(url), "%s/count?i=%d", l->fx->base, v);
        snprintf(want, sizeof(want), "{\"i\":\"%d\"}", v);
        struct cf_http_result r;
        struct cf_err err;
        if (cf_http_request("GET", url, NULL, 0, NULL, 10000 * mult(), &r, &err) == 0 &&
            r.status == 200 && strcmp(r.body.data, want) == 0) {
            l->ok++;
        }
        cf_http_result_free(&r);
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    struct fx *fx = *state;
    pthread_t t[4];
    struct load l[4];
    for (int i = 0; i < 4; i++) {
        l[i] = (struct load){.fx = fx, .thread = i};
        assert_int_equal(pthread_create(&t[i], NULL, load_main, &l[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(l[i].ok, 200);
    }
    pthread_mutex_lock(&fx->app.lock);
    assert_int_equal(fx->app.count, 800);
    pthread_mutex_unlock(&fx->app.lock);
}

/* ---- client errors ---- */

/* A port with nothing listening: bind one, note it, close it. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_client_connection_refused(void **state)
{
    (void)state;
    int port = dead_port();
    char url[128], want[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jobs?token=secret", port);
    struct cf_http_result r;
    struct cf_err err;
    cf_err_clear(&err);
    assert_int_equal(cf_http_request("GET", url, NULL, 0, NULL, 5000, &r, &err), CF_EIO);
    assert_int_equal(err.code, CF_EIO);
    snprintf(want, sizeof(want), "cannot reach http://127.0.0.1:%d: Connection refused", port);
    assert_string_equal(err.msg, want);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body.len, 0);
    cf_http_result_free(&r);

    assert_int_equal(cf_http_request("GET", "ftp://127.0.0.1/x", NULL, 0, NULL, 1000, &r, &err),
                     CF_EINVAL);
    assert_int_equal(cf_http_request("GET", "http://[::1", NULL, 0, NULL, 1000, &r, &err),
                     CF_EINVAL);
}

/* Accepts one connection, reads whatever comes until the peer closes, never answers. */
static void *mute_server_main(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        char buf[4096];
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
        close(fd);
    }
    return NULL;
}

static void test_client_timeout(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    socklen_t len = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    int port = ntohs(sa.sin_port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, mute_server_main, &lfd), 0);

    char url[128], want[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow?x=1", port);
    struct cf_http_result r;
    struct cf_err err;
    int64_t t0 = cf_monotonic_ms();
    assert_int_equal(cf_http_request("GET", url, NULL, 0, NULL, 300, &r, &err), CF_ERETRY);
    int64_t took = cf_monotonic_ms() - t0;
    assert_true(took >= 290);
    assert_true(took < 5000 * mult());
    snprintf(want, sizeof(want), "no response from http://127.0.0.1:%d/slow within 300 ms", port);
    assert_string_equal(err.msg, want);
    assert_int_equal(r.status, 0);
    cf_http_result_free(&r);
    /* The client dropped the timed-out connection: the mute server sees EOF and returns. */
    pthread_join(t, NULL);
    close(lfd);
}

/* ---- lifetime ---- */

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_destroy_with_open_connections(void **state)
{
    (void)state;
    struct app app = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cf_http_server *s = make_server(&app, 0);
    int port = cf_http_server_port(s);

    /* An idle keep-alive connection that has been served... */
    int idle = raw_connect(port);
    const char req[] = "GET /jobs/overview HTTP/1.1\r\nHost: t\r\n\r\n";
    raw_send(idle, req, sizeof(req) - 1);
    struct cf_buf b;
    cf_buf_init(&b);
    raw_read_response(idle, &b);
    assert_has(&b, "HTTP/1.1 200 OK\r\n");
    cf_buf_destroy(&b);
    /* ...one in the middle of sending a body... */
    int half = raw_connect(port);
    const char part[] = "POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"a\":";
    raw_send(half, part, sizeof(part) - 1);
    /* ...one that never sent anything, and the client's cached keep-alive connection. */
    int mute = raw_connect(port);
    struct fx fx = {.port = port};
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d", port);
    expect(&fx, "GET", "/jobs/overview", 200, "{\"route\":\"overview\"}");
    usleep(50 * 1000); /* let the loop read the partial request */

    int64_t t0 = cf_monotonic_ms();
    cf_http_server_destroy(s);
    assert_true(cf_monotonic_ms() - t0 < 1000 * mult());

    /* Every connection was closed by the server. */
    int fds[] = {idle, half, mute};
    for (int i = 0; i < 3; i++) {
        cf_buf_init(&b);
        assert_int_equal(raw_read_all(fds[i], &b, 2000 * mult()), 1);
        assert_int_equal(b.len, 0);
        cf_buf_destroy(&b);
        close(fds[i]);
    }
    /* A new request now fails cleanly. */
    struct cf_http_result r;
    struct cf_err err;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jobs", port);
    assert_int_equal(cf_http_request("GET", url, NULL, 0, NULL, 5000, &r, &err), CF_EIO);
    cf_http_client_thread_cleanup();
}

static void test_create_destroy_cycles(void **state)
{
    (void)state;
    cf_http_client_thread_cleanup();
    int fds0 = count_dir("/proc/self/fd");
    int threads0 = count_dir("/proc/self/task");
    for (int i = 0; i < 20; i++) {
        struct app app = {.lock = PTHREAD_MUTEX_INITIALIZER};
        struct cf_http_server *s = make_server(&app, 0);
        struct fx fx = {.port = cf_http_server_port(s)};
        snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d", fx.port);
        expect(&fx, "GET", "/jobs/overview", 200, "{\"route\":\"overview\"}");
        /* An idle connection left open by a client that forgot it. */
        int fd = raw_connect(fx.port);
        cf_http_server_destroy(s);
        close(fd);
        cf_http_client_thread_cleanup();
    }
    /* A server destroyed without ever being started. */
    struct cf_err err;
    cf_http_server_destroy(cf_http_server_create("127.0.0.1", 0, &err));
    cf_http_server_destroy(NULL);
    assert_int_equal(count_dir("/proc/self/fd"), fds0);
    assert_int_equal(count_dir("/proc/self/task"), threads0);
}

static void test_create_errors(void **state)
{
    struct fx *fx = *state;
    struct cf_err err;
    cf_err_clear(&err);
    assert_null(cf_http_server_create("127.0.0.1", fx->port, &err));
    assert_int_equal(err.code, CF_EIO);
    char want[128];
    snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: Address already in use", fx->port);
    assert_string_equal(err.msg, want);

    assert_null(cf_http_server_create("127.0.0.1", 70000, &err));
    assert_int_equal(err.code, CF_EINVAL);
    assert_string_equal(err.msg, "invalid port 70000 for 127.0.0.1 (0..65535)");

    assert_null(cf_http_server_create("256.1.1.1", 0, &err));
    assert_int_equal(err.code, CF_EIO);
    assert_true(strncmp(err.msg, "cannot listen on 256.1.1.1:0: ", 30) == 0);

    /* IPv6 loopback, when the host has it. */
    struct cf_http_server *s6 = cf_http_server_create("::1", 0, &err);
    if (s6) {
        assert_true(cf_http_server_port(s6) > 0);
        cf_http_server_destroy(s6);
    }
}

static void test_route_registration_errors(void **state)
{
    (void)state;
    struct cf_err err;
    struct cf_http_server *s = cf_http_server_create(NULL, 0, &err);
    assert_non_null(s);
    assert_int_equal(cf_http_route(s, "BREW", "/pot", h_list, NULL), CF_EINVAL);
    assert_int_equal(cf_http_route(s, "OPTIONS", "/pot", h_list, NULL), CF_EINVAL);
    assert_int_equal(cf_http_route(s, "GET", "pot", h_list, NULL), CF_EINVAL);
    assert_int_equal(cf_http_route(s, "GET", "/a/:", h_list, NULL), CF_EINVAL);
    assert_int_equal(cf_http_route(s, "GET", "/a/:x/b/:x", h_list, NULL), CF_EINVAL);
    assert_int_equal(cf_http_route(s, "GET", "/a/*/b", h_list, NULL), CF_EINVAL);
    char deep[200] = "";
    for (int i = 0; i < CF_HTTP_MAX_SEGMENTS + 1; i++) {
        strcat(deep, "/s");
    }
    assert_int_equal(cf_http_route(s, "GET", deep, h_list, NULL), CF_EINVAL);
    deep[strlen(deep) - 2] = '\0';
    assert_int_equal(cf_http_route(s, "GET", deep, h_list, NULL), 0);
    assert_int_equal(cf_http_route(s, "GET", "/jobs/:jid", h_list, NULL), 0);
    assert_int_equal(cf_http_route(s, "GET", "/jobs/:id/", h_list, NULL), CF_EEXIST);
    assert_int_equal(cf_http_route(s, "POST", "/jobs/:id", h_list, NULL), 0);
    assert_int_equal(cf_http_route(s, "GET", "/", h_overview, NULL), 0);
    assert_int_equal(cf_http_server_start(s), 0);
    struct fx fx = {.port = cf_http_server_port(s)};
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d", fx.port);
    expect(&fx, "GET", "/", 200, "{\"route\":\"overview\"}");
    expect(&fx, "GET", "", 200, "{\"route\":\"overview\"}");
    cf_http_server_destroy(s);
}

static void test_result_helpers(void **state)
{
    (void)state;
    struct cf_http_result r = {.status = 502};
    char msg[64];
    cf_buf_init(&r.body);
    assert_null(cf_http_json(&r));
    assert_string_equal(cf_http_result_error(&r, msg, sizeof(msg)), "HTTP 502");
    cf_buf_puts(&r.body, "\n  upstream down\nmore");
    assert_null(cf_http_json(&r));
    assert_string_equal(cf_http_result_error(&r, msg, sizeof(msg)), "HTTP 502: upstream down");
    cf_buf_reset(&r.body);
    cf_buf_puts(&r.body, "{\"errors\":[\"one\",\"two\"]}");
    assert_string_equal(cf_http_result_error(&r, msg, sizeof(msg)), "one; two");
    cf_http_result_free(&r);
    cf_http_result_free(NULL);
}

/* One client thread, keep-alive: prints requests per second (no assertion on speed). */
static void test_throughput(void **state)
{
    struct fx *fx = *state;
    char url[128];
    snprintf(url, sizeof(url), "%s/jobs/overview", fx->base);
    int64_t t0 = cf_monotonic_ms();
    int n = 0;
    while (cf_monotonic_ms() - t0 < 1000) {
        struct cf_http_result r;
        struct cf_err err;
        assert_int_equal(cf_http_request("GET", url, NULL, 0, NULL, 5000 * mult(), &r, &err), 0);
        assert_int_equal(r.status, 200);
        cf_http_result_free(&r);
        n++;
    }
    double secs = (double)(cf_monotonic_ms() - t0) / 1000.0;
    printf("http: %.0f requests/s (1 client thread, keep-alive, GET /jobs/overview)\n", n / secs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_params_and_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_most_specific_route_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_paths_and_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_response_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_without_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_does_not_kill_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_hangs_up_mid_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_thread_signal_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
        cmocka_unit_test(test_client_connection_refused),
        cmocka_unit_test(test_client_timeout),
        cmocka_unit_test(test_destroy_with_open_connections),
        cmocka_unit_test(test_create_destroy_cycles),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test(test_route_registration_errors),
        cmocka_unit_test(test_result_helpers),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
