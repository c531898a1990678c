/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * gtid: MariaDB global transaction ids and GTID positions.
 *
 * A MariaDB GTID is "domain-server-seq" (three unsigned decimals: 32, 32 and 64 bits). A
 * position holds at most one GTID per replication domain: the last transaction applied in
 * that domain ("0-1-22,1-7-9"). Positions are what @slave_connect_state takes and what sdl
 * stores as its offset. Domains are kept sorted, so formatting is canonical.
 *
 * (MySQL's uuid:interval GTID sets are a different algebra: gtid-set.h.)
 * Never logs. Values are plain data; one thread at a time per position.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"

typedef struct sdl_gtid {
    uint32_t domain; /* replication domain id */
    uint32_t server; /* server_id of the originating server */
    uint64_t seq;    /* sequence number within the domain */
} sdl_gtid;

/* Longest text form: 10 + 1 + 10 + 1 + 20 digits + NUL. */
#define SDL_GTID_TEXT_MAX 44

typedef struct sdl_gtid_pos {
    sdl_gtid *gtids; /* sorted by domain, one per domain */
    size_t count;
    size_t cap;
} sdl_gtid_pos;

#define SDL_GTID_POS_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Parses one "D-S-N". Whole string must match (no spaces, no sign, no overflow). */
SDL_MUST_CHECK bool sdl_gtid_parse(const char *text, size_t len, sdl_gtid *ret_gtid,
                                   sdl_error *err);
/* Writes "D-S-N" into @buf (at least SDL_GTID_TEXT_MAX bytes); returns @buf. */
char *sdl_gtid_format(const sdl_gtid *gtid, char *buf);

void sdl_gtid_pos_done(sdl_gtid_pos *pos);
void sdl_gtid_pos_reset(sdl_gtid_pos *pos);
/* Deep copy; @dst must be initialised (its old content is freed). */
void sdl_gtid_pos_copy(sdl_gtid_pos *dst, const sdl_gtid_pos *src);

/* Parses "D-S-N[,D-S-N...]" (spaces after commas allowed; "" is the empty position).
 * Two GTIDs of one domain are an error. @ret_pos is replaced only on success. */
SDL_MUST_CHECK bool sdl_gtid_pos_parse(const char *text, sdl_gtid_pos *ret_pos, sdl_error *err);

/* Canonical text, domains ascending, "" when empty; caller frees. */
char *sdl_gtid_pos_format(const sdl_gtid_pos *pos);

/* The entry for @domain, or NULL. */
const sdl_gtid *sdl_gtid_pos_find(const sdl_gtid_pos *pos, uint32_t domain);

/* Records @gtid as the last applied transaction of its domain (replaces the entry). */
void sdl_gtid_pos_advance(sdl_gtid_pos *pos, const sdl_gtid *gtid);

/* True when @gtid is at or before the position of its domain, i.e. already applied
 * (seq <= the domain's seq). False for a domain the position does not have. */
bool sdl_gtid_pos_contains(const sdl_gtid_pos *pos, const sdl_gtid *gtid);

/* Three-way comparison of positions per domain: returns true and sets *ret_cmp to -1, 0 or 1
 * when one position is at or behind the other in every domain; false when they are
 * incomparable (ahead in one domain, behind in another). A missing domain counts as seq 0. */
bool sdl_gtid_pos_compare(const sdl_gtid_pos *a, const sdl_gtid_pos *b, int *ret_cmp);

bool sdl_gtid_pos_equal(const sdl_gtid_pos *a, const sdl_gtid_pos *b);
