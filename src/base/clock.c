/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/clock.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

uint64_t
sdl_now_monotonic_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SDL_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
sdl_now_realtime_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * SDL_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000u;
}

void
sdl_sleep_usec(uint64_t usec, const volatile int *stop)
{
    uint64_t deadline = sdl_now_monotonic_usec() + usec;

    for (;;) {
        uint64_t now = sdl_now_monotonic_usec();
        if (now >= deadline || (stop && *stop)) {
            return;
        }
        uint64_t left = deadline - now;
        /* Sleep in slices so a stop request is noticed within 100 ms. */
        if (left > 100 * SDL_USEC_PER_MSEC) {
            left = 100 * SDL_USEC_PER_MSEC;
        }
        struct timespec ts = {(time_t)(left / SDL_USEC_PER_SEC),
                              (long)(left % SDL_USEC_PER_SEC) * 1000L};
        (void)nanosleep(&ts, NULL);
    }
}

void
sdl_backoff_init(sdl_backoff *b, uint64_t initial_usec, uint64_t max_usec)
{
    b->initial_usec = initial_usec ? initial_usec : 1;
    b->max_usec = max_usec < b->initial_usec ? b->initial_usec : max_usec;
    b->seed = sdl_now_realtime_usec() ^ ((uint64_t)getpid() << 32);
    sdl_backoff_reset(b);
}

void
sdl_backoff_reset(sdl_backoff *b)
{
    b->next_usec = b->initial_usec;
    b->attempts = 0;
}

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

uint64_t
sdl_backoff_next(sdl_backoff *b)
{
    uint64_t base = b->next_usec;
    uint64_t half = base / 2;
    uint64_t delay = half + (half ? xorshift(&b->seed) % (half + 1) : 0);

    b->attempts++;
    b->next_usec = base > b->max_usec / 2 ? b->max_usec : base * 2;
    return delay;
}
