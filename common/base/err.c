#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cf_strerror(int code)
{
    switch (code) {
#define CF_ERR_CASE(name, value, msg)                                                              \
    case name: return msg;
        CF_ERRORS(CF_ERR_CASE)
#undef CF_ERR_CASE
    }
    return "unknown error";
}

int cf_err_set(struct cf_err *err, int code, const char *fmt, ...)
{
    if (err) {
        /* Formatted aside first: the arguments may include err->msg itself ("x: %s"). */
        char msg[sizeof(err->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        err->code = code;
        memcpy(err->msg, msg, sizeof(msg));
    }
    return code;
}

int cf_err_append(struct cf_err *err, int code, const char *fmt, ...)
{
    if (err) {
        size_t len = err->code ? strlen(err->msg) : 0;
        if (len && len + 2 < sizeof(err->msg)) {
            err->msg[len++] = '\n';
        }
        if (!err->code) {
            err->code = code;
        }
        if (len + 1 < sizeof(err->msg)) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg + len, sizeof(err->msg) - len, fmt, ap);
            va_end(ap);
        }
    }
    return err ? err->code : code;
}

void cf_err_clear(struct cf_err *err)
{
    if (err) {
        err->code = CF_OK;
        err->msg[0] = '\0';
    }
}
