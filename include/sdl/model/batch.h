/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * batch: consecutive row_changes documents and the offset after them, committed together in
 * one sink transaction (DESIGN.md §3.2). The documents are BSON, the form the mapper produces
 * (libbson as a data format; no MongoDB client types).
 *
 * Also the pure decision that settles an ambiguous commit: given the offset read back from
 * the sink, was batch n committed, not committed, or did another writer move the pipeline?
 *
 * Ownership as documented per function; no I/O, no logging. Thread-safe (no shared state).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/model/offset.h"

/* A batch: consecutive row_changes documents and the offset after them. */
typedef struct sdl_batch {
    uint64_t number; /* batch number n (the offset after it has batch = n) */
    bson_t **docs;   /* row_changes documents in order; owned by the batch */
    bool *dead;      /* NULL, or per document: a dead letter (dead-letter.h), written to
                      * the dead-letter collection instead of row_changes */
    size_t ndocs;
    size_t cap;
    size_t bytes;            /* sum of the documents' BSON sizes */
    uint64_t ndead;          /* dead letters among the documents */
    char *first_gtid;        /* GTID of the first document (for staging and logs) */
    char *last_gtid;         /* GTID of the last document */
    uint64_t rows;           /* row changes in the batch (DDL documents excluded) */
    sdl_offset offset_after; /* the pipeline's offset once the batch is committed */
    /* Mirror mode (DESIGN.md §11): NULL, or the batch's mirror writes in source order, made
     * from its documents by daemon/mirror.c and applied by the sink in the commit
     * transaction: {"0": {w, db, c, q, u, from}, ...}, see mirror.h. Owned by the batch. */
    bson_t *mirror;
    bool no_audit; /* pipeline.modes without audit: the rows go to no row_changes (the
                    * batch is still staged whole: staging carries the row images) */
    /* The commit also deletes the staged parts of every batch numbered up to this one (its
     * own and those earlier commits left); false: it deletes none, and they stay until a
     * later commit or sink cleanup deletes them. Staged parts of a batch at or below the
     * offset's are committed: recovery deletes them, never commits them again (DESIGN.md
     * §3.2, deferred staging cleanup). */
    bool clean_staged;
} sdl_batch;

void sdl_batch_init(sdl_batch *batch);
/* Sets first_gtid and last_gtid from the batch's first and last documents (NULL when empty). */
void sdl_batch_set_gtids(sdl_batch *batch);
/* Makes @offset the offset inside a split transaction after its row_changes document @last:
 * partial = {gtid, seq} of @last, binlog and source_ts from @last (its rows event and the
 * transaction's time); the GTID position (before the transaction) stays. */
void sdl_offset_set_partial(sdl_offset *offset, const bson_t *last);
/* Takes ownership of @doc. */
void sdl_batch_add(sdl_batch *batch, bson_t *doc, bool is_row);
/* Takes ownership of @doc, a dead letter (dead-letter.h). */
void sdl_batch_add_dead(sdl_batch *batch, bson_t *doc);
/* Frees the documents (NULL entries skipped) and strings; zeroes @batch. NULL-safe. */
void sdl_batch_done(sdl_batch *batch);

/* Whether the stored offset @stored is the one @batch writes: its number and its position.
 * Another writer's batch n has another position (or, deterministic as batches are, the same
 * rows). */
bool sdl_batch_is_committed_in(const sdl_batch *batch, const sdl_offset *stored);

/* What the offset read back after an ambiguous commit of a batch says (DESIGN.md §3.2). */
typedef enum sdl_settle {
    SDL_SETTLE_COMMITTED,     /* the offset is this batch's: an earlier attempt committed it */
    SDL_SETTLE_NOT_COMMITTED, /* the offset names the previous batch (or none, batch 1): retry */
    SDL_SETTLE_OTHER_WRITER,  /* anything else: another writer moved the pipeline (fencing) */
} sdl_settle;

/* Settles an ambiguous commit of @batch from the offset read back (@found false: none). */
sdl_settle sdl_batch_settle(const sdl_batch *batch, const sdl_offset *stored, bool found);
