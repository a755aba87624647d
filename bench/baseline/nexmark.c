/*
 * nexmark baseline: the hand-written single-thread program the Nexmark rows of `make bench`
 * are measured against. It generates the same event stream as source.datagen's nexmark
 * generator (it links connectors/datagen_nexmark.c through libcreekflow.a: same seed, same
 * events) and does each query's work directly, printing the rows the engine's job writes,
 * byte for byte, so the runner can compare outputs.
 *
 * usage: nexmark QUERY COUNT [--rows]   QUERY: q0 q1 q2 q5 q7 q11 q14
 *        nexmark digest PATH...         line count and order-independent hash of the lines
 *                                       of the files (directories: their part files)
 *
 * q0, q1 and q14 print only their row count (the engine's jobs end in sink.blackhole),
 * unless --rows; q2, q5, q7 and q11 print their rows as JSON lines. Deliberately straightforward:
 * one open-addressing hash table per open window, no threads, printf for output.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/base/hash.h"
#include "common/base/strutil.h"
#include "connectors/datagen_nexmark.h"

/* The jobs' generator settings (source.datagen defaults): seed 1, event_rate 10000. */
#define SEED       1
#define START_MS   1729555200000LL /* 2024-10-22T00:00:00Z */
#define EVENT_RATE 10000

static void iso(int64_t ms, char *out)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    sprintf(out, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(rem / 3600000),
            (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* An int64 -> {a, b} hash table (open addressing, linear probing). */
struct slot {
    int64_t key;
    int64_t a, b, c;
    int used;
};

struct table {
    struct slot *s;
    size_t cap, n;
};

static struct slot *lookup(struct table *t, int64_t key)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        struct slot *ns = calloc(ncap, sizeof(*ns));
        for (size_t k = 0; k < t->cap; k++) {
            if (t->s[k].used) {
                size_t j = (size_t)cf_hash_u64((uint64_t)t->s[k].key, 0) & (ncap - 1);
                while (ns[j].used) {
                    j = (j + 1) & (ncap - 1);
                }
                ns[j] = t->s[k];
            }
        }
        free(t->s);
        t->s = ns;
        t->cap = ncap;
    }
    size_t j = (size_t)cf_hash_u64((uint64_t)key, 0) & (t->cap - 1);
    while (t->s[j].used && t->s[j].key != key) {
        j = (j + 1) & (t->cap - 1);
    }
    if (!t->s[j].used) {
        t->s[j].used = 1;
        t->s[j].key = key;
        t->s[j].a = t->s[j].b = t->s[j].c = 0;
        t->n++;
    }
    return &t->s[j];
}

static void clear(struct table *t)
{
    memset(t->s, 0, t->cap * sizeof(*t->s));
    t->n = 0;
}

/* q5: count of bids per auction in 10 s windows sliding by 2 s: five open windows. */
#define Q5_SIZE  10000
#define Q5_SLIDE 2000
#define Q5_OPEN  (Q5_SIZE / Q5_SLIDE)

struct q5 {
    struct table win[Q5_OPEN];
    int64_t start[Q5_OPEN]; /* window start held by each table; INT64_MIN: none */
};

static void q5_flush(struct q5 *q, int k)
{
    char s1[32], s2[32];
    iso(q->start[k], s1);
    iso(q->start[k] + Q5_SIZE, s2);
    for (size_t j = 0; j < q->win[k].cap; j++) {
        struct slot *e = &q->win[k].s[j];
        if (e->used) {
            printf(
                "{\"auction\":%lld,\"window_start\":\"%s\",\"window_end\":\"%s\",\"num\":%lld}\n",
                (long long)e->key, s1, s2, (long long)e->a);
        }
    }
    if (q->win[k].cap) {
        clear(&q->win[k]);
    }
    q->start[k] = INT64_MIN;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void q5_bid(struct q5 *q, int64_t ts, int64_t auction)
{
    int64_t last = floor_div(ts, Q5_SLIDE) * Q5_SLIDE;
    for (int64_t s = last - Q5_SIZE + Q5_SLIDE; s <= last; s += Q5_SLIDE) {
        int k = (int)(((s / Q5_SLIDE) % Q5_OPEN + Q5_OPEN) % Q5_OPEN);
        if (q->start[k] != s) {
            /* The table held a window that ended (time only moves forward). */
            if (q->start[k] != INT64_MIN) {
                q5_flush(q, k);
            }
            q->start[k] = s;
        }
        lookup(&q->win[k], auction)->a++;
    }
}

static void q5_end(struct q5 *q)
{
    /* Oldest window first, as the engine fires them (the order does not matter). */
    for (int done = 0; !done;) {
        int best = -1;
        for (int k = 0; k < Q5_OPEN; k++) {
            if (q->start[k] != INT64_MIN && (best < 0 || q->start[k] < q->start[best])) {
                best = k;
            }
        }
        if (best < 0) {
            done = 1;
        } else {
            q5_flush(q, best);
        }
    }
}

/* q11: bids per bidder in session windows with a 10 s gap. */
#define Q11_GAP 10000

static void q11_emit(const struct slot *e)
{
    char s1[32], s2[32];
    iso(e->a, s1);
    iso(e->b + Q11_GAP, s2);
    printf("{\"bidder\":%lld,\"window_start\":\"%s\",\"window_end\":\"%s\",\"bid_count\":%lld}\n",
           (long long)e->key, s1, s2, (long long)e->c);
}

static void q11_bid(struct table *t, int64_t ts, int64_t bidder)
{
    struct slot *e = lookup(t, bidder);
    if (e->c > 0 && ts > e->b + Q11_GAP) {
        /* The new record's session [ts, ts + gap) does not touch the open one. */
        q11_emit(e);
        e->c = 0;
    }
    if (e->c == 0) {
        e->a = ts;
    }
    e->b = ts > e->b || e->c == 0 ? ts : e->b;
    e->c++;
}

/* ---- digest: sum and xor of 64-bit line hashes, and the line count ---- */

struct digest {
    uint64_t lines, sum, x;
};

static void digest_file(const char *path, struct digest *d)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n') {
            n--;
        }
        if (n == 0) {
            continue;
        }
        uint64_t h = cf_hash64(line, (size_t)n, 0x6e78);
        d->lines++;
        d->sum += h;
        d->x ^= h;
    }
    free(line);
    fclose(f);
}

static void digest_path(const char *path, struct digest *d)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        digest_file(path, d);
        return;
    }
    DIR *dir = opendir(path);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        /* Skip in-progress and hidden files, as a reader of sink.file output does. */
        if (de->d_name[0] == '.' || de->d_name[0] == '_') {
            continue;
        }
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        digest_path(sub, d);
    }
    if (dir) {
        closedir(dir);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "digest") == 0) {
        struct digest d = {0, 0, 0};
        for (int a = 2; a < argc; a++) {
            digest_path(argv[a], &d);
        }
        printf("%llu lines %016llx %016llx\n", (unsigned long long)d.lines,
               (unsigned long long)d.sum, (unsigned long long)d.x);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: nexmark {q0|q1|q2|q5|q7|q11|q14} COUNT [--rows]\n"
                        "       nexmark digest PATH...\n");
        return 2;
    }
    const char *q = argv[1];
    int64_t count = strtoll(argv[2], NULL, 10);
    int rows = argc > 3 && strcmp(argv[3], "--rows") == 0;
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

    struct cf_nexmark *nx = cf_nexmark_create(SEED, START_MS, EVENT_RATE);
    struct cf_nexmark_event ev;
    int64_t nout = 0;
    double check = 0; /* keeps q1's arithmetic from being optimized away */
    char s1[32];
    if (strcmp(q, "q0") == 0) {
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            nout++;
        }
    } else if (strcmp(q, "q1") == 0) {
        char num[32];
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            if (ev.kind != CF_NEXMARK_BID) {
                continue;
            }
            double eur = (double)ev.price * 0.908;
            nout++;
            if (rows) {
                /* The engine writes doubles in shortest round-trip form: use its formatter. */
                num[cf_double_format(eur, num)] = '\0';
                iso(ev.date_time, s1);
                printf("{\"auction\":%lld,\"bidder\":%lld,\"price\":%s,\"date_time\":\"%s\","
                       "\"extra\":\"%.*s\"}\n",
                       (long long)ev.auction, (long long)ev.bidder, num, s1, (int)ev.extra.len,
                       ev.extra.ptr);
            } else {
                check += eur + ev.extra.len;
            }
        }
    } else if (strcmp(q, "q14") == 0) {
        char num[32];
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            double eur = (double)ev.price * 0.908;
            if (ev.kind != CF_NEXMARK_BID || !(eur > 1000000 && eur < 50000000)) {
                continue;
            }
            int64_t hour = ev.date_time / 3600000 % 24;
            const char *type = hour >= 8 && hour <= 18   ? "dayTime"
                               : hour <= 6 || hour >= 20 ? "nightTime"
                                                         : "otherTime";
            nout++;
            if (rows) {
                num[cf_double_format(eur, num)] = '\0';
                iso(ev.date_time, s1);
                printf("{\"auction\":%lld,\"bidder\":%lld,\"price\":%s,\"bid_time_type\":\"%s\","
                       "\"date_time\":\"%s\",\"extra\":\"%.*s\"}\n",
                       (long long)ev.auction, (long long)ev.bidder, num, type, s1,
                       (int)ev.extra.len, ev.extra.ptr);
            } else {
                check += eur + ev.extra.len + type[0];
            }
        }
    } else if (strcmp(q, "q2") == 0) {
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            if (ev.kind == CF_NEXMARK_BID && ev.auction % 123 == 0) {
                printf("{\"auction\":%lld,\"price\":%lld}\n", (long long)ev.auction,
                       (long long)ev.price);
                nout++;
            }
        }
    } else if (strcmp(q, "q5") == 0) {
        static struct q5 q5;
        for (int k = 0; k < Q5_OPEN; k++) {
            q5.start[k] = INT64_MIN;
        }
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            if (ev.kind == CF_NEXMARK_BID) {
                q5_bid(&q5, ev.date_time, ev.auction);
            }
        }
        q5_end(&q5);
    } else if (strcmp(q, "q7") == 0) {
        int64_t win = INT64_MIN, maxprice = 0;
        char s2[32];
        for (int64_t i = 0; i <= count; i++) {
            int64_t w = INT64_MAX;
            if (i < count) {
                cf_nexmark_event(nx, i, &ev);
                if (ev.kind != CF_NEXMARK_BID) {
                    continue;
                }
                w = floor_div(ev.date_time, 10000) * 10000;
            }
            if (w != win && win != INT64_MIN) {
                iso(win, s1);
                iso(win + 10000, s2);
                printf("{\"window_start\":\"%s\",\"window_end\":\"%s\",\"maxprice\":%lld}\n", s1,
                       s2, (long long)maxprice);
            }
            if (w != win) {
                win = w;
                maxprice = INT64_MIN;
            }
            if (i < count && ev.price > maxprice) {
                maxprice = ev.price;
            }
        }
    } else if (strcmp(q, "q11") == 0) {
        struct table t = {NULL, 0, 0};
        for (int64_t i = 0; i < count; i++) {
            cf_nexmark_event(nx, i, &ev);
            if (ev.kind == CF_NEXMARK_BID) {
                q11_bid(&t, ev.date_time, ev.bidder);
            }
        }
        for (size_t j = 0; j < t.cap; j++) {
            if (t.s[j].used && t.s[j].c > 0) {
                q11_emit(&t.s[j]);
            }
        }
    } else {
        fprintf(stderr, "nexmark: unknown query '%s'\n", q);
        return 2;
    }
    if ((strcmp(q, "q0") == 0 || strcmp(q, "q1") == 0 || strcmp(q, "q14") == 0) && !rows) {
        printf("%lld\n", (long long)nout);
        if (check < 0) {
            printf("%f\n", check);
        }
    }
    fflush(stdout);
    cf_nexmark_destroy(nx);
    return 0;
}
