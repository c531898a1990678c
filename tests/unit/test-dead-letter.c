/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/dead-letter.h"

#include "sdltest.h"

static const sdl_change_pos pos0 = {
    .pipeline = "main",
    .gtid = "0-1-4711",
    .seq = 3,
    .ts_sec = 1704067200, /* 2024-01-01T00:00:00Z */
    .binlog_file = "binlog.000042",
    .binlog_pos = 1234,
};

static char *
json(const bson_t *doc)
{
    sdl_buf buf = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_OK(sdl_doc_mapper_to_json(doc, &buf, &err), &err);
    char *s = strdup(sdl_buf_cstr(&buf));
    sdl_buf_done(&buf);
    return s;
}

TEST(dead_letter_reason_names)
{
    ASSERT_STR_EQ(sdl_dead_reason_name(SDL_DEAD_TOO_LARGE), "too_large");
    ASSERT_STR_EQ(sdl_dead_reason_name(SDL_DEAD_UNMAPPABLE), "unmappable");
    ASSERT_STR_EQ(sdl_dead_reason_name(SDL_DEAD_REJECTED), "rejected");
    ASSERT_STR_EQ(sdl_dead_reason_name(SDL_DEAD_REASON_COUNT), "unknown");
}

TEST(dead_letter_from_document_keeps_the_position_and_cuts_large_values)
{
    /* a row_changes document with a 10,000-byte text ending in a 2-byte character cut at the
     * boundary, an 8 KiB binary, a large JSON document and a column name MongoDB could refuse
     * as a key */
    char *text = malloc(10001);
    uint8_t *bin = calloc(8192, 1);
    bson_t row = BSON_INITIALIZER, after, pk, big;
    memset(text, 'a', 10000);
    memcpy(text + 4095, "\xc3\xa9", 2); /* é straddles byte 4096 */
    text[10000] = '\0';
    bson_append_utf8(&row, "_id", -1, "main:0-1-4711:3", -1);
    bson_append_utf8(&row, "op", -1, "insert", -1);
    bson_append_utf8(&row, "db", -1, "shop", -1);
    bson_append_utf8(&row, "table", -1, "files", -1);
    bson_append_document_begin(&row, "pk", -1, &pk);
    bson_append_int32(&pk, "id", -1, 7);
    bson_append_document_end(&row, &pk);
    bson_append_document_begin(&row, "after", -1, &after);
    bson_append_int32(&after, "id", -1, 7);
    bson_append_utf8(&after, "a.b", -1, "dotted", -1);
    bson_append_utf8(&after, "t", -1, text, -1);
    bson_append_binary(&after, "b", -1, BSON_SUBTYPE_BINARY, bin, 8192);
    bson_append_document_begin(&after, "j", -1, &big);
    bson_append_utf8(&big, "k", -1, text, 5000);
    bson_append_document_end(&after, &big);
    bson_append_document_end(&row, &after);
    bson_append_utf8(&row, "gtid", -1, "0-1-4711", -1);
    bson_append_int64(&row, "seq", -1, 3);
    bson_append_date_time(&row, "ts", -1, 1704067200000);

    bson_t out = BSON_INITIALIZER;
    sdl_dead_letter_from_document(&row, SDL_DEAD_TOO_LARGE, "too big", "0-1-4710", 1704067201000,
                                  &out);
    bson_iter_t it, e;
    ASSERT_TRUE(bson_iter_init(&it, &out));
    const char *order[] = {"_id",  "error", "op", "db",   "table", "pk",     "after",
                           "gtid", "seq",   "ts", "size", "from",  "dead_at"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        ASSERT_TRUE(bson_iter_next(&it));
        ASSERT_STR_EQ(bson_iter_key(&it), order[i]);
    }
    ASSERT_FALSE(bson_iter_next(&it));
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "size", &e));
    ASSERT_INT_EQ(bson_iter_as_int64(&e), row.len);
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "after.1.column", &e));
    ASSERT_STR_EQ(bson_iter_utf8(&e, NULL), "a.b");
    /* the text: cut before the é at 4095, marked, with its size */
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "after.2.value", &e));
    uint32_t len = 0;
    (void)bson_iter_utf8(&e, &len);
    ASSERT_UINT_EQ(len, 4095);
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "after.2.bytes", &e));
    ASSERT_INT_EQ(bson_iter_as_int64(&e), 10000);
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "after.3.value", &e));
    ASSERT_TRUE(BSON_ITER_HOLDS_BINARY(&e));
    ASSERT_TRUE(bson_iter_init(&it, &out) &&
                bson_iter_find_descendant(&it, "after.3.truncated", &e));
    /* the JSON document as its (cut) Extended JSON text */
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "after.4.value", &e));
    ASSERT_TRUE(BSON_ITER_HOLDS_UTF8(&e));
    ASSERT_TRUE(strncmp(bson_iter_utf8(&e, NULL), "{ \"k\" : \"aaa", 12) == 0);
    char *s = json(&out);
    ASSERT_STR_CONTAINS(s, "\"error\":{\"reason\":\"too_large\",\"message\":\"too big\"}");
    ASSERT_STR_CONTAINS(s, "\"pk\":[{\"column\":\"id\",\"value\":7}]");
    ASSERT_STR_CONTAINS(s, "{\"column\":\"a.b\",\"value\":\"dotted\"}");
    ASSERT_STR_CONTAINS(s,
                        "\"from\":\"0-1-4710\",\"dead_at\":{\"$date\":\"2024-01-01T00:00:01Z\"}");
    free(s);
    bson_destroy(&out);
    bson_destroy(&row);
    free(text);
    free(bin);
}

TEST(dead_letter_from_row_keeps_what_cannot_be_mapped_as_raw_bytes)
{
    sdl_column cols[] = {
        {.name = "id", .type = 3, .is_pk = true, .is_visible = true},
        {.name = "doc", .type = 252, .is_json = true, .is_visible = true},
        {.name = "note", .type = 15, .charset = 45, .is_visible = true},
    };
    const uint32_t pk[] = {0};
    sdl_table t = {.db = "shop", .name = "orders", .ncols = 3, .cols = cols, .npk = 1, .pk = pk};
    sdl_value after[] = {
        {.kind = SDL_VALUE_INT, .i = 9},
        {.kind = SDL_VALUE_JSON_TEXT, .str = {"{\"a\": tru", 9}},
        {.kind = SDL_VALUE_ABSENT},
    };
    sdl_row_change rc = {.op = SDL_ROW_INSERT, .table = &t, .after = after};
    bson_t out = BSON_INITIALIZER;

    sdl_dead_letter_from_row(NULL, &pos0, &rc, SDL_DEAD_UNMAPPABLE, "invalid JSON", NULL,
                             1704067201000, &out);
    char *s = json(&out);
    ASSERT_STR_CONTAINS(s, "{\"_id\":\"main:0-1-4711:3\",\"error\":{\"reason\":\"unmappable\","
                           "\"message\":\"invalid JSON\"},\"op\":\"insert\",\"db\":\"shop\","
                           "\"table\":\"orders\",\"pk\":[{\"column\":\"id\",\"value\":9}],"
                           "\"after\":[{\"column\":\"id\",\"value\":9},{\"column\":\"doc\","
                           "\"value\":{\"$binary\":{\"base64\":\"eyJhIjogdHJ1\","
                           "\"subType\":\"00\"}},\"unmapped\":true,\"error\":");
    ASSERT_STR_CONTAINS(s, "\"gtid\":\"0-1-4711\",\"seq\":3,\"ts\":{\"$date\":"
                           "\"2024-01-01T00:00:00Z\"},\"binlog\":{\"file\":\"binlog.000042\","
                           "\"pos\":1234},\"size\":0,\"from\":null,");
    ASSERT_TRUE(strstr(s, "\"note\"") == NULL); /* absent from the image */
    ASSERT_TRUE(strstr(s, "\"before\"") == NULL);
    free(s);
    bson_destroy(&out);
}
