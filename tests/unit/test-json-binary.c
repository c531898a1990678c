/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/bytes.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mapping/json-binary.h"

#include "sdltest.h"

/* Decodes hex binary JSON under key "v" and returns the document as compact relaxed JSON
 * (static buffer), or NULL with @err set. */
static const char *
decode(const char *hex, const sdl_json_binary_options *opts, sdl_error *err)
{
    static char out[4096];
    size_t n;
    uint8_t *b = sdltest_hex(hex, &n);
    bson_t doc = BSON_INITIALIZER;
    sdl_buf json = SDL_BUF_INIT;
    const char *ret = NULL;

    if (sdl_json_binary_append(&doc, "v", 1, b, n, opts, err) &&
        sdl_doc_mapper_to_json(&doc, &json, err)) {
        (void)snprintf(out, sizeof(out), "%s", sdl_buf_cstr(&json));
        ret = out;
    } else {
        ASSERT_TRUE(bson_empty(&doc)); /* unchanged on failure */
    }
    sdl_buf_done(&json);
    bson_destroy(&doc);
    free(b);
    return ret;
}

static const char *
patched(const char *base_hex, const char *diff_hex, sdl_error *err)
{
    static char out[4096];
    size_t nb, nd;
    uint8_t *b = sdltest_hex(base_hex, &nb);
    uint8_t *d = sdltest_hex(diff_hex, &nd);
    bson_t doc = BSON_INITIALIZER;
    sdl_buf json = SDL_BUF_INIT;
    const char *ret = NULL;

    if (sdl_json_binary_append_patched(&doc, "v", 1, b, nb, d, nd, NULL, err) &&
        sdl_doc_mapper_to_json(&doc, &json, err)) {
        (void)snprintf(out, sizeof(out), "%s", sdl_buf_cstr(&json));
        ret = out;
    }
    sdl_buf_done(&json);
    bson_destroy(&doc);
    free(b);
    free(d);
    return ret;
}

#define ASSERT_JSONB(hex, want)                                                                    \
    do {                                                                                           \
        sdl_error e_ = SDL_ERROR_INIT;                                                             \
        const char *got_ = decode(hex, NULL, &e_);                                                 \
        if (!got_) {                                                                               \
            sdltest_fail(__FILE__, __LINE__, "decoding %s: %s", hex, e_.message);                  \
        }                                                                                          \
        ASSERT_STR_EQ(got_, "{\"v\":" want "}");                                                   \
    } while (0)

/* {"a":1,"bb":"x"} as MySQL stores it (small object, keys sorted by length) */
#define OBJ "00 0200 1700 1200 0100 1300 0200 050100 0c1500 61 6262 0178"
/* [1,"x",null] (small array) */
#define ARR "02 0300 0f00 050100 0c0d00 040000 0178"

TEST(json_binary_scalars)
{
    ASSERT_JSONB("0400", "null");
    ASSERT_JSONB("0401", "true");
    ASSERT_JSONB("0402", "false");
    ASSERT_JSONB("05feff", "-2");
    ASSERT_JSONB("06ffff", "65535");
    ASSERT_JSONB("07ffffff7f", "2147483647");
    ASSERT_JSONB("0700000080", "-2147483648");
    ASSERT_JSONB("0800000080", "2147483648"); /* int64 */
    ASSERT_JSONB("09ffffffffffffff7f", "9223372036854775807");
    ASSERT_JSONB("092a00000000000000", "42"); /* int64 that fits: int32, like JSON text */
    ASSERT_JSONB("0affffffffffffffff", "{\"$numberDecimal\":\"18446744073709551615\"}");
    ASSERT_JSONB("0b000000000000f83f", "1.5");
    ASSERT_JSONB("0c026869", "\"hi\"");
    ASSERT_JSONB("0c00", "\"\"");
    ASSERT_JSONB("", "null"); /* an empty value is JSON null (Field_json) */
}

TEST(json_binary_containers)
{
    ASSERT_JSONB(OBJ, "{\"a\":1,\"bb\":\"x\"}");
    ASSERT_JSONB(ARR, "[1,\"x\",null]");
    /* large array [-1] with an inlined int32 */
    ASSERT_JSONB("03 01000000 0d000000 07ffffffff", "[-1]");
    /* empty object and array */
    ASSERT_JSONB("00 0000 0400", "{}");
    ASSERT_JSONB("02 0000 0400", "[]");
    /* nested: {"a":[true]} */
    ASSERT_JSONB("00 0100 1300 0b00 0100 020c00 61 0100 0700 040100", "{\"a\":[true]}");
}

TEST(json_binary_opaque_values)
{
    /* DECIMAL(6,3) 123.456: precision, scale, bin2decimal bytes */
    ASSERT_JSONB("0f f6 06 0603 807b01c8", "{\"$numberDecimal\":\"123.456\"}");
    /* negative DECIMAL(4,2) -1.50: bits inverted */
    ASSERT_JSONB("0f f6 04 0402 7ecd", "{\"$numberDecimal\":\"-1.50\"}");
    ASSERT_JSONB("0f 0a 08 0000000000e48b19", "{\"$date\":\"2012-03-18T00:00:00Z\"}");
    ASSERT_JSONB("0f 0c 08 78e001adb7e48b19", "{\"$date\":\"2012-03-18T11:30:45.123Z\"}");
    ASSERT_JSONB("0f 0b 08 f1fb09ee77050000", "\"87:31:46.654321\"");
    ASSERT_JSONB("0f 0b 08 0000007defffffff", "\"-01:02:03.000000\"");
    ASSERT_JSONB("0f 0f 01 55", "\"base64:type15:VQ==\"");

    sdl_json_binary_options text = {0, true};
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_STR_EQ(decode("0f 0c 08 78e001adb7e48b19", &text, &err),
                  "{\"v\":\"2012-03-18 11:30:45.123000\"}");
    ASSERT_STR_EQ(decode("0f 0a 08 0000000000e48b19", &text, &err), "{\"v\":\"2012-03-18\"}");
}

TEST(json_binary_rejects_malformed)
{
    const char *bad[] = {
        "00",                               /* object header truncated */
        "00 0100 ff00",                     /* size beyond the buffer */
        "00 0200 0800 0400 0100",           /* entries do not fit the size */
        "02 0100 0700 0c6400",              /* value offset outside the container */
        "0c05 6869",                        /* string longer than the buffer */
        "0c 8080808080 00",                 /* variable length of more than 5 bytes */
        "0403",                             /* literal 3 */
        "0d00",                             /* unknown type */
        "05ff",                             /* int16 truncated */
        "0f f6 02 0400 00",                 /* DECIMAL of the wrong length */
        "0f 0a 04 00000000",                /* DATE not 8 bytes */
        "0c02 c328",                        /* invalid UTF-8 */
        "00 0100 0c00 0b00 0100 040100 00", /* key with a NUL */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sdl_error err = SDL_ERROR_INIT;
        if (decode(bad[i], NULL, &err)) {
            sdltest_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
        }
        ASSERT_TRUE(err.code == SDL_E_PROTOCOL);
    }
}

TEST(json_binary_depth_is_limited)
{
    /* 3 nested arrays [[[1]]] with max_depth 2 */
    const char *hex = "02 0100 1500 020700 0100 0e00 020700 0100 0700 050100";
    sdl_json_binary_options opts = {2, false};
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_JSONB(hex, "[[[1]]]");
    ASSERT_NULL(decode(hex, &opts, &err));
    ASSERT_STR_CONTAINS(err.message, "deeper than 2");
}

TEST(json_binary_partial_updates_apply_in_order)
{
    sdl_error err = SDL_ERROR_INIT;

    /* REPLACE $.a 5; INSERT $.c true; REMOVE $.bb */
    ASSERT_STR_EQ(
        patched(OBJ, "00 03 242e61 03 050500  01 03 242e63 02 0401  02 04 242e6262", &err),
        "{\"v\":{\"a\":5,\"c\":true}}");
    /* INSERT $[1] 7; REMOVE $[last]; REPLACE $[0] "y" */
    ASSERT_STR_EQ(patched(ARR,
                          "01 04 245b315d 03 050700  02 07 245b6c6173745d  "
                          "00 04 245b305d 03 0c0179",
                          &err),
                  "{\"v\":[\"y\",7,\"x\"]}");
    /* quoted member and [last-1] */
    ASSERT_STR_EQ(patched(OBJ, "00 06 242e22626222 02 0401", &err),
                  "{\"v\":{\"a\":1,\"bb\":true}}");
    ASSERT_STR_EQ(patched(ARR, "00 09 245b6c6173742d315d 02 0402", &err), "{\"v\":[1,false,null]}");
    /* REPLACE $ (the whole document) */
    ASSERT_STR_EQ(patched(OBJ, "00 01 24 03 050900", &err), "{\"v\":9}");
    /* the MySQL 8.0.22 fixture's diff: REPLACE $.age with int16 26 */
    ASSERT_STR_EQ(
        patched("00 0100 0e00 0b00 0300 051800 616765", "00 05 242e616765 03 051a00", &err),
        "{\"v\":{\"age\":26}}");
}

TEST(json_binary_partial_updates_that_do_not_apply_fail)
{
    const char *bad[] = {
        "00 04 242e7a7a 02 0401",     /* REPLACE $.zz: no such member */
        "01 03 242e61 02 0401",       /* INSERT $.a: exists */
        "02 04 242e7a7a",             /* REMOVE $.zz */
        "00 06 242e615b305d 02 0401", /* $.a[0] on a scalar */
        "03 03 242e61",               /* unknown operation */
        "00 03 2e2e61 02 0401",       /* path without $ */
        "00 09 242e61",               /* path truncated */
        "00 03 242e61 05 0401",       /* value truncated */
        "02 00",                      /* REMOVE $ */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sdl_error err = SDL_ERROR_INIT;
        if (patched(OBJ, bad[i], &err)) {
            sdltest_fail(__FILE__, __LINE__, "applied %s", bad[i]);
        }
        ASSERT_TRUE(err.code == SDL_E_PROTOCOL);
    }
}

TEST(json_diff_is_written_as_operations)
{
    size_t n;
    uint8_t *d = sdltest_hex("00 05 242e616765 03 051a00  02 04 242e6262", &n);
    bson_t doc = BSON_INITIALIZER;
    sdl_buf json = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_OK(sdl_json_diff_append(&doc, "d", 1, d, n, NULL, &err), &err);
    ASSERT_OK(sdl_doc_mapper_to_json(&doc, &json, &err), &err);
    ASSERT_STR_EQ(sdl_buf_cstr(&json),
                  "{\"d\":[{\"op\":\"replace\",\"path\":\"$.age\",\"value\":26},"
                  "{\"op\":\"remove\",\"path\":\"$.bb\"}]}");
    sdl_buf_done(&json);
    bson_destroy(&doc);
    free(d);
}
