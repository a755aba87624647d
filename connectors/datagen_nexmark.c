/*
 * datagen_nexmark.c - the Nexmark generator (see datagen_nexmark.h).
 *
 * Written for Creekflow after the data model of the Nexmark benchmark (Apache Beam's
 * generator, as used by Flink's nexmark project): the same proportions, id arithmetic,
 * hot-item ratios, price distribution and average event sizes, with our own random
 * numbers (a per-event SplitMix64 stream instead of java.util.Random), so values are
 * distributed as in Nexmark but not bit-identical to it.
 *
 * Two deliberate differences, for speed without changing what the queries see:
 *  - `extra` (padding of random lowercase letters up to Nexmark's average event size) is a
 *    window of a per-generator 64 KiB pool of random letters, at a random offset and with
 *    Nexmark's random length, referenced rather than written per event; an auction's
 *    item_name and description likewise come from a pool of letters and (1 in 13) spaces,
 *    trimmed like Nexmark's strings;
 *  - the 10,000 non-hot channels' URLs and the 4 hot ones are built once from the seed
 *    (Nexmark caches them too, but draws them from an unseeded Random).
 * Flink's BidGenerator adds FIRST_PERSON_ID to the bidder twice; Beam's (and this) once.
 */
#include "connectors/datagen_nexmark.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/base/log.h"
#include "common/base/mem.h"
#include "common/data/batch.h"

/* Proportions of people, auctions and bids (Nexmark's defaults). */
#define PROP_PERSON  1
#define PROP_AUCTION 3
#define PROP_TOTAL   50

#define FIRST_PERSON_ID   1000
#define FIRST_AUCTION_ID  1000
#define FIRST_CATEGORY_ID 10
#define NUM_CATEGORIES    5
/* Ids may run this far ahead of the last generated person/auction. */
#define PERSON_ID_LEAD  10
#define AUCTION_ID_LEAD 10
/* Hot auctions, sellers and bidders are the first (bidders: second) of each batch of 100. */
#define HOT_GROUP 100
/* P(hot) = 1 - 1/ratio. */
#define HOT_AUCTION_RATIO 2
#define HOT_SELLER_RATIO  4
#define HOT_BIDDER_RATIO  4
#define NUM_IN_FLIGHT     100
#define NUM_ACTIVE_PEOPLE 1000
#define AVG_PERSON_BYTES  200
#define AVG_AUCTION_BYTES 500
#define AVG_BID_BYTES     100
#define HOT_CHANNEL_RATIO 2
#define NUM_CHANNELS      10000
#define NUM_HOT_CHANNELS  4
#define MIN_STRING_LEN    3

/* The letter pool for `extra`: POOL_SPAN start offsets, each followed by EXTRA_MAX letters. */
#define POOL_SPAN 65536
#define EXTRA_MAX 1024

/* Prices: 10^(k / PRICE_STEPS) is tabulated. */
#define PRICE_STEPS 256

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const us_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const us_cities[] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                        "Portland", "Bend",        "Redmond",       "Seattle",
                                        "Kent",     "Cheyenne"};
static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};
static const char *const hot_channels[NUM_HOT_CHANNELS] = {"Google", "Facebook", "Baidu", "Apple"};
static const char *const kind_names[] = {"person", "auction", "bid"};
_Static_assert(NELEM(kind_names) == CF_NEXMARK_BID + 1, "kind_names covers every kind");

struct cf_nexmark {
    uint64_t seedk; /* the seed, mixed */
    int64_t start_ms;
    int64_t event_rate;
    double inv_rate;                   /* 1 / event_rate */
    double pow10[6 * PRICE_STEPS + 1]; /* 10^(k / PRICE_STEPS) */
    struct cf_nexmark_str names[NELEM(first_names) * NELEM(last_names)];
    struct cf_nexmark_str cities[NELEM(us_cities)];
    struct cf_nexmark_str states[NELEM(us_states)];
    struct cf_nexmark_str channels[NUM_CHANNELS + NUM_HOT_CHANNELS];
    struct cf_nexmark_str urls[NUM_CHANNELS + NUM_HOT_CHANNELS];
    char *text;  /* backing store of names, channels and urls */
    char *pool;  /* POOL_SPAN + EXTRA_MAX random lowercase letters */
    char *words; /* POOL_SPAN + EXTRA_MAX letters and spaces, for item names and descriptions */
};

/* ---- random numbers: one SplitMix64 stream per event ---- */

#define GOLDEN 0x9e3779b97f4a7c15ULL

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

/* The stream of (seed, stream): distinct streams start at unrelated points of the cycle. */
static inline void rng_init(struct rng *g, uint64_t seedk, uint64_t stream)
{
    g->s = mix64(stream * GOLDEN ^ seedk);
}

static inline uint64_t rng_next(struct rng *g)
{
    g->s += GOLDEN;
    return mix64(g->s);
}

/* Uniform in [0, n) (multiply-shift; the bias is below 2^-40 for the n used here). */
static inline uint64_t rng_below(struct rng *g, uint64_t n)
{
    return (uint64_t)(((__uint128_t)rng_next(g) * n) >> 64);
}

/*
 * Several small draws from one 64-bit number: each take() returns floor(x * n / 2^64) and
 * keeps the fraction (the low 64 bits of the product) for the next one. Uniform to within
 * 2^-k where k is what is left of the 64 bits; callers stay under 32 bits taken.
 */
static inline uint32_t take(uint64_t *x, uint32_t n)
{
    __uint128_t r = (__uint128_t)*x * n;
    *x = (uint64_t)r;
    return (uint32_t)(r >> 64);
}

/* ---- Nexmark's id arithmetic ---- */

/* The last person id (base 0) generated at or before event i. */
static inline int64_t last_person(int64_t i)
{
    /* With one person per 50 events, the person of each epoch comes first. */
    return i / PROP_TOTAL * PROP_PERSON;
}

/* The last auction id (base 0) generated at or before event i (-1 before the first). */
static inline int64_t last_auction(int64_t i)
{
    int64_t epoch = i / PROP_TOTAL, off = i % PROP_TOTAL;
    if (off < PROP_PERSON) {
        epoch--;
        off = PROP_AUCTION - 1;
    } else if (off >= PROP_PERSON + PROP_AUCTION) {
        off = PROP_AUCTION - 1;
    } else {
        off -= PROP_PERSON;
    }
    return epoch * PROP_AUCTION + off;
}

/* A random active person (base 0), possibly a few not generated yet. */
static inline int64_t next_person(int64_t i, struct rng *g)
{
    int64_t people = last_person(i) + 1;
    int64_t active = people < NUM_ACTIVE_PEOPLE ? people : NUM_ACTIVE_PEOPLE;
    return people - active + (int64_t)rng_below(g, (uint64_t)(active + PERSON_ID_LEAD));
}

/* start + floor(i * 1000 / event_rate), by a reciprocal (a division costs more than the
 * rest of a bid) corrected to the exact quotient. */
static inline int64_t timestamp_of(const struct cf_nexmark *nx, int64_t i)
{
    int64_t num = i * 1000;
    int64_t q = (int64_t)((double)num * nx->inv_rate);
    while (q > 0 && q * nx->event_rate > num) {
        q--;
    }
    while ((q + 1) * nx->event_rate <= num) {
        q++;
    }
    return nx->start_ms + q;
}

/*
 * Cents: 10^(6u) dollars, 1.00 to 1,000,000.00, log-uniform (Nexmark's PriceGenerator),
 * computed as 10^(k/256) from a table times 10^f (f < 1/256) by its Taylor series, which is
 * exact to the last bit or two of a double and needs no libm call per bid.
 */
static inline int64_t price_of(const struct cf_nexmark *nx, uint64_t x)
{
    double v = (double)(x >> 11) * 0x1p-53 * (6 * PRICE_STEPS);
    int k = (int)v;
    double f = (v - k) * (2.302585092994046 / PRICE_STEPS); /* ln 10 / steps */
    double e = 1 + f * (1 + f * (0.5 + f * (1.0 / 6 + f * (1.0 / 24 + f * (1.0 / 120)))));
    return (int64_t)floor(nx->pow10[k] * e * 100.0 + 0.5);
}

static inline int64_t next_price(const struct cf_nexmark *nx, struct rng *g)
{
    return price_of(nx, rng_next(g));
}

/* ---- strings ---- */

/* len characters: letters and (1 in 13) `special`. */
static void next_string_fill(struct rng *g, char special, char *out, size_t len)
{
    uint64_t x = 0;
    for (size_t k = 0; k < len; k++) {
        /* Three characters per 64-bit draw (13 * 26 < 2^9 each). */
        if (k % 3 == 0) {
            x = rng_next(g);
        }
        uint32_t c = take(&x, 13 * 26);
        out[k] = c < 26 ? special : (char)('a' + c % 26);
    }
}

/* Nexmark's nextString: 3 to max-1 characters, letters and (1 in 13) `special`, with
 * spaces trimmed at both ends. Writes to out; returns the length. */
static uint32_t next_string(struct rng *g, uint32_t max, char special, char *out)
{
    uint32_t len = MIN_STRING_LEN + (uint32_t)rng_below(g, max - MIN_STRING_LEN);
    next_string_fill(g, special, out, len);
    uint32_t b = 0, e = len;
    while (b < e && out[b] == ' ') {
        b++;
    }
    while (e > b && out[e - 1] == ' ') {
        e--;
    }
    if (b > 0) {
        memmove(out, out + b, e - b);
    }
    return e - b;
}

/* Nexmark's nextString(max) as a window of the words pool: 3 to max-1 letters and spaces,
 * trimmed. */
static inline struct cf_nexmark_str pool_string(const struct cf_nexmark *nx, struct rng *g,
                                                uint32_t max)
{
    uint64_t x = rng_next(g);
    uint32_t len = MIN_STRING_LEN + take(&x, max - MIN_STRING_LEN);
    const char *p = nx->words + take(&x, POOL_SPAN);
    while (len > 0 && *p == ' ') {
        p++;
        len--;
    }
    while (len > 0 && p[len - 1] == ' ') {
        len--;
    }
    return (struct cf_nexmark_str){p, len};
}

/* Nexmark's nextExtra: letters so that current + extra averages `avg` bytes. */
static inline struct cf_nexmark_str next_extra(const struct cf_nexmark *nx, struct rng *g,
                                               uint32_t current, uint32_t avg)
{
    struct cf_nexmark_str s = {nx->pool, 0};
    if (current > avg) {
        return s;
    }
    uint32_t want = avg - current;
    uint32_t delta = (uint32_t)floor(want * 0.2 + 0.5);
    uint32_t len = want - delta + (delta ? (uint32_t)rng_below(g, 2 * delta) : 0);
    s.ptr = nx->pool + rng_below(g, POOL_SPAN);
    s.len = len < EXTRA_MAX ? len : EXTRA_MAX;
    return s;
}

static inline struct cf_nexmark_str str_of(const char *s)
{
    return (struct cf_nexmark_str){s, (uint32_t)strlen(s)};
}

/* Appends s to the text block at *at; returns the view. */
static struct cf_nexmark_str put_text(char **at, const char *s, size_t n)
{
    struct cf_nexmark_str v = {*at, (uint32_t)n};
    memcpy(*at, s, n);
    *at += n;
    return v;
}

/* A base URL of Nexmark's form: three random 3-4 character path segments. */
static size_t base_url(struct rng *g, char *out)
{
    static const char prefix[] = "https://www.nexmark.com/";
    static const char suffix[] = "item.htm?query=1";
    size_t n = sizeof(prefix) - 1;
    memcpy(out, prefix, n);
    for (int k = 0; k < 3; k++) {
        n += next_string(g, 5, '_', out + n);
        out[n++] = '/';
    }
    memcpy(out + n, suffix, sizeof(suffix) - 1);
    return n + sizeof(suffix) - 1;
}

static uint32_t reverse32(uint32_t v)
{
    uint32_t r = 0;
    for (int k = 0; k < 32; k++) {
        r = (r << 1) | ((v >> k) & 1u);
    }
    return r;
}

/* Streams for the tables, apart from the per-event streams (stream = event index). */
#define STREAM_TABLES (UINT64_C(1) << 62)

struct cf_nexmark *cf_nexmark_create(uint64_t seed, int64_t start_ms, int64_t event_rate)
{
    struct cf_nexmark *nx = cf_new(struct cf_nexmark);
    nx->seedk = mix64(seed ^ 0x6e65786d61726bULL); /* "nexmark" */
    nx->start_ms = start_ms;
    nx->event_rate = event_rate > 0 ? event_rate : 1;
    nx->inv_rate = 1.0 / (double)nx->event_rate;
    for (int k = 0; k <= 6 * PRICE_STEPS; k++) {
        nx->pow10[k] = pow(10.0, (double)k / PRICE_STEPS);
    }

    /* Names, channels and URLs: at most 96 bytes per URL, 16 per channel, 16 per name. */
    size_t cap = (NUM_CHANNELS + NUM_HOT_CHANNELS) * (96 + 16) + NELEM(nx->names) * 16;
    char *at = nx->text = cf_malloc(cap);
    for (size_t f = 0; f < NELEM(first_names); f++) {
        for (size_t l = 0; l < NELEM(last_names); l++) {
            char tmp[32];
            size_t fl = strlen(first_names[f]), ll = strlen(last_names[l]);
            memcpy(tmp, first_names[f], fl);
            tmp[fl] = ' ';
            memcpy(tmp + fl + 1, last_names[l], ll);
            nx->names[f * NELEM(last_names) + l] = put_text(&at, tmp, fl + 1 + ll);
        }
    }
    for (size_t k = 0; k < NELEM(us_cities); k++) {
        nx->cities[k] = str_of(us_cities[k]);
    }
    for (size_t k = 0; k < NELEM(us_states); k++) {
        nx->states[k] = str_of(us_states[k]);
    }
    for (uint32_t c = 0; c < NUM_CHANNELS + NUM_HOT_CHANNELS; c++) {
        struct rng g;
        rng_init(&g, nx->seedk, STREAM_TABLES + c);
        char url[96];
        size_t n = base_url(&g, url);
        if (c < NUM_CHANNELS) {
            char name[16];
            memcpy(name, "channel-", 8);
            size_t nl = 8 + (size_t)snprintf(name + 8, sizeof(name) - 8, "%u", c);
            nx->channels[c] = put_text(&at, name, nl);
            /* Nine channels in ten carry their id in the URL (bit-reversed, as Nexmark). */
            if (rng_below(&g, 10) > 0) {
                int64_t id = (int32_t)reverse32(c);
                n += (size_t)snprintf(url + n, sizeof(url) - n, "&channel_id=%lld",
                                      (long long)(id < 0 ? -id : id));
            }
        } else {
            nx->channels[c] = str_of(hot_channels[c - NUM_CHANNELS]);
        }
        nx->urls[c] = put_text(&at, url, n);
    }
    cf_assert((size_t)(at - nx->text) <= cap);

    nx->pool = cf_malloc(POOL_SPAN + EXTRA_MAX);
    struct rng g;
    rng_init(&g, nx->seedk, STREAM_TABLES - 1);
    for (size_t k = 0; k < POOL_SPAN + EXTRA_MAX; k++) {
        nx->pool[k] = (char)('a' + rng_below(&g, 26));
    }
    nx->words = cf_malloc(POOL_SPAN + EXTRA_MAX);
    next_string_fill(&g, ' ', nx->words, POOL_SPAN + EXTRA_MAX);
    return nx;
}

void cf_nexmark_destroy(struct cf_nexmark *nx)
{
    if (nx) {
        cf_free(nx->text);
        cf_free(nx->pool);
        cf_free(nx->words);
        cf_free(nx);
    }
}

const char *cf_nexmark_kind_name(enum cf_nexmark_kind kind)
{
    return kind_names[kind];
}

static void gen_person(const struct cf_nexmark *nx, int64_t i, struct rng *g,
                       struct cf_nexmark_event *ev)
{
    ev->id = last_person(i) + FIRST_PERSON_ID;
    ev->name = nx->names[rng_below(g, NELEM(first_names)) * NELEM(last_names) +
                         rng_below(g, NELEM(last_names))];
    char *out = ev->scratch;
    /* email: <up to 6>@<up to 4>.com */
    uint32_t n = next_string(g, 7, ' ', out);
    out[n++] = '@';
    n += next_string(g, 5, ' ', out + n);
    memcpy(out + n, ".com", 4);
    n += 4;
    ev->email_address = (struct cf_nexmark_str){out, n};
    /* credit card: four groups of four digits */
    char *cc = out + n;
    for (int k = 0; k < 4; k++) {
        unsigned v = (unsigned)rng_below(g, 10000);
        char *d = cc + k * 5;
        d[0] = (char)('0' + v / 1000);
        d[1] = (char)('0' + v / 100 % 10);
        d[2] = (char)('0' + v / 10 % 10);
        d[3] = (char)('0' + v % 10);
        d[4] = ' ';
    }
    ev->credit_card = (struct cf_nexmark_str){cc, 19};
    ev->city = nx->cities[rng_below(g, NELEM(us_cities))];
    ev->state = nx->states[rng_below(g, NELEM(us_states))];
    uint32_t size = 8 + ev->name.len + ev->email_address.len + ev->credit_card.len + ev->city.len +
                    ev->state.len;
    ev->extra = next_extra(nx, g, size, AVG_PERSON_BYTES);
}

static void gen_auction(const struct cf_nexmark *nx, int64_t i, struct rng *g,
                        struct cf_nexmark_event *ev)
{
    ev->id = last_auction(i) + FIRST_AUCTION_ID;
    int64_t seller;
    if (rng_below(g, HOT_SELLER_RATIO) > 0) {
        seller = last_person(i) / HOT_GROUP * HOT_GROUP;
    } else {
        seller = next_person(i, g);
    }
    ev->seller = seller + FIRST_PERSON_ID;
    ev->category = FIRST_CATEGORY_ID + (int64_t)rng_below(g, NUM_CATEGORIES);
    ev->initial_bid = next_price(nx, g);
    /* Lasts on average until numInFlight more auctions have been created. */
    int64_t horizon =
        timestamp_of(nx, i + NUM_IN_FLIGHT * PROP_TOTAL / PROP_AUCTION) - ev->date_time;
    ev->expires =
        ev->date_time + 1 + (int64_t)rng_below(g, (uint64_t)(horizon * 2 > 1 ? horizon * 2 : 1));
    ev->item_name = pool_string(nx, g, 20);
    ev->description = pool_string(nx, g, 100);
    ev->reserve = ev->initial_bid + next_price(nx, g);
    ev->extra =
        next_extra(nx, g, 8 + ev->item_name.len + ev->description.len + 5 * 8, AVG_AUCTION_BYTES);
}

/* Bid `extra`: 32 bytes of ids and price, padded to AVG_BID_BYTES on average. */
#define BID_EXTRA_WANT  (AVG_BID_BYTES - 4 * 8)
#define BID_EXTRA_DELTA 14 /* round(0.2 * BID_EXTRA_WANT) */
_Static_assert((2 * BID_EXTRA_WANT + 5) / 10 == BID_EXTRA_DELTA, "delta is round(0.2 * want)");

/*
 * A bid takes three 64-bit draws instead of one per value (bids are 92% of the events): the
 * hot/cold choices and the extra's length and offset from the first, the price from the
 * second, and the cold auction, bidder and channel from the third.
 */
static void gen_bid(const struct cf_nexmark *nx, int64_t i, struct rng *g,
                    struct cf_nexmark_event *ev)
{
    uint64_t x = rng_next(g);
    int hot_auction = take(&x, HOT_AUCTION_RATIO) > 0;
    int hot_bidder = take(&x, HOT_BIDDER_RATIO) > 0;
    int hot_channel = take(&x, HOT_CHANNEL_RATIO) > 0;
    uint32_t hot_c = take(&x, NUM_HOT_CHANNELS);
    uint32_t extra_len = BID_EXTRA_WANT - BID_EXTRA_DELTA + take(&x, 2 * BID_EXTRA_DELTA);
    uint32_t extra_off = take(&x, POOL_SPAN);
    ev->price = price_of(nx, rng_next(g));
    uint64_t y = rng_next(g);

    int64_t auction;
    if (hot_auction) {
        auction = last_auction(i) / HOT_GROUP * HOT_GROUP;
    } else {
        int64_t hi = last_auction(i);
        int64_t lo = hi - NUM_IN_FLIGHT > 0 ? hi - NUM_IN_FLIGHT : 0;
        auction = lo + take(&y, (uint32_t)(hi - lo + 1 + AUCTION_ID_LEAD));
    }
    ev->auction = auction + FIRST_AUCTION_ID;
    int64_t bidder;
    if (hot_bidder) {
        /* The second person of the group, so hot bidders are not hot sellers. */
        bidder = last_person(i) / HOT_GROUP * HOT_GROUP + 1;
    } else {
        int64_t people = last_person(i) + 1;
        int64_t active = people < NUM_ACTIVE_PEOPLE ? people : NUM_ACTIVE_PEOPLE;
        bidder = people - active + take(&y, (uint32_t)(active + PERSON_ID_LEAD));
    }
    ev->bidder = bidder + FIRST_PERSON_ID;
    size_t c = hot_channel ? NUM_CHANNELS + hot_c : take(&y, NUM_CHANNELS);
    ev->channel = nx->channels[c];
    ev->url = nx->urls[c];
    ev->extra = (struct cf_nexmark_str){nx->pool + extra_off, extra_len};
}

void cf_nexmark_event(const struct cf_nexmark *nx, int64_t i, struct cf_nexmark_event *ev)
{
    struct rng g;
    rng_init(&g, nx->seedk, (uint64_t)i);
    ev->kind = cf_nexmark_kind_of(i);
    ev->date_time = timestamp_of(nx, i);
    switch (ev->kind) {
    case CF_NEXMARK_PERSON: gen_person(nx, i, &g, ev); break;
    case CF_NEXMARK_AUCTION: gen_auction(nx, i, &g, ev); break;
    case CF_NEXMARK_BID: gen_bid(nx, i, &g, ev); break;
    }
}

/* ---- the flat row form ---- */

enum {
    F_EVENT_TYPE,
    F_ID,
    F_NAME,
    F_EMAIL_ADDRESS,
    F_CREDIT_CARD,
    F_CITY,
    F_STATE,
    F_DATE_TIME,
    F_EXTRA,
    F_ITEM_NAME,
    F_DESCRIPTION,
    F_INITIAL_BID,
    F_RESERVE,
    F_EXPIRES,
    F_SELLER,
    F_CATEGORY,
    F_AUCTION,
    F_BIDDER,
    F_PRICE,
    F_CHANNEL,
    F_URL,
    F_INGEST_US,
    F__COUNT
};

static const struct {
    const char *name;
    enum cf_type type;
} fields[] = {
    {"event_type", CF_TYPE_STRING},  {"id", CF_TYPE_INT},
    {"name", CF_TYPE_STRING},        {"email_address", CF_TYPE_STRING},
    {"credit_card", CF_TYPE_STRING}, {"city", CF_TYPE_STRING},
    {"state", CF_TYPE_STRING},       {"date_time", CF_TYPE_TIMESTAMP},
    {"extra", CF_TYPE_STRING},       {"item_name", CF_TYPE_STRING},
    {"description", CF_TYPE_STRING}, {"initial_bid", CF_TYPE_INT},
    {"reserve", CF_TYPE_INT},        {"expires", CF_TYPE_TIMESTAMP},
    {"seller", CF_TYPE_INT},         {"category", CF_TYPE_INT},
    {"auction", CF_TYPE_INT},        {"bidder", CF_TYPE_INT},
    {"price", CF_TYPE_INT},          {"channel", CF_TYPE_STRING},
    {"url", CF_TYPE_STRING},         {"ingest_us", CF_TYPE_INT},
};
_Static_assert(NELEM(fields) == F__COUNT, "fields covers every field");

void cf_nexmark_schema_add(struct cf_schema *schema, int ingest_time)
{
    for (int f = 0; f < F__COUNT; f++) {
        if (f != F_INGEST_US || ingest_time) {
            cf_schema_add(schema, fields[f].name, fields[f].type);
        }
    }
}

static inline void ref(struct cf_batch *b, uint32_t c, uint32_t r, struct cf_nexmark_str s)
{
    cf_batch_set_str_ref(b, c, r, s.ptr, s.len);
}

void cf_nexmark_fill_row(const struct cf_nexmark *nx, struct cf_batch *b, uint32_t r, int64_t i,
                         int ingest_time)
{
    struct cf_nexmark_event ev;
    cf_nexmark_event(nx, i, &ev);
    const char *kind = kind_names[ev.kind];
    cf_batch_set_str_ref(b, F_EVENT_TYPE, r, kind, (uint32_t)strlen(kind));
    cf_batch_set_int(b, F_DATE_TIME, r, ev.date_time);
    ref(b, F_EXTRA, r, ev.extra);
    switch (ev.kind) {
    case CF_NEXMARK_PERSON:
        cf_batch_set_int(b, F_ID, r, ev.id);
        ref(b, F_NAME, r, ev.name);
        cf_batch_set_str(b, F_EMAIL_ADDRESS, r, ev.email_address.ptr, ev.email_address.len);
        cf_batch_set_str(b, F_CREDIT_CARD, r, ev.credit_card.ptr, ev.credit_card.len);
        ref(b, F_CITY, r, ev.city);
        ref(b, F_STATE, r, ev.state);
        break;
    case CF_NEXMARK_AUCTION:
        cf_batch_set_int(b, F_ID, r, ev.id);
        ref(b, F_ITEM_NAME, r, ev.item_name);
        ref(b, F_DESCRIPTION, r, ev.description);
        cf_batch_set_int(b, F_INITIAL_BID, r, ev.initial_bid);
        cf_batch_set_int(b, F_RESERVE, r, ev.reserve);
        cf_batch_set_int(b, F_EXPIRES, r, ev.expires);
        cf_batch_set_int(b, F_SELLER, r, ev.seller);
        cf_batch_set_int(b, F_CATEGORY, r, ev.category);
        break;
    case CF_NEXMARK_BID:
        cf_batch_set_int(b, F_AUCTION, r, ev.auction);
        cf_batch_set_int(b, F_BIDDER, r, ev.bidder);
        cf_batch_set_int(b, F_PRICE, r, ev.price);
        ref(b, F_CHANNEL, r, ev.channel);
        ref(b, F_URL, r, ev.url);
        break;
    }
    if (ingest_time) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        cf_batch_set_int(b, F_INGEST_US, r, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    }
}
