/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/batcher.h"

#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/macros.h"
#include "sdl/model/doc-field.h"

void
sdl_batcher_init(sdl_batcher *bt, const char *flavor, uint64_t limit_rows, size_t limit_bytes)
{
    memset(bt, 0, sizeof(*bt));
    bt->flavor = sdl_xstrdup(flavor ? flavor : "");
    bt->limit_rows = limit_rows;
    bt->limit_bytes = limit_bytes;
}

void
sdl_batcher_done(sdl_batcher *bt)
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
    free(bt->flavor);
    free(bt->resume_split);
    memset(bt, 0, sizeof(*bt));
}

void
sdl_batcher_set_limits(sdl_batcher *bt, uint64_t max_rows, size_t max_bytes)
{
    bt->max_rows = max_rows;
    bt->max_bytes = max_bytes;
}

void
sdl_batcher_resume_split(sdl_batcher *bt, const char *gtid)
{
    free(bt->resume_split);
    bt->resume_split = gtid ? sdl_xstrdup(gtid) : NULL;
}

uint64_t
sdl_batcher_max_rows(const sdl_batcher *bt)
{
    return bt->limit_rows && bt->limit_rows < bt->max_rows ? bt->limit_rows : bt->max_rows;
}

size_t
sdl_batcher_max_bytes(const sdl_batcher *bt)
{
    return bt->limit_bytes && bt->limit_bytes < bt->max_bytes ? bt->limit_bytes : bt->max_bytes;
}

static bool
batch_full(const sdl_batcher *bt)
{
    return bt->batch.ndocs >= sdl_batcher_max_rows(bt) ||
           bt->batch.bytes >= sdl_batcher_max_bytes(bt);
}

bool
sdl_batcher_empty(const sdl_batcher *bt)
{
    return bt->batch.ndocs == 0 && bt->nends == 0;
}

/* ---- items in ---- */

sdl_flush
sdl_batcher_before(const sdl_batcher *bt, sdl_batcher_kind kind)
{
    (void)bt;
    /* A DDL (and a CREATE TABLE ... SELECT's rows after it) is a batch of its own: what came
     * before is committed first. */
    return kind == SDL_BATCHER_DDL ? SDL_FLUSH_COMPLETE : SDL_FLUSH_NONE;
}

sdl_flush
sdl_batcher_add(sdl_batcher *bt, sdl_batcher_kind kind, const char *gtid, bson_t *doc,
                uint64_t now_usec)
{
    if (kind == SDL_BATCHER_DDL) {
        bt->ddl_open = true;
    }
    if (!bt->open) {
        /* The first document of a transaction (every transaction ends with a COMMIT item). */
        bt->open = true;
        bt->open_split = bt->resume_split && gtid && strcmp(bt->resume_split, gtid) == 0;
    }
    if (bt->open_split && kind == SDL_BATCHER_ROW) {
        BSON_APPEND_BOOL(doc, "split", true);
    }
    if (!bt->started_usec) {
        bt->started_usec = now_usec;
    }
    if (bt->batch.ndocs == bt->batch.cap) {
        bt->batch.cap = bt->batch.cap ? bt->batch.cap * 2 : 64;
        bt->batch.docs = sdl_xreallocarray(bt->batch.docs, bt->batch.cap, sizeof(bson_t *));
        bt->batch.dead = sdl_xreallocarray(bt->batch.dead, bt->batch.cap, sizeof(bool));
    }
    bt->batch.dead[bt->batch.ndocs] = kind == SDL_BATCHER_DEAD_LETTER;
    bt->batch.ndead += kind == SDL_BATCHER_DEAD_LETTER;
    bt->batch.docs[bt->batch.ndocs++] = doc;
    bt->batch.bytes += doc->len;
    bt->batch.rows += kind == SDL_BATCHER_ROW;
    return batch_full(bt) ? SDL_FLUSH_ROOM : SDL_FLUSH_NONE;
}

sdl_flush
sdl_batcher_end_txn(sdl_batcher *bt, const char *gtid, const char *position,
                    const char *binlog_file, uint64_t binlog_pos, int64_t ts_sec, uint64_t now_usec)
{
    bool ddl = bt->ddl_open;

    if (bt->nends == bt->cap_ends) {
        bt->cap_ends = bt->cap_ends ? bt->cap_ends * 2 : 16;
        bt->ends = sdl_xreallocarray(bt->ends, bt->cap_ends, sizeof(*bt->ends));
    }
    sdl_batcher_end *e = &bt->ends[bt->nends];
    memset(e, 0, sizeof(*e));
    e->ndocs = bt->batch.ndocs;
    e->rows = bt->batch.rows;
    e->bytes = bt->batch.bytes;
    e->txns = (bt->nends ? bt->ends[bt->nends - 1].txns : 0) + 1;
    e->offset.flavor = sdl_xstrdup(bt->flavor);
    e->offset.gtid = sdl_xstrdup(position ? position : "");
    e->offset.binlog_file = sdl_xstrdup(binlog_file ? binlog_file : "");
    e->offset.binlog_pos = binlog_pos;
    e->offset.source_ts_sec = ts_sec;
    if (bt->nends) { /* the snapshot's progress (DESIGN.md §9) carries on to later ends */
        const sdl_offset *prev = &bt->ends[bt->nends - 1].offset;
        sdl_offset_set_snapshot(&e->offset, prev->snapshot, prev->snapshot_len);
    }
    bt->nends++;
    if (!bt->started_usec) {
        bt->started_usec = now_usec;
    }
    bt->open = false;
    bt->open_split = false;
    bt->ddl_open = false;
    if (bt->resume_split && gtid && strcmp(bt->resume_split, gtid) == 0) {
        free(bt->resume_split);
        bt->resume_split = NULL;
    }
    return ddl || batch_full(bt) ? SDL_FLUSH_COMPLETE : SDL_FLUSH_NONE;
}

void
sdl_batcher_end_snapshot(sdl_batcher *bt, const uint8_t *progress, size_t len)
{
    if (bt->nends) {
        sdl_offset_set_snapshot(&bt->ends[bt->nends - 1].offset, progress, len);
    }
}

sdl_flush
sdl_batcher_due(const sdl_batcher *bt, uint64_t now_usec, uint64_t max_delay_usec)
{
    return bt->nends > 0 && bt->started_usec && now_usec - bt->started_usec >= max_delay_usec
               ? SDL_FLUSH_COMPLETE
               : SDL_FLUSH_NONE;
}

uint64_t
sdl_batcher_wait_usec(const sdl_batcher *bt, uint64_t now_usec, uint64_t max_delay_usec,
                      uint64_t idle_usec)
{
    if (!bt->started_usec || bt->nends == 0) {
        return idle_usec;
    }
    uint64_t age = now_usec - bt->started_usec;
    return age >= max_delay_usec ? 0 : max_delay_usec - age;
}

/* ---- batches out ---- */

/* @out: the first @ndocs documents held (@rows rows among them), offset @after. */
static void
make_batch(const sdl_batcher *bt, size_t ndocs, uint64_t rows, const sdl_offset *committed,
           const sdl_offset *after, sdl_batch *out)
{
    memset(out, 0, sizeof(*out));
    out->number = committed->batch + 1;
    out->docs = bt->batch.docs;
    out->dead = bt->batch.dead;
    out->ndocs = ndocs;
    for (size_t i = 0; i < ndocs; i++) {
        out->bytes += bt->batch.docs[i]->len;
        out->ndead += bt->batch.dead[i];
    }
    out->rows = rows;
    sdl_batch_set_gtids(out);
    sdl_offset_copy(&out->offset_after, after);
    out->offset_after.batch = out->number;
    out->offset_after.rows_applied = committed->rows_applied + rows;
    out->offset_after.dead_letters = committed->dead_letters + out->ndead;
    if (!out->offset_after.snapshot) { /* no chunk in this batch: the progress stays */
        sdl_offset_set_snapshot(&out->offset_after, committed->snapshot, committed->snapshot_len);
    }
    free(out->offset_after.flavor);
    out->offset_after.flavor = sdl_xstrdup(bt->flavor);
}

/*
 * The first transaction held (@txn_docs documents; complete, or the open one) does not fit in
 * a batch: as many of its documents as fit make a part of it. The offset keeps the position
 * before the transaction (@committed's) and records partial = {gtid, seq of the part's last
 * document}; every document of the transaction gets split: true.
 */
static void
cut_part(sdl_batcher *bt, size_t txn_docs, const sdl_offset *committed, sdl_batch *out,
         sdl_batcher_cut *cut)
{
    uint64_t lim_rows = sdl_batcher_max_rows(bt);
    size_t lim_bytes = sdl_batcher_max_bytes(bt);
    bson_t **docs = bt->batch.docs;
    size_t j = 0, bytes = 0, grown = 0;
    bool ddl = sdl_doc_is_ddl(docs[0]); /* only ever first: a DDL begins its transaction */
    sdl_offset after;
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
    sdl_offset_copy(&after, committed); /* the position before the transaction */
    sdl_offset_set_partial(&after, docs[j - 1]);
    make_batch(bt, j, rows, committed, &after, out);
    sdl_offset_done(&after);
    *cut = (sdl_batcher_cut){.ndocs = j, .nends = 0, .txns = 0};
}

bool
sdl_batcher_next(sdl_batcher *bt, sdl_flush mode, const sdl_offset *committed, sdl_batch *out,
                 sdl_batcher_cut *cut)
{
    uint64_t lim_rows = sdl_batcher_max_rows(bt);
    size_t lim_bytes = sdl_batcher_max_bytes(bt);

    if (mode == SDL_FLUSH_NONE) {
        return false;
    }
    if (bt->nends > 0) {
        size_t k = bt->nends;
        while (k > 0 && (bt->ends[k - 1].ndocs > lim_rows || bt->ends[k - 1].bytes > lim_bytes)) {
            k--;
        }
        if (k == 0) {
            cut_part(bt, bt->ends[0].ndocs, committed, out, cut);
            return true;
        }
        const sdl_batcher_end *e = &bt->ends[k - 1];
        make_batch(bt, e->ndocs, e->rows, committed, &e->offset, out);
        *cut = (sdl_batcher_cut){.ndocs = e->ndocs, .nends = k, .txns = e->txns};
        return true;
    }
    if (mode == SDL_FLUSH_ROOM && bt->open &&
        (bt->batch.ndocs > lim_rows || bt->batch.bytes > lim_bytes)) {
        /* the open transaction alone exceeds a batch (one of exactly the limits is not split:
         * its end may come next) */
        cut_part(bt, bt->batch.ndocs, committed, out, cut);
        return true;
    }
    return false;
}

bool
sdl_batcher_clean_due(const sdl_batcher *bt, const sdl_batch *out, const sdl_batcher_cut *cut,
                      bool more_queued)
{
    bool caught_up = !more_queued && bt->nends == cut->nends;

    return caught_up || bt->uncleaned + 1 >= SDL_BATCHER_CLEAN_EVERY ||
           bt->uncleaned_bytes + out->bytes >= sdl_batcher_max_bytes(bt);
}

bool
sdl_batcher_uncleaned(const sdl_batcher *bt)
{
    return bt->uncleaned > 0;
}

void
sdl_batcher_cleaned(sdl_batcher *bt)
{
    bt->uncleaned = 0;
    bt->uncleaned_bytes = 0;
}

void
sdl_batcher_committed(sdl_batcher *bt, const sdl_batch *out, const sdl_batcher_cut *cut,
                      uint64_t now_usec)
{
    size_t ndocs = cut->ndocs, nends = cut->nends;
    uint64_t rows = out->rows; /* less than cut when a refused row became a dead letter */
    size_t bytes = 0;
    uint64_t txns = nends ? bt->ends[nends - 1].txns : 0;

    for (size_t i = 0; i < ndocs; i++) {
        bytes += bt->batch.docs[i]->len;
        bt->batch.ndead -= bt->batch.dead[i];
        bson_destroy(bt->batch.docs[i]);
    }
    if (bt->batch.ndocs > ndocs) { /* (no memmove of a NULL array: UB even for 0 bytes) */
        memmove(bt->batch.docs, bt->batch.docs + ndocs,
                (bt->batch.ndocs - ndocs) * sizeof(bson_t *));
        memmove(bt->batch.dead, bt->batch.dead + ndocs, (bt->batch.ndocs - ndocs) * sizeof(bool));
    }
    bt->batch.ndocs -= ndocs;
    bt->batch.bytes -= bytes;
    bt->batch.rows -= rows;
    for (size_t i = 0; i < nends; i++) {
        sdl_offset_done(&bt->ends[i].offset);
    }
    if (bt->nends > nends) {
        memmove(bt->ends, bt->ends + nends, (bt->nends - nends) * sizeof(*bt->ends));
    }
    bt->nends -= nends;
    for (size_t i = 0; i < bt->nends; i++) {
        bt->ends[i].ndocs -= ndocs;
        bt->ends[i].rows -= rows;
        bt->ends[i].bytes -= bytes;
        bt->ends[i].txns -= txns;
    }
    bt->started_usec = bt->batch.ndocs || bt->nends ? now_usec : 0;
    if (out->clean_staged) {
        sdl_batcher_cleaned(bt);
    } else {
        bt->uncleaned++;
        bt->uncleaned_bytes += out->bytes;
    }
    /* lowered limits double back every SDL_BATCHER_RESTORE_AFTER commits */
    if (bt->limit_rows && ++bt->commits_since_limit >= SDL_BATCHER_RESTORE_AFTER) {
        bt->limit_rows *= 2;
        bt->limit_bytes *= 2;
        bt->commits_since_limit = 0;
        if (bt->limit_rows >= bt->max_rows && bt->limit_bytes >= bt->max_bytes) {
            bt->limit_rows = 0;
            bt->limit_bytes = 0;
        }
    }
}

bool
sdl_batcher_lower(sdl_batcher *bt, const sdl_batch *out)
{
    if (out->ndocs <= 1) {
        return false;
    }
    bt->limit_rows = SDL_MAX(out->ndocs / 2, (size_t)1);
    bt->limit_bytes = SDL_MAX(out->bytes / 2, (size_t)1);
    bt->commits_since_limit = 0;
    return true;
}

void
sdl_batcher_dead_lettered(sdl_batcher *bt, size_t i, long long delta_bytes, bool was_row)
{
    bt->batch.ndead++;
    bt->batch.rows -= was_row;
    bt->batch.bytes = (size_t)((long long)bt->batch.bytes + delta_bytes);
    for (size_t k = 0; k < bt->nends; k++) {
        if (bt->ends[k].ndocs > i) {
            bt->ends[k].rows -= was_row;
            bt->ends[k].bytes = (size_t)((long long)bt->ends[k].bytes + delta_bytes);
        }
    }
}

void
sdl_batcher_release(sdl_batch *out)
{
    free(out->first_gtid);
    free(out->last_gtid);
    sdl_offset_done(&out->offset_after);
    if (out->mirror) {
        bson_destroy(out->mirror);
    }
    memset(out, 0, sizeof(*out));
}
