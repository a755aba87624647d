/*
 * sink.redis - writes rows to Redis: SET (the row as JSON, or an expression's value), HSET (one
 * hash field per row field) or INCRBY (an int expression), with an optional TTL and an
 * optional Pub/Sub notification per write. docs/connectors-redis.md is the user's guide.
 *
 * One blocking hiredis connection per subtask. Every batch becomes one pipeline: the
 * commands of all its rows are encoded in RESP into one reused buffer (no malloc per
 * record) and written at once; then the replies of the previous batch are read. One batch
 * is thus in flight while the next is encoded, which hides the round trip and keeps Redis
 * busy. Its replies are read by the next batch, by a timer FLUSH_AFTER_MS later, or by
 * snapshot() and finish(), which wait for every reply: when a checkpoint barrier reaches
 * the sink, everything before it is acknowledged by Redis.
 *
 * Failures: the buffer keeps every command until it has its reply. When the connection
 * breaks (or Redis answers LOADING, BUSY, ...), the sink reconnects with backoff (100 ms
 * doubling to 5 s) and resends, in order, from the first command without a reply: a command
 * whose reply was lost may run twice, so SET and HSET (idempotent) end in the same state and
 * INCRBY and PUBLISH are at-least-once. Any other error reply (WRONGTYPE, OOM, a wrong
 * password) fails the job, naming the address, the command and the key.
 *
 * Replies are decoded by reply-object callbacks that allocate nothing: they only remember
 * whether a reply was an error, and its text (hiredis would malloc a redisReply per reply).
 */
#include <errno.h>
#include <signal.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/buf.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/strutil.h"
#include "common/base/timeutil.h"
#include "common/data/expr.h"
#include "common/data/json_codec.h"
#include "worker/op.h"

enum redis_mode { MODE_SET, MODE_HSET, MODE_INCRBY };

struct redis_conf {
    char *address;
    char *key;
    char *value;
    int mode;
    int64_t ttl;
    char *publish;
    int64_t database;
    char *key_null;
    int64_t connect_timeout;
    int64_t reconnect_timeout;
    int64_t io_timeout;
};

static const struct cf_conf_key redis_keys[] = {
    {"address", CF_CONF_STRING, 0, "127.0.0.1:6379", offsetof(struct redis_conf, address), NULL,
     "Redis server: \"host:port\", \"host\" (port 6379), \"[::1]:6379\" or "
     "\"redis://[[user]:password@]host[:port][/db]\"."},
    {"key", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct redis_conf, key), NULL,
     "Key template: text with {field} values, e.g. \"analytics:{user_type}:{window_start}\". "
     "Timestamps are ISO-8601 UTC unless formatted as {field:%Y-%m-%d}; {{ and }} are literal "
     "braces."},
    {"value", CF_CONF_STRING, 0, "json", offsetof(struct redis_conf, value), NULL,
     "set: \"json\" (the row as a JSON object) or an expression whose value is stored as text; "
     "incrby: an int expression (the increment); hset: not used. A NULL value skips the row."},
    {"mode", CF_CONF_ENUM, 0, "set", offsetof(struct redis_conf, mode), "set|hset|incrby",
     "set: SET key value; hset: HSET key with one hash field per row field (NULL fields are "
     "removed with HDEL); incrby: INCRBY key value."},
    {"ttl", CF_CONF_DURATION, 0, "0s", offsetof(struct redis_conf, ttl), NULL,
     "Expiry set with every write (SET ... EX, else EXPIRE after the write); 0s: none."},
    {"publish", CF_CONF_STRING, 0, NULL, offsetof(struct redis_conf, publish), NULL,
     "Pub/Sub channel: after each write, PUBLISH {\"key\": K, \"value\": V} to it; V is the "
     "row object (json value, hset), the expression's value, or the increment (incrby)."},
    {"database", CF_CONF_INT, 0, "0", offsetof(struct redis_conf, database), NULL,
     "Database number (SELECT); a redis:// address may give it instead as /db."},
    {"key_null", CF_CONF_STRING, 0, "null", offsetof(struct redis_conf, key_null), NULL,
     "Text put into the key for a NULL field (the row is written)."},
    {"connect_timeout", CF_CONF_DURATION, 0, "30s", offsetof(struct redis_conf, connect_timeout),
     NULL, "At start, how long to retry connecting before the job fails."},
    {"reconnect_timeout", CF_CONF_DURATION, 0, "10m",
     offsetof(struct redis_conf, reconnect_timeout), NULL,
     "After a lost connection, how long to retry (with backoff) before the job fails; 0s: "
     "forever."},
    {"io_timeout", CF_CONF_DURATION, 0, "10s", offsetof(struct redis_conf, io_timeout), NULL,
     "A read or write waiting longer than this counts as a lost connection."},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

/* A key template segment: literal bytes, or a field (with a strftime format for
 * timestamps). */
struct kseg {
    char *text; /* literal (NUL-terminated, may be empty), or NULL for a field */
    size_t len;
    int field;
    char *fmt; /* timestamp format, or NULL for ISO-8601 */
};

struct redis_prep {
    /* The server. `display` is host:port for messages (never the password). */
    char *host;
    int port;
    int64_t db;
    char *user;
    char *password;
    char display[300];
    struct kseg *segs;
    int nsegs;
    struct cf_expr *value; /* NULL: the row as JSON */
};

/* Backoff between connection attempts. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* Most commands one row can need: HDEL, HSET, EXPIRE, PUBLISH. */
#define CMDS_PER_ROW 4
/* When no batch follows, the replies of the last one are read this long after it. */
#define FLUSH_AFTER_MS 100

struct redis_state {
    redisContext *ctx;
    struct cf_json_encoder *enc;
    /* The value expression's result for the current batch. */
    struct cf_expr_eval_ctx *vctx;
    struct cf_col vcol;
    uint32_t vcap;
    struct cf_arena varena;

    /* The pipeline: RESP text of the commands not yet acknowledged, command i starting at
     * offs[i]. Commands [0, acked) have their reply; [0, sent) were written on the current
     * connection; the next reply read is for command rpos (acked <= rpos <= sent <= ncmds;
     * rpos > acked only while replies after a transient error are drained, `retry`). */
    struct cf_buf cmds;
    size_t *offs;
    uint32_t ncmds;
    uint32_t cap_offs;
    uint32_t acked;
    uint32_t sent;
    uint32_t rpos;
    int retry;
    int timer_set; /* an on_timer flush is scheduled */

    /* Per-row scratch, reused. */
    struct cf_buf key;
    struct cf_buf val;
    struct cf_buf pub;

    /* Precomputed RESP pieces. */
    struct cf_buf ttl_set;    /* "$2\r\nEX\r\n$<n>\r\n<n>\r\n" (SET's expiry arguments) */
    struct cf_buf ttl_expire; /* "$6\r\nEXPIRE\r\n" or "$7\r\nPEXPIRE\r\n" */
    struct cf_buf ttl_arg;    /* "$<n>\r\n<n>\r\n" */
    struct cf_buf channel;    /* "$<n>\r\n<channel>\r\n" */
    struct cf_buf *fields;    /* per input field: "$<n>\r\n<name>\r\n" */

    /* Reply decoding (see reply_*). */
    int last_error;       /* the last reply read was an error */
    char errmsg[256];     /* its text */
    int64_t backoff_ms;   /* next wait between attempts */
    int64_t outage_since; /* monotonic ms of the first failure of the current outage, or 0 */

    uint64_t written;    /* rows written */
    uint64_t skipped;    /* rows with a NULL value (set with an expression, incrby) */
    uint64_t reconnects; /* connections made after the first */
    uint64_t resent;     /* commands sent again after a failure */
};

/* ---- spec time ---- */

static void prep_free(struct redis_prep *prep)
{
    if (!prep) {
        return;
    }
    cf_free(prep->host);
    cf_free(prep->user);
    cf_free(prep->password);
    for (int i = 0; i < prep->nsegs; i++) {
        cf_free(prep->segs[i].text);
        cf_free(prep->segs[i].fmt);
    }
    cf_free(prep->segs);
    cf_expr_destroy(prep->value);
    cf_free(prep);
}

/* Parses "host:port", "host", "[v6]:port" or "redis://[[user]:password@]host[:port][/db]".
 * Messages quote the address without its user and password. */
static int parse_address(struct redis_prep *prep, const char *address, int *url_db,
                         const char *path, struct cf_err *err)
{
    char addr[256]; /* for messages */
    const char *at_sign = strrchr(address, '@');
    if (strncmp(address, "redis://", 8) == 0 && at_sign) {
        snprintf(addr, sizeof(addr), "redis://...@%s", at_sign + 1);
    } else {
        snprintf(addr, sizeof(addr), "%s", address);
    }
    const char *p = address;
    const char *end = address + strlen(address);
    *url_db = -1;
    if (strncmp(p, "rediss://", 9) == 0) {
        return cf_err_append(err, CF_EUNSUPPORTED,
                             "%s.address: TLS (rediss://) is not supported; use redis://", path);
    }
    if (strncmp(p, "redis://", 8) == 0) {
        p += 8;
        const char *slash = strchr(p, '/');
        const char *hostend = slash ? slash : end;
        const char *at = NULL;
        for (const char *q = p; q < hostend; q++) {
            if (*q == '@') {
                at = q;
            }
        }
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            if (colon) {
                if (colon > p) {
                    prep->user = cf_strndup(p, (size_t)(colon - p));
                }
                prep->password = cf_strndup(colon + 1, (size_t)(at - colon - 1));
            } else {
                prep->password = cf_strndup(p, (size_t)(at - p)); /* redis://password@host */
            }
            p = at + 1;
        }
        if (slash && slash[1]) {
            int64_t db = 0;
            if (cf_int_parse(slash + 1, strlen(slash + 1), &db) != 0 || db < 0 || db > 1000000) {
                return cf_err_append(err, CF_ESPEC,
                                     "%s.address: database '%s' after the host is not a number",
                                     path, slash + 1);
            }
            *url_db = (int)db;
        }
        end = hostend;
    }
    const char *host = p;
    const char *hostlast; /* one past the host */
    const char *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) {
            return cf_err_append(err, CF_ESPEC, "%s.address: unclosed '[' in \"%s\"", path, addr);
        }
        host = p + 1;
        hostlast = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                return cf_err_append(err, CF_ESPEC, "%s.address: expected ':' after ']' in \"%s\"",
                                     path, addr);
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hostlast = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
    }
    if (hostlast == host) {
        return cf_err_append(err, CF_ESPEC, "%s.address: no host in \"%s\" (use host:port)", path,
                             addr);
    }
    prep->host = cf_strndup(host, (size_t)(hostlast - host));
    prep->port = 6379;
    if (port) {
        int64_t v = 0;
        if (cf_int_parse(port, (size_t)(end - port), &v) != 0 || v < 1 || v > 65535) {
            return cf_err_append(err, CF_ESPEC, "%s.address: bad port in \"%s\"", path, addr);
        }
        prep->port = (int)v;
    }
    snprintf(prep->display, sizeof(prep->display), strchr(prep->host, ':') ? "[%s]:%d" : "%s:%d",
             prep->host, prep->port);
    return 0;
}

static int parse_key(struct redis_prep *prep, const char *tpl, const struct cf_schema *in,
                     const char *path, struct cf_err *err)
{
    struct cf_buf lit;
    cf_buf_init(&lit);
    int rc = 0;
    const char *p = tpl;
    for (;;) {
        /* A literal run, with {{ and }} unescaped. */
        while (*p && !(*p == '{' && p[1] != '{') && !(*p == '}' && p[1] != '}')) {
            if ((*p == '{' || *p == '}') && p[1] == *p) {
                p++;
            }
            cf_buf_putc(&lit, *p++);
        }
        if (lit.len) {
            prep->segs = cf_realloc(prep->segs, (size_t)(prep->nsegs + 1) * sizeof(struct kseg));
            prep->segs[prep->nsegs++] =
                (struct kseg){.text = cf_strndup(lit.data, lit.len), .len = lit.len, .field = -1};
            cf_buf_reset(&lit);
        }
        if (!*p) {
            break;
        }
        if (*p == '}') {
            rc = cf_err_append(err, CF_ESPEC, "%s.key: unmatched '}' (write }} for a brace)", path);
            break;
        }
        const char *close = strchr(p, '}');
        if (!close) {
            rc = cf_err_append(err, CF_ESPEC, "%s.key: unclosed '{' (write {{ for a brace)", path);
            break;
        }
        char *ref = cf_strndup(p + 1, (size_t)(close - p - 1));
        char *fmt = NULL;
        int f = cf_schema_find(in, ref);
        char *colon = strchr(ref, ':');
        if (f < 0 && colon) {
            *colon = '\0';
            fmt = colon + 1;
            f = cf_schema_find(in, ref);
        }
        if (f < 0) {
            rc = cf_err_append(err, CF_ESPEC, "%s.key: unknown field '%s' in {%.*s}", path, ref,
                               (int)(close - p - 1), p + 1);
        } else if (fmt && in->fields[f].type != CF_TYPE_TIMESTAMP) {
            rc = cf_err_append(err, CF_ESPEC,
                               "%s.key: {%s:...} formats timestamps, but '%s' is a %s field", path,
                               ref, ref, cf_type_name(in->fields[f].type));
        } else {
            const char *bad = NULL;
            if (fmt && (!*fmt || cf_ts_strftime_check(fmt, &bad) != 0)) {
                rc = cf_err_append(err, CF_ESPEC,
                                   "%s.key: bad time format '%s' in {%s:%s} (use %%Y %%m %%d %%H "
                                   "%%M %%S %%j %%a %%u %%w %%y %%e %%F %%T %%s %%L)",
                                   path, bad ? bad : "", ref, fmt);
            } else {
                prep->segs =
                    cf_realloc(prep->segs, (size_t)(prep->nsegs + 1) * sizeof(struct kseg));
                prep->segs[prep->nsegs++] =
                    (struct kseg){.text = NULL, .field = f, .fmt = fmt ? cf_strdup(fmt) : NULL};
            }
        }
        cf_free(ref);
        if (rc) {
            break;
        }
        p = close + 1;
    }
    cf_buf_destroy(&lit);
    return rc;
}

static int redis_configure(struct cf_op_decl *decl, struct cf_err *err)
{
    const struct redis_conf *conf = decl->conf;
    const char *path = decl->path;
    struct redis_prep *prep = cf_new(struct redis_prep);
    decl->prep = prep;
    int bad = 0;
    int url_db = -1;
    if (parse_address(prep, conf->address, &url_db, path, err) != 0) {
        bad = CF_ESPEC;
    }
    prep->db = conf->database;
    if (conf->database < 0) {
        bad = cf_err_append(err, CF_ESPEC, "%s.database: must not be negative", path);
    }
    if (url_db >= 0) {
        if (cf_conf_is_set(decl->spec->json, "database") && conf->database != url_db) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.database: %lld contradicts the database /%d in address", path,
                                (long long)conf->database, url_db);
        }
        prep->db = url_db;
    }
    if (parse_key(prep, conf->key, decl->in_schema, path, err) != 0) {
        bad = CF_ESPEC;
    }
    if (conf->ttl < 0) {
        bad = cf_err_append(err, CF_ESPEC, "%s.ttl: must not be negative", path);
    }
    if (conf->publish && !conf->publish[0]) {
        bad = cf_err_append(err, CF_ESPEC, "%s.publish: must not be empty", path);
    }
    if (conf->connect_timeout < 1 || conf->io_timeout < 1) {
        bad = cf_err_append(err, CF_ESPEC, "%s.%s: must be positive", path,
                            conf->connect_timeout < 1 ? "connect_timeout" : "io_timeout");
    }
    int value_json = strcmp(conf->value, "json") == 0;
    if (conf->mode == MODE_HSET && cf_conf_is_set(decl->spec->json, "value")) {
        bad = cf_err_append(err, CF_ESPEC,
                            "%s.value: not used in hset mode (the hash fields are the row's "
                            "fields; add a select before the sink to choose them)",
                            path);
    } else if (conf->mode == MODE_INCRBY && value_json) {
        bad = cf_err_append(err, CF_ESPEC,
                            "%s.value: incrby needs an int expression (the increment), such as "
                            "\"1\" or \"queries\"",
                            path);
    } else if (conf->mode != MODE_HSET && !value_json) {
        struct cf_err e;
        cf_err_clear(&e);
        prep->value = cf_expr_parse(conf->value, &e);
        if (!prep->value || cf_expr_bind(prep->value, decl->in_schema, &e) != 0) {
            bad = cf_err_append(err, CF_ESPEC, "%s.value: %s", path, e.msg);
        } else if (cf_expr_type(prep->value) == CF_TYPE_NULL) {
            bad = cf_err_append(err, CF_ESPEC, "%s.value: a bare NULL has no value to write", path);
        } else if (conf->mode == MODE_INCRBY && cf_expr_type(prep->value) != CF_TYPE_INT) {
            bad = cf_err_append(err, CF_ESPEC,
                                "%s.value: incrby needs an int expression, \"%s\" is %s", path,
                                conf->value, cf_type_name(cf_expr_type(prep->value)));
        }
    }
    return bad ? CF_ESPEC : 0;
}

static void redis_unconfigure(struct cf_op_decl *decl)
{
    prep_free(decl->prep);
    decl->prep = NULL;
}

/* ---- RESP encoding ---- */

/* Appends "$<n>\r\n". */
static inline void put_bulk_header(struct cf_buf *out, size_t n)
{
    char tmp[24];
    tmp[0] = '$';
    size_t k = 1 + cf_int_format((int64_t)n, tmp + 1);
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    cf_buf_append(out, tmp, k);
}

static inline void put_bulk(struct cf_buf *out, const void *p, size_t n)
{
    put_bulk_header(out, n);
    cf_buf_append(out, p, n);
    cf_buf_append(out, "\r\n", 2);
}

/* Appends "*<n>\r\n" (the start of a command of n arguments). */
static inline void put_array(struct cf_buf *out, size_t n)
{
    char tmp[24];
    tmp[0] = '*';
    size_t k = 1 + cf_int_format((int64_t)n, tmp + 1);
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    cf_buf_append(out, tmp, k);
}

/* Text of a non-NULL value: strings raw, numbers in decimal (doubles in their shortest
 * round-trip form), bools as true/false, timestamps as ISO-8601 UTC. Returns a pointer to the
 * bytes (into the column or into tmp, which holds 40 bytes) and their length. */
static inline const char *value_text(const struct cf_col *col, uint32_t r, char *tmp, size_t *len)
{
    switch (col->type) {
    case CF_TYPE_STRING: *len = col->v.str[r].len; return col->v.str[r].ptr;
    case CF_TYPE_INT: *len = cf_int_format(col->v.i64[r], tmp); return tmp;
    case CF_TYPE_DOUBLE: *len = cf_double_format(col->v.f64[r], tmp); return tmp;
    case CF_TYPE_BOOL: *len = col->v.b[r] ? 4 : 5; return col->v.b[r] ? "true" : "false";
    case CF_TYPE_TIMESTAMP: *len = cf_ts_format(col->v.i64[r], tmp, 40); return tmp;
    default: *len = 0; return "";
    }
}

/* The same value as JSON (for Pub/Sub payloads): strings and timestamps quoted, NaN and
 * infinities as null, as the JSON encoder writes them. */
static void value_json(const struct cf_col *col, uint32_t r, struct cf_buf *out)
{
    char tmp[40];
    size_t n;
    const char *s = value_text(col, r, tmp, &n);
    if (col->type == CF_TYPE_STRING || col->type == CF_TYPE_TIMESTAMP) {
        cf_json_escape(out, s, n);
    } else if (col->type == CF_TYPE_DOUBLE && !isfinite(col->v.f64[r])) {
        cf_buf_puts(out, "null");
    } else {
        cf_buf_append(out, s, n);
    }
}

static void build_key(const struct redis_prep *prep, const char *key_null, const struct cf_batch *b,
                      uint32_t r, struct cf_buf *out)
{
    cf_buf_reset(out);
    for (int i = 0; i < prep->nsegs; i++) {
        const struct kseg *s = &prep->segs[i];
        if (s->text) {
            cf_buf_append(out, s->text, s->len);
            continue;
        }
        const struct cf_col *col = &b->cols[s->field];
        if (col->nulls[r]) {
            cf_buf_puts(out, key_null);
        } else if (s->fmt) {
            char tmp[256];
            int n = cf_ts_strftime(tmp, sizeof(tmp), s->fmt, col->v.i64[r]);
            if (n > 0) {
                cf_buf_append(out, tmp, (size_t)n);
            }
        } else {
            char tmp[40];
            size_t n;
            const char *t = value_text(col, r, tmp, &n);
            cf_buf_append(out, t, n);
        }
    }
}

/* Marks the start of a new command in the pipeline. */
static inline void cmd_begin(struct redis_state *st)
{
    cf_assert(st->ncmds < st->cap_offs);
    st->offs[st->ncmds++] = st->cmds.len;
}

/* Appends the expiry command (EXPIRE/PEXPIRE key ttl) for the key in st->key. */
static void put_expire(struct redis_state *st)
{
    cmd_begin(st);
    put_array(&st->cmds, 3);
    cf_buf_append(&st->cmds, st->ttl_expire.data, st->ttl_expire.len);
    put_bulk(&st->cmds, st->key.data, st->key.len);
    cf_buf_append(&st->cmds, st->ttl_arg.data, st->ttl_arg.len);
}

/* PUBLISH channel {"key":<key>,"value":<st->val holds the value's JSON>}. */
static void put_publish(struct redis_state *st)
{
    cf_buf_reset(&st->pub);
    cf_buf_puts(&st->pub, "{\"key\":");
    cf_json_escape(&st->pub, st->key.data, st->key.len);
    cf_buf_puts(&st->pub, ",\"value\":");
    cf_buf_append(&st->pub, st->val.data, st->val.len);
    cf_buf_putc(&st->pub, '}');
    cmd_begin(st);
    put_array(&st->cmds, 3);
    put_bulk(&st->cmds, "PUBLISH", 7);
    cf_buf_append(&st->cmds, st->channel.data, st->channel.len);
    put_bulk(&st->cmds, st->pub.data, st->pub.len);
}

/* Encodes the commands of row r (st->key already built). Returns 0, or 1 if the row is
 * skipped (its value is NULL). */
static int encode_row(struct cf_op *op, struct redis_state *st, const struct cf_batch *b,
                      uint32_t r)
{
    const struct redis_conf *conf = op->conf;
    const struct redis_prep *prep = op->decl->prep;
    const int publish = conf->publish != NULL;
    char tmp[40];
    size_t n;
    switch (conf->mode) {
    case MODE_SET: {
        const char *v;
        cf_buf_reset(&st->val);
        if (prep->value) {
            if (st->vcol.nulls[r]) {
                return 1;
            }
            v = value_text(&st->vcol, r, tmp, &n);
        } else {
            cf_json_encoder_row(st->enc, b, r, &st->val);
            v = st->val.data;
            n = st->val.len;
        }
        cmd_begin(st);
        put_array(&st->cmds, conf->ttl ? 5 : 3);
        put_bulk(&st->cmds, "SET", 3);
        put_bulk(&st->cmds, st->key.data, st->key.len);
        put_bulk(&st->cmds, v, n);
        if (conf->ttl) {
            cf_buf_append(&st->cmds, st->ttl_set.data, st->ttl_set.len);
        }
        if (publish && prep->value) {
            value_json(&st->vcol, r, &st->val);
        }
        break;
    }
    case MODE_HSET: {
        const struct cf_schema *schema = b->schema;
        uint32_t nnull = 0;
        for (uint32_t f = 0; f < schema->nfields; f++) {
            nnull += b->cols[f].nulls[r];
        }
        /* A NULL field is removed, so a hash written twice never keeps a stale value. */
        if (nnull) {
            cmd_begin(st);
            put_array(&st->cmds, 2 + nnull);
            put_bulk(&st->cmds, "HDEL", 4);
            put_bulk(&st->cmds, st->key.data, st->key.len);
            for (uint32_t f = 0; f < schema->nfields; f++) {
                if (b->cols[f].nulls[r]) {
                    cf_buf_append(&st->cmds, st->fields[f].data, st->fields[f].len);
                }
            }
        }
        if (nnull < schema->nfields) {
            cmd_begin(st);
            put_array(&st->cmds, 2 + 2 * (schema->nfields - nnull));
            put_bulk(&st->cmds, "HSET", 4);
            put_bulk(&st->cmds, st->key.data, st->key.len);
            for (uint32_t f = 0; f < schema->nfields; f++) {
                if (b->cols[f].nulls[r]) {
                    continue;
                }
                cf_buf_append(&st->cmds, st->fields[f].data, st->fields[f].len);
                const char *v = value_text(&b->cols[f], r, tmp, &n);
                put_bulk(&st->cmds, v, n);
            }
        }
        if (conf->ttl) {
            put_expire(st);
        }
        if (publish) {
            cf_buf_reset(&st->val);
            cf_json_encoder_row(st->enc, b, r, &st->val);
        }
        break;
    }
    case MODE_INCRBY: {
        if (st->vcol.nulls[r]) {
            return 1;
        }
        n = cf_int_format(st->vcol.v.i64[r], tmp);
        cmd_begin(st);
        put_array(&st->cmds, 3);
        put_bulk(&st->cmds, "INCRBY", 6);
        put_bulk(&st->cmds, st->key.data, st->key.len);
        put_bulk(&st->cmds, tmp, n);
        if (conf->ttl) {
            put_expire(st);
        }
        if (publish) {
            cf_buf_reset(&st->val);
            cf_buf_append(&st->val, tmp, n);
        }
        break;
    }
    default: cf_assert(0);
    }
    if (publish) {
        put_publish(st);
    }
    return 0;
}

/* ---- replies: decoded without allocating ---- */

static char reply_ok;
static char reply_error;

static void *reply_string(const redisReadTask *task, char *s, size_t len)
{
    if (task->type != REDIS_REPLY_ERROR) {
        return &reply_ok;
    }
    struct redis_state *st = task->privdata;
    if (!task->parent) {
        st->last_error = 1;
        snprintf(st->errmsg, sizeof(st->errmsg), "%.*s", (int)(len < 200 ? len : 200), s);
    }
    return &reply_error;
}

static void *reply_array(const redisReadTask *task, int n)
{
    (void)task;
    (void)n;
    return &reply_ok;
}

static void *reply_integer(const redisReadTask *task, long long v)
{
    (void)task;
    (void)v;
    return &reply_ok;
}

static void *reply_nil(const redisReadTask *task)
{
    (void)task;
    return &reply_ok;
}

static void reply_free(void *obj)
{
    (void)obj;
}

static redisReplyObjectFunctions reply_fns = {
    reply_string, reply_array, reply_integer, reply_nil, reply_free,
};

/* Error replies worth retrying: the server is starting, busy or failing over. */
static int transient_error(const char *msg)
{
    static const char *const prefixes[] = {"LOADING",    "BUSY",     "TRYAGAIN",
                                           "MASTERDOWN", "READONLY", "CLUSTERDOWN"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(msg, prefixes[i], n) == 0 && (msg[n] == ' ' || msg[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

/* Reads one reply. Returns 0 (st->last_error says whether it was an error reply) or
 * CF_ERETRY when the connection failed. */
static int read_reply(struct redis_state *st)
{
    void *reply = NULL;
    st->last_error = 0;
    errno = 0; /* EAGAIN afterwards means the io_timeout expired */
    if (redisGetReply(st->ctx, &reply) != REDIS_OK) {
        return CF_ERETRY;
    }
    return 0;
}

/* ---- connection ---- */

static void disconnect(struct redis_state *st)
{
    if (st->ctx) {
        redisFree(st->ctx);
        st->ctx = NULL;
    }
}

/* Why the connection failed, for messages: hiredis's text, or errno's. */
static const char *conn_error(const redisContext *c)
{
    if (c && c->errstr[0]) {
        return c->errstr;
    }
    return strerror(errno);
}

/* Runs a setup command (AUTH, SELECT) synchronously. 0, CF_ERETRY (connection) or
 * CF_EFAILED with err set (Redis refused: not worth retrying). */
static int setup_cmd(struct redis_state *st, const struct redis_prep *prep, int argc,
                     const char **argv, const char *what, struct cf_err *err)
{
    if (redisAppendCommandArgv(st->ctx, argc, argv, NULL) != REDIS_OK) {
        return CF_ERETRY;
    }
    if (read_reply(st) != 0) {
        return CF_ERETRY;
    }
    if (st->last_error) {
        if (transient_error(st->errmsg)) {
            return CF_ERETRY;
        }
        return cf_err_set(err, CF_EFAILED, "Redis at %s refused %s: %s", prep->display, what,
                          st->errmsg);
    }
    return 0;
}

/* One connection attempt. 0, CF_ERETRY (try again later; err says why) or CF_EFAILED. */
static int connect_once(struct cf_op *op, struct redis_state *st, struct cf_err *err)
{
    const struct redis_conf *conf = op->conf;
    const struct redis_prep *prep = op->decl->prep;
    struct timeval tv = {(time_t)(conf->io_timeout / 1000), (long)(conf->io_timeout % 1000) * 1000};
    disconnect(st);
    st->ctx = redisConnectWithTimeout(prep->host, prep->port, tv);
    if (!st->ctx || st->ctx->err) {
        cf_err_set(err, CF_ERETRY, "%s", conn_error(st->ctx));
        disconnect(st);
        return CF_ERETRY;
    }
    /* Blocking reads and writes give up after io_timeout: a hung server looks like a lost
     * connection. Keepalive notices a silently dropped peer. */
    if (redisSetTimeout(st->ctx, tv) != REDIS_OK || redisEnableKeepAlive(st->ctx) != REDIS_OK) {
        cf_err_set(err, CF_ERETRY, "%s", conn_error(st->ctx));
        disconnect(st);
        return CF_ERETRY;
    }
    st->ctx->reader->fn = &reply_fns;
    st->ctx->reader->privdata = st;
    int rc = 0;
    if (prep->password) {
        const char *argv[3] = {"AUTH", prep->user ? prep->user : prep->password, prep->password};
        rc = setup_cmd(st, prep, prep->user ? 3 : 2, argv, "AUTH (check the password)", err);
    }
    if (rc == 0 && prep->db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%lld", (long long)prep->db);
        const char *argv[2] = {"SELECT", db};
        rc = setup_cmd(st, prep, 2, argv, "SELECT (check `database`)", err);
    }
    if (rc == CF_ERETRY && !err->msg[0]) {
        cf_err_set(err, CF_ERETRY, "%s", st->last_error ? st->errmsg : conn_error(st->ctx));
    }
    if (rc) {
        disconnect(st);
    }
    return rc;
}

/* Sleeps ms in short slices; CF_ECANCELED when the job is canceled meanwhile. */
static int sleep_cancelable(struct cf_op *op, int64_t ms)
{
    int64_t until = cf_monotonic_ms() + ms;
    for (;;) {
        if (cf_op_canceled(op)) {
            return CF_ECANCELED;
        }
        int64_t left = until - cf_monotonic_ms();
        if (left <= 0) {
            return 0;
        }
        int64_t slice = left < 50 ? left : 50;
        struct timespec ts = {0, (long)slice * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The wait before the next attempt; doubles the following one, up to BACKOFF_MAX_MS. */
static int64_t next_backoff(struct redis_state *st)
{
    int64_t wait = st->backoff_ms;
    st->backoff_ms = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
    return wait;
}

/*
 * Connects, retrying with backoff until `limit_ms` (0: forever) has passed since `since`
 * (monotonic ms); with wait_first, backs off before the first attempt too. Returns 0,
 * CF_ECANCELED, or CF_EFAILED after recording the failure with cf_op_fail() (the message
 * names the address and says why).
 */
static int connect_retry(struct cf_op *op, struct redis_state *st, int64_t since, int64_t limit_ms,
                         const char *limit_key, int wait_first)
{
    const struct redis_prep *prep = op->decl->prep;
    struct cf_err err;
    for (int attempt = 1;; attempt++) {
        if (attempt > 1 || wait_first) {
            int64_t wait = next_backoff(st);
            int64_t left = limit_ms > 0 ? since + limit_ms - cf_monotonic_ms() : INT64_MAX;
            int rc = sleep_cancelable(op, wait < left ? wait : left > 0 ? left : 0);
            if (rc) {
                return rc;
            }
        }
        cf_err_clear(&err);
        int rc = connect_once(op, st, &err);
        if (rc == 0) {
            return 0;
        }
        if (rc != CF_ERETRY) {
            return cf_op_fail(op, "%s", err.msg);
        }
        if (limit_ms > 0 && cf_monotonic_ms() - since >= limit_ms) {
            char d[32];
            return cf_op_fail(op,
                              "cannot connect to Redis at %s: %s (gave up after %s, %d attempts; "
                              "see %s)",
                              prep->display, err.msg, cf_duration_format(limit_ms, d, sizeof(d)),
                              attempt, limit_key);
        }
        /* The first failure, then one line per attempt once the backoff is at its maximum. */
        if (attempt == 1 || st->backoff_ms >= BACKOFF_MAX_MS) {
            cf_warn("%s: cannot connect to Redis at %s: %s; retrying", op->decl->id, prep->display,
                    err.msg);
        }
    }
}

/* ---- the pipeline ---- */

/* Copies argument k (0-based, bulk string) of the RESP command at p into out, shortened. */
static void cmd_arg(const char *p, const char *end, int k, char *out, size_t size)
{
    out[0] = '\0';
    p = memchr(p, '\n', (size_t)(end - p)); /* past "*<n>\r\n" */
    for (int i = 0; p && i <= k; i++) {
        p++;
        long n = strtol(p + 1, NULL, 10); /* "$<n>\r\n" */
        const char *data = memchr(p, '\n', (size_t)(end - p));
        if (!data || n < 0 || data + 1 + n > end) {
            return;
        }
        data++;
        if (i == k) {
            size_t m = (size_t)n < size - 4 ? (size_t)n : size - 4;
            memcpy(out, data, m);
            strcpy(out + m, (size_t)n > m ? "..." : "");
            return;
        }
        p = data + n + 1; /* at '\n' of the trailing "\r\n" */
    }
}

/* The connection is gone: close it; everything without a reply will be sent again. */
static void lost(struct cf_op *op, struct redis_state *st, const char *why)
{
    const struct redis_prep *prep = op->decl->prep;
    cf_warn("%s: connection to Redis at %s lost (%s) with %u of %u commands unacknowledged; "
            "reconnecting",
            op->decl->id, prep->display, why, st->ncmds - st->acked, st->ncmds);
    disconnect(st);
    st->resent += st->sent - st->acked;
    st->sent = st->rpos = st->acked;
    st->retry = 0;
    if (!st->outage_since) {
        st->outage_since = cf_monotonic_ms();
    }
}

/* Writes the commands [sent, ncmds) to the socket (blocking until written). 0, or
 * CF_ERETRY after lost(). */
static int send_new(struct cf_op *op, struct redis_state *st)
{
    if (st->sent == st->ncmds) {
        return 0;
    }
    size_t from = st->offs[st->sent];
    int done = 0;
    errno = 0;
    if (redisAppendFormattedCommand(st->ctx, st->cmds.data + from, st->cmds.len - from) !=
        REDIS_OK) {
        lost(op, st, conn_error(st->ctx));
        return CF_ERETRY;
    }
    while (!done) {
        errno = 0;
        if (redisBufferWrite(st->ctx, &done) != REDIS_OK) {
            lost(op, st,
                 errno == EAGAIN || errno == EWOULDBLOCK ? "write blocked beyond io_timeout"
                                                         : conn_error(st->ctx));
            return CF_ERETRY;
        }
    }
    st->sent = st->ncmds;
    return 0;
}

/*
 * Reads the replies of commands [rpos, upto) (upto <= sent). An OK reply acknowledges its
 * command unless an earlier one of this round asked to retry (st->retry): from then on
 * replies are only drained, and everything from `acked` is sent again later. Returns 0,
 * CF_ERETRY after lost(), or CF_EFAILED after cf_op_fail() for an error reply that retrying
 * cannot fix.
 */
static int read_replies(struct cf_op *op, struct redis_state *st, uint32_t upto)
{
    const struct redis_prep *prep = op->decl->prep;
    while (st->rpos < upto) {
        if (read_reply(st) != 0) {
            char why[160];
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                char d[32];
                snprintf(why, sizeof(why), "no reply within io_timeout (%s)",
                         cf_duration_format(((const struct redis_conf *)op->conf)->io_timeout, d,
                                            sizeof(d)));
            } else {
                snprintf(why, sizeof(why), "%s", conn_error(st->ctx));
            }
            lost(op, st, why);
            return CF_ERETRY;
        }
        uint32_t i = st->rpos++;
        if (st->retry) {
            continue;
        }
        if (!st->last_error) {
            st->acked = i + 1;
            continue;
        }
        if (transient_error(st->errmsg)) {
            /* Logged when it starts, then once per attempt at the longest backoff. */
            if (!st->outage_since || st->backoff_ms >= BACKOFF_MAX_MS) {
                cf_warn("%s: Redis at %s answered \"%s\"; retrying", op->decl->id, prep->display,
                        st->errmsg);
            }
            st->retry = 1;
            if (!st->outage_since) {
                st->outage_since = cf_monotonic_ms();
            }
            continue;
        }
        const char *end = st->cmds.data + (i + 1 < st->ncmds ? st->offs[i + 1] : st->cmds.len);
        char cmd[16], key[160];
        cmd_arg(st->cmds.data + st->offs[i], end, 0, cmd, sizeof(cmd));
        cmd_arg(st->cmds.data + st->offs[i], end, 1, key, sizeof(key));
        return cf_op_fail(op, "Redis at %s refused %s '%s': %s", prep->display, cmd, key,
                          st->errmsg);
    }
    return 0;
}

/*
 * Writes every pending command and waits for all replies, reconnecting and resending as long
 * as reconnect_timeout allows. Returns 0 with the pipeline empty, CF_ECANCELED, or
 * CF_EFAILED (recorded with cf_op_fail()).
 */
static int flush(struct cf_op *op, struct redis_state *st)
{
    const struct redis_conf *conf = op->conf;
    const struct redis_prep *prep = op->decl->prep;
    int reconnects = 0; /* during this flush */
    uint32_t progress_mark = st->acked;
    while (st->acked < st->ncmds) {
        if (!st->ctx) {
            /* Reconnect at once after the first loss, or when the last connection got
             * replies (a restarted server is often back); otherwise back off first, so a
             * server that accepts connections and drops them is not hammered. */
            int wait_first = reconnects > 0 && st->acked == progress_mark;
            if (st->acked > progress_mark) {
                st->backoff_ms = BACKOFF_MIN_MS;
            }
            progress_mark = st->acked;
            if (!st->outage_since) {
                st->outage_since = cf_monotonic_ms();
            }
            int rc = connect_retry(op, st, st->outage_since, conf->reconnect_timeout,
                                   "reconnect_timeout", wait_first);
            if (rc) {
                return rc;
            }
            reconnects++;
            st->reconnects++;
            cf_info("%s: reconnected to Redis at %s; resending %u commands", op->decl->id,
                    prep->display, st->ncmds - st->acked);
        }
        int rc = send_new(op, st);
        if (rc == 0) {
            rc = read_replies(op, st, st->sent);
        }
        if (rc == CF_ERETRY) {
            continue;
        }
        if (rc) {
            return rc;
        }
        if (st->retry) {
            /* A transient error reply (LOADING, BUSY, ...): wait, then send again. */
            if (conf->reconnect_timeout > 0 &&
                cf_monotonic_ms() - st->outage_since >= conf->reconnect_timeout) {
                return cf_op_fail(op,
                                  "Redis at %s kept answering \"%s\" for longer than "
                                  "reconnect_timeout",
                                  prep->display, st->errmsg);
            }
            rc = sleep_cancelable(op, next_backoff(st));
            if (rc) {
                return rc;
            }
            st->resent += st->sent - st->acked;
            st->sent = st->rpos = st->acked;
            st->retry = 0;
        }
    }
    st->outage_since = 0;
    st->backoff_ms = BACKOFF_MIN_MS;
    st->ncmds = st->acked = st->sent = st->rpos = 0;
    cf_buf_reset(&st->cmds);
    return 0;
}

/* Drops the acknowledged commands from the front of the pipeline buffer. */
static void compact(struct redis_state *st)
{
    if (st->acked == 0) {
        return;
    }
    size_t base = st->acked == st->ncmds ? st->cmds.len : st->offs[st->acked];
    memmove(st->cmds.data, st->cmds.data + base, st->cmds.len - base);
    st->cmds.len -= base;
    st->cmds.data[st->cmds.len] = '\0';
    uint32_t n = st->ncmds - st->acked;
    for (uint32_t i = 0; i < n; i++) {
        st->offs[i] = st->offs[st->acked + i] - base;
    }
    st->ncmds = n;
    st->sent -= st->acked;
    st->rpos -= st->acked;
    st->acked = 0;
}

/* ---- run time ---- */

static void precompute(struct cf_op *op, struct redis_state *st)
{
    const struct redis_conf *conf = op->conf;
    const struct cf_schema *in = op->decl->in_schema;
    cf_buf_init(&st->ttl_set);
    cf_buf_init(&st->ttl_expire);
    cf_buf_init(&st->ttl_arg);
    cf_buf_init(&st->channel);
    if (conf->ttl) {
        /* Whole seconds use EX/EXPIRE; anything finer PX/PEXPIRE. */
        int secs = conf->ttl % 1000 == 0;
        char num[24];
        size_t n = cf_int_format(secs ? conf->ttl / 1000 : conf->ttl, num);
        put_bulk(&st->ttl_arg, num, n);
        put_bulk(&st->ttl_set, secs ? "EX" : "PX", 2);
        cf_buf_append(&st->ttl_set, st->ttl_arg.data, st->ttl_arg.len);
        if (secs) {
            put_bulk(&st->ttl_expire, "EXPIRE", 6);
        } else {
            put_bulk(&st->ttl_expire, "PEXPIRE", 7);
        }
    }
    if (conf->publish) {
        put_bulk(&st->channel, conf->publish, strlen(conf->publish));
    }
    st->fields = cf_calloc(in->nfields ? in->nfields : 1, sizeof(struct cf_buf));
    for (uint32_t f = 0; f < in->nfields; f++) {
        cf_buf_init(&st->fields[f]);
        put_bulk(&st->fields[f], in->fields[f].name, strlen(in->fields[f].name));
    }
}

/* Sizes the per-batch buffers for a batch of n more rows (only grows: rarely allocates). */
static void ensure_capacity(struct cf_op *op, struct redis_state *st, uint32_t n)
{
    const struct redis_prep *prep = op->decl->prep;
    /* The batch in flight stays in the buffer while the next is encoded. */
    if ((size_t)st->ncmds + (size_t)n * CMDS_PER_ROW + 1 > st->cap_offs) {
        st->cap_offs = st->ncmds + n * CMDS_PER_ROW + 1;
        st->offs = cf_realloc(st->offs, st->cap_offs * sizeof(*st->offs));
    }
    if (prep->value && n > st->vcap) {
        size_t w = cf_type_width(cf_expr_type(prep->value));
        st->vcap = n;
        st->vcol.nulls = cf_realloc(st->vcol.nulls, n);
        st->vcol.v.data = cf_realloc(st->vcol.v.data, (size_t)n * w);
    }
}

static int redis_open(struct cf_op *op, struct cf_err *err)
{
    const struct redis_conf *conf = op->conf;
    const struct redis_prep *prep = op->decl->prep;
    struct redis_state *st = cf_new(struct redis_state);
    op->state = st;
    st->enc = cf_json_encoder_create(op->decl->in_schema);
    if (prep->value) {
        st->vctx = cf_expr_eval_ctx_create(prep->value);
        st->vcol.type = cf_expr_type(prep->value);
    }
    cf_arena_init(&st->varena, 0);
    cf_buf_init(&st->cmds);
    cf_buf_init(&st->key);
    cf_buf_init(&st->val);
    cf_buf_init(&st->pub);
    precompute(op, st);
    ensure_capacity(op, st, CF_BATCH_ROWS);
    st->backoff_ms = BACKOFF_MIN_MS;
    /* hiredis writes with write(2): a server that hung up must give EPIPE, not kill the
     * process. cfctl and cf-worker ignore SIGPIPE already; this covers other embedders. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
    /* Connect now, so a Redis that stays down fails the job at start with a clear message. */
    int rc = connect_retry(op, st, cf_monotonic_ms(), conf->connect_timeout, "connect_timeout", 0);
    if (rc) {
        /* cf_op_fail() recorded the message; the runtime keeps the first one. */
        return cf_err_set(err, rc, "cannot connect to Redis at %s", prep->display);
    }
    cf_debug("%s: connected to Redis at %s (db %lld)", op->decl->id, prep->display,
             (long long)prep->db);
    return 0;
}

/*
 * One batch: its commands are written at once, then the replies of the previous batch are
 * read. So one batch is in flight while the next is encoded: Redis works while the sink
 * does, and the round trip is hidden. Anything unusual (a lost connection, an error reply)
 * falls back to flush(), which waits for everything.
 */
static int redis_process(struct cf_op *op, struct cf_batch *b)
{
    const struct redis_conf *conf = op->conf;
    const struct redis_prep *prep = op->decl->prep;
    struct redis_state *st = op->state;
    ensure_capacity(op, st, b->n);
    if (prep->value) {
        cf_expr_eval(prep->value, st->vctx, b, &st->vcol, &st->varena);
    }
    uint32_t before = st->ncmds; /* the previous batch, in flight */
    for (uint32_t r = 0; r < b->n; r++) {
        build_key(prep, conf->key_null, b, r, &st->key);
        if (encode_row(op, st, b, r)) {
            st->skipped++;
        } else {
            st->written++;
        }
    }
    cf_batch_release(b);
    cf_arena_reset(&st->varena);
    int rc = st->ctx ? send_new(op, st) : CF_ERETRY;
    if (rc == 0) {
        rc = read_replies(op, st, before);
    }
    if (rc == CF_ERETRY || (rc == 0 && st->retry)) {
        rc = flush(op, st);
    }
    if (rc) {
        return rc;
    }
    compact(st);
    /* Replies still due: read them soon even if no batch follows, so a failure is noticed
     * (and the commands resent) without waiting for more input. */
    if (st->ncmds && !st->timer_set) {
        cf_op_timer_set(op, cf_now_ms() + FLUSH_AFTER_MS);
        st->timer_set = 1;
    }
    return 0;
}

static int redis_on_timer(struct cf_op *op, int64_t now_ms)
{
    (void)now_ms;
    struct redis_state *st = op->state;
    st->timer_set = 0;
    return flush(op, st);
}

/* The barrier follows every row before it: once flush() returns, all of them are
 * acknowledged by Redis. The sink keeps no state, so nothing is put into snap. */
static int redis_snapshot(struct cf_op *op, struct cf_snapshot *snap)
{
    (void)snap;
    return flush(op, op->state);
}

static int redis_finish(struct cf_op *op)
{
    return flush(op, op->state);
}

static void redis_close(struct cf_op *op)
{
    struct redis_state *st = op->state;
    if (!st) {
        return;
    }
    if (st->written || st->skipped) {
        cf_info("%s: %llu rows written to Redis at %s, %llu skipped (NULL value), %llu "
                "reconnects, %llu commands resent",
                op->decl->id, (unsigned long long)st->written,
                ((const struct redis_prep *)op->decl->prep)->display,
                (unsigned long long)st->skipped, (unsigned long long)st->reconnects,
                (unsigned long long)st->resent);
    }
    disconnect(st);
    cf_json_encoder_destroy(st->enc);
    cf_expr_eval_ctx_destroy(st->vctx);
    cf_free(st->vcol.nulls);
    cf_free(st->vcol.v.data);
    cf_arena_destroy(&st->varena);
    cf_free(st->offs);
    cf_buf_destroy(&st->cmds);
    cf_buf_destroy(&st->key);
    cf_buf_destroy(&st->val);
    cf_buf_destroy(&st->pub);
    cf_buf_destroy(&st->ttl_set);
    cf_buf_destroy(&st->ttl_expire);
    cf_buf_destroy(&st->ttl_arg);
    cf_buf_destroy(&st->channel);
    if (st->fields) {
        for (uint32_t f = 0; f < op->decl->in_schema->nfields; f++) {
            cf_buf_destroy(&st->fields[f]);
        }
        cf_free(st->fields);
    }
    cf_free(st);
    op->state = NULL;
}

const struct cf_op_plugin cf_conn_sink_redis = {
    .type = "sink.redis",
    .kind = CF_OP_KIND_SINK,
    .doc = "Writes rows to Redis (SET as JSON or an expression, HSET, INCRBY), pipelined per "
           "batch, with optional TTL and Pub/Sub notifications; reconnects and resends "
           "(at-least-once). Guide: docs/connectors-redis.md.",
    .conf_size = sizeof(struct redis_conf),
    .conf_keys = redis_keys,
    .configure = redis_configure,
    .unconfigure = redis_unconfigure,
    .open = redis_open,
    .process = redis_process,
    .on_timer = redis_on_timer,
    .finish = redis_finish,
    .snapshot = redis_snapshot,
    .close = redis_close,
};
