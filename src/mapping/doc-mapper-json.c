/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doc-mapper-json: sdl_doc_mapper_to_json(), a compact relaxed Extended JSON writer.
 *
 * libbson's bson_as_relaxed_extended_json() is correct in meaning but prints doubles with
 * "%.20g" (1.1 → 1.1000000000000000888), pads every token with spaces, prints dates after
 * year 9999 with a five-digit year, and builds its output through a bson_string_t with a
 * printf per value. This writer emits the same values (test-doc-mapper checks that both
 * parse back to equal BSON) straight into an sdl_buf.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"

#include "utf8-private.h"

/* Bytes that need an escape in a JSON string: control characters, '"' and '\\'. */
static const uint8_t needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Room for @n more bytes (and sdl_buf's NUL), growing only when needed. */
static inline void
room(sdl_buf *out, size_t n)
{
    if (SDL_UNLIKELY(out->cap - out->len <= n)) {
        sdl_buf_reserve(out, n);
    }
}

static inline void
put(sdl_buf *out, const void *p, size_t n)
{
    room(out, n);
    memcpy(out->data + out->len, p, n);
    out->len += n;
}

#define PUT_LIT(out, s) put((out), (s), sizeof(s) - 1)

static inline void
put_byte(sdl_buf *out, char c)
{
    room(out, 1);
    out->data[out->len++] = (uint8_t)c;
}

/* A JSON string: '"', '\\' and control characters escaped as libbson does (\b \f \n \r \t,
 * others \u00XX); everything else, UTF-8 included, verbatim. */
static bool
put_string(sdl_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    const uint8_t *end = p + len;

    room(out, len + 2);
    out->data[out->len++] = '"';
    while (p < end) {
        const uint8_t *run = p;
        while (p < end && !needs_escape[*p]) {
            p++;
        }
        put(out, run, (size_t)(p - run));
        if (p >= end) {
            break;
        }
        uint8_t c = *p;
        if (needs_escape[c] == 2) {
            size_t n = sdl_utf8_seq_len(p, end);
            if (n == 0) {
                return false;
            }
            put(out, p, n);
            p += n;
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(out, esc, n);
        p++;
    }
    put_byte(out, '"');
    return true;
}

static void
put_i64(sdl_buf *out, int64_t v)
{
    char buf[24];
    size_t n = sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        buf[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        buf[--n] = '-';
    }
    put(out, buf + n, sizeof(buf) - n);
}

/*
 * The common case without printf: |d| in [1e-4, 1e15) with at most 15 fraction digits, as
 * prices and measurements are. d is m / 10^k for the smallest k where the integer m (below
 * 2^53, so exact) divided by the exact power of ten gives d back; IEEE division is correctly
 * rounded, so that decimal reads back as d, and it is the text "%.15g" prints (fixed notation
 * in this range, no trailing zeros). Returns false to fall back to printf.
 */
static bool
put_double_fixed(sdl_buf *out, double d)
{
    static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = fabs(d);

    if (!(a >= 1e-4 && a < 1e15)) {
        return false;
    }
    for (unsigned k = 1; k < SDL_ARRAY_SIZE(p10); k++) {
        double scaled = a * p10[k];
        if (scaled >= 9007199254740992.0) {
            return false;
        }
        uint64_t m = (uint64_t)(scaled + 0.5);
        if ((double)m / p10[k] != a) {
            continue;
        }
        char buf[40];
        char *e = buf + sizeof(buf);
        char *p = e;
        for (unsigned i = 0; i < k; i++) {
            *--p = (char)('0' + m % 10);
            m /= 10;
        }
        *--p = '.';
        do {
            *--p = (char)('0' + m % 10);
            m /= 10;
        } while (m);
        if (d < 0) {
            *--p = '-';
        }
        put(out, p, (size_t)(e - p));
        return true;
    }
    return false;
}

/* Shortest "%.{15,16,17}g" that reads back as @d; integral values keep a ".0" so the text
 * still names a double (as libbson prints them). */
static void
put_double(sdl_buf *out, double d)
{
    char buf[40];
    int n = 0;

    if (isnan(d)) {
        PUT_LIT(out, "{\"$numberDouble\":\"NaN\"}");
        return;
    }
    if (isinf(d)) {
        if (d > 0) {
            PUT_LIT(out, "{\"$numberDouble\":\"Infinity\"}");
        } else {
            PUT_LIT(out, "{\"$numberDouble\":\"-Infinity\"}");
        }
        return;
    }
    if (d == 0) {
        if (signbit(d)) {
            PUT_LIT(out, "-0.0");
        } else {
            PUT_LIT(out, "0.0");
        }
        return;
    }
    if (fabs(d) < 1e15 && d == (double)(int64_t)d) {
        put_i64(out, (int64_t)d);
        PUT_LIT(out, ".0");
        return;
    }
    /* Any decimal of at most 15 significant digits round-trips through a normal double
     * (DBL_DIG), so when a shorter form exists "%.15g" finds it (and drops trailing zeros);
     * subnormals, whose spacing is coarser, try every length. */
    if (put_double_fixed(out, d)) {
        return;
    }
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        n = snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (prec == 17 || strtod(buf, NULL) == d) {
            break;
        }
    }
    put(out, buf, (size_t)n);
    if (!memchr(buf, '.', (size_t)n) && !memchr(buf, 'e', (size_t)n) &&
        !memchr(buf, 'n', (size_t)n)) {
        PUT_LIT(out, ".0");
    }
}

static void
put_2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static void
put_date(sdl_buf *out, int64_t ms)
{
    /* Relaxed form only for years 1970..9999 (Extended JSON spec). */
    if (ms < 0 || ms > INT64_C(253402300799999)) {
        PUT_LIT(out, "{\"$date\":{\"$numberLong\":\"");
        put_i64(out, ms);
        PUT_LIT(out, "\"}}");
        return;
    }
    int64_t days = ms / 86400000;
    unsigned rem = (unsigned)(ms % 86400000);
    /* civil_from_days (H. Hinnant), z >= 0 here. */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    unsigned y = (unsigned)((int64_t)yoe + era * 400 + (m <= 2));
    unsigned msec = rem % 1000;
    unsigned secs = rem / 1000;
    char buf[40] = "{\"$date\":\"YYYY-MM-DDThh:mm:ss";
    char *p = buf + 10;

    put_2(p, y / 100);
    put_2(p + 2, y % 100);
    put_2(p + 5, m);
    put_2(p + 8, d);
    put_2(p + 11, secs / 3600);
    put_2(p + 14, secs / 60 % 60);
    put_2(p + 17, secs % 60);
    p += 19;
    if (msec) {
        *p++ = '.';
        *p++ = (char)('0' + msec / 100);
        put_2(p, msec % 100);
        p += 2;
    }
    memcpy(p, "Z\"}", 3);
    p += 3;
    put(out, buf, (size_t)(p - buf));
}

static void
put_base64(sdl_buf *out, const uint8_t *p, uint32_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = ((size_t)len + 2) / 3 * 4;
    uint32_t i = 0;

    room(out, n);
    char *o = (char *)out->data + out->len;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = '=';
    }
    out->len += n;
}

/* Types sdl never produces: libbson prints the single value, inside a one-field document. */
static bool
put_other(sdl_buf *out, const bson_iter_t *it)
{
    bson_t tmp = BSON_INITIALIZER;
    size_t len;
    char *s;
    bool ok = false;

    if (!bson_append_iter(&tmp, "v", 1, it)) {
        goto out;
    }
    s = bson_as_relaxed_extended_json(&tmp, &len);
    /* "{ "v" : <value> }" */
    if (s && len > 10 && memcmp(s, "{ \"v\" : ", 8) == 0) {
        put(out, s + 8, len - 10);
        ok = true;
    }
    bson_free(s);
out:
    bson_destroy(&tmp);
    return ok;
}

static bool put_doc(sdl_buf *out, bson_iter_t *it, bool is_array);

static bool
put_value(sdl_buf *out, bson_iter_t *it)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        uint32_t len;
        const char *s = bson_iter_utf8(it, &len);
        return put_string(out, s, len);
    }
    case BSON_TYPE_INT32:
        put_i64(out, bson_iter_int32(it));
        return true;
    case BSON_TYPE_INT64:
        put_i64(out, bson_iter_int64(it));
        return true;
    case BSON_TYPE_DOUBLE:
        put_double(out, bson_iter_double(it));
        return true;
    case BSON_TYPE_BOOL:
        if (bson_iter_bool(it)) {
            PUT_LIT(out, "true");
        } else {
            PUT_LIT(out, "false");
        }
        return true;
    case BSON_TYPE_NULL:
        PUT_LIT(out, "null");
        return true;
    case BSON_TYPE_DATE_TIME:
        put_date(out, bson_iter_date_time(it));
        return true;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char buf[BSON_DECIMAL128_STRING];
        (void)bson_iter_decimal128(it, &dec);
        bson_decimal128_to_string(&dec, buf);
        PUT_LIT(out, "{\"$numberDecimal\":\"");
        put(out, buf, strlen(buf));
        PUT_LIT(out, "\"}");
        return true;
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t sub;
        uint32_t len;
        const uint8_t *data;
        char hex[8];
        bson_iter_binary(it, &sub, &len, &data);
        PUT_LIT(out, "{\"$binary\":{\"base64\":\"");
        put_base64(out, data, len);
        int n = snprintf(hex, sizeof(hex), "%02x", (unsigned)sub & 0xFFu);
        PUT_LIT(out, "\",\"subType\":\"");
        put(out, hex, (size_t)n);
        PUT_LIT(out, "\"}}");
        return true;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) {
            return false;
        }
        return put_doc(out, &child, bson_iter_type(it) == BSON_TYPE_ARRAY);
    }
    default:
        return put_other(out, it);
    }
}

static bool
put_doc(sdl_buf *out, bson_iter_t *it, bool is_array)
{
    bool first = true;

    put_byte(out, is_array ? '[' : '{');
    while (bson_iter_next(it)) {
        if (!first) {
            put_byte(out, ',');
        }
        first = false;
        if (!is_array) {
            if (!put_string(out, bson_iter_key(it), bson_iter_key_len(it))) {
                return false;
            }
            put_byte(out, ':');
        }
        if (!put_value(out, it)) {
            return false;
        }
    }
    if (it->err_off != 0) {
        return false; /* corrupt document */
    }
    put_byte(out, is_array ? ']' : '}');
    return true;
}

bool
sdl_doc_mapper_to_json(const bson_t *doc, sdl_buf *out, sdl_error *err)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, doc) || !put_doc(out, &it, false)) {
        sdl_error_set(err, SDL_E_INVALID,
                      "document cannot be printed as JSON (corrupt BSON or invalid UTF-8)");
        return false;
    }
    return true;
}
