/*
 * err.h - the one error enum of Creekflow, and struct cf_err for errors a user can cause.
 *
 * Functions return int: 0 on success, a negative CF_E* code on failure. Where the failure
 * can be caused by the user (a spec, a config key, a connector setting), the function also
 * takes a struct cf_err * and writes a message that says what and where (a JSON path, a
 * file name) - never a secret.
 */
#ifndef CF_ERR_H
#define CF_ERR_H

#include <stddef.h>

/* X-macro: code name, value, message. cf_strerror() is generated from this list. */
#define CF_ERRORS(X)                                                                               \
    X(CF_OK, 0, "success")                                                                         \
    X(CF_EINVAL, -1, "invalid argument")                                                           \
    X(CF_ENOMEM, -2, "out of memory")                                                              \
    X(CF_EIO, -3, "input/output error")                                                            \
    X(CF_ENOENT, -4, "not found")                                                                  \
    X(CF_EAGAIN, -5, "not ready, call again")                                                      \
    X(CF_ERETRY, -6, "transient failure, retry with backoff")                                      \
    X(CF_EPARSE, -7, "parse error")                                                                \
    X(CF_ETYPE, -8, "type mismatch")                                                               \
    X(CF_ESPEC, -9, "invalid job spec")                                                            \
    X(CF_EEOF, -10, "end of input")                                                                \
    X(CF_ECANCELED, -11, "canceled")                                                               \
    X(CF_ERANGE, -12, "value out of range")                                                        \
    X(CF_EEXIST, -13, "already exists")                                                            \
    X(CF_EUNSUPPORTED, -14, "not supported")                                                       \
    X(CF_EFAILED, -15, "operation failed")

enum cf_errcode {
#define CF_ERR_ENUM(name, value, msg) name = value,
    CF_ERRORS(CF_ERR_ENUM)
#undef CF_ERR_ENUM
};

/* Message of a CF_E* code; never NULL. Any thread. */
const char *cf_strerror(int code);

#define CF_ERR_MSG_MAX 2048

/* A user-facing error: the code plus a message naming what and where. */
struct cf_err {
    int code;
    char msg[CF_ERR_MSG_MAX];
};

/* Sets err (if not NULL) and returns code, so callers can write `return cf_err_set(...)`. */
int cf_err_set(struct cf_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like cf_err_set, but when err already holds a message, appends this one on a new line
 * (validation reports every problem it finds, not only the first). Keeps the first code. */
int cf_err_append(struct cf_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to CF_OK and an empty message. */
void cf_err_clear(struct cf_err *err);

#endif
