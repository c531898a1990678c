/* SPDX-License-Identifier: Apache-2.0 */
/* binlog-format: the common event header, FORMAT_DESCRIPTION_EVENT (post-header lengths,
 * server version, checksum algorithm), opening an event (size and CRC32 checks) and event
 * type names. Part of binlog-event.h's interface. */
#include <inttypes.h>
#include <string.h>

#include <zlib.h>

#include "sdl/base/cursor.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/crc32.h"

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
