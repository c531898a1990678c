/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/model/doc-field.h"

#include "sdltest.h"

static const char *const keys[] = {"op", "db", "table"};

TEST(doc_field_leading_texts_reads_the_first_string_fields)
{
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8("p:0-1-5:1"), "op", BCON_UTF8("insert"), "db", BCON_UTF8("shop"),
                 "table", BCON_UTF8("orders"), "pk", "{", "id", BCON_INT32(1), "}");
    const char *f[3];

    sdl_doc_field_leading_texts(doc, keys, 3, f);
    ASSERT_STR_EQ(f[0], "insert");
    ASSERT_STR_EQ(f[1], "shop");
    ASSERT_STR_EQ(f[2], "orders");
    bson_destroy(doc);
}

TEST(doc_field_leading_texts_stops_at_the_first_field_that_is_not_a_string)
{
    /* a DDL without table, then a field that is no string: "table" after it is not read */
    bson_t *doc = BCON_NEW("_id", BCON_UTF8("p:0-1-5:1"), "op", BCON_UTF8("ddl"), "seq",
                           BCON_INT64(1), "table", BCON_UTF8("late"));
    const char *f[3];

    sdl_doc_field_leading_texts(doc, keys, 3, f);
    ASSERT_STR_EQ(f[0], "ddl");
    ASSERT_NULL(f[1]);
    ASSERT_NULL(f[2]);
    /* the same answers as the field-by-name reader for the fields it reads */
    ASSERT_STR_EQ(sdl_doc_field_text(doc, "op"), f[0]);
    bson_destroy(doc);
}

TEST(doc_field_leading_texts_of_an_empty_document_are_null)
{
    bson_t doc = BSON_INITIALIZER;
    const char *f[3] = {"x", "x", "x"};

    sdl_doc_field_leading_texts(&doc, keys, 3, f);
    ASSERT_NULL(f[0]);
    ASSERT_NULL(f[1]);
    ASSERT_NULL(f[2]);
    bson_destroy(&doc);
}
