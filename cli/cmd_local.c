/*
 * cfctl local - runs a job in-process (the embedded mini cluster) until it ends, with a
 * progress line on stderr. Ctrl-C cancels the job.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "local_rest.h"
#include "common/base/id.h"
#include "common/base/log.h"
#include "common/base/timeutil.h"
#include "worker/runtime.h"

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

struct totals {
    uint64_t in, out, errors, bytes;
};

static void sum_totals(struct cf_runtime *rt, const struct cf_plan *plan, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < plan->nops; i++) {
        struct cf_runtime_op_stats s;
        cf_runtime_op_stats(rt, i, &s);
        enum cf_op_kind kind = plan->ops[i].decl.plugin->kind;
        if (kind == CF_OP_KIND_SOURCE) {
            t->in += s.records_out;
            t->errors += s.side_out;
            t->bytes += s.bytes_in;
        } else if (kind == CF_OP_KIND_SINK) {
            t->out += s.records_in;
        }
    }
}

static void progress(const char *name, const char *state, double secs, const struct totals *t,
                     double rate)
{
    fprintf(stderr,
            "cfctl: %s %s %.1fs: %llu records in (%.0f/s), %llu records out, %llu bad "
            "records\n",
            name, state, secs, (unsigned long long)t->in, rate, (unsigned long long)t->out,
            (unsigned long long)t->errors);
}

int cf_cli_local(int argc, char **argv)
{
    int parallelism = 0;
    int quiet = 0;
    int port = 8081;
    const char *path;
    if (cf_cli_job_args(argc, argv, "cfctl local [-p N] [-q] [--port P] JOB.json", &parallelism,
                        &quiet, &port, &path)) {
        return CLI_USAGE;
    }
    struct cf_plan *plan;
    int rc = cf_cli_load_plan(path, parallelism, &plan);
    if (rc) {
        return rc;
    }
    char job_id[CF_ID_LEN + 1];
    cf_id_new(job_id);
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_runtime *rt = cf_runtime_create(plan, job_id, &err);
    if (!rt || cf_runtime_start(rt, &err) != 0) {
        fprintf(stderr, "cfctl: cannot start job: %s\n", err.msg);
        cf_runtime_destroy(rt);
        cf_plan_destroy(plan);
        return CLI_FAILED;
    }
    /* The embedded cluster's REST API; a busy default port is not worth failing the job. */
    int explicit_port = 0;
    for (int i = 1; i < argc; i++) {
        explicit_port |= !strcmp(argv[i], "--port");
    }
    struct cf_local_rest *rest = cf_local_rest_start("127.0.0.1", port, plan, rt, job_id, &err);
    if (!rest && explicit_port) {
        fprintf(stderr, "cfctl: cannot serve the REST API: %s\n", err.msg);
        cf_runtime_cancel(rt);
        cf_runtime_destroy(rt);
        cf_plan_destroy(plan);
        return CLI_FAILED;
    }
    if (!rest && !quiet) {
        fprintf(stderr, "cfctl: REST API not served (%s); use --port\n", err.msg);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *name = plan->spec->name;
    if (!quiet) {
        fprintf(stderr, "cfctl: job %s (%s) started: %d vertices, %d slots\n", name, job_id,
                plan->nvertices, cf_plan_slots(plan));
    }
    if (rest) {
        /* Always printed (also with -q): scripts read the URL from this line. */
        fprintf(stderr, "cfctl: REST API on http://127.0.0.1:%d\n", cf_local_rest_port(rest));
    }
    int64_t t0 = cf_monotonic_ms();
    int64_t last_print = t0;
    uint64_t last_in = 0;
    int64_t interval = isatty(STDERR_FILENO) ? 1000 : 5000;
    int canceled_by_user = 0;
    enum cf_job_state state;
    for (;;) {
        state = cf_runtime_wait(rt, 200);
        if (cf_job_state_terminal(state)) {
            break;
        }
        if (g_interrupted && !canceled_by_user) {
            canceled_by_user = 1;
            fprintf(stderr, "cfctl: interrupted, canceling job %s\n", name);
            cf_runtime_cancel(rt);
        }
        int64_t now = cf_monotonic_ms();
        if (!quiet && now - last_print >= interval) {
            struct totals t;
            sum_totals(rt, plan, &t);
            double rate = (double)(t.in - last_in) * 1000.0 / (double)(now - last_print);
            progress(name, "RUNNING", (double)(now - t0) / 1000.0, &t, rate);
            last_print = now;
            last_in = t.in;
        }
    }
    double secs = (double)(cf_monotonic_ms() - t0) / 1000.0;
    struct totals t;
    sum_totals(rt, plan, &t);
    if (!quiet || state != CF_JOB_FINISHED) {
        progress(name, cf_job_state_name(state), secs, &t, secs > 0 ? (double)t.in / secs : 0);
    }
    if (state == CF_JOB_FAILED) {
        fprintf(stderr, "cfctl: job %s failed: %s\n", name, cf_runtime_failure(rt));
    }
    if (rest && state == CF_JOB_CANCELED) {
        /* Whoever canceled over REST polls for the final state: let them see it. */
        struct timespec linger = {0, 500 * 1000000};
        nanosleep(&linger, NULL);
    }
    cf_local_rest_stop(rest);
    cf_runtime_destroy(rt);
    cf_plan_destroy(plan);
    return state == CF_JOB_FINISHED ? CLI_OK : CLI_FAILED;
}
