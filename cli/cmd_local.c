/*
 * cfctl local - the embedded mini cluster: a coordinator and one worker with as many slots
 * as the job needs run in this process, the same code as cf-coordinator and cf-worker. The
 * job is submitted to the coordinator, which deploys it on the worker (all channels stay in
 * memory), checkpoints it and serves the REST API. Runs until the job ends, with a progress
 * line on stderr. Ctrl-C stops the job with a savepoint when it has a checkpoints.dir (a
 * second Ctrl-C cancels), else cancels it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/objstore/objstore.h"
#include "coordinator/coord.h"
#include "worker/node.h"
#include "worker/plan.h"

static volatile sig_atomic_t g_interrupts;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupts++;
}

struct totals {
    uint64_t in, out, errors;
};

static void sum_totals(const struct cf_plan *plan, const struct cf_job_totals *jt, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; jt && i < plan->nops && i < jt->nops; i++) {
        enum cf_op_kind kind = plan->ops[i].decl.plugin->kind;
        if (kind == CF_OP_KIND_SOURCE) {
            t->in += jt->ops[i].records_out;
            t->errors += jt->ops[i].side_out;
        } else if (kind == CF_OP_KIND_SINK) {
            t->out += jt->ops[i].records_in;
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

/* The embedded cluster: a coordinator on a scratch data directory and one worker. */
struct mini {
    char dir[512];
    struct cf_coord *coord;
    struct cf_worker_node *worker;
};

static void mini_stop(struct mini *m)
{
    cf_worker_node_stop(m->worker);
    cf_coord_stop(m->coord);
    if (m->dir[0]) {
        struct cf_err err;
        cf_err_clear(&err);
        if (cf_obj_delete_prefix(m->dir, &err) != 0) { /* the directory with what it holds */
            fprintf(stderr, "cfctl: cannot remove %s: %s\n", m->dir, err.msg);
        }
    }
}

/* Starts the mini cluster; REST on `port` (a busy default port falls back to any free one:
 * not worth failing the job for). */
static int mini_start(struct mini *m, int slots, int port, int port_given, int quiet)
{
    memset(m, 0, sizeof(*m));
    const char *tmp = getenv("TMPDIR");
    snprintf(m->dir, sizeof(m->dir), "%s/cfctl-local-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(m->dir)) {
        fprintf(stderr, "cfctl: cannot create a directory like %s\n", m->dir);
        m->dir[0] = '\0';
        return -1;
    }
    /* Heartbeats carry the metrics the progress line shows: a short interval is cheap here. */
    struct cf_coord_opts co = {.bind = "127.0.0.1",
                               .rest_port = port,
                               .rpc_port = 0,
                               .data_dir = m->dir,
                               .heartbeat_interval_ms = 250,
                               .heartbeat_timeout_ms = 10000};
    struct cf_err err;
    cf_err_clear(&err);
    m->coord = cf_coord_start(&co, &err);
    if (!m->coord && !port_given) {
        if (!quiet) {
            fprintf(stderr, "cfctl: port %d is busy (%s); serving on a free port\n", port, err.msg);
        }
        co.rest_port = 0;
        cf_err_clear(&err);
        m->coord = cf_coord_start(&co, &err);
    }
    if (!m->coord) {
        fprintf(stderr, "cfctl: cannot start the embedded coordinator: %s\n", err.msg);
        return -1;
    }
    char coordinator[64];
    snprintf(coordinator, sizeof(coordinator), "127.0.0.1:%d", cf_coord_rpc_port(m->coord));
    struct cf_worker_node_opts wo = {
        .coordinator = coordinator, .bind = "127.0.0.1", .slots = slots};
    m->worker = cf_worker_node_start(&wo, &err);
    if (!m->worker) {
        fprintf(stderr, "cfctl: cannot start the embedded worker: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Ctrl-C: stop with a savepoint when the job can take one, else cancel. Returns the
 * savepoint request id in rid ("" if none). */
static void interrupt(struct mini *m, const struct cf_plan *plan, const char *jid, char *rid)
{
    const char *name = plan->spec->name;
    struct cf_err err;
    cf_err_clear(&err);
    rid[0] = '\0';
    if (plan->spec->checkpoints.dir &&
        cf_coord_trigger(m->coord, jid, CF_TRIGGER_STOP, NULL, rid, &err) == 202) {
        fprintf(stderr,
                "cfctl: interrupted, stopping job %s with a savepoint (Ctrl-C again cancels)\n",
                name);
        return;
    }
    rid[0] = '\0';
    if (err.msg[0]) {
        fprintf(stderr, "cfctl: no savepoint: %s\n", err.msg);
    }
    fprintf(stderr, "cfctl: interrupted, canceling job %s\n", name);
    cf_coord_cancel(m->coord, jid, &err);
}

int cf_cli_local(int argc, char **argv)
{
    static const char usage[] = "cfctl local [-p N] [-q] [-s SAVEPOINT] [-n] [--port P] JOB.json";
    struct cf_cli_job_opts o = {.local = 1, .port = 8081};
    const char *path;
    if (cf_cli_job_args(argc, argv, usage, &o, &path)) {
        return CLI_USAGE;
    }
    struct cf_plan *plan;
    int rc = cf_cli_load_plan(path, o.parallelism, &plan);
    if (rc) {
        return rc;
    }
    char *text;
    size_t len;
    if ((rc = cf_cli_read_spec(path, &text, &len)) != CLI_OK) {
        cf_plan_destroy(plan);
        return rc;
    }
    if (!getenv("CF_LOG_LEVEL")) {
        cf_log_notes_set(CF_LOG_DEBUG);
    }
    struct mini m;
    if (mini_start(&m, cf_plan_slots(plan), o.port, o.port_given, o.quiet) != 0) {
        mini_stop(&m);
        cf_free(text);
        cf_plan_destroy(plan);
        return CLI_FAILED;
    }
    struct cf_submit sub = {.spec = text,
                            .len = len,
                            .parallelism = o.parallelism,
                            .savepoint_path = o.savepoint,
                            .allow_non_restored = o.allow_non_restored};
    char jid[CF_ID_LEN + 1];
    struct cf_err err;
    cf_err_clear(&err);
    rc = cf_coord_submit(m.coord, &sub, jid, &err);
    cf_free(text);
    if (rc != 0) {
        /* The spec was valid: what is left is the savepoint. */
        fprintf(stderr, "cfctl: cannot start job from %s: %s\n", o.savepoint ? o.savepoint : path,
                err.msg);
        mini_stop(&m);
        cf_plan_destroy(plan);
        return CLI_USAGE;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *name = plan->spec->name;
    int announced = 0;
    int64_t t0 = cf_monotonic_ms();
    int64_t last_print = t0;
    uint64_t last_in = 0;
    int64_t interval = isatty(STDERR_FILENO) ? 1000 : 5000;
    int handled = 0;
    char rid[CF_ID_LEN + 1] = "";
    struct cf_coord_job_status st;
    for (;;) {
        if (cf_coord_job_status(m.coord, jid, &st) != 0) {
            st.state = CF_JOB_FAILED; /* cannot happen: the job store holds it */
            snprintf(st.failure, sizeof(st.failure), "the job disappeared");
            break;
        }
        if (!announced && st.state != CF_JOB_CREATED) {
            /* Deployed (or already ended): the REST API shows it running from now on. */
            announced = 1;
            if (!o.quiet) {
                fprintf(stderr, "cfctl: job %s (%s) started: %d vertices, %d slots\n", name, jid,
                        plan->nvertices, cf_plan_slots(plan));
            }
            /* Always printed (also with -q): scripts read the URL from this line. */
            fprintf(stderr, "cfctl: REST API on http://127.0.0.1:%d\n",
                    cf_coord_rest_port(m.coord));
        }
        if (cf_job_state_terminal(st.state)) {
            break;
        }
        int interrupts = g_interrupts;
        if (interrupts > handled) {
            if (handled == 0) {
                interrupt(&m, plan, jid, rid);
            } else if (handled == 1 && rid[0]) {
                fprintf(stderr, "cfctl: interrupted again, canceling job %s\n", name);
                cf_coord_cancel(m.coord, jid, &err);
            }
            handled = interrupts;
        }
        int64_t now = cf_monotonic_ms();
        if (!o.quiet && now - last_print >= interval) {
            struct totals t;
            sum_totals(plan, st.totals, &t);
            double rate = (double)(t.in - last_in) * 1000.0 / (double)(now - last_print);
            progress(name, cf_job_state_name(st.state), (double)(now - t0) / 1000.0, &t, rate);
            last_print = now;
            last_in = t.in;
        }
        cf_coord_job_status_clear(&st);
        struct timespec nap = {0, 20 * 1000000};
        nanosleep(&nap, NULL);
    }
    double secs = (double)(cf_monotonic_ms() - t0) / 1000.0;
    struct totals t;
    sum_totals(plan, st.totals, &t);
    cf_coord_job_status_clear(&st);
    if (!o.quiet || st.state != CF_JOB_FINISHED) {
        progress(name, cf_job_state_name(st.state), secs, &t, secs > 0 ? (double)t.in / secs : 0);
    }
    if (rid[0]) {
        char location[600] = "";
        cf_err_clear(&err);
        if (cf_coord_trigger_status(m.coord, rid, location, sizeof(location), &err) == 1) {
            fprintf(stderr, "cfctl: savepoint stored in %s\n", location);
        } else {
            fprintf(stderr, "cfctl: the savepoint failed: %s\n", err.msg);
        }
    }
    if (st.state == CF_JOB_FAILED) {
        fprintf(stderr, "cfctl: job %s failed: %s\n", name, st.failure);
    }
    if (st.state == CF_JOB_CANCELED && !handled) {
        /* Whoever canceled over REST polls for the final state: let them see it. */
        struct timespec linger = {0, 500 * 1000000};
        nanosleep(&linger, NULL);
    }
    mini_stop(&m);
    cf_plan_destroy(plan);
    return st.state == CF_JOB_FINISHED ? CLI_OK : CLI_FAILED;
}
