/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * clock: the one time type of sdl is uint64_t microseconds. Monotonic time for deadlines,
 * realtime for timestamps, and exponential backoff with jitter for retries.
 * Thread-safe.
 */

#include <stdint.h>

#define SDL_USEC_PER_MSEC UINT64_C(1000)
#define SDL_USEC_PER_SEC  UINT64_C(1000000)

uint64_t sdl_now_monotonic_usec(void);
uint64_t sdl_now_realtime_usec(void);
/* Sleeps, restarting after signals unless *@stop becomes non-zero (may be NULL). */
void sdl_sleep_usec(uint64_t usec, const volatile int *stop);

typedef struct sdl_backoff {
    uint64_t initial_usec; /* first delay */
    uint64_t max_usec;     /* cap of the doubling */
    uint64_t next_usec;    /* delay before jitter for the next attempt */
    uint32_t attempts;     /* attempts made since the last reset */
    uint64_t seed;         /* jitter PRNG state */
} sdl_backoff;

void sdl_backoff_init(sdl_backoff *b, uint64_t initial_usec, uint64_t max_usec);
void sdl_backoff_reset(sdl_backoff *b);
/* Returns the next delay: the doubling value with "equal jitter" (half fixed, half random),
 * and advances. */
uint64_t sdl_backoff_next(sdl_backoff *b);
