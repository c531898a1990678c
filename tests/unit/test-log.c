/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sdl/base/log.h"

#include "sdltest.h"

static sdl_log_fields f;

TEST(log_journal_fields_without_context)
{
    sdl_log_set_context(NULL, NULL, NULL);
    sdl_log_journal_fields(SDL_LOG_WARNING, "src/daemon/pipeline.c", 92, "with_retry",
                           "committing batch 3 failed, retrying in 100 ms", &f);
    ASSERT_INT_EQ(f.n, 6);
    ASSERT_STR_EQ(f.field[0], "MESSAGE=committing batch 3 failed, retrying in 100 ms");
    ASSERT_STR_EQ(f.field[1], "PRIORITY=4");
    ASSERT_STR_EQ(f.field[2], "CODE_FILE=src/daemon/pipeline.c");
    ASSERT_STR_EQ(f.field[3], "CODE_LINE=92");
    ASSERT_STR_EQ(f.field[4], "CODE_FUNC=with_retry");
    ASSERT_STR_EQ(f.field[5], "SYSLOG_IDENTIFIER=sdl");
}

TEST(log_journal_fields_carry_pipeline_gtid_and_table)
{
    sdl_log_set_context("main", "0-1-4711", "shop.orders");
    sdl_log_journal_fields(SDL_LOG_ERROR, "f.c", 1, "fn", "Failed to map a row change", &f);
    ASSERT_INT_EQ(f.n, 9);
    ASSERT_STR_EQ(f.field[1], "PRIORITY=3");
    ASSERT_STR_EQ(f.field[6], "SDL_PIPELINE=main");
    ASSERT_STR_EQ(f.field[7], "SDL_GTID=0-1-4711");
    ASSERT_STR_EQ(f.field[8], "SDL_TABLE=shop.orders");

    /* only what is set */
    sdl_log_set_context("main", NULL, "shop.orders");
    sdl_log_journal_fields(SDL_LOG_ERROR, "f.c", 1, "fn", "m", &f);
    ASSERT_INT_EQ(f.n, 8);
    ASSERT_STR_EQ(f.field[6], "SDL_PIPELINE=main");
    ASSERT_STR_EQ(f.field[7], "SDL_TABLE=shop.orders");

    /* a 64-character pipeline name (the longest the config accepts) is kept whole */
    const char *longest = "p123456789012345678901234567890123456789012345678901234567890123";
    ASSERT_UINT_EQ(strlen(longest), 64);
    sdl_log_set_context(longest, NULL, NULL);
    sdl_log_journal_fields(SDL_LOG_INFO, "f.c", 1, "fn", "m", &f);
    ASSERT_INT_EQ(f.n, 7);
    ASSERT_STR_EQ(f.field[6] + strlen("SDL_PIPELINE="), longest);
    sdl_log_set_context(NULL, NULL, NULL);
}

TEST(log_journal_fields_keep_multiline_messages_in_one_field)
{
    sdl_log_set_context(NULL, NULL, NULL);
    sdl_log_journal_fields(SDL_LOG_ERROR, "f.c", 1, "fn", "line one\nline two", &f);
    ASSERT_STR_EQ(f.field[0], "MESSAGE=line one\nline two");
}

static void *
other_thread(void *arg)
{
    static sdl_log_fields g;

    (void)arg;
    sdl_log_journal_fields(SDL_LOG_INFO, "f.c", 1, "fn", "m", &g);
    return (void *)(long)g.n;
}

TEST(log_context_is_per_thread)
{
    pthread_t t;
    void *n = NULL;

    sdl_log_set_context("main", "0-1-1", "a.b");
    ASSERT_INT_EQ(pthread_create(&t, NULL, other_thread, NULL), 0);
    ASSERT_INT_EQ(pthread_join(t, &n), 0);
    ASSERT_INT_EQ((int)(long)n, 6); /* the new thread has no context of its own */
    sdl_log_set_context(NULL, NULL, NULL);
}

TEST(log_text_lines_have_an_rfc3339_time)
{
    char buf[512];
    char expect[128];
    size_t n;

    sdl_log_set_context("main", "0-1-5", NULL);
    /* 2023-11-14T22:13:20.000042Z */
    n = sdl_log_format_line(SDL_LOG_TEXT, false, 1700000000000042u, SDL_LOG_NOTICE, "f.c", 1, "fn",
                            "Replicating", buf, sizeof(buf));
    (void)snprintf(expect, sizeof(expect),
                   "2023-11-14T22:13:20.000042Z sdl[%ld] notice: Replicating\n", (long)getpid());
    ASSERT_STR_EQ(buf, expect);
    ASSERT_UINT_EQ(n, strlen(expect));
    /* a journal stream: journald adds the time and reads the priority */
    (void)sdl_log_format_line(SDL_LOG_TEXT, true, 1700000000000042u, SDL_LOG_WARNING, "f.c", 1,
                              "fn", "x", buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "<4>sdl[warning]: x\n");
    /* a record too long for the buffer is cut, still one line */
    n = sdl_log_format_line(SDL_LOG_TEXT, false, 0, SDL_LOG_INFO, "f.c", 1, "fn",
                            "0123456789012345678901234567890123456789", buf, 48);
    ASSERT_UINT_EQ(n, 47);
    ASSERT_TRUE(buf[46] == '\n');
    sdl_log_set_context(NULL, NULL, NULL);
}

TEST(log_json_lines_carry_the_journal_fields)
{
    char buf[1024];

    sdl_log_set_context("main", "0-1-4711", "shop.orders");
    (void)sdl_log_format_line(SDL_LOG_JSON, false, 1700000000000042u, SDL_LOG_ERROR,
                              "src/daemon/pipeline.c", 7, "reader_main",
                              "Failed \"x\"\\ on\nline\ttwo", buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "{\"TIMESTAMP\":\"2023-11-14T22:13:20.000042Z\",\"LEVEL\":\"error\","
                       "\"MESSAGE\":\"Failed \\\"x\\\"\\\\ on\\nline\\u0009two\","
                       "\"PRIORITY\":\"3\",\"CODE_FILE\":\"src/daemon/pipeline.c\","
                       "\"CODE_LINE\":\"7\",\"CODE_FUNC\":\"reader_main\","
                       "\"SYSLOG_IDENTIFIER\":\"sdl\",\"SDL_PIPELINE\":\"main\","
                       "\"SDL_GTID\":\"0-1-4711\",\"SDL_TABLE\":\"shop.orders\"}\n");
    sdl_log_set_context(NULL, NULL, NULL);
}
