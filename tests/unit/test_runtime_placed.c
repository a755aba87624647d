/*
 * A job spread over two "workers" (two runtimes in one process, each with its own data plane
 * on 127.0.0.1): the hash exchange crosses the data plane in both directions, and the
 * result equals the same job run in one runtime.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/mem.h"
#include "worker/dataplane.h"
#include "worker/runtime.h"

#define JOB                                                                                        \
    "{\"name\": \"spread\", \"parallelism\": 2, \"operators\": ["                                  \
    "{\"id\": \"clicks\", \"type\": \"source.datagen\", \"count\": 40000, \"ts_jitter\": \"2s\","  \
    " \"event_time\": {\"field\": \"ts\", \"max_out_of_orderness\": \"2s\"}},"                     \
    "{\"id\": \"per-user\", \"type\": \"window\", \"key_by\": [\"user_id\"],"                      \
    " \"window\": {\"type\": \"tumbling\", \"size\": \"1m\"},"                                     \
    " \"aggregates\": {\"n\": \"count(*)\", \"ms\": \"sum(duration_ms)\"}},"                       \
    "{\"id\": \"out\", \"type\": \"sink.file\", \"path\": \"%s\"}]}"

static struct cf_plan *plan_of(const char *dir)
{
    char *json = cf_asprintf(JOB, dir);
    struct cf_spec *spec = NULL;
    struct cf_err err;
    cf_err_clear(&err);
    assert_int_equal(cf_spec_parse(json, strlen(json), &spec, &err), 0);
    cf_free(json);
    struct cf_plan *plan = NULL;
    if (cf_plan_build(spec, 0, &plan, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    return plan;
}

/* Sorted lines of every part file under dir, via the shell. */
static char *sorted_output(const char *dir)
{
    char *cmd = cf_asprintf("cat %s/part-* | sort", dir);
    FILE *f = popen(cmd, "r");
    cf_free(cmd);
    assert_non_null(f);
    struct cf_buf b;
    cf_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cf_buf_append(&b, chunk, n);
    }
    pclose(f);
    return b.data ? b.data : cf_strdup("");
}

static void test_two_workers_equal_one(void **state)
{
    (void)state;
    char base[] = "/tmp/cf-placed-XXXXXX";
    assert_non_null(mkdtemp(base));
    char *local_dir = cf_asprintf("%s/local", base);
    char *spread_dir = cf_asprintf("%s/spread", base);
    struct cf_err err;
    cf_err_clear(&err);

    struct cf_plan *plan = plan_of(local_dir);
    struct cf_runtime *rt = cf_runtime_create(plan, "0123456789abcdef0123456789abcdef", &err);
    assert_int_equal(cf_runtime_start(rt, &err), 0);
    assert_int_equal(cf_runtime_wait(rt, 60000), CF_JOB_FINISHED);
    cf_runtime_destroy(rt);
    cf_plan_destroy(plan);

    struct cf_dataplane *dp[2];
    const char *hosts[2] = {"127.0.0.1", "127.0.0.1"};
    int ports[2];
    for (int w = 0; w < 2; w++) {
        dp[w] = cf_dataplane_create("127.0.0.1", 0, &err);
        assert_non_null(dp[w]);
        ports[w] = cf_dataplane_port(dp[w]);
    }
    int slot_worker[2] = {0, 1};
    struct cf_plan *plans[2];
    struct cf_runtime *rts[2];
    for (int w = 0; w < 2; w++) {
        plans[w] = plan_of(spread_dir);
        struct cf_runtime_placement pl = {.self = w,
                                          .nworkers = 2,
                                          .slot_worker = slot_worker,
                                          .hosts = hosts,
                                          .data_ports = ports,
                                          .attempt = 1,
                                          .dp = dp[w]};
        rts[w] = cf_runtime_create_placed(plans[w], "fedcba9876543210fedcba9876543210", &pl, &err);
        if (!rts[w]) {
            fail_msg("%s", err.msg);
        }
    }
    for (int w = 0; w < 2; w++) {
        assert_int_equal(cf_runtime_start(rts[w], &err), 0);
    }
    for (int w = 0; w < 2; w++) {
        assert_int_equal(cf_runtime_wait(rts[w], 60000), CF_JOB_FINISHED);
    }
    /* Each worker ran one subtask of each vertex. */
    struct cf_runtime_op_stats st0, st1;
    cf_runtime_op_stats(rts[0], 0, &st0);
    cf_runtime_op_stats(rts[1], 0, &st1);
    assert_int_equal(st0.records_out + st1.records_out, 40000);
    assert_true(st0.records_out > 0 && st1.records_out > 0);
    for (int w = 0; w < 2; w++) {
        cf_runtime_destroy(rts[w]);
        cf_plan_destroy(plans[w]);
    }
    for (int w = 0; w < 2; w++) {
        cf_dataplane_destroy(dp[w]);
    }

    char *a = sorted_output(local_dir);
    char *b = sorted_output(spread_dir);
    assert_true(strlen(a) > 1000);
    assert_string_equal(a, b);
    cf_free(a);
    cf_free(b);
    char *rm = cf_asprintf("rm -rf %s", base);
    assert_int_equal(system(rm), 0);
    cf_free(rm);
    cf_free(local_dir);
    cf_free(spread_dir);
}

static void test_unreachable_peer_fails_create(void **state)
{
    (void)state;
    struct cf_err err;
    cf_err_clear(&err);
    struct cf_dataplane *dp = cf_dataplane_create("127.0.0.1", 0, &err);
    assert_non_null(dp);
    const char *hosts[2] = {"127.0.0.1", "127.0.0.1"};
    int ports[2] = {cf_dataplane_port(dp), 1}; /* nothing listens on port 1 */
    int slot_worker[2] = {0, 1};
    struct cf_plan *plan = plan_of("/tmp/cf-placed-unused");
    struct cf_runtime_placement pl = {.self = 0,
                                      .nworkers = 2,
                                      .slot_worker = slot_worker,
                                      .hosts = hosts,
                                      .data_ports = ports,
                                      .attempt = 1,
                                      .dp = dp};
    struct cf_runtime *rt =
        cf_runtime_create_placed(plan, "00000000000000000000000000000001", &pl, &err);
    if (rt) {
        /* The connection may fail on the first send instead: the job must fail, not hang. */
        assert_int_equal(cf_runtime_start(rt, &err), 0);
        assert_int_equal(cf_runtime_wait(rt, 30000), CF_JOB_FAILED);
        cf_runtime_destroy(rt);
    } else {
        assert_true(err.msg[0] != '\0');
    }
    cf_plan_destroy(plan);
    cf_dataplane_destroy(dp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers_equal_one),
        cmocka_unit_test(test_unreachable_peer_fails_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
