/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recovery (DESIGN.md §3.4) through the sink seam, against the in-memory sink of
 * tests/lib/fake-sink.c: first start, staged batches committed, deleted or discarded, damaged
 * batches, ambiguous commits, fencing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/log.h"
#include "sdl/daemon/recovery.h"

#include "fake-sink.h"
#include "sdltest.h"

/* ---- the environment: a bounded retry loop, and a hook before each attempt ---- */

typedef struct env_ctx {
    fake_sink fs;
    sdl_sink sink;
    size_t attempts;
    size_t retries;                  /* transient failures retried */
    const char *hook_what;           /* before the first attempt of this operation ... */
    void (*hook)(struct env_ctx *c); /* ... run this (once) */
    size_t rejects;
} env_ctx;

static bool
test_retry(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn, void *arg,
           sdl_error *err)
{
    env_ctx *c = ctx;

    (void)reason;
    if (c->hook && c->hook_what && strcmp(c->hook_what, what) == 0) {
        c->hook(c);
        c->hook = NULL;
    }
    for (int i = 0; i < 10; i++) {
        c->attempts++;
        if (fn(arg, err)) {
            return true;
        }
        if (!err->transient) {
            return false;
        }
        c->retries++;
    }
    return false;
}

/* pipeline-writer.c's dead letter in short: the refused document's _id and where the pipeline was
 */
static bson_t *
test_dead_letter(void *ctx, const bson_t *doc, const sdl_error *err, const sdl_offset *offset)
{
    env_ctx *c = ctx;
    bson_t *dead = bson_new();
    bson_iter_t it;

    (void)err;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
        BSON_APPEND_UTF8(dead, "_id", bson_iter_utf8(&it, NULL));
    }
    BSON_APPEND_UTF8(dead, "from", offset->gtid ? offset->gtid : "");
    c->rejects++;
    return dead;
}

static void
ctx_init(env_ctx *c)
{
    memset(c, 0, sizeof(*c));
    fake_sink_init(&c->fs);
    c->sink = fake_sink_sink(&c->fs);
}

static sdl_recovery_env
env_of(env_ctx *c, const char *start)
{
    return (sdl_recovery_env){.commit = {.sink = &c->sink,
                                         .retry = test_retry,
                                         .dead_letter = test_dead_letter,
                                         .ctx = c},
                              .pipeline = "p",
                              .start = start};
}

/* A batch as a previous run staged it: @n documents of transaction @gtid, the offset after
 * it batch @number at position @gtid. */
static void
make_batch(sdl_batch *b, uint64_t number, const char *gtid, size_t n)
{
    sdl_batch_init(b);
    for (size_t i = 1; i <= n; i++) {
        bson_t *doc = bson_new();
        char id[96];
        (void)snprintf(id, sizeof(id), "p:%s:%zu", gtid, i);
        BSON_APPEND_UTF8(doc, "_id", id);
        BSON_APPEND_UTF8(doc, "op", "insert");
        BSON_APPEND_UTF8(doc, "gtid", gtid);
        BSON_APPEND_INT64(doc, "seq", (int64_t)i);
        sdl_batch_add(b, doc, true);
    }
    b->number = number;
    b->offset_after.flavor = sdl_xstrdup("mariadb");
    b->offset_after.gtid = sdl_xstrdup(gtid);
    b->offset_after.batch = number;
    b->offset_after.rows_applied = 100 + n;
}

static void
stage(env_ctx *c, uint64_t number, const char *gtid, size_t n, uint32_t expected, uint32_t found,
      bool damaged)
{
    sdl_batch b;

    make_batch(&b, number, gtid, n);
    fake_sink_put_staged(&c->fs, &b, expected, found, damaged);
    sdl_batch_done(&b);
}

static void
setup(void)
{
    static bool once;

    if (!once) {
        sdl_log_set_level(SDL_LOG_ERROR); /* recovery logs what it does; keep TAP output clean */
        once = true;
    }
}

/* ---- first start ---- */

TEST(recovery_first_start_finds_no_offset_and_stores_batch_0_once)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;
    sdl_offset start = {0};

    setup();
    ctx_init(&c);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_FALSE(rec.found);
    ASSERT_NULL(rec.offset.gtid);
    ASSERT_UINT_EQ(rec.limit_rows, 0);
    ASSERT_UINT_EQ(c.fs.sessions_ended, 0);
    /* pipeline.c then stores the start position as batch 0, fenced on "no offset yet" */
    start.flavor = sdl_xstrdup("mariadb");
    start.gtid = sdl_xstrdup("0-1-5");
    ASSERT_OK(sdl_sink_init_offset(&c.sink, &start, &err), &err);
    ASSERT_UINT_EQ(c.fs.offset.batch, 0);
    ASSERT_STR_EQ(c.fs.offset.gtid, "0-1-5");
    /* a second first start (another sdl started it meanwhile) is fenced */
    ASSERT_FALSE(sdl_sink_init_offset(&c.sink, &start, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    /* and recovery finds batch 0 next time */
    sdl_recovery_done(&rec);
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_TRUE(rec.found);
    ASSERT_UINT_EQ(rec.offset.batch, 0);
    ASSERT_STR_EQ(rec.offset.gtid, "0-1-5");
    sdl_recovery_done(&rec);
    sdl_offset_done(&start);
    fake_sink_done(&c.fs);
}

TEST(recovery_ends_the_previous_holders_sessions)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    c.fs.previous_sessions = 2;
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_TRUE(rec.found);
    ASSERT_UINT_EQ(rec.offset.batch, 4);
    ASSERT_UINT_EQ(c.fs.sessions_ended, 2);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_resumes_inside_a_split_transaction)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", "0-1-41", 500);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_STR_EQ(rec.offset.gtid, "0-1-40");
    ASSERT_STR_EQ(rec.offset.partial_gtid, "0-1-41");
    ASSERT_UINT_EQ(rec.offset.partial_seq, 500);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

/* ---- staged batches ---- */

TEST(recovery_commits_the_complete_staged_batches_in_order)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    stage(&c, 6, "0-1-60", 2, 2, 2, false);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_TRUE(rec.found);
    ASSERT_UINT_EQ(rec.offset.batch, 6);
    ASSERT_STR_EQ(rec.offset.gtid, "0-1-60");
    ASSERT_UINT_EQ(c.fs.commits, 2);
    ASSERT_UINT_EQ(c.fs.ndocs, 5);
    ASSERT_UINT_EQ(c.fs.docs[0].batch, 5);
    ASSERT_UINT_EQ(c.fs.docs[4].batch, 6);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_deletes_staged_batches_the_offset_covers)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 6, "0-1-60", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    stage(&c, 6, "0-1-60", 2, 1, 1, false);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(rec.offset.batch, 6);
    ASSERT_UINT_EQ(c.fs.commits, 0);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_deletes_committed_batches_a_deferred_cleanup_left_and_commits_none_again)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    /* kill -9 in a burst: batches 3..6 committed without deleting their staged parts (the
     * cleanup was deferred), batch 7 staged and not committed */
    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 6, "0-1-60", NULL, 0);
    stage(&c, 3, "0-1-30", 2, 1, 1, false);
    stage(&c, 4, "0-1-40", 2, 1, 1, false);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    stage(&c, 6, "0-1-60", 2, 1, 1, false);
    stage(&c, 7, "0-1-70", 2, 1, 1, false);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(rec.offset.batch, 7);
    ASSERT_STR_EQ(rec.offset.gtid, "0-1-70");
    /* only batch 7 is committed; 3..6 are deleted, none of their rows written again */
    ASSERT_UINT_EQ(c.fs.commits, 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 2);
    ASSERT_UINT_EQ(c.fs.docs[0].batch, 7);
    ASSERT_UINT_EQ(fake_sink_count_id(&c.fs, "p:0-1-50:1"), 0);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_discards_an_incomplete_batch_and_every_later_one)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false); /* complete: committed */
    stage(&c, 6, "0-1-60", 2, 3, 2, false); /* a part missing: a crash while staging */
    stage(&c, 7, "0-1-70", 2, 1, 1, false); /* complete, but after the gap */
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(rec.offset.batch, 5);
    ASSERT_STR_EQ(rec.offset.gtid, "0-1-50");
    ASSERT_UINT_EQ(c.fs.commits, 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 3);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_discards_a_batch_that_does_not_follow_the_offset)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 6, "0-1-60", 2, 1, 1, false); /* batch 5 is missing altogether */
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(rec.offset.batch, 4);
    ASSERT_UINT_EQ(c.fs.commits, 0);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_stops_on_a_damaged_staged_batch_and_commits_nothing_of_it)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, true);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_FALSE(sdl_recover(&env, &rec, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_INT_EQ(sdl_error_exit_status(&err), 65);
    ASSERT_UINT_EQ(c.fs.commits, 0);
    ASSERT_UINT_EQ(c.fs.offset.batch, 4);
    ASSERT_NOT_NULL(fake_sink_staged(&c.fs, 5)); /* kept for the operator */
    fake_sink_done(&c.fs);
}

TEST(recovery_retries_transient_failures)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 4, "0-1-40", 1, 1, 1, false);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_LOAD_OFFSET, FAKE_FAIL_TRANSIENT, 2);
    fake_sink_fail(&c.fs, FAKE_OP_LIST_STAGED, FAKE_FAIL_TRANSIENT, 1);
    fake_sink_fail(&c.fs, FAKE_OP_DELETE_STAGED, FAKE_FAIL_TRANSIENT, 1);
    fake_sink_fail(&c.fs, FAKE_OP_LOAD_STAGED, FAKE_FAIL_TRANSIENT, 1);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_TRANSIENT, 3);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(c.retries, 8);
    ASSERT_UINT_EQ(rec.offset.batch, 5);
    ASSERT_UINT_EQ(c.fs.commits, 1);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_gives_up_on_a_permanent_failure)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_PERMANENT, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_FALSE(sdl_recover(&env, &rec, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_UINT_EQ(c.fs.commits, 0);
    ASSERT_NOT_NULL(fake_sink_staged(&c.fs, 5)); /* the next start commits it */
    fake_sink_done(&c.fs);
}

/* ---- ambiguous commits and fencing ---- */

TEST(recovery_ambiguous_commit_that_was_applied_counts_once)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_APPLIED, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(c.fs.settled, 1);
    ASSERT_UINT_EQ(c.fs.calls[FAKE_OP_COMMIT], 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 3);
    ASSERT_UINT_EQ(fake_sink_count_id(&c.fs, "p:0-1-50:1"), 1);
    ASSERT_UINT_EQ(rec.offset.batch, 5);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_ambiguous_commit_that_was_not_applied_is_committed_again)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_LOST, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(c.fs.settled, 1);
    ASSERT_UINT_EQ(c.fs.calls[FAKE_OP_COMMIT], 2);
    ASSERT_UINT_EQ(c.fs.ndocs, 3);
    ASSERT_UINT_EQ(fake_sink_count_id(&c.fs, "p:0-1-50:3"), 1);
    ASSERT_UINT_EQ(rec.offset.batch, 5);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

static void
other_writer_commits_batch_5(env_ctx *c)
{
    fake_sink_set_offset(&c->fs, 5, "0-1-99", NULL, 0);
}

TEST(recovery_ambiguous_commit_after_another_writer_is_fencing)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    c.hook_what = "committing a staged batch";
    c.hook = other_writer_commits_batch_5;
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_AMBIGUOUS_LOST, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_FALSE(sdl_recover(&env, &rec, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(c.fs.settled, 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 0);
    ASSERT_STR_EQ(c.fs.offset.gtid, "0-1-99");
    fake_sink_done(&c.fs);
}

static void
other_writer_commits_batch_6(env_ctx *c)
{
    fake_sink_set_offset(&c->fs, 6, "0-1-99", NULL, 0);
}

TEST(recovery_commit_is_fenced_when_another_writer_moved_the_offset)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    c.hook_what = "committing a staged batch";
    c.hook = other_writer_commits_batch_6;
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_FALSE(sdl_recover(&env, &rec, &err));
    ASSERT_FALSE(err.transient);
    ASSERT_STR_CONTAINS(err.message, "fencing");
    ASSERT_UINT_EQ(c.fs.settled, 0);
    ASSERT_UINT_EQ(c.fs.ndocs, 0);
    fake_sink_done(&c.fs);
}

/* ---- too large, refused documents, no offset ---- */

TEST(recovery_drops_a_too_large_staged_batch_and_lowers_the_limits)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 8, 1, 1, false);
    stage(&c, 6, "0-1-60", 2, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_TOO_LARGE, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(c.retries, 0); /* too large is not retried as such */
    ASSERT_UINT_EQ(rec.limit_rows, 4);
    ASSERT_TRUE(rec.limit_bytes > 0);
    ASSERT_UINT_EQ(rec.offset.batch, 4); /* its changes are read again */
    ASSERT_UINT_EQ(c.fs.commits, 0);
    ASSERT_UINT_EQ(c.fs.nstaged, 0); /* and everything after it */
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_sets_a_refused_document_aside_and_commits_the_rest)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    fake_sink_set_offset(&c.fs, 4, "0-1-40", NULL, 0);
    stage(&c, 5, "0-1-50", 3, 1, 1, false);
    fake_sink_fail(&c.fs, FAKE_OP_COMMIT, FAKE_FAIL_REJECT_FIRST, 1);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_UINT_EQ(c.rejects, 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 3);
    ASSERT_TRUE(c.fs.docs[0].dead);
    ASSERT_FALSE(c.fs.docs[1].dead);
    ASSERT_UINT_EQ(rec.offset.dead_letters, 1);
    ASSERT_UINT_EQ(rec.offset.rows_applied, 102);
    /* the dead letter names the position recovery started from */
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, c.fs.docs[0].doc, "from"));
    ASSERT_STR_EQ(bson_iter_utf8(&it, NULL), "0-1-40");
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_without_an_offset_refuses_start_now_after_discarding)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    stage(&c, 2, "0-1-20", 2, 1, 1, false); /* staged by a version without batch 0 */
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_FALSE(sdl_recover(&env, &rec, &err));
    ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
    ASSERT_STR_CONTAINS(err.message, "pipeline.start");
    /* with a position to start from, the changes are read again */
    stage(&c, 2, "0-1-20", 2, 1, 1, false);
    env = env_of(&c, "0-1-1");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_FALSE(rec.found);
    ASSERT_UINT_EQ(c.fs.nstaged, 0);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

TEST(recovery_without_an_offset_commits_a_staged_batch_1)
{
    env_ctx c;
    sdl_recovery rec;
    sdl_error err = SDL_ERROR_INIT;

    setup();
    ctx_init(&c);
    stage(&c, 1, "0-1-10", 2, 1, 1, false);
    sdl_recovery_env env = env_of(&c, "now");
    ASSERT_OK(sdl_recover(&env, &rec, &err), &err);
    ASSERT_TRUE(rec.found);
    ASSERT_UINT_EQ(rec.offset.batch, 1);
    ASSERT_UINT_EQ(c.fs.ndocs, 2);
    sdl_recovery_done(&rec);
    fake_sink_done(&c.fs);
}

/* ---- the settle decision itself ---- */

TEST(settle_reads_the_offset_back)
{
    sdl_batch b;
    sdl_offset stored = {0};

    make_batch(&b, 5, "0-1-50", 1);
    stored.gtid = sdl_xstrdup("0-1-50");
    stored.batch = 5;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_COMMITTED);
    stored.batch = 4;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_NOT_COMMITTED);
    stored.batch = 5;
    free(stored.gtid);
    stored.gtid = sdl_xstrdup("0-1-99"); /* another writer's batch 5 */
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_OTHER_WRITER);
    stored.batch = 7;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_OTHER_WRITER);
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, false), SDL_SETTLE_OTHER_WRITER);
    b.number = 1;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, false), SDL_SETTLE_NOT_COMMITTED);
    /* inside a split transaction the partial seq tells parts apart */
    b.number = 5;
    b.offset_after.partial_gtid = sdl_xstrdup("0-1-51");
    b.offset_after.partial_seq = 10;
    free(stored.gtid);
    stored.gtid = sdl_xstrdup("0-1-50");
    stored.partial_gtid = sdl_xstrdup("0-1-51");
    stored.partial_seq = 10;
    stored.batch = 5;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_COMMITTED);
    stored.partial_seq = 20;
    ASSERT_INT_EQ(sdl_batch_settle(&b, &stored, true), SDL_SETTLE_OTHER_WRITER);
    sdl_offset_done(&stored);
    sdl_batch_done(&b);
}
