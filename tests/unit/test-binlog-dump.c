/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/binlog-dump.h"

#include "sdltest.h"

/* Compares @buf with the hex bytes @hex. */
static void
check_bytes(const sdl_buf *buf, const char *hex, int line)
{
    size_t n;
    uint8_t *want = sdltest_hex(hex, &n);

    if (buf->len != n || memcmp(buf->data, want, n) != 0) {
        char got[1024];
        size_t o = 0;
        for (size_t i = 0; i < buf->len && o + 3 < sizeof(got); i++) {
            o += (size_t)snprintf(got + o, sizeof(got) - o, "%02x", buf->data[i]);
        }
        sdltest_fail(__FILE__, line, "packet %s (%zu bytes), want %s (%zu bytes)", got, buf->len,
                     hex, n);
    }
    free(want);
}

/* Vectors written from the protocol documentation of COM_BINLOG_DUMP_GTID (MySQL Internals
 * "COM_BINLOG_DUMP_GTID": flags 2, server-id 4, binlog-filename-len 4, binlog-filename,
 * binlog-pos 8, data-size 4 and data) and the Gtid_set encoding. The flags are what a MySQL
 * replica sends: never 0x04 (MYSQL_RPL_SKIP_TAGGED_GTIDS in 8.3+). */
TEST(binlog_dump_gtid_packet_untagged)
{
    sdl_gtid_set set = SDL_GTID_SET_INIT;
    sdl_buf out = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_OK(sdl_gtid_set_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18", &set, &err),
              &err);
    sdl_binlog_dump_gtid_packet(0, 4242, "", 4, &set, &out);
    check_bytes(&out,
                "0000"                             /* flags: none */
                "92100000"                         /* server_id 4242 */
                "00000000"                         /* no file name */
                "0400000000000000"                 /* position 4 */
                "40000000"                         /* 64 bytes of GTID set */
                "0100000000000000"                 /* one uuid */
                "3e11fa4771ca11e19e33c80aa9429562" /* uuid */
                "0200000000000000"                 /* two intervals */
                "0100000000000000"
                "0600000000000000" /* [1, 6) */
                "0b00000000000000"
                "1300000000000000", /* [11, 19) */
                __LINE__);
    sdl_buf_done(&out);
    sdl_gtid_set_done(&set);
}

TEST(binlog_dump_gtid_packet_tagged_non_blocking_with_file)
{
    sdl_gtid_set set = SDL_GTID_SET_INIT;
    sdl_buf out = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_OK(sdl_gtid_set_parse("55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2", &set, &err),
              &err);
    sdl_binlog_dump_gtid_packet(SDL_BINLOG_DUMP_NON_BLOCK, 7, "binlog.000002", 157, &set, &out);
    check_bytes(&out,
                "0100"     /* BINLOG_DUMP_NON_BLOCK */
                "07000000" /* server_id 7 */
                "0d000000"
                "62696e6c6f672e303030303032" /* "binlog.000002" */
                "9d00000000000000"           /* position 157 */
                "5f000000"                   /* 95 bytes */
                "0102000000000001"           /* tagged format, 2 tsids */
                "55778904029911f1b1b84ef0c4956feb"
                "00" /* untagged */
                "0100000000000000"
                "0100000000000000"
                "0e00000000000000"
                "55778904029911f1b1b84ef0c4956feb"
                "0a6d79746167" /* tag "mytag" */
                "0100000000000000"
                "0100000000000000"
                "0300000000000000",
                __LINE__);
    sdl_buf_done(&out);
    sdl_gtid_set_done(&set);
}

TEST(binlog_dump_gtid_packet_empty_set)
{
    sdl_gtid_set set = SDL_GTID_SET_INIT;
    sdl_buf out = SDL_BUF_INIT;

    sdl_binlog_dump_gtid_packet(0, 1, "", 4, &set, &out);
    check_bytes(&out, "0000 01000000 00000000 0400000000000000 08000000 0000000000000000",
                __LINE__);
    sdl_buf_done(&out);
}

TEST(binlog_dump_packet_mariadb)
{
    sdl_buf out = SDL_BUF_INIT;

    /* COM_BINLOG_DUMP: position 4, flags, server-id, file name (rest of the packet) */
    sdl_binlog_dump_packet(SDL_BINLOG_DUMP_NON_BLOCK, 4242, "", 4, &out);
    check_bytes(&out, "04000000 0100 92100000", __LINE__);
    sdl_buf_reset(&out);
    sdl_binlog_dump_packet(0, 1, "b.1", 0x01020304, &out);
    check_bytes(&out, "04030201 0000 01000000 622e31", __LINE__);
    sdl_buf_done(&out);
}
