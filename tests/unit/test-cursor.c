/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "sdl/base/cursor.h"

#include "sdltest.h"

TEST(cursor_reads_little_and_big_endian)
{
    size_t len;
    uint8_t *b = sdltest_hex("01 02 03 04 05 06 07 08 09 0a 0b", &len);
    sdl_cursor c = sdl_cursor_make(SDL_BYTES(b, len));

    ASSERT_UINT_EQ(sdl_cursor_u8(&c), 1);
    ASSERT_UINT_EQ(sdl_cursor_u16(&c), 0x0302);
    ASSERT_UINT_EQ(sdl_cursor_uint_be(&c, 3), 0x040506);
    ASSERT_UINT_EQ(sdl_cursor_u32(&c), 0x0a090807);
    ASSERT_UINT_EQ(sdl_cursor_left(&c), 1);
    ASSERT_FALSE(c.failed);
    free(b);
}

TEST(cursor_failure_is_sticky_and_bounded)
{
    size_t len;
    uint8_t *b = sdltest_hex("01 02 03", &len);
    sdl_cursor c = sdl_cursor_make(SDL_BYTES(b, len));

    ASSERT_UINT_EQ(sdl_cursor_u32(&c), 0);
    ASSERT_TRUE(c.failed);
    ASSERT_UINT_EQ(sdl_cursor_u8(&c), 0);
    ASSERT_UINT_EQ(sdl_cursor_left(&c), 0);
    sdl_bytes v = sdl_cursor_bytes(&c, 1);
    ASSERT_NULL(v.ptr);
    free(b);
}

TEST(cursor_lenenc_forms)
{
    size_t len;
    uint8_t *b =
        sdltest_hex("fa fc 34 12 fd 56 34 12 fe 08 07 06 05 04 03 02 01 03 61 62 63", &len);
    sdl_cursor c = sdl_cursor_make(SDL_BYTES(b, len));

    ASSERT_UINT_EQ(sdl_cursor_lenenc(&c), 0xfa);
    ASSERT_UINT_EQ(sdl_cursor_lenenc(&c), 0x1234);
    ASSERT_UINT_EQ(sdl_cursor_lenenc(&c), 0x123456);
    ASSERT_UINT_EQ(sdl_cursor_lenenc(&c), 0x0102030405060708ull);
    sdl_bytes s = sdl_cursor_lenenc_bytes(&c);
    ASSERT_MEM_STR_EQ(s.ptr, s.len, "abc");
    ASSERT_FALSE(c.failed);
    free(b);
}

TEST(cursor_lenenc_rejects_null_marker_and_overlong_strings)
{
    size_t len;
    uint8_t *b = sdltest_hex("fb", &len);
    sdl_cursor c = sdl_cursor_make(SDL_BYTES(b, len));

    (void)sdl_cursor_lenenc(&c);
    ASSERT_TRUE(c.failed);
    free(b);
    b = sdltest_hex("05 61 62", &len);
    c = sdl_cursor_make(SDL_BYTES(b, len));
    (void)sdl_cursor_lenenc_bytes(&c);
    ASSERT_TRUE(c.failed);
    free(b);
}

/* Every width, at every alignment, as a byte loop reads it. */
TEST(cursor_integers_of_every_width_match_a_byte_loop)
{
    uint8_t buf[32];

    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(0x9d * (i + 1) ^ 0x5a);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 1; n <= 8; n++) {
            uint64_t le = 0, be = 0;
            for (size_t i = 0; i < n; i++) {
                le |= (uint64_t)buf[off + i] << (8 * i);
                be = be << 8 | buf[off + i];
            }
            sdl_cursor c = sdl_cursor_make(SDL_BYTES(buf + off, n));
            ASSERT_UINT_EQ(sdl_cursor_uint_le(&c, n), le);
            ASSERT_UINT_EQ(sdl_cursor_left(&c), 0);
            c = sdl_cursor_make(SDL_BYTES(buf + off, n));
            ASSERT_UINT_EQ(sdl_cursor_uint_be(&c, n), be);
            ASSERT_FALSE(c.failed);
            c = sdl_cursor_make(SDL_BYTES(buf + off, n - 1)); /* one byte short */
            ASSERT_UINT_EQ(sdl_cursor_uint_be(&c, n), 0);
            ASSERT_TRUE(c.failed);
        }
    }
}
