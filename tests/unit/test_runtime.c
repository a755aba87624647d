/* Unit tests of batches, key groups, gates and the runtime's lifecycle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common/base/timeutil.h"
#include "common/data/batch.h"
#include "common/data/keys.h"
#include "worker/gate.h"
#include "worker/runtime.h"

static struct cf_schema *demo_schema(void)
{
    struct cf_schema *s = cf_schema_create();
    cf_schema_add(s, "name", CF_TYPE_STRING);
    cf_schema_add(s, "n", CF_TYPE_INT);
    cf_schema_add(s, "x", CF_TYPE_DOUBLE);
    cf_schema_add(s, "b", CF_TYPE_BOOL);
    return s;
}

static void test_batch(void **state)
{
    (void)state;
    struct cf_schema *s = demo_schema();
    struct cf_batch *b = cf_batch_create(s, 8);
    for (int i = 0; i < 8; i++) {
        uint32_t r = cf_batch_add_row(b);
        char name[16];
        int n = snprintf(name, sizeof(name), "row-%d", i);
        cf_batch_set_str(b, 0, r, name, (size_t)n);
        cf_batch_set_int(b, 1, r, i * 10);
        if (i % 2) {
            cf_batch_set_double(b, 2, r, i + 0.5);
        }
        b->ts[r] = 1000 + i;
    }
    assert_true(cf_batch_full(b));
    uint8_t keep[8] = {0, 1, 0, 1, 1, 0, 0, 1};
    cf_batch_compact(b, keep);
    assert_int_equal(b->n, 4);
    assert_int_equal(b->cols[1].v.i64[0], 10);
    assert_int_equal(b->cols[1].v.i64[3], 70);
    assert_int_equal(b->ts[2], 1004);
    assert_int_equal(b->cols[2].nulls[2], 1); /* row 4 had no x */
    assert_true(b->cols[2].v.f64[1] == 3.5);
    assert_memory_equal(b->cols[0].v.str[3].ptr, "row-7", 5);
    assert_int_equal(b->cols[3].nulls[0], 1);

    struct cf_batch *c = cf_batch_create(s, 8);
    cf_batch_copy_row(c, b, 3);
    cf_batch_destroy(b); /* the copy owns its strings */
    assert_int_equal(c->n, 1);
    assert_memory_equal(c->cols[0].v.str[0].ptr, "row-7", 5);
    assert_int_equal(c->ts[0], 1007);
    struct cf_buf text;
    cf_buf_init(&text);
    cf_batch_value_text(c, 0, 0, &text);
    cf_buf_putc(&text, '|');
    cf_batch_value_text(c, 3, 0, &text);
    assert_string_equal(text.data, "row-7|null");
    cf_buf_destroy(&text);
    cf_batch_destroy(c);

    struct cf_batch_pool *pool = cf_batch_pool_create(s, 2);
    struct cf_batch *p1 = cf_batch_pool_get(pool);
    struct cf_batch *p2 = cf_batch_pool_get(pool);
    struct cf_batch *p3 = cf_batch_pool_get(pool);
    assert_int_equal(p1->cap, CF_BATCH_ROWS);
    cf_batch_add_row(p1);
    cf_batch_release(p1);
    cf_batch_release(p2);
    cf_batch_release(p3); /* beyond `keep`: freed */
    struct cf_batch *again = cf_batch_pool_get(pool);
    assert_int_equal(again->n, 0);
    cf_batch_release(again);
    cf_batch_pool_destroy(pool);
    cf_schema_release(s);
}

/* Pins: rows may point at strings of pinned batches, which live until every pinning batch
 * is released, in whatever order; take_strings hands the pins (and arena) on. */
static void test_batch_pins(void **state)
{
    (void)state;
    struct cf_schema *s = demo_schema();
    struct cf_batch_pool *pool = cf_batch_pool_create(s, 4);
    struct cf_batch *src = cf_batch_pool_get(pool);
    uint32_t r = cf_batch_add_row(src);
    cf_batch_set_str(src, 0, r, "pinned-bytes", 12);
    struct cf_batch *a = cf_batch_pool_get(pool);
    struct cf_batch *b = cf_batch_pool_get(pool);
    cf_batch_pin(a, src);
    cf_batch_pin(a, src); /* again: no second reference */
    cf_batch_pin(b, src);
    assert_int_equal(a->npins, 1);
    assert_int_equal(src->refs, 3);
    cf_batch_set_str_ref(a, 0, cf_batch_add_row(a), src->cols[0].v.str[r].ptr, 12);
    cf_batch_release(src); /* the owner lets go; a and b keep it */
    assert_int_equal(src->refs, 2);
    cf_batch_release(b);
    assert_memory_equal(a->cols[0].v.str[0].ptr, "pinned-bytes", 12);
    struct cf_batch *c = cf_batch_pool_get(pool);
    cf_batch_take_strings(c, a);
    assert_int_equal(a->npins, 0);
    assert_int_equal(c->npins, 1);
    cf_batch_set_str_ref(c, 0, cf_batch_add_row(c), a->cols[0].v.str[0].ptr, 12);
    cf_batch_release(a);
    assert_int_equal(src->refs, 1);
    assert_memory_equal(c->cols[0].v.str[0].ptr, "pinned-bytes", 12);
    cf_batch_release(c); /* the last reference: src goes back to the pool too */
    assert_int_equal(src->refs, 0);
    cf_batch_pool_destroy(pool);
    cf_schema_release(s);
}

static void test_key_groups(void **state)
{
    (void)state;
    /* The subtasks of key groups form contiguous, balanced ranges. */
    for (int p = 1; p <= 7; p++) {
        int prev = 0, count[8] = {0};
        for (int kg = 0; kg < 128; kg++) {
            int s = cf_key_group_subtask(kg, 128, p);
            assert_true(s >= prev && s < p);
            prev = s;
            count[s]++;
        }
        for (int s = 0; s < p; s++) {
            assert_in_range(count[s], 128 / p, 128 / p + 1);
        }
    }
    /* Equal keys hash equally whatever else is in the row; NULL is one key. */
    struct cf_schema *s = demo_schema();
    struct cf_batch *b = cf_batch_create(s, 4);
    for (int i = 0; i < 4; i++) {
        uint32_t r = cf_batch_add_row(b);
        cf_batch_set_str(b, 0, r, i < 2 ? "same" : "other", i < 2 ? 4 : 5);
        cf_batch_set_int(b, 1, r, i);
    }
    b->cols[0].nulls[3] = 1;
    int idx[1] = {0};
    uint64_t h[4];
    cf_keys_hash(b, idx, 1, h);
    assert_true(h[0] == h[1]);
    assert_true(h[0] != h[2]);
    assert_true(h[2] != h[3]);
    assert_true(h[1] == cf_keys_hash_row(b, idx, 1, 1));
    int two[2] = {0, 1};
    assert_true(cf_keys_hash_row(b, two, 2, 0) != cf_keys_hash_row(b, two, 2, 1));
    cf_batch_destroy(b);
    cf_schema_release(s);
}

struct producer {
    struct cf_gate *gate;
    int ch;
    int n;
    int rc;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < p->n; i++) {
        struct cf_msg m = {.kind = CF_MSG_WATERMARK, .value = i};
        p->rc = cf_gate_push(p->gate, p->ch, &m, NULL);
        if (p->rc) {
            break;
        }
    }
    return NULL;
}

static void test_gate_order_and_bound(void **state)
{
    (void)state;
    struct cf_gate *g = cf_gate_create(2);
    struct producer p[2] = {{g, 0, 1000, 0}, {g, 1, 1000, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    int64_t next[2] = {0, 0};
    for (int i = 0; i < 2000; i++) {
        assert_true(cf_gate_queued(g) <= 2 * CF_CHAN_CAP);
        int ch;
        struct cf_msg m;
        assert_int_equal(cf_gate_pop(g, &ch, &m, -1), 0);
        assert_int_equal(m.value, next[ch]); /* per-channel order */
        next[ch]++;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].rc, 0);
    }
    int ch;
    struct cf_msg m;
    int64_t t0 = cf_monotonic_ms();
    assert_int_equal(cf_gate_pop(g, &ch, &m, cf_monotonic_ms() + 50), CF_EAGAIN);
    assert_true(cf_monotonic_ms() - t0 >= 45);
    cf_gate_destroy(g);
}

static void test_gate_cancel_unblocks(void **state)
{
    (void)state;
    struct cf_gate *g = cf_gate_create(1);
    struct producer p = {g, 0, CF_CHAN_CAP + 5, 0};
    pthread_t t;
    pthread_create(&t, NULL, produce, &p);
    while (cf_gate_queued(g) < CF_CHAN_CAP) {
        usleep(1000);
    }
    usleep(20000);
    assert_int_equal(cf_gate_queued(g), CF_CHAN_CAP); /* the producer is blocked */
    cf_gate_cancel(g);
    pthread_join(t, NULL);
    assert_int_equal(p.rc, CF_ECANCELED);
    int ch;
    struct cf_msg m;
    assert_int_equal(cf_gate_pop(g, &ch, &m, -1), CF_ECANCELED);
    cf_gate_destroy(g);
}

struct waiter {
    struct cf_gate *gate;
    int popped; /* atomic: messages taken */
};

static void *wait_pops(void *arg)
{
    struct waiter *w = arg;
    for (;;) {
        int ch;
        struct cf_msg m;
        if (cf_gate_pop(w->gate, &ch, &m, -1) != 0) {
            return NULL;
        }
        __atomic_add_fetch(&w->popped, 1, __ATOMIC_RELEASE);
    }
}

static int popped_after(struct waiter *w, int want, int ms)
{
    for (int i = 0; i < ms && __atomic_load_n(&w->popped, __ATOMIC_ACQUIRE) < want; i++) {
        usleep(1000);
    }
    return __atomic_load_n(&w->popped, __ATOMIC_ACQUIRE);
}

/* Deferred pushes wake a waiting consumer only at CF_GATE_WAKE_AT queued messages, or when
 * kicked; plain pushes at once. */
static void test_gate_deferred_wake(void **state)
{
    (void)state;
    struct waiter w = {cf_gate_create(1), 0};
    pthread_t t;
    pthread_create(&t, NULL, wait_pops, &w);
    usleep(20000); /* the consumer waits */
    struct cf_msg m = {.kind = CF_MSG_WATERMARK};
    assert_int_equal(cf_gate_push_deferred(w.gate, 0, &m, NULL), 0);
    assert_int_equal(popped_after(&w, 1, 50), 0);
    cf_gate_kick(w.gate);
    assert_int_equal(popped_after(&w, 1, 5000), 1);
    usleep(20000);
    for (int i = 0; i < CF_GATE_WAKE_AT; i++) {
        assert_int_equal(cf_gate_push_deferred(w.gate, 0, &m, NULL), 0);
    }
    assert_int_equal(popped_after(&w, 1 + CF_GATE_WAKE_AT, 5000), 1 + CF_GATE_WAKE_AT);
    usleep(20000);
    assert_int_equal(cf_gate_push(w.gate, 0, &m, NULL), 0);
    assert_int_equal(popped_after(&w, 2 + CF_GATE_WAKE_AT, 5000), 2 + CF_GATE_WAKE_AT);
    cf_gate_cancel(w.gate);
    pthread_join(t, NULL);
    cf_gate_destroy(w.gate);
}

static struct cf_plan *plan_of(const char *json)
{
    struct cf_spec *spec = NULL;
    struct cf_err err;
    cf_err_clear(&err);
    assert_int_equal(cf_spec_parse(json, strlen(json), &spec, &err), 0);
    struct cf_plan *plan = NULL;
    if (cf_plan_build(spec, 0, &plan, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    return plan;
}

static void test_runtime_failure(void **state)
{
    (void)state;
    struct cf_plan *plan = plan_of(
        "{\"name\": \"j\", \"parallelism\": 2, \"operators\": [{\"id\": \"in\", \"type\": "
        "\"source.file\", \"path\": \"/nonexistent/dir/x.json\", \"schema\": {\"a\": \"int\"}}, "
        "{\"id\": \"o\", \"type\": \"sink.print\", \"parallelism\": 1}]}");
    struct cf_err err;
    struct cf_runtime *rt = cf_runtime_create(plan, "test", &err);
    assert_int_equal(cf_runtime_start(rt, &err), 0);
    assert_int_equal(cf_runtime_wait(rt, 10000), CF_JOB_FAILED);
    assert_non_null(strstr(cf_runtime_failure(rt), "cannot read '/nonexistent/dir/x.json'"));
    assert_non_null(strstr(cf_runtime_failure(rt), "in (subtask"));
    cf_runtime_destroy(rt);
    cf_plan_destroy(plan);
}

static void test_runtime_cancel(void **state)
{
    (void)state;
    /* An unbounded, rate-limited source and a keyed exchange: cancel ends it promptly. */
    struct cf_plan *plan =
        plan_of("{\"name\": \"j\", \"parallelism\": 2, \"operators\": [{\"id\": \"g\", "
                "\"type\": \"source.datagen\", \"rate\": 1000}, {\"id\": \"k\", \"type\": "
                "\"filter\", \"where\": \"TRUE\", \"key_by\": [\"user_id\"]}, {\"id\": "
                "\"o\", \"type\": \"sink.file\", \"path\": \"/tmp/cf-unit-cancel\"}]}");
    struct cf_err err;
    struct cf_runtime *rt = cf_runtime_create(plan, "test-cancel", &err);
    assert_int_equal(cf_runtime_start(rt, &err), 0);
    assert_int_equal(cf_runtime_wait(rt, 300), CF_JOB_RUNNING);
    struct cf_runtime_op_stats st;
    cf_runtime_op_stats(rt, 0, &st);
    assert_true(st.records_out > 0);
    int64_t t0 = cf_monotonic_ms();
    cf_runtime_cancel(rt);
    assert_int_equal(cf_runtime_wait(rt, 5000), CF_JOB_CANCELED);
    assert_true(cf_monotonic_ms() - t0 < 2000);
    assert_string_equal(cf_runtime_failure(rt), "");
    cf_runtime_destroy(rt);
    cf_plan_destroy(plan);
}

static void test_runtime_finished_counts(void **state)
{
    (void)state;
    struct cf_plan *plan = plan_of(
        "{\"name\": \"j\", \"parallelism\": 3, \"operators\": [{\"id\": \"g\", \"type\": "
        "\"source.datagen\", \"count\": 10000}, {\"id\": \"k\", \"type\": \"filter\", "
        "\"where\": \"event_type = 'click'\", \"key_by\": [\"user_id\"], \"parallelism\": 2}, "
        "{\"id\": \"o\", \"type\": \"sink.file\", \"path\": \"/tmp/cf-unit-finish\"}]}");
    struct cf_err err;
    struct cf_runtime *rt = cf_runtime_create(plan, "test-finish", &err);
    assert_int_equal(cf_runtime_start(rt, &err), 0);
    assert_int_equal(cf_runtime_wait(rt, 20000), CF_JOB_FINISHED);
    struct cf_runtime_op_stats src, flt, sink;
    cf_runtime_op_stats(rt, 0, &src);
    cf_runtime_op_stats(rt, 1, &flt);
    cf_runtime_op_stats(rt, 2, &sink);
    assert_int_equal(src.records_out, 10000);
    assert_int_equal(flt.records_in, 10000);
    assert_int_equal(sink.records_in, flt.records_out);
    assert_in_range(flt.records_out, 2000, 3000); /* about 25% clicks */
    struct cf_runtime_vertex_stats vs;
    cf_runtime_vertex_stats(rt, 1, &vs);
    assert_int_equal(vs.subtasks_finished, 2);
    cf_runtime_destroy(rt);
    cf_plan_destroy(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_batch_pins),
        cmocka_unit_test(test_key_groups),
        cmocka_unit_test(test_gate_order_and_bound),
        cmocka_unit_test(test_gate_cancel_unblocks),
        cmocka_unit_test(test_gate_deferred_wake),
        cmocka_unit_test(test_runtime_failure),
        cmocka_unit_test(test_runtime_cancel),
        cmocka_unit_test(test_runtime_finished_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
