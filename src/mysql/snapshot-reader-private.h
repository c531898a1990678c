/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * snapshot-reader-private: what the files of the snapshot reader share: snapshot-reader.c
 * (connection, watermark table, tables and their chunk key), snapshot-consistent.c
 * (consistent mode's view and its position) and snapshot-chunk.c (a chunk read through a
 * prepared statement, its values converted). Not for other modules:
 * include/sdl/mysql/snapshot-reader.h is the interface.
 */

#include <stdint.h>

#include <mysql.h>

#include "sdl/base/arena.h"
#include "sdl/model/change.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/schema-cache.h"
#include "sdl/mysql/snapshot-reader.h"

struct sdl_snapshot_reader {
    sdl_mysql_conn *conn;
    sdl_schema_cache *schema; /* MariaDB: JSON columns from information_schema */
    char *wm_db;
    char *wm_table;
    char *pipeline;
    bool pending;    /* a watermark sent (sdl_snapshot_reader_watermark_send), its reply unread */
    char *view_time; /* consistent mode: NOW() just before the view opened (NULL: none) */
};

/* How a column is read and turned into an sdl_value. */
typedef enum col_read {
    READ_INT,      /* LONGLONG (signed or not per the column) */
    READ_FLOAT,    /* FLOAT */
    READ_DOUBLE,   /* DOUBLE */
    READ_DECIMAL,  /* text */
    READ_DATE,     /* MYSQL_TIME */
    READ_DATETIME, /* MYSQL_TIME (DATETIME, TIMESTAMP) */
    READ_TIME,     /* MYSQL_TIME */
    READ_BIT,      /* big-endian bytes */
    READ_STRING,   /* text in utf8mb4 */
    READ_BINARY,   /* bytes */
    READ_ENUM,
    READ_SET,
    READ_JSON,     /* text (MariaDB LONGTEXT with json_valid, MySQL JSON as text) */
    READ_GEOMETRY, /* SRID + WKB */
} col_read;

struct sdl_snapshot_table {
    sdl_arena arena; /* names and columns */
    sdl_table table;
    col_read *read; /* per column */
    uint8_t *fsp;   /* per column */
    uint8_t *prec;  /* DECIMAL precision per column */
    uint8_t *scale; /* DECIMAL scale per column */
    uint32_t nkey;
    uint32_t *key;
    char *select_first; /* SELECT ... ORDER BY key LIMIT ? */
    char *select_next;  /* SELECT ... WHERE key > ? ... ORDER BY key LIMIT ? */
    MYSQL_STMT *first;
    MYSQL_STMT *next;
};

/* snapshot-consistent.c: consistent mode on MySQL needs gtid_mode=ON (read from the source);
 * false with a configuration error otherwise. */
bool sdl_snapshot_reader_check_gtids(sdl_snapshot_reader *r, sdl_error *err);
