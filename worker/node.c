#include "node.h"

#include <stdio.h>
#include <string.h>

#include "common/base/id.h"
#include "common/base/mem.h"
#include "common/rpc/rpc.h"
#include "dataplane.h"
#include "jobs.h"
#include "membership.h"

struct cf_worker_node {
    struct cf_dataplane *dp;
    struct cf_rpc_server *rpc;
    struct cf_worker_jobs *jobs;
    struct cf_member *member;
    char id[80];
};

static void on_coordinator_lost(void *arg)
{
    cf_worker_jobs_cancel_all(arg);
}

static void fill_metrics(void *arg, void *heartbeat_request)
{
    cf_worker_jobs_metrics(arg, heartbeat_request);
}

struct cf_worker_node *cf_worker_node_start(const struct cf_worker_node_opts *opts,
                                            struct cf_err *err)
{
    const char *advertise = opts->advertise;
    if (!advertise) {
        advertise = strcmp(opts->bind, "0.0.0.0") == 0 ? "127.0.0.1" : opts->bind;
    }
    struct cf_worker_node *n = cf_new(struct cf_worker_node);
    n->dp = cf_dataplane_create(opts->bind, opts->data_port, err);
    if (!n->dp) {
        cf_err_set(err, err->code, "data plane: %s", err->msg);
        goto fail;
    }
    n->rpc = cf_rpc_server_create(opts->bind, opts->rpc_port, err);
    if (!n->rpc) {
        cf_err_set(err, err->code, "rpc: %s", err->msg);
        goto fail;
    }
    char uid[CF_ID_LEN + 1];
    cf_id_new(uid);
    snprintf(n->id, sizeof(n->id), "%s:%d-%.8s", advertise, cf_rpc_server_port(n->rpc), uid);
    n->jobs = cf_worker_jobs_create(n->dp, n->id, opts->coordinator, err);
    if (!n->jobs) {
        goto fail;
    }
    cf_worker_jobs_set_data_dir(n->jobs, opts->data_dir);
    cf_worker_jobs_serve(n->jobs, n->rpc);
    if (cf_rpc_server_start(n->rpc) != 0) {
        cf_err_set(err, CF_EIO, "cannot start the RPC server");
        goto fail;
    }
    struct cf_member_opts mo = {.coordinator = opts->coordinator,
                                .worker_id = n->id,
                                .host = advertise,
                                .data_port = cf_dataplane_port(n->dp),
                                .rpc_port = cf_rpc_server_port(n->rpc),
                                .slots = opts->slots,
                                .on_lost = on_coordinator_lost,
                                .fill_metrics = fill_metrics,
                                .free_metrics = cf_worker_jobs_metrics_free,
                                .arg = n->jobs};
    n->member = cf_member_start(&mo, err);
    if (!n->member) {
        goto fail;
    }
    return n;
fail:
    cf_worker_node_stop(n);
    return NULL;
}

const char *cf_worker_node_id(const struct cf_worker_node *n)
{
    return n->id;
}

int cf_worker_node_data_port(const struct cf_worker_node *n)
{
    return cf_dataplane_port(n->dp);
}

int cf_worker_node_rpc_port(const struct cf_worker_node *n)
{
    return cf_rpc_server_port(n->rpc);
}

void cf_worker_node_stop(struct cf_worker_node *n)
{
    if (!n) {
        return;
    }
    if (n->member) {
        cf_member_stop(n->member);
    }
    if (n->rpc) {
        cf_rpc_server_destroy(n->rpc);
    }
    if (n->jobs) {
        cf_worker_jobs_destroy(n->jobs);
    }
    if (n->dp) {
        cf_dataplane_destroy(n->dp);
    }
    cf_free(n);
}
