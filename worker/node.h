/*
 * node.h - one TaskManager: the data plane, the Worker RPC service, the jobs it runs and
 * its membership with the coordinator, started and stopped together. cf-worker runs one;
 * `cfctl local` runs one next to an embedded coordinator.
 */
#ifndef CF_WORKER_NODE_H
#define CF_WORKER_NODE_H

#include "common/base/err.h"

struct cf_worker_node_opts {
    const char *coordinator; /* "host:port" of the coordinator's RPC */
    const char *bind;        /* address for the data plane and RPC */
    const char *advertise;   /* address others reach this worker on; NULL: bind (or 127.0.0.1) */
    const char *data_dir;    /* keyed state and snapshots; NULL: under $TMPDIR */
    int slots;
    int data_port; /* 0: any free port */
    int rpc_port;  /* 0: any free port */
};

struct cf_worker_node;

/* Serves and registers; NULL with err if a port cannot be bound. */
struct cf_worker_node *cf_worker_node_start(const struct cf_worker_node_opts *opts,
                                            struct cf_err *err);
const char *cf_worker_node_id(const struct cf_worker_node *n);
int cf_worker_node_data_port(const struct cf_worker_node *n);
int cf_worker_node_rpc_port(const struct cf_worker_node *n);
/* Leaves the cluster, cancels what still runs and frees everything. */
void cf_worker_node_stop(struct cf_worker_node *n);

#endif
