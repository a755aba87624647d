/*
 * Unit tests of the data plane: two data planes in one process talk over real sockets on
 * 127.0.0.1, as two workers would. Worker threads never assert (cmocka's asserts jump back to
 * the test's frame): they record what they saw and the test thread checks it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/base/log.h"
#include "common/base/timeutil.h"
#include "common/data/batch.h"
#include "common/data/batch_wire.h"
#include "worker/dataplane.h"
#include "worker/gate.h"

#define NCHAN 4

static int64_t timeout_ms(int64_t ms)
{
    const char *m = getenv("CF_TEST_TIMEOUT_MULT");
    int mult = m && atoi(m) > 0 ? atoi(m) : 1;
    return ms * mult;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Polls cond(arg) every ms until it holds or the (scaled) timeout passes. */
static int wait_for(int (*cond)(void *), void *arg, int64_t ms)
{
    int64_t deadline = cf_monotonic_ms() + timeout_ms(ms);
    while (!cond(arg)) {
        if (cf_monotonic_ms() > deadline) {
            return 0;
        }
        sleep_ms(1);
    }
    return 1;
}

/* ---- failure hook recorder ---- */

struct failures {
    pthread_mutex_t lock;
    int n;
    char key[16][CF_DP_MAX_KEY + 1];
    int is_input[16];
    char reason[16][256];
};

static void on_failure(void *arg, const char *key, int is_input, const char *peer,
                       const char *reason)
{
    (void)peer;
    struct failures *f = arg;
    pthread_mutex_lock(&f->lock);
    if (f->n < 16) {
        snprintf(f->key[f->n], sizeof(f->key[0]), "%s", key);
        f->is_input[f->n] = is_input;
        snprintf(f->reason[f->n], sizeof(f->reason[0]), "%s", reason);
    }
    f->n++;
    pthread_mutex_unlock(&f->lock);
}

static void failures_init(struct failures *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
}

static int failures_count(struct failures *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static int has_failure_cond(void *arg)
{
    return failures_count(arg) > 0;
}

static int has_two_failures_cond(void *arg)
{
    return failures_count(arg) >= 2;
}

/* Index of the failure recorded for key, or -1. */
static int failure_of(struct failures *f, const char *key)
{
    pthread_mutex_lock(&f->lock);
    int idx = -1;
    for (int i = 0; i < f->n && i < 16; i++) {
        if (strcmp(f->key[i], key) == 0) {
            idx = i;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return idx;
}

/* ---- the test stream: rows derived from (channel, seq) ---- */

static struct cf_schema *stream_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "ch", CF_TYPE_INT);
    cf_schema_add(s, "seq", CF_TYPE_INT);
    cf_schema_add(s, "s", CF_TYPE_STRING);
    cf_schema_add(s, "x", CF_TYPE_DOUBLE);
    cf_schema_add(s, "flag", CF_TYPE_BOOL);
    return s;
}

static int row_text(int64_t seq, char *buf)
{
    int n = (int)(seq % 23);
    buf[0] = 'v';
    for (int i = 0; i < n; i++) {
        buf[1 + i] = (char)('a' + (seq + i) % 26);
    }
    return n + 1;
}

static void fill_rows(struct cf_batch *b, int ch, int64_t seq, uint32_t rows)
{
    char text[32];
    for (uint32_t i = 0; i < rows; i++, seq++) {
        uint32_t r = cf_batch_add_row(b);
        cf_batch_set_int(b, 0, r, ch);
        cf_batch_set_int(b, 1, r, seq);
        cf_batch_set_str(b, 2, r, text, (size_t)row_text(seq, text));
        if (seq % 7) {
            cf_batch_set_double(b, 3, r, (double)seq / 4);
        }
        cf_batch_set_bool(b, 4, r, seq % 3 == 0);
        b->ts[r] = seq * 10;
    }
}

/* Checks a received row; returns 0 or writes what is wrong. */
static int check_row(const struct cf_batch *b, uint32_t r, int ch, int64_t seq, char *why,
                     size_t size)
{
    char text[32];
    int n = row_text(seq, text);
    const struct cf_col *c = b->cols;
    if (c[0].nulls[r] || c[0].v.i64[r] != ch || c[1].nulls[r] || c[1].v.i64[r] != seq) {
        snprintf(why, size, "channel %d: expected seq %lld, got ch %lld seq %lld", ch,
                 (long long)seq, (long long)c[0].v.i64[r], (long long)c[1].v.i64[r]);
        return -1;
    }
    if (c[2].nulls[r] || c[2].v.str[r].len != (uint32_t)n ||
        memcmp(c[2].v.str[r].ptr, text, (size_t)n) != 0 || c[3].nulls[r] != (seq % 7 == 0) ||
        (seq % 7 && c[3].v.f64[r] != (double)seq / 4) || c[4].nulls[r] ||
        c[4].v.b[r] != (seq % 3 == 0) || b->ts[r] != seq * 10) {
        snprintf(why, size, "channel %d seq %lld: wrong field values", ch, (long long)seq);
        return -1;
    }
    return 0;
}

/* ---- sender threads ---- */

struct sender {
    struct cf_dp_output *out;
    struct cf_batch_pool *pool;
    int ch;
    int64_t rows;      /* rows to send */
    int barriers;      /* send a barrier every 50 batches */
    int64_t sent_msgs; /* atomic: messages sent successfully */
    int64_t blocked_ns;
    int rc;
    pthread_t thread;
};

static const uint32_t batch_sizes[] = {1, 17, 512, 100, 333, 2, 512, 64, 250, 7};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    int64_t seq = 0;
    int nb = 0;
    s->rc = 0;
    while (seq < s->rows && s->rc == 0) {
        uint32_t n = batch_sizes[nb % 10];
        if (seq + n > s->rows) {
            n = (uint32_t)(s->rows - seq);
        }
        struct cf_batch *b = cf_batch_pool_get(s->pool);
        fill_rows(b, s->ch, seq, n);
        seq += n;
        struct cf_msg msg = {.kind = CF_MSG_BATCH, .batch = b};
        s->rc = cf_dp_output_send(s->out, &msg, &s->blocked_ns);
        if (s->rc) {
            break;
        }
        __atomic_add_fetch(&s->sent_msgs, 1, __ATOMIC_RELAXED);
        struct cf_msg wm = {.kind = CF_MSG_WATERMARK, .value = (seq - 1) * 10};
        s->rc = cf_dp_output_send(s->out, &wm, &s->blocked_ns);
        if (s->rc) {
            break;
        }
        __atomic_add_fetch(&s->sent_msgs, 1, __ATOMIC_RELAXED);
        nb++;
        if (s->barriers && nb % 50 == 0) {
            struct cf_msg bar = {.kind = CF_MSG_BARRIER, .value = nb / 50};
            s->rc = cf_dp_output_send(s->out, &bar, NULL);
            if (s->rc) {
                break;
            }
            __atomic_add_fetch(&s->sent_msgs, 1, __ATOMIC_RELAXED);
        }
    }
    if (s->rc == 0) {
        struct cf_msg eos = {.kind = CF_MSG_EOS};
        s->rc = cf_dp_output_send(s->out, &eos, NULL);
        if (s->rc == 0) {
            __atomic_add_fetch(&s->sent_msgs, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static int64_t sent_msgs(struct sender *s)
{
    return __atomic_load_n(&s->sent_msgs, __ATOMIC_RELAXED);
}

/* ---- consumer: pops a gate and verifies every channel's stream ---- */

struct consumer {
    struct cf_gate *gate;
    int nchan;
    int64_t rows_per_chan;
    int barriers;
    int64_t rows[NCHAN];
    int64_t msgs[NCHAN];
    int64_t wm[NCHAN];
    int64_t barrier[NCHAN];
    int eos[NCHAN];
    int ok;
    char why[256];
    pthread_t thread;
};

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    int open = c->nchan;
    c->ok = 1;
    for (int i = 0; i < c->nchan; i++) {
        c->wm[i] = INT64_MIN;
    }
    int64_t deadline = cf_monotonic_ms() + timeout_ms(60000);
    while (open > 0 && c->ok) {
        int ch;
        struct cf_msg msg;
        int rc = cf_gate_pop(c->gate, &ch, &msg, deadline);
        if (rc) {
            snprintf(c->why, sizeof(c->why), "pop: %s", cf_strerror(rc));
            c->ok = 0;
            break;
        }
        c->msgs[ch]++;
        if (c->eos[ch]) {
            snprintf(c->why, sizeof(c->why), "channel %d: message after EOS", ch);
            c->ok = 0;
        }
        switch (msg.kind) {
        case CF_MSG_BATCH:
            for (uint32_t r = 0; r < msg.batch->n && c->ok; r++) {
                if (check_row(msg.batch, r, ch, c->rows[ch]++, c->why, sizeof(c->why))) {
                    c->ok = 0;
                }
            }
            cf_batch_release(msg.batch);
            break;
        case CF_MSG_WATERMARK:
            /* Each batch is followed by the watermark of its last row. */
            if (msg.value != (c->rows[ch] - 1) * 10 || msg.value <= c->wm[ch]) {
                snprintf(c->why, sizeof(c->why), "channel %d: watermark %lld after %lld rows", ch,
                         (long long)msg.value, (long long)c->rows[ch]);
                c->ok = 0;
            }
            c->wm[ch] = msg.value;
            break;
        case CF_MSG_BARRIER:
            if (msg.value != c->barrier[ch] + 1) {
                snprintf(c->why, sizeof(c->why), "channel %d: barrier %lld after %lld", ch,
                         (long long)msg.value, (long long)c->barrier[ch]);
                c->ok = 0;
            }
            c->barrier[ch] = msg.value;
            break;
        case CF_MSG_EOS:
            c->eos[ch] = 1;
            open--;
            if (c->rows[ch] != c->rows_per_chan) {
                snprintf(c->why, sizeof(c->why), "channel %d: EOS after %lld rows", ch,
                         (long long)c->rows[ch]);
                c->ok = 0;
            }
            break;
        default: snprintf(c->why, sizeof(c->why), "unknown message kind %d", msg.kind); c->ok = 0;
        }
    }
    return NULL;
}

/* ---- fixtures ---- */

static struct cf_dataplane *dp_new(void)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_dataplane *dp = cf_dataplane_create("127.0.0.1", 0, &err);
    if (!dp) {
        fail_msg("cf_dataplane_create: %s", err.msg);
    }
    assert_true(cf_dataplane_port(dp) > 0);
    return dp;
}

static void chan_key(char *buf, size_t size, const char *job, int ch)
{
    snprintf(buf, size, "%s/0/1.%d->2.0", job, ch);
}

static struct cf_dp_output *open_out(struct cf_dataplane *from, struct cf_dataplane *to,
                                     const char *key, struct cf_schema *schema)
{
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_dp_output *out =
        cf_dataplane_open_output(from, "127.0.0.1", cf_dataplane_port(to), key, schema, &err);
    if (!out) {
        fail_msg("open_output %s: %s", key, err.msg);
    }
    return out;
}

/* ---- tests ---- */

/*
 * 200k rows over 4 channels, one consumer: every row, watermark, barrier and EOS arrives in
 * order per channel. Channel 3 is registered only after its sender started (late
 * registration: it waits for credit), and every output shares one connection.
 */
/* The sending loop frees a frame's bytes (out_queued_bytes) when the socket took them, which
 * may be just after the receiver got them. */
static int out_drained(void *arg)
{
    struct cf_dataplane_stats st;
    cf_dataplane_stats(arg, &st);
    return st.out_queued_bytes == 0;
}

static void test_stream_200k(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fa, fb;
    failures_init(&fa);
    failures_init(&fb);
    cf_dataplane_set_failure_hook(a, on_failure, &fa);
    cf_dataplane_set_failure_hook(b, on_failure, &fb);
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gate = cf_gate_create(NCHAN);
    char keys[NCHAN][64];
    for (int i = 0; i < NCHAN; i++) {
        chan_key(keys[i], sizeof(keys[i]), "stream", i);
        if (i < NCHAN - 1) {
            assert_int_equal(cf_dataplane_register_input(b, keys[i], gate, i, rpool), 0);
        }
    }
    struct consumer cons = {.gate = gate, .nchan = NCHAN, .rows_per_chan = 50000, .barriers = 1};
    pthread_create(&cons.thread, NULL, consumer_main, &cons);
    struct sender snd[NCHAN];
    memset(snd, 0, sizeof(snd));
    for (int i = 0; i < NCHAN; i++) {
        snd[i].out = open_out(a, b, keys[i], schema);
        snd[i].pool = spool;
        snd[i].ch = i;
        snd[i].rows = 50000;
        snd[i].barriers = 1;
        pthread_create(&snd[i].thread, NULL, sender_main, &snd[i]);
    }
    sleep_ms(100);
    assert_int_equal(sent_msgs(&snd[NCHAN - 1]), 0); /* no credit before registration */
    assert_int_equal(cf_dataplane_register_input(b, keys[NCHAN - 1], gate, NCHAN - 1, rpool), 0);
    for (int i = 0; i < NCHAN; i++) {
        pthread_join(snd[i].thread, NULL);
        assert_int_equal(snd[i].rc, 0);
    }
    pthread_join(cons.thread, NULL);
    if (!cons.ok) {
        fail_msg("consumer: %s", cons.why);
    }
    for (int i = 0; i < NCHAN; i++) {
        assert_int_equal(cons.rows[i], 50000);
        assert_int_equal(cons.eos[i], 1);
        assert_int_equal(cons.msgs[i], sent_msgs(&snd[i]));
        assert_true(cons.barrier[i] > 0);
        assert_int_equal(cons.barrier[i], (int64_t)(cons.msgs[i] - 1 - cons.barrier[i]) / 2 / 50);
    }
    struct cf_dataplane_stats sa, sb;
    assert_true(wait_for(out_drained, a, 2000));
    cf_dataplane_stats(a, &sa);
    cf_dataplane_stats(b, &sb);
    assert_int_equal(sb.conns_accepted, 1); /* one connection carries the four channels */
    assert_int_equal(sb.protocol_errors, 0);
    assert_int_equal(sb.dropped_messages, 0);
    assert_int_equal(sa.out_queued_bytes, 0);
    uint64_t total = 0;
    for (int i = 0; i < NCHAN; i++) {
        total += (uint64_t)sent_msgs(&snd[i]);
    }
    assert_int_equal(sa.frames_out, total);
    for (int i = 0; i < NCHAN; i++) {
        cf_dp_output_close(snd[i].out);
    }
    /* Closes after EOS are normal ends: no failure anywhere. */
    sleep_ms(50);
    assert_int_equal(failures_count(&fa), 0);
    assert_int_equal(failures_count(&fb), 0);
    for (int i = 0; i < NCHAN; i++) {
        assert_int_equal(cf_dataplane_unregister_input(b, keys[i]), 0);
    }
    assert_int_equal(cf_dataplane_unregister_input(b, keys[0]), CF_ENOENT);
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

struct bp_state {
    struct sender *snd;
    struct cf_gate *gate;
};

static int all_senders_at_cap(void *arg)
{
    struct bp_state *st = arg;
    for (int i = 0; i < NCHAN; i++) {
        if (sent_msgs(&st->snd[i]) < CF_CHAN_CAP) {
            return 0;
        }
    }
    return cf_gate_queued(st->gate) == NCHAN * CF_CHAN_CAP;
}

/*
 * A consumer that does not pop: each sender stops after exactly CF_CHAN_CAP messages, with
 * nothing left queued on the sending side; popping releases them and the streams complete.
 */
static void test_backpressure(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gate = cf_gate_create(NCHAN);
    char keys[NCHAN][64];
    struct sender snd[NCHAN];
    memset(snd, 0, sizeof(snd));
    for (int i = 0; i < NCHAN; i++) {
        chan_key(keys[i], sizeof(keys[i]), "bp", i);
        assert_int_equal(cf_dataplane_register_input(b, keys[i], gate, i, rpool), 0);
        snd[i].out = open_out(a, b, keys[i], schema);
        snd[i].pool = spool;
        snd[i].ch = i;
        snd[i].rows = 20000;
        pthread_create(&snd[i].thread, NULL, sender_main, &snd[i]);
    }
    struct bp_state st = {.snd = snd, .gate = gate};
    assert_true(wait_for(all_senders_at_cap, &st, 5000));
    sleep_ms(300); /* stuck: nothing more gets through */
    for (int i = 0; i < NCHAN; i++) {
        assert_int_equal(sent_msgs(&snd[i]), CF_CHAN_CAP);
        assert_int_equal(cf_gate_channel_space(gate, i), 0);
    }
    assert_int_equal(cf_gate_queued(gate), NCHAN * CF_CHAN_CAP);
    struct cf_dataplane_stats sa, sb;
    cf_dataplane_stats(a, &sa);
    cf_dataplane_stats(b, &sb);
    /* Every frame sent was received; nothing waits in the sender's buffers. */
    assert_int_equal(sa.frames_out, NCHAN * CF_CHAN_CAP);
    assert_int_equal(sa.out_queued_bytes, 0);
    assert_true(sb.bytes_in <= sa.bytes_out + 4096); /* plus HELLO/OPEN/CLOSE */

    /* Pop: the senders resume and every stream completes in order. */
    struct consumer cons = {.gate = gate, .nchan = NCHAN, .rows_per_chan = 20000};
    pthread_create(&cons.thread, NULL, consumer_main, &cons);
    for (int i = 0; i < NCHAN; i++) {
        pthread_join(snd[i].thread, NULL);
        assert_int_equal(snd[i].rc, 0);
        assert_true(snd[i].blocked_ns > 100 * 1000000LL); /* blocked through the 300 ms */
    }
    pthread_join(cons.thread, NULL);
    if (!cons.ok) {
        fail_msg("consumer: %s", cons.why);
    }
    for (int i = 0; i < NCHAN; i++) {
        assert_int_equal(cons.msgs[i], sent_msgs(&snd[i]));
        cf_dp_output_close(snd[i].out);
    }
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

struct one_send {
    struct cf_dp_output *out;
    struct cf_batch_pool *pool;
    int done; /* atomic */
    int rc;
    pthread_t thread;
};

static void *one_send_main(void *arg)
{
    struct one_send *s = arg;
    struct cf_batch *batch = cf_batch_pool_get(s->pool);
    fill_rows(batch, 0, 0, 10);
    struct cf_msg msg = {.kind = CF_MSG_BATCH, .batch = batch};
    s->rc = cf_dp_output_send(s->out, &msg, NULL);
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int one_send_done(void *arg)
{
    return __atomic_load_n(&((struct one_send *)arg)->done, __ATOMIC_ACQUIRE);
}

/* A send blocked for credit (the input is never registered) returns CF_ECANCELED on cancel. */
static void test_cancel_unblocks(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fb;
    failures_init(&fb);
    cf_dataplane_set_failure_hook(b, on_failure, &fb);
    struct cf_batch_pool *pool = cf_batch_pool_create(schema, 4);
    struct one_send s = {.out = open_out(a, b, "cancel/0/1.0->2.0", schema), .pool = pool};
    pthread_create(&s.thread, NULL, one_send_main, &s);
    sleep_ms(200);
    assert_false(one_send_done(&s)); /* blocked: no credit before registration */
    cf_dp_output_cancel(s.out);
    assert_true(wait_for(one_send_done, &s, 2000));
    pthread_join(s.thread, NULL);
    assert_int_equal(s.rc, CF_ECANCELED);
    /* Later sends fail at once too, and release what they were given. */
    struct cf_msg wm = {.kind = CF_MSG_WATERMARK, .value = 1};
    assert_int_equal(cf_dp_output_send(s.out, &wm, NULL), CF_ECANCELED);
    struct cf_msg bm = {.kind = CF_MSG_BATCH, .batch = cf_batch_pool_get(pool)};
    cf_batch_add_row(bm.batch);
    assert_int_equal(cf_dp_output_send(s.out, &bm, NULL), CF_ECANCELED);
    assert_null(bm.batch);
    /* Closing before EOS aborts the channel: the (unregistered) input is reported. */
    cf_dp_output_close(s.out);
    assert_true(wait_for(has_failure_cond, &fb, 2000));
    int k = failure_of(&fb, "cancel/0/1.0->2.0");
    assert_true(k >= 0);
    assert_int_equal(fb.is_input[k], 1);
    assert_non_null(strstr(fb.reason[k], "before end-of-stream"));
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_batch_pool_destroy(pool);
    cf_schema_release(schema);
}

/* The receiving worker goes away: a sender blocked for credit gets CF_EIO, and its hook fires. */
static void test_receiver_destroyed(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fa;
    failures_init(&fa);
    cf_dataplane_set_failure_hook(a, on_failure, &fa);
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gate = cf_gate_create(1);
    const char *key = "rx/0/1.0->2.0";
    assert_int_equal(cf_dataplane_register_input(b, key, gate, 0, rpool), 0);
    struct sender snd = {.out = open_out(a, b, key, schema), .pool = spool, .rows = 100000};
    pthread_create(&snd.thread, NULL, sender_main, &snd);
    int64_t deadline = cf_monotonic_ms() + timeout_ms(5000);
    while (sent_msgs(&snd) < CF_CHAN_CAP && cf_monotonic_ms() < deadline) {
        sleep_ms(1);
    }
    assert_int_equal(sent_msgs(&snd), CF_CHAN_CAP); /* then blocked: nobody pops */
    int port = cf_dataplane_port(b);
    cf_dataplane_destroy(b);
    pthread_join(snd.thread, NULL);
    assert_int_equal(snd.rc, CF_EIO);
    assert_non_null(strstr(cf_dp_output_error(snd.out), key));
    assert_true(wait_for(has_failure_cond, &fa, 2000));
    int k = failure_of(&fa, key);
    assert_true(k >= 0);
    assert_int_equal(fa.is_input[k], 0);
    cf_dp_output_close(snd.out);
    /* Nobody listens there any more. */
    struct cf_err err;
    cf_err_clear(&err);
    assert_null(cf_dataplane_open_output(a, "127.0.0.1", port, key, schema, &err));
    assert_int_equal(err.code, CF_EIO);
    assert_non_null(strstr(err.msg, "refused"));
    cf_dataplane_destroy(a);
    cf_gate_destroy(gate); /* the gate outlived the data plane: its hook is gone */
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

static int sender_stuck(void *arg)
{
    return sent_msgs(arg) >= CF_CHAN_CAP;
}

/*
 * The sending worker goes away mid-stream: the receiver's hook fires for each unfinished input,
 * a send blocked at that moment returns CF_EIO, and outputs left open can still be closed.
 */
static void test_sender_destroyed(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fa, fb;
    failures_init(&fa);
    failures_init(&fb);
    cf_dataplane_set_failure_hook(a, on_failure, &fa);
    cf_dataplane_set_failure_hook(b, on_failure, &fb);
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gate = cf_gate_create(2);
    const char *k0 = "tx/0/1.0->2.0", *k1 = "tx/0/1.1->2.0";
    assert_int_equal(cf_dataplane_register_input(b, k0, gate, 0, rpool), 0);
    assert_int_equal(cf_dataplane_register_input(b, k1, gate, 1, rpool), 0);
    struct sender snd = {.out = open_out(a, b, k0, schema), .pool = spool, .rows = 100000};
    struct cf_dp_output *idle = open_out(a, b, k1, schema);
    pthread_create(&snd.thread, NULL, sender_main, &snd);
    assert_true(wait_for(sender_stuck, &snd, 5000));
    cf_dataplane_destroy(a);
    pthread_join(snd.thread, NULL);
    assert_int_equal(snd.rc, CF_EIO);
    assert_true(wait_for(has_failure_cond, &fb, 2000));
    sleep_ms(50);
    assert_int_equal(failures_count(&fb), 2);
    assert_true(failure_of(&fb, k0) >= 0 && failure_of(&fb, k1) >= 0);
    assert_int_equal(fb.is_input[0], 1);
    assert_int_equal(failures_count(&fa), 0); /* destroy itself calls no hook */
    cf_dp_output_close(snd.out);
    cf_dp_output_close(idle);
    /* What arrived before the loss is intact: CF_CHAN_CAP messages on channel 0. */
    assert_int_equal(cf_gate_queued(gate), CF_CHAN_CAP);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

/* ---- raw sockets: a misbehaving peer ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 5 * (int)timeout_ms(1), .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_frame(int fd, int type, uint32_t chan, const void *p, uint32_t len)
{
    uint8_t h[9];
    memcpy(h, &len, 4);
    h[4] = (uint8_t)type;
    memcpy(h + 5, &chan, 4);
    /* The peer may already have closed: ignore errors (SIGPIPE is ignored by the data plane). */
    if (send(fd, h, 9, MSG_NOSIGNAL) == 9 && len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        (void)w;
    }
}

static void raw_hello(int fd)
{
    uint8_t p[8 + 3] = {'C', 'F', 'D', 'P', 1, 0, 0, 0, 'r', 'a', 'w'};
    raw_frame(fd, 1, 0, p, sizeof(p));
}

static int raw_read_all(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Reads one frame; returns its type (or -1), with its payload length and channel. */
static int raw_read_frame(int fd, uint32_t *len, uint32_t *chan, uint8_t *payload, size_t size)
{
    uint8_t h[9];
    if (raw_read_all(fd, h, 9)) {
        return -1;
    }
    memcpy(len, h, 4);
    memcpy(chan, h + 5, 4);
    if (*len > size || raw_read_all(fd, payload, *len)) {
        return -1;
    }
    return h[4];
}

/* Reads until the peer closes; returns the bytes read, or -1 if it stays open (timeout). */
static ssize_t raw_until_closed(int fd, uint8_t *buf, size_t size)
{
    size_t got = 0;
    for (;;) {
        uint8_t tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return (ssize_t)got;
        }
        if (n < 0) {
            return -1;
        }
        if (buf && got + (size_t)n <= size) {
            memcpy(buf + got, tmp, (size_t)n);
        }
        got += (size_t)n;
    }
}

static int64_t protocol_errors(struct cf_dataplane *dp)
{
    struct cf_dataplane_stats st;
    cf_dataplane_stats(dp, &st);
    return (int64_t)st.protocol_errors;
}

/*
 * Garbage from raw sockets closes those connections and nothing else: a real stream running
 * at the same time completes exactly.
 */
static void test_garbage(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fb;
    failures_init(&fb);
    cf_dataplane_set_failure_hook(b, on_failure, &fb);
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gate = cf_gate_create(1);
    struct cf_gate *rgate = cf_gate_create(1);
    const char *key = "good/0/1.0->2.0";
    assert_int_equal(cf_dataplane_register_input(b, key, gate, 0, rpool), 0);
    struct consumer cons = {.gate = gate, .nchan = 1, .rows_per_chan = 30000};
    pthread_create(&cons.thread, NULL, consumer_main, &cons);
    struct sender snd = {.out = open_out(a, b, key, schema), .pool = spool, .rows = 30000};
    pthread_create(&snd.thread, NULL, sender_main, &snd);

    int port = cf_dataplane_port(b);
    int64_t errs = 0;
    uint8_t reply[256];

    /* 1. Not a HELLO at all. */
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ssize_t w = send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL);
    assert_int_equal(w, sizeof(junk) - 1);
    assert_int_equal(raw_until_closed(fd, NULL, 0), 0); /* closed without a word */
    close(fd);
    assert_int_equal(protocol_errors(b), ++errs);

    /* 2. A HELLO, then an oversized frame: the receiver answers HELLO, says why, closes. */
    fd = raw_connect(port);
    raw_hello(fd);
    uint8_t big[9] = {0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0};
    w = send(fd, big, 9, MSG_NOSIGNAL);
    assert_int_equal(w, 9);
    uint32_t rlen, rchan;
    assert_int_equal(raw_read_frame(fd, &rlen, &rchan, reply, sizeof(reply) - 1), 1); /* HELLO */
    assert_memory_equal(reply, "CFDP", 4);
    assert_int_equal(raw_read_frame(fd, &rlen, &rchan, reply, sizeof(reply) - 1), 9); /* ERROR */
    assert_int_equal(rchan, 0xffffffffu);
    reply[rlen] = '\0';
    assert_non_null(strstr((char *)reply + 4, "DATA frame of 4294967295 bytes exceeds the limit"));
    assert_int_equal(raw_until_closed(fd, NULL, 0), 0);
    close(fd);
    assert_int_equal(protocol_errors(b), ++errs);

    /* 3. DATA on a channel that was never opened. */
    fd = raw_connect(port);
    raw_hello(fd);
    raw_frame(fd, 3, 5, "abc", 3);
    assert_true(raw_until_closed(fd, NULL, 0) >= 0);
    close(fd);
    assert_int_equal(protocol_errors(b), ++errs);

    /* 4. OPEN of an unregistered key, then DATA without credit: the pending input fails. */
    fd = raw_connect(port);
    raw_hello(fd);
    uint8_t open[8 + 32];
    uint64_t fp = cf_batch_wire_fingerprint(schema);
    memcpy(open, &fp, 8);
    int kl = snprintf((char *)open + 8, 32, "raw/0/1.0->2.0");
    raw_frame(fd, 2, 0, open, (uint32_t)(8 + kl));
    raw_frame(fd, 4, 0, &fp, 8);
    assert_true(raw_until_closed(fd, NULL, 0) >= 0);
    close(fd);
    assert_int_equal(protocol_errors(b), ++errs);
    assert_true(wait_for(has_failure_cond, &fb, 2000));
    int k = failure_of(&fb, "raw/0/1.0->2.0");
    assert_true(k >= 0);
    assert_non_null(strstr(fb.reason[k], "without credit"));

    /* 5. A well-behaved channel (it gets credit) that sends a corrupt batch. */
    assert_int_equal(cf_dataplane_register_input(b, "raw/0/1.1->2.0", rgate, 0, rpool), 0);
    fd = raw_connect(port);
    raw_hello(fd);
    kl = snprintf((char *)open + 8, 32, "raw/0/1.1->2.0");
    raw_frame(fd, 2, 7, open, (uint32_t)(8 + kl));
    /* The receiver's HELLO, then the credit for the whole gate channel. */
    uint8_t payload[256];
    uint32_t plen, pchan;
    assert_int_equal(raw_read_frame(fd, &plen, &pchan, payload, sizeof(payload)), 1);
    assert_memory_equal(payload, "CFDP", 4);
    assert_int_equal(raw_read_frame(fd, &plen, &pchan, payload, sizeof(payload)), 7);
    assert_int_equal(pchan, 7);
    assert_int_equal(plen, 4);
    uint32_t granted;
    memcpy(&granted, payload, 4);
    assert_int_equal(granted, CF_CHAN_CAP);
    struct cf_batch *bad = cf_batch_create(schema, 4);
    fill_rows(bad, 0, 0, 3);
    struct cf_buf enc;
    cf_buf_init(&enc);
    cf_batch_wire_encode(bad, &enc);
    enc.data[enc.len - 1] = 7; /* the last boolean */
    raw_frame(fd, 3, 7, enc.data, (uint32_t)enc.len);
    assert_true(raw_until_closed(fd, NULL, 0) >= 0);
    close(fd);
    cf_buf_destroy(&enc);
    cf_batch_destroy(bad);
    assert_int_equal(protocol_errors(b), ++errs);
    assert_int_equal(cf_gate_queued(rgate), 0);
    int64_t deadline = cf_monotonic_ms() + timeout_ms(2000);
    while (failure_of(&fb, "raw/0/1.1->2.0") < 0 && cf_monotonic_ms() < deadline) {
        sleep_ms(1);
    }
    k = failure_of(&fb, "raw/0/1.1->2.0");
    assert_true(k >= 0);
    assert_non_null(strstr(fb.reason[k], "boolean not 0 or 1"));
    assert_int_equal(cf_dataplane_unregister_input(b, "raw/0/1.1->2.0"), 0);

    /* 6. Random bytes after a valid HELLO. */
    srand(11);
    for (int i = 0; i < 20; i++) {
        fd = raw_connect(port);
        raw_hello(fd);
        uint8_t noise[512];
        for (size_t j = 0; j < sizeof(noise); j++) {
            noise[j] = (uint8_t)rand();
        }
        noise[4] = (uint8_t)(10 + i); /* an unknown type: surely an error */
        w = send(fd, noise, sizeof(noise), MSG_NOSIGNAL);
        assert_true(raw_until_closed(fd, NULL, 0) >= 0);
        close(fd);
    }
    errs += 20;
    assert_int_equal(protocol_errors(b), errs);

    /* The real stream was never disturbed. */
    pthread_join(snd.thread, NULL);
    assert_int_equal(snd.rc, 0);
    pthread_join(cons.thread, NULL);
    if (!cons.ok) {
        fail_msg("consumer: %s", cons.why);
    }
    assert_int_equal(cons.rows[0], 30000);
    assert_int_equal(failure_of(&fb, key), -1);
    cf_dp_output_close(snd.out);
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_gate_destroy(rgate);
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

static void test_schema_mismatch(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_schema *other = cf_schema_create();
    cf_schema_add(other, "ch", CF_TYPE_INT);
    cf_schema_add(other, "seq", CF_TYPE_STRING); /* a different type */
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fa, fb;
    failures_init(&fa);
    failures_init(&fb);
    cf_dataplane_set_failure_hook(a, on_failure, &fa);
    cf_dataplane_set_failure_hook(b, on_failure, &fb);
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 8);
    struct cf_batch_pool *rpool = cf_batch_pool_create(other, 8);
    struct cf_gate *gate = cf_gate_create(2);
    /* Registered first, then opened; and opened first, then registered. */
    assert_int_equal(cf_dataplane_register_input(b, "sm/0/1.0->2.0", gate, 0, rpool), 0);
    struct one_send s0 = {.out = open_out(a, b, "sm/0/1.0->2.0", schema), .pool = spool};
    struct one_send s1 = {.out = open_out(a, b, "sm/0/1.1->2.0", schema), .pool = spool};
    pthread_create(&s0.thread, NULL, one_send_main, &s0);
    pthread_create(&s1.thread, NULL, one_send_main, &s1);
    sleep_ms(50);
    assert_int_equal(cf_dataplane_register_input(b, "sm/0/1.1->2.0", gate, 1, rpool), 0);
    pthread_join(s0.thread, NULL);
    pthread_join(s1.thread, NULL);
    assert_int_equal(s0.rc, CF_EIO);
    assert_int_equal(s1.rc, CF_EIO);
    assert_non_null(strstr(cf_dp_output_error(s0.out), "schema mismatch"));
    assert_non_null(strstr(cf_dp_output_error(s1.out), "schema mismatch"));
    assert_int_equal(cf_gate_queued(gate), 0);
    /* Each side reports both channels, each in its own time. */
    assert_true(wait_for(has_two_failures_cond, &fb, 2000));
    assert_true(wait_for(has_two_failures_cond, &fa, 2000));
    for (int i = 0; i < 2; i++) {
        const char *key = i ? "sm/0/1.1->2.0" : "sm/0/1.0->2.0";
        int k = failure_of(&fb, key);
        assert_true(k >= 0);
        assert_int_equal(fb.is_input[k], 1);
        assert_non_null(strstr(fb.reason[k], "schema mismatch"));
        k = failure_of(&fa, key);
        assert_true(k >= 0);
        assert_int_equal(fa.is_input[k], 0);
    }
    cf_dp_output_close(s0.out);
    cf_dp_output_close(s1.out);
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
    cf_schema_release(other);
}

/* Argument checks, duplicate keys, unregistering under a live sender, channel number reuse. */
static void test_registration_rules(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct failures fa;
    failures_init(&fa);
    cf_dataplane_set_failure_hook(a, on_failure, &fa);
    struct cf_batch_pool *pool = cf_batch_pool_create(schema, 8);
    struct cf_gate *gate = cf_gate_create(2);
    char longkey[CF_DP_MAX_KEY + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(cf_dataplane_register_input(b, "", gate, 0, pool), CF_EINVAL);
    assert_int_equal(cf_dataplane_register_input(b, longkey, gate, 0, pool), CF_EINVAL);
    assert_int_equal(cf_dataplane_register_input(b, "r/0/1.0->2.0", gate, 2, pool), CF_EINVAL);
    assert_int_equal(cf_dataplane_register_input(b, "r/0/1.0->2.0", gate, 0, pool), 0);
    assert_int_equal(cf_dataplane_register_input(b, "r/0/1.0->2.0", gate, 1, pool), CF_EEXIST);
    assert_int_equal(cf_dataplane_register_input(b, "r/0/1.9->2.0", gate, 0, pool), CF_EEXIST);
    assert_int_equal(cf_dataplane_unregister_input(b, "nope"), CF_ENOENT);
    struct cf_err err;
    cf_err_clear(&err);
    assert_null(cf_dataplane_open_output(a, "127.0.0.1", cf_dataplane_port(b), "", schema, &err));
    assert_int_equal(err.code, CF_EINVAL);

    /* Two senders for one key: the second is refused, the first works. */
    struct cf_dp_output *o1 = open_out(a, b, "r/0/1.0->2.0", schema);
    struct cf_dp_output *o2 = open_out(a, b, "r/0/1.0->2.0", schema);
    struct cf_msg wm = {.kind = CF_MSG_WATERMARK, .value = 5};
    assert_int_equal(cf_dp_output_send(o2, &wm, NULL), CF_EIO);
    assert_non_null(strstr(cf_dp_output_error(o2), "already in use"));
    assert_int_equal(cf_dp_output_send(o1, &wm, NULL), 0);
    int ch;
    struct cf_msg msg;
    assert_int_equal(cf_gate_pop(gate, &ch, &msg, cf_monotonic_ms() + timeout_ms(2000)), 0);
    assert_int_equal(msg.kind, CF_MSG_WATERMARK);
    assert_int_equal(msg.value, 5);
    cf_dp_output_close(o2);

    /* Unregistering under a live sender: its next send fails. */
    assert_int_equal(cf_dataplane_unregister_input(b, "r/0/1.0->2.0"), 0);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        struct cf_msg w2 = {.kind = CF_MSG_WATERMARK, .value = 6 + i};
        rc = cf_dp_output_send(o1, &w2, NULL);
    }
    assert_int_equal(rc, CF_EIO);
    assert_non_null(strstr(cf_dp_output_error(o1), "unregistered"));
    cf_dp_output_close(o1);

    /* Channels opened and closed one after another reuse numbers safely. */
    for (int i = 0; i < 200; i++) {
        char key[64];
        snprintf(key, sizeof(key), "reuse/%d/1.0->2.0", i);
        assert_int_equal(cf_dataplane_register_input(b, key, gate, 1, pool), 0);
        struct cf_dp_output *o = open_out(a, b, key, schema);
        struct cf_msg bm = {.kind = CF_MSG_BATCH, .batch = cf_batch_pool_get(pool)};
        fill_rows(bm.batch, 1, i, 3);
        assert_int_equal(cf_dp_output_send(o, &bm, NULL), 0);
        struct cf_msg eos = {.kind = CF_MSG_EOS};
        assert_int_equal(cf_dp_output_send(o, &eos, NULL), 0);
        cf_dp_output_close(o);
        assert_int_equal(cf_gate_pop(gate, &ch, &msg, cf_monotonic_ms() + timeout_ms(2000)), 0);
        assert_int_equal(ch, 1);
        assert_int_equal(msg.kind, CF_MSG_BATCH);
        assert_int_equal(msg.batch->n, 3);
        assert_int_equal(msg.batch->cols[1].v.i64[0], i);
        cf_batch_release(msg.batch);
        assert_int_equal(cf_gate_pop(gate, &ch, &msg, cf_monotonic_ms() + timeout_ms(2000)), 0);
        assert_int_equal(msg.kind, CF_MSG_EOS);
        assert_int_equal(cf_dataplane_unregister_input(b, key), 0);
    }
    struct cf_dataplane_stats sb;
    cf_dataplane_stats(b, &sb);
    assert_int_equal(sb.conns_accepted, 1);
    assert_int_equal(sb.protocol_errors, 0);
    /* Only o1 (input unregistered) and o2 (refused) were reported. */
    assert_int_equal(failures_count(&fa), 2);
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(pool);
    cf_schema_release(schema);
}

/* ---- the gate extensions the data plane relies on ---- */

struct hook_log {
    int calls;
    int last_channel;
    int per_channel[3];
};

static void count_pops(void *arg, int channel)
{
    struct hook_log *log = arg;
    log->calls++;
    log->last_channel = channel;
    log->per_channel[channel]++;
}

static void test_gate_extensions(void **state)
{
    (void)state;
    struct cf_schema *schema = stream_schema();
    struct cf_batch_pool *pool = cf_batch_pool_create(schema, 4);
    struct cf_gate *gate = cf_gate_create(3);
    struct hook_log log = {0};
    cf_gate_set_pop_hook(gate, count_pops, &log);

    /* try_push fills a channel to CF_CHAN_CAP, then refuses without taking the message. */
    assert_int_equal(cf_gate_channel_space(gate, 1), CF_CHAN_CAP);
    for (int i = 0; i < CF_CHAN_CAP; i++) {
        struct cf_msg m = {.kind = CF_MSG_WATERMARK, .value = i};
        assert_int_equal(cf_gate_try_push(gate, 1, &m), 0);
    }
    assert_int_equal(cf_gate_channel_space(gate, 1), 0);
    assert_int_equal(cf_gate_channel_space(gate, 0), CF_CHAN_CAP);
    struct cf_msg full = {.kind = CF_MSG_BATCH, .batch = cf_batch_pool_get(pool)};
    assert_int_equal(cf_gate_try_push(gate, 1, &full), CF_EAGAIN);
    assert_non_null(full.batch); /* still ours */
    assert_int_equal(cf_gate_try_push(gate, 2, &full), 0);

    /* The hook sees every pop with its channel; order per channel is kept. */
    int ch;
    struct cf_msg msg;
    int64_t expect_wm = 0;
    for (int i = 0; i < CF_CHAN_CAP + 1; i++) {
        assert_int_equal(cf_gate_pop(gate, &ch, &msg, -1), 0);
        assert_int_equal(log.calls, i + 1);
        assert_int_equal(log.last_channel, ch);
        if (ch == 1) {
            assert_int_equal(msg.value, expect_wm++);
        } else {
            assert_int_equal(ch, 2);
            cf_batch_release(msg.batch);
        }
    }
    assert_int_equal(log.per_channel[1], CF_CHAN_CAP);
    assert_int_equal(log.per_channel[2], 1);
    assert_int_equal(cf_gate_channel_space(gate, 1), CF_CHAN_CAP);

    /* Cleared: no more calls. */
    cf_gate_set_pop_hook(gate, NULL, NULL);
    struct cf_msg m = {.kind = CF_MSG_EOS};
    assert_int_equal(cf_gate_try_push(gate, 0, &m), 0);
    assert_int_equal(cf_gate_pop(gate, &ch, &msg, -1), 0);
    assert_int_equal(log.calls, CF_CHAN_CAP + 1);

    /* Canceled: try_push releases the batch like cf_gate_push. */
    cf_gate_cancel(gate);
    struct cf_msg late = {.kind = CF_MSG_BATCH, .batch = cf_batch_pool_get(pool)};
    assert_int_equal(cf_gate_try_push(gate, 0, &late), CF_ECANCELED);
    assert_null(late.batch);
    cf_gate_destroy(gate);
    cf_batch_pool_destroy(pool);
    cf_schema_release(schema);
}

/* ---- throughput: a clickstream-like schema over loopback ---- */

static struct cf_schema *click_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "user_id", CF_TYPE_STRING);
    cf_schema_add(s, "session_id", CF_TYPE_STRING);
    cf_schema_add(s, "url", CF_TYPE_STRING);
    cf_schema_add(s, "event_time", CF_TYPE_TIMESTAMP);
    cf_schema_add(s, "duration_ms", CF_TYPE_INT);
    cf_schema_add(s, "price", CF_TYPE_DOUBLE);
    cf_schema_add(s, "is_mobile", CF_TYPE_BOOL);
    return s;
}

struct click_sender {
    struct cf_dp_output *out;
    struct cf_batch_pool *pool;
    int64_t rows;
    int rc;
    pthread_t thread;
};

/* Strings prepared once, so the benchmark measures batches and the data plane, not printf. */
#define CLICK_NSTR 4096
static char click_users[CLICK_NSTR][16], click_sessions[CLICK_NSTR][24];

static void click_strings_init(void)
{
    for (int i = 0; i < CLICK_NSTR; i++) {
        snprintf(click_users[i], sizeof(click_users[i]), "user-%06d", i * 7919 % 100000);
        snprintf(click_sessions[i], sizeof(click_sessions[i]), "sess-%08x-%04d", i * 2654435761u,
                 i % 977);
    }
}

static void *click_sender_main(void *arg)
{
    struct click_sender *s = arg;
    static const char *const pages[] = {"/", "/products/4711", "/cart", "/checkout/payment",
                                        "/search?q=running+shoes"};
    static const size_t page_len[] = {1, 14, 5, 17, 23};
    int64_t i = 0;
    while (i < s->rows && s->rc == 0) {
        struct cf_batch *b = cf_batch_pool_get(s->pool);
        while (i < s->rows && !cf_batch_full(b)) {
            uint32_t r = cf_batch_add_row(b);
            const char *user = click_users[i * 31 % CLICK_NSTR];
            const char *session = click_sessions[(i / 20) % CLICK_NSTR];
            cf_batch_set_str(b, 0, r, user, 11);
            cf_batch_set_str(b, 1, r, session, 18);
            cf_batch_set_str(b, 2, r, pages[i % 5], page_len[i % 5]);
            cf_batch_set_int(b, 3, r, 1700000000000 + i);
            cf_batch_set_int(b, 4, r, i % 30000);
            if (i % 4 == 0) {
                cf_batch_set_double(b, 5, r, (double)(i % 10000) / 100);
            }
            cf_batch_set_bool(b, 6, r, i % 3 == 0);
            b->ts[r] = 1700000000000 + i;
            i++;
        }
        struct cf_msg msg = {.kind = CF_MSG_BATCH, .batch = b};
        s->rc = cf_dp_output_send(s->out, &msg, NULL);
    }
    struct cf_msg eos = {.kind = CF_MSG_EOS};
    if (s->rc == 0) {
        s->rc = cf_dp_output_send(s->out, &eos, NULL);
    }
    return NULL;
}

struct click_consumer {
    struct cf_gate *gate;
    int64_t rows;
    int64_t dur_sum;
    pthread_t thread;
};

static void *click_consumer_main(void *arg)
{
    struct click_consumer *c = arg;
    for (;;) {
        int ch;
        struct cf_msg msg;
        if (cf_gate_pop(c->gate, &ch, &msg, cf_monotonic_ms() + timeout_ms(60000))) {
            return NULL;
        }
        if (msg.kind == CF_MSG_EOS) {
            return NULL;
        }
        if (msg.kind == CF_MSG_BATCH) {
            c->rows += msg.batch->n;
            for (uint32_t r = 0; r < msg.batch->n; r++) {
                c->dur_sum += msg.batch->cols[4].v.i64[r];
            }
            cf_batch_release(msg.batch);
        }
    }
}

static void test_throughput(void **state)
{
    (void)state;
    const char *env = getenv("CF_DP_BENCH_ROWS");
    int64_t total = env && atoll(env) > 0 ? atoll(env) : 2000000;
    int64_t per = total / NCHAN;
    click_strings_init();
    struct cf_schema *schema = click_schema();
    struct cf_dataplane *a = dp_new(), *b = dp_new();
    struct cf_batch_pool *spool = cf_batch_pool_create(schema, 64);
    struct cf_batch_pool *rpool = cf_batch_pool_create(schema, 64);
    struct cf_gate *gates[NCHAN];
    struct click_consumer cons[NCHAN];
    struct click_sender snd[NCHAN];
    memset(cons, 0, sizeof(cons));
    memset(snd, 0, sizeof(snd));
    for (int i = 0; i < NCHAN; i++) {
        char key[64];
        snprintf(key, sizeof(key), "bench/0/1.%d->2.%d", i, i);
        gates[i] = cf_gate_create(1);
        assert_int_equal(cf_dataplane_register_input(b, key, gates[i], 0, rpool), 0);
        snd[i].out = open_out(a, b, key, schema);
        snd[i].pool = spool;
        snd[i].rows = per;
        cons[i].gate = gates[i];
    }
    int64_t t0 = cf_monotonic_ns();
    for (int i = 0; i < NCHAN; i++) {
        pthread_create(&cons[i].thread, NULL, click_consumer_main, &cons[i]);
        pthread_create(&snd[i].thread, NULL, click_sender_main, &snd[i]);
    }
    int64_t expect_sum = 0;
    for (int64_t i = 0; i < per; i++) {
        expect_sum += i % 30000;
    }
    for (int i = 0; i < NCHAN; i++) {
        pthread_join(snd[i].thread, NULL);
        pthread_join(cons[i].thread, NULL);
        assert_int_equal(snd[i].rc, 0);
        assert_int_equal(cons[i].rows, per);
        assert_int_equal(cons[i].dur_sum, expect_sum);
    }
    double secs = (double)(cf_monotonic_ns() - t0) / 1e9;
    struct cf_dataplane_stats sb;
    cf_dataplane_stats(b, &sb);
    printf("data plane throughput (%d channels, 7-field clickstream, loopback): %lld rows in "
           "%.3f s = %.2f M rows/s, %.1f MB/s on the wire (%.1f bytes/row)\n",
           NCHAN, (long long)(per * NCHAN), secs, (double)(per * NCHAN) / secs / 1e6,
           (double)sb.bytes_in / secs / 1e6, (double)sb.bytes_in / (double)(per * NCHAN));
    for (int i = 0; i < NCHAN; i++) {
        cf_dp_output_close(snd[i].out);
    }
    cf_dataplane_destroy(a);
    cf_dataplane_destroy(b);
    for (int i = 0; i < NCHAN; i++) {
        cf_gate_destroy(gates[i]);
    }
    cf_batch_pool_destroy(spool);
    cf_batch_pool_destroy(rpool);
    cf_schema_release(schema);
}

int main(void)
{
    /* The tests provoke errors on purpose; CF_LOG_LEVEL=debug shows the data plane's logs. */
    if (!getenv("CF_LOG_LEVEL")) {
        cf_log_level_set(CF_LOG_OFF);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_200k),      cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_cancel_unblocks),  cmocka_unit_test(test_receiver_destroyed),
        cmocka_unit_test(test_sender_destroyed), cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_schema_mismatch),  cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_gate_extensions),  cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
