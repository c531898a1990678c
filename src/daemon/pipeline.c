/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/daemon/batcher.h"
#include "sdl/daemon/committer.h"
#include "sdl/daemon/mirror.h"
#include "sdl/daemon/notify.h"
#include "sdl/daemon/recovery.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/daemon/stats.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/dead-letter.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/model/doc-field.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/stage/queue.h"

typedef struct pipeline {
    const sdl_config *config;         /* as started: the keys a reload cannot change */
    _Atomic(const sdl_config *) live; /* the reloadable keys (SIGHUP swaps it) */
    sdl_config **retired;             /* reloaded configurations, freed at the end (main thread) */
    size_t nretired;
    const volatile int *stop; /* set by the signal handler */
    volatile int *reload;     /* set by the SIGHUP handler, reset by supervise() */
    const char *config_path;
    volatile int abort_threads; /* set when one thread failed: the other one ends too */
    sdl_queue *queue;
    sdl_change_stream *stream;
    sdl_mongo_writer *writer;
    sdl_sink sink;          /* the writer behind the seam (model/sink.h) */
    sdl_commit_env commit;  /* how committer.c and recovery.c use it */
    sdl_mirror *mirror;     /* mirror mode's planner (mirror.h); NULL: audit only */
    sdl_snapshot *snapshot; /* the snapshot, running or not (snapshot.h; reader thread) */
    /* `sdl snapshot` requests, read with the offset by the writer thread every second and
     * handed to the reader thread (under requests_lock) */
    pthread_mutex_t requests_lock;
    uint8_t *requests;          /* new requests not yet taken by the reader; NULL: none */
    atomic_bool requests_ready; /* requests is set (the reader's cheap look) */
    size_t requests_len;
    uint8_t *requests_seen; /* writer thread: the last requests handed over */
    size_t requests_seen_len;
    uint64_t requests_polled_usec;

    sdl_offset offset;       /* last committed offset (writer thread after start) */
    char *flavor;            /* the source's: "mariadb" or "mysql" (offsets record it) */
    char *resume_split_gtid; /* the offset's partial transaction, if any */
    uint64_t resume_split_seq;
    uint64_t limit_rows; /* batch limits lowered by recovery (0: the configured ones) */
    size_t limit_bytes;

    sdl_error reader_err;
    bool reader_failed;
    sdl_error writer_err;
    bool writer_failed;

    atomic_bool reader_done;
    atomic_bool writer_done;
    sdl_stats *stats;
    /* observability: journal context (SDL_GTID=, SDL_TABLE=) of the reader's error */
    char fail_gtid[128];
    char fail_table[192];
    /* writer thread: the operation of each document the batcher holds, in its order (a ring):
     * read while the document is fresh in the cache, counted when its batch commits */
    uint8_t *held_ops;
    size_t held_cap, held_head, held_n;
    /* reader thread: the mapper writes each row document here (reused, no allocation) */
    sdl_buf map_buf;
    /* reader thread: the open transaction's first item is queued (it carries the GTID) */
    bool txn_named;
} pipeline;

/* The configuration in force for the reloadable keys (batch, retry, tables, log). */
static const sdl_config *
live(pipeline *p)
{
    return atomic_load(&p->live);
}

static int64_t
now_ms(void)
{
    return (int64_t)(sdl_now_realtime_usec() / 1000u);
}

static bool
stopping(const pipeline *p)
{
    return *p->stop || p->abort_threads;
}

/* ---- retries ------------------------------------------------------------------------------ */

/*
 * Runs @fn until it succeeds, a permanent error occurs, or transient errors have lasted
 * longer than pipeline.retry.give_up_after. Backoff: initial doubling to max, with jitter.
 * Returns false with err->code SDL_E_CANCELLED when a stop was requested while waiting.
 */
static bool
with_retry(pipeline *p, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
           sdl_error *err)
{
    const sdl_pipeline_config *pc = &live(p)->pipeline;
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

/* with_retry() for committer.c and recovery.c */
static bool
retry_hook(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
           sdl_error *err)
{
    return with_retry(ctx, what, reason, fn, arg, err);
}

/* A document MongoDB refused as such (@err): with pipeline.on_error: dead_letter its dead
 * letter (logged and counted), else NULL (sdl stops with the error). */
static bson_t *
dead_letter_hook(void *ctx, const bson_t *doc, const sdl_error *err, const sdl_offset *offset)
{
    pipeline *p = ctx;

    if (live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        return NULL;
    }
    bson_t *dead = bson_new();
    const char *id = sdl_doc_field_text(doc, "_id"), *gtid = sdl_doc_field_text(doc, "gtid");
    const char *db = sdl_doc_field_text(doc, "db"), *table = sdl_doc_field_text(doc, "table");
    char context[192];

    sdl_dead_letter_from_document(doc, SDL_DEAD_REJECTED, err->message, offset->gtid, now_ms(),
                                  dead);
    (void)snprintf(context, sizeof(context), "%s.%s", db ? db : "", table ? table : "");
    sdl_log_set_context(p->config->pipeline.name, gtid, context);
    log_warning_e(err, "Document %s set aside as a dead letter (rejected)", id ? id : "?");
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    sdl_stats_dead_letter(p->stats, SDL_DEAD_REJECTED);
    return dead;
}

static void
begin_hook(void *ctx, const sdl_batch *b)
{
    pipeline *p = ctx;

    sdl_log_set_context(p->config->pipeline.name, b->last_gtid, NULL); /* observability */
}

static void
staged_hook(void *ctx, const sdl_batch *b)
{
    pipeline *p = ctx;

    (void)b;
    atomic_store(&p->stats->staged_batches, 1);
}

/* observability: the committed documents of @b by operation (and table, when configured),
 * read from their first fields; dead letters are counted apart (sdl_stats_dead_letter) */
/* The operations count_applied() knows, as held_ops records them (0: not counted). */
static const char *const held_op_names[] = {NULL, "insert", "update", "delete", "ddl"};

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

static bool
plan_hook(void *ctx, sdl_batch *b, sdl_error *err)
{
    pipeline *p = ctx;

    return sdl_mirror_plan(p->mirror, b, err);
}

static void
committed_hook(void *ctx, const sdl_batch *b, uint64_t txns, uint64_t usec)
{
    pipeline *p = ctx;

    atomic_store(&p->stats->staged_batches, 0);
    count_applied(p, b);
    sdl_stats_commit(p->stats, b->rows, txns, usec, b->offset_after.source_ts_sec,
                     b->offset_after.gtid, b->offset_after.binlog_file, b->offset_after.binlog_pos);
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

/* `sdl snapshot` stores its requests in the offset document; once a second the writer reads
 * it and hands requests it has not handed over yet to the reader thread (snapshot.c serves
 * them). A failed read waits for the next second (the commits report the target's state). */
static void
poll_requests(pipeline *p)
{
    uint64_t now = sdl_now_monotonic_usec();
    sdl_offset o;
    bool found = false;
    sdl_error err = SDL_ERROR_INIT;

    if (now - p->requests_polled_usec < SDL_USEC_PER_SEC) {
        return;
    }
    p->requests_polled_usec = now;
    memset(&o, 0, sizeof(o));
    if (!sdl_sink_load_offset(&p->sink, &o, &found, &err)) {
        log_debug_e(&err, "Reading the snapshot requests");
        return;
    }
    if (found && o.requests &&
        (o.requests_len != p->requests_seen_len ||
         memcmp(o.requests, p->requests_seen, o.requests_len) != 0)) {
        free(p->requests_seen);
        p->requests_seen = sdl_xmalloc(o.requests_len);
        memcpy(p->requests_seen, o.requests, o.requests_len);
        p->requests_seen_len = o.requests_len;
        (void)pthread_mutex_lock(&p->requests_lock);
        free(p->requests);
        p->requests = o.requests; /* taken over */
        p->requests_len = o.requests_len;
        o.requests = NULL;
        atomic_store(&p->requests_ready, true);
        (void)pthread_mutex_unlock(&p->requests_lock);
    }
    sdl_offset_done(&o);
}

static void *
writer_main(void *arg)
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
        /* the clock twice per item: here and once an item came */
        uint64_t now = sdl_now_monotonic_usec();
        sdl_stats_progress_at(p->stats, now);
        atomic_store(&p->stats->queue_bytes, sdl_queue_bytes(p->queue));
        atomic_store(&p->stats->queue_full_usec, sdl_queue_full_usec(p->queue));
        const sdl_pipeline_config *lc = &live(p)->pipeline;
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
            ok = flush(p, &bt, sdl_batcher_due(&bt, sdl_now_monotonic_usec(), max_delay), err);
            poll_requests(p);
            continue;
        }
        last_contact = sdl_now_monotonic_usec(); /* work ahead: the batch tells */
        poll_requests(p);
        ok = take_item(p, &bt, it, last_contact, err);
        sdl_queue_item_free(it);
    }
    /* Stopping or draining: commit the complete transactions held (the open one is re-read
     * from the binlog after a restart). */
    if (ok && !p->abort_threads) {
        ok = flush(p, &bt, SDL_FLUSH_COMPLETE, err);
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

/* ---- the reader side ---------------------------------------------------------------------- */

/* A queue item of @c. Only a transaction's first item and its COMMIT carry the GTID (the
 * batcher reads it there); the rows between carry NULL, which spares a copy per row. */
static sdl_queue_item *
new_item(pipeline *p, sdl_queue_item_kind kind, const sdl_change *c)
{
    sdl_queue_item *it = sdl_xcalloc(1, sizeof(*it));

    it->kind = kind;
    if (kind == SDL_QUEUE_COMMIT || !p->txn_named) {
        it->gtid = sdl_xstrdup(c->pos.gtid ? c->pos.gtid : "");
    }
    p->txn_named = kind != SDL_QUEUE_COMMIT;
    it->seq = c->pos.seq;
    it->ts_sec = c->pos.ts_sec;
    return it;
}

static bool
push_doc(pipeline *p, sdl_queue_item_kind kind, const sdl_change *c, bson_t *doc)
{
    sdl_queue_item *it = new_item(p, kind, c);
    uint32_t len = 0;

    it->doc = bson_destroy_with_steal(doc, true, &len);
    it->doc_len = len;
    return sdl_queue_push(p->queue, it);
}

/* The @len bytes of a row document the mapper wrote into p->map_buf, copied once. */
static bool
push_row_bytes(pipeline *p, const sdl_change *c, const uint8_t *data, size_t len)
{
    sdl_queue_item *it = new_item(p, SDL_QUEUE_ROW, c);

    it->doc = sdl_xmalloc(len);
    memcpy(it->doc, data, len);
    it->doc_len = len;
    return sdl_queue_push(p->queue, it);
}

static bool
push_commit_progress(pipeline *p, const sdl_change *c, const bson_t *progress)
{
    sdl_queue_item *it = new_item(p, SDL_QUEUE_COMMIT, c);

    it->position = sdl_xstrdup(c->position ? c->position : "");
    it->binlog_file = sdl_xstrdup(c->pos.binlog_file ? c->pos.binlog_file : "");
    it->binlog_pos = c->pos.binlog_pos;
    if (progress) {
        it->snapshot = sdl_xmalloc(progress->len);
        memcpy(it->snapshot, bson_get_data(progress), progress->len);
        it->snapshot_len = progress->len;
    }
    return sdl_queue_push(p->queue, it);
}

static bool
push_commit(pipeline *p, const sdl_change *c)
{
    return push_commit_progress(p, c, NULL);
}

/* observability: the main thread logs the reader's error with SDL_GTID= and SDL_TABLE= */
static void
note_failure(pipeline *p, const sdl_change *c, const char *db, const char *table)
{
    (void)snprintf(p->fail_gtid, sizeof(p->fail_gtid), "%s", c->pos.gtid ? c->pos.gtid : "");
    (void)snprintf(p->fail_table, sizeof(p->fail_table), "%s.%s", db ? db : "", table ? table : "");
}

/* A change whose document is larger than a document may be (target.max_document_bytes,
 * within MongoDB's 16 MiB): a data error (DESIGN.md section 10). */
static void
too_large(pipeline *p, const sdl_change *c, const char *db, const char *table, uint32_t size,
          sdl_error *err)
{
    note_failure(p, c, db, table);
    sdl_error_set(err, SDL_E_DATA,
                  "row %" PRIu64 " of transaction %s in '%s.%s' (binlog '%s':%" PRIu64
                  ") maps to a document of %" PRIu32 " bytes, over the %" PRIu64
                  " bytes a document may have (target.max_document_bytes; MongoDB stores 16 MiB "
                  "at most, less what staging needs)",
                  c->pos.seq, c->pos.gtid ? c->pos.gtid : "", db ? db : "", table ? table : "",
                  c->pos.binlog_file ? c->pos.binlog_file : "", c->pos.binlog_pos, size,
                  live(p)->target.max_document_bytes);
}

/*
 * A row change: its document into the queue. A data error (a value that cannot be mapped, a
 * document over target.max_document_bytes) stops the reader with SDL_E_DATA, or with
 * pipeline.on_error: dead_letter puts the row's dead letter (dead-letter.h) in the queue
 * instead, committed with its batch. The transactions before a stop are committed (the writer
 * drains them); nothing of the stopping row's transaction is.
 */
static bool
reader_row(pipeline *p, const sdl_doc_mapper_options *mopts, const sdl_change *c, sdl_error *err)
{
    const char *db = c->row.table->db, *table = c->row.table->name;
    sdl_buf *buf = &p->map_buf;
    bool mapped = sdl_doc_mapper_row_bytes(mopts, &c->pos, &c->row, buf, err);
    sdl_dead_reason why;

    if (mapped && buf->len <= live(p)->target.max_document_bytes) {
        return push_row_bytes(p, c, buf->data, buf->len);
    }
    if (!mapped && err->code == SDL_E_CONFIG) {
        /* a column policy refuses the table (a dropped key column): stop, never dead-letter */
        return false;
    }
    bson_t doc_view, *doc = NULL; /* the mapped document, read where it is */
    if (mapped && bson_init_static(&doc_view, buf->data, buf->len)) {
        doc = &doc_view;
    }
    if (mapped) {
        too_large(p, c, db, table, (uint32_t)buf->len, err);
        why = SDL_DEAD_TOO_LARGE;
    } else {
        sdl_error_prefix(err, "mapping row %s:%" PRIu64 " of '%s.%s'", c->pos.gtid, c->pos.seq, db,
                         table);
        err->code = SDL_E_DATA; /* a value sdl cannot map: restarting cannot help */
        note_failure(p, c, db, table);
        why = SDL_DEAD_UNMAPPABLE;
    }
    if (live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        return false;
    }
    bson_t *dead = bson_new();
    const char *from = sdl_change_stream_position(p->stream);
    if (doc) {
        sdl_dead_letter_from_document(doc, why, err->message, from, now_ms(), dead);
    } else {
        sdl_dead_letter_from_row(mopts, &c->pos, &c->row, why, err->message, from, now_ms(), dead);
    }
    sdl_log_set_context(p->config->pipeline.name, p->fail_gtid, p->fail_table);
    log_warning_e(err, "Row %s:%" PRIu64 " set aside as a dead letter (%s)", c->pos.gtid,
                  c->pos.seq, sdl_dead_reason_name(why));
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    p->fail_gtid[0] = p->fail_table[0] = '\0';
    sdl_stats_dead_letter(p->stats, (int)why);
    sdl_error_clear(err);
    return push_doc(p, SDL_QUEUE_DEAD_LETTER, c, dead);
}

/* ---- the snapshot's hooks (DESIGN.md §9; daemon/snapshot.c) ---- */

/* The change stream's tap: the snapshot's, or, without one, the watermark table's rows
 * dropped (a stopped snapshot's watermarks are never row changes). */
static bool
snapshot_tap(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos)
{
    pipeline *p = ctx;

    if (p->snapshot) {
        return sdl_snapshot_row_tap(p->snapshot, row, pos);
    }
    return sdl_snapshot_is_watermark(p->config, row->table);
}

static bool
snapshot_step_attempt(void *arg, sdl_error *err)
{
    pipeline *p = arg;

    return sdl_snapshot_step(p->snapshot, live(p)->pipeline.batch_max_rows, err);
}

static void snapshot_status(pipeline *p);

typedef struct serve_op {
    pipeline *p;
    const uint8_t *requests;
    size_t len;
} serve_op;

static bool
serve_attempt(void *arg, sdl_error *err)
{
    serve_op *o = arg;

    return sdl_snapshot_serve(o->p->snapshot, live(o->p), o->requests, o->len, err);
}

/* The requests the writer handed over (poll_requests()), served on this thread. */
static bool
serve_requests(pipeline *p, sdl_error *err)
{
    serve_op o = {.p = p};
    uint8_t *req;
    bool ok;

    if (!atomic_load(&p->requests_ready)) {
        return true;
    }
    (void)pthread_mutex_lock(&p->requests_lock);
    req = p->requests; /* taken over: the writer may hand newer ones meanwhile */
    o.len = p->requests_len;
    p->requests = NULL;
    atomic_store(&p->requests_ready, false);
    (void)pthread_mutex_unlock(&p->requests_lock);
    o.requests = req;
    ok = with_retry(p, "serving a snapshot request", SDL_RETRY_SOURCE, serve_attempt, &o, err);
    free(req);
    snapshot_status(p);
    return ok;
}

/* observability: the snapshot's progress for STATUS= (the main thread reads it) */
static void
snapshot_status(pipeline *p)
{
    uint64_t tables, done;

    sdl_snapshot_tables(p->snapshot, &tables, &done);
    atomic_store(&p->stats->snapshot_tables, tables);
    atomic_store(&p->stats->snapshot_tables_done, done);
    (void)pthread_mutex_lock(&p->stats->lock);
    if (sdl_snapshot_pending(p->snapshot)) {
        sdl_snapshot_describe(p->snapshot, p->stats->snapshot, sizeof(p->stats->snapshot));
    } else {
        p->stats->snapshot[0] = '\0';
    }
    (void)pthread_mutex_unlock(&p->stats->lock);
}

/* The COMMIT of the high watermark's transaction: the chunk's rows go into it (the keys
 * changed in the window left out), at most half a batch's bytes, then the COMMIT with the
 * snapshot's progress (one batch: DESIGN.md §9). */
static bool
snapshot_emit(pipeline *p, const sdl_doc_mapper_options *mopts, const sdl_change *c, sdl_error *err)
{
    size_t n = sdl_snapshot_chunk_size(p->snapshot), covered = 0, emitted = 0, bytes = 0;
    const char *id;
    int64_t chunk, read_sec;
    const bson_t *progress;
    sdl_change rc = *c;

    sdl_snapshot_chunk_info(p->snapshot, &id, &chunk, &read_sec);
    sdl_doc_snapshot snap = {id, chunk};
    rc.kind = SDL_CHANGE_ROW;
    rc.pos.ts_sec = read_sec;
    for (; covered < n; covered++) {
        if (!sdl_snapshot_chunk_row(p->snapshot, covered, &rc.row)) {
            continue; /* changed inside the window: the binlog's images carry it */
        }
        rc.pos.seq = c->pos.seq + emitted + 1;
        if (!sdl_doc_mapper_snapshot_bytes(mopts, &rc.pos, &rc.row, &snap, &p->map_buf, err)) {
            sdl_error_prefix(err, "snapshot of '%s.%s'", rc.row.table->db, rc.row.table->name);
            err->code = err->code == SDL_E_CONFIG ? SDL_E_CONFIG : SDL_E_DATA;
            return false;
        }
        size_t len = p->map_buf.len;
        if (len > live(p)->target.max_document_bytes) {
            too_large(p, &rc, rc.row.table->db, rc.row.table->name, (uint32_t)len, err);
            return false;
        }
        if (emitted && bytes + len > live(p)->pipeline.batch_max_bytes / 2) {
            break; /* the next chunk starts at this row: never a split chunk */
        }
        bytes += len;
        if (!push_row_bytes(p, &rc, p->map_buf.data, len)) {
            return false;
        }
        emitted++;
    }
    sdl_snapshot_chunk_done(p->snapshot, covered, emitted, &progress);
    snapshot_status(p);
    if (!push_commit_progress(p, c, progress)) {
        return false;
    }
    return true;
}

/* observability: the stream's counters, for /metrics (the stream is this thread's) */
static void
publish_source_counters(pipeline *p)
{
    sdl_change_stream_counters c;

    sdl_change_stream_counts(p->stream, &c);
    atomic_store(&p->stats->source_events, c.events);
    atomic_store(&p->stats->source_bytes, c.bytes);
    atomic_store(&p->stats->source_rows, c.rows);
    atomic_store(&p->stats->source_rows_filtered, c.rows_filtered);
    atomic_store(&p->stats->source_reconnects, c.reconnects);
}

static void *
reader_main(void *arg)
{
    pipeline *p = arg;
    sdl_error *err = &p->reader_err;
    sdl_doc_mapper_options mopts = {0};
    bool ok = true;

    sdl_log_set_context(p->config->pipeline.name, NULL, NULL); /* observability */
    atomic_store(&p->stats->reader_state, SDL_WORKER_RUNNING);
    atomic_store(&p->stats->source_up, true);
    while (ok && !stopping(p)) {
        sdl_change c;
        if (!serve_requests(p, err) || (sdl_snapshot_pending(p->snapshot) &&
                                        !with_retry(p, "reading a snapshot chunk", SDL_RETRY_SOURCE,
                                                    snapshot_step_attempt, p, err))) {
            ok = false;
            break;
        }
        if (!sdl_change_stream_next(p->stream, &c, err)) {
            ok = false;
            break;
        }
        sdl_stats_progress(p->stats);
        publish_source_counters(p);
        if (c.notice) {
            log_warning("Lost the source connection: %s", c.notice);
            sdl_stats_retry(p->stats, SDL_RETRY_SOURCE);
        }
        switch (c.kind) {
        case SDL_CHANGE_ROW:
            /* the column policies of the transaction's configuration (a reload applies from
             * the next transaction, as the stream's table filters do) */
            sdl_column_policy_follow(&mopts.columns, sdl_change_stream_config(p->stream));
            ok = reader_row(p, &mopts, &c, err);
            break;
        case SDL_CHANGE_DDL: {
            bson_t *doc = bson_new();
            if (!sdl_doc_mapper_ddl(&mopts, &c.pos, c.ddl_db, c.ddl_table,
                                    (const char *)c.ddl_statement.ptr, c.ddl_statement.len, doc,
                                    err)) {
                bson_destroy(doc);
                ok = false;
                break;
            }
            if (doc->len > live(p)->target.max_document_bytes) {
                too_large(p, &c, c.ddl_db, c.ddl_table, doc->len, err);
                bson_destroy(doc);
                ok = false;
                break;
            }
            /* its transaction's COMMIT follows (after the rows of a CREATE TABLE ... SELECT) */
            ok = push_doc(p, SDL_QUEUE_DDL, &c, doc);
            break;
        }
        case SDL_CHANGE_COMMIT:
            if (p->snapshot && sdl_snapshot_at_commit(p->snapshot, c.pos.gtid)) {
                sdl_column_policy_follow(&mopts.columns, sdl_change_stream_config(p->stream));
                ok = snapshot_emit(p, &mopts, &c, err);
            } else {
                ok = push_commit(p, &c);
            }
            break;
        case SDL_CHANGE_STATEMENT: /* never without opts.statements_as_changes */
            sdl_error_set(err, SDL_E_INVALID, "a statement change in sdl run");
            ok = false;
            break;
        case SDL_CHANGE_IDLE:
            break;
        case SDL_CHANGE_END:
            ok = false;
            sdl_error_set(err, SDL_E_CANCELLED, "end of stream");
            break;
        }
        if (!ok && stopping(p) && err->code == SDL_E_OK) {
            sdl_error_set(err, SDL_E_CANCELLED, "stopped");
        }
    }
    if (!ok && err->code != SDL_E_CANCELLED && !stopping(p)) {
        p->reader_failed = true;
    }
    mopts.columns = sdl_column_policy_free(mopts.columns);
    sdl_buf_done(&p->map_buf);
    /* The writer drains what was queued (complete transactions get committed) and ends. */
    sdl_queue_close(p->queue);
    atomic_store(&p->stats->reader_state, SDL_WORKER_STOPPED);
    atomic_store(&p->stats->source_up, false);
    atomic_store(&p->reader_done, true);
    return NULL;
}

/* ---- start-up ----------------------------------------------------------------------------- */

static bool
open_writer_attempt(void *arg, sdl_error *err)
{
    pipeline *p = arg;
    const char *notice;
    bool warning = false;

    if (!sdl_mongo_writer_open(&p->config->target, p->config->pipeline.name, &p->writer, err)) {
        return false;
    }
    /* target.retention and the ts index (mongo-writer.h) */
    if ((notice = sdl_mongo_writer_notice(p->writer, &warning)) != NULL) {
        if (warning) {
            log_warning("%s", notice);
        } else {
            log_notice("%s", notice);
        }
    }
    return true;
}

/* DESIGN.md §3.4, through the sink seam (recovery.c). */
static bool
recover(pipeline *p, sdl_error *err)
{
    sdl_recovery_env env = {
        .commit = p->commit,
        .pipeline = p->config->pipeline.name,
        .start = p->config->pipeline.start,
    };
    sdl_recovery rec;

    if (!sdl_recover(&env, &rec, err)) {
        return false;
    }
    sdl_offset_done(&p->offset);
    p->offset = rec.offset; /* taken over */
    p->limit_rows = rec.limit_rows;
    p->limit_bytes = rec.limit_bytes;
    return true;
}

static bool
init_offset_attempt(void *arg, sdl_error *err)
{
    pipeline *p = arg;

    return sdl_sink_init_offset(&p->sink, &p->offset, err);
}

typedef struct stream_op {
    pipeline *p;
    const sdl_change_stream_options *options;
} stream_op;

static bool
open_stream_attempt(void *arg, sdl_error *err)
{
    stream_op *o = arg;

    return sdl_change_stream_open(o->options, &o->p->stream, err);
}

/*
 * SIGHUP: reads the configuration file again. Keys marked reloadable (batch, retry, table
 * filters, log level) take effect at once (the filters from the next source transaction);
 * a file that does not load, or that changes any other key, is refused with a logged error
 * and the running configuration stays in force. systemd sees RELOADING=1 … READY=1.
 */
static void
reload(pipeline *p)
{
    sdl_config *next = NULL;
    sdl_error err = SDL_ERROR_INIT;

    sdl_notify_reloading();
    log_notice("Reloading the configuration from %s", p->config_path);
    sdl_config_load_options opts = {.credentials_dir = p->config->credentials_dir};
    if (!sdl_config_load_opts(p->config_path, &opts, &next, &err) ||
        !sdl_config_check_reload(p->config, next, &err)) {
        log_error_e(&err, "Reload refused, the running configuration stays in force");
        (void)sdl_config_free(next);
    } else {
        p->retired = sdl_xrealloc(p->retired, (p->nretired + 1) * sizeof(*p->retired));
        p->retired[p->nretired++] = next;
        sdl_log_set_level(next->log.level);
        sdl_log_set_format(next->log.format);
        atomic_store(&p->live, next);
        log_notice("Configuration reloaded (batch max_rows %" PRIu64 ", max_delay %" PRIu64
                   " ms; %zu include and %zu exclude patterns)",
                   next->pipeline.batch_max_rows, next->pipeline.batch_max_delay_usec / 1000u,
                   next->tables.ninclude, next->tables.nexclude);
    }
    sdl_notify_ready();
}

/*
 * The main thread while the workers run: READY=1 once, STATUS= every few seconds, and
 * WATCHDOG=1 only while the pipeline shows progress (a change read, a writer loop turn, a
 * commit, a backoff step) within the watchdog interval, so a stuck pipeline is restarted by
 * systemd even though this thread is fine.
 */
static void
supervise(pipeline *p)
{
    uint64_t watchdog = sdl_notify_watchdog_usec();
    uint64_t last_status = 0;
    uint64_t last_rows = atomic_load(&p->stats->rows_applied);
    bool stopping_sent = false;

    atomic_store(&p->stats->ready, true);
    sdl_notify_ready();
    while (!atomic_load(&p->reader_done) || !atomic_load(&p->writer_done)) {
        uint64_t now = sdl_now_monotonic_usec();
        if (p->reload && *p->reload && !*p->stop) {
            *p->reload = 0;
            reload(p);
        }
        if (*p->stop && !stopping_sent) {
            log_notice("Stopping: finishing the current batch");
            sdl_notify_stopping();
            stopping_sent = true;
        }
        if (watchdog && now - atomic_load(&p->stats->last_progress_usec) < watchdog) {
            sdl_notify_watchdog();
        }
        if (now - last_status >= 5 * SDL_USEC_PER_SEC) {
            char position[256];
            uint64_t rows = atomic_load(&p->stats->rows_applied);
            double secs = last_status ? (double)(now - last_status) / 1e6 : 1.0;
            char snap[sizeof(p->stats->snapshot)];
            sdl_stats_position(p->stats, position, sizeof(position), NULL, 0, NULL);
            (void)pthread_mutex_lock(&p->stats->lock);
            memcpy(snap, p->stats->snapshot, sizeof(snap));
            (void)pthread_mutex_unlock(&p->stats->lock);
            sdl_notify_status("Replicating: lag %.1fs, %.0f rows/s, %llu rows applied, GTID %s%s%s",
                              (double)sdl_stats_lag_usec(p->stats) / 1e6,
                              (double)(rows - last_rows) / secs, (unsigned long long)rows,
                              position[0] ? position : p->offset.gtid,
                              snap[0] ? "; snapshot: " : "", snap);
            last_rows = rows;
            last_status = now;
        }
        /* a stop request ends the sleep: STOPPING=1 goes out while the workers wind down */
        sdl_sleep_usec(SDL_MIN(watchdog ? watchdog / 4 : SDL_USEC_PER_SEC, SDL_USEC_PER_SEC) / 2,
                       stopping_sent ? NULL : p->stop);
    }
    if (*p->stop && !stopping_sent) {
        /* the workers finished within this thread's sleep: still say so, as systemd expects */
        log_notice("Stopping: finishing the current batch");
        sdl_notify_stopping();
    }
    atomic_store(&p->stats->ready, false);
}

bool
sdl_pipeline_run(const sdl_config *config, const sdl_pipeline_control *control, sdl_error *err)
{
    const volatile int *stop = control->stop;
    pipeline p;
    pthread_t reader;
    pthread_t writer;
    bool ok = false;

    memset(&p, 0, sizeof(p));
    (void)pthread_mutex_init(&p.requests_lock, NULL);
    p.config = config;
    atomic_store(&p.live, config);
    p.stop = stop;
    p.reload = control->reload;
    p.config_path = control->config_path;
    p.stats = sdl_stats_global();
    (void)snprintf(p.stats->pipeline, sizeof(p.stats->pipeline), "%s", config->pipeline.name);
    atomic_store(&p.stats->writer_state, SDL_WORKER_RECOVERING);
    sdl_stats_progress(p.stats);
    sdl_error_clear(&p.reader_err);
    sdl_error_clear(&p.writer_err);

    log_info("Connecting to the target (%s)",
             config->target.uri_origin ? config->target.uri_origin : "uri");
    if (!with_retry(&p, "connecting to the target", SDL_RETRY_TARGET_CONNECT, open_writer_attempt,
                    &p, err)) {
        goto out;
    }
    p.sink = sdl_mongo_writer_sink(p.writer);
    p.mirror = sdl_mirror_new(config); /* pipeline.modes: read at start-up only */
    p.commit = (sdl_commit_env){
        .sink = &p.sink,
        .retry = retry_hook,
        .dead_letter = dead_letter_hook,
        .begin = begin_hook,
        .staged = staged_hook,
        .committed = committed_hook,
        .plan = p.mirror ? plan_hook : NULL,
        .ctx = &p,
    };
    {
        /* the lease every commit renews: `sdl offset set` refuses while it holds */
        char host[256], holder[300];
        if (gethostname(host, sizeof(host)) != 0) {
            (void)snprintf(host, sizeof(host), "?");
        }
        host[sizeof(host) - 1] = '\0';
        (void)snprintf(holder, sizeof(holder), "%s:%ld", host, (long)getpid());
        sdl_mongo_writer_set_holder(p.writer, holder);
    }
    if (!recover(&p, err)) {
        goto out;
    }
    if (p.offset.partial_gtid) {
        p.resume_split_gtid = sdl_xstrdup(p.offset.partial_gtid);
        p.resume_split_seq = p.offset.partial_seq;
    }
    sdl_change_stream_options so = {
        .config = config,
        .pipeline = config->pipeline.name,
        .from = p.offset.gtid ? p.offset.gtid : config->pipeline.start,
        .until = NULL,
        .reconnect = true,
        .from_flavor = p.offset.flavor, /* a MySQL position never goes to a MariaDB server */
        .skip_gtid = p.resume_split_gtid,
        .skip_rows = p.resume_split_gtid ? p.resume_split_seq : 0,
        .stop = stop,
        .live_config = &p.live,           /* SIGHUP: new table filters from the next transaction */
        .connected = &p.stats->source_up, /* observability: /health/ready, sdl_source_up */
        .read_ahead_bytes = SDL_BINLOG_READ_AHEAD, /* receive while this thread decodes */
        .row_tap = snapshot_tap, /* the snapshot's watermarks and windows (DESIGN.md §9) */
        .row_tap_ctx = &p,
    };
    stream_op sop = {.p = &p, .options = &so};
    if (!with_retry(&p, "connecting to the source", SDL_RETRY_SOURCE, open_stream_attempt, &sop,
                    err)) {
        goto out;
    }
    p.flavor = sdl_xstrdup(sdl_change_stream_flavor(p.stream));
    if (!p.offset.gtid) {
        /* First start: the offset begins where the stream begins, stored as batch 0 before
         * anything is read (or READY=1 sent), so a crash before the first commit resumes
         * there and not at a new "now", and batch 1 is fenced like every other. */
        p.offset.gtid = sdl_xstrdup(sdl_change_stream_start_position(p.stream));
        p.offset.flavor = sdl_xstrdup(p.flavor);
        if (strcmp(config->pipeline.start, "snapshot") == 0) {
            /* the tables to snapshot, listed now: their progress goes into batch 0 */
            bson_t *plan = NULL;
            if (!sdl_snapshot_plan(config, &plan, err)) {
                goto out;
            }
            sdl_offset_set_snapshot(&p.offset, bson_get_data(plan), plan->len);
            bson_destroy(plan);
        }
        if (!with_retry(&p, "storing the start position", SDL_RETRY_TARGET_CONNECT,
                        init_offset_attempt, &p, err)) {
            goto out;
        }
        log_notice("First start of pipeline '%s': its start position '%s' is stored as batch 0",
                   config->pipeline.name, p.offset.gtid);
    }
    log_notice("Replicating after GTID position '%s' into the target (batch %" PRIu64 " next)",
               p.offset.gtid, p.offset.batch + 1);
    p.snapshot = sdl_snapshot_new(config, p.offset.snapshot, p.offset.snapshot_len);
    if (sdl_snapshot_pending(p.snapshot)) {
        char what[512];
        sdl_snapshot_describe(p.snapshot, what, sizeof(what));
        log_notice("Snapshot in progress: %s", what);
    }
    snapshot_status(&p);
    atomic_store(&p.stats->target_up, true);
    (void)pthread_mutex_lock(&p.stats->lock);
    (void)snprintf(p.stats->position, sizeof(p.stats->position), "%s", p.offset.gtid);
    (void)pthread_mutex_unlock(&p.stats->lock);

    p.queue = sdl_queue_new(config->pipeline.queue_bytes);
    atomic_store(&p.stats->queue_capacity, config->pipeline.queue_bytes);
    if (pthread_create(&writer, NULL, writer_main, &p) != 0) {
        sdl_error_set(err, SDL_E_IO, "cannot start the writer thread");
        goto out;
    }
    if (pthread_create(&reader, NULL, reader_main, &p) != 0) {
        p.abort_threads = 1;
        sdl_queue_close(p.queue);
        (void)pthread_join(writer, NULL);
        sdl_error_set(err, SDL_E_IO, "cannot start the reader thread");
        goto out;
    }
    supervise(&p);
    (void)pthread_join(reader, NULL);
    if (p.reader_failed) {
        /* The writer committed what was complete before it stopped. */
        if (p.fail_table[0]) { /* observability: journal fields of the failing row */
            sdl_log_set_context(config->pipeline.name, p.fail_gtid, p.fail_table);
        }
        log_error_e(&p.reader_err, "Reading the binlog failed");
    }
    (void)pthread_join(writer, NULL);
    if (p.writer_failed) {
        *err = p.writer_err;
        goto out;
    }
    if (p.reader_failed) {
        *err = p.reader_err;
        goto out;
    }
    ok = true;
out:
    if (p.writer) {
        sdl_error lerr = SDL_ERROR_INIT;
        if (!sdl_sink_renew_lease(&p.sink, true, &lerr)) {
            log_debug_e(&lerr, "Releasing the lease");
        }
    }
    if (ok) {
        log_notice("Stopped at batch %" PRIu64 ", GTID position '%s'", p.offset.batch,
                   p.offset.gtid ? p.offset.gtid : "");
    }
    (void)sdl_change_stream_free(p.stream);
    (void)sdl_mongo_writer_free(p.writer);
    sdl_mirror_free(p.mirror);
    (void)sdl_snapshot_free(p.snapshot);
    free(p.requests);
    free(p.requests_seen);
    (void)pthread_mutex_destroy(&p.requests_lock);
    (void)sdl_queue_free(p.queue);
    sdl_offset_done(&p.offset);
    free(p.flavor);
    free(p.resume_split_gtid);
    free(p.held_ops);
    for (size_t i = 0; i < p.nretired; i++) {
        (void)sdl_config_free(p.retired[i]);
    }
    free(p.retired);
    if (!ok && err->code == SDL_E_CANCELLED && *stop) {
        return true; /* a stop while waiting is a clean stop */
    }
    return ok;
}
