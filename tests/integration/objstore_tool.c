/*
 * objstore_tool.c - a command-line driver of common/objstore for the integration test
 * (tests/integration/0010-objstore.sh builds it against the library and runs it against a
 * local S3 server). One operation per run, so a test can prepare an upload in one process
 * and commit it in another, as a restarted job does.
 *
 *   objstore_tool put URL < data           objstore_tool get URL > data
 *   objstore_tool put-file URL PATH        objstore_tool get-file URL PATH
 *   objstore_tool delete URL               objstore_tool delete-prefix URL
 *   objstore_tool list URL                 (prints "<url> <size>" lines)
 *   objstore_tool exists URL               (prints 1 or 0)
 *   objstore_tool prepare URL < data       (begin, writes in uneven chunks, prepare: prints
 *                                           the token)
 *   objstore_tool discard URL < data       (begin, write, discard)
 *   objstore_tool commit TOKEN             objstore_tool abort TOKEN
 *   objstore_tool threads URL N            (N threads put, get, compare, delete
 *                                           URL/t<i>/obj at once)
 * CF_OBJ_PART_SIZE and CF_OBJ_LIST_PAGE (environment) set the part size and the listing
 * page size. Exit status: 0, 3 for CF_ENOENT, 1 for other errors ("error: <code>: <msg>"
 * on stderr).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/objstore/objstore.h"

static int fail(int rc, const struct cf_err *err)
{
    fprintf(stderr, "error: %s: %s\n", cf_strerror(rc), err->msg);
    return rc == CF_ENOENT ? 3 : 1;
}

static void read_stdin(struct cf_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        cf_buf_append(b, chunk, n);
    }
}

static int print_entry(void *arg, const char *url, uint64_t size)
{
    (void)arg;
    printf("%s %llu\n", url, (unsigned long long)size);
    return 0;
}

/* Writes b through an upload in chunks of uneven sizes (1, 2, 4, ... bytes, then 1 MiB at
 * most), so parts are filled across write calls. */
static int write_uneven(struct cf_obj_upload *up, const struct cf_buf *b, struct cf_err *err)
{
    size_t off = 0, n = 1;
    while (off < b->len) {
        size_t len = b->len - off < n ? b->len - off : n;
        int rc = cf_obj_upload_write(up, b->data + off, len, err);
        if (rc < 0) {
            return rc;
        }
        off += len;
        n = n < (1u << 20) ? n * 2 + 1 : n;
    }
    return 0;
}

struct thread_arg {
    const char *base;
    int index;
    int failed;
    struct cf_err err;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    char name[32];
    snprintf(name, sizeof(name), "t%d/obj", a->index);
    char *url = cf_obj_join(a->base, name);
    struct cf_buf data, got;
    cf_buf_init(&data);
    cf_buf_init(&got);
    for (int i = 0; i < 20000 + a->index * 1000; i++) {
        cf_buf_putc(&data, (char)('a' + (i + a->index) % 26));
    }
    for (int round = 0; round < 5 && !a->failed; round++) {
        cf_buf_reset(&got);
        if (cf_obj_put(url, data.data, data.len, &a->err) < 0 ||
            cf_obj_get(url, &got, &a->err) < 0) {
            a->failed = 1;
        } else if (got.len != data.len || memcmp(got.data, data.data, data.len) != 0) {
            cf_err_set(&a->err, CF_EIO, "%s: read back other content", url);
            a->failed = 1;
        } else if (cf_obj_delete(url, &a->err) < 0 || cf_obj_exists(url, &a->err) != 0) {
            a->failed = 1;
        }
    }
    cf_buf_destroy(&data);
    cf_buf_destroy(&got);
    free(url);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: objstore_tool COMMAND ARG... (see the source)\n");
        return 2;
    }
    if (getenv("CF_OBJ_PART_SIZE")) {
        cf_obj_set_part_size((size_t)strtoull(getenv("CF_OBJ_PART_SIZE"), NULL, 10));
    }
    if (getenv("CF_OBJ_LIST_PAGE")) {
        cf_obj_set_list_page_size((unsigned)strtoul(getenv("CF_OBJ_LIST_PAGE"), NULL, 10));
    }
    const char *cmd = argv[1], *arg = argv[2];
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_buf b;
    cf_buf_init(&b);
    int rc = 0;

    if (strcmp(cmd, "put") == 0) {
        read_stdin(&b);
        rc = cf_obj_put(arg, b.data ? b.data : "", b.len, &err);
    } else if (strcmp(cmd, "get") == 0) {
        rc = cf_obj_get(arg, &b, &err);
        if (rc == 0 && b.len) {
            fwrite(b.data, 1, b.len, stdout);
        }
    } else if (strcmp(cmd, "put-file") == 0 && argc == 4) {
        rc = cf_obj_put_file(arg, argv[3], &err);
    } else if (strcmp(cmd, "get-file") == 0 && argc == 4) {
        rc = cf_obj_get_file(arg, argv[3], &err);
    } else if (strcmp(cmd, "delete") == 0) {
        rc = cf_obj_delete(arg, &err);
    } else if (strcmp(cmd, "delete-prefix") == 0) {
        rc = cf_obj_delete_prefix(arg, &err);
    } else if (strcmp(cmd, "list") == 0) {
        rc = cf_obj_list(arg, print_entry, NULL, &err);
    } else if (strcmp(cmd, "exists") == 0) {
        rc = cf_obj_exists(arg, &err);
        if (rc >= 0) {
            printf("%d\n", rc);
            rc = 0;
        }
    } else if (strcmp(cmd, "prepare") == 0 || strcmp(cmd, "discard") == 0) {
        struct cf_obj_upload *up = NULL;
        read_stdin(&b);
        rc = cf_obj_upload_begin(arg, &up, &err);
        if (rc == 0) {
            rc = write_uneven(up, &b, &err);
        }
        if (rc == 0 && strcmp(cmd, "prepare") == 0) {
            char *token = NULL;
            rc = cf_obj_upload_prepare(up, &token, &err);
            up = NULL;
            if (rc == 0) {
                printf("%s\n", token);
            }
            free(token);
        }
        cf_obj_upload_discard(up);
    } else if (strcmp(cmd, "commit") == 0) {
        rc = cf_obj_upload_commit(arg, &err);
    } else if (strcmp(cmd, "abort") == 0) {
        rc = cf_obj_upload_abort(arg, &err);
    } else if (strcmp(cmd, "threads") == 0 && argc == 4) {
        int n = atoi(argv[3]);
        pthread_t tids[64];
        struct thread_arg args[64];
        if (n < 1 || n > 64) {
            return 2;
        }
        for (int i = 0; i < n; i++) {
            args[i] = (struct thread_arg){.base = arg, .index = i};
            cf_err_clear(&args[i].err);
            pthread_create(&tids[i], NULL, thread_main, &args[i]);
        }
        for (int i = 0; i < n; i++) {
            pthread_join(tids[i], NULL);
            if (args[i].failed && rc == 0) {
                err = args[i].err;
                rc = err.code ? err.code : CF_EIO;
            }
        }
    } else {
        fprintf(stderr, "objstore_tool: unknown command or arguments: %s\n", cmd);
        return 2;
    }
    cf_buf_destroy(&b);
    return rc < 0 ? fail(rc, &err) : 0;
}
