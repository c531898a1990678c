/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"

#include "sdltest.h"

static const char *
write_file(const char *name, const void *data, size_t len)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    FILE *f;

    (void)snprintf(p, 512, "%s/%s", sdltest_tmpdir(), name);
    f = fopen(p, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_UINT_EQ(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

/* A 19-byte header of an event of @size bytes, type 2, followed by zeros. */
static size_t
put_event(uint8_t *p, uint8_t type, uint32_t size)
{
    memset(p, 0, size);
    p[4] = type;
    p[9] = (uint8_t)size;
    p[10] = (uint8_t)(size >> 8);
    return size;
}

TEST(binlog_file_frames_events_across_files)
{
    uint8_t a[4 + 30 + 19], b[4 + 25];
    size_t n = 4;
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_file *f = NULL;
    sdl_bytes ev;
    bool new_file, eof;

    memcpy(a,
           "\xfe"
           "bin",
           4);
    n += put_event(a + n, 15, 30);
    n += put_event(a + n, 2, 19);
    const char *pa = write_file("binlog.000001", a, n);
    memcpy(b,
           "\xfe"
           "bin",
           4);
    put_event(b + 4, 15, 25);
    const char *pb = write_file("binlog.000002", b, sizeof(b));
    const char *paths[] = {pa, pb};

    ASSERT_OK(sdl_binlog_file_open(paths, 2, &f, &err), &err);
    ASSERT_OK(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err), &err);
    ASSERT_FALSE(eof);
    ASSERT_TRUE(new_file);
    ASSERT_UINT_EQ(ev.len, 30);
    ASSERT_UINT_EQ(sdl_binlog_file_offset(f), 4);
    ASSERT_STR_EQ(sdl_binlog_file_name(f), "binlog.000001");
    ASSERT_OK(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err), &err);
    ASSERT_FALSE(new_file);
    ASSERT_UINT_EQ(sdl_binlog_file_offset(f), 34);
    ASSERT_UINT_EQ(sdl_binlog_file_next_offset(f), 53);
    ASSERT_OK(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err), &err);
    ASSERT_TRUE(new_file);
    ASSERT_STR_EQ(sdl_binlog_file_name(f), "binlog.000002");
    ASSERT_UINT_EQ(ev.len, 25);
    ASSERT_OK(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err), &err);
    ASSERT_TRUE(eof);
    ASSERT_UINT_EQ(sdl_binlog_file_events(f), 3);
    f = sdl_binlog_file_free(f);
}

TEST(binlog_file_reports_damage_with_file_and_offset)
{
    uint8_t buf[4 + 30 + 19];
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_file *f = NULL;
    sdl_bytes ev;
    bool new_file, eof;

    memcpy(buf,
           "\xfe"
           "bin",
           4);
    put_event(buf + 4, 15, 30);
    put_event(buf + 34, 2, 19);
    struct {
        size_t len;    /* bytes of buf written */
        uint32_t size; /* event_size of the second event */
        const char *msg;
    } cases[] = {
        {34 + 7, 19, "is truncated: event header at offset 34 has 7 of 19 bytes"},
        {34 + 19, 60,
         "is truncated: event at offset 34 (type 2) needs 60 bytes, the file ends "
         "after 19"},
        {34 + 19, 5, "is corrupt: event at offset 34 (type 2) has size 5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf[34 + 9] = (uint8_t)cases[i].size;
        const char *p = write_file("bad.000001", buf, cases[i].len);
        ASSERT_OK(sdl_binlog_file_open(&p, 1, &f, &err), &err);
        ASSERT_OK(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err), &err);
        ASSERT_FALSE(sdl_binlog_file_next(f, &ev, &new_file, &eof, &err));
        ASSERT_STR_CONTAINS(err.message, cases[i].msg);
        ASSERT_STR_CONTAINS(err.message, p);
        f = sdl_binlog_file_free(f);
    }

    const char *p = write_file("bad.000002", "GIF89a", 6);
    ASSERT_FALSE(sdl_binlog_file_open(&p, 1, &f, &err));
    ASSERT_STR_CONTAINS(err.message, "is not a binlog file: bad magic at offset 0");
    p = "/nonexistent/binlog.000001";
    ASSERT_FALSE(sdl_binlog_file_open(&p, 1, &f, &err));
    ASSERT_INT_EQ(err.code, SDL_E_IO);
}

/* The payload of rust_mysql_common/transaction_compression.000001 (MySQL 8.0.32) streams out
 * as QUERY, TABLE_MAP, WRITE_ROWS, XID. */
TEST(binlog_payload_streams_the_fixture)
{
    size_t len;
    char *data = sdltest_read_file(
        sdltest_data_path("mysql-binlog/rust_mysql_common/transaction_compression.000001"), &len);
    const uint8_t *p = (const uint8_t *)data + 4;
    const uint8_t *end = (const uint8_t *)data + len;
    sdl_binlog_format fmt;
    sdl_error err = SDL_ERROR_INIT;
    sdl_payload_reader *r = sdl_payload_reader_new();
    int found = 0;

    while (p + 19 <= end) {
        uint32_t size = (uint32_t)p[9] | (uint32_t)p[10] << 8 | (uint32_t)p[11] << 16;
        if (p[4] == 15) {
            ASSERT_OK(sdl_binlog_format_parse(SDL_BYTES(p, size), &fmt, &err), &err);
        } else if (p[4] == 40) {
            sdl_binlog_event ev;
            sdl_binlog_payload pl;
            static const uint8_t want[] = {2, 19, 30, 16};
            size_t k = 0;
            bool done = false;
            ASSERT_OK(sdl_binlog_event_open(&fmt, SDL_BYTES(p, size), true, &ev, &err), &err);
            ASSERT_OK(sdl_binlog_event_parse_payload(&fmt, &ev, &pl, &err), &err);
            ASSERT_UINT_EQ(pl.compression, SDL_PAYLOAD_COMPRESSION_ZSTD);
            ASSERT_UINT_EQ(pl.uncompressed_size, 179);
            ASSERT_OK(sdl_payload_reader_start(r, &pl, &err), &err);
            for (;;) {
                sdl_bytes inner;
                ASSERT_OK(sdl_payload_reader_next(r, &inner, &done, &err), &err);
                if (done) {
                    break;
                }
                ASSERT_TRUE(k < 4);
                ASSERT_UINT_EQ(inner.ptr[4], want[k++]);
            }
            ASSERT_UINT_EQ(k, 4);
            found++;
        }
        p += size;
    }
    ASSERT_INT_EQ(found, 1);
    r = sdl_payload_reader_free(r);
    free(data);
}
