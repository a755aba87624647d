#include "buf.h"

#include <stdarg.h>
#include <stdio.h>

#include "mem.h"

void cf_buf_init(struct cf_buf *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void cf_buf_destroy(struct cf_buf *buf)
{
    cf_free(buf->data);
    cf_buf_init(buf);
}

void cf_buf_reserve(struct cf_buf *buf, size_t extra)
{
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap) {
        return;
    }
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    buf->data = cf_realloc(buf->data, cap);
    buf->cap = cap;
    buf->data[buf->len] = '\0';
}

void cf_buf_appendf(struct cf_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    cf_buf_reserve(buf, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}
