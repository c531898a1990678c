/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/doc-mapper.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/geojson.h"
#include "sdl/mapping/json-binary.h"
#include "sdl/mapping/json-text.h"

#include "doc-mapper-private.h"
#include "utf8-private.h"

/* MySQL enum_field_types of TIMESTAMP columns (include/mysql_com.h). */
#define MYSQL_TYPE_TIMESTAMP  7
#define MYSQL_TYPE_TIMESTAMP2 17

static const sdl_doc_mapper_options default_options = {false, 0, NULL};

/* Decimal128 with exponent 0 and coefficient @u (IEEE 754-2008 BID, exponent bias 6176). */
static bson_decimal128_t
decimal128_from_u64(uint64_t u)
{
    bson_decimal128_t d;

    d.high = UINT64_C(0x3040000000000000);
    d.low = u;
    return d;
}

/*
 * FLOAT columns hold float32 values. Widening 1.1f gives 1.100000023841858; MySQL prints
 * 1.1, the shortest decimal that reads back as the same float. That decimal, read as a
 * double, is what we store. Any decimal of at most 6 significant digits round-trips through
 * a normal float (FLT_DIG), and the 6-digit rounding of the float is then that decimal (%g
 * drops the trailing zeros), so trying 6, 7, 8 and 9 digits finds the shortest form;
 * subnormals, whose spacing is coarser, try every length.
 */
static double
float_shortest(double d)
{
    float f = (float)d;
    char buf[32];

    if (!isfinite(f) || f == 0.0f) {
        return (double)f;
    }
    int first = fabsf(f) < FLT_MIN ? 1 : 6;
    for (int prec = first; prec <= 9; prec++) {
        (void)snprintf(buf, sizeof(buf), "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) {
            return strtod(buf, NULL);
        }
    }
    return (double)f; /* not reached: 9 digits always round-trip a float */
}

/* Days since 1970-01-01 → civil date (H. Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms", civil_from_days). */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* "YYYY-MM-DD[ hh:mm:ss[.f…]]" as MySQL prints DATE / DATETIME(fsp). */
static size_t
format_datetime(char *buf, size_t cap, int64_t usec, unsigned fsp, bool date_only)
{
    int64_t days = floor_div(usec, INT64_C(86400000000));
    int64_t rem = usec - days * INT64_C(86400000000);
    int64_t y;
    unsigned m, d;
    int n;

    civil_from_days(days, &y, &m, &d);
    if (date_only) {
        n = snprintf(buf, cap, "%04" PRId64 "-%02u-%02u", y, m, d);
    } else {
        unsigned secs = (unsigned)(rem / 1000000);
        unsigned frac = (unsigned)(rem % 1000000);
        n = snprintf(buf, cap, "%04" PRId64 "-%02u-%02u %02u:%02u:%02u", y, m, d, secs / 3600,
                     secs / 60 % 60, secs % 60);
        if (fsp > 0 && n > 0 && (size_t)n < cap) {
            static const unsigned div[] = {1000000, 100000, 10000, 1000, 100, 10, 1};
            fsp = fsp > 6 ? 6 : fsp;
            n += snprintf(buf + n, cap - (size_t)n, ".%0*u", (int)fsp, frac / div[fsp]);
        }
    }
    return n < 0 ? 0 : SDL_MIN((size_t)n, cap - 1);
}

size_t
sdl_mapper_format_datetime(char *buf, size_t cap, int64_t usec, unsigned fsp, bool date_only)
{
    return format_datetime(buf, cap, usec, fsp, date_only);
}

double
sdl_mapper_float_shortest(double d)
{
    return float_shortest(d);
}

/*
 * bw: a raw BSON writer. libbson's bson_append_*() cost tens of nanoseconds per element
 * (varargs, one memcpy per piece, growth checks); a row document has 20 to 100 elements and
 * is built a million times a second, so the document is written here byte by byte into a
 * local buffer and handed to the caller's bson_t with one copy. JSON text is parsed straight
 * into it (sdl_json_text_write(), which shares the buffer's malloc/free); rare kinds (binary
 * JSON, GEOMETRY, and JSON text the single pass leaves to the two passes) are built with
 * libbson into a temporary document whose element is copied over.
 */
typedef struct bw {
    uint8_t *p;
    size_t len;
    size_t cap;
    uint8_t local[2048];
} bw;

static void
bw_init(bw *w)
{
    w->p = w->local;
    w->len = 0;
    w->cap = sizeof(w->local);
}

static void
bw_done(bw *w)
{
    if (w->p != w->local) {
        free(w->p);
    }
}

static void
bw_grow(bw *w, size_t n)
{
    size_t cap = w->cap * 2;
    while (cap < w->len + n) {
        cap *= 2;
    }
    if (w->p == w->local) {
        w->p = sdl_xmalloc(cap);
        memcpy(w->p, w->local, w->len);
    } else {
        w->p = sdl_xrealloc(w->p, cap);
    }
    w->cap = cap;
}

static inline uint8_t *
bw_room(bw *w, size_t n)
{
    if (SDL_UNLIKELY(w->cap - w->len < n)) {
        bw_grow(w, n);
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
static void
bw_copy_element(bw *w, const char *key, size_t klen, const bson_t *tmp)
{
    const uint8_t *data = bson_get_data(tmp);
    /* int32 length, type, "" key (one NUL), value..., final NUL */
    size_t vlen = tmp->len - 4 - 2 - 1;
    uint8_t *p = bw_elem(w, (bson_type_t)data[4], key, klen, vlen);
    memcpy(p, data + 6, vlen);
}

static bool
check_utf8(const char *s, size_t len, sdl_error *err)
{
    size_t at = sdl_utf8_invalid_at(s, len);

    if (at != len) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid UTF-8 at byte %zu of the value", at);
        return false;
    }
    return true;
}

/* True when @s is "-?digits(.digits)?"; counts its digits without leading zeros. */
static bool
decimal_text_ok(const char *s, size_t len, unsigned *ret_digits)
{
    size_t i = 0;
    unsigned digits = 0;
    bool seen_nonzero = false;
    bool dot = false;
    bool any = false;

    if (i < len && s[i] == '-') {
        i++;
    }
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            any = true;
            if (s[i] != '0' || seen_nonzero || dot) {
                seen_nonzero = seen_nonzero || s[i] != '0';
                digits++;
            }
        } else if (s[i] == '.' && !dot && any) {
            dot = true;
            any = false;
        } else {
            return false;
        }
    }
    *ret_digits = digits;
    return any;
}

/* Decimal128 of @s, text that decimal_text_ok() accepted with at most 19 significant digits
 * (so the coefficient fits a uint64): coefficient = the digits without the point, exponent =
 * -(digits after the point), the sign kept even for zero, as
 * bson_decimal128_from_string_w_len() does it (no rounding at this size). */
static void
decimal128_from_text19(const char *s, size_t len, bson_decimal128_t *ret)
{
    const char *end = s + len;
    bool neg = *s == '-';
    uint64_t coeff = 0;
    int64_t exp = 0;
    bool frac = false;

    for (s += neg; s < end; s++) {
        if (*s == '.') {
            frac = true;
            continue;
        }
        coeff = coeff * 10 + (uint64_t)(*s - '0');
        exp -= frac;
    }
    ret->low = coeff;
    ret->high = ((uint64_t)(exp + 6176) << 49) | (neg ? UINT64_C(0x8000000000000000) : 0);
}

static bool
put_decimal(bw *w, const char *key, size_t klen, const sdl_value *v, sdl_error *err)
{
    unsigned digits;

    if (!decimal_text_ok(v->str.ptr, v->str.len, &digits)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid DECIMAL text '%.*s'",
                      (int)SDL_MIN(v->str.len, 80), v->str.ptr);
        return false;
    }
    if (v->precision > 34 || (v->precision == 0 && digits > 34)) {
        bw_str(w, key, klen, v->str.ptr, v->str.len);
        return true;
    }
    bson_decimal128_t dec;
    if (digits <= 19 && v->str.len <= 40) {
        decimal128_from_text19(v->str.ptr, v->str.len, &dec);
    } else if (!bson_decimal128_from_string_w_len(v->str.ptr, (int)v->str.len, &dec)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) text '%.*s' is not a Decimal128",
                      v->precision, v->scale, (int)SDL_MIN(v->str.len, 80), v->str.ptr);
        return false;
    }
    bw_dec128(w, key, klen, &dec);
    return true;
}

static bool
put_set(bw *w, const char *key, size_t klen, const sdl_value *v, sdl_error *err)
{
    for (uint32_t i = 0; i < v->set.count; i++) {
        if (!check_utf8(v->set.names[i], strlen(v->set.names[i]), err)) {
            return false;
        }
    }
    size_t at = bw_begin(w, BSON_TYPE_ARRAY, key, klen);
    for (uint32_t i = 0; i < v->set.count; i++) {
        char k[12];
        bw_cstr(w, k, index_key(i, k), v->set.names[i]);
    }
    bw_end(w, at);
    return true;
}

static bool
put_vector(bw *w, const char *key, size_t klen, const sdl_value *v, sdl_error *err)
{
    const uint8_t *p = (const uint8_t *)v->str.ptr;

    if (v->str.len % 4 != 0) {
        sdl_error_set(err, SDL_E_PROTOCOL, "VECTOR of %zu bytes is not a float32 array",
                      v->str.len);
        return false;
    }
    size_t at = bw_begin(w, BSON_TYPE_ARRAY, key, klen);
    for (size_t i = 0; i < v->str.len / 4; i++) {
        char k[12];
        uint32_t bits = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                        (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        float f;
        memcpy(&f, &bits, sizeof(f));
        bw_double(w, k, index_key((uint32_t)i, k), (double)f);
    }
    bw_end(w, at);
    return true;
}

/* JSON and GEOMETRY: libbson builds the value, its element is copied. */
static bool
put_via_bson(bw *w, const char *key, size_t klen, const sdl_doc_mapper_options *opts,
             const sdl_value *v, sdl_error *err)
{
    bson_t tmp = BSON_INITIALIZER;
    bool ok;

    if (v->kind == SDL_VALUE_JSON_TEXT) {
        ok = sdl_json_text_append(&tmp, "", 0, v->str.ptr, v->str.len, opts->json_max_depth, err);
    } else if (v->kind == SDL_VALUE_JSON_BINARY) {
        sdl_json_binary_options jo = {opts->json_max_depth, opts->datetime_as_string};
        ok = sdl_json_binary_append(&tmp, "", 0, (const uint8_t *)v->str.ptr, v->str.len, &jo, err);
    } else {
        ok = sdl_geojson_append(&tmp, "", 0, (const uint8_t *)v->str.ptr, v->str.len, err);
    }
    if (ok) {
        bw_copy_element(w, key, klen, &tmp);
    }
    bson_destroy(&tmp);
    return ok;
}

/* JSON text: the single pass writes the value straight after the element header; what it
 * leaves to the two passes (errors, duplicated keys, a scalar at the top) goes through
 * libbson. */
static bool
put_json_text(bw *w, const char *key, size_t klen, const sdl_doc_mapper_options *opts,
              const sdl_value *v, sdl_error *err)
{
    size_t start = w->len; /* the element's type byte, set once the value is known */
    (void)bw_elem(w, BSON_TYPE_EOD, key, klen, 0);
    sdl_json_out o = {w->p, w->len, w->cap, w->local};
    uint8_t type;
    bool ok = sdl_json_text_write(&o, v->str.ptr, v->str.len, opts->json_max_depth, &type);

    w->p = o.p;
    w->cap = o.cap;
    if (ok) {
        w->len = o.len;
        w->p[start] = type;
        return true;
    }
    w->len = start;
    return put_via_bson(w, key, klen, opts, v, err);
}

/* Integer columns whose values do not all fit int32: BIGINT, and INT UNSIGNED. Without a
 * column (a value mapped on its own) the value decides. */
static bool
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

/* Writes one value; on failure nothing was written. */
static bool
put_value(bw *w, const sdl_doc_mapper_options *opts, const sdl_column *col, const sdl_value *v,
          const char *key, size_t klen, sdl_error *err)
{
    sdl_value empty;

    if (v->kind >= SDL_VALUE_DECIMAL && v->kind != SDL_VALUE_DATETIME &&
        v->kind != SDL_VALUE_DATE && v->kind != SDL_VALUE_SET && v->kind != SDL_VALUE_DECIMAL64) {
        if (v->str.len > INT_MAX / 2) {
            sdl_error_set(err, SDL_E_UNSUPPORTED, "value of %zu bytes exceeds the BSON limit",
                          v->str.len);
            return false;
        }
        if (v->str.len == 0) {
            /* An empty view may carry a NULL pointer; give it a real one. */
            empty = *v;
            empty.str.ptr = "";
            v = &empty;
        }
    }
    switch (v->kind) {
    case SDL_VALUE_ABSENT:
        return true;
    case SDL_VALUE_NULL:
        bw_null(w, key, klen);
        return true;
    case SDL_VALUE_INT:
        put_int(w, col, v, key, klen);
        return true;
    case SDL_VALUE_UINT:
        /* INT UNSIGNED and BIGINT UNSIGNED need int64; BIGINT UNSIGNED values above
         * 2^63-1 become Decimal128. */
        if (!wide_integer_column(col) && v->u <= INT32_MAX) {
            bw_i32(w, key, klen, (int32_t)v->u);
        } else if (v->u <= INT64_MAX) {
            bw_i64(w, key, klen, (int64_t)v->u);
        } else {
            bson_decimal128_t dec = decimal128_from_u64(v->u);
            bw_dec128(w, key, klen, &dec);
        }
        return true;
    case SDL_VALUE_BIT:
        bw_i64(w, key, klen, (int64_t)v->u);
        return true;
    case SDL_VALUE_FLOAT:
        bw_double(w, key, klen, float_shortest(v->d));
        return true;
    case SDL_VALUE_DOUBLE:
        bw_double(w, key, klen, v->d);
        return true;
    case SDL_VALUE_DECIMAL:
        return put_decimal(w, key, klen, v, err);
    case SDL_VALUE_DECIMAL64:
        put_decimal64(w, v, key, klen);
        return true;
    case SDL_VALUE_STRING:
    case SDL_VALUE_TEMPORAL_TEXT:
    case SDL_VALUE_TIME:
    case SDL_VALUE_ENUM:
        /* the decoder checked the text it took from the row as it is (utf8_checked) */
        if (!v->utf8_checked && !check_utf8(v->str.ptr, v->str.len, err)) {
            return false;
        }
        bw_str(w, key, klen, v->str.ptr, v->str.len);
        return true;
    case SDL_VALUE_BINARY:
        bw_binary(w, key, klen, v->str.ptr, v->str.len);
        return true;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        if (opts->datetime_as_string && col->type != MYSQL_TYPE_TIMESTAMP &&
            col->type != MYSQL_TYPE_TIMESTAMP2) {
            char buf[64];
            size_t n =
                format_datetime(buf, sizeof(buf), v->usec, v->fsp, v->kind == SDL_VALUE_DATE);
            bw_str(w, key, klen, buf, n);
        } else {
            bw_date(w, key, klen, floor_div(v->usec, 1000));
        }
        return true;
    case SDL_VALUE_SET:
        return put_set(w, key, klen, v, err);
    case SDL_VALUE_JSON_TEXT:
        return put_json_text(w, key, klen, opts, v, err);
    case SDL_VALUE_GEOMETRY:
        return put_via_bson(w, key, klen, opts, v, err);
    case SDL_VALUE_JSON_BINARY:
        return put_via_bson(w, key, klen, opts, v, err);
    case SDL_VALUE_JSON_DIFF:
        /* Only meaningful against the before image: put_image() applies it. */
        sdl_error_set(err, SDL_E_UNSUPPORTED,
                      "a partial JSON update cannot be mapped without the row's before image");
        return false;
    case SDL_VALUE_VECTOR:
        return put_vector(w, key, klen, v, err);
    case SDL_VALUE_KIND_COUNT:
        break;
    }
    sdl_error_set(err, SDL_E_INVALID, "unknown value kind %d", (int)v->kind);
    return false;
}

/* The common kinds, written as put_value() writes them, without its call: true when done,
 * false to call put_value() (which then writes the value or says what is wrong). */
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

/* Moves the finished document in @w into the empty @doc. */
static void
bw_finish(bw *w, bson_t *doc)
{
    BSON_ASSERT(bson_empty(doc));
    uint8_t *dst = bson_reserve_buffer(doc, (uint32_t)w->len);
    BSON_ASSERT(dst);
    memcpy(dst, w->p, w->len);
}

bool
sdl_doc_mapper_value(const sdl_doc_mapper_options *opts, const sdl_column *col, const sdl_value *v,
                     bson_t *parent, const char *key, size_t key_len, sdl_error *err)
{
    bw w;
    bool ok = false;

    if (!opts) {
        opts = &default_options;
    }
    if (key_len > INT_MAX / 2) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "key of %zu bytes exceeds the BSON limit", key_len);
        return false;
    }
    if (v->kind == SDL_VALUE_ABSENT) {
        return true;
    }
    bw_init(&w);
    size_t at = w.len;
    (void)bw_room(&w, 4);
    w.len += 4;
    if (put_value(&w, opts, col, v, key, key_len, err)) {
        bson_t tmp;
        bson_iter_t it;
        bw_end(&w, at);
        ok = bson_init_static(&tmp, w.p, w.len) && bson_iter_init(&it, &tmp) &&
             bson_iter_next(&it) && bson_append_iter(parent, key, (int)key_len, &it);
        BSON_ASSERT(ok);
    }
    bw_done(&w);
    return ok;
}

/* Same kind and the same payload: what "the column changed" means for `changed`. */
static bool
value_equal(const sdl_value *a, const sdl_value *b)
{
    if (a->kind != b->kind) {
        return false;
    }
    switch (a->kind) {
    case SDL_VALUE_ABSENT:
    case SDL_VALUE_NULL:
        return true;
    case SDL_VALUE_INT:
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
    case SDL_VALUE_DECIMAL64:
        return a->u == b->u;
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
        return memcmp(&a->d, &b->d, sizeof(a->d)) == 0;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        return a->usec == b->usec && a->fsp == b->fsp;
    case SDL_VALUE_SET:
        if (a->set.count != b->set.count) {
            return false;
        }
        for (uint32_t i = 0; i < a->set.count; i++) {
            if (strcmp(a->set.names[i], b->set.names[i]) != 0) {
                return false;
            }
        }
        return true;
    default:
        return a->str.len == b->str.len &&
               (a->str.len == 0 || memcmp(a->str.ptr, b->str.ptr, a->str.len) == 0);
    }
}

/* A partial JSON update (PARTIAL_UPDATE_ROWS) applied to the before image's value. */
static bool
put_json_patched(bw *w, const sdl_doc_mapper_options *opts, const sdl_value *base,
                 const sdl_value *diff, const char *key, size_t klen, sdl_error *err)
{
    bson_t tmp = BSON_INITIALIZER;
    sdl_json_binary_options jo = {opts->json_max_depth, opts->datetime_as_string};
    bool ok =
        sdl_json_binary_append_patched(&tmp, "", 0, (const uint8_t *)base->str.ptr, base->str.len,
                                       (const uint8_t *)diff->str.ptr, diff->str.len, &jo, err);
    if (ok) {
        bw_copy_element(w, key, klen, &tmp);
    }
    bson_destroy(&tmp);
    return ok;
}

/* True when the after image holds a JSON diff whose column the before image lacks
 * (binlog_row_image=MINIMAL): the diff cannot be applied and goes to `json_diffs`. */
static bool
diff_unapplied(const sdl_value *before, const sdl_value *after, uint32_t i)
{
    return after[i].kind == SDL_VALUE_JSON_DIFF &&
           (!before || before[i].kind != SDL_VALUE_JSON_BINARY);
}

static inline size_t
col_name_len(const sdl_column *c)
{
    return c->name_len ? c->name_len : strlen(c->name);
}

static bool
put_image(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
          const sdl_value *base, const char *key, size_t klen, sdl_error *err)
{
    size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, key, klen);

    for (uint32_t i = 0; i < t->ncols; i++) {
        const sdl_column *c = &t->cols[i];
        if (img[i].kind == SDL_VALUE_ABSENT) {
            continue;
        }
        if (img[i].kind == SDL_VALUE_JSON_DIFF) {
            if (diff_unapplied(base, img, i)) {
                continue; /* written under json_diffs */
            }
            if (!put_json_patched(w, opts, &base[i], &img[i], c->name, col_name_len(c), err)) {
                sdl_error_prefix(err, "%s image: column '%s'", key, c->name);
                return false;
            }
            continue;
        }
        if (!put_value_fast(w, opts, c, &img[i], c->name, col_name_len(c)) &&
            !put_value(w, opts, c, &img[i], c->name, col_name_len(c), err)) {
            sdl_error_prefix(err, "%s image: column '%s'", key, c->name);
            return false;
        }
    }
    bw_end(w, at);
    return true;
}

static inline __attribute__((always_inline)) bool
put_pk(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
       const char *image, sdl_error *err)
{
    size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, "pk", 2);

    for (uint32_t k = 0; k < t->npk; k++) {
        uint32_t i = t->pk[k];
        if (i >= t->ncols) {
            sdl_error_set(err, SDL_E_INVALID, "primary key names column %" PRIu32 " of %" PRIu32,
                          i + 1, t->ncols);
            return false;
        }
        const sdl_column *c = &t->cols[i];
        if (img[i].kind == SDL_VALUE_ABSENT) {
            sdl_error_set(err, SDL_E_SCHEMA, "primary key column '%s' absent from the %s image",
                          c->name, image);
            return false;
        }
        if (!put_value(w, opts, c, &img[i], c->name, col_name_len(c), err)) {
            sdl_error_prefix(err, "primary key column '%s'", c->name);
            return false;
        }
    }
    bw_end(w, at);
    return true;
}

/* `json_diffs`: { <column>: [{op, path, value}, ...] } for partial JSON updates the before
 * image cannot take (it lacks the column); absent when there are none. */
static bool
put_json_diffs(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t,
               const sdl_value *before, const sdl_value *after, sdl_error *err)
{
    size_t at = 0;
    bool any = false;

    for (uint32_t i = 0; i < t->ncols; i++) {
        if (!diff_unapplied(before, after, i)) {
            continue;
        }
        if (!any) {
            at = bw_begin(w, BSON_TYPE_DOCUMENT, "json_diffs", 10);
            any = true;
        }
        bson_t tmp = BSON_INITIALIZER;
        sdl_json_binary_options jo = {opts->json_max_depth, opts->datetime_as_string};
        bool ok = sdl_json_diff_append(&tmp, "", 0, (const uint8_t *)after[i].str.ptr,
                                       after[i].str.len, &jo, err);
        if (ok) {
            bw_copy_element(w, t->cols[i].name, col_name_len(&t->cols[i]), &tmp);
        }
        bson_destroy(&tmp);
        if (!ok) {
            sdl_error_prefix(err, "json_diffs: column '%s'", t->cols[i].name);
            return false;
        }
    }
    if (any) {
        bw_end(w, at);
    }
    return true;
}

/* @plan: the column policy's, or NULL; dropped columns are never listed. */
static void
put_changed(bw *w, const sdl_table *t, const sdl_value *before, const sdl_value *after,
            const sdl_column_plan *plan)
{
    size_t at = bw_begin(w, BSON_TYPE_ARRAY, "changed", 7);
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->ncols; i++) {
        if (after[i].kind == SDL_VALUE_ABSENT || (plan && plan[i].action == SDL_COLUMN_DROP) ||
            (before[i].kind != SDL_VALUE_ABSENT && value_equal(&before[i], &after[i]))) {
            continue;
        }
        char k[12];
        bw_str(w, k, index_key(n++, k), t->cols[i].name, col_name_len(&t->cols[i]));
    }
    bw_end(w, at);
}

/* "<pipeline>:<gtid>:<seq>"; @lg = strlen(pos->gtid) */
static void
put_id(bw *w, const sdl_change_pos *pos, size_t lg)
{
    size_t lp = pos->pipeline_len ? pos->pipeline_len : strlen(pos->pipeline);
    char digits[24];
    size_t nd = 0;
    uint64_t s = pos->seq;

    do {
        digits[nd++] = (char)('0' + s % 10);
        s /= 10;
    } while (s);
    size_t len = lp + 1 + lg + 1 + nd;
    uint8_t *p = bw_elem(w, BSON_TYPE_UTF8, "_id", 3, 4 + len + 1);
    le32(p, (uint32_t)(len + 1));
    p += 4;
    copy_short(p, pos->pipeline, lp);
    p += lp;
    *p++ = ':';
    copy_short(p, pos->gtid, lg);
    p += lg;
    *p++ = ':';
    while (nd) {
        *p++ = (uint8_t)digits[--nd];
    }
    *p = 0;
}

/* Appends the bytes of a constant element header ("\x12seq\0" style) at @q. */
#define PUT_HDR(q, hdr) (memcpy((q), (hdr), sizeof(hdr) - 1), (q) + sizeof(hdr) - 1)

/* gtid, seq, ts, binlog {file, pos}: the same elements bw_str()/bw_i64()/bw_date()/bw_begin()
 * write, with one room check for all of them (this runs once per row). */
static void
put_position(bw *w, const sdl_change_pos *pos, size_t lg)
{
    const char *file = pos->binlog_file ? pos->binlog_file : "";
    size_t lf = pos->binlog_file_len ? pos->binlog_file_len : strlen(file);
    size_t doc_len = 4 + (6 + 4 + lf + 1) + (5 + 8) + 1;
    size_t need = (6 + 4 + lg + 1) + (5 + 8) + (4 + 8) + (8 + doc_len);
    uint8_t *q = bw_room(w, need);

    q = PUT_HDR(q, "\x02"
                   "gtid\0");
    le32(q, (uint32_t)(lg + 1));
    copy_short(q + 4, pos->gtid, lg);
    q[4 + lg] = 0;
    q += 4 + lg + 1;
    q = PUT_HDR(q, "\x12"
                   "seq\0");
    le64(q, (uint64_t)pos->seq);
    q += 8;
    q = PUT_HDR(q, "\x09"
                   "ts\0");
    le64(q, (uint64_t)(pos->ts_sec * 1000));
    q += 8;
    q = PUT_HDR(q, "\x03"
                   "binlog\0");
    le32(q, (uint32_t)doc_len);
    q += 4;
    q = PUT_HDR(q, "\x02"
                   "file\0");
    le32(q, (uint32_t)(lf + 1));
    memcpy(q + 4, file, lf);
    q[4 + lf] = 0;
    q += 4 + lf + 1;
    q = PUT_HDR(q, "\x12"
                   "pos\0");
    le64(q, (uint64_t)pos->binlog_pos);
    q += 8;
    *q = 0;
    w->len += need;
}

/* Whether `after` lacks a column of the table: a partial image (MINIMAL, NOBLOB) or a JSON
 * diff that could not be applied. Mirror mode then updates only the columns present. */
static bool
after_partial(const sdl_table *t, const sdl_row_change *rc)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (rc->after[i].kind == SDL_VALUE_ABSENT ||
            (rc->after[i].kind == SDL_VALUE_JSON_DIFF &&
             diff_unapplied(rc->op == SDL_ROW_UPDATE ? rc->before : NULL, rc->after, i))) {
            return true;
        }
    }
    return false;
}

/* The row document of @rc into @w (empty); false with @err when it cannot be written. @rc
 * holds the images to write (the column policy's, when @plan), @src the source's (for
 * `changed`). Inlined twice: the call without a policy keeps its plain code. */
static inline __attribute__((always_inline)) bool
map_row_images(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
               const sdl_row_change *rc, const sdl_row_change *src, const sdl_column_plan *plan,
               const sdl_doc_snapshot *snap, sdl_error *err)
{
    static const char *const op_names[] = {"insert", "update", "delete"};
    const sdl_table *t = rc->table;
    bool ok = false;

    size_t gtid_len = pos->gtid_len ? pos->gtid_len : strlen(pos->gtid);
    (void)bw_room(w, 4);
    w->len = 4; /* document length, written by bw_end() */
    put_id(w, pos, gtid_len);
    if (snap) {
        bw_str(w, "op", 2, "snapshot", 8);
    } else {
        bw_str(w, "op", 2, op_names[rc->op], 6); /* "insert", "update", "delete" */
    }
    bw_str(w, "db", 2, t->db, t->db_len ? t->db_len : strlen(t->db));
    bw_str(w, "table", 5, t->name, t->name_len ? t->name_len : strlen(t->name));
    if (t->npk > 0) {
        bool from_before = rc->op != SDL_ROW_INSERT;
        if (!put_pk(w, opts, t, from_before ? rc->before : rc->after,
                    from_before ? "before" : "after", err)) {
            goto out;
        }
    }
    if (rc->op != SDL_ROW_INSERT && !put_image(w, opts, t, rc->before, NULL, "before", 6, err)) {
        goto out;
    }
    if (rc->op != SDL_ROW_DELETE &&
        !put_image(w, opts, t, rc->after, rc->op == SDL_ROW_UPDATE ? rc->before : NULL, "after", 5,
                   err)) {
        goto out;
    }
    if (rc->op == SDL_ROW_UPDATE && !put_json_diffs(w, opts, t, rc->before, rc->after, err)) {
        goto out;
    }
    if (rc->op == SDL_ROW_UPDATE) {
        /* the source values: a redacted or hashed column that changed is still listed */
        put_changed(w, t, src->before, src->after, plan);
    }
    put_position(w, pos, gtid_len);
    if (pos->split) {
        bw_bool(w, "split", 5, true);
    }
    if (!t->names_from_metadata) {
        bw_bool(w, "columns_unnamed", 15, true);
    }
    if (rc->op != SDL_ROW_DELETE && after_partial(t, src)) { /* the source's image */
        bw_bool(w, "partial_after", 13, true);
    }
    if (snap) {
        size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, "snapshot", 8);
        bw_cstr(w, "id", 2, snap->id);
        bw_i64(w, "chunk", 5, snap->chunk);
        bw_end(w, at);
    }
    bw_end(w, 0);
    if (w->len > INT32_MAX) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "document of %zu bytes exceeds the BSON limit",
                      w->len);
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        sdl_error_prefix(err, "table '%s.%s'", t->db ? t->db : "?", t->name ? t->name : "?");
    }
    return ok;
}

/* map_row() under the column policy of opts->columns. */
static __attribute__((noinline)) bool
map_row_policied(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                 const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_error *err)
{
    const sdl_table *t = rc->table;
    const sdl_column_plan *plan = NULL;
    sdl_row_change img = *rc;

    if (!sdl_column_policy_plan(opts->columns, t, &plan, err)) {
        sdl_error_prefix(err, "table '%s.%s'", t->db ? t->db : "?", t->name ? t->name : "?");
        return false;
    }
    if (!plan) {
        return map_row_images(w, opts, pos, rc, rc, NULL, snap, err);
    }
    if (img.before) {
        img.before = sdl_column_policy_image(opts->columns, t, plan, img.before, 0);
    }
    if (img.after) {
        img.after = sdl_column_policy_image(opts->columns, t, plan, img.after, 1);
    }
    return map_row_images(w, opts, pos, &img, rc, plan, snap, err);
}

/* The row document into @w (empty); false with @err when it cannot be written. */
static bool
map_row(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
        const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_error *err)
{
    const sdl_table *t = rc->table;

    if (!opts) {
        opts = &default_options;
    }
    if (!t || (unsigned)rc->op > SDL_ROW_DELETE || (rc->op != SDL_ROW_INSERT && !rc->before) ||
        (rc->op != SDL_ROW_DELETE && !rc->after)) {
        sdl_error_set(err, SDL_E_INVALID, "row change without the images its op needs");
        sdl_error_prefix(err, "table '%s.%s'", t && t->db ? t->db : "?",
                         t && t->name ? t->name : "?");
        return false;
    }
    if (SDL_UNLIKELY(opts->columns != NULL)) {
        return map_row_policied(w, opts, pos, rc, snap, err);
    }
    return map_row_images(w, opts, pos, rc, rc, NULL, snap, err);
}

bool
sdl_doc_mapper_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                   const sdl_row_change *rc, bson_t *doc, sdl_error *err)
{
    bw w;
    bool ok;

    bw_init(&w);
    ok = map_row(&w, opts, pos, rc, NULL, err);
    if (ok) {
        bw_finish(&w, doc);
    }
    bw_done(&w);
    return ok;
}

static bool
row_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const sdl_row_change *rc,
          const sdl_doc_snapshot *snap, sdl_buf *out, sdl_error *err)
{
    bw w;
    bool ok;

    /* write straight into @out's heap buffer: bw_grow() reallocates what is not w.local */
    out->len = 0;
    sdl_buf_reserve(out, 4096);
    w.p = out->data;
    w.len = 0;
    w.cap = out->cap;
    ok = map_row(&w, opts, pos, rc, snap, err);
    out->data = w.p;
    out->cap = w.cap;
    out->len = ok ? w.len : 0;
    return ok;
}

bool
sdl_doc_mapper_row_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                         const sdl_row_change *rc, sdl_buf *out, sdl_error *err)
{
    return row_bytes(opts, pos, rc, NULL, out, err);
}

bool
sdl_doc_mapper_snapshot_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                              const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_buf *out,
                              sdl_error *err)
{
    if (rc->op != SDL_ROW_INSERT) {
        out->len = 0;
        sdl_error_set(err, SDL_E_INVALID, "a snapshot row is an insert's image");
        return false;
    }
    return row_bytes(opts, pos, rc, snap, out, err);
}

/* A statement's document (a DDL, or with op "statement" a statement-based row change that
 * `sdl tail --statements print` shows). */
static bool
statement_doc(const sdl_doc_mapper_options *opts, const char *op, const sdl_change_pos *pos,
              const char *db, const char *table, const char *statement, size_t statement_len,
              bson_t *doc, sdl_error *err)
{
    sdl_buf fixed = SDL_BUF_INIT;
    bw w;

    (void)opts;
    if (statement_len > INT_MAX / 2) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "DDL statement of %zu bytes exceeds the BSON limit",
                      statement_len);
        return false;
    }
    if (!sdl_utf8_valid(statement, statement_len)) {
        /* Replace each invalid byte by U+FFFD: the statement is a record, not row data. */
        const uint8_t *p = (const uint8_t *)statement;
        const uint8_t *end = p + statement_len;
        while (p < end) {
            size_t n = *p < 0x80 ? 1 : sdl_utf8_seq_len(p, end);
            if (n == 0) {
                sdl_buf_append(&fixed, "\xEF\xBF\xBD", 3);
                p++;
            } else {
                sdl_buf_append(&fixed, p, n);
                p += n;
            }
        }
        statement = (const char *)fixed.data;
        statement_len = fixed.len;
    }
    bw_init(&w);
    w.len = 4;
    put_id(&w, pos, strlen(pos->gtid));
    bw_cstr(&w, "op", 2, op);
    if (db && *db) {
        bw_cstr(&w, "db", 2, db);
    }
    if (table && *table) {
        bw_cstr(&w, "table", 5, table);
    }
    bw_str(&w, "statement", 9, statement, statement_len);
    put_position(&w, pos, strlen(pos->gtid));
    bw_end(&w, 0);
    bw_finish(&w, doc);
    bw_done(&w);
    sdl_buf_done(&fixed);
    return true;
}

bool
sdl_doc_mapper_ddl(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const char *db,
                   const char *table, const char *statement, size_t statement_len, bson_t *doc,
                   sdl_error *err)
{
    return statement_doc(opts, "ddl", pos, db, table, statement, statement_len, doc, err);
}

bool
sdl_doc_mapper_statement(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                         const char *db, const char *statement, size_t statement_len, bson_t *doc,
                         sdl_error *err)
{
    return statement_doc(opts, "statement", pos, db, NULL, statement, statement_len, doc, err);
}
