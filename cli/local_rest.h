/*
 * local_rest.h - the REST API of `cfctl local`'s embedded cluster (DESIGN.md section 1):
 * the same endpoints and JSON shapes as the coordinator, for the one job it runs.
 */
#ifndef CF_LOCAL_REST_H
#define CF_LOCAL_REST_H

#include "worker/runtime.h"

struct cf_local_rest;

/* Serves on bind_addr:port (0: any free port) until destroyed. The plan and runtime must
 * outlive it. NULL with err if the port cannot be bound. */
struct cf_local_rest *cf_local_rest_start(const char *bind_addr, int port,
                                          const struct cf_plan *plan, struct cf_runtime *rt,
                                          const char *job_id, struct cf_err *err);
int cf_local_rest_port(const struct cf_local_rest *lr);
void cf_local_rest_stop(struct cf_local_rest *lr);

#endif
