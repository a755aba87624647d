#include "membership.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/rpc/rpc.h"
#include "proto/creekflow.pb-c.h"

struct cf_member {
    struct cf_member_opts opts;
    char *coordinator, *worker_id, *host;
    struct cf_rpc_channel *ch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    int registered;
    int64_t interval_ms;
};

/* Sleeps up to ms or until stopped; returns 1 when stopping. */
static int nap(struct cf_member *m, int64_t ms)
{
    struct timespec ts;
    cf_monotonic_timespec(cf_monotonic_ms() + ms, &ts);
    pthread_mutex_lock(&m->lock);
    if (!m->stopping) {
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    int stop = m->stopping;
    pthread_mutex_unlock(&m->lock);
    return stop;
}

static void set_registered(struct cf_member *m, int v)
{
    pthread_mutex_lock(&m->lock);
    m->registered = v;
    pthread_mutex_unlock(&m->lock);
}

static int do_register(struct cf_member *m, struct cf_err *err)
{
    Cf__RegisterWorkerRequest req = CF__REGISTER_WORKER_REQUEST__INIT;
    req.worker_id = m->worker_id;
    req.host = m->host;
    req.data_port = (uint32_t)m->opts.data_port;
    req.rpc_port = (uint32_t)m->opts.rpc_port;
    req.slots = (uint32_t)m->opts.slots;
    req.protocol_version = 1;
    req.version = "0.1.0";
    req.start_time_ms = cf_now_ms();
    Cf__RegisterWorkerResponse *resp = NULL;
    int rc = cf_rpc_call_pb(m->ch, CF_RPC_COORDINATOR_REGISTER_WORKER, &req.base,
                            &cf__register_worker_response__descriptor, (ProtobufCMessage **)&resp,
                            5000, err);
    if (rc) {
        return rc;
    }
    if (!resp->accepted) {
        rc = cf_err_set(err, CF_EFAILED, "registration refused: %s", resp->reason);
    } else {
        m->interval_ms = resp->heartbeat_interval_ms > 0 ? resp->heartbeat_interval_ms : 1000;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* Returns 1 if the coordinator still knows us, 0 if not, <0 on a transport error. */
static int do_heartbeat(struct cf_member *m, struct cf_err *err)
{
    Cf__HeartbeatRequest req = CF__HEARTBEAT_REQUEST__INIT;
    req.worker_id = m->worker_id;
    req.timestamp_ms = cf_now_ms();
    req.free_slots = (uint32_t)m->opts.slots;
    if (m->opts.fill_metrics) {
        m->opts.fill_metrics(m->opts.arg, &req);
    }
    Cf__HeartbeatResponse *resp = NULL;
    int rc = cf_rpc_call_pb(m->ch, CF_RPC_COORDINATOR_HEARTBEAT, &req.base,
                            &cf__heartbeat_response__descriptor, (ProtobufCMessage **)&resp,
                            m->interval_ms * 2 + 1000, err);
    if (m->opts.free_metrics) {
        m->opts.free_metrics(&req);
    }
    if (rc) {
        return rc;
    }
    int known = resp->known;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return known;
}

static void *member_main(void *arg)
{
    struct cf_member *m = arg;
    cf_log_ctx_set("worker");
    int64_t backoff = 100;
    int warned = 0;
    while (!nap(m, 0)) {
        struct cf_err err;
        cf_err_clear(&err);
        if (do_register(m, &err) != 0) {
            if (!warned++) {
                cf_warn("cannot register with the coordinator at %s: %s (retrying)", m->coordinator,
                        err.msg);
            }
            if (nap(m, backoff)) {
                break;
            }
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        cf_note("registered with the coordinator at %s as %s (%d slots)", m->coordinator,
                m->worker_id, m->opts.slots);
        set_registered(m, 1);
        backoff = 100;
        warned = 0;
        /* Heartbeats until the coordinator forgets us or cannot be reached. */
        while (!nap(m, m->interval_ms)) {
            cf_err_clear(&err);
            int known = do_heartbeat(m, &err);
            if (known == 1) {
                continue;
            }
            if (known == 0) {
                cf_warn("the coordinator does not know this worker any more: registering again");
            } else {
                cf_warn("heartbeat to %s failed: %s", m->coordinator, err.msg);
            }
            break;
        }
        set_registered(m, 0);
        if (m->opts.on_lost) {
            m->opts.on_lost(m->opts.arg);
        }
    }
    return NULL;
}

struct cf_member *cf_member_start(const struct cf_member_opts *opts, struct cf_err *err)
{
    struct cf_member *m = cf_new(struct cf_member);
    m->opts = *opts;
    m->coordinator = cf_strdup(opts->coordinator);
    m->worker_id = cf_strdup(opts->worker_id);
    m->host = cf_strdup(opts->host);
    m->interval_ms = 1000;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &attr);
    pthread_condattr_destroy(&attr);
    m->ch = cf_rpc_channel_create(m->coordinator);
    if (!m->ch || pthread_create(&m->thread, NULL, member_main, m) != 0) {
        cf_err_set(err, CF_EFAILED, "cannot start membership with %s", opts->coordinator);
        cf_rpc_channel_destroy(m->ch);
        cf_free(m->coordinator);
        cf_free(m->worker_id);
        cf_free(m->host);
        cf_free(m);
        return NULL;
    }
    return m;
}

int cf_member_registered(struct cf_member *m)
{
    pthread_mutex_lock(&m->lock);
    int r = m->registered;
    pthread_mutex_unlock(&m->lock);
    return r;
}

void cf_member_stop(struct cf_member *m)
{
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->stopping = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    cf_rpc_channel_destroy(m->ch);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    cf_free(m->coordinator);
    cf_free(m->worker_id);
    cf_free(m->host);
    cf_free(m);
}
