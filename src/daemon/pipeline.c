/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/daemon/notify.h"
#include "sdl/daemon/stats.h"
#include "sdl/mapping/doc-mapper.h"
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

    sdl_offset offset;       /* last committed offset (writer thread after start) */
    char *resume_split_gtid; /* the offset's partial transaction, if any */
    uint64_t resume_split_seq;

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
} pipeline;

/* The configuration in force for the reloadable keys (batch, retry, tables, log). */
static const sdl_config *
live(pipeline *p)
{
    return atomic_load(&p->live);
}

static bool
stopping(const pipeline *p)
{
    return *p->stop || p->abort_threads;
}

/* ---- retries ------------------------------------------------------------------------------ */

typedef bool (*attempt_fn)(pipeline *p, void *arg, sdl_error *err);

/*
 * Runs @fn until it succeeds, a permanent error occurs, or transient errors have lasted
 * longer than pipeline.retry.give_up_after. Backoff: initial doubling to max, with jitter.
 * Returns false with err->code SDL_E_CANCELLED when a stop was requested while waiting.
 */
static bool
with_retry(pipeline *p, const char *what, sdl_retry_reason reason, attempt_fn fn, void *arg,
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
        if (fn(p, arg, err)) {
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

typedef struct batcher {
    sdl_batch batch;        /* documents of the batch being built */
    size_t boundary_ndocs;  /* documents up to the last complete transaction */
    uint64_t boundary_rows; /* row documents among them */
    size_t boundary_bytes;
    bool have_boundary;     /* a transaction ended since the last flush */
    uint64_t boundary_txns; /* source transactions that ended since the last flush */
    sdl_offset boundary;    /* offset after that transaction */
    uint64_t started_usec;  /* when the first item of the batch arrived (0: empty) */
    char *open_gtid;        /* transaction whose rows follow the boundary (NULL: none) */
    bool open_split;        /* that transaction is split across batches */
    uint64_t open_last_seq; /* seq of its last document in the batch */
    uint64_t open_docs;     /* its documents in the batch */
    bool ddl_open;          /* the open transaction is a DDL: flush when it ends */
} batcher;

static bool
stage_attempt(pipeline *p, void *arg, sdl_error *err)
{
    return sdl_mongo_writer_stage(p->writer, arg, err);
}

static bool
commit_attempt(pipeline *p, void *arg, sdl_error *err)
{
    return sdl_mongo_writer_commit(p->writer, arg, err);
}

/* Stages and commits @b (its offset_after already set), then advances p->offset. */
static bool
write_batch(pipeline *p, sdl_batch *b, uint64_t txns, sdl_error *err)
{
    char what[96];

    (void)snprintf(what, sizeof(what), "staging batch %" PRIu64, b->number);
    sdl_log_set_context(p->config->pipeline.name, b->last_gtid, NULL); /* observability */
    uint64_t t0 = sdl_now_monotonic_usec();
    if (!with_retry(p, what, SDL_RETRY_STAGE, stage_attempt, b, err)) {
        return false;
    }
    atomic_store(&p->stats->staged_batches, 1);
    sdl_failpoint("writer.after_stage");
    (void)snprintf(what, sizeof(what), "committing batch %" PRIu64, b->number);
    if (!with_retry(p, what, SDL_RETRY_COMMIT, commit_attempt, b, err)) {
        return false;
    }
    sdl_failpoint("writer.after_commit");
    atomic_store(&p->stats->staged_batches, 0);
    sdl_stats_commit(p->stats, b->rows, txns, sdl_now_monotonic_usec() - t0,
                     b->offset_after.source_ts_sec, b->offset_after.gtid,
                     b->offset_after.binlog_file, b->offset_after.binlog_pos);
    sdl_offset_done(&p->offset);
    sdl_offset_copy(&p->offset, &b->offset_after);
    log_debug("Committed batch %" PRIu64 ": %zu documents, offset %s", b->number, b->ndocs,
              b->offset_after.gtid ? b->offset_after.gtid : "");
    return true;
}

/* Moves the first @ndocs documents of the batcher into a batch with offset @after and
 * writes it; the remaining documents stay for the next batch. */
static bool
flush_prefix(pipeline *p, batcher *bt, size_t ndocs, uint64_t rows, uint64_t txns,
             const sdl_offset *after, sdl_error *err)
{
    sdl_batch out;
    bool ok;

    sdl_batch_init(&out);
    out.number = p->offset.batch + 1;
    for (size_t i = 0; i < ndocs; i++) {
        sdl_batch_add(&out, bt->batch.docs[i], false);
        bt->batch.docs[i] = NULL;
    }
    out.rows = rows;
    sdl_offset_copy(&out.offset_after, after);
    out.offset_after.batch = out.number;
    out.offset_after.rows_applied = p->offset.rows_applied + rows;
    if (!out.offset_after.flavor && p->offset.flavor) {
        out.offset_after.flavor = sdl_xstrdup(p->offset.flavor);
    }
    ok = write_batch(p, &out, txns, err);
    sdl_batch_done(&out);

    /* keep the rest */
    size_t rest = bt->batch.ndocs - ndocs;
    size_t rest_bytes = 0;
    memmove(bt->batch.docs, bt->batch.docs + ndocs, rest * sizeof(bson_t *));
    for (size_t i = 0; i < rest; i++) {
        rest_bytes += bt->batch.docs[i]->len;
    }
    bt->batch.ndocs = rest;
    bt->batch.bytes = rest_bytes;
    bt->batch.rows -= SDL_MIN(bt->batch.rows, rows);
    bt->boundary_ndocs = 0;
    bt->boundary_rows = 0;
    bt->boundary_bytes = 0;
    bt->boundary_txns = 0;
    bt->have_boundary = false;
    bt->started_usec = rest ? sdl_now_monotonic_usec() : 0;
    return ok;
}

/* Commits everything up to the last complete transaction. */
static bool
flush_complete(pipeline *p, batcher *bt, sdl_error *err)
{
    if (!bt->have_boundary) {
        return true;
    }
    return flush_prefix(p, bt, bt->boundary_ndocs, bt->boundary_rows, bt->boundary_txns,
                        &bt->boundary, err);
}

/* The open transaction alone exceeds the batch limits: commit its rows so far as a part,
 * with a partial offset (position still before the transaction). */
static bool
flush_split(pipeline *p, batcher *bt, sdl_error *err)
{
    sdl_offset after;
    bool ok;

    /* Every row of a split transaction carries split: true, including those of this part. */
    if (!bt->open_split) {
        for (size_t i = bt->batch.ndocs - bt->open_docs; i < bt->batch.ndocs; i++) {
            BSON_APPEND_BOOL(bt->batch.docs[i], "split", true);
        }
        bt->open_split = true;
    }
    memset(&after, 0, sizeof(after));
    sdl_offset_copy(&after, &p->offset);
    free(after.partial_gtid);
    after.partial_gtid = sdl_xstrdup(bt->open_gtid);
    after.partial_seq = bt->open_last_seq;
    ok = flush_prefix(p, bt, bt->batch.ndocs, bt->batch.rows, 0, &after, err);
    sdl_offset_done(&after);
    bt->open_docs = 0;
    return ok;
}

static bool
batch_full(pipeline *p, const batcher *bt)
{
    const sdl_pipeline_config *pc = &live(p)->pipeline;

    return bt->batch.ndocs >= pc->batch_max_rows || bt->batch.bytes >= pc->batch_max_bytes;
}

static bool
add_document(pipeline *p, batcher *bt, sdl_queue_item *it, sdl_error *err)
{
    bson_t *doc = bson_new_from_data(it->doc, it->doc_len);

    if (!doc) {
        sdl_error_set(err, SDL_E_INVALID, "corrupt document in the queue");
        return false;
    }
    if (!bt->open_gtid || strcmp(bt->open_gtid, it->gtid) != 0) {
        free(bt->open_gtid);
        bt->open_gtid = sdl_xstrdup(it->gtid);
        bt->open_docs = 0;
        bt->open_split = p->resume_split_gtid && strcmp(p->resume_split_gtid, it->gtid) == 0;
    }
    if (bt->open_split) {
        BSON_APPEND_BOOL(doc, "split", true);
    }
    if (!bt->started_usec) {
        bt->started_usec = sdl_now_monotonic_usec();
    }
    sdl_batch_add(&bt->batch, doc, it->kind == SDL_QUEUE_ROW);
    bt->open_docs++;
    bt->open_last_seq = it->seq;
    if (batch_full(p, bt)) {
        /* Close on a transaction boundary when there is one; split otherwise. */
        if (bt->have_boundary) {
            if (!flush_complete(p, bt, err)) {
                return false;
            }
        }
        if (batch_full(p, bt)) {
            return flush_split(p, bt, err);
        }
    }
    return true;
}

static void
end_transaction(pipeline *p, batcher *bt, const sdl_queue_item *it)
{
    sdl_offset_done(&bt->boundary);
    memset(&bt->boundary, 0, sizeof(bt->boundary));
    bt->boundary.flavor = p->offset.flavor ? sdl_xstrdup(p->offset.flavor) : NULL;
    bt->boundary.gtid = sdl_xstrdup(it->position ? it->position : "");
    bt->boundary.binlog_file = sdl_xstrdup(it->binlog_file ? it->binlog_file : "");
    bt->boundary.binlog_pos = it->binlog_pos;
    bt->boundary.source_ts_sec = it->ts_sec;
    bt->boundary_ndocs = bt->batch.ndocs;
    bt->boundary_rows = bt->batch.rows;
    bt->boundary_bytes = bt->batch.bytes;
    bt->boundary_txns++;
    bt->have_boundary = true;
    if (!bt->started_usec) {
        bt->started_usec = sdl_now_monotonic_usec();
    }
    free(bt->open_gtid);
    bt->open_gtid = NULL;
    bt->open_docs = 0;
    bt->open_split = false;
    if (p->resume_split_gtid && it->gtid && strcmp(p->resume_split_gtid, it->gtid) == 0) {
        free(p->resume_split_gtid);
        p->resume_split_gtid = NULL;
    }
}

/* While idle the writer pings the target every IDLE_PING_USEC, so sdl_target_up and
 * /health/ready notice a target that went away (or came back) without waiting for data. */
#define IDLE_PING_USEC (5 * SDL_USEC_PER_SEC)

static void
idle_ping(pipeline *p)
{
    sdl_error err = SDL_ERROR_INIT;
    bool up = sdl_mongo_writer_ping(p->writer, &err);

    if (up != atomic_load(&p->stats->target_up)) {
        if (up) {
            log_notice("The target answers again");
        } else {
            log_warning_e(&err, "The target does not answer (idle check)");
        }
        atomic_store(&p->stats->target_up, up);
    }
}

static void *
writer_main(void *arg)
{
    pipeline *p = arg;
    const sdl_pipeline_config *pc = &p->config->pipeline;
    uint64_t max_delay;
    uint64_t last_contact = sdl_now_monotonic_usec();
    batcher bt;
    sdl_error *err = &p->writer_err;
    bool closed = false;
    bool ok = true;

    memset(&bt, 0, sizeof(bt));
    sdl_batch_init(&bt.batch);
    sdl_log_set_context(pc->name, NULL, NULL); /* observability: SDL_PIPELINE= */
    atomic_store(&p->stats->writer_state, SDL_WORKER_RUNNING);
    while (ok && !p->abort_threads) {
        if (*p->stop) {
            break;
        }
        sdl_stats_progress(p->stats);
        atomic_store(&p->stats->queue_bytes, sdl_queue_bytes(p->queue));
        max_delay = live(p)->pipeline.batch_max_delay_usec;
        uint64_t wait = 200 * SDL_USEC_PER_MSEC;
        if (bt.started_usec && bt.have_boundary) {
            uint64_t age = sdl_now_monotonic_usec() - bt.started_usec;
            wait = age >= max_delay ? 0 : max_delay - age;
        }
        sdl_queue_item *it = sdl_queue_pop(p->queue, wait, &closed);
        atomic_store(&p->stats->caught_up, !it && bt.batch.ndocs == 0 && !bt.have_boundary);
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
            if (bt.have_boundary && bt.started_usec &&
                sdl_now_monotonic_usec() - bt.started_usec >= max_delay) {
                ok = flush_complete(p, &bt, err);
            }
            continue;
        }
        last_contact = sdl_now_monotonic_usec(); /* work ahead: the batch tells */
        switch (it->kind) {
        case SDL_QUEUE_DDL:
            /* A DDL is its own batch: what came before is committed first. */
            ok = flush_complete(p, &bt, err);
            if (ok) {
                ok = add_document(p, &bt, it, err);
                bt.ddl_open = true;
            }
            break;
        case SDL_QUEUE_ROW:
            ok = add_document(p, &bt, it, err);
            break;
        case SDL_QUEUE_COMMIT: {
            bool ddl = bt.ddl_open;
            bt.ddl_open = false;
            end_transaction(p, &bt, it);
            if (ddl || batch_full(p, &bt)) {
                ok = flush_complete(p, &bt, err);
            }
            break;
        }
        }
        sdl_queue_item_free(it);
    }
    /* Stopping or draining: commit the complete transactions held (the open one is re-read
     * from the binlog after a restart). */
    if (ok && !p->abort_threads) {
        ok = flush_complete(p, &bt, err);
    }
    if (!ok && err->code != SDL_E_CANCELLED) {
        p->writer_failed = true;
        p->abort_threads = 1;
    }
    sdl_offset_done(&bt.boundary);
    free(bt.open_gtid);
    sdl_batch_done(&bt.batch);
    sdl_queue_close(p->queue);
    atomic_store(&p->stats->writer_state, SDL_WORKER_STOPPED);
    atomic_store(&p->writer_done, true);
    return NULL;
}

/* ---- the reader side ---------------------------------------------------------------------- */

static sdl_queue_item *
new_item(sdl_queue_item_kind kind, const sdl_change *c)
{
    sdl_queue_item *it = sdl_xcalloc(1, sizeof(*it));

    it->kind = kind;
    it->gtid = sdl_xstrdup(c->pos.gtid ? c->pos.gtid : "");
    it->seq = c->pos.seq;
    it->ts_sec = c->pos.ts_sec;
    return it;
}

static bool
push_doc(pipeline *p, sdl_queue_item_kind kind, const sdl_change *c, bson_t *doc)
{
    sdl_queue_item *it = new_item(kind, c);
    uint32_t len = 0;

    it->doc = bson_destroy_with_steal(doc, true, &len);
    it->doc_len = len;
    return sdl_queue_push(p->queue, it);
}

static bool
push_commit(pipeline *p, const sdl_change *c)
{
    sdl_queue_item *it = new_item(SDL_QUEUE_COMMIT, c);

    it->position = sdl_xstrdup(c->position ? c->position : "");
    it->binlog_file = sdl_xstrdup(c->pos.binlog_file ? c->pos.binlog_file : "");
    it->binlog_pos = c->pos.binlog_pos;
    return sdl_queue_push(p->queue, it);
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
        if (!sdl_change_stream_next(p->stream, &c, err)) {
            ok = false;
            break;
        }
        sdl_stats_progress(p->stats);
        if (c.notice) {
            log_warning("Lost the source connection: %s", c.notice);
            sdl_stats_retry(p->stats, SDL_RETRY_SOURCE);
        }
        switch (c.kind) {
        case SDL_CHANGE_ROW: {
            bson_t *doc = bson_new();
            if (!sdl_doc_mapper_row(&mopts, &c.pos, &c.row, doc, err)) {
                sdl_error_prefix(err, "mapping row %s:%" PRIu64 " of '%s.%s'", c.pos.gtid,
                                 c.pos.seq, c.row.table->db, c.row.table->name);
                /* observability: the main thread logs this error with SDL_TABLE= */
                (void)snprintf(p->fail_gtid, sizeof(p->fail_gtid), "%s",
                               c.pos.gtid ? c.pos.gtid : "");
                (void)snprintf(p->fail_table, sizeof(p->fail_table), "%s.%s", c.row.table->db,
                               c.row.table->name);
                bson_destroy(doc);
                ok = false;
                break;
            }
            ok = push_doc(p, SDL_QUEUE_ROW, &c, doc);
            break;
        }
        case SDL_CHANGE_DDL: {
            bson_t *doc = bson_new();
            if (!sdl_doc_mapper_ddl(&mopts, &c.pos, c.ddl_db, c.ddl_table,
                                    (const char *)c.ddl_statement.ptr, c.ddl_statement.len, doc,
                                    err)) {
                bson_destroy(doc);
                ok = false;
                break;
            }
            if (push_doc(p, SDL_QUEUE_DDL, &c, doc)) {
                /* a DDL is a transaction of its own: its end follows at once */
                c.pos.seq = 1;
                ok = push_commit(p, &c);
            } else {
                ok = false;
            }
            break;
        }
        case SDL_CHANGE_COMMIT:
            ok = push_commit(p, &c);
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
    /* The writer drains what was queued (complete transactions get committed) and ends. */
    sdl_queue_close(p->queue);
    atomic_store(&p->stats->reader_state, SDL_WORKER_STOPPED);
    atomic_store(&p->stats->source_up, false);
    atomic_store(&p->reader_done, true);
    return NULL;
}

/* ---- start-up ----------------------------------------------------------------------------- */

static bool
open_writer_attempt(pipeline *p, void *arg, sdl_error *err)
{
    (void)arg;
    return sdl_mongo_writer_open(&p->config->target, p->config->pipeline.name, &p->writer, err);
}

static bool
load_offset_attempt(pipeline *p, void *arg, sdl_error *err)
{
    bool *found = arg;

    sdl_offset_done(&p->offset);
    return sdl_mongo_writer_load_offset(p->writer, &p->offset, found, err);
}

typedef struct staged_arg {
    uint64_t number;
    sdl_staged_batch *list;
    size_t count;
} staged_arg;

static bool
list_staged_attempt(pipeline *p, void *arg, sdl_error *err)
{
    staged_arg *a = arg;

    free(a->list);
    a->list = NULL;
    return sdl_mongo_writer_list_staged(p->writer, &a->list, &a->count, err);
}

static bool
delete_staged_attempt(pipeline *p, void *arg, sdl_error *err)
{
    return sdl_mongo_writer_delete_staged(p->writer, ((staged_arg *)arg)->number, err);
}

typedef struct load_arg {
    uint64_t number;
    sdl_batch *batch;
} load_arg;

static bool
load_staged_attempt(pipeline *p, void *arg, sdl_error *err)
{
    load_arg *a = arg;

    sdl_batch_done(a->batch);
    sdl_batch_init(a->batch);
    return sdl_mongo_writer_load_staged(p->writer, a->number, a->batch, err);
}

/*
 * DESIGN.md §3, recovery: every staged batch the offset covers is deleted; a batch with a
 * missing part (a crash while staging) is deleted with everything after it (its rows are
 * read again from the binlog); the next complete batches are committed in order.
 */
static bool
recover(pipeline *p, sdl_error *err)
{
    staged_arg sa = {0, NULL, 0};
    bool found = false;
    bool ok = false;
    bool discard_rest = false;

    if (!with_retry(p, "loading the offset", SDL_RETRY_TARGET_CONNECT, load_offset_attempt, &found,
                    err) ||
        !with_retry(p, "listing staged batches", SDL_RETRY_TARGET_CONNECT, list_staged_attempt, &sa,
                    err)) {
        goto out;
    }
    if (found) {
        log_info("Offset of pipeline '%s': batch %" PRIu64 ", GTID position '%s'%s%s",
                 p->config->pipeline.name, p->offset.batch, p->offset.gtid,
                 p->offset.partial_gtid ? ", inside split transaction " : "",
                 p->offset.partial_gtid ? p->offset.partial_gtid : "");
    }
    for (size_t i = 0; i < sa.count; i++) {
        sdl_staged_batch *sb = &sa.list[i];
        sa.number = sb->number;
        sdl_notify_extend_timeout(60 * SDL_USEC_PER_SEC); /* a long recovery is not a hang */
        if (sb->number <= p->offset.batch || discard_rest ||
            sb->parts_found != sb->parts_expected || sb->number != p->offset.batch + 1) {
            if (sb->number > p->offset.batch) {
                log_notice("Discarding staged batch %" PRIu64 " (%" PRIu32 " of %" PRIu32
                           " parts): its changes are read again from the binlog",
                           sb->number, sb->parts_found, sb->parts_expected);
                discard_rest = true;
            } else {
                log_info("Deleting staged batch %" PRIu64 ", already committed", sb->number);
            }
            if (!with_retry(p, "deleting a staged batch", SDL_RETRY_TARGET_CONNECT,
                            delete_staged_attempt, &sa, err)) {
                goto out;
            }
            sdl_failpoint("recovery.after_delete");
            continue;
        }
        sdl_batch batch;
        load_arg la = {sb->number, &batch};
        sdl_batch_init(&batch);
        log_notice("Committing staged batch %" PRIu64 " left by the previous run", sb->number);
        if (!with_retry(p, "loading a staged batch", SDL_RETRY_TARGET_CONNECT, load_staged_attempt,
                        &la, err)) {
            sdl_batch_done(&batch);
            goto out;
        }
        sdl_failpoint("recovery.before_commit");
        bool committed = with_retry(p, "committing a staged batch", SDL_RETRY_COMMIT,
                                    commit_attempt, &batch, err);
        if (committed) {
            sdl_offset_done(&p->offset);
            sdl_offset_copy(&p->offset, &batch.offset_after);
            found = true;
        }
        sdl_batch_done(&batch);
        if (!committed) {
            goto out;
        }
    }
    if (!found) {
        memset(&p->offset, 0, sizeof(p->offset));
    }
    ok = true;
out:
    free(sa.list);
    return ok;
}

static bool
open_stream_attempt(pipeline *p, void *arg, sdl_error *err)
{
    const sdl_change_stream_options *o = arg;

    return sdl_change_stream_open(o, &p->stream, err);
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
    if (!sdl_config_load(p->config_path, &next, &err) ||
        !sdl_config_check_reload(p->config, next, &err)) {
        log_error_e(&err, "Reload refused, the running configuration stays in force");
        (void)sdl_config_free(next);
    } else {
        p->retired = sdl_xrealloc(p->retired, (p->nretired + 1) * sizeof(*p->retired));
        p->retired[p->nretired++] = next;
        sdl_log_set_level(next->log.level);
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
            sdl_stats_position(p->stats, position, sizeof(position), NULL, 0, NULL);
            sdl_notify_status("GTID %s, lag %llds, %.0f rows/s, %llu rows applied",
                              position[0] ? position : p->offset.gtid,
                              (long long)sdl_stats_lag_sec(p->stats),
                              (double)(rows - last_rows) / secs, (unsigned long long)rows);
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
                    NULL, err) ||
        !recover(&p, err)) {
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
        .skip_gtid = p.resume_split_gtid,
        .skip_rows = p.resume_split_gtid ? p.resume_split_seq : 0,
        .stop = stop,
        .live_config = &p.live,           /* SIGHUP: new table filters from the next transaction */
        .connected = &p.stats->source_up, /* observability: /health/ready, sdl_source_up */
        .read_ahead_bytes = SDL_BINLOG_READ_AHEAD, /* receive while this thread decodes */
    };
    if (!with_retry(&p, "connecting to the source", SDL_RETRY_SOURCE, open_stream_attempt, &so,
                    err)) {
        goto out;
    }
    if (!p.offset.gtid) {
        /* First start: the offset begins where the stream begins. */
        p.offset.gtid = sdl_xstrdup(sdl_change_stream_start_position(p.stream));
    }
    if (!p.offset.flavor) {
        p.offset.flavor = sdl_xstrdup("mariadb"); /* the live reader streams MariaDB only */
    }
    log_notice("Replicating after GTID position '%s' into the target (batch %" PRIu64 " next)",
               p.offset.gtid, p.offset.batch + 1);
    atomic_store(&p.stats->target_up, true);
    (void)pthread_mutex_lock(&p.stats->lock);
    (void)snprintf(p.stats->position, sizeof(p.stats->position), "%s", p.offset.gtid);
    (void)pthread_mutex_unlock(&p.stats->lock);

    p.queue = sdl_queue_new(config->pipeline.queue_bytes);
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
    if (ok) {
        log_notice("Stopped at batch %" PRIu64 ", GTID position '%s'", p.offset.batch,
                   p.offset.gtid ? p.offset.gtid : "");
    }
    (void)sdl_change_stream_free(p.stream);
    (void)sdl_mongo_writer_free(p.writer);
    (void)sdl_queue_free(p.queue);
    sdl_offset_done(&p.offset);
    free(p.resume_split_gtid);
    for (size_t i = 0; i < p.nretired; i++) {
        (void)sdl_config_free(p.retired[i]);
    }
    free(p.retired);
    if (!ok && err->code == SDL_E_CANCELLED && *stop) {
        return true; /* a stop while waiting is a clean stop */
    }
    return ok;
}
