/*
 * log.h - leveled logging to stderr.
 *
 * Every line carries a timestamp, the level and the thread's context (job, vertex,
 * subtask) when one was set with cf_log_ctx_set(), so a line can be traced to its task.
 * Thread-safe: a line is written with one write(2).
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stdint.h>

enum cf_log_level {
    CF_LOG_DEBUG,
    CF_LOG_INFO,
    CF_LOG_WARN,
    CF_LOG_ERROR,
    CF_LOG_OFF,
};

/* Sets the minimum level written (default CF_LOG_INFO, or $CF_LOG_LEVEL). Any thread. */
void cf_log_level_set(enum cf_log_level level);
enum cf_log_level cf_log_level_get(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int cf_log_level_parse(const char *s);

/* Sets this thread's context prefix, e.g. "job=ab12 vertex=2 subtask=1/4"; NULL clears. */
void cf_log_ctx_set(const char *ctx);

void cf_log(enum cf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cf_debug(...) cf_log(CF_LOG_DEBUG, __VA_ARGS__)
#define cf_info(...)  cf_log(CF_LOG_INFO, __VA_ARGS__)
#define cf_warn(...)  cf_log(CF_LOG_WARN, __VA_ARGS__)
#define cf_error(...) cf_log(CF_LOG_ERROR, __VA_ARGS__)

/*
 * Notes: lines about the cluster's own workings (a worker registered, a job was deployed or
 * changed state, a checkpoint completed). Logged at info by cf-coordinator and cf-worker;
 * `cfctl local`, whose embedded cluster is an implementation detail, logs them at debug.
 */
void cf_log_notes_set(enum cf_log_level level);
enum cf_log_level cf_log_notes_level(void);
#define cf_note(...) cf_log(cf_log_notes_level(), __VA_ARGS__)

/*
 * A rate limiter for repetitive log lines (bad records): allows `burst` lines, then one
 * per `interval_ms`, and counts what it suppressed. One per call site; not thread-safe
 * (keep it in per-task state).
 */
struct cf_log_ratelimit {
    int64_t window_start_ms;
    uint32_t in_window;
    uint64_t suppressed;
};

/* Returns 1 if a line may be written now; *suppressed (if not NULL) gets the count of lines
 * dropped since the last allowed one. */
int cf_log_ratelimit_allow(struct cf_log_ratelimit *rl, uint64_t *suppressed);

void cf_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define cf_assert(e) ((e) ? (void)0 : cf_assert_fail(#e, __FILE__, __LINE__))

#endif
