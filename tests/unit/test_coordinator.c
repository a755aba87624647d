/* Unit tests of the coordinator's scheduler and job store, and of job ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base/id.h"
#include "common/base/mem.h"
#include <cjson/cJSON.h>

#include "coordinator/jobstore.h"
#include "coordinator/rest_json.h"
#include "coordinator/scheduler.h"

static void test_ids(void **state)
{
    (void)state;
    char a[CF_ID_LEN + 1], b[CF_ID_LEN + 1];
    cf_id_new(a);
    cf_id_new(b);
    assert_int_equal(strlen(a), 32);
    assert_true(cf_id_valid(a));
    assert_string_not_equal(a, b);
    assert_false(cf_id_valid("ABCDEF00000000000000000000000000"));
    assert_false(cf_id_valid("abc"));
    assert_false(cf_id_valid(NULL));
}

static void test_schedule_spread(void **state)
{
    (void)state;
    /* Two workers with 2 slots each, a job with parallelism 4: two slots on each. */
    struct cf_sched_worker w[2] = {{2, 0, 1}, {2, 0, 1}};
    int slots[4];
    struct cf_err err;
    assert_int_equal(cf_sched_assign(w, 2, 4, slots, &err), 0);
    int on0 = 0;
    for (int s = 0; s < 4; s++) {
        on0 += slots[s] == 0;
    }
    assert_int_equal(on0, 2);
    assert_int_equal(w[0].used, 2);
    assert_int_equal(w[1].used, 2);
    /* Full: a second job waits, with a message that says why. */
    int more[1];
    assert_int_equal(cf_sched_assign(w, 2, 1, more, &err), CF_EAGAIN);
    assert_string_equal(err.msg, "the job needs 1 slots; 0 free on 2 available workers");
    cf_sched_release(w, 2, 4, slots);
    assert_int_equal(w[0].used + w[1].used, 0);

    /* A lost worker is never chosen; parallelism 2 alternates over the others. */
    struct cf_sched_worker x[3] = {{4, 0, 0}, {2, 0, 1}, {2, 0, 1}};
    int two[2];
    assert_int_equal(cf_sched_assign(x, 3, 2, two, &err), 0);
    assert_true(two[0] != 0 && two[1] != 0 && two[0] != two[1]);
    int five[5];
    assert_int_equal(cf_sched_assign(x, 3, 5, five, &err), CF_EAGAIN);
    assert_non_null(strstr(err.msg, "needs 5 slots; 2 free"));
}

struct collect {
    int n;
    char names[8][32];
};

static int collect_one(void *arg, const struct cf_job_record *rec)
{
    struct collect *c = arg;
    snprintf(c->names[c->n++], 32, "%s", rec->name);
    return 0;
}

static void test_jobstore(void **state)
{
    (void)state;
    char dir[] = "/tmp/cf-jobstore-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct cf_jobstore *js;
    struct cf_err err;
    cf_err_clear(&err);
    assert_int_equal(cf_jobstore_open(dir, &js, &err), 0);
    struct cf_job_record rec = {0};
    cf_id_new(rec.id);
    rec.name = "clicks";
    rec.spec = "{\"name\": \"clicks\"}";
    rec.parallelism = 4;
    rec.state = 1;
    rec.start_time = 1729620000000LL;
    rec.end_time = -1;
    rec.failure = "worker lost";
    assert_int_equal(cf_jobstore_put(js, &rec, &err), 0);
    struct cf_job_record other = rec;
    cf_id_new(other.id);
    other.name = "sessions";
    other.failure = NULL;
    assert_int_equal(cf_jobstore_put(js, &other, &err), 0);
    cf_jobstore_close(js);

    /* Reopened: both jobs are there, with every field. */
    assert_int_equal(cf_jobstore_open(dir, &js, &err), 0);
    struct cf_job_record got;
    assert_int_equal(cf_jobstore_get(js, rec.id, &got), 0);
    assert_string_equal(got.name, "clicks");
    assert_string_equal(got.spec, "{\"name\": \"clicks\"}");
    assert_int_equal(got.parallelism, 4);
    assert_int_equal(got.state, 1);
    assert_true(got.start_time == 1729620000000LL);
    assert_true(got.end_time == -1);
    assert_string_equal(got.failure, "worker lost");
    assert_null(got.restore_path);
    cf_job_record_clear(&got);
    struct collect c = {0};
    assert_int_equal(cf_jobstore_each(js, collect_one, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(cf_jobstore_delete(js, other.id), 0);
    assert_int_equal(cf_jobstore_get(js, other.id, &got), CF_ENOENT);
    assert_int_equal(cf_jobstore_get(js, "not-an-id", &got), CF_ENOENT);
    cf_jobstore_close(js);
    char *cmd = cf_asprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    cf_free(cmd);
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

static double num_at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        fail_msg("no number '%s'", key);
    }
    return v->valuedouble;
}

static const char *str_at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) {
        fail_msg("no string '%s'", key);
    }
    return v->valuestring;
}

static void test_rest_shapes(void **state)
{
    (void)state;
    struct cf_plan *plan = plan_of(
        "{\"name\": \"clicks\", \"parallelism\": 2, \"operators\": ["
        "{\"id\": \"src\", \"type\": \"source.datagen\", \"event_time\": {\"field\": \"ts\"}},"
        "{\"id\": \"w\", \"type\": \"window\", \"key_by\": [\"user_id\"], \"window\": "
        "{\"type\": \"tumbling\", \"size\": \"1m\"}, \"aggregates\": {\"n\": \"count(*)\"}},"
        "{\"id\": \"out\", \"type\": \"sink.print\"}]}");
    struct cf_runtime_vertex_stats vs[2] = {
        {.records_out = 100, .subtasks_running = 2},
        {.records_in = 100, .records_out = 7, .subtasks_running = 1, .subtasks_finished = 1}};
    struct cf_job_view job = {.id = "0123456789abcdef0123456789abcdef",
                              .name = "clicks",
                              .state = CF_JOB_RUNNING,
                              .start_time = 1000,
                              .end_time = -1,
                              .now = 5000,
                              .plan = plan,
                              .vstats = vs};
    job.state_since[CF_JOB_RUNNING] = 1000;

    struct cf_cluster_view cv = {2, 4, 2, 1, 0, 0, 0};
    cJSON *o = cf_rest_overview(&cv);
    assert_int_equal(num_at(o, "taskmanagers"), 2);
    assert_int_equal(num_at(o, "slots-total"), 4);
    assert_int_equal(num_at(o, "slots-available"), 2);
    assert_int_equal(num_at(o, "jobs-running"), 1);
    assert_non_null(strstr(str_at(o, "flink-version"), "creekflow"));
    cJSON_Delete(o);

    o = cf_rest_jobs_overview(&job, 1);
    const cJSON *j0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "jobs"), 0);
    assert_string_equal(str_at(j0, "jid"), job.id);
    assert_string_equal(str_at(j0, "state"), "RUNNING");
    assert_int_equal(num_at(j0, "duration"), 4000);
    const cJSON *tasks = cJSON_GetObjectItem(j0, "tasks");
    assert_int_equal(num_at(tasks, "total"), 4);
    assert_int_equal(num_at(tasks, "RUNNING"), 3);
    assert_int_equal(num_at(tasks, "FINISHED"), 1);
    cJSON_Delete(o);

    o = cf_rest_job_details(&job);
    assert_string_equal(str_at(o, "state"), "RUNNING");
    assert_int_equal(num_at(o, "maxParallelism"), 128);
    assert_int_equal(num_at(cJSON_GetObjectItem(o, "timestamps"), "RUNNING"), 1000);
    const cJSON *v1 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "vertices"), 1);
    assert_string_equal(str_at(v1, "name"), "w -> Sink: out");
    assert_int_equal(strlen(str_at(v1, "id")), 32);
    assert_string_equal(str_at(v1, "status"), "RUNNING");
    const cJSON *m = cJSON_GetObjectItem(v1, "metrics");
    assert_int_equal(num_at(m, "read-records"), 100);
    assert_int_equal(num_at(m, "write-records"), 7);
    const cJSON *nodes = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "plan"), "nodes");
    assert_int_equal(cJSON_GetArraySize(nodes), 2);
    const cJSON *in =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(nodes, 1), "inputs"), 0);
    assert_string_equal(str_at(in, "ship_strategy"), "HASH");
    assert_string_equal(str_at(in, "id"), str_at(cJSON_GetArrayItem(nodes, 0), "id"));
    cJSON_Delete(o);

    o = cf_rest_errors("job 42 not found");
    char *text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"errors\":[\"job 42 not found\"]}");
    cJSON_free(text);
    cJSON_Delete(o);
    cf_plan_destroy(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_schedule_spread),
        cmocka_unit_test(test_jobstore),
        cmocka_unit_test(test_rest_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
