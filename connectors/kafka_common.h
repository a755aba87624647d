/*
 * kafka_common.h - what source.kafka and sink.kafka share: the `properties` passthrough,
 * librdkafka client configuration, logging and error callbacks, and a bounded wait for
 * the brokers at startup.
 *
 * Broker availability (the policy both connectors follow, as Flink's Kafka connectors do):
 *  - at startup, open() waits up to `startup_timeout` for the cluster's metadata; when no
 *    broker answers in that time the task fails with a message naming the brokers and the
 *    last connection error ("cannot reach Kafka brokers '127.0.0.1:9092' within 30s:
 *    Connect to ipv4#127.0.0.1:9092 failed: Connection refused"), and the job's restart
 *    strategy decides what happens next;
 *  - once running, a broker that goes away is retried by librdkafka forever (the source
 *    simply gets no records, the sink's records wait in its queue until their
 *    `message.timeout.ms`); the connectors log a warning, rate-limited, while it lasts.
 *
 * Threads: a struct cf_kafka_client is written by its task thread; librdkafka's own threads
 * only call the log callback, which reads the immutable prefix and takes `lock` for the
 * rate limiter and the last error text.
 */
#ifndef CF_KAFKA_COMMON_H
#define CF_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/base/err.h"
#include "common/base/log.h"
#include "common/job/conf.h"

struct cJSON;
struct cf_op;

/* Conf-table line for `properties`, in a config struct with `const cJSON *member`. */
#define CF_KAFKA_PROPERTIES_KEY(type, member)                                                      \
    {                                                                                              \
        "properties", CF_CONF_JSON, 0, NULL, offsetof(type, member), NULL,                         \
            "librdkafka configuration properties passed through as they are "                      \
            "(\"security.protocol\", "                                                             \
            "\"sasl.mechanisms\", \"fetch.max.bytes\", ...); strings, numbers or booleans."        \
    }

/* Conf-table line for `startup_timeout`, in a config struct with `int64_t member`. */
#define CF_KAFKA_STARTUP_TIMEOUT_KEY(type, member)                                                 \
    {                                                                                              \
        "startup_timeout", CF_CONF_DURATION, 0, "30s", offsetof(type, member), NULL,               \
            "How long the connector waits for the brokers when it starts before the task fails."   \
    }

/*
 * Spec time: checks `properties` (an object of strings, numbers or booleans that librdkafka
 * knows) and rejects the keys the connector sets itself, listed in `managed` (NULL-ended,
 * each with the key that replaces it, e.g. {"bootstrap.servers", "brokers", NULL}). Errors
 * name path.properties.<key>; values are never echoed (they may be secrets). Returns 0 or
 * CF_ESPEC. Any thread.
 */
int cf_kafka_properties_check(const struct cJSON *props, const char *const *managed,
                              const char *path, struct cf_err *err);

/* The text of property `key` in props, or NULL (numbers and booleans as text in buf). */
const char *cf_kafka_property(const struct cJSON *props, const char *key, char *buf, size_t len);

/* Per-client context handed to librdkafka callbacks (the conf's opaque). */
struct cf_kafka_client {
    char prefix[128];  /* "events: kafka", for log lines */
    char ctx[256];     /* the operator's log context, for lines from librdkafka's threads */
    char brokers[512]; /* for messages */
    pthread_mutex_t lock;
    struct cf_log_ratelimit log_rl;   /* librdkafka log lines (any thread, under lock) */
    char last_error[512];             /* latest error or warning text (under lock) */
    struct cf_log_ratelimit error_rl; /* error callback (task thread) */
    int fatal;                        /* a fatal error was reported (task thread) */
    char fatal_msg[512];
    int all_down; /* every broker is unreachable right now (task thread) */
};

/* Initializes kc for an operator (its log prefix) and a broker list. */
void cf_kafka_client_init(struct cf_kafka_client *kc, const struct cf_op *op, const char *brokers);
void cf_kafka_client_destroy(struct cf_kafka_client *kc);
/* Copies the latest error text (empty if none) into buf. Any thread. */
void cf_kafka_client_last_error(struct cf_kafka_client *kc, char *buf, size_t len);

/*
 * A librdkafka configuration: `defaults` (NULL-ended key/value pairs) first, then the
 * user's `props` (which override them), then `forced` pairs the connector needs (which win),
 * with kc as the opaque of the log, error (and, for consumers, commit) callbacks. NULL with
 * err set on a property librdkafka rejects. The caller owns the result (rd_kafka_new takes
 * it on success).
 */
rd_kafka_conf_t *cf_kafka_conf_create(struct cf_kafka_client *kc, const char *const *defaults,
                                      const struct cJSON *props, const char *const *forced,
                                      struct cf_err *err);

/*
 * Waits until the brokers answer a metadata request, up to timeout_ms (checking for job
 * cancellation every ~250 ms). With topic != NULL the request names that topic (a producer
 * then lets the broker auto-create it), else it asks for every topic. On success *md is the
 * metadata (free with rd_kafka_metadata_destroy). Returns 0, CF_ECANCELED, or CF_EIO with
 * err naming the brokers and the last connection error. Task thread.
 */
int cf_kafka_wait_metadata(struct cf_kafka_client *kc, rd_kafka_t *rk, const char *topic,
                           int64_t timeout_ms, const struct cf_op *op,
                           const struct rd_kafka_metadata **md, struct cf_err *err);

#endif
