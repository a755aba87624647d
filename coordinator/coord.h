/*
 * coord.h - cf-coordinator's core: worker membership over gRPC (register, heartbeats, loss
 * detection), the job store, and the REST API on the HTTP server.
 *
 * State is guarded by one mutex; RPC handlers (gRPC serving thread), REST handlers (HTTP
 * loop thread) and the monitor thread take it briefly and never block while holding it.
 * Job submission and scheduling arrive with the rest of issue [3].
 */
#ifndef CF_COORD_H
#define CF_COORD_H

#include <stdint.h>

#include "common/base/err.h"

struct cf_coord_opts {
    const char *bind; /* address for REST and RPC */
    int rest_port;    /* 8081; 0: any free port */
    int rpc_port;     /* 6123; 0: any free port */
    const char *data_dir;
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_timeout_ms;
};

struct cf_coord;

struct cf_coord *cf_coord_start(const struct cf_coord_opts *opts, struct cf_err *err);
int cf_coord_rest_port(const struct cf_coord *c);
int cf_coord_rpc_port(const struct cf_coord *c);
void cf_coord_stop(struct cf_coord *c);

#endif
