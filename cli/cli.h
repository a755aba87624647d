/*
 * cli.h - cfctl's commands. Exit status (DESIGN.md section 8): 0 success, 1 the operation or
 * the job failed, 2 usage or validation error.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include <stddef.h>

#include "common/base/err.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cf_cli_local(int argc, char **argv);
int cf_cli_validate(int argc, char **argv);
int cf_cli_plan(int argc, char **argv);
int cf_cli_docs(int argc, char **argv);

/*
 * Cluster commands (cmd_cluster.c): clients of a coordinator's REST API. url is the global
 * -m value, or NULL for $CF_COORDINATOR, then http://127.0.0.1:8081 ("host:port" means
 * http); a "-m URL" after the command overrides it. argv[0] is the command. They block on
 * HTTP requests (10 s each) and polls with their own deadlines; main thread.
 */
int cf_cli_run(const char *url, int argc, char **argv);
int cf_cli_list(const char *url, int argc, char **argv);
int cf_cli_info(const char *url, int argc, char **argv);
int cf_cli_cancel(const char *url, int argc, char **argv);
int cf_cli_savepoint(const char *url, int argc, char **argv);
int cf_cli_stop(const char *url, int argc, char **argv);
int cf_cli_checkpoint(const char *url, int argc, char **argv);

/* Loads and plans a spec file; on failure prints the problems and returns CLI_USAGE. */
struct cf_plan;
int cf_cli_load_plan(const char *path, int parallelism, struct cf_plan **out);
/* Reads a whole spec file (the caller frees *text); prints why it cannot. */
int cf_cli_read_spec(const char *path, char **text, size_t *len);

struct cf_cli_job_opts {
    int local; /* also accept cfctl local's options below -p */
    int parallelism;
    int quiet;
    int port; /* the REST API's */
    int port_given;
    const char *savepoint;
    int allow_non_restored;
};
/*
 * Parses "[-p N] JOB.json", plus "[-q] [--port P] [-s SAVEPOINT] [-n]" when o->local (argv[0]
 * is the command). On a usage error prints it with `usage` and returns CLI_USAGE.
 */
int cf_cli_job_args(int argc, char **argv, const char *usage, struct cf_cli_job_opts *o,
                    const char **path);
/* Parses a positive int option value; prints an error naming the flag on failure. */
int cf_cli_parse_int(const char *flag, const char *value, int min, int max, int *out);

#endif
