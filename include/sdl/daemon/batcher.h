/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * batcher: the writer's batching decisions as pure logic (DESIGN.md §5). Items go in (row,
 * DDL and dead-letter documents, transaction ends); what comes out is when to flush and the
 * next batch to write. It does no I/O, reads no clock (callers pass the monotonic time) and
 * never logs: the writer thread (pipeline-writer.c) stages and commits what it is given and reports
 * back with sdl_batcher_committed() or sdl_batcher_lower().
 *
 * The batcher holds the documents read but not committed yet, in source order, and the ends
 * of the complete source transactions among them (every source transaction has one, filtered
 * or not, so the offset always moves past it). Batches are cut on those ends (max_rows,
 * max_bytes, max_delay); a transaction that began with a DDL is committed as soon as it ends.
 * A transaction that alone exceeds a batch is split: its parts are committed with
 * partial = {gtid, seq} in the offset and its rows carry split: true.
 *
 * When the sink refuses a batch as too large or too slow for one transaction, the limits are
 * halved (sdl_batcher_lower()) and the same documents go out again in smaller batches (cut on
 * transaction ends, or split); the limits double back every SDL_BATCHER_RESTORE_AFTER commits.
 *
 * Threading: one thread (the writer). The fields are read-only to callers.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/model/batch.h"
#include "sdl/model/offset.h"

#define SDL_BATCHER_RESTORE_AFTER 16 /* commits after which lowered limits double again */
/* Deferred staging cleanup (DESIGN.md §3.2): under load a commit leaves the staged parts of
 * the committed batches, and every SDL_BATCHER_CLEAN_EVERY-th commit at the latest deletes
 * them: 4 round trips per batch + 1/8 instead of 5, while staging holds at most 7 committed
 * batches (and never more of their bytes than one batch may hold: the byte limit in force). */
#define SDL_BATCHER_CLEAN_EVERY 8

typedef enum sdl_batcher_kind {
    SDL_BATCHER_ROW,         /* a row change's document */
    SDL_BATCHER_DDL,         /* a DDL statement's document: begins its transaction */
    SDL_BATCHER_DEAD_LETTER, /* a row's dead letter (dead-letter.h) */
} sdl_batcher_kind;

/* What the caller should do now. */
typedef enum sdl_flush {
    SDL_FLUSH_NONE,     /* nothing: keep reading */
    SDL_FLUSH_COMPLETE, /* write every complete transaction held */
    SDL_FLUSH_ROOM,     /* the same, then parts of the open transaction while it alone exceeds
                         * the limits */
} sdl_flush;

/* The end of a complete source transaction among the documents held. */
typedef struct sdl_batcher_end {
    size_t ndocs;      /* documents held up to and including this transaction */
    uint64_t rows;     /* row documents among them (a DDL document is not a row) */
    size_t bytes;      /* their BSON bytes */
    uint64_t txns;     /* source transactions that ended up to here */
    sdl_offset offset; /* the pipeline's offset after this transaction */
} sdl_batcher_end;

typedef struct sdl_batcher {
    sdl_batch batch;       /* documents held (docs, dead, ndocs, bytes, rows, ndead) */
    sdl_batcher_end *ends; /* the complete transactions among them, in order */
    size_t nends;
    size_t cap_ends;
    uint64_t started_usec; /* when the oldest item held arrived (0: nothing held) */
    bool open;             /* a transaction is open: its documents follow the last end */
    bool open_split;       /* it is split across batches: its documents carry split: true */
    bool ddl_open;         /* it began with a DDL: commit it as soon as it ends */
    char *flavor;          /* the source's ("mariadb" | "mysql"), recorded in offsets */
    char *resume_split;    /* the GTID of the split transaction the stream resumes inside */
    uint64_t max_rows;     /* the configured limits (pipeline.batch, reloadable) */
    size_t max_bytes;
    uint64_t limit_rows; /* lowered limits after a batch was too large or too slow for one */
    size_t limit_bytes;  /* sink transaction; 0: the configured ones */
    uint32_t commits_since_limit;
    uint32_t uncleaned;     /* committed batches whose staged parts are still in the sink */
    size_t uncleaned_bytes; /* their documents' bytes */
} sdl_batcher;

/* A batch sdl_batcher_next() cut: what sdl_batcher_committed() drops. */
typedef struct sdl_batcher_cut {
    size_t ndocs;  /* documents of the batch (the first ones held) */
    size_t nends;  /* complete transactions among them; 0: a part of a split one */
    uint64_t txns; /* source transactions the batch completes */
} sdl_batcher_cut;

/* @flavor is copied; @limit_rows/@limit_bytes: lowered limits to start with (recovery found a
 * staged batch too large), 0 for none. */
void sdl_batcher_init(sdl_batcher *bt, const char *flavor, uint64_t limit_rows, size_t limit_bytes);
void sdl_batcher_done(sdl_batcher *bt);
/* The configured limits (call again after a reload). */
void sdl_batcher_set_limits(sdl_batcher *bt, uint64_t max_rows, size_t max_bytes);
/* The stream resumes inside the split transaction @gtid (copied): its rows get split: true. */
void sdl_batcher_resume_split(sdl_batcher *bt, const char *gtid);

/* The limits in force: the configured ones, or lower ones after a too large batch. */
uint64_t sdl_batcher_max_rows(const sdl_batcher *bt);
size_t sdl_batcher_max_bytes(const sdl_batcher *bt);

/* What to do before an item of @kind goes in: a DDL is a batch of its own, so what came
 * before it is committed first (SDL_FLUSH_COMPLETE). */
sdl_flush sdl_batcher_before(const sdl_batcher *bt, sdl_batcher_kind kind);
/* A document of transaction @gtid (takes ownership of @doc); SDL_FLUSH_ROOM when the
 * documents held reach a limit. */
sdl_flush sdl_batcher_add(sdl_batcher *bt, sdl_batcher_kind kind, const char *gtid, bson_t *doc,
                          uint64_t now_usec);
/* The end of transaction @gtid: the offset after it is @position (GTID position), @binlog_file
 * and @binlog_pos, at source time @ts_sec. SDL_FLUSH_COMPLETE when it began with a DDL or the
 * documents held reach a limit. */
sdl_flush sdl_batcher_end_txn(sdl_batcher *bt, const char *gtid, const char *position,
                              const char *binlog_file, uint64_t binlog_pos, int64_t ts_sec,
                              uint64_t now_usec);
/* The transaction that just ended (sdl_batcher_end_txn()) completes a snapshot chunk: the
 * offset after it records @progress (BSON, copied), and so do the offsets after it until the
 * next chunk (DESIGN.md §9). */
void sdl_batcher_end_snapshot(sdl_batcher *bt, const uint8_t *progress, size_t len);
/* SDL_FLUSH_COMPLETE when complete transactions are held and the oldest item has waited
 * @max_delay_usec; else SDL_FLUSH_NONE. */
sdl_flush sdl_batcher_due(const sdl_batcher *bt, uint64_t now_usec, uint64_t max_delay_usec);
/* How long the caller may wait for the next item before sdl_batcher_due() says flush;
 * @idle_usec when no complete transaction is held. */
uint64_t sdl_batcher_wait_usec(const sdl_batcher *bt, uint64_t now_usec, uint64_t max_delay_usec,
                               uint64_t idle_usec);
/* Whether nothing is held. */
bool sdl_batcher_empty(const sdl_batcher *bt);

/*
 * The next batch to write under @mode after the committed offset @committed, or false when
 * there is none now. @out (overwritten) borrows the batcher's documents: the caller writes it
 * (and may turn a document into its dead letter, sdl_batcher_dead_lettered()), then calls
 * sdl_batcher_committed() or sdl_batcher_lower(), and sdl_batcher_release(@out).
 * Cutting a split transaction's part marks its rows split: true.
 */
bool sdl_batcher_next(sdl_batcher *bt, sdl_flush mode, const sdl_offset *committed, sdl_batch *out,
                      sdl_batcher_cut *cut);
/* Whether the commit of @out (cut as @cut) also deletes the staged parts of the batches
 * committed before it (sdl_batch.clean_staged): when the writer is caught up (@more_queued
 * false and no complete transaction held after @out: the last batch of a burst), when
 * SDL_BATCHER_CLEAN_EVERY - 1 committed batches are left, or when their bytes and @out's
 * reach the byte limit in force. */
bool sdl_batcher_clean_due(const sdl_batcher *bt, const sdl_batch *out, const sdl_batcher_cut *cut,
                           bool more_queued);
/* Whether committed batches' staged parts are still in the sink (their cleanup deferred). */
bool sdl_batcher_uncleaned(const sdl_batcher *bt);
/* The sink deleted them (sdl_sink_clean_staged()). */
void sdl_batcher_cleaned(sdl_batcher *bt);
/* @out (cut as @cut) was committed: its documents leave the batcher (and its staged parts,
 * unless out->clean_staged deleted them, count as uncleaned). */
void sdl_batcher_committed(sdl_batcher *bt, const sdl_batch *out, const sdl_batcher_cut *cut,
                           uint64_t now_usec);
/* @out was too large or too slow for one sink transaction: the limits become half of it. False
 * (nothing changed) when it holds one document: no smaller batch can hold it. */
bool sdl_batcher_lower(sdl_batcher *bt, const sdl_batch *out);
/* Document @i of the batch the caller holds became its dead letter (the caller replaced it in
 * the borrowed array and marked @out's dead[i]): @delta_bytes is the new size less the old,
 * @was_row whether the old document was a row. */
void sdl_batcher_dead_lettered(sdl_batcher *bt, size_t i, long long delta_bytes, bool was_row);
/* Frees what sdl_batcher_next() allocated in @out (not the borrowed documents). */
void sdl_batcher_release(sdl_batch *out);
