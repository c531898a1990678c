/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/json-binary.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/mapping/json-text.h"

#include "json-binary-private.h"
#include "utf8-private.h"

/*
 * Layout (MySQL sql-common/json_binary.h, "JSON binary format"):
 *   doc        ::= type value
 *   type 0x00 small object, 0x01 large object, 0x02 small array, 0x03 large array,
 *        0x04 literal (0 null, 1 true, 2 false), 0x05 int16, 0x06 uint16, 0x07 int32,
 *        0x08 uint32, 0x09 int64, 0x0a uint64, 0x0b double, 0x0c string, 0x0f opaque
 *   object     ::= element-count size key-entry* value-entry* key* value*
 *   array      ::= element-count size value-entry* value*
 *   (count, size and offsets are uint16 in small, uint32 in large containers; offsets are
 *    relative to the start of the container)
 *   key-entry  ::= key-offset key-length(uint16)
 *   value-entry::= type offset-or-inlined-value (literals, int16, uint16 inline; in large
 *                  containers also int32, uint32)
 *   string     ::= data-length(variable: 7 bits per byte, high bit = more) utf8mb4-data
 *   opaque     ::= field-type(uint8) data-length(variable) binary-data
 * The tree below is built from that, patched by the diffs, and written as BSON.
 */

enum {
    JB_SMALL_OBJ = 0x00,
    JB_LARGE_OBJ = 0x01,
    JB_SMALL_ARR = 0x02,
    JB_LARGE_ARR = 0x03,
    JB_LITERAL = 0x04,
    JB_INT16 = 0x05,
    JB_UINT16 = 0x06,
    JB_INT32 = 0x07,
    JB_UINT32 = 0x08,
    JB_INT64 = 0x09,
    JB_UINT64 = 0x0a,
    JB_DOUBLE = 0x0b,
    JB_STRING = 0x0c,
    JB_OPAQUE = 0x0f,
};

/* enum_field_types codes that opaque values carry */
enum {
    T_TIMESTAMP = 7,
    T_DATE = 10,
    T_TIME = 11,
    T_DATETIME = 12,
    T_NEWDATE = 14,
    T_NEWDECIMAL = 246,
};

/* The variable-length string/opaque length: up to 5 bytes of 7 bits (json_binary.cc
 * read_variable_length). */
static bool
read_varlen(const uint8_t *p, size_t len, uint64_t *ret, size_t *used)
{
    uint64_t v = 0;

    for (size_t i = 0; i < 5 && i < len; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (v > UINT32_MAX) {
                return false;
            }
            *ret = v;
            *used = i + 1;
            return true;
        }
    }
    return false;
}

static jnode *
new_node(jctx *cx, jkind kind)
{
    jnode *n = sdl_arena_calloc(&cx->arena, 1, sizeof(*n));
    n->kind = kind;
    return n;
}

void
sdl_json_binary_add_kid(jctx *cx, jnode *parent, sdl_bytes key, jnode *kid, uint32_t at)
{
    if (parent->n == parent->cap) {
        uint32_t cap = parent->cap ? parent->cap * 2 : 4;
        jnode **kids = sdl_arena_alloc(&cx->arena, cap * sizeof(*kids));
        sdl_bytes *keys = sdl_arena_alloc(&cx->arena, cap * sizeof(*keys));
        if (parent->n) {
            memcpy(kids, parent->kids, parent->n * sizeof(*kids));
            memcpy(keys, parent->keys, parent->n * sizeof(*keys));
        }
        parent->kids = kids;
        parent->keys = keys;
        parent->cap = cap;
    }
    memmove(&parent->kids[at + 1], &parent->kids[at], (parent->n - at) * sizeof(*parent->kids));
    memmove(&parent->keys[at + 1], &parent->keys[at], (parent->n - at) * sizeof(*parent->keys));
    parent->kids[at] = kid;
    parent->keys[at] = key;
    parent->n++;
}

static bool parse_value(jctx *cx, uint8_t type, const uint8_t *p, size_t len, uint32_t depth,
                        jnode **ret);

static bool
parse_container(jctx *cx, uint8_t type, const uint8_t *p, size_t len, uint32_t depth, jnode **ret)
{
    bool large = type == JB_LARGE_OBJ || type == JB_LARGE_ARR;
    bool obj = type == JB_SMALL_OBJ || type == JB_LARGE_OBJ;
    size_t w = large ? 4 : 2;
    size_t key_entry = w + 2, value_entry = 1 + w;
    uint64_t count, size;
    jnode *n;

    if (depth >= cx->max_depth) {
        cx->err_set = true;
        sdl_error_set(cx->err, SDL_E_PROTOCOL, "JSON value nested deeper than %" PRIu32 " levels",
                      cx->max_depth);
        return false;
    }
    if (len < 2 * w) {
        return fail(cx, "binary JSON %s header truncated", obj ? "object" : "array");
    }
    count = sdl_json_binary_rd_le(p, w);
    size = sdl_json_binary_rd_le(p + w, w);
    if (size > len || size < 2 * w) {
        return fail(cx, "binary JSON %s size exceeds its buffer", obj ? "object" : "array");
    }
    if (count > (size - 2 * w) / (obj ? key_entry + value_entry : value_entry)) {
        return fail(cx, "binary JSON %s element count exceeds its size", obj ? "object" : "array");
    }
    n = new_node(cx, obj ? K_OBJ : K_ARR);
    for (uint64_t i = 0; i < count; i++) {
        sdl_bytes key = {NULL, 0};
        if (obj) {
            const uint8_t *ke = p + 2 * w + i * key_entry;
            uint64_t koff = sdl_json_binary_rd_le(ke, w), klen = sdl_json_binary_rd_le(ke + w, 2);
            if (koff > size || klen > size - koff) {
                return fail(cx, "binary JSON %s key outside the object", "object");
            }
            key = SDL_BYTES(p + koff, (size_t)klen);
        }
        const uint8_t *ve = p + 2 * w + (obj ? count * key_entry : 0) + i * value_entry;
        uint8_t vt = ve[0];
        jnode *kid = NULL;
        bool inlined = vt == JB_LITERAL || vt == JB_INT16 || vt == JB_UINT16 ||
                       (large && (vt == JB_INT32 || vt == JB_UINT32));
        if (inlined) {
            if (!parse_value(cx, vt, ve + 1, w, depth + 1, &kid)) {
                return false;
            }
        } else {
            uint64_t off = sdl_json_binary_rd_le(ve + 1, w);
            if (off >= size) {
                return fail(cx, "binary JSON %s value offset outside the container",
                            obj ? "object" : "array");
            }
            if (!parse_value(cx, vt, p + off, (size_t)(size - off), depth + 1, &kid)) {
                return false;
            }
        }
        sdl_json_binary_add_kid(cx, n, key, kid, n->n);
    }
    *ret = n;
    return true;
}

static bool
parse_value(jctx *cx, uint8_t type, const uint8_t *p, size_t len, uint32_t depth, jnode **ret)
{
    static const uint8_t int_size[] = {
        [JB_INT16] = 2, [JB_UINT16] = 2, [JB_INT32] = 4, [JB_UINT32] = 4,
        [JB_INT64] = 8, [JB_UINT64] = 8, [JB_DOUBLE] = 8};
    jnode *n;
    uint64_t v, dlen;
    size_t used;

    switch (type) {
    case JB_SMALL_OBJ:
    case JB_LARGE_OBJ:
    case JB_SMALL_ARR:
    case JB_LARGE_ARR:
        return parse_container(cx, type, p, len, depth, ret);
    case JB_LITERAL:
        if (len < 1 || p[0] > 2) {
            return fail(cx, "binary JSON %s is invalid", "literal");
        }
        *ret = new_node(cx, p[0] == 0 ? K_NULL : p[0] == 1 ? K_TRUE : K_FALSE);
        return true;
    case JB_INT16:
    case JB_UINT16:
    case JB_INT32:
    case JB_UINT32:
    case JB_INT64:
    case JB_UINT64:
    case JB_DOUBLE:
        if (len < int_size[type]) {
            return fail(cx, "binary JSON %s truncated", "number");
        }
        v = sdl_json_binary_rd_le(p, int_size[type]);
        if (type == JB_DOUBLE) {
            n = new_node(cx, K_DOUBLE);
            memcpy(&n->d, &v, sizeof(n->d));
        } else if (type == JB_UINT16 || type == JB_UINT32 || type == JB_UINT64) {
            n = new_node(cx, K_UINT);
            n->u = v;
        } else {
            n = new_node(cx, K_INT);
            unsigned bits = 8u * int_size[type];
            n->i = bits == 64
                       ? (int64_t)v
                       : (int64_t)(v ^ (UINT64_C(1) << (bits - 1))) - (INT64_C(1) << (bits - 1));
        }
        *ret = n;
        return true;
    case JB_STRING:
        if (!read_varlen(p, len, &dlen, &used) || dlen > len - used) {
            return fail(cx, "binary JSON %s length exceeds its buffer", "string");
        }
        n = new_node(cx, K_STR);
        n->s = SDL_BYTES(p + used, (size_t)dlen);
        *ret = n;
        return true;
    case JB_OPAQUE:
        if (len < 1 || !read_varlen(p + 1, len - 1, &dlen, &used) || dlen > len - 1 - used) {
            return fail(cx, "binary JSON %s length exceeds its buffer", "opaque value");
        }
        n = new_node(cx, K_OPAQUE);
        n->opaque_type = p[0];
        n->s = SDL_BYTES(p + 1 + used, (size_t)dlen);
        *ret = n;
        return true;
    default:
        cx->err_set = true;
        sdl_error_set(cx->err, SDL_E_PROTOCOL, "binary JSON value of unknown type 0x%02x", type);
        return false;
    }
}

/* A whole binary JSON document (type byte + value); empty means null. */
bool
sdl_json_binary_parse_doc(jctx *cx, const uint8_t *p, size_t len, jnode **ret)
{
    if (len == 0) {
        *ret = new_node(cx, K_NULL);
        return true;
    }
    return parse_value(cx, p[0], p + 1, len - 1, 0, ret);
}

/* ---- opaque values -------------------------------------------------------------------------- */

/* DECIMAL from MySQL's binary form (strings/decimal.c bin2decimal): groups of 9 digits in 4
 * big-endian bytes, partial groups in fewer bytes, first bit inverted as the sign. */
static bool
decimal_text(const uint8_t *p, size_t len, unsigned prec, unsigned scale, sdl_buf *out)
{
    static const uint8_t dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
    unsigned intg = prec - scale, intg0 = intg / 9, frac0 = scale / 9;
    unsigned intg0x = intg % 9, frac0x = scale % 9;
    size_t need = (size_t)intg0 * 4 + dig2bytes[intg0x] + (size_t)frac0 * 4 + dig2bytes[frac0x];
    uint8_t buf[64];
    size_t o = 0;
    bool neg, leading = true;

    if (prec == 0 || prec > 65 || scale > 30 || scale > prec || len != need || need > sizeof(buf)) {
        return false;
    }
    memcpy(buf, p, need);
    neg = (buf[0] & 0x80) == 0;
    buf[0] ^= 0x80;
    if (neg) {
        for (size_t i = 0; i < need; i++) {
            buf[i] = (uint8_t)~buf[i];
        }
    }
    if (neg) {
        sdl_buf_append_byte(out, '-');
    }
    /* integer part */
    char digits[80];
    size_t nd = 0;
    if (intg0x) {
        uint64_t v = 0;
        for (size_t i = 0; i < dig2bytes[intg0x]; i++) {
            v = v << 8 | buf[o++];
        }
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%0*" PRIu64, (int)intg0x, v);
    }
    for (unsigned g = 0; g < intg0; g++) {
        uint64_t v =
            sdl_json_binary_rd_le((const uint8_t[]){buf[o + 3], buf[o + 2], buf[o + 1], buf[o]}, 4);
        o += 4;
        if (v > 999999999) {
            return false;
        }
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%09" PRIu64, v);
    }
    for (size_t i = 0; i < nd; i++) {
        if (leading && digits[i] == '0' && i + 1 < nd) {
            continue;
        }
        leading = false;
        sdl_buf_append_byte(out, (uint8_t)digits[i]);
    }
    if (nd == 0) {
        sdl_buf_append_byte(out, '0');
    }
    if (scale) {
        sdl_buf_append_byte(out, '.');
        for (unsigned g = 0; g < frac0; g++) {
            uint64_t v = sdl_json_binary_rd_le(
                (const uint8_t[]){buf[o + 3], buf[o + 2], buf[o + 1], buf[o]}, 4);
            o += 4;
            if (v > 999999999) {
                return false;
            }
            sdl_buf_appendf(out, "%09" PRIu64, v);
        }
        if (frac0x) {
            uint64_t v = 0;
            for (size_t i = 0; i < dig2bytes[frac0x]; i++) {
                v = v << 8 | buf[o++];
            }
            sdl_buf_appendf(out, "%0*" PRIu64, (int)frac0x, v);
        }
    }
    return true;
}

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
append_opaque(jctx *cx, bson_t *b, const char *key, int klen, const jnode *n)
{
    const uint8_t *p = n->s.ptr;
    sdl_buf t = SDL_BUF_INIT;
    bool ok = true;

    switch (n->opaque_type) {
    case T_NEWDECIMAL: {
        if (n->s.len < 2 || !decimal_text(p + 2, n->s.len - 2, p[0], p[1], &t)) {
            ok = fail(cx, "binary JSON opaque %s is malformed", "DECIMAL");
            break;
        }
        bson_decimal128_t dec;
        unsigned digits = 0;
        for (size_t i = 0; i < t.len; i++) {
            digits += t.data[i] >= '0' && t.data[i] <= '9';
        }
        if (digits <= 34 &&
            bson_decimal128_from_string_w_len((const char *)t.data, (int)t.len, &dec)) {
            ok = bson_append_decimal128(b, key, klen, &dec);
        } else {
            ok = bson_append_utf8(b, key, klen, (const char *)t.data, (int)t.len);
        }
        break;
    }
    case T_DATE:
    case T_NEWDATE:
    case T_DATETIME:
    case T_TIMESTAMP:
    case T_TIME: {
        /* sql-common/my_time.cc TIME_to_longlong_{datetime,time}_packed: an int64 of
         * ((ymd << 17 | hms) << 24) + microseconds, negative for negative TIMEs, where
         * ymd = (year * 13 + month) << 5 | day and hms = hour << 12 | minute << 6 | second. */
        if (n->s.len != 8) {
            ok = fail(cx, "binary JSON opaque %s is not 8 bytes", "temporal value");
            break;
        }
        int64_t packed = (int64_t)sdl_json_binary_rd_le(p, 8);
        bool neg = packed < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
        uint64_t frac = mag % (1u << 24), ymdhms = mag >> 24;
        uint64_t ymd = ymdhms >> 17, hms = ymdhms % (1u << 17);
        unsigned day = (unsigned)(ymd % 32), ym = (unsigned)(ymd >> 5);
        unsigned year = ym / 13, month = ym % 13;
        unsigned hour = (unsigned)(hms >> 12), minute = (unsigned)(hms >> 6) % 64,
                 second = (unsigned)hms % 64;
        if (n->opaque_type == T_TIME) {
            /* TIME: the whole integer part is hours:minutes:seconds */
            uint64_t h = ymdhms >> 12;
            if (frac > 999999 || minute > 59 || second > 59) {
                ok = fail(cx, "binary JSON opaque %s is out of range", "TIME");
                break;
            }
            sdl_buf_appendf(&t, "%s%02" PRIu64 ":%02u:%02u.%06" PRIu64, neg ? "-" : "", h, minute,
                            second, frac);
            ok = bson_append_utf8(b, key, klen, (const char *)t.data, (int)t.len);
            break;
        }
        if (neg || frac > 999999 || month > 12 || hour > 23 || minute > 59 || second > 59 ||
            year > 9999) {
            ok = fail(cx, "binary JSON opaque %s is out of range", "date");
            break;
        }
        bool date_only = n->opaque_type == T_DATE || n->opaque_type == T_NEWDATE;
        sdl_buf_appendf(&t, "%04u-%02u-%02u", year, month, day);
        if (!date_only) {
            sdl_buf_appendf(&t, " %02u:%02u:%02u.%06" PRIu64, hour, minute, second, frac);
        }
        if (cx->datetime_as_string || month == 0 || day == 0) {
            ok = bson_append_utf8(b, key, klen, (const char *)t.data, (int)t.len);
        } else {
            int64_t days = days_from_civil(year, month, day);
            int64_t ms = days * 86400000 + (int64_t)hour * 3600000 + (int64_t)minute * 60000 +
                         (int64_t)second * 1000 + (int64_t)(frac / 1000);
            ok = bson_append_date_time(b, key, klen, ms);
        }
        break;
    }
    default: {
        /* What MySQL prints for other opaque values (Json_wrapper::to_string). */
        size_t b64 = (n->s.len + 2) / 3 * 4 + 1;
        char *enc = sdl_arena_alloc(&cx->arena, b64);
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (size_t i = 0; i < n->s.len; i += 3) {
            uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n->s.len ? (uint32_t)p[i + 1] << 8 : 0) |
                         (i + 2 < n->s.len ? p[i + 2] : 0);
            enc[o++] = tbl[v >> 18 & 63];
            enc[o++] = tbl[v >> 12 & 63];
            enc[o++] = i + 1 < n->s.len ? tbl[v >> 6 & 63] : '=';
            enc[o++] = i + 2 < n->s.len ? tbl[v & 63] : '=';
        }
        sdl_buf_appendf(&t, "base64:type%u:%.*s", n->opaque_type, (int)o, enc);
        ok = bson_append_utf8(b, key, klen, (const char *)t.data, (int)t.len);
        break;
    }
    }
    sdl_buf_done(&t);
    return ok;
}

/* ---- tree → BSON ---------------------------------------------------------------------------- */

bool
sdl_json_binary_append_node(jctx *cx, bson_t *b, const char *key, int klen, const jnode *n)
{
    switch (n->kind) {
    case K_NULL:
        return bson_append_null(b, key, klen);
    case K_TRUE:
    case K_FALSE:
        return bson_append_bool(b, key, klen, n->kind == K_TRUE);
    case K_INT:
        if (n->i >= INT32_MIN && n->i <= INT32_MAX) {
            return bson_append_int32(b, key, klen, (int32_t)n->i);
        }
        return bson_append_int64(b, key, klen, n->i);
    case K_UINT:
        if (n->u <= INT32_MAX) {
            return bson_append_int32(b, key, klen, (int32_t)n->u);
        }
        if (n->u <= INT64_MAX) {
            return bson_append_int64(b, key, klen, (int64_t)n->u);
        } else {
            bson_decimal128_t d = {.high = UINT64_C(0x3040000000000000), .low = n->u};
            return bson_append_decimal128(b, key, klen, &d);
        }
    case K_DOUBLE:
        return bson_append_double(b, key, klen, n->d);
    case K_STR:
        if (!sdl_utf8_valid((const char *)n->s.ptr, n->s.len)) {
            return fail(cx, "binary JSON %s is not valid UTF-8", "string");
        }
        return bson_append_utf8(b, key, klen, (const char *)n->s.ptr, (int)n->s.len);
    case K_OPAQUE:
        return append_opaque(cx, b, key, klen, n);
    case K_OBJ:
    case K_ARR: {
        bson_t child;
        bool ok = n->kind == K_OBJ ? bson_append_document_begin(b, key, klen, &child)
                                   : bson_append_array_begin(b, key, klen, &child);
        for (uint32_t i = 0; ok && i < n->n; i++) {
            char ibuf[16];
            const char *k;
            int kl;
            if (n->kind == K_OBJ) {
                const sdl_bytes *kb = &n->keys[i];
                if (memchr(kb->ptr, 0, kb->len) ||
                    !sdl_utf8_valid((const char *)kb->ptr, kb->len)) {
                    ok = fail(cx, "binary JSON object %s is not valid UTF-8 without NUL", "key");
                    break;
                }
                k = kb->len ? (const char *)kb->ptr : "";
                kl = (int)kb->len;
            } else {
                kl = (int)bson_uint32_to_string(i, &k, ibuf, sizeof(ibuf));
            }
            ok = sdl_json_binary_append_node(cx, &child, k, kl, n->kids[i]);
        }
        if (n->kind == K_OBJ) {
            return bson_append_document_end(b, &child) && ok;
        }
        return bson_append_array_end(b, &child) && ok;
    }
    }
    return false;
}

/* Appends to a scratch document first so that @parent is untouched on failure. */
bool
sdl_json_binary_emit(jctx *cx, bson_t *parent, const char *key, size_t key_len, const jnode *n)
{
    bson_t tmp = BSON_INITIALIZER;
    bson_iter_t it;
    bool ok;

    if (key_len > INT32_MAX / 2) {
        return fail(cx, "%s too long", "key");
    }
    ok = sdl_json_binary_append_node(cx, &tmp, "", 0, n);
    if (ok) {
        ok = bson_iter_init(&it, &tmp) && bson_iter_next(&it) &&
             bson_append_iter(parent, key, (int)key_len, &it);
        if (!ok) {
            cx->err_set = true;
            sdl_error_set(cx->err, SDL_E_UNSUPPORTED, "JSON value exceeds the BSON limit");
        }
    } else if (!cx->err_set) {
        cx->err_set = true;
        sdl_error_set(cx->err, SDL_E_UNSUPPORTED, "JSON value exceeds the BSON limit");
    }
    bson_destroy(&tmp);
    return ok;
}

void
sdl_json_binary_ctx_init(jctx *cx, const sdl_json_binary_options *opts, sdl_error *err)
{
    sdl_arena_init(&cx->arena, 0);
    cx->max_depth = opts && opts->max_depth ? opts->max_depth : SDL_JSON_TEXT_MAX_DEPTH;
    cx->datetime_as_string = opts && opts->datetime_as_string;
    cx->err = err;
    cx->err_set = false;
}

bool
sdl_json_binary_append(bson_t *parent, const char *key, size_t key_len, const uint8_t *data,
                       size_t len, const sdl_json_binary_options *opts, sdl_error *err)
{
    jctx cx;
    jnode *root = NULL;
    bool ok;

    sdl_json_binary_ctx_init(&cx, opts, err);
    ok = sdl_json_binary_parse_doc(&cx, data, len, &root) &&
         sdl_json_binary_emit(&cx, parent, key, key_len, root);
    sdl_arena_done(&cx.arena);
    return ok;
}
