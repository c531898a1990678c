/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/config/config.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/dead-letter.h"
#include "sdl/mapping/doc-mapper.h"

#include "sdltest.h"

#define COL(...)                                                                                   \
    {                                                                                              \
        .is_visible = true, .name = __VA_ARGS__                                                    \
    }
#define V_INT(x) ((sdl_value){.kind = SDL_VALUE_INT, .i = (x)})
#define V_STR(s) ((sdl_value){.kind = SDL_VALUE_STRING, .str = {(s), sizeof(s) - 1}})
#define V_BIN(s) ((sdl_value){.kind = SDL_VALUE_BINARY, .str = {(s), sizeof(s) - 1}})
#define V_NULL   ((sdl_value){.kind = SDL_VALUE_NULL})

/* Expected hashes: HMAC-SHA256 under KEY, computed with Python's hmac module:
 *   hmac.new(b"0123456789abcdef-test-key", b"ann@example.com", hashlib.sha256).hexdigest() */
#define KEY "0123456789abcdef-test-key"

static const sdl_change_pos pos0 = {
    .pipeline = "main",
    .gtid = "0-1-7",
    .seq = 1,
    .ts_sec = 1704067200,
    .binlog_file = "binlog.000001",
    .binlog_pos = 4,
};

static sdl_column user_cols[] = {
    COL("id", .is_pk = true),
    COL("email"),
    COL("ssn", .is_nullable = true),
    COL("note"),
    COL("blob"),
    COL("secret"),
};
static const uint32_t user_pk[] = {0};
static const sdl_table users = {
    .table_id = 9,
    .db = "shop",
    .name = "users",
    .ncols = 6,
    .cols = user_cols,
    .npk = 1,
    .pk = user_pk,
    .names_from_metadata = true,
};

static sdl_config *
load(const char *yaml)
{
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;

    unsetenv("CREDENTIALS_DIRECTORY");
    setenv("SDL_COLUMNS_HASH_KEY", KEY, 1);
    ASSERT_OK(sdl_config_load_string("t.yaml", yaml, strlen(yaml), &c, &err), &err);
    return c;
}

static const char *
map(sdl_column_policy *policy, const sdl_row_change *rc)
{
    static char out[8192];
    sdl_doc_mapper_options opts = {.columns = policy};
    bson_t doc = BSON_INITIALIZER;
    sdl_buf buf = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_OK(sdl_doc_mapper_row(&opts, &pos0, rc, &doc, &err), &err);
    ASSERT_OK(sdl_doc_mapper_to_json(&doc, &buf, &err), &err);
    (void)snprintf(out, sizeof(out), "%s", sdl_buf_cstr(&buf));
    sdl_buf_done(&buf);
    bson_destroy(&doc);
    return out;
}

#define RULES                                                                                      \
    "source: {user: u, server_id: 1}\n"                                                            \
    "columns:\n"                                                                                   \
    "  - {match: \"shop.users.email\", action: hash}\n"                                            \
    "  - {match: \"shop.users.ssn\", action: redact}\n"                                            \
    "  - {match: \"*.*.note\", truncate: 5}\n"                                                     \
    "  - {match: \"*.*.blob\", truncate: 2}\n"                                                     \
    "  - {match: \"*.*.secret\", action: drop}\n"                                                  \
    "  - {match: \"*.*.*\", action: hash}\n"

TEST(column_policy_none_without_rules)
{
    sdl_config *c = load("source: {user: u, server_id: 1}\n");
    ASSERT_NULL(sdl_column_policy_new(c));
    sdl_config_free(c);
}

TEST(column_policy_actions_in_insert)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    /* "h\xc3\xa9llo": the cut at 5 bytes would split nothing; at "h\xc3" it backs off */
    const sdl_value after[] = {V_INT(7),
                               V_STR("ann@example.com"),
                               V_STR("123-45-6789"),
                               V_STR("h\xc3\xa9llo w"),
                               V_BIN("\x01\x02\x03"),
                               V_STR("pw")};
    const sdl_row_change rc = {SDL_ROW_INSERT, &users, NULL, after};

    ASSERT_NOT_NULL(p);
    ASSERT_STR_EQ(
        map(p, &rc),
        "{\"_id\":\"main:0-1-7:1\",\"op\":\"insert\",\"db\":\"shop\",\"table\":\"users\","
        "\"pk\":{\"id\":\"b92d7dc5a184869532316521d8b375ceddee22fbee62a35eb2fbfa0217cca74d\"},"
        "\"after\":{\"id\":\"b92d7dc5a184869532316521d8b375ceddee22fbee62a35eb2fbfa0217cca74d\","
        "\"email\":\"eebf551d64a71001ed14cbc419056e87e4430381d9a51ee25c8ebeb8eeec045f\","
        "\"ssn\":\"[redacted]\",\"note\":\"h\xc3\xa9ll\","
        "\"blob\":{\"$binary\":{\"base64\":\"AQI=\",\"subType\":\"00\"}}},"
        "\"gtid\":\"0-1-7\",\"seq\":1,\"ts\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
        "\"binlog\":{\"file\":\"binlog.000001\",\"pos\":4}}");
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

#define H_7   "b92d7dc5a184869532316521d8b375ceddee22fbee62a35eb2fbfa0217cca74d"
#define H_ANN "eebf551d64a71001ed14cbc419056e87e4430381d9a51ee25c8ebeb8eeec045f"
#define H_BOB "c0c0200c5379f08d65fe52e5b18d19ceef0dcfd95d6fecf780c0a6dfde9789c3"

TEST(column_policy_update_lists_changed_source_columns_but_never_dropped_ones)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    const sdl_value before[] = {
        V_INT(7), V_STR("ann@example.com"), V_NULL, V_STR("same"), V_BIN("x"), V_STR("old")};
    const sdl_value after[] = {
        V_INT(7), V_STR("bob@example.com"), V_STR("1"), V_STR("same"), V_BIN("x"), V_STR("new")};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &users, before, after};
    const char *json = map(p, &rc);

    ASSERT_STR_CONTAINS(json, "\"before\":{\"id\":\"" H_7 "\",\"email\":\"" H_ANN
                              "\",\"ssn\":\"[redacted]\",\"note\":\"same\",");
    ASSERT_STR_CONTAINS(json, "\"after\":{\"id\":\"" H_7 "\",\"email\":\"" H_BOB
                              "\",\"ssn\":\"[redacted]\",\"note\":\"same\",");
    ASSERT_STR_CONTAINS(json, "\"changed\":[\"email\",\"ssn\"]");
    ASSERT_NULL(strstr(json, "secret"));
    ASSERT_NULL(strstr(json, "old"));
    ASSERT_NULL(strstr(json, "ann@"));
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_null_stays_null_under_hash_and_is_redacted_under_redact)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    const sdl_value after[] = {V_INT(7), V_NULL, V_NULL, V_NULL, V_NULL, V_NULL};
    const sdl_row_change rc = {SDL_ROW_INSERT, &users, NULL, after};

    ASSERT_STR_CONTAINS(map(p, &rc), "\"email\":null,\"ssn\":\"[redacted]\",\"note\":null,"
                                     "\"blob\":null}");
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_refuses_to_drop_a_key_column)
{
    sdl_config *c = load("source: {user: u, server_id: 1}\n"
                         "columns: [{match: \"shop.*.email\", action: hash},"
                         " {match: \"shop.users.*\", action: drop}]\n");
    sdl_column_policy *p = sdl_column_policy_new(c);
    sdl_doc_mapper_options opts = {.columns = p};
    const sdl_value after[] = {V_INT(7), V_STR("a"), V_NULL, V_NULL, V_NULL, V_NULL};
    const sdl_row_change rc = {SDL_ROW_INSERT, &users, NULL, after};
    bson_t doc = BSON_INITIALIZER, dead = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_FALSE(sdl_doc_mapper_row(&opts, &pos0, &rc, &doc, &err));
    ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
    ASSERT_STR_CONTAINS(err.message, "rule 2 of 'columns' ({match: \"shop.users.*\", action: "
                                     "drop}) matches the primary-key column 'shop.users.id'");
    /* a dead letter of such a row carries no values at all */
    sdl_dead_letter_from_row(&opts, &pos0, &rc, SDL_DEAD_UNMAPPABLE, "x", NULL, 0, &dead);
    bson_iter_t it;
    ASSERT_FALSE(bson_iter_init_find(&it, &dead, "after"));
    ASSERT_FALSE(bson_iter_init_find(&it, &dead, "pk"));
    bson_destroy(&dead);
    bson_destroy(&doc);
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_hash_text_of_each_kind_matches_python_hmac)
{
    sdl_config *c = load("source: {user: u, server_id: 1}\n"
                         "columns: [{match: \"*.*.*\", action: hash}]\n");
    sdl_column_policy *p = sdl_column_policy_new(c);
    static const char *const members[] = {"a", "c"};
    const sdl_column_plan plan = {SDL_COLUMN_HASH, 0};
    const sdl_column col = COL("v");
    struct {
        sdl_value v;
        const char *hex;
    } cases[] = {
        {{.kind = SDL_VALUE_DECIMAL64, .i = -1234, .precision = 6, .scale = 2},
         "43ee5227f742de332ea22c3a7371db2b6ee2e7f5fe1d587e5c55967edc78fc6a"},
        {{.kind = SDL_VALUE_DECIMAL64, .i = 5, .precision = 6, .scale = 2},
         "d810cac1da278ebd747cd13a5b28cc571ab65161af48ad7dce4c383c81035207"},
        /* 2024-01-02 03:04:05.12 in DATETIME(3) */
        {{.kind = SDL_VALUE_DATETIME, .usec = 1704164645120000, .fsp = 3},
         "9385f7f75cada1ef7578ee6477c4193ce79a9bfe995e4d3ceb2a8e281fda0313"},
        {{.kind = SDL_VALUE_SET, .set = {2, members}},
         "d5b3ce5ac95a2c3fc04c2ae30df8d7d4e9a472583fb57580486b04645bc6ad2b"},
        {{.kind = SDL_VALUE_FLOAT, .d = (double)1.1f},
         "2c1b6e9f0bff6ebc8b84ee5ecb5dafa92448eed604be6b8a3085e76aa3ab655e"},
        {{.kind = SDL_VALUE_UINT, .u = 18446744073709551615u},
         "b3def298ccf550773c8fd7a670d2c1872fefa08eb5666fbb4d709d05356d59b6"},
        {{.kind = SDL_VALUE_INT, .i = 7}, H_7},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sdl_value out;
        char text[SDL_COLUMN_HASH_TEXT];
        sdl_column_policy_apply(p, &plan, &col, &cases[i].v, &out, text);
        ASSERT_INT_EQ(out.kind, SDL_VALUE_STRING);
        ASSERT_MEM_STR_EQ(out.str.ptr, out.str.len, cases[i].hex);
    }
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_truncate_never_splits_a_character)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    const sdl_column col = COL("note");
    const sdl_column_plan plan = {SDL_COLUMN_TRUNCATE, 2};
    const sdl_value in = V_STR("h\xc3\xa9llo"); /* byte 2 is inside 'é' */
    const sdl_value shortv = V_STR("h");
    sdl_value out;
    char text[SDL_COLUMN_HASH_TEXT];

    sdl_column_policy_apply(p, &plan, &col, &in, &out, text);
    ASSERT_MEM_STR_EQ(out.str.ptr, out.str.len, "h");
    sdl_column_policy_apply(p, &plan, &col, &shortv, &out, text);
    ASSERT_MEM_STR_EQ(out.str.ptr, out.str.len, "h");
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_plan_follows_the_names_not_the_table_pointer)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    sdl_column other_cols[] = {COL("id", .is_pk = true), COL("email")};
    sdl_table other = {.db = "shop", .name = "other", .ncols = 2, .cols = other_cols};
    const sdl_column_plan *plan = NULL;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_OK(sdl_column_policy_plan(p, &users, &plan, &err), &err);
    ASSERT_INT_EQ(plan[1].action, SDL_COLUMN_HASH);
    ASSERT_INT_EQ(plan[5].action, SDL_COLUMN_DROP);
    /* same pointer, other names (a table map parsed again into the same memory) */
    ASSERT_OK(sdl_column_policy_plan(p, &other, &plan, &err), &err);
    ASSERT_INT_EQ(plan[1].action, SDL_COLUMN_HASH); /* "*.*.*": email of shop.other */
    other_cols[1].name = "blob";
    ASSERT_OK(sdl_column_policy_plan(p, &other, &plan, &err), &err);
    ASSERT_INT_EQ(plan[1].action, SDL_COLUMN_TRUNCATE);
    ASSERT_UINT_EQ(plan[1].bytes, 2);
    sdl_column_policy_free(p);
    sdl_config_free(c);
}

TEST(column_policy_dead_letter_images_are_policied)
{
    sdl_config *c = load(RULES);
    sdl_column_policy *p = sdl_column_policy_new(c);
    sdl_doc_mapper_options opts = {.columns = p};
    const sdl_value after[] = {
        V_INT(7),   V_STR("ann@example.com"), V_STR("123-45-6789"), V_STR("abcdefgh"), V_BIN("xyz"),
        V_STR("pw")};
    const sdl_row_change rc = {SDL_ROW_INSERT, &users, NULL, after};
    bson_t dead = BSON_INITIALIZER;
    sdl_buf buf = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    sdl_dead_letter_from_row(&opts, &pos0, &rc, SDL_DEAD_UNMAPPABLE, "x", NULL, 0, &dead);
    ASSERT_OK(sdl_doc_mapper_to_json(&dead, &buf, &err), &err);
    const char *json = sdl_buf_cstr(&buf);
    ASSERT_STR_CONTAINS(json, H_ANN);
    ASSERT_STR_CONTAINS(json, "[redacted]");
    ASSERT_STR_CONTAINS(json, "\"abcde\"");
    ASSERT_NULL(strstr(json, "ann@"));
    ASSERT_NULL(strstr(json, "123-45"));
    ASSERT_NULL(strstr(json, "\"pw\""));
    ASSERT_NULL(strstr(json, "secret"));
    sdl_buf_done(&buf);
    bson_destroy(&dead);
    sdl_column_policy_free(p);
    sdl_config_free(c);
}
