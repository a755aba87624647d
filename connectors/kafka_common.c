#include "kafka_common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/base/timeutil.h"
#include "worker/op.h"

/* Properties that only make sense as librdkafka callbacks or would break the connectors. */
static const char *const never_passed[] = {
    "interceptors",
    "plugin.library.paths",
    "opaque",
    "log_cb",
    "error_cb",
    "dr_cb",
    "dr_msg_cb",
    "consume_cb",
    "rebalance_cb",
    "offset_commit_cb",
    "stats_cb",
    "throttle_cb",
    "socket_cb",
    "connect_cb",
    "closesocket_cb",
    "open_cb",
    NULL,
};

const char *cf_kafka_property(const struct cJSON *props, const char *key, char *buf, size_t len)
{
    const cJSON *v = props ? cJSON_GetObjectItemCaseSensitive(props, key) : NULL;
    if (!v) {
        return NULL;
    }
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "true" : "false";
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9.0e15) {
            snprintf(buf, len, "%lld", (long long)d);
        } else {
            snprintf(buf, len, "%.17g", d);
        }
        return buf;
    }
    return NULL;
}

int cf_kafka_properties_check(const struct cJSON *props, const char *const *managed,
                              const char *path, struct cf_err *err)
{
    if (!props) {
        return 0;
    }
    if (!cJSON_IsObject(props)) {
        return cf_err_append(err, CF_ESPEC,
                             "%s.properties: must be an object of librdkafka properties", path);
    }
    int bad = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (const cJSON *p = props->child; p; p = p->next) {
        const char *key = p->string;
        int refused = 0;
        for (int i = 0; managed && managed[i]; i += 2) {
            if (strcmp(key, managed[i]) == 0) {
                cf_err_append(err, CF_ESPEC, "%s.properties.%s: set by the connector; use '%s'",
                              path, key, managed[i + 1]);
                refused = 1;
            }
        }
        for (int i = 0; never_passed[i] && !refused; i++) {
            if (strcmp(key, never_passed[i]) == 0) {
                cf_err_append(err, CF_ESPEC, "%s.properties.%s: not configurable from a job spec",
                              path, key);
                refused = 1;
            }
        }
        if (refused) {
            bad = 1;
            continue;
        }
        char num[64];
        const char *val = cf_kafka_property(props, key, num, sizeof(num));
        if (!val) {
            cf_err_append(err, CF_ESPEC, "%s.properties.%s: must be a string, number or boolean",
                          path, key);
            bad = 1;
            continue;
        }
        char errstr[512];
        rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr));
        if (res == RD_KAFKA_CONF_UNKNOWN) {
            cf_err_append(err, CF_ESPEC, "%s.properties.%s: not a librdkafka property", path, key);
            bad = 1;
        } else if (res != RD_KAFKA_CONF_OK) {
            /* librdkafka's message quotes the value: say what is wrong without it. */
            cf_err_append(err, CF_ESPEC, "%s.properties.%s: invalid value for this property", path,
                          key);
            bad = 1;
        }
    }
    rd_kafka_conf_destroy(conf);
    return bad ? CF_ESPEC : 0;
}

void cf_kafka_client_init(struct cf_kafka_client *kc, const struct cf_op *op, const char *brokers)
{
    memset(kc, 0, sizeof(*kc));
    snprintf(kc->prefix, sizeof(kc->prefix), "%s: kafka", op->decl->id);
    snprintf(kc->ctx, sizeof(kc->ctx), "%s", cf_op_log_prefix(op));
    snprintf(kc->brokers, sizeof(kc->brokers), "%s", brokers);
    pthread_mutex_init(&kc->lock, NULL);
}

void cf_kafka_client_destroy(struct cf_kafka_client *kc)
{
    pthread_mutex_destroy(&kc->lock);
}

void cf_kafka_client_last_error(struct cf_kafka_client *kc, char *buf, size_t len)
{
    pthread_mutex_lock(&kc->lock);
    snprintf(buf, len, "%s", kc->last_error);
    pthread_mutex_unlock(&kc->lock);
}

/* librdkafka's log lines, from any of its threads. Warnings and errors are kept (the latest
 * as last_error, for startup failures) and logged, rate-limited; the rest is dropped. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct cf_kafka_client *kc = rd_kafka_opaque(rk);
    if (!kc || level > 4) {
        return;
    }
    uint64_t suppressed = 0;
    pthread_mutex_lock(&kc->lock);
    if (level <= 3) {
        snprintf(kc->last_error, sizeof(kc->last_error), "%s", buf);
    }
    int allow = cf_log_ratelimit_allow(&kc->log_rl, &suppressed);
    pthread_mutex_unlock(&kc->lock);
    if (allow) {
        cf_warn("[%s] %s %s: %s%s", kc->ctx, kc->prefix, fac, buf,
                suppressed ? " [similar messages suppressed]" : "");
    }
}

/* Errors librdkafka reports on the task thread (from rd_kafka_poll). Most are transient and
 * retried by librdkafka itself; fatal ones end the task (the connector checks kc->fatal). */
static void error_cb(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    struct cf_kafka_client *kc = opaque;
    pthread_mutex_lock(&kc->lock);
    snprintf(kc->last_error, sizeof(kc->last_error), "%s", reason);
    pthread_mutex_unlock(&kc->lock);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        kc->fatal = 1;
        snprintf(kc->fatal_msg, sizeof(kc->fatal_msg), "%s (%s)", why, rd_kafka_err2name(orig));
        return;
    }
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        kc->all_down = 1;
        uint64_t suppressed = 0;
        if (cf_log_ratelimit_allow(&kc->error_rl, &suppressed)) {
            cf_warn("%s: every broker of '%s' is unreachable (%s); retrying", kc->prefix,
                    kc->brokers, reason);
        }
    }
}

rd_kafka_conf_t *cf_kafka_conf_create(struct cf_kafka_client *kc, const char *const *defaults,
                                      const struct cJSON *props, const char *const *forced,
                                      struct cf_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    for (int i = 0; defaults && defaults[i]; i += 2) {
        if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            cf_err_set(err, CF_EINVAL, "kafka property '%s': %s", defaults[i], errstr);
            goto fail;
        }
    }
    for (const cJSON *p = props ? props->child : NULL; p; p = p->next) {
        char num[64];
        const char *val = cf_kafka_property(props, p->string, num, sizeof(num));
        if (!val ||
            rd_kafka_conf_set(conf, p->string, val, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            cf_err_set(err, CF_ESPEC, "properties.%s: rejected by librdkafka", p->string);
            goto fail;
        }
    }
    for (int i = 0; forced && forced[i]; i += 2) {
        if (rd_kafka_conf_set(conf, forced[i], forced[i + 1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            cf_err_set(err, CF_EINVAL, "kafka property '%s': %s", forced[i], errstr);
            goto fail;
        }
    }
    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int cf_kafka_wait_metadata(struct cf_kafka_client *kc, rd_kafka_t *rk, const char *topic,
                           int64_t timeout_ms, const struct cf_op *op,
                           const struct rd_kafka_metadata **md, struct cf_err *err)
{
    rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
    int64_t deadline = cf_monotonic_ms() + timeout_ms;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int rc = 0;
    for (;;) {
        if (cf_op_canceled(op)) {
            rc = CF_ECANCELED;
            break;
        }
        int64_t left = deadline - cf_monotonic_ms();
        if (left <= 0) {
            break;
        }
        code = rd_kafka_metadata(rk, rkt ? 0 : 1, rkt, md, (int)(left < 250 ? left : 250));
        rd_kafka_poll(rk, 0); /* serves error_cb: keeps last_error current */
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
            break;
        }
    }
    if (rkt) {
        rd_kafka_topic_destroy(rkt);
    }
    if (rc == 0 && code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char last[512];
        char dur[32];
        cf_kafka_client_last_error(kc, last, sizeof(last));
        rc = cf_err_set(err, CF_EIO, "cannot reach Kafka brokers '%s' within %s: %s", kc->brokers,
                        cf_duration_format(timeout_ms, dur, sizeof(dur)),
                        last[0] ? last : rd_kafka_err2str(code));
    }
    return rc;
}
