/* SPDX-License-Identifier: Apache-2.0 */
/* doc-mapper-value: one sdl_value into BSON, by type family (integers, floats, DECIMAL,
 * temporal values, text and binary, SET, VECTOR, JSON, GEOMETRY); sdl_doc_mapper_value(). */
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"
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

/* JSON text: sdl_json_text_write() writes the value straight after the element header; what
 * it declines (a scalar at the top, invalid text, nesting too deep) goes through libbson, where
 * sdl_json_text_append() appends the scalar or says what is wrong. */
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

/* Writes one value; on failure nothing was written. */
bool
sdl_mapper_put_value(bw *w, const sdl_doc_mapper_options *opts, const sdl_column *col,
                     const sdl_value *v, const char *key, size_t klen, sdl_error *err)
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
    if (sdl_mapper_put_value(&w, opts, col, v, key, key_len, err)) {
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
