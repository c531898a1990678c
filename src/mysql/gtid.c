/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/gtid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"

static bool
parse_uint(const char *p, size_t len, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (len == 0 || len > 20) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

bool
sdl_gtid_parse(const char *text, size_t len, sdl_gtid *ret_gtid, sdl_error *err)
{
    const char *end = text + len;
    const char *d1 = memchr(text, '-', len);
    const char *d2 = d1 ? memchr(d1 + 1, '-', (size_t)(end - d1 - 1)) : NULL;
    uint64_t domain;
    uint64_t server;
    uint64_t seq;

    if (!d1 || !d2 || !parse_uint(text, (size_t)(d1 - text), UINT32_MAX, &domain) ||
        !parse_uint(d1 + 1, (size_t)(d2 - d1 - 1), UINT32_MAX, &server) ||
        !parse_uint(d2 + 1, (size_t)(end - d2 - 1), UINT64_MAX, &seq)) {
        sdl_error_set(err, SDL_E_INVALID,
                      "invalid MariaDB GTID '%.*s': expected domain-server-sequence, e.g. 0-1-42",
                      (int)SDL_MIN(len, 64), text);
        return false;
    }
    ret_gtid->domain = (uint32_t)domain;
    ret_gtid->server = (uint32_t)server;
    ret_gtid->seq = seq;
    return true;
}

char *
sdl_gtid_format(const sdl_gtid *gtid, char *buf)
{
    (void)snprintf(buf, SDL_GTID_TEXT_MAX, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, gtid->domain,
                   gtid->server, gtid->seq);
    return buf;
}

void
sdl_gtid_pos_done(sdl_gtid_pos *pos)
{
    free(pos->gtids);
    pos->gtids = NULL;
    pos->count = 0;
    pos->cap = 0;
}

void
sdl_gtid_pos_reset(sdl_gtid_pos *pos)
{
    pos->count = 0;
}

void
sdl_gtid_pos_copy(sdl_gtid_pos *dst, const sdl_gtid_pos *src)
{
    if (dst == src) {
        return;
    }
    sdl_gtid_pos_reset(dst);
    for (size_t i = 0; i < src->count; i++) {
        sdl_gtid_pos_advance(dst, &src->gtids[i]);
    }
}

/* Index of the first entry with domain >= @domain. */
static size_t
lower_bound(const sdl_gtid_pos *pos, uint32_t domain)
{
    size_t lo = 0;
    size_t hi = pos->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pos->gtids[mid].domain < domain) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const sdl_gtid *
sdl_gtid_pos_find(const sdl_gtid_pos *pos, uint32_t domain)
{
    size_t i = lower_bound(pos, domain);

    if (i < pos->count && pos->gtids[i].domain == domain) {
        return &pos->gtids[i];
    }
    return NULL;
}

void
sdl_gtid_pos_advance(sdl_gtid_pos *pos, const sdl_gtid *gtid)
{
    size_t i = lower_bound(pos, gtid->domain);

    if (i < pos->count && pos->gtids[i].domain == gtid->domain) {
        pos->gtids[i] = *gtid;
        return;
    }
    if (pos->count == pos->cap) {
        pos->cap = pos->cap ? pos->cap * 2 : 4;
        pos->gtids = sdl_xreallocarray(pos->gtids, pos->cap, sizeof(*pos->gtids));
    }
    memmove(&pos->gtids[i + 1], &pos->gtids[i], (pos->count - i) * sizeof(*pos->gtids));
    pos->gtids[i] = *gtid;
    pos->count++;
}

bool
sdl_gtid_pos_parse(const char *text, sdl_gtid_pos *ret_pos, sdl_error *err)
{
    sdl_gtid_pos pos = SDL_GTID_POS_INIT;
    const char *p = text;

    while (*p == ' ') {
        p++;
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        sdl_gtid g;

        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (!sdl_gtid_parse(p, len, &g, err)) {
            goto fail;
        }
        if (sdl_gtid_pos_find(&pos, g.domain)) {
            sdl_error_set(err, SDL_E_INVALID,
                          "invalid GTID position '%.200s': domain %" PRIu32 " appears twice", text,
                          g.domain);
            goto fail;
        }
        sdl_gtid_pos_advance(&pos, &g);
        if (!comma) {
            break;
        }
        p = comma + 1;
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            sdl_error_set(err, SDL_E_INVALID, "invalid GTID position '%.200s': trailing comma",
                          text);
            goto fail;
        }
    }
    sdl_gtid_pos_done(ret_pos);
    *ret_pos = pos;
    return true;
fail:
    sdl_gtid_pos_done(&pos);
    return false;
}

char *
sdl_gtid_pos_format(const sdl_gtid_pos *pos)
{
    sdl_buf buf = SDL_BUF_INIT;
    char one[SDL_GTID_TEXT_MAX];

    for (size_t i = 0; i < pos->count; i++) {
        if (i) {
            sdl_buf_append_byte(&buf, ',');
        }
        sdl_buf_append_str(&buf, sdl_gtid_format(&pos->gtids[i], one));
    }
    return sdl_buf_cstr(&buf);
}

bool
sdl_gtid_pos_contains(const sdl_gtid_pos *pos, const sdl_gtid *gtid)
{
    const sdl_gtid *have = sdl_gtid_pos_find(pos, gtid->domain);

    return have && gtid->seq <= have->seq;
}

bool
sdl_gtid_pos_compare(const sdl_gtid_pos *a, const sdl_gtid_pos *b, int *ret_cmp)
{
    bool a_ahead = false;
    bool b_ahead = false;
    size_t i = 0;
    size_t j = 0;

    while (i < a->count || j < b->count) {
        uint64_t sa = 0;
        uint64_t sb = 0;
        if (j >= b->count || (i < a->count && a->gtids[i].domain < b->gtids[j].domain)) {
            sa = a->gtids[i++].seq;
        } else if (i >= a->count || b->gtids[j].domain < a->gtids[i].domain) {
            sb = b->gtids[j++].seq;
        } else {
            sa = a->gtids[i++].seq;
            sb = b->gtids[j++].seq;
        }
        if (sa > sb) {
            a_ahead = true;
        } else if (sb > sa) {
            b_ahead = true;
        }
    }
    if (a_ahead && b_ahead) {
        return false;
    }
    *ret_cmp = a_ahead ? 1 : b_ahead ? -1 : 0;
    return true;
}

bool
sdl_gtid_pos_equal(const sdl_gtid_pos *a, const sdl_gtid_pos *b)
{
    if (a->count != b->count) {
        return false;
    }
    for (size_t i = 0; i < a->count; i++) {
        if (a->gtids[i].domain != b->gtids[i].domain || a->gtids[i].server != b->gtids[i].server ||
            a->gtids[i].seq != b->gtids[i].seq) {
            return false;
        }
    }
    return true;
}
