/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * doc-mapper-private: what the files of the document mapper share: doc-mapper-value.c (one
 * value into BSON, by type family), doc-mapper.c (the row and statement documents: _id, images,
 * pk, changed, position, the column policy applied) and the raw BSON writer both write with.
 * column-policy.c uses the text forms (the text a hashed value is hashed as). Not for other
 * modules: include/sdl/mapping/doc-mapper.h is the interface.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/model/change.h"

/* "YYYY-MM-DD[ hh:mm:ss[.f…]]" as MySQL prints DATE / DATETIME(fsp) (@usec since 1970 UTC);
 * returns the length written into @buf (@cap bytes, 64 are enough). */
size_t sdl_mapper_format_datetime(char *buf, size_t cap, int64_t usec, unsigned fsp,
                                  bool date_only);

/* The double of a FLOAT column's shortest round-trip decimal form (1.1f -> 1.1). */
double sdl_mapper_float_shortest(double d);

static inline int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * bw: a raw BSON writer. libbson's bson_append_*() cost tens of nanoseconds per element
 * (varargs, one memcpy per piece, growth checks); a row document has 20 to 100 elements and
 * is built a million times a second, so the document is written here byte by byte into a
 * local buffer and handed to the caller's bson_t with one copy. JSON text is parsed straight
 * into it (sdl_json_text_write(), which shares the buffer's malloc/free); rare kinds (binary
 * JSON, GEOMETRY, and the JSON text sdl_json_text_write() declines: a scalar at the top, or
 * text it refuses) are built with libbson into a temporary document whose element is copied
 * over.
 */
typedef struct bw {
    uint8_t *p;
    size_t len;
    size_t cap;
    uint8_t local[2048];
} bw;

static inline void
bw_init(bw *w)
{
    w->p = w->local;
    w->len = 0;
    w->cap = sizeof(w->local);
}

static inline void
bw_done(bw *w)
{
    if (w->p != w->local) {
        free(w->p);
    }
}

/* Grows @w to take @n more bytes (doc-mapper.c). */
void sdl_mapper_bw_grow(bw *w, size_t n);

static inline uint8_t *
bw_room(bw *w, size_t n)
{
    if (SDL_UNLIKELY(w->cap - w->len < n)) {
        sdl_mapper_bw_grow(w, n);
    }
    return w->p + w->len;
}

static inline void
le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void
le64(uint8_t *p, uint64_t v)
{
    le32(p, (uint32_t)v);
    le32(p + 4, (uint32_t)(v >> 32));
}

/* memcpy for the short keys and values of a row (column names, GTIDs): two overlapping word
 * copies instead of a call. */
static inline void
copy_short(uint8_t *d, const void *src, size_t n)
{
    const uint8_t *s = src;

    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[i];
        }
    } else {
        memcpy(d, s, n);
    }
}

/* Element header: type byte, key, NUL; then @extra bytes of value are reserved. Returns where
 * the value goes. */
static inline uint8_t *
bw_elem(bw *w, bson_type_t type, const char *key, size_t klen, size_t extra)
{
    uint8_t *p = bw_room(w, 2 + klen + extra);
    p[0] = (uint8_t)type;
    copy_short(p + 1, key, klen);
    p[1 + klen] = 0;
    w->len += 2 + klen + extra;
    return p + 2 + klen;
}

static inline void
bw_i32(bw *w, const char *key, size_t klen, int32_t v)
{
    le32(bw_elem(w, BSON_TYPE_INT32, key, klen, 4), (uint32_t)v);
}

static inline void
bw_i64(bw *w, const char *key, size_t klen, int64_t v)
{
    le64(bw_elem(w, BSON_TYPE_INT64, key, klen, 8), (uint64_t)v);
}

static inline void
bw_date(bw *w, const char *key, size_t klen, int64_t ms)
{
    le64(bw_elem(w, BSON_TYPE_DATE_TIME, key, klen, 8), (uint64_t)ms);
}

static inline void
bw_double(bw *w, const char *key, size_t klen, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    le64(bw_elem(w, BSON_TYPE_DOUBLE, key, klen, 8), bits);
}

static inline void
bw_bool(bw *w, const char *key, size_t klen, bool v)
{
    *bw_elem(w, BSON_TYPE_BOOL, key, klen, 1) = v ? 1 : 0;
}

static inline void
bw_null(bw *w, const char *key, size_t klen)
{
    (void)bw_elem(w, BSON_TYPE_NULL, key, klen, 0);
}

static inline void
bw_dec128(bw *w, const char *key, size_t klen, const bson_decimal128_t *d)
{
    uint8_t *p = bw_elem(w, BSON_TYPE_DECIMAL128, key, klen, 16);
    le64(p, d->low);
    le64(p + 8, d->high);
}

/* String of @len bytes (length prefix counts the NUL). */
static inline void
bw_str(bw *w, const char *key, size_t klen, const char *s, size_t len)
{
    uint8_t *p = bw_elem(w, BSON_TYPE_UTF8, key, klen, 4 + len + 1);
    le32(p, (uint32_t)(len + 1));
    copy_short(p + 4, s, len);
    p[4 + len] = 0;
}

static inline void
bw_cstr(bw *w, const char *key, size_t klen, const char *s)
{
    bw_str(w, key, klen, s, strlen(s));
}

static inline void
bw_binary(bw *w, const char *key, size_t klen, const void *data, size_t len)
{
    uint8_t *p = bw_elem(w, BSON_TYPE_BINARY, key, klen, 5 + len);
    le32(p, (uint32_t)len);
    p[4] = BSON_SUBTYPE_BINARY;
    if (len) {
        memcpy(p + 5, data, len);
    }
}

/* Opens a sub-document or array; returns the offset of its length field for bw_end(). */
static inline size_t
bw_begin(bw *w, bson_type_t type, const char *key, size_t klen)
{
    (void)bw_elem(w, type, key, klen, 4);
    return w->len - 4;
}

static inline void
bw_end(bw *w, size_t at)
{
    *bw_room(w, 1) = 0;
    w->len++;
    le32(w->p + at, (uint32_t)(w->len - at));
}

/* Array index keys "0".."N" without printf. */
static inline size_t
index_key(uint32_t i, char *buf)
{
    char tmp[12];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    for (size_t j = 0; j < n; j++) {
        buf[j] = tmp[n - 1 - j];
    }
    return n;
}

/* Copies the one element of @tmp (built by libbson under the key "") under @key. */
static inline void
bw_copy_element(bw *w, const char *key, size_t klen, const bson_t *tmp)
{
    const uint8_t *data = bson_get_data(tmp);
    /* int32 length, type, "" key (one NUL), value..., final NUL */
    size_t vlen = tmp->len - 4 - 2 - 1;
    uint8_t *p = bw_elem(w, (bson_type_t)data[4], key, klen, vlen);
    memcpy(p, data + 6, vlen);
}

/* Moves the finished document in @w into the empty @doc. */
static inline void
bw_finish(bw *w, bson_t *doc)
{
    BSON_ASSERT(bson_empty(doc));
    uint8_t *dst = bson_reserve_buffer(doc, (uint32_t)w->len);
    BSON_ASSERT(dst);
    memcpy(dst, w->p, w->len);
}

/* Integer columns whose values do not all fit int32: BIGINT, and INT UNSIGNED. Without a
 * column (a value mapped on its own) the value decides. */
static inline bool
wide_integer_column(const sdl_column *col)
{
    if (!col) {
        return false;
    }
    return col->type == 8 /* LONGLONG */ || (col->type == 3 /* LONG */ && col->is_unsigned);
}

/* INT: the BSON type follows the column type, not the value, so a column has one type:
 * BIGINT is int64, smaller integers int32 (DESIGN.md §6). */
static inline void
put_int(bw *w, const sdl_column *col, const sdl_value *v, const char *key, size_t klen)
{
    if (!wide_integer_column(col) && v->i >= INT32_MIN && v->i <= INT32_MAX) {
        bw_i32(w, key, klen, (int32_t)v->i);
    } else {
        bw_i64(w, key, klen, v->i);
    }
}

/* DECIMAL64: coefficient |i|, exponent -scale: the Decimal128 the text path gives for it. */
static inline void
put_decimal64(bw *w, const sdl_value *v, const char *key, size_t klen)
{
    bson_decimal128_t dec;
    dec.low = v->i < 0 ? (uint64_t)0 - (uint64_t)v->i : (uint64_t)v->i;
    dec.high = ((uint64_t)(6176 - v->scale) << 49) | (v->i < 0 ? UINT64_C(0x8000000000000000) : 0);
    bw_dec128(w, key, klen, &dec);
}

/* Writes one value; on failure nothing was written (doc-mapper-value.c). */
bool sdl_mapper_put_value(bw *w, const sdl_doc_mapper_options *opts, const sdl_column *col,
                          const sdl_value *v, const char *key, size_t klen, sdl_error *err);

/* The common kinds, written as sdl_mapper_put_value() writes them, without its call: true when
 * done, false to call sdl_mapper_put_value() (which then writes the value or says what is wrong).
 */
static inline __attribute__((always_inline)) bool
put_value_fast(bw *w, const sdl_doc_mapper_options *opts, const sdl_column *col, const sdl_value *v,
               const char *key, size_t klen)
{
    switch (v->kind) {
    case SDL_VALUE_NULL:
        bw_null(w, key, klen);
        return true;
    case SDL_VALUE_INT:
        put_int(w, col, v, key, klen);
        return true;
    case SDL_VALUE_DOUBLE:
        bw_double(w, key, klen, v->d);
        return true;
    case SDL_VALUE_DECIMAL64:
        put_decimal64(w, v, key, klen);
        return true;
    case SDL_VALUE_STRING:
        if (!v->utf8_checked || v->str.len == 0 || v->str.len > INT_MAX / 2) {
            return false;
        }
        bw_str(w, key, klen, v->str.ptr, v->str.len);
        return true;
    case SDL_VALUE_DATETIME:
        if (opts->datetime_as_string) {
            return false;
        }
        bw_date(w, key, klen, floor_div(v->usec, 1000));
        return true;
    default:
        return false;
    }
}
