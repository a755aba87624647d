/*
 * cf-kafka-mock - librdkafka's mock Kafka cluster as a standalone dev/test broker.
 *
 *   cf-kafka-mock [--port N] [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Starts a mock cluster of N brokers (librdkafka's rdkafka_mock: produce, fetch, list
 * offsets, consumer groups and offset commits, idempotent and transactional producers),
 * creates the topics, prints the bootstrap address as one line on stdout
 * ("127.0.0.1:9092") and runs until SIGTERM or SIGINT. Port 0 means any free port; the
 * line printed carries the real one. Environment variables back the flags:
 * CF_KAFKA_MOCK_PORT, CF_KAFKA_MOCK_BROKERS and CF_KAFKA_MOCK_TOPICS ("a:4,b:1").
 *
 * The fixed port: librdkafka 2.0 binds each mock broker to an ephemeral port on 127.0.0.1
 * and has no API to choose it. So this program listens on the requested port itself and
 * relays every connection, byte for byte, to broker 1. Clients use that address only to
 * bootstrap: the metadata they get back names every broker at its own ephemeral port on
 * 127.0.0.1, and they connect there directly, as they would to a real cluster's advertised
 * listeners. Everything is loopback-only, as the mock itself is.
 *
 * One thread (main) runs the relay with poll(2); librdkafka runs the mock brokers on its own
 * threads. Nothing here is part of the engine: the program links librdkafka and libc only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define RELAY_BUF  (64 * 1024)
#define MAX_TOPICS 256
#define MAX_CONNS  1024

struct topic_arg {
    char name[250];
    int partitions;
};

struct options {
    int port;
    int brokers;
    int ntopics;
    struct topic_arg topics[MAX_TOPICS];
};

/* One relayed connection: client <-> broker 1, a buffer per direction. */
struct relay {
    int fd[2];              /* [0] client, [1] broker */
    char buf[2][RELAY_BUF]; /* buf[i]: bytes read from fd[i], to write to fd[1 - i] */
    size_t off[2], len[2];
    int eof[2];
};

static int sig_pipe[2] = {-1, -1};

static void vexit(int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0), noreturn));

static void vexit(int status, const char *fmt, va_list ap)
{
    fputs("cf-kafka-mock: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    exit(status);
}

/* A failure while running: exit status 1. */
static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vexit(1, fmt, ap);
}

/* A bad flag or environment variable: exit status 2. */
static void __attribute__((format(printf, 1, 2), noreturn)) bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vexit(2, fmt, ap);
}

static void usage(FILE *f)
{
    fputs("usage: cf-kafka-mock [--port N] [--brokers N] [--topic NAME:PARTITIONS]...\n"
          "  --port N          bootstrap port on 127.0.0.1 (default 9092; 0: any free port)\n"
          "  --brokers N       number of mock brokers (default 1)\n"
          "  --topic T:P       create topic T with P partitions (repeatable)\n"
          "Prints the bootstrap address on stdout and runs until SIGTERM/SIGINT.\n"
          "The mock keeps the last 5 MiB of each partition; see docs/connectors-kafka.md.\n"
          "Environment: CF_KAFKA_MOCK_PORT, CF_KAFKA_MOCK_BROKERS, CF_KAFKA_MOCK_TOPICS "
          "(\"a:4,b:1\").\n",
          f);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || end == s || *end || v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* "name:partitions" (a bare name gets 1 partition). Kafka topic names: [a-zA-Z0-9._-]. */
static void add_topic(struct options *o, const char *arg, size_t len)
{
    char text[300];
    if (len == 0 || len >= sizeof(text)) {
        bad_usage("--topic '%.*s': expected NAME:PARTITIONS", (int)len, arg);
    }
    memcpy(text, arg, len);
    text[len] = '\0';
    int parts = 1;
    char *colon = strrchr(text, ':');
    if (colon) {
        *colon = '\0';
        if (parse_int(colon + 1, 1, 100000, &parts) != 0) {
            bad_usage("--topic '%.*s': partitions must be a number from 1 to 100000", (int)len,
                      arg);
        }
    }
    size_t n = strlen(text);
    if (n == 0 || n > 249 ||
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") != n) {
        bad_usage("--topic '%.*s': a topic name is 1-249 characters of [a-zA-Z0-9._-]", (int)len,
                  arg);
    }
    if (o->ntopics == MAX_TOPICS) {
        bad_usage("too many topics (at most %d)", MAX_TOPICS);
    }
    struct topic_arg *t = &o->topics[o->ntopics++];
    memcpy(t->name, text, n + 1);
    t->partitions = parts;
}

static void parse_options(struct options *o, int argc, char **argv)
{
    o->port = 9092;
    o->brokers = 1;
    const char *env = getenv("CF_KAFKA_MOCK_PORT");
    if (env && *env && parse_int(env, 0, 65535, &o->port) != 0) {
        bad_usage("CF_KAFKA_MOCK_PORT='%s': not a port", env);
    }
    env = getenv("CF_KAFKA_MOCK_BROKERS");
    if (env && *env && parse_int(env, 1, 64, &o->brokers) != 0) {
        bad_usage("CF_KAFKA_MOCK_BROKERS='%s': must be 1 to 64", env);
    }
    env = getenv("CF_KAFKA_MOCK_TOPICS");
    if (env && *env) {
        for (const char *p = env; *p;) {
            size_t n = strcspn(p, ",");
            if (n) {
                add_topic(o, p, n);
            }
            p += n + (p[n] == ',');
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--port") != 0 && strcmp(a, "--brokers") != 0 && strcmp(a, "--topic") != 0) {
            usage(stderr);
            fprintf(stderr, "cf-kafka-mock: unknown argument '%s'\n", a);
            exit(2);
        }
        if (!v) {
            usage(stderr);
            fprintf(stderr, "cf-kafka-mock: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--port") == 0) {
            if (parse_int(v, 0, 65535, &o->port) != 0) {
                bad_usage("--port '%s': not a port (0-65535)", v);
            }
        } else if (strcmp(a, "--brokers") == 0) {
            if (parse_int(v, 1, 64, &o->brokers) != 0) {
                bad_usage("--brokers '%s': must be 1 to 64", v);
            }
        } else {
            add_topic(o, v, strlen(v));
        }
    }
}

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* nothing to do: the pipe is full, a wakeup is pending anyway */
    }
    errno = saved;
}

/* librdkafka's own log lines (the mock's and the bookkeeping client's): warnings and worse. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4) {
        fprintf(stderr, "cf-kafka-mock: librdkafka %s: %s\n", fac, buf);
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

static int listen_on(int port, int *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        die("cannot listen on 127.0.0.1:%d: %s%s", port, strerror(errno),
            errno == EADDRINUSE ? " (another Kafka running? --port 0 picks a free port)" : "");
    }
    if (listen(fd, 128) != 0) {
        die("listen: %s", strerror(errno));
    }
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *bound_port = ntohs(sin.sin_port);
    set_nonblock(fd);
    return fd;
}

static int connect_to(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_nonblock(fd);
    return fd;
}

/* Parses the first "host:port" of librdkafka's bootstrap list. */
static void first_broker(const char *list, struct sockaddr_in *addr)
{
    char host[64];
    int port = 0;
    size_t n = strcspn(list, ",");
    const char *colon = memchr(list, ':', n);
    if (!colon || (size_t)(colon - list) >= sizeof(host)) {
        die("unexpected mock bootstrap list '%s'", list);
    }
    memcpy(host, list, (size_t)(colon - list));
    host[colon - list] = '\0';
    char portbuf[16];
    size_t pl = n - (size_t)(colon - list) - 1;
    if (pl == 0 || pl >= sizeof(portbuf)) {
        die("unexpected mock bootstrap list '%s'", list);
    }
    memcpy(portbuf, colon + 1, pl);
    portbuf[pl] = '\0';
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    if (parse_int(portbuf, 1, 65535, &port) != 0 ||
        inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        die("unexpected mock bootstrap list '%s'", list);
    }
    addr->sin_port = htons((uint16_t)port);
}

static void relay_close(struct relay *r)
{
    close(r->fd[0]);
    close(r->fd[1]);
    free(r);
}

/* Moves bytes for the poll events of one relay; returns -1 when the relay is finished. */
static int relay_step(struct relay *r, const short *revents)
{
    for (int i = 0; i < 2; i++) {
        if ((revents[i] & (POLLIN | POLLHUP | POLLERR)) && !r->eof[i] && r->len[i] < RELAY_BUF) {
            ssize_t n = read(r->fd[i], r->buf[i] + r->len[i], RELAY_BUF - r->len[i]);
            if (n > 0) {
                r->len[i] += (size_t)n;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                r->eof[i] = 1;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        int out = 1 - i;
        while (r->off[i] < r->len[i]) {
            ssize_t n = write(r->fd[out], r->buf[i] + r->off[i], r->len[i] - r->off[i]);
            if (n > 0) {
                r->off[i] += (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                break;
            } else {
                return -1; /* the other side is gone */
            }
        }
        if (r->off[i] == r->len[i]) {
            r->off[i] = r->len[i] = 0;
        }
        if (r->eof[i] && r->len[i] == 0) {
            return -1; /* Kafka connections never half-close: one side done ends both */
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options opts;
    memset(&opts, 0, sizeof(opts));
    parse_options(&opts, argc, argv);

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        die("pipe: %s", strerror(errno));
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int port = 0;
    int lfd = listen_on(opts.port, &port);

    /* test.mock.num.brokers makes this client instance own a mock cluster. */
    char errstr[512];
    char nb[16];
    snprintf(nb, sizeof(nb), "%d", opts.brokers);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", nb, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        die("librdkafka has no mock cluster: %s", errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        die("cannot create the mock cluster: %s", errstr);
    }
    rd_kafka_mock_cluster_t *mcluster = rd_kafka_handle_mock_cluster(rk);
    if (!mcluster) {
        die("cannot create the mock cluster");
    }
    int rf = opts.brokers < 3 ? opts.brokers : 3;
    for (int i = 0; i < opts.ntopics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, opts.topics[i].name,
                                                             opts.topics[i].partitions, rf);
        if (err) {
            die("cannot create topic '%s': %s", opts.topics[i].name, rd_kafka_err2str(err));
        }
    }
    const char *brokers = rd_kafka_mock_cluster_bootstraps(mcluster);
    struct sockaddr_in broker1;
    first_broker(brokers, &broker1);

    fprintf(stderr, "cf-kafka-mock: %d broker(s) at %s; bootstrap 127.0.0.1:%d relays to broker 1",
            opts.brokers, brokers, port);
    for (int i = 0; i < opts.ntopics; i++) {
        fprintf(stderr, "%s%s:%d", i ? "," : "; topics ", opts.topics[i].name,
                opts.topics[i].partitions);
    }
    fputc('\n', stderr);
    printf("127.0.0.1:%d\n", port);
    fflush(stdout);

    static struct relay *relays[MAX_CONNS];
    static struct pollfd pfds[2 + 2 * MAX_CONNS];
    int nrelays = 0;
    int running = 1;
    while (running) {
        pfds[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        pfds[1] = (struct pollfd){.fd = lfd, .events = nrelays < MAX_CONNS ? POLLIN : 0};
        for (int k = 0; k < nrelays; k++) {
            struct relay *r = relays[k];
            for (int i = 0; i < 2; i++) {
                short ev = 0;
                if (!r->eof[i] && r->len[i] < RELAY_BUF) {
                    ev |= POLLIN;
                }
                if (r->len[1 - i] > r->off[1 - i]) {
                    ev |= POLLOUT;
                }
                pfds[2 + 2 * k + i] = (struct pollfd){.fd = r->fd[i], .events = ev};
            }
        }
        int n = poll(pfds, (nfds_t)(2 + 2 * nrelays), -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll: %s", strerror(errno));
        }
        if (pfds[0].revents) {
            running = 0;
            break;
        }
        /* Relays first (their pfds slots match relays[]), then new connections. */
        for (int k = 0; k < nrelays;) {
            short rev[2] = {pfds[2 + 2 * k].revents, pfds[2 + 2 * k + 1].revents};
            if ((rev[0] | rev[1]) && relay_step(relays[k], rev) < 0) {
                relay_close(relays[k]);
                relays[k] = relays[--nrelays];
                pfds[2 + 2 * k] = pfds[2 + 2 * nrelays];
                pfds[2 + 2 * k + 1] = pfds[2 + 2 * nrelays + 1];
                continue;
            }
            k++;
        }
        if (pfds[1].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (cfd >= 0) {
                int bfd = connect_to(&broker1);
                if (bfd < 0) {
                    fprintf(stderr, "cf-kafka-mock: cannot reach broker 1: %s\n", strerror(errno));
                    close(cfd);
                } else {
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct relay *r = calloc(1, sizeof(*r));
                    if (!r) {
                        die("out of memory");
                    }
                    r->fd[0] = cfd;
                    r->fd[1] = bfd;
                    relays[nrelays++] = r;
                }
            }
        }
    }
    for (int k = 0; k < nrelays; k++) {
        relay_close(relays[k]);
    }
    close(lfd);
    fprintf(stderr, "cf-kafka-mock: stopping\n");
    rd_kafka_destroy(rk); /* also destroys the mock cluster it owns */
    return 0;
}
