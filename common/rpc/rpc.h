/*
 * rpc.h - the control plane's RPC: unary gRPC calls of opaque bytes (protobuf messages of
 * proto/creekflow.proto), over gRPC core's C API.
 *
 * This is the only module that touches gRPC: completion queues, calls, byte buffers and
 * statuses stay inside rpc.c. Everything above it sees bytes (or protobuf-c messages), a
 * method path such as "/creekflow.Coordinator/Heartbeat" (the CF_RPC_* constants below) and
 * CF_E* codes with a message naming the target and the method.
 *
 * Server: one serving thread per server runs every handler, one call at a time, in arrival
 * order. Control-plane handlers are short (update a table, enqueue work for another thread)
 * and this keeps them free of locking against each other; a handler that blocks delays every
 * other call of that server, and a caller's deadline keeps running meanwhile.
 *
 * Client: a channel is one HTTP/2 connection to a target, (re)connected lazily by gRPC; it
 * is thread-safe, and each blocking call gets its own completion queue. Calls fail fast with
 * CF_ERETRY while the peer is unreachable (no wait-for-ready): callers retry with backoff.
 *
 * Messages are limited to CF_RPC_MAX_MESSAGE bytes in both directions (a job spec in
 * DeployTask is the largest thing on the control plane). Everything is insecure (plain
 * HTTP/2): the control plane is meant for a private network, like Flink's RPC by default.
 */
#ifndef CF_RPC_H
#define CF_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/base/buf.h"
#include "common/base/err.h"

/* Method paths of proto/creekflow.proto (test_rpc checks them against the generated
 * service descriptors). */
#define CF_RPC_COORDINATOR_REGISTER_WORKER       "/creekflow.Coordinator/RegisterWorker"
#define CF_RPC_COORDINATOR_HEARTBEAT             "/creekflow.Coordinator/Heartbeat"
#define CF_RPC_COORDINATOR_REPORT_TASK_STATE     "/creekflow.Coordinator/ReportTaskState"
#define CF_RPC_COORDINATOR_ACK_CHECKPOINT        "/creekflow.Coordinator/AckCheckpoint"
#define CF_RPC_COORDINATOR_DECLINE_CHECKPOINT    "/creekflow.Coordinator/DeclineCheckpoint"
#define CF_RPC_WORKER_DEPLOY_TASK                "/creekflow.Worker/DeployTask"
#define CF_RPC_WORKER_CANCEL_TASK                "/creekflow.Worker/CancelTask"
#define CF_RPC_WORKER_TRIGGER_CHECKPOINT         "/creekflow.Worker/TriggerCheckpoint"
#define CF_RPC_WORKER_NOTIFY_CHECKPOINT_COMPLETE "/creekflow.Worker/NotifyCheckpointComplete"

/* Largest request or response, in bytes, either side accepts. */
#define CF_RPC_MAX_MESSAGE (64 * 1024 * 1024)

/*
 * Initializes gRPC once per process (grpc_init; without it gRPC crashes) and routes gRPC's
 * own log lines into cf_log. Idempotent and thread-safe; cf_rpc_server_create() and
 * cf_rpc_channel_create() call it, so calling it explicitly is only needed to do it early.
 * gRPC is never shut down: its global threads and state live until the process exits.
 * Returns 0.
 */
int cf_rpc_global_init(void);

/* ---- server ------------------------------------------------------------------------- */

struct cf_rpc_server;

/*
 * Handles one call: req/req_len is the request message (valid only during the call; req is
 * never NULL, even for 0 bytes). The handler appends the response message to resp (empty on
 * entry) and returns 0, and the caller gets resp with status OK; or it returns a CF_E* code
 * with a message in err (cf_err_set), and the caller gets a gRPC status mapped from the code
 * with err->msg as its details (see cf_rpc_status_of()). resp is ignored on error.
 * Runs on the server's serving thread (one call at a time); arg is the handler's, borrowed.
 */
typedef int (*cf_rpc_handler)(void *arg, const uint8_t *req, size_t req_len, struct cf_buf *resp,
                              struct cf_err *err);

/*
 * Creates a server listening on bind_addr:port ("0.0.0.0", "127.0.0.1", "::"; NULL means
 * "0.0.0.0"); port 0 binds a free port (see cf_rpc_server_port()). The socket is bound here,
 * so a port in use fails now: NULL, with err saying which address. Calls are served only
 * after cf_rpc_server_start(); until then they wait. The caller owns the server. Any thread.
 */
struct cf_rpc_server *cf_rpc_server_create(const char *bind_addr, int port, struct cf_err *err);

/* The bound port (the actual one when created with port 0). Any thread. */
int cf_rpc_server_port(const struct cf_rpc_server *srv);

/*
 * Routes calls of method (a path such as CF_RPC_COORDINATOR_HEARTBEAT; copied) to fn(arg).
 * Calls of methods without a handler fail with UNIMPLEMENTED. Returns 0, or CF_EEXIST when
 * the method already has a handler. Only before cf_rpc_server_start(), on the thread that
 * created the server.
 */
int cf_rpc_server_handle(struct cf_rpc_server *srv, const char *method, cf_rpc_handler fn,
                         void *arg);

/*
 * Starts serving: one thread ("cf-rpc-srv") with its completion queue runs every call.
 * Call once, from the creating thread. Returns 0, or CF_EIO when the thread cannot start.
 */
int cf_rpc_server_start(struct cf_rpc_server *srv);

/*
 * Stops and frees the server: no new calls are admitted, calls in flight are cancelled
 * (their clients see CF_ERETRY), a handler that is running is waited for, then the serving
 * thread is joined and the listening socket closed. NULL is a no-op. Any thread except the
 * serving thread (never from a handler).
 */
void cf_rpc_server_destroy(struct cf_rpc_server *srv);

/*
 * The gRPC status (grpc_status_code value) a handler's error code is sent as:
 * CF_EINVAL/EPARSE/ETYPE/ESPEC/ERANGE -> INVALID_ARGUMENT, CF_ENOENT -> NOT_FOUND,
 * CF_EEXIST -> ALREADY_EXISTS, CF_ERETRY/EAGAIN -> UNAVAILABLE (the caller gets CF_ERETRY),
 * CF_ECANCELED -> CANCELLED, CF_EUNSUPPORTED -> UNIMPLEMENTED, CF_ENOMEM ->
 * RESOURCE_EXHAUSTED, anything else -> INTERNAL. Pure.
 */
int cf_rpc_status_of(int code);

/* "OK", "CANCELLED", ... "UNAUTHENTICATED" for a gRPC status code; never NULL. Pure. */
const char *cf_rpc_status_name(int status);

/* ---- client ------------------------------------------------------------------------- */

struct cf_rpc_channel;

/*
 * Creates a channel to target ("127.0.0.1:6123", "host:port", "[::1]:6123"; copied). No
 * connection is made yet: the first call connects, and failures show up as CF_ERETRY from
 * calls. Reconnection backs off from 100 ms up to 1 s, so a restarted peer is found quickly.
 * The caller owns the channel. Any thread. Never NULL.
 */
struct cf_rpc_channel *cf_rpc_channel_create(const char *target);

/* The target the channel was created with; valid until cf_rpc_channel_destroy(). */
const char *cf_rpc_channel_target(const struct cf_rpc_channel *ch);

/*
 * Calls method with the request req/len and waits for the response or the deadline
 * (timeout_ms from now, > 0). On success returns 0 and resp (if not NULL) holds exactly the
 * response bytes (reset first). Errors, with err naming the method, the target and the
 * gRPC status:
 *   CF_ERETRY  - UNAVAILABLE (no server, connection lost, server shutting down, handler
 *                returned CF_ERETRY) or DEADLINE_EXCEEDED: retry later;
 *   CF_EFAILED - any other status, with the server's details (a handler's err->msg).
 * Thread-safe: any number of threads may call on one channel at once.
 */
int cf_rpc_call(struct cf_rpc_channel *ch, const char *method, const uint8_t *req, size_t len,
                struct cf_buf *resp, int64_t timeout_ms, struct cf_err *err);

/* Frees the channel (closing its connection). No call may be in progress on it. NULL is a
 * no-op. Any thread. */
void cf_rpc_channel_destroy(struct cf_rpc_channel *ch);

/* ---- protobuf-c helpers ------------------------------------------------------------- */

/*
 * cf_rpc_call() with protobuf-c messages: packs req, calls, and unpacks the response as a
 * message of resp_desc into *resp_out, which the caller frees with
 * protobuf_c_message_free_unpacked(*resp_out, NULL). On error *resp_out is NULL and the
 * return value is cf_rpc_call()'s, or CF_EPARSE when the response does not decode.
 * Thread-safe like cf_rpc_call().
 */
int cf_rpc_call_pb(struct cf_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp_out,
                   int64_t timeout_ms, struct cf_err *err);

/*
 * For handlers: decodes data/len as a message of desc into *out (free it with
 * protobuf_c_message_free_unpacked(*out, NULL)). Returns 0, or CF_EINVAL with err naming
 * the message type (the caller then gets INVALID_ARGUMENT). Any thread.
 */
int cf_rpc_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                     ProtobufCMessage **out, struct cf_err *err);

/* For handlers: appends the encoding of msg to buf (a handler's resp). Any thread. */
void cf_rpc_pb_pack(const ProtobufCMessage *msg, struct cf_buf *buf);

#endif
