/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/source-position.h"

#include "sdltest.h"

#define U1 "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define U2 "4c1fa1b2-0000-11e1-9e33-c80aa9429562"

#define ALL (SDL_SOURCE_ACCEPT_MARIADB | SDL_SOURCE_ACCEPT_MYSQL | SDL_SOURCE_ACCEPT_FILE)

static void
check_text(const sdl_source_position *pos, const char *want)
{
    char *got = sdl_source_position_format(pos);
    if (strcmp(got, want) != 0) {
        sdltest_fail(__FILE__, __LINE__, "position is '%s', want '%s'", got, want);
    }
    free(got);
}

TEST(flavour_names_and_the_form_of_texts)
{
    ASSERT_STR_EQ(sdl_source_flavor_name(SDL_BINLOG_FLAVOR_MARIADB), "mariadb");
    ASSERT_STR_EQ(sdl_source_flavor_name(SDL_BINLOG_FLAVOR_MYSQL), "mysql");
    ASSERT_STR_EQ(sdl_source_flavor_name(SDL_BINLOG_FLAVOR_UNKNOWN), "");
    ASSERT_INT_EQ(sdl_source_flavor_of_text("0-1-5,1-2-3"), SDL_BINLOG_FLAVOR_MARIADB);
    ASSERT_INT_EQ(sdl_source_flavor_of_text(U1 ":1-5"), SDL_BINLOG_FLAVOR_MYSQL);
    ASSERT_INT_EQ(sdl_source_flavor_of_text("binlog.000001:4"), SDL_BINLOG_FLAVOR_MYSQL);
    ASSERT_INT_EQ(sdl_source_flavor_of_text(""), SDL_BINLOG_FLAVOR_UNKNOWN);
    ASSERT_INT_EQ(sdl_source_flavor_of_text("start"), SDL_BINLOG_FLAVOR_UNKNOWN);
    ASSERT_INT_EQ(sdl_source_flavor_of_text("now"), SDL_BINLOG_FLAVOR_UNKNOWN);
    ASSERT_INT_EQ(sdl_source_flavor_of_text(NULL), SDL_BINLOG_FLAVOR_UNKNOWN);
}

TEST(parse_reads_the_kinds_it_is_allowed_to)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_position p = SDL_SOURCE_POSITION_INIT;

    ASSERT_OK(sdl_source_position_parse("1-7-9, 0-1-22", ALL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_MARIADB);
    check_text(&p, "0-1-22,1-7-9");

    ASSERT_OK(sdl_source_position_parse(U2 ":3," U1 ":1-5:7", ALL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_MYSQL);
    check_text(&p, U1 ":1-5:7," U2 ":3");

    ASSERT_OK(sdl_source_position_parse("binlog.000003:1234", ALL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_FILE);
    ASSERT_STR_EQ(p.file, "binlog.000003");
    ASSERT_UINT_EQ(p.offset, 1234);
    check_text(&p, "binlog.000003:1234");

    /* without FILE, a file position is a (bad) GTID set */
    ASSERT_FALSE(sdl_source_position_parse(
        "binlog.000003:1234", SDL_SOURCE_ACCEPT_MARIADB | SDL_SOURCE_ACCEPT_MYSQL, &p, &err));
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_FILE); /* unchanged on failure */
    /* one GTID kind accepted: the text is read as that one, whatever its form */
    ASSERT_FALSE(sdl_source_position_parse(U1 ":1-5", SDL_SOURCE_ACCEPT_MARIADB, &p, &err));
    ASSERT_FALSE(sdl_source_position_parse("0-1-5", SDL_SOURCE_ACCEPT_MYSQL, &p, &err));
    /* a uuid:gno is never a file position */
    ASSERT_OK(sdl_source_position_parse(U1 ":5", ALL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_MYSQL);

    ASSERT_OK(sdl_source_position_parse("", ALL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_MARIADB);
    ASSERT_TRUE(sdl_source_position_is_empty(&p));
    check_text(&p, "");
    ASSERT_OK(sdl_source_position_parse("", SDL_SOURCE_ACCEPT_MYSQL, &p, &err), &err);
    ASSERT_INT_EQ(p.kind, SDL_SOURCE_POSITION_MYSQL);
    ASSERT_TRUE(sdl_source_position_is_empty(&p));
    sdl_source_position_done(&p);
}

TEST(mariadb_positions_advance_per_domain)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_position p = SDL_SOURCE_POSITION_INIT, until = SDL_SOURCE_POSITION_INIT;
    sdl_source_txn t;

    ASSERT_OK(sdl_source_position_parse("0-1-5", SDL_SOURCE_ACCEPT_MARIADB, &p, &err), &err);
    ASSERT_OK(sdl_source_position_parse("0-1-6,1-2-1", SDL_SOURCE_ACCEPT_MARIADB, &until, &err),
              &err);
    sdl_source_txn_set_mariadb(&t, &(sdl_gtid){0, 1, 5});
    ASSERT_STR_EQ(t.text, "0-1-5");
    ASSERT_UINT_EQ(t.text_len, 5);
    ASSERT_TRUE(sdl_source_position_contains(&p, &t));
    sdl_source_txn_set_mariadb(&t, &(sdl_gtid){0, 1, 6});
    ASSERT_FALSE(sdl_source_position_contains(&p, &t));
    ASSERT_FALSE(sdl_source_position_reached(&p, &until));
    sdl_source_position_advance(&p, &t, "mariadb-bin.000001", 900);
    check_text(&p, "0-1-6");
    ASSERT_STR_EQ(p.file, "mariadb-bin.000001");
    ASSERT_UINT_EQ(p.offset, 900);
    ASSERT_FALSE(sdl_source_position_reached(&p, &until)); /* domain 1 missing */
    sdl_source_txn_set_mariadb(&t, &(sdl_gtid){1, 2, 1});
    sdl_source_position_advance(&p, &t, "mariadb-bin.000001", 1200);
    check_text(&p, "0-1-6,1-2-1");
    ASSERT_TRUE(sdl_source_position_reached(&p, &until));

    /* a transaction without a GTID (old binlog) moves only the file offset */
    sdl_source_txn_set_anonymous(&t, "mariadb-bin.000001", 1200);
    ASSERT_STR_EQ(t.text, "mariadb-bin.000001:1200");
    ASSERT_FALSE(sdl_source_position_contains(&p, &t));
    sdl_source_position_advance(&p, &t, "mariadb-bin.000001", 1300);
    check_text(&p, "0-1-6,1-2-1");
    ASSERT_UINT_EQ(p.offset, 1300);

    int cmp = 9;
    ASSERT_TRUE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_INT_EQ(cmp, 0);
    ASSERT_OK(sdl_source_position_parse("0-1-3,1-2-9", SDL_SOURCE_ACCEPT_MARIADB, &until, &err),
              &err);
    ASSERT_FALSE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_OK(sdl_source_position_parse("0-1-3", SDL_SOURCE_ACCEPT_MARIADB, &until, &err), &err);
    ASSERT_TRUE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_INT_EQ(cmp, 1);
    ASSERT_TRUE(sdl_source_position_compare(&until, &p, &cmp));
    ASSERT_INT_EQ(cmp, -1);
    sdl_source_position_done(&p);
    sdl_source_position_done(&until);
}

TEST(mysql_positions_add_gtids_and_stand_at_files_after_anonymous_ones)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_position p = SDL_SOURCE_POSITION_INIT, q = SDL_SOURCE_POSITION_INIT;
    sdl_source_txn t;
    sdl_mysql_gtid g;
    sdl_gtid_set prev = SDL_GTID_SET_INIT;

    ASSERT_OK(sdl_source_position_parse(U1 ":1-5", SDL_SOURCE_ACCEPT_MYSQL, &p, &err), &err);
    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":mytag:3", strlen(U1 ":mytag:3"), &g, &err), &err);
    sdl_source_txn_set_mysql(&t, &g);
    ASSERT_STR_EQ(t.text, U1 ":mytag:3");
    ASSERT_FALSE(sdl_source_position_contains(&p, &t));
    sdl_source_position_advance(&p, &t, "binlog.000002", 500);
    check_text(&p, U1 ":1-5:mytag:3");
    ASSERT_TRUE(sdl_source_position_contains(&p, &t));

    sdl_source_txn_set_anonymous(&t, "binlog.000002", 500);
    ASSERT_STR_EQ(t.text, "binlog.000002:500");
    sdl_source_position_advance(&p, &t, "binlog.000002", 700);
    check_text(&p, "binlog.000002:700");

    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":6", strlen(U1 ":6"), &g, &err), &err);
    sdl_source_txn_set_mysql(&t, &g);
    sdl_source_position_advance(&p, &t, "binlog.000002", 900);
    check_text(&p, U1 ":1-6:mytag:3");

    ASSERT_OK(sdl_gtid_set_parse(U2 ":1-2", &prev, &err), &err);
    sdl_source_position_add_set(&p, &prev);
    check_text(&p, U1 ":1-6:mytag:3," U2 ":1-2");

    ASSERT_OK(sdl_source_position_parse(U1 ":1-6", SDL_SOURCE_ACCEPT_MYSQL, &q, &err), &err);
    ASSERT_TRUE(sdl_source_position_reached(&p, &q));
    ASSERT_FALSE(sdl_source_position_reached(&q, &p));
    int cmp = 9;
    ASSERT_TRUE(sdl_source_position_compare(&q, &p, &cmp));
    ASSERT_INT_EQ(cmp, -1);
    ASSERT_TRUE(sdl_source_position_compare(&p, &q, &cmp));
    ASSERT_INT_EQ(cmp, 1);
    sdl_source_position_copy(&q, &p);
    ASSERT_TRUE(sdl_source_position_compare(&q, &p, &cmp));
    ASSERT_INT_EQ(cmp, 0);
    ASSERT_OK(sdl_source_position_parse(U2 ":5", SDL_SOURCE_ACCEPT_MYSQL, &q, &err), &err);
    ASSERT_FALSE(sdl_source_position_compare(&q, &p, &cmp));

    sdl_gtid_set_done(&prev);
    sdl_source_position_done(&p);
    sdl_source_position_done(&q);
}

TEST(file_positions_compare_by_file_then_offset)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_source_position p = SDL_SOURCE_POSITION_INIT, until = SDL_SOURCE_POSITION_INIT;
    sdl_source_txn t;
    sdl_mysql_gtid g;
    int cmp = 9;

    ASSERT_OK(sdl_source_position_parse("binlog.000001:4", ALL, &p, &err), &err);
    ASSERT_OK(sdl_source_position_parse("binlog.000002:100", ALL, &until, &err), &err);
    ASSERT_FALSE(sdl_source_position_is_empty(&p));
    ASSERT_FALSE(sdl_source_position_reached(&p, &until));
    ASSERT_TRUE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_INT_EQ(cmp, -1);

    /* a GTID transaction in a stream by file still moves the position by file */
    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":1", strlen(U1 ":1"), &g, &err), &err);
    sdl_source_txn_set_mysql(&t, &g);
    sdl_source_position_advance(&p, &t, "binlog.000002", 99);
    check_text(&p, "binlog.000002:99");
    ASSERT_TRUE(sdl_source_position_contains(&p, &t));
    ASSERT_FALSE(sdl_source_position_reached(&p, &until));
    sdl_source_txn_set_anonymous(&t, "binlog.000002", 99);
    sdl_source_position_advance(&p, &t, "binlog.000002", 100);
    ASSERT_TRUE(sdl_source_position_reached(&p, &until));
    ASSERT_TRUE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_INT_EQ(cmp, 0);
    sdl_source_txn_set_anonymous(&t, "binlog.000002", 100);
    sdl_source_position_advance(&p, &t, "binlog.000003", 4);
    ASSERT_TRUE(sdl_source_position_reached(&p, &until));
    ASSERT_TRUE(sdl_source_position_compare(&p, &until, &cmp));
    ASSERT_INT_EQ(cmp, 1);

    /* positions of different kinds do not compare */
    ASSERT_OK(sdl_source_position_parse("0-1-1", ALL, &until, &err), &err);
    ASSERT_FALSE(sdl_source_position_compare(&p, &until, &cmp));
    sdl_source_position_done(&p);
    sdl_source_position_done(&until);
}
