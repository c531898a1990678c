/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of daemon/snapshot.c (DESIGN.md §9): keys matched whatever produced them,
 * snapshot documents, the progress document and what `sdl status` reads of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/daemon/snapshot.h"
#include "sdl/mysql/snapshot-reader.h"

#include "sdltest.h"

static bool
same_key(const sdl_value *a, const sdl_value *b)
{
    uint32_t col = 0;
    char *x = sdl_snapshot_key_text(a, &col, 1), *y = sdl_snapshot_key_text(b, &col, 1);
    bool same = strcmp(x, y) == 0;

    free(x);
    free(y);
    return same;
}

static sdl_value
dec64(int64_t unscaled, uint8_t scale)
{
    sdl_value v = {.kind = SDL_VALUE_DECIMAL64, .scale = scale, .precision = 12};
    v.i = unscaled;
    return v;
}

static sdl_value
text(sdl_value_kind kind, const char *s)
{
    sdl_value v = {.kind = kind};
    v.str.ptr = s;
    v.str.len = strlen(s);
    return v;
}

TEST(snapshot_keys_match_decimals_from_the_binlog_and_from_select)
{
    sdl_value t;

    /* the binlog's DECIMAL(≤ 18) is an unscaled integer; the SELECT's is the server's text */
    t = text(SDL_VALUE_DECIMAL, "-12.34");
    sdl_value d = dec64(-1234, 2);
    ASSERT_TRUE(same_key(&d, &t));
    t = text(SDL_VALUE_DECIMAL, "0.005");
    d = dec64(5, 3);
    ASSERT_TRUE(same_key(&d, &t));
    t = text(SDL_VALUE_DECIMAL, "42");
    d = dec64(42, 0);
    ASSERT_TRUE(same_key(&d, &t));
    t = text(SDL_VALUE_DECIMAL, "4.2");
    ASSERT_FALSE(same_key(&d, &t));
    /* integers, strings, dates: equal values only */
    sdl_value a = {.kind = SDL_VALUE_INT}, b = {.kind = SDL_VALUE_UINT};
    a.i = 7;
    b.u = 7;
    ASSERT_TRUE(same_key(&a, &b));
    b.u = 8;
    ASSERT_FALSE(same_key(&a, &b));
    sdl_value s1 = text(SDL_VALUE_STRING, "ab"), s2 = text(SDL_VALUE_STRING, "ab\0c");
    s2.str.len = 4;
    ASSERT_FALSE(same_key(&s1, &s2));
    s2.str.len = 2;
    ASSERT_TRUE(same_key(&s1, &s2));
    sdl_value t1 = {.kind = SDL_VALUE_DATETIME}, t2 = {.kind = SDL_VALUE_DATETIME};
    t1.usec = 1700000000123456;
    t2.usec = 1700000000123457;
    ASSERT_FALSE(same_key(&t1, &t2));
    /* a composite key: both columns count */
    sdl_value r1[2] = {a, s1}, r2[2] = {a, text(SDL_VALUE_STRING, "ac")};
    uint32_t cols[2] = {0, 1};
    char *k1 = sdl_snapshot_key_text(r1, cols, 2), *k2 = sdl_snapshot_key_text(r2, cols, 2);
    ASSERT_TRUE(strcmp(k1, k2) != 0);
    free(k1);
    free(k2);
}

TEST(snapshot_document_is_the_insert_with_op_snapshot_and_its_chunk)
{
    bson_t *doc = BCON_NEW("_id", "p:0-1-9:2", "op", "insert", "db", "shop", "table", "t", "pk",
                           "{", "id", BCON_INT32(1), "}", "after", "{", "id", BCON_INT32(1), "}",
                           "gtid", "0-1-9", "seq", BCON_INT64(2));
    bson_t out;
    bson_iter_t it;
    const char *keys[] = {"_id", "op", "db", "table", "pk", "after", "gtid", "seq", "snapshot"};
    size_t i = 0;

    sdl_snapshot_document(doc, "s1", 3, &out);
    ASSERT_TRUE(bson_iter_init(&it, &out));
    while (bson_iter_next(&it)) {
        ASSERT_TRUE(i < sizeof(keys) / sizeof(keys[0]));
        ASSERT_STR_EQ(bson_iter_key(&it), keys[i]);
        i++;
    }
    ASSERT_UINT_EQ(i, 9);
    ASSERT_TRUE(bson_iter_init_find(&it, &out, "op"));
    ASSERT_STR_EQ(bson_iter_utf8(&it, NULL), "snapshot");
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "snapshot.id", &it));
    ASSERT_STR_EQ(bson_iter_utf8(&it, NULL), "s1");
    ASSERT_TRUE(bson_iter_init(&it, &out) && bson_iter_find_descendant(&it, "snapshot.chunk", &it));
    ASSERT_INT_EQ(bson_iter_int64(&it), 3);
    bson_destroy(&out);
    bson_destroy(doc);
}

TEST(snapshot_progress_says_what_status_prints)
{
    char *tables[] = {"a.x", "b.y"};
    bson_t *p = sdl_snapshot_progress_new("s9", tables, 2);
    sdl_snapshot_summary sum;
    char buf[256];

    ASSERT_TRUE(sdl_snapshot_summarize(bson_get_data(p), p->len, &sum));
    ASSERT_STR_EQ(sum.id, "s9");
    ASSERT_STR_EQ(sum.state, "running");
    ASSERT_STR_EQ(sum.table, "a.x");
    ASSERT_UINT_EQ(sum.ntables, 2);
    ASSERT_UINT_EQ(sum.done, 0);
    ASSERT_UINT_EQ(sum.rows, 0);
    ASSERT_FALSE(sdl_snapshot_summarize(NULL, 0, &sum));
    /* a pipeline resuming from it has tables to read */
    sdl_snapshot *s = sdl_snapshot_new(NULL, bson_get_data(p), p->len);
    ASSERT_TRUE(sdl_snapshot_pending(s));
    sdl_snapshot_describe(s, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "a.x (table 1 of 2), 0 rows");
    ASSERT_FALSE(sdl_snapshot_at_commit(s, "0-1-5")); /* no chunk in flight */
    sdl_snapshot_free(s);
    /* without a progress (no snapshot yet): nothing to read */
    s = sdl_snapshot_new(NULL, NULL, 0);
    ASSERT_FALSE(sdl_snapshot_pending(s));
    sdl_snapshot_free(s);
    bson_destroy(p);
}

/* The time left: the rows still to read at the rate so far; unknown before a second passed,
 * before a row was read, and once the estimate is passed. */
TEST(snapshot_time_left_is_the_rest_at_the_rate_so_far)
{
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 250, 250, 10 * 1000000u), 30);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 250, 50, 10 * 1000000u), 150);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 999, 999, 2 * 1000000u), 1);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 250, 250, 999999), 0);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 250, 0, 10 * 1000000u), 0);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 1000, 1000, 10 * 1000000u), 0);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(1000, 1200, 1200, 10 * 1000000u), 0);
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(0, 0, 10, 10 * 1000000u), 0);
    /* 10^9 rows left at 10^4 rows/s over a day's microseconds: no overflow */
    ASSERT_UINT_EQ(sdl_snapshot_seconds_left(UINT64_C(2000000000), UINT64_C(864000000),
                                             UINT64_C(864000000), UINT64_C(86400000000)),
                   113600);
    /* a new progress says when its snapshot began; sdl status reads it and the estimate */
    char *tables[] = {"a.x"};
    bson_t *p = sdl_snapshot_progress_new("s2", tables, 1);
    sdl_snapshot_summary sum;
    ASSERT_TRUE(sdl_snapshot_summarize(bson_get_data(p), p->len, &sum));
    ASSERT_TRUE(sum.started_ms > INT64_C(1700000000000));
    ASSERT_UINT_EQ(sum.est_rows, 0);
    bson_destroy(p);
    /* a pipeline that has not described a table has no estimate */
    uint64_t rows = 1, secs = 1;
    sdl_snapshot *s = sdl_snapshot_new(NULL, NULL, 0);
    sdl_snapshot_estimate(s, &rows, &secs);
    ASSERT_UINT_EQ(rows, 0);
    ASSERT_UINT_EQ(secs, 0);
    sdl_snapshot_free(s);
}

/* snapshot.mode consistent: the stream's position must include the view's before the view's
 * rows go in (MariaDB GTID positions per domain; MySQL GTID sets). */
TEST(snapshot_consistent_view_is_due_when_the_stream_has_reached_its_position)
{
    /* MariaDB: every domain of the view at or behind the stream's */
    ASSERT_TRUE(sdl_snapshot_position_reached("0-1-10", "0-1-10"));
    ASSERT_TRUE(sdl_snapshot_position_reached("0-1-11", "0-1-10"));
    ASSERT_FALSE(sdl_snapshot_position_reached("0-1-9", "0-1-10"));
    ASSERT_TRUE(sdl_snapshot_position_reached("0-1-10,1-1-5", "0-1-10,1-1-5"));
    ASSERT_FALSE(sdl_snapshot_position_reached("0-1-10,1-1-4", "0-1-10,1-1-5"));
    ASSERT_FALSE(sdl_snapshot_position_reached("0-1-10", "0-1-10,1-1-5")); /* domain missing */
    ASSERT_TRUE(sdl_snapshot_position_reached("0-1-3", "")); /* an empty binlog: at once */
    ASSERT_TRUE(sdl_snapshot_position_reached("", ""));
    ASSERT_FALSE(sdl_snapshot_position_reached("", "0-1-1"));
    /* MySQL: the view's GTID set contained in the stream's */
    const char *u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    char cur[128], view[128];
    (void)snprintf(cur, sizeof(cur), "%s:1-20", u);
    (void)snprintf(view, sizeof(view), "%s:1-20", u);
    ASSERT_TRUE(sdl_snapshot_position_reached(cur, view));
    (void)snprintf(view, sizeof(view), "%s:1-21", u);
    ASSERT_FALSE(sdl_snapshot_position_reached(cur, view));
    /* what does not parse is never reached (the snapshot waits; nothing is misplaced) */
    ASSERT_FALSE(sdl_snapshot_position_reached("garbage", "0-1-1"));
    ASSERT_FALSE(sdl_snapshot_position_reached(NULL, "0-1-1"));
}

/* A consistent-mode snapshot with no view open has nothing due, and its stream position is
 * recorded without effect in watermark mode. */
TEST(snapshot_consistent_nothing_due_without_a_view)
{
    char *names[] = {"a.x"};
    bson_t *p = sdl_snapshot_progress_new("s1", names, 1);
    sdl_snapshot *s = sdl_snapshot_new(NULL, bson_get_data(p), p->len);

    sdl_snapshot_stream_at(s, "0-1-5");
    ASSERT_FALSE(sdl_snapshot_due(s));
    ASSERT_FALSE(sdl_snapshot_due(NULL));
    sdl_snapshot_free(s);
    bson_destroy(p);
}

/* snapshot.mode consistent on MySQL needs GTIDs: a source without them (gtid_mode OFF, the
 * permissive modes, or no such variable) has file:offset positions, which a view's GTID set
 * is never "reached" by: refused (exit 78) rather than waiting forever. */
TEST(snapshot_consistent_mode_refuses_a_mysql_source_without_gtids)
{
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_TRUE(sdl_snapshot_consistent_gtids_ok("ON", &err));
    ASSERT_TRUE(sdl_snapshot_consistent_gtids_ok("on", &err));
    const char *off[] = {"OFF", "ON_PERMISSIVE", "OFF_PERMISSIVE", "", NULL};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        sdl_error_clear(&err);
        ASSERT_FALSE(sdl_snapshot_consistent_gtids_ok(off[i], &err));
        ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
        ASSERT_STR_CONTAINS(err.message, "gtid_mode=ON");
        ASSERT_STR_CONTAINS(err.message, "snapshot.mode: consistent");
    }
}
