/*
 * buf.h - a growable byte buffer for building output (encoded rows, HTTP bodies).
 * Owned by one thread; reuse it across records with cf_buf_reset() to avoid mallocs.
 */
#ifndef CF_BUF_H
#define CF_BUF_H

#include <stddef.h>
#include <string.h>

struct cf_buf {
    char *data; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
};

void cf_buf_init(struct cf_buf *buf);
void cf_buf_destroy(struct cf_buf *buf);
/* Makes room for `extra` more bytes (plus the NUL). */
void cf_buf_reserve(struct cf_buf *buf, size_t extra);
void cf_buf_appendf(struct cf_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void cf_buf_reset(struct cf_buf *buf)
{
    buf->len = 0;
    if (buf->cap) {
        buf->data[0] = '\0';
    }
}

static inline void cf_buf_append(struct cf_buf *buf, const void *p, size_t n)
{
    if (buf->len + n + 1 > buf->cap) {
        cf_buf_reserve(buf, n);
    }
    memcpy(buf->data + buf->len, p, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

static inline void cf_buf_putc(struct cf_buf *buf, char c)
{
    if (buf->len + 2 > buf->cap) {
        cf_buf_reserve(buf, 1);
    }
    buf->data[buf->len++] = c;
    buf->data[buf->len] = '\0';
}

static inline void cf_buf_puts(struct cf_buf *buf, const char *s)
{
    cf_buf_append(buf, s, strlen(s));
}

#endif
