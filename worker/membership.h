/*
 * membership.h - a worker's membership in the cluster: registers its slots and addresses
 * with the coordinator, sends heartbeats, and registers again when the coordinator forgets
 * it (restart, or a missed timeout) or cannot be reached (retrying with backoff).
 * One background thread; the functions below may be called from any thread.
 */
#ifndef CF_MEMBERSHIP_H
#define CF_MEMBERSHIP_H

#include "common/base/err.h"

struct cf_member_opts {
    const char *coordinator; /* "host:port" of the coordinator's RPC */
    const char *worker_id;
    const char *host; /* address other processes reach this worker on */
    int data_port;
    int rpc_port;
    int slots;
    /* Called (on the membership thread) when the coordinator is lost or forgot this
     * worker: its jobs will be redeployed, so running attempts must stop. May be NULL. */
    void (*on_lost)(void *arg);
    /* Fills and frees the metrics of each heartbeat (a Cf__HeartbeatRequest). May be NULL. */
    void (*fill_metrics)(void *arg, void *heartbeat_request);
    void (*free_metrics)(void *heartbeat_request);
    void *arg;
};

struct cf_member;

struct cf_member *cf_member_start(const struct cf_member_opts *opts, struct cf_err *err);
/* 1 while the coordinator knows this worker (registered and heartbeats accepted). */
int cf_member_registered(struct cf_member *m);
void cf_member_stop(struct cf_member *m);

#endif
