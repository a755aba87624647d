/*
 * dataplane.c - the data plane between workers (see dataplane.h for the protocol).
 *
 * Threads and ownership
 *   - The loop thread owns the event base, the listener, every connection's bufferevent,
 *     the channel tables of connections and the input table. Other threads reach them only
 *     through commands (run_in_loop: a queue under dp->lock plus event_active, the caller
 *     waits for the result), so registration, opening and closing need no fine-grained locks.
 *   - dp->lock also guards what the gates' pop hooks touch (credit returns, the per-gate
 *     channel -> input maps), the list of open outputs and the failure hook.
 *   - A task thread sending on an output encodes its batch into a frame and appends it to the
 *     connection's queue (conn->lock), waking the loop with event_active on conn->flush_ev;
 *     the loop moves queued frames into the socket buffer without copying them.
 *   - Each output has its own lock and condition: credits, cancellation and failure.
 *   - Connections are refcounted: the loop holds one reference while a connection is live
 *     and each output holds one, so an output can outlive its failed connection. A failed
 *     connection is marked dead and reaped from a separate event, never freed inside its own
 *     callbacks; its libevent objects are freed by the loop only.
 * Lock order: dp->lock -> output lock, dp->lock -> conn->lock -> libevent's internal locks.
 * A task thread never holds its output's lock while taking conn->lock. The gate's lock is
 * never held when the pop hook takes dp->lock.
 */
#include "dataplane.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

#include "common/base/hash.h"
#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"
#include "common/data/batch_wire.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "frame headers are little-endian");

enum dp_frame_type {
    DP_HELLO = 1,
    DP_OPEN,
    DP_DATA,
    DP_WATERMARK,
    DP_EOS,
    DP_BARRIER,
    DP_CREDIT,
    DP_CLOSE,
    DP_ERROR,
    DP__COUNT
};

static const char *const frame_names[] = {
    "?", "HELLO", "OPEN", "DATA", "WATERMARK", "EOS", "BARRIER", "CREDIT", "CLOSE", "ERROR",
};
_Static_assert(sizeof(frame_names) / sizeof(frame_names[0]) == DP__COUNT,
               "frame_names covers every frame type");

#define HDR          9
#define DP_MAGIC     0x50444643u /* "CFDP" read as a little-endian u32 */
#define DP_VERSION   1
#define CONN_CHANNEL 0xffffffffu
#define MAX_NAME     128
#define MAX_ERROR    1024
#define MAX_CREDIT   65536
/* libevent reads 4 KiB per read() by default: far too little for batches. */
#define MAX_SINGLE_IO (256 * 1024)
/* The receiving side only writes small control frames (HELLO, CREDIT, CLOSE, ERROR); more
 * unsent bytes than this means the peer floods us without reading. */
#define MAX_REPLY_BACKLOG (4 * 1024 * 1024)

enum conn_state { CONN_HELLO, CONN_READY, CONN_DEAD };

/* A frame built by a task thread, handed to the loop without copying. */
struct frame {
    struct frame *next;
    struct cf_dataplane *dp; /* for the queued-bytes counter */
    size_t len;              /* HDR + payload */
    uint8_t data[];
};

struct dp_conn {
    struct cf_dataplane *dp;
    int refs;                    /* atomic: the loop's (while live) + one per output */
    int outgoing;                /* we connected: we send data and receive credits */
    char addr[MAX_NAME];         /* outgoing: "host:port" as asked (to share connections) */
    char peer[2 * MAX_NAME + 8]; /* for logs: the socket address and the peer's HELLO name */
    char reason[512];            /* why it failed (loop thread) */

    pthread_mutex_t lock; /* guards outq and dead */
    struct frame *outq, *outq_tail;
    int dead;

    /* loop thread only */
    int state;
    struct bufferevent *bev;
    struct event *flush_ev; /* activated under lock while !dead */
    void **chans;           /* outgoing: output or CHAN_CLOSING; incoming: input or CHAN_TOMB */
    uint32_t nchans;
    uint32_t nopen; /* non-NULL entries of chans */
    struct dp_conn *next;
};

/*
 * Channel table markers. On an outgoing connection CHAN_CLOSING is a channel we closed and
 * whose acknowledgement has not arrived. On an incoming one CHAN_TOMB is a channel whose input
 * is gone (unregistered, rejected, failed): its frames are dropped until the sender's CLOSE.
 */
static char chan_closing_marker, chan_tomb_marker;
#define CHAN_CLOSING ((void *)&chan_closing_marker)
#define CHAN_TOMB    ((void *)&chan_tomb_marker)

/* The gates with registered inputs: what the pop hook needs to find an input by channel. */
struct dp_gate_rec {
    struct cf_dataplane *dp;
    struct cf_gate *gate;
    int nchan;
    struct dp_input **in; /* by gate channel; written under dp->lock, read atomically */
    int nin;
    struct dp_gate_rec *next;
};

/*
 * An input channel, keyed by channel key. Created by whichever comes first: the local
 * registration or the sender's OPEN. Loop thread only, except the fields under dp->lock.
 */
struct dp_input {
    char *key;
    uint64_t hash;
    struct dp_input *hnext;
    /* registration */
    int registered;
    struct cf_gate *gate;
    int gate_channel;
    struct cf_batch_pool *pool;
    uint64_t fp;
    struct dp_gate_rec *rec;
    /* the sender */
    int opened; /* an OPEN bound the key once; it never binds again */
    struct dp_conn *conn;
    uint32_t chan;
    uint64_t sender_fp;
    int credit; /* granted and not yet used */
    int eos;
    int failed; /* the failure hook was called */
    /* under dp->lock: credits returned by pops, not yet granted */
    int returned;
    int dirty;
    struct dp_input *dirty_next;
};

struct cf_dp_output {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct cf_dataplane *dp; /* NULL once the data plane is destroyed (lock) */
    struct dp_conn *conn;    /* a reference */
    uint32_t chan;
    uint64_t fp;
    char *key;
    int credit;   /* lock */
    int ready;    /* lock: the connection exchanged HELLO */
    int failed;   /* lock */
    int canceled; /* lock */
    int eos_sent; /* lock */
    int armed;    /* loop: the failure hook may fire (set once ready) */
    char error[MAX_ERROR + 64];
    struct cf_dp_output *next, *prev; /* dp->outputs (dp->lock) */
};

struct dp_cmd {
    void (*fn)(struct cf_dataplane *dp, void *arg);
    void *arg;
    int done;
    struct dp_cmd *next;
};

struct cf_dataplane {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *cmd_ev, *credit_ev, *reap_ev, *stop_ev;
    pthread_t thread;
    int port;
    char name[MAX_NAME];
    char log_ctx[MAX_NAME + 16];

    pthread_mutex_t lock;
    pthread_cond_t cmd_done;
    struct dp_cmd *cmds, *cmds_tail;
    struct dp_input *dirty;
    struct dp_gate_rec *recs;
    struct cf_dp_output *outputs;
    cf_dataplane_failure_fn fail_fn;
    void *fail_arg;

    /* loop thread only */
    struct dp_conn *conns;
    struct dp_conn *reap;
    struct dp_input **buckets;
    size_t nbuckets;
    size_t ninputs;
    struct cf_err err; /* scratch for decoding */

    struct cf_dataplane_stats stats; /* atomics */
};

#define STAT_ADD(dp, field, n) __atomic_add_fetch(&(dp)->stats.field, (n), __ATOMIC_RELAXED)

static void put32(uint8_t *d, uint32_t v)
{
    memcpy(d, &v, 4);
}

static void put64(uint8_t *d, uint64_t v)
{
    memcpy(d, &v, 8);
}

static uint32_t get32(const uint8_t *s)
{
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

static uint64_t get64(const uint8_t *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

/* ---- process-wide setup ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    /* event_active() from task threads needs a thread-aware base. */
    evthread_use_pthreads();
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
}

/* ---- commands: running a function on the loop thread ---- */

static int on_loop_thread(struct cf_dataplane *dp)
{
    return pthread_equal(pthread_self(), dp->thread);
}

static void run_in_loop(struct cf_dataplane *dp, void (*fn)(struct cf_dataplane *, void *),
                        void *arg)
{
    if (on_loop_thread(dp)) {
        fn(dp, arg);
        return;
    }
    struct dp_cmd cmd = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&dp->lock);
    if (dp->cmds_tail) {
        dp->cmds_tail->next = &cmd;
    } else {
        dp->cmds = &cmd;
    }
    dp->cmds_tail = &cmd;
    pthread_mutex_unlock(&dp->lock);
    event_active(dp->cmd_ev, EV_READ, 0);
    pthread_mutex_lock(&dp->lock);
    while (!cmd.done) {
        pthread_cond_wait(&dp->cmd_done, &dp->lock);
    }
    pthread_mutex_unlock(&dp->lock);
}

static void cmd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cf_dataplane *dp = arg;
    pthread_mutex_lock(&dp->lock);
    struct dp_cmd *cmd = dp->cmds;
    dp->cmds = dp->cmds_tail = NULL;
    pthread_mutex_unlock(&dp->lock);
    while (cmd) {
        struct dp_cmd *next = cmd->next; /* cmd lives on a stack that goes once done is set */
        cmd->fn(dp, cmd->arg);
        pthread_mutex_lock(&dp->lock);
        cmd->done = 1;
        pthread_cond_broadcast(&dp->cmd_done);
        pthread_mutex_unlock(&dp->lock);
        cmd = next;
    }
}

/* ---- the failure hook ---- */

static void fire(struct cf_dataplane *dp, const char *key, int is_input, const char *peer,
                 const char *reason)
{
    pthread_mutex_lock(&dp->lock);
    cf_dataplane_failure_fn fn = dp->fail_fn;
    void *arg = dp->fail_arg;
    pthread_mutex_unlock(&dp->lock);
    cf_warn("data plane: %s channel %s (peer %s) failed: %s", is_input ? "input" : "output", key,
            peer, reason);
    if (fn) {
        /* Copies: the hook may unregister the input that owns key. */
        char k[CF_DP_MAX_KEY + 1], p[2 * MAX_NAME + 8];
        snprintf(k, sizeof(k), "%s", key);
        snprintf(p, sizeof(p), "%s", peer);
        fn(arg, k, is_input, p, reason);
    }
}

/* ---- the input table (loop thread) ---- */

static struct dp_input **input_slot(struct cf_dataplane *dp, const char *key, uint64_t hash)
{
    struct dp_input **pp = &dp->buckets[hash & (dp->nbuckets - 1)];
    while (*pp && ((*pp)->hash != hash || strcmp((*pp)->key, key) != 0)) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

static struct dp_input *input_find(struct cf_dataplane *dp, const char *key)
{
    return *input_slot(dp, key, cf_hash64(key, strlen(key), 0));
}

static struct dp_input *input_create(struct cf_dataplane *dp, const char *key)
{
    if (dp->ninputs >= dp->nbuckets) {
        size_t nb = dp->nbuckets * 2;
        struct dp_input **b = cf_calloc(nb, sizeof(*b));
        for (size_t i = 0; i < dp->nbuckets; i++) {
            struct dp_input *in = dp->buckets[i];
            while (in) {
                struct dp_input *next = in->hnext;
                in->hnext = b[in->hash & (nb - 1)];
                b[in->hash & (nb - 1)] = in;
                in = next;
            }
        }
        cf_free(dp->buckets);
        dp->buckets = b;
        dp->nbuckets = nb;
    }
    struct dp_input *in = cf_new(struct dp_input);
    in->key = cf_strdup(key);
    in->hash = cf_hash64(key, strlen(key), 0);
    struct dp_input **pp = input_slot(dp, key, in->hash);
    *pp = in;
    dp->ninputs++;
    return in;
}

static void input_free(struct cf_dataplane *dp, struct dp_input *in)
{
    struct dp_input **pp = input_slot(dp, in->key, in->hash);
    cf_assert(*pp == in);
    *pp = in->hnext;
    dp->ninputs--;
    cf_free(in->key);
    cf_free(in);
}

/* ---- frames written by the loop thread ---- */

static void frame_cleanup(const void *data, size_t len, void *extra)
{
    (void)data;
    struct frame *f = extra;
    __atomic_sub_fetch(&f->dp->stats.out_queued_bytes, (int64_t)len, __ATOMIC_RELAXED);
    cf_free(f);
}

/* Moves the frames task threads queued into the socket buffer, keeping their order. */
static void conn_flush(struct dp_conn *conn)
{
    pthread_mutex_lock(&conn->lock);
    struct frame *f = conn->outq;
    conn->outq = conn->outq_tail = NULL;
    pthread_mutex_unlock(&conn->lock);
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    while (f) {
        struct frame *next = f->next;
        /* Fails only without memory; a lost frame would silently corrupt a channel. */
        int rc = evbuffer_add_reference(out, f->data, f->len, frame_cleanup, f);
        cf_assert(rc == 0);
        f = next;
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dp_conn *conn = arg;
    if (conn->state != CONN_DEAD) {
        conn_flush(conn);
    }
}

/* Writes a frame after whatever task threads queued before it. */
static void conn_write(struct dp_conn *conn, int type, uint32_t chan, const void *p1, size_t n1,
                       const void *p2, size_t n2)
{
    if (conn->state == CONN_DEAD) {
        return;
    }
    conn_flush(conn);
    uint8_t h[HDR];
    put32(h, (uint32_t)(n1 + n2));
    h[4] = (uint8_t)type;
    put32(h + 5, chan);
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    int rc = evbuffer_add(out, h, HDR);
    if (n1) {
        rc |= evbuffer_add(out, p1, n1);
    }
    if (n2) {
        rc |= evbuffer_add(out, p2, n2);
    }
    cf_assert(rc == 0); /* only without memory */
}

static void write_credit(struct dp_conn *conn, uint32_t chan, int n)
{
    uint8_t p[4];
    put32(p, (uint32_t)n);
    conn_write(conn, DP_CREDIT, chan, p, 4, NULL, 0);
}

static void write_error(struct dp_conn *conn, uint32_t chan, int code, const char *msg)
{
    uint8_t p[4];
    put32(p, (uint32_t)code);
    size_t n = strlen(msg);
    conn_write(conn, DP_ERROR, chan, p, 4, msg, n < MAX_ERROR ? n : MAX_ERROR);
}

static void write_hello(struct cf_dataplane *dp, struct dp_conn *conn)
{
    uint8_t p[8];
    put32(p, DP_MAGIC);
    p[4] = DP_VERSION;
    p[5] = 0;
    p[6] = p[7] = 0;
    conn_write(conn, DP_HELLO, 0, p, 8, dp->name, strlen(dp->name));
}

/* ---- connections ---- */

static void conn_release(struct dp_conn *conn)
{
    if (conn && __atomic_sub_fetch(&conn->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_mutex_destroy(&conn->lock);
        cf_free(conn);
    }
}

static void output_fail(struct cf_dp_output *out, const char *peer, const char *reason,
                        int call_hook);
static void input_end(struct cf_dataplane *dp, struct dp_input *in, const char *peer,
                      const char *reason);

static void free_frames(struct frame *f)
{
    while (f) {
        struct frame *next = f->next;
        frame_cleanup(f->data, f->len, f);
        f = next;
    }
}

/*
 * Marks a connection dead: no more reads or writes, its outputs fail, its inputs end (with the
 * failure hook where the stream was not complete, if call_hooks). The bufferevent is freed
 * later by reap_cb, since this usually runs inside its callbacks. clean: the peer closed it
 * (not an error if no channel was open).
 */
static void conn_fail(struct dp_conn *conn, int call_hooks, int clean, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void conn_fail(struct dp_conn *conn, int call_hooks, int clean, const char *fmt, ...)
{
    struct cf_dataplane *dp = conn->dp;
    if (conn->state == CONN_DEAD) {
        return;
    }
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(conn->reason, sizeof(conn->reason), "%s", reason);
    conn->state = CONN_DEAD;
    bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(conn->bev, NULL, NULL, NULL, NULL);
    pthread_mutex_lock(&conn->lock);
    conn->dead = 1;
    struct frame *f = conn->outq;
    conn->outq = conn->outq_tail = NULL;
    pthread_mutex_unlock(&conn->lock);
    free_frames(f);
    if (conn->nopen || !clean) {
        STAT_ADD(dp, conns_failed, 1);
        cf_error("data plane: connection %s %s failed with %u channel(s) open: %s",
                 conn->outgoing ? "to" : "from", conn->peer, conn->nopen, reason);
    } else {
        cf_note("data plane: connection %s %s closed: %s", conn->outgoing ? "to" : "from",
                conn->peer, reason);
    }
    /* Each channel is detached before its hook runs, so a hook that unregisters inputs finds
     * the tables consistent (and later entries it turned into tombstones are skipped). */
    for (uint32_t c = 0; c < conn->nchans; c++) {
        void *ch = conn->chans[c];
        conn->chans[c] = NULL;
        if (!ch || ch == CHAN_CLOSING || ch == CHAN_TOMB) {
            continue;
        }
        if (conn->outgoing) {
            output_fail(ch, conn->peer, reason, call_hooks);
        } else {
            input_end(dp, ch, conn->peer, call_hooks ? reason : NULL);
        }
    }
    cf_free(conn->chans);
    conn->chans = NULL;
    conn->nchans = conn->nopen = 0;
    struct dp_conn **pp = &dp->conns;
    while (*pp && *pp != conn) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = conn->next;
    }
    conn->next = dp->reap;
    dp->reap = conn;
    event_active(dp->reap_ev, EV_READ, 0);
}

/* Frees a dead connection's libevent objects and drops the loop's reference. */
static void conn_free_io(struct dp_conn *conn)
{
    /* Best effort, without blocking: what was already queued (a HELLO answer, the ERROR that
     * says why we close, a last EOS at destroy) still leaves if the socket takes it. */
    evutil_socket_t fd = bufferevent_getfd(conn->bev);
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    if (fd >= 0 && evbuffer_get_length(out) > 0) {
        evbuffer_unfreeze(out, 1); /* a socket bufferevent lets only itself drain its output */
        evbuffer_write(out, fd);
    }
    bufferevent_free(conn->bev); /* closes the socket; frees frames still buffered */
    conn->bev = NULL;
    /* Task threads call event_active(flush_ev) under conn->lock and only while !dead, which
     * was set under the lock: once we held the lock after that, no one touches flush_ev. */
    pthread_mutex_lock(&conn->lock);
    pthread_mutex_unlock(&conn->lock);
    event_free(conn->flush_ev);
    conn->flush_ev = NULL;
    conn_release(conn);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cf_dataplane *dp = arg;
    while (dp->reap) {
        struct dp_conn *conn = dp->reap;
        dp->reap = conn->next;
        conn_free_io(conn);
    }
}

static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

static struct dp_conn *conn_new(struct cf_dataplane *dp, struct bufferevent *bev, int outgoing,
                                const char *addr)
{
    struct dp_conn *conn = cf_new(struct dp_conn);
    conn->dp = dp;
    conn->refs = 1;
    conn->outgoing = outgoing;
    conn->bev = bev;
    conn->state = CONN_HELLO;
    snprintf(conn->addr, sizeof(conn->addr), "%s", addr);
    snprintf(conn->peer, sizeof(conn->peer), "%s", addr);
    pthread_mutex_init(&conn->lock, NULL);
    conn->flush_ev = event_new(dp->base, -1, 0, flush_cb, conn);
    bufferevent_setcb(bev, read_cb, NULL, event_cb, conn);
    bufferevent_set_max_single_read(bev, MAX_SINGLE_IO);
    bufferevent_set_max_single_write(bev, MAX_SINGLE_IO);
    struct timeval tv = {.tv_sec = CF_DP_HELLO_TIMEOUT_MS / 1000,
                         .tv_usec = (CF_DP_HELLO_TIMEOUT_MS % 1000) * 1000};
    bufferevent_set_timeouts(bev, &tv, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    conn->next = dp->conns;
    dp->conns = conn;
    return conn;
}

static void set_nodelay(evutil_socket_t fd)
{
    /* Credits are tiny frames on the latency path of every channel: no Nagle delay. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
    }
    snprintf(buf, size, "%s:%d", host, port);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)listener;
    (void)salen;
    struct cf_dataplane *dp = arg;
    set_nodelay(fd);
    char addr[MAX_NAME];
    sockaddr_text(sa, addr, sizeof(addr));
    struct bufferevent *bev = bufferevent_socket_new(dp->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        cf_error("data plane: cannot set up the connection from %s", addr);
        return;
    }
    STAT_ADD(dp, conns_accepted, 1);
    conn_new(dp, bev, 0, addr);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
    (void)listener;
    (void)arg;
    /* EMFILE and friends: libevent keeps listening; say why connections are refused. */
    cf_error("data plane: accept failed: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- the receiving side (loop thread) ---- */

/*
 * The sender side of an input ended: normally (reason NULL, after EOS) or not (the hook runs).
 * The caller has cleared the connection's channel entry. An input never registered goes away.
 */
static void input_end(struct cf_dataplane *dp, struct dp_input *in, const char *peer,
                      const char *reason)
{
    in->conn = NULL;
    in->credit = 0;
    int call = reason && !in->failed && !in->eos;
    if (call) {
        in->failed = 1;
    }
    char key[CF_DP_MAX_KEY + 1];
    snprintf(key, sizeof(key), "%s", in->key);
    if (!in->registered) {
        input_free(dp, in);
    }
    if (call) {
        fire(dp, key, 1, peer, reason);
    }
}

/* Refuses a channel: the sender is told, later frames are dropped until its CLOSE. */
static void input_reject(struct cf_dataplane *dp, struct dp_input *in, int code, const char *why)
{
    struct dp_conn *conn = in->conn;
    write_error(conn, in->chan, code, why);
    conn->chans[in->chan] = CHAN_TOMB;
    input_end(dp, in, conn->peer, why);
}

/* Registered and opened: check the schema and grant the free slots of the gate channel. */
static void input_activate(struct cf_dataplane *dp, struct dp_input *in)
{
    if (in->sender_fp != in->fp) {
        char why[200];
        snprintf(why, sizeof(why),
                 "schema mismatch: sender's schema fingerprint %016llx, receiver's %016llx",
                 (unsigned long long)in->sender_fp, (unsigned long long)in->fp);
        input_reject(dp, in, CF_ETYPE, why);
        return;
    }
    pthread_mutex_lock(&dp->lock);
    in->returned = 0; /* pops before now are counted in the free space below */
    pthread_mutex_unlock(&dp->lock);
    int space = cf_gate_channel_space(in->gate, in->gate_channel);
    if (space > 0) {
        in->credit = space;
        write_credit(in->conn, in->chan, space);
    }
}

/* Pushes one decoded message; the credit it used guarantees a free slot. */
static void input_deliver(struct cf_dataplane *dp, struct dp_input *in, struct cf_msg *msg)
{
    int rc = cf_gate_try_push(in->gate, in->gate_channel, msg);
    if (rc == 0) {
        return;
    }
    STAT_ADD(dp, dropped_messages, 1);
    if (rc == CF_ECANCELED) {
        /* The consumer is gone (the job is being canceled): drop, and give the credit back
         * so the sender is never stuck waiting on a dead consumer. */
        in->credit++;
        write_credit(in->conn, in->chan, 1);
        return;
    }
    cf_batch_release(msg->batch);
    input_reject(dp, in, CF_EFAILED,
                 "gate channel full: another producer writes to the data plane's channel");
}

/* Spends one of the credits granted to the sender; -1 if it had none left. */
static int take_credit(struct dp_input *in)
{
    if (in->credit <= 0) {
        return -1;
    }
    in->credit--;
    return 0;
}

static void protocol_error(struct dp_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void protocol_error(struct dp_conn *conn, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    STAT_ADD(conn->dp, protocol_errors, 1);
    char reason[420];
    snprintf(reason, sizeof(reason), "protocol error: %s", what);
    if (conn->state == CONN_READY) {
        /* It speaks the protocol: tell it why (a stranger before HELLO gets nothing). */
        write_error(conn, CONN_CHANNEL, CF_EPARSE, reason);
    }
    conn_fail(conn, 1, 0, "%s", reason);
}

/* Text of untrusted bytes for logs: printable ASCII only. */
static void clean_text(char *dst, size_t size, const uint8_t *p, size_t n)
{
    if (n >= size) {
        n = size - 1;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    }
    dst[n] = '\0';
}

static void on_open(struct dp_conn *conn, uint32_t chan, const uint8_t *p, uint32_t len)
{
    struct cf_dataplane *dp = conn->dp;
    if (len < 9 || len > 8 + CF_DP_MAX_KEY || memchr(p + 8, 0, len - 8)) {
        protocol_error(conn, "bad OPEN frame (%u bytes)", len);
        return;
    }
    if (chan >= CF_DP_MAX_CHANNELS) {
        protocol_error(conn, "channel number %u out of range", chan);
        return;
    }
    if (chan >= conn->nchans) {
        uint32_t n = conn->nchans ? conn->nchans : 16;
        while (n <= chan) {
            n *= 2;
        }
        conn->chans = cf_realloc(conn->chans, n * sizeof(*conn->chans));
        memset(conn->chans + conn->nchans, 0, (n - conn->nchans) * sizeof(*conn->chans));
        conn->nchans = n;
    }
    if (conn->chans[chan]) {
        protocol_error(conn, "OPEN of channel %u, which is open", chan);
        return;
    }
    char key[CF_DP_MAX_KEY + 1];
    memcpy(key, p + 8, len - 8);
    key[len - 8] = '\0';
    conn->nopen++;
    struct dp_input *in = input_find(dp, key);
    if (in && in->opened) {
        char why[CF_DP_MAX_KEY + 64];
        snprintf(why, sizeof(why), "channel key %s is already in use", key);
        write_error(conn, chan, CF_EEXIST, why);
        conn->chans[chan] = CHAN_TOMB;
        cf_warn("data plane: %s (from %s)", why, conn->peer);
        return;
    }
    if (!in) {
        in = input_create(dp, key);
    }
    in->opened = 1;
    in->conn = conn;
    in->chan = chan;
    in->sender_fp = get64(p);
    conn->chans[chan] = in;
    if (in->registered) {
        input_activate(dp, in);
    }
}

static void on_close_from_sender(struct dp_conn *conn, uint32_t chan, void *slot)
{
    conn->chans[chan] = NULL;
    conn->nopen--;
    conn_write(conn, DP_CLOSE, chan, NULL, 0, NULL, 0); /* the acknowledgement */
    if (slot != CHAN_TOMB) {
        struct dp_input *in = slot;
        input_end(conn->dp, in, conn->peer,
                  in->eos ? NULL : "closed by the sender before end-of-stream");
    }
}

static void on_channel_frame_in(struct dp_conn *conn, int type, uint32_t chan, const uint8_t *p,
                                uint32_t len)
{
    struct cf_dataplane *dp = conn->dp;
    void *slot = chan < conn->nchans ? conn->chans[chan] : NULL;
    if (!slot) {
        protocol_error(conn, "%s frame for channel %u, which is not open", frame_names[type], chan);
        return;
    }
    if (type == DP_CLOSE || type == DP_ERROR) {
        if (type == DP_CLOSE ? len != 0 : len < 4) {
            protocol_error(conn, "bad %s frame (%u bytes)", frame_names[type], len);
            return;
        }
        if (type == DP_ERROR && slot != CHAN_TOMB) {
            /* The sender reports a failure and will CLOSE; end the input now. */
            char msg[MAX_ERROR + 1];
            clean_text(msg, sizeof(msg), p + 4, len - 4);
            struct dp_input *in = slot;
            conn->chans[chan] = CHAN_TOMB;
            input_end(dp, in, conn->peer, msg[0] ? msg : "the sender reported an error");
            return;
        }
        if (type == DP_CLOSE) {
            on_close_from_sender(conn, chan, slot);
        }
        return;
    }
    size_t want = type == DP_DATA ? len : type == DP_EOS ? 0 : 8;
    if (len != want) {
        protocol_error(conn, "bad %s frame (%u bytes)", frame_names[type], len);
        return;
    }
    if (slot == CHAN_TOMB) {
        STAT_ADD(dp, dropped_messages, 1);
        return;
    }
    struct dp_input *in = slot;
    if (take_credit(in)) {
        protocol_error(conn, "%s frame on channel %u (%s) without credit", frame_names[type], chan,
                       in->key);
        return;
    }
    struct cf_msg msg = {0};
    switch (type) {
    case DP_DATA: {
        struct cf_batch *batch = cf_batch_pool_get(in->pool);
        int rc = cf_batch_wire_decode(p, len, batch, &dp->err);
        if (rc) {
            cf_batch_release(batch);
            if (rc == CF_ETYPE) {
                input_reject(dp, in, CF_ETYPE, dp->err.msg);
            } else {
                protocol_error(conn, "channel %s: %s", in->key, dp->err.msg);
            }
            return;
        }
        msg.kind = CF_MSG_BATCH;
        msg.batch = batch;
        break;
    }
    case DP_WATERMARK:
        msg.kind = CF_MSG_WATERMARK;
        msg.value = (int64_t)get64(p);
        break;
    case DP_BARRIER:
        msg.kind = CF_MSG_BARRIER;
        msg.value = (int64_t)get64(p);
        break;
    default:
        msg.kind = CF_MSG_EOS;
        in->eos = 1;
        break;
    }
    input_deliver(dp, in, &msg);
}

/* ---- the sending side, loop thread ---- */

/* Fails an output: blocked and future sends return CF_EIO. Loop thread or destroy. */
static void output_fail(struct cf_dp_output *out, const char *peer, const char *reason,
                        int call_hook)
{
    pthread_mutex_lock(&out->lock);
    int first = !out->failed;
    if (first) {
        out->failed = 1;
        snprintf(out->error, sizeof(out->error), "channel %s to %s: %s", out->key, peer, reason);
    }
    int eos = out->eos_sent;
    struct cf_dataplane *dp = out->dp;
    pthread_cond_broadcast(&out->cond);
    pthread_mutex_unlock(&out->lock);
    /* After EOS nothing more is sent; if the EOS was lost the receiver reports it. */
    if (first && call_hook && out->armed && !eos && dp) {
        fire(dp, out->key, 0, peer, reason);
    }
}

static void on_channel_frame_out(struct dp_conn *conn, int type, uint32_t chan, const uint8_t *p,
                                 uint32_t len)
{
    void *slot = chan < conn->nchans ? conn->chans[chan] : NULL;
    if (!slot) {
        protocol_error(conn, "%s frame for channel %u, which is not open", frame_names[type], chan);
        return;
    }
    switch (type) {
    case DP_CREDIT: {
        uint32_t n = len == 4 ? get32(p) : 0;
        if (n == 0 || n > MAX_CREDIT) {
            protocol_error(conn, "bad CREDIT frame");
            return;
        }
        if (slot == CHAN_CLOSING) {
            return;
        }
        struct cf_dp_output *out = slot;
        pthread_mutex_lock(&out->lock);
        int ok = out->credit + (int)n <= MAX_CREDIT;
        if (ok) {
            out->credit += (int)n;
            pthread_cond_signal(&out->cond);
        }
        pthread_mutex_unlock(&out->lock);
        if (!ok) {
            protocol_error(conn, "more than %d credits on channel %u", MAX_CREDIT, chan);
        }
        return;
    }
    case DP_CLOSE:
        if (len != 0 || slot != CHAN_CLOSING) {
            protocol_error(conn, "unexpected CLOSE of channel %u", chan);
            return;
        }
        conn->chans[chan] = NULL; /* acknowledged: the number may be reused */
        conn->nopen--;
        return;
    case DP_ERROR: {
        if (len < 4) {
            protocol_error(conn, "bad ERROR frame");
            return;
        }
        if (slot == CHAN_CLOSING) {
            return;
        }
        char msg[MAX_ERROR + 1];
        clean_text(msg, sizeof(msg), p + 4, len - 4);
        output_fail(slot, conn->peer, msg[0] ? msg : "rejected by the receiver", 1);
        return;
    }
    default: protocol_error(conn, "%s frame sent to the sending side", frame_names[type]);
    }
}

/* ---- frame dispatch ---- */

static void on_hello(struct dp_conn *conn, const uint8_t *p, uint32_t len)
{
    if (len < 8 || len > 8 + MAX_NAME || get32(p) != DP_MAGIC) {
        protocol_error(conn, "not a Creekflow data plane HELLO");
        return;
    }
    if (p[4] != DP_VERSION) {
        protocol_error(conn, "unsupported data plane version %u", p[4]);
        return;
    }
    char name[MAX_NAME + 1];
    clean_text(name, sizeof(name), p + 8, len - 8);
    snprintf(conn->peer, sizeof(conn->peer), "%s (%s)", conn->addr, name);
    conn->state = CONN_READY;
    bufferevent_set_timeouts(conn->bev, NULL, NULL);
    if (!conn->outgoing) {
        write_hello(conn->dp, conn);
        return;
    }
    for (uint32_t c = 0; c < conn->nchans; c++) {
        struct cf_dp_output *out = conn->chans[c];
        if (out && out != CHAN_CLOSING) {
            out->armed = 1;
            pthread_mutex_lock(&out->lock);
            out->ready = 1;
            pthread_cond_broadcast(&out->cond);
            pthread_mutex_unlock(&out->lock);
        }
    }
}

static void on_frame(struct dp_conn *conn, int type, uint32_t chan, const uint8_t *p, uint32_t len)
{
    /* read_cb checked the type, that HELLO comes first and the payload's size limit. */
    if (conn->state == CONN_HELLO) {
        on_hello(conn, p, len);
        return;
    }
    if (type == DP_HELLO) {
        protocol_error(conn, "second HELLO");
        return;
    }
    if (chan == CONN_CHANNEL && type == DP_ERROR) {
        char msg[MAX_ERROR + 1];
        clean_text(msg, sizeof(msg), len > 4 ? p + 4 : p, len > 4 ? len - 4 : 0);
        conn_fail(conn, 1, 0, "the peer reported: %s", msg);
        return;
    }
    if (conn->outgoing) {
        on_channel_frame_out(conn, type, chan, p, len);
    } else if (type == DP_OPEN) {
        on_open(conn, chan, p, len);
    } else if (type == DP_CREDIT) {
        protocol_error(conn, "CREDIT frame sent to the receiving side");
    } else {
        on_channel_frame_in(conn, type, chan, p, len);
    }
}

/*
 * The largest payload of a frame type (of a known type: EOS and CLOSE have 0 too), so a bad
 * header is refused when it arrives, not after buffering the megabytes it announces.
 */
static uint32_t max_payload(int type)
{
    switch (type) {
    case DP_HELLO: return 8 + MAX_NAME;
    case DP_OPEN: return 8 + CF_DP_MAX_KEY;
    case DP_DATA: return CF_DP_MAX_FRAME;
    case DP_WATERMARK:
    case DP_BARRIER: return 8;
    case DP_CREDIT: return 4;
    case DP_ERROR: return 4 + MAX_ERROR;
    default: return 0;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct dp_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (conn->state != CONN_DEAD) {
        size_t avail = evbuffer_get_length(in);
        if (avail < HDR) {
            return;
        }
        uint8_t h[HDR];
        evbuffer_copyout(in, h, HDR);
        uint32_t len = get32(h);
        int type = h[4];
        if (type <= 0 || type >= DP__COUNT) {
            protocol_error(conn, "unknown frame type %d", type);
            return;
        }
        if (conn->state == CONN_HELLO && type != DP_HELLO) {
            protocol_error(conn, "%s frame before HELLO", frame_names[type]);
            return;
        }
        if (len > max_payload(type)) {
            protocol_error(conn, "%s frame of %u bytes exceeds the limit of %u", frame_names[type],
                           len, max_payload(type));
            return;
        }
        if (avail < HDR + (size_t)len) {
            return;
        }
        const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)(HDR + (size_t)len));
        STAT_ADD(conn->dp, frames_in, 1);
        STAT_ADD(conn->dp, bytes_in, HDR + (uint64_t)len);
        on_frame(conn, type, get32(h + 5), frame + HDR, len);
        evbuffer_drain(in, HDR + (size_t)len);
        if (!conn->outgoing && conn->state != CONN_DEAD &&
            evbuffer_get_length(bufferevent_get_output(bev)) > MAX_REPLY_BACKLOG) {
            protocol_error(conn, "the peer sends control frames but does not read the answers");
        }
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dp_conn *conn = arg;
    if (what & BEV_EVENT_CONNECTED) {
        set_nodelay(bufferevent_getfd(bev));
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        conn_fail(conn, 1, 0, "no HELLO within %d ms", CF_DP_HELLO_TIMEOUT_MS);
    } else if (what & BEV_EVENT_EOF) {
        conn_fail(conn, 1, 1, "closed by the peer");
    } else {
        int e = EVUTIL_SOCKET_ERROR();
        conn_fail(conn, 1, 0, "%s", e ? evutil_socket_error_to_string(e) : "socket error");
    }
}

/* ---- pop hook and credits ---- */

/* Consumer thread, after each pop of a gate with remote inputs: one credit to return. */
static void pop_hook(void *arg, int channel)
{
    struct dp_gate_rec *rec = arg;
    struct cf_dataplane *dp = rec->dp;
    if (!__atomic_load_n(&rec->in[channel], __ATOMIC_ACQUIRE)) {
        return; /* a local channel of the same gate */
    }
    int wake = 0;
    pthread_mutex_lock(&dp->lock);
    struct dp_input *in = rec->in[channel];
    if (in) {
        in->returned++;
        if (!in->dirty) {
            in->dirty = 1;
            wake = dp->dirty == NULL;
            in->dirty_next = dp->dirty;
            dp->dirty = in;
        }
    }
    pthread_mutex_unlock(&dp->lock);
    if (wake) {
        event_active(dp->credit_ev, EV_READ, 0);
    }
}

static void credit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cf_dataplane *dp = arg;
    pthread_mutex_lock(&dp->lock);
    struct dp_input *in = dp->dirty;
    dp->dirty = NULL;
    while (in) {
        struct dp_input *next = in->dirty_next;
        int n = in->returned;
        in->returned = 0;
        in->dirty = 0;
        in->dirty_next = NULL;
        if (n > 0 && in->conn && in->conn->state == CONN_READY) {
            in->credit += n;
            write_credit(in->conn, in->chan, n);
        }
        in = next;
    }
    pthread_mutex_unlock(&dp->lock);
}

/* ---- lifecycle ---- */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cf_dataplane *dp = arg;
    event_base_loopbreak(dp->base);
}

static void *loop_main(void *arg)
{
    struct cf_dataplane *dp = arg;
    cf_log_ctx_set(dp->log_ctx);
    event_base_loop(dp->base, EVLOOP_NO_EXIT_ON_EMPTY);
    cf_log_ctx_set(NULL);
    return NULL;
}

struct cf_dataplane *cf_dataplane_create(const char *bind_addr, int port, struct cf_err *err)
{
    pthread_once(&global_once, global_init);
    if (port < 0 || port > 65535) {
        cf_err_set(err, CF_EINVAL, "data plane: port %d out of range", port);
        return NULL;
    }
    const char *host = bind_addr && *bind_addr ? bind_addr : NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host, service, &hints, &ai);
    if (grc != 0) {
        cf_err_set(err, CF_EINVAL, "data plane: cannot resolve bind address %s: %s",
                   host ? host : "*", gai_strerror(grc));
        return NULL;
    }
    struct cf_dataplane *dp = cf_new(struct cf_dataplane);
    pthread_mutex_init(&dp->lock, NULL);
    pthread_cond_init(&dp->cmd_done, NULL);
    dp->nbuckets = 64;
    dp->buckets = cf_calloc(dp->nbuckets, sizeof(*dp->buckets));
    dp->base = event_base_new();
    if (!dp->base) {
        freeaddrinfo(ai);
        cf_err_set(err, CF_EFAILED, "data plane: cannot create an event base");
        goto fail;
    }
    dp->listener = evconnlistener_new_bind(
        dp->base, accept_cb, dp, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        -1, ai->ai_addr, (int)ai->ai_addrlen);
    if (!dp->listener) {
        int e = EVUTIL_SOCKET_ERROR();
        freeaddrinfo(ai);
        cf_err_set(err, CF_EIO, "data plane: cannot listen on %s:%d: %s", host ? host : "*", port,
                   evutil_socket_error_to_string(e));
        goto fail;
    }
    freeaddrinfo(ai);
    evconnlistener_set_error_cb(dp->listener, accept_error_cb);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    getsockname(evconnlistener_get_fd(dp->listener), (struct sockaddr *)&ss, &sslen);
    char addr[MAX_NAME];
    sockaddr_text((struct sockaddr *)&ss, addr, sizeof(addr));
    dp->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(dp->name, sizeof(dp->name), "%s", addr);
    snprintf(dp->log_ctx, sizeof(dp->log_ctx), "dataplane=%s", addr);
    dp->cmd_ev = event_new(dp->base, -1, 0, cmd_cb, dp);
    dp->credit_ev = event_new(dp->base, -1, 0, credit_cb, dp);
    dp->reap_ev = event_new(dp->base, -1, 0, reap_cb, dp);
    dp->stop_ev = event_new(dp->base, -1, 0, stop_cb, dp);
    int rc = pthread_create(&dp->thread, NULL, loop_main, dp);
    if (rc != 0) {
        cf_err_set(err, CF_EFAILED, "data plane: cannot start its thread: %s", strerror(rc));
        goto fail;
    }
    pthread_setname_np(dp->thread, "cf-dataplane");
    return dp;
fail:
    if (dp->cmd_ev) {
        event_free(dp->cmd_ev);
        event_free(dp->credit_ev);
        event_free(dp->reap_ev);
        event_free(dp->stop_ev);
    }
    if (dp->listener) {
        evconnlistener_free(dp->listener);
    }
    if (dp->base) {
        event_base_free(dp->base);
    }
    cf_free(dp->buckets);
    pthread_cond_destroy(&dp->cmd_done);
    pthread_mutex_destroy(&dp->lock);
    cf_free(dp);
    return NULL;
}

int cf_dataplane_port(const struct cf_dataplane *dp)
{
    return dp->port;
}

void cf_dataplane_set_failure_hook(struct cf_dataplane *dp, cf_dataplane_failure_fn fn, void *arg)
{
    pthread_mutex_lock(&dp->lock);
    dp->fail_fn = fn;
    dp->fail_arg = arg;
    pthread_mutex_unlock(&dp->lock);
}

void cf_dataplane_destroy(struct cf_dataplane *dp)
{
    if (!dp) {
        return;
    }
    /* 1. No pop hook runs or starts after this: consumers may go on popping. */
    for (struct dp_gate_rec *rec = dp->recs; rec; rec = rec->next) {
        cf_gate_set_pop_hook(rec->gate, NULL, NULL);
    }
    /* 2. Stop the loop (stop_ev runs even if the loop has not started yet). */
    event_active(dp->stop_ev, EV_READ, 0);
    pthread_join(dp->thread, NULL);
    /* 3. Everything is ours now. Close the connections; outputs fail without hooks. */
    while (dp->conns) {
        struct dp_conn *conn = dp->conns;
        conn_flush(conn); /* frames queued by senders go with the socket's last write */
        for (uint32_t c = 0; c < conn->nchans; c++) {
            void *ch = conn->chans[c];
            if (conn->outgoing && ch && ch != CHAN_CLOSING) {
                output_fail(ch, conn->peer, "the data plane was destroyed", 0);
            }
            conn->chans[c] = NULL;
        }
        conn->nopen = 0;
        conn_fail(conn, 0, 1, "the data plane was destroyed");
    }
    while (dp->reap) {
        struct dp_conn *conn = dp->reap;
        dp->reap = conn->next;
        conn_free_io(conn);
    }
    pthread_mutex_lock(&dp->lock);
    for (struct cf_dp_output *out = dp->outputs; out; out = out->next) {
        pthread_mutex_lock(&out->lock);
        out->dp = NULL;
        if (!out->failed) {
            out->failed = 1;
            snprintf(out->error, sizeof(out->error), "channel %s: the data plane was destroyed",
                     out->key);
        }
        pthread_cond_broadcast(&out->cond);
        pthread_mutex_unlock(&out->lock);
    }
    dp->outputs = NULL;
    pthread_mutex_unlock(&dp->lock);
    for (size_t b = 0; b < dp->nbuckets; b++) {
        struct dp_input *in = dp->buckets[b];
        while (in) {
            struct dp_input *next = in->hnext;
            cf_free(in->key);
            cf_free(in);
            in = next;
        }
    }
    while (dp->recs) {
        struct dp_gate_rec *rec = dp->recs;
        dp->recs = rec->next;
        cf_free(rec->in);
        cf_free(rec);
    }
    event_free(dp->cmd_ev);
    event_free(dp->credit_ev);
    event_free(dp->reap_ev);
    event_free(dp->stop_ev);
    evconnlistener_free(dp->listener);
    event_base_free(dp->base);
    cf_free(dp->buckets);
    pthread_cond_destroy(&dp->cmd_done);
    pthread_mutex_destroy(&dp->lock);
    cf_free(dp);
}

void cf_dataplane_stats(struct cf_dataplane *dp, struct cf_dataplane_stats *stats)
{
#define LOAD(f) stats->f = __atomic_load_n(&dp->stats.f, __ATOMIC_RELAXED)
    LOAD(frames_in);
    LOAD(bytes_in);
    LOAD(frames_out);
    LOAD(bytes_out);
    LOAD(out_queued_bytes);
    LOAD(conns_accepted);
    LOAD(conns_failed);
    LOAD(protocol_errors);
    LOAD(dropped_messages);
#undef LOAD
}

/* ---- registration ---- */

struct reg_args {
    const char *key;
    struct cf_gate *gate;
    int gate_channel;
    struct cf_batch_pool *pool;
    int rc;
};

static void register_cmd(struct cf_dataplane *dp, void *arg)
{
    struct reg_args *a = arg;
    struct dp_input *in = input_find(dp, a->key);
    if (in && in->registered) {
        a->rc = CF_EEXIST;
        return;
    }
    pthread_mutex_lock(&dp->lock);
    struct dp_gate_rec *rec = dp->recs;
    while (rec && rec->gate != a->gate) {
        rec = rec->next;
    }
    int new_rec = !rec;
    if (new_rec) {
        rec = cf_new(struct dp_gate_rec);
        rec->dp = dp;
        rec->gate = a->gate;
        rec->nchan = cf_gate_channels(a->gate);
        rec->in = cf_calloc((size_t)rec->nchan, sizeof(*rec->in));
        rec->next = dp->recs;
        dp->recs = rec;
    }
    if (rec->in[a->gate_channel]) {
        pthread_mutex_unlock(&dp->lock);
        a->rc = CF_EEXIST;
        return;
    }
    if (!in) {
        in = input_create(dp, a->key);
    }
    in->registered = 1;
    in->gate = a->gate;
    in->gate_channel = a->gate_channel;
    in->pool = a->pool;
    in->fp = cf_batch_wire_fingerprint(cf_batch_pool_schema(a->pool));
    in->rec = rec;
    rec->nin++;
    __atomic_store_n(&rec->in[a->gate_channel], in, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&dp->lock);
    if (new_rec) {
        cf_gate_set_pop_hook(a->gate, pop_hook, rec);
    }
    if (in->conn) {
        input_activate(dp, in);
    }
    a->rc = 0;
}

int cf_dataplane_register_input(struct cf_dataplane *dp, const char *key, struct cf_gate *gate,
                                int gate_channel, struct cf_batch_pool *pool)
{
    size_t n = strlen(key);
    if (n == 0 || n > CF_DP_MAX_KEY || gate_channel < 0 || gate_channel >= cf_gate_channels(gate)) {
        return CF_EINVAL;
    }
    struct reg_args a = {.key = key, .gate = gate, .gate_channel = gate_channel, .pool = pool};
    run_in_loop(dp, register_cmd, &a);
    return a.rc;
}

static void unregister_cmd(struct cf_dataplane *dp, void *arg)
{
    struct reg_args *a = arg;
    struct dp_input *in = input_find(dp, a->key);
    if (!in || !in->registered) {
        a->rc = CF_ENOENT;
        return;
    }
    struct dp_gate_rec *rec = in->rec, *drop = NULL;
    pthread_mutex_lock(&dp->lock);
    __atomic_store_n(&rec->in[in->gate_channel], NULL, __ATOMIC_RELEASE);
    if (in->dirty) {
        struct dp_input **pp = &dp->dirty;
        while (*pp != in) {
            pp = &(*pp)->dirty_next;
        }
        *pp = in->dirty_next;
    }
    if (--rec->nin == 0) {
        struct dp_gate_rec **pp = &dp->recs;
        while (*pp != rec) {
            pp = &(*pp)->next;
        }
        *pp = rec->next;
        drop = rec;
    }
    pthread_mutex_unlock(&dp->lock);
    if (drop) {
        /* Waits for a hook call in progress, which needs dp->lock: we do not hold it. */
        cf_gate_set_pop_hook(drop->gate, NULL, NULL);
        cf_free(drop->in);
        cf_free(drop);
    }
    if (in->conn) {
        write_error(in->conn, in->chan, CF_ECANCELED, "the input was unregistered");
        in->conn->chans[in->chan] = CHAN_TOMB;
    }
    input_free(dp, in);
    a->rc = 0;
}

int cf_dataplane_unregister_input(struct cf_dataplane *dp, const char *key)
{
    struct reg_args a = {.key = key};
    run_in_loop(dp, unregister_cmd, &a);
    return a.rc;
}

/* ---- outputs ---- */

struct open_args {
    char addr[MAX_NAME];
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct cf_dp_output *out;
};

static struct dp_conn *conn_connect(struct cf_dataplane *dp, struct open_args *a)
{
    struct bufferevent *bev = bufferevent_socket_new(dp->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        return NULL;
    }
    struct dp_conn *conn = conn_new(dp, bev, 1, a->addr);
    write_hello(dp, conn);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&a->ss, (int)a->sslen) != 0) {
        int e = EVUTIL_SOCKET_ERROR();
        conn_fail(conn, 0, 0, "connect: %s", evutil_socket_error_to_string(e));
    }
    return conn;
}

static void open_cmd(struct cf_dataplane *dp, void *arg)
{
    struct open_args *a = arg;
    struct cf_dp_output *out = a->out;
    struct dp_conn *conn = dp->conns;
    while (conn && !(conn->outgoing && strcmp(conn->addr, a->addr) == 0)) {
        conn = conn->next;
    }
    if (!conn) {
        conn = conn_connect(dp, a);
    }
    if (!conn || conn->state == CONN_DEAD) {
        pthread_mutex_lock(&out->lock);
        out->failed = 1;
        snprintf(out->error, sizeof(out->error), "cannot connect to the data plane at %s: %s",
                 a->addr, conn ? conn->reason : "cannot create a socket");
        pthread_mutex_unlock(&out->lock);
        return;
    }
    uint32_t chan = 0;
    while (chan < conn->nchans && conn->chans[chan]) {
        chan++;
    }
    if (chan >= CF_DP_MAX_CHANNELS) {
        pthread_mutex_lock(&out->lock);
        out->failed = 1;
        snprintf(out->error, sizeof(out->error), "too many channels to %s", a->addr);
        pthread_mutex_unlock(&out->lock);
        return;
    }
    if (chan == conn->nchans) {
        uint32_t n = conn->nchans ? conn->nchans * 2 : 16;
        conn->chans = cf_realloc(conn->chans, n * sizeof(*conn->chans));
        memset(conn->chans + conn->nchans, 0, (n - conn->nchans) * sizeof(*conn->chans));
        conn->nchans = n;
    }
    conn->chans[chan] = out;
    conn->nopen++;
    __atomic_add_fetch(&conn->refs, 1, __ATOMIC_RELAXED);
    out->conn = conn;
    out->chan = chan;
    uint8_t fp[8];
    put64(fp, out->fp);
    conn_write(conn, DP_OPEN, chan, fp, 8, out->key, strlen(out->key));
    pthread_mutex_lock(&dp->lock);
    out->next = dp->outputs;
    if (dp->outputs) {
        dp->outputs->prev = out;
    }
    dp->outputs = out;
    pthread_mutex_unlock(&dp->lock);
    if (conn->state == CONN_READY) {
        out->armed = 1;
        pthread_mutex_lock(&out->lock);
        out->ready = 1;
        pthread_mutex_unlock(&out->lock);
    }
}

static void close_cmd(struct cf_dataplane *dp, void *arg)
{
    struct cf_dp_output *out = arg;
    struct dp_conn *conn = out->conn;
    if (conn && conn->state != CONN_DEAD && out->chan < conn->nchans &&
        conn->chans[out->chan] == out) {
        conn->chans[out->chan] = CHAN_CLOSING;
        conn_write(conn, DP_CLOSE, out->chan, NULL, 0, NULL, 0);
    }
    pthread_mutex_lock(&dp->lock);
    if (out->prev) {
        out->prev->next = out->next;
    } else if (dp->outputs == out) {
        dp->outputs = out->next;
    }
    if (out->next) {
        out->next->prev = out->prev;
    }
    pthread_mutex_unlock(&dp->lock);
}

static void output_free(struct cf_dp_output *out)
{
    conn_release(out->conn);
    pthread_cond_destroy(&out->cond);
    pthread_mutex_destroy(&out->lock);
    cf_free(out->key);
    cf_free(out);
}

void cf_dp_output_close(struct cf_dp_output *out)
{
    if (!out) {
        return;
    }
    pthread_mutex_lock(&out->lock);
    struct cf_dataplane *dp = out->dp;
    pthread_mutex_unlock(&out->lock);
    if (dp) {
        run_in_loop(dp, close_cmd, out);
    }
    output_free(out);
}

struct cf_dp_output *cf_dataplane_open_output(struct cf_dataplane *dp, const char *host, int port,
                                              const char *key, const struct cf_schema *schema,
                                              struct cf_err *err)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > CF_DP_MAX_KEY) {
        cf_err_set(err, CF_EINVAL, "data plane: channel key of %zu bytes (1..%d allowed)", klen,
                   CF_DP_MAX_KEY);
        return NULL;
    }
    struct open_args *a = cf_new(struct open_args);
    snprintf(a->addr, sizeof(a->addr), "%s:%d", host, port);
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host, service, &hints, &ai);
    if (grc != 0) {
        cf_err_set(err, CF_EIO, "data plane: cannot resolve %s: %s", a->addr, gai_strerror(grc));
        cf_free(a);
        return NULL;
    }
    memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
    a->sslen = (socklen_t)ai->ai_addrlen;
    freeaddrinfo(ai);

    struct cf_dp_output *out = cf_new(struct cf_dp_output);
    pthread_mutex_init(&out->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&out->cond, &attr);
    pthread_condattr_destroy(&attr);
    out->dp = dp;
    out->key = cf_strdup(key);
    out->fp = cf_batch_wire_fingerprint(schema);
    a->out = out;
    run_in_loop(dp, open_cmd, a);

    /* Wait for the HELLO exchange; the connection's own timeout ends a silent peer. */
    int64_t deadline = cf_monotonic_ms() + CF_DP_HELLO_TIMEOUT_MS + 2000;
    pthread_mutex_lock(&out->lock);
    while (!out->ready && !out->failed && cf_monotonic_ms() < deadline) {
        struct timespec ts;
        cf_monotonic_timespec(deadline, &ts);
        pthread_cond_timedwait(&out->cond, &out->lock, &ts);
    }
    /* Only the connection decides: a channel rejected right after HELLO (schema, key in use)
     * is reported by cf_dp_output_send, whatever the timing. */
    int ok = out->ready;
    pthread_mutex_unlock(&out->lock);
    if (!ok) {
        cf_err_set(err, CF_EIO, "data plane: cannot open channel %s to %s: %s", key, a->addr,
                   out->error[0] ? out->error : "no HELLO from the peer");
        cf_dp_output_close(out);
        out = NULL;
    }
    cf_free(a);
    return out;
}

void cf_dp_output_cancel(struct cf_dp_output *out)
{
    pthread_mutex_lock(&out->lock);
    out->canceled = 1;
    pthread_cond_broadcast(&out->cond);
    pthread_mutex_unlock(&out->lock);
}

const char *cf_dp_output_error(struct cf_dp_output *out)
{
    return out->error;
}

/* Queues a frame on the connection. Task thread. */
static int conn_enqueue(struct dp_conn *conn, struct frame *f)
{
    pthread_mutex_lock(&conn->lock);
    if (conn->dead) {
        pthread_mutex_unlock(&conn->lock);
        cf_free(f);
        return CF_EIO;
    }
    /* dp is alive while conn is not dead: destroy marks it dead before freeing dp. */
    __atomic_add_fetch(&f->dp->stats.out_queued_bytes, (int64_t)f->len, __ATOMIC_RELAXED);
    STAT_ADD(f->dp, frames_out, 1);
    STAT_ADD(f->dp, bytes_out, f->len);
    f->next = NULL;
    if (conn->outq_tail) {
        conn->outq_tail->next = f;
    } else {
        conn->outq = f;
        event_active(conn->flush_ev, EV_WRITE, 0);
    }
    conn->outq_tail = f;
    pthread_mutex_unlock(&conn->lock);
    return 0;
}

int cf_dp_output_send(struct cf_dp_output *out, struct cf_msg *msg, int64_t *blocked_ns)
{
    struct cf_batch *batch = msg->kind == CF_MSG_BATCH ? msg->batch : NULL;
    msg->batch = NULL;
    int type;
    switch (msg->kind) {
    case CF_MSG_BATCH:
        cf_assert(batch && batch->n <= CF_BATCH_ROWS);
        if (batch->n == 0) {
            cf_batch_release(batch);
            return 0;
        }
        type = DP_DATA;
        break;
    case CF_MSG_WATERMARK: type = DP_WATERMARK; break;
    case CF_MSG_EOS: type = DP_EOS; break;
    case CF_MSG_BARRIER: type = DP_BARRIER; break;
    default: cf_assert(!"unknown message kind"); return CF_EINVAL;
    }
    size_t payload = batch ? cf_batch_wire_size(batch) : type == DP_EOS ? 0 : 8;
    if (payload > CF_DP_MAX_FRAME) {
        cf_batch_release(batch);
        return CF_ERANGE;
    }

    pthread_mutex_lock(&out->lock);
    if (out->credit == 0 && !out->canceled && !out->failed) {
        int64_t t0 = cf_monotonic_ns();
        while (out->credit == 0 && !out->canceled && !out->failed) {
            pthread_cond_wait(&out->cond, &out->lock);
        }
        if (blocked_ns) {
            *blocked_ns += cf_monotonic_ns() - t0;
        }
    }
    int rc = out->canceled ? CF_ECANCELED : out->failed ? CF_EIO : 0;
    if (rc == 0) {
        out->credit--;
        if (type == DP_EOS) {
            out->eos_sent = 1;
        }
    }
    struct cf_dataplane *dp = out->dp;
    pthread_mutex_unlock(&out->lock);
    if (rc) {
        cf_batch_release(batch);
        return rc;
    }

    /* Encode on this (the task's) thread; the loop only moves the bytes. */
    struct frame *f = cf_malloc(sizeof(*f) + HDR + payload);
    f->dp = dp;
    f->len = HDR + payload;
    put32(f->data, (uint32_t)payload);
    f->data[4] = (uint8_t)type;
    put32(f->data + 5, out->chan);
    if (batch) {
        size_t written = cf_batch_wire_write(batch, f->data + HDR);
        cf_assert(written == payload);
        cf_batch_release(batch);
    } else if (type != DP_EOS) {
        put64(f->data + HDR, (uint64_t)msg->value);
    }
    return conn_enqueue(out->conn, f);
}
