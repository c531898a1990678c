/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/clock.h"
#include "sdl/base/ring.h"

#include "sdltest.h"

/* Record i: length from a fixed pseudo-random sequence (0 .. max, some far above a quarter of
 * the ring), every byte a function of i and its offset, tag i. */
static size_t
rec_len(uint32_t i, size_t max)
{
    uint32_t x = i * 2654435761u;
    x ^= x >> 13;
    if (i % 97 == 3) {
        return max; /* a heap record */
    }
    return (size_t)(x % 700u);
}

static uint8_t
rec_byte(uint32_t i, size_t k)
{
    return (uint8_t)(i * 31u + k * 7u);
}

typedef struct {
    sdl_ring *ring;
    uint32_t n;
    size_t max;
    uint32_t pause_every; /* sleep 1 ms every this many records (0: never) */
    _Atomic uint32_t written;
} producer_arg;

static void *
producer(void *p)
{
    producer_arg *a = p;

    for (uint32_t i = 1; i <= a->n; i++) {
        size_t len = rec_len(i, a->max);
        uint8_t *d = sdl_ring_reserve(a->ring, len);
        if (!d) {
            break;
        }
        for (size_t k = 0; k < len; k++) {
            d[k] = rec_byte(i, k);
        }
        sdl_ring_commit(a->ring, i);
        atomic_store(&a->written, i);
        if (a->pause_every && i % a->pause_every == 0) {
            sdl_sleep_usec(1000, NULL);
        }
    }
    sdl_ring_finish(a->ring);
    return NULL;
}

static void
consume_all(sdl_ring *ring, uint32_t n, size_t max, uint32_t pause_every)
{
    for (uint32_t i = 1; i <= n; i++) {
        sdl_bytes rec;
        uint32_t tag = 0;
        ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, NULL), SDL_RING_RECORD);
        ASSERT_UINT_EQ(tag, i);
        ASSERT_UINT_EQ(rec.len, rec_len(i, max));
        for (size_t k = 0; k < rec.len; k++) {
            if (rec.ptr[k] != rec_byte(i, k)) {
                ASSERT_UINT_EQ(rec.ptr[k], rec_byte(i, k));
            }
        }
        if (pause_every && i % pause_every == 0) {
            sdl_sleep_usec(1000, NULL);
        }
    }
    sdl_bytes rec;
    uint32_t tag = 0;
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, NULL), SDL_RING_FINISHED);
}

/* Every record arrives once, in order, intact, across wrap-arounds and heap records, whether
 * the consumer or the producer is the slower side. */
TEST(ring_hands_over_every_record_in_order)
{
    static const uint32_t pauses[][2] = {{0, 0}, {0, 500}, {500, 0}};

    for (size_t p = 0; p < sizeof(pauses) / sizeof(pauses[0]); p++) {
        sdl_ring *ring = sdl_ring_new(8192);
        producer_arg a = {ring, 20000, 5000, pauses[p][0], 0};
        pthread_t t;

        ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
        consume_all(ring, a.n, a.max, pauses[p][1]);
        ASSERT_INT_EQ(pthread_join(t, NULL), 0);
        ASSERT_UINT_EQ(atomic_load(&a.written), a.n);
        sdl_ring_free(ring);
    }
}

/* The producer blocks when the ring is full: it is never more than the ring ahead. */
TEST(ring_applies_backpressure)
{
    sdl_ring *ring = sdl_ring_new(4096);
    producer_arg a = {ring, 1000, 10, 0, 0};
    pthread_t t;
    sdl_bytes rec;
    uint32_t tag;

    ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, NULL), SDL_RING_RECORD);
    sdl_sleep_usec(50000, NULL);
    uint32_t ahead = atomic_load(&a.written);
    ASSERT_TRUE(ahead > 5);
    ASSERT_TRUE(ahead < 200); /* records of <= 700 bytes + header in 4 KiB */
    for (uint32_t i = 2; i <= a.n; i++) {
        ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, NULL), SDL_RING_RECORD);
        ASSERT_UINT_EQ(tag, i);
    }
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, NULL), SDL_RING_FINISHED);
    ASSERT_INT_EQ(pthread_join(t, NULL), 0);
    sdl_ring_free(ring);
}

TEST(ring_close_releases_a_blocked_producer_and_free_drops_the_rest)
{
    sdl_ring *ring = sdl_ring_new(4096);
    producer_arg a = {ring, 100000, 3000, 0, 0};
    pthread_t t;

    ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
    sdl_sleep_usec(20000, NULL);
    sdl_ring_close(ring);
    ASSERT_INT_EQ(pthread_join(t, NULL), 0);
    ASSERT_TRUE(atomic_load(&a.written) < a.n);
    sdl_ring_free(ring); /* heap records never taken are freed (valgrind/ASan would tell) */
}

TEST(ring_empty_consumer_stops_on_its_flag_and_wakes_for_a_record)
{
    sdl_ring *ring = sdl_ring_new(4096);
    volatile int stop = 1;
    sdl_bytes rec;
    uint32_t tag;

    uint64_t t0 = sdl_now_monotonic_usec();
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, &stop), SDL_RING_STOPPED);
    ASSERT_TRUE(sdl_now_monotonic_usec() - t0 < 1000000);

    producer_arg a = {ring, 1, 10, 0, 0};
    pthread_t t;
    stop = 0;
    ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, &stop), SDL_RING_RECORD);
    ASSERT_UINT_EQ(tag, 1);
    ASSERT_INT_EQ(sdl_ring_next(ring, &rec, &tag, &stop), SDL_RING_FINISHED);
    ASSERT_INT_EQ(pthread_join(t, NULL), 0);
    sdl_ring_free(ring);
}
