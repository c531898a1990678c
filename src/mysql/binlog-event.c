/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "sdl/base/cursor.h"
#include "sdl/mysql/charset.h"
#include "sdl/mysql/crc32.h"

/* Upper bound on columns: MySQL and MariaDB allow at most 4096 per table. */
#define MAX_COLUMNS 4096

/* Largest inflated payload we accept (MariaDB's max_allowed_packet upper bound is 1 GiB). */
#define MAX_UNCOMPRESSED (1024u * 1024u * 1024u)

/* ---- header, format, checksum ---------------------------------------------------------- */

bool
sdl_binlog_event_header_parse(sdl_bytes raw, sdl_binlog_event_header *ret_hdr, sdl_error *err)
{
    sdl_cursor c = sdl_cursor_make(raw);
    sdl_binlog_event_header h;

    /* MariaDB log_event.h: timestamp 4, type 1, server_id 4, event_size 4, log_pos 4, flags 2. */
    h.timestamp = sdl_cursor_u32(&c);
    h.type = sdl_cursor_u8(&c);
    h.server_id = sdl_cursor_u32(&c);
    h.event_size = sdl_cursor_u32(&c);
    h.log_pos = sdl_cursor_u32(&c);
    h.flags = sdl_cursor_u16(&c);
    if (c.failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "event header truncated: %zu of %d bytes", raw.len,
                      SDL_BINLOG_HEADER_LEN);
        return false;
    }
    if (h.event_size < SDL_BINLOG_HEADER_LEN) {
        sdl_error_set(err, SDL_E_PROTOCOL, "event size %" PRIu32 " smaller than its header",
                      h.event_size);
        return false;
    }
    *ret_hdr = h;
    return true;
}

/* MariaDB 10.11's FDE post-header lengths (sql/log_event.cc Format_description_log_event),
 * as the server writes them; MySQL 8.0 values differ only for types MariaDB does not write. */
static void
set_default_post_headers(sdl_binlog_format *fmt)
{
    static const struct {
        uint8_t type;
        uint8_t len;
    } defs[] = {
        {SDL_BINLOG_START_EVENT_V3, 56},
        {SDL_BINLOG_QUERY_EVENT, 13},
        {SDL_BINLOG_ROTATE_EVENT, 8},
        {SDL_BINLOG_FORMAT_DESCRIPTION_EVENT, 84},
        {SDL_BINLOG_TABLE_MAP_EVENT, 8},
        {SDL_BINLOG_WRITE_ROWS_EVENT_V1, 8},
        {SDL_BINLOG_UPDATE_ROWS_EVENT_V1, 8},
        {SDL_BINLOG_DELETE_ROWS_EVENT_V1, 8},
        {SDL_BINLOG_INCIDENT_EVENT, 2},
        {SDL_BINLOG_WRITE_ROWS_EVENT, 10},
        {SDL_BINLOG_UPDATE_ROWS_EVENT, 10},
        {SDL_BINLOG_DELETE_ROWS_EVENT, 10},
        {SDL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT, 10},
        {SDL_BINLOG_MYSQL_GTID_EVENT, 42},
        {SDL_BINLOG_MYSQL_ANONYMOUS_GTID_EVENT, 42},
        {SDL_BINLOG_BINLOG_CHECKPOINT_EVENT, 4},
        {SDL_BINLOG_GTID_EVENT, 19},
        {SDL_BINLOG_GTID_LIST_EVENT, 4},
        {SDL_BINLOG_QUERY_COMPRESSED_EVENT, 13},
        {SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT_V1, 8},
        {SDL_BINLOG_UPDATE_ROWS_COMPRESSED_EVENT_V1, 8},
        {SDL_BINLOG_DELETE_ROWS_COMPRESSED_EVENT_V1, 8},
        {SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT, 10},
        {SDL_BINLOG_UPDATE_ROWS_COMPRESSED_EVENT, 10},
        {SDL_BINLOG_DELETE_ROWS_COMPRESSED_EVENT, 10},
    };

    memset(fmt->post_header_len, 0, sizeof(fmt->post_header_len));
    for (size_t i = 0; i < SDL_ARRAY_SIZE(defs); i++) {
        fmt->post_header_len[defs[i].type] = defs[i].len;
    }
    fmt->n_post_header = 0;
}

void
sdl_binlog_format_init(sdl_binlog_format *fmt, sdl_binlog_flavor flavor,
                       sdl_binlog_checksum checksum)
{
    memset(fmt, 0, sizeof(*fmt));
    fmt->binlog_version = 4;
    fmt->flavor = flavor;
    fmt->common_header_len = SDL_BINLOG_HEADER_LEN;
    fmt->checksum = checksum;
    set_default_post_headers(fmt);
}

uint8_t
sdl_binlog_format_post_header_len(const sdl_binlog_format *fmt, uint8_t type)
{
    return fmt->post_header_len[type];
}

uint32_t
sdl_binlog_crc32(sdl_bytes data)
{
    return sdl_crc32(0, data.ptr, data.len);
}

static void
parse_version(const char *s, uint8_t ret[3])
{
    unsigned part = 0;

    ret[0] = ret[1] = ret[2] = 0;
    for (; *s && part < 3; s++) {
        if (*s >= '0' && *s <= '9') {
            unsigned v = (unsigned)ret[part] * 10u + (unsigned)(*s - '0');
            ret[part] = (uint8_t)SDL_MIN(v, 255u);
        } else if (*s == '.') {
            part++;
        } else {
            break;
        }
    }
}

/* The checksum-alg byte exists from MySQL 5.6.1 and MariaDB 5.3 on
 * (MariaDB log_event.cc checksum_version_split_mysql / _mariadb). */
static bool
has_checksum_alg(const sdl_binlog_format *fmt)
{
    const uint8_t *v = fmt->version;
    uint32_t n = (uint32_t)v[0] << 16 | (uint32_t)v[1] << 8 | v[2];

    if (fmt->flavor == SDL_BINLOG_FLAVOR_MARIADB) {
        return n >= (5u << 16 | 3u << 8 | 0u);
    }
    return n >= (5u << 16 | 6u << 8 | 1u);
}

bool
sdl_binlog_format_parse(sdl_bytes raw, sdl_binlog_format *ret_fmt, sdl_error *err)
{
    sdl_binlog_event_header hdr;
    sdl_binlog_format fmt;
    sdl_cursor c;
    size_t arr_len;

    if (!sdl_binlog_event_header_parse(raw, &hdr, err)) {
        goto fail;
    }
    if (hdr.type != SDL_BINLOG_FORMAT_DESCRIPTION_EVENT) {
        sdl_error_set(err, SDL_E_PROTOCOL, "expected FORMAT_DESCRIPTION_EVENT, got type %u",
                      hdr.type);
        goto fail;
    }
    if (hdr.event_size != raw.len) {
        sdl_error_set(err, SDL_E_PROTOCOL, "event size %" PRIu32 " but %zu bytes given",
                      hdr.event_size, raw.len);
        goto fail;
    }
    memset(&fmt, 0, sizeof(fmt));
    c = sdl_cursor_make(
        SDL_BYTES(raw.ptr + SDL_BINLOG_HEADER_LEN, raw.len - SDL_BINLOG_HEADER_LEN));
    /* MariaDB log_event.h: binlog_version 2, server_version 50, create_timestamp 4,
     * header_length 1, post-header lengths (one per type), [checksum alg 1, crc 4]. */
    fmt.binlog_version = sdl_cursor_u16(&c);
    sdl_cursor_copy(&c, fmt.server_version, 50);
    fmt.server_version[50] = '\0';
    fmt.create_timestamp = sdl_cursor_u32(&c);
    fmt.common_header_len = sdl_cursor_u8(&c);
    if (c.failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "FORMAT_DESCRIPTION_EVENT truncated (%zu bytes)",
                      raw.len);
        goto fail;
    }
    if (fmt.binlog_version != 4) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "binlog version %u (only v4 is supported)",
                      fmt.binlog_version);
        goto fail;
    }
    if (fmt.common_header_len < SDL_BINLOG_HEADER_LEN) {
        sdl_error_set(err, SDL_E_PROTOCOL, "common header length %u < 19", fmt.common_header_len);
        goto fail;
    }
    fmt.flavor =
        strstr(fmt.server_version, "MariaDB") ? SDL_BINLOG_FLAVOR_MARIADB : SDL_BINLOG_FLAVOR_MYSQL;
    parse_version(fmt.server_version, fmt.version);
    arr_len = sdl_cursor_left(&c);
    fmt.checksum = SDL_BINLOG_CHECKSUM_OFF;
    if (has_checksum_alg(&fmt)) {
        uint8_t alg;

        if (arr_len < 1 + SDL_BINLOG_CHECKSUM_LEN) {
            sdl_error_set(err, SDL_E_PROTOCOL, "FORMAT_DESCRIPTION_EVENT lacks its checksum alg");
            goto fail;
        }
        arr_len -= 1 + SDL_BINLOG_CHECKSUM_LEN;
        alg = c.ptr[arr_len];
        if (alg == SDL_BINLOG_CHECKSUM_CRC32) {
            /* The server computes the FDE's checksum with LOG_EVENT_BINLOG_IN_USE_F clear and
             * sets the flag in the file afterwards (MySQL Log_event_footer::
             * event_checksum_test clears it before verifying). */
            uint8_t flags_lo = (uint8_t)(raw.ptr[17] & ~SDL_BINLOG_F_BINLOG_IN_USE);
            uLong c32 = crc32(0L, Z_NULL, 0);
            c32 = crc32(c32, raw.ptr, 17);
            c32 = crc32(c32, &flags_lo, 1);
            c32 = crc32(c32, raw.ptr + 18, (uInt)(raw.len - 18 - SDL_BINLOG_CHECKSUM_LEN));
            uint32_t want = (uint32_t)c32;
            const uint8_t *p = raw.ptr + raw.len - SDL_BINLOG_CHECKSUM_LEN;
            uint32_t got =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            if (want != got) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "FORMAT_DESCRIPTION_EVENT checksum mismatch: stored 0x%08" PRIx32
                              ", computed 0x%08" PRIx32,
                              got, want);
                goto fail;
            }
            fmt.checksum = SDL_BINLOG_CHECKSUM_CRC32;
        } else if (alg == SDL_BINLOG_CHECKSUM_OFF || alg == SDL_BINLOG_CHECKSUM_UNDEF) {
            fmt.checksum = (sdl_binlog_checksum)alg;
        } else {
            sdl_error_set(err, SDL_E_UNSUPPORTED, "binlog checksum algorithm %u", alg);
            goto fail;
        }
    }
    if (arr_len > 255) {
        sdl_error_set(err, SDL_E_PROTOCOL, "FORMAT_DESCRIPTION_EVENT lists %zu event types",
                      arr_len);
        goto fail;
    }
    fmt.n_post_header = (uint16_t)arr_len;
    for (size_t i = 0; i < arr_len; i++) {
        fmt.post_header_len[i + 1] = c.ptr[i];
    }
    *ret_fmt = fmt;
    return true;
fail:
    sdl_error_prefix(err, "parsing FORMAT_DESCRIPTION_EVENT");
    return false;
}

bool
sdl_binlog_event_open(const sdl_binlog_format *fmt, sdl_bytes raw, bool verify,
                      sdl_binlog_event *ret_event, sdl_error *err)
{
    sdl_binlog_event ev;
    bool has_crc;

    if (!sdl_binlog_event_header_parse(raw, &ev.header, err)) {
        return false;
    }
    if (ev.header.event_size != raw.len) {
        sdl_error_set(err, SDL_E_PROTOCOL, "%s: event size %" PRIu32 " but %zu bytes given",
                      sdl_binlog_event_type_name(ev.header.type), ev.header.event_size, raw.len);
        return false;
    }
    if (ev.header.type == SDL_BINLOG_FORMAT_DESCRIPTION_EVENT) {
        sdl_binlog_format own;

        /* An FDE describes its own checksum; parsing it verifies the CRC. */
        if (!sdl_binlog_format_parse(raw, &own, err)) {
            return false;
        }
        has_crc = own.checksum == SDL_BINLOG_CHECKSUM_CRC32;
        verify = false;
    } else {
        has_crc = fmt->checksum == SDL_BINLOG_CHECKSUM_CRC32;
    }
    if (has_crc) {
        if (raw.len < SDL_BINLOG_HEADER_LEN + SDL_BINLOG_CHECKSUM_LEN) {
            sdl_error_set(err, SDL_E_PROTOCOL, "%s: event of %zu bytes cannot hold a checksum",
                          sdl_binlog_event_type_name(ev.header.type), raw.len);
            return false;
        }
        if (verify) {
            const uint8_t *p = raw.ptr + raw.len - SDL_BINLOG_CHECKSUM_LEN;
            uint32_t got =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            uint32_t want = sdl_binlog_crc32(SDL_BYTES(raw.ptr, raw.len - SDL_BINLOG_CHECKSUM_LEN));
            if (got != want) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "%s (log_pos %" PRIu32 "): checksum mismatch: stored 0x%08" PRIx32
                              ", computed 0x%08" PRIx32,
                              sdl_binlog_event_type_name(ev.header.type), ev.header.log_pos, got,
                              want);
                return false;
            }
        }
        raw.len -= SDL_BINLOG_CHECKSUM_LEN;
    }
    ev.body = SDL_BYTES(raw.ptr + SDL_BINLOG_HEADER_LEN, raw.len - SDL_BINLOG_HEADER_LEN);
    *ret_event = ev;
    return true;
}

const char *
sdl_binlog_event_type_name(uint8_t type)
{
    switch (type) {
#define NAME(t)                                                                                    \
    case SDL_BINLOG_##t:                                                                           \
        return #t;
        NAME(START_EVENT_V3)
        NAME(QUERY_EVENT)
        NAME(STOP_EVENT)
        NAME(ROTATE_EVENT)
        NAME(INTVAR_EVENT)
        NAME(RAND_EVENT)
        NAME(USER_VAR_EVENT)
        NAME(FORMAT_DESCRIPTION_EVENT)
        NAME(XID_EVENT)
        NAME(TABLE_MAP_EVENT)
        NAME(WRITE_ROWS_EVENT_V1)
        NAME(UPDATE_ROWS_EVENT_V1)
        NAME(DELETE_ROWS_EVENT_V1)
        NAME(INCIDENT_EVENT)
        NAME(HEARTBEAT_EVENT)
        NAME(IGNORABLE_EVENT)
        NAME(ROWS_QUERY_EVENT)
        NAME(WRITE_ROWS_EVENT)
        NAME(UPDATE_ROWS_EVENT)
        NAME(DELETE_ROWS_EVENT)
        NAME(MYSQL_GTID_EVENT)
        NAME(MYSQL_ANONYMOUS_GTID_EVENT)
        NAME(MYSQL_PREVIOUS_GTIDS_EVENT)
        NAME(MYSQL_TRANSACTION_CONTEXT_EVENT)
        NAME(MYSQL_VIEW_CHANGE_EVENT)
        NAME(APPEND_BLOCK_EVENT)
        NAME(BEGIN_LOAD_QUERY_EVENT)
        NAME(EXECUTE_LOAD_QUERY_EVENT)
        NAME(XA_PREPARE_EVENT)
        NAME(PARTIAL_UPDATE_ROWS_EVENT)
        NAME(TRANSACTION_PAYLOAD_EVENT)
        NAME(HEARTBEAT_EVENT_V2)
        NAME(MYSQL_GTID_TAGGED_EVENT)
        NAME(ANNOTATE_ROWS_EVENT)
        NAME(BINLOG_CHECKPOINT_EVENT)
        NAME(GTID_EVENT)
        NAME(GTID_LIST_EVENT)
        NAME(START_ENCRYPTION_EVENT)
        NAME(QUERY_COMPRESSED_EVENT)
        NAME(WRITE_ROWS_COMPRESSED_EVENT_V1)
        NAME(UPDATE_ROWS_COMPRESSED_EVENT_V1)
        NAME(DELETE_ROWS_COMPRESSED_EVENT_V1)
        NAME(WRITE_ROWS_COMPRESSED_EVENT)
        NAME(UPDATE_ROWS_COMPRESSED_EVENT)
        NAME(DELETE_ROWS_COMPRESSED_EVENT)
#undef NAME
    default:
        return "UNKNOWN";
    }
}

bool
sdl_binlog_event_type_known(uint8_t type)
{
    return strcmp(sdl_binlog_event_type_name(type), "UNKNOWN") != 0;
}

bool
sdl_binlog_event_check_known(const sdl_binlog_event_header *hdr, sdl_error *err)
{
    if (sdl_binlog_event_type_known(hdr->type) || (hdr->flags & SDL_BINLOG_F_IGNORABLE)) {
        return true;
    }
    sdl_error_set(err, SDL_E_UNSUPPORTED,
                  "unknown binlog event type %u at log_pos %" PRIu32
                  " without LOG_EVENT_IGNORABLE_F (flags 0x%04x)",
                  hdr->type, hdr->log_pos, hdr->flags);
    return false;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* Splits the body into post-header and payload, checking the FDE's post-header length. */
static bool
split_body(const sdl_binlog_format *fmt, const sdl_binlog_event *ev, size_t min_post,
           sdl_cursor *ret_post, sdl_cursor *ret_payload, sdl_error *err)
{
    size_t post = fmt->post_header_len[ev->header.type];

    if (post < min_post) {
        sdl_error_set(err, SDL_E_PROTOCOL, "%s: post-header length %zu < %zu",
                      sdl_binlog_event_type_name(ev->header.type), post, min_post);
        return false;
    }
    if (ev->body.len < post) {
        sdl_error_set(err, SDL_E_PROTOCOL, "%s: body of %zu bytes shorter than its post-header",
                      sdl_binlog_event_type_name(ev->header.type), ev->body.len);
        return false;
    }
    *ret_post = sdl_cursor_make(SDL_BYTES(ev->body.ptr, post));
    *ret_payload = sdl_cursor_make(SDL_BYTES(ev->body.ptr + post, ev->body.len - post));
    return true;
}

static bool
truncated(const sdl_binlog_event *ev, const char *what, sdl_error *err)
{
    sdl_error_set(err, SDL_E_PROTOCOL, "%s: truncated %s",
                  sdl_binlog_event_type_name(ev->header.type), what);
    return false;
}

/* ---- simple events ---------------------------------------------------------------------- */

bool
sdl_binlog_event_parse_rotate(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                              sdl_binlog_rotate *ret, sdl_error *err)
{
    sdl_cursor post, pay;
    sdl_binlog_rotate r;

    /* MariaDB log_event.h Rotate_log_event: position 8 (post-header), new log ident. */
    if (!split_body(fmt, ev, 8, &post, &pay, err)) {
        return false;
    }
    r.position = sdl_cursor_u64(&post);
    r.filename = sdl_cursor_rest(&pay);
    if (post.failed || pay.failed) {
        return truncated(ev, "body", err);
    }
    *ret = r;
    return true;
}

bool
sdl_binlog_uncompress(sdl_bytes in, sdl_arena *arena, sdl_bytes *ret_out, sdl_error *err)
{
    uint8_t hdr, lenlen;
    uint32_t len = 0;
    uLongf out_len;
    uint8_t *out;
    int rc;

    /* MariaDB log_event.cc binlog_buf_compress(): dst[0] = 0x80 | lenlen (bits 4-6: algorithm,
     * 0 = zlib), then lenlen bytes of the original length, big-endian, then zlib compress(). */
    if (in.len < 1) {
        sdl_error_set(err, SDL_E_PROTOCOL, "compressed payload is empty");
        return false;
    }
    hdr = in.ptr[0];
    lenlen = hdr & 0x07;
    if ((hdr & 0x80) == 0 || (hdr & 0x70) != 0 || lenlen < 1 || lenlen > 4) {
        sdl_error_set(err, SDL_E_PROTOCOL, "bad compressed-record header byte 0x%02x", hdr);
        return false;
    }
    if (in.len < 1u + lenlen) {
        sdl_error_set(err, SDL_E_PROTOCOL, "compressed payload truncated");
        return false;
    }
    for (uint8_t i = 0; i < lenlen; i++) {
        len = len << 8 | in.ptr[1 + i];
    }
    if (len > MAX_UNCOMPRESSED) {
        sdl_error_set(err, SDL_E_PROTOCOL, "compressed payload claims %" PRIu32 " bytes", len);
        return false;
    }
    out = sdl_arena_alloc(arena, len ? len : 1);
    out_len = len;
    rc = uncompress(out, &out_len, in.ptr + 1 + lenlen, (uLong)(in.len - 1 - lenlen));
    if (rc != Z_OK || out_len != len) {
        sdl_error_set(err, SDL_E_PROTOCOL, "zlib inflate failed (rc %d, %lu of %" PRIu32 " bytes)",
                      rc, (unsigned long)out_len, len);
        return false;
    }
    *ret_out = SDL_BYTES(out, len);
    return true;
}

/* Status variables of a QUERY event (MariaDB log_event.cc Query_log_event ctor). Variables
 * have no generic length, so an unknown code stops the walk (as the server does). */
static void
parse_status_vars(sdl_bytes raw, sdl_binlog_query *q)
{
    sdl_cursor c = sdl_cursor_make(raw);

    while (sdl_cursor_left(&c) > 0 && !c.failed) {
        uint8_t code = sdl_cursor_u8(&c);

        switch (code) {
        case 0: /* Q_FLAGS2_CODE */
            q->flags2 = sdl_cursor_u32(&c);
            q->flags2_set = !c.failed;
            break;
        case 1: /* Q_SQL_MODE_CODE */
            q->sql_mode = sdl_cursor_u64(&c);
            q->sql_mode_set = !c.failed;
            break;
        case 2: /* Q_CATALOG_CODE (old): len, name, NUL */
            q->catalog = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
            sdl_cursor_skip(&c, 1);
            q->catalog_set = !c.failed;
            break;
        case 3: /* Q_AUTO_INCREMENT: increment 2, offset 2 */
            sdl_cursor_skip(&c, 4);
            break;
        case 4: /* Q_CHARSET_CODE */
            q->charset_client = sdl_cursor_u16(&c);
            q->collation_connection = sdl_cursor_u16(&c);
            q->collation_server = sdl_cursor_u16(&c);
            q->charset_set = !c.failed;
            break;
        case 5: /* Q_TIME_ZONE_CODE */
            q->time_zone = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
            q->time_zone_set = !c.failed;
            break;
        case 6: /* Q_CATALOG_NZ_CODE */
            q->catalog = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
            q->catalog_set = !c.failed;
            break;
        case 7: /* Q_LC_TIME_NAMES_CODE */
            sdl_cursor_skip(&c, 2);
            break;
        case 8: /* Q_CHARSET_DATABASE_CODE */
            q->collation_database = sdl_cursor_u16(&c);
            q->charset_database_set = !c.failed;
            break;
        case 9: /* Q_TABLE_MAP_FOR_UPDATE_CODE */
            sdl_cursor_skip(&c, 8);
            break;
        case 10: /* Q_MASTER_DATA_WRITTEN_CODE */
            sdl_cursor_skip(&c, 4);
            break;
        case 11: /* Q_INVOKER: user len+str, host len+str */
            sdl_cursor_skip(&c, sdl_cursor_u8(&c));
            sdl_cursor_skip(&c, sdl_cursor_u8(&c));
            break;
        case 12: { /* Q_UPDATED_DB_NAMES: count, NUL-terminated names (254 = too many) */
            uint8_t n = sdl_cursor_u8(&c);
            if (n != 254) {
                for (uint8_t i = 0; i < n && !c.failed; i++) {
                    const uint8_t *nul = memchr(c.ptr, 0, sdl_cursor_left(&c));
                    if (!nul) {
                        sdl_cursor_fail(&c);
                        break;
                    }
                    sdl_cursor_skip(&c, (size_t)(nul - c.ptr) + 1);
                }
            }
            break;
        }
        case 13: /* Q_MICROSECONDS */
            sdl_cursor_skip(&c, 3);
            break;
        case 16: /* Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP (MySQL) */
            sdl_cursor_skip(&c, 1);
            break;
        case 17: /* Q_DDL_LOGGED_WITH_XID (MySQL) */
            q->xid = sdl_cursor_u64(&c);
            q->xid_set = !c.failed;
            break;
        case 18: /* Q_DEFAULT_COLLATION_FOR_UTF8MB4 (MySQL) */
            sdl_cursor_skip(&c, 2);
            break;
        case 19: /* Q_SQL_REQUIRE_PRIMARY_KEY (MySQL) */
        case 20: /* Q_DEFAULT_TABLE_ENCRYPTION (MySQL) */
            sdl_cursor_skip(&c, 1);
            break;
        case 128: /* Q_HRNOW (MariaDB): 3-byte microseconds */
            sdl_cursor_skip(&c, 3);
            break;
        case 129: /* Q_XID (MariaDB) */
            q->xid = sdl_cursor_u64(&c);
            q->xid_set = !c.failed;
            break;
        case 130: /* Q_GTID_FLAGS3 (MariaDB 10.6+) */
            sdl_cursor_skip(&c, 1);
            break;
        default:
            q->status_vars_truncated = true;
            return;
        }
    }
    if (c.failed) {
        q->status_vars_truncated = true;
    }
}

bool
sdl_binlog_event_parse_query(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                             sdl_arena *arena, sdl_binlog_query *ret, sdl_error *err)
{
    sdl_cursor post, pay;
    sdl_binlog_query q;
    uint8_t db_len;
    uint16_t sv_len;

    memset(&q, 0, sizeof(q));
    /* MariaDB log_event.h Query_log_event: thread_id 4, exec_time 4, db_len 1, error_code 2,
     * status_vars_len 2 (post-header); status vars, db, NUL, statement. */
    if (!split_body(fmt, ev, 13, &post, &pay, err)) {
        return false;
    }
    q.thread_id = sdl_cursor_u32(&post);
    q.exec_time_sec = sdl_cursor_u32(&post);
    db_len = sdl_cursor_u8(&post);
    q.error_code = sdl_cursor_u16(&post);
    sv_len = sdl_cursor_u16(&post);
    q.status_vars = sdl_cursor_bytes(&pay, sv_len);
    q.db = sdl_cursor_bytes(&pay, db_len);
    if (sdl_cursor_u8(&pay) != 0 && !pay.failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "%s: database name not NUL-terminated",
                      sdl_binlog_event_type_name(ev->header.type));
        return false;
    }
    q.statement = sdl_cursor_rest(&pay);
    if (post.failed || pay.failed) {
        return truncated(ev, "body", err);
    }
    parse_status_vars(q.status_vars, &q);
    if (ev->header.type == SDL_BINLOG_QUERY_COMPRESSED_EVENT) {
        if (!sdl_binlog_uncompress(q.statement, arena, &q.statement, err)) {
            sdl_error_prefix(err, "QUERY_COMPRESSED_EVENT statement");
            return false;
        }
    }
    *ret = q;
    return true;
}

bool
sdl_binlog_event_parse_xid(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                           uint64_t *ret_xid, sdl_error *err)
{
    sdl_cursor post, pay;
    uint64_t xid;

    if (!split_body(fmt, ev, 0, &post, &pay, err)) {
        return false;
    }
    xid = sdl_cursor_u64(&pay);
    if (pay.failed) {
        return truncated(ev, "xid", err);
    }
    *ret_xid = xid;
    return true;
}

bool
sdl_binlog_event_parse_gtid(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                            sdl_binlog_gtid *ret, sdl_error *err)
{
    sdl_cursor c = sdl_cursor_make(ev->body);
    sdl_binlog_gtid g;

    (void)fmt;
    memset(&g, 0, sizeof(g));
    /* MariaDB log_event.cc Gtid_log_event ctor: seq 8, domain 4, flags2 1; commit_id 8 when
     * FL_GROUP_COMMIT_ID; XID (formatID 4, gtrid_len 1, bqual_len 1, data) when XA; then, if
     * bytes remain, flags_extra 1 [extra_engines 1] [sa_seq_no 8]. Without commit id the
     * 19-byte post-header is zero-padded, and the padding reads as flags_extra 0. */
    if (ev->body.len < 19) {
        return truncated(ev, "post-header", err);
    }
    g.seq = sdl_cursor_u64(&c);
    g.domain = sdl_cursor_u32(&c);
    g.flags = sdl_cursor_u8(&c);
    if (g.flags & SDL_GTID_FL_GROUP_COMMIT_ID) {
        g.commit_id = sdl_cursor_u64(&c);
    }
    if (g.flags & (SDL_GTID_FL_PREPARED_XA | SDL_GTID_FL_COMPLETED_XA)) {
        uint8_t gl, bl;

        g.has_xid = true;
        g.xa_format_id = sdl_cursor_u32(&c);
        gl = sdl_cursor_u8(&c);
        bl = sdl_cursor_u8(&c);
        if (gl > 64 || bl > 64) {
            sdl_error_set(err, SDL_E_PROTOCOL, "GTID_EVENT: XA id lengths %u/%u exceed 64", gl, bl);
            return false;
        }
        g.xa_gtrid = sdl_cursor_bytes(&c, gl);
        g.xa_bqual = sdl_cursor_bytes(&c, bl);
    }
    if (!c.failed && sdl_cursor_left(&c) > 0) {
        g.flags_extra = sdl_cursor_u8(&c);
        if (g.flags_extra & SDL_GTID_FL_EXTRA_MULTI_ENGINE) {
            g.extra_engines = sdl_cursor_u8(&c);
        }
        if (g.flags_extra & (SDL_GTID_FL_COMMIT_ALTER | SDL_GTID_FL_ROLLBACK_ALTER)) {
            g.sa_seq = sdl_cursor_u64(&c);
        }
    }
    if (c.failed) {
        return truncated(ev, "body", err);
    }
    *ret = g;
    return true;
}

bool
sdl_binlog_event_parse_gtid_list(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                 sdl_binlog_gtid_list *ret, sdl_error *err)
{
    sdl_cursor c = sdl_cursor_make(ev->body);
    sdl_binlog_gtid_list l;
    uint32_t word;

    (void)fmt;
    /* MariaDB log_event.h Gtid_list_log_event: count 4 (low 28 bits; flags in the top 4),
     * then count * (domain 4, server 4, seq 8). */
    word = sdl_cursor_u32(&c);
    l.count = word & 0x0fffffffu;
    l.flags = (uint8_t)(word >> 28);
    if (c.failed || (uint64_t)l.count * 16u > sdl_cursor_left(&c)) {
        return truncated(ev, "GTID list", err);
    }
    l.raw = sdl_cursor_bytes(&c, (size_t)l.count * 16u);
    *ret = l;
    return true;
}

void
sdl_binlog_gtid_list_at(const sdl_binlog_gtid_list *list, uint32_t i, uint32_t *ret_domain,
                        uint32_t *ret_server, uint64_t *ret_seq)
{
    sdl_cursor c = sdl_cursor_make(SDL_BYTES(list->raw.ptr + (size_t)i * 16u, 16));

    *ret_domain = sdl_cursor_u32(&c);
    *ret_server = sdl_cursor_u32(&c);
    *ret_seq = sdl_cursor_u64(&c);
}

bool
sdl_binlog_event_parse_checkpoint(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                  sdl_bytes *ret_filename, sdl_error *err)
{
    sdl_cursor post, pay;
    uint32_t len;
    sdl_bytes name;

    /* MariaDB log_event.h Binlog_checkpoint_log_event: binlog_file_len 4, then the name. */
    if (!split_body(fmt, ev, 4, &post, &pay, err)) {
        return false;
    }
    len = sdl_cursor_u32(&post);
    name = sdl_cursor_bytes(&pay, len);
    if (post.failed || pay.failed) {
        return truncated(ev, "file name", err);
    }
    *ret_filename = name;
    return true;
}

bool
sdl_binlog_event_parse_annotate(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                sdl_bytes *ret_statement, sdl_error *err)
{
    sdl_cursor post, pay;

    if (!split_body(fmt, ev, 0, &post, &pay, err)) {
        return false;
    }
    if (ev->header.type == SDL_BINLOG_ROWS_QUERY_EVENT) {
        /* MySQL Rows_query_log_event: a 1-byte length (truncated at 255), then the text. */
        sdl_cursor_skip(&pay, 1);
        if (pay.failed) {
            return truncated(ev, "statement", err);
        }
    }
    *ret_statement = sdl_cursor_rest(&pay);
    return true;
}

bool
sdl_binlog_event_parse_heartbeat(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                 sdl_bytes *ret_filename, sdl_error *err)
{
    sdl_cursor post, pay;

    /* MariaDB Heartbeat_log_event: the log ident is the whole payload. */
    if (!split_body(fmt, ev, 0, &post, &pay, err)) {
        return false;
    }
    *ret_filename = sdl_cursor_rest(&pay);
    return true;
}

/* ---- MySQL GTIDs -------------------------------------------------------------------------- */

/* Zig-zag signed varlen of the serialization library (read_varlen_bytes_signed). */
static bool
read_varlen_signed(const uint8_t **p, const uint8_t *end, int64_t *ret)
{
    uint64_t u;

    if (!sdl_varlen_uint_read(p, end, &u)) {
        return false;
    }
    *ret = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
    return true;
}

/*
 * GTID_TAGGED_LOG_EVENT (MySQL 8.4+, libs/mysql/binlog/event/control_events.h Gtid_event,
 * encoded with libs/mysql/serialization): version byte (2), payload size (varlen, counting
 * the whole event data), last non-ignorable field id (varlen), then (field id, value) pairs:
 * 0 flags, 1 sid (16 varlens), 2 gno (signed), 3 tag (varlen length + bytes), 4
 * last_committed (signed), 5 sequence_number (signed), 6 immediate commit ts, 7 original
 * commit ts, 8 transaction length, 9 immediate server version, 10 original server version,
 * 11 commit group ticket. An unknown field above the last non-ignorable id ends parsing.
 */
static bool
parse_tagged_gtid(const sdl_binlog_event *ev, sdl_binlog_mysql_gtid *g, sdl_error *err)
{
    const uint8_t *p = ev->body.ptr;
    const uint8_t *end = ev->body.ptr + ev->body.len;
    uint64_t size, lnif, v = 0;
    int64_t sv = 0;
    bool have_sid = false, have_gno = false, have_tag = false;

    if (ev->body.len < 1 || p[0] != 2) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "GTID_TAGGED_LOG_EVENT: serialization version %u",
                      ev->body.len ? p[0] : 0u);
        return false;
    }
    p++;
    if (!sdl_varlen_uint_read(&p, end, &size) || !sdl_varlen_uint_read(&p, end, &lnif) ||
        size < (uint64_t)(p - ev->body.ptr) || size > ev->body.len) {
        return truncated(ev, "serialization header", err);
    }
    end = ev->body.ptr + size;
    while (p < end) {
        uint64_t fid;
        if (!sdl_varlen_uint_read(&p, end, &fid)) {
            return truncated(ev, "field id", err);
        }
        bool ok = true;
        switch (fid) {
        case 0:
            ok = sdl_varlen_uint_read(&p, end, &v) && v <= 255;
            g->flags = (uint8_t)v;
            break;
        case 1:
            for (size_t i = 0; i < 16 && ok; i++) {
                ok = sdl_varlen_uint_read(&p, end, &v) && v <= 255;
                g->gtid.uuid[i] = (uint8_t)v;
            }
            have_sid = ok;
            break;
        case 2:
            ok = read_varlen_signed(&p, end, &sv) && sv >= 1;
            g->gtid.gno = (uint64_t)sv;
            have_gno = ok;
            break;
        case 3:
            ok = sdl_varlen_uint_read(&p, end, &v) && v <= (uint64_t)(end - p) &&
                 sdl_gtid_tag_normalize((const char *)p, (size_t)v, g->gtid.tag);
            p += ok ? v : 0;
            have_tag = ok;
            break;
        case 4:
        case 5:
            ok = read_varlen_signed(&p, end, &sv) && sv >= 0;
            *(fid == 4 ? &g->last_committed : &g->sequence_number) = (uint64_t)sv;
            break;
        case 6:
        case 7:
            ok = sdl_varlen_uint_read(&p, end, &v);
            *(fid == 6 ? &g->immediate_commit_usec : &g->original_commit_usec) = v;
            break;
        case 8:
            ok = sdl_varlen_uint_read(&p, end, &g->transaction_length);
            break;
        case 9:
        case 10:
        case 11:
            ok = sdl_varlen_uint_read(&p, end, &v);
            break;
        default:
            if (fid <= lnif) {
                sdl_error_set(err, SDL_E_UNSUPPORTED,
                              "GTID_TAGGED_LOG_EVENT: unknown non-ignorable field %" PRIu64, fid);
                return false;
            }
            p = end; /* ignorable fields of a newer server: their layout is unknown */
            break;
        }
        if (!ok) {
            sdl_error_set(err, SDL_E_PROTOCOL, "GTID_TAGGED_LOG_EVENT: invalid field %" PRIu64,
                          fid);
            return false;
        }
    }
    if (!have_sid || !have_gno || !have_tag) {
        sdl_error_set(err, SDL_E_PROTOCOL, "GTID_TAGGED_LOG_EVENT lacks its %s",
                      !have_sid   ? "source uuid"
                      : !have_gno ? "gno"
                                  : "tag");
        return false;
    }
    return true;
}

bool
sdl_binlog_event_parse_mysql_gtid(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                  sdl_binlog_mysql_gtid *ret, sdl_error *err)
{
    sdl_binlog_mysql_gtid g;
    sdl_cursor c = sdl_cursor_make(ev->body);

    (void)fmt;
    memset(&g, 0, sizeof(g));
    if (ev->header.type == SDL_BINLOG_MYSQL_GTID_TAGGED_EVENT) {
        if (!parse_tagged_gtid(ev, &g, err)) {
            return false;
        }
        *ret = g;
        return true;
    }
    g.anonymous = ev->header.type == SDL_BINLOG_MYSQL_ANONYMOUS_GTID_EVENT;
    /* libbinlogevents control_events.h Gtid_event: flags 1, sid 16, gno 8 (5.6 ends here);
     * lt_type 1 (= 2), last_committed 8, sequence_number 8 (5.7.5+); immediate commit ts 7
     * (bit 55: original ts 7 follows) (8.0.1+); transaction length lenenc (8.0.2+);
     * immediate server version 4 (bit 31: original version 4 follows) (8.0.14+). */
    g.flags = sdl_cursor_u8(&c);
    sdl_cursor_copy(&c, g.gtid.uuid, 16);
    uint64_t gno = sdl_cursor_u64(&c);
    if (c.failed) {
        return truncated(ev, "post-header", err);
    }
    if (!g.anonymous && (gno == 0 || gno >= INT64_MAX)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "GTID_LOG_EVENT: invalid gno %" PRIu64, gno);
        return false;
    }
    g.gtid.gno = g.anonymous ? 0 : gno;
    if (sdl_cursor_left(&c) >= 17 && c.ptr[0] == 2) {
        sdl_cursor_skip(&c, 1);
        g.last_committed = sdl_cursor_u64(&c);
        g.sequence_number = sdl_cursor_u64(&c);
        if (sdl_cursor_left(&c) >= 7) {
            uint64_t ts = sdl_cursor_uint_le(&c, 7);
            g.immediate_commit_usec = ts & ~(UINT64_C(1) << 55);
            g.original_commit_usec =
                (ts >> 55) & 1 ? sdl_cursor_uint_le(&c, 7) : g.immediate_commit_usec;
            if (sdl_cursor_left(&c) > 0) {
                g.transaction_length = sdl_cursor_lenenc(&c);
            }
        }
    }
    if (c.failed) {
        return truncated(ev, "body", err);
    }
    *ret = g;
    return true;
}

bool
sdl_binlog_event_parse_previous_gtids(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                      sdl_gtid_set *ret_set, sdl_error *err)
{
    (void)fmt;
    if (!sdl_gtid_set_decode(ev->body, ret_set, err)) {
        sdl_error_prefix(err, "PREVIOUS_GTIDS_LOG_EVENT");
        return false;
    }
    return true;
}

/* ---- TABLE_MAP ---------------------------------------------------------------------------- */

static uint64_t
read_table_id(const sdl_binlog_format *fmt, const sdl_binlog_event *ev, sdl_cursor *post)
{
    /* A post-header of 6 bytes means the pre-5.1.4 4-byte table id (log_event.cc). */
    if (fmt->post_header_len[ev->header.type] == 6) {
        return sdl_cursor_u32(post);
    }
    return sdl_cursor_u48(post);
}

/* MariaDB log_event_client.cc / MySQL rows_event.cpp: columns SIGNEDNESS covers. */
static bool
is_numeric_type(uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_TINY:
    case SDL_MYSQL_TYPE_SHORT:
    case SDL_MYSQL_TYPE_INT24:
    case SDL_MYSQL_TYPE_LONG:
    case SDL_MYSQL_TYPE_LONGLONG:
    case SDL_MYSQL_TYPE_NEWDECIMAL:
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
        return true;
    default:
        return false;
    }
}

/* Columns the charset fields cover; @t is the real type. MariaDB counts GEOMETRY (its Field
 * is a blob, log_event_client.cc is_character_type), MySQL does not. */
static bool
is_character_type(const sdl_binlog_format *fmt, uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_STRING:
    case SDL_MYSQL_TYPE_VAR_STRING:
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        return true;
    case SDL_MYSQL_TYPE_GEOMETRY:
        return fmt->flavor != SDL_BINLOG_FLAVOR_MYSQL;
    case SDL_MYSQL_TYPE_VECTOR:
        /* MySQL 9 counts VECTOR columns (charset binary) in DEFAULT_CHARSET/COLUMN_CHARSET */
        return fmt->flavor == SDL_BINLOG_FLAVOR_MYSQL;
    default:
        return false;
    }
}

static bool
is_enum_or_set(uint8_t t)
{
    return t == SDL_MYSQL_TYPE_ENUM || t == SDL_MYSQL_TYPE_SET;
}

/* Decodes the per-column type metadata (MySQL rows_event.cpp Table_map_event, MariaDB
 * Field::save_field_metadata implementations). Returns false with the column named. */
static bool
read_column_meta(sdl_cursor *m, sdl_column *col, sdl_error *err)
{
    uint8_t b0, b1;

    switch (col->type) {
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_TINY_BLOB:
    case SDL_MYSQL_TYPE_MEDIUM_BLOB:
    case SDL_MYSQL_TYPE_LONG_BLOB:
    case SDL_MYSQL_TYPE_GEOMETRY:
    case SDL_MYSQL_TYPE_JSON:
    case SDL_MYSQL_TYPE_VECTOR:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
    case SDL_MYSQL_TYPE_TIMESTAMP2:
    case SDL_MYSQL_TYPE_DATETIME2:
    case SDL_MYSQL_TYPE_TIME2:
        col->meta = sdl_cursor_u8(m);
        break;
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_VAR_STRING:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        col->meta = sdl_cursor_u16(m);
        break;
    case SDL_MYSQL_TYPE_BIT:
        b0 = sdl_cursor_u8(m); /* bits % 8 */
        b1 = sdl_cursor_u8(m); /* whole bytes */
        col->meta = (uint16_t)(b1 << 8 | b0);
        break;
    case SDL_MYSQL_TYPE_NEWDECIMAL:
        b0 = sdl_cursor_u8(m); /* precision */
        b1 = sdl_cursor_u8(m); /* scale */
        col->meta = (uint16_t)(b0 << 8 | b1);
        break;
    case SDL_MYSQL_TYPE_STRING:
    case SDL_MYSQL_TYPE_ENUM:
    case SDL_MYSQL_TYPE_SET:
        b0 = sdl_cursor_u8(m);
        b1 = sdl_cursor_u8(m);
        /* Field_string::do_save_field_metadata: byte0 = real_type ^ ((len & 0x300) >> 4),
         * byte1 = len & 0xff; lengths > 255 bytes flip bits 4-5 of the real type. */
        if ((b0 & 0x30) != 0x30) {
            uint32_t len = (uint32_t)b1 | ((uint32_t)((b0 & 0x30) ^ 0x30) << 4);
            col->type = (uint8_t)(b0 | 0x30);
            col->meta = (uint16_t)len;
        } else {
            col->type = b0;
            col->meta = b1;
        }
        if (col->type == SDL_MYSQL_TYPE_ENUM) {
            if (col->meta != 1 && col->meta != 2) {
                sdl_error_set(err, SDL_E_PROTOCOL, "ENUM pack length %u (want 1 or 2)", col->meta);
                return false;
            }
        } else if (col->type == SDL_MYSQL_TYPE_SET) {
            if (col->meta < 1 || col->meta > 8) {
                sdl_error_set(err, SDL_E_PROTOCOL, "SET pack length %u (want 1..8)", col->meta);
                return false;
            }
        } else if (col->type != SDL_MYSQL_TYPE_STRING) {
            sdl_error_set(err, SDL_E_PROTOCOL, "STRING column with real type %u", col->type);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_DECIMAL:
    case SDL_MYSQL_TYPE_TINY:
    case SDL_MYSQL_TYPE_SHORT:
    case SDL_MYSQL_TYPE_LONG:
    case SDL_MYSQL_TYPE_NULL:
    case SDL_MYSQL_TYPE_TIMESTAMP:
    case SDL_MYSQL_TYPE_LONGLONG:
    case SDL_MYSQL_TYPE_INT24:
    case SDL_MYSQL_TYPE_DATE:
    case SDL_MYSQL_TYPE_TIME:
    case SDL_MYSQL_TYPE_DATETIME:
    case SDL_MYSQL_TYPE_YEAR:
    case SDL_MYSQL_TYPE_NEWDATE:
        col->meta = 0;
        break;
    default:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "unknown column type %u", col->type);
        return false;
    }
    if (m->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "type metadata truncated");
        return false;
    }
    switch (col->type) {
    case SDL_MYSQL_TYPE_NEWDECIMAL: {
        unsigned p = col->meta >> 8, s = col->meta & 0xff;
        if (p < 1 || p > 65 || s > 38 || s > p) { /* MariaDB: scale up to 38 */
            sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) out of range (max 65,38)", p, s);
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIMESTAMP2:
    case SDL_MYSQL_TYPE_DATETIME2:
    case SDL_MYSQL_TYPE_TIME2:
        if (col->meta > 6) {
            sdl_error_set(err, SDL_E_PROTOCOL, "fractional second precision %u > 6", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_GEOMETRY:
    case SDL_MYSQL_TYPE_JSON:
    case SDL_MYSQL_TYPE_VECTOR:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        if (col->meta < 1 || col->meta > 4) {
            sdl_error_set(err, SDL_E_PROTOCOL, "length-prefix size %u (want 1..4)", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
        if (col->meta != (col->type == SDL_MYSQL_TYPE_FLOAT ? 4 : 8)) {
            sdl_error_set(err, SDL_E_PROTOCOL, "pack length %u", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_BIT:
        if ((col->meta & 0xff) > 7 || (col->meta >> 8) > 8 ||
            (col->meta >> 8) * 8u + (col->meta & 0xffu) > 64 || col->meta == 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "BIT metadata %u bytes + %u bits", col->meta >> 8,
                          col->meta & 0xff);
            return false;
        }
        break;
    default:
        break;
    }
    return true;
}

/* Optional metadata field types (MySQL rows_event.h Table_map_event::Optional_metadata_field_type;
 * MariaDB log_event.h uses the same numbers). */
enum {
    OM_SIGNEDNESS = 1,
    OM_DEFAULT_CHARSET,
    OM_COLUMN_CHARSET,
    OM_COLUMN_NAME,
    OM_SET_STR_VALUE,
    OM_ENUM_STR_VALUE,
    OM_GEOMETRY_TYPE,
    OM_SIMPLE_PRIMARY_KEY,
    OM_PRIMARY_KEY_WITH_PREFIX,
    OM_ENUM_AND_SET_DEFAULT_CHARSET,
    OM_ENUM_AND_SET_COLUMN_CHARSET,
    OM_COLUMN_VISIBILITY,
    OM_VECTOR_DIMENSIONALITY,
};

typedef bool (*col_pred)(const sdl_binlog_format *fmt, uint8_t type);

static bool
pred_numeric(const sdl_binlog_format *fmt, uint8_t t)
{
    /* MariaDB's server counts YEAR too (Field_year is a Field_tiny, and its binlog_type_info
     * has a signedness); MySQL's does not */
    return is_numeric_type(t) ||
           (t == SDL_MYSQL_TYPE_YEAR && fmt->flavor != SDL_BINLOG_FLAVOR_MYSQL);
}

static bool
pred_character(const sdl_binlog_format *fmt, uint8_t t)
{
    return is_character_type(fmt, t);
}

static bool
pred_enum_set(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return is_enum_or_set(t);
}

static bool
pred_enum(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_ENUM;
}

static bool
pred_set(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_SET;
}

static bool
pred_geometry(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_GEOMETRY;
}

static bool
pred_vector(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_VECTOR;
}

/* The index of the @nth column (0-based) matching @pred, or ncols when there is none. */
static uint32_t
nth_matching(const sdl_binlog_format *fmt, const sdl_table *t, col_pred pred, uint64_t nth)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (pred(fmt, t->cols[i].type)) {
            if (nth == 0) {
                return i;
            }
            nth--;
        }
    }
    return t->ncols;
}

static const char *
arena_str(sdl_arena *arena, sdl_bytes b)
{
    return sdl_arena_strndup(arena, (const char *)b.ptr, b.len);
}

/* Charsets: DEFAULT_CHARSET (default, then (index, collation) exceptions) or the per-column
 * COLUMN_CHARSET list, over the columns @pred selects. */
static bool
om_charsets(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, bool is_default,
            col_pred pred)
{
    if (is_default) {
        uint64_t def = sdl_cursor_lenenc(v);
        for (uint32_t i = 0; i < t->ncols; i++) {
            if (pred(fmt, t->cols[i].type)) {
                t->cols[i].charset = (uint16_t)def;
            }
        }
        while (!v->failed && sdl_cursor_left(v) > 0) {
            uint64_t idx = sdl_cursor_lenenc(v);
            uint64_t coll = sdl_cursor_lenenc(v);
            uint32_t ci = nth_matching(fmt, t, pred, idx);
            if (v->failed || ci == t->ncols || coll > 0xffff) {
                return false;
            }
            t->cols[ci].charset = (uint16_t)coll;
        }
        return !v->failed && def <= 0xffff;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (pred(fmt, t->cols[i].type)) {
            uint64_t coll = sdl_cursor_lenenc(v);
            if (coll > 0xffff) {
                return false;
            }
            t->cols[i].charset = (uint16_t)coll;
        }
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_str_values(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred,
              sdl_arena *arena)
{
    for (uint32_t i = 0; i < t->ncols && !v->failed; i++) {
        uint64_t n;
        const char **names;

        if (!pred(fmt, t->cols[i].type)) {
            continue;
        }
        n = sdl_cursor_lenenc(v);
        /* Each member takes at least one byte; ENUM allows 65535, SET 64 members. */
        if (n > sdl_cursor_left(v) || n > 65535) {
            return false;
        }
        names = sdl_arena_alloc(arena, (size_t)(n ? n : 1) * sizeof(*names));
        for (uint64_t k = 0; k < n; k++) {
            names[k] = arena_str(arena, sdl_cursor_lenenc_bytes(v));
        }
        t->cols[i].nvalues = (uint32_t)n;
        t->cols[i].values = names;
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_per_column_uint(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred,
                   bool vector)
{
    for (uint32_t i = 0; i < t->ncols && !v->failed; i++) {
        uint64_t x;

        if (!pred(fmt, t->cols[i].type)) {
            continue;
        }
        x = sdl_cursor_lenenc(v);
        if (x > UINT32_MAX) {
            return false;
        }
        if (vector) {
            t->cols[i].vector_dims = (uint32_t)x;
        } else {
            t->cols[i].geometry_type = (uint32_t)x;
        }
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_primary_key(sdl_table *t, sdl_cursor *v, bool with_prefix, sdl_arena *arena)
{
    uint32_t *pk = sdl_arena_alloc(arena, (size_t)t->ncols * sizeof(*pk) + 1);
    uint32_t n = 0;

    while (!v->failed && sdl_cursor_left(v) > 0) {
        uint64_t idx = sdl_cursor_lenenc(v);
        if (with_prefix) {
            (void)sdl_cursor_lenenc(v); /* prefix length; 0 = whole column */
        }
        if (v->failed || idx >= t->ncols || n >= t->ncols || t->cols[idx].is_pk) {
            return false;
        }
        t->cols[idx].is_pk = true;
        pk[n++] = (uint32_t)idx;
    }
    t->pk = pk;
    t->npk = n;
    return !v->failed;
}

static bool
om_bitmap(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred, bool visibility)
{
    uint32_t bit = 0;
    sdl_bytes bits = sdl_cursor_rest(v);

    /* Bitmaps in the optional metadata are MSB first (MySQL rows_event.cpp parse_*). */
    for (uint32_t i = 0; i < t->ncols; i++) {
        bool on;

        if (pred && !pred(fmt, t->cols[i].type)) {
            continue;
        }
        if (bit / 8 >= bits.len) {
            return false;
        }
        on = (bits.ptr[bit / 8] >> (7 - bit % 8)) & 1;
        if (visibility) {
            t->cols[i].is_visible = on;
        } else {
            t->cols[i].is_unsigned = on;
        }
        bit++;
    }
    return bits.len == (bit + 7) / 8;
}

static const char *
om_name(uint8_t type)
{
    static const char *names[] = {"?",
                                  "SIGNEDNESS",
                                  "DEFAULT_CHARSET",
                                  "COLUMN_CHARSET",
                                  "COLUMN_NAME",
                                  "SET_STR_VALUE",
                                  "ENUM_STR_VALUE",
                                  "GEOMETRY_TYPE",
                                  "SIMPLE_PRIMARY_KEY",
                                  "PRIMARY_KEY_WITH_PREFIX",
                                  "ENUM_AND_SET_DEFAULT_CHARSET",
                                  "ENUM_AND_SET_COLUMN_CHARSET",
                                  "COLUMN_VISIBILITY",
                                  "VECTOR_DIMENSIONALITY"};
    return type < SDL_ARRAY_SIZE(names) ? names[type] : "?";
}

static bool
parse_optional_metadata(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *c, sdl_arena *arena,
                        sdl_error *err)
{
    while (sdl_cursor_left(c) > 0) {
        uint8_t type = sdl_cursor_u8(c);
        sdl_bytes val = sdl_cursor_lenenc_bytes(c);
        sdl_cursor v;
        bool ok = true;

        if (c->failed) {
            sdl_error_set(err, SDL_E_PROTOCOL, "optional metadata field %u truncated", type);
            return false;
        }
        v = sdl_cursor_make(val);
        switch (type) {
        case OM_SIGNEDNESS:
            ok = om_bitmap(fmt, t, &v, pred_numeric, false);
            break;
        case OM_DEFAULT_CHARSET:
            ok = om_charsets(fmt, t, &v, true, pred_character);
            break;
        case OM_COLUMN_CHARSET:
            ok = om_charsets(fmt, t, &v, false, pred_character);
            break;
        case OM_ENUM_AND_SET_DEFAULT_CHARSET:
            ok = om_charsets(fmt, t, &v, true, pred_enum_set);
            break;
        case OM_ENUM_AND_SET_COLUMN_CHARSET:
            ok = om_charsets(fmt, t, &v, false, pred_enum_set);
            break;
        case OM_COLUMN_NAME:
            for (uint32_t i = 0; i < t->ncols && !v.failed; i++) {
                sdl_bytes name = sdl_cursor_lenenc_bytes(&v);
                t->cols[i].name = arena_str(arena, name);
            }
            ok = !v.failed && sdl_cursor_left(&v) == 0;
            t->names_from_metadata = ok;
            break;
        case OM_SET_STR_VALUE:
            ok = om_str_values(fmt, t, &v, pred_set, arena);
            break;
        case OM_ENUM_STR_VALUE:
            ok = om_str_values(fmt, t, &v, pred_enum, arena);
            break;
        case OM_GEOMETRY_TYPE:
            ok = om_per_column_uint(fmt, t, &v, pred_geometry, false);
            break;
        case OM_VECTOR_DIMENSIONALITY:
            ok = om_per_column_uint(fmt, t, &v, pred_vector, true);
            break;
        case OM_SIMPLE_PRIMARY_KEY:
            ok = om_primary_key(t, &v, false, arena);
            break;
        case OM_PRIMARY_KEY_WITH_PREFIX:
            ok = om_primary_key(t, &v, true, arena);
            break;
        case OM_COLUMN_VISIBILITY:
            ok = om_bitmap(fmt, t, &v, NULL, true);
            break;
        default:
            /* Unknown fields are skipped by their length (forward compatibility). */
            break;
        }
        if (!ok) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "optional metadata %s (%u, %zu bytes) does not match the %" PRIu32
                          " columns",
                          om_name(type), type, val.len, t->ncols);
            return false;
        }
    }
    return true;
}

/* ENUM/SET member names arrive in the column's charset; the decoder hands them out as
 * values, so convert them to UTF-8 once here. */
static bool
convert_member_names(sdl_table *t, sdl_arena *arena, sdl_error *err)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        sdl_column *col = &t->cols[i];
        const sdl_charset *cs;
        const char **names;

        if (!is_enum_or_set(col->type) || col->nvalues == 0 || col->charset == 0) {
            continue;
        }
        cs = sdl_charset_by_collation(col->charset);
        if (!cs) {
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "TABLE_MAP_EVENT '%s.%s' column '%s' (#%" PRIu32
                          "): unknown collation id %u",
                          t->db, t->name, col->name, i, col->charset);
            return false;
        }
        if (cs->kind == SDL_CHARSET_UTF8MB4 || cs->kind == SDL_CHARSET_BINARY) {
            continue;
        }
        names = sdl_arena_alloc(arena, col->nvalues * sizeof(*names));
        for (uint32_t k = 0; k < col->nvalues; k++) {
            sdl_bytes out;
            if (!sdl_charset_to_utf8(cs, SDL_BYTES(col->values[k], strlen(col->values[k])), arena,
                                     &out, err)) {
                sdl_error_prefix(
                    err, "TABLE_MAP_EVENT '%s.%s' column '%s' (#%" PRIu32 ") member %" PRIu32,
                    t->db, t->name, col->name, i, k + 1);
                return false;
            }
            names[k] = (const char *)out.ptr;
        }
        col->values = names;
    }
    return true;
}

bool
sdl_binlog_event_parse_table_map(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                 sdl_arena *arena, sdl_table **ret_table, sdl_error *err)
{
    sdl_cursor post, c, meta;
    sdl_table *t;
    sdl_bytes db, name, types, meta_bytes, nulls;
    uint64_t ncols;

    /* MariaDB log_event.h Table_map_log_event: post-header table_id 6, flags 2; body:
     * db_len 1, db, NUL, tbl_len 1, tbl, NUL, column_count lenenc, column types (1 byte
     * each), metadata_len lenenc, metadata, null bitmap ((n+7)/8), optional metadata TLVs. */
    if (!split_body(fmt, ev, 6, &post, &c, err)) {
        return false;
    }
    t = sdl_arena_calloc(arena, 1, sizeof(*t));
    t->table_id = read_table_id(fmt, ev, &post);
    (void)sdl_cursor_u16(&post); /* flags */
    db = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
    sdl_cursor_skip(&c, 1);
    name = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
    sdl_cursor_skip(&c, 1);
    if (post.failed || c.failed) {
        return truncated(ev, "table name", err);
    }
    t->db = arena_str(arena, db);
    t->name = arena_str(arena, name);
    ncols = sdl_cursor_lenenc(&c);
    if (c.failed || ncols == 0 || ncols > MAX_COLUMNS) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TABLE_MAP_EVENT '%s.%s': bad column count %" PRIu64,
                      t->db, t->name, ncols);
        return false;
    }
    t->ncols = (uint32_t)ncols;
    types = sdl_cursor_bytes(&c, t->ncols);
    meta_bytes = sdl_cursor_lenenc_bytes(&c);
    nulls = sdl_cursor_bytes(&c, (t->ncols + 7) / 8);
    if (c.failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TABLE_MAP_EVENT '%s.%s': truncated column data", t->db,
                      t->name);
        return false;
    }
    t->cols = sdl_arena_calloc(arena, t->ncols, sizeof(*t->cols));
    meta = sdl_cursor_make(meta_bytes);
    for (uint32_t i = 0; i < t->ncols; i++) {
        sdl_column *col = &t->cols[i];
        char buf[16];

        col->type = types.ptr[i];
        col->is_nullable = (nulls.ptr[i / 8] >> (i % 8)) & 1;
        col->is_visible = true;
        col->is_json = col->type == SDL_MYSQL_TYPE_JSON;
        col->charset = col->type == SDL_MYSQL_TYPE_JSON ? 63 : 0;
        snprintf(buf, sizeof(buf), "@%" PRIu32, i + 1);
        col->name = sdl_arena_strndup(arena, buf, strlen(buf));
        if (!read_column_meta(&meta, col, err)) {
            sdl_error_prefix(err, "TABLE_MAP_EVENT '%s.%s' column #%" PRIu32 " (type %u)", t->db,
                             t->name, i, types.ptr[i]);
            return false;
        }
    }
    if (sdl_cursor_left(&meta) != 0) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TABLE_MAP_EVENT '%s.%s': %zu bytes of type metadata left over", t->db,
                      t->name, sdl_cursor_left(&meta));
        return false;
    }
    if (!parse_optional_metadata(fmt, t, &c, arena, err)) {
        sdl_error_prefix(err, "TABLE_MAP_EVENT '%s.%s'", t->db, t->name);
        return false;
    }
    if (!t->pk) {
        t->pk = sdl_arena_alloc(arena, sizeof(uint32_t));
    }
    if (!convert_member_names(t, arena, err)) {
        return false;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        t->cols[i].name_len = (uint32_t)strlen(t->cols[i].name);
    }
    t->db_len = (uint32_t)strlen(t->db);
    t->name_len = (uint32_t)strlen(t->name);
    *ret_table = t;
    return true;
}

/* ---- ROWS ---------------------------------------------------------------------------------- */

bool
sdl_binlog_event_is_rows(uint8_t type)
{
    return (type >= SDL_BINLOG_WRITE_ROWS_EVENT_V1 && type <= SDL_BINLOG_DELETE_ROWS_EVENT_V1) ||
           (type >= SDL_BINLOG_WRITE_ROWS_EVENT && type <= SDL_BINLOG_DELETE_ROWS_EVENT) ||
           type == SDL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT ||
           (type >= SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT_V1 &&
            type <= SDL_BINLOG_DELETE_ROWS_COMPRESSED_EVENT);
}

bool
sdl_binlog_event_parse_rows(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                            sdl_arena *arena, sdl_binlog_rows *ret, sdl_error *err)
{
    uint8_t type = ev->header.type;
    sdl_binlog_rows r;
    sdl_cursor post, c;
    bool v2;
    int kind; /* 0 write, 1 update, 2 delete */
    uint64_t ncols;

    memset(&r, 0, sizeof(r));
    if (!sdl_binlog_event_is_rows(type)) {
        sdl_error_set(err, SDL_E_INVALID, "event type %u is not a rows event", type);
        return false;
    }
    if (type == SDL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT) {
        /* MySQL rows_event.h: an UPDATE_ROWS v2 whose after images carry value_options. */
        v2 = true;
        kind = 1;
        r.partial = true;
    } else if (type <= SDL_BINLOG_DELETE_ROWS_EVENT_V1) {
        v2 = false;
        kind = type - SDL_BINLOG_WRITE_ROWS_EVENT_V1;
    } else if (type <= SDL_BINLOG_DELETE_ROWS_EVENT) {
        v2 = true;
        kind = type - SDL_BINLOG_WRITE_ROWS_EVENT;
    } else if (type <= SDL_BINLOG_DELETE_ROWS_COMPRESSED_EVENT_V1) {
        v2 = false;
        kind = type - SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT_V1;
        r.compressed = true;
    } else {
        v2 = true;
        kind = type - SDL_BINLOG_WRITE_ROWS_COMPRESSED_EVENT;
        r.compressed = true;
    }
    r.type = type;
    r.op = kind == 0 ? SDL_ROW_INSERT : kind == 1 ? SDL_ROW_UPDATE : SDL_ROW_DELETE;
    /* MariaDB log_event.h Rows_log_event: post-header table_id 6, flags 2 [v2: extra-info
     * length 2 (counting itself) and the extra info]; body: width lenenc, columns-present
     * bitmap, UPDATE: after-image bitmap, rows (MariaDB compressed: the rows part only). */
    if (!split_body(fmt, ev, 6, &post, &c, err)) {
        return false;
    }
    r.table_id = read_table_id(fmt, ev, &post);
    r.flags = sdl_cursor_u16(&post);
    if (post.failed) {
        return truncated(ev, "post-header", err);
    }
    if (v2) {
        /* The FDE lists 10 for v2 (so the extra-info length is in the post-header); be
         * robust to a writer that lists 8 and puts it in the body. */
        sdl_cursor *xc = sdl_cursor_left(&post) >= 2 ? &post : &c;
        uint16_t xlen = sdl_cursor_u16(xc);
        if (xc->failed || xlen < 2) {
            sdl_error_set(err, SDL_E_PROTOCOL, "%s: bad extra row info length %u",
                          sdl_binlog_event_type_name(type), xlen);
            return false;
        }
        r.extra_info = sdl_cursor_bytes(&c, (size_t)xlen - 2u);
    }
    ncols = sdl_cursor_lenenc(&c);
    if (c.failed || ncols == 0 || ncols > MAX_COLUMNS) {
        sdl_error_set(err, SDL_E_PROTOCOL, "%s: bad column count %" PRIu64,
                      sdl_binlog_event_type_name(type), ncols);
        return false;
    }
    r.ncols = (uint32_t)ncols;
    r.present = sdl_cursor_bytes(&c, (r.ncols + 7) / 8);
    r.present_after = r.op == SDL_ROW_UPDATE ? sdl_cursor_bytes(&c, (r.ncols + 7) / 8) : r.present;
    r.rows = sdl_cursor_rest(&c);
    if (c.failed) {
        return truncated(ev, "column bitmaps", err);
    }
    if (r.compressed) {
        if (!sdl_binlog_uncompress(r.rows, arena, &r.rows, err)) {
            sdl_error_prefix(err, "%s rows", sdl_binlog_event_type_name(type));
            return false;
        }
    }
    *ret = r;
    return true;
}
