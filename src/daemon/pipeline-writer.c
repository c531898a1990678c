/* SPDX-License-Identifier: Apache-2.0 */
/* `sdl run`'s writer thread, retries with backoff, and what the committer asks of the daemon
 * (dead letters, counters); pipeline-private.h. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/log.h"
#include "sdl/daemon/batcher.h"
#include "sdl/daemon/committer.h"
#include "sdl/daemon/mirror.h"
#include "sdl/daemon/notify.h"
#include "sdl/daemon/stats.h"
#include "sdl/mapping/dead-letter.h"
#include "sdl/model/doc-field.h"
#include "sdl/queue/queue.h"

#include "pipeline-private.h"

/* ---- retries ------------------------------------------------------------------------------ */

/*
 * Runs @fn until it succeeds, a permanent error occurs, or transient errors have lasted
 * longer than pipeline.retry.give_up_after. Backoff: initial doubling to max, with jitter.
 * Returns false with err->code SDL_E_CANCELLED when a stop was requested while waiting.
 */
bool
pl_with_retry(pipeline *p, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
              sdl_error *err)
{
    const sdl_pipeline_config *pc = &pl_live(p)->pipeline;
    sdl_backoff backoff;
    uint64_t first_failure = 0;
    /* observability: the worker shows "retrying" in sdl_{reader,writer}_state meanwhile */
    atomic_int *state =
        reason == SDL_RETRY_SOURCE ? &p->stats->reader_state : &p->stats->writer_state;
    int state_before = -1;

    sdl_backoff_init(&backoff, pc->retry_initial_usec, pc->retry_max_usec);
    for (;;) {
        if (fn(arg, err)) {
            if (first_failure) {
                log_notice("%s succeeded after %" PRIu32 " retries", what, backoff.attempts);
            }
            if (state_before >= 0) { /* observability */
                atomic_store(state, state_before);
                atomic_store(
                    reason == SDL_RETRY_SOURCE ? &p->stats->source_up : &p->stats->target_up, true);
            }
            return true;
        }
        if (err->transient && state_before < 0) { /* observability */
            state_before = atomic_exchange(state, SDL_WORKER_RETRYING);
        }
        if (!err->transient) {
            return false;
        }
        uint64_t now = sdl_now_monotonic_usec();
        if (!first_failure) {
            first_failure = now;
        }
        if (pc->retry_give_up_after_usec && now - first_failure >= pc->retry_give_up_after_usec) {
            sdl_error_prefix(err, "giving up after %" PRIu64 " s of retries",
                             (now - first_failure) / SDL_USEC_PER_SEC);
            err->transient = false;
            return false;
        }
        uint64_t delay = sdl_backoff_next(&backoff);
        log_warning_e(err, "%s failed, retrying in %" PRIu64 " ms", what, delay / 1000u);
        sdl_stats_retry(p->stats, reason);
        if (!atomic_load(&p->stats->ready)) {
            /* Before READY=1 (target or source down at start-up): say why in
             * `systemctl status`, and keep systemd's start timeout from killing a pipeline
             * that waits as configured (give_up_after bounds the wait). */
            sdl_notify_status("Waiting: %s failed (%s), retrying in %" PRIu64 " ms", what,
                              err->message, delay / 1000u);
            sdl_notify_extend_timeout(delay + 30 * SDL_USEC_PER_SEC);
        }
        if (reason != SDL_RETRY_SOURCE) {
            atomic_store(&p->stats->target_up, false);
        }
        /* Sleep in slices: backing off is progress for the watchdog (the pipeline is alive
         * and doing what it should), and a stop request is seen at once. */
        uint64_t until = sdl_now_monotonic_usec() + delay;
        while (sdl_now_monotonic_usec() < until && !*p->stop && !p->abort_threads) {
            sdl_stats_progress(p->stats);
            sdl_sleep_usec(SDL_MIN(until - sdl_now_monotonic_usec(), 100 * SDL_USEC_PER_MSEC),
                           &p->abort_threads);
        }
        if (*p->stop || p->abort_threads) {
            sdl_error_set(err, SDL_E_CANCELLED, "%s: stopped while retrying", what);
            return false;
        }
    }
}

/* ---- the writer side: batches ------------------------------------------------------------- */

/* The batching decisions are batcher.c's (pure logic) and the commit protocol's driver is
 * committer.c's; here are what they ask of the daemon: retries, dead letters, observability. */

/* pl_with_retry() for committer.c and recovery.c */
bool
pl_retry_hook(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
              sdl_error *err)
{
    return pl_with_retry(ctx, what, reason, fn, arg, err);
}

/* A document MongoDB refused as such (@err): with pipeline.on_error: dead_letter its dead
 * letter (logged and counted), else NULL (sdl stops with the error). */
bson_t *
pl_dead_letter_hook(void *ctx, const bson_t *doc, const sdl_error *err, const sdl_offset *offset)
{
    pipeline *p = ctx;

    if (pl_live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        return NULL;
    }
    bson_t *dead = bson_new();
    const char *id = sdl_doc_field_text(doc, "_id"), *gtid = sdl_doc_field_text(doc, "gtid");
    const char *db = sdl_doc_field_text(doc, "db"), *table = sdl_doc_field_text(doc, "table");
    char context[192];

    sdl_dead_letter_from_document(doc, SDL_DEAD_REJECTED, err->message, offset->gtid, pl_now_ms(),
                                  dead);
    (void)snprintf(context, sizeof(context), "%s.%s", db ? db : "", table ? table : "");
    sdl_log_set_context(p->config->pipeline.name, gtid, context);
    log_warning_e(err, "Document %s set aside as a dead letter (rejected)", id ? id : "?");
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    sdl_stats_dead_letter(p->stats, SDL_DEAD_REJECTED);
    return dead;
}

void
pl_begin_hook(void *ctx, const sdl_batch *b)
{
    pipeline *p = ctx;

    sdl_log_set_context(p->config->pipeline.name, b->last_gtid, NULL); /* observability */
}

void
pl_staged_hook(void *ctx, const sdl_batch *b)
{
    pipeline *p = ctx;

    (void)b;
    atomic_store(&p->stats->staged_batches, 1);
}

/* observability: the committed documents of @b by operation (and table, when configured),
 * read from their first fields; dead letters are counted apart (sdl_stats_dead_letter) */
/* The operations count_applied() knows, as held_ops records them (0: not counted). */
static const char *const held_op_names[] = {NULL, "insert", "update", "delete", "ddl", "snapshot"};

/* observability: a document the batcher now holds, by operation (writer thread) */
static void
hold_op(pipeline *p, sdl_queue_item_kind kind, const bson_t *doc)
{
    static const char *const keys[] = {"op"};
    const char *op = NULL;
    uint8_t code = 0;

    if (kind != SDL_QUEUE_DEAD_LETTER) {
        sdl_doc_field_leading_texts(doc, keys, 1, &op);
    }
    for (uint8_t i = 1; op && i < SDL_ARRAY_SIZE(held_op_names); i++) {
        if (strcmp(op, held_op_names[i]) == 0) {
            code = i;
        }
    }
    if (p->held_n == p->held_cap) {
        size_t cap = p->held_cap ? p->held_cap * 2 : 1024;
        uint8_t *ops = sdl_xcalloc(cap, 1);
        for (size_t i = 0; i < p->held_n; i++) {
            ops[i] = p->held_ops[(p->held_head + i) % p->held_cap];
        }
        free(p->held_ops);
        p->held_ops = ops;
        p->held_cap = cap;
        p->held_head = 0;
    }
    p->held_ops[(p->held_head + p->held_n++) % p->held_cap] = code;
}

/* observability: the committed documents of @b by operation (and table, when configured),
 * read from their first fields; dead letters are counted apart (sdl_stats_dead_letter). @b is
 * the first b->ndocs documents the batcher held, so their operations are the first held_ops:
 * without per-table counters the documents themselves, long out of the cache, are not read. */
static void
count_applied(pipeline *p, const sdl_batch *b)
{
    static const char *const keys[] = {"op", "db", "table"};
    bool tables = p->stats->table_limit != 0;

    for (size_t i = 0; i < b->ndocs; i++) {
        uint8_t code = 0;
        if (p->held_n) {
            code = p->held_ops[p->held_head];
            p->held_head = (p->held_head + 1) % p->held_cap;
            p->held_n--;
        }
        if (b->dead && b->dead[i]) {
            continue;
        }
        if (tables) {
            const char *f[3];
            /* the op, db and table fields come first, after _id */
            sdl_doc_field_leading_texts(b->docs[i], keys, 3, f);
            sdl_stats_count_applied(p->stats, f[0], f[1], f[2]);
        } else {
            sdl_stats_count_applied(p->stats, held_op_names[code], NULL, NULL);
        }
    }
}

bool
pl_plan_hook(void *ctx, sdl_batch *b, sdl_error *err)
{
    pipeline *p = ctx;

    return sdl_mirror_plan(p->mirror, b, err);
}

void
pl_committed_hook(void *ctx, const sdl_batch *b, uint64_t txns, uint64_t usec)
{
    pipeline *p = ctx;

    atomic_store(&p->stats->staged_batches, 0);
    count_applied(p, b);
    sdl_stats_commit(p->stats, b->rows, txns, usec, b->offset_after.source_ts_sec,
                     b->offset_after.gtid, b->offset_after.binlog_file, b->offset_after.binlog_pos);
}

/* The writer is not caught up: items wait in the queue (sdl_commit_env.more_queued). */
bool
pl_more_queued_hook(void *ctx)
{
    pipeline *p = ctx;

    return p->queue && sdl_queue_bytes(p->queue) > 0;
}

/* Commits held documents in batches within the limits in force, as the batcher cuts them. */
static bool
flush(pipeline *p, sdl_batcher *bt, sdl_flush mode, sdl_error *err)
{
    return mode == SDL_FLUSH_NONE || sdl_commit_flush(&p->commit, bt, mode, &p->offset, err);
}

static sdl_batcher_kind
batcher_kind(sdl_queue_item_kind kind)
{
    switch (kind) {
    case SDL_QUEUE_DDL:
        return SDL_BATCHER_DDL;
    case SDL_QUEUE_DEAD_LETTER:
        return SDL_BATCHER_DEAD_LETTER;
    default:
        return SDL_BATCHER_ROW;
    }
}

/* One item from the queue into the batcher, and the flushes it asks for. */
static bool
take_item(pipeline *p, sdl_batcher *bt, const sdl_queue_item *it, uint64_t now, sdl_error *err)
{
    if (it->kind == SDL_QUEUE_COMMIT) {
        sdl_flush mode = sdl_batcher_end_txn(bt, it->gtid, it->position, it->binlog_file,
                                             it->binlog_pos, it->ts_sec, now);
        if (it->snapshot) { /* a snapshot chunk ends here: its progress goes with the offset */
            sdl_batcher_end_snapshot(bt, it->snapshot, it->snapshot_len);
        }
        return flush(p, bt, mode, err);
    }
    sdl_batcher_kind kind = batcher_kind(it->kind);
    if (!flush(p, bt, sdl_batcher_before(bt, kind), err)) {
        return false;
    }
    bson_t *doc = bson_new_from_data(it->doc, it->doc_len);
    if (!doc) {
        sdl_error_set(err, SDL_E_INVALID, "corrupt document in the queue");
        return false;
    }
    hold_op(p, it->kind, doc);
    return flush(p, bt, sdl_batcher_add(bt, kind, it->gtid, doc, now), err);
}

/* While idle the writer pings the target every IDLE_PING_USEC, so sdl_target_up and
 * /health/ready notice a target that went away (or came back) without waiting for data. */
#define IDLE_PING_USEC (5 * SDL_USEC_PER_SEC)

static void
idle_ping(pipeline *p)
{
    sdl_error err = SDL_ERROR_INIT;
    /* renewing the lease is the ping: `sdl offset set` sees that this pipeline runs */
    bool up = sdl_sink_renew_lease(&p->sink, false, &err) && sdl_sink_ping(&p->sink, &err);

    if (up != atomic_load(&p->stats->target_up)) {
        if (up) {
            log_notice("The target answers again");
        } else {
            log_warning_e(&err, "The target does not answer (idle check)");
        }
        atomic_store(&p->stats->target_up, up);
    }
}

/* `sdl snapshot` stores its requests in the offset document (DESIGN.md §9). Every commit
 * returns them (the fenced offset write is a findAndModify: no round trip of its own); when
 * none did for a second (idle, or batches slower than that) the writer reads the offset
 * itself (request-watch.h). Requests it has not handed over yet go to the reader thread
 * (snapshot.c serves them). */
static void
hand_over(pipeline *p, const uint8_t *requests, size_t len)
{
    if (!sdl_request_watch_heard(&p->requests_watch, requests, len, sdl_now_monotonic_usec())) {
        return;
    }
    uint8_t *copy = sdl_xmalloc(len);
    memcpy(copy, requests, len);
    (void)pthread_mutex_lock(&p->requests_lock);
    free(p->requests);
    p->requests = copy;
    p->requests_len = len;
    atomic_store(&p->requests_ready, true);
    (void)pthread_mutex_unlock(&p->requests_lock);
}

/* The committer's hook (sdl_commit_env.requests): what a commit returned. */
void
pl_requests_hook(void *ctx, const uint8_t *requests, size_t len)
{
    hand_over(ctx, requests, len);
}

/* No commit returned the requests for a second: one read of the offset. A failed read waits
 * for the next second (the commits report the target's state). */
static void
poll_requests(pipeline *p, uint64_t now)
{
    sdl_offset o;
    bool found = false;
    sdl_error err = SDL_ERROR_INIT;

    if (!sdl_request_watch_due(&p->requests_watch, now)) {
        return;
    }
    memset(&o, 0, sizeof(o));
    if (!sdl_sink_load_offset(&p->sink, &o, &found, &err)) {
        log_debug_e(&err, "Reading the snapshot requests");
        return;
    }
    if (found) {
        hand_over(p, o.requests, o.requests_len);
    }
    sdl_offset_done(&o);
}

void *
pl_writer_main(void *arg)
{
    pipeline *p = arg;
    const sdl_pipeline_config *pc = &p->config->pipeline;
    uint64_t last_contact = sdl_now_monotonic_usec();
    sdl_batcher bt;
    sdl_error *err = &p->writer_err;
    bool closed = false;
    bool ok = true;

    /* limits lowered by recovery: a staged batch was too large */
    sdl_batcher_init(&bt, p->flavor, p->limit_rows, p->limit_bytes);
    sdl_batcher_resume_split(&bt, p->resume_split_gtid);
    sdl_log_set_context(pc->name, NULL, NULL); /* observability: SDL_PIPELINE= */
    atomic_store(&p->stats->writer_state, SDL_WORKER_RUNNING);
    while (ok && !p->abort_threads) {
        if (*p->stop) {
            break;
        }
        /* the clock once per item: here, and again only when the pop below may wait */
        uint64_t now = sdl_now_monotonic_usec();
        size_t queued;
        uint64_t full_usec;
        sdl_stats_progress_at(p->stats, now);
        sdl_queue_counters(p->queue, &queued, &full_usec);
        atomic_store(&p->stats->queue_bytes, queued);
        atomic_store(&p->stats->queue_full_usec, full_usec);
        const sdl_pipeline_config *lc = &pl_live(p)->pipeline;
        sdl_batcher_set_limits(&bt, lc->batch_max_rows, lc->batch_max_bytes);
        uint64_t max_delay = lc->batch_max_delay_usec;
        uint64_t wait = sdl_batcher_wait_usec(&bt, now, max_delay, 200 * SDL_USEC_PER_MSEC);
        sdl_queue_item *it = sdl_queue_pop(p->queue, wait, &closed);
        atomic_store(&p->stats->caught_up, !it && sdl_batcher_empty(&bt));
        atomic_store(&p->stats->writer_state, /* observability */
                     atomic_load(&p->stats->caught_up) ? SDL_WORKER_IDLE : SDL_WORKER_RUNNING);
        if (!it) {
            if (closed) {
                break;
            }
            if (bt.batch.ndocs == 0 && sdl_now_monotonic_usec() - last_contact >= IDLE_PING_USEC) {
                idle_ping(p);
                last_contact = sdl_now_monotonic_usec();
            }
            uint64_t after = sdl_now_monotonic_usec();
            ok = flush(p, &bt, sdl_batcher_due(&bt, after, max_delay), err);
            poll_requests(p, after);
            continue;
        }
        /* work ahead: the batch tells. Items were queued already (only this thread pops):
         * the pop did not wait, and the clock read above is the time it came. */
        last_contact = queued ? now : sdl_now_monotonic_usec();
        poll_requests(p, last_contact);
        ok = take_item(p, &bt, it, last_contact, err);
        sdl_queue_item_free(it);
    }
    /* Stopping or draining: commit the complete transactions held (the open one is re-read
     * from the binlog after a restart). */
    if (ok && !p->abort_threads) {
        ok = flush(p, &bt, SDL_FLUSH_COMPLETE, err);
    }
    /* Commits under load left committed batches' staged parts for a later commit: one
     * fenced cleanup now (a writer fenced out deletes nothing). Best effort: they are
     * committed, the next start deletes them. After a failure that was not the target's
     * (data, configuration), a single attempt; after the target's, none (it would wait for a
     * target that is down, or be fenced out). */
    bool retry = ok && !p->abort_threads;
    if (sdl_batcher_uncleaned(&bt) &&
        (retry || (!ok && err->code != SDL_E_SINK && err->code != SDL_E_CANCELLED))) {
        sdl_error cerr = SDL_ERROR_INIT;
        if (!sdl_commit_clean(&p->commit, &bt, &p->offset, retry, &cerr)) {
            sdl_log_e(retry ? SDL_LOG_WARNING : SDL_LOG_DEBUG, &cerr,
                      "Leaving the staged parts of committed batches to the next start");
        }
    }
    if (!ok && err->code != SDL_E_CANCELLED) {
        p->writer_failed = true;
        p->abort_threads = 1;
    }
    sdl_batcher_done(&bt);
    sdl_queue_close(p->queue);
    atomic_store(&p->stats->writer_state, SDL_WORKER_STOPPED);
    atomic_store(&p->writer_done, true);
    return NULL;
}
