/*
 * cf-worker: a TaskManager. Usage (DESIGN.md section 1):
 *   cf-worker --coordinator HOST:PORT [--slots N] [--bind ADDR] [--advertise HOST]
 *             [--data-port N] [--rpc-port N] [--data-dir DIR]
 * Flags can also come from CF_COORDINATOR, CF_SLOTS, CF_BIND, CF_ADVERTISE, CF_DATA_PORT,
 * CF_RPC_PORT, CF_DATA_DIR. Ports 0 pick free ports, which are advertised to the
 * coordinator. Runs until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/log.h"
#include "worker/node.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: cf-worker --coordinator HOST:PORT [--slots N] [--bind ADDR] "
                    "[--advertise HOST] [--data-port N] [--rpc-port N] [--data-dir DIR]\n");
    return 2;
}

static int int_of(const char *flag, const char *v, int min, int max, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        fprintf(stderr, "cf-worker: %s needs an integer between %d and %d, got '%s'\n", flag, min,
                max, v);
        return 2;
    }
    *out = (int)n;
    return 0;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int main(int argc, char **argv)
{
    const char *coordinator = env_or("CF_COORDINATOR", NULL);
    const char *bind = env_or("CF_BIND", "127.0.0.1");
    const char *advertise = env_or("CF_ADVERTISE", NULL);
    const char *data_dir = env_or("CF_DATA_DIR", NULL);
    int slots = 1, data_port = 6121, rpc_port = 6122;
    if (int_of("CF_SLOTS", env_or("CF_SLOTS", "1"), 1, 1024, &slots) ||
        int_of("CF_DATA_PORT", env_or("CF_DATA_PORT", "6121"), 0, 65535, &data_port) ||
        int_of("CF_RPC_PORT", env_or("CF_RPC_PORT", "6122"), 0, 65535, &rpc_port)) {
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
            fprintf(stderr, "cf-worker: %s needs a value\n", a);
            return usage();
        }
        i++;
        int rc = 0;
        if (!strcmp(a, "--coordinator")) {
            coordinator = v;
        } else if (!strcmp(a, "--slots")) {
            rc = int_of(a, v, 1, 1024, &slots);
        } else if (!strcmp(a, "--bind")) {
            bind = v;
        } else if (!strcmp(a, "--advertise")) {
            advertise = v;
        } else if (!strcmp(a, "--data-port")) {
            rc = int_of(a, v, 0, 65535, &data_port);
        } else if (!strcmp(a, "--rpc-port")) {
            rc = int_of(a, v, 0, 65535, &rpc_port);
        } else if (!strcmp(a, "--data-dir")) {
            data_dir = v;
        } else {
            fprintf(stderr, "cf-worker: unknown option '%s'\n", a);
            return usage();
        }
        if (rc) {
            return rc;
        }
    }
    if (!coordinator) {
        fprintf(stderr, "cf-worker: --coordinator HOST:PORT is required\n");
        return usage();
    }
    struct cf_worker_node_opts no = {.coordinator = coordinator,
                                     .bind = bind,
                                     .advertise = advertise,
                                     .data_dir = data_dir,
                                     .slots = slots,
                                     .data_port = data_port,
                                     .rpc_port = rpc_port};
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_worker_node *node = cf_worker_node_start(&no, &err);
    if (!node) {
        fprintf(stderr, "cf-worker: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "cf-worker: %s: %d slots, data port %d, rpc port %d, coordinator %s\n",
            cf_worker_node_id(node), slots, cf_worker_node_data_port(node),
            cf_worker_node_rpc_port(node), coordinator);
    while (!g_stop) {
        pause();
    }
    cf_info("stopping");
    cf_worker_node_stop(node);
    return 0;
}
