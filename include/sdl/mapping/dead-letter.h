/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * dead-letter: the document of a row sdl could not write (pipeline.on_error: dead_letter,
 * DESIGN.md section 10), stored in the dead-letter collection in the same MongoDB
 * transaction as its batch and the offset:
 *
 *   _id      the _id the row's row_changes document has ("<pipeline>:<gtid>:<seq>")
 *   error    {reason, message}: reason "too_large" (the document exceeds
 *            target.max_document_bytes), "unmappable" (a value sdl cannot map) or "rejected"
 *            (MongoDB refused the document)
 *   op, db, table, gtid, seq, ts, binlog {file, pos}   as in row_changes
 *   size     bytes of the row_changes document (0 when none could be built)
 *   pk, before, after   arrays of {column, value}: column names are values here, not keys,
 *            so a name MongoDB refuses as a key still fits. A value whose BSON takes more than
 *            SDL_DEAD_LETTER_VALUE_BYTES is cut: {column, value: its first bytes (text cut on a
 *            character boundary, binary, or the relaxed Extended JSON text of a document or
 *            array), truncated: true, bytes: its whole size}. A value sdl cannot map is stored
 *            as its raw bytes (binary) with unmapped: true, or null when it has none.
 *   from     the source position before the row's transaction: `sdl dlq retry` reads the
 *            row again from there
 *   dead_at  when the row was set aside
 *
 * Pure functions; no logging. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/model/change.h"

#define SDL_DEAD_LETTER_VALUE_BYTES 4096 /* a longer value is cut to this many bytes */

/* Why a row became a dead letter (error.reason). */
typedef enum sdl_dead_reason {
    SDL_DEAD_TOO_LARGE,
    SDL_DEAD_UNMAPPABLE,
    SDL_DEAD_REJECTED,
    SDL_DEAD_REASON_COUNT
} sdl_dead_reason;

/* "too_large", "unmappable", "rejected" (metrics labels and error.reason). */
const char *sdl_dead_reason_name(sdl_dead_reason reason);

/* The dead letter of the row_changes document @row (too large for MongoDB, or refused by it),
 * into @out (empty, as for sdl_doc_mapper_row()). @message: the error; @from: the position
 * before the row's transaction (may be NULL); @now_ms: dead_at. */
void sdl_dead_letter_from_document(const bson_t *row, sdl_dead_reason reason, const char *message,
                                   const char *from, int64_t now_ms, bson_t *out);

/* The dead letter of a row change whose document could not be built (a value sdl cannot map),
 * at @pos, into @out. Each value is mapped on its own as doc-mapper.h says; one that fails is
 * kept as its raw bytes. The column policy of @opts (opts->columns) applies first, as in the
 * row document: a dropped column is left out, a redacted or hashed one holds its replacement,
 * and a table the policy refuses (a dropped key column) gets no pk, before or after. */
void sdl_dead_letter_from_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                              const sdl_row_change *rc, sdl_dead_reason reason, const char *message,
                              const char *from, int64_t now_ms, bson_t *out);
