/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * snapshot: existing rows into the pipeline in chunks, stitched to the binlog with DBLog
 * watermarks (DESIGN.md §9). Runs on the reader thread beside the change stream:
 *
 *   step()      when fewer than two chunks are in flight and tables remain: write the low
 *               watermark (with a chunk in flight, its high one is the new chunk's low one),
 *               SELECT the next chunk_rows rows after the last key (the last one the newest
 *               chunk in flight read, else the last one committed), write the high
 *               watermark (mysql/snapshot-reader.h);
 *   row_tap()   the change stream's tap: the watermark table's rows (never handed out) move
 *               the chunk from "waiting for low" to "in the window" to "high seen"; in the
 *               window the keys of the chunk's table that change are collected (each chunk
 *               its own window; they come in the order the chunks were read);
 *   at_commit() the high watermark's transaction ends: the chunk's rows whose keys did not
 *               change in the window are emitted in it, before its COMMIT, and the COMMIT
 *               carries the new progress, which the offset stores with the batch.
 *
 * The progress (the offset's `snapshot` document, DOCUMENTS.md) says which tables are done,
 * the current table and its last committed key, so a restart resumes at the next chunk; a
 * chunk read but not committed is read again (with new watermarks) and its old watermarks,
 * met in the binlog again, are ignored.
 *
 * Logs at info/warning (it is the daemon layer). Threading: the reader thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"
#include "sdl/model/change.h"
#include "sdl/mysql/change-stream.h"

typedef struct sdl_snapshot sdl_snapshot;

/* The progress document of a new snapshot of @tables (n of them, "db.table") with id @id:
 * nothing done yet. Caller bson_destroy()s *ret. */
bson_t *sdl_snapshot_progress_new(const char *id, char *const *tables, size_t n);

/* First start with pipeline.start: snapshot: the tables the filters include, now, as a new
 * snapshot's progress (*ret owned by the caller). */
SDL_MUST_CHECK bool sdl_snapshot_plan(const sdl_config *config, bson_t **ret, sdl_error *err);

/* A snapshot resumed from the offset's @progress (BSON, copied); NULL when @progress is NULL
 * or says everything is done. */
sdl_snapshot *sdl_snapshot_new(const sdl_config *config, const uint8_t *progress, size_t len);
sdl_snapshot *sdl_snapshot_free(sdl_snapshot *snap);

/* Serves the `sdl snapshot` requests of @requests (the offset's `snapshot_requests`, BSON
 * array bytes) that are newer than the last one served: the tables @config includes that
 * match their patterns are appended to the running snapshot, or make a new one named after
 * the request. Recorded in the progress with the next chunk (a crash before: served again). */
SDL_MUST_CHECK bool sdl_snapshot_serve(sdl_snapshot *snap, const sdl_config *config,
                                       const uint8_t *requests, size_t len, sdl_error *err);

/* Whether tables remain (false: the snapshot is complete; the pipeline may free it). */
bool sdl_snapshot_pending(const sdl_snapshot *snap);

/* Starts the next chunk when fewer than two are in flight (one in consistent mode) and the
 * newest does not end its table (see above; DESIGN.md §9 "Chunks in flight"). @max_rows bounds its
 * rows (the batch limit in force: a chunk is committed in one batch). Errors: transient ones (the
 * source) may be retried by calling again; others stop the pipeline. */
SDL_MUST_CHECK bool sdl_snapshot_step(sdl_snapshot *snap, uint64_t max_rows, sdl_error *err);

/* snapshot.mode consistent (DESIGN.md §9): no watermarks. step() opens one transaction WITH
 * CONSISTENT SNAPSHOT and learns the binlog position P its view is at; the stream reads on
 * until its position (told here after every COMMIT, and at start) includes P; from then on
 * every step() reads the next chunk from the view and sdl_snapshot_due() is true: the reader
 * thread emits the chunk (sdl_snapshot_chunk_row() ...) as a transaction of its own, ending
 * with the commit sdl_snapshot_due_commit() describes (position P, the progress), before it
 * reads the stream on. No-ops in watermark mode. */
void sdl_snapshot_stream_at(sdl_snapshot *snap, const char *position);
bool sdl_snapshot_due(const sdl_snapshot *snap);
/* The chunk's synthetic COMMIT: gtid the view's position P (one MariaDB domain: the GTID of
 * the transaction the rows follow), seq 2^32 + the snapshot's committed rows (its documents
 * take the next seqs: they sort after that transaction's rows, and their _ids
 * <pipeline>:<gtid>:<seq> are unique and deterministic), position the stream's (P), ts the
 * read time. Valid until the next call on @snap. */
void sdl_snapshot_due_commit(const sdl_snapshot *snap, sdl_change *ret);

/* A DDL statement on @db.@table (@table "": tables unknown) seen in the stream (DESIGN.md §9):
 * when it is the table under snapshot (watermark mode), the chunks in flight are dropped (read
 * with the old columns; their watermarks then match nothing) and the table is described again
 * before its next chunk; a table that no longer exists is done. */
void sdl_snapshot_ddl(sdl_snapshot *snap, const char *db, const char *table);

/* Whether @table is the watermark table (snapshot.watermark_table): its rows are never row
 * changes, with or without a snapshot running. */
bool sdl_snapshot_is_watermark(const sdl_config *config, const sdl_table *table);
/* The change stream's tap (change-stream.h, opts.row_tap); @ctx is the sdl_snapshot. */
bool sdl_snapshot_row_tap(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos);

/* Whether the transaction @gtid that ends now is the oldest chunk's high watermark's: then
 * the chunk's rows go into it (sdl_snapshot_chunk_row()) and sdl_snapshot_chunk_done() ends
 * the chunk. */
bool sdl_snapshot_at_commit(const sdl_snapshot *snap, const char *gtid);
/* Rows the chunk's SELECT returned. */
size_t sdl_snapshot_chunk_size(const sdl_snapshot *snap);
/* Row @i of the chunk as an insert of its after image; false when its key changed inside the
 * window (the binlog's row images carry it). Valid until sdl_snapshot_chunk_done(). */
bool sdl_snapshot_chunk_row(const sdl_snapshot *snap, size_t i, sdl_row_change *ret_row);
/* The snapshot's id, the chunk's number (from 1 per table) and the time the chunk was read
 * (seconds since the epoch), for its documents. */
void sdl_snapshot_chunk_info(const sdl_snapshot *snap, const char **ret_id, int64_t *ret_chunk,
                             int64_t *ret_read_sec);
/* Ends the chunk after @covered of its rows (all of them, or fewer when the emitted documents
 * grew too large: the next chunk starts after row @covered - 1) with @emitted documents;
 * *ret_progress (owned by @snap, valid until the next call) is what the COMMIT carries. */
void sdl_snapshot_chunk_done(sdl_snapshot *snap, size_t covered, size_t emitted,
                             const bson_t **ret_progress);

/* @doc, a row_changes insert document (doc-mapper.h), as a snapshot document: op "snapshot"
 * and, after binlog, snapshot: {id, chunk}. @out is initialised here. */
void sdl_snapshot_document(const bson_t *doc, const char *id, int64_t chunk, bson_t *out);

/* What a progress document (the offset's `snapshot`) says, for `sdl status`. */
typedef struct sdl_snapshot_summary {
    char id[128];
    char state[16];     /* "running" | "done" */
    char table[256];    /* the table being read ("" when done) */
    uint64_t ntables;   /* tables in the snapshot */
    uint64_t done;      /* of them finished */
    uint64_t rows;      /* rows committed */
    uint64_t est_rows;  /* the rows estimated in all at the last commit (0: not known) */
    int64_t started_ms; /* when the snapshot began (0: not known) */
} sdl_snapshot_summary;

/* How many of the offset's snapshot @requests (BSON array bytes; NULL: none) the snapshot
 * whose progress is @progress (NULL: none) has not served yet. */
uint64_t sdl_snapshot_requests_waiting(const uint8_t *progress, size_t progress_len,
                                       const uint8_t *requests, size_t requests_len);

/* false when @doc (@len bytes) is not a progress document. */
bool sdl_snapshot_summarize(const uint8_t *doc, size_t len, sdl_snapshot_summary *ret);

/* The key columns @cols (n of them) of the row image @values as text (malloc'd) equal for
 * equal keys whatever produced the values: the row decoder (DECIMAL(≤ 18) as DECIMAL64) or the
 * snapshot reader (DECIMAL as text). How a chunk's rows are matched with the window's keys. */
char *sdl_snapshot_key_text(const sdl_value *values, const uint32_t *cols, uint32_t n);

/* The estimated time left of @rows of @total read, @read of them in @elapsed_usec (0: not
 * known: nothing read yet, less than a second, or the estimate passed). */
uint64_t sdl_snapshot_seconds_left(uint64_t total, uint64_t rows, uint64_t read,
                                   uint64_t elapsed_usec);
/* The snapshot's estimated rows in all (its rows so far, the current table's at least what
 * it gave, the server's estimates of the rest; 0: not known yet) and the time left at this
 * process's rate (0: not known). */
void sdl_snapshot_estimate(const sdl_snapshot *snap, uint64_t *ret_rows, uint64_t *ret_seconds);

/* For STATUS= and logs: "db.table 3/7, 12000 rows" into @buf. */
void sdl_snapshot_describe(const sdl_snapshot *snap, char *buf, size_t size);
/* The snapshot's tables and, of them, those read completely. */
void sdl_snapshot_tables(const sdl_snapshot *snap, uint64_t *ret_tables, uint64_t *ret_done);
/* Rows emitted by this snapshot so far (the progress's count). */
uint64_t sdl_snapshot_rows(const sdl_snapshot *snap);
