/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * committer: the commit protocol's driver on the writer's side (DESIGN.md §3.2, §5, §10). It
 * stages and commits, through the sink seam (model/sink.h), the batches the batcher cuts
 * (batcher.h), and handles what a commit can answer besides success:
 *
 *   - a transient failure: the caller's retry loop (backoff, give-up time, stop requests);
 *   - too large or too slow for one sink transaction: the staged copy is deleted, the
 *     batcher's limits are halved and the same documents go out again in smaller batches;
 *     a batch of one document is an error (SDL_E_DATA when it was too large);
 *   - one document refused as such (SDL_E_DATA, sdl_sink_rejected()): with a dead letter for
 *     it from env->dead_letter, it is set aside, the staged copy deleted, and the batch staged
 *     and committed again; without one, the error stands.
 *
 * Each commit deletes the staged parts of the committed batches when sdl_batcher_clean_due()
 * says so (deferred staging cleanup, DESIGN.md §3.2); sdl_commit_clean() at a clean stop.
 * Recovery (recovery.h) commits the batches it finds staged with the same environment (each
 * such commit cleans).
 * Logs (daemon layer); sdl_failpoint() at writer.after_stage and writer.after_commit.
 * Threading: the thread that owns the sink.
 */

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/daemon/batcher.h"
#include "sdl/daemon/stats.h"
#include "sdl/model/batch.h"
#include "sdl/model/offset.h"
#include "sdl/model/sink.h"

/* One attempt of a sink operation. */
typedef bool (*sdl_attempt_fn)(void *arg, sdl_error *err);

typedef struct sdl_commit_env {
    const sdl_sink *sink;
    /* Runs @fn(@arg) until it succeeds, fails permanently or retries run out. */
    bool (*retry)(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn,
                  void *arg, sdl_error *err);
    /* The dead letter of @doc, which the sink refused (@err says why), the pipeline being at
     * @offset; NULL when refused documents stop sdl (pipeline.on_error: stop). NULL hook:
     * never. */
    bson_t *(*dead_letter)(void *ctx, const bson_t *doc, const sdl_error *err,
                           const sdl_offset *offset);
    /* Observability: @b is about to be staged; @b is staged; @b is committed (@txns source
     * transactions, @usec from the first stage attempt). Each may be NULL. */
    void (*begin)(void *ctx, const sdl_batch *b);
    void (*staged)(void *ctx, const sdl_batch *b);
    void (*committed)(void *ctx, const sdl_batch *b, uint64_t txns, uint64_t usec);
    /* Mirror mode: sets b->mirror from b's documents (mirror.h) before it is staged, and
     * before a batch recovery loaded is committed; an error stops. NULL: no mirror. */
    bool (*plan)(void *ctx, sdl_batch *b, sdl_error *err);
    /* Whether items wait in the queue beyond what the batcher holds (the writer is not
     * caught up): the next commit may leave the committed batches' staged parts for a later
     * one (sdl_batcher_clean_due()). NULL: never, every commit deletes them. */
    bool (*more_queued)(void *ctx);
    /* After each commit that returned the offset document (sdl_sink_committed_requests()):
     * its snapshot requests (@requests, @len bytes; NULL: none), borrowed for the call
     * (request-watch.h). NULL hook: not wanted. */
    void (*requests)(void *ctx, const uint8_t *requests, size_t len);
    void *ctx;
} sdl_commit_env;

/* Stages and commits the batches @bt cuts under @mode, one after the other; @offset (the last
 * committed one) advances with each commit. False with @err when one failed (its documents
 * stay in @bt, its copy staged). */
SDL_MUST_CHECK bool sdl_commit_flush(const sdl_commit_env *env, sdl_batcher *bt, sdl_flush mode,
                                     sdl_offset *offset, sdl_error *err);

/* Commits @b (staged already) with retries; a refused document set aside as in
 * sdl_commit_flush() (then staged and committed again). @offset: the pipeline's. */
SDL_MUST_CHECK bool sdl_commit_staged(const sdl_commit_env *env, sdl_batch *b,
                                      const sdl_offset *offset, sdl_error *err);

/* A stop: when commits of @bt left committed batches' staged parts in the sink, one cleanup
 * deletes them, fenced on @offset (the last committed one), with retries when @retry (a clean
 * stop) or a single attempt (a stop on an error). A fencing error deletes nothing. */
SDL_MUST_CHECK bool sdl_commit_clean(const sdl_commit_env *env, sdl_batcher *bt,
                                     const sdl_offset *offset, bool retry, sdl_error *err);

/* Whether @err, an error of the sink's commit, says "a smaller batch can pass". */
bool sdl_commit_wants_smaller(const sdl_commit_env *env, const sdl_error *err);
