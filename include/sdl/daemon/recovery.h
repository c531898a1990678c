/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * recovery: what `sdl run` does at start-up before it reads the source (DESIGN.md §3.4),
 * through the sink seam only (model/sink.h), so that it runs against the MongoDB writer and
 * against tests/lib/fake-sink.c alike:
 *
 *   1. load the offset; when there is one, end the sessions a previous holder left open;
 *   2. settle the staged batches in order: a batch the offset covers is deleted; a batch with
 *      a missing part (a crash while staging) is deleted together with every batch after it
 *      (its rows are read again from the binlog); the next complete batch (offset + 1) is
 *      committed from staging, then the next; one the sink refuses as too large or too slow
 *      is deleted and the limits for the batches read again become half of it;
 *   3. without an offset and with batches discarded, pipeline.start "now" is refused (their
 *      changes would never be read again).
 *
 * The caller supplies the retry loop (with its backoff, give-up time and stop requests) and
 * what to do with a document the sink refuses (dead letters), as for committer.h. Logs (daemon
 * layer), calls sdl_failpoint() at recovery.after_delete and recovery.before_commit. Threading: the
 * main thread, before the workers start.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/daemon/committer.h"
#include "sdl/model/batch.h"
#include "sdl/model/offset.h"
#include "sdl/model/sink.h"

typedef struct sdl_recovery_env {
    sdl_commit_env commit; /* the sink, the retry loop, dead letters of refused documents */
    const char *pipeline;  /* pipeline.name, for messages */
    const char *start;     /* pipeline.start ("now", "start" or a position) */
} sdl_recovery_env;

typedef struct sdl_recovery {
    sdl_offset offset;   /* the offset to resume from (owned; zeroed when none) */
    bool found;          /* the pipeline has an offset (else: a first start) */
    uint64_t limit_rows; /* lowered batch limits (a staged batch was too large); 0: none */
    size_t limit_bytes;
} sdl_recovery;

/* Recovers; on success *ret is filled (free with sdl_recovery_done()). */
SDL_MUST_CHECK bool sdl_recover(const sdl_recovery_env *env, sdl_recovery *ret, sdl_error *err);
void sdl_recovery_done(sdl_recovery *rec);
