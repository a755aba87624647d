/*
 * timeutil.h - clocks, durations ("5m") and timestamps (ISO-8601 <-> epoch milliseconds).
 *
 * Creekflow's timestamps are int64 milliseconds since the Unix epoch, UTC.
 * All functions are pure or read a clock; any thread.
 */
#ifndef CF_TIMEUTIL_H
#define CF_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define CF_TS_MIN INT64_MIN
#define CF_TS_MAX INT64_MAX

/* Wall clock, ms since the epoch. */
int64_t cf_now_ms(void);
/* Monotonic clock in ms and ns (for rates and timeouts). */
int64_t cf_monotonic_ms(void);
int64_t cf_monotonic_ns(void);

/* A CLOCK_MONOTONIC deadline `deadline_ms` (from cf_monotonic_ms()) as a timespec, for
 * pthread_cond_timedwait on condition variables created with CLOCK_MONOTONIC. */
struct timespec;
void cf_monotonic_timespec(int64_t deadline_ms, struct timespec *ts);

/*
 * Parses a duration: an integer followed by a unit, "250ms", "30s", "5m", "2h", "1d".
 * Returns 0 and *ms, or CF_EPARSE for anything else (no unit, negative, overflow).
 */
int cf_duration_parse(const char *s, int64_t *ms);
/* Formats ms as the largest exact unit ("5m", "90s", "250ms"). Returns buf. */
char *cf_duration_format(int64_t ms, char *buf, size_t size);

/*
 * Parses an ISO-8601 timestamp of n bytes: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff]]"
 * with 'T' or ' ' between date and time, then optional "Z", "+HH:MM", "+HHMM", "+HH".
 * No zone means UTC. Fractions beyond milliseconds are truncated.
 * Returns 0 and *ms, or CF_EPARSE.
 */
int cf_ts_parse(const char *s, size_t n, int64_t *ms);

/* Writes "2024-10-22T18:05:00.000Z" (24 chars + NUL) into buf (size >= 25). Returns length. */
size_t cf_ts_format(int64_t ms, char *buf, size_t size);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d);
void cf_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Broken-down UTC time of a ms timestamp. */
struct cf_tm {
    int64_t year;
    int month;  /* 1..12 */
    int day;    /* 1..31 */
    int hour;   /* 0..23 */
    int minute; /* 0..59 */
    int second; /* 0..59 */
    int millis; /* 0..999 */
    int wday;   /* 0 = Sunday .. 6 */
    int yday;   /* 0..365 */
};
void cf_tm_from_ms(int64_t ms, struct cf_tm *tm);

/*
 * strftime-like formatting of a ms timestamp in UTC with the conversions Creekflow
 * documents: %Y %m %d %H %M %S %j %a %u %w %y %e %F %T %s %% (and %L for millis).
 * Returns the length written (always NUL-terminated), or -1 when buf is too small or the
 * format has an unknown conversion.
 */
int cf_ts_strftime(char *buf, size_t size, const char *fmt, int64_t ms);
/* Checks a format for cf_ts_strftime; returns 0, or CF_EPARSE with *bad at the problem. */
int cf_ts_strftime_check(const char *fmt, const char **bad);

#endif
