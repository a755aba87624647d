/*
 * cf-coordinator: the JobManager. Usage (DESIGN.md section 1):
 *   cf-coordinator [--bind ADDR] [--rest-port N] [--rpc-port N] [--data-dir DIR]
 *                  [--heartbeat-interval DUR] [--heartbeat-timeout DUR]
 *                  [--slot-request-timeout DUR]
 * Every flag can also come from the environment: CF_BIND, CF_REST_PORT, CF_RPC_PORT,
 * CF_DATA_DIR, CF_HEARTBEAT_INTERVAL, CF_HEARTBEAT_TIMEOUT, CF_SLOT_REQUEST_TIMEOUT. Runs
 * until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "coordinator/coord.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: cf-coordinator [--bind ADDR] [--rest-port N] [--rpc-port N] "
                    "[--data-dir DIR] [--heartbeat-interval DUR] [--heartbeat-timeout DUR] "
                    "[--slot-request-timeout DUR]\n");
    return 2;
}

static int port_of(const char *flag, const char *v, int *out)
{
    char *end;
    long p = strtol(v, &end, 10);
    if (!*v || *end || p < 0 || p > 65535) {
        fprintf(stderr, "cf-coordinator: %s needs a port between 0 and 65535, got '%s'\n", flag, v);
        return 2;
    }
    *out = (int)p;
    return 0;
}

static int dur_of(const char *flag, const char *v, int64_t *out)
{
    if (cf_duration_parse(v, out) != 0 || *out <= 0) {
        fprintf(stderr, "cf-coordinator: %s needs a duration such as \"10s\", got '%s'\n", flag, v);
        return 2;
    }
    return 0;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int main(int argc, char **argv)
{
    const char *bind = env_or("CF_BIND", "127.0.0.1");
    const char *data_dir = env_or("CF_DATA_DIR", "creekflow-data");
    int rest_port = 8081, rpc_port = 6123;
    int64_t hb_interval = 1000, hb_timeout = 10000, slot_timeout = 300000;
    if (port_of("CF_REST_PORT", env_or("CF_REST_PORT", "8081"), &rest_port) ||
        port_of("CF_RPC_PORT", env_or("CF_RPC_PORT", "6123"), &rpc_port) ||
        dur_of("CF_HEARTBEAT_INTERVAL", env_or("CF_HEARTBEAT_INTERVAL", "1s"), &hb_interval) ||
        dur_of("CF_HEARTBEAT_TIMEOUT", env_or("CF_HEARTBEAT_TIMEOUT", "10s"), &hb_timeout) ||
        dur_of("CF_SLOT_REQUEST_TIMEOUT", env_or("CF_SLOT_REQUEST_TIMEOUT", "5m"), &slot_timeout)) {
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!v) {
            fprintf(stderr, "cf-coordinator: %s needs a value\n", a);
            return usage();
        }
        i++;
        int rc = 0;
        if (!strcmp(a, "--bind")) {
            bind = v;
        } else if (!strcmp(a, "--rest-port")) {
            rc = port_of(a, v, &rest_port);
        } else if (!strcmp(a, "--rpc-port")) {
            rc = port_of(a, v, &rpc_port);
        } else if (!strcmp(a, "--data-dir")) {
            data_dir = v;
        } else if (!strcmp(a, "--heartbeat-interval")) {
            rc = dur_of(a, v, &hb_interval);
        } else if (!strcmp(a, "--heartbeat-timeout")) {
            rc = dur_of(a, v, &hb_timeout);
        } else if (!strcmp(a, "--slot-request-timeout")) {
            rc = dur_of(a, v, &slot_timeout);
        } else {
            fprintf(stderr, "cf-coordinator: unknown option '%s'\n", a);
            return usage();
        }
        if (rc) {
            return rc;
        }
    }
    if (mkdir(data_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cf-coordinator: cannot create --data-dir %s: %s\n", data_dir,
                strerror(errno));
        return 1;
    }
    struct cf_coord_opts opts = {.bind = bind,
                                 .rest_port = rest_port,
                                 .rpc_port = rpc_port,
                                 .data_dir = data_dir,
                                 .heartbeat_interval_ms = hb_interval,
                                 .heartbeat_timeout_ms = hb_timeout,
                                 .slot_request_timeout_ms = slot_timeout};
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_coord *c = cf_coord_start(&opts, &err);
    if (!c) {
        fprintf(stderr, "cf-coordinator: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "cf-coordinator: REST API on http://%s:%d, RPC on %s:%d, data in %s\n", bind,
            cf_coord_rest_port(c), bind, cf_coord_rpc_port(c), data_dir);
    while (!g_stop) {
        pause();
    }
    cf_info("stopping");
    cf_coord_stop(c);
    return 0;
}
