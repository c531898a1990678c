/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/clock.h"

#include "sdltest.h"

TEST(backoff_doubles_with_jitter_up_to_the_cap)
{
    sdl_backoff b;
    uint64_t base = 100 * SDL_USEC_PER_MSEC;

    sdl_backoff_init(&b, base, 10 * SDL_USEC_PER_SEC);
    for (int i = 0; i < 20; i++) {
        uint64_t expect = base << (i < 7 ? i : 7);
        if (expect > 10 * SDL_USEC_PER_SEC) {
            expect = 10 * SDL_USEC_PER_SEC;
        }
        uint64_t d = sdl_backoff_next(&b);
        if (d < expect / 2 || d > expect) {
            sdltest_fail(__FILE__, __LINE__, "attempt %d: delay %llu outside [%llu, %llu]", i,
                         (unsigned long long)d, (unsigned long long)expect / 2,
                         (unsigned long long)expect);
        }
    }
    sdl_backoff_reset(&b);
    ASSERT_TRUE(sdl_backoff_next(&b) <= base);
}

TEST(clock_monotonic_advances)
{
    uint64_t a = sdl_now_monotonic_usec();
    sdl_sleep_usec(2000, NULL);
    ASSERT_TRUE(sdl_now_monotonic_usec() - a >= 2000);
    ASSERT_TRUE(sdl_now_realtime_usec() > 1600000000ull * SDL_USEC_PER_SEC);
}
