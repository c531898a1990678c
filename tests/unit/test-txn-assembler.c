/* SPDX-License-Identifier: Apache-2.0 */
/* The transaction state machine fed synthetic event sequences: every path ends with exactly
 * one COMMIT carrying the position after the transaction. */
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/txn-assembler.h"

#include "sdltest.h"

#define U1    "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define FILE1 "binlog.000001"

static bool resumed_rows; /* sdl_txn_assembler_rows() says; not looked at */

static sdl_bytes
stmt(const char *text)
{
    return (sdl_bytes){(const uint8_t *)text, strlen(text)};
}

static void
init(sdl_txn_assembler *a, const sdl_txn_assembler_options *opts, unsigned accept,
     const char *start)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_position pos = SDL_SOURCE_POSITION_INIT;

    sdl_txn_assembler_init(a, opts);
    if (!sdl_source_position_parse(start, accept, &pos, &err)) {
        sdltest_fail(__FILE__, __LINE__, "parsing '%s': %s", start, err.message);
    }
    sdl_txn_assembler_set_position(a, &pos);
    sdl_source_position_done(&pos);
}

static void
begin_mariadb(sdl_txn_assembler *a, uint32_t domain, uint64_t seq, bool standalone)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_txn id;
    bool resumed = true;

    sdl_source_txn_set_mariadb(&id, &(sdl_gtid){domain, 1, seq});
    ASSERT_OK(sdl_txn_assembler_begin(a, &id, standalone, 1000, &resumed, &err), &err);
    ASSERT_FALSE(resumed);
}

/* A query that hands nothing out. */
static void
marker(sdl_txn_assembler *a, const char *text, uint64_t pos, uint64_t end)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_query_result r;

    ASSERT_OK(sdl_txn_assembler_query(a, stmt(text), FILE1, pos, end, 1000, &r, &err), &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_NONE);
}

/* A rows event of @n rows, none handed out before. */
static void
rows(sdl_txn_assembler *a, uint64_t pos, int n, uint64_t first_seq)
{
    sdl_error err = SDL_ERROR_INIT;
    bool began = true, again = true;

    ASSERT_OK(sdl_txn_assembler_rows(a, FILE1, pos, 1000, &began, &resumed_rows, &err), &err);
    ASSERT_FALSE(began);
    for (int i = 0; i < n; i++) {
        ASSERT_UINT_EQ(sdl_txn_assembler_row(a, &again), first_seq + (uint64_t)i);
        ASSERT_FALSE(again);
    }
}

/* Exactly one COMMIT is pending: take it and check it. */
static void
expect_commit(sdl_txn_assembler *a, const char *txn, uint64_t seq, uint64_t end,
              const char *position, bool hand_out)
{
    sdl_txn_commit c;

    ASSERT_TRUE(sdl_txn_assembler_commit_pending(a));
    ASSERT_TRUE(sdl_txn_assembler_commit(a, FILE1, &c) == hand_out);
    ASSERT_STR_EQ(c.txn, txn);
    ASSERT_UINT_EQ(c.txn_len, strlen(txn));
    ASSERT_UINT_EQ(c.seq, seq);
    ASSERT_UINT_EQ(c.end_pos, end);
    ASSERT_STR_EQ(c.position, position);
    ASSERT_STR_EQ(a->position_text, position);
    ASSERT_FALSE(sdl_txn_assembler_commit_pending(a));
    ASSERT_FALSE(sdl_txn_assembler_in_txn(a));
}

static const sdl_txn_assembler_options mariadb_server = {0};

TEST(rows_then_xid_end_with_one_commit_filtered_or_not)
{
    sdl_txn_assembler a;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    ASSERT_STR_EQ(a.position_text, "0-1-5");
    begin_mariadb(&a, 0, 6, false);
    ASSERT_TRUE(sdl_txn_assembler_in_txn(&a));
    ASSERT_INT_EQ(a.state, SDL_TXN_GTID);
    marker(&a, "BEGIN", 100, 150);
    /* whether the caller's filters keep these rows is not the assembler's business */
    rows(&a, 200, 3, 1);
    rows(&a, 300, 2, 4);
    ASSERT_INT_EQ(a.state, SDL_TXN_ROWS);
    ASSERT_FALSE(sdl_txn_assembler_commit_pending(&a));
    sdl_txn_assembler_xid(&a, 420);
    expect_commit(&a, "0-1-6", 5, 420, "0-1-6", true);

    /* a transaction of no rows at all (every statement filtered on the source) */
    begin_mariadb(&a, 1, 3, false);
    marker(&a, "BEGIN", 420, 470);
    sdl_txn_assembler_xid(&a, 500);
    expect_commit(&a, "1-1-3", 0, 500, "0-1-6,1-1-3", true);

    /* XID and COMMIT outside a transaction: the tail of one resumed after */
    sdl_txn_assembler_xid(&a, 600);
    ASSERT_FALSE(sdl_txn_assembler_commit_pending(&a));
    marker(&a, "COMMIT", 600, 650);
    ASSERT_FALSE(sdl_txn_assembler_in_txn(&a));
    sdl_txn_assembler_done(&a);
}

TEST(query_commit_and_rollback_end_transactions_like_an_xid)
{
    sdl_txn_assembler a;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "");
    /* non-transactional engines: rows end with a QUERY COMMIT */
    begin_mariadb(&a, 0, 1, false);
    marker(&a, "BEGIN", 100, 150);
    rows(&a, 150, 1, 1);
    marker(&a, "COMMIT", 250, 300);
    expect_commit(&a, "0-1-1", 1, 300, "0-1-1", true);
    /* an empty transaction the server logged as rolled back */
    begin_mariadb(&a, 0, 2, false);
    marker(&a, "BEGIN", 300, 350);
    marker(&a, "SAVEPOINT a", 350, 380);
    marker(&a, "ROLLBACK", 380, 400);
    expect_commit(&a, "0-1-2", 0, 400, "0-1-2", true);
    sdl_txn_assembler_done(&a);
}

TEST(a_standalone_ddl_is_one_change_then_its_commit)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    begin_mariadb(&a, 0, 6, true); /* FL_STANDALONE */
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t (a INT)"), FILE1, 100, 180, 1000, &r,
                                      &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    ASSERT_UINT_EQ(r.seq, 1);
    ASSERT_FALSE(r.again);
    ASSERT_FALSE(r.began);
    expect_commit(&a, "0-1-6", 1, 180, "0-1-6", true);

    /* a standalone DDL the caller filters: its COMMIT all the same */
    begin_mariadb(&a, 0, 7, true);
    ASSERT_OK(
        sdl_txn_assembler_query(&a, stmt("DROP TABLE other.t"), FILE1, 180, 240, 1000, &r, &err),
        &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    expect_commit(&a, "0-1-7", 1, 240, "0-1-7", true);
    sdl_txn_assembler_done(&a);
}

TEST(a_ddl_inside_a_transaction_comes_first_and_never_after_rows)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    /* CREATE TABLE ... SELECT: MariaDB's GTID flags it DDL without STANDALONE */
    begin_mariadb(&a, 0, 6, false);
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t SELECT * FROM s"), FILE1, 100, 200,
                                      1000, &r, &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    ASSERT_UINT_EQ(r.seq, 1);
    ASSERT_FALSE(sdl_txn_assembler_commit_pending(&a));
    rows(&a, 200, 2, 2);
    sdl_txn_assembler_xid(&a, 330);
    expect_commit(&a, "0-1-6", 3, 330, "0-1-6", true);

    /* a DDL after rows: never guessed */
    begin_mariadb(&a, 0, 7, false);
    marker(&a, "BEGIN", 330, 380);
    rows(&a, 380, 1, 1);
    ASSERT_FALSE(sdl_txn_assembler_query(&a, stmt("ALTER TABLE t ADD b INT"), FILE1, 480, 540, 1000,
                                         &r, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_STR_CONTAINS(err.message, "transaction 0-1-7: DDL after the row changes");
    ASSERT_STR_CONTAINS(err.message, "ALTER TABLE");
    ASSERT_STR_EQ(a.position_text, "0-1-6");
    sdl_txn_assembler_done(&a);
}

TEST(statements_sdl_does_not_replicate_end_the_stream_or_become_changes)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;
    sdl_txn_assembler_options opts = {.statements_as_changes = true};

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "");
    begin_mariadb(&a, 0, 1, false);
    marker(&a, "BEGIN", 100, 150);
    ASSERT_FALSE(sdl_txn_assembler_query(&a, stmt("INSERT INTO t VALUES (1)"), FILE1, 150, 200,
                                         1000, &r, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_STR_CONTAINS(err.message, "statement-based row change");
    sdl_error_clear(&err);
    ASSERT_FALSE(
        sdl_txn_assembler_query(&a, stmt("FROBNICATE t"), FILE1, 150, 200, 1000, &r, &err));
    ASSERT_INT_EQ(err.code, SDL_E_DATA);
    ASSERT_STR_CONTAINS(err.message, "statement sdl does not know");
    sdl_error_clear(&err);
    ASSERT_FALSE(
        sdl_txn_assembler_query(&a, stmt("XA START 'x'"), FILE1, 150, 200, 1000, &r, &err));
    ASSERT_INT_EQ(err.code, SDL_E_UNSUPPORTED);
    sdl_error_clear(&err);
    sdl_txn_assembler_done(&a);

    /* sdl tail --statements print */
    init(&a, &opts, SDL_SOURCE_ACCEPT_MARIADB, "");
    begin_mariadb(&a, 0, 1, false);
    marker(&a, "BEGIN", 100, 150);
    rows(&a, 150, 1, 1);
    ASSERT_OK(
        sdl_txn_assembler_query(&a, stmt("UPDATE t SET a = 2"), FILE1, 250, 300, 1000, &r, &err),
        &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_STATEMENT);
    ASSERT_UINT_EQ(r.seq, 2);
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("ALTER TABLE t ADD b INT"), FILE1, 300, 350, 1000,
                                      &r, &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    ASSERT_UINT_EQ(r.seq, 3);
    ASSERT_INT_EQ(a.state, SDL_TXN_ROWS);
    marker(&a, "COMMIT", 350, 400);
    expect_commit(&a, "0-1-1", 3, 400, "0-1-1", true);
    sdl_txn_assembler_done(&a);
}

TEST(mariadb_transactions_begin_only_with_their_gtid)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;
    bool began = true, resumed = false;
    sdl_source_txn id;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    ASSERT_FALSE(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t (a INT)"), FILE1, 100, 150, 1000,
                                         &r, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_CONTAINS(err.message, "transaction (none): statement outside a transaction");
    sdl_error_clear(&err);
    ASSERT_FALSE(sdl_txn_assembler_rows(&a, FILE1, 100, 1000, &began, &resumed_rows, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_CONTAINS(err.message, "rows event outside a transaction");
    sdl_error_clear(&err);

    /* a transaction has one end: a GTID inside an open one is a protocol error */
    begin_mariadb(&a, 0, 6, false);
    rows(&a, 100, 1, 1);
    sdl_source_txn_set_mariadb(&id, &(sdl_gtid){0, 1, 7});
    ASSERT_FALSE(sdl_txn_assembler_begin(&a, &id, false, 1000, &resumed, &err));
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_STR_CONTAINS(err.message, "transaction 0-1-7 begins before transaction 0-1-6 ended");
    sdl_error_clear(&err);
    sdl_txn_assembler_done(&a);

    /* binlog files may end inside a transaction and go on with the next file */
    sdl_txn_assembler_options files = {
        .statements_begin_txns = true, .rows_begin_txns = true, .overlap_ok = true};
    init(&a, &files, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    begin_mariadb(&a, 0, 6, false);
    rows(&a, 100, 1, 1);
    begin_mariadb(&a, 0, 7, false);
    rows(&a, 300, 1, 1);
    sdl_txn_assembler_xid(&a, 400);
    expect_commit(&a, "0-1-7", 1, 400, "0-1-7", true);
    /* ... or end with one: it is dropped */
    begin_mariadb(&a, 0, 8, false);
    rows(&a, 400, 1, 1);
    sdl_txn_assembler_abandon(&a);
    ASSERT_FALSE(sdl_txn_assembler_in_txn(&a));
    ASSERT_FALSE(sdl_txn_assembler_commit_pending(&a));
    ASSERT_STR_EQ(a.position_text, "0-1-7");
    sdl_txn_assembler_done(&a);
}

TEST(mysql_gtids_are_standalone_until_a_begin)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;
    sdl_txn_assembler_options mysql = {.statements_begin_txns = true};
    sdl_mysql_gtid g;
    sdl_source_txn id;
    bool resumed;

    init(&a, &mysql, SDL_SOURCE_ACCEPT_MYSQL, U1 ":1-5");
    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":6", strlen(U1 ":6"), &g, &err), &err);
    sdl_source_txn_set_mysql(&id, &g);
    ASSERT_OK(sdl_txn_assembler_begin(&a, &id, true, 1000, &resumed, &err), &err);
    marker(&a, "BEGIN", 100, 150);
    rows(&a, 150, 2, 1);
    sdl_txn_assembler_xid(&a, 300);
    expect_commit(&a, U1 ":6", 2, 300, U1 ":1-6", true);

    /* a DDL: GTID, then the statement, no BEGIN */
    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":7", strlen(U1 ":7"), &g, &err), &err);
    sdl_source_txn_set_mysql(&id, &g);
    ASSERT_OK(sdl_txn_assembler_begin(&a, &id, true, 1000, &resumed, &err), &err);
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t (a INT)"), FILE1, 300, 380, 1000, &r,
                                      &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    expect_commit(&a, U1 ":7", 1, 380, U1 ":1-7", true);

    /* an ANONYMOUS_GTID: the position stands at the file offset after it */
    sdl_source_txn_set_anonymous(&id, FILE1, 380);
    ASSERT_OK(sdl_txn_assembler_begin(&a, &id, true, 1000, &resumed, &err), &err);
    marker(&a, "BEGIN", 420, 470);
    rows(&a, 470, 1, 1);
    sdl_txn_assembler_xid(&a, 560);
    expect_commit(&a, FILE1 ":380", 1, 560, FILE1 ":560", true);
    sdl_txn_assembler_done(&a);
}

TEST(mysql_without_gtids_names_transactions_by_file_and_offset)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;
    sdl_txn_assembler_options byfile = {.statements_begin_txns = true, .rows_begin_txns = true};
    bool began = false;

    init(&a, &byfile, SDL_SOURCE_ACCEPT_FILE, FILE1 ":4");
    ASSERT_INT_EQ(a.position.kind, SDL_SOURCE_POSITION_FILE);
    ASSERT_STR_EQ(a.position_text, FILE1 ":4");
    /* BEGIN begins a transaction without a GTID */
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("BEGIN"), FILE1, 120, 180, 1000, &r, &err), &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_NONE);
    ASSERT_TRUE(r.began);
    ASSERT_FALSE(r.resumed);
    ASSERT_STR_EQ(a.txn.text, FILE1 ":120");
    rows(&a, 180, 2, 1);
    sdl_txn_assembler_xid(&a, 300);
    expect_commit(&a, FILE1 ":120", 2, 300, FILE1 ":300", true);

    /* any other statement is a transaction by itself */
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t (a INT)"), FILE1, 300, 370, 1000, &r,
                                      &err),
              &err);
    ASSERT_TRUE(r.began);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    ASSERT_UINT_EQ(r.seq, 1);
    expect_commit(&a, FILE1 ":300", 1, 370, FILE1 ":370", true);

    /* rows without BEGIN (old servers) begin one too */
    ASSERT_OK(sdl_txn_assembler_rows(&a, FILE1, 370, 1000, &began, &resumed_rows, &err), &err);
    ASSERT_TRUE(began);
    ASSERT_STR_EQ(a.txn.text, FILE1 ":370");
    marker(&a, "COMMIT", 450, 500);
    expect_commit(&a, FILE1 ":370", 0, 500, FILE1 ":500", true);
    sdl_txn_assembler_done(&a);
}

TEST(a_split_transaction_resumes_after_its_committed_rows)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_assembler_options split = {.skip_gtid = "0-1-6", .skip_rows = 2};
    bool again = false, resumed = true;
    sdl_source_txn id;

    init(&a, &split, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    begin_mariadb(&a, 0, 6, false);
    ASSERT_OK(sdl_txn_assembler_rows(&a, FILE1, 100, 1000, &again, &resumed_rows, &err), &err);
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 1);
    ASSERT_TRUE(again);
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 2);
    ASSERT_TRUE(again);
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 3);
    ASSERT_FALSE(again);
    sdl_txn_assembler_xid(&a, 300);
    expect_commit(&a, "0-1-6", 3, 300, "0-1-6", true);
    /* only the first transaction */
    begin_mariadb(&a, 0, 7, false);
    rows(&a, 300, 2, 1);
    sdl_txn_assembler_xid(&a, 400);
    expect_commit(&a, "0-1-7", 2, 400, "0-1-7", true);
    sdl_txn_assembler_done(&a);

    /* the source sends another transaction first: the binlog no longer matches */
    init(&a, &split, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    sdl_source_txn_set_mariadb(&id, &(sdl_gtid){0, 1, 9});
    ASSERT_FALSE(sdl_txn_assembler_begin(&a, &id, false, 1000, &resumed, &err));
    ASSERT_INT_EQ(err.code, SDL_E_SOURCE);
    ASSERT_STR_CONTAINS(err.message, "resuming split transaction 0-1-6 after its row 2");
    sdl_txn_assembler_done(&a);
}

TEST(a_lost_connection_skips_the_rows_already_handed_out)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_source_txn id;
    bool again = false, resumed = false;

    init(&a, &mariadb_server, SDL_SOURCE_ACCEPT_MARIADB, "0-1-5");
    begin_mariadb(&a, 0, 6, false);
    rows(&a, 100, 3, 1);
    sdl_txn_assembler_lost(&a);
    ASSERT_FALSE(sdl_txn_assembler_in_txn(&a));
    ASSERT_STR_EQ(a.position_text, "0-1-5");

    /* read again from its GTID: rows 1-3 were handed out */
    sdl_source_txn_set_mariadb(&id, &(sdl_gtid){0, 1, 6});
    ASSERT_OK(sdl_txn_assembler_begin(&a, &id, false, 1000, &resumed, &err), &err);
    ASSERT_TRUE(resumed);
    ASSERT_OK(sdl_txn_assembler_rows(&a, FILE1, 100, 1000, &again, &resumed_rows, &err), &err);
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 1);
    ASSERT_TRUE(again);
    sdl_txn_assembler_lost(&a); /* lost again after one row: skip_seq stays 3 */
    ASSERT_OK(sdl_txn_assembler_begin(&a, &id, false, 1000, &resumed, &err), &err);
    ASSERT_TRUE(resumed);
    ASSERT_OK(sdl_txn_assembler_rows(&a, FILE1, 100, 1000, &again, &resumed_rows, &err), &err);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), seq);
        ASSERT_TRUE(again);
    }
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 4);
    ASSERT_FALSE(again);
    sdl_txn_assembler_xid(&a, 500);
    expect_commit(&a, "0-1-6", 4, 500, "0-1-6", true);
    /* the next transaction is a new one */
    begin_mariadb(&a, 0, 7, false);
    rows(&a, 500, 1, 1);
    sdl_txn_assembler_lost(&a);
    sdl_txn_assembler_lost(&a); /* outside a transaction: nothing */
    sdl_txn_assembler_done(&a);
}

TEST(transactions_from_covers_are_read_but_not_handed_out)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_txn_assembler a;
    sdl_txn_query_result r;
    sdl_source_position from = SDL_SOURCE_POSITION_INIT;
    sdl_txn_assembler_options files = {
        .statements_begin_txns = true, .rows_begin_txns = true, .overlap_ok = true};
    bool again = false;

    init(&a, &files, SDL_SOURCE_ACCEPT_MARIADB, "0-1-6");
    ASSERT_OK(sdl_source_position_parse("0-1-6", SDL_SOURCE_ACCEPT_MARIADB, &from, &err), &err);
    sdl_txn_assembler_set_from(&a, &from);
    sdl_source_position_done(&from);
    begin_mariadb(&a, 0, 6, false);
    ASSERT_OK(sdl_txn_assembler_rows(&a, FILE1, 100, 1000, &again, &resumed_rows, &err), &err);
    ASSERT_UINT_EQ(sdl_txn_assembler_row(&a, &again), 1);
    ASSERT_TRUE(again);
    /* what it holds is not looked at: not even a statement that would stop the stream */
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("INSERT INTO t VALUES (1)"), FILE1, 200, 250, 1000,
                                      &r, &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_NONE);
    sdl_txn_assembler_xid(&a, 300);
    expect_commit(&a, "0-1-6", 2, 300, "0-1-6", false);
    /* a standalone DDL inside --from */
    begin_mariadb(&a, 0, 5, true);
    ASSERT_OK(sdl_txn_assembler_query(&a, stmt("CREATE TABLE t (a INT)"), FILE1, 300, 350, 1000, &r,
                                      &err),
              &err);
    ASSERT_INT_EQ(r.step, SDL_TXN_STEP_DDL);
    ASSERT_TRUE(r.again);
    expect_commit(&a, "0-1-5", 1, 350, "0-1-5", false); /* as the binlog says */
    /* after it */
    begin_mariadb(&a, 0, 7, false);
    rows(&a, 350, 1, 1);
    sdl_txn_assembler_xid(&a, 400);
    expect_commit(&a, "0-1-7", 1, 400, "0-1-7", true);
    sdl_txn_assembler_done(&a);
}
