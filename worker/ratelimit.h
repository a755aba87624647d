/*
 * ratelimit.h - pacing of sources that replay at a fixed records/s.
 */
#ifndef CF_RATELIMIT_H
#define CF_RATELIMIT_H

#include <stdint.h>

#include "common/base/timeutil.h"

struct cf_pace {
    double per_sec;   /* 0: unlimited */
    int64_t start_ns; /* when pacing began */
    int64_t produced;
};

static inline void cf_pace_init(struct cf_pace *pace, double per_sec)
{
    pace->per_sec = per_sec;
    pace->start_ns = cf_monotonic_ns();
    pace->produced = 0;
}

/* How many records may be produced now, at most max; 0 sets *wait_ms to a sleep. */
static inline int64_t cf_pace_allow(struct cf_pace *pace, int64_t max, int64_t *wait_ms)
{
    if (pace->per_sec <= 0) {
        return max;
    }
    double elapsed = (double)(cf_monotonic_ns() - pace->start_ns) / 1e9;
    int64_t allowed = (int64_t)(pace->per_sec * elapsed) + 1 - pace->produced;
    if (allowed <= 0) {
        int64_t ms = (int64_t)(1000.0 / pace->per_sec);
        *wait_ms = ms > 100 ? 100 : (ms < 1 ? 1 : ms);
        return 0;
    }
    return allowed < max ? allowed : max;
}

#endif
