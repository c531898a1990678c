/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The batcher (pure decisions) driven as pipeline-writer.c's writer thread drives it, against the
 * in-memory sink of tests/lib/fake-sink.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/log.h"
#include "sdl/daemon/batcher.h"
#include "sdl/daemon/committer.h"
#include "sdl/daemon/request-watch.h"

#include "fake-sink.h"
#include "sdltest.h"

/* ---- documents ---- */

static bson_t *
make_doc(const char *op, const char *gtid, uint64_t seq)
{
    bson_t *doc = bson_new();
    bson_t binlog;
    char id[96];

    (void)snprintf(id, sizeof(id), "p:%s:%" PRIu64, gtid, seq);
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "op", op);
    BSON_APPEND_UTF8(doc, "db", "shop");
    BSON_APPEND_UTF8(doc, "table", "orders");
    BSON_APPEND_UTF8(doc, "gtid", gtid);
    BSON_APPEND_INT64(doc, "seq", (int64_t)seq);
    BSON_APPEND_DATE_TIME(doc, "ts", 1700000000000);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "binlog", &binlog);
    BSON_APPEND_UTF8(&binlog, "file", "bin.000001");
    BSON_APPEND_INT64(&binlog, "pos", (int64_t)(1000 + seq));
    bson_append_document_end(doc, &binlog);
    return doc;
}

static bool
doc_split(const bson_t *doc)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, "split") && bson_iter_as_bool(&it);
}

static char *
id_of(const char *gtid, uint64_t seq)
{
    static char id[96];

    (void)snprintf(id, sizeof(id), "p:%s:%" PRIu64, gtid, seq);
    return id;
}

/* ---- the writer: committer.c over the fake sink, as pipeline-writer.c's writer thread uses it
 * ---- */

typedef struct writer {
    fake_sink fs;
    sdl_sink sink;
    sdl_commit_env env;
    sdl_batcher bt;
    sdl_offset committed;    /* the last committed offset */
    uint64_t now;            /* the monotonic time items arrive at */
    size_t retries;          /* transient failures retried */
    size_t dead_letters;     /* refused documents set aside */
    size_t batches;          /* commits the committer reported */
    bool queued;             /* items wait in the queue: the writer is not caught up */
    sdl_request_watch watch; /* as pipeline-writer.c hears of snapshot requests */
    size_t handed;           /* new requests handed over (to the reader thread) */
    size_t heard;            /* commits that returned the requests */
} writer;

/* Up to 10 attempts while the failure is transient. */
static bool
test_retry(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
           sdl_error *err)
{
    writer *w = ctx;

    (void)what;
    (void)reason;
    for (int i = 0; i < 10; i++) {
        if (fn(arg, err)) {
            return true;
        }
        if (!err->transient) {
            return false;
        }
        w->retries++;
    }
    return false;
}

static bson_t *
test_dead_letter(void *ctx, const bson_t *doc, const sdl_error *err, const sdl_offset *offset)
{
    writer *w = ctx;
    bson_t *dead = bson_new();
    bson_iter_t it;

    (void)err;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
        BSON_APPEND_UTF8(dead, "_id", bson_iter_utf8(&it, NULL));
    }
    BSON_APPEND_UTF8(dead, "from", offset->gtid ? offset->gtid : "");
    w->dead_letters++;
    return dead;
}

static void
test_committed(void *ctx, const sdl_batch *b, uint64_t txns, uint64_t usec)
{
    writer *w = ctx;

    (void)b;
    (void)txns;
    (void)usec;
    w->batches++;
}

/* pipeline-writer.c's hook: what a commit returned, handed over when new */
static void
test_requests(void *ctx, const uint8_t *requests, size_t len)
{
    writer *w = ctx;

    w->heard++;
    if (sdl_request_watch_heard(&w->watch, requests, len, w->now)) {
        w->handed++;
    }
}

static bool
test_more_queued(void *ctx)
{
    return ((writer *)ctx)->queued;
}

static void
writer_init(writer *w, uint64_t max_rows, size_t max_bytes)
{
    memset(w, 0, sizeof(*w));
    fake_sink_init(&w->fs);
    w->sink = fake_sink_sink(&w->fs);
    w->env = (sdl_commit_env){.sink = &w->sink,
                              .retry = test_retry,
                              .dead_letter = test_dead_letter,
                              .committed = test_committed,
                              .more_queued = test_more_queued,
                              .requests = test_requests,
                              .ctx = w};
    sdl_batcher_init(&w->bt, "mariadb", 0, 0);
    sdl_batcher_set_limits(&w->bt, max_rows, max_bytes);
    w->committed.gtid = sdl_xstrdup("0-1-10");
    w->now = sdl_now_monotonic_usec();
    sdl_log_set_level(SDL_LOG_ERROR); /* the committer logs what it does; keep the output short */
}

static void
writer_done(writer *w)
{
    sdl_batcher_done(&w->bt);
    sdl_offset_done(&w->committed);
    sdl_request_watch_done(&w->watch);
    fake_sink_done(&w->fs);
}

static bool
writer_flush(writer *w, sdl_flush mode, sdl_error *err)
{
    return sdl_commit_flush(&w->env, &w->bt, mode, &w->committed, err);
}

static bool
writer_doc(writer *w, sdl_batcher_kind kind, const char *gtid, uint64_t seq, sdl_error *err)
{
    return writer_flush(w, sdl_batcher_before(&w->bt, kind), err) &&
           writer_flush(
               w,
               sdl_batcher_add(&w->bt, kind, gtid,
                               make_doc(kind == SDL_BATCHER_DDL ? "ddl" : "insert", gtid, seq),
                               w->now),
               err);
}

static bool
writer_end(writer *w, const char *gtid, const char *position, sdl_error *err)
{
    return writer_flush(
        w, sdl_batcher_end_txn(&w->bt, gtid, position, "bin.000001", 5000, 1700000000, w->now),
        err);
}

/* A transaction of @rows row changes, GTID 0-1-@seq, position after it "0-1-@seq". */
static bool
writer_txn(writer *w, uint64_t seq, uint64_t rows, sdl_error *err)
{
    char gtid[32];

    (void)snprintf(gtid, sizeof(gtid), "0-1-%" PRIu64, seq);
    for (uint64_t r = 1; r <= rows; r++) {
        if (!writer_doc(w, SDL_BATCHER_ROW, gtid, r, err)) {
            return false;
        }
    }
    return writer_end(w, gtid, gtid, err);
}

/* A transaction of @rows rows, then its batch committed (the writer's flush when the queue
 * runs dry). */
static bool
commit_txn(writer *w, uint64_t seq, uint64_t rows, sdl_error *err)
{
    return writer_txn(w, seq, rows, err) && writer_flush(w, SDL_FLUSH_COMPLETE, err);
}

/* ---- cutting on transaction ends ---- */

TEST(batcher_cuts_batches_only_at_transaction_ends)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 5, 1 << 20);
    ASSERT_OK(writer_txn(&w, 11, 2, &err), &err);
    ASSERT_OK(writer_txn(&w, 12, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 0);
    /* the 5th document fills the batch: the two complete transactions go, the open one stays */
    ASSERT_OK(writer_txn(&w, 13, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.ndocs, 4);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-12");
    ASSERT_UINT_EQ(w.fs.offset.batch, 1);
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 4);
    ASSERT_NULL(w.fs.offset.partial_gtid);
    ASSERT_STR_EQ(w.fs.offset.flavor, "mariadb");
    ASSERT_UINT_EQ(w.bt.batch.ndocs, 2);
    ASSERT_UINT_EQ(w.bt.nends, 1);
    ASSERT_UINT_EQ(w.bt.batch.rows, 2);
    /* nothing else is due until max_delay after what is held arrived */
    uint64_t t = w.bt.started_usec;
    ASSERT_TRUE(t > 0);
    ASSERT_INT_EQ(sdl_batcher_due(&w.bt, t + 100, 200), SDL_FLUSH_NONE);
    ASSERT_UINT_EQ(sdl_batcher_wait_usec(&w.bt, t + 100, 200, 5000), 100);
    ASSERT_UINT_EQ(sdl_batcher_wait_usec(&w.bt, t + 300, 200, 5000), 0);
    ASSERT_INT_EQ(sdl_batcher_due(&w.bt, t + 200, 200), SDL_FLUSH_COMPLETE);
    ASSERT_OK(writer_flush(&w, sdl_batcher_due(&w.bt, t + 200, 200), &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-13");
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 6);
    ASSERT_TRUE(sdl_batcher_empty(&w.bt));
    ASSERT_UINT_EQ(sdl_batcher_wait_usec(&w.bt, w.now, 200, 5000), 5000);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    writer_done(&w);
}

TEST(batcher_ends_a_batch_at_a_transaction_that_changes_nothing)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 11, 0, &err), &err); /* filtered: only its end */
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.ndocs, 0);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-11");
    writer_done(&w);
}

TEST(batcher_commits_a_ddl_in_a_batch_of_its_own)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 11, 3, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 0);
    ASSERT_INT_EQ(sdl_batcher_before(&w.bt, SDL_BATCHER_DDL), SDL_FLUSH_COMPLETE);
    ASSERT_INT_EQ(sdl_batcher_before(&w.bt, SDL_BATCHER_ROW), SDL_FLUSH_NONE);
    /* the DDL: what came before is committed first, then the DDL as soon as it ends */
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_DDL, "0-1-12", 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-11");
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-12", 2, &err), &err); /* CREATE ... SELECT */
    ASSERT_OK(writer_end(&w, "0-1-12", "0-1-12", &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_UINT_EQ(w.fs.ndocs, 5);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-12");
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 4); /* the DDL document is not a row */
    ASSERT_TRUE(sdl_batcher_empty(&w.bt));
    writer_done(&w);
}

/* ---- splitting a large transaction, and resuming inside it ---- */

TEST(batcher_splits_a_transaction_larger_than_a_batch)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 5, 1 << 20);
    for (uint64_t r = 1; r <= 5; r++) {
        ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-20", r, &err), &err);
    }
    /* one of exactly the limits is not split: its end may come next */
    ASSERT_UINT_EQ(w.fs.commits, 0);
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-20", 6, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.ndocs, 5);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-10"); /* the position before the transaction */
    ASSERT_STR_EQ(w.fs.offset.partial_gtid, "0-1-20");
    ASSERT_UINT_EQ(w.fs.offset.partial_seq, 5);
    ASSERT_UINT_EQ(w.fs.offset.binlog_pos, 1005);
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 5);
    for (uint64_t r = 7; r <= 12; r++) {
        ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-20", r, &err), &err);
    }
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_UINT_EQ(w.fs.offset.partial_seq, 10);
    ASSERT_OK(writer_end(&w, "0-1-20", "0-1-20", &err), &err);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 3);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-20");
    ASSERT_NULL(w.fs.offset.partial_gtid);
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 12);
    ASSERT_UINT_EQ(w.fs.ndocs, 12);
    for (size_t i = 0; i < w.fs.ndocs; i++) {
        ASSERT_TRUE(doc_split(w.fs.docs[i].doc)); /* every row of a split transaction */
        ASSERT_UINT_EQ(fake_sink_count_id(&w.fs, id_of("0-1-20", i + 1)), 1);
    }
    /* the next transaction is not split */
    ASSERT_OK(commit_txn(&w, 21, 1, &err), &err);
    ASSERT_FALSE(doc_split(w.fs.docs[12].doc));
    writer_done(&w);
}

TEST(batcher_resumes_inside_a_split_transaction)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    /* a restart after the part holding rows 1..5 of 0-1-20: the stream skips them */
    writer_init(&w, 5, 1 << 20);
    fake_sink_set_offset(&w.fs, 7, "0-1-10", "0-1-20", 5);
    sdl_offset_done(&w.committed);
    sdl_offset_copy(&w.committed, &w.fs.offset);
    sdl_batcher_resume_split(&w.bt, "0-1-20");
    for (uint64_t r = 6; r <= 8; r++) {
        ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-20", r, &err), &err);
    }
    ASSERT_OK(writer_end(&w, "0-1-20", "0-1-20", &err), &err);
    ASSERT_NULL(w.bt.resume_split);
    ASSERT_OK(commit_txn(&w, 21, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.offset.batch, 8);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-21");
    ASSERT_NULL(w.fs.offset.partial_gtid);
    ASSERT_UINT_EQ(w.fs.ndocs, 4);
    ASSERT_TRUE(doc_split(w.fs.docs[0].doc));
    ASSERT_TRUE(doc_split(w.fs.docs[2].doc));
    ASSERT_FALSE(doc_split(w.fs.docs[3].doc)); /* the next transaction's row */
    writer_done(&w);
}

TEST(batcher_does_not_mark_a_ddl_or_dead_letter_of_a_split_transaction)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 3, 1 << 20);
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_DDL, "0-1-30", 1, &err), &err);
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-30", 2, &err), &err);
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_DEAD_LETTER, "0-1-30", 3, &err), &err);
    ASSERT_OK(writer_doc(&w, SDL_BATCHER_ROW, "0-1-30", 4, &err), &err);
    ASSERT_OK(writer_end(&w, "0-1-30", "0-1-30", &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_FALSE(doc_split(w.fs.docs[0].doc)); /* the DDL */
    ASSERT_TRUE(doc_split(w.fs.docs[1].doc));
    ASSERT_FALSE(doc_split(w.fs.docs[2].doc)); /* the dead letter */
    ASSERT_TRUE(w.fs.docs[2].dead);
    ASSERT_TRUE(doc_split(w.fs.docs[3].doc));
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 2);
    ASSERT_UINT_EQ(w.fs.offset.dead_letters, 1);
    writer_done(&w);
}

/* ---- too large or too slow for one transaction ---- */

TEST(batcher_halves_its_limits_after_a_too_large_batch_and_restores_them)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 9, 1 << 20);
    for (uint64_t t = 0; t < 4; t++) {
        ASSERT_OK(writer_txn(&w, 40 + t, 2, &err), &err);
    }
    ASSERT_UINT_EQ(w.fs.commits, 0);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_TOO_LARGE, 1);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.retries, 0); /* too large is not retried as such */
    ASSERT_UINT_EQ(w.bt.limit_rows, 4);
    /* the same documents went out again in batches of half the size */
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_UINT_EQ(w.fs.ndocs, 8);
    ASSERT_UINT_EQ(w.fs.docs[4].batch, 2);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    ASSERT_UINT_EQ(sdl_batcher_max_rows(&w.bt), 4);
    /* SDL_BATCHER_RESTORE_AFTER commits later the limits double (2 commits so far) */
    for (uint64_t t = 0; t < SDL_BATCHER_RESTORE_AFTER - 2; t++) {
        ASSERT_OK(commit_txn(&w, 50 + t, 1, &err), &err);
    }
    ASSERT_UINT_EQ(w.bt.limit_rows, 8);
    ASSERT_UINT_EQ(sdl_batcher_max_rows(&w.bt), 8);
    /* once both reach the configured ones, the lowered limits are gone */
    sdl_batcher_set_limits(&w.bt, 9, w.bt.limit_bytes * 2);
    for (uint64_t t = 0; t < SDL_BATCHER_RESTORE_AFTER; t++) {
        ASSERT_OK(commit_txn(&w, 70 + t, 1, &err), &err);
    }
    ASSERT_UINT_EQ(w.bt.limit_rows, 0);
    ASSERT_UINT_EQ(w.bt.limit_bytes, 0);
    ASSERT_UINT_EQ(sdl_batcher_max_rows(&w.bt), 9);
    writer_done(&w);
}

TEST(batcher_cannot_lower_below_one_document)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 8, 1 << 20);
    ASSERT_OK(writer_txn(&w, 40, 1, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_TOO_SLOW, 1);
    ASSERT_FALSE(writer_flush(&w, SDL_FLUSH_COMPLETE, &err));
    ASSERT_INT_EQ(sdl_sink_classify_size(&w.sink, &err), SDL_SINK_TOO_SLOW);
    ASSERT_INT_EQ(err.code, SDL_E_SINK);
    ASSERT_STR_CONTAINS(err.message, "holds only document p:0-1-40:1");
    ASSERT_UINT_EQ(w.bt.limit_rows, 0);
    ASSERT_UINT_EQ(w.fs.commits, 0);
    ASSERT_UINT_EQ(w.bt.batch.ndocs, 1); /* still held, and staged */
    ASSERT_NOT_NULL(fake_sink_staged(&w.fs, 1));
    /* too large rather than too slow: one document no transaction can hold is data (exit 65) */
    sdl_error_clear(&err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_TOO_LARGE, 1);
    ASSERT_FALSE(writer_flush(&w, SDL_FLUSH_COMPLETE, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_INT_EQ(sdl_error_exit_status(&err), 65);
    writer_done(&w);
}

/* ---- reload between transactions ---- */

TEST(batcher_takes_reloaded_limits_from_the_next_transaction)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 60, 3, &err), &err);
    ASSERT_OK(writer_txn(&w, 61, 3, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 0);
    /* SIGHUP: max_rows 4. The held transactions are cut on their ends within the new limit */
    sdl_batcher_set_limits(&w.bt, 4, 1 << 20);
    ASSERT_OK(writer_txn(&w, 62, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 2); /* 0-1-60 alone, then 0-1-61 alone */
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-61");
    ASSERT_UINT_EQ(w.fs.docs[2].batch, 1);
    ASSERT_UINT_EQ(w.fs.docs[3].batch, 2);
    ASSERT_UINT_EQ(w.bt.batch.ndocs, 1); /* 0-1-62 waits for more */
    ASSERT_NULL(w.fs.offset.partial_gtid);
    /* and a larger limit again */
    sdl_batcher_set_limits(&w.bt, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 63, 10, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 2);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 3);
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 17);
    writer_done(&w);
}

TEST(batcher_respects_max_bytes)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;
    bson_t *probe = make_doc("insert", "0-1-70", 1);
    size_t len = probe->len;

    bson_destroy(probe);
    writer_init(&w, 1000, 3 * len);
    ASSERT_OK(writer_txn(&w, 70, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 0);
    ASSERT_OK(writer_txn(&w, 71, 2, &err), &err); /* 3 documents reach max_bytes */
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-70");
    writer_done(&w);
}

/* ---- the commit protocol through the seam ---- */

TEST(batcher_commit_retries_transient_failures)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 80, 2, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_STAGE, FAKE_FAIL_TRANSIENT, 2);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_TRANSIENT, 2);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.ndocs, 2);
    writer_done(&w);
}

TEST(batcher_ambiguous_commit_that_was_applied_is_not_applied_twice)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 81, 2, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_APPLIED, 1);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.settled, 1);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(fake_sink_count_id(&w.fs, id_of("0-1-81", 1)), 1);
    ASSERT_UINT_EQ(w.committed.batch, 1);
    /* the next batch is fenced on it as usual */
    ASSERT_OK(commit_txn(&w, 82, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.offset.batch, 2);
    writer_done(&w);
}

TEST(batcher_ambiguous_commit_that_was_not_applied_is_committed_again)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 83, 2, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_LOST, 1);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.settled, 1);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_COMMIT], 2);
    ASSERT_UINT_EQ(fake_sink_count_id(&w.fs, id_of("0-1-83", 2)), 1);
    writer_done(&w);
}

TEST(batcher_ambiguous_commit_after_another_writer_is_fencing)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 84, 2, &err), &err);
    /* another sdl committed its own batch 1 meanwhile, elsewhere in the binlog */
    fake_sink_set_offset(&w.fs, 1, "0-1-99", NULL, 0);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_LOST, 1);
    ASSERT_FALSE(writer_flush(&w, SDL_FLUSH_COMPLETE, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(w.fs.ndocs, 0);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-99");
    writer_done(&w);
}

TEST(batcher_commit_is_fenced_on_the_previous_batch)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 85, 2, &err), &err);
    fake_sink_set_offset(&w.fs, 5, "0-1-99", NULL, 0); /* another writer is ahead */
    ASSERT_FALSE(writer_flush(&w, SDL_FLUSH_COMPLETE, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(w.fs.ndocs, 0);
    ASSERT_UINT_EQ(w.fs.offset.batch, 5);
    ASSERT_UINT_EQ(w.bt.batch.ndocs, 2); /* nothing dropped: it stays staged, sdl exits */
    writer_done(&w);
}

TEST(batcher_sets_a_refused_document_aside_and_commits_the_batch_again)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 86, 2, &err), &err);
    ASSERT_OK(writer_txn(&w, 87, 1, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_REJECT_FIRST, 1);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.dead_letters, 1);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.ndocs, 3);
    ASSERT_TRUE(w.fs.docs[0].dead);
    ASSERT_FALSE(w.fs.docs[1].dead);
    ASSERT_UINT_EQ(w.fs.offset.rows_applied, 2);
    ASSERT_UINT_EQ(w.fs.offset.dead_letters, 1);
    ASSERT_TRUE(sdl_batcher_empty(&w.bt));
    ASSERT_UINT_EQ(w.bt.batch.rows, 0);
    ASSERT_UINT_EQ(w.bt.batch.bytes, 0);
    ASSERT_UINT_EQ(w.bt.batch.ndead, 0);
    /* without dead letters (pipeline.on_error: stop) the error stands */
    w.env.dead_letter = NULL;
    ASSERT_OK(writer_txn(&w, 88, 1, &err), &err);
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_REJECT_FIRST, 1);
    ASSERT_FALSE(writer_flush(&w, SDL_FLUSH_COMPLETE, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    writer_done(&w);
}

TEST(batcher_dead_lettered_document_keeps_the_counts_right)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch out;
    sdl_batcher_cut cut;

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 90, 2, &err), &err);
    ASSERT_OK(writer_txn(&w, 91, 2, &err), &err);
    ASSERT_TRUE(sdl_batcher_next(&w.bt, SDL_FLUSH_COMPLETE, &w.committed, &out, &cut));
    ASSERT_UINT_EQ(out.ndocs, 4);
    ASSERT_UINT_EQ(out.rows, 4);
    ASSERT_UINT_EQ(cut.txns, 2);
    /* the sink refused document 1: pipeline-writer.c replaces it by its (smaller) dead letter */
    bson_t *dead = bson_new();
    BSON_APPEND_UTF8(dead, "_id", "p:0-1-90:2");
    long long delta = (long long)dead->len - (long long)out.docs[1]->len;
    bson_destroy(out.docs[1]);
    out.docs[1] = dead;
    out.dead[1] = true;
    out.ndead++;
    out.rows--;
    out.bytes = (size_t)((long long)out.bytes + delta);
    sdl_batcher_dead_lettered(&w.bt, 1, delta, true);
    ASSERT_UINT_EQ(w.bt.batch.rows, 3);
    ASSERT_UINT_EQ(w.bt.batch.ndead, 1);
    ASSERT_UINT_EQ(w.bt.ends[0].rows, 1);
    ASSERT_UINT_EQ(w.bt.ends[1].rows, 3);
    ASSERT_UINT_EQ(w.bt.batch.bytes, out.bytes);
    sdl_batcher_committed(&w.bt, &out, &cut, w.now);
    sdl_batcher_release(&out);
    ASSERT_TRUE(sdl_batcher_empty(&w.bt));
    ASSERT_UINT_EQ(w.bt.batch.rows, 0);
    ASSERT_UINT_EQ(w.bt.batch.bytes, 0);
    ASSERT_UINT_EQ(w.bt.batch.ndead, 0);
    writer_done(&w);
}

/* ---- a snapshot's progress (DESIGN.md §9) ---- */

static bool
same_progress(const sdl_offset *o, const bson_t *want)
{
    return o->snapshot && o->snapshot_len == want->len &&
           memcmp(o->snapshot, bson_get_data(want), want->len) == 0;
}

TEST(batcher_carries_a_snapshot_chunk_progress_into_every_later_offset)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;
    bson_t *a = BCON_NEW("id", "s1", "done", BCON_INT64(0), "chunk", BCON_INT64(1));
    bson_t *b = BCON_NEW("id", "s1", "done", BCON_INT64(0), "chunk", BCON_INT64(2));

    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 11, 1, &err), &err);
    ASSERT_OK(writer_txn(&w, 12, 2, &err), &err);
    sdl_batcher_end_snapshot(&w.bt, bson_get_data(a), a->len); /* 0-1-12 ends chunk 1 */
    ASSERT_OK(commit_txn(&w, 13, 1, &err), &err);
    /* the batch ends after 0-1-13, which holds no chunk: the progress of 0-1-12 goes on */
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-13");
    ASSERT_TRUE(same_progress(&w.fs.offset, a));
    /* a batch without a chunk keeps the committed progress */
    ASSERT_OK(commit_txn(&w, 14, 1, &err), &err);
    ASSERT_TRUE(same_progress(&w.fs.offset, a));
    /* the next chunk replaces it */
    ASSERT_OK(writer_txn(&w, 15, 3, &err), &err);
    sdl_batcher_end_snapshot(&w.bt, bson_get_data(b), b->len);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_STR_EQ(w.fs.offset.gtid, "0-1-15");
    ASSERT_TRUE(same_progress(&w.fs.offset, b));
    ASSERT_TRUE(same_progress(&w.committed, b));
    bson_destroy(a);
    bson_destroy(b);
    writer_done(&w);
}

/* ---- deferred staging cleanup (DESIGN.md §3.2) ---- */

/* Whether batch @number is in staging. */
static bool
is_staged(const writer *w, uint64_t number)
{
    return fake_sink_staged(&w->fs, number) != NULL;
}

TEST(batcher_defers_staging_cleanup_while_items_are_queued)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 2, 1 << 20);
    w.queued = true; /* a burst: more items wait behind every batch */
    for (uint64_t t = 1; t <= 3; t++) {
        ASSERT_OK(commit_txn(&w, 10 + t, 2, &err), &err);
    }
    /* three commits, each of rows and offset only: their staged parts stay */
    ASSERT_UINT_EQ(w.fs.commits, 3);
    ASSERT_UINT_EQ(w.fs.offset.batch, 3);
    ASSERT_UINT_EQ(w.fs.ndocs, 6);
    ASSERT_UINT_EQ(w.fs.cleanups, 0);
    ASSERT_UINT_EQ(w.fs.nstaged, 3);
    ASSERT_TRUE(is_staged(&w, 1) && is_staged(&w, 2) && is_staged(&w, 3));
    ASSERT_TRUE(sdl_batcher_uncleaned(&w.bt));
    writer_done(&w);
}

TEST(batcher_cleans_staging_in_the_last_commit_of_a_burst)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 2, 1 << 20);
    w.queued = true;
    ASSERT_OK(commit_txn(&w, 11, 2, &err), &err);
    ASSERT_OK(commit_txn(&w, 12, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.nstaged, 2);
    /* the queue is empty when the next batch is cut: the writer caught up, so its commit
     * deletes every committed batch's staged parts, its own included */
    w.queued = false;
    ASSERT_OK(commit_txn(&w, 13, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 3);
    ASSERT_UINT_EQ(w.fs.cleanups, 1);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    ASSERT_FALSE(sdl_batcher_uncleaned(&w.bt));
    /* caught up, batch after batch: each commit cleans (there is nothing else to clean) */
    ASSERT_OK(commit_txn(&w, 14, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.cleanups, 2);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    writer_done(&w);
}

TEST(batcher_does_not_clean_before_a_complete_transaction_it_holds)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    /* the queue is empty, but the batcher holds two complete transactions beyond the first
     * batch: only the last batch of the flush cleans */
    writer_init(&w, 100, 1 << 20);
    ASSERT_OK(writer_txn(&w, 11, 2, &err), &err);
    ASSERT_OK(writer_txn(&w, 12, 2, &err), &err);
    ASSERT_OK(writer_txn(&w, 13, 2, &err), &err);
    sdl_batcher_set_limits(&w.bt, 2, 1 << 20);
    ASSERT_OK(writer_flush(&w, SDL_FLUSH_COMPLETE, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 3);
    ASSERT_UINT_EQ(w.fs.cleanups, 1);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    writer_done(&w);
}

TEST(batcher_cleans_staging_every_clean_every_batches_under_load)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 2, 1 << 20);
    w.queued = true; /* never caught up */
    for (uint64_t t = 1; t <= 2 * SDL_BATCHER_CLEAN_EVERY; t++) {
        ASSERT_OK(commit_txn(&w, 100 + t, 2, &err), &err);
        /* at most SDL_BATCHER_CLEAN_EVERY - 1 committed batches stay staged */
        ASSERT_UINT_EQ(w.fs.nstaged, t % SDL_BATCHER_CLEAN_EVERY);
    }
    ASSERT_UINT_EQ(w.fs.commits, 2 * SDL_BATCHER_CLEAN_EVERY);
    ASSERT_UINT_EQ(w.fs.cleanups, 2);
    writer_done(&w);
}

TEST(batcher_cleans_staging_once_the_uncleaned_bytes_reach_a_batch)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;
    size_t one;

    /* staging never holds more committed bytes than one batch may: with 1-row batches of
     * about @one bytes and a byte limit of 3 of them, every 3rd commit cleans */
    bson_t *d = make_doc("insert", "0-1-11", 1);
    one = d->len;
    bson_destroy(d);
    writer_init(&w, 1, 3 * one);
    w.queued = true;
    ASSERT_OK(commit_txn(&w, 11, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.commits, 1);
    ASSERT_UINT_EQ(w.fs.nstaged, 1);
    ASSERT_OK(commit_txn(&w, 12, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.nstaged, 2);
    ASSERT_OK(commit_txn(&w, 13, 1, &err), &err);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    ASSERT_UINT_EQ(w.fs.cleanups, 1);
    writer_done(&w);
}

/* Issue 14: a request `sdl snapshot` stored is picked up within a second, with no round trip
 * of its own while commits flow: every commit hands the offset's requests back, and the
 * writer reads the offset itself only when no commit did for a second. */
TEST(batcher_commits_hand_back_snapshot_requests_without_a_read)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;
    static const char r1[] = "{\"0\": {\"id\": \"r1\", \"tables\": [\"db.t\"]}}";
    static const char r2[] = "{\"0\": {\"id\": \"r1\", \"tables\": [\"db.t\"]}, "
                             "\"1\": {\"id\": \"r2\", \"tables\": [\"db.u\"]}}";

    writer_init(&w, 2, 1 << 20);
    w.queued = true; /* under load */
    /* the writer starts: nothing heard yet, it reads the offset once */
    ASSERT_TRUE(sdl_request_watch_due(&w.watch, w.now));
    ASSERT_FALSE(sdl_request_watch_due(&w.watch, w.now));
    /* no request yet: the commit says so, nothing handed over */
    ASSERT_OK(writer_txn(&w, 11, 2, &err), &err);
    ASSERT_UINT_EQ(w.heard, 1);
    ASSERT_UINT_EQ(w.handed, 0);
    /* `sdl snapshot` stores r1: the next commit returns it, handed over */
    fake_sink_set_requests(&w.fs, r1);
    w.now += SDL_USEC_PER_SEC / 2;
    ASSERT_OK(writer_txn(&w, 12, 2, &err), &err);
    ASSERT_UINT_EQ(w.heard, 2);
    ASSERT_UINT_EQ(w.handed, 1);
    /* the same requests again: not handed over twice */
    w.now += SDL_USEC_PER_SEC / 2;
    ASSERT_OK(writer_txn(&w, 13, 2, &err), &err);
    ASSERT_UINT_EQ(w.heard, 3);
    ASSERT_UINT_EQ(w.handed, 1);
    /* r2 stored: the next commit hands both over (the reader serves what it has not) */
    fake_sink_set_requests(&w.fs, r2);
    w.now += SDL_USEC_PER_SEC / 2;
    ASSERT_OK(writer_txn(&w, 14, 2, &err), &err);
    ASSERT_UINT_EQ(w.handed, 2);
    ASSERT_UINT_EQ(w.fs.commits, 4);
    /* commits every half second for two seconds: never a read of the offset */
    ASSERT_FALSE(sdl_request_watch_due(&w.watch, w.now + SDL_USEC_PER_SEC - 1));
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_LOAD_OFFSET], 0);
    /* a commit that failed transiently and was retried: heard once, when it committed */
    fake_sink_fail(&w.fs, FAKE_OP_COMMIT, FAKE_FAIL_TRANSIENT, 1);
    ASSERT_OK(writer_txn(&w, 15, 2, &err), &err);
    ASSERT_UINT_EQ(w.heard, 5);
    /* a commit fenced out (another writer moved the pipeline): nothing heard */
    fake_sink_set_offset(&w.fs, 9, "0-1-99", NULL, 0);
    fake_sink_set_requests(&w.fs, r1);
    ASSERT_FALSE(writer_txn(&w, 16, 2, &err));
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(w.heard, 5);
    ASSERT_UINT_EQ(w.handed, 2);
    /* no commit for a second (idle, or a slow batch): the writer reads the offset */
    ASSERT_TRUE(sdl_request_watch_due(&w.watch, w.now + SDL_USEC_PER_SEC));
    writer_done(&w);
}

TEST(batcher_cleans_committed_staging_at_a_clean_stop)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 2, 1 << 20);
    /* nothing to clean: no call */
    ASSERT_OK(sdl_commit_clean(&w.env, &w.bt, &w.committed, true, &err), &err);
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_CLEAN_STAGED], 0);
    w.queued = true;
    ASSERT_OK(commit_txn(&w, 11, 2, &err), &err);
    ASSERT_OK(commit_txn(&w, 12, 2, &err), &err);
    ASSERT_UINT_EQ(w.fs.nstaged, 2);
    /* a stop on an error: one attempt, not retried */
    fake_sink_fail(&w.fs, FAKE_OP_CLEAN_STAGED, FAKE_FAIL_TRANSIENT, 1);
    ASSERT_FALSE(sdl_commit_clean(&w.env, &w.bt, &w.committed, false, &err));
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_CLEAN_STAGED], 1);
    ASSERT_UINT_EQ(w.fs.nstaged, 2);
    ASSERT_TRUE(sdl_batcher_uncleaned(&w.bt));
    sdl_error_clear(&err);
    /* SIGTERM: one fenced cleanup of what the commits left (a transient failure retried) */
    fake_sink_fail(&w.fs, FAKE_OP_CLEAN_STAGED, FAKE_FAIL_TRANSIENT, 1);
    ASSERT_OK(sdl_commit_clean(&w.env, &w.bt, &w.committed, true, &err), &err);
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_CLEAN_STAGED], 3);
    ASSERT_UINT_EQ(w.fs.nstaged, 0);
    ASSERT_UINT_EQ(w.fs.offset.batch, 2); /* the offset is as it was */
    ASSERT_UINT_EQ(w.fs.ndocs, 4);
    ASSERT_FALSE(sdl_batcher_uncleaned(&w.bt));
    ASSERT_OK(sdl_commit_clean(&w.env, &w.bt, &w.committed, true, &err), &err);
    ASSERT_UINT_EQ(w.fs.calls[FAKE_OP_CLEAN_STAGED], 3);
    writer_done(&w);
}

/* Another writer took the pipeline over at batch 5 and staged its batch 6. */
static void
another_writer_takes_over(writer *w)
{
    sdl_batch b;

    fake_sink_set_offset(&w->fs, 5, "0-1-99", NULL, 0);
    sdl_batch_init(&b);
    sdl_batch_add(&b, make_doc("insert", "0-1-100", 1), true);
    b.number = 6;
    b.offset_after.flavor = sdl_xstrdup("mariadb");
    b.offset_after.gtid = sdl_xstrdup("0-1-100");
    b.offset_after.batch = 6;
    fake_sink_put_staged(&w->fs, &b, 1, 1, false);
    sdl_batch_done(&b);
}

TEST(batcher_fenced_writer_deletes_no_staged_batch)
{
    writer w;
    sdl_error err = SDL_ERROR_INIT;

    writer_init(&w, 2, 1 << 20);
    w.queued = true;
    ASSERT_OK(commit_txn(&w, 11, 2, &err), &err);
    ASSERT_OK(commit_txn(&w, 12, 2, &err), &err);
    another_writer_takes_over(&w);
    /* its next commit is due to clean (caught up) and is fenced out: nothing deleted */
    w.queued = false;
    ASSERT_FALSE(writer_txn(&w, 13, 2, &err)); /* its 2nd row fills the batch: committed */
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(w.fs.cleanups, 0);
    ASSERT_TRUE(is_staged(&w, 6));
    /* nor does the cleanup at stop, fenced on the batch it committed last (2) */
    sdl_error_clear(&err);
    ASSERT_FALSE(sdl_commit_clean(&w.env, &w.bt, &w.committed, true, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(w.fs.cleanups, 0);
    ASSERT_TRUE(is_staged(&w, 1) && is_staged(&w, 2) && is_staged(&w, 3) && is_staged(&w, 6));
    ASSERT_UINT_EQ(w.fs.offset.batch, 5);
    writer_done(&w);
}
