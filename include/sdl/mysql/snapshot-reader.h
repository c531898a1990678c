/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * snapshot-reader: the source side of a snapshot (DESIGN.md §9): a connection of its own
 * (the source's TLS settings and timeouts, session time zone UTC), the watermark table, the
 * tables to snapshot and their chunk key, and chunks of rows read in key order after a last
 * key through a prepared statement (the binary protocol: FLOAT and DOUBLE arrive exact),
 * converted into the sdl_value kinds the row decoder produces for the same columns, so that
 * doc-mapper maps a snapshot row exactly as it maps a binlog row image.
 *
 * The chunk key is the primary key, else the first unique index whose columns are all NOT
 * NULL (and whole columns, no prefix); a table with neither has no key (snapshot.no_key).
 *
 * Never logs. Threading: one thread at a time per reader.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"
#include "sdl/model/change.h"

typedef struct sdl_snapshot_reader sdl_snapshot_reader;
typedef struct sdl_snapshot_table sdl_snapshot_table;

/* Connects with @config's source settings, checks that the server commits in binlog order
 * (MySQL: binlog_order_commits=ON; MariaDB always does) and makes sure the watermark table
 * exists (CREATE TABLE IF NOT EXISTS when it does not; a clear error naming the GRANT and the
 * statement when sdl may not). */
SDL_MUST_CHECK bool sdl_snapshot_reader_open(const sdl_config *config, const char *pipeline,
                                             sdl_snapshot_reader **ret_reader, sdl_error *err);
sdl_snapshot_reader *sdl_snapshot_reader_free(sdl_snapshot_reader *reader);

/* The base tables @config's tables.include/exclude select, "db.table", sorted; system
 * databases and the watermark table left out. Free with sdl_snapshot_names_free(). */
SDL_MUST_CHECK bool sdl_snapshot_reader_list_tables(sdl_snapshot_reader *reader,
                                                    const sdl_config *config, char ***ret_names,
                                                    size_t *ret_count, sdl_error *err);
void sdl_snapshot_names_free(char **names, size_t count);

/* Writes @token as this pipeline's watermark (one autocommitted INSERT ... ON DUPLICATE KEY
 * UPDATE of the watermark table). */
SDL_MUST_CHECK bool sdl_snapshot_reader_watermark(sdl_snapshot_reader *reader, const char *token,
                                                  sdl_error *err);
/* The same write, sent without waiting for the server's reply: the statement runs (and
 * commits) while the caller does other work; the reply is read by sdl_snapshot_reader_settle(),
 * which every later call on @reader makes first (a failed write fails that call). Statements
 * on one connection run in the order they were sent, so a later SELECT sees the watermark
 * committed. */
SDL_MUST_CHECK bool sdl_snapshot_reader_watermark_send(sdl_snapshot_reader *reader,
                                                       const char *token, sdl_error *err);
/* Reads the reply of a watermark sent and not yet settled (none: true at once). */
SDL_MUST_CHECK bool sdl_snapshot_reader_settle(sdl_snapshot_reader *reader, sdl_error *err);

/* Reads the description of `db`.`table`: columns in table order (names, types, keys, JSON
 * columns) and its chunk key. SDL_E_SCHEMA when the table does not exist. */
SDL_MUST_CHECK bool sdl_snapshot_reader_describe(sdl_snapshot_reader *reader, const char *db,
                                                 const char *table, sdl_snapshot_table **ret_table,
                                                 sdl_error *err);
sdl_snapshot_table *sdl_snapshot_table_free(sdl_snapshot_table *table);
/* The server's estimate of the rows of each of the @n tables @names ("db.table") into
 * @ret_rows (information_schema.TABLES.TABLE_ROWS, in one query; InnoDB's is approximate), for
 * progress only; 0 where unknown. */
void sdl_snapshot_reader_estimate(sdl_snapshot_reader *reader, char *const *names, size_t n,
                                  uint64_t *ret_rows);
/* The table as the mapper takes it (borrowed from @table). */
const sdl_table *sdl_snapshot_table_get(const sdl_snapshot_table *table);
/* The chunk key's column indices in key order; 0 (NULL) when the table has none. */
uint32_t sdl_snapshot_table_key(const sdl_snapshot_table *table, const uint32_t **ret_cols);

/* A chunk of rows: nrows × ncols values, row-major, in the arena it was read into. */
typedef struct sdl_snapshot_chunk {
    size_t nrows;
    const sdl_value *values;
} sdl_snapshot_chunk;

/* Reads at most @limit rows of @table in key order after @last_key (the key's values in key
 * order; NULL: from the first row). @arena is reset first and then holds the values (valid
 * until its next reset); @last_key may point into another arena. */
SDL_MUST_CHECK bool sdl_snapshot_reader_chunk(sdl_snapshot_reader *reader,
                                              sdl_snapshot_table *table, const sdl_value *last_key,
                                              uint64_t limit, sdl_arena *arena,
                                              sdl_snapshot_chunk *ret_chunk, sdl_error *err);

/* snapshot.mode consistent: starts the reader's transaction WITH CONSISTENT SNAPSHOT (READ
 * ONLY, REPEATABLE READ) and returns the binlog position its view is exactly at (*ret_position,
 * malloc'd): MariaDB, without a lock, BINLOG_GTID_POS(Binlog_snapshot_file, _position); MySQL
 * FLUSH TABLES WITH READ LOCK, the transaction, @@GLOBAL.gtid_executed, UNLOCK TABLES (needs
 * RELOAD). Chunks read afterwards (sdl_snapshot_reader_chunk) see that view until the reader
 * is freed. */
SDL_MUST_CHECK bool sdl_snapshot_reader_consistent(sdl_snapshot_reader *reader, char **ret_position,
                                                   sdl_error *err);
/* snapshot.mode consistent: whether table @db.@table was created or altered since the second
 * before the view opened (information_schema.TABLES.CREATE_TIME, which an ALTER renews): an
 * ALTER that does not rebuild the table (MariaDB's instant ADD COLUMN) lets the older view
 * read the table in its new shape instead of failing (error 1412). false when not known. */
bool sdl_snapshot_reader_view_outdated(sdl_snapshot_reader *reader, const char *db,
                                       const char *table);

/* snapshot.mode consistent on MySQL: whether @gtid_mode (@@GLOBAL.gtid_mode; NULL: the server
 * has none) lets the view's GTID set be placed in the stream: only "ON" does; otherwise the
 * stream has file:offset positions and the view would never be reached: SDL_E_CONFIG (exit
 * 78) naming the setting. Pure. */
SDL_MUST_CHECK bool sdl_snapshot_consistent_gtids_ok(const char *gtid_mode, sdl_error *err);

/* Whether the stream's position @current (a MariaDB GTID position "D-S-N,..." or a MySQL GTID
 * set) includes every transaction of @target: false when either does not parse. */
bool sdl_snapshot_position_reached(const char *current, const char *target);
