#include "gate.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#include "common/base/err.h"
#include "common/base/mem.h"
#include "common/base/timeutil.h"

struct cf_chan {
    struct cf_msg ring[CF_CHAN_CAP];
    uint32_t head;
    uint32_t count;
    int blocked; /* aligning barriers: not popped (cf_gate_block) */
};

struct cf_gate {
    pthread_mutex_t lock;
    pthread_cond_t readable;
    pthread_cond_t writable;
    int nchan;
    int next;
    int canceled;
    int queued;
    int waiting; /* the consumer waits in cf_gate_pop() */
    int woken;   /* cf_gate_wake() was called: the next pop returns CF_EAGAIN */
    struct cf_chan *chans;
    cf_gate_pop_hook_fn hook; /* under lock */
    void *hook_arg;           /* under lock */
    int hook_calls;           /* hook calls running (atomic; raised under lock) */
};

struct cf_gate *cf_gate_create(int nchannels)
{
    struct cf_gate *gate = cf_new(struct cf_gate);
    pthread_mutex_init(&gate->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&gate->readable, &attr);
    pthread_cond_init(&gate->writable, &attr);
    pthread_condattr_destroy(&attr);
    gate->nchan = nchannels;
    gate->chans = cf_calloc((size_t)nchannels, sizeof(*gate->chans));
    return gate;
}

void cf_gate_destroy(struct cf_gate *gate)
{
    if (!gate) {
        return;
    }
    for (int c = 0; c < gate->nchan; c++) {
        struct cf_chan *ch = &gate->chans[c];
        for (uint32_t i = 0; i < ch->count; i++) {
            cf_batch_release(ch->ring[(ch->head + i) % CF_CHAN_CAP].batch);
        }
    }
    pthread_cond_destroy(&gate->readable);
    pthread_cond_destroy(&gate->writable);
    pthread_mutex_destroy(&gate->lock);
    cf_free(gate->chans);
    cf_free(gate);
}

int cf_gate_channels(const struct cf_gate *gate)
{
    return gate->nchan;
}

/* Appends msg to a channel with space and wakes a waiting consumer, unless deferred and
 * the channel has room for more; the lock is held. */
static void enqueue(struct cf_gate *gate, struct cf_chan *ch, const struct cf_msg *msg,
                    int deferred)
{
    ch->ring[(ch->head + ch->count) % CF_CHAN_CAP] = *msg;
    ch->count++;
    gate->queued++;
    if (gate->waiting && (!deferred || ch->count >= CF_GATE_WAKE_AT)) {
        pthread_cond_signal(&gate->readable);
    }
}

static int push(struct cf_gate *gate, int c, struct cf_msg *msg, int64_t *blocked_ns, int deferred)
{
    struct cf_chan *ch = &gate->chans[c];
    pthread_mutex_lock(&gate->lock);
    if (ch->count == CF_CHAN_CAP && !gate->canceled) {
        int64_t t0 = cf_monotonic_ns();
        while (ch->count == CF_CHAN_CAP && !gate->canceled) {
            pthread_cond_wait(&gate->writable, &gate->lock);
        }
        if (blocked_ns) {
            *blocked_ns += cf_monotonic_ns() - t0;
        }
    }
    if (gate->canceled) {
        pthread_mutex_unlock(&gate->lock);
        cf_batch_release(msg->batch);
        msg->batch = NULL;
        return CF_ECANCELED;
    }
    enqueue(gate, ch, msg, deferred);
    pthread_mutex_unlock(&gate->lock);
    return 0;
}

int cf_gate_push(struct cf_gate *gate, int c, struct cf_msg *msg, int64_t *blocked_ns)
{
    return push(gate, c, msg, blocked_ns, 0);
}

int cf_gate_push_deferred(struct cf_gate *gate, int c, struct cf_msg *msg, int64_t *blocked_ns)
{
    return push(gate, c, msg, blocked_ns, 1);
}

void cf_gate_kick(struct cf_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    if (gate->waiting && gate->queued) {
        pthread_cond_signal(&gate->readable);
    }
    pthread_mutex_unlock(&gate->lock);
}

/* A channel with a message the consumer may take (not blocked for alignment), or -1. */
static int next_ready(struct cf_gate *gate)
{
    for (int i = 0; i < gate->nchan; i++) {
        int idx = (gate->next + i) % gate->nchan;
        if (gate->chans[idx].count > 0 && !gate->chans[idx].blocked) {
            return idx;
        }
    }
    return -1;
}

int cf_gate_pop(struct cf_gate *gate, int *c, struct cf_msg *msg, int64_t deadline_ms)
{
    pthread_mutex_lock(&gate->lock);
    int idx;
    for (;;) {
        if (gate->canceled) {
            pthread_mutex_unlock(&gate->lock);
            return CF_ECANCELED;
        }
        if (gate->woken) {
            gate->woken = 0;
            pthread_mutex_unlock(&gate->lock);
            return CF_EAGAIN;
        }
        if (gate->queued > 0 && (idx = next_ready(gate)) >= 0) {
            break;
        }
        gate->waiting = 1;
        if (deadline_ms < 0) {
            pthread_cond_wait(&gate->readable, &gate->lock);
        } else {
            if (cf_monotonic_ms() >= deadline_ms) {
                gate->waiting = 0;
                pthread_mutex_unlock(&gate->lock);
                return CF_EAGAIN;
            }
            struct timespec ts;
            cf_monotonic_timespec(deadline_ms, &ts);
            pthread_cond_timedwait(&gate->readable, &gate->lock, &ts);
        }
        gate->waiting = 0;
    }
    struct cf_chan *ch = &gate->chans[idx];
    *msg = ch->ring[ch->head];
    ch->ring[ch->head].batch = NULL;
    ch->head = (ch->head + 1) % CF_CHAN_CAP;
    if (ch->count-- == CF_CHAN_CAP) {
        pthread_cond_broadcast(&gate->writable);
    }
    gate->queued--;
    gate->next = (idx + 1) % gate->nchan;
    *c = idx;
    /* The hook runs outside the lock (it takes its owner's locks); hook_calls, raised while
     * the lock is held, lets cf_gate_set_pop_hook() wait for calls already started. */
    cf_gate_pop_hook_fn hook = gate->hook;
    void *hook_arg = gate->hook_arg;
    if (hook) {
        __atomic_add_fetch(&gate->hook_calls, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&gate->lock);
    if (hook) {
        hook(hook_arg, *c);
        __atomic_sub_fetch(&gate->hook_calls, 1, __ATOMIC_RELEASE);
    }
    return 0;
}

void cf_gate_block(struct cf_gate *gate, int c, int blocked)
{
    pthread_mutex_lock(&gate->lock);
    gate->chans[c].blocked = blocked;
    pthread_mutex_unlock(&gate->lock);
}

void cf_gate_wake(struct cf_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->woken = 1;
    pthread_cond_signal(&gate->readable);
    pthread_mutex_unlock(&gate->lock);
}

void cf_gate_cancel(struct cf_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->canceled = 1;
    pthread_cond_broadcast(&gate->readable);
    pthread_cond_broadcast(&gate->writable);
    pthread_mutex_unlock(&gate->lock);
}

int cf_gate_queued(struct cf_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    int q = gate->queued;
    pthread_mutex_unlock(&gate->lock);
    return q;
}

int cf_gate_try_push(struct cf_gate *gate, int c, struct cf_msg *msg)
{
    struct cf_chan *ch = &gate->chans[c];
    pthread_mutex_lock(&gate->lock);
    if (gate->canceled) {
        pthread_mutex_unlock(&gate->lock);
        cf_batch_release(msg->batch);
        msg->batch = NULL;
        return CF_ECANCELED;
    }
    if (ch->count == CF_CHAN_CAP) {
        pthread_mutex_unlock(&gate->lock);
        return CF_EAGAIN;
    }
    enqueue(gate, ch, msg, 0);
    pthread_mutex_unlock(&gate->lock);
    return 0;
}

int cf_gate_channel_space(struct cf_gate *gate, int c)
{
    pthread_mutex_lock(&gate->lock);
    int space = CF_CHAN_CAP - (int)gate->chans[c].count;
    pthread_mutex_unlock(&gate->lock);
    return space;
}

void cf_gate_set_pop_hook(struct cf_gate *gate, cf_gate_pop_hook_fn fn, void *arg)
{
    pthread_mutex_lock(&gate->lock);
    gate->hook = fn;
    gate->hook_arg = arg;
    pthread_mutex_unlock(&gate->lock);
    /* A pop that read the old hook raised hook_calls before we took the lock; wait for it.
     * There is one consumer thread, so this is at most one short call. */
    while (__atomic_load_n(&gate->hook_calls, __ATOMIC_ACQUIRE) != 0) {
        sched_yield();
    }
}
