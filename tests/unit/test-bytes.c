/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/bytes.h"

#include "sdltest.h"

TEST(buf_appends_and_terminates)
{
    sdl_buf b = SDL_BUF_INIT;

    for (int i = 0; i < 1000; i++) {
        sdl_buf_appendf(&b, "%d,", i % 10);
    }
    ASSERT_UINT_EQ(b.len, 2000);
    sdl_buf_reset(&b);
    sdl_buf_append_str(&b, "ab");
    sdl_buf_append_byte(&b, 'c');
    sdl_buf_append_u16le(&b, 0x6564);
    ASSERT_STR_EQ(sdl_buf_cstr(&b), "abcde");
    ASSERT_TRUE(sdl_bytes_equal_str(SDL_BYTES(b.data, b.len), "abcde"));
    ASSERT_FALSE(sdl_bytes_equal_str(SDL_BYTES(b.data, b.len), "abcd"));
    sdl_buf_done(&b);
}
