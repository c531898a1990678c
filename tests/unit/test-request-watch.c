/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/clock.h"
#include "sdl/daemon/request-watch.h"

#include "sdltest.h"

static const uint8_t a[] = {1, 2, 3, 4, 5};
static const uint8_t b[] = {1, 2, 3, 4, 6};

TEST(request_watch_reads_only_after_a_second_without_hearing)
{
    sdl_request_watch w;
    uint64_t t = 1000 * SDL_USEC_PER_SEC;

    sdl_request_watch_init(&w);
    ASSERT_TRUE(sdl_request_watch_due(&w, t));  /* never heard: read at once */
    ASSERT_FALSE(sdl_request_watch_due(&w, t)); /* the read counts as heard (a failed one too) */
    ASSERT_FALSE(sdl_request_watch_due(&w, t + SDL_USEC_PER_SEC - 1));
    ASSERT_TRUE(sdl_request_watch_due(&w, t + SDL_USEC_PER_SEC));
    t += SDL_USEC_PER_SEC;
    /* commits returning the requests every 0.9 s: never due */
    for (int i = 1; i <= 10; i++) {
        uint64_t now = t + (uint64_t)i * 900 * SDL_USEC_PER_MSEC;
        (void)sdl_request_watch_heard(&w, NULL, 0, now);
        ASSERT_FALSE(sdl_request_watch_due(&w, now + 999 * SDL_USEC_PER_MSEC));
    }
    /* then none: due a second after the last */
    ASSERT_TRUE(sdl_request_watch_due(&w, t + 10 * 900 * SDL_USEC_PER_MSEC + SDL_USEC_PER_SEC));
    sdl_request_watch_done(&w);
}

TEST(request_watch_hands_over_what_is_new)
{
    sdl_request_watch w;

    sdl_request_watch_init(&w);
    ASSERT_FALSE(sdl_request_watch_heard(&w, NULL, 0, 1)); /* none */
    ASSERT_TRUE(sdl_request_watch_heard(&w, a, sizeof(a), 2));
    ASSERT_FALSE(sdl_request_watch_heard(&w, a, sizeof(a), 3));    /* the same: once */
    ASSERT_TRUE(sdl_request_watch_heard(&w, b, sizeof(b), 4));     /* same length, other bytes */
    ASSERT_TRUE(sdl_request_watch_heard(&w, a, sizeof(a) - 1, 5)); /* other length */
    ASSERT_FALSE(sdl_request_watch_heard(&w, NULL, 0, 6));
    ASSERT_UINT_EQ(w.seen_len, 0);
    sdl_request_watch_done(&w);
}
