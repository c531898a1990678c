/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/gtid-set.h"

#include "sdltest.h"

#define U1 "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define U2 "4c1fa1b2-0000-11e1-9e33-c80aa9429562"

/* Parses @text (must succeed) and checks its canonical text. */
static void
check_canonical(const char *text, const char *want)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_set s = SDL_GTID_SET_INIT;
    char *got;

    if (!sdl_gtid_set_parse(text, &s, &err)) {
        sdltest_fail(__FILE__, __LINE__, "parsing '%s': %s", text, err.message);
    }
    got = sdl_gtid_set_format(&s);
    if (strcmp(got, want) != 0) {
        sdltest_fail(__FILE__, __LINE__, "'%s' formats as '%s', want '%s'", text, got, want);
    }
    free(got);
    sdl_gtid_set_done(&s);
}

static sdl_gtid_set
set_of(const char *text)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_set s = SDL_GTID_SET_INIT;

    if (!sdl_gtid_set_parse(text, &s, &err)) {
        sdltest_fail(__FILE__, __LINE__, "parsing '%s': %s", text, err.message);
    }
    return s;
}

static void
check_text(const sdl_gtid_set *s, const char *want)
{
    char *got = sdl_gtid_set_format(s);
    if (strcmp(got, want) != 0) {
        sdltest_fail(__FILE__, __LINE__, "set is '%s', want '%s'", got, want);
    }
    free(got);
}

TEST(gtid_set_parses_formats_canonically)
{
    check_canonical("", "");
    check_canonical(U1 ":1-5", U1 ":1-5");
    check_canonical(U1 ":7", U1 ":7");
    /* intervals sorted and merged, adjacent ones joined */
    check_canonical(U1 ":11-18:1-5:6-7", U1 ":1-7:11-18");
    check_canonical(U1 ":3:1:2", U1 ":1-3");
    /* upper-case uuid, whitespace and newlines as @@gtid_executed prints them */
    check_canonical(" 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-2,\n" U2 ":4 ", U1 ":1-2," U2 ":4");
    /* uuids sorted; two entries of one uuid merged */
    check_canonical(U2 ":1," U1 ":2," U2 ":2", U1 ":2," U2 ":1-2");
    /* tags (8.4): lower-cased, after the untagged intervals, sorted */
    check_canonical(U1 ":1-13:ZTag:1-2:atag:5", U1 ":1-13:atag:5:ztag:1-2");
    /* intervals after a tag belong to it (there is no way back to untagged) */
    check_canonical(U1 ":t:1-2:5", U1 ":t:1-2:5");
    check_canonical(U1 ":mytag:1-2," U1 ":1-13", U1 ":1-13:mytag:1-2");
    /* the 32-digit uuid form */
    check_canonical("3e11fa4771ca11e19e33c80aa9429562:9", U1 ":9");
}

TEST(gtid_set_rejects_malformed)
{
    const char *bad[] = {U1,
                         U1 ":",
                         U1 ":0",
                         U1 ":5-3",
                         U1 ":1-",
                         U1 ":-1",
                         U1 ":a-b",
                         U1 ":1,",
                         "," U1 ":1",
                         "3e11fa47-71ca-11e1-9e33-c80aa942956:1",
                         "zz11fa47-71ca-11e1-9e33-c80aa9429562:1",
                         U1 ":tag",
                         U1 ":1:tag",
                         U1 ":1:9tag:2",
                         U1 ":1:abcdefghijabcdefghijabcdefghijabc:1",
                         U1 ":1 2",
                         "0-1-2"};
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_set s = set_of(U1 ":1");

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sdl_gtid_set_parse(bad[i], &s, &err)) {
            sdltest_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
        }
        ASSERT_INT_EQ(err.code, SDL_E_INVALID);
    }
    check_text(&s, U1 ":1"); /* unchanged on failure */
    sdl_gtid_set_done(&s);
}

TEST(gtid_set_union_contains_subtract_with_gaps)
{
    sdl_gtid_set a = set_of(U1 ":1-5:11-18");
    sdl_gtid_set b = set_of(U1 ":6-10:20," U2 ":1");
    sdl_gtid_set gap = set_of(U1 ":19");

    ASSERT_FALSE(sdl_gtid_set_contains(&a, &b));
    sdl_gtid_set_union(&a, &b);
    check_text(&a, U1 ":1-18:20," U2 ":1");
    ASSERT_TRUE(sdl_gtid_set_contains(&a, &b));
    ASSERT_FALSE(sdl_gtid_set_contains(&a, &gap)); /* the gap at 19 */

    sdl_mysql_gtid g;
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":19", strlen(U1 ":19"), &g, &err), &err);
    ASSERT_FALSE(sdl_gtid_set_contains_gtid(&a, &g));
    sdl_gtid_set_add(&a, &g); /* fills the gap: intervals join */
    check_text(&a, U1 ":1-20," U2 ":1");
    ASSERT_TRUE(sdl_gtid_set_contains_gtid(&a, &g));

    /* subtract splits an interval and drops an emptied uuid */
    sdl_gtid_set c = set_of(U1 ":3-4:20," U2 ":1");
    sdl_gtid_set_subtract(&a, &c);
    check_text(&a, U1 ":1-2:5-19");
    sdl_gtid_set d = set_of(U1 ":1-19");
    sdl_gtid_set_subtract(&a, &d);
    ASSERT_TRUE(sdl_gtid_set_is_empty(&a));
    check_text(&a, "");

    /* the empty set is in every set */
    ASSERT_TRUE(sdl_gtid_set_contains(&b, &a));
    sdl_gtid_set_done(&a);
    sdl_gtid_set_done(&b);
    sdl_gtid_set_done(&c);
    sdl_gtid_set_done(&d);
    sdl_gtid_set_done(&gap);
}

TEST(gtid_set_tags_are_separate_sequences)
{
    sdl_gtid_set a = set_of(U1 ":1-13:mytag:1-2");
    sdl_gtid_set b = set_of(U1 ":mytag:3");
    sdl_gtid_set untagged3 = set_of(U1 ":14");
    sdl_mysql_gtid g;
    sdl_error err = SDL_ERROR_INIT;
    char buf[SDL_MYSQL_GTID_TEXT_MAX];

    ASSERT_OK(sdl_mysql_gtid_parse(U1 ":MyTag:2", strlen(U1 ":MyTag:2"), &g, &err), &err);
    ASSERT_STR_EQ(sdl_mysql_gtid_format(&g, buf), U1 ":mytag:2");
    ASSERT_TRUE(sdl_gtid_set_contains_gtid(&a, &g));
    g.tag[0] = '\0';
    ASSERT_TRUE(sdl_gtid_set_contains_gtid(&a, &g)); /* untagged 2 */
    g.gno = 14;
    ASSERT_FALSE(sdl_gtid_set_contains_gtid(&a, &g));

    ASSERT_FALSE(sdl_gtid_set_contains(&a, &b));
    sdl_gtid_set_union(&a, &b);
    check_text(&a, U1 ":1-13:mytag:1-3");
    ASSERT_FALSE(sdl_gtid_set_contains(&a, &untagged3));
    sdl_gtid_set_subtract(&a, &b);
    check_text(&a, U1 ":1-13:mytag:1-2");
    ASSERT_FALSE(sdl_gtid_set_equal(&a, &b));
    sdl_gtid_set c = set_of(U1 ":mytag:1-2," U1 ":1-13");
    ASSERT_TRUE(sdl_gtid_set_equal(&a, &c));

    const char *bad[] = {U1 ":mytag", U1 "::1"};
    for (size_t i = 0; i < 2; i++) {
        ASSERT_FALSE(sdl_mysql_gtid_parse(bad[i], strlen(bad[i]), &g, &err));
    }
    sdl_gtid_set_done(&a);
    sdl_gtid_set_done(&b);
    sdl_gtid_set_done(&c);
    sdl_gtid_set_done(&untagged3);
}

/* The encodings MySQL servers wrote into the PREVIOUS_GTIDS events of the fixtures. */
TEST(gtid_set_encoding_matches_real_servers)
{
    static const char tagged_hex[] = /* 9.6.0, binlog_transaction_with_GTID_TAG.000001 */
        "0102000000000001"
        "55778904029911f1b1b84ef0c4956feb"
        "00"
        "0100000000000000"
        "0100000000000000"
        "0e00000000000000"
        "55778904029911f1b1b84ef0c4956feb"
        "0a"
        "6d79746167"
        "0100000000000000"
        "0100000000000000"
        "0300000000000000";
    static const char plain_hex[] = /* 8.0.40, binlog_transaction_previous_GTID_no_tag */
        "0100000000000000"
        "b9b88c66075511f198994a9da94c4d71"
        "0100000000000000"
        "0100000000000000"
        "0300000000000000";
    struct {
        const char *hex;
        const char *text;
    } cases[] = {
        {tagged_hex, "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2"},
        {plain_hex, "b9b88c66-0755-11f1-9899-4a9da94c4d71:1-2"},
        {"0000000000000000", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        uint8_t *want = sdltest_hex(cases[i].hex, &n);
        sdl_gtid_set s = set_of(cases[i].text);
        sdl_gtid_set back = SDL_GTID_SET_INIT;
        sdl_buf out = SDL_BUF_INIT;
        sdl_error err = SDL_ERROR_INIT;

        sdl_gtid_set_encode(&s, &out);
        ASSERT_UINT_EQ(out.len, n);
        ASSERT_TRUE(memcmp(out.data, want, n) == 0);
        ASSERT_OK(sdl_gtid_set_decode(SDL_BYTES(want, n), &back, &err), &err);
        ASSERT_TRUE(sdl_gtid_set_equal(&s, &back));
        /* every shorter prefix is truncated, never read past */
        for (size_t k = 0; k < n; k++) {
            ASSERT_FALSE(sdl_gtid_set_decode(SDL_BYTES(want, k), &back, &err));
        }
        free(want);
        sdl_buf_done(&out);
        sdl_gtid_set_done(&s);
        sdl_gtid_set_done(&back);
    }
}

TEST(gtid_set_decode_rejects_bad_intervals)
{
    sdl_gtid_set s = SDL_GTID_SET_INIT;
    sdl_error err = SDL_ERROR_INIT;
    size_t n;
    uint8_t *b = sdltest_hex("0100000000000000 b9b88c66075511f198994a9da94c4d71 0100000000000000"
                             "0500000000000000 0500000000000000",
                             &n);

    ASSERT_FALSE(sdl_gtid_set_decode(SDL_BYTES(b, n), &s, &err));
    ASSERT_STR_CONTAINS(err.message, "invalid interval");
    free(b);
    b = sdltest_hex("ffffffff00000000", &n);
    ASSERT_FALSE(sdl_gtid_set_decode(SDL_BYTES(b, n), &s, &err));
    free(b);
    sdl_gtid_set_done(&s);
}

TEST(gtid_varlen_round_trips)
{
    static const uint64_t vals[] = {0,
                                    1,
                                    5,
                                    127,
                                    128,
                                    16383,
                                    16384,
                                    (1u << 21) - 1,
                                    1u << 21,
                                    UINT64_C(1) << 55,
                                    (UINT64_C(1) << 56) - 1,
                                    UINT64_C(1) << 56,
                                    UINT64_MAX};
    static const size_t sizes[] = {1, 1, 1, 1, 2, 2, 3, 3, 4, 8, 8, 9, 9};
    uint8_t buf[9];

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = sdl_varlen_uint_write(vals[i], buf);
        const uint8_t *p = buf;
        uint64_t v = 0;
        ASSERT_UINT_EQ(n, sizes[i]);
        ASSERT_TRUE(sdl_varlen_uint_read(&p, buf + n, &v));
        ASSERT_UINT_EQ(v, vals[i]);
        ASSERT_TRUE(p == buf + n);
        p = buf;
        ASSERT_FALSE(sdl_varlen_uint_read(&p, buf + n - 1, &v));
    }
    /* 5 → 0x0a (one byte, low bit 0), as in the tag length of the 9.6 fixture */
    ASSERT_UINT_EQ(sdl_varlen_uint_write(5, buf), 1);
    ASSERT_UINT_EQ(buf[0], 0x0a);
}

TEST(file_position_parse_tells_positions_from_gtid_sets)
{
    char file[32];
    uint64_t pos = 0;

    ASSERT_TRUE(sdl_file_position_parse("binlog.000003:1234", file, sizeof(file), &pos));
    ASSERT_STR_EQ(file, "binlog.000003");
    ASSERT_UINT_EQ(pos, 1234);
    ASSERT_TRUE(sdl_file_position_parse("mysql-bin.checksum-none:4", file, sizeof(file), &pos));
    ASSERT_STR_EQ(file, "mysql-bin.checksum-none");
    ASSERT_UINT_EQ(pos, 4);
    /* GTID sets, however they look, are not positions */
    ASSERT_FALSE(sdl_file_position_parse(U1 ":5", file, sizeof(file), &pos));
    ASSERT_FALSE(
        sdl_file_position_parse("3e11fa4771ca11e19e33c80aa9429562:5", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse(U1 ":1-5," U2 ":7", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse(U1 ":tag:7", file, sizeof(file), &pos));
    /* neither are MariaDB positions, nor damaged text */
    ASSERT_FALSE(sdl_file_position_parse("0-1-5", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse(":1234", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("binlog.000003:", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("binlog.000003:3", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("binlog.000003:12x", file, sizeof(file), &pos));
    ASSERT_FALSE(
        sdl_file_position_parse("binlog.000003:99999999999999999999999", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("bin log:1234", file, sizeof(file), &pos));
    ASSERT_FALSE(sdl_file_position_parse("a,b:1234", file, sizeof(file), &pos));
    /* a name that does not fit is refused, never cut */
    ASSERT_FALSE(sdl_file_position_parse("a-binlog-file-name-longer-than-32-bytes.000001:4", file,
                                         sizeof(file), &pos));
    ASSERT_UINT_EQ(pos, 4); /* untouched by the failures */
}
