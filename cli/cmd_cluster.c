/*
 * cfctl's cluster commands - run, list, info, cancel, savepoint, stop, checkpoint - as clients
 * of a coordinator's REST API (DESIGN.md sections 7 and 8), printing Flink's CLI formats.
 *
 * Every request is one blocking cf_http_request() bounded by REQUEST_TIMEOUT_MS; commands
 * that wait for the cluster (cancel, savepoint, run --wait) poll with their own overall
 * deadline, so no command hangs on a silent server. Results go to stdout, problems to stderr
 * as one "cfctl: ..." line each. Exit codes: CLI_OK, CLI_FAILED for anything the server or
 * the job refused (4xx/5xx, unreachable, the job ended otherwise than asked), CLI_USAGE for
 * bad arguments, URLs and specs - those are caught before anything is sent.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common/base/buf.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/http/http_client.h"
#include "worker/plan.h"

#define DEFAULT_COORDINATOR "http://127.0.0.1:8081"
#define REQUEST_TIMEOUT_MS  10000
#define CANCEL_TIMEOUT_MS   30000
/* Savepoints and checkpoints of large state take a while; Flink's client waits too. */
#define SNAPSHOT_TIMEOUT_MS (10 * 60 * 1000)
/* run --wait tolerates a coordinator that is briefly unreachable (a restart) this long. */
#define WAIT_UNREACHABLE_MS 30000
#define JOB_ID_LEN          32

/* The coordinator's base URL: scheme, host, port and an optional prefix, no trailing '/'. */
struct client {
    char base[1024];
};

/* ---- plumbing ----------------------------------------------------------------------- */

/*
 * Resolves the coordinator URL: -m, else $CF_COORDINATOR, else the default; "host:port"
 * without a scheme means http. Returns CLI_USAGE for an empty or oversized value.
 */
static int client_init(struct client *c, const char *url)
{
    const char *from = "-m";
    if (!url) {
        url = getenv("CF_COORDINATOR");
        from = "CF_COORDINATOR";
        if (!url || !*url) {
            url = DEFAULT_COORDINATOR;
        }
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/') {
        len--;
    }
    const char *scheme = strstr(url, "://") ? "" : "http://";
    if (len == 0 || strlen(scheme) + len >= sizeof(c->base)) {
        fprintf(stderr, "cfctl: %s needs a coordinator URL like %s, got '%s'\n", from,
                DEFAULT_COORDINATOR, url);
        return CLI_USAGE;
    }
    snprintf(c->base, sizeof(c->base), "%s%.*s", scheme, (int)len, url);
    return CLI_OK;
}

/* Percent-encodes s for a query value (RFC 3986 unreserved characters stay). */
static void url_encode(struct cf_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            cf_buf_putc(b, (char)ch);
        } else {
            cf_buf_appendf(b, "%%%02X", ch);
        }
    }
}

/*
 * Sends method to the coordinator's path (which starts with '/' and may carry a query) and
 * parses a 2xx response's JSON body into *json (NULL when the body is empty; the caller owns
 * it). Returns 0 on 2xx; otherwise sets err to one line for the user and returns the
 * transport error (CF_EIO unreachable, CF_ERETRY timed out, CF_EINVAL bad URL) or CF_EFAILED
 * for an error status (the server's "errors", plus a hint when the server lacks the endpoint)
 * or a 2xx body that is not JSON.
 */
static int call(const struct client *c, const char *method, const char *path, const char *body,
                size_t body_len, cJSON **json, struct cf_err *err)
{
    struct cf_http_result res;
    struct cf_buf url;
    cf_buf_init(&url);
    cf_buf_appendf(&url, "%s%s", c->base, path);
    *json = NULL;
    int rc = cf_http_request(method, url.data, body, body_len, "application/json",
                             REQUEST_TIMEOUT_MS, &res, err);
    if (rc != 0) {
        goto out;
    }
    if (res.status < 200 || res.status > 299) {
        char msg[1024];
        cf_http_result_error(&res, msg, sizeof(msg));
        /* Our servers answer "not found: <path>" for unknown routes (not unknown jobs). */
        int missing = res.status == 405 || (res.status == 404 && !strncmp(msg, "not found: /", 12));
        if (missing) {
            rc = cf_err_set(err, CF_EFAILED,
                            "%s (the server at %s does not offer this request; 'cfctl local' "
                            "serves job status and cancel only)",
                            msg, c->base);
        } else {
            rc = cf_err_set(err, CF_EFAILED, "%s", msg);
        }
        goto out;
    }
    if (res.body.len > 0) {
        *json = cf_http_json(&res);
        if (!*json) {
            rc = cf_err_set(err, CF_EFAILED, "%s %s%s answered %d with a body that is not JSON",
                            method, c->base, path, res.status);
        }
    }
out:
    cf_http_result_free(&res);
    cf_buf_destroy(&url);
    return rc;
}

/* Prints err as one line ("cfctl: <what>: <message>") and returns the exit status. */
static int report(const char *what, int rc, const struct cf_err *err)
{
    fprintf(stderr, "cfctl: %s%s", what ? what : "", what ? ": " : "");
    for (const char *p = err->msg; *p; p++) {
        fputc(iscntrl((unsigned char)*p) ? ' ' : *p, stderr); /* a server's message, too */
    }
    fputc('\n', stderr);
    return rc == CF_EINVAL ? CLI_USAGE : CLI_FAILED;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Flink's globally terminal states: the job will not change any more. */
static int terminal(const char *state)
{
    return state &&
           (!strcmp(state, "FINISHED") || !strcmp(state, "CANCELED") || !strcmp(state, "FAILED"));
}

/* Copies a job id argument, lowercased, into out; usage error naming it unless 32 hex. */
static int job_id_arg(const char *cmd, const char *arg, char out[JOB_ID_LEN + 1])
{
    size_t n = arg ? strlen(arg) : 0;
    int ok = n == JOB_ID_LEN;
    for (size_t i = 0; ok && i < n; i++) {
        ok = isxdigit((unsigned char)arg[i]) != 0;
        out[i] = (char)tolower((unsigned char)arg[i]);
    }
    if (!ok) {
        fprintf(stderr, "cfctl %s: '%s' is not a job id (32 hex characters)\n", cmd,
                arg ? arg : "");
        return CLI_USAGE;
    }
    out[n] = '\0';
    return CLI_OK;
}

/* Prints s with control characters (a newline in a job name) as '?': one job, one line. */
static void put_clean(const char *s)
{
    for (; s && *s; s++) {
        putchar(iscntrl((unsigned char)*s) ? '?' : *s);
    }
}

/* "12ms", "3.4s", "5m 06s", "2h 03m 04s", "3d 04h 05m". */
static char *fmt_duration(int64_t ms, char *buf, size_t size)
{
    if (ms < 0) {
        snprintf(buf, size, "-");
    } else if (ms < 1000) {
        snprintf(buf, size, "%lldms", (long long)ms);
    } else if (ms < 60000) {
        snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
    } else {
        long long s = ms / 1000;
        if (s < 3600) {
            snprintf(buf, size, "%lldm %02llds", s / 60, s % 60);
        } else if (s < 86400) {
            snprintf(buf, size, "%lldh %02lldm %02llds", s / 3600, s / 60 % 60, s % 60);
        } else {
            snprintf(buf, size, "%lldd %02lldh %02lldm", s / 86400, s / 3600 % 24, s / 60 % 60);
        }
    }
    return buf;
}

/* Flink's CLI time format, in UTC: "22.10.2024 18:05:00". */
static char *fmt_time(int64_t ms, char *buf, size_t size)
{
    if (cf_ts_strftime(buf, size, "%d.%m.%Y %H:%M:%S", ms < 0 ? 0 : ms) < 0) {
        snprintf(buf, size, "?");
    }
    return buf;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A command's option: a flag (sets *flag to 1) or an option taking the next argument. */
struct opt {
    const char *name;
    const char *alias;  /* Flink's long spelling, or NULL */
    int *flag;          /* set to 1 when present (flags) */
    const char **value; /* the next argument (options) */
};

/*
 * Splits a command's arguments: "-m URL" anywhere (Flink accepts it after the command too)
 * overrides *url; the opts table (ending with a NULL name; opts may be NULL) gives the flags
 * and options; other arguments not starting with '-' are positional, between min_pos and
 * max_pos of them, into pos. Prints the problem and usage and returns CLI_USAGE otherwise.
 */
static int parse_args(int argc, char **argv, const char *usage, const char **url, struct opt *opts,
                      const char **pos, int max_pos, int min_pos)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--jobmanager")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cfctl %s: %s needs a URL\nusage: %s\n", argv[0], a, usage);
                return CLI_USAGE;
            }
            *url = argv[++i];
            continue;
        }
        struct opt *o = NULL;
        for (struct opt *k = opts; k && k->name; k++) {
            if (!strcmp(a, k->name) || (k->alias && !strcmp(a, k->alias))) {
                o = k;
            }
        }
        if (o && o->flag) {
            *o->flag = 1;
        } else if (o) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cfctl %s: %s needs a value\nusage: %s\n", argv[0], a, usage);
                return CLI_USAGE;
            }
            *o->value = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cfctl %s: unknown option '%s'\nusage: %s\n", argv[0], a, usage);
            return CLI_USAGE;
        } else if (npos < max_pos) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "cfctl %s: unexpected argument '%s'\nusage: %s\n", argv[0], a, usage);
            return CLI_USAGE;
        }
    }
    if (npos < min_pos) {
        fprintf(stderr, "usage: %s\n", usage);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* GET /jobs/:jid into *job (owned by the caller). */
static int get_job(const struct client *c, const char *jid, cJSON **job, struct cf_err *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/jobs/%s", jid);
    int rc = call(c, "GET", path, NULL, 0, job, err);
    if (rc == 0 && !jstr(*job, "state")) {
        cJSON_Delete(*job);
        *job = NULL;
        rc = cf_err_set(err, CF_EFAILED, "%s%s has no job state", c->base, path);
    }
    return rc;
}

/*
 * Polls the job every interval_ms until its state is terminal; copies the last state seen
 * into state (a terminal one on success). Gives up with CF_ERETRY after timeout_ms (< 0:
 * never); an unreachable coordinator is retried for unreachable_ms, then returned as is.
 */
static int wait_terminal(const struct client *c, const char *jid, int64_t interval_ms,
                         int64_t timeout_ms, int64_t unreachable_ms, char *state, size_t size,
                         struct cf_err *err)
{
    int64_t start = cf_monotonic_ms();
    int64_t down_since = -1;
    for (;;) {
        cJSON *job;
        int rc = get_job(c, jid, &job, err);
        if (rc == 0) {
            down_since = -1;
            snprintf(state, size, "%s", jstr(job, "state"));
            cJSON_Delete(job);
            if (terminal(state)) {
                return 0;
            }
        } else if (rc == CF_EIO || rc == CF_ERETRY) {
            int64_t now = cf_monotonic_ms();
            down_since = down_since < 0 ? now : down_since;
            if (now - down_since >= unreachable_ms) {
                return rc;
            }
        } else {
            return rc;
        }
        if (timeout_ms >= 0 && cf_monotonic_ms() - start >= timeout_ms) {
            return cf_err_set(err, CF_ERETRY, "job %s is still %s after %lld s", jid, state,
                              (long long)(timeout_ms / 1000));
        }
        sleep_ms(interval_ms);
    }
}

/* For a FAILED job: the first line of the latest exception, on stderr (best effort). */
static void print_failure(const struct client *c, const char *jid)
{
    char path[64];
    snprintf(path, sizeof(path), "/jobs/%s/exceptions", jid);
    struct cf_err err;
    cJSON *ex;
    if (call(c, "GET", path, NULL, 0, &ex, &err) != 0) {
        return;
    }
    cJSON *hist = cJSON_GetObjectItemCaseSensitive(ex, "exceptionHistory");
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(hist, "entries"), 0);
    const char *trace = jstr(first, "stacktrace");
    if (trace) {
        fprintf(stderr, "cfctl: job %s failed: %.*s\n", jid, (int)strcspn(trace, "\r\n"), trace);
    }
    cJSON_Delete(ex);
}

/*
 * Triggers an asynchronous operation (POST trigger_path with body, 202 {"request-id"}), then
 * polls status_path/<request-id> until {"status": {"id": "COMPLETED"}}; *operation gets the
 * "operation" object (owned by the caller). A completed operation with a "failure-cause"
 * is a failure, reported with its first line.
 */
static int async_op(const struct client *c, const char *what, const char *trigger_path, cJSON *body,
                    const char *status_path, cJSON **operation)
{
    struct cf_err err;
    char *text = cJSON_PrintUnformatted(body);
    cJSON *trig;
    int rc = call(c, "POST", trigger_path, text, strlen(text), &trig, &err);
    cJSON_free(text);
    if (rc != 0) {
        return report(what, rc, &err);
    }
    const char *rid = jstr(trig, "request-id");
    if (!rid || !*rid || strlen(rid) > 200) {
        cJSON_Delete(trig);
        fprintf(stderr, "cfctl: %s: %s%s answered without a request-id\n", what, c->base,
                trigger_path);
        return CLI_FAILED;
    }
    struct cf_buf path;
    cf_buf_init(&path);
    cf_buf_appendf(&path, "%s/", status_path);
    url_encode(&path, rid);
    cJSON_Delete(trig);
    int64_t start = cf_monotonic_ms();
    int64_t interval = 100;
    *operation = NULL;
    for (;;) {
        cJSON *st;
        rc = call(c, "GET", path.data, NULL, 0, &st, &err);
        if (rc != 0 && rc != CF_ERETRY) {
            break;
        }
        const char *status =
            rc == 0 ? jstr(cJSON_GetObjectItemCaseSensitive(st, "status"), "id") : NULL;
        if (status && !strcmp(status, "COMPLETED")) {
            *operation = cJSON_DetachItemFromObject(st, "operation");
            cJSON_Delete(st);
            break;
        }
        cJSON_Delete(st);
        if (cf_monotonic_ms() - start >= SNAPSHOT_TIMEOUT_MS) {
            rc = cf_err_set(&err, CF_ERETRY, "not completed after %d s (%s%s)",
                            SNAPSHOT_TIMEOUT_MS / 1000, c->base, path.data);
            break;
        }
        sleep_ms(interval);
        interval = interval < 1000 ? interval * 2 : 1000;
    }
    cf_buf_destroy(&path);
    if (rc != 0) {
        return report(what, rc, &err);
    }
    cJSON *cause = cJSON_GetObjectItemCaseSensitive(*operation, "failure-cause");
    if (cause) {
        const char *msg = jstr(cause, "stack-trace");
        msg = msg ? msg : jstr(cause, "class");
        msg = msg ? msg : "no reason given";
        fprintf(stderr, "cfctl: %s: %.*s\n", what, (int)strcspn(msg, "\r\n"), msg);
        cJSON_Delete(*operation);
        *operation = NULL;
        return CLI_FAILED;
    }
    return CLI_OK;
}

/* ---- list --------------------------------------------------------------------------- */

static int by_start_time(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    double tx = jnum(x, "start-time", 0), ty = jnum(y, "start-time", 0);
    if (tx != ty) {
        return tx < ty ? -1 : 1;
    }
    const char *ix = jstr(x, "jid"), *iy = jstr(y, "jid");
    return strcmp(ix ? ix : "", iy ? iy : "");
}

int cf_cli_list(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] list [-a]";
    int all = 0;
    struct opt opts[] = {{"-a", "--all", &all, NULL}, {NULL, NULL, NULL, NULL}};
    struct client c;
    if (parse_args(argc, argv, usage, &url, opts, NULL, 0, 0) || client_init(&c, url)) {
        return CLI_USAGE;
    }
    struct cf_err err;
    cJSON *o;
    int rc = call(&c, "GET", "/jobs/overview", NULL, 0, &o, &err);
    if (rc != 0) {
        return report(NULL, rc, &err);
    }
    cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    if (!cJSON_IsArray(jobs)) {
        fprintf(stderr, "cfctl: %s/jobs/overview answered without a jobs list\n", c.base);
        cJSON_Delete(o);
        return CLI_FAILED;
    }
    int n = cJSON_GetArraySize(jobs);
    const cJSON **sel = cf_calloc((size_t)n + 1, sizeof(*sel));
    int nsel = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const char *state = jstr(j, "state");
        if (jstr(j, "jid") && state && (all || !terminal(state))) {
            sel[nsel++] = j;
        }
    }
    qsort(sel, (size_t)nsel, sizeof(*sel), by_start_time);
    /* Only job lines (no section headers), so scripts can read the output line by line. */
    for (int i = 0; i < nsel; i++) {
        char when[32];
        fmt_time((int64_t)jnum(sel[i], "start-time", 0), when, sizeof(when));
        printf("%s : %s : ", when, jstr(sel[i], "jid"));
        put_clean(jstr(sel[i], "name"));
        printf(" (%s)\n", jstr(sel[i], "state"));
    }
    if (nsel == 0) {
        puts(all ? "No jobs." : "No running jobs.");
    }
    cf_free(sel);
    cJSON_Delete(o);
    return CLI_OK;
}

/* ---- info --------------------------------------------------------------------------- */

/* Prints the checkpoint counts when the server has them (the embedded cluster does not). */
static void print_checkpoints(const struct client *c, const char *jid)
{
    char path[64];
    snprintf(path, sizeof(path), "/jobs/%s/checkpoints", jid);
    struct cf_err err;
    cJSON *cp;
    if (call(c, "GET", path, NULL, 0, &cp, &err) != 0) {
        return;
    }
    cJSON *counts = cJSON_GetObjectItemCaseSensitive(cp, "counts");
    if (counts) {
        printf("Checkpoints: %.0f completed, %.0f failed, %.0f in progress",
               jnum(counts, "completed", 0), jnum(counts, "failed", 0),
               jnum(counts, "in_progress", 0));
        cJSON *latest = cJSON_GetObjectItemCaseSensitive(cp, "latest");
        const char *where =
            jstr(cJSON_GetObjectItemCaseSensitive(latest, "completed"), "external_path");
        if (where) {
            printf("; latest: %s", where);
        }
        putchar('\n');
    }
    cJSON_Delete(cp);
}

/*
 * The start of every "cfctl <command> JOBID": parses the arguments and the id, then reads the
 * job. Returns 0 with *job (caller deletes), or the exit status to return.
 */
static int open_job(const char *url, int argc, char **argv, const char *usage,
                    char jid[JOB_ID_LEN + 1], struct client *c, cJSON **job, struct cf_err *err)
{
    const char *pos[1];
    if (parse_args(argc, argv, usage, &url, NULL, pos, 1, 1) || job_id_arg(argv[0], pos[0], jid) ||
        client_init(c, url)) {
        return CLI_USAGE;
    }
    int rc = get_job(c, jid, job, err);
    return rc == 0 ? 0 : report(NULL, rc, err);
}

int cf_cli_info(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] info JOBID";
    char jid[JOB_ID_LEN + 1];
    struct client c;
    struct cf_err err;
    cJSON *job;
    int rc = open_job(url, argc, argv, usage, jid, &c, &job, &err);
    if (rc != 0) {
        return rc;
    }
    char buf[64];
    printf("Name:        ");
    put_clean(jstr(job, "name"));
    printf("\nJobID:       %s\n", jid);
    printf("State:       %s\n", jstr(job, "state"));
    int64_t start = (int64_t)jnum(job, "start-time", -1);
    int64_t end = (int64_t)jnum(job, "end-time", -1);
    printf("Start time:  %s UTC\n", fmt_time(start, buf, sizeof(buf)));
    if (end >= 0) {
        printf("End time:    %s UTC\n", fmt_time(end, buf, sizeof(buf)));
    }
    printf("Duration:    %s\n", fmt_duration((int64_t)jnum(job, "duration", -1), buf, sizeof(buf)));

    cJSON *vertices = cJSON_GetObjectItemCaseSensitive(job, "vertices");
    int width = (int)strlen("VERTEX");
    const cJSON *v;
    cJSON_ArrayForEach(v, vertices)
    {
        const char *name = jstr(v, "name");
        int len = name ? (int)strlen(name) : 0;
        width = len > width ? len : width;
    }
    printf("\n%-*s  %11s  %-12s  %14s  %14s  %13s\n", width, "VERTEX", "PARALLELISM", "STATUS",
           "RECORDS IN", "RECORDS OUT", "BACKPRESSURED");
    cJSON_ArrayForEach(v, vertices)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "metrics");
        const char *name = jstr(v, "name");
        const char *status = jstr(v, "status");
        put_clean(name);
        printf(
            "%*s  %11.0f  %-12s  %14.0f  %14.0f  %13s\n", width - (name ? (int)strlen(name) : 0),
            "", jnum(v, "parallelism", 0), status ? status : "?", jnum(m, "read-records", 0),
            jnum(m, "write-records", 0),
            fmt_duration((int64_t)jnum(m, "accumulated-backpressured-time", 0), buf, sizeof(buf)));
    }
    putchar('\n');
    print_checkpoints(&c, jid);
    fflush(stdout);
    if (!strcmp(jstr(job, "state"), "FAILED")) {
        print_failure(&c, jid);
    }
    cJSON_Delete(job);
    return CLI_OK;
}

/* ---- cancel ------------------------------------------------------------------------- */

/*
 * Cancels, then polls until the job is terminal. The job is read first, so an unknown or
 * unreachable job fails before anything is sent and a job that already ended is not
 * "cancelled". A server that stops answering after accepting the cancel is reported as an
 * unknown outcome (exit 1), never as a success.
 */
int cf_cli_cancel(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] cancel JOBID";
    char jid[JOB_ID_LEN + 1];
    struct client c;
    struct cf_err err;
    cJSON *job;
    int rc = open_job(url, argc, argv, usage, jid, &c, &job, &err);
    if (rc != 0) {
        return rc;
    }
    char state[32];
    snprintf(state, sizeof(state), "%s", jstr(job, "state"));
    cJSON_Delete(job);
    if (terminal(state)) {
        fprintf(stderr, "cfctl: job %s already ended %s\n", jid, state);
        return CLI_FAILED;
    }
    char path[64];
    snprintf(path, sizeof(path), "/jobs/%s?mode=cancel", jid);
    cJSON *ack;
    rc = call(&c, "PATCH", path, NULL, 0, &ack, &err);
    cJSON_Delete(ack);
    if (rc == 0) {
        /* Accepted: the coordinator is canceling the job (Flink's CANCELLING). */
        snprintf(state, sizeof(state), "CANCELLING");
        rc = wait_terminal(&c, jid, 100, CANCEL_TIMEOUT_MS, 0, state, sizeof(state), &err);
        if (rc == CF_EIO) {
            /* The cancel was accepted but nothing confirms the end: say so, do not guess. */
            fprintf(stderr,
                    "cfctl: %s stopped answering while job %s was CANCELLING; its final state "
                    "is unknown\n",
                    c.base, jid);
            return CLI_FAILED;
        }
    }
    if (rc != 0) {
        return report(NULL, rc, &err);
    }
    if (strcmp(state, "CANCELED") != 0) {
        fprintf(stderr, "cfctl: job %s ended %s before it could be canceled\n", jid, state);
        return CLI_FAILED;
    }
    printf("Cancelled job %s.\n", jid);
    return CLI_OK;
}

/* ---- run ---------------------------------------------------------------------------- */

int cf_cli_run(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] run [-p N] [-s SAVEPOINT] [-n] [--wait] JOB.json";
    const char *par = NULL, *savepoint = NULL, *pos[1];
    int non_restored = 0, wait = 0, parallelism = 0;
    struct opt opts[] = {{"-p", "--parallelism", NULL, &par},
                         {"-s", "--fromSavepoint", NULL, &savepoint},
                         {"-n", "--allowNonRestoredState", &non_restored, NULL},
                         {"--wait", NULL, &wait, NULL},
                         {NULL, NULL, NULL, NULL}};
    struct client c;
    if (parse_args(argc, argv, usage, &url, opts, pos, 1, 1) ||
        (par && cf_cli_parse_int("-p", par, 1, 4096, &parallelism)) || client_init(&c, url)) {
        return CLI_USAGE;
    }
    if (savepoint && !*savepoint) {
        fprintf(stderr, "cfctl run: -s needs a savepoint path\nusage: %s\n", usage);
        return CLI_USAGE;
    }
    /* Check the spec here first: a bad one never reaches the cluster. */
    struct cf_plan *plan;
    int rc = cf_cli_load_plan(pos[0], parallelism, &plan);
    if (rc) {
        return rc;
    }
    cf_plan_destroy(plan);
    char *text;
    size_t len;
    if ((rc = cf_cli_read_spec(pos[0], &text, &len)) != CLI_OK) {
        return rc;
    }
    struct cf_buf path;
    cf_buf_init(&path);
    cf_buf_puts(&path, "/jobs");
    char sep = '?';
    if (parallelism > 0) {
        cf_buf_appendf(&path, "%cparallelism=%d", sep, parallelism);
        sep = '&';
    }
    if (savepoint) {
        cf_buf_appendf(&path, "%csavepointPath=", sep);
        url_encode(&path, savepoint);
        sep = '&';
    }
    if (non_restored) {
        cf_buf_appendf(&path, "%callowNonRestoredState=true", sep);
    }
    struct cf_err err;
    cJSON *resp;
    rc = call(&c, "POST", path.data, text, len, &resp, &err);
    cf_free(text);
    cf_buf_destroy(&path);
    if (rc != 0) {
        char what[512];
        snprintf(what, sizeof(what), "cannot submit %s", pos[0]);
        return report(what, rc, &err);
    }
    char jid[JOB_ID_LEN + 1];
    const char *id = jstr(resp, "jobid");
    if (!id || strlen(id) != JOB_ID_LEN || id[strspn(id, "0123456789abcdefABCDEF")]) {
        fprintf(stderr, "cfctl: %s/jobs accepted %s but answered without a valid jobid\n", c.base,
                pos[0]);
        cJSON_Delete(resp);
        return CLI_FAILED;
    }
    snprintf(jid, sizeof(jid), "%s", id);
    cJSON_Delete(resp);
    printf("Job has been submitted with JobID %s\n", jid);
    fflush(stdout);
    if (!wait) {
        return CLI_OK;
    }
    char state[32] = "CREATED";
    rc = wait_terminal(&c, jid, 500, -1, WAIT_UNREACHABLE_MS, state, sizeof(state), &err);
    if (rc != 0) {
        fprintf(stderr, "cfctl: lost job %s (last seen %s): %s\n", jid, state, err.msg);
        return rc == CF_EINVAL ? CLI_USAGE : CLI_FAILED;
    }
    printf("Job with JobID %s ended in state %s\n", jid, state);
    fflush(stdout);
    if (!strcmp(state, "FAILED")) {
        print_failure(&c, jid);
    }
    return strcmp(state, "FINISHED") == 0 ? CLI_OK : CLI_FAILED;
}

/* ---- savepoint, stop, checkpoint ---------------------------------------------------- */

/* Prints "Savepoint completed. Path: <location>" from a completed savepoint operation. */
static int savepoint_done(const char *what, cJSON *op)
{
    const char *where = jstr(op, "location");
    if (!where) {
        fprintf(stderr, "cfctl: %s: completed without a location\n", what);
        cJSON_Delete(op);
        return CLI_FAILED;
    }
    printf("Savepoint completed. Path: %s\n", where);
    cJSON_Delete(op);
    return CLI_OK;
}

int cf_cli_savepoint(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] savepoint JOBID [DIR]";
    const char *pos[2] = {NULL, NULL};
    char jid[JOB_ID_LEN + 1];
    struct client c;
    if (parse_args(argc, argv, usage, &url, NULL, pos, 2, 1) || job_id_arg(argv[0], pos[0], jid) ||
        client_init(&c, url)) {
        return CLI_USAGE;
    }
    cJSON *body = cJSON_CreateObject();
    if (pos[1]) {
        cJSON_AddStringToObject(body, "target-directory", pos[1]);
    }
    cJSON_AddBoolToObject(body, "cancel-job", 0);
    char trigger[64], what[96];
    snprintf(trigger, sizeof(trigger), "/jobs/%s/savepoints", jid);
    snprintf(what, sizeof(what), "savepoint of job %s", jid);
    cJSON *op;
    int rc = async_op(&c, what, trigger, body, trigger, &op);
    cJSON_Delete(body);
    return rc ? rc : savepoint_done(what, op);
}

int cf_cli_stop(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] stop [-p DIR] [--drain] JOBID";
    const char *dir = NULL, *pos[1];
    int drain = 0;
    struct opt opts[] = {{"-p", "--savepointPath", NULL, &dir},
                         {"--drain", "-d", &drain, NULL},
                         {NULL, NULL, NULL, NULL}};
    char jid[JOB_ID_LEN + 1];
    struct client c;
    if (parse_args(argc, argv, usage, &url, opts, pos, 1, 1) || job_id_arg(argv[0], pos[0], jid) ||
        client_init(&c, url)) {
        return CLI_USAGE;
    }
    cJSON *body = cJSON_CreateObject();
    if (dir) {
        cJSON_AddStringToObject(body, "targetDirectory", dir);
    }
    cJSON_AddBoolToObject(body, "drain", drain);
    char trigger[64], status[64], what[96];
    snprintf(trigger, sizeof(trigger), "/jobs/%s/stop", jid);
    snprintf(status, sizeof(status), "/jobs/%s/savepoints", jid);
    snprintf(what, sizeof(what), "stop of job %s", jid);
    cJSON *op;
    int rc = async_op(&c, what, trigger, body, status, &op);
    cJSON_Delete(body);
    return rc ? rc : savepoint_done(what, op);
}

int cf_cli_checkpoint(const char *url, int argc, char **argv)
{
    static const char usage[] = "cfctl [-m URL] checkpoint JOBID";
    const char *pos[1];
    char jid[JOB_ID_LEN + 1];
    struct client c;
    if (parse_args(argc, argv, usage, &url, NULL, pos, 1, 1) || job_id_arg(argv[0], pos[0], jid) ||
        client_init(&c, url)) {
        return CLI_USAGE;
    }
    cJSON *body = cJSON_CreateObject();
    char trigger[64], what[96];
    snprintf(trigger, sizeof(trigger), "/jobs/%s/checkpoints", jid);
    snprintf(what, sizeof(what), "checkpoint of job %s", jid);
    cJSON *op;
    int rc = async_op(&c, what, trigger, body, trigger, &op);
    cJSON_Delete(body);
    if (rc) {
        return rc;
    }
    printf("Checkpoint %.0f for job %s completed.\n", jnum(op, "checkpointId", -1), jid);
    cJSON_Delete(op);
    return CLI_OK;
}
