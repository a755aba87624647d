/*
 * rpc.c - unary gRPC calls over gRPC core's C API (see rpc.h for the contract).
 *
 * Server. One completion queue (a "next" queue) and one thread per server. The thread keeps
 * exactly one grpc_server_request_call() outstanding; each accepted call is a struct
 * rpc_call, which is the tag of every event of that call and walks three states:
 *
 *   RPC_CALL_NEW  - requested; the event says a call arrived (or, with success=0, that the
 *                   server is shutting down). Request the next call, look the method up,
 *                   then receive the request message (or answer UNIMPLEMENTED at once).
 *   RPC_CALL_RECV - the request message is in; run the handler on this thread and send
 *                   initial metadata, the response and the status in one batch, with
 *                   RECV_CLOSE_ON_SERVER so the batch completes when the call is over.
 *   RPC_CALL_SEND - that batch completed: the call is done, free it.
 *
 * A batch that fails (success=0: the client went away, the deadline passed, the server is
 * shutting down) frees the call; grpc_call_unref() cancels whatever is left of it.
 *
 * Shutdown (cf_rpc_server_destroy), in the order gRPC requires: shutdown-and-notify with the
 * server's shutdown tag, cancel all calls, let the serving thread drain the queue until the
 * tag (it frees every call on the way: gRPC publishes the tag only once all calls are
 * released), join it, destroy the server, then shut the queue down, drain it (only failed
 * call requests can be left) and destroy it.
 *
 * Client. A grpc_channel is thread-safe; each call creates a "pluck" completion queue of its
 * own, starts one batch with all six ops of a unary call and plucks its tag. The call's
 * deadline bounds the wait, so the pluck itself waits forever. A queue per call costs a
 * couple of small allocations and keeps concurrent callers fully independent.
 */
#include "common/rpc/rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "common/base/log.h"
#include "common/base/mem.h"

/* Handler scratch buffers above this size are freed after the call instead of kept. */
#define RPC_SCRATCH_KEEP (1024 * 1024)

/* ---- process-wide ------------------------------------------------------------------- */

static pthread_once_t rpc_once = PTHREAD_ONCE_INIT;

/*
 * While set, gRPC's error lines on this thread are collected here instead of logged: the
 * server sets it around grpc_server_add_http2_port(), which reports why a bind failed only
 * as a log line, so the reason ends up in the cf_err message (and is not logged twice).
 */
static _Thread_local struct cf_buf *rpc_log_capture;

/* Keeps the useful part of a gRPC error line: the os_error text ("Address already in use")
 * when there is one, else the line's first 200 characters. */
static void rpc_log_capture_add(struct cf_buf *buf, const char *msg)
{
    const char *os = strstr(msg, "os_error:\"");
    size_t len;
    if (os) {
        msg = os + strlen("os_error:\"");
        const char *end = strchr(msg, '"');
        len = end ? (size_t)(end - msg) : strlen(msg);
    } else {
        len = strnlen(msg, 200);
    }
    if (buf->len) {
        cf_buf_puts(buf, "; ");
    }
    cf_buf_append(buf, msg, len);
}

/* gRPC's own log lines (errors by default; GRPC_VERBOSITY=debug for more) go through
 * cf_log so they carry our timestamp format. Called on any gRPC thread. */
static void rpc_gpr_log(gpr_log_func_args *args)
{
    if (rpc_log_capture && args->severity == GPR_LOG_SEVERITY_ERROR) {
        rpc_log_capture_add(rpc_log_capture, args->message);
        return;
    }
    enum cf_log_level level = CF_LOG_DEBUG;
    if (args->severity == GPR_LOG_SEVERITY_ERROR) {
        level = CF_LOG_WARN;
    } else if (args->severity == GPR_LOG_SEVERITY_INFO) {
        level = CF_LOG_INFO;
    }
    const char *file = args->file ? strrchr(args->file, '/') : NULL;
    file = file ? file + 1 : (args->file ? args->file : "?");
    cf_log(level, "grpc: %s (%s:%d)", args->message, file, args->line);
}

static void rpc_init_once(void)
{
    gpr_set_log_function(rpc_gpr_log);
    grpc_init();
}

int cf_rpc_global_init(void)
{
    pthread_once(&rpc_once, rpc_init_once);
    return 0;
}

static const char *const rpc_status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};
_Static_assert(sizeof(rpc_status_names) / sizeof(rpc_status_names[0]) ==
                   GRPC_STATUS_UNAUTHENTICATED + 1,
               "one name per grpc_status_code");

const char *cf_rpc_status_name(int status)
{
    if (status < 0 || status > GRPC_STATUS_UNAUTHENTICATED) {
        return "UNKNOWN_STATUS";
    }
    return rpc_status_names[status];
}

int cf_rpc_status_of(int code)
{
    switch (code) {
    case CF_OK: return GRPC_STATUS_OK;
    case CF_EINVAL:
    case CF_EPARSE:
    case CF_ETYPE:
    case CF_ESPEC:
    case CF_ERANGE: return GRPC_STATUS_INVALID_ARGUMENT;
    case CF_ENOENT: return GRPC_STATUS_NOT_FOUND;
    case CF_EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
    case CF_ERETRY:
    case CF_EAGAIN: return GRPC_STATUS_UNAVAILABLE;
    case CF_ECANCELED: return GRPC_STATUS_CANCELLED;
    case CF_EUNSUPPORTED: return GRPC_STATUS_UNIMPLEMENTED;
    case CF_ENOMEM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    default: return GRPC_STATUS_INTERNAL;
    }
}

static grpc_arg rpc_int_arg(char *key, int value)
{
    grpc_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.type = GRPC_ARG_INTEGER;
    arg.key = key;
    arg.value.integer = value;
    return arg;
}

/* Appends the bytes of a received message to out. 0, or CF_EIO when gRPC cannot read it
 * (a compressed message that does not decompress). */
static int rpc_buffer_read(grpc_byte_buffer *bb, struct cf_buf *out)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        return CF_EIO;
    }
    cf_buf_reserve(out, grpc_byte_buffer_length(bb));
    grpc_slice slice;
    while (grpc_byte_buffer_reader_next(&reader, &slice)) {
        cf_buf_append(out, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice));
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    return 0;
}

/* A byte buffer holding a copy of data/len; the caller destroys it once the op is done. */
static grpc_byte_buffer *rpc_buffer_create(const void *data, size_t len)
{
    grpc_slice slice = len ? grpc_slice_from_copied_buffer(data, len) : grpc_empty_slice();
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* ---- server ------------------------------------------------------------------------- */

struct rpc_method {
    char *name;
    cf_rpc_handler fn;
    void *arg;
};

enum rpc_call_state {
    RPC_CALL_NEW,
    RPC_CALL_RECV,
    RPC_CALL_SEND,
};

/* One server call, and the tag of its events. Owned by the serving thread (and, after it
 * is joined, by the thread draining the queue). */
struct rpc_call {
    enum rpc_call_state state;
    grpc_call *call; /* NULL until the request completes */
    grpc_call_details details;
    grpc_metadata_array request_md;
    const struct rpc_method *method;
    grpc_byte_buffer *recv_msg;
    grpc_byte_buffer *send_msg;
    grpc_slice status_details;
    int cancelled;
};

struct cf_rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    int port;
    char *addr; /* "host:port" as bound, for messages */
    struct rpc_method *methods;
    size_t n_methods;
    pthread_t thread;
    bool started;
    atomic_bool stopping; /* set by destroy before shutdown: stop requesting calls */
    char shutdown_tag;    /* its address is the tag of the shutdown notification */
    /* Serving thread's scratch, reused across calls. */
    struct cf_buf req;
    struct cf_buf resp;
    struct cf_err err;
};

static void rpc_call_free(struct rpc_call *c)
{
    if (c->call) {
        grpc_call_unref(c->call);
    }
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    if (c->recv_msg) {
        grpc_byte_buffer_destroy(c->recv_msg);
    }
    if (c->send_msg) {
        grpc_byte_buffer_destroy(c->send_msg);
    }
    grpc_slice_unref(c->status_details);
    cf_free(c);
}

/* Keeps one call request outstanding. Serving thread. */
static void rpc_server_request(struct cf_rpc_server *srv)
{
    struct rpc_call *c = cf_new(struct rpc_call);
    c->state = RPC_CALL_NEW;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    c->status_details = grpc_empty_slice();
    grpc_call_error rc = grpc_server_request_call(srv->server, &c->call, &c->details,
                                                  &c->request_md, srv->cq, srv->cq, c);
    if (rc != GRPC_CALL_OK) {
        /* Only a server that is shutting down refuses; it serves nothing more anyway. */
        if (!atomic_load(&srv->stopping)) {
            cf_warn("rpc server %s: cannot request calls: %s", srv->addr,
                    grpc_call_error_to_string(rc));
        }
        rpc_call_free(c);
    }
}

static const struct rpc_method *rpc_server_find(const struct cf_rpc_server *srv, grpc_slice method)
{
    for (size_t i = 0; i < srv->n_methods; i++) {
        if (grpc_slice_str_cmp(method, srv->methods[i].name) == 0) {
            return &srv->methods[i];
        }
    }
    return NULL;
}

/* Ends call c with status (and resp when OK): the last batch of every call. */
static void rpc_call_finish(struct rpc_call *c, grpc_status_code status, const char *details,
                            const struct cf_buf *resp)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (status == GRPC_STATUS_OK) {
        c->send_msg = rpc_buffer_create(resp->data, resp->len);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->send_msg;
    }
    c->status_details = grpc_slice_from_copied_string(details);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = RPC_CALL_SEND;
    grpc_call_error rc = grpc_call_start_batch(c->call, ops, n, c, NULL);
    if (rc != GRPC_CALL_OK) {
        cf_warn("rpc: cannot answer a call: %s", grpc_call_error_to_string(rc));
        rpc_call_free(c);
    }
}

/* The request of c is in: run its handler and answer. Serving thread. */
static void rpc_call_handle(struct cf_rpc_server *srv, struct rpc_call *c)
{
    const struct rpc_method *m = c->method;
    cf_buf_reset(&srv->req);
    cf_buf_reset(&srv->resp);
    cf_err_clear(&srv->err);
    if (!c->recv_msg) {
        rpc_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "unary call without a request message",
                        NULL);
        return;
    }
    if (rpc_buffer_read(c->recv_msg, &srv->req) != 0) {
        rpc_call_finish(c, GRPC_STATUS_INTERNAL, "cannot read the request message", NULL);
        return;
    }
    cf_buf_reserve(&srv->req, 0); /* data is never NULL, even for 0 bytes */
    int rc = m->fn(m->arg, (const uint8_t *)srv->req.data, srv->req.len, &srv->resp, &srv->err);
    if (rc == 0) {
        rpc_call_finish(c, GRPC_STATUS_OK, "", &srv->resp);
    } else {
        const char *msg = srv->err.msg[0] ? srv->err.msg : cf_strerror(rc);
        rpc_call_finish(c, (grpc_status_code)cf_rpc_status_of(rc), msg, NULL);
    }
    if (srv->req.cap > RPC_SCRATCH_KEEP) {
        cf_buf_destroy(&srv->req);
        cf_buf_init(&srv->req);
    }
    if (srv->resp.cap > RPC_SCRATCH_KEEP) {
        cf_buf_destroy(&srv->resp);
        cf_buf_init(&srv->resp);
    }
}

/* One completion of call c. Serving thread. */
static void rpc_server_event(struct cf_rpc_server *srv, struct rpc_call *c, int ok)
{
    switch (c->state) {
    case RPC_CALL_NEW: {
        if (!ok) {
            rpc_call_free(c); /* the server is shutting down */
            return;
        }
        if (!atomic_load(&srv->stopping)) {
            rpc_server_request(srv);
        }
        c->method = rpc_server_find(srv, c->details.method);
        if (!c->method) {
            char msg[512];
            snprintf(msg, sizeof(msg), "unknown method %.*s",
                     (int)GRPC_SLICE_LENGTH(c->details.method),
                     (const char *)GRPC_SLICE_START_PTR(c->details.method));
            rpc_call_finish(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL);
            return;
        }
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &c->recv_msg;
        c->state = RPC_CALL_RECV;
        if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
            rpc_call_free(c);
        }
        return;
    }
    case RPC_CALL_RECV:
        if (!ok) {
            rpc_call_free(c); /* cancelled or past its deadline before the message came */
            return;
        }
        rpc_call_handle(srv, c);
        return;
    case RPC_CALL_SEND: rpc_call_free(c); return;
    }
}

/* Runs the queue until the shutdown tag. The serving thread's body; for a server that was
 * never started, destroy runs it to wait for the tag. */
static void rpc_server_serve(struct cf_rpc_server *srv)
{
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return; /* not before destroy shuts the queue down, after the tag */
        }
        if (ev.type != GRPC_OP_COMPLETE) {
            continue;
        }
        if (ev.tag == &srv->shutdown_tag) {
            return;
        }
        rpc_server_event(srv, ev.tag, ev.success);
    }
}

static void *rpc_server_main(void *arg)
{
    struct cf_rpc_server *srv = arg;
    rpc_server_request(srv);
    rpc_server_serve(srv);
    return NULL;
}

/* Frees what create made, once the grpc_server is gone (or was never made). */
static void rpc_server_free(struct cf_rpc_server *srv)
{
    for (size_t i = 0; i < srv->n_methods; i++) {
        cf_free(srv->methods[i].name);
    }
    cf_free(srv->methods);
    cf_buf_destroy(&srv->req);
    cf_buf_destroy(&srv->resp);
    cf_free(srv->addr);
    cf_free(srv);
}

/* The orderly shutdown of the file comment. Any thread but the serving one. */
static void rpc_server_shutdown(struct cf_rpc_server *srv)
{
    atomic_store(&srv->stopping, true);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
    grpc_server_cancel_all_calls(srv->server);
    if (srv->started) {
        pthread_join(srv->thread, NULL);
    } else {
        rpc_server_serve(srv);
    }
    grpc_server_destroy(srv->server);
    srv->server = NULL;
    grpc_completion_queue_shutdown(srv->cq);
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &srv->shutdown_tag) {
            rpc_call_free(ev.tag);
        }
    }
    grpc_completion_queue_destroy(srv->cq);
    srv->cq = NULL;
}

struct cf_rpc_server *cf_rpc_server_create(const char *bind_addr, int port, struct cf_err *err)
{
    cf_rpc_global_init();
    if (!bind_addr || !bind_addr[0]) {
        bind_addr = "0.0.0.0";
    }
    if (port < 0 || port > 65535) {
        cf_err_set(err, CF_EINVAL, "rpc server: port %d out of range 0..65535", port);
        return NULL;
    }
    struct cf_rpc_server *srv = cf_new(struct cf_rpc_server);
    cf_buf_init(&srv->req);
    cf_buf_init(&srv->resp);
    atomic_init(&srv->stopping, false);

    grpc_arg args[] = {
        rpc_int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, CF_RPC_MAX_MESSAGE),
        rpc_int_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, CF_RPC_MAX_MESSAGE),
        /* gRPC sets SO_REUSEPORT by default: two servers could then share a port and a
         * port in use would not be an error. */
        rpc_int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0),
    };
    grpc_channel_args channel_args = {sizeof(args) / sizeof(args[0]), args};
    srv->server = grpc_server_create(&channel_args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);

    /* An IPv6 literal needs brackets before the port. */
    bool v6 = strchr(bind_addr, ':') && bind_addr[0] != '[';
    char *addr = cf_asprintf(v6 ? "[%s]:%d" : "%s:%d", bind_addr, port);
    struct cf_buf why;
    cf_buf_init(&why);
    rpc_log_capture = &why;
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    rpc_log_capture = NULL;
    if (srv->port == 0) {
        cf_err_set(err, CF_EIO, "rpc server: cannot listen on %s: %s", addr,
                   why.len ? why.data : "bind failed");
        cf_buf_destroy(&why);
        cf_free(addr);
        rpc_server_shutdown(srv);
        rpc_server_free(srv);
        return NULL;
    }
    if (why.len) {
        cf_warn("rpc server %s:%d: %s", bind_addr, srv->port, why.data); /* partly bound */
    }
    cf_buf_destroy(&why);
    srv->addr = cf_asprintf(v6 ? "[%s]:%d" : "%s:%d", bind_addr, srv->port);
    cf_free(addr);
    return srv;
}

int cf_rpc_server_port(const struct cf_rpc_server *srv)
{
    return srv->port;
}

int cf_rpc_server_handle(struct cf_rpc_server *srv, const char *method, cf_rpc_handler fn,
                         void *arg)
{
    cf_assert(!srv->started && method && method[0] == '/' && fn);
    for (size_t i = 0; i < srv->n_methods; i++) {
        if (strcmp(srv->methods[i].name, method) == 0) {
            return CF_EEXIST;
        }
    }
    srv->methods = cf_realloc(srv->methods, (srv->n_methods + 1) * sizeof(*srv->methods));
    srv->methods[srv->n_methods++] = (struct rpc_method){cf_strdup(method), fn, arg};
    return 0;
}

int cf_rpc_server_start(struct cf_rpc_server *srv)
{
    cf_assert(!srv->started);
    grpc_server_start(srv->server);
    int rc = pthread_create(&srv->thread, NULL, rpc_server_main, srv);
    if (rc != 0) {
        cf_error("rpc server %s: cannot start its thread: %s", srv->addr, strerror(rc));
        return CF_EIO;
    }
    pthread_setname_np(srv->thread, "cf-rpc-srv");
    srv->started = true;
    return 0;
}

void cf_rpc_server_destroy(struct cf_rpc_server *srv)
{
    if (!srv) {
        return;
    }
    cf_assert(!srv->started || !pthread_equal(pthread_self(), srv->thread));
    rpc_server_shutdown(srv);
    rpc_server_free(srv);
}

/* ---- client ------------------------------------------------------------------------- */

struct cf_rpc_channel {
    grpc_channel *channel;
    char *target;
};

struct cf_rpc_channel *cf_rpc_channel_create(const char *target)
{
    cf_rpc_global_init();
    struct cf_rpc_channel *ch = cf_new(struct cf_rpc_channel);
    ch->target = cf_strdup(target);
    grpc_arg args[] = {
        rpc_int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, CF_RPC_MAX_MESSAGE),
        rpc_int_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, CF_RPC_MAX_MESSAGE),
        /* gRPC's defaults (1 s, then up to 120 s) would keep a worker from reaching a
         * restarted coordinator for minutes; the control plane talks to few peers. */
        rpc_int_arg(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100),
        rpc_int_arg(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100),
        rpc_int_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000),
    };
    grpc_channel_args channel_args = {sizeof(args) / sizeof(args[0]), args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    ch->channel = grpc_channel_create(target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    return ch;
}

const char *cf_rpc_channel_target(const struct cf_rpc_channel *ch)
{
    return ch->target;
}

void cf_rpc_channel_destroy(struct cf_rpc_channel *ch)
{
    if (!ch) {
        return;
    }
    grpc_channel_destroy(ch->channel);
    cf_free(ch->target);
    cf_free(ch);
}

int cf_rpc_call(struct cf_rpc_channel *ch, const char *method, const uint8_t *req, size_t len,
                struct cf_buf *resp, int64_t timeout_ms, struct cf_err *err)
{
    cf_assert(timeout_ms > 0 && method && (req || len == 0));
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method_slice = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               method_slice, NULL, deadline, NULL);
    grpc_slice_unref(method_slice);

    grpc_byte_buffer *send_msg = rpc_buffer_create(req, len);
    grpc_byte_buffer *recv_msg = NULL;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_msg;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_msg;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    char tag;
    grpc_call_error call_rc = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    cf_assert(call_rc == GRPC_CALL_OK); /* only misuse of the ops can fail here */
    grpc_event ev =
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    cf_assert(ev.type == GRPC_OP_COMPLETE);

    int rc = 0;
    if (status == GRPC_STATUS_OK) {
        if (resp) {
            cf_buf_reset(resp);
        }
        if (!recv_msg) {
            rc = cf_err_set(err, CF_EFAILED, "rpc %s to %s: OK status without a response", method,
                            ch->target);
        } else if (resp && rpc_buffer_read(recv_msg, resp) != 0) {
            rc = cf_err_set(err, CF_EFAILED, "rpc %s to %s: cannot read the response", method,
                            ch->target);
        }
    } else {
        rc = (status == GRPC_STATUS_UNAVAILABLE || status == GRPC_STATUS_DEADLINE_EXCEEDED)
                 ? CF_ERETRY
                 : CF_EFAILED;
        cf_err_set(err, rc, "rpc %s to %s: %s: %.*s", method, ch->target,
                   cf_rpc_status_name(status), (int)GRPC_SLICE_LENGTH(details),
                   (const char *)GRPC_SLICE_START_PTR(details));
    }

    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_byte_buffer_destroy(send_msg);
    if (recv_msg) {
        grpc_byte_buffer_destroy(recv_msg);
    }
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return rc;
}

/* ---- protobuf-c helpers ------------------------------------------------------------- */

void cf_rpc_pb_pack(const ProtobufCMessage *msg, struct cf_buf *buf)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    cf_buf_reserve(buf, n);
    size_t packed = protobuf_c_message_pack(msg, (uint8_t *)buf->data + buf->len);
    cf_assert(packed == n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

int cf_rpc_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                     ProtobufCMessage **out, struct cf_err *err)
{
    *out = protobuf_c_message_unpack(desc, NULL, len, data);
    if (!*out) {
        return cf_err_set(err, CF_EINVAL, "request is not a valid %s (%zu bytes)", desc->name, len);
    }
    return 0;
}

int cf_rpc_call_pb(struct cf_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp_out,
                   int64_t timeout_ms, struct cf_err *err)
{
    struct cf_buf req_buf, resp_buf;
    cf_buf_init(&req_buf);
    cf_buf_init(&resp_buf);
    *resp_out = NULL;
    cf_rpc_pb_pack(req, &req_buf);
    int rc = cf_rpc_call(ch, method, (const uint8_t *)req_buf.data, req_buf.len, &resp_buf,
                         timeout_ms, err);
    if (rc == 0) {
        *resp_out = protobuf_c_message_unpack(resp_desc, NULL, resp_buf.len,
                                              (const uint8_t *)resp_buf.data);
        if (!*resp_out) {
            rc = cf_err_set(err, CF_EPARSE, "rpc %s to %s: response is not a valid %s", method,
                            ch->target, resp_desc->name);
        }
    }
    cf_buf_destroy(&req_buf);
    cf_buf_destroy(&resp_buf);
    return rc;
}
