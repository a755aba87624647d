/*
 * datagen_nexmark.h - the Nexmark event generator: persons, auctions and bids of an online
 * auction in the 1:3:46 proportions of the Nexmark benchmark, for source.datagen
 * (`generator: "nexmark"`) and for the hand-written benchmark baseline
 * (bench/baseline/nexmark.c), which links this file so both see the same events.
 *
 * Event i depends only on the seed and i: its kind is i % 50 (0: person, 1-3: auction,
 * else bid), its ids and event time follow from i, and its random values come from a
 * pseudo-random stream seeded by (seed, i). Values follow the Nexmark generator (Apache
 * Beam's, as in Flink's nexmark project): person and auction ids increase with i, bids go
 * to a "hot" auction (the latest multiple of 100) half of the time and to one of the last
 * 100 auctions (+10 ahead) otherwise, bidders are hot 3 times in 4, prices are
 * round(10^(6u) * 100) cents, and `extra` pads each event to an average size.
 *
 * Thread safety: a struct cf_nexmark is immutable after cf_nexmark_create(); any thread
 * may generate from it concurrently (each with its own struct cf_nexmark_event).
 */
#ifndef CF_DATAGEN_NEXMARK_H
#define CF_DATAGEN_NEXMARK_H

#include <stdint.h>

enum cf_nexmark_kind { CF_NEXMARK_PERSON, CF_NEXMARK_AUCTION, CF_NEXMARK_BID };

/* A string view; not NUL-terminated. */
struct cf_nexmark_str {
    const char *ptr;
    uint32_t len;
};

/*
 * One generated event. Only the fields of its kind are set; date_time and extra always.
 * String lifetimes: email_address and credit_card point into `scratch` (valid until the
 * next cf_nexmark_event() on this struct); every other string points into the generator's
 * tables (valid until cf_nexmark_destroy()).
 */
struct cf_nexmark_event {
    enum cf_nexmark_kind kind;
    int64_t date_time; /* event time, ms since the epoch */
    struct cf_nexmark_str extra;
    /* person and auction */
    int64_t id;
    /* person */
    struct cf_nexmark_str name, email_address, credit_card, city, state;
    /* auction */
    struct cf_nexmark_str item_name, description;
    int64_t initial_bid, reserve, expires, seller, category;
    /* bid */
    int64_t auction, bidder, price;
    struct cf_nexmark_str channel, url;
    char scratch[64];
};

struct cf_nexmark;

/*
 * A generator for `seed`; event 0 has date_time start_ms and events are 1000 / event_rate
 * ms apart in event time (Nexmark's inter-event delay; event_rate >= 1). Builds the
 * channel/URL and text tables (about 1 MB, a few milliseconds). Caller owns the result.
 */
struct cf_nexmark *cf_nexmark_create(uint64_t seed, int64_t start_ms, int64_t event_rate);
void cf_nexmark_destroy(struct cf_nexmark *nx);

/* Generates event i (i >= 0) into *ev. No allocation. Any thread. */
void cf_nexmark_event(const struct cf_nexmark *nx, int64_t i, struct cf_nexmark_event *ev);

/* Kind of event i, without generating it. */
static inline enum cf_nexmark_kind cf_nexmark_kind_of(int64_t i)
{
    int64_t r = i % 50;
    return r == 0 ? CF_NEXMARK_PERSON : r <= 3 ? CF_NEXMARK_AUCTION : CF_NEXMARK_BID;
}

/* "person", "auction" or "bid". */
const char *cf_nexmark_kind_name(enum cf_nexmark_kind kind);

/*
 * The flat ("single table") row form used by source.datagen: event_type ('person',
 * 'auction' or 'bid') and the union of the three kinds' fields, NULL where the kind has
 * no such field; with ingest_time, an int field `ingest_us` (wall-clock microseconds when
 * the row was generated, for latency measurement; not deterministic).
 */
struct cf_schema;
struct cf_batch;
/* Adds the fields to an empty schema being built. */
void cf_nexmark_schema_add(struct cf_schema *schema, int ingest_time);
/*
 * Fills row r (fresh from cf_batch_add_row, every field NULL) of a batch whose schema was
 * built by cf_nexmark_schema_add() with event i. Strings of the generator's tables are
 * referenced, not copied: nx must outlive the batch. Task thread of the batch.
 */
void cf_nexmark_fill_row(const struct cf_nexmark *nx, struct cf_batch *batch, uint32_t r, int64_t i,
                         int ingest_time);

#endif
