/*
 * Unit tests of common/rpc: real gRPC servers and channels on 127.0.0.1 (ephemeral ports).
 * Timeouts scale with CF_TEST_TIMEOUT_MULT (sanitizer runs are slower).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/rpc/rpc.h"
#include "proto/creekflow.pb-c.h"

#define M_ECHO    "/creekflow.Test/Echo"
#define M_FAIL    "/creekflow.Test/Fail"
#define M_RETRY   "/creekflow.Test/Retry"
#define M_BARE    "/creekflow.Test/Bare"
#define M_SLOW    "/creekflow.Test/Slow"
#define M_MISSING "/creekflow.Nope/Missing"

static int64_t mult(void)
{
    const char *s = getenv("CF_TEST_TIMEOUT_MULT");
    int64_t m = s ? atoll(s) : 1;
    return m > 0 ? m : 1;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* ---- handlers --------------------------------------------------------------------- */

static atomic_int echo_calls;

static int h_echo(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                  struct cf_err *err)
{
    (void)arg;
    (void)err;
    assert_non_null(req);
    atomic_fetch_add(&echo_calls, 1);
    cf_buf_append(resp, req, len);
    return 0;
}

static int h_fail(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                  struct cf_err *err)
{
    (void)arg;
    (void)resp;
    return cf_err_set(err, CF_ENOENT, "job %.*s not found", (int)len, (const char *)req);
}

static int h_retry(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                   struct cf_err *err)
{
    (void)arg;
    (void)req;
    (void)len;
    cf_buf_puts(resp, "ignored on error");
    return cf_err_set(err, CF_ERETRY, "coordinator is recovering");
}

/* Returns an error without a message: the caller gets cf_strerror()'s text. */
static int h_bare(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                  struct cf_err *err)
{
    (void)arg;
    (void)req;
    (void)len;
    (void)resp;
    (void)err;
    return CF_ESPEC;
}

/* Sleeps *(int64_t *)arg ms, then answers "late". */
static int h_slow(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                  struct cf_err *err)
{
    (void)req;
    (void)len;
    (void)err;
    sleep_ms(*(const int64_t *)arg);
    cf_buf_puts(resp, "late");
    return 0;
}

/* The Heartbeat handler of a fake coordinator: checks the request it decodes, keeps a
 * summary for the test and answers known = (worker_id == "w-1"). */
struct hb_seen {
    char worker_id[64];
    size_t n_metrics;
    uint64_t records_in_sum;
    char job_id[64];
    int state;
    int64_t watermark;
};

static int h_heartbeat(void *arg, const uint8_t *req, size_t len, struct cf_buf *resp,
                       struct cf_err *err)
{
    struct hb_seen *seen = arg;
    ProtobufCMessage *msg;
    int rc = cf_rpc_pb_unpack(&cf__heartbeat_request__descriptor, req, len, &msg, err);
    if (rc != 0) {
        return rc;
    }
    Cf__HeartbeatRequest *hb = (Cf__HeartbeatRequest *)msg;
    snprintf(seen->worker_id, sizeof(seen->worker_id), "%s", hb->worker_id);
    seen->n_metrics = hb->n_metrics;
    seen->records_in_sum = 0;
    for (size_t i = 0; i < hb->n_metrics; i++) {
        seen->records_in_sum += hb->metrics[i]->records_in;
    }
    if (hb->n_metrics > 0) {
        snprintf(seen->job_id, sizeof(seen->job_id), "%s", hb->metrics[1]->job_id);
        seen->state = hb->metrics[1]->state;
        seen->watermark = hb->metrics[1]->watermark_ms;
    }
    Cf__HeartbeatResponse out = CF__HEARTBEAT_RESPONSE__INIT;
    out.known = strcmp(hb->worker_id, "w-1") == 0;
    cf_rpc_pb_pack(&out.base, resp);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

/* ---- fixture: one server with every handler, one channel to it --------------------- */

struct fx {
    struct cf_rpc_server *srv;
    struct cf_rpc_channel *ch;
    char target[64];
    int64_t slow_ms;
    struct hb_seen seen;
};

static struct cf_rpc_server *fx_server(struct fx *f, int port)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_rpc_server *srv = cf_rpc_server_create("127.0.0.1", port, &err);
    assert_non_null(srv);
    assert_int_equal(cf_rpc_server_handle(srv, M_ECHO, h_echo, NULL), 0);
    assert_int_equal(cf_rpc_server_handle(srv, M_FAIL, h_fail, NULL), 0);
    assert_int_equal(cf_rpc_server_handle(srv, M_RETRY, h_retry, NULL), 0);
    assert_int_equal(cf_rpc_server_handle(srv, M_BARE, h_bare, NULL), 0);
    assert_int_equal(cf_rpc_server_handle(srv, M_SLOW, h_slow, &f->slow_ms), 0);
    assert_int_equal(cf_rpc_server_handle(srv, CF_RPC_COORDINATOR_HEARTBEAT, h_heartbeat, &f->seen),
                     0);
    assert_int_equal(cf_rpc_server_handle(srv, M_ECHO, h_echo, NULL), CF_EEXIST);
    assert_int_equal(cf_rpc_server_start(srv), 0);
    return srv;
}

static int fx_setup(void **state)
{
    struct fx *f = cf_new(struct fx);
    f->slow_ms = 1000;
    f->srv = fx_server(f, 0);
    int port = cf_rpc_server_port(f->srv);
    assert_true(port > 0 && port < 65536);
    snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", port);
    f->ch = cf_rpc_channel_create(f->target);
    assert_string_equal(cf_rpc_channel_target(f->ch), f->target);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    cf_rpc_channel_destroy(f->ch);
    cf_rpc_server_destroy(f->srv);
    cf_free(f);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void check_echo(struct cf_rpc_channel *ch, size_t size, uint32_t seed)
{
    uint8_t *req = cf_malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++) {
        req[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
    }
    struct cf_buf resp;
    cf_buf_init(&resp);
    cf_buf_puts(&resp, "stale"); /* reset by the call */
    struct cf_err err;
    cf_err_clear(&err);
    int rc = cf_rpc_call(ch, M_ECHO, req, size, &resp, 10000 * mult(), &err);
    if (rc != 0) {
        fail_msg("echo of %zu bytes: %s", size, err.msg);
    }
    assert_int_equal(resp.len, size);
    if (size) {
        assert_memory_equal(resp.data, req, size);
    }
    cf_buf_destroy(&resp);
    cf_free(req);
}

static void test_echo_sizes(void **state)
{
    struct fx *f = *state;
    atomic_store(&echo_calls, 0);
    check_echo(f->ch, 0, 1);
    check_echo(f->ch, 1, 2);
    check_echo(f->ch, 64 * 1024, 3);
    check_echo(f->ch, 4 * 1024 * 1024, 4);
    check_echo(f->ch, 4 * 1024 * 1024 + 1, 5); /* past gRPC's default 4 MiB limit */
    assert_int_equal(atomic_load(&echo_calls), 5);

    /* resp == NULL: the caller only wants to know it worked. */
    struct cf_err err;
    assert_int_equal(cf_rpc_call(f->ch, M_ECHO, (const uint8_t *)"x", 1, NULL, 5000, &err), 0);
    assert_int_equal(cf_rpc_call(f->ch, M_ECHO, NULL, 0, NULL, 5000, &err), 0);
}

static void test_handler_errors(void **state)
{
    struct fx *f = *state;
    struct cf_buf resp;
    cf_buf_init(&resp);
    struct cf_err err;
    char want[256];

    cf_err_clear(&err);
    int rc = cf_rpc_call(f->ch, M_FAIL, (const uint8_t *)"42", 2, &resp, 5000, &err);
    assert_int_equal(rc, CF_EFAILED);
    assert_int_equal(err.code, CF_EFAILED);
    snprintf(want, sizeof(want), "rpc %s to %s: NOT_FOUND: job 42 not found", M_FAIL, f->target);
    assert_string_equal(err.msg, want);

    /* CF_ERETRY from a handler travels as UNAVAILABLE: the caller retries. */
    cf_err_clear(&err);
    rc = cf_rpc_call(f->ch, M_RETRY, (const uint8_t *)"", 0, &resp, 5000, &err);
    assert_int_equal(rc, CF_ERETRY);
    snprintf(want, sizeof(want), "rpc %s to %s: UNAVAILABLE: coordinator is recovering", M_RETRY,
             f->target);
    assert_string_equal(err.msg, want);

    cf_err_clear(&err);
    rc = cf_rpc_call(f->ch, M_BARE, NULL, 0, &resp, 5000, &err);
    assert_int_equal(rc, CF_EFAILED);
    snprintf(want, sizeof(want), "rpc %s to %s: INVALID_ARGUMENT: invalid job spec", M_BARE,
             f->target);
    assert_string_equal(err.msg, want);

    cf_err_clear(&err);
    rc = cf_rpc_call(f->ch, M_MISSING, (const uint8_t *)"abc", 3, &resp, 5000, &err);
    assert_int_equal(rc, CF_EFAILED);
    snprintf(want, sizeof(want), "rpc %s to %s: UNIMPLEMENTED: unknown method %s", M_MISSING,
             f->target, M_MISSING);
    assert_string_equal(err.msg, want);

    /* The server is fine after all that. */
    check_echo(f->ch, 100, 9);
    cf_buf_destroy(&resp);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_OK)), "OK");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_EPARSE)), "INVALID_ARGUMENT");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_ENOENT)), "NOT_FOUND");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_EEXIST)), "ALREADY_EXISTS");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_EAGAIN)), "UNAVAILABLE");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_ECANCELED)), "CANCELLED");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_EUNSUPPORTED)), "UNIMPLEMENTED");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_ENOMEM)), "RESOURCE_EXHAUSTED");
    assert_string_equal(cf_rpc_status_name(cf_rpc_status_of(CF_EIO)), "INTERNAL");
    assert_string_equal(cf_rpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(cf_rpc_status_name(17), "UNKNOWN_STATUS");
    assert_string_equal(cf_rpc_status_name(-1), "UNKNOWN_STATUS");
}

static void test_deadline(void **state)
{
    struct fx *f = *state;
    f->slow_ms = 1000 * mult();
    struct cf_buf resp;
    cf_buf_init(&resp);
    struct cf_err err;
    cf_err_clear(&err);
    int64_t timeout = 200;
    int64_t t0 = cf_monotonic_ms();
    int rc = cf_rpc_call(f->ch, M_SLOW, NULL, 0, &resp, timeout, &err);
    int64_t took = cf_monotonic_ms() - t0;
    assert_int_equal(rc, CF_ERETRY);
    assert_non_null(strstr(err.msg, "DEADLINE_EXCEEDED"));
    assert_non_null(strstr(err.msg, M_SLOW));
    assert_non_null(strstr(err.msg, f->target));
    assert_true(took >= timeout - 5);
    if (took > timeout + 300 * mult()) {
        fail_msg("deadline of %lld ms took %lld ms", (long long)timeout, (long long)took);
    }
    print_message("deadline %lld ms: failed after %lld ms\n", (long long)timeout, (long long)took);

    /* The late answer is dropped; the next call waits for the handler and succeeds. */
    cf_err_clear(&err);
    rc = cf_rpc_call(f->ch, M_SLOW, NULL, 0, &resp, 10000 * mult(), &err);
    assert_int_equal(rc, 0);
    assert_int_equal(resp.len, 4);
    assert_string_equal(resp.data, "late");
    cf_buf_destroy(&resp);
}

static void test_no_server(void **state)
{
    (void)state;
    /* A port that was just free: bind one, note it, close it. */
    struct cf_err err;
    struct cf_rpc_server *srv = cf_rpc_server_create("127.0.0.1", 0, &err);
    assert_non_null(srv);
    int port = cf_rpc_server_port(srv);
    cf_rpc_server_destroy(srv); /* never started */
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    struct cf_rpc_channel *ch = cf_rpc_channel_create(target);
    for (int i = 0; i < 3; i++) { /* first connect, then while backing off */
        cf_err_clear(&err);
        int64_t t0 = cf_monotonic_ms();
        int rc = cf_rpc_call(ch, M_ECHO, (const uint8_t *)"x", 1, NULL, 2000, &err);
        int64_t took = cf_monotonic_ms() - t0;
        assert_int_equal(rc, CF_ERETRY);
        assert_non_null(strstr(err.msg, "UNAVAILABLE"));
        assert_non_null(strstr(err.msg, target));
        assert_non_null(strstr(err.msg, M_ECHO));
        if (took > 1000 * mult()) {
            fail_msg("no server: call %d took %lld ms (%s)", i, (long long)took, err.msg);
        }
        if (i == 0) {
            print_message("no server: CF_ERETRY after %lld ms: %s\n", (long long)took, err.msg);
        }
    }
    cf_rpc_channel_destroy(ch);
}

static void test_server_errors(void **state)
{
    struct fx *f = *state;
    struct cf_err err;
    cf_err_clear(&err);
    /* The fixture's port is taken (no SO_REUSEPORT sharing). */
    int port = cf_rpc_server_port(f->srv);
    assert_null(cf_rpc_server_create("127.0.0.1", port, &err));
    assert_int_equal(err.code, CF_EIO);
    char want[128];
    snprintf(want, sizeof(want),
             "rpc server: cannot listen on 127.0.0.1:%d: Address already in use", port);
    assert_string_equal(err.msg, want);

    cf_err_clear(&err);
    assert_null(cf_rpc_server_create("127.0.0.1", 70000, &err));
    assert_int_equal(err.code, CF_EINVAL);

    cf_err_clear(&err);
    assert_null(cf_rpc_server_create("192.0.2.1", 0, &err)); /* not a local address */
    assert_int_equal(err.code, CF_EIO);
    assert_string_equal(
        err.msg, "rpc server: cannot listen on 192.0.2.1:0: Cannot assign requested address");

    cf_rpc_server_destroy(NULL);
    cf_rpc_channel_destroy(NULL);
    check_echo(f->ch, 10, 1);
}

struct worker_arg {
    struct cf_rpc_channel *ch;
    int id;
    int calls;
    int ok;
    char error[CF_ERR_MSG_MAX];
};

static void *concurrent_worker(void *p)
{
    struct worker_arg *w = p;
    struct cf_buf resp;
    cf_buf_init(&resp);
    uint8_t req[1024];
    for (int i = 0; i < w->calls; i++) {
        size_t len = (size_t)((w->id * 7919 + i * 31) % (int)sizeof(req));
        for (size_t j = 0; j < len; j++) {
            req[j] = (uint8_t)(w->id * 131 + i * 17 + (int)j);
        }
        struct cf_err err;
        int rc = cf_rpc_call(w->ch, M_ECHO, req, len, &resp, 10000 * mult(), &err);
        if (rc != 0) {
            snprintf(w->error, sizeof(w->error), "%s", err.msg);
            continue;
        }
        if (resp.len == len && memcmp(resp.data, req, len) == 0) {
            w->ok++;
        }
    }
    cf_buf_destroy(&resp);
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fx *f = *state;
    enum { THREADS = 4, CALLS = 500 };
    atomic_store(&echo_calls, 0);
    pthread_t threads[THREADS];
    struct worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){.ch = f->ch, .id = i, .calls = CALLS};
        assert_int_equal(pthread_create(&threads[i], NULL, concurrent_worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    for (int i = 0; i < THREADS; i++) {
        if (args[i].ok != CALLS) {
            fail_msg("thread %d: %d of %d calls correct; last error: %s", i, args[i].ok, CALLS,
                     args[i].error);
        }
    }
    assert_int_equal(atomic_load(&echo_calls), THREADS * CALLS);
}

static void test_protobuf(void **state)
{
    struct fx *f = *state;
    Cf__TaskMetrics m[2] = {CF__TASK_METRICS__INIT, CF__TASK_METRICS__INIT};
    Cf__TaskMetrics *mp[2] = {&m[0], &m[1]};
    m[0].job_id = "00000000000000000000000000000001";
    m[0].vertex = 0;
    m[0].subtask = 0;
    m[0].records_in = 1000;
    m[0].state = CF__TASK_STATE__TASK_STATE_RUNNING;
    m[1].job_id = "0123456789abcdef0123456789abcdef";
    m[1].vertex = 2;
    m[1].subtask = 3;
    m[1].records_in = UINT64_C(1) << 40;
    m[1].records_out = 7;
    m[1].backpressured_ms = 12345;
    m[1].state = CF__TASK_STATE__TASK_STATE_FAILED;
    m[1].watermark_ms = INT64_MIN;
    Cf__HeartbeatRequest hb = CF__HEARTBEAT_REQUEST__INIT;
    hb.worker_id = "w-1";
    hb.n_metrics = 2;
    hb.metrics = mp;

    ProtobufCMessage *out = NULL;
    struct cf_err err;
    cf_err_clear(&err);
    int rc = cf_rpc_call_pb(f->ch, CF_RPC_COORDINATOR_HEARTBEAT, &hb.base,
                            &cf__heartbeat_response__descriptor, &out, 5000, &err);
    if (rc != 0) {
        fail_msg("heartbeat: %s", err.msg);
    }
    assert_non_null(out);
    assert_ptr_equal(out->descriptor, &cf__heartbeat_response__descriptor);
    assert_true(((Cf__HeartbeatResponse *)out)->known);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_string_equal(f->seen.worker_id, "w-1");
    assert_int_equal(f->seen.n_metrics, 2);
    assert_true(f->seen.records_in_sum == 1000 + (UINT64_C(1) << 40));
    assert_string_equal(f->seen.job_id, "0123456789abcdef0123456789abcdef");
    assert_int_equal(f->seen.state, CF__TASK_STATE__TASK_STATE_FAILED);
    assert_true(f->seen.watermark == INT64_MIN);

    /* An unknown worker: known = false, which proto3 encodes as 0 bytes. */
    hb.worker_id = "w-2";
    hb.n_metrics = 0;
    rc = cf_rpc_call_pb(f->ch, CF_RPC_COORDINATOR_HEARTBEAT, &hb.base,
                        &cf__heartbeat_response__descriptor, &out, 5000, &err);
    assert_int_equal(rc, 0);
    assert_false(((Cf__HeartbeatResponse *)out)->known);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(f->seen.n_metrics, 0);

    /* A request that does not decode: INVALID_ARGUMENT naming the type. */
    const uint8_t bad[] = {0x0a, 0x05, 'w'}; /* field 1 claims 5 bytes, has 1 */
    cf_err_clear(&err);
    rc = cf_rpc_call(f->ch, CF_RPC_COORDINATOR_HEARTBEAT, bad, sizeof(bad), NULL, 5000, &err);
    assert_int_equal(rc, CF_EFAILED);
    assert_non_null(strstr(err.msg, "INVALID_ARGUMENT: request is not a valid "
                                    "creekflow.HeartbeatRequest (3 bytes)"));

    /* A response that does not decode as the expected type: CF_EPARSE, *out NULL. The echo
     * returns an Ack whose field 2 (a string) holds bytes that, read as a HeartbeatRequest,
     * make field 2 a TaskMetrics whose field 1 claims 5 bytes and has 1. */
    Cf__Ack ack = CF__ACK__INIT;
    ack.error = "\x0a\x05w";
    out = (ProtobufCMessage *)&ack; /* must be reset to NULL */
    cf_err_clear(&err);
    rc = cf_rpc_call_pb(f->ch, M_ECHO, &ack.base, &cf__heartbeat_request__descriptor, &out, 5000,
                        &err);
    assert_int_equal(rc, CF_EPARSE);
    assert_int_equal(err.code, CF_EPARSE);
    assert_null(out);
    char want[256];
    snprintf(want, sizeof(want), "rpc %s to %s: response is not a valid creekflow.HeartbeatRequest",
             M_ECHO, f->target);
    assert_string_equal(err.msg, want);
}

/* The CF_RPC_* constants are exactly the generated services' method paths. */
static void test_method_names(void **state)
{
    (void)state;
    static const char *const coordinator[] = {
        CF_RPC_COORDINATOR_REGISTER_WORKER, CF_RPC_COORDINATOR_HEARTBEAT,
        CF_RPC_COORDINATOR_REPORT_TASK_STATE, CF_RPC_COORDINATOR_ACK_CHECKPOINT,
        CF_RPC_COORDINATOR_DECLINE_CHECKPOINT};
    static const char *const worker[] = {CF_RPC_WORKER_DEPLOY_TASK, CF_RPC_WORKER_CANCEL_TASK,
                                         CF_RPC_WORKER_TRIGGER_CHECKPOINT,
                                         CF_RPC_WORKER_NOTIFY_CHECKPOINT_COMPLETE};
    const ProtobufCServiceDescriptor *svc[2] = {&cf__coordinator__descriptor,
                                                &cf__worker__descriptor};
    const char *const *names[2] = {coordinator, worker};
    unsigned counts[2] = {5, 4};
    assert_string_equal(svc[0]->name, "creekflow.Coordinator");
    assert_string_equal(svc[1]->name, "creekflow.Worker");
    for (int s = 0; s < 2; s++) {
        assert_int_equal(svc[s]->n_methods, counts[s]);
        for (unsigned i = 0; i < svc[s]->n_methods; i++) {
            char path[256];
            snprintf(path, sizeof(path), "/%s/%s", svc[s]->name, svc[s]->methods[i].name);
            assert_string_equal(path, names[s][i]);
        }
    }
    assert_ptr_equal(cf__coordinator__descriptor.methods[1].input,
                     &cf__heartbeat_request__descriptor);
    assert_ptr_equal(cf__worker__descriptor.methods[0].input, &cf__deploy_task_request__descriptor);
    assert_string_equal(cf__heartbeat_request__descriptor.name, "creekflow.HeartbeatRequest");
}

/* The server goes away under an idle, connected channel, then comes back on its port. */
static void test_server_restart(void **state)
{
    struct fx *f = *state;
    check_echo(f->ch, 16, 1); /* connected */
    int port = cf_rpc_server_port(f->srv);
    cf_rpc_server_destroy(f->srv);
    f->srv = NULL;

    struct cf_err err;
    cf_err_clear(&err);
    int64_t t0 = cf_monotonic_ms();
    int rc = cf_rpc_call(f->ch, M_ECHO, (const uint8_t *)"x", 1, NULL, 2000, &err);
    assert_int_equal(rc, CF_ERETRY);
    assert_non_null(strstr(err.msg, "UNAVAILABLE"));
    assert_true(cf_monotonic_ms() - t0 < 1000 * mult());

    f->srv = fx_server(f, port);
    assert_int_equal(cf_rpc_server_port(f->srv), port);
    int64_t until = cf_monotonic_ms() + 5000 * mult();
    int attempts = 0;
    do {
        attempts++;
        rc = cf_rpc_call(f->ch, M_ECHO, (const uint8_t *)"x", 1, NULL, 1000, &err);
        if (rc == CF_ERETRY) {
            sleep_ms(50);
        }
    } while (rc == CF_ERETRY && cf_monotonic_ms() < until);
    assert_int_equal(rc, 0);
    print_message("server restart: channel recovered after %lld ms, %d attempts\n",
                  (long long)(cf_monotonic_ms() - t0), attempts);
    check_echo(f->ch, 1000, 2);
}

struct inflight {
    struct cf_rpc_channel *ch;
    int rc;
    struct cf_err err;
};

static void *inflight_call(void *p)
{
    struct inflight *c = p;
    c->rc = cf_rpc_call(c->ch, M_SLOW, NULL, 0, NULL, 10000 * mult(), &c->err);
    return NULL;
}

/* Destroy while a handler runs: destroy waits for it; the caller sees CF_ERETRY. */
static void test_destroy_inflight(void **state)
{
    struct fx *f = *state;
    f->slow_ms = 500 * mult();
    struct inflight c = {.ch = f->ch};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, inflight_call, &c), 0);
    sleep_ms(100 * mult()); /* the handler is sleeping now */
    int64_t t0 = cf_monotonic_ms();
    cf_rpc_server_destroy(f->srv);
    f->srv = NULL;
    int64_t took = cf_monotonic_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(c.rc, CF_ERETRY);
    print_message("destroy with a call in flight: %lld ms; caller got: %s\n", (long long)took,
                  c.err.msg);
    assert_true(took < 2000 * mult());
}

/* Create/start/call/destroy 20 times: no fd or thread left behind. */
static void test_create_destroy(void **state)
{
    (void)state;
    struct fx f;
    memset(&f, 0, sizeof(f));
    f.slow_ms = 1;
    /* One round first: gRPC starts its global threads and fds lazily, once. */
    for (int warm = 0; warm < 2; warm++) {
        struct cf_rpc_server *srv = fx_server(&f, 0);
        char target[64];
        snprintf(target, sizeof(target), "127.0.0.1:%d", cf_rpc_server_port(srv));
        struct cf_rpc_channel *ch = cf_rpc_channel_create(target);
        check_echo(ch, 10, 1);
        cf_rpc_channel_destroy(ch);
        cf_rpc_server_destroy(srv);
    }
    sleep_ms(200);
    int fds0 = count_dir("/proc/self/fd");
    int threads0 = count_dir("/proc/self/task");
    for (int i = 0; i < 20; i++) {
        struct cf_rpc_server *srv = fx_server(&f, 0);
        char target[64];
        snprintf(target, sizeof(target), "127.0.0.1:%d", cf_rpc_server_port(srv));
        struct cf_rpc_channel *ch = cf_rpc_channel_create(target);
        check_echo(ch, 100, (uint32_t)i);
        cf_rpc_channel_destroy(ch);
        cf_rpc_server_destroy(srv);
    }
    /* Unstarted servers too. */
    for (int i = 0; i < 5; i++) {
        struct cf_err err;
        cf_rpc_server_destroy(cf_rpc_server_create("127.0.0.1", 0, &err));
    }
    /* gRPC closes sockets of destroyed channels from its own threads: give it a moment. */
    int fds1 = 0, threads1 = 0;
    for (int i = 0; i < 50; i++) {
        fds1 = count_dir("/proc/self/fd");
        threads1 = count_dir("/proc/self/task");
        if (fds1 <= fds0 && threads1 <= threads0) {
            break;
        }
        sleep_ms(20 * mult());
    }
    print_message("create/destroy x25: fds %d -> %d, threads %d -> %d\n", fds0, fds1, threads0,
                  threads1);
    assert_int_equal(fds1, fds0);
    assert_true(threads1 <= threads0);
}

/* Unary calls per second on loopback, one client thread, 32-byte echo. Reported, not
 * asserted: sanitizer builds are several times slower. */
static void test_throughput(void **state)
{
    struct fx *f = *state;
    uint8_t req[32];
    memset(req, 'q', sizeof(req));
    struct cf_buf resp;
    cf_buf_init(&resp);
    struct cf_err err;
    for (int i = 0; i < 200; i++) { /* warm up */
        assert_int_equal(cf_rpc_call(f->ch, M_ECHO, req, sizeof(req), &resp, 5000, &err), 0);
    }
    int64_t t0 = cf_monotonic_ns();
    int n = 0;
    while (cf_monotonic_ns() - t0 < INT64_C(1000000000)) {
        for (int i = 0; i < 100; i++, n++) {
            assert_int_equal(cf_rpc_call(f->ch, M_ECHO, req, sizeof(req), &resp, 5000, &err), 0);
        }
    }
    double secs = (double)(cf_monotonic_ns() - t0) / 1e9;
    assert_int_equal(resp.len, sizeof(req));
    print_message("throughput: %d unary calls in %.2f s = %.0f calls/s (1 client thread)\n", n,
                  secs, n / secs);
    cf_buf_destroy(&resp);
}

int main(void)
{
    assert_int_equal(cf_rpc_global_init(), 0);
    assert_int_equal(cf_rpc_global_init(), 0); /* idempotent */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test_setup_teardown(test_echo_sizes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_handler_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deadline, fx_setup, fx_teardown),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test_setup_teardown(test_server_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_protobuf, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_server_restart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_inflight, fx_setup, fx_teardown),
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test_setup_teardown(test_throughput, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
