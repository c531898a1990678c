/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * mongo-writer: sdl's MongoDB side (DESIGN.md §3). Everything that knows libmongoc lives in
 * src/mongo/; this header shows only libbson types.
 *
 * One writer per pipeline, used by one thread (the writer thread; `sdl status` and recovery
 * use it from the main thread before the pipeline starts). It:
 *   - connects to the target URI and verifies it is a replica set whose primary supports
 *     transactions (wire version >= 7); a standalone server is a permanent, clear error;
 *   - creates the indexes (row_changes: ts, {db, table, pk}, gtid; staging: created_at);
 *   - loads the offset document of the pipeline;
 *   - stages a batch: its parts upserted into row_changes_staging with w:majority
 *     (idempotent: a retried stage rewrites the same parts);
 *   - creates a pipeline's offset at its first start: batch 0 at the resolved start
 *     position, before anything is read, so the first batch is fenced like every other;
 *   - commits a batch in ONE transaction: insert the rows into row_changes (and its dead
 *     letters into the dead-letter collection), update
 *     binlog_offsets fenced on {_id: pipeline, batch: n-1} (insert when n == 1 and no offset
 *     exists: a batch staged by a version without batch 0) and, when batch->clean_staged,
 *     delete the staged parts of every batch up to n (deferred staging cleanup: otherwise
 *     the committed batches' parts stay until a later commit or
 *     sdl_mongo_writer_clean_staged(); recovery deletes what stays). An ambiguous commit
 * (UnknownTransactionCommitResult after retrying commitTransaction, or a lost connection during
 * commit) is settled by reading the offset: batch n with this batch's position means committed,
 * batch n-1 not committed, anything else another writer;
 *   - recovery helpers: list the staged batches of the pipeline, load one back, delete.
 *
 * Errors: err->transient is set by sdl_mongo_error_classify() (retry.h) for network errors,
 * not-primary/election codes, TransientTransactionError, WriteConflict, exceeded time
 * limits...; permanent errors (auth, fencing violation, a duplicate row _id, a document too
 * large, a standalone server) are not transient. A document MongoDB rejects as such (too
 * large, a field name or key it refuses) and a damaged staged batch are SDL_E_DATA: restarting
 * cannot help. The caller owns the retry loop and backoff.
 * Never logs. Secrets (the URI's password) never appear in error messages.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/model/batch.h"
#include "sdl/model/offset.h"
#include "sdl/model/sink.h"

typedef struct sdl_mongo_writer sdl_mongo_writer;

/* The largest row_changes document sdl writes: MongoDB's 16 MiB per document, less 64 KiB that
 * staging needs around it (a staged part holds the document and the batch's offset). */
#define SDL_MONGO_MAX_DOCUMENT_BYTES ((size_t)(16 << 20) - (size_t)(64 << 10))

typedef struct sdl_target_config sdl_target_config; /* config/config.h */

/* Connects and verifies the target (replica set, transactions), creates the indexes.
 * A target that is down is a transient error: the caller waits with backoff. */
SDL_MUST_CHECK bool sdl_mongo_writer_open(const sdl_target_config *cfg, const char *pipeline,
                                          sdl_mongo_writer **ret_writer, sdl_error *err);

/* Connects and verifies the target like sdl_mongo_writer_open() but changes nothing (no
 * indexes, no collections): for readers such as `sdl status`. */
SDL_MUST_CHECK bool sdl_mongo_writer_open_read_only(const sdl_target_config *cfg,
                                                    const char *pipeline,
                                                    sdl_mongo_writer **ret_writer, sdl_error *err);

sdl_mongo_writer *sdl_mongo_writer_free(sdl_mongo_writer *writer);

/* The writer behind the sink seam (model/sink.h); the sink borrows @writer. */
sdl_sink sdl_mongo_writer_sink(sdl_mongo_writer *writer);

/* What sdl_mongo_writer_open() did or found that the operator should know (the ts index's
 * TTL changed for target.retention; a TTL on it without target.retention, a warning), or
 * NULL. The writer never logs: the caller does. */
const char *sdl_mongo_writer_notice(const sdl_mongo_writer *writer, bool *ret_warning);

/* One `ping` to the primary (health checks while idle). */
SDL_MUST_CHECK bool sdl_mongo_writer_ping(sdl_mongo_writer *writer, sdl_error *err);

/* Reads the pipeline's offset; *ret_found false (and @ret_offset zeroed) when none. */
SDL_MUST_CHECK bool sdl_mongo_writer_load_offset(sdl_mongo_writer *writer, sdl_offset *ret_offset,
                                                 bool *ret_found, sdl_error *err);

/* First start of a pipeline: stores its offset as batch 0 at @offset's position (flavor, gtid;
 * binlog and source_ts may be unknown). Fails (permanent, fencing) when the pipeline has an
 * offset already: another sdl started it meanwhile. */
SDL_MUST_CHECK bool sdl_mongo_writer_init_offset(sdl_mongo_writer *writer, const sdl_offset *offset,
                                                 sdl_error *err);

/* Step 1 of the commit protocol: all parts of @batch into row_changes_staging, w:majority. */
SDL_MUST_CHECK bool sdl_mongo_writer_stage(sdl_mongo_writer *writer, const sdl_batch *batch,
                                           sdl_error *err);

/* Step 2: the one transaction. Succeeds also when the batch turns out to be committed
 * already (an earlier attempt whose reply was lost). A fencing violation (the offset names
 * neither batch n-1 nor n) or a duplicate row _id is a permanent error. */
SDL_MUST_CHECK bool sdl_mongo_writer_commit(sdl_mongo_writer *writer, const sdl_batch *batch,
                                            sdl_error *err);

/* After a commit that succeeded: whether it read the offset document back (the fenced offset
 * write is a findAndModify returning it, or a settled outcome read it), and then its
 * snapshot_requests (*ret_requests, *ret_len; NULL when none), valid until the next commit. */
bool sdl_mongo_writer_committed_requests(const sdl_mongo_writer *writer,
                                         const uint8_t **ret_requests, size_t *ret_len);

/* After a commit that failed because the server refused one of the batch's documents as such
 * (an SDL_E_DATA error): 1 + its index in the batch; 0 otherwise. */
size_t sdl_mongo_writer_rejected(const sdl_mongo_writer *writer);

/* The pipeline's staged batches in ascending order; caller frees *ret_list with free(). */
SDL_MUST_CHECK bool sdl_mongo_writer_list_staged(sdl_mongo_writer *writer,
                                                 sdl_staged_batch **ret_list, size_t *ret_count,
                                                 sdl_error *err);

/* Loads a complete staged batch back (documents and offset_after) into @ret_batch
 * (initialised by the caller). A batch whose parts disagree with what they record (a change
 * that is not a document, a part holding another number of changes than its count) is an
 * SDL_E_DATA error naming it: never committed in part, never dropped silently. */
SDL_MUST_CHECK bool sdl_mongo_writer_load_staged(sdl_mongo_writer *writer, uint64_t number,
                                                 sdl_batch *ret_batch, sdl_error *err);

/* Deletes the staged parts of batch @number (no-op when none). */
SDL_MUST_CHECK bool sdl_mongo_writer_delete_staged(sdl_mongo_writer *writer, uint64_t number,
                                                   sdl_error *err);

/* Deletes the staged parts of every batch up to @committed in one transaction whose fenced
 * update of the offset ({_id: pipeline, batch: @committed}: the lease renewed) must match: a
 * permanent fencing error, nothing deleted, when the offset names another batch. */
SDL_MUST_CHECK bool sdl_mongo_writer_clean_staged(sdl_mongo_writer *writer, uint64_t committed,
                                                  sdl_error *err);

/* ---- the lease: which sdl runs the pipeline (for `sdl offset set`) ---- */

#define SDL_LEASE_MS 30000 /* a lease lasts this long unless renewed */

/* From now on every commit (and sdl_mongo_writer_renew_lease()) stores lease: {holder: @holder,
 * until: now + SDL_LEASE_MS, sessions: [lsid…]} in the offset. @holder is copied ("host:pid").
 * sessions names the server sessions this writer commits with (one update of the offset the
 * first time each is used), so that a successor can end a transaction it left open. */
void sdl_mongo_writer_set_holder(sdl_mongo_writer *writer, const char *holder);

/* Renews the lease of the holder set above (@release: ends it now, as sdl stops), unless another
 * holder has it. A no-op when no holder is set or the pipeline has no offset. */
SDL_MUST_CHECK bool sdl_mongo_writer_renew_lease(sdl_mongo_writer *writer, bool release,
                                                 sdl_error *err);

/* Ends the transactions another holder may have left open: killSessions of the sessions its
 * lease names. A holder killed between the writes of a commit transaction and commitTransaction
 * leaves that transaction open, holding the offset document until the server's
 * transactionLifetimeLimitSeconds; call this before recovery writes anything. A holder that is
 * still alive only sees its transaction aborted (and fencing decides). *ret_n: the sessions
 * ended (0: nothing to do), *ret_holder: whose (free(); NULL when none). */
SDL_MUST_CHECK bool sdl_mongo_writer_end_previous_sessions(sdl_mongo_writer *writer, size_t *ret_n,
                                                           char **ret_holder, sdl_error *err);

/* ---- snapshot requests (`sdl snapshot`, DESIGN.md §9) ---- */

/* Appends the request @id (ids sort in the order they were made) for the tables matching
 * @tables (glob patterns on "db.table") to the pipeline's offset document
 * (`snapshot_requests`, the newest 100 kept); the running pipeline reads it with its offset
 * and serves it. SDL_E_CONFIG when the pipeline has no offset yet. */
SDL_MUST_CHECK bool sdl_mongo_writer_request_snapshot(sdl_mongo_writer *writer, const char *id,
                                                      char *const *tables, size_t ntables,
                                                      sdl_error *err);

/* ---- offset tools (`sdl offset set`) ---- */

/* Moves the pipeline to @gtid (@flavor) in one transaction: the offset becomes batch n+1 at that
 * position (partial, binlog and source_ts null; set_by records when and from where), fenced on
 * @current's batch n so that a writer coming back cannot overwrite it, and every staged batch
 * of the pipeline is deleted (*ret_discarded: how many parts). Without @current (a new
 * pipeline) it stores batch 0 there. Fails with a fencing error when the offset is not
 * @current any more. */
SDL_MUST_CHECK bool sdl_mongo_writer_move_offset(sdl_mongo_writer *writer,
                                                 const sdl_offset *current, const char *flavor,
                                                 const char *gtid, uint64_t *ret_discarded,
                                                 sdl_error *err);

/* ---- dead letters ---- */

/* The pipeline's dead letters (_id "<pipeline>:..."), oldest first, into *ret_docs (*ret_n;
 * free each with bson_destroy() and the array with free()); @id: only that one. */
SDL_MUST_CHECK bool sdl_mongo_writer_dead_letters(sdl_mongo_writer *writer, const char *id,
                                                  bson_t ***ret_docs, size_t *ret_n,
                                                  sdl_error *err);

/* Whether row_changes holds a row of transaction @gtid marked split: true. */
SDL_MUST_CHECK bool sdl_mongo_writer_txn_split(sdl_mongo_writer *writer, const char *gtid,
                                               bool *ret_split, sdl_error *err);

/* `sdl dlq retry`: in one transaction, @row (its row_changes document, same _id) goes into
 * row_changes and the dead letter @id leaves the dead-letter collection. */
SDL_MUST_CHECK bool sdl_mongo_writer_revive(sdl_mongo_writer *writer, const char *id,
                                            const bson_t *row, sdl_error *err);

/* For `sdl status`: counts and timestamps read from the target. */
typedef struct sdl_target_status {
    bool have_offset;
    sdl_offset offset;
    int64_t offset_updated_at_ms; /* updated_at of the offset document (ms since epoch) */
    uint64_t staged_batches;      /* staged and not committed: numbered above the offset's batch */
    uint64_t staged_documents;    /* their documents */
    int64_t oldest_staged_ms;     /* created_at of their oldest part; 0 = none */
    uint64_t dead_letters;        /* documents of the pipeline in the dead-letter collection */
    /* staged batches the offset covers: committed, their parts awaiting deletion (deferred
     * staging cleanup, DESIGN.md §3.2) */
    uint64_t committed_staged_batches;
} sdl_target_status;

/* libmongoc keeps performance counters in shared memory named /dev/shm/mongoc-<pid>, which
 * nothing in sdl reads; a killed sdl leaves the file behind and a later process with the same
 * pid then warns "Falling back to malloc for counters". This removes the name (the mapping
 * stays). Call at start-up; the writer calls it after initialising libmongoc too. */
void sdl_mongo_forget_counters(void);

/* libmongoc's own log messages (deprecations, failed best-effort aborts, ...). By default
 * they are dropped: every failure that matters reaches the caller as an sdl_error. The
 * daemon may route them here; @level is syslog's (3 error, 4 warning, 7 debug). Call before
 * the first sdl_mongo_writer_open(), from one thread. */
typedef void (*sdl_mongo_log_fn)(int level, const char *domain, const char *message,
                                 void *userdata);
void sdl_mongo_set_log_handler(sdl_mongo_log_fn fn, void *userdata);

SDL_MUST_CHECK bool sdl_mongo_writer_status(sdl_mongo_writer *writer, sdl_target_status *ret_status,
                                            sdl_error *err);
void sdl_target_status_done(sdl_target_status *status);
