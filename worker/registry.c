/*
 * registry.c - the table of every operator and connector plugin.
 */
#include <string.h>

#include "plan.h"

extern const struct cf_op_plugin cf_op_filter;
extern const struct cf_op_plugin cf_op_select;
extern const struct cf_op_plugin cf_op_window;
extern const struct cf_op_plugin cf_conn_source_file;
extern const struct cf_op_plugin cf_conn_source_datagen;
extern const struct cf_op_plugin cf_conn_sink_print;
extern const struct cf_op_plugin cf_conn_sink_file;
extern const struct cf_op_plugin cf_conn_sink_blackhole;
extern const struct cf_op_plugin cf_conn_sink_redis;
extern const struct cf_op_plugin cf_conn_source_kafka;
extern const struct cf_op_plugin cf_conn_sink_kafka;

static const struct cf_op_plugin *const plugins[] = {
    &cf_conn_source_file, &cf_conn_source_datagen, &cf_op_filter,       &cf_op_select,
    &cf_op_window,        &cf_conn_sink_print,     &cf_conn_sink_file,  &cf_conn_sink_blackhole,
    &cf_conn_sink_redis,  &cf_conn_source_kafka,   &cf_conn_sink_kafka, NULL,
};

const struct cf_op_plugin *cf_registry_find(const char *type)
{
    for (int i = 0; plugins[i]; i++) {
        if (strcmp(plugins[i]->type, type) == 0) {
            return plugins[i];
        }
    }
    return NULL;
}

const struct cf_op_plugin *const *cf_registry_all(void)
{
    return plugins;
}
