/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * gtid-set: MySQL global transaction ids and GTID sets (MySQL 5.6+, tagged GTIDs of 8.4+).
 *
 * A MySQL GTID is "uuid:gno" or, from 8.4, "uuid:tag:gno" (tag: [a-z_][a-z0-9_]{0,31},
 * case-insensitive, kept in lower case). A GTID set is what @@gtid_executed holds: per
 * (uuid, tag) a list of closed intervals of gnos, e.g.
 *     "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18:mytag:1-2,4c1f...:7"
 * Untagged intervals of a uuid come first, then its tags in ascending order (MySQL's own
 * text form). Sets are kept canonical: entries sorted by (uuid, tag), intervals sorted,
 * disjoint and not adjacent, so formatting and comparison are exact.
 *
 * The binary form (sdl_gtid_set_encode/_decode) is MySQL's Gtid_set::encode(), used by the
 * PREVIOUS_GTIDS_LOG_EVENT and COM_BINLOG_DUMP_GTID (sql/rpl_gtid_set.cc; the tagged form of
 * 8.4, libs/mysql/gtid/gtid_format.h):
 *   untagged: n_sids u64le; per sid: uuid[16], n_intervals u64le, (start u64le, end u64le
 *             exclusive) per interval
 *   tagged:   u64le whose top byte and bottom byte are the format (1) and bits 8..55 n_sids;
 *             per tsid: uuid[16], tag length (serialization varlen) + tag bytes, n_intervals,
 *             intervals. The tagged form is written only when some entry has a tag, since
 *             servers before 8.4 cannot read it.
 *
 * Never logs. Values are plain data; one thread at a time per set. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"

#define SDL_GTID_TAG_MAX 32 /* characters of a tag */

/* "uuid" 36 + ":" + tag 32 + ":" + 20 digits + NUL */
#define SDL_MYSQL_GTID_TEXT_MAX 92

typedef struct sdl_mysql_gtid {
    uint8_t uuid[16];               /* source server's server_uuid */
    char tag[SDL_GTID_TAG_MAX + 1]; /* "" when untagged */
    uint64_t gno;                   /* transaction number, >= 1 */
} sdl_mysql_gtid;

typedef struct sdl_gtid_interval {
    uint64_t first; /* inclusive */
    uint64_t last;  /* inclusive */
} sdl_gtid_interval;

typedef struct sdl_gtid_set_entry {
    uint8_t uuid[16];
    char tag[SDL_GTID_TAG_MAX + 1];
    sdl_gtid_interval *iv; /* sorted, disjoint, non-adjacent */
    size_t n;
    size_t cap;
} sdl_gtid_set_entry;

typedef struct sdl_gtid_set {
    sdl_gtid_set_entry *e; /* sorted by (uuid, tag) */
    size_t n;
    size_t cap;
} sdl_gtid_set;

#define SDL_GTID_SET_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sdl_gtid_set_done(sdl_gtid_set *set);
void sdl_gtid_set_clear(sdl_gtid_set *set);
/* Deep copy; @dst must be initialised (its old content is freed). */
void sdl_gtid_set_copy(sdl_gtid_set *dst, const sdl_gtid_set *src);

/* Parses the text form. Whitespace (also newlines, as @@gtid_executed has them) around
 * entries is allowed; "" is the empty set. Several entries of one uuid are merged. Errors:
 * SDL_E_INVALID naming the offending piece. @ret_set is replaced only on success. */
SDL_MUST_CHECK bool sdl_gtid_set_parse(const char *text, sdl_gtid_set *ret_set, sdl_error *err);

/* Canonical text ("" when empty); caller frees. */
char *sdl_gtid_set_format(const sdl_gtid_set *set);

bool sdl_gtid_set_is_empty(const sdl_gtid_set *set);
bool sdl_gtid_set_equal(const sdl_gtid_set *a, const sdl_gtid_set *b);

/* Adds the gnos [first, last] of (uuid, tag) (first >= 1, first <= last). */
void sdl_gtid_set_add_range(sdl_gtid_set *set, const uint8_t uuid[16], const char *tag,
                            uint64_t first, uint64_t last);
void sdl_gtid_set_add(sdl_gtid_set *set, const sdl_mysql_gtid *gtid);
bool sdl_gtid_set_contains_gtid(const sdl_gtid_set *set, const sdl_mysql_gtid *gtid);
/* True when every GTID of @sub is in @set. */
bool sdl_gtid_set_contains(const sdl_gtid_set *set, const sdl_gtid_set *sub);
/* @dst = @dst ∪ @src */
void sdl_gtid_set_union(sdl_gtid_set *dst, const sdl_gtid_set *src);
/* @dst = @dst \ @src */
void sdl_gtid_set_subtract(sdl_gtid_set *dst, const sdl_gtid_set *src);

/* Appends the binary encoding to @out (tagged form only when a tag is present). */
void sdl_gtid_set_encode(const sdl_gtid_set *set, sdl_buf *out);
/* Decodes an encoding (either form) that fills @in exactly. Errors: SDL_E_PROTOCOL. */
SDL_MUST_CHECK bool sdl_gtid_set_decode(sdl_bytes in, sdl_gtid_set *ret_set, sdl_error *err);

/* Parses one GTID "uuid[:tag]:gno". */
SDL_MUST_CHECK bool sdl_mysql_gtid_parse(const char *text, size_t len, sdl_mysql_gtid *ret_gtid,
                                         sdl_error *err);
/* Writes "uuid[:tag]:gno" into @buf (SDL_MYSQL_GTID_TEXT_MAX bytes); returns @buf. */
char *sdl_mysql_gtid_format(const sdl_mysql_gtid *gtid, char *buf);

/* A binlog position "<file>:<offset>", e.g. "binlog.000003:1234": how sdl names positions
 * on a MySQL source without GTIDs (gtid_mode OFF), resumed with COM_BINLOG_DUMP. The file
 * part is not empty, not a uuid (so "uuid:5" stays a GTID set), has no ':', ',' or
 * whitespace and fits @file_size bytes with its NUL; the offset is decimal and at least 4.
 * On success fills @file and *ret_pos; false (nothing written) when @text is not one. */
bool sdl_file_position_parse(const char *text, char *file, size_t file_size, uint64_t *ret_pos);

/* Formats a uuid as 36 lower-case characters + NUL into @buf (37 bytes). */
char *sdl_uuid_format(const uint8_t uuid[16], char *buf);
/* Checks and lower-cases a tag of @len bytes into @out (SDL_GTID_TAG_MAX + 1 bytes). */
bool sdl_gtid_tag_normalize(const char *tag, size_t len, char *out);

/* MySQL serialization-library variable-length unsigned integer
 * (libs/mysql/serialization/variable_length_integers.h): the number of trailing one bits of
 * the first byte is the number of bytes that follow; 0xff means 8 bytes follow. Returns the
 * bytes written to @out (1..9). */
size_t sdl_varlen_uint_write(uint64_t v, uint8_t out[9]);
/* Reads one; false on truncation or a non-minimal overflow. */
SDL_MUST_CHECK bool sdl_varlen_uint_read(const uint8_t **p, const uint8_t *end, uint64_t *ret);
