/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include <zlib.h>

#include "sdl/mysql/crc32.h"

#include "sdltest.h"

static uint32_t
zlib_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    return (uint32_t)crc32(crc, p, (uInt)len);
}

TEST(crc32_check_value)
{
    /* The catalogue's check value of CRC-32/ISO-HDLC. */
    ASSERT_UINT_EQ(sdl_crc32(0, "123456789", 9), 0xCBF43926u);
    ASSERT_UINT_EQ(sdl_crc32_portable(0, "123456789", 9), 0xCBF43926u);
    ASSERT_UINT_EQ(sdl_crc32(0, "", 0), 0);
}

TEST(crc32_matches_zlib_at_every_length_and_alignment)
{
    enum { MAX = 1200 };
    uint8_t *buf = malloc(MAX + 16);
    uint32_t seed = 12345;

    for (size_t i = 0; i < MAX + 16; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    for (size_t off = 0; off < 16; off += 3) {
        for (size_t len = 0; len <= MAX; len++) {
            ASSERT_UINT_EQ(sdl_crc32(0, buf + off, len), zlib_crc(0, buf + off, len));
        }
    }
    /* Continuing a running CRC across calls of every split. */
    for (size_t split = 0; split <= 300; split += 7) {
        uint32_t c = sdl_crc32(0, buf, split);
        ASSERT_UINT_EQ(sdl_crc32(c, buf + split, 300 - split), zlib_crc(0, buf, 300));
    }
    free(buf);
}

TEST(crc32_large_buffer)
{
    size_t len = (size_t)8 << 20;
    uint8_t *buf = malloc(len);

    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 2654435761u >> 24);
    }
    ASSERT_UINT_EQ(sdl_crc32(0, buf, len), zlib_crc(0, buf, len));
    ASSERT_UINT_EQ(sdl_crc32_portable(0, buf, len), zlib_crc(0, buf, len));
    free(buf);
}
