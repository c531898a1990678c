/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * mirror: mirror mode's plan (DESIGN.md §11). From a batch's row_changes documents it makes
 * the writes that keep one collection per source table equal to the table; the sink applies
 * them in the batch's commit transaction (sdl_batch.mirror), so the mirror, the audit log and
 * the offset move together. The plan is made from the documents alone, which staging holds,
 * so recovery plans a staged batch exactly as the live writer did.
 *
 * Each write is a document {w, db, c, q, u, from} in sdl_batch.mirror ("0", "1", ...):
 *   w "replace"  replace the document matching q ({_id}, or every column of a table without
 *                a key) by u, upsert
 *   w "set"      update the document matching q with u ({$set: {...}}), upsert
 *   w "move"     a changed primary key with a partial after image: the document matching q
 *                (the old _id) is read, deleted, and written again with _id u._id and u.$set
 *                applied to its fields (upsert of u when there was none)
 *   w "insert"   insert u (no_primary_key: all_columns: the document gets a generated _id)
 *   w "delete"   delete one document matching q
 *   w "clear"    delete every document of c (TRUNCATE, DROP/RENAME with on_drop: drop)
 *   w "copy"     insert every document of collection `from` (database db) into c
 *   w "drop"     after the commit: drop c (best effort; it was cleared in the transaction)
 *   w "index"    after the commit: create the index with keys u on c (mirror.indexes), in
 *                every batch that writes c; the sink creates it once per process (best
 *                effort: createIndexes is idempotent, the next process tries again)
 * db and c name the collection (mirror.database, mirror.collection's template).
 *
 * Logs warnings (daemon layer): a table without a key skipped, a collection kept by
 * on_drop: keep. Threading: the writer thread (or the main thread during recovery).
 */

#include <stdbool.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"
#include "sdl/model/batch.h"

typedef struct sdl_mirror sdl_mirror;

/* The mirror of @cfg's pipeline (copies what it needs); NULL when pipeline.modes has no
 * mirror. */
sdl_mirror *sdl_mirror_new(const sdl_config *cfg);
void sdl_mirror_free(sdl_mirror *m);

/* The collection name @template gives for @db.@table ({db}, {table} replaced); malloc'd. */
char *sdl_mirror_collection_name(const char *template_, const char *db, const char *table);

/* Sets @b->mirror (and @b->no_audit) from its documents, unless set already. A row of a table
 * without a primary key under mirror.no_primary_key: error is an SDL_E_CONFIG error naming
 * the table (exit 78). Dead letters are not mirrored. @m NULL: only no_audit stays false. */
SDL_MUST_CHECK bool sdl_mirror_plan(sdl_mirror *m, sdl_batch *b, sdl_error *err);
