/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/gtid-set.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

/* ---- small pieces ------------------------------------------------------------------------- */

char *
sdl_uuid_format(const uint8_t uuid[16], char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            buf[o++] = '-';
        }
        buf[o++] = hex[uuid[i] >> 4];
        buf[o++] = hex[uuid[i] & 15];
    }
    buf[o] = '\0';
    return buf;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* 8-4-4-4-12 hex digits (MySQL's Uuid::parse also takes the 32-digit form). */
static bool
parse_uuid(const char *s, size_t len, uint8_t out[16])
{
    size_t n = 0;

    if (len != 36 && len != 32) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return false;
            }
            continue;
        }
        int h = hexval(s[i]);
        if (h < 0) {
            return false;
        }
        if (n % 2 == 0) {
            out[n / 2] = (uint8_t)(h << 4);
        } else {
            out[n / 2] = (uint8_t)(out[n / 2] | h);
        }
        n++;
    }
    return n == 32;
}

bool
sdl_gtid_tag_normalize(const char *tag, size_t len, char *out)
{
    /* libs/mysql/gtid/tag.h: a tag starts with a letter or '_' and has at most 32
     * characters from [a-zA-Z0-9_]; tags compare case-insensitively. */
    if (len == 0 || len > SDL_GTID_TAG_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tag[i];
        bool ok = c == '_' || (c < 128 && isalpha(c)) || (i > 0 && c < 128 && isdigit(c));
        if (!ok) {
            return false;
        }
        out[i] = (char)tolower(c);
    }
    out[len] = '\0';
    return true;
}

static bool
parse_u64(const char *p, size_t len, uint64_t *ret)
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
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

bool
sdl_file_position_parse(const char *text, char *file, size_t file_size, uint64_t *ret_pos)
{
    const char *colon = strrchr(text, ':');
    uint8_t uuid[16];
    uint64_t pos;

    if (!colon || colon == text || (size_t)(colon - text) >= file_size ||
        !parse_u64(colon + 1, strlen(colon + 1), &pos) || pos < 4 ||
        parse_uuid(text, (size_t)(colon - text), uuid)) {
        return false;
    }
    for (const char *p = text; p < colon; p++) {
        if (*p == ':' || *p == ',' || isspace((unsigned char)*p)) {
            return false;
        }
    }
    memcpy(file, text, (size_t)(colon - text));
    file[colon - text] = '\0';
    *ret_pos = pos;
    return true;
}

size_t
sdl_varlen_uint_write(uint64_t v, uint8_t out[9])
{
    size_t n = 1;

    while (n < 9 && (n == 8 ? v >> 56 : v >> (7 * n)) != 0) {
        n++;
    }
    if (n == 9) {
        out[0] = 0xff;
        for (size_t i = 0; i < 8; i++) {
            out[1 + i] = (uint8_t)(v >> (8 * i));
        }
        return 9;
    }
    /* n bytes: n-1 one bits, a zero bit, then the value (7n bits), little-endian. */
    uint64_t raw = (v << n) | ((UINT64_C(1) << (n - 1)) - 1);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(raw >> (8 * i));
    }
    return n;
}

bool
sdl_varlen_uint_read(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    const uint8_t *s = *p;
    size_t n = 1;
    uint64_t raw = 0;

    if (s >= end) {
        return false;
    }
    while (n < 9 && (s[0] >> (n - 1) & 1)) {
        n++;
    }
    if ((size_t)(end - s) < n) {
        return false;
    }
    if (n == 9) {
        for (size_t i = 0; i < 8; i++) {
            raw |= (uint64_t)s[1 + i] << (8 * i);
        }
        *ret = raw;
    } else {
        for (size_t i = 0; i < n; i++) {
            raw |= (uint64_t)s[i] << (8 * i);
        }
        *ret = n == 8 ? raw >> 8 : raw >> n;
    }
    *p = s + n;
    return true;
}

/* ---- the set ------------------------------------------------------------------------------ */

void
sdl_gtid_set_clear(sdl_gtid_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->e[i].iv);
    }
    set->n = 0;
}

void
sdl_gtid_set_done(sdl_gtid_set *set)
{
    sdl_gtid_set_clear(set);
    free(set->e);
    set->e = NULL;
    set->cap = 0;
}

void
sdl_gtid_set_copy(sdl_gtid_set *dst, const sdl_gtid_set *src)
{
    if (dst == src) {
        return;
    }
    sdl_gtid_set_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        const sdl_gtid_set_entry *e = &src->e[i];
        for (size_t k = 0; k < e->n; k++) {
            sdl_gtid_set_add_range(dst, e->uuid, e->tag, e->iv[k].first, e->iv[k].last);
        }
    }
}

bool
sdl_gtid_set_is_empty(const sdl_gtid_set *set)
{
    return set->n == 0;
}

static int
entry_cmp(const uint8_t *uuid, const char *tag, const sdl_gtid_set_entry *e)
{
    int c = memcmp(uuid, e->uuid, 16);

    return c ? c : strcmp(tag, e->tag);
}

/* Index of (uuid, tag), or where it would be inserted (*found false). */
static size_t
find_entry(const sdl_gtid_set *set, const uint8_t *uuid, const char *tag, bool *found)
{
    size_t lo = 0, hi = set->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = entry_cmp(uuid, tag, &set->e[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    *found = false;
    return lo;
}

static sdl_gtid_set_entry *
get_entry(sdl_gtid_set *set, const uint8_t *uuid, const char *tag)
{
    bool found;
    size_t at = find_entry(set, uuid, tag, &found);

    if (found) {
        return &set->e[at];
    }
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4;
        set->e = sdl_xreallocarray(set->e, set->cap, sizeof(*set->e));
    }
    memmove(&set->e[at + 1], &set->e[at], (set->n - at) * sizeof(*set->e));
    memset(&set->e[at], 0, sizeof(*set->e));
    memcpy(set->e[at].uuid, uuid, 16);
    (void)snprintf(set->e[at].tag, sizeof(set->e[at].tag), "%s", tag);
    set->n++;
    return &set->e[at];
}

static void
remove_entry(sdl_gtid_set *set, size_t at)
{
    free(set->e[at].iv);
    memmove(&set->e[at], &set->e[at + 1], (set->n - at - 1) * sizeof(*set->e));
    set->n--;
}

static void
entry_add(sdl_gtid_set_entry *e, uint64_t first, uint64_t last)
{
    size_t i = 0;

    /* Skip intervals that end before first-1 (not touching). */
    while (i < e->n && e->iv[i].last < first && e->iv[i].last + 1 < first) {
        i++;
    }
    size_t j = i;
    /* Merge every interval that overlaps or touches [first, last]. */
    while (j < e->n && (e->iv[j].first <= last || e->iv[j].first - 1 <= last)) {
        first = SDL_MIN(first, e->iv[j].first);
        last = SDL_MAX(last, e->iv[j].last);
        j++;
    }
    if (j == i) {
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 2;
            e->iv = sdl_xreallocarray(e->iv, e->cap, sizeof(*e->iv));
        }
        memmove(&e->iv[i + 1], &e->iv[i], (e->n - i) * sizeof(*e->iv));
        e->n++;
    } else if (j > i + 1) {
        memmove(&e->iv[i + 1], &e->iv[j], (e->n - j) * sizeof(*e->iv));
        e->n -= j - i - 1;
    }
    e->iv[i].first = first;
    e->iv[i].last = last;
}

void
sdl_gtid_set_add_range(sdl_gtid_set *set, const uint8_t uuid[16], const char *tag, uint64_t first,
                       uint64_t last)
{
    if (first == 0 || first > last) {
        return;
    }
    entry_add(get_entry(set, uuid, tag ? tag : ""), first, last);
}

void
sdl_gtid_set_add(sdl_gtid_set *set, const sdl_mysql_gtid *gtid)
{
    sdl_gtid_set_add_range(set, gtid->uuid, gtid->tag, gtid->gno, gtid->gno);
}

static bool
entry_contains(const sdl_gtid_set_entry *e, uint64_t first, uint64_t last)
{
    size_t lo = 0, hi = e->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->iv[mid].last < first) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < e->n && e->iv[lo].first <= first && e->iv[lo].last >= last;
}

bool
sdl_gtid_set_contains_gtid(const sdl_gtid_set *set, const sdl_mysql_gtid *gtid)
{
    bool found;
    size_t at = find_entry(set, gtid->uuid, gtid->tag, &found);

    return found && entry_contains(&set->e[at], gtid->gno, gtid->gno);
}

bool
sdl_gtid_set_contains(const sdl_gtid_set *set, const sdl_gtid_set *sub)
{
    for (size_t i = 0; i < sub->n; i++) {
        bool found;
        size_t at = find_entry(set, sub->e[i].uuid, sub->e[i].tag, &found);
        if (!found) {
            return false;
        }
        for (size_t k = 0; k < sub->e[i].n; k++) {
            if (!entry_contains(&set->e[at], sub->e[i].iv[k].first, sub->e[i].iv[k].last)) {
                return false;
            }
        }
    }
    return true;
}

bool
sdl_gtid_set_equal(const sdl_gtid_set *a, const sdl_gtid_set *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (entry_cmp(a->e[i].uuid, a->e[i].tag, &b->e[i]) != 0 || a->e[i].n != b->e[i].n ||
            memcmp(a->e[i].iv, b->e[i].iv, a->e[i].n * sizeof(*a->e[i].iv)) != 0) {
            return false;
        }
    }
    return true;
}

void
sdl_gtid_set_union(sdl_gtid_set *dst, const sdl_gtid_set *src)
{
    if (dst == src) {
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        for (size_t k = 0; k < src->e[i].n; k++) {
            sdl_gtid_set_add_range(dst, src->e[i].uuid, src->e[i].tag, src->e[i].iv[k].first,
                                   src->e[i].iv[k].last);
        }
    }
}

static void
entry_remove(sdl_gtid_set_entry *e, uint64_t first, uint64_t last)
{
    for (size_t i = 0; i < e->n;) {
        sdl_gtid_interval *iv = &e->iv[i];
        if (iv->last < first || iv->first > last) {
            i++;
            continue;
        }
        if (iv->first >= first && iv->last <= last) {
            memmove(&e->iv[i], &e->iv[i + 1], (e->n - i - 1) * sizeof(*e->iv));
            e->n--;
            continue;
        }
        if (iv->first < first && iv->last > last) {
            /* split in two */
            uint64_t old_last = iv->last;
            iv->last = first - 1;
            if (e->n == e->cap) {
                e->cap = e->cap * 2;
                e->iv = sdl_xreallocarray(e->iv, e->cap, sizeof(*e->iv));
            }
            memmove(&e->iv[i + 2], &e->iv[i + 1], (e->n - i - 1) * sizeof(*e->iv));
            e->iv[i + 1].first = last + 1;
            e->iv[i + 1].last = old_last;
            e->n++;
            return;
        }
        if (iv->first < first) {
            iv->last = first - 1;
        } else {
            iv->first = last + 1;
        }
        i++;
    }
}

void
sdl_gtid_set_subtract(sdl_gtid_set *dst, const sdl_gtid_set *src)
{
    if (dst == src) {
        sdl_gtid_set_clear(dst);
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        bool found;
        size_t at = find_entry(dst, src->e[i].uuid, src->e[i].tag, &found);
        if (!found) {
            continue;
        }
        for (size_t k = 0; k < src->e[i].n; k++) {
            entry_remove(&dst->e[at], src->e[i].iv[k].first, src->e[i].iv[k].last);
        }
        if (dst->e[at].n == 0) {
            remove_entry(dst, at);
        }
    }
}

/* ---- text --------------------------------------------------------------------------------- */

static void
append_intervals(sdl_buf *b, const sdl_gtid_set_entry *e)
{
    for (size_t k = 0; k < e->n; k++) {
        if (e->iv[k].first == e->iv[k].last) {
            sdl_buf_appendf(b, ":%" PRIu64, e->iv[k].first);
        } else {
            sdl_buf_appendf(b, ":%" PRIu64 "-%" PRIu64, e->iv[k].first, e->iv[k].last);
        }
    }
}

char *
sdl_gtid_set_format(const sdl_gtid_set *set)
{
    sdl_buf b = SDL_BUF_INIT;

    /* Entries are sorted by uuid, then tag with "" first: one group per uuid, untagged
     * intervals first, then each tag with its intervals. */
    for (size_t i = 0; i < set->n; i++) {
        const sdl_gtid_set_entry *e = &set->e[i];
        bool same_uuid = i > 0 && memcmp(set->e[i - 1].uuid, e->uuid, 16) == 0;
        if (!same_uuid) {
            char u[37];
            if (i > 0) {
                sdl_buf_append_byte(&b, ',');
            }
            sdl_buf_append_str(&b, sdl_uuid_format(e->uuid, u));
        }
        if (e->tag[0]) {
            sdl_buf_append_byte(&b, ':');
            sdl_buf_append_str(&b, e->tag);
        }
        append_intervals(&b, e);
    }
    sdl_buf_cstr(&b);
    return b.data ? (char *)b.data : sdl_xstrdup("");
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One "uuid(:piece)+" entry of @len bytes. */
static bool
parse_entry(const char *s, size_t len, sdl_gtid_set *set, sdl_error *err)
{
    const char *end = s + len;
    const char *colon = memchr(s, ':', len);
    uint8_t uuid[16];
    char tag[SDL_GTID_TAG_MAX + 1] = "";
    bool any = false;
    bool tag_pending = false;

    if (!colon || !parse_uuid(s, (size_t)(colon - s), uuid)) {
        sdl_error_set(err, SDL_E_INVALID,
                      "invalid MySQL GTID set entry '%.*s': expected uuid:interval[:interval...]",
                      (int)SDL_MIN(len, 80), s);
        return false;
    }
    const char *p = colon + 1;
    for (;;) {
        const char *q = memchr(p, ':', (size_t)(end - p));
        size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
        const char *dash = memchr(p, '-', n);
        uint64_t a, b;
        if (n > 0 && (p[0] == '_' || isalpha((unsigned char)p[0]))) {
            if (!sdl_gtid_tag_normalize(p, n, tag)) {
                sdl_error_set(err, SDL_E_INVALID,
                              "invalid GTID tag '%.*s': a letter or '_' followed by at most 31 "
                              "letters, digits or '_'",
                              (int)SDL_MIN(n, 40), p);
                return false;
            }
            tag_pending = true;
        } else if ((dash ? parse_u64(p, (size_t)(dash - p), &a) &&
                               parse_u64(dash + 1, (size_t)(p + n - dash - 1), &b)
                         : (parse_u64(p, n, &a) && (b = a, true))) &&
                   a >= 1 && a <= b && b < UINT64_MAX / 2) {
            sdl_gtid_set_add_range(set, uuid, tag, a, b);
            any = true;
            tag_pending = false;
        } else {
            sdl_error_set(err, SDL_E_INVALID,
                          "invalid GTID interval '%.*s' (expected N or N-M with 1 <= N <= M)",
                          (int)SDL_MIN(n, 40), p);
            return false;
        }
        if (!q) {
            break;
        }
        p = q + 1;
    }
    if (!any || tag_pending) {
        sdl_error_set(err, SDL_E_INVALID, "GTID set entry '%.*s' names no transactions%s",
                      (int)SDL_MIN(len, 80), s, tag_pending ? " after its tag" : "");
        return false;
    }
    return true;
}

bool
sdl_gtid_set_parse(const char *text, sdl_gtid_set *ret_set, sdl_error *err)
{
    sdl_gtid_set set = SDL_GTID_SET_INIT;
    const char *p = text;

    for (;;) {
        while (is_space(*p)) {
            p++;
        }
        if (!*p && p == text) {
            break; /* "" */
        }
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *e = end;
        while (e > p && is_space(e[-1])) {
            e--;
        }
        if (e == p) {
            sdl_error_set(err, SDL_E_INVALID, "empty entry in MySQL GTID set '%.80s'", text);
            goto fail;
        }
        if (!parse_entry(p, (size_t)(e - p), &set, err)) {
            goto fail;
        }
        if (!comma) {
            break;
        }
        p = comma + 1;
        if (!*p) {
            sdl_error_set(err, SDL_E_INVALID, "trailing comma in MySQL GTID set '%.80s'", text);
            goto fail;
        }
    }
    sdl_gtid_set_done(ret_set);
    *ret_set = set;
    return true;
fail:
    sdl_gtid_set_done(&set);
    return false;
}

bool
sdl_mysql_gtid_parse(const char *text, size_t len, sdl_mysql_gtid *ret_gtid, sdl_error *err)
{
    const char *end = text + len;
    const char *c1 = memchr(text, ':', len);
    const char *last = NULL;
    sdl_mysql_gtid g;

    memset(&g, 0, sizeof(g));
    for (const char *p = text; p < end; p++) {
        if (*p == ':') {
            last = p;
        }
    }
    if (!c1 || !parse_uuid(text, (size_t)(c1 - text), g.uuid) ||
        !parse_u64(last + 1, (size_t)(end - last - 1), &g.gno) || g.gno == 0 ||
        (last != c1 && !sdl_gtid_tag_normalize(c1 + 1, (size_t)(last - c1 - 1), g.tag))) {
        sdl_error_set(err, SDL_E_INVALID,
                      "invalid MySQL GTID '%.*s': expected uuid:number or uuid:tag:number",
                      (int)SDL_MIN(len, 100), text);
        return false;
    }
    *ret_gtid = g;
    return true;
}

char *
sdl_mysql_gtid_format(const sdl_mysql_gtid *gtid, char *buf)
{
    char u[37];

    (void)sdl_uuid_format(gtid->uuid, u);
    if (gtid->tag[0]) {
        (void)snprintf(buf, SDL_MYSQL_GTID_TEXT_MAX, "%s:%s:%" PRIu64, u, gtid->tag, gtid->gno);
    } else {
        (void)snprintf(buf, SDL_MYSQL_GTID_TEXT_MAX, "%s:%" PRIu64, u, gtid->gno);
    }
    return buf;
}

/* ---- binary ------------------------------------------------------------------------------- */

void
sdl_gtid_set_encode(const sdl_gtid_set *set, sdl_buf *out)
{
    bool tagged = false;

    for (size_t i = 0; i < set->n; i++) {
        tagged = tagged || set->e[i].tag[0];
    }
    if (tagged) {
        /* libs/mysql/gtid/gtid_format.h: format byte 1 at both ends, n_tsids in between. */
        sdl_buf_append_u64le(out, (UINT64_C(1) << 56) | ((uint64_t)set->n << 8) | 1u);
    } else {
        sdl_buf_append_u64le(out, (uint64_t)set->n);
    }
    for (size_t i = 0; i < set->n; i++) {
        const sdl_gtid_set_entry *e = &set->e[i];
        sdl_buf_append(out, e->uuid, 16);
        if (tagged) {
            uint8_t v[9];
            size_t tl = strlen(e->tag);
            sdl_buf_append(out, v, sdl_varlen_uint_write(tl, v));
            sdl_buf_append(out, e->tag, tl);
        }
        sdl_buf_append_u64le(out, (uint64_t)e->n);
        for (size_t k = 0; k < e->n; k++) {
            sdl_buf_append_u64le(out, e->iv[k].first);
            sdl_buf_append_u64le(out, e->iv[k].last + 1); /* exclusive end */
        }
    }
}

static uint64_t
rd64(const uint8_t *p)
{
    uint64_t v = 0;

    for (size_t i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

bool
sdl_gtid_set_decode(sdl_bytes in, sdl_gtid_set *ret_set, sdl_error *err)
{
    sdl_gtid_set set = SDL_GTID_SET_INIT;
    const uint8_t *p = in.ptr;
    const uint8_t *end = in.ptr ? in.ptr + in.len : NULL;
    uint64_t head, nsids;
    bool tagged;

    if (in.len < 8) {
        sdl_error_set(err, SDL_E_PROTOCOL, "GTID set encoding of %zu bytes is truncated", in.len);
        return false;
    }
    head = rd64(p);
    p += 8;
    tagged = (head >> 56) != 0;
    if (tagged && ((head >> 56) != 1 || (head & 0xff) != 1)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "GTID set encoding has unknown format 0x%016" PRIx64,
                      head);
        return false;
    }
    nsids = tagged ? (head >> 8) & ((UINT64_C(1) << 48) - 1) : head;
    if (nsids > in.len / 24) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "GTID set encoding claims %" PRIu64 " uuids in %zu bytes", nsids, in.len);
        return false;
    }
    for (uint64_t i = 0; i < nsids; i++) {
        uint8_t uuid[16];
        char tag[SDL_GTID_TAG_MAX + 1] = "";
        uint64_t niv;
        if ((size_t)(end - p) < 16) {
            goto truncated;
        }
        memcpy(uuid, p, 16);
        p += 16;
        if (tagged) {
            uint64_t tl;
            if (!sdl_varlen_uint_read(&p, end, &tl) || tl > (uint64_t)(end - p)) {
                goto truncated;
            }
            if (tl > 0 && !sdl_gtid_tag_normalize((const char *)p, (size_t)tl, tag)) {
                sdl_error_set(err, SDL_E_PROTOCOL, "GTID set encoding has an invalid tag");
                goto fail;
            }
            p += tl;
        }
        if ((size_t)(end - p) < 8) {
            goto truncated;
        }
        niv = rd64(p);
        p += 8;
        if (niv > (uint64_t)(end - p) / 16) {
            goto truncated;
        }
        for (uint64_t k = 0; k < niv; k++) {
            uint64_t a = rd64(p), b = rd64(p + 8);
            p += 16;
            if (a < 1 || b <= a) {
                sdl_error_set(
                    err, SDL_E_PROTOCOL,
                    "GTID set encoding has an invalid interval [%" PRIu64 ", %" PRIu64 ")", a, b);
                goto fail;
            }
            sdl_gtid_set_add_range(&set, uuid, tag, a, b - 1);
        }
    }
    if (p != end) {
        sdl_error_set(err, SDL_E_PROTOCOL, "GTID set encoding has %zu bytes left over",
                      (size_t)(end - p));
        goto fail;
    }
    sdl_gtid_set_done(ret_set);
    *ret_set = set;
    return true;
truncated:
    sdl_error_set(err, SDL_E_PROTOCOL, "GTID set encoding of %zu bytes is truncated", in.len);
fail:
    sdl_gtid_set_done(&set);
    return false;
}
