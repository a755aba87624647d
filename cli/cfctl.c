/*
 * cfctl - Creekflow's command line: run jobs locally in an embedded cluster, validate and
 * plan specs, and drive a coordinator's REST API (cmd_cluster.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/base/log.h"
#include "worker/plan.h"

static void usage(FILE *out)
{
    fputs("usage: cfctl [-m URL] <command> [options]\n"
          "\n"
          "commands:\n"
          "  local [-p N] [-q] [--port P] JOB.json\n"
          "                              run a job in an embedded mini cluster until it ends;\n"
          "                              REST API on 127.0.0.1:P (default 8081, 0: any port)\n"
          "  validate JOB.json           check a job spec; problems are named by JSON path\n"
          "  plan [-p N] JOB.json        print the job's task graph (vertices, chains, "
          "exchanges)\n"
          "  docs                        print the operator and connector reference "
          "(Markdown)\n"
          "\n"
          "cluster commands (REST API of the coordinator at -m URL, else $CF_COORDINATOR,\n"
          "else http://127.0.0.1:8081; 'cfctl local' serves list, info and cancel):\n"
          "  run [-p N] [-s SAVEPOINT] [-n] [--wait] JOB.json\n"
          "                              submit a job (-n: allow non-restored state; --wait:\n"
          "                              until it ends, exit 0 only if FINISHED)\n"
          "  list [-a]                   running (-a: all) jobs, one per line:\n"
          "                              <dd.MM.yyyy HH:mm:ss UTC> : <id> : <name> (<STATE>)\n"
          "  info JOBID                  job state, times and vertices with their metrics\n"
          "  cancel JOBID                cancel a job and wait until it is CANCELED\n"
          "  savepoint JOBID [DIR]       trigger a savepoint and print its path\n"
          "  stop [-p DIR] [--drain] JOBID\n"
          "                              stop the job with a savepoint\n"
          "  checkpoint JOBID            trigger a checkpoint now\n"
          "\n"
          "exit status: 0 success, 1 the job or operation failed (or the coordinator cannot\n"
          "be reached), 2 usage or validation error\n",
          out);
}

int cf_cli_parse_int(const char *flag, const char *value, int min, int max, int *out)
{
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || *end || v < min || v > max) {
        fprintf(stderr, "cfctl: %s needs an integer between %d and %d, got '%s'\n", flag, min, max,
                value ? value : "");
        return CLI_USAGE;
    }
    *out = (int)v;
    return CLI_OK;
}

int cf_cli_job_args(int argc, char **argv, const char *usage, struct cf_cli_job_opts *o,
                    const char **path)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-p")) {
            if (cf_cli_parse_int("-p", i + 1 < argc ? argv[++i] : NULL, 1, 4096, &o->parallelism)) {
                return CLI_USAGE;
            }
        } else if (o->local && !strcmp(argv[i], "-q")) {
            o->quiet = 1;
        } else if (o->local && !strcmp(argv[i], "--port")) {
            if (cf_cli_parse_int("--port", i + 1 < argc ? argv[++i] : NULL, 0, 65535, &o->port)) {
                return CLI_USAGE;
            }
            o->port_given = 1;
        } else if (o->local && !strcmp(argv[i], "-s")) {
            o->savepoint = i + 1 < argc ? argv[++i] : "";
            if (!*o->savepoint) {
                fprintf(stderr, "cfctl %s: -s needs a savepoint path\nusage: %s\n", argv[0], usage);
                return CLI_USAGE;
            }
        } else if (o->local && !strcmp(argv[i], "-n")) {
            o->allow_non_restored = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "cfctl %s: unknown option '%s'\nusage: %s\n", argv[0], argv[i], usage);
            return CLI_USAGE;
        } else if (*path) {
            fprintf(stderr, "usage: %s\n", usage);
            return CLI_USAGE;
        } else {
            *path = argv[i];
        }
    }
    if (!*path) {
        fprintf(stderr, "usage: %s\n", usage);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cf_cli_load_plan(const char *path, int parallelism, struct cf_plan **out)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_spec *spec = NULL;
    *out = NULL;
    int rc = cf_spec_load(path, &spec, &err);
    if (rc == 0) {
        rc = cf_plan_build(spec, parallelism, out, &err);
    }
    if (rc == 0) {
        return CLI_OK;
    }
    if (rc == CF_EIO) {
        fprintf(stderr, "cfctl: cannot read job spec %s\n", err.msg);
        return CLI_USAGE;
    }
    fprintf(stderr, "cfctl: invalid job spec %s:\n", path);
    char *msgs = err.msg;
    for (char *line = strtok(msgs, "\n"); line; line = strtok(NULL, "\n")) {
        fprintf(stderr, "  %s\n", line);
    }
    return CLI_USAGE;
}

/* The server refuses larger bodies (docs/rest-api.md); say so before sending. */
#define MAX_SPEC_BYTES (16 * 1024 * 1024)

int cf_cli_read_spec(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct cf_buf b;
    cf_buf_init(&b);
    char chunk[65536];
    size_t n;
    int rc = CLI_OK;
    if (!f) {
        fprintf(stderr, "cfctl: cannot read job spec %s: %s\n", path, strerror(errno));
        return CLI_USAGE;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > MAX_SPEC_BYTES) {
            fprintf(stderr, "cfctl: job spec %s is larger than %d MiB\n", path,
                    MAX_SPEC_BYTES >> 20);
            rc = CLI_USAGE;
            break;
        }
        cf_buf_append(&b, chunk, n);
    }
    if (rc == CLI_OK && ferror(f)) {
        fprintf(stderr, "cfctl: cannot read job spec %s: %s\n", path, strerror(errno));
        rc = CLI_USAGE;
    }
    fclose(f);
    if (rc != CLI_OK) {
        cf_buf_destroy(&b);
        return rc;
    }
    *len = b.len;
    *text = b.data ? b.data : cf_strdup("");
    return CLI_OK;
}

int main(int argc, char **argv)
{
    int i = 1;
    const char *url = NULL; /* the coordinator: used by cluster commands */
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_OK;
        }
        if (!strcmp(argv[i], "-m")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cfctl: -m needs a coordinator URL\n");
                return CLI_USAGE;
            }
            url = argv[i + 1];
            i += 2;
            continue;
        }
        fprintf(stderr, "cfctl: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    if (!strcmp(cmd, "local")) {
        return cf_cli_local(sub_argc, sub_argv);
    }
    if (!strcmp(cmd, "validate")) {
        return cf_cli_validate(sub_argc, sub_argv);
    }
    if (!strcmp(cmd, "plan")) {
        return cf_cli_plan(sub_argc, sub_argv);
    }
    if (!strcmp(cmd, "docs")) {
        return cf_cli_docs(sub_argc, sub_argv);
    }
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(const char *url, int argc, char **argv);
    } cluster[] = {
        {"run", cf_cli_run},
        {"list", cf_cli_list},
        {"info", cf_cli_info},
        {"cancel", cf_cli_cancel},
        {"savepoint", cf_cli_savepoint},
        {"stop", cf_cli_stop},
        {"checkpoint", cf_cli_checkpoint},
    };
    for (size_t k = 0; k < sizeof(cluster) / sizeof(cluster[0]); k++) {
        if (!strcmp(cmd, cluster[k].name)) {
            return cluster[k].fn(url, sub_argc, sub_argv);
        }
    }
    fprintf(stderr, "cfctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
