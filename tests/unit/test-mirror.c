/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mirror mode's plan (daemon/mirror.h, DESIGN.md §11): the mirror writes made from a batch's
 * row_changes documents, and a staged batch committed by recovery with them (through the
 * in-memory sink of tests/lib/fake-sink.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/daemon/mirror.h"
#include "sdl/daemon/recovery.h"

#include "fake-sink.h"
#include "sdltest.h"

static sdl_config *
config(const char *more)
{
    char text[2048];
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;

    (void)snprintf(text, sizeof(text),
                   "source: {user: repl, server_id: 1}\n"
                   "target: {database: audit, uri: \"mongodb://h/?replicaSet=r\"}\n%s",
                   more);
    if (!sdl_config_load_string("test.yaml", text, strlen(text), &c, &err)) {
        fprintf(stderr, "%s\n", err.message);
        abort();
    }
    return c;
}

static bson_t *
doc(const char *json)
{
    bson_error_t e;
    bson_t *d = bson_new_from_json((const uint8_t *)json, -1, &e);

    if (!d) {
        fprintf(stderr, "bad JSON in a test: %s: %s\n", e.message, json);
        abort();
    }
    return d;
}

/* The plan of @docs (NULL-terminated JSON texts) under @cfg_text as relaxed JSON, or the
 * error message prefixed with "error: ". Caller frees. */
static char *
plan(const char *cfg_text, const char *const *docs)
{
    sdl_config *c = config(cfg_text);
    sdl_mirror *m = sdl_mirror_new(c);
    sdl_batch b;
    sdl_error err = SDL_ERROR_INIT;
    char *out;

    sdl_batch_init(&b);
    b.number = 1;
    for (size_t i = 0; docs[i]; i++) {
        sdl_batch_add(&b, doc(docs[i]), true);
    }
    if (!sdl_mirror_plan(m, &b, &err)) {
        size_t n = strlen(err.message) + 8;
        out = sdl_xmalloc(n);
        (void)snprintf(out, n, "error: %s", err.message);
    } else if (!b.mirror) {
        out = sdl_xstrdup(b.no_audit ? "none, no audit" : "none");
    } else {
        char *j = bson_as_relaxed_extended_json(b.mirror, NULL);
        size_t n = strlen(j) + 16;
        out = sdl_xmalloc(n);
        (void)snprintf(out, n, "%s%s", b.no_audit ? "no audit " : "", j);
        bson_free(j);
    }
    sdl_batch_done(&b);
    sdl_mirror_free(m);
    sdl_config_free(c);
    return out;
}

#define MIRROR "pipeline: {modes: [audit, mirror]}\n"
#define W(s)   "{ \"0\" : " s " }"

TEST(mirror_is_off_in_audit_mode)
{
    sdl_config *c = config("");
    ASSERT_NULL(sdl_mirror_new(c));
    sdl_config_free(c);
    c = config("pipeline: {modes: [mirror]}\n");
    sdl_mirror *m = sdl_mirror_new(c);
    ASSERT_NOT_NULL(m);
    sdl_mirror_free(m);
    sdl_config_free(c);
}

TEST(mirror_collection_template)
{
    char *n = sdl_mirror_collection_name("{db}.{table}", "shop", "orders");
    ASSERT_STR_EQ(n, "shop.orders");
    free(n);
    n = sdl_mirror_collection_name("m_{table}_{db}_{table}", "d", "t");
    ASSERT_STR_EQ(n, "m_t_d_t");
    free(n);
}

TEST(mirror_insert_with_a_full_image_replaces_with_upsert)
{
    const char *docs[] = {"{\"_id\": \"p:0-1-1:1\", \"op\": \"insert\", \"db\": \"shop\", "
                          "\"table\": \"orders\", \"pk\": {\"id\": 7}, "
                          "\"after\": {\"id\": 7, \"s\": \"x\", \"n\": null}, \"gtid\": \"0-1-1\"}",
                          NULL};
    char *p = plan(MIRROR, docs);
    ASSERT_STR_EQ(p, W("{ \"w\" : \"replace\", \"db\" : \"audit\", \"c\" : \"shop.orders\", "
                       "\"q\" : { \"_id\" : 7 }, \"u\" : { \"_id\" : 7, \"id\" : 7, \"s\" : \"x\", "
                       "\"n\" : null } }"));
    free(p);
}

TEST(mirror_composite_key_in_key_order_and_a_key_change_deletes_then_upserts)
{
    const char *docs[] = {"{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", "
                          "\"pk\": {\"b\": \"x\", \"a\": 1}, "
                          "\"before\": {\"a\": 1, \"b\": \"x\", \"v\": 1}, "
                          "\"after\": {\"a\": 1, \"b\": \"y\", \"v\": 2}}",
                          NULL};
    char *p = plan(MIRROR "mirror: {database: m, collection: \"{table}\"}\n", docs);
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"delete\", \"db\" : \"m\", \"c\" : \"t\", \"q\" : { "
                     "\"_id\" : { \"b\" : \"x\", \"a\" : 1 } } }, \"1\" : { \"w\" : \"replace\", "
                     "\"db\" : \"m\", \"c\" : \"t\", \"q\" : { \"_id\" : { \"b\" : \"y\", \"a\" : "
                     "1 } }, \"u\" : { \"_id\" : { \"b\" : \"y\", \"a\" : 1 }, \"a\" : 1, \"b\" : "
                     "\"y\", \"v\" : 2 } } }");
    free(p);
}

TEST(mirror_partial_image_sets_the_columns_present)
{
    const char *docs[] = {"{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", "
                          "\"pk\": {\"id\": 3}, \"before\": {\"id\": 3}, "
                          "\"after\": {\"v\": 9}, \"partial_after\": true}",
                          /* a key change with a partial image: moved */
                          "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", "
                          "\"pk\": {\"id\": 3}, \"before\": {\"id\": 3}, "
                          "\"after\": {\"id\": 4}, \"partial_after\": true}",
                          NULL};
    char *p = plan(MIRROR, docs);
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"set\", \"db\" : \"audit\", \"c\" : \"d.t\", \"q\" : "
                     "{ \"_id\" : 3 }, \"u\" : { \"$set\" : { \"v\" : 9 } } }, \"1\" : { \"w\" : "
                     "\"move\", \"db\" : \"audit\", \"c\" : \"d.t\", \"q\" : { \"_id\" : 3 }, "
                     "\"u\" : { \"_id\" : 4, \"$set\" : { \"id\" : 4 } } } }");
    free(p);
}

TEST(mirror_delete_and_dead_letters)
{
    const char *docs[] = {"{\"op\": \"delete\", \"db\": \"d\", \"table\": \"t\", "
                          "\"pk\": {\"id\": 3}, \"before\": {\"id\": 3, \"v\": 1}}",
                          NULL};
    char *p = plan("pipeline: {modes: [mirror]}\n", docs);
    ASSERT_STR_EQ(p, "no audit " W("{ \"w\" : \"delete\", \"db\" : \"audit\", \"c\" : \"d.t\", "
                                   "\"q\" : { \"_id\" : 3 } }"));
    free(p);

    /* a dead letter is not mirrored */
    sdl_config *c = config(MIRROR);
    sdl_mirror *m = sdl_mirror_new(c);
    sdl_batch b;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch_init(&b);
    sdl_batch_add_dead(&b, doc("{\"op\": \"insert\", \"db\": \"d\", \"table\": \"t\", "
                               "\"pk\": [{\"column\": \"id\", \"value\": 1}]}"));
    ASSERT_OK(sdl_mirror_plan(m, &b, &err), &err);
    ASSERT_NOT_NULL(b.mirror);
    ASSERT_INT_EQ(bson_count_keys(b.mirror), 0);
    sdl_batch_done(&b);
    sdl_mirror_free(m);
    sdl_config_free(c);
}

TEST(mirror_tables_without_a_key_follow_the_policy)
{
    const char *docs[] = {"{\"op\": \"insert\", \"db\": \"d\", \"table\": \"loose\", "
                          "\"after\": {\"a\": 1}}",
                          "{\"op\": \"update\", \"db\": \"d\", \"table\": \"loose\", "
                          "\"before\": {\"a\": 1}, \"after\": {\"a\": 2}}",
                          "{\"op\": \"delete\", \"db\": \"d\", \"table\": \"loose\", "
                          "\"before\": {\"a\": 2}}",
                          NULL};
    char *p = plan(MIRROR, docs);
    ASSERT_STR_CONTAINS(p, "error: batch 1: mirror: table 'd.loose' has no primary key");
    free(p);
    p = plan(MIRROR "mirror: {no_primary_key: skip}\n", docs);
    ASSERT_STR_EQ(p, "{ }");
    free(p);
    p = plan(MIRROR "mirror: {no_primary_key: all_columns}\n", docs);
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"insert\", \"db\" : \"audit\", \"c\" : \"d.loose\", "
                     "\"u\" : { \"a\" : 1 } }, \"1\" : { \"w\" : \"replace\", \"db\" : "
                     "\"audit\", \"c\" : \"d.loose\", \"q\" : { \"a\" : 1 }, \"u\" : { \"a\" : 2 "
                     "} }, \"2\" : { \"w\" : \"delete\", \"db\" : \"audit\", \"c\" : \"d.loose\", "
                     "\"q\" : { \"a\" : 2 } } }");
    free(p);
}

TEST(mirror_indexes_go_with_the_first_write_of_a_batch)
{
    const char *docs[] = {"{\"op\": \"delete\", \"db\": \"shop\", \"table\": \"orders\", "
                          "\"pk\": {\"id\": 3}, \"before\": {\"id\": 3}}",
                          "{\"op\": \"delete\", \"db\": \"shop\", \"table\": \"orders\", "
                          "\"pk\": {\"id\": 4}, \"before\": {\"id\": 4}}",
                          NULL};
    char *p =
        plan(MIRROR "mirror: {indexes: [\"shop.*: customer, -placed\", \"crm.*: x\"]}\n", docs);
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"index\", \"db\" : \"audit\", \"c\" : "
                     "\"shop.orders\", \"u\" : { \"customer\" : 1, \"placed\" : -1 } }, \"1\" : "
                     "{ \"w\" : \"delete\", \"db\" : \"audit\", \"c\" : \"shop.orders\", \"q\" "
                     ": { \"_id\" : 3 } }, \"2\" : { \"w\" : \"delete\", \"db\" : \"audit\", "
                     "\"c\" : \"shop.orders\", \"q\" : { \"_id\" : 4 } } }");
    free(p);
}

TEST(mirror_coalesces_to_one_write_per_key)
{
    const char *docs[] = {
        /* key 1: insert, then a partial update: one replace with the column applied */
        "{\"op\": \"insert\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 1}, "
        "\"after\": {\"id\": 1, \"v\": 1, \"w\": 1}}",
        /* key 2: a partial update, then a delete: the delete */
        "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 2}, "
        "\"before\": {\"id\": 2}, \"after\": {\"v\": 5}, \"partial_after\": true}",
        "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 1}, "
        "\"before\": {\"id\": 1}, \"after\": {\"v\": 2, \"x\": 0}, \"partial_after\": "
        "true}",
        "{\"op\": \"delete\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 2}, "
        "\"before\": {\"id\": 2}}",
        /* key 3: two partial updates merge */
        "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 3}, "
        "\"before\": {\"id\": 3}, \"after\": {\"v\": 7}, \"partial_after\": true}",
        "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 3}, "
        "\"before\": {\"id\": 3}, \"after\": {\"w\": 8}, \"partial_after\": true}",
        /* a TRUNCATE is a barrier: what is pending goes out before it */
        "{\"op\": \"ddl\", \"db\": \"d\", \"table\": \"t\", \"statement\": \"TRUNCATE t\"}",
        "{\"op\": \"delete\", \"db\": \"d\", \"table\": \"t\", \"pk\": {\"id\": 1}, "
        "\"before\": {\"id\": 1}}",
        NULL};
    char *p = plan(MIRROR, docs);
    ASSERT_STR_EQ(
        p, "{ \"0\" : { \"w\" : \"delete\", \"db\" : \"audit\", \"c\" : \"d.t\", \"q\" : { "
           "\"_id\" : 2 } }, \"1\" : { \"w\" : \"replace\", \"db\" : \"audit\", \"c\" : "
           "\"d.t\", \"q\" : { \"_id\" : 1 }, \"u\" : { \"_id\" : 1, \"id\" : 1, \"v\" : 2, "
           "\"w\" : 1, \"x\" : 0 } }, \"2\" : { \"w\" : \"set\", \"db\" : \"audit\", \"c\" : "
           "\"d.t\", \"q\" : { \"_id\" : 3 }, \"u\" : { \"$set\" : { \"v\" : 7, \"w\" : 8 } } "
           "}, \"3\" : { \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"d.t\" }, \"4\" : "
           "{ \"w\" : \"delete\", \"db\" : \"audit\", \"c\" : \"d.t\", \"q\" : { \"_id\" : "
           "1 } } }");
    free(p);
}

TEST(mirror_coalesces_many_keys)
{
    /* more keys than the first allocation holds (found by the benchmark: pending writes
     * must survive their array growing) */
    sdl_config *c = config(MIRROR);
    sdl_mirror *m = sdl_mirror_new(c);
    sdl_batch b;
    sdl_error err = SDL_ERROR_INIT;
    char json[512];

    sdl_batch_init(&b);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            (void)snprintf(json, sizeof(json),
                           "{\"op\": \"update\", \"db\": \"d\", \"table\": \"t\", "
                           "\"pk\": {\"id\": %d}, \"before\": {\"id\": %d}, \"after\": "
                           "{\"s\": \"a rather long value, so that the document is on the "
                           "heap: %d %d\"}, \"partial_after\": true}",
                           i, i, i, round);
            sdl_batch_add(&b, doc(json), true);
        }
    }
    ASSERT_OK(sdl_mirror_plan(m, &b, &err), &err);
    ASSERT_INT_EQ(bson_count_keys(b.mirror), 300);
    bson_iter_t it, f;
    ASSERT_TRUE(bson_iter_init_find(&it, b.mirror, "299"));
    ASSERT_TRUE(bson_iter_recurse(&it, &f) && bson_iter_find_descendant(&f, "u.$set.s", &it));
    ASSERT_STR_EQ(bson_iter_utf8(&it, NULL),
                  "a rather long value, so that the document is on the heap: 299 1");
    sdl_batch_done(&b);
    sdl_mirror_free(m);
    sdl_config_free(c);
}

static char *
ddl(const char *cfg_text, const char *statement)
{
    char json[1024];
    (void)snprintf(json, sizeof(json),
                   "{\"op\": \"ddl\", \"db\": \"d\", \"table\": \"t\", \"statement\": \"%s\"}",
                   statement);
    const char *docs[] = {json, NULL};
    return plan(cfg_text, docs);
}

TEST(mirror_ddl)
{
    char *p = ddl(MIRROR, "TRUNCATE TABLE t");
    ASSERT_STR_EQ(p, W("{ \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"d.t\" }"));
    free(p);
    p = ddl(MIRROR, "/* x */ truncate e.u");
    ASSERT_STR_EQ(p, W("{ \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"e.u\" }"));
    free(p);
    p = ddl(MIRROR, "ALTER TABLE t ADD COLUMN x INT");
    ASSERT_STR_EQ(p, "{ }");
    free(p);
    p = ddl(MIRROR, "DROP TABLE IF EXISTS t, e.u");
    ASSERT_STR_EQ(p, "{ }"); /* on_drop: keep (a warning) */
    free(p);
    p = ddl(MIRROR "mirror: {on_drop: drop}\n", "DROP TABLE t, e.u");
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"d.t\" }, "
                     "\"1\" : { \"w\" : \"drop\", \"db\" : \"audit\", \"c\" : \"d.t\" }, \"2\" : "
                     "{ \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"e.u\" }, \"3\" : { "
                     "\"w\" : \"drop\", \"db\" : \"audit\", \"c\" : \"e.u\" } }");
    free(p);
    p = ddl(MIRROR, "DROP TEMPORARY TABLE t");
    ASSERT_STR_EQ(p, "{ }");
    free(p);
    p = ddl(MIRROR, "RENAME TABLE t TO t2, a TO e.b");
    ASSERT_STR_EQ(p, "{ \"0\" : { \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : \"d.t2\" }, "
                     "\"1\" : { \"w\" : \"copy\", \"db\" : \"audit\", \"c\" : \"d.t2\", \"from\" "
                     ": \"d.t\" }, \"2\" : { \"w\" : \"clear\", \"db\" : \"audit\", \"c\" : "
                     "\"e.b\" }, \"3\" : { \"w\" : \"copy\", \"db\" : \"audit\", \"c\" : \"e.b\", "
                     "\"from\" : \"d.a\" } }");
    free(p);
}

/* ---- recovery commits a staged batch with its mirror writes ---- */

static bool
retry_once(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
           sdl_error *err)
{
    (void)ctx;
    (void)what;
    (void)reason;
    return fn(arg, err);
}

static bool
plan_hook(void *ctx, sdl_batch *b, sdl_error *err)
{
    return sdl_mirror_plan(ctx, b, err);
}

TEST(mirror_recovery_plans_a_staged_batch_again)
{
    sdl_config *c = config("pipeline: {modes: [mirror]}\n");
    sdl_mirror *m = sdl_mirror_new(c);
    fake_sink fs;
    sdl_sink sink;
    sdl_batch b;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    fake_sink_init(&fs);
    sink = fake_sink_sink(&fs);
    fake_sink_set_offset(&fs, 0, "0-1-1", NULL, 0);
    sdl_batch_init(&b);
    b.number = 1;
    sdl_batch_add(&b,
                  doc("{\"_id\": \"test:0-1-2:1\", \"op\": \"insert\", \"db\": \"d\", "
                      "\"table\": \"t\", \"pk\": {\"id\": 1}, \"after\": {\"id\": 1}, "
                      "\"gtid\": \"0-1-2\"}"),
                  true);
    sdl_batch_set_gtids(&b);
    b.offset_after.flavor = sdl_xstrdup("mariadb");
    b.offset_after.gtid = sdl_xstrdup("0-1-2");
    b.offset_after.batch = 1;
    b.offset_after.rows_applied = 1;
    fake_sink_put_staged(&fs, &b, 1, 1, false); /* staged without its plan, as on MongoDB */
    sdl_recovery_env env = {
        .commit = {.sink = &sink, .retry = retry_once, .plan = plan_hook, .ctx = m},
        .pipeline = "test",
        .start = "start",
    };
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(fs.commits, 1);
    ASSERT_UINT_EQ(fs.offset.batch, 1);
    ASSERT_NOT_NULL(fs.mirror_writes);
    char *j = bson_as_relaxed_extended_json(fs.mirror_writes, NULL);
    ASSERT_STR_EQ(j, W("{ \"w\" : \"replace\", \"db\" : \"audit\", \"c\" : \"d.t\", \"q\" : { "
                       "\"_id\" : 1 }, \"u\" : { \"_id\" : 1, \"id\" : 1 } }"));
    bson_free(j);
    ASSERT_UINT_EQ(fake_sink_count_id(&fs, "test:0-1-2:1"), 0); /* [mirror]: no audit row */
    sdl_recovery_done(&rec);
    sdl_batch_done(&b);
    fake_sink_done(&fs);
    sdl_mirror_free(m);
    sdl_config_free(c);
}
