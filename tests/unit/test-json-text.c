/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"
#include "sdl/mapping/json-text.h"

#include "sdltest.h"
#include "tests/lib/json-text-tree.h"

/* Parses @text into {"v": value} and returns the document as compact relaxed Extended JSON
 * (static buffer), or NULL with @err set. */
static const char *
parse_len(const char *text, size_t len, uint32_t depth, sdl_error *err)
{
    static char out[8192];
    bson_t doc = BSON_INITIALIZER;
    sdl_buf buf = SDL_BUF_INIT;
    const char *ret = NULL;

    if (sdl_json_text_append(&doc, "v", 1, text, len, depth, err)) {
        if (!sdl_doc_mapper_to_json(&doc, &buf, err)) {
            sdltest_fail(__FILE__, __LINE__, "to_json: %s", err->message);
        }
        (void)snprintf(out, sizeof(out), "%s", sdl_buf_cstr(&buf));
        ret = out;
    } else {
        /* The parent must be untouched on failure. */
        ASSERT_UINT_EQ(doc.len, 5);
    }
    sdl_buf_done(&buf);
    bson_destroy(&doc);
    return ret;
}

static const char *
parse(const char *text, sdl_error *err)
{
    return parse_len(text, strlen(text), 0, err);
}

#define ASSERT_JSON(text, expected)                                                                \
    do {                                                                                           \
        sdl_error e_ = SDL_ERROR_INIT;                                                             \
        const char *got_ = parse((text), &e_);                                                     \
        if (!got_) {                                                                               \
            sdltest_fail(__FILE__, __LINE__, "parse %s: %s", (text), e_.message);                  \
        }                                                                                          \
        ASSERT_STR_EQ(got_, "{\"v\":" expected "}");                                               \
    } while (0)

#define ASSERT_REJECTS(text, msg)                                                                  \
    do {                                                                                           \
        sdl_error e_ = SDL_ERROR_INIT;                                                             \
        const char *got_ = parse((text), &e_);                                                     \
        if (got_) {                                                                                \
            sdltest_fail(__FILE__, __LINE__, "accepted %s as %s", (text), got_);                   \
        }                                                                                          \
        ASSERT_INT_EQ(e_.code, SDL_E_PROTOCOL);                                                    \
        ASSERT_STR_CONTAINS(e_.message, (msg));                                                    \
    } while (0)

TEST(json_text_scalars_at_top_level)
{
    ASSERT_JSON("null", "null");
    ASSERT_JSON(" true ", "true");
    ASSERT_JSON("\tfalse\r\n", "false");
    ASSERT_JSON("\"x\"", "\"x\"");
    ASSERT_JSON("0", "0");
    ASSERT_JSON("-0", "0");
    ASSERT_JSON("1.5", "1.5");
}

TEST(json_text_numbers)
{
    ASSERT_JSON("2147483647", "2147483647");
    ASSERT_JSON("-2147483648", "-2147483648");
    /* int64 beyond int32; the relaxed form prints the number, the type is checked below. */
    ASSERT_JSON("2147483648", "2147483648");
    ASSERT_JSON("9223372036854775807", "9223372036854775807");
    ASSERT_JSON("-9223372036854775808", "-9223372036854775808");
    /* Beyond int64: double. */
    ASSERT_JSON("9223372036854775808", "9.223372036854776e+18");
    ASSERT_JSON("-9223372036854775809", "-9.223372036854776e+18");
    ASSERT_JSON("123456789012345678901234567890", "1.2345678901234568e+29");
    ASSERT_JSON("1.0", "1.0");
    ASSERT_JSON("1e2", "100.0");
    ASSERT_JSON("1E-2", "0.01");
    ASSERT_JSON("-1.25e+3", "-1250.0");
    ASSERT_JSON("0.1", "0.1");
    ASSERT_JSON("1e400", "{\"$numberDouble\":\"Infinity\"}");
    ASSERT_JSON("-1e400", "{\"$numberDouble\":\"-Infinity\"}");
    ASSERT_JSON("1e-400", "0.0");

    bson_t doc = BSON_INITIALIZER;
    bson_iter_t it;
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_OK(sdl_json_text_append(&doc, "a", 1, "[1, 2147483648, 1.0, 1e300]", 27, 0, &err), &err);
    ASSERT_TRUE(bson_iter_init_find(&it, &doc, "a"));
    bson_iter_t arr;
    ASSERT_TRUE(bson_iter_recurse(&it, &arr));
    ASSERT_TRUE(bson_iter_next(&arr));
    ASSERT_INT_EQ(bson_iter_type(&arr), BSON_TYPE_INT32);
    ASSERT_TRUE(bson_iter_next(&arr));
    ASSERT_INT_EQ(bson_iter_type(&arr), BSON_TYPE_INT64);
    ASSERT_TRUE(bson_iter_next(&arr));
    ASSERT_INT_EQ(bson_iter_type(&arr), BSON_TYPE_DOUBLE);
    ASSERT_TRUE(bson_iter_next(&arr));
    ASSERT_DOUBLE_EQ(bson_iter_double(&arr), 1e300);
    bson_destroy(&doc);
}

TEST(json_text_nested_documents_keep_order_and_odd_keys)
{
    ASSERT_JSON("{\"b\": 1, \"a\": {\"$date\": 5, \"x.y\": [1, [], {}, \"s\"]}}",
                "{\"b\":1,\"a\":{\"$date\":5,\"x.y\":[1,[],{},\"s\"]}}");
    ASSERT_JSON("[]", "[]");
    ASSERT_JSON("{}", "{}");
    ASSERT_JSON("[[[[1]]]]", "[[[[1]]]]");
    ASSERT_JSON("{\"\": 1}", "{\"\":1}");
}

TEST(json_text_duplicate_keys_keep_last_value_at_first_position)
{
    ASSERT_JSON("{\"a\": 1, \"b\": 2, \"a\": 3}", "{\"a\":3,\"b\":2}");
    ASSERT_JSON("{\"a\": 1, \"a\": {\"x\": [1]}, \"a\": 3, \"c\": 0, \"a\": {\"y\": 2}}",
                "{\"a\":{\"y\":2},\"c\":0}");
    /* Escaped and plain spellings of the same key are the same key. */
    ASSERT_JSON("{\"ab\": 1, \"a\\u0062\": 2}", "{\"ab\":2}");

    /* Many keys: the hashed path. */
    char text[4096];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof(text) - n, "{");
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "\"k%d\": %d, ", i % 20, i);
    }
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\"z\": 0}");
    sdl_error err = SDL_ERROR_INIT;
    const char *got = parse(text, &err);
    ASSERT_NOT_NULL(got);
    ASSERT_STR_EQ(got,
                  "{\"v\":{\"k0\":20,\"k1\":21,\"k2\":22,\"k3\":23,\"k4\":24,\"k5\":25,\"k6\":26,"
                  "\"k7\":27,\"k8\":28,\"k9\":29,\"k10\":30,\"k11\":31,\"k12\":32,\"k13\":33,"
                  "\"k14\":34,\"k15\":35,\"k16\":36,\"k17\":37,\"k18\":38,\"k19\":39,\"z\":0}}");
}

TEST(json_text_strings_and_escapes)
{
    ASSERT_JSON("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\"");
    ASSERT_JSON("\"\\u00e9\\u20AC\"", "\"\xc3\xa9\xe2\x82\xac\"");
    ASSERT_JSON("\"\xc3\xa9\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    /* Surrogate pair → one 4-byte character. */
    ASSERT_JSON("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    ASSERT_JSON("\"\\uD834\\uDD1E x\"", "\"\xf0\x9d\x84\x9e x\"");
    /* NUL is fine inside a value. */
    ASSERT_JSON("\"a\\u0000b\"", "\"a\\u0000b\"");
    ASSERT_JSON("\"\\u001f\"", "\"\\u001f\"");
    ASSERT_JSON("{\"k\\n\": \"\"}", "{\"k\\n\":\"\"}");
}

TEST(json_text_rejects_invalid_text)
{
    ASSERT_REJECTS("", "empty text");
    ASSERT_REJECTS("   ", "empty text");
    ASSERT_REJECTS("nul", "invalid literal");
    ASSERT_REJECTS("True", "value expected");
    ASSERT_REJECTS("01", "leading zero");
    ASSERT_REJECTS("-", "invalid number");
    ASSERT_REJECTS("1.", "digit expected after '.'");
    ASSERT_REJECTS(".5", "value expected");
    ASSERT_REJECTS("1e", "digit expected in exponent");
    ASSERT_REJECTS("+1", "value expected");
    ASSERT_REJECTS("NaN", "value expected");
    ASSERT_REJECTS("[1,]", "value expected");
    ASSERT_REJECTS("[1 2]", "',' or ']' expected");
    ASSERT_REJECTS("{\"a\" 1}", "':' expected");
    ASSERT_REJECTS("{\"a\": 1,}", "object key (string) expected");
    ASSERT_REJECTS("{a: 1}", "object key (string) expected");
    ASSERT_REJECTS("{\"a\": 1", "unterminated object");
    ASSERT_REJECTS("[1", "unterminated array");
    ASSERT_REJECTS("\"abc", "unterminated string");
    ASSERT_REJECTS("\"a\nb\"", "control character");
    ASSERT_REJECTS("\"\\x\"", "invalid escape");
    ASSERT_REJECTS("\"\\u12\"", "four hex digits");
    ASSERT_REJECTS("\"\\ud800\"", "high surrogate not followed");
    ASSERT_REJECTS("\"\\ud800\\u0041\"", "high surrogate not followed");
    ASSERT_REJECTS("\"\\udc00\"", "unpaired low surrogate");
    ASSERT_REJECTS("\"\xff\"", "invalid UTF-8");
    ASSERT_REJECTS("\"\xc0\xaf\"", "invalid UTF-8");         /* overlong '/' */
    ASSERT_REJECTS("\"\xed\xa0\x80\"", "invalid UTF-8");     /* encoded surrogate */
    ASSERT_REJECTS("\"\xf4\x90\x80\x80\"", "invalid UTF-8"); /* above U+10FFFF */
    ASSERT_REJECTS("\"\xe2\x82\"", "invalid UTF-8");         /* truncated */
    ASSERT_REJECTS("{\"a\\u0000\": 1}", "\\u0000 in an object key");
    ASSERT_REJECTS("1 2", "unexpected data after the value");
    ASSERT_REJECTS("{} x", "unexpected data after the value");
    ASSERT_REJECTS("'a'", "value expected");

    sdl_error err = SDL_ERROR_INIT;
    ASSERT_NULL(parse("[1, 2, x]", &err));
    ASSERT_STR_EQ(err.message, "invalid JSON at byte 7: value expected");
    /* Embedded NUL byte in the text is a control character, not an end. */
    ASSERT_NULL(parse_len("\"a\0\"", 4, 0, &err));
    ASSERT_STR_CONTAINS(err.message, "control character");
    ASSERT_NULL(parse_len("1\0", 2, 0, &err));
}

TEST(json_text_depth_limit)
{
    char deep[512];
    sdl_error err = SDL_ERROR_INIT;

    /* 100 nested arrays are fine, 101 are not. */
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    ASSERT_NOT_NULL(parse_len(deep, 200, 0, &err));
    memset(deep, '[', 101);
    memset(deep + 101, ']', 101);
    ASSERT_NULL(parse_len(deep, 202, 0, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_EQ(err.message, "invalid JSON at byte 100: nesting deeper than 100 levels");
    /* A custom limit. */
    ASSERT_NULL(parse_len("{\"a\":[{}]}", 10, 2, &err));
    ASSERT_STR_CONTAINS(err.message, "nesting deeper than 2 levels");
    ASSERT_NOT_NULL(parse_len("{\"a\":[]}", 8, 2, &err));
    /* Far deeper input fails cleanly, without deep recursion. */
    size_t n = 1000000;
    char *huge = malloc(n);
    memset(huge, '[', n);
    ASSERT_NULL(parse_len(huge, n, 0, &err));
    free(huge);
}

TEST(json_text_large_document)
{
    sdl_buf text = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;
    bson_t doc = BSON_INITIALIZER;
    bson_iter_t it, arr;

    sdl_buf_append_str(&text, "[");
    for (int i = 0; i < 10000; i++) {
        sdl_buf_appendf(&text, "%s{\"i\":%d,\"s\":\"v\\u00e9%d\"}", i ? "," : "", i, i);
    }
    sdl_buf_append_str(&text, "]");
    ASSERT_OK(sdl_json_text_append(&doc, "v", 1, (const char *)text.data, text.len, 0, &err), &err);
    ASSERT_TRUE(bson_iter_init_find(&it, &doc, "v"));
    ASSERT_TRUE(bson_iter_recurse(&it, &arr));
    int count = 0;
    bson_iter_t last;
    while (bson_iter_next(&arr)) {
        last = arr;
        count++;
    }
    ASSERT_INT_EQ(count, 10000);
    bson_iter_t s;
    ASSERT_TRUE(bson_iter_recurse(&last, &s));
    ASSERT_TRUE(bson_iter_find(&s, "s"));
    ASSERT_STR_EQ(bson_iter_utf8(&s, NULL), "v\xc3\xa9"
                                            "9999");
    bson_destroy(&doc);
    sdl_buf_done(&text);
}

/* The single pass (sdl_json_text_write) takes every ordinary document itself, not leaving it
 * to the two passes, and writes the bytes the two passes write. */
TEST(json_text_single_pass_takes_ordinary_documents)
{
    static const char *const texts[] = {
        "{\"a\":1234567,\"b\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c\",\"c\":[1,2,3]}",
        "[]",
        "{}",
        " \t\r\n{ \"k\" : [ ] , \"o\" : { } } \n",
        "[0,-1,2147483647,-2147483648,2147483648,-9223372036854775808,9223372036854775807]",
        "[9223372036854775808,1e3,-0.5,1.25E-2,0.0,12345678901234567890123]",
        /* one string, too long for a line: */
        /* clang-format off */
        "[true,false,null,\"\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\\ud83d\\ude00\",\"\xc3\xa9\xe2\x82\xac\"]",
        /* clang-format on */
        "[0,1,2,3,4,5,6,7,8,9,10,11,12,[[[[]]]],{\"x\":{\"y\":{\"z\":[null]}}}]",
        "{\"long string key that spans several words\":\"and a value of more than eight bytes\"}",
        "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80 emoji\",\"tab\\tkey\":1}",
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        uint8_t local[64];
        sdl_json_out out = {local, 3, sizeof(local), local}; /* 3 bytes already in it */
        uint8_t type = 0;
        bson_t want = BSON_INITIALIZER;
        sdl_error err = SDL_ERROR_INIT;

        memset(local, 0xAA, 3);
        ASSERT_TRUE(sdl_json_text_write(&out, texts[i], strlen(texts[i]), 0, &type));
        ASSERT_OK(sdl_json_text_append(&want, "", 0, texts[i], strlen(texts[i]), 0, &err), &err);
        /* want: int32 length, type, "" (one NUL), the body, final NUL */
        const uint8_t *w = bson_get_data(&want);
        ASSERT_UINT_EQ(type, w[4]);
        ASSERT_UINT_EQ(out.len - 3, want.len - 4 - 2 - 1);
        ASSERT_TRUE(memcmp(out.p + 3, w + 6, out.len - 3) == 0);
        ASSERT_TRUE(out.p[0] == 0xAA && out.p[1] == 0xAA && out.p[2] == 0xAA);
        if (out.p != out.local) {
            free(out.p);
        }
        bson_destroy(&want);
    }
}

/* What sdl_json_text_write() refuses (invalid text, a scalar at the top), it leaves untouched:
 * the output length is back where it was. */
TEST(json_text_single_pass_gives_up_cleanly)
{
    static const char *const texts[] = {
        "[1,]", "{\"a\"}", "[1 2]", "\"scalar\"", "[\"\x01\"]", "[\"\xff\"]", "[tru]",
        "[-]",  "[01]",    "[1.]",  "[1e]",       "{\"a\":1",   "[1]x",       "",
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        uint8_t local[16];
        sdl_json_out out = {local, 5, sizeof(local), local};
        uint8_t type = 0;

        ASSERT_FALSE(sdl_json_text_write(&out, texts[i], strlen(texts[i]), 0, &type));
        ASSERT_UINT_EQ(out.len, 5);
        if (out.p != out.local) {
            free(out.p);
        }
    }
    /* nesting at the limit */
    uint8_t local[16];
    sdl_json_out out = {local, 0, sizeof(local), local};
    uint8_t type = 0;
    ASSERT_FALSE(sdl_json_text_write(&out, "[[[1]]]", 7, 2, &type));
    ASSERT_TRUE(sdl_json_text_write(&out, "[[[1]]]", 7, 3, &type));
    if (out.p != out.local) {
        free(out.p);
    }
}

/* sdl_json_text_write() of @text gives the bytes of the former two-pass parser
 * (tests/lib/json-text-tree.c) for the value, and sdl_json_text_append() gives its document. */
static void
assert_write_matches_tree(const char *text, size_t len, uint32_t depth)
{
    uint8_t local[64];
    sdl_json_out out = {local, 3, sizeof(local), local}; /* 3 bytes already in it */
    uint8_t type = 0;
    bson_t want = BSON_INITIALIZER;
    bson_t got = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;

    memset(local, 0xAA, 3);
    ASSERT_OK(sdl_json_text_append_two_pass(&want, "", 0, text, len, depth, &err), &err);
    ASSERT_OK(sdl_json_text_append(&got, "", 0, text, len, depth, &err), &err);
    ASSERT_UINT_EQ(got.len, want.len);
    ASSERT_TRUE(memcmp(bson_get_data(&got), bson_get_data(&want), want.len) == 0);
    ASSERT_TRUE(sdl_json_text_write(&out, text, len, depth, &type));
    const uint8_t *w = bson_get_data(&want);
    ASSERT_UINT_EQ(type, w[4]);
    ASSERT_UINT_EQ(out.len - 3, want.len - 4 - 2 - 1);
    ASSERT_TRUE(memcmp(out.p + 3, w + 6, out.len - 3) == 0);
    ASSERT_TRUE(out.p[0] == 0xAA && out.p[1] == 0xAA && out.p[2] == 0xAA);
    if (out.p != out.local) {
        free(out.p);
    }
    bson_destroy(&want);
    bson_destroy(&got);
}

/* Nesting deeper than the former single pass's stack (64 levels, then the two passes took
 * over) is written by the one parser, its stack on the heap, up to the limit. */
TEST(json_text_deep_nesting_in_one_pass)
{
    sdl_buf text = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    for (int levels = 30; levels <= 100; levels += 7) {
        sdl_buf_reset(&text);
        for (int i = 0; i < levels; i++) {
            sdl_buf_appendf(&text, i % 2 ? "[%d," : "{\"k%d\":", i);
        }
        sdl_buf_append_str(&text, "\"leaf\"");
        for (int i = levels - 1; i >= 0; i--) {
            sdl_buf_append_str(&text, i % 2 ? ",true]" : ",\"z\":null}");
        }
        assert_write_matches_tree((const char *)text.data, text.len, 0);
    }
    /* 100 levels of arrays and 100 of objects: at the default limit */
    sdl_buf_reset(&text);
    for (int i = 0; i < 100; i++) {
        sdl_buf_append_str(&text, "[");
    }
    for (int i = 0; i < 100; i++) {
        sdl_buf_append_str(&text, "]");
    }
    assert_write_matches_tree((const char *)text.data, text.len, 0);
    sdl_buf_reset(&text);
    for (int i = 0; i < 100; i++) {
        sdl_buf_append_str(&text, "{\"a\":");
    }
    sdl_buf_append_str(&text, "1");
    for (int i = 0; i < 100; i++) {
        sdl_buf_append_str(&text, "}");
    }
    assert_write_matches_tree((const char *)text.data, text.len, 0);
    /* one level more fails with the limit named, whether the depth is the default or set */
    sdl_buf_reset(&text);
    for (int i = 0; i < 101; i++) {
        sdl_buf_append_str(&text, "{\"a\":");
    }
    ASSERT_NULL(parse_len((const char *)text.data, text.len, 0, &err));
    ASSERT_STR_EQ(err.message, "invalid JSON at byte 500: nesting deeper than 100 levels");
    ASSERT_NULL(parse_len((const char *)text.data, text.len, 70, &err));
    ASSERT_STR_EQ(err.message, "invalid JSON at byte 350: nesting deeper than 70 levels");
    /* a higher limit than the default: 300 levels */
    sdl_buf_reset(&text);
    for (int i = 0; i < 300; i++) {
        sdl_buf_append_str(&text, "[");
    }
    for (int i = 0; i < 300; i++) {
        sdl_buf_append_str(&text, "]");
    }
    assert_write_matches_tree((const char *)text.data, text.len, 300);
    ASSERT_NULL(parse_len((const char *)text.data, text.len, 299, &err));
    ASSERT_STR_EQ(err.message, "invalid JSON at byte 299: nesting deeper than 299 levels");
    sdl_buf_done(&text);
}

/* Duplicated keys, which the former single pass left to the two passes, are settled in the one
 * pass: first position, last value, at any depth and with any number of keys. */
TEST(json_text_duplicate_keys_in_one_pass)
{
    static const char *const texts[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":\"x\",\"a\":{\"c\":[1,{\"d\":1,\"d\":2}]},\"e\":0,\"a\":\"last\"}",
        "[{\"k\":1,\"k\":[1,2],\"j\":3,\"k\":{\"k\":1,\"k\":2}},{\"\":1,\"\":2}]",
        "{\"ab\":1,\"a\\u0062\":2,\"ab\":3}",
    };
    sdl_buf text = SDL_BUF_INIT;

    for (size_t i = 0; i < SDL_ARRAY_SIZE(texts); i++) {
        assert_write_matches_tree(texts[i], strlen(texts[i]), 0);
    }
    /* many keys (the hashed path), nested 70 levels below the top */
    for (int i = 0; i < 70; i++) {
        sdl_buf_append_str(&text, "[");
    }
    sdl_buf_append_str(&text, "{");
    for (int i = 0; i < 200; i++) {
        sdl_buf_appendf(&text, "\"k%d\":%d,", i % 37, i);
    }
    sdl_buf_append_str(&text, "\"z\":0}");
    for (int i = 0; i < 70; i++) {
        sdl_buf_append_str(&text, "]");
    }
    assert_write_matches_tree((const char *)text.data, text.len, 0);
    sdl_buf_done(&text);
}
