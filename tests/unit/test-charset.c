/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/mysql/charset.h"

#include "sdltest.h"

static const char *
conv(sdl_arena *a, uint32_t coll, const char *in, size_t len)
{
    static char buf[600];
    sdl_error err = SDL_ERROR_INIT;
    const sdl_charset *cs = sdl_charset_by_collation(coll);
    sdl_bytes out;

    if (!cs) {
        return "no charset";
    }
    if (!sdl_charset_to_utf8(cs, SDL_BYTES(in, len), a, &out, &err)) {
        snprintf(buf, sizeof(buf), "ERROR %s", err.message);
        return buf;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)out.len, (const char *)out.ptr);
    return buf;
}

TEST(charset_collation_table)
{
    ASSERT_STR_EQ(sdl_charset_by_collation(8)->name, "latin1");
    ASSERT_STR_EQ(sdl_charset_by_collation(33)->name, "utf8mb3");
    ASSERT_STR_EQ(sdl_charset_by_collation(45)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(46)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(63)->name, "binary");
    ASSERT_STR_EQ(sdl_charset_by_collation(224)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(255)->name, "utf8mb4");  /* MySQL 0900 */
    ASSERT_STR_EQ(sdl_charset_by_collation(2048)->name, "utf8mb3"); /* uca1400 */
    ASSERT_STR_EQ(sdl_charset_by_collation(2304)->name, "utf8mb4");
    ASSERT_INT_EQ(sdl_charset_by_collation(4)->mbmaxlen, 1);
    ASSERT_INT_EQ(sdl_charset_by_collation(45)->mbmaxlen, 4);
    ASSERT_NULL(sdl_charset_by_collation(0));
    ASSERT_NULL(sdl_charset_by_collation(17));
    ASSERT_NULL(sdl_charset_by_collation(60000));
}

TEST(charset_latin1_is_cp1252)
{
    sdl_arena a;
    sdl_arena_init(&a, 0);
    ASSERT_STR_EQ(conv(&a, 8, "\x80", 1), "€");
    ASSERT_STR_EQ(conv(&a, 8, "caf\xe9", 4), "café");
    ASSERT_STR_EQ(conv(&a, 8, "\x81\x9f\xff", 3), "\xc2\x81\xc5\xb8\xc3\xbf");
    ASSERT_STR_EQ(conv(&a, 5, "\x99", 1), "™");
    sdl_arena_done(&a);
}

TEST(charset_utf8_validation)
{
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"plain ascii text here", 21, false));
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4, true));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4, false));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xc0\xaf", 2, true));     /* overlong */
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, true)); /* surrogate */
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, true));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"abcdefgh\xe2\x82", 10, true));
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"abcdefgh\xe2\x82\xac", 11, true));
}

TEST(charset_iconv_and_errors)
{
    sdl_arena a;
    sdl_arena_init(&a, 0);
    ASSERT_STR_EQ(conv(&a, 51, "\xcf\xf0\xe8", 3), "При");    /* cp1251 */
    ASSERT_STR_EQ(conv(&a, 25, "\xe1\xe2", 2), "αβ");         /* greek */
    ASSERT_STR_EQ(conv(&a, 13, "\xb1", 1), "ｱ");              /* sjis half-width */
    ASSERT_STR_EQ(conv(&a, 35, "\x00\x41\x20\xac", 4), "A€"); /* ucs2 */
    ASSERT_STR_EQ(conv(&a, 11, "abc", 3), "abc");             /* ascii */
    ASSERT_STR_CONTAINS(conv(&a, 11, "ab\x80", 3), "invalid ascii text at byte 2");
    ASSERT_STR_CONTAINS(conv(&a, 45, "\xff", 1), "invalid utf8mb4 text");
    ASSERT_STR_CONTAINS(conv(&a, 3, "a", 1), "charset 'dec8' has no converter");
    ASSERT_STR_CONTAINS(conv(&a, 19, "\xb0", 1), "invalid euckr text at byte 0");
    ASSERT_STR_EQ(conv(&a, 63, "\x00\xff", 2), ""); /* binary copied (starts NUL) */
    sdl_arena_done(&a);
}
