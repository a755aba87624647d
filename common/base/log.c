#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

static int g_level = -1;
static _Thread_local char t_ctx[128];

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == CF_LOG_OFF + 1,
               "level_names must cover every level");

int cf_log_level_parse(const char *s)
{
    for (int i = 0; i <= CF_LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return CF_LOG_WARN;
    }
    return -1;
}

enum cf_log_level cf_log_level_get(void)
{
    int level = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (level < 0) {
        const char *env = getenv("CF_LOG_LEVEL");
        level = env ? cf_log_level_parse(env) : -1;
        if (level < 0) {
            level = CF_LOG_INFO;
        }
        __atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
    }
    return (enum cf_log_level)level;
}

void cf_log_level_set(enum cf_log_level level)
{
    __atomic_store_n(&g_level, (int)level, __ATOMIC_RELAXED);
}

static int g_notes = CF_LOG_INFO;

void cf_log_notes_set(enum cf_log_level level)
{
    __atomic_store_n(&g_notes, (int)level, __ATOMIC_RELAXED);
}

enum cf_log_level cf_log_notes_level(void)
{
    return (enum cf_log_level)__atomic_load_n(&g_notes, __ATOMIC_RELAXED);
}

void cf_log_ctx_set(const char *ctx)
{
    if (ctx) {
        snprintf(t_ctx, sizeof(t_ctx), "%s", ctx);
    } else {
        t_ctx[0] = '\0';
    }
}

void cf_log(enum cf_log_level level, const char *fmt, ...)
{
    if (level < cf_log_level_get() || level >= CF_LOG_OFF) {
        return;
    }
    char line[2048];
    char ts[32];
    cf_ts_format(cf_now_ms(), ts, sizeof(ts));
    int n = snprintf(line, sizeof(line), "%s %-5s %s%s", ts, level_names[level], t_ctx,
                     t_ctx[0] ? " " : "");
    if (n < 0 || (size_t)n >= sizeof(line)) {
        n = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        m = 0;
    }
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int cf_log_ratelimit_allow(struct cf_log_ratelimit *rl, uint64_t *suppressed)
{
    const uint32_t burst = 10;
    const int64_t interval_ms = 5000;
    int64_t now = cf_monotonic_ms();
    if (now - rl->window_start_ms >= interval_ms) {
        rl->window_start_ms = now;
        rl->in_window = 0;
    }
    if (rl->in_window < burst) {
        rl->in_window++;
        if (suppressed) {
            *suppressed = rl->suppressed;
        }
        rl->suppressed = 0;
        return 1;
    }
    rl->suppressed++;
    return 0;
}

void cf_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "creekflow: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
