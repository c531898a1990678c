/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * sink: the seam between the pipeline and where its batches go (DESIGN.md §3; ARCHITECTURE.md), a
 * small table of operations in the manner of Redis's rio.h. The MongoDB writer implements it
 * (mongo-writer.h, sdl_mongo_writer_sink()); tests/lib/fake-sink.c implements it in memory
 * so that the batcher and recovery are unit-tested.
 *
 * The contract every implementation keeps (the commit protocol, DESIGN.md §3.2):
 *   - stage() writes a batch durably apart from the committed rows, idempotently (a retried
 *     stage rewrites the same parts);
 *   - commit() applies the batch's documents, moves the offset to batch->offset_after fenced
 *     on batch n-1 and, when batch->clean_staged, deletes the staged parts of every batch up
 *     to n (its own and the committed ones earlier commits left), all in one transaction.
 *     Without clean_staged it deletes nothing: staged parts of batches at or below the
 *     offset's are committed leftovers, which recovery deletes. The offset document it
 *     wrote comes back with it, so committed_requests() hands over the snapshot requests
 *     `sdl snapshot` stored there (DESIGN.md §9) without a read. It succeeds also when
 *     an earlier attempt committed the batch (an ambiguous outcome is settled by reading the
 *     offset back, sdl_batch_settle()); another writer's offset is a permanent fencing error;
 *   - init_offset() stores the first start's position as batch 0, fenced on "no offset yet";
 *   - clean_staged() deletes those leftovers in one transaction fenced on the offset naming
 *     the batch the caller committed last: a writer another one fenced out deletes nothing.
 *
 * Errors: err->transient says whether the same call may succeed later; the caller owns the
 * retry loop. size() classifies an error of commit() that a smaller batch could avoid.
 * Threading: one thread at a time per sink, as its implementation says. Never logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/model/batch.h"
#include "sdl/model/offset.h"

/* One staged batch as recovery sees it. */
typedef struct sdl_staged_batch {
    uint64_t number;
    uint32_t parts_expected; /* part count recorded in every part */
    uint32_t parts_found;    /* parts present */
} sdl_staged_batch;

/* Whether a failed commit says the batch was too big for one sink transaction. */
typedef enum sdl_sink_size {
    SDL_SINK_SIZE_OK = 0, /* no: some other failure */
    SDL_SINK_TOO_SLOW,    /* it ran longer than the sink lets a transaction run */
    SDL_SINK_TOO_LARGE,   /* it holds more than one transaction may (one document alone: data) */
} sdl_sink_size;

typedef struct sdl_sink_ops {
    /* A cheap round trip (health checks while idle). */
    bool (*ping)(void *impl, sdl_error *err);
    /* The pipeline's offset; *ret_found false (and @ret_offset zeroed) when none. */
    bool (*load_offset)(void *impl, sdl_offset *ret_offset, bool *ret_found, sdl_error *err);
    /* First start: stores @offset as batch 0; a fencing error when an offset exists. */
    bool (*init_offset)(void *impl, const sdl_offset *offset, sdl_error *err);
    /* Step 1 of the commit protocol: the batch into staging, durably, idempotently. */
    bool (*stage)(void *impl, const sdl_batch *batch, sdl_error *err);
    /* Step 2: rows, fenced offset and (batch->clean_staged) the deletion of the staged parts
     * of batches up to this one, in one transaction. */
    bool (*commit)(void *impl, const sdl_batch *batch, sdl_error *err);
    /* After a commit that failed with SDL_E_DATA because one document was refused as such:
     * 1 + its index in the batch; 0 otherwise. */
    size_t (*rejected)(void *impl);
    /* After a commit that succeeded: whether it read back the offset document it wrote, and
     * then its snapshot requests (*ret_requests, *ret_len bytes as offset.h's requests; NULL
     * when none), valid until the next call on the sink. False: the commit did not say (the
     * caller reads the offset when it needs them). */
    bool (*committed_requests)(void *impl, const uint8_t **ret_requests, size_t *ret_len);
    /* Classifies @err, an error of commit(). */
    sdl_sink_size (*size)(void *impl, const sdl_error *err);
    /* The staged batches in ascending order; the caller free()s *ret_list. */
    bool (*list_staged)(void *impl, sdl_staged_batch **ret_list, size_t *ret_count, sdl_error *err);
    /* A complete staged batch back into @ret_batch (initialised by the caller); a damaged one
     * is an SDL_E_DATA error. */
    bool (*load_staged)(void *impl, uint64_t number, sdl_batch *ret_batch, sdl_error *err);
    /* Deletes the staged copy of batch @number (no-op when none). */
    bool (*delete_staged)(void *impl, uint64_t number, sdl_error *err);
    /* Deletes the staged parts of every batch up to @committed in one transaction fenced on
     * the offset naming batch @committed (the caller's last commit): a permanent fencing
     * error, nothing deleted, when it names another. */
    bool (*clean_staged)(void *impl, uint64_t committed, sdl_error *err);
    /* Renews this process's lease on the pipeline (@release: ends it). */
    bool (*renew_lease)(void *impl, bool release, sdl_error *err);
    /* Ends what a previous holder left open; *ret_n how many, *ret_holder whose (free()). */
    bool (*end_previous_sessions)(void *impl, size_t *ret_n, char **ret_holder, sdl_error *err);
} sdl_sink_ops;

typedef struct sdl_sink {
    const sdl_sink_ops *ops;
    void *impl; /* the implementation's handle, owned by whoever made the sink */
} sdl_sink;

static inline bool
sdl_sink_ping(const sdl_sink *s, sdl_error *err)
{
    return s->ops->ping(s->impl, err);
}

static inline bool
sdl_sink_load_offset(const sdl_sink *s, sdl_offset *ret_offset, bool *ret_found, sdl_error *err)
{
    return s->ops->load_offset(s->impl, ret_offset, ret_found, err);
}

static inline bool
sdl_sink_init_offset(const sdl_sink *s, const sdl_offset *offset, sdl_error *err)
{
    return s->ops->init_offset(s->impl, offset, err);
}

static inline bool
sdl_sink_stage(const sdl_sink *s, const sdl_batch *batch, sdl_error *err)
{
    return s->ops->stage(s->impl, batch, err);
}

static inline bool
sdl_sink_commit(const sdl_sink *s, const sdl_batch *batch, sdl_error *err)
{
    return s->ops->commit(s->impl, batch, err);
}

static inline size_t
sdl_sink_rejected(const sdl_sink *s)
{
    return s->ops->rejected(s->impl);
}

static inline bool
sdl_sink_committed_requests(const sdl_sink *s, const uint8_t **ret_requests, size_t *ret_len)
{
    return s->ops->committed_requests(s->impl, ret_requests, ret_len);
}

static inline sdl_sink_size
sdl_sink_classify_size(const sdl_sink *s, const sdl_error *err)
{
    return s->ops->size(s->impl, err);
}

static inline bool
sdl_sink_list_staged(const sdl_sink *s, sdl_staged_batch **ret_list, size_t *ret_count,
                     sdl_error *err)
{
    return s->ops->list_staged(s->impl, ret_list, ret_count, err);
}

static inline bool
sdl_sink_load_staged(const sdl_sink *s, uint64_t number, sdl_batch *ret_batch, sdl_error *err)
{
    return s->ops->load_staged(s->impl, number, ret_batch, err);
}

static inline bool
sdl_sink_delete_staged(const sdl_sink *s, uint64_t number, sdl_error *err)
{
    return s->ops->delete_staged(s->impl, number, err);
}

static inline bool
sdl_sink_clean_staged(const sdl_sink *s, uint64_t committed, sdl_error *err)
{
    return s->ops->clean_staged(s->impl, committed, err);
}

static inline bool
sdl_sink_renew_lease(const sdl_sink *s, bool release, sdl_error *err)
{
    return s->ops->renew_lease(s->impl, release, err);
}

static inline bool
sdl_sink_end_previous_sessions(const sdl_sink *s, size_t *ret_n, char **ret_holder, sdl_error *err)
{
    return s->ops->end_previous_sessions(s->impl, ret_n, ret_holder, err);
}
