/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"

#include "sdltest.h"
#include "tests/lib/json-text-tree.h"

#define COL(...)                                                                                   \
    {                                                                                              \
        .is_visible = true, .name = __VA_ARGS__                                                    \
    }
#define V_INT(x)     ((sdl_value){.kind = SDL_VALUE_INT, .i = (x)})
#define V_UINT(x)    ((sdl_value){.kind = SDL_VALUE_UINT, .u = (x)})
#define V_STR(s)     ((sdl_value){.kind = SDL_VALUE_STRING, .str = {(s), sizeof(s) - 1}})
#define V_KIND(k, s) ((sdl_value){.kind = (k), .str = {(s), sizeof(s) - 1}})
#define V_DEC(s, p, sc)                                                                            \
    ((sdl_value){                                                                                  \
        .kind = SDL_VALUE_DECIMAL, .precision = (p), .scale = (sc), .str = {(s), sizeof(s) - 1}})
#define V_NULL   ((sdl_value){.kind = SDL_VALUE_NULL})
#define V_ABSENT ((sdl_value){.kind = SDL_VALUE_ABSENT})

static const sdl_change_pos pos0 = {
    .pipeline = "main",
    .gtid = "0-1-4711",
    .seq = 3,
    .ts_sec = 1704067200, /* 2024-01-01T00:00:00Z */
    .binlog_file = "binlog.000042",
    .binlog_pos = 1234,
    .split = false,
};

#define POS_TAIL                                                                                   \
    "\"gtid\":\"0-1-4711\",\"seq\":3,\"ts\":{\"$date\":\"2024-01-01T00:00:00Z\"},"                 \
    "\"binlog\":{\"file\":\"binlog.000042\",\"pos\":1234}"

static char *
to_json(const bson_t *doc)
{
    sdl_buf buf = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_OK(sdl_doc_mapper_to_json(doc, &buf, &err), &err);
    char *s = strdup(sdl_buf_cstr(&buf));
    sdl_buf_done(&buf);
    return s;
}

/* Maps @rc and returns its JSON (static buffer), or NULL with @err set. */
static const char *
map_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const sdl_row_change *rc,
        sdl_error *err)
{
    static char out[16384];
    bson_t doc = BSON_INITIALIZER;
    const char *ret = NULL;

    if (sdl_doc_mapper_row(opts, pos, rc, &doc, err)) {
        char *s = to_json(&doc);
        (void)snprintf(out, sizeof(out), "%s", s);
        free(s);
        ret = out;
    }
    bson_destroy(&doc);
    return ret;
}

static const char *
map_ok(const sdl_doc_mapper_options *opts, const sdl_row_change *rc)
{
    sdl_error err = SDL_ERROR_INIT;
    const char *s = map_row(opts, &pos0, rc, &err);
    if (!s) {
        sdltest_fail(__FILE__, __LINE__, "mapping failed: %s", err.message);
    }
    return s;
}

/* The orders table of DESIGN.md §3. */
static sdl_column order_cols[] = {
    COL("id", .is_pk = true),
    COL("status"),
    COL("amount"),
    COL("note", .is_nullable = true),
};
static const uint32_t order_pk[] = {0};
static const sdl_table orders = {
    .table_id = 7,
    .db = "shop",
    .name = "orders",
    .ncols = 4,
    .cols = order_cols,
    .npk = 1,
    .pk = order_pk,
    .names_from_metadata = true,
};

TEST(doc_mapper_insert_document)
{
    const sdl_value after[] = {V_INT(42), V_STR("new"), V_DEC("12.30", 10, 2), V_NULL};
    const sdl_row_change rc = {SDL_ROW_INSERT, &orders, NULL, after};

    ASSERT_STR_EQ(map_ok(NULL, &rc),
                  "{\"_id\":\"main:0-1-4711:3\",\"op\":\"insert\",\"db\":\"shop\","
                  "\"table\":\"orders\",\"pk\":{\"id\":42},"
                  "\"after\":{\"id\":42,\"status\":\"new\",\"amount\":{\"$numberDecimal\":"
                  "\"12.30\"},\"note\":null}," POS_TAIL "}");
}

/* A snapshot row (DESIGN.md §9): the insert's document, op "snapshot", then its chunk. */
TEST(doc_mapper_snapshot_document_is_the_insert_with_op_snapshot_and_its_chunk)
{
    const sdl_value after[] = {V_INT(42), V_STR("new"), V_DEC("12.30", 10, 2), V_NULL};
    const sdl_row_change rc = {SDL_ROW_INSERT, &orders, NULL, after};
    const sdl_doc_snapshot snap = {"s1", 3};
    sdl_buf out = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;
    bson_t doc;

    ASSERT_OK(sdl_doc_mapper_snapshot_bytes(NULL, &pos0, &rc, &snap, &out, &err), &err);
    ASSERT_TRUE(bson_init_static(&doc, out.data, out.len));
    char *s = to_json(&doc);
    ASSERT_STR_EQ(s, "{\"_id\":\"main:0-1-4711:3\",\"op\":\"snapshot\",\"db\":\"shop\","
                     "\"table\":\"orders\",\"pk\":{\"id\":42},"
                     "\"after\":{\"id\":42,\"status\":\"new\",\"amount\":{\"$numberDecimal\":"
                     "\"12.30\"},\"note\":null}," POS_TAIL
                     ",\"snapshot\":{\"id\":\"s1\",\"chunk\":3}}");
    free(s);
    const sdl_row_change del = {SDL_ROW_DELETE, &orders, after, NULL};
    ASSERT_FALSE(sdl_doc_mapper_snapshot_bytes(NULL, &pos0, &del, &snap, &out, &err));
    ASSERT_UINT_EQ(out.len, 0);
    sdl_buf_done(&out);
}

TEST(doc_mapper_update_document_with_changed_and_split)
{
    const sdl_value before[] = {V_INT(42), V_STR("new"), V_DEC("12.30", 10, 2), V_NULL};
    const sdl_value after[] = {V_INT(42), V_STR("paid"), V_DEC("12.30", 10, 2), V_STR("")};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &orders, before, after};
    sdl_change_pos pos = pos0;
    sdl_error err = SDL_ERROR_INIT;

    pos.split = true;
    pos.seq = 18446744073709551615u;
    pos.binlog_pos = 4294967296u;
    ASSERT_STR_EQ(map_row(NULL, &pos, &rc, &err),
                  "{\"_id\":\"main:0-1-4711:18446744073709551615\",\"op\":\"update\","
                  "\"db\":\"shop\",\"table\":\"orders\",\"pk\":{\"id\":42},"
                  "\"before\":{\"id\":42,\"status\":\"new\",\"amount\":{\"$numberDecimal\":"
                  "\"12.30\"},\"note\":null},"
                  "\"after\":{\"id\":42,\"status\":\"paid\",\"amount\":{\"$numberDecimal\":"
                  "\"12.30\"},\"note\":\"\"},"
                  "\"changed\":[\"status\",\"note\"],"
                  "\"gtid\":\"0-1-4711\",\"seq\":-1,\"ts\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
                  "\"binlog\":{\"file\":\"binlog.000042\",\"pos\":4294967296},\"split\":true}");
}

TEST(doc_mapper_update_changing_the_primary_key_takes_pk_from_before)
{
    const sdl_value before[] = {V_INT(1), V_STR("a"), V_DEC("1", 1, 0), V_NULL};
    const sdl_value after[] = {V_INT(2), V_STR("a"), V_DEC("1", 1, 0), V_NULL};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &orders, before, after};

    const char *s = map_ok(NULL, &rc);
    ASSERT_STR_CONTAINS(s, "\"pk\":{\"id\":1},");
    ASSERT_STR_CONTAINS(s, "\"changed\":[\"id\"],");
}

TEST(doc_mapper_update_without_changes_has_empty_changed)
{
    const sdl_value img[] = {V_INT(1), V_STR("a"), V_DEC("1", 1, 0), V_NULL};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &orders, img, img};

    ASSERT_STR_CONTAINS(map_ok(NULL, &rc), "\"changed\":[],");
}

TEST(doc_mapper_delete_document)
{
    const sdl_value before[] = {V_INT(-7), V_STR("x"), V_DEC("-0.50", 10, 2), V_NULL};
    const sdl_row_change rc = {SDL_ROW_DELETE, &orders, before, NULL};

    ASSERT_STR_EQ(map_ok(NULL, &rc),
                  "{\"_id\":\"main:0-1-4711:3\",\"op\":\"delete\",\"db\":\"shop\","
                  "\"table\":\"orders\",\"pk\":{\"id\":-7},"
                  "\"before\":{\"id\":-7,\"status\":\"x\",\"amount\":{\"$numberDecimal\":"
                  "\"-0.50\"},\"note\":null}," POS_TAIL "}");
}

TEST(doc_mapper_composite_pk_in_key_order)
{
    sdl_column cols[] = {COL("a", .is_pk = true), COL("b"), COL("c", .is_pk = true)};
    const uint32_t pk[] = {2, 0};
    const sdl_table t = {1, "d", "t", 3, cols, 2, pk, true, 0, 0};
    const sdl_value after[] = {V_INT(1), V_INT(2), V_STR("k")};
    const sdl_row_change rc = {SDL_ROW_INSERT, &t, NULL, after};

    ASSERT_STR_CONTAINS(map_ok(NULL, &rc), "\"pk\":{\"c\":\"k\",\"a\":1},\"after\":{\"a\":1,");
}

TEST(doc_mapper_table_without_pk_has_no_pk_field)
{
    sdl_column cols[] = {COL("a"), COL("b")};
    const sdl_table t = {1, "d", "t", 2, cols, 0, NULL, true, 0, 0};
    const sdl_value before[] = {V_INT(1), V_INT(2)};
    const sdl_value after[] = {V_INT(1), V_INT(3)};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &t, before, after};

    ASSERT_STR_EQ(map_ok(NULL, &rc),
                  "{\"_id\":\"main:0-1-4711:3\",\"op\":\"update\",\"db\":\"d\",\"table\":\"t\","
                  "\"before\":{\"a\":1,\"b\":2},\"after\":{\"a\":1,\"b\":3},"
                  "\"changed\":[\"b\"]," POS_TAIL "}");
}

TEST(doc_mapper_partial_images_omit_absent_columns)
{
    /* binlog_row_image=MINIMAL: the before image holds the key, the after image the changed
     * columns only. */
    const sdl_value before[] = {V_INT(42), V_ABSENT, V_ABSENT, V_ABSENT};
    const sdl_value after[] = {V_ABSENT, V_STR("paid"), V_ABSENT, V_NULL};
    const sdl_row_change rc = {SDL_ROW_UPDATE, &orders, before, after};

    ASSERT_STR_EQ(map_ok(NULL, &rc),
                  "{\"_id\":\"main:0-1-4711:3\",\"op\":\"update\",\"db\":\"shop\","
                  "\"table\":\"orders\",\"pk\":{\"id\":42},\"before\":{\"id\":42},"
                  "\"after\":{\"status\":\"paid\",\"note\":null},"
                  "\"changed\":[\"status\",\"note\"]," POS_TAIL ",\"partial_after\":true}");
}

TEST(doc_mapper_unnamed_columns_are_flagged)
{
    sdl_column cols[] = {COL("@1", .is_pk = true), COL("@2")};
    const uint32_t pk[] = {0};
    const sdl_table t = {1, "d", "t", 2, cols, 1, pk, false, 0, 0};
    const sdl_value after[] = {V_INT(1), V_STR("x")};
    const sdl_row_change rc = {SDL_ROW_INSERT, &t, NULL, after};
    sdl_change_pos pos = pos0;
    sdl_error err = SDL_ERROR_INIT;

    pos.split = true;
    ASSERT_STR_EQ(map_row(NULL, &pos, &rc, &err),
                  "{\"_id\":\"main:0-1-4711:3\",\"op\":\"insert\",\"db\":\"d\",\"table\":\"t\","
                  "\"pk\":{\"@1\":1},\"after\":{\"@1\":1,\"@2\":\"x\"}," POS_TAIL
                  ",\"split\":true,\"columns_unnamed\":true}");
}

TEST(doc_mapper_invisible_columns_are_included)
{
    sdl_column cols[] = {COL("a"), {.name = "hidden", .is_visible = false}};
    const sdl_table t = {1, "d", "t", 2, cols, 0, NULL, true, 0, 0};
    const sdl_value after[] = {V_INT(1), V_INT(2)};
    const sdl_row_change rc = {SDL_ROW_INSERT, &t, NULL, after};

    ASSERT_STR_CONTAINS(map_ok(NULL, &rc), "\"after\":{\"a\":1,\"hidden\":2}");
}

/* Maps one value of a one-column table and returns the "after" sub-document's JSON. */
static const char *
one_value(const sdl_doc_mapper_options *opts, sdl_column col, sdl_value v, sdl_error *err)
{
    static char out[8192];
    bson_t doc = BSON_INITIALIZER;
    const char *ret = NULL;

    if (sdl_doc_mapper_value(opts, &col, &v, &doc, "v", 1, err)) {
        char *s = to_json(&doc);
        (void)snprintf(out, sizeof(out), "%s", s);
        free(s);
        ret = out;
    } else {
        ASSERT_UINT_EQ(doc.len, 5);
    }
    bson_destroy(&doc);
    return ret;
}

static bson_type_t
one_type(sdl_column col, sdl_value v)
{
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    bson_iter_t it;

    ASSERT_OK(sdl_doc_mapper_value(NULL, &col, &v, &doc, "v", 1, &err), &err);
    ASSERT_TRUE(bson_iter_init_find(&it, &doc, "v"));
    bson_type_t t = bson_iter_type(&it);
    bson_destroy(&doc);
    return t;
}

#define ASSERT_VALUE_OPTS(opts, col, val, expected)                                                \
    do {                                                                                           \
        sdl_error e_ = SDL_ERROR_INIT;                                                             \
        sdl_value v_ = val;                                                                        \
        const char *got_ = one_value((opts), (col), v_, &e_);                                      \
        if (!got_) {                                                                               \
            sdltest_fail(__FILE__, __LINE__, "value: %s", e_.message);                             \
        }                                                                                          \
        ASSERT_STR_EQ(got_, "{\"v\":" expected "}");                                               \
    } while (0)
#define ASSERT_VALUE(val, expected)                                                                \
    do {                                                                                           \
        sdl_error e2_ = SDL_ERROR_INIT;                                                            \
        sdl_value v2_ = val;                                                                       \
        const char *got2_ = one_value(NULL, plain, v2_, &e2_);                                     \
        if (!got2_) {                                                                              \
            sdltest_fail(__FILE__, __LINE__, "value: %s", e2_.message);                            \
        }                                                                                          \
        ASSERT_STR_EQ(got2_, "{\"v\":" expected "}");                                              \
    } while (0)

static const sdl_column plain = COL("v");

TEST(doc_mapper_integers)
{
    ASSERT_VALUE(V_INT(0), "0");
    ASSERT_VALUE(V_INT(INT32_MAX), "2147483647");
    ASSERT_VALUE(V_INT(INT32_MIN), "-2147483648");
    ASSERT_VALUE(V_INT((int64_t)INT32_MAX + 1), "2147483648");
    ASSERT_VALUE(V_INT(INT64_MIN), "-9223372036854775808");
    ASSERT_VALUE(V_INT(INT64_MAX), "9223372036854775807");
    ASSERT_INT_EQ(one_type(plain, V_INT(INT32_MAX)), BSON_TYPE_INT32);
    ASSERT_INT_EQ(one_type(plain, V_INT(INT32_MIN)), BSON_TYPE_INT32);
    ASSERT_INT_EQ(one_type(plain, V_INT((int64_t)INT32_MAX + 1)), BSON_TYPE_INT64);
    ASSERT_INT_EQ(one_type(plain, V_INT((int64_t)INT32_MIN - 1)), BSON_TYPE_INT64);

    ASSERT_VALUE(V_UINT(0), "0");
    ASSERT_VALUE(V_UINT(4294967295u), "4294967295");
    ASSERT_VALUE(V_UINT(INT64_MAX), "9223372036854775807");
    ASSERT_VALUE(V_UINT((uint64_t)INT64_MAX + 1), "{\"$numberDecimal\":\"9223372036854775808\"}");
    ASSERT_VALUE(V_UINT(UINT64_MAX), "{\"$numberDecimal\":\"18446744073709551615\"}");
    ASSERT_INT_EQ(one_type(plain, V_UINT(INT32_MAX)), BSON_TYPE_INT32);
    ASSERT_INT_EQ(one_type(plain, V_UINT((uint64_t)INT32_MAX + 1)), BSON_TYPE_INT64);
    ASSERT_INT_EQ(one_type(plain, V_UINT(UINT64_MAX)), BSON_TYPE_DECIMAL128);

    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_BIT, .u = 5}), "5");
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_BIT, .u = UINT64_MAX}), "-1");
    ASSERT_INT_EQ(one_type(plain, (sdl_value){.kind = SDL_VALUE_BIT, .u = 1}), BSON_TYPE_INT64);
}

TEST(doc_mapper_floats_use_their_shortest_form)
{
#define V_FLOAT(x)  ((sdl_value){.kind = SDL_VALUE_FLOAT, .d = (double)(float)(x)})
#define V_DOUBLE(x) ((sdl_value){.kind = SDL_VALUE_DOUBLE, .d = (x)})
    ASSERT_VALUE(V_FLOAT(1.1), "1.1");
    ASSERT_VALUE(V_FLOAT(-0.3), "-0.3");
    ASSERT_VALUE(V_FLOAT(1.0), "1.0");
    ASSERT_VALUE(V_FLOAT(0.0), "0.0");
    ASSERT_VALUE(V_FLOAT(-0.0), "-0.0");
    ASSERT_VALUE(V_FLOAT(3.4028235e38), "3.4028235e+38");
    ASSERT_VALUE(V_FLOAT(1.17549435e-38), "1.1754944e-38");
    ASSERT_VALUE(V_FLOAT(1e-45), "1e-45"); /* smallest subnormal */
    ASSERT_VALUE(V_FLOAT(16777217.0), "16777216.0");
    ASSERT_VALUE(V_FLOAT(0.1), "0.1");
    ASSERT_VALUE(V_FLOAT(123456.7), "123456.7");
    ASSERT_VALUE(V_FLOAT(3.14159274), "3.1415927");
    ASSERT_VALUE(V_FLOAT(INFINITY), "{\"$numberDouble\":\"Infinity\"}");
    ASSERT_VALUE(V_DOUBLE(1.1), "1.1");
    ASSERT_VALUE(V_DOUBLE((double)1.1f), "1.100000023841858");
    ASSERT_VALUE(V_DOUBLE(1e21), "1e+21");
    ASSERT_VALUE(V_DOUBLE(123456789012345.0), "123456789012345.0");
    ASSERT_VALUE(V_DOUBLE(1e-7), "1e-07");
    ASSERT_VALUE(V_DOUBLE(5e-324), "5e-324");
    ASSERT_VALUE(V_DOUBLE(1.7976931348623157e308), "1.7976931348623157e+308");
    ASSERT_VALUE(V_DOUBLE(19.99), "19.99");
    ASSERT_VALUE(V_DOUBLE(-0.0001), "-0.0001");
    ASSERT_VALUE(V_DOUBLE(0.00001), "1e-05");
    ASSERT_VALUE(V_DOUBLE(0.1 + 0.2), "0.30000000000000004");
    ASSERT_VALUE(V_DOUBLE(999999999999999.9), "999999999999999.9");
    ASSERT_VALUE(V_DOUBLE(12345678.000000001), "12345678.000000002");
    ASSERT_VALUE(V_DOUBLE(-INFINITY), "{\"$numberDouble\":\"-Infinity\"}");
    ASSERT_VALUE(V_DOUBLE(NAN), "{\"$numberDouble\":\"NaN\"}");
    ASSERT_INT_EQ(one_type(plain, V_FLOAT(1.0)), BSON_TYPE_DOUBLE);
}

TEST(doc_mapper_decimals)
{
    ASSERT_VALUE(V_DEC("12.30", 10, 2), "{\"$numberDecimal\":\"12.30\"}");
    ASSERT_VALUE(V_DEC("-12.3400", 10, 4), "{\"$numberDecimal\":\"-12.3400\"}");
    ASSERT_VALUE(V_DEC("0.000", 5, 3), "{\"$numberDecimal\":\"0.000\"}");
    ASSERT_VALUE(V_DEC("-0.000000000000000000000000000001", 34, 30),
                 "{\"$numberDecimal\":\"-1E-30\"}");
    ASSERT_VALUE(V_DEC("1234567890123456789012345678.901234", 34, 6),
                 "{\"$numberDecimal\":\"1234567890123456789012345678.901234\"}");
    ASSERT_VALUE(V_DEC("-9999999999999999999999999999999999", 34, 0),
                 "{\"$numberDecimal\":\"-9999999999999999999999999999999999\"}");
    ASSERT_VALUE(
        V_DEC("12345678901234567890123456789012345.123456789012345678901234567890", 65, 30),
        "\"12345678901234567890123456789012345.123456789012345678901234567890\"");
    ASSERT_VALUE(V_DEC("-0.000000000000000000000000000001", 65, 30),
                 "\"-0.000000000000000000000000000001\"");
    ASSERT_VALUE(V_DEC("1.5", 35, 1), "\"1.5\"");
    /* Unknown precision: decided by the digits. */
    ASSERT_VALUE(V_DEC("1.5", 0, 0), "{\"$numberDecimal\":\"1.5\"}");
    ASSERT_VALUE(V_DEC("12345678901234567890123456789012345", 0, 0),
                 "\"12345678901234567890123456789012345\"");
    ASSERT_INT_EQ(one_type(plain, V_DEC("1", 34, 0)), BSON_TYPE_DECIMAL128);

    const char *bad[] = {"", "-", "1.", ".5", "1e5", "NaN", "Infinity", "1.2.3", "+1", " 1"};
    for (size_t i = 0; i < SDL_ARRAY_SIZE(bad); i++) {
        sdl_error err = SDL_ERROR_INIT;
        sdl_value v = {.kind = SDL_VALUE_DECIMAL, .precision = 10, .str = {bad[i], strlen(bad[i])}};
        ASSERT_NULL(one_value(NULL, plain, v, &err));
        ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
        ASSERT_STR_CONTAINS(err.message, "DECIMAL");
    }
}

/* The short-decimal fast path gives libbson's Decimal128, bit for bit. */
TEST(doc_mapper_decimals_match_libbson)
{
    uint32_t seed = 42;

    for (int i = 0; i < 20000; i++) {
        char text[64];
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        unsigned intg = seed % 21, scale = (seed >> 8) % 12;
        if (seed & 0x10000) {
            text[n++] = '-';
        }
        for (unsigned k = 0; k < (intg ? intg : 1); k++) {
            seed = seed * 1103515245u + 12345u;
            text[n++] = (char)('0' + (k == 0 && intg > 1 && (seed & 3) ? 0 : (seed >> 16) % 10));
        }
        if (scale) {
            text[n++] = '.';
            for (unsigned k = 0; k < scale; k++) {
                seed = seed * 1103515245u + 12345u;
                text[n++] = (char)('0' + ((seed & 0x100) ? 0 : (seed >> 16) % 10));
            }
        }
        text[n] = 0;
        sdl_value v = {.kind = SDL_VALUE_DECIMAL, .precision = 34, .str = {text, n}};
        sdl_error err = SDL_ERROR_INIT;
        bson_t doc = BSON_INITIALIZER;
        bson_iter_t it;
        bson_decimal128_t want, got;
        ASSERT_TRUE(sdl_doc_mapper_value(NULL, &plain, &v, &doc, "v", 1, &err));
        ASSERT_TRUE(bson_iter_init_find(&it, &doc, "v") && BSON_ITER_HOLDS_DECIMAL128(&it));
        ASSERT_TRUE(bson_iter_decimal128(&it, &got));
        ASSERT_TRUE(bson_decimal128_from_string_w_len(text, (int)n, &want));
        if (got.high != want.high || got.low != want.low) {
            fprintf(stderr, "DECIMAL text %s\n", text);
        }
        ASSERT_UINT_EQ(got.high, want.high);
        ASSERT_UINT_EQ(got.low, want.low);
        bson_destroy(&doc);
    }
}

static uint32_t
jrand(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* A random JSON value: nested objects/arrays, strings with escapes and UTF-8, numbers of
 * every width, literals; sometimes a duplicated key or a broken byte. */
static void
gen_json(sdl_buf *b, uint32_t *seed, unsigned depth)
{
    static const char *const keys[] = {"a", "b", "c", "$x", "k.y", "\\u00e9t\\u00e9", "long_key"};
    static const char *const scalars[] = {"0",
                                          "-0",
                                          "1",
                                          "-2147483648",
                                          "2147483648",
                                          "9223372036854775807",
                                          "-9223372036854775809",
                                          "1.5",
                                          "-1e300",
                                          "1e999",
                                          "true",
                                          "false",
                                          "null",
                                          "\"\"",
                                          "\"a\\\"b\\\\c\\n\"",
                                          "\"\\ud83d\\ude00 \xc3\xa9\"",
                                          "\"\\u0000x\""};
    unsigned r = jrand(seed) % 10;

    if (b->len > 5000) {
        r = 8 + r % 2; /* big enough: scalars only, so the text stays a few KB */
    }
    if (depth < 6 && r < 3) {
        unsigned n = jrand(seed) % (depth == 0 ? 40 : 8);
        sdl_buf_append(b, "{", 1);
        for (unsigned i = 0; i < n; i++) {
            unsigned k = jrand(seed) % 64;
            sdl_buf_appendf(b, "%s\"%s%u\" : ", i ? ", " : "", keys[k % 7],
                            (jrand(seed) % 50 == 0) ? 0 : k + i * 64);
            gen_json(b, seed, depth + 1);
        }
        sdl_buf_append(b, "}", 1);
    } else if (depth < 6 && r < 6) {
        unsigned n = jrand(seed) % (depth == 0 ? 40 : 14);
        sdl_buf_append(b, "[", 1);
        for (unsigned i = 0; i < n; i++) {
            sdl_buf_append(b, i ? "," : "", i ? 1 : 0);
            gen_json(b, seed, depth + 1);
        }
        sdl_buf_append(b, "]", 1);
    } else if (r < 8) {
        unsigned n = jrand(seed) % 200;
        sdl_buf_append(b, "\"", 1);
        for (unsigned i = 0; i < n; i++) {
            sdl_buf_appendf(b, "%c", 'a' + (int)(jrand(seed) % 26));
        }
        sdl_buf_append(b, "\"", 1);
    } else {
        const char *sc = scalars[jrand(seed) % SDL_ARRAY_SIZE(scalars)];
        sdl_buf_append(b, sc, strlen(sc));
    }
}

/* A JSON text column written straight into the row document (sdl_json_text_write) gives the
 * bytes and the errors of the two-pass parser appended through libbson, whatever the text and
 * wherever the row buffer stands (values before it push it past its local storage). */
TEST(doc_mapper_json_text_matches_two_pass)
{
    static sdl_column cols[] = {COL("pad"), COL("j")};
    static const sdl_table t = {
        .db = "d", .name = "t", .ncols = 2, .cols = cols, .names_from_metadata = true};
    static char pad[4096];
    uint32_t seed = 7;
    unsigned ok_count = 0;

    memset(pad, 'p', sizeof(pad));
    for (int i = 0; i < 6000; i++) {
        sdl_buf text = SDL_BUF_INIT;
        gen_json(&text, &seed, 0);
        if (jrand(&seed) % 20 == 0 && text.len) {
            text.data[jrand(&seed) % text.len] = (char)"{}[]\",:\x01\xff"[jrand(&seed) % 9];
        }
        size_t padlen = jrand(&seed) % 3 == 0 ? jrand(&seed) % sizeof(pad) : jrand(&seed) % 64;
        sdl_value img[2] = {
            {.kind = SDL_VALUE_STRING, .str = {pad, padlen}},
            {.kind = SDL_VALUE_JSON_TEXT, .str = {(const char *)text.data, text.len}}};
        sdl_row_change rc = {.op = SDL_ROW_INSERT, .table = &t, .after = img};
        bson_t want = BSON_INITIALIZER;
        bson_t doc = BSON_INITIALIZER;
        sdl_error err = SDL_ERROR_INIT, err2 = SDL_ERROR_INIT;
        bool ok2 = sdl_json_text_append_two_pass(&want, "j", 1, (const char *)text.data, text.len,
                                                 0, &err2);
        bool ok = sdl_doc_mapper_row(NULL, &pos0, &rc, &doc, &err);
        ASSERT_TRUE(ok == ok2);
        if (ok) {
            bson_iter_t it, after;
            ASSERT_TRUE(bson_iter_init_find(&it, &doc, "after") && bson_iter_recurse(&it, &after) &&
                        bson_iter_find(&after, "j"));
            /* The element, type byte to the end of its value, against @want's only element. */
            const uint8_t *got = after.raw + after.off;
            size_t got_len = after.next_off - after.off;
            ASSERT_UINT_EQ(got_len, want.len - 4 - 1);
            ASSERT_TRUE(memcmp(got, bson_get_data(&want) + 4, got_len) == 0);
            ok_count++;
        } else {
            ASSERT_STR_CONTAINS(err.message, err2.message);
        }
        bson_destroy(&want);
        bson_destroy(&doc);
        sdl_buf_done(&text);
    }
    ASSERT_TRUE(ok_count > 4000);
}

#define V_DT(us, f) ((sdl_value){.kind = SDL_VALUE_DATETIME, .fsp = (f), .usec = (us)})
#define V_DATE(us)  ((sdl_value){.kind = SDL_VALUE_DATE, .usec = (us)})

TEST(doc_mapper_dates)
{
    static const sdl_doc_mapper_options as_string = {.datetime_as_string = true};
    const sdl_column dt = COL("v", .type = 18);
    const sdl_column ts = COL("v", .type = 17);

    /* 2024-01-01 00:00:00 */
    ASSERT_VALUE(V_DT(INT64_C(1704067200000000), 0), "{\"$date\":\"2024-01-01T00:00:00Z\"}");
    /* fsp 6: .123456 → .123 (truncated). */
    ASSERT_VALUE(V_DT(INT64_C(1704067200123456), 6), "{\"$date\":\"2024-01-01T00:00:00.123Z\"}");
    ASSERT_VALUE(V_DT(INT64_C(1704067200000999), 6), "{\"$date\":\"2024-01-01T00:00:00Z\"}");
    /* After 2038. */
    ASSERT_VALUE(V_DT(INT64_C(4102444800999999), 6), "{\"$date\":\"2100-01-01T00:00:00.999Z\"}");
    ASSERT_VALUE(V_DT(INT64_C(253402300799999999), 6), "{\"$date\":\"9999-12-31T23:59:59.999Z\"}");
    /* Before 1970: sub-millisecond digits drop toward the past. 1969-07-20 20:17:40.123456 */
    ASSERT_VALUE(V_DT(INT64_C(-14182940000000) + 123456, 6),
                 "{\"$date\":{\"$numberLong\":\"-14182939877\"}}");
    ASSERT_VALUE(V_DT(-1, 6), "{\"$date\":{\"$numberLong\":\"-1\"}}");
    ASSERT_VALUE(V_DATE(INT64_C(-62135596800000000)),
                 "{\"$date\":{\"$numberLong\":\"-62135596800000\"}}");
    ASSERT_VALUE(V_DATE(INT64_C(951782400000000)), "{\"$date\":\"2000-02-29T00:00:00Z\"}");
    ASSERT_INT_EQ(one_type(dt, V_DT(0, 0)), BSON_TYPE_DATE_TIME);

    /* datetime_as_string: the MySQL text with the column's fsp digits. */
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(1704067200123456), 6),
                      "\"2024-01-01 00:00:00.123456\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(1704067200120000), 2),
                      "\"2024-01-01 00:00:00.12\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(1704067200000000), 0),
                      "\"2024-01-01 00:00:00\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(-14182940000000) + 123456, 6),
                      "\"1969-07-20 20:17:40.123456\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(-1), 6), "\"1969-12-31 23:59:59.999999\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(253402300799999999), 6),
                      "\"9999-12-31 23:59:59.999999\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DT(INT64_C(-30610224000000000), 0),
                      "\"1000-01-01 00:00:00\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DATE(INT64_C(-62135596800000000)), "\"0001-01-01\"");
    ASSERT_VALUE_OPTS(&as_string, dt, V_DATE(INT64_C(951782400000000)), "\"2000-02-29\"");
    /* TIMESTAMP columns stay Dates. */
    ASSERT_VALUE_OPTS(&as_string, ts, V_DT(INT64_C(1704067200123456), 6),
                      "{\"$date\":\"2024-01-01T00:00:00.123Z\"}");
}

TEST(doc_mapper_text_kinds)
{
    ASSERT_VALUE(V_STR("h\xc3\xa9llo \"q\"\n"), "\"h\xc3\xa9llo \\\"q\\\"\\n\"");
    ASSERT_VALUE(V_STR(""), "\"\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_TEMPORAL_TEXT, "0000-00-00 00:00:00"), "\"0000-00-00 00:00:00\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_TIME, "-838:59:59.000000"), "\"-838:59:59.000000\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_ENUM, "red"), "\"red\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_ENUM, ""), "\"\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_BINARY, "\x00\x01\xff"),
                 "{\"$binary\":{\"base64\":\"AAH/\",\"subType\":\"00\"}}");
    ASSERT_VALUE(V_KIND(SDL_VALUE_BINARY, ""),
                 "{\"$binary\":{\"base64\":\"\",\"subType\":\"00\"}}");
    ASSERT_VALUE(V_NULL, "null");

    static const char *const members[] = {"a", "b,c", "\xc3\xa9"};
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_SET, .set = {3, members}}),
                 "[\"a\",\"b,c\",\"\xc3\xa9\"]");
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_SET, .set = {0, members}}), "[]");

    sdl_error err = SDL_ERROR_INIT;
    ASSERT_NULL(one_value(NULL, plain, V_STR("a\xff"), &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_EQ(err.message, "invalid UTF-8 at byte 1 of the value");
    static const char *const bad_members[] = {"\xc3"};
    ASSERT_NULL(
        one_value(NULL, plain, (sdl_value){.kind = SDL_VALUE_SET, .set = {1, bad_members}}, &err));
}

TEST(doc_mapper_json_geometry_vector)
{
    ASSERT_VALUE(V_KIND(SDL_VALUE_JSON_TEXT, "{\"a\": [1, \"x\", null], \"$b\": 2.5}"),
                 "{\"a\":[1,\"x\",null],\"$b\":2.5}");
    ASSERT_VALUE(V_KIND(SDL_VALUE_JSON_TEXT, "\"s\""), "\"s\"");
    ASSERT_VALUE(V_KIND(SDL_VALUE_JSON_TEXT, "[]"), "[]");

    sdl_error err = SDL_ERROR_INIT;
    /* MySQL binary JSON (json-binary.h; decoded in depth by test-json-binary.c) */
    ASSERT_VALUE(V_KIND(SDL_VALUE_JSON_BINARY, "\x04\x01"), "true");
    ASSERT_NULL(one_value(NULL, plain, V_KIND(SDL_VALUE_JSON_BINARY, "\x00"), &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_CONTAINS(err.message, "binary JSON object header truncated");
    ASSERT_NULL(one_value(NULL, plain, V_KIND(SDL_VALUE_JSON_DIFF, "\x00"), &err));
    ASSERT_INT_EQ(err.code, SDL_E_UNSUPPORTED);

    /* POINT(1 2) SRID 4326 */
    ASSERT_VALUE(V_KIND(SDL_VALUE_GEOMETRY, "\xe6\x10\x00\x00\x01\x01\x00\x00\x00"
                                            "\x00\x00\x00\x00\x00\x00\xf0\x3f"
                                            "\x00\x00\x00\x00\x00\x00\x00\x40"),
                 "{\"type\":\"Point\",\"coordinates\":[1.0,2.0],\"srid\":4326}");

    /* float32 1.5, -2, 0.1 (widened exactly) */
    ASSERT_VALUE(V_KIND(SDL_VALUE_VECTOR, "\x00\x00\xc0\x3f\x00\x00\x00\xc0\xcd\xcc\xcc\x3d"),
                 "[1.5,-2.0,0.10000000149011612]");
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_VECTOR, .str = {"", 0}}), "[]");
    ASSERT_NULL(one_value(NULL, plain, V_KIND(SDL_VALUE_VECTOR, "\x00\x00\x00"), &err));
    ASSERT_STR_CONTAINS(err.message, "not a float32 array");
}

TEST(doc_mapper_absent_value_appends_nothing)
{
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_STR_EQ(one_value(NULL, plain, V_ABSENT, &err), "{}");
}

TEST(doc_mapper_errors_carry_context)
{
    sdl_column cols[] = {COL("id", .is_pk = true), COL("doc", .is_json = true)};
    const uint32_t pk[] = {0};
    const sdl_table t = {1, "shop", "docs", 2, cols, 1, pk, true, 0, 0};
    const sdl_value after[] = {V_INT(1), V_KIND(SDL_VALUE_JSON_TEXT, "{\"a\": }")};
    sdl_row_change rc = {SDL_ROW_INSERT, &t, NULL, after};
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_NULL(map_row(NULL, &pos0, &rc, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_EQ(err.message, "table 'shop.docs': after image: column 'doc': invalid JSON at "
                               "byte 6: value expected");

    /* A primary key column missing from its image. */
    const sdl_value before[] = {V_ABSENT, V_KIND(SDL_VALUE_JSON_TEXT, "1")};
    rc = (sdl_row_change){SDL_ROW_DELETE, &t, before, NULL};
    ASSERT_NULL(map_row(NULL, &pos0, &rc, &err));
    ASSERT_INT_EQ(err.code, SDL_E_SCHEMA);
    ASSERT_STR_EQ(err.message,
                  "table 'shop.docs': primary key column 'id' absent from the before image");

    /* Images that do not match the op. */
    rc = (sdl_row_change){SDL_ROW_UPDATE, &t, before, NULL};
    ASSERT_NULL(map_row(NULL, &pos0, &rc, &err));
    ASSERT_INT_EQ(err.code, SDL_E_INVALID);
    rc = (sdl_row_change){SDL_ROW_INSERT, &t, NULL, NULL};
    ASSERT_NULL(map_row(NULL, &pos0, &rc, &err));
    ASSERT_INT_EQ(err.code, SDL_E_INVALID);

    /* The document is untouched by a failure. */
    bson_t doc = BSON_INITIALIZER;
    rc = (sdl_row_change){SDL_ROW_INSERT, &t, NULL, after};
    ASSERT_FALSE(sdl_doc_mapper_row(NULL, &pos0, &rc, &doc, &err));
    ASSERT_TRUE(bson_empty(&doc));
    size_t off;
    ASSERT_TRUE(bson_validate(&doc, BSON_VALIDATE_NONE, &off));
    bson_destroy(&doc);
}

TEST(doc_mapper_json_depth_option)
{
    sdl_doc_mapper_options opts = {.json_max_depth = 2};
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_NOT_NULL(one_value(&opts, plain, V_KIND(SDL_VALUE_JSON_TEXT, "[[]]"), &err));
    ASSERT_NULL(one_value(&opts, plain, V_KIND(SDL_VALUE_JSON_TEXT, "[[[]]]"), &err));
    ASSERT_STR_CONTAINS(err.message, "nesting deeper than 2 levels");
}

TEST(doc_mapper_ddl_documents)
{
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    const char *stmt = "ALTER TABLE orders ADD COLUMN x INT";
    sdl_change_pos pos = pos0;

    pos.seq = 1;
    ASSERT_OK(sdl_doc_mapper_ddl(NULL, &pos, "shop", "orders", stmt, strlen(stmt), &doc, &err),
              &err);
    char *s = to_json(&doc);
    ASSERT_STR_EQ(s, "{\"_id\":\"main:0-1-4711:1\",\"op\":\"ddl\",\"db\":\"shop\",\"table\":"
                     "\"orders\",\"statement\":"
                     "\"ALTER TABLE orders ADD COLUMN x INT\",\"gtid\":\"0-1-4711\",\"seq\":1,"
                     "\"ts\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
                     "\"binlog\":{\"file\":\"binlog.000042\",\"pos\":1234}}");
    free(s);

    /* No default database: no db field. Invalid UTF-8 is replaced, not fatal. */
    bson_reinit(&doc);
    const char bin[] = "INSERT INTO t VALUES (_binary'\xff\xc3')";
    ASSERT_OK(sdl_doc_mapper_ddl(NULL, &pos, "", NULL, bin, sizeof(bin) - 1, &doc, &err), &err);
    s = to_json(&doc);
    ASSERT_STR_CONTAINS(s, "\"op\":\"ddl\",\"statement\":\"INSERT INTO t VALUES "
                           "(_binary'\xef\xbf\xbd\xef\xbf\xbd')\",");
    free(s);
    bson_reinit(&doc);
    ASSERT_OK(sdl_doc_mapper_ddl(NULL, &pos, NULL, "", "DROP TABLE a", 12, &doc, &err), &err);
    s = to_json(&doc);
    ASSERT_STR_CONTAINS(s, "\"op\":\"ddl\",\"statement\":\"DROP TABLE a\",");
    free(s);
    bson_destroy(&doc);
}

TEST(doc_mapper_long_ids)
{
    char gtid[600];
    memset(gtid, 'g', sizeof(gtid) - 1);
    gtid[sizeof(gtid) - 1] = '\0';
    sdl_change_pos pos = pos0;
    pos.gtid = gtid;
    const sdl_value after[] = {V_INT(42), V_STR("new"), V_DEC("12.30", 10, 2), V_NULL};
    const sdl_row_change rc = {SDL_ROW_INSERT, &orders, NULL, after};
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    bson_iter_t it;

    ASSERT_OK(sdl_doc_mapper_row(NULL, &pos, &rc, &doc, &err), &err);
    ASSERT_TRUE(bson_iter_init_find(&it, &doc, "_id"));
    uint32_t len;
    const char *id = bson_iter_utf8(&it, &len);
    ASSERT_UINT_EQ(len, 4 + 1 + 599 + 2);
    ASSERT_TRUE(strncmp(id, "main:ggg", 8) == 0);
    ASSERT_TRUE(strcmp(id + len - 3, "g:3") == 0);
    bson_destroy(&doc);
}

/* ---- the JSON writer ---- */

/* Both texts parse (libbson's Extended JSON reader) to the same BSON. */
static void
assert_equivalent_to_libbson(const bson_t *doc)
{
    char *mine = to_json(doc);
    char *theirs = bson_as_relaxed_extended_json(doc, NULL);
    bson_t a, b;
    bson_error_t be;

    ASSERT_NOT_NULL(theirs);
    if (!bson_init_from_json(&a, mine, -1, &be)) {
        sdltest_fail(__FILE__, __LINE__, "own output does not parse: %s: %s", be.message, mine);
    }
    if (!bson_init_from_json(&b, theirs, -1, &be)) {
        sdltest_fail(__FILE__, __LINE__, "libbson output does not parse: %s", be.message);
    }
    if (!bson_equal(&a, &b)) {
        sdltest_fail(__FILE__, __LINE__, "differs:\n  own:    %s\n  libbson: %s", mine, theirs);
    }
    bson_destroy(&a);
    bson_destroy(&b);
    bson_free(theirs);
    free(mine);
}

TEST(doc_mapper_json_writer_matches_libbson)
{
    bson_t doc = BSON_INITIALIZER, child;
    bson_decimal128_t dec;
    const uint8_t bin[] = {0, 1, 2, 3, 250};
    static const double doubles[] = {
        0.0,  1.0,     -1.5,    1.1,  0.1 + 0.2,          1e21, 1e-7,  1e300,      5e-324, 1e15,
        1e16, 123.456, -1e-300, 2e22, 9007199254740993.0, 4.35, 100.0, 1234567.125};

    bson_append_utf8(&doc, "s", 1, "a\"\\\b\f\n\r\t\x01\x1f/\x7f\xc3\xa9\xf0\x9f\x98\x80", -1);
    bson_append_utf8(&doc, "nul", 3, "a\0b", 3);
    bson_append_utf8(&doc, "k\"\n\xc3\xa9", -1, "", 0);
    bson_append_int32(&doc, "i32", -1, INT32_MIN);
    bson_append_int64(&doc, "i64", -1, INT64_MIN);
    bson_append_int64(&doc, "i64s", -1, 5);
    for (size_t i = 0; i < SDL_ARRAY_SIZE(doubles); i++) {
        char k[16];
        (void)snprintf(k, sizeof(k), "d%zu", i);
        bson_append_double(&doc, k, -1, doubles[i]);
        (void)snprintf(k, sizeof(k), "n%zu", i);
        bson_append_double(&doc, k, -1, -doubles[i]);
    }
    bson_append_double(&doc, "nan", -1, NAN);
    bson_append_double(&doc, "inf", -1, INFINITY);
    bson_append_double(&doc, "ninf", -1, -INFINITY);
    bson_append_date_time(&doc, "t0", -1, 0);
    bson_append_date_time(&doc, "t1", -1, 1704067200123);
    bson_append_date_time(&doc, "t2", -1, -1);
    bson_append_date_time(&doc, "t3", -1, 253402300799999);
    bson_append_date_time(&doc, "t4", -1, INT64_MIN);
    bson_append_date_time(&doc, "t5", -1, 951782400010);
    bson_decimal128_from_string("-12.30", &dec);
    bson_append_decimal128(&doc, "dec", -1, &dec);
    bson_decimal128_from_string("1E+6144", &dec);
    bson_append_decimal128(&doc, "dec2", -1, &dec);
    for (size_t n = 0; n <= sizeof(bin); n++) {
        char k[16];
        (void)snprintf(k, sizeof(k), "bin%zu", n);
        bson_append_binary(&doc, k, -1, BSON_SUBTYPE_BINARY, bin, (uint32_t)n);
    }
    bson_append_binary(&doc, "uuid", -1, BSON_SUBTYPE_UUID, bin, 5);
    bson_append_binary(&doc, "user", -1, BSON_SUBTYPE_USER, bin, 5);
    bson_append_bool(&doc, "t", -1, true);
    bson_append_bool(&doc, "f", -1, false);
    bson_append_null(&doc, "null", -1);
    bson_append_document_begin(&doc, "sub", -1, &child);
    bson_append_int32(&child, "$x.y", -1, 1);
    bson_append_document_end(&doc, &child);
    bson_append_document_begin(&doc, "empty", -1, &child);
    bson_append_document_end(&doc, &child);
    bson_append_array_begin(&doc, "arr", -1, &child);
    bson_append_int32(&child, "0", -1, 1);
    bson_append_utf8(&child, "1", -1, "x", -1);
    bson_append_array_end(&doc, &child);
    bson_append_array_begin(&doc, "earr", -1, &child);
    bson_append_array_end(&doc, &child);
    /* Types the mapper never produces go through libbson. */
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
    bson_append_oid(&doc, "oid", -1, &oid);
    bson_append_regex(&doc, "re", -1, "^a", "i");
    bson_append_timestamp(&doc, "ts", -1, 1, 2);
    bson_append_minkey(&doc, "min", -1);

    assert_equivalent_to_libbson(&doc);

    char *s = to_json(&doc);
    ASSERT_STR_CONTAINS(s, "{\"s\":\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\x7f\xc3\xa9"
                           "\xf0\x9f\x98\x80\",\"nul\":\"a\\u0000b\",\"k\\\"\\n\xc3\xa9\":\"\",");
    ASSERT_STR_CONTAINS(s, "\"d3\":1.1,");
    ASSERT_STR_CONTAINS(s, "\"d4\":0.30000000000000004,");
    ASSERT_STR_CONTAINS(s, "\"n0\":-0.0,");
    ASSERT_STR_CONTAINS(s, "\"t0\":{\"$date\":\"1970-01-01T00:00:00Z\"},");
    ASSERT_STR_CONTAINS(s, "\"t1\":{\"$date\":\"2024-01-01T00:00:00.123Z\"},");
    ASSERT_STR_CONTAINS(s, "\"t4\":{\"$date\":{\"$numberLong\":\"-9223372036854775808\"}},");
    ASSERT_STR_CONTAINS(s, "\"t5\":{\"$date\":\"2000-02-29T00:00:00.010Z\"},");
    ASSERT_STR_CONTAINS(s, "\"dec\":{\"$numberDecimal\":\"-12.30\"},");
    ASSERT_STR_CONTAINS(s, "\"bin0\":{\"$binary\":{\"base64\":\"\",\"subType\":\"00\"}},");
    ASSERT_STR_CONTAINS(s, "\"bin4\":{\"$binary\":{\"base64\":\"AAECAw==\",\"subType\":\"00\"}},");
    ASSERT_STR_CONTAINS(s, "\"user\":{\"$binary\":{\"base64\":\"AAECA/o=\",\"subType\":\"80\"}},");
    ASSERT_STR_CONTAINS(s, "\"sub\":{\"$x.y\":1},\"empty\":{},\"arr\":[1,\"x\"],\"earr\":[],");
    ASSERT_STR_CONTAINS(s, "\"oid\":{ \"$oid\" : \"0123456789abcdef01234567\" },");
    free(s);
    bson_destroy(&doc);
}

TEST(doc_mapper_json_writer_dates_after_9999_use_number_long)
{
    bson_t doc = BSON_INITIALIZER;
    bson_append_date_time(&doc, "t", -1, 253402300800000);
    char *s = to_json(&doc);
    ASSERT_STR_EQ(s, "{\"t\":{\"$date\":{\"$numberLong\":\"253402300800000\"}}}");
    free(s);
    bson_destroy(&doc);
}

TEST(doc_mapper_json_writer_rejects_invalid_utf8)
{
    bson_t doc = BSON_INITIALIZER;
    sdl_buf buf = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    bson_append_utf8(&doc, "s", 1, "\xc3(", 2);
    ASSERT_FALSE(sdl_doc_mapper_to_json(&doc, &buf, &err));
    ASSERT_INT_EQ(err.code, SDL_E_INVALID);
    sdl_buf_done(&buf);
    bson_destroy(&doc);
}

/* Many random documents of the types the mapper produces: the writer agrees with libbson. */
TEST(doc_mapper_json_writer_random_equivalence)
{
    uint64_t x = 88172645463325252u;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (int round = 0; round < 300; round++) {
        bson_t doc = BSON_INITIALIZER;
        for (int i = 0; i < 20; i++) {
            char k[8];
            (void)snprintf(k, sizeof(k), "k%d", i);
            uint64_t r = RND();
            double d;
            switch (r % 7) {
            case 0: {
                uint64_t bits = RND();
                memcpy(&d, &bits, sizeof(d));
                bson_append_double(&doc, k, -1, d);
                break;
            }
            case 1: {
                int64_t num = (int64_t)RND();
                uint64_t den = RND() | 1;
                bson_append_double(&doc, k, -1, (double)num / (double)den);
                break;
            }
            case 2:
                bson_append_int64(&doc, k, -1, (int64_t)RND());
                break;
            case 3:
                bson_append_date_time(&doc, k, -1, (int64_t)(RND() % 253402300800000u));
                break;
            case 4: {
                float f;
                uint32_t bits = (uint32_t)RND();
                memcpy(&f, &bits, sizeof(f));
                sdl_value v = {.kind = SDL_VALUE_FLOAT, .d = (double)f};
                sdl_error err = SDL_ERROR_INIT;
                ASSERT_OK(sdl_doc_mapper_value(NULL, &plain, &v, &doc, k, strlen(k), &err), &err);
                break;
            }
            case 5: {
                uint8_t b[7];
                for (size_t j = 0; j < sizeof(b); j++) {
                    b[j] = (uint8_t)RND();
                }
                bson_append_binary(&doc, k, -1, BSON_SUBTYPE_BINARY, b, (uint32_t)(RND() % 8));
                break;
            }
            default: {
                char c0 = (char)(RND() % 0x7f + 1);
                char c1 = (char)(RND() % 0x7f + 1);
                char s[5] = {c0, c1, 'x', 0, 0};
                bson_append_utf8(&doc, k, -1, s, -1);
                break;
            }
            }
        }
        assert_equivalent_to_libbson(&doc);
        bson_destroy(&doc);
    }
}

TEST(doc_mapper_value_appends_to_a_parent_in_progress)
{
    bson_t doc = BSON_INITIALIZER, child;
    sdl_error err = SDL_ERROR_INIT;
    const sdl_value id = V_INT(7);
    const sdl_value j = V_KIND(SDL_VALUE_JSON_TEXT, "{\"k\":[true]}");

    bson_append_int32(&doc, "x", 1, 1);
    bson_append_document_begin(&doc, "_id", 3, &child);
    ASSERT_OK(sdl_doc_mapper_value(NULL, &plain, &id, &child, "id", 2, &err), &err);
    ASSERT_OK(sdl_doc_mapper_value(NULL, &plain, &j, &child, "j", 1, &err), &err);
    bson_append_document_end(&doc, &child);
    char *s = to_json(&doc);
    ASSERT_STR_EQ(s, "{\"x\":1,\"_id\":{\"id\":7,\"j\":{\"k\":[true]}}}");
    free(s);
    bson_destroy(&doc);
}

TEST(doc_mapper_empty_views_may_be_null)
{
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_STRING, .str = {NULL, 0}}), "\"\"");
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_BINARY, .str = {NULL, 0}}),
                 "{\"$binary\":{\"base64\":\"\",\"subType\":\"00\"}}");
    ASSERT_VALUE(((sdl_value){.kind = SDL_VALUE_VECTOR, .str = {NULL, 0}}), "[]");
    ASSERT_NULL(
        one_value(NULL, plain, (sdl_value){.kind = SDL_VALUE_JSON_TEXT, .str = {NULL, 0}}, &err));
    ASSERT_STR_CONTAINS(err.message, "empty text");
    ASSERT_NULL(
        one_value(NULL, plain, (sdl_value){.kind = SDL_VALUE_GEOMETRY, .str = {NULL, 0}}, &err));
    ASSERT_STR_CONTAINS(err.message, "shorter than the 4-byte SRID");
    ASSERT_NULL(
        one_value(NULL, plain, (sdl_value){.kind = SDL_VALUE_DECIMAL, .str = {NULL, 0}}, &err));
    ASSERT_STR_CONTAINS(err.message, "invalid DECIMAL text");
}
