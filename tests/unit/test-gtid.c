/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "sdl/mysql/gtid.h"

#include "sdltest.h"

TEST(gtid_parses_and_formats_one)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid g;
    char buf[SDL_GTID_TEXT_MAX];

    ASSERT_OK(sdl_gtid_parse("0-1-22", 6, &g, &err), &err);
    ASSERT_UINT_EQ(g.domain, 0);
    ASSERT_UINT_EQ(g.server, 1);
    ASSERT_UINT_EQ(g.seq, 22);
    ASSERT_STR_EQ(sdl_gtid_format(&g, buf), "0-1-22");

    ASSERT_OK(sdl_gtid_parse("4294967295-4294967295-18446744073709551615", 42, &g, &err), &err);
    ASSERT_STR_EQ(sdl_gtid_format(&g, buf), "4294967295-4294967295-18446744073709551615");
}

TEST(gtid_rejects_malformed)
{
    const char *bad[] = {"",
                         "0-1",
                         "0-1-",
                         "-1-2",
                         "a-1-2",
                         "0-1-2-3",
                         "0--1-2",
                         "4294967296-1-1",
                         "0-1-18446744073709551616",
                         "0-1-+2",
                         " 0-1-2"};
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid g;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sdl_gtid_parse(bad[i], strlen(bad[i]), &g, &err)) {
            sdltest_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
        }
        ASSERT_STR_CONTAINS(err.message, "invalid MariaDB GTID");
    }
}

TEST(gtid_pos_is_canonical_and_sorted)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_pos pos = SDL_GTID_POS_INIT;
    char *text;

    ASSERT_OK(sdl_gtid_pos_parse("5-1-9, 0-1-22,2-3-4", &pos, &err), &err);
    ASSERT_UINT_EQ(pos.count, 3);
    text = sdl_gtid_pos_format(&pos);
    ASSERT_STR_EQ(text, "0-1-22,2-3-4,5-1-9");
    free(text);

    ASSERT_OK(sdl_gtid_pos_parse("", &pos, &err), &err);
    ASSERT_UINT_EQ(pos.count, 0);
    text = sdl_gtid_pos_format(&pos);
    ASSERT_STR_EQ(text, "");
    free(text);
    sdl_gtid_pos_done(&pos);
}

TEST(gtid_pos_rejects_duplicate_domain_and_keeps_old_value)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_pos pos = SDL_GTID_POS_INIT;
    char *text;

    ASSERT_OK(sdl_gtid_pos_parse("0-1-1", &pos, &err), &err);
    ASSERT_FALSE(sdl_gtid_pos_parse("0-1-2,0-2-3", &pos, &err));
    ASSERT_STR_CONTAINS(err.message, "domain 0 appears twice");
    ASSERT_FALSE(sdl_gtid_pos_parse("0-1-2,", &pos, &err));
    ASSERT_STR_CONTAINS(err.message, "trailing comma");
    text = sdl_gtid_pos_format(&pos);
    ASSERT_STR_EQ(text, "0-1-1");
    free(text);
    sdl_gtid_pos_done(&pos);
}

TEST(gtid_pos_advance_contains_compare)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_gtid_pos a = SDL_GTID_POS_INIT;
    sdl_gtid_pos b = SDL_GTID_POS_INIT;
    sdl_gtid g = {1, 7, 10};
    int cmp = 99;

    ASSERT_OK(sdl_gtid_pos_parse("0-1-5", &a, &err), &err);
    sdl_gtid_pos_advance(&a, &g);
    ASSERT_TRUE(sdl_gtid_pos_contains(&a, &(sdl_gtid){1, 7, 10}));
    ASSERT_TRUE(sdl_gtid_pos_contains(&a, &(sdl_gtid){1, 2, 3}));
    ASSERT_FALSE(sdl_gtid_pos_contains(&a, &(sdl_gtid){1, 7, 11}));
    ASSERT_FALSE(sdl_gtid_pos_contains(&a, &(sdl_gtid){2, 1, 1}));
    sdl_gtid_pos_advance(&a, &(sdl_gtid){0, 2, 6});
    ASSERT_UINT_EQ(sdl_gtid_pos_find(&a, 0)->server, 2);

    ASSERT_OK(sdl_gtid_pos_parse("0-2-6,1-7-10", &b, &err), &err);
    ASSERT_TRUE(sdl_gtid_pos_equal(&a, &b));
    ASSERT_TRUE(sdl_gtid_pos_compare(&a, &b, &cmp));
    ASSERT_INT_EQ(cmp, 0);
    ASSERT_OK(sdl_gtid_pos_parse("0-2-7,1-7-10", &b, &err), &err);
    ASSERT_TRUE(sdl_gtid_pos_compare(&a, &b, &cmp));
    ASSERT_INT_EQ(cmp, -1);
    ASSERT_OK(sdl_gtid_pos_parse("0-2-7", &b, &err), &err);
    ASSERT_FALSE(sdl_gtid_pos_compare(&a, &b, &cmp));
    ASSERT_OK(sdl_gtid_pos_parse("0-2-1", &b, &err), &err);
    ASSERT_TRUE(sdl_gtid_pos_compare(&a, &b, &cmp));
    ASSERT_INT_EQ(cmp, 1);

    sdl_gtid_pos_copy(&b, &a);
    ASSERT_TRUE(sdl_gtid_pos_equal(&a, &b));
    sdl_gtid_pos_done(&a);
    sdl_gtid_pos_done(&b);
}
