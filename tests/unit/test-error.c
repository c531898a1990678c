/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/error.h"

#include "sdltest.h"

TEST(error_prefix_reads_top_down)
{
    sdl_error err = SDL_ERROR_INIT;

    sdl_error_set(&err, SDL_E_PROTOCOL, "truncated %s", "event");
    sdl_error_prefix(&err, "at '%s':%d", "binlog.000001", 1234);
    sdl_error_prefix(&err, "reading binlog");
    ASSERT_STR_EQ(err.message, "reading binlog: at 'binlog.000001':1234: truncated event");
    ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
    ASSERT_FALSE(err.transient);
    ASSERT_STR_EQ(sdl_errc_name(err.code), "PROTOCOL");
}

TEST(error_null_is_ignored_and_transient_is_kept)
{
    sdl_error err = SDL_ERROR_INIT;

    sdl_error_set(NULL, SDL_E_IO, "x");
    sdl_error_prefix(NULL, "y");
    sdl_error_set_transient(&err, SDL_E_SOURCE, "lost connection");
    sdl_error_prefix(&err, "streaming");
    ASSERT_TRUE(err.transient);
    ASSERT_INT_EQ(sdl_error_exit_status(&err), 1);
    sdl_error_set(&err, SDL_E_CONFIG, "bad");
    ASSERT_INT_EQ(sdl_error_exit_status(&err), 78);
    ASSERT_STR_EQ(sdl_errc_name((sdl_errc)999), "UNKNOWN");
}

TEST(error_prefix_truncates_without_overflow)
{
    sdl_error err = SDL_ERROR_INIT;
    char big[2000];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sdl_error_set(&err, SDL_E_IO, "%s", big);
    sdl_error_prefix(&err, "%s", big);
    ASSERT_UINT_EQ(strlen(err.message), sizeof(err.message) - 1);
}
