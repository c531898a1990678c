/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/daemon/cmd-status.h"
#include "sdl/daemon/snapshot.h"

#include "sdltest.h"

/* 2024-11-23T19:55:00Z */
#define T0_MS INT64_C(1732391700000)

static void
known_status(sdl_target_status *st)
{
    memset(st, 0, sizeof(*st));
    st->have_offset = true;
    st->offset.flavor = sdl_xstrdup("mariadb");
    st->offset.gtid = sdl_xstrdup("0-1-4711");
    st->offset.binlog_file = sdl_xstrdup("binlog.000042");
    st->offset.binlog_pos = 1234;
    st->offset.batch = 12;
    st->offset.rows_applied = 5000;
    st->offset.source_ts_sec = T0_MS / 1000 - 3; /* 19:54:57 */
    st->offset_updated_at_ms = T0_MS - 1500;     /* 19:54:58.500 */
    st->staged_batches = 0;
}

static char *
format(const sdl_target_status *st, int64_t now_ms, bool json)
{
    sdl_buf out = {0};
    char *s;

    sdl_status_format("main", st, now_ms, json, &out);
    s = sdl_xstrdup(sdl_buf_cstr(&out));
    sdl_buf_done(&out);
    return s;
}

TEST(status_human_output)
{
    sdl_target_status st;
    char *s;

    known_status(&st);
    s = format(&st, T0_MS + 10000, false);
    ASSERT_STR_EQ(s, "pipeline      main\n"
                     "gtid position 0-1-4711 (batch 12)\n"
                     "binlog        binlog.000042:1234\n"
                     "rows applied  5000\n"
                     "last commit   2024-11-23T19:54:58Z (11s ago)\n"
                     "source time   2024-11-23T19:54:57Z (13s ago; commit time of the last "
                     "applied transaction)\n"
                     "lag           1s at the last commit (last commit - source time); at most "
                     "13s now (now - source time)\n"
                     "staged        0 batches\n");
    free(s);

    st.offset.partial_gtid = sdl_xstrdup("0-1-4712");
    st.offset.partial_seq = 500;
    st.staged_batches = 2;
    st.staged_documents = 7;
    st.oldest_staged_ms = T0_MS - 125000;
    s = format(&st, T0_MS + 3600 * 1000 * 27, false);
    ASSERT_STR_CONTAINS(s, "split txn     inside 0-1-4712: 500 rows committed, the rest follow\n");
    ASSERT_STR_CONTAINS(s, "last commit   2024-11-23T19:54:58Z (1d03h ago)\n");
    ASSERT_STR_CONTAINS(s, "staged        2 batches (7 documents), oldest 1d03h old\n");
    free(s);
    s = format(&st, T0_MS + 5000, false);
    ASSERT_STR_CONTAINS(s, "staged        2 batches (7 documents), oldest 2m10s old\n");
    free(s);
    /* committed batches whose staged parts a later commit deletes: not a backlog */
    st.committed_staged_batches = 3;
    s = format(&st, T0_MS + 5000, false);
    ASSERT_STR_CONTAINS(s, "staged        2 batches (7 documents), oldest 2m10s old; 3 committed "
                           "batches awaiting cleanup\n");
    free(s);
    st.staged_batches = 0;
    st.staged_documents = 0;
    st.oldest_staged_ms = 0;
    st.committed_staged_batches = 1;
    s = format(&st, T0_MS + 5000, false);
    ASSERT_STR_CONTAINS(s, "staged        0 batches; 1 committed batch awaiting cleanup\n");
    free(s);
    s = format(&st, T0_MS + 5000, true);
    ASSERT_STR_CONTAINS(s, "\"staged\":{\"batches\":0,\"documents\":0,\"oldest\":null,"
                           "\"oldest_age_seconds\":null,\"committed_awaiting_cleanup\":1}");
    free(s);
    sdl_target_status_done(&st);
}

static uint8_t *
copy_doc(const bson_t *doc)
{
    uint8_t *b = sdl_xmalloc(doc->len);
    memcpy(b, bson_get_data(doc), doc->len);
    return b;
}

/* A running snapshot: its share of the rows estimated in all, and the time left at its
 * average rate since it began. */
TEST(status_snapshot_progress_and_time_left)
{
    sdl_target_status st;
    char *tables[] = {"a.x", "b.y"};
    char *s;

    known_status(&st);
    bson_t *p = sdl_snapshot_progress_new("s1", tables, 2);
    bson_t doc = BSON_INITIALIZER;
    bson_copy_to_excluding_noinit(p, &doc, "rows", "started", NULL);
    BSON_APPEND_INT64(&doc, "rows", 250);
    BSON_APPEND_INT64(&doc, "est_rows", 1000);
    BSON_APPEND_INT64(&doc, "started", T0_MS - 10000);
    st.offset.snapshot = copy_doc(&doc);
    st.offset.snapshot_len = doc.len;
    /* 250 rows in 10 s: 750 more in 30 s */
    s = format(&st, T0_MS, false);
    ASSERT_STR_CONTAINS(s, "snapshot      s1 running: table a.x (1 of 2), 250 rows committed; 25% "
                           "of ~1000 rows, ~30s left at its rate so far\n");
    free(s);
    s = format(&st, T0_MS, true);
    ASSERT_STR_CONTAINS(s, "\"snapshot\":{\"id\":\"s1\",\"state\":\"running\",\"table\":\"a.x\","
                           "\"tables\":2,\"tables_done\":0,\"rows\":250,\"rows_estimated\":1000,"
                           "\"seconds_left\":30,\"started\":\"2024-11-23T19:54:50.000Z\"}");
    free(s);
    /* a progress from before sdl kept the estimate: no share, no time left */
    bson_destroy(&doc);
    bson_init(&doc);
    bson_copy_to_excluding_noinit(p, &doc, "started", NULL);
    free(st.offset.snapshot);
    st.offset.snapshot = copy_doc(&doc);
    st.offset.snapshot_len = doc.len;
    s = format(&st, T0_MS, false);
    ASSERT_STR_CONTAINS(s, "snapshot      s1 running: table a.x (1 of 2), 0 rows committed\n");
    free(s);
    s = format(&st, T0_MS, true);
    ASSERT_STR_CONTAINS(s, "\"rows\":0,\"rows_estimated\":null,\"seconds_left\":null,"
                           "\"started\":null}");
    free(s);
    bson_destroy(&doc);
    bson_destroy(p);
    sdl_target_status_done(&st);
}

TEST(status_json_output)
{
    sdl_target_status st;
    char *s;

    known_status(&st);
    st.staged_batches = 1;
    st.staged_documents = 3;
    st.oldest_staged_ms = T0_MS - 2000;
    s = format(&st, T0_MS + 10000, true);
    ASSERT_STR_EQ(s, "{\"pipeline\":\"main\",\"now\":\"2024-11-23T19:55:10.000Z\","
                     "\"offset\":{\"gtid\":\"0-1-4711\",\"partial\":null,"
                     "\"binlog\":{\"file\":\"binlog.000042\",\"pos\":1234},\"batch\":12,"
                     "\"rows_applied\":5000,\"flavor\":\"mariadb\"},"
                     "\"last_commit\":\"2024-11-23T19:54:58.500Z\",\"last_commit_age_seconds\":11,"
                     "\"source_ts\":\"2024-11-23T19:54:57.000Z\",\"source_ts_age_seconds\":13,"
                     "\"lag_at_commit_seconds\":1,"
                     "\"staged\":{\"batches\":1,\"documents\":3,"
                     "\"oldest\":\"2024-11-23T19:54:58.000Z\",\"oldest_age_seconds\":12,"
                     "\"committed_awaiting_cleanup\":0},"
                     "\"dead_letters\":0}\n");
    free(s);
    sdl_target_status_done(&st);
}

TEST(status_without_offset)
{
    sdl_target_status st;
    char *s;

    memset(&st, 0, sizeof(st));
    s = format(&st, T0_MS, false);
    ASSERT_STR_EQ(s, "pipeline      main\n"
                     "offset        none yet: no batch committed (sdl run begins at "
                     "pipeline.start)\n"
                     "staged        0 batches\n");
    free(s);
    s = format(&st, T0_MS, true);
    ASSERT_STR_EQ(s, "{\"pipeline\":\"main\",\"now\":\"2024-11-23T19:55:00.000Z\",\"offset\":null,"
                     "\"last_commit\":null,\"last_commit_age_seconds\":null,\"source_ts\":null,"
                     "\"source_ts_age_seconds\":null,\"lag_at_commit_seconds\":null,"
                     "\"staged\":{\"batches\":0,\"documents\":0,\"oldest\":null,"
                     "\"oldest_age_seconds\":null,\"committed_awaiting_cleanup\":0},"
                     "\"dead_letters\":0}\n");
    free(s);
}

TEST(status_usage_errors)
{
    char *argv1[] = {"status", NULL};
    char *argv2[] = {"status", "-c", "/nonexistent/sdl.yaml", NULL};
    char *argv3[] = {"status", "--bogus", NULL};

    /* without -c: the default file; an unreadable file is a configuration error, as in
     * sdl run and sdl check-config */
    ASSERT_INT_EQ(sdl_cmd_status(1, argv1), 78);
    ASSERT_INT_EQ(sdl_cmd_status(3, argv2), 78);
    ASSERT_INT_EQ(sdl_cmd_status(2, argv3), 2);
}
