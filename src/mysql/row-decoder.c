/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/row-decoder.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sdl/mysql/charset.h"

#include "row-decoder-private.h"

/*
 * Row image layout (MariaDB sql/log_event_server.cc Rows_log_event::write_row /
 * unpack_row in sql/rpl_record.cc; MySQL sql/rpl_record.cc): for each row, a null bitmap of
 * (number of present columns + 7) / 8 bytes, bit j (LSB first) for the j-th present column,
 * then each present non-NULL column in Field::pack() form. UPDATE rows hold a before image
 * (columns of the first bitmap) followed by an after image (columns of the second).
 */

static const char *
type_name(uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_DECIMAL:
        return "DECIMAL(old)";
    case SDL_MYSQL_TYPE_TINY:
        return "TINYINT";
    case SDL_MYSQL_TYPE_SHORT:
        return "SMALLINT";
    case SDL_MYSQL_TYPE_LONG:
        return "INT";
    case SDL_MYSQL_TYPE_FLOAT:
        return "FLOAT";
    case SDL_MYSQL_TYPE_DOUBLE:
        return "DOUBLE";
    case SDL_MYSQL_TYPE_NULL:
        return "NULL";
    case SDL_MYSQL_TYPE_TIMESTAMP:
        return "TIMESTAMP(old)";
    case SDL_MYSQL_TYPE_LONGLONG:
        return "BIGINT";
    case SDL_MYSQL_TYPE_INT24:
        return "MEDIUMINT";
    case SDL_MYSQL_TYPE_DATE:
        return "DATE";
    case SDL_MYSQL_TYPE_TIME:
        return "TIME(old)";
    case SDL_MYSQL_TYPE_DATETIME:
        return "DATETIME(old)";
    case SDL_MYSQL_TYPE_YEAR:
        return "YEAR";
    case SDL_MYSQL_TYPE_NEWDATE:
        return "DATE(newdate)";
    case SDL_MYSQL_TYPE_VARCHAR:
        return "VARCHAR";
    case SDL_MYSQL_TYPE_BIT:
        return "BIT";
    case SDL_MYSQL_TYPE_TIMESTAMP2:
        return "TIMESTAMP";
    case SDL_MYSQL_TYPE_DATETIME2:
        return "DATETIME";
    case SDL_MYSQL_TYPE_TIME2:
        return "TIME";
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        return "BLOB COMPRESSED";
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        return "VARCHAR COMPRESSED";
    case SDL_MYSQL_TYPE_VECTOR:
        return "VECTOR";
    case SDL_MYSQL_TYPE_JSON:
        return "JSON";
    case SDL_MYSQL_TYPE_NEWDECIMAL:
        return "DECIMAL";
    case SDL_MYSQL_TYPE_ENUM:
        return "ENUM";
    case SDL_MYSQL_TYPE_SET:
        return "SET";
    case SDL_MYSQL_TYPE_BLOB:
        return "BLOB/TEXT";
    case SDL_MYSQL_TYPE_VAR_STRING:
        return "VAR_STRING";
    case SDL_MYSQL_TYPE_STRING:
        return "CHAR";
    case SDL_MYSQL_TYPE_GEOMETRY:
        return "GEOMETRY";
    default:
        return "unknown type";
    }
}

/* ---- strings ------------------------------------------------------------------------------ */

static sdl_bytes copy_bytes(sdl_arena *arena, sdl_bytes b);

static bool
text_value(const sdl_column *col, sdl_bytes raw, sdl_arena *arena, sdl_value *v, sdl_error *err)
{
    const sdl_charset *cs;
    sdl_bytes out;

    if (col->charset == SDL_COLLATION_GUESS_UTF8) {
        /* no charset metadata (binlog files of old servers): see row-decoder.h */
        bool utf8 = raw.len == 0 || sdl_utf8_valid(raw.ptr, raw.len, true);
        sdl_row_set_text(v,
                         col->is_json ? SDL_VALUE_JSON_TEXT
                         : utf8       ? SDL_VALUE_STRING
                                      : SDL_VALUE_BINARY,
                         copy_bytes(arena, raw));
        return true;
    }
    if (col->charset == 0) {
        sdl_error_set(err, SDL_E_SCHEMA,
                      "charset unknown (the table map has no charset metadata; "
                      "binlog_row_metadata=FULL is required)");
        return false;
    }
    cs = sdl_charset_by_collation(col->charset);
    if (!cs) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "unknown collation id %u", col->charset);
        return false;
    }
    bool checked = false;
    if (!sdl_charset_check_in_place(cs, raw, &checked, err)) {
        return false;
    }
    if (checked) {
        /* UTF-8 (checked) or binary bytes: used where they are, in the rows event */
        out = raw;
    } else if (!sdl_charset_to_utf8(cs, raw, arena, &out, err)) {
        return false;
    }
    if (cs->kind == SDL_CHARSET_BINARY) {
        sdl_row_set_text(v, col->is_json ? SDL_VALUE_JSON_TEXT : SDL_VALUE_BINARY, out);
    } else {
        sdl_row_set_text(v, col->is_json ? SDL_VALUE_JSON_TEXT : SDL_VALUE_STRING, out);
        v->utf8_checked = true; /* checked above, or converted to UTF-8 */
    }
    return true;
}

static sdl_bytes
copy_bytes(sdl_arena *arena, sdl_bytes b)
{
    uint8_t *p = sdl_arena_alloc(arena, b.len + 1);

    if (b.len) {
        memcpy(p, b.ptr, b.len);
    }
    p[b.len] = 0;
    return SDL_BYTES(p, b.len);
}

/* Reads a little-endian length of @n bytes and that many bytes. */
static bool
read_lenbytes(sdl_cursor *c, unsigned n, uint64_t max, sdl_bytes *ret, sdl_error *err)
{
    uint64_t len = sdl_cursor_uint_le(c, n);

    if (c->failed) {
        return true; /* caller reports truncation */
    }
    if (len > max) {
        sdl_error_set(err, SDL_E_PROTOCOL, "length %" PRIu64 " exceeds the column maximum %" PRIu64,
                      len, max);
        return false;
    }
    if (len > sdl_cursor_left(c)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "length %" PRIu64 " exceeds the %zu bytes left", len,
                      sdl_cursor_left(c));
        return false;
    }
    *ret = sdl_cursor_bytes(c, (size_t)len);
    return true;
}

/* ---- one value ---------------------------------------------------------------------------- */

static bool
decode_value(const sdl_column *col, sdl_cursor *c, sdl_arena *arena, sdl_value *v, sdl_error *err)
{
    uint64_t u;
    sdl_bytes b = {NULL, 0};

    switch (col->type) {
    case SDL_MYSQL_TYPE_TINY:
        u = sdl_cursor_uint_le(c, 1);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int8_t)(uint8_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_SHORT:
        u = sdl_cursor_uint_le(c, 2);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int16_t)(uint16_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_INT24:
        u = sdl_cursor_uint_le(c, 3);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (u & 0x800000) ? (int64_t)u - 0x1000000 : (int64_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_LONG:
        u = sdl_cursor_uint_le(c, 4);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int32_t)(uint32_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_LONGLONG:
        u = sdl_cursor_uint_le(c, 8);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int64_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_FLOAT: {
        uint32_t bits = (uint32_t)sdl_cursor_uint_le(c, 4);
        float f;
        memcpy(&f, &bits, sizeof(f));
        v->kind = SDL_VALUE_FLOAT;
        v->d = (double)f;
        break;
    }
    case SDL_MYSQL_TYPE_DOUBLE: {
        uint64_t bits = sdl_cursor_uint_le(c, 8);
        memcpy(&v->d, &bits, sizeof(v->d));
        v->kind = SDL_VALUE_DOUBLE;
        break;
    }
    case SDL_MYSQL_TYPE_NEWDECIMAL: {
        unsigned p = col->meta >> 8, s = col->meta & 0xff;
        size_t used;
        if (p <= 18) {
            if (!sdl_decimal_to_i64(c->ptr, sdl_cursor_left(c), p, s, &v->i, &used, err)) {
                return false;
            }
            sdl_cursor_skip(c, used);
            v->kind = SDL_VALUE_DECIMAL64;
            v->precision = (uint8_t)p;
            v->scale = (uint8_t)s;
            break;
        }
        if (!sdl_decimal_to_text(c->ptr, sdl_cursor_left(c), p, s, arena, &b, &used, err)) {
            return false;
        }
        sdl_cursor_skip(c, used);
        v->precision = (uint8_t)p;
        v->scale = (uint8_t)s;
        sdl_row_set_text(v, SDL_VALUE_DECIMAL, b);
        break;
    }
    case SDL_MYSQL_TYPE_BIT: {
        unsigned nbits = (col->meta >> 8) * 8u + (col->meta & 0xffu);
        unsigned nbytes = (col->meta >> 8) + ((col->meta & 0xff) ? 1u : 0u);
        u = sdl_cursor_uint_be(c, nbytes);
        if (nbits < 64 && (u >> nbits) != 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "BIT(%u) value 0x%" PRIx64 " has extra bits", nbits,
                          u);
            return false;
        }
        v->kind = SDL_VALUE_BIT;
        v->u = u;
        break;
    }
    case SDL_MYSQL_TYPE_YEAR:
        u = sdl_cursor_uint_le(c, 1);
        v->kind = SDL_VALUE_INT;
        v->i = u == 0 ? 0 : 1900 + (int64_t)u;
        break;
    case SDL_MYSQL_TYPE_DATE:
    case SDL_MYSQL_TYPE_NEWDATE:
        /* Field_newdate: 3 bytes little-endian, day 5 bits, month 4 bits, year above. */
        u = sdl_cursor_uint_le(c, 3);
        if (c->failed) {
            break;
        }
        if (!sdl_row_make_datetime(arena, v, (unsigned)(u >> 9), (unsigned)(u >> 5) & 15u,
                                   (unsigned)u & 31u, false, 0, 0, 0, 0, 0, err)) {
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_DATETIME2: {
        /* my_datetime_packed_from_binary: 5 bytes big-endian minus 0x8000000000:
         * year*13+month (17 bits), day (5), hour (5), minute (6), second (6). */
        int64_t ip = (int64_t)sdl_cursor_uint_be(c, 5) - INT64_C(0x8000000000);
        uint32_t usec = sdl_row_read_frac(c, col->meta);
        uint64_t ymdhms, ymd, ym, hms;
        if (c->failed) {
            break;
        }
        if (ip < 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "negative DATETIME");
            return false;
        }
        ymdhms = (uint64_t)ip;
        ymd = ymdhms >> 17;
        ym = ymd >> 5;
        hms = ymdhms & 0x1ffff;
        if (!sdl_row_make_datetime(arena, v, (unsigned)(ym / 13), (unsigned)(ym % 13),
                                   (unsigned)(ymd & 31), true, (unsigned)(hms >> 12),
                                   (unsigned)((hms >> 6) & 63), (unsigned)(hms & 63), usec,
                                   col->meta, err)) {
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIMESTAMP2: {
        /* my_timestamp_from_binary: 4 bytes big-endian seconds, then the fraction. */
        uint64_t sec = sdl_cursor_uint_be(c, 4);
        uint32_t usec = sdl_row_read_frac(c, col->meta);
        if (c->failed) {
            break;
        }
        if (usec > 999999) {
            sdl_error_set(err, SDL_E_PROTOCOL, "TIMESTAMP fraction %" PRIu32 " > 999999", usec);
            return false;
        }
        v->fsp = (uint8_t)col->meta;
        if (sec == 0 && usec == 0) {
            sdl_row_set_text(v, SDL_VALUE_TEMPORAL_TEXT,
                             sdl_row_format_datetime(arena, 0, 0, 0, true, 0, 0, 0, 0, col->meta));
        } else {
            v->kind = SDL_VALUE_DATETIME;
            v->usec = (int64_t)sec * 1000000 + usec;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIME2:
        if (!sdl_row_decode_time2(c, col->meta, arena, v, err)) {
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_TIMESTAMP:
        /* Old Field_timestamp: 4 bytes little-endian seconds. */
        u = sdl_cursor_uint_le(c, 4);
        if (c->failed) {
            break;
        }
        if (u == 0) {
            sdl_row_set_text(v, SDL_VALUE_TEMPORAL_TEXT,
                             sdl_row_format_datetime(arena, 0, 0, 0, true, 0, 0, 0, 0, 0));
        } else {
            v->kind = SDL_VALUE_DATETIME;
            v->usec = (int64_t)u * 1000000;
        }
        break;
    case SDL_MYSQL_TYPE_DATETIME: {
        /* Old Field_datetime: 8 bytes little-endian YYYYMMDDhhmmss as a decimal number. */
        uint64_t x = sdl_cursor_uint_le(c, 8);
        if (c->failed) {
            break;
        }
        if (!sdl_row_make_datetime(
                arena, v, (unsigned)(x / 10000000000ull), (unsigned)(x / 100000000ull % 100),
                (unsigned)(x / 1000000ull % 100), true, (unsigned)(x / 10000 % 100),
                (unsigned)(x / 100 % 100), (unsigned)(x % 100), 0, 0, err)) {
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIME: {
        /* Old Field_time: 3 bytes little-endian signed [-]hhmmss as a decimal number. */
        int64_t x;
        uint64_t ax;
        u = sdl_cursor_uint_le(c, 3);
        if (c->failed) {
            break;
        }
        x = (u & 0x800000) ? (int64_t)u - 0x1000000 : (int64_t)u;
        ax = x < 0 ? (uint64_t)-x : (uint64_t)x;
        if (ax % 100 > 59 || ax / 100 % 100 > 59) {
            sdl_error_set(err, SDL_E_PROTOCOL, "invalid TIME value %" PRId64, x);
            return false;
        }
        sdl_row_make_time_text(arena, v, x < 0, (uint32_t)(ax / 10000), (unsigned)(ax / 100 % 100),
                               (unsigned)(ax % 100), 0, 0);
        break;
    }
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_VAR_STRING:
        if (!read_lenbytes(c, col->meta < 256 ? 1 : 2, col->meta, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_STRING:
        /* Field_string::unpack: 1-byte length up to 255 bytes, else 2. Trailing pad
         * characters were stripped; BINARY(n) is padded back with 0x00 as SELECT shows. */
        if (!read_lenbytes(c, col->meta > 255 ? 2 : 1, col->meta, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        if (col->charset == 63 && b.len < col->meta) {
            uint8_t *p = sdl_arena_calloc(arena, 1, (size_t)col->meta + 1);
            memcpy(p, b.ptr, b.len);
            sdl_row_set_text(v, SDL_VALUE_BINARY, SDL_BYTES(p, col->meta));
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_BLOB:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_JSON:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        sdl_row_set_text(v, SDL_VALUE_JSON_BINARY, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_GEOMETRY:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (!c->failed && b.len < 4) {
            sdl_error_set(err, SDL_E_PROTOCOL, "GEOMETRY value of %zu bytes lacks its SRID", b.len);
            return false;
        }
        sdl_row_set_text(v, SDL_VALUE_GEOMETRY, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_VECTOR:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (!c->failed && b.len % 4 != 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "VECTOR value of %zu bytes", b.len);
            return false;
        }
        sdl_row_set_text(v, SDL_VALUE_VECTOR, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_ENUM:
        u = sdl_cursor_uint_le(c, col->meta);
        if (c->failed) {
            break;
        }
        if (col->nvalues == 0 && col->charset == SDL_COLLATION_GUESS_UTF8) {
            v->kind = SDL_VALUE_UINT; /* no member names in the table map: the index */
            v->u = u;
            break;
        }
        if (u > col->nvalues) {
            sdl_error_set(err, col->nvalues ? SDL_E_PROTOCOL : SDL_E_SCHEMA,
                          "ENUM index %" PRIu64 " but %" PRIu32
                          " members known (binlog_row_metadata=FULL gives them)",
                          u, col->nvalues);
            return false;
        }
        sdl_row_set_text(v, SDL_VALUE_ENUM,
                         u == 0 ? SDL_BYTES("", 0)
                                : SDL_BYTES(col->values[u - 1], strlen(col->values[u - 1])));
        break;
    case SDL_MYSQL_TYPE_SET: {
        const char **names;
        uint32_t n = 0;
        u = sdl_cursor_uint_le(c, col->meta);
        if (c->failed) {
            break;
        }
        if (col->nvalues == 0 && col->charset == SDL_COLLATION_GUESS_UTF8) {
            v->kind = SDL_VALUE_UINT; /* no member names in the table map: the bit mask */
            v->u = u;
            break;
        }
        if (col->nvalues < 64 && (u >> col->nvalues) != 0) {
            sdl_error_set(err, col->nvalues ? SDL_E_PROTOCOL : SDL_E_SCHEMA,
                          "SET bits 0x%" PRIx64 " but %" PRIu32
                          " members known (binlog_row_metadata=FULL gives them)",
                          u, col->nvalues);
            return false;
        }
        names = sdl_arena_alloc(arena, (size_t)__builtin_popcountll(u) * sizeof(*names) + 1);
        for (uint32_t i = 0; i < 64 && i < col->nvalues; i++) {
            if (u >> i & 1) {
                names[n++] = col->values[i];
            }
        }
        v->kind = SDL_VALUE_SET;
        v->set.count = n;
        v->set.names = names;
        break;
    }
    case SDL_MYSQL_TYPE_NULL:
        v->kind = SDL_VALUE_NULL;
        break;
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "MariaDB compressed columns are not supported");
        return false;
    default:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "column type %u cannot be decoded", col->type);
        return false;
    }
    if (c->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "row image truncated");
        return false;
    }
    return true;
}

/* ---- rows ------------------------------------------------------------------------------------ */

static uint32_t
count_bits(sdl_bytes bitmap, uint32_t ncols)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < ncols; i++) {
        n += (bitmap.ptr[i / 8] >> (i % 8)) & 1u;
    }
    return n;
}

bool
sdl_row_decoder_start(sdl_row_decoder *dec, const sdl_table *table, const sdl_binlog_rows *rows,
                      sdl_arena *arena, sdl_error *err)
{
    size_t nbytes = ((size_t)rows->ncols + 7) / 8;

    if (rows->ncols != table->ncols) {
        sdl_error_set(err, SDL_E_SCHEMA,
                      "table '%s.%s': rows event has %" PRIu32 " columns, table map %" PRIu32,
                      table->db, table->name, rows->ncols, table->ncols);
        return false;
    }
    if (rows->present.len != nbytes || rows->present_after.len != nbytes) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s': column bitmap of %zu bytes for %" PRIu32 " columns",
                      table->db, table->name, rows->present.len, rows->ncols);
        return false;
    }
    dec->table = table;
    dec->rows = rows;
    dec->arena = arena;
    dec->cur = rows->rows.ptr ? sdl_cursor_make(rows->rows) : (sdl_cursor){NULL, NULL, false};
    dec->npresent = count_bits(rows->present, rows->ncols);
    dec->npresent_after = count_bits(rows->present_after, rows->ncols);
    dec->row_index = 0;
    return true;
}

/* Decodes one image (null bitmap + values) over the columns of @present. @partial (may be
 * empty) is the PARTIAL_UPDATE_ROWS bitmap over the table's JSON columns present in the image:
 * a set bit means the value is a Json_diff vector, not a whole document. */
static bool
decode_image(sdl_row_decoder *dec, sdl_bytes present, uint32_t npresent, const char *which,
             sdl_bytes partial, sdl_value **ret_values, sdl_error *err)
{
    const sdl_table *t = dec->table;
    sdl_cursor *c = &dec->cur;
    sdl_value *vals = sdl_arena_calloc(dec->arena, t->ncols, sizeof(*vals));
    sdl_bytes nulls = sdl_cursor_bytes(c, (npresent + 7) / 8);
    uint32_t j = 0;  /* index among present columns */
    uint32_t jp = 0; /* index among present JSON columns (partial bits) */

    if (c->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s' row %" PRIu64 " (%s image): null bitmap truncated", t->db,
                      t->name, dec->row_index, which);
        return false;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sdl_column *col = &t->cols[i];

        if (!((present.ptr[i / 8] >> (i % 8)) & 1)) {
            continue; /* SDL_VALUE_ABSENT (0) from calloc */
        }
        bool is_partial = false;
        if (partial.len && col->type == SDL_MYSQL_TYPE_JSON) {
            is_partial = jp / 8 < partial.len && ((partial.ptr[jp / 8] >> (jp % 8)) & 1);
            jp++;
        }
        if ((nulls.ptr[j / 8] >> (j % 8)) & 1) {
            vals[i].kind = SDL_VALUE_NULL;
        } else if (is_partial) {
            sdl_bytes b;
            if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err) || c->failed) {
                if (c->failed) {
                    sdl_error_set(err, SDL_E_PROTOCOL, "row image truncated");
                }
                sdl_error_prefix(err,
                                 "table '%s.%s' row %" PRIu64 " (%s image) column '%s' (#%" PRIu32
                                 ", JSON diff)",
                                 t->db, t->name, dec->row_index, which, col->name, i);
                return false;
            }
            sdl_row_set_text(&vals[i], SDL_VALUE_JSON_DIFF, copy_bytes(dec->arena, b));
        } else if (!decode_value(col, c, dec->arena, &vals[i], err)) {
            sdl_error_prefix(
                err, "table '%s.%s' row %" PRIu64 " (%s image) column '%s' (#%" PRIu32 ", %s)",
                t->db, t->name, dec->row_index, which, col->name, i, type_name(col->type));
            return false;
        }
        j++;
    }
    *ret_values = vals;
    return true;
}

bool
sdl_row_decoder_next(sdl_row_decoder *dec, sdl_row_change *ret_change, bool *ret_more,
                     sdl_error *err)
{
    const sdl_binlog_rows *r = dec->rows;
    sdl_row_change ch;
    sdl_value *before = NULL, *after = NULL;
    const sdl_bytes none = {NULL, 0};
    sdl_bytes partial = {NULL, 0};

    if (sdl_cursor_left(&dec->cur) == 0 || dec->cur.failed) {
        *ret_more = false;
        return true;
    }
    const uint8_t *start = dec->cur.ptr;

    ch.op = r->op;
    ch.table = dec->table;
    switch (r->op) {
    case SDL_ROW_INSERT:
        if (!decode_image(dec, r->present, dec->npresent, "after", none, &after, err)) {
            return false;
        }
        break;
    case SDL_ROW_DELETE:
        if (!decode_image(dec, r->present, dec->npresent, "before", none, &before, err)) {
            return false;
        }
        break;
    case SDL_ROW_UPDATE:
        if (!decode_image(dec, r->present, dec->npresent, "before", none, &before, err)) {
            return false;
        }
        if (r->partial) {
            /* MySQL rows_event.h / rpl_record.cc: a PARTIAL_UPDATE_ROWS after image starts with
             * value_options (packed integer); with PARTIAL_JSON_UPDATES (1) a bitmap over the
             * table's JSON columns follows. */
            uint64_t value_options = sdl_cursor_lenenc(&dec->cur);
            if (value_options & 1) {
                uint32_t njson = 0;
                for (uint32_t i = 0; i < dec->table->ncols; i++) {
                    njson += dec->table->cols[i].type == SDL_MYSQL_TYPE_JSON;
                }
                partial = sdl_cursor_bytes(&dec->cur, (njson + 7) / 8);
            }
            if (dec->cur.failed) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "table '%s.%s' row %" PRIu64 ": partial update header truncated",
                              dec->table->db, dec->table->name, dec->row_index);
                return false;
            }
        }
        if (!decode_image(dec, r->present_after, dec->npresent_after, "after", partial, &after,
                          err)) {
            return false;
        }
        break;
    }
    if (dec->cur.ptr == start) {
        /* No column present: the image consumed nothing, yet bytes are left. */
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s': %zu bytes of row data but no column in the image",
                      dec->table->db, dec->table->name, sdl_cursor_left(&dec->cur));
        return false;
    }
    ch.before = before;
    ch.after = after;
    dec->row_index++;
    *ret_change = ch;
    *ret_more = true;
    return true;
}
