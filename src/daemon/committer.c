/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/committer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/model/doc-field.h"

typedef enum write_result {
    WRITE_OK,
    WRITE_FAILED,  /* err set */
    WRITE_SMALLER, /* the batch was too large or slow: limits lowered, write again */
} write_result;

/* One sink operation's arguments, for env->retry(). */
typedef struct sink_op {
    const sdl_commit_env *env;
    sdl_batch *batch;
    uint64_t number;
} sink_op;

bool
sdl_commit_wants_smaller(const sdl_commit_env *env, const sdl_error *err)
{
    return sdl_sink_classify_size(env->sink, err) != SDL_SINK_SIZE_OK;
}

static bool
stage_attempt(void *arg, sdl_error *err)
{
    sink_op *o = arg;

    return sdl_sink_stage(o->env->sink, o->batch, err);
}

static bool
commit_attempt(void *arg, sdl_error *err)
{
    sink_op *o = arg;

    if (o->env->plan && !o->batch->mirror && !o->env->plan(o->env->ctx, o->batch, err)) {
        err->transient = false;
        return false;
    }
    if (sdl_sink_commit(o->env->sink, o->batch, err)) {
        return true;
    }
    if (sdl_commit_wants_smaller(o->env, err)) {
        err->transient = false; /* the same batch fails again: write a smaller one */
    }
    return false;
}

static bool
clean_attempt(void *arg, sdl_error *err)
{
    sink_op *o = arg;

    return sdl_sink_clean_staged(o->env->sink, o->number, err);
}

static bool
delete_attempt(void *arg, sdl_error *err)
{
    sink_op *o = arg;

    return sdl_sink_delete_staged(o->env->sink, o->number, err);
}

/*
 * The commit of @b failed because the sink refused one of its documents as such (an
 * SDL_E_DATA error naming it): when env->dead_letter gives that document's dead letter, it
 * replaces the document in @b (and in @bt, whose documents a live batch borrows; NULL for a
 * batch recovery loaded), the staged copy is deleted, and true says "stage and commit again".
 * False, with @err as it was, in every other case.
 */
static bool
set_aside(const sdl_commit_env *env, sdl_batcher *bt, sdl_batch *b, const sdl_offset *offset,
          sdl_error *err)
{
    size_t r = sdl_sink_rejected(env->sink);
    sink_op o = {.env = env, .number = b->number};

    if (err->code != SDL_E_DATA || r == 0 || r > b->ndocs || (b->dead && b->dead[r - 1]) ||
        !env->dead_letter) {
        return false;
    }
    size_t i = r - 1;
    bson_t *old = b->docs[i];
    bson_t *dead = env->dead_letter(env->ctx, old, err, offset);
    if (!dead) {
        return false;
    }
    bool row = !sdl_doc_is_ddl(old);
    long long delta = (long long)dead->len - (long long)old->len;
    b->docs[i] = dead; /* a live batch borrows bt's array: replaced there too */
    bson_destroy(old);
    if (b->mirror) { /* planned again without the row: a dead letter is not mirrored */
        bson_destroy(b->mirror);
        b->mirror = NULL;
    }
    if (!b->dead) {
        b->dead = sdl_xcalloc(b->cap > b->ndocs ? b->cap : b->ndocs, sizeof(*b->dead));
    }
    b->dead[i] = true;
    b->ndead++;
    b->bytes = (size_t)((long long)b->bytes + delta);
    b->rows -= row;
    b->offset_after.rows_applied -= row;
    b->offset_after.dead_letters++;
    if (bt) {
        sdl_batcher_dead_lettered(bt, i, delta, row);
    }
    sdl_error_clear(err);
    return env->retry(env->ctx, "deleting a staged batch", SDL_RETRY_STAGE, delete_attempt, &o,
                      err);
}

/* The batch @b was too large or too slow for one sink transaction: its staged copy goes, and
 * the limits become half of it. False when it was one document: a data error when the sink
 * found it too large (exit 65), the sink's error otherwise. */
static bool
lower_limits(const sdl_commit_env *env, sdl_batcher *bt, const sdl_batch *b, sdl_error *err)
{
    sink_op o = {.env = env, .number = b->number};

    if (b->ndocs <= 1) {
        const char *id = b->ndocs ? sdl_doc_field_text(b->docs[0], "_id") : NULL;
        bool too_large = sdl_sink_classify_size(env->sink, err) == SDL_SINK_TOO_LARGE;
        sdl_error_prefix(err, "batch %" PRIu64 " holds only document %s (%zu bytes)", b->number,
                         id ? id : "(none)", b->bytes);
        if (too_large) {
            err->code = SDL_E_DATA;
        }
        return false;
    }
    log_notice_e(err,
                 "Batch %" PRIu64 " (%zu documents, %zu bytes) is too large or too slow for one "
                 "MongoDB transaction: committing its changes in smaller batches",
                 b->number, b->ndocs, b->bytes);
    if (!env->retry(env->ctx, "deleting a staged batch", SDL_RETRY_STAGE, delete_attempt, &o,
                    err)) {
        return false;
    }
    (void)sdl_batcher_lower(bt, b);
    sdl_error_clear(err);
    return true;
}

/* Stages and commits @b (its offset_after set), then advances @offset. */
static write_result
write_batch(const sdl_commit_env *env, sdl_batcher *bt, sdl_batch *b, uint64_t txns,
            sdl_offset *offset, sdl_error *err)
{
    sink_op o = {.env = env, .batch = b, .number = b->number};
    char what[96];

    uint64_t t0 = sdl_now_monotonic_usec();
    if (env->plan && !env->plan(env->ctx, b, err)) {
        return WRITE_FAILED; /* before staging: nothing of the batch is written */
    }
    for (;;) {
        (void)snprintf(what, sizeof(what), "staging batch %" PRIu64, b->number);
        if (env->begin) {
            env->begin(env->ctx, b);
        }
        if (!env->retry(env->ctx, what, SDL_RETRY_STAGE, stage_attempt, &o, err)) {
            return WRITE_FAILED;
        }
        if (env->staged) {
            env->staged(env->ctx, b);
        }
        sdl_failpoint("writer.after_stage");
        (void)snprintf(what, sizeof(what), "committing batch %" PRIu64, b->number);
        if (env->retry(env->ctx, what, SDL_RETRY_COMMIT, commit_attempt, &o, err)) {
            break;
        }
        if (sdl_commit_wants_smaller(env, err)) {
            return lower_limits(env, bt, b, err) ? WRITE_SMALLER : WRITE_FAILED;
        }
        if (!set_aside(env, bt, b, offset, err)) {
            return WRITE_FAILED;
        }
        /* the refused document is a dead letter now: stage the batch again and commit */
    }
    sdl_failpoint("writer.after_commit");
    if (env->committed) {
        env->committed(env->ctx, b, txns, sdl_now_monotonic_usec() - t0);
    }
    const uint8_t *requests;
    size_t requests_len;
    if (env->requests && sdl_sink_committed_requests(env->sink, &requests, &requests_len)) {
        env->requests(env->ctx, requests, requests_len);
    }
    sdl_offset_done(offset);
    sdl_offset_copy(offset, &b->offset_after);
    log_debug("Committed batch %" PRIu64 ": %zu documents, offset %s%s%s", b->number, b->ndocs,
              b->offset_after.gtid ? b->offset_after.gtid : "",
              b->offset_after.partial_gtid ? " inside " : "",
              b->offset_after.partial_gtid ? b->offset_after.partial_gtid : "");
    return WRITE_OK;
}

bool
sdl_commit_flush(const sdl_commit_env *env, sdl_batcher *bt, sdl_flush mode, sdl_offset *offset,
                 sdl_error *err)
{
    sdl_batch out;
    sdl_batcher_cut cut;

    while (sdl_batcher_next(bt, mode, offset, &out, &cut)) {
        out.clean_staged =
            sdl_batcher_clean_due(bt, &out, &cut, env->more_queued && env->more_queued(env->ctx));
        write_result r = write_batch(env, bt, &out, cut.txns, offset, err);
        if (r == WRITE_OK) {
            sdl_batcher_committed(bt, &out, &cut, sdl_now_monotonic_usec());
        }
        sdl_batcher_release(&out);
        if (r == WRITE_FAILED) {
            return false;
        }
    }
    return true;
}

bool
sdl_commit_clean(const sdl_commit_env *env, sdl_batcher *bt, const sdl_offset *offset, bool retry,
                 sdl_error *err)
{
    sink_op o = {.env = env, .number = offset->batch};

    if (!sdl_batcher_uncleaned(bt)) {
        return true;
    }
    if (retry ? !env->retry(env->ctx, "deleting committed staged batches", SDL_RETRY_STAGE,
                            clean_attempt, &o, err)
              : !clean_attempt(&o, err)) {
        return false;
    }
    log_debug("Deleted the staged parts of the batches up to %" PRIu64, offset->batch);
    sdl_batcher_cleaned(bt);
    return true;
}

bool
sdl_commit_staged(const sdl_commit_env *env, sdl_batch *b, const sdl_offset *offset, sdl_error *err)
{
    sink_op o = {.env = env, .batch = b, .number = b->number};
    bool committed;

    b->clean_staged = true; /* recovery: the staged batches before it are deleted anyway */
    committed = env->retry(env->ctx, "committing a staged batch", SDL_RETRY_COMMIT, commit_attempt,
                           &o, err);

    while (!committed && set_aside(env, NULL, b, offset, err)) {
        /* a refused document became a dead letter: stage the batch again, commit it */
        committed = env->retry(env->ctx, "staging a batch again", SDL_RETRY_STAGE, stage_attempt,
                               &o, err) &&
                    env->retry(env->ctx, "committing a staged batch", SDL_RETRY_COMMIT,
                               commit_attempt, &o, err);
    }
    return committed;
}
