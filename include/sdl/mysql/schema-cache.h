/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * schema-cache: what the binlog does not say about a table and sdl must ask the source:
 * which MariaDB columns are JSON (MariaDB stores JSON as LONGTEXT with a
 * CHECK (json_valid(`col`)) constraint, so only information_schema.CHECK_CONSTRAINTS tells).
 *
 * Lookups are cached per database (one query loads every JSON column of a database) and
 * dropped by sdl_schema_cache_invalidate() when a DDL runs, so a DDL changes the schema of
 * later rows only. The cache answers for the table as it is *now* on the source: rows read
 * from old binlogs of a table whose JSON columns changed since are mapped with today's
 * schema (documented in the README).
 *
 * Never logs. Threading: one thread at a time.
 */

#include <stdbool.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/model/change.h"
#include "sdl/mysql/mysql-conn.h"

typedef struct sdl_schema_cache sdl_schema_cache;

/* @conn is borrowed and must outlive the cache. */
sdl_schema_cache *sdl_schema_cache_new(sdl_mysql_conn *conn);
sdl_schema_cache *sdl_schema_cache_free(sdl_schema_cache *cache);

/* Sets is_json on the columns of @table that are JSON columns on the source. */
SDL_MUST_CHECK bool sdl_schema_cache_mark_json(sdl_schema_cache *cache, sdl_table *table,
                                               sdl_error *err);

/* Forgets database @db (NULL: everything). */
void sdl_schema_cache_invalidate(sdl_schema_cache *cache, const char *db);
