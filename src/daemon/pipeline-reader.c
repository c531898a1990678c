/* SPDX-License-Identifier: Apache-2.0 */
/* `sdl run`'s reader thread: changes mapped into the queue, and the snapshot's hooks;
 * pipeline-private.h. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/log.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/daemon/stats.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/dead-letter.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/queue/queue.h"

#include "pipeline-private.h"

static bool
stopping(const pipeline *p)
{
    return *p->stop || p->abort_threads;
}

/* ---- the reader side ---------------------------------------------------------------------- */

/* A queue item of @c. Only a transaction's first item and its COMMIT carry the GTID (the
 * batcher reads it there); the rows between carry NULL, which spares a copy per row. */
static void
name_item(pipeline *p, sdl_queue_item *it, sdl_queue_item_kind kind, const sdl_change *c)
{
    it->kind = kind;
    if (kind == SDL_QUEUE_COMMIT || !p->txn_named) {
        it->gtid = sdl_xstrdup(c->pos.gtid ? c->pos.gtid : "");
    }
    p->txn_named = kind != SDL_QUEUE_COMMIT;
    it->seq = c->pos.seq;
    it->ts_sec = c->pos.ts_sec;
}

static sdl_queue_item *
new_item(pipeline *p, sdl_queue_item_kind kind, const sdl_change *c)
{
    sdl_queue_item *it = sdl_xcalloc(1, sizeof(*it));

    name_item(p, it, kind, c);
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

/* The @len bytes of a row document the mapper wrote into p->map_buf, copied once, into the
 * item's own allocation. */
static bool
push_row_bytes(pipeline *p, const sdl_change *c, const uint8_t *data, size_t len)
{
    sdl_queue_item *it = sdl_queue_item_new_doc(len);

    name_item(p, it, SDL_QUEUE_ROW, c);
    memcpy(it->doc, data, len);
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
                  pl_live(p)->target.max_document_bytes);
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

    if (mapped && buf->len <= pl_live(p)->target.max_document_bytes) {
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
    if (pl_live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        return false;
    }
    bson_t *dead = bson_new();
    const char *from = sdl_change_stream_position(p->stream);
    if (doc) {
        sdl_dead_letter_from_document(doc, why, err->message, from, pl_now_ms(), dead);
    } else {
        sdl_dead_letter_from_row(mopts, &c->pos, &c->row, why, err->message, from, pl_now_ms(),
                                 dead);
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
bool
pl_snapshot_tap(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos)
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

    return sdl_snapshot_step(p->snapshot, pl_live(p)->pipeline.batch_max_rows, err);
}

typedef struct serve_op {
    pipeline *p;
    const uint8_t *requests;
    size_t len;
} serve_op;

static bool
serve_attempt(void *arg, sdl_error *err)
{
    serve_op *o = arg;

    return sdl_snapshot_serve(o->p->snapshot, pl_live(o->p), o->requests, o->len, err);
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
    ok = pl_with_retry(p, "serving a snapshot request", SDL_RETRY_SOURCE, serve_attempt, &o, err);
    free(req);
    pl_snapshot_status(p);
    return ok;
}

/* observability: the snapshot's progress for STATUS= (the main thread reads it) */
void
pl_snapshot_status(pipeline *p)
{
    uint64_t tables, done;

    uint64_t est, left;

    sdl_snapshot_tables(p->snapshot, &tables, &done);
    sdl_snapshot_estimate(p->snapshot, &est, &left);
    atomic_store(&p->stats->snapshot_tables, tables);
    atomic_store(&p->stats->snapshot_tables_done, done);
    atomic_store(&p->stats->snapshot_rows_estimated, est);
    atomic_store(&p->stats->snapshot_seconds_left, left);
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
static bool snapshot_dead_letter(pipeline *p, const sdl_doc_mapper_options *mopts,
                                 const sdl_change *rc, bool mapped, sdl_error *err);

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
            if (!snapshot_dead_letter(p, mopts, &rc, false, err)) {
                return false;
            }
            emitted++; /* its dead letter took the row's place (and seq) */
            continue;
        }
        size_t len = p->map_buf.len;
        if (len > pl_live(p)->target.max_document_bytes) {
            too_large(p, &rc, rc.row.table->db, rc.row.table->name, (uint32_t)len, err);
            if (!snapshot_dead_letter(p, mopts, &rc, true, err)) {
                return false;
            }
            emitted++;
            continue;
        }
        if (emitted && bytes + len > pl_live(p)->pipeline.batch_max_bytes / 2) {
            break; /* the next chunk starts at this row: never a split chunk */
        }
        bytes += len;
        if (!push_row_bytes(p, &rc, p->map_buf.data, len)) {
            return false;
        }
        emitted++;
    }
    sdl_snapshot_chunk_done(p->snapshot, covered, emitted, &progress);
    pl_snapshot_status(p);
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

void *
pl_reader_main(void *arg)
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
        if (!serve_requests(p, err) ||
            (sdl_snapshot_pending(p->snapshot) &&
             !pl_with_retry(p, "reading a snapshot chunk", SDL_RETRY_SOURCE, snapshot_step_attempt,
                            p, err))) {
            ok = false;
            break;
        }
        if (sdl_snapshot_due(p->snapshot)) { /* snapshot.mode consistent: a chunk, stream waits */
            sdl_snapshot_due_commit(p->snapshot, &c);
            sdl_column_policy_follow(&mopts.columns, sdl_change_stream_config(p->stream));
            ok = snapshot_emit(p, &mopts, &c, err);
            continue;
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
            sdl_snapshot_ddl(p->snapshot, c.ddl_db, c.ddl_table);
            bson_t *doc = bson_new();
            if (!sdl_doc_mapper_ddl(&mopts, &c.pos, c.ddl_db, c.ddl_table,
                                    (const char *)c.ddl_statement.ptr, c.ddl_statement.len, doc,
                                    err)) {
                bson_destroy(doc);
                ok = false;
                break;
            }
            if (doc->len > pl_live(p)->target.max_document_bytes) {
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
            sdl_snapshot_stream_at(p->snapshot, c.position);
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

/*
 * A snapshot row that cannot be stored (DESIGN.md §10): @mapped, its document in p->map_buf is
 * over target.max_document_bytes; else a value could not be mapped. @err holds the data error.
 * With pipeline.on_error: dead_letter the row's dead letter (op "snapshot", the table and key,
 * `from` null: the binlog does not hold the row, so `sdl dlq retry` cannot read it again) goes
 * into the queue in the row's place and true is returned; otherwise false (sdl stops with
 * SDL_E_DATA). A column policy's refusal (SDL_E_CONFIG) always stops.
 */
static bool
snapshot_dead_letter(pipeline *p, const sdl_doc_mapper_options *mopts, const sdl_change *rc,
                     bool mapped, sdl_error *err)
{
    sdl_dead_reason why = mapped ? SDL_DEAD_TOO_LARGE : SDL_DEAD_UNMAPPABLE;
    bson_t doc_view, *dead = bson_new();

    if (err->code == SDL_E_CONFIG || pl_live(p)->pipeline.on_error != SDL_ON_ERROR_DEAD_LETTER) {
        bson_destroy(dead);
        return false;
    }
    if (mapped && bson_init_static(&doc_view, p->map_buf.data, p->map_buf.len)) {
        sdl_dead_letter_from_document(&doc_view, why, err->message, NULL, pl_now_ms(), dead);
    } else {
        bson_t *row = bson_new();
        bson_iter_t it;
        sdl_dead_letter_from_row(mopts, &rc->pos, &rc->row, why, err->message, NULL, pl_now_ms(),
                                 row);
        if (bson_iter_init(&it, row)) { /* its op is the row's: "snapshot" here */
            while (bson_iter_next(&it)) {
                if (strcmp(bson_iter_key(&it), "op") == 0) {
                    BSON_APPEND_UTF8(dead, "op", "snapshot");
                } else {
                    (void)bson_append_iter(dead, bson_iter_key(&it), -1, &it);
                }
            }
        }
        bson_destroy(row);
    }
    note_failure(p, rc, rc->row.table->db, rc->row.table->name);
    sdl_log_set_context(p->config->pipeline.name, p->fail_gtid, p->fail_table);
    log_warning_e(err, "Snapshot row %s:%" PRIu64 " set aside as a dead letter (%s)", rc->pos.gtid,
                  rc->pos.seq, sdl_dead_reason_name(why));
    sdl_log_set_context(p->config->pipeline.name, NULL, NULL);
    p->fail_gtid[0] = p->fail_table[0] = '\0';
    sdl_stats_dead_letter(p->stats, (int)why);
    sdl_error_clear(err);
    return push_doc(p, SDL_QUEUE_DEAD_LETTER, rc, dead);
}
