/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/doc-mapper.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/geojson.h"
#include "sdl/mapping/json-text.h"

#include "utf8-private.h"

/* MySQL enum_field_types of TIMESTAMP columns (include/mysql_com.h). */
#define MYSQL_TYPE_TIMESTAMP  7
#define MYSQL_TYPE_TIMESTAMP2 17

static const sdl_doc_mapper_options default_options = {false, 0};

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

static bool
append_decimal(bson_t *parent, const char *key, int key_len, const sdl_value *v, sdl_error *err)
{
    unsigned digits;

    if (!decimal_text_ok(v->str.ptr, v->str.len, &digits)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid DECIMAL text '%.*s'",
                      (int)SDL_MIN(v->str.len, 80), v->str.ptr);
        return false;
    }
    if (v->precision > 34 || (v->precision == 0 && digits > 34)) {
        bson_append_utf8(parent, key, key_len, v->str.ptr, (int)v->str.len);
        return true;
    }
    bson_decimal128_t dec;
    if (!bson_decimal128_from_string_w_len(v->str.ptr, (int)v->str.len, &dec)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) text '%.*s' is not a Decimal128",
                      v->precision, v->scale, (int)SDL_MIN(v->str.len, 80), v->str.ptr);
        return false;
    }
    bson_append_decimal128(parent, key, key_len, &dec);
    return true;
}

static bool
append_set(bson_t *parent, const char *key, int key_len, const sdl_value *v, sdl_error *err)
{
    bson_t arr;

    for (uint32_t i = 0; i < v->set.count; i++) {
        if (!check_utf8(v->set.names[i], strlen(v->set.names[i]), err)) {
            return false;
        }
    }
    bson_append_array_begin(parent, key, key_len, &arr);
    for (uint32_t i = 0; i < v->set.count; i++) {
        char buf[16];
        const char *k;
        size_t klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
        bson_append_utf8(&arr, k, (int)klen, v->set.names[i], -1);
    }
    bson_append_array_end(parent, &arr);
    return true;
}

static bool
append_vector(bson_t *parent, const char *key, int key_len, const sdl_value *v, sdl_error *err)
{
    const uint8_t *p = (const uint8_t *)v->str.ptr;
    bson_t arr;

    if (v->str.len % 4 != 0) {
        sdl_error_set(err, SDL_E_PROTOCOL, "VECTOR of %zu bytes is not a float32 array",
                      v->str.len);
        return false;
    }
    bson_append_array_begin(parent, key, key_len, &arr);
    for (size_t i = 0; i < v->str.len / 4; i++) {
        char buf[16];
        const char *k;
        size_t klen = bson_uint32_to_string((uint32_t)i, &k, buf, sizeof(buf));
        uint32_t bits = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                        (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        float f;
        memcpy(&f, &bits, sizeof(f));
        bson_append_double(&arr, k, (int)klen, (double)f);
    }
    bson_append_array_end(parent, &arr);
    return true;
}

bool
sdl_doc_mapper_value(const sdl_doc_mapper_options *opts, const sdl_column *col, const sdl_value *v,
                     bson_t *parent, const char *key, size_t key_len, sdl_error *err)
{
    int klen = (int)key_len;

    if (!opts) {
        opts = &default_options;
    }
    if (key_len > INT_MAX / 2 ||
        (v->kind >= SDL_VALUE_DECIMAL && v->kind != SDL_VALUE_DATETIME &&
         v->kind != SDL_VALUE_DATE && v->kind != SDL_VALUE_SET && v->str.len > INT_MAX / 2)) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "value of %zu bytes exceeds the BSON limit",
                      v->str.len);
        return false;
    }
    switch (v->kind) {
    case SDL_VALUE_ABSENT:
        return true;
    case SDL_VALUE_NULL:
        bson_append_null(parent, key, klen);
        return true;
    case SDL_VALUE_INT:
        if (v->i >= INT32_MIN && v->i <= INT32_MAX) {
            bson_append_int32(parent, key, klen, (int32_t)v->i);
        } else {
            bson_append_int64(parent, key, klen, v->i);
        }
        return true;
    case SDL_VALUE_UINT:
        if (v->u <= INT32_MAX) {
            bson_append_int32(parent, key, klen, (int32_t)v->u);
        } else if (v->u <= INT64_MAX) {
            bson_append_int64(parent, key, klen, (int64_t)v->u);
        } else {
            bson_decimal128_t dec = decimal128_from_u64(v->u);
            bson_append_decimal128(parent, key, klen, &dec);
        }
        return true;
    case SDL_VALUE_BIT:
        bson_append_int64(parent, key, klen, (int64_t)v->u);
        return true;
    case SDL_VALUE_FLOAT:
        bson_append_double(parent, key, klen, float_shortest(v->d));
        return true;
    case SDL_VALUE_DOUBLE:
        bson_append_double(parent, key, klen, v->d);
        return true;
    case SDL_VALUE_DECIMAL:
        return append_decimal(parent, key, klen, v, err);
    case SDL_VALUE_STRING:
    case SDL_VALUE_TEMPORAL_TEXT:
    case SDL_VALUE_TIME:
    case SDL_VALUE_ENUM:
        if (!check_utf8(v->str.ptr, v->str.len, err)) {
            return false;
        }
        bson_append_utf8(parent, key, klen, v->str.ptr, (int)v->str.len);
        return true;
    case SDL_VALUE_BINARY:
        bson_append_binary(parent, key, klen, BSON_SUBTYPE_BINARY, (const uint8_t *)v->str.ptr,
                           (uint32_t)v->str.len);
        return true;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        if (opts->datetime_as_string && col->type != MYSQL_TYPE_TIMESTAMP &&
            col->type != MYSQL_TYPE_TIMESTAMP2) {
            char buf[64];
            size_t n =
                format_datetime(buf, sizeof(buf), v->usec, v->fsp, v->kind == SDL_VALUE_DATE);
            bson_append_utf8(parent, key, klen, buf, (int)n);
        } else {
            bson_append_date_time(parent, key, klen, floor_div(v->usec, 1000));
        }
        return true;
    case SDL_VALUE_SET:
        return append_set(parent, key, klen, v, err);
    case SDL_VALUE_JSON_TEXT:
        return sdl_json_text_append(parent, key, key_len, v->str.ptr, v->str.len,
                                    opts->json_max_depth, err);
    case SDL_VALUE_JSON_BINARY:
        sdl_error_set(err, SDL_E_UNSUPPORTED,
                      "MySQL binary JSON is not supported yet (decoded by a later issue)");
        return false;
    case SDL_VALUE_GEOMETRY:
        return sdl_geojson_append(parent, key, key_len, (const uint8_t *)v->str.ptr, v->str.len,
                                  err);
    case SDL_VALUE_VECTOR:
        return append_vector(parent, key, klen, v, err);
    case SDL_VALUE_KIND_COUNT:
        break;
    }
    sdl_error_set(err, SDL_E_INVALID, "unknown value kind %d", (int)v->kind);
    return false;
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

static bool
append_image(const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
             bson_t *doc, const char *key, sdl_error *err)
{
    bson_t child;
    bool ok = true;

    bson_append_document_begin(doc, key, (int)strlen(key), &child);
    for (uint32_t i = 0; i < t->ncols && ok; i++) {
        const sdl_column *c = &t->cols[i];
        ok = sdl_doc_mapper_value(opts, c, &img[i], &child, c->name, strlen(c->name), err);
        if (!ok) {
            sdl_error_prefix(err, "%s image: column '%s'", key, c->name);
        }
    }
    bson_append_document_end(doc, &child);
    return ok;
}

static bool
append_pk(const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
          const char *image, bson_t *doc, sdl_error *err)
{
    bson_t child;
    bool ok = true;

    bson_append_document_begin(doc, "pk", 2, &child);
    for (uint32_t k = 0; k < t->npk && ok; k++) {
        uint32_t i = t->pk[k];
        if (i >= t->ncols) {
            sdl_error_set(err, SDL_E_INVALID, "primary key names column %" PRIu32 " of %" PRIu32,
                          i + 1, t->ncols);
            ok = false;
            break;
        }
        const sdl_column *c = &t->cols[i];
        if (img[i].kind == SDL_VALUE_ABSENT) {
            sdl_error_set(err, SDL_E_SCHEMA, "primary key column '%s' absent from the %s image",
                          c->name, image);
            ok = false;
            break;
        }
        ok = sdl_doc_mapper_value(opts, c, &img[i], &child, c->name, strlen(c->name), err);
        if (!ok) {
            sdl_error_prefix(err, "primary key column '%s'", c->name);
        }
    }
    bson_append_document_end(doc, &child);
    return ok;
}

static void
append_changed(const sdl_table *t, const sdl_value *before, const sdl_value *after, bson_t *doc)
{
    bson_t arr;
    uint32_t n = 0;

    bson_append_array_begin(doc, "changed", 7, &arr);
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (after[i].kind == SDL_VALUE_ABSENT ||
            (before[i].kind != SDL_VALUE_ABSENT && value_equal(&before[i], &after[i]))) {
            continue;
        }
        char buf[16];
        const char *k;
        size_t klen = bson_uint32_to_string(n++, &k, buf, sizeof(buf));
        bson_append_utf8(&arr, k, (int)klen, t->cols[i].name, -1);
    }
    bson_append_array_end(doc, &arr);
}

/* "<pipeline>:<gtid>:<seq>" */
static void
append_id(const sdl_change_pos *pos, bson_t *doc)
{
    char local[256];
    size_t lp = strlen(pos->pipeline);
    size_t lg = strlen(pos->gtid);
    size_t need = lp + lg + 2 + 21;
    char *buf = need <= sizeof(local) ? local : bson_malloc(need);
    char digits[24];
    size_t nd = 0;
    uint64_t s = pos->seq;

    do {
        digits[nd++] = (char)('0' + s % 10);
        s /= 10;
    } while (s);
    memcpy(buf, pos->pipeline, lp);
    buf[lp] = ':';
    memcpy(buf + lp + 1, pos->gtid, lg);
    buf[lp + 1 + lg] = ':';
    size_t n = lp + lg + 2;
    while (nd) {
        buf[n++] = digits[--nd];
    }
    bson_append_utf8(doc, "_id", 3, buf, (int)n);
    if (buf != local) {
        bson_free(buf);
    }
}

static void
append_position(const sdl_change_pos *pos, bson_t *doc)
{
    bson_t child;

    bson_append_utf8(doc, "gtid", 4, pos->gtid, -1);
    bson_append_int64(doc, "seq", 3, (int64_t)pos->seq);
    bson_append_date_time(doc, "ts", 2, pos->ts_sec * 1000);
    bson_append_document_begin(doc, "binlog", 6, &child);
    bson_append_utf8(&child, "file", 4, pos->binlog_file ? pos->binlog_file : "", -1);
    bson_append_int64(&child, "pos", 3, (int64_t)pos->binlog_pos);
    bson_append_document_end(doc, &child);
}

bool
sdl_doc_mapper_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                   const sdl_row_change *rc, bson_t *doc, sdl_error *err)
{
    static const char *const op_names[] = {"insert", "update", "delete"};
    const sdl_table *t = rc->table;
    bool ok = false;

    if (!t || (unsigned)rc->op > SDL_ROW_DELETE || (rc->op != SDL_ROW_INSERT && !rc->before) ||
        (rc->op != SDL_ROW_DELETE && !rc->after)) {
        sdl_error_set(err, SDL_E_INVALID, "row change without the images its op needs");
        goto out;
    }
    append_id(pos, doc);
    bson_append_utf8(doc, "op", 2, op_names[rc->op], -1);
    bson_append_utf8(doc, "db", 2, t->db, -1);
    bson_append_utf8(doc, "table", 5, t->name, -1);
    if (t->npk > 0) {
        bool from_before = rc->op != SDL_ROW_INSERT;
        if (!append_pk(opts, t, from_before ? rc->before : rc->after,
                       from_before ? "before" : "after", doc, err)) {
            goto out;
        }
    }
    if (rc->before && rc->op != SDL_ROW_INSERT &&
        !append_image(opts, t, rc->before, doc, "before", err)) {
        goto out;
    }
    if (rc->after && rc->op != SDL_ROW_DELETE &&
        !append_image(opts, t, rc->after, doc, "after", err)) {
        goto out;
    }
    if (rc->op == SDL_ROW_UPDATE) {
        append_changed(t, rc->before, rc->after, doc);
    }
    append_position(pos, doc);
    if (pos->split) {
        bson_append_bool(doc, "split", 5, true);
    }
    if (!t->names_from_metadata) {
        bson_append_bool(doc, "columns_unnamed", 15, true);
    }
    ok = true;
out:
    if (!ok) {
        sdl_error_prefix(err, "table '%s.%s'", t && t->db ? t->db : "?",
                         t && t->name ? t->name : "?");
    }
    return ok;
}

bool
sdl_doc_mapper_ddl(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const char *db,
                   const char *statement, size_t statement_len, bson_t *doc, sdl_error *err)
{
    (void)opts;
    if (statement_len > INT_MAX / 2) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "DDL statement of %zu bytes exceeds the BSON limit",
                      statement_len);
        return false;
    }
    append_id(pos, doc);
    bson_append_utf8(doc, "op", 2, "ddl", 3);
    if (db && *db) {
        bson_append_utf8(doc, "db", 2, db, -1);
    }
    if (sdl_utf8_valid(statement, statement_len)) {
        bson_append_utf8(doc, "statement", 9, statement, (int)statement_len);
    } else {
        /* Replace each invalid byte by U+FFFD: the statement is a record, not row data. */
        sdl_buf fixed = SDL_BUF_INIT;
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
        bson_append_utf8(doc, "statement", 9, (const char *)fixed.data, (int)fixed.len);
        sdl_buf_done(&fixed);
    }
    append_position(pos, doc);
    return true;
}
