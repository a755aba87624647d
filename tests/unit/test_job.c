/* Unit tests of common/job (config tables, job spec) and worker/plan (planning). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "common/job/conf.h"
#include "common/job/spec.h"
#include "worker/plan.h"

struct demo_conf {
    char *name;
    int64_t count;
    int64_t wait;
    int64_t size;
    int mode;
    int flag;
    struct cf_strlist tags;
    int64_t nested_a;
};

static const struct cf_conf_key demo_keys[] = {
    {"name", CF_CONF_STRING, CF_CONF_REQUIRED, NULL, offsetof(struct demo_conf, name), NULL, ""},
    {"count", CF_CONF_INT, 0, "7", offsetof(struct demo_conf, count), NULL, ""},
    {"wait", CF_CONF_DURATION, 0, "5s", offsetof(struct demo_conf, wait), NULL, ""},
    {"size", CF_CONF_SIZE, 0, "1MB", offsetof(struct demo_conf, size), NULL, ""},
    {"mode", CF_CONF_ENUM, 0, "fast", offsetof(struct demo_conf, mode), "slow|fast", ""},
    {"flag", CF_CONF_BOOL, 0, "false", offsetof(struct demo_conf, flag), NULL, ""},
    {"tags", CF_CONF_STRLIST, 0, NULL, offsetof(struct demo_conf, tags), NULL, ""},
    {"nested", CF_CONF_OBJECT, 0, NULL, 0, NULL, ""},
    {"nested.a", CF_CONF_INT, 0, "1", offsetof(struct demo_conf, nested_a), NULL, ""},
    {NULL, CF_CONF_END, 0, NULL, 0, NULL, NULL},
};

static int parse_demo(const char *json, struct demo_conf *conf, struct cf_err *err)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    memset(conf, 0, sizeof(*conf));
    cf_err_clear(err);
    int rc = cf_conf_parse(demo_keys, obj, conf, "op", NULL, err);
    cJSON_Delete(obj);
    return rc;
}

static void test_conf_defaults_and_values(void **state)
{
    (void)state;
    struct demo_conf c;
    struct cf_err err;
    assert_int_equal(parse_demo("{\"name\": \"x\"}", &c, &err), 0);
    assert_string_equal(c.name, "x");
    assert_int_equal(c.count, 7);
    assert_int_equal(c.wait, 5000);
    assert_int_equal(c.size, 1024 * 1024);
    assert_int_equal(c.mode, 1);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.tags.n, 0);
    assert_int_equal(c.nested_a, 1);
    cf_conf_free(demo_keys, &c);

    assert_int_equal(parse_demo("{\"name\": \"y\", \"count\": 3, \"wait\": \"250ms\", \"size\": "
                                "\"2KB\", \"mode\": \"slow\", \"flag\": true, \"tags\": [\"a\", "
                                "\"b\"], \"nested\": {\"a\": 9}}",
                                &c, &err),
                     0);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.wait, 250);
    assert_int_equal(c.size, 2048);
    assert_int_equal(c.mode, 0);
    assert_int_equal(c.flag, 1);
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.v[1], "b");
    assert_int_equal(c.nested_a, 9);
    cf_conf_free(demo_keys, &c);
}

static void test_conf_errors(void **state)
{
    (void)state;
    struct demo_conf c;
    struct cf_err err;
    assert_int_equal(parse_demo("{}", &c, &err), CF_ESPEC);
    assert_string_equal(err.msg, "op.name: required");
    cf_conf_free(demo_keys, &c);
    assert_int_equal(parse_demo("{\"name\": 1, \"count\": 1.5, \"wait\": \"5x\", \"mode\": "
                                "\"medium\", \"flag\": \"yes\", \"nmae\": 1, \"nested\": {\"b\": "
                                "2}, \"size\": \"big\"}",
                                &c, &err),
                     CF_ESPEC);
    const char *want[] = {"op.nmae: unknown key (did you mean 'name'?)",
                          "op.nested.b: unknown key",
                          "op.name: must be a string",
                          "op.count: must be an integer",
                          "op.wait: \"5x\" is not a duration",
                          "op.size: \"big\" is not a size",
                          "op.mode: \"medium\" is not one of slow, fast",
                          "op.flag: must be true or false",
                          NULL};
    for (int i = 0; want[i]; i++) {
        if (!strstr(err.msg, want[i])) {
            fail_msg("missing '%s' in:\n%s", want[i], err.msg);
        }
    }
    cf_conf_free(demo_keys, &c);
}

static void test_size_and_distance(void **state)
{
    (void)state;
    int64_t b;
    assert_int_equal(cf_size_parse("128MB", &b), 0);
    assert_int_equal(b, 128LL << 20);
    assert_int_equal(cf_size_parse("1GB", &b), 0);
    assert_int_equal(b, 1LL << 30);
    assert_int_equal(cf_size_parse("512", &b), 0);
    assert_int_equal(b, 512);
    assert_int_equal(cf_size_parse("1.5KB", &b), 0);
    assert_int_equal(b, 1536);
    assert_int_equal(cf_size_parse("12XB", &b), CF_EPARSE);
    assert_int_equal(cf_edit_distance("filter", "fliter"), 2);
    assert_int_equal(cf_edit_distance("where", "wher"), 1);
    assert_int_equal(cf_edit_distance("same", "same"), 0);
}

static struct cf_plan *plan_of(const char *json, int parallelism, struct cf_err *err)
{
    struct cf_spec *spec = NULL;
    cf_err_clear(err);
    if (cf_spec_parse(json, strlen(json), &spec, err) != 0) {
        return NULL;
    }
    struct cf_plan *plan = NULL;
    cf_plan_build(spec, parallelism, &plan, err);
    return plan;
}

static void test_spec_ids(void **state)
{
    (void)state;
    assert_true(cf_spec_id_valid("count-hourly-item-event"));
    assert_true(cf_spec_id_valid("a1"));
    assert_true(cf_spec_id_valid("9lives"));
    assert_false(cf_spec_id_valid("-a"));
    assert_false(cf_spec_id_valid("A"));
    assert_false(cf_spec_id_valid("a_b"));
    assert_false(cf_spec_id_valid(""));
    assert_false(cf_spec_id_valid("a.b"));
}

static void test_plan_chaining(void **state)
{
    (void)state;
    struct cf_err err;
    struct cf_plan *plan = plan_of(
        "{\"name\": \"j\", \"parallelism\": 2, \"operators\": ["
        "{\"id\": \"src\", \"type\": \"source.datagen\", \"count\": 5},"
        "{\"id\": \"f\", \"type\": \"filter\", \"where\": \"duration_ms > 5\"},"
        "{\"id\": \"k\", \"type\": \"select\", \"key_by\": [\"user_id\"], \"fields\": "
        "{\"u\": \"user_id\", \"d\": \"duration_ms * 2\"}},"
        "{\"id\": \"out\", \"type\": \"sink.print\"},"
        "{\"id\": \"wide\", \"type\": \"sink.print\", \"input\": \"f\", \"parallelism\": 3}]}",
        0, &err);
    if (!plan) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(plan->nvertices, 3);
    /* src -> f chained; k by hash with out chained; wide by rebalance. */
    assert_int_equal(plan->vertices[0].nops, 2);
    assert_string_equal(plan->vertices[0].name, "Source: src -> f");
    assert_int_equal(plan->vertices[1].input_exchange, CF_EXCHANGE_HASH);
    assert_string_equal(plan->vertices[1].name, "k -> Sink: out");
    assert_int_equal(plan->vertices[2].input_exchange, CF_EXCHANGE_REBALANCE);
    assert_int_equal(plan->vertices[2].parallelism, 3);
    assert_int_equal(cf_plan_slots(plan), 3);
    const struct cf_schema *ks = plan->ops[2].decl.outputs[0].schema;
    assert_int_equal(ks->nfields, 2);
    assert_int_equal(ks->fields[1].type, CF_TYPE_INT);
    /* The source declares an errors side output only for file sources. */
    assert_int_equal(plan->ops[0].decl.noutputs, 1);
    struct cf_buf out;
    cf_buf_init(&out);
    cf_plan_describe(plan, &out);
    assert_non_null(strstr(out.data, "input: vertex 0 via HASH by (user_id)"));
    cf_buf_destroy(&out);
    cf_plan_destroy(plan);

    /* A hash exchange between single subtasks is a forward: the keyed operator chains. */
    static const char *keyed = "{\"name\": \"j\", \"operators\": ["
                               "{\"id\": \"src\", \"type\": \"source.datagen\"},"
                               "{\"id\": \"w\", \"type\": \"window\", \"key_by\": [\"user_id\"],"
                               "\"window\": {\"type\": \"tumbling\", \"size\": \"1m\"},"
                               "\"time\": \"processing\", \"aggregates\": {\"n\": \"count(*)\"}},"
                               "{\"id\": \"out\", \"type\": \"sink.print\"}]}";
    plan = plan_of(keyed, 1, &err);
    if (!plan) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(plan->nvertices, 1);
    assert_string_equal(plan->vertices[0].name, "Source: src -> w -> Sink: out");
    assert_int_equal(plan->ops[1].exchange, CF_EXCHANGE_FORWARD);
    cf_plan_destroy(plan);
    plan = plan_of(keyed, 2, &err);
    assert_non_null(plan);
    assert_int_equal(plan->nvertices, 2);
    assert_int_equal(plan->vertices[1].input_exchange, CF_EXCHANGE_HASH);
    cf_plan_destroy(plan);

    /* Projection: the source's output carries what the filter, the keys, the aggregates
     * and the readers of rows passed on (the late output) read. */
    static const char *proj =
        "{\"name\": \"j\", \"parallelism\": 2, \"operators\": ["
        "{\"id\": \"src\", \"type\": \"source.datagen\", \"event_time\": {\"field\": "
        "\"ts\"}},"
        "{\"id\": \"f\", \"type\": \"filter\", \"where\": \"duration_ms > 5\"},"
        "{\"id\": \"w\", \"type\": \"window\", \"key_by\": [\"country\"],"
        "\"window\": {\"type\": \"tumbling\", \"size\": \"1m\"},"
        "\"aggregates\": {\"u\": \"count_distinct(upper(user_id))\"}},"
        "{\"id\": \"out\", \"type\": \"sink.print\"}";
    char json[1024];
    snprintf(json, sizeof(json), "%s]}", proj);
    plan = plan_of(json, 0, &err);
    if (!plan) {
        fail_msg("%s", err.msg);
    }
    const struct cf_op_decl *src = &plan->ops[0].decl;
    const struct cf_schema *ss = src->outputs[0].schema;
    struct cf_buf used;
    cf_buf_init(&used);
    for (uint32_t f = 0; f < ss->nfields; f++) {
        if (src->outputs[0].used[f]) {
            cf_buf_appendf(&used, "%s ", ss->fields[f].name);
        }
    }
    assert_string_equal(used.data, "user_id country duration_ms ");
    assert_int_equal(plan->ops[2].in_used[cf_schema_find(ss, "user_id")], 1);
    assert_int_equal(plan->ops[2].in_used[cf_schema_find(ss, "duration_ms")], 0);
    for (uint32_t f = 0; f < plan->ops[3].decl.in_schema->nfields; f++) {
        assert_int_equal(plan->ops[3].in_used[f], 1); /* a sink reads every field */
    }
    cf_plan_destroy(plan);
    /* Late rows written out: the filter and the window pass every field on. */
    snprintf(json, sizeof(json), "%s,%s]}", proj,
             "{\"id\": \"late\", \"type\": \"sink.print\", \"input\": \"w.late\"}");
    plan = plan_of(json, 0, &err);
    assert_non_null(plan);
    ss = plan->ops[0].decl.outputs[0].schema;
    for (uint32_t f = 0; f < ss->nfields; f++) {
        assert_int_equal(plan->ops[0].decl.outputs[0].used[f], 1);
    }
    cf_buf_destroy(&used);
    cf_plan_destroy(plan);

    /* -p overrides the job default. */
    plan = plan_of("{\"name\": \"j\", \"operators\": [{\"id\": \"s\", \"type\": "
                   "\"source.datagen\"}, {\"id\": \"o\", \"type\": \"sink.print\"}]}",
                   4, &err);
    assert_non_null(plan);
    assert_int_equal(plan->vertices[0].parallelism, 4);
    cf_plan_destroy(plan);
}

static void test_plan_errors(void **state)
{
    (void)state;
    struct cf_err err;
    assert_null(plan_of("{\"name\": \"j\", \"operators\": ["
                        "{\"id\": \"s\", \"type\": \"source.datagen\"},"
                        "{\"id\": \"f\", \"type\": \"filter\", \"where\": \"nope = 1\"},"
                        "{\"id\": \"g\", \"type\": \"filter\", \"where\": \"TRUE\"},"
                        "{\"id\": \"x\", \"type\": \"sink.nope\", \"input\": \"s\"},"
                        "{\"id\": \"fw\", \"type\": \"sink.print\", \"input\": \"s\", "
                        "\"parallelism\": 2, \"exchange\": \"forward\"}]}",
                        0, &err));
    assert_non_null(strstr(err.msg, "operators[1].where: unknown field 'nope'"));
    /* g depends on f, which failed: no cascade of messages about g. */
    assert_null(strstr(err.msg, "operators[2]"));
    assert_non_null(strstr(err.msg, "operators[3].type: unknown operator type 'sink.nope'"));
    assert_non_null(strstr(err.msg, "operators[4].exchange: forward needs the parallelism"));
    assert_null(plan_of("{\"name\": \"j\", \"max_parallelism\": 4, \"operators\": ["
                        "{\"id\": \"s\", \"type\": \"source.datagen\", \"parallelism\": 8}]}",
                        0, &err));
    assert_non_null(strstr(err.msg, "operators[0].parallelism: 8 exceeds max_parallelism 4"));
    assert_null(plan_of("{\"name\": \"j\", \"operators\": ["
                        "{\"id\": \"s\", \"type\": \"source.datagen\"},"
                        "{\"id\": \"o\", \"type\": \"sink.print\"},"
                        "{\"id\": \"p\", \"type\": \"sink.print\"}]}",
                        0, &err));
    assert_non_null(strstr(err.msg, "operators[2].input: 'o' is a sink and has no output"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_defaults_and_values),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_size_and_distance),
        cmocka_unit_test(test_spec_ids),
        cmocka_unit_test(test_plan_chaining),
        cmocka_unit_test(test_plan_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
