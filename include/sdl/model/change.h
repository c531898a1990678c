/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * change: the neutral form of a row change between the source (mysql/) and the sink
 * (mapping/, mongo/). The decoder produces sdl_value columns; the mapper turns them into
 * BSON. Neither side's library types appear here.
 *
 * Lifetime: every pointer inside these structs borrows memory owned by the producer (its
 * arenas, or the bytes of the rows event the values were decoded from, see row-decoder.h),
 * valid as long as the producer says. Nothing here allocates. No logging; values are plain
 * data.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a decoded column value is. The mapper maps each kind as DESIGN.md §6 says. */
typedef enum sdl_value_kind {
    SDL_VALUE_ABSENT = 0,    /* column not present in this (partial) row image */
    SDL_VALUE_NULL,          /* SQL NULL */
    SDL_VALUE_INT,           /* .i: signed integer types and YEAR */
    SDL_VALUE_UINT,          /* .u: unsigned integer types */
    SDL_VALUE_BIT,           /* .u: BIT(n), n in 1..64 */
    SDL_VALUE_FLOAT,         /* .d: a FLOAT (float32 widened); printed as its shortest form */
    SDL_VALUE_DOUBLE,        /* .d: DOUBLE */
    SDL_VALUE_DECIMAL,       /* .str: exact decimal text "-12.3400"; .precision, .scale */
    SDL_VALUE_STRING,        /* .str: UTF-8 text, converted from the column charset */
    SDL_VALUE_BINARY,        /* .str: raw bytes (BINARY/VARBINARY/BLOB, binary charset) */
    SDL_VALUE_DATETIME,      /* .usec: microseconds since 1970-01-01 UTC; .fsp digits */
    SDL_VALUE_DATE,          /* .usec: midnight UTC of the date (DATE columns) */
    SDL_VALUE_TEMPORAL_TEXT, /* .str: zero or partial date/datetime as MySQL prints it */
    SDL_VALUE_TIME,          /* .str: "[-]HH[H]:MM:SS[.ffffff]" */
    SDL_VALUE_ENUM,          /* .str: member name ("" for the error value 0) */
    SDL_VALUE_SET,           /* .set: member names */
    SDL_VALUE_JSON_TEXT,     /* .str: JSON text (MariaDB stores JSON as LONGTEXT) */
    SDL_VALUE_JSON_BINARY,   /* .str: MySQL binary JSON (sql-common/json_binary.h) */
    SDL_VALUE_GEOMETRY,      /* .str: 4-byte little-endian SRID followed by WKB */
    SDL_VALUE_VECTOR,        /* .str: little-endian float32 array */
    SDL_VALUE_JSON_DIFF,     /* .str: MySQL partial JSON update (binary Json_diff vector) of
                              * an UPDATE's after image, to apply to the before image's
                              * JSON_BINARY value of the same column */
    SDL_VALUE_DECIMAL64,     /* .i: DECIMAL of precision ≤ 18 as its unscaled integer (value
                              * × 10^scale: -12.34 in DECIMAL(6,2) is -1234); .precision,
                              * .scale. The decoder gives DECIMAL(≤ 18) so, wider ones as
                              * SDL_VALUE_DECIMAL text. */
    SDL_VALUE_KIND_COUNT
} sdl_value_kind;

typedef struct sdl_value {
    sdl_value_kind kind;
    uint8_t fsp;       /* fractional second digits (DATETIME, TIME), 0..6 */
    uint8_t precision; /* DECIMAL precision (digits), 1..65 */
    uint8_t scale;     /* DECIMAL scale, 0..38 (MariaDB; MySQL: 0..30) */
    bool utf8_checked; /* STRING, JSON_TEXT: the producer found .str valid UTF-8 (the mapper
                        * then skips its own check); false: not known */
    union {
        int64_t i;
        uint64_t u;
        double d;
        int64_t usec;
        struct {
            const char *ptr; /* not NUL-terminated in general */
            size_t len;      /* bytes */
        } str;
        struct {
            uint32_t count;           /* members present */
            const char *const *names; /* NUL-terminated member names, table order */
        } set;
    };
} sdl_value;

/* One column of a table as the source's table map describes it. */
typedef struct sdl_column {
    const char *name;          /* from the optional metadata, else "@<1-based index>" */
    uint32_t name_len;         /* strlen(name), set with the table map; 0 = not set (mappers
                                * then take strlen) */
    uint8_t type;              /* source type code (MySQL enum_field_types; real type of
                                * STRING columns: ENUM 247, SET 248, STRING 254) */
    uint16_t meta;             /* type metadata from the table map (per type, see decoder) */
    uint16_t charset;          /* collation id of string columns; 63 = binary; 0 unknown */
    bool is_unsigned;          /* numeric columns: UNSIGNED */
    bool is_nullable;          /* from the table map's null bitmap */
    bool is_pk;                /* part of the primary key */
    bool is_json;              /* JSON column (MySQL type, or MariaDB from information_schema) */
    bool is_visible;           /* false for MySQL INVISIBLE columns */
    uint32_t geometry_type;    /* GEOMETRY sub-type from the metadata; 0 = any */
    uint32_t vector_dims;      /* VECTOR dimensionality from the metadata; 0 unknown */
    uint32_t nvalues;          /* ENUM/SET: number of members */
    const char *const *values; /* ENUM/SET member names (UTF-8) */
} sdl_column;

/* A table as one TABLE_MAP event describes it. */
typedef struct sdl_table {
    uint64_t table_id;        /* the source's id for this map, valid within one binlog */
    const char *db;           /* database (schema) name */
    const char *name;         /* table name */
    uint32_t ncols;           /* number of columns */
    sdl_column *cols;         /* ncols columns */
    uint32_t npk;             /* primary key columns */
    const uint32_t *pk;       /* column indices of the primary key, in key order */
    bool names_from_metadata; /* false: the source logged no column names ("@N" names) */
    uint32_t db_len;          /* strlen(db) and strlen(name), set with the table map; 0 = not */
    uint32_t name_len;        /* set (mappers then take strlen) */
} sdl_table;

typedef enum sdl_row_op {
    SDL_ROW_INSERT,
    SDL_ROW_UPDATE,
    SDL_ROW_DELETE,
} sdl_row_op;

/* One row change of one table. */
typedef struct sdl_row_change {
    sdl_row_op op;
    const sdl_table *table;  /* borrowed */
    const sdl_value *before; /* table->ncols values; NULL for inserts */
    const sdl_value *after;  /* table->ncols values; NULL for deletes */
} sdl_row_change;

/* Where a change sits in the source: everything a row_changes document records besides the
 * row itself (DESIGN.md §3). */
typedef struct sdl_change_pos {
    const char *pipeline;     /* pipeline name, first part of _id */
    const char *gtid;         /* GTID of the source transaction as text */
    uint64_t seq;             /* 1-based position of the change inside its transaction */
    int64_t ts_sec;           /* source commit time: event header timestamp, seconds */
    const char *binlog_file;  /* binlog file of the event */
    uint64_t binlog_pos;      /* start offset of the event in that file */
    bool split;               /* the transaction is split across batches */
    uint32_t pipeline_len;    /* strlen() of pipeline, gtid and binlog_file when the producer */
    uint32_t gtid_len;        /* knows them (the mapper writes them for every row); 0: not */
    uint32_t binlog_file_len; /* known, take strlen() */
} sdl_change_pos;
