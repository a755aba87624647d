/*
 * gate.h - a subtask's input gate: one bounded queue per input channel.
 *
 * A channel carries the messages of one upstream subtask in order: data batches,
 * watermarks, end-of-stream (and barriers in step [4]). Each channel holds at most
 * CF_CHAN_CAP messages, so a fast producer blocks in cf_gate_push() until the consumer
 * catches up: back-pressure without unbounded buffering. Remote channels (the data plane,
 * step [3]) push into the same gate from their network thread.
 *
 * Thread-safety: any number of producer threads; one consumer thread.
 */
#ifndef CF_GATE_H
#define CF_GATE_H

#include <pthread.h>
#include <stdint.h>

#include "common/data/batch.h"

#define CF_CHAN_CAP 8

enum cf_msg_kind {
    CF_MSG_BATCH,
    CF_MSG_WATERMARK,
    CF_MSG_EOS,
    CF_MSG_BARRIER,
};

struct cf_msg {
    int kind;
    struct cf_batch *batch; /* CF_MSG_BATCH: owned by the message */
    int64_t value;          /* watermark or checkpoint id */
};

struct cf_gate;

struct cf_gate *cf_gate_create(int nchannels);
/* Releases the batches still queued. Only when no thread uses the gate any more. */
void cf_gate_destroy(struct cf_gate *gate);
int cf_gate_channels(const struct cf_gate *gate);
/*
 * Appends msg to channel ch, blocking while it is full. Adds the time spent blocked to
 * *blocked_ns (if not NULL). Returns 0, or CF_ECANCELED once the gate is canceled (the
 * message's batch is then released).
 */
int cf_gate_push(struct cf_gate *gate, int ch, struct cf_msg *msg, int64_t *blocked_ns);
/*
 * Like cf_gate_push(), but a consumer waiting for input is woken only once channel ch holds
 * CF_GATE_WAKE_AT messages (before it is full, so a producer never waits for a consumer it
 * did not wake). A producer streaming messages so wakes the consumer once per several of
 * them rather than once per message, saving two context switches each time; it must call
 * cf_gate_kick() before it waits, goes idle or stops pushing for long.
 */
#define CF_GATE_WAKE_AT (CF_CHAN_CAP - 2)
int cf_gate_push_deferred(struct cf_gate *gate, int ch, struct cf_msg *msg, int64_t *blocked_ns);
/* Wakes the consumer if it waits while messages are queued (after deferred pushes). Any
 * thread. */
void cf_gate_kick(struct cf_gate *gate);
/*
 * Takes the next message, visiting channels round-robin. Waits until deadline_ms
 * (monotonic; -1: forever). Returns 0 with *ch and *msg, CF_EAGAIN at the deadline, or
 * CF_ECANCELED.
 */
int cf_gate_pop(struct cf_gate *gate, int *ch, struct cf_msg *msg, int64_t deadline_ms);
/*
 * Barrier alignment: while channel ch is blocked, cf_gate_pop() skips it (its messages wait,
 * and once it is full its producer blocks). Consumer thread.
 */
void cf_gate_block(struct cf_gate *gate, int ch, int blocked);
/* Makes the consumer's current or next cf_gate_pop() return CF_EAGAIN once (a checkpoint
 * notification is waiting for the task thread). Any thread. */
void cf_gate_wake(struct cf_gate *gate);
/* Wakes every waiter; pushes and pops fail from now on. Any thread. */
void cf_gate_cancel(struct cf_gate *gate);
/* Messages queued over all channels (for back-pressure metrics). */
int cf_gate_queued(struct cf_gate *gate);

/*
 * For producers that must never block (the data plane's network thread, which feeds many
 * gates and would stall all of them): like cf_gate_push() but returns CF_EAGAIN at once when
 * channel ch is full, leaving msg (and its batch) with the caller. CF_ECANCELED releases the
 * batch as cf_gate_push() does. Any thread.
 */
int cf_gate_try_push(struct cf_gate *gate, int ch, struct cf_msg *msg);
/* Free slots in channel ch: CF_CHAN_CAP minus the messages queued there. Any thread. */
int cf_gate_channel_space(struct cf_gate *gate, int ch);

/*
 * A pop hook, called on the consumer thread after every successful cf_gate_pop(), outside
 * the gate's lock, with the channel the message came from. Credit-based flow control uses it:
 * each pop frees one slot, which the data plane grants back to the remote sender. It must be
 * quick, must not block on the consumer and must not call into this gate.
 */
typedef void (*cf_gate_pop_hook_fn)(void *arg, int channel);
/*
 * Sets the hook, or clears it with fn NULL. When this returns, no call of the previous hook is
 * running or will start, so its arg may be freed. Any thread except from inside the hook.
 */
void cf_gate_set_pop_hook(struct cf_gate *gate, cf_gate_pop_hook_fn fn, void *arg);

#endif
