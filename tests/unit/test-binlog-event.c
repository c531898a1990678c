/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/mysql/binlog-event.h"

#include "sdltest.h"

/* Builds a raw event: 19-byte header for @type with @body_hex, plus a CRC32 when @crc. */
static sdl_bytes
build_event(sdl_buf *buf, uint8_t type, uint16_t flags, const char *body_hex, bool crc)
{
    size_t n;
    uint8_t *body = sdltest_hex(body_hex, &n);
    uint32_t size = (uint32_t)(19 + n + (crc ? 4 : 0));

    sdl_buf_reset(buf);
    sdl_buf_append_u32le(buf, 1700000000);
    sdl_buf_append_byte(buf, type);
    sdl_buf_append_u32le(buf, 7);
    sdl_buf_append_u32le(buf, size);
    sdl_buf_append_u32le(buf, 4242);
    sdl_buf_append_u16le(buf, flags);
    sdl_buf_append(buf, body, n);
    if (crc) {
        sdl_buf_append_u32le(buf, (uint32_t)crc32(0, buf->data, (uInt)buf->len));
    }
    free(body);
    return SDL_BYTES(buf->data, buf->len);
}

static void
mariadb_fmt(sdl_binlog_format *fmt)
{
    sdl_binlog_format_init(fmt, SDL_BINLOG_FLAVOR_MARIADB, SDL_BINLOG_CHECKSUM_CRC32);
}

/* The first event of a real MariaDB 10.11 binlog file. */
static char *
real_fde(sdl_bytes *ret)
{
    size_t len;
    char *data = sdltest_read_file(sdltest_data_path("events/mariadb-10.11-types.binlog"), &len);
    uint32_t size = (uint8_t)data[4 + 9] | (uint32_t)(uint8_t)data[4 + 10] << 8;

    *ret = SDL_BYTES(data + 4, size);
    return data;
}

TEST(binlog_header_parse_and_bounds)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_event_header h;
    sdl_buf b = SDL_BUF_INIT;
    sdl_bytes raw = build_event(&b, SDL_BINLOG_XID_EVENT, 0x0008, "2a00000000000000", true);

    ASSERT_OK(sdl_binlog_event_header_parse(raw, &h, &err), &err);
    ASSERT_UINT_EQ(h.timestamp, 1700000000);
    ASSERT_UINT_EQ(h.type, 16);
    ASSERT_UINT_EQ(h.server_id, 7);
    ASSERT_UINT_EQ(h.event_size, 31);
    ASSERT_UINT_EQ(h.log_pos, 4242);
    ASSERT_UINT_EQ(h.flags, 8);
    ASSERT_FALSE(sdl_binlog_event_header_parse(SDL_BYTES(raw.ptr, 18), &h, &err));
    ASSERT_STR_CONTAINS(err.message, "event header truncated");
    b.data[9] = 5; /* event_size 5 */
    b.data[10] = 0;
    ASSERT_FALSE(sdl_binlog_event_header_parse(raw, &h, &err));
    ASSERT_STR_CONTAINS(err.message, "smaller than its header");
    sdl_buf_done(&b);
}

TEST(binlog_real_fde_and_checksum)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_bytes raw;
    char *data = real_fde(&raw);
    uint8_t *copy;

    ASSERT_OK(sdl_binlog_format_parse(raw, &fmt, &err), &err);
    ASSERT_INT_EQ(fmt.flavor, SDL_BINLOG_FLAVOR_MARIADB);
    ASSERT_STR_CONTAINS(fmt.server_version, "10.11");
    ASSERT_UINT_EQ(fmt.version[0], 10);
    ASSERT_UINT_EQ(fmt.version[1], 11);
    ASSERT_INT_EQ(fmt.checksum, SDL_BINLOG_CHECKSUM_CRC32);
    ASSERT_UINT_EQ(fmt.common_header_len, 19);
    ASSERT_UINT_EQ(sdl_binlog_format_post_header_len(&fmt, SDL_BINLOG_QUERY_EVENT), 13);
    ASSERT_UINT_EQ(sdl_binlog_format_post_header_len(&fmt, SDL_BINLOG_TABLE_MAP_EVENT), 8);
    ASSERT_UINT_EQ(sdl_binlog_format_post_header_len(&fmt, SDL_BINLOG_GTID_EVENT), 19);
    ASSERT_UINT_EQ(sdl_binlog_format_post_header_len(&fmt, SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT),
                   10);
    ASSERT_OK(sdl_binlog_event_open(&fmt, raw, true, &ev, &err), &err);
    ASSERT_UINT_EQ(ev.body.len, raw.len - 19 - 4);
    /* A flipped bit anywhere fails the FDE's own checksum. */
    copy = malloc(raw.len);
    memcpy(copy, raw.ptr, raw.len);
    copy[30] ^= 1;
    ASSERT_FALSE(sdl_binlog_format_parse(SDL_BYTES(copy, raw.len), &fmt, &err));
    ASSERT_STR_CONTAINS(err.message, "checksum mismatch");
    free(copy);
    free(data);
}

TEST(binlog_event_open_checksum)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_bytes raw;
    uint64_t xid;

    mariadb_fmt(&fmt);
    raw = build_event(&b, SDL_BINLOG_XID_EVENT, 0, "2a00000000000000", true);
    ASSERT_OK(sdl_binlog_event_open(&fmt, raw, true, &ev, &err), &err);
    ASSERT_UINT_EQ(ev.body.len, 8);
    ASSERT_OK(sdl_binlog_event_parse_xid(&fmt, &ev, &xid, &err), &err);
    ASSERT_UINT_EQ(xid, 42);
    b.data[20] ^= 0x40;
    ASSERT_FALSE(sdl_binlog_event_open(&fmt, raw, true, &ev, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_CONTAINS(err.message, "XID_EVENT (log_pos 4242): checksum mismatch");
    ASSERT_OK(sdl_binlog_event_open(&fmt, raw, false, &ev, &err), &err); /* trusted transport */
    ASSERT_FALSE(sdl_binlog_event_open(&fmt, SDL_BYTES(raw.ptr, raw.len - 1), true, &ev, &err));
    ASSERT_STR_CONTAINS(err.message, "event size 31 but 30 bytes given");
    /* Without checksums the body is everything after the header. */
    fmt.checksum = SDL_BINLOG_CHECKSUM_OFF;
    raw = build_event(&b, SDL_BINLOG_XID_EVENT, 0, "0100000000000000", false);
    ASSERT_OK(sdl_binlog_event_open(&fmt, raw, true, &ev, &err), &err);
    ASSERT_UINT_EQ(ev.body.len, 8);
    ASSERT_OK(sdl_binlog_event_parse_xid(&fmt, &ev, &xid, &err), &err);
    ASSERT_UINT_EQ(xid, 1);
    sdl_buf_done(&b);
}

TEST(binlog_unknown_events)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_event_header h = {.type = 200, .flags = 0, .log_pos = 99};

    ASSERT_STR_EQ(sdl_binlog_event_type_name(200), "UNKNOWN");
    ASSERT_STR_EQ(sdl_binlog_event_type_name(162), "GTID_EVENT");
    ASSERT_FALSE(sdl_binlog_event_check_known(&h, &err));
    ASSERT_INT_EQ(err.code, SDL_E_UNSUPPORTED);
    ASSERT_STR_CONTAINS(err.message, "unknown binlog event type 200");
    h.flags = SDL_BINLOG_F_IGNORABLE;
    ASSERT_OK(sdl_binlog_event_check_known(&h, &err), &err);
    h.type = SDL_BINLOG_MYSQL_GTID_EVENT;
    h.flags = 0;
    ASSERT_OK(sdl_binlog_event_check_known(&h, &err), &err);
}

TEST(binlog_rotate_checkpoint_heartbeat_annotate)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_binlog_rotate r;
    sdl_bytes s;

    mariadb_fmt(&fmt);
    ASSERT_OK(
        sdl_binlog_event_open(&fmt,
                              build_event(&b, SDL_BINLOG_ROTATE_EVENT, 0x20,
                                          "0400000000000000 62696e6c6f672e303030303032", true),
                              true, &ev, &err),
        &err);
    ASSERT_OK(sdl_binlog_event_parse_rotate(&fmt, &ev, &r, &err), &err);
    ASSERT_UINT_EQ(r.position, 4);
    ASSERT_MEM_STR_EQ(r.filename.ptr, r.filename.len, "binlog.000002");
    ASSERT_OK(sdl_binlog_event_open(&fmt, build_event(&b, SDL_BINLOG_ROTATE_EVENT, 0, "0400", true),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_rotate(&fmt, &ev, &r, &err));
    ASSERT_STR_CONTAINS(err.message, "shorter than its post-header");

    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_BINLOG_CHECKPOINT_EVENT, 0,
                                                "0d000000 62696e6c6f672e303030303031", true),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_checkpoint(&fmt, &ev, &s, &err), &err);
    ASSERT_MEM_STR_EQ(s.ptr, s.len, "binlog.000001");
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt, build_event(&b, SDL_BINLOG_BINLOG_CHECKPOINT_EVENT, 0, "ff000000 62", true),
                  true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_checkpoint(&fmt, &ev, &s, &err));

    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_HEARTBEAT_EVENT, 0,
                                                "62696e6c6f672e303030303031", true),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_heartbeat(&fmt, &ev, &s, &err), &err);
    ASSERT_MEM_STR_EQ(s.ptr, s.len, "binlog.000001");

    ASSERT_OK(sdl_binlog_event_open(
                  &fmt, build_event(&b, SDL_BINLOG_ANNOTATE_ROWS_EVENT, 0, "494e5345525420", true),
                  true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_annotate(&fmt, &ev, &s, &err), &err);
    ASSERT_MEM_STR_EQ(s.ptr, s.len, "INSERT ");
    sdl_buf_done(&b);
}

TEST(binlog_gtid_events)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_binlog_gtid g;
    sdl_binlog_gtid_list l;
    uint32_t d, s;
    uint64_t seq;

    mariadb_fmt(&fmt);
    /* DDL: seq 1, domain 0, flags 0x29, padding (from the real binlog) */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_GTID_EVENT, 8,
                                                "0100000000000000 00000000 29 000000000000", true),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_gtid(&fmt, &ev, &g, &err), &err);
    ASSERT_UINT_EQ(g.seq, 1);
    ASSERT_UINT_EQ(g.domain, 0);
    ASSERT_UINT_EQ(g.flags, SDL_GTID_FL_STANDALONE | SDL_GTID_FL_ALLOW_PARALLEL | SDL_GTID_FL_DDL);
    ASSERT_FALSE(g.has_xid);
    /* group commit id + XA + flags_extra with COMMIT ALTER */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_GTID_EVENT, 8,
                                                "0500000000000000 03000000 46 0900000000000000 "
                                                "01000000 02 01 6162 63 04 0700000000000000",
                                                true),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_gtid(&fmt, &ev, &g, &err), &err);
    ASSERT_UINT_EQ(g.seq, 5);
    ASSERT_UINT_EQ(g.domain, 3);
    ASSERT_UINT_EQ(g.commit_id, 9);
    ASSERT_TRUE(g.has_xid);
    ASSERT_MEM_STR_EQ(g.xa_gtrid.ptr, g.xa_gtrid.len, "ab");
    ASSERT_MEM_STR_EQ(g.xa_bqual.ptr, g.xa_bqual.len, "c");
    ASSERT_UINT_EQ(g.flags_extra, SDL_GTID_FL_COMMIT_ALTER);
    ASSERT_UINT_EQ(g.sa_seq, 7);
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_GTID_EVENT, 8,
                                                "0500000000000000 03000000 02 0900", true),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_gtid(&fmt, &ev, &g, &err));

    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_GTID_LIST_EVENT, 0,
                                                "02000000 00000000 01000000 1600000000000000 "
                                                "01000000 07000000 0900000000000000",
                                                true),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_gtid_list(&fmt, &ev, &l, &err), &err);
    ASSERT_UINT_EQ(l.count, 2);
    sdl_binlog_gtid_list_at(&l, 1, &d, &s, &seq);
    ASSERT_UINT_EQ(d, 1);
    ASSERT_UINT_EQ(s, 7);
    ASSERT_UINT_EQ(seq, 9);
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt, build_event(&b, SDL_BINLOG_GTID_LIST_EVENT, 0, "03000000 00000000", true),
                  true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_gtid_list(&fmt, &ev, &l, &err));
    sdl_buf_done(&b);
}

TEST(binlog_query_events)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_binlog_query q;
    sdl_arena a;
    char hex[600];
    uint8_t comp[128];
    uLongf clen = sizeof(comp);
    const char *stmt = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200))";
    size_t off;

    sdl_arena_init(&a, 0);
    mariadb_fmt(&fmt);
    /* The real "CREATE DATABASE t" event: thread 11, status vars flags2, sql_mode, catalog,
     * charset, then db "t". */
    fmt.checksum = SDL_BINLOG_CHECKSUM_OFF;
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt,
                  build_event(&b, SDL_BINLOG_QUERY_EVENT, 8,
                              "0b000000000000000100001a0000000000010100000000000000000603737464"
                              "042d002d002d00 74 00 4352454154452044415441424153452074",
                              false),
                  true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_query(&fmt, &ev, &a, &q, &err), &err);
    ASSERT_UINT_EQ(q.thread_id, 11);
    ASSERT_MEM_STR_EQ(q.db.ptr, q.db.len, "t");
    ASSERT_TRUE(q.flags2_set);
    ASSERT_TRUE(q.sql_mode_set);
    ASSERT_TRUE(q.catalog_set);
    ASSERT_MEM_STR_EQ(q.catalog.ptr, q.catalog.len, "std");
    ASSERT_TRUE(q.charset_set);
    ASSERT_UINT_EQ(q.charset_client, 45);
    ASSERT_FALSE(q.status_vars_truncated);
    ASSERT_MEM_STR_EQ(q.statement.ptr, q.statement.len, "CREATE DATABASE t");

    /* QUERY_COMPRESSED: header 0x81, 1 length byte, zlib */
    ASSERT_TRUE(compress(comp, &clen, (const Bytef *)stmt, strlen(stmt)) == Z_OK);
    off = (size_t)snprintf(hex, sizeof(hex), "01000000 00000000 01 0000 0000 74 00 81 %02zx ",
                           strlen(stmt));
    for (uLongf i = 0; i < clen; i++) {
        off += (size_t)snprintf(hex + off, sizeof(hex) - off, "%02x", comp[i]);
    }
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt, build_event(&b, SDL_BINLOG_QUERY_COMPRESSED_EVENT, 0, hex, false), true,
                  &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_query(&fmt, &ev, &a, &q, &err), &err);
    ASSERT_MEM_STR_EQ(q.statement.ptr, q.statement.len, stmt);
    /* corrupt the zlib stream */
    b.data[b.len - 3] ^= 0xff;
    ASSERT_OK(sdl_binlog_event_open(&fmt, SDL_BYTES(b.data, b.len), true, &ev, &err), &err);
    ASSERT_FALSE(sdl_binlog_event_parse_query(&fmt, &ev, &a, &q, &err));
    ASSERT_STR_CONTAINS(err.message, "QUERY_COMPRESSED_EVENT statement: zlib inflate failed");
    /* db length past the end */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_QUERY_EVENT, 0,
                                                "01000000 00000000 40 0000 0000 74 00", false),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_query(&fmt, &ev, &a, &q, &err));
    sdl_arena_done(&a);
    sdl_buf_done(&b);
}

TEST(binlog_table_map_with_optional_metadata)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_arena a;
    sdl_table *t;

    sdl_arena_init(&a, 0);
    mariadb_fmt(&fmt);
    fmt.checksum = SDL_BINLOG_CHECKSUM_OFF;
    /* table_id 0x21, db "d", table "t", 6 columns:
     *   INT, VARCHAR(40) meta 28 00, STRING(ENUM) f7 01, STRING(SET) f8 01,
     *   STRING CHAR(100) utf8mb4 = 400 bytes -> byte0 0xfe ^ 0x10 = 0xee, 0x90, BLOB meta 02
     * null bitmap 0x3e (all but col 0), optional metadata:
     *   1 SIGNEDNESS (1 numeric col) 80 -> unsigned
     *   2 DEFAULT_CHARSET: default 45, exception char-col #2 (BLOB) -> 63
     *   4 COLUMN_NAME: id, v, e, s, c, b
     *   5 SET_STR_VALUE: 2 members x y; 6 ENUM_STR_VALUE: 1 member a
     *   10 ENUM_AND_SET_DEFAULT_CHARSET: 8 (latin1)
     *   8 SIMPLE_PRIMARY_KEY: 0
     *   99 unknown: skipped */
    ASSERT_OK(
        sdl_binlog_event_open(&fmt,
                              build_event(&b, SDL_BINLOG_TABLE_MAP_EVENT, 0,
                                          "210000000000 0100 01 64 00 01 74 00 06 03 0f fe fe fe fc"
                                          " 09 2800 f701 f801 ee90 02 3e"
                                          " 01 01 80"
                                          " 02 03 2d 02 3f"
                                          " 04 0d 02 6964 01 76 01 65 01 73 01 63 01 62"
                                          " 05 05 02 01 78 01 79"
                                          " 06 03 01 01 e9"
                                          " 0a 01 08"
                                          " 08 01 00"
                                          " 63 02 aabb",
                                          false),
                              true, &ev, &err),
        &err);
    ASSERT_OK(sdl_binlog_event_parse_table_map(&fmt, &ev, &a, &t, &err), &err);
    ASSERT_UINT_EQ(t->table_id, 0x21);
    ASSERT_STR_EQ(t->db, "d");
    ASSERT_STR_EQ(t->name, "t");
    ASSERT_UINT_EQ(t->ncols, 6);
    ASSERT_TRUE(t->names_from_metadata);
    ASSERT_STR_EQ(t->cols[0].name, "id");
    ASSERT_TRUE(t->cols[0].is_unsigned);
    ASSERT_FALSE(t->cols[0].is_nullable);
    ASSERT_TRUE(t->cols[0].is_pk);
    ASSERT_UINT_EQ(t->npk, 1);
    ASSERT_UINT_EQ(t->pk[0], 0);
    ASSERT_UINT_EQ(t->cols[1].meta, 40);
    ASSERT_UINT_EQ(t->cols[1].charset, 45);
    ASSERT_TRUE(t->cols[1].is_nullable);
    ASSERT_UINT_EQ(t->cols[2].type, SDL_MYSQL_TYPE_ENUM);
    ASSERT_UINT_EQ(t->cols[2].meta, 1);
    ASSERT_UINT_EQ(t->cols[2].nvalues, 1);
    ASSERT_STR_EQ(t->cols[2].values[0], "é"); /* converted from latin1 */
    ASSERT_UINT_EQ(t->cols[3].type, SDL_MYSQL_TYPE_SET);
    ASSERT_UINT_EQ(t->cols[3].nvalues, 2);
    ASSERT_STR_EQ(t->cols[3].values[1], "y");
    ASSERT_UINT_EQ(t->cols[4].type, SDL_MYSQL_TYPE_STRING);
    ASSERT_UINT_EQ(t->cols[4].meta, 400);
    ASSERT_UINT_EQ(t->cols[4].charset, 45);
    ASSERT_UINT_EQ(t->cols[5].charset, 63);
    ASSERT_UINT_EQ(t->cols[5].meta, 2);

    /* Metadata bytes left over, an unknown type, bad DEFAULT_CHARSET index, bad decimal. */
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt,
                  build_event(&b, SDL_BINLOG_TABLE_MAP_EVENT, 0,
                              "210000000000 0100 01 64 00 01 74 00 01 03 01 00 00", false),
                  true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_table_map(&fmt, &ev, &a, &t, &err));
    ASSERT_STR_CONTAINS(err.message, "1 bytes of type metadata left over");
    ASSERT_OK(
        sdl_binlog_event_open(&fmt,
                              build_event(&b, SDL_BINLOG_TABLE_MAP_EVENT, 0,
                                          "210000000000 0100 01 64 00 01 74 00 01 63 00 00", false),
                              true, &ev, &err),
        &err);
    ASSERT_FALSE(sdl_binlog_event_parse_table_map(&fmt, &ev, &a, &t, &err));
    ASSERT_INT_EQ(err.code, SDL_E_UNSUPPORTED);
    ASSERT_STR_CONTAINS(err.message, "'d.t' column #0 (type 99): unknown column type 99");
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_TABLE_MAP_EVENT, 0,
                                                "210000000000 0100 01 64 00 01 74 00 01 0f 02 1000"
                                                " 00 02 02 2d 05 08",
                                                false),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_table_map(&fmt, &ev, &a, &t, &err));
    ASSERT_STR_CONTAINS(err.message, "DEFAULT_CHARSET");
    ASSERT_OK(sdl_binlog_event_open(
                  &fmt,
                  build_event(&b, SDL_BINLOG_TABLE_MAP_EVENT, 0,
                              "210000000000 0100 01 64 00 01 74 00 01 f6 02 4200 00", false),
                  true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_table_map(&fmt, &ev, &a, &t, &err));
    ASSERT_STR_CONTAINS(err.message, "DECIMAL(66,0) out of range");
    sdl_arena_done(&a);
    sdl_buf_done(&b);
}

TEST(binlog_rows_header)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_buf b = SDL_BUF_INIT;
    sdl_arena a;
    sdl_binlog_rows r;

    sdl_arena_init(&a, 0);
    mariadb_fmt(&fmt);
    fmt.checksum = SDL_BINLOG_CHECKSUM_OFF;
    /* UPDATE v1: table 0x21, STMT_END, 3 columns, bitmaps 07 and 02, rows */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_UPDATE_ROWS_EVENT_V1, 0,
                                                "210000000000 0100 03 07 02 aabbcc", false),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_rows(&fmt, &ev, &a, &r, &err), &err);
    ASSERT_INT_EQ(r.op, SDL_ROW_UPDATE);
    ASSERT_UINT_EQ(r.table_id, 0x21);
    ASSERT_UINT_EQ(r.flags, SDL_ROWS_F_STMT_END);
    ASSERT_UINT_EQ(r.ncols, 3);
    ASSERT_UINT_EQ(r.present.ptr[0], 7);
    ASSERT_UINT_EQ(r.present_after.ptr[0], 2);
    ASSERT_UINT_EQ(r.rows.len, 3);
    /* WRITE v2 with 3 bytes of extra info */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_WRITE_ROWS_EVENT, 0,
                                                "210000000000 0000 0500 010203 02 03 0011", false),
                                    true, &ev, &err),
              &err);
    ASSERT_OK(sdl_binlog_event_parse_rows(&fmt, &ev, &a, &r, &err), &err);
    ASSERT_INT_EQ(r.op, SDL_ROW_INSERT);
    ASSERT_UINT_EQ(r.extra_info.len, 3);
    ASSERT_UINT_EQ(r.ncols, 2);
    ASSERT_UINT_EQ(r.rows.len, 2);
    /* DELETE v1 truncated in the bitmap */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_DELETE_ROWS_EVENT_V1, 0,
                                                "210000000000 0000 11 ff", false),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_rows(&fmt, &ev, &a, &r, &err));
    ASSERT_STR_CONTAINS(err.message, "truncated column bitmaps");
    /* compressed rows with a bad header byte */
    ASSERT_OK(sdl_binlog_event_open(&fmt,
                                    build_event(&b, SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT_V1, 0,
                                                "210000000000 0000 01 01 00 01", false),
                                    true, &ev, &err),
              &err);
    ASSERT_FALSE(sdl_binlog_event_parse_rows(&fmt, &ev, &a, &r, &err));
    ASSERT_STR_CONTAINS(err.message, "bad compressed-record header byte 0x00");
    sdl_arena_done(&a);
    sdl_buf_done(&b);
}
