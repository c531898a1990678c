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
#include "sdl/daemon/notify.h"
#include "sdl/daemon/stats.h"
#include "sdl/mapping/dead-letter.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"
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

/*
 * The batcher holds the documents read but not committed yet, in source order, and the ends
 * of the complete source transactions among them (every source transaction has one, filtered
 * or not, so the offset always moves past it). Batches are cut on those ends (max_rows,
 * max_bytes, max_delay); a transaction that began with a DDL is committed as soon as it ends.
 * A transaction that alone exceeds a batch is split: its parts are committed with
 * partial = {gtid, seq} in the offset and its rows carry split: true.
 *
 * When the target refuses a batch as too large or too slow for one transaction, the staged
 * batch is dropped, the limits are halved and the same documents go out again in smaller
 * batches (cut on transaction ends, or split); the limits double back every RESTORE_AFTER
 * commits.
 */

/* The end of a complete source transaction among the documents held. */
typedef struct txn_end {
    size_t ndocs;      /* documents held up to and including this transaction */
    uint64_t rows;     /* row documents among them (a DDL document is not a row) */
    size_t bytes;      /* their BSON bytes */
    uint64_t txns;     /* source transactions that ended up to here */
    sdl_offset offset; /* the pipeline's offset after this transaction */
} txn_end;

typedef struct batcher {
    sdl_batch batch; /* documents held (docs, ndocs, bytes, rows; no gtids) */
    txn_end *ends;   /* the complete transactions among them, in order */
    size_t nends;
    size_t cap_ends;
    uint64_t started_usec; /* when the oldest item held arrived (0: nothing held) */
    bool open;             /* a transaction is open: its documents follow the last end */
    bool open_split;       /* it is split across batches: its documents carry split: true */
    bool ddl_open;         /* it began with a DDL: commit it as soon as it ends */
    uint64_t limit_rows;   /* lowered limits after a batch was too large or too slow for one */
    size_t limit_bytes;    /* MongoDB transaction; 0: the configured ones */
    uint32_t commits_since_limit;
} batcher;

#define RESTORE_AFTER 16 /* commits after which lowered limits double again */

typedef enum write_result {
    WRITE_OK,
    WRITE_FAILED,  /* err set */
    WRITE_SMALLER, /* the batch was too large or slow: limits lowered, write again */
} write_result;

typedef enum flush_mode {
    FLUSH_COMPLETE, /* every complete transaction held */
    FLUSH_ROOM,     /* the same, then parts of the open transaction while it alone exceeds
                     * the limits */
} flush_mode;

static uint64_t
max_rows(pipeline *p, const batcher *bt)
{
    uint64_t cfg = live(p)->pipeline.batch_max_rows;

    return bt->limit_rows && bt->limit_rows < cfg ? bt->limit_rows : cfg;
}

static size_t
max_bytes(pipeline *p, const batcher *bt)
{
    size_t cfg = live(p)->pipeline.batch_max_bytes;

    return bt->limit_bytes && bt->limit_bytes < cfg ? bt->limit_bytes : cfg;
}

static bool
batch_full(pipeline *p, const batcher *bt)
{
    return bt->batch.ndocs >= max_rows(p, bt) || bt->batch.bytes >= max_bytes(p, bt);
}

/* ---- documents (read back only where a batch is cut inside a transaction) ---- */

/* The text of a top-level field of @doc (a copy; NULL when it is not text). */
static char *
doc_text(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)
               ? sdl_xstrdup(bson_iter_utf8(&it, NULL))
               : NULL;
}

static bool
doc_is_ddl(const bson_t *doc)
{
    char *op = doc_text(doc, "op");
    bool ddl = op && strcmp(op, "ddl") == 0;

    free(op);
    return ddl;
}

/* ---- writing ---- */

static bool
stage_attempt(pipeline *p, void *arg, sdl_error *err)
{
    return sdl_mongo_writer_stage(p->writer, arg, err);
}

static bool
commit_attempt(pipeline *p, void *arg, sdl_error *err)
{
    if (sdl_mongo_writer_commit(p->writer, arg, err)) {
        return true;
    }
    if (sdl_mongo_error_wants_smaller_batch(err)) {
        err->transient = false; /* the same batch fails again: write a smaller one */
    }
    return false;
}

static bool
delete_batch_attempt(pipeline *p, void *arg, sdl_error *err)
{
    return sdl_mongo_writer_delete_staged(p->writer, *(const uint64_t *)arg, err);
}

/* The batch @b was too large or too slow for one MongoDB transaction: its staged copy goes,
 * and the limits become half of it. False when it was one document: a data error when the
 * server found it too large (exit 65), the server's error otherwise. */
static bool
lower_limits(pipeline *p, batcher *bt, const sdl_batch *b, sdl_error *err)
{
    uint64_t number = b->number;

    if (b->ndocs <= 1) {
        char *id = b->ndocs ? doc_text(b->docs[0], "_id") : NULL;
        sdl_error_prefix(err, "batch %" PRIu64 " holds only document %s (%zu bytes)", number,
                         id ? id : "(none)", b->bytes);
        if (err->sys_errno == SDL_MONGO_TRANSACTION_TOO_LARGE ||
            err->sys_errno == SDL_MONGO_TRANSACTION_TOO_LARGE_FOR_CACHE) {
            err->code = SDL_E_DATA;
        }
        free(id);
        return false;
    }
    log_notice_e(err,
                 "Batch %" PRIu64 " (%zu documents, %zu bytes) is too large or too slow for one "
                 "MongoDB transaction: committing its changes in smaller batches",
                 number, b->ndocs, b->bytes);
    if (!with_retry(p, "deleting a staged batch", SDL_RETRY_STAGE, delete_batch_attempt, &number,
                    err)) {
        return false;
    }
    bt->limit_rows = SDL_MAX(b->ndocs / 2, (size_t)1);
    bt->limit_bytes = SDL_MAX(b->bytes / 2, (size_t)1);
    bt->commits_since_limit = 0;
    sdl_error_clear(err);
    return true;
}

/*
 * The commit of @b failed because MongoDB refused one of its documents as such (an SDL_E_DATA
 * error naming it): with pipeline.on_error: dead_letter that document becomes its dead letter
 * in @b (and in @bt, whose documents a live batch borrows; NULL for a batch recovery loaded),
 * the staged copy is deleted, and true says "stage and commit again". False, with @err as it
 * was, in every other case.
 */
static bool
rejected_to_dead_letter(pipeline *p, batcher *bt, sdl_batch *b, sdl_error *err)
{
    size_t r = sdl_mongo_writer_rejected(p->writer);
    uint64_t number = b->number;

    if (err->code != SDL_E_DATA || r == 0 || r > b->ndocs ||
        live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER || (b->dead && b->dead[r - 1])) {
        return false;
    }
    size_t i = r - 1;
    bson_t *old = b->docs[i];
    bool row = !doc_is_ddl(old);
    bson_t *dead = bson_new();
    char *id = doc_text(old, "_id"), *gtid = doc_text(old, "gtid");
    char *db = doc_text(old, "db"), *table = doc_text(old, "table");
    char context[192];

    sdl_dead_letter_from_document(old, SDL_DEAD_REJECTED, err->message, p->offset.gtid, now_ms(),
                                  dead);
    (void)snprintf(context, sizeof(context), "%s.%s", db ? db : "", table ? table : "");
    sdl_log_set_context(p->config->pipeline.name, gtid, context);
    log_warning_e(err, "Document %s set aside as a dead letter (rejected)", id ? id : "?");
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    sdl_stats_dead_letter(p->stats, SDL_DEAD_REJECTED);
    free(id);
    free(gtid);
    free(db);
    free(table);

    size_t delta_plus = dead->len, delta_minus = old->len;
    b->docs[i] = dead; /* a live batch borrows bt's array: replaced there too */
    bson_destroy(old);
    if (!b->dead) {
        b->dead = sdl_xcalloc(b->cap > b->ndocs ? b->cap : b->ndocs, sizeof(*b->dead));
    }
    b->dead[i] = true;
    b->ndead++;
    b->bytes = b->bytes + delta_plus - delta_minus;
    b->rows -= row;
    b->offset_after.rows_applied -= row;
    b->offset_after.dead_letters++;
    if (bt) {
        bt->batch.ndead++;
        bt->batch.rows -= row;
        bt->batch.bytes = bt->batch.bytes + delta_plus - delta_minus;
        for (size_t k = 0; k < bt->nends; k++) {
            if (bt->ends[k].ndocs > i) {
                bt->ends[k].rows -= row;
                bt->ends[k].bytes = bt->ends[k].bytes + delta_plus - delta_minus;
            }
        }
    }
    sdl_error_clear(err);
    return with_retry(p, "deleting a staged batch", SDL_RETRY_STAGE, delete_batch_attempt, &number,
                      err);
}

/* observability: the committed documents of @b by operation (and table, when configured),
 * read from their first fields; dead letters are counted apart (sdl_stats_dead_letter) */
static void
count_applied(pipeline *p, const sdl_batch *b)
{
    for (size_t i = 0; i < b->ndocs; i++) {
        bson_iter_t it;
        const char *op = NULL, *db = NULL, *table = NULL;
        if ((b->dead && b->dead[i]) || !bson_iter_init(&it, b->docs[i])) {
            continue;
        }
        while (bson_iter_next(&it) && !(op && db && table)) {
            const char *key = bson_iter_key(&it);
            if (!BSON_ITER_HOLDS_UTF8(&it)) {
                continue;
            }
            if (strcmp(key, "op") == 0) {
                op = bson_iter_utf8(&it, NULL);
            } else if (strcmp(key, "db") == 0) {
                db = bson_iter_utf8(&it, NULL);
            } else if (strcmp(key, "table") == 0) {
                table = bson_iter_utf8(&it, NULL);
            } else if (strcmp(key, "pk") == 0 || strcmp(key, "before") == 0 ||
                       strcmp(key, "after") == 0) {
                break; /* the op, db and table fields come first */
            }
        }
        sdl_stats_count_applied(p->stats, op, db, table);
    }
}

/* Stages and commits @b (its offset_after set), then advances p->offset. */
static write_result
write_batch(pipeline *p, batcher *bt, sdl_batch *b, uint64_t txns, sdl_error *err)
{
    char what[96];

    uint64_t t0 = sdl_now_monotonic_usec();
    for (;;) {
        (void)snprintf(what, sizeof(what), "staging batch %" PRIu64, b->number);
        sdl_log_set_context(p->config->pipeline.name, b->last_gtid, NULL); /* observability */
        if (!with_retry(p, what, SDL_RETRY_STAGE, stage_attempt, b, err)) {
            return WRITE_FAILED;
        }
        atomic_store(&p->stats->staged_batches, 1);
        sdl_failpoint("writer.after_stage");
        (void)snprintf(what, sizeof(what), "committing batch %" PRIu64, b->number);
        if (with_retry(p, what, SDL_RETRY_COMMIT, commit_attempt, b, err)) {
            break;
        }
        if (sdl_mongo_error_wants_smaller_batch(err)) {
            return lower_limits(p, bt, b, err) ? WRITE_SMALLER : WRITE_FAILED;
        }
        if (!rejected_to_dead_letter(p, bt, b, err)) {
            return WRITE_FAILED;
        }
        /* the refused document is a dead letter now: stage the batch again and commit */
    }
    sdl_failpoint("writer.after_commit");
    atomic_store(&p->stats->staged_batches, 0);
    count_applied(p, b);
    sdl_stats_commit(p->stats, b->rows, txns, sdl_now_monotonic_usec() - t0,
                     b->offset_after.source_ts_sec, b->offset_after.gtid,
                     b->offset_after.binlog_file, b->offset_after.binlog_pos);
    sdl_offset_done(&p->offset);
    sdl_offset_copy(&p->offset, &b->offset_after);
    log_debug("Committed batch %" PRIu64 ": %zu documents, offset %s%s%s", b->number, b->ndocs,
              b->offset_after.gtid ? b->offset_after.gtid : "",
              b->offset_after.partial_gtid ? " inside " : "",
              b->offset_after.partial_gtid ? b->offset_after.partial_gtid : "");
    if (bt->limit_rows && ++bt->commits_since_limit >= RESTORE_AFTER) {
        bt->limit_rows *= 2;
        bt->limit_bytes *= 2;
        bt->commits_since_limit = 0;
        if (bt->limit_rows >= live(p)->pipeline.batch_max_rows &&
            bt->limit_bytes >= live(p)->pipeline.batch_max_bytes) {
            bt->limit_rows = 0;
            bt->limit_bytes = 0;
        }
    }
    return WRITE_OK;
}

/* Writes the first @ndocs documents held as the next batch, with offset @after. The batch
 * borrows the documents; they stay held until drop_prefix(). */
static write_result
write_prefix(pipeline *p, batcher *bt, size_t ndocs, uint64_t *rows, uint64_t txns,
             const sdl_offset *after, sdl_error *err)
{
    sdl_batch out;
    write_result r;

    memset(&out, 0, sizeof(out));
    out.number = p->offset.batch + 1;
    out.docs = bt->batch.docs;
    out.dead = bt->batch.dead;
    out.ndocs = ndocs;
    for (size_t i = 0; i < ndocs; i++) {
        out.bytes += bt->batch.docs[i]->len;
        out.ndead += bt->batch.dead[i];
    }
    out.rows = *rows;
    sdl_batch_set_gtids(&out);
    sdl_offset_copy(&out.offset_after, after);
    out.offset_after.batch = out.number;
    out.offset_after.rows_applied = p->offset.rows_applied + *rows;
    out.offset_after.dead_letters = p->offset.dead_letters + out.ndead;
    free(out.offset_after.flavor);
    out.offset_after.flavor = sdl_xstrdup(p->flavor);
    r = write_batch(p, bt, &out, txns, err);
    *rows = out.rows; /* less when a refused row became a dead letter */
    free(out.first_gtid);
    free(out.last_gtid);
    sdl_offset_done(&out.offset_after);
    return r;
}

/* The first @ndocs documents (@rows rows among them) and @nends transaction ends were
 * committed: they leave the batcher. */
static void
drop_prefix(batcher *bt, size_t ndocs, uint64_t rows, size_t nends)
{
    size_t bytes = 0;
    uint64_t txns = nends ? bt->ends[nends - 1].txns : 0;

    for (size_t i = 0; i < ndocs; i++) {
        bytes += bt->batch.docs[i]->len;
        bt->batch.ndead -= bt->batch.dead[i];
        bson_destroy(bt->batch.docs[i]);
    }
    memmove(bt->batch.docs, bt->batch.docs + ndocs, (bt->batch.ndocs - ndocs) * sizeof(bson_t *));
    memmove(bt->batch.dead, bt->batch.dead + ndocs, (bt->batch.ndocs - ndocs) * sizeof(bool));
    bt->batch.ndocs -= ndocs;
    bt->batch.bytes -= bytes;
    bt->batch.rows -= rows;
    for (size_t i = 0; i < nends; i++) {
        sdl_offset_done(&bt->ends[i].offset);
    }
    memmove(bt->ends, bt->ends + nends, (bt->nends - nends) * sizeof(*bt->ends));
    bt->nends -= nends;
    for (size_t i = 0; i < bt->nends; i++) {
        bt->ends[i].ndocs -= ndocs;
        bt->ends[i].rows -= rows;
        bt->ends[i].bytes -= bytes;
        bt->ends[i].txns -= txns;
    }
    bt->started_usec = bt->batch.ndocs || bt->nends ? sdl_now_monotonic_usec() : 0;
}

/* Commits the first @k complete transactions held. */
static write_result
write_ends(pipeline *p, batcher *bt, size_t k, sdl_error *err)
{
    const txn_end *e = &bt->ends[k - 1];
    size_t ndocs = e->ndocs;
    uint64_t rows = e->rows;
    write_result r = write_prefix(p, bt, ndocs, &rows, e->txns, &e->offset, err);

    if (r == WRITE_OK) {
        drop_prefix(bt, ndocs, rows, k);
    }
    return r;
}

/*
 * The first transaction held (@txn_docs documents; complete, or the open one) does not fit in
 * a batch: commits as many of its documents as fit as a part of it. The offset keeps the
 * position before the transaction and records partial = {gtid, seq of the part's last
 * document}; every document of the transaction gets split: true.
 */
static write_result
write_part(pipeline *p, batcher *bt, size_t txn_docs, uint64_t lim_rows, size_t lim_bytes,
           sdl_error *err)
{
    bson_t **docs = bt->batch.docs;
    size_t j = 0, bytes = 0, grown = 0;
    bool ddl = doc_is_ddl(docs[0]); /* only ever first: a DDL begins its transaction */
    sdl_offset after;
    write_result r;
    bson_iter_t it;

    /* split: true marks the rows of a split transaction, not its DDL (CREATE ... SELECT) nor
     * its dead letters */
    for (size_t i = ddl ? 1 : 0; i < txn_docs; i++) {
        if (!bt->batch.dead[i] && !bson_iter_init_find(&it, docs[i], "split")) {
            uint32_t len = docs[i]->len;
            BSON_APPEND_BOOL(docs[i], "split", true);
            grown += docs[i]->len - len;
        }
    }
    bt->batch.bytes += grown;
    for (size_t i = 0; i < bt->nends; i++) {
        bt->ends[i].bytes += grown; /* every end comes at or after this transaction's */
    }
    if (bt->nends == 0) {
        bt->open_split = true; /* its documents still to come are marked when they arrive */
    }
    while (j < txn_docs && j < lim_rows && (j == 0 || bytes + docs[j]->len <= lim_bytes)) {
        bytes += docs[j]->len;
        j++;
    }
    uint64_t rows = j - (ddl ? 1u : 0u);
    for (size_t i = 0; i < j; i++) {
        rows -= bt->batch.dead[i];
    }
    sdl_offset_copy(&after, &p->offset); /* the position before the transaction */
    sdl_offset_set_partial(&after, docs[j - 1]);
    r = write_prefix(p, bt, j, &rows, 0, &after, err);
    sdl_offset_done(&after);
    if (r == WRITE_OK) {
        drop_prefix(bt, j, rows, 0);
    }
    return r;
}

/* Commits held documents in batches within the limits in force (see flush_mode). */
static bool
flush(pipeline *p, batcher *bt, flush_mode mode, sdl_error *err)
{
    for (;;) {
        uint64_t lim_rows = max_rows(p, bt);
        size_t lim_bytes = max_bytes(p, bt);
        write_result r;

        if (bt->nends > 0) {
            size_t k = bt->nends;
            while (k > 0 &&
                   (bt->ends[k - 1].ndocs > lim_rows || bt->ends[k - 1].bytes > lim_bytes)) {
                k--;
            }
            r = k > 0 ? write_ends(p, bt, k, err)
                      : write_part(p, bt, bt->ends[0].ndocs, lim_rows, lim_bytes, err);
        } else if (mode == FLUSH_ROOM && bt->open &&
                   (bt->batch.ndocs > lim_rows || bt->batch.bytes > lim_bytes)) {
            /* the open transaction alone exceeds a batch (one of exactly the limits is not
             * split: its end may come next) */
            r = write_part(p, bt, bt->batch.ndocs, lim_rows, lim_bytes, err);
        } else {
            return true;
        }
        if (r == WRITE_FAILED) {
            return false;
        }
    }
}

static bool
add_document(pipeline *p, batcher *bt, sdl_queue_item *it, sdl_error *err)
{
    bson_t *doc = bson_new_from_data(it->doc, it->doc_len);

    if (!doc) {
        sdl_error_set(err, SDL_E_INVALID, "corrupt document in the queue");
        return false;
    }
    if (!bt->open) {
        /* The first document of a transaction (every transaction ends with a COMMIT item). */
        bt->open = true;
        bt->open_split = p->resume_split_gtid && strcmp(p->resume_split_gtid, it->gtid) == 0;
    }
    if (bt->open_split && it->kind == SDL_QUEUE_ROW) {
        BSON_APPEND_BOOL(doc, "split", true);
    }
    if (!bt->started_usec) {
        bt->started_usec = sdl_now_monotonic_usec();
    }
    if (bt->batch.ndocs == bt->batch.cap) {
        bt->batch.cap = bt->batch.cap ? bt->batch.cap * 2 : 64;
        bt->batch.docs = sdl_xreallocarray(bt->batch.docs, bt->batch.cap, sizeof(bson_t *));
        bt->batch.dead = sdl_xreallocarray(bt->batch.dead, bt->batch.cap, sizeof(bool));
    }
    bt->batch.dead[bt->batch.ndocs] = it->kind == SDL_QUEUE_DEAD_LETTER;
    bt->batch.ndead += it->kind == SDL_QUEUE_DEAD_LETTER;
    bt->batch.docs[bt->batch.ndocs++] = doc;
    bt->batch.bytes += doc->len;
    bt->batch.rows += it->kind == SDL_QUEUE_ROW;
    return !batch_full(p, bt) || flush(p, bt, FLUSH_ROOM, err);
}

static void
end_transaction(pipeline *p, batcher *bt, const sdl_queue_item *it)
{
    if (bt->nends == bt->cap_ends) {
        bt->cap_ends = bt->cap_ends ? bt->cap_ends * 2 : 16;
        bt->ends = sdl_xreallocarray(bt->ends, bt->cap_ends, sizeof(*bt->ends));
    }
    txn_end *e = &bt->ends[bt->nends];
    memset(e, 0, sizeof(*e));
    e->ndocs = bt->batch.ndocs;
    e->rows = bt->batch.rows;
    e->bytes = bt->batch.bytes;
    e->txns = (bt->nends ? bt->ends[bt->nends - 1].txns : 0) + 1;
    e->offset.flavor = sdl_xstrdup(p->flavor);
    e->offset.gtid = sdl_xstrdup(it->position ? it->position : "");
    e->offset.binlog_file = sdl_xstrdup(it->binlog_file ? it->binlog_file : "");
    e->offset.binlog_pos = it->binlog_pos;
    e->offset.source_ts_sec = it->ts_sec;
    bt->nends++;
    if (!bt->started_usec) {
        bt->started_usec = sdl_now_monotonic_usec();
    }
    bt->open = false;
    bt->open_split = false;
    if (p->resume_split_gtid && it->gtid && strcmp(p->resume_split_gtid, it->gtid) == 0) {
        free(p->resume_split_gtid);
        p->resume_split_gtid = NULL;
    }
}

static void
batcher_done(batcher *bt)
{
    for (size_t i = 0; i < bt->batch.ndocs; i++) {
        bson_destroy(bt->batch.docs[i]);
    }
    free(bt->batch.docs);
    free(bt->batch.dead);
    for (size_t i = 0; i < bt->nends; i++) {
        sdl_offset_done(&bt->ends[i].offset);
    }
    free(bt->ends);
}

/* While idle the writer pings the target every IDLE_PING_USEC, so sdl_target_up and
 * /health/ready notice a target that went away (or came back) without waiting for data. */
#define IDLE_PING_USEC (5 * SDL_USEC_PER_SEC)

static void
idle_ping(pipeline *p)
{
    sdl_error err = SDL_ERROR_INIT;
    /* renewing the lease is the ping: `sdl offset set` sees that this pipeline runs */
    bool up = sdl_mongo_writer_renew_lease(p->writer, false, &err) &&
              sdl_mongo_writer_ping(p->writer, &err);

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
    bt.limit_rows = p->limit_rows; /* lowered by recovery: a staged batch was too large */
    bt.limit_bytes = p->limit_bytes;
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
        if (bt.started_usec && bt.nends > 0) {
            uint64_t age = sdl_now_monotonic_usec() - bt.started_usec;
            wait = age >= max_delay ? 0 : max_delay - age;
        }
        sdl_queue_item *it = sdl_queue_pop(p->queue, wait, &closed);
        atomic_store(&p->stats->caught_up, !it && bt.batch.ndocs == 0 && bt.nends == 0);
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
            if (bt.nends > 0 && bt.started_usec &&
                sdl_now_monotonic_usec() - bt.started_usec >= max_delay) {
                ok = flush(p, &bt, FLUSH_COMPLETE, err);
            }
            continue;
        }
        last_contact = sdl_now_monotonic_usec(); /* work ahead: the batch tells */
        switch (it->kind) {
        case SDL_QUEUE_DDL:
            /* A DDL (and a CREATE TABLE ... SELECT's rows after it) is a batch of its own:
             * what came before is committed first. */
            ok = flush(p, &bt, FLUSH_COMPLETE, err);
            if (ok) {
                bt.ddl_open = true;
                ok = add_document(p, &bt, it, err);
            }
            break;
        case SDL_QUEUE_ROW:
        case SDL_QUEUE_DEAD_LETTER:
            ok = add_document(p, &bt, it, err);
            break;
        case SDL_QUEUE_COMMIT: {
            bool ddl = bt.ddl_open;
            bt.ddl_open = false;
            end_transaction(p, &bt, it);
            if (ddl || batch_full(p, &bt)) {
                ok = flush(p, &bt, FLUSH_COMPLETE, err);
            }
            break;
        }
        }
        sdl_queue_item_free(it);
    }
    /* Stopping or draining: commit the complete transactions held (the open one is re-read
     * from the binlog after a restart). */
    if (ok && !p->abort_threads) {
        ok = flush(p, &bt, FLUSH_COMPLETE, err);
    }
    if (!ok && err->code != SDL_E_CANCELLED) {
        p->writer_failed = true;
        p->abort_threads = 1;
    }
    batcher_done(&bt);
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
    bson_t *doc = bson_new();
    bool mapped = sdl_doc_mapper_row(mopts, &c->pos, &c->row, doc, err);
    sdl_dead_reason why;

    if (mapped && doc->len <= live(p)->target.max_document_bytes) {
        return push_doc(p, SDL_QUEUE_ROW, c, doc);
    }
    if (mapped) {
        too_large(p, c, db, table, doc->len, err);
        why = SDL_DEAD_TOO_LARGE;
    } else {
        sdl_error_prefix(err, "mapping row %s:%" PRIu64 " of '%s.%s'", c->pos.gtid, c->pos.seq, db,
                         table);
        err->code = SDL_E_DATA; /* a value sdl cannot map: restarting cannot help */
        note_failure(p, c, db, table);
        why = SDL_DEAD_UNMAPPABLE;
    }
    if (live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        bson_destroy(doc);
        return false;
    }
    bson_t *dead = bson_new();
    const char *from = sdl_change_stream_position(p->stream);
    if (mapped) {
        sdl_dead_letter_from_document(doc, why, err->message, from, now_ms(), dead);
    } else {
        sdl_dead_letter_from_row(mopts, &c->pos, &c->row, why, err->message, from, now_ms(), dead);
    }
    bson_destroy(doc);
    sdl_log_set_context(p->config->pipeline.name, p->fail_gtid, p->fail_table);
    log_warning_e(err, "Row %s:%" PRIu64 " set aside as a dead letter (%s)", c->pos.gtid,
                  c->pos.seq, sdl_dead_reason_name(why));
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    p->fail_gtid[0] = p->fail_table[0] = '\0';
    sdl_stats_dead_letter(p->stats, (int)why);
    sdl_error_clear(err);
    return push_doc(p, SDL_QUEUE_DEAD_LETTER, c, dead);
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
            ok = push_commit(p, &c);
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
        /* a transaction the previous sdl left open (killed before commitTransaction) would
         * block recovery's first write until the server's transaction lifetime */
        size_t ended = 0;
        char *holder = NULL;
        sdl_error kerr = SDL_ERROR_INIT;
        if (!sdl_mongo_writer_end_previous_sessions(p->writer, &ended, &holder, &kerr)) {
            log_warning("%s (a transaction it left open is ended by the server's "
                        "transactionLifetimeLimitSeconds instead)",
                        kerr.message);
        } else if (ended > 0) {
            log_info("Ended %zu session%s of the previous holder %s (a transaction left open by a "
                     "process that died would block this one until the server ends it)",
                     ended, ended == 1 ? "" : "s", holder);
        }
        free(holder);
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
        while (!committed && rejected_to_dead_letter(p, NULL, &batch, err)) {
            /* a refused document became a dead letter: stage the batch again, commit it */
            committed = with_retry(p, "staging a batch again", SDL_RETRY_STAGE, stage_attempt,
                                   &batch, err) &&
                        with_retry(p, "committing a staged batch", SDL_RETRY_COMMIT, commit_attempt,
                                   &batch, err);
        }
        if (committed) {
            sdl_offset_done(&p->offset);
            sdl_offset_copy(&p->offset, &batch.offset_after);
            found = true;
        } else if (sdl_mongo_error_wants_smaller_batch(err) && batch.ndocs > 1) {
            /* Too large or too slow for one transaction: read its changes again from the
             * binlog into batches of half its size. */
            log_notice_e(err,
                         "Staged batch %" PRIu64 " (%zu documents, %zu bytes) is too large or too "
                         "slow for one MongoDB transaction: its changes are read again from the "
                         "binlog into smaller batches",
                         sb->number, batch.ndocs, batch.bytes);
            p->limit_rows = SDL_MAX(batch.ndocs / 2, (size_t)1);
            p->limit_bytes = SDL_MAX(batch.bytes / 2, (size_t)1);
            committed = with_retry(p, "deleting a staged batch", SDL_RETRY_TARGET_CONNECT,
                                   delete_staged_attempt, &sa, err);
            discard_rest = true;
        }
        sdl_batch_done(&batch);
        if (!committed) {
            goto out;
        }
    }
    if (!found) {
        memset(&p->offset, 0, sizeof(p->offset));
        if (discard_rest && strcmp(p->config->pipeline.start, "now") == 0) {
            /* Staged by a version that stored no start position (batch 0): the discarded
             * changes are read again only from a position before them, which "now" is not. */
            sdl_error_set(err, SDL_E_CONFIG,
                          "pipeline '%s' has no offset and its staged batches were discarded: "
                          "with pipeline.start: now their changes would never be read again; "
                          "set pipeline.start to the GTID position before them (or start) and "
                          "start sdl again",
                          p->config->pipeline.name);
            goto out;
        }
    }
    ok = true;
out:
    free(sa.list);
    return ok;
}

static bool
init_offset_attempt(pipeline *p, void *arg, sdl_error *err)
{
    (void)arg;
    return sdl_mongo_writer_init_offset(p->writer, &p->offset, err);
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
            sdl_stats_position(p->stats, position, sizeof(position), NULL, 0, NULL);
            sdl_notify_status("Replicating: lag %.1fs, %.0f rows/s, %llu rows applied, GTID %s",
                              (double)sdl_stats_lag_usec(p->stats) / 1e6,
                              (double)(rows - last_rows) / secs, (unsigned long long)rows,
                              position[0] ? position : p->offset.gtid);
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
                    NULL, err)) {
        goto out;
    }
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
    };
    if (!with_retry(&p, "connecting to the source", SDL_RETRY_SOURCE, open_stream_attempt, &so,
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
        if (!with_retry(&p, "storing the start position", SDL_RETRY_TARGET_CONNECT,
                        init_offset_attempt, NULL, err)) {
            goto out;
        }
        log_notice("First start of pipeline '%s': its start position '%s' is stored as batch 0",
                   config->pipeline.name, p.offset.gtid);
    }
    log_notice("Replicating after GTID position '%s' into the target (batch %" PRIu64 " next)",
               p.offset.gtid, p.offset.batch + 1);
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
        if (!sdl_mongo_writer_renew_lease(p.writer, true, &lerr)) {
            log_debug_e(&lerr, "Releasing the lease");
        }
    }
    if (ok) {
        log_notice("Stopped at batch %" PRIu64 ", GTID position '%s'", p.offset.batch,
                   p.offset.gtid ? p.offset.gtid : "");
    }
    (void)sdl_change_stream_free(p.stream);
    (void)sdl_mongo_writer_free(p.writer);
    (void)sdl_queue_free(p.queue);
    sdl_offset_done(&p.offset);
    free(p.flavor);
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
