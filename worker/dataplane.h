/*
 * dataplane.h - record exchange between workers: one TCP connection per pair of workers,
 * carrying many logical channels with credit-based flow control.
 *
 * A logical channel connects one upstream subtask on one worker to one input channel of a
 * downstream subtask's gate on another worker. It is named by a key that both sides derive
 * from the job graph, "<job id>/<attempt>/<upstream vertex>.<subtask>-><downstream
 * vertex>.<subtask>". The sending worker opens an output for the key; the receiving worker
 * registers the key's gate channel as an input. Registration and opening may happen in either
 * order.
 *
 * Flow control: the receiver grants a channel one credit per free slot of its gate channel
 * (CF_CHAN_CAP when nothing is queued), and one more each time the consumer pops a message
 * from that channel. A sender spends one credit per message - batches, watermarks, barriers
 * and end-of-stream alike, since each becomes one gate message - and blocks in
 * cf_dp_output_send() without credit. So a slow consumer back-pressures the remote producer,
 * the receiving network thread never waits on a gate, and nothing buffers without bound: at
 * most CF_CHAN_CAP messages per channel are queued or in flight between the two tasks. No
 * credit is granted before the key is registered, which is how late registration is handled.
 *
 * Order: messages of one channel arrive in the order they were sent (one sender thread per
 * output, one TCP stream, one network thread); channels are independent.
 *
 * Failures: a lost connection, a peer that sends malformed bytes (then the connection is
 * closed and logged) or a channel rejected by the receiver (schema mismatch, key in use) make
 * every affected output fail (cf_dp_output_send returns CF_EIO) and call the failure hook
 * once per affected channel, so the runtime can fail the job's attempt and restart it from a
 * checkpoint. The data plane never reconnects a channel: a new attempt uses new keys.
 *
 * Threads: each data plane runs one libevent loop thread that owns every socket and decodes
 * incoming batches (it pushes into gates with cf_gate_try_push, which never blocks). Task
 * threads encode their own batches in cf_dp_output_send() and hand the frames over. Unless
 * said otherwise a function may be called from any thread except the loop thread (that is,
 * not from the failure hook), and needs no lock.
 *
 * Frame format (little-endian). Every frame is a 9-byte header followed by `len` bytes:
 *
 *   u32 len | u8 type | u32 channel | payload[len]            (len <= CF_DP_MAX_FRAME)
 *
 *   HELLO     1  chan 0      u32 magic "CFDP", u16 version (1), u16 flags (0), name bytes
 *                            First frame in each direction; the receiver answers the
 *                            connecting side's HELLO with its own.
 *   OPEN      2  s -> r      u64 schema fingerprint, key bytes (1..CF_DP_MAX_KEY)
 *                            Binds a channel number, chosen by the sender, to a key.
 *   DATA      3  s -> r      an encoded batch (common/data/batch_wire.h)       1 credit
 *   WATERMARK 4  s -> r      i64 watermark                                     1 credit
 *   EOS       5  s -> r      (empty)                                           1 credit
 *   BARRIER   6  s -> r      i64 checkpoint id                                 1 credit
 *   CREDIT    7  r -> s      u32 n >= 1: the sender may send n more messages
 *   CLOSE     8  both        (empty) s -> r: the output is closed (after EOS: a normal end,
 *                            before: an abort); r -> s: the acknowledgement. The sender reuses
 *                            the channel number only after the acknowledgement, so a CREDIT
 *                            still in flight can never be taken for a new channel's.
 *   ERROR     9  both        i32 CF_E* code, message bytes: the channel failed (rejected,
 *                            input unregistered); the sender still closes it. Channel
 *                            0xffffffff: the whole connection failed and is closed.
 *
 * Anything else - an unknown type, a frame that does not fit its type, a frame for a channel
 * that is not open, data without credit, a frame before HELLO - closes the connection.
 */
#ifndef CF_DATAPLANE_H
#define CF_DATAPLANE_H

#include <stdint.h>

#include "common/base/err.h"
#include "common/data/batch.h"
#include "common/data/schema.h"
#include "gate.h"

/* Largest frame payload accepted; a bigger frame is a protocol error. */
#define CF_DP_MAX_FRAME (64u * 1024 * 1024)
/* Longest channel key, in bytes. */
#define CF_DP_MAX_KEY 256
/* Channel numbers per connection (bounds what a peer can make us hold). */
#define CF_DP_MAX_CHANNELS 65536
/* How long a new connection may take to connect and exchange HELLO. */
#define CF_DP_HELLO_TIMEOUT_MS 10000

struct cf_dataplane;
struct cf_dp_output;

/*
 * Creates a data plane listening on bind_addr:port (NULL or "" = every address; port 0 = a
 * free port, see cf_dataplane_port()) and starts its loop thread. Returns NULL with err set
 * when the address cannot be resolved or bound. The first call also makes libevent
 * thread-aware and ignores SIGPIPE when it is at its default (a peer closing a socket must
 * not kill the worker).
 */
struct cf_dataplane *cf_dataplane_create(const char *bind_addr, int port, struct cf_err *err);

/* The port actually bound (to advertise to the coordinator). */
int cf_dataplane_port(const struct cf_dataplane *dp);

/*
 * Stops the loop thread, closes every connection (peers see them fail) and frees the data
 * plane, its inputs and the pop hooks it set on gates. Outputs still open fail: their pending
 * and future sends return CF_EIO, and they must still be closed with cf_dp_output_close(),
 * which then only frees them. Does not call the failure hook. No other call on dp may run
 * concurrently, except cf_dp_output_send/cancel on its outputs. NULL is a no-op.
 */
void cf_dataplane_destroy(struct cf_dataplane *dp);

/*
 * Called on the loop thread, once per channel, when a channel fails: is_input says whether
 * key is a registered (or announced but not yet registered) input of this worker or one of
 * its outputs; peer names the other worker, reason says what happened. It must not block:
 * cancel the job, do not wait for it. It may call cf_dataplane_register_input/unregister_input
 * (they then run inline) and nothing else of the data plane. Set it before traffic starts.
 */
typedef void (*cf_dataplane_failure_fn)(void *arg, const char *key, int is_input, const char *peer,
                                        const char *reason);
void cf_dataplane_set_failure_hook(struct cf_dataplane *dp, cf_dataplane_failure_fn fn, void *arg);

/*
 * Receiving side: frames of channel `key` are decoded into batches taken from pool and pushed
 * into channel gate_channel of gate, in order (DATA -> CF_MSG_BATCH, WATERMARK ->
 * CF_MSG_WATERMARK, EOS -> CF_MSG_EOS, BARRIER -> CF_MSG_BARRIER). That gate channel must be
 * fed by this input only. The data plane installs a pop hook on the gate (see
 * cf_gate_set_pop_hook) to return credits; gate and pool are borrowed and must stay alive
 * until cf_dataplane_unregister_input() (or cf_dataplane_destroy()) returns.
 * Returns 0; CF_EINVAL for an empty or too long key or a channel out of range; CF_EEXIST when
 * the key or the gate channel is already registered.
 */
int cf_dataplane_register_input(struct cf_dataplane *dp, const char *key, struct cf_gate *gate,
                                int gate_channel, struct cf_batch_pool *pool);

/*
 * Forgets an input: when this returns the data plane no longer touches its gate or pool.
 * A sender still attached is told (CLOSE) and its sends fail. Returns 0 or CF_ENOENT.
 */
int cf_dataplane_unregister_input(struct cf_dataplane *dp, const char *key);

/*
 * Sending side: opens channel `key` towards the data plane at host:port, reusing this
 * worker's connection to it or connecting (and waiting for the peer's HELLO, at most
 * CF_DP_HELLO_TIMEOUT_MS). schema is the schema of the batches that will be sent; the
 * receiver checks it against its pool's schema. Returns the output, owned by the caller
 * (close it with cf_dp_output_close), or NULL with err set (CF_EINVAL for a bad key, CF_EIO
 * when the peer cannot be resolved, reached or is not a Creekflow data plane). Success only
 * means the connection is up: a channel the receiver refuses (schema mismatch, key in use)
 * makes the first send that waits for credit return CF_EIO.
 */
struct cf_dp_output *cf_dataplane_open_output(struct cf_dataplane *dp, const char *host, int port,
                                              const char *key, const struct cf_schema *schema,
                                              struct cf_err *err);

/*
 * Sends one message on the output's channel; takes msg->batch (msg->batch becomes NULL) and
 * releases it once encoded. An empty batch is dropped (it would cost a credit for nothing).
 * Batches hold at most CF_BATCH_ROWS rows. Blocks while the channel has no credit
 * (back-pressure), adding the time spent blocked to *blocked_ns when not NULL.
 * Returns 0 once the frame is queued for the connection; CF_ECANCELED after
 * cf_dp_output_cancel(); CF_EIO when the channel failed (see cf_dp_output_error);
 * CF_ERANGE when the encoded batch is larger than CF_DP_MAX_FRAME.
 * One thread at a time per output (the task's thread).
 */
int cf_dp_output_send(struct cf_dp_output *out, struct cf_msg *msg, int64_t *blocked_ns);

/* Makes a blocked and every future cf_dp_output_send() return CF_ECANCELED. Any thread. */
void cf_dp_output_cancel(struct cf_dp_output *out);

/*
 * Why the channel failed ("" while it has not). The string is valid until
 * cf_dp_output_close(); read it from the sending thread after a send returned CF_EIO.
 */
const char *cf_dp_output_error(struct cf_dp_output *out);

/*
 * Closes the channel (a CLOSE frame follows every message already sent, so it is a normal end
 * after an EOS and an abort before one) and frees the output. No send may be running on it.
 * NULL is a no-op.
 */
void cf_dp_output_close(struct cf_dp_output *out);

/* Counters of one data plane, for metrics and tests. Any thread; values are a snapshot. */
struct cf_dataplane_stats {
    uint64_t frames_in;        /* frames received */
    uint64_t bytes_in;         /* bytes received, headers included */
    uint64_t frames_out;       /* frames queued by outputs (DATA, WATERMARK, EOS, BARRIER) */
    uint64_t bytes_out;        /* their bytes, headers included */
    int64_t out_queued_bytes;  /* bytes queued by outputs and not yet written to a socket */
    uint64_t conns_accepted;   /* incoming connections */
    uint64_t conns_failed;     /* connections closed by an error or a lost peer */
    uint64_t protocol_errors;  /* connections closed for malformed frames */
    uint64_t dropped_messages; /* received for inputs that were unregistered or canceled */
};
void cf_dataplane_stats(struct cf_dataplane *dp, struct cf_dataplane_stats *stats);

#endif
