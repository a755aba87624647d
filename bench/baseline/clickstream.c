/*
 * clickstream baseline: the hand-written single-thread program Creekflow is measured
 * against. It does the benchmark queries' work directly: reads JSON lines (flat objects,
 * any key order), and aggregates 1-minute tumbling windows either by (event_type, country)
 * with count, sum(duration_ms) and exact distinct users, or by user_id with count and sum.
 * It prints the same rows as the engine (JSON lines), so the runner can compare outputs.
 *
 * usage: clickstream {by-type-country|by-user} FILE
 *
 * Deliberately straightforward: a reasonable engineer's program with a hash table per
 * window, no threads, no SIMD. Input is read with one big buffer and memchr.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW_MS 60000

struct str {
    const char *p;
    size_t n;
};

/* Keys of the query: up to two strings. */
struct group {
    struct group *next;
    int64_t window;
    char *k1, *k2;
    int64_t count;
    int64_t sum;
    /* exact distinct users: open addressing set of strings */
    char **users;
    size_t nusers, cap;
};

static struct group **table;
static size_t table_cap = 1 << 16, table_n;

static uint64_t hash_bytes(const char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static void user_add(struct group *g, struct str u)
{
    if ((g->nusers + 1) * 2 > g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 16;
        char **nu = calloc(ncap, sizeof(char *));
        for (size_t i = 0; i < g->cap; i++) {
            if (g->users[i]) {
                size_t j = hash_bytes(g->users[i], strlen(g->users[i]), 14695981039346656037ULL) &
                           (ncap - 1);
                while (nu[j]) {
                    j = (j + 1) & (ncap - 1);
                }
                nu[j] = g->users[i];
            }
        }
        free(g->users);
        g->users = nu;
        g->cap = ncap;
    }
    size_t j = hash_bytes(u.p, u.n, 14695981039346656037ULL) & (g->cap - 1);
    while (g->users[j]) {
        if (strlen(g->users[j]) == u.n && memcmp(g->users[j], u.p, u.n) == 0) {
            return;
        }
        j = (j + 1) & (g->cap - 1);
    }
    g->users[j] = strndup(u.p, u.n);
    g->nusers++;
}

static struct group *lookup(int64_t window, struct str k1, struct str k2)
{
    uint64_t h = hash_bytes(k1.p, k1.n, 14695981039346656037ULL ^ (uint64_t)window);
    h = hash_bytes(k2.p, k2.n, h);
    size_t b = h & (table_cap - 1);
    for (struct group *g = table[b]; g; g = g->next) {
        if (g->window == window && strlen(g->k1) == k1.n && !memcmp(g->k1, k1.p, k1.n) &&
            strlen(g->k2) == k2.n && !memcmp(g->k2, k2.p, k2.n)) {
            return g;
        }
    }
    if (table_n + 1 > table_cap) {
        /* Keep chains short: double the table (as any real hash table would). */
        size_t ncap = table_cap * 2;
        struct group **nt = calloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < table_cap; i++) {
            struct group *e = table[i];
            while (e) {
                struct group *next = e->next;
                uint64_t eh =
                    hash_bytes(e->k1, strlen(e->k1), 14695981039346656037ULL ^ (uint64_t)e->window);
                eh = hash_bytes(e->k2, strlen(e->k2), eh);
                e->next = nt[eh & (ncap - 1)];
                nt[eh & (ncap - 1)] = e;
                e = next;
            }
        }
        free(table);
        table = nt;
        table_cap = ncap;
        b = h & (table_cap - 1);
    }
    struct group *g = calloc(1, sizeof(*g));
    g->window = window;
    g->k1 = strndup(k1.p, k1.n);
    g->k2 = strndup(k2.p, k2.n);
    g->next = table[b];
    table[b] = g;
    table_n++;
    return g;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2024-10-22T18:05:00.123Z" -> ms (the generator's format). */
static int64_t parse_iso(struct str s)
{
    const char *p = s.p;
#define D2(i) ((p[i] - '0') * 10 + (p[i + 1] - '0'))
    int64_t y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + D2(2);
    int64_t days = days_from_civil(y, (unsigned)D2(5), (unsigned)D2(8));
    int64_t ms = ((days * 24 + D2(11)) * 60 + D2(14)) * 60000 + D2(17) * 1000;
    if (s.n > 20 && p[19] == '.') {
        ms += (p[20] - '0') * 100 + (p[21] - '0') * 10 + (p[22] - '0');
    }
    return ms;
}

static void iso(int64_t ms, char *out)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    sprintf(out, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(rem / 3600000),
            (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* Folds one line [p, le) into the groups. */
static void process_line(const char *p, const char *le, int by_user)
{
    struct str user = {0}, type = {0}, country = {0}, ts = {0};
    int64_t dur = 0;
    /* Flat object: "key":value pairs; strings without escapes in this data. */
    const char *q = p;
    while (q < le) {
        const char *k = memchr(q, '"', (size_t)(le - q));
        if (!k) {
            break;
        }
        const char *ke = memchr(k + 1, '"', (size_t)(le - k - 1));
        struct str key = {k + 1, (size_t)(ke - k - 1)};
        const char *v = ke + 2; /* skip ": */
        struct str val;
        if (*v == '"') {
            const char *ve = memchr(v + 1, '"', (size_t)(le - v - 1));
            val = (struct str){v + 1, (size_t)(ve - v - 1)};
            q = ve + 1;
        } else {
            const char *ve = v;
            while (ve < le && *ve != ',' && *ve != '}') {
                ve++;
            }
            val = (struct str){v, (size_t)(ve - v)};
            q = ve;
        }
        if (key.n == 7 && !memcmp(key.p, "user_id", 7)) {
            user = val;
        } else if (key.n == 10 && !memcmp(key.p, "event_type", 10)) {
            type = val;
        } else if (key.n == 7 && !memcmp(key.p, "country", 7)) {
            country = val;
        } else if (key.n == 2 && !memcmp(key.p, "ts", 2)) {
            ts = val;
        } else if (key.n == 11 && !memcmp(key.p, "duration_ms", 11)) {
            dur = strtoll(val.p, NULL, 10);
        }
    }
    if (ts.n) {
        int64_t t = parse_iso(ts);
        int64_t w = t - (t % WINDOW_MS + WINDOW_MS) % WINDOW_MS;
        struct group *g = by_user ? lookup(w, user, (struct str){"", 0}) : lookup(w, type, country);
        g->count++;
        g->sum += dur;
        if (!by_user) {
            user_add(g, user);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: clickstream {by-type-country|by-user} FILE\n");
        return 2;
    }
    int by_user = strcmp(argv[1], "by-user") == 0;
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    table = calloc(table_cap, sizeof(*table));
    /* Stream the file through a 1 MiB buffer; a line cut by the buffer end is moved to
     * the front and completed by the next read. */
    size_t cap = 1 << 20, have = 0;
    char *data = malloc(cap);
    for (;;) {
        ssize_t n = read(fd, data + have, cap - have);
        if (n < 0) {
            perror(argv[2]);
            return 1;
        }
        have += (size_t)n;
        const char *p = data, *end = data + have;
        const char *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            process_line(p, nl, by_user);
            p = nl + 1;
        }
        if (n == 0) {
            if (p < end) {
                process_line(p, end, by_user);
            }
            break;
        }
        have = (size_t)(end - p);
        memmove(data, p, have);
        if (have == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    close(fd);
    char s1[32], s2[32];
    for (size_t b = 0; b < table_cap; b++) {
        for (struct group *g = table[b]; g; g = g->next) {
            iso(g->window, s1);
            iso(g->window + WINDOW_MS, s2);
            if (by_user) {
                printf("{\"user_id\":\"%s\",\"window_start\":\"%s\",\"window_end\":\"%s\","
                       "\"events\":%lld,\"total_ms\":%lld}\n",
                       g->k1, s1, s2, (long long)g->count, (long long)g->sum);
            } else {
                printf("{\"event_type\":\"%s\",\"country\":\"%s\",\"window_start\":\"%s\","
                       "\"window_end\":\"%s\",\"events\":%lld,\"total_ms\":%lld,\"users\":%zu}\n",
                       g->k1, g->k2, s1, s2, (long long)g->count, (long long)g->sum, g->nusers);
            }
        }
    }
    return 0;
}
