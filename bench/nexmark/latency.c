/*
 * latency: end-to-end latency of a job's rows, read from its sink.print output on stdin.
 *
 * Each row carries "ingest_us": the wall-clock microseconds at which source.datagen
 * generated it (`ingest_time: true`). This program reads the rows as sink.print writes them
 * (one write() per batch into the pipe), stamps every chunk it reads with the wall clock,
 * and takes now - ingest_us as the row's latency: generation, every operator, the
 * exchanges, JSON encoding and the sink's write, plus the pipe. Rows of the first
 * `warmup_ms` of input are left out (start-up). Prints
 *   rows N p50_us X p99_us Y p999_us Z max_us M
 *
 * usage: cfctl local -q JOB.json | latency [WARMUP_MS]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int64_t warmup_us = (argc > 1 ? strtoll(argv[1], NULL, 10) : 1000) * 1000;
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    size_t nlat = 0, latcap = 1 << 20;
    int64_t *lat = malloc(latcap * sizeof(*lat));
    int64_t first = 0;
    static const char key[] = "\"ingest_us\":";
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf + have, cap - have);
        if (n <= 0) {
            break;
        }
        int64_t now = now_us();
        have += (size_t)n;
        char *p = buf, *end = buf + have, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            *nl = '\0';
            char *k = strstr(p, key);
            if (k) {
                int64_t t = strtoll(k + sizeof(key) - 1, NULL, 10);
                if (first == 0) {
                    first = t;
                }
                if (t - first >= warmup_us) {
                    if (nlat == latcap) {
                        latcap *= 2;
                        lat = realloc(lat, latcap * sizeof(*lat));
                    }
                    lat[nlat++] = now - t;
                }
            }
            p = nl + 1;
        }
        have = (size_t)(end - p);
        memmove(buf, p, have);
        if (have == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (nlat == 0) {
        printf("rows 0\n");
        return 1;
    }
    qsort(lat, nlat, sizeof(*lat), cmp64);
    printf("rows %zu p50_us %lld p99_us %lld p999_us %lld max_us %lld\n", nlat,
           (long long)lat[nlat / 2], (long long)lat[nlat * 99 / 100],
           (long long)lat[nlat * 999 / 1000], (long long)lat[nlat - 1]);
    return 0;
}
