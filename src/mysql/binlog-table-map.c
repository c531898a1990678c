/* SPDX-License-Identifier: Apache-2.0 */
/* binlog-table-map: TABLE_MAP_EVENT with its optional metadata (binlog_row_metadata=FULL:
 * signedness, charsets, column names, SET/ENUM values, geometry types, primary key,
 * visibility) into an sdl_table. Part of binlog-event.h's interface. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sdl/base/cursor.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/charset.h"

#include "binlog-event-private.h"

/* ---- TABLE_MAP ---------------------------------------------------------------------------- */

/* MariaDB log_event_client.cc / MySQL rows_event.cpp: columns SIGNEDNESS covers. */
static bool
is_numeric_type(uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_TINY:
    case SDL_MYSQL_TYPE_SHORT:
    case SDL_MYSQL_TYPE_INT24:
    case SDL_MYSQL_TYPE_LONG:
    case SDL_MYSQL_TYPE_LONGLONG:
    case SDL_MYSQL_TYPE_NEWDECIMAL:
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
        return true;
    default:
        return false;
    }
}

/* Columns the charset fields cover; @t is the real type. MariaDB counts GEOMETRY (its Field
 * is a blob, log_event_client.cc is_character_type), MySQL does not. */
static bool
is_character_type(const sdl_binlog_format *fmt, uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_STRING:
    case SDL_MYSQL_TYPE_VAR_STRING:
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        return true;
    case SDL_MYSQL_TYPE_GEOMETRY:
        return fmt->flavor != SDL_BINLOG_FLAVOR_MYSQL;
    case SDL_MYSQL_TYPE_VECTOR:
        /* MySQL 9 counts VECTOR columns (charset binary) in DEFAULT_CHARSET/COLUMN_CHARSET */
        return fmt->flavor == SDL_BINLOG_FLAVOR_MYSQL;
    default:
        return false;
    }
}

static bool
is_enum_or_set(uint8_t t)
{
    return t == SDL_MYSQL_TYPE_ENUM || t == SDL_MYSQL_TYPE_SET;
}

/* Decodes the per-column type metadata (MySQL rows_event.cpp Table_map_event, MariaDB
 * Field::save_field_metadata implementations). Returns false with the column named. */
static bool
read_column_meta(sdl_cursor *m, sdl_column *col, sdl_error *err)
{
    uint8_t b0, b1;

    switch (col->type) {
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_TINY_BLOB:
    case SDL_MYSQL_TYPE_MEDIUM_BLOB:
    case SDL_MYSQL_TYPE_LONG_BLOB:
    case SDL_MYSQL_TYPE_GEOMETRY:
    case SDL_MYSQL_TYPE_JSON:
    case SDL_MYSQL_TYPE_VECTOR:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
    case SDL_MYSQL_TYPE_TIMESTAMP2:
    case SDL_MYSQL_TYPE_DATETIME2:
    case SDL_MYSQL_TYPE_TIME2:
        col->meta = sdl_cursor_u8(m);
        break;
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_VAR_STRING:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        col->meta = sdl_cursor_u16(m);
        break;
    case SDL_MYSQL_TYPE_BIT:
        b0 = sdl_cursor_u8(m); /* bits % 8 */
        b1 = sdl_cursor_u8(m); /* whole bytes */
        col->meta = (uint16_t)(b1 << 8 | b0);
        break;
    case SDL_MYSQL_TYPE_NEWDECIMAL:
        b0 = sdl_cursor_u8(m); /* precision */
        b1 = sdl_cursor_u8(m); /* scale */
        col->meta = (uint16_t)(b0 << 8 | b1);
        break;
    case SDL_MYSQL_TYPE_STRING:
    case SDL_MYSQL_TYPE_ENUM:
    case SDL_MYSQL_TYPE_SET:
        b0 = sdl_cursor_u8(m);
        b1 = sdl_cursor_u8(m);
        /* Field_string::do_save_field_metadata: byte0 = real_type ^ ((len & 0x300) >> 4),
         * byte1 = len & 0xff; lengths > 255 bytes flip bits 4-5 of the real type. */
        if ((b0 & 0x30) != 0x30) {
            uint32_t len = (uint32_t)b1 | ((uint32_t)((b0 & 0x30) ^ 0x30) << 4);
            col->type = (uint8_t)(b0 | 0x30);
            col->meta = (uint16_t)len;
        } else {
            col->type = b0;
            col->meta = b1;
        }
        if (col->type == SDL_MYSQL_TYPE_ENUM) {
            if (col->meta != 1 && col->meta != 2) {
                sdl_error_set(err, SDL_E_PROTOCOL, "ENUM pack length %u (want 1 or 2)", col->meta);
                return false;
            }
        } else if (col->type == SDL_MYSQL_TYPE_SET) {
            if (col->meta < 1 || col->meta > 8) {
                sdl_error_set(err, SDL_E_PROTOCOL, "SET pack length %u (want 1..8)", col->meta);
                return false;
            }
        } else if (col->type != SDL_MYSQL_TYPE_STRING) {
            sdl_error_set(err, SDL_E_PROTOCOL, "STRING column with real type %u", col->type);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_DECIMAL:
    case SDL_MYSQL_TYPE_TINY:
    case SDL_MYSQL_TYPE_SHORT:
    case SDL_MYSQL_TYPE_LONG:
    case SDL_MYSQL_TYPE_NULL:
    case SDL_MYSQL_TYPE_TIMESTAMP:
    case SDL_MYSQL_TYPE_LONGLONG:
    case SDL_MYSQL_TYPE_INT24:
    case SDL_MYSQL_TYPE_DATE:
    case SDL_MYSQL_TYPE_TIME:
    case SDL_MYSQL_TYPE_DATETIME:
    case SDL_MYSQL_TYPE_YEAR:
    case SDL_MYSQL_TYPE_NEWDATE:
        col->meta = 0;
        break;
    default:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "unknown column type %u", col->type);
        return false;
    }
    if (m->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "type metadata truncated");
        return false;
    }
    switch (col->type) {
    case SDL_MYSQL_TYPE_NEWDECIMAL: {
        unsigned p = col->meta >> 8, s = col->meta & 0xff;
        if (p < 1 || p > 65 || s > 38 || s > p) { /* MariaDB: scale up to 38 */
            sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) out of range (max 65,38)", p, s);
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIMESTAMP2:
    case SDL_MYSQL_TYPE_DATETIME2:
    case SDL_MYSQL_TYPE_TIME2:
        if (col->meta > 6) {
            sdl_error_set(err, SDL_E_PROTOCOL, "fractional second precision %u > 6", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_BLOB:
    case SDL_MYSQL_TYPE_GEOMETRY:
    case SDL_MYSQL_TYPE_JSON:
    case SDL_MYSQL_TYPE_VECTOR:
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        if (col->meta < 1 || col->meta > 4) {
            sdl_error_set(err, SDL_E_PROTOCOL, "length-prefix size %u (want 1..4)", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_FLOAT:
    case SDL_MYSQL_TYPE_DOUBLE:
        if (col->meta != (col->type == SDL_MYSQL_TYPE_FLOAT ? 4 : 8)) {
            sdl_error_set(err, SDL_E_PROTOCOL, "pack length %u", col->meta);
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_BIT:
        if ((col->meta & 0xff) > 7 || (col->meta >> 8) > 8 ||
            (col->meta >> 8) * 8u + (col->meta & 0xffu) > 64 || col->meta == 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "BIT metadata %u bytes + %u bits", col->meta >> 8,
                          col->meta & 0xff);
            return false;
        }
        break;
    default:
        break;
    }
    return true;
}

/* Optional metadata field types (MySQL rows_event.h Table_map_event::Optional_metadata_field_type;
 * MariaDB log_event.h uses the same numbers). */
enum {
    OM_SIGNEDNESS = 1,
    OM_DEFAULT_CHARSET,
    OM_COLUMN_CHARSET,
    OM_COLUMN_NAME,
    OM_SET_STR_VALUE,
    OM_ENUM_STR_VALUE,
    OM_GEOMETRY_TYPE,
    OM_SIMPLE_PRIMARY_KEY,
    OM_PRIMARY_KEY_WITH_PREFIX,
    OM_ENUM_AND_SET_DEFAULT_CHARSET,
    OM_ENUM_AND_SET_COLUMN_CHARSET,
    OM_COLUMN_VISIBILITY,
    OM_VECTOR_DIMENSIONALITY,
};

typedef bool (*col_pred)(const sdl_binlog_format *fmt, uint8_t type);

static bool
pred_numeric(const sdl_binlog_format *fmt, uint8_t t)
{
    /* MariaDB's server counts YEAR too (Field_year is a Field_tiny, and its binlog_type_info
     * has a signedness); MySQL's does not */
    return is_numeric_type(t) ||
           (t == SDL_MYSQL_TYPE_YEAR && fmt->flavor != SDL_BINLOG_FLAVOR_MYSQL);
}

static bool
pred_character(const sdl_binlog_format *fmt, uint8_t t)
{
    return is_character_type(fmt, t);
}

static bool
pred_enum_set(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return is_enum_or_set(t);
}

static bool
pred_enum(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_ENUM;
}

static bool
pred_set(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_SET;
}

static bool
pred_geometry(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_GEOMETRY;
}

static bool
pred_vector(const sdl_binlog_format *fmt, uint8_t t)
{
    (void)fmt;
    return t == SDL_MYSQL_TYPE_VECTOR;
}

/* The index of the @nth column (0-based) matching @pred, or ncols when there is none. */
static uint32_t
nth_matching(const sdl_binlog_format *fmt, const sdl_table *t, col_pred pred, uint64_t nth)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (pred(fmt, t->cols[i].type)) {
            if (nth == 0) {
                return i;
            }
            nth--;
        }
    }
    return t->ncols;
}

static const char *
arena_str(sdl_arena *arena, sdl_bytes b)
{
    return sdl_arena_strndup(arena, (const char *)b.ptr, b.len);
}

/* Charsets: DEFAULT_CHARSET (default, then (index, collation) exceptions) or the per-column
 * COLUMN_CHARSET list, over the columns @pred selects. */
static bool
om_charsets(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, bool is_default,
            col_pred pred)
{
    if (is_default) {
        uint64_t def = sdl_cursor_lenenc(v);
        for (uint32_t i = 0; i < t->ncols; i++) {
            if (pred(fmt, t->cols[i].type)) {
                t->cols[i].charset = (uint16_t)def;
            }
        }
        while (!v->failed && sdl_cursor_left(v) > 0) {
            uint64_t idx = sdl_cursor_lenenc(v);
            uint64_t coll = sdl_cursor_lenenc(v);
            uint32_t ci = nth_matching(fmt, t, pred, idx);
            if (v->failed || ci == t->ncols || coll > 0xffff) {
                return false;
            }
            t->cols[ci].charset = (uint16_t)coll;
        }
        return !v->failed && def <= 0xffff;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (pred(fmt, t->cols[i].type)) {
            uint64_t coll = sdl_cursor_lenenc(v);
            if (coll > 0xffff) {
                return false;
            }
            t->cols[i].charset = (uint16_t)coll;
        }
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_str_values(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred,
              sdl_arena *arena)
{
    for (uint32_t i = 0; i < t->ncols && !v->failed; i++) {
        uint64_t n;
        const char **names;

        if (!pred(fmt, t->cols[i].type)) {
            continue;
        }
        n = sdl_cursor_lenenc(v);
        /* Each member takes at least one byte; ENUM allows 65535, SET 64 members. */
        if (n > sdl_cursor_left(v) || n > 65535) {
            return false;
        }
        names = sdl_arena_alloc(arena, (size_t)(n ? n : 1) * sizeof(*names));
        for (uint64_t k = 0; k < n; k++) {
            names[k] = arena_str(arena, sdl_cursor_lenenc_bytes(v));
        }
        t->cols[i].nvalues = (uint32_t)n;
        t->cols[i].values = names;
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_per_column_uint(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred,
                   bool vector)
{
    for (uint32_t i = 0; i < t->ncols && !v->failed; i++) {
        uint64_t x;

        if (!pred(fmt, t->cols[i].type)) {
            continue;
        }
        x = sdl_cursor_lenenc(v);
        if (x > UINT32_MAX) {
            return false;
        }
        if (vector) {
            t->cols[i].vector_dims = (uint32_t)x;
        } else {
            t->cols[i].geometry_type = (uint32_t)x;
        }
    }
    return !v->failed && sdl_cursor_left(v) == 0;
}

static bool
om_primary_key(sdl_table *t, sdl_cursor *v, bool with_prefix, sdl_arena *arena)
{
    uint32_t *pk = sdl_arena_alloc(arena, (size_t)t->ncols * sizeof(*pk) + 1);
    uint32_t n = 0;

    while (!v->failed && sdl_cursor_left(v) > 0) {
        uint64_t idx = sdl_cursor_lenenc(v);
        if (with_prefix) {
            (void)sdl_cursor_lenenc(v); /* prefix length; 0 = whole column */
        }
        if (v->failed || idx >= t->ncols || n >= t->ncols || t->cols[idx].is_pk) {
            return false;
        }
        t->cols[idx].is_pk = true;
        pk[n++] = (uint32_t)idx;
    }
    t->pk = pk;
    t->npk = n;
    return !v->failed;
}

static bool
om_bitmap(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *v, col_pred pred, bool visibility)
{
    uint32_t bit = 0;
    sdl_bytes bits = sdl_cursor_rest(v);

    /* Bitmaps in the optional metadata are MSB first (MySQL rows_event.cpp parse_*). */
    for (uint32_t i = 0; i < t->ncols; i++) {
        bool on;

        if (pred && !pred(fmt, t->cols[i].type)) {
            continue;
        }
        if (bit / 8 >= bits.len) {
            return false;
        }
        on = (bits.ptr[bit / 8] >> (7 - bit % 8)) & 1;
        if (visibility) {
            t->cols[i].is_visible = on;
        } else {
            t->cols[i].is_unsigned = on;
        }
        bit++;
    }
    return bits.len == (bit + 7) / 8;
}

static const char *
om_name(uint8_t type)
{
    static const char *names[] = {"?",
                                  "SIGNEDNESS",
                                  "DEFAULT_CHARSET",
                                  "COLUMN_CHARSET",
                                  "COLUMN_NAME",
                                  "SET_STR_VALUE",
                                  "ENUM_STR_VALUE",
                                  "GEOMETRY_TYPE",
                                  "SIMPLE_PRIMARY_KEY",
                                  "PRIMARY_KEY_WITH_PREFIX",
                                  "ENUM_AND_SET_DEFAULT_CHARSET",
                                  "ENUM_AND_SET_COLUMN_CHARSET",
                                  "COLUMN_VISIBILITY",
                                  "VECTOR_DIMENSIONALITY"};
    return type < SDL_ARRAY_SIZE(names) ? names[type] : "?";
}

static bool
parse_optional_metadata(const sdl_binlog_format *fmt, sdl_table *t, sdl_cursor *c, sdl_arena *arena,
                        sdl_error *err)
{
    while (sdl_cursor_left(c) > 0) {
        uint8_t type = sdl_cursor_u8(c);
        sdl_bytes val = sdl_cursor_lenenc_bytes(c);
        sdl_cursor v;
        bool ok = true;

        if (c->failed) {
            sdl_error_set(err, SDL_E_PROTOCOL, "optional metadata field %u truncated", type);
            return false;
        }
        v = sdl_cursor_make(val);
        switch (type) {
        case OM_SIGNEDNESS:
            ok = om_bitmap(fmt, t, &v, pred_numeric, false);
            break;
        case OM_DEFAULT_CHARSET:
            ok = om_charsets(fmt, t, &v, true, pred_character);
            break;
        case OM_COLUMN_CHARSET:
            ok = om_charsets(fmt, t, &v, false, pred_character);
            break;
        case OM_ENUM_AND_SET_DEFAULT_CHARSET:
            ok = om_charsets(fmt, t, &v, true, pred_enum_set);
            break;
        case OM_ENUM_AND_SET_COLUMN_CHARSET:
            ok = om_charsets(fmt, t, &v, false, pred_enum_set);
            break;
        case OM_COLUMN_NAME:
            for (uint32_t i = 0; i < t->ncols && !v.failed; i++) {
                sdl_bytes name = sdl_cursor_lenenc_bytes(&v);
                t->cols[i].name = arena_str(arena, name);
            }
            ok = !v.failed && sdl_cursor_left(&v) == 0;
            t->names_from_metadata = ok;
            break;
        case OM_SET_STR_VALUE:
            ok = om_str_values(fmt, t, &v, pred_set, arena);
            break;
        case OM_ENUM_STR_VALUE:
            ok = om_str_values(fmt, t, &v, pred_enum, arena);
            break;
        case OM_GEOMETRY_TYPE:
            ok = om_per_column_uint(fmt, t, &v, pred_geometry, false);
            break;
        case OM_VECTOR_DIMENSIONALITY:
            ok = om_per_column_uint(fmt, t, &v, pred_vector, true);
            break;
        case OM_SIMPLE_PRIMARY_KEY:
            ok = om_primary_key(t, &v, false, arena);
            break;
        case OM_PRIMARY_KEY_WITH_PREFIX:
            ok = om_primary_key(t, &v, true, arena);
            break;
        case OM_COLUMN_VISIBILITY:
            ok = om_bitmap(fmt, t, &v, NULL, true);
            break;
        default:
            /* Unknown fields are skipped by their length (forward compatibility). */
            break;
        }
        if (!ok) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "optional metadata %s (%u, %zu bytes) does not match the %" PRIu32
                          " columns",
                          om_name(type), type, val.len, t->ncols);
            return false;
        }
    }
    return true;
}

/* ENUM/SET member names arrive in the column's charset; the decoder hands them out as
 * values, so convert them to UTF-8 once here. */
static bool
convert_member_names(sdl_table *t, sdl_arena *arena, sdl_error *err)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        sdl_column *col = &t->cols[i];
        const sdl_charset *cs;
        const char **names;

        if (!is_enum_or_set(col->type) || col->nvalues == 0 || col->charset == 0) {
            continue;
        }
        cs = sdl_charset_by_collation(col->charset);
        if (!cs) {
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "TABLE_MAP_EVENT '%s.%s' column '%s' (#%" PRIu32
                          "): unknown collation id %u",
                          t->db, t->name, col->name, i, col->charset);
            return false;
        }
        if (cs->kind == SDL_CHARSET_UTF8MB4 || cs->kind == SDL_CHARSET_BINARY) {
            continue;
        }
        names = sdl_arena_alloc(arena, col->nvalues * sizeof(*names));
        for (uint32_t k = 0; k < col->nvalues; k++) {
            sdl_bytes out;
            if (!sdl_charset_to_utf8(cs, SDL_BYTES(col->values[k], strlen(col->values[k])), arena,
                                     &out, err)) {
                sdl_error_prefix(
                    err, "TABLE_MAP_EVENT '%s.%s' column '%s' (#%" PRIu32 ") member %" PRIu32,
                    t->db, t->name, col->name, i, k + 1);
                return false;
            }
            names[k] = (const char *)out.ptr;
        }
        col->values = names;
    }
    return true;
}

bool
sdl_binlog_event_parse_table_map(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                 sdl_arena *arena, sdl_table **ret_table, sdl_error *err)
{
    sdl_cursor post, c, meta;
    sdl_table *t;
    sdl_bytes db, name, types, meta_bytes, nulls;
    uint64_t ncols;

    /* MariaDB log_event.h Table_map_log_event: post-header table_id 6, flags 2; body:
     * db_len 1, db, NUL, tbl_len 1, tbl, NUL, column_count lenenc, column types (1 byte
     * each), metadata_len lenenc, metadata, null bitmap ((n+7)/8), optional metadata TLVs. */
    if (!sdl_binlog_split_body(fmt, ev, 6, &post, &c, err)) {
        return false;
    }
    t = sdl_arena_calloc(arena, 1, sizeof(*t));
    t->table_id = sdl_binlog_read_table_id(fmt, ev, &post);
    (void)sdl_cursor_u16(&post); /* flags */
    db = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
    sdl_cursor_skip(&c, 1);
    name = sdl_cursor_bytes(&c, sdl_cursor_u8(&c));
    sdl_cursor_skip(&c, 1);
    if (post.failed || c.failed) {
        return sdl_binlog_truncated(ev, "table name", err);
    }
    t->db = arena_str(arena, db);
    t->name = arena_str(arena, name);
    ncols = sdl_cursor_lenenc(&c);
    if (c.failed || ncols == 0 || ncols > SDL_BINLOG_MAX_COLUMNS) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TABLE_MAP_EVENT '%s.%s': bad column count %" PRIu64,
                      t->db, t->name, ncols);
        return false;
    }
    t->ncols = (uint32_t)ncols;
    types = sdl_cursor_bytes(&c, t->ncols);
    meta_bytes = sdl_cursor_lenenc_bytes(&c);
    nulls = sdl_cursor_bytes(&c, (t->ncols + 7) / 8);
    if (c.failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TABLE_MAP_EVENT '%s.%s': truncated column data", t->db,
                      t->name);
        return false;
    }
    t->cols = sdl_arena_calloc(arena, t->ncols, sizeof(*t->cols));
    meta = sdl_cursor_make(meta_bytes);
    for (uint32_t i = 0; i < t->ncols; i++) {
        sdl_column *col = &t->cols[i];
        char buf[16];

        col->type = types.ptr[i];
        col->is_nullable = (nulls.ptr[i / 8] >> (i % 8)) & 1;
        col->is_visible = true;
        col->is_json = col->type == SDL_MYSQL_TYPE_JSON;
        col->charset = col->type == SDL_MYSQL_TYPE_JSON ? 63 : 0;
        snprintf(buf, sizeof(buf), "@%" PRIu32, i + 1);
        col->name = sdl_arena_strndup(arena, buf, strlen(buf));
        if (!read_column_meta(&meta, col, err)) {
            sdl_error_prefix(err, "TABLE_MAP_EVENT '%s.%s' column #%" PRIu32 " (type %u)", t->db,
                             t->name, i, types.ptr[i]);
            return false;
        }
    }
    if (sdl_cursor_left(&meta) != 0) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TABLE_MAP_EVENT '%s.%s': %zu bytes of type metadata left over", t->db,
                      t->name, sdl_cursor_left(&meta));
        return false;
    }
    if (!parse_optional_metadata(fmt, t, &c, arena, err)) {
        sdl_error_prefix(err, "TABLE_MAP_EVENT '%s.%s'", t->db, t->name);
        return false;
    }
    if (!t->pk) {
        t->pk = sdl_arena_alloc(arena, sizeof(uint32_t));
    }
    if (!convert_member_names(t, arena, err)) {
        return false;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        t->cols[i].name_len = (uint32_t)strlen(t->cols[i].name);
    }
    t->db_len = (uint32_t)strlen(t->db);
    t->name_len = (uint32_t)strlen(t->name);
    *ret_table = t;
    return true;
}
