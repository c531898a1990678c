/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdlib.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/queue/queue.h"

#include "sdltest.h"

static sdl_queue_item *
item(uint64_t seq, size_t len)
{
    sdl_queue_item *it = sdl_xcalloc(1, sizeof(*it));
    it->kind = SDL_QUEUE_ROW;
    it->seq = seq;
    it->doc = sdl_xcalloc(1, len ? len : 1);
    it->doc_len = len;
    it->gtid = sdl_xstrdup("0-1-1");
    return it;
}

TEST(queue_is_fifo_and_times_out_when_empty)
{
    sdl_queue *q = sdl_queue_new(1 << 20);
    bool closed = true;

    for (uint64_t i = 1; i <= 10; i++) {
        ASSERT_TRUE(sdl_queue_push(q, item(i, 100)));
    }
    for (uint64_t i = 1; i <= 10; i++) {
        sdl_queue_item *it = sdl_queue_pop(q, 0, &closed);
        ASSERT_NOT_NULL(it);
        ASSERT_UINT_EQ(it->seq, i);
        sdl_queue_item_free(it);
    }
    ASSERT_UINT_EQ(sdl_queue_bytes(q), 0);
    ASSERT_UINT_EQ(sdl_queue_full_usec(q), 0); /* never full: no wait counted */
    uint64_t t0 = sdl_now_monotonic_usec();
    ASSERT_NULL(sdl_queue_pop(q, 20000, &closed));
    ASSERT_FALSE(closed);
    ASSERT_TRUE(sdl_now_monotonic_usec() - t0 >= 19000);
    sdl_queue_close(q);
    ASSERT_NULL(sdl_queue_pop(q, 1000000, &closed));
    ASSERT_TRUE(closed);
    ASSERT_FALSE(sdl_queue_push(q, item(11, 1)));
    sdl_queue_free(q);
}

typedef struct {
    sdl_queue *q;
    int n;
    size_t max_seen; /* highest byte count observed by the producer after a push */
} producer_arg;

static void *
producer(void *p)
{
    producer_arg *a = p;
    for (int i = 1; i <= a->n; i++) {
        if (!sdl_queue_push(a->q, item((uint64_t)i, 1000))) {
            break;
        }
        size_t b = sdl_queue_bytes(a->q);
        if (b > a->max_seen) {
            a->max_seen = b;
        }
    }
    return NULL;
}

TEST(queue_bounds_bytes_and_applies_backpressure)
{
    size_t cap = 10 * (1000 + sizeof(sdl_queue_item) + 64);
    sdl_queue *q = sdl_queue_new(cap);
    producer_arg a = {q, 500, 0};
    pthread_t t;
    bool closed;

    ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
    for (uint64_t i = 1; i <= 500; i++) {
        sdl_queue_item *it = sdl_queue_pop(q, 5000000, &closed);
        ASSERT_NOT_NULL(it);
        ASSERT_UINT_EQ(it->seq, i);
        sdl_queue_item_free(it);
        if (i % 50 == 0) {
            sdl_sleep_usec(2000, NULL); /* let the producer fill up */
        }
    }
    ASSERT_INT_EQ(pthread_join(t, NULL), 0);
    ASSERT_TRUE(a.max_seen <= cap);
    ASSERT_TRUE(a.max_seen > cap / 2); /* it did fill up, so it was blocked */
    sdl_queue_free(q);
}

TEST(queue_accepts_an_item_larger_than_its_capacity_when_empty)
{
    sdl_queue *q = sdl_queue_new(100);
    bool closed;

    ASSERT_TRUE(sdl_queue_push(q, item(1, 5000)));
    sdl_queue_item *it = sdl_queue_pop(q, 0, &closed);
    ASSERT_NOT_NULL(it);
    ASSERT_UINT_EQ(it->doc_len, 5000);
    sdl_queue_item_free(it);
    sdl_queue_free(q);
}

TEST(queue_close_wakes_a_blocked_producer)
{
    sdl_queue *q = sdl_queue_new(10);
    producer_arg a = {q, 5, 0};
    pthread_t t;

    ASSERT_TRUE(sdl_queue_push(q, item(0, 100)));
    uint64_t t0 = sdl_now_monotonic_usec();
    ASSERT_INT_EQ(pthread_create(&t, NULL, producer, &a), 0);
    sdl_sleep_usec(20000, NULL);
    sdl_queue_close(q);
    ASSERT_INT_EQ(pthread_join(t, NULL), 0);
    /* the producer's wait is counted once it ended, and within the time it could have taken */
    ASSERT_TRUE(sdl_queue_full_usec(q) > 0);
    ASSERT_TRUE(sdl_queue_full_usec(q) <= sdl_now_monotonic_usec() - t0);
    sdl_queue_free(q);
}

TEST(queue_item_with_its_document_in_one_allocation)
{
    sdl_queue *q = sdl_queue_new(1 << 20);
    bool closed = false;
    size_t bytes = 1;
    uint64_t full = 1;

    /* made by sdl_queue_item_new_doc, then one made the other way: each freed as it was
     * allocated (the sanitizer build sees a wrong free) */
    sdl_queue_item *a = sdl_queue_item_new_doc(300);
    ASSERT_NOT_NULL(a->doc);
    ASSERT_UINT_EQ(a->doc_len, 300);
    ASSERT_NULL(a->gtid);
    for (size_t i = 0; i < 300; i++) {
        a->doc[i] = (uint8_t)i;
    }
    a->gtid = sdl_xstrdup("0-1-2");
    ASSERT_TRUE(sdl_queue_push(q, a));
    ASSERT_TRUE(sdl_queue_push(q, item(2, 10)));
    sdl_queue_counters(q, &bytes, &full);
    ASSERT_UINT_EQ(bytes, sdl_queue_bytes(q));
    ASSERT_TRUE(bytes >= 310);
    ASSERT_UINT_EQ(full, 0);
    sdl_queue_item *it = sdl_queue_pop(q, 0, &closed);
    ASSERT_TRUE(it == a);
    ASSERT_UINT_EQ(it->doc[299], 299 % 256);
    sdl_queue_item_free(it);
    it = sdl_queue_pop(q, 0, &closed);
    ASSERT_UINT_EQ(it->seq, 2);
    sdl_queue_item_free(it);
    sdl_queue_item_free(sdl_queue_item_new_doc(0));
    sdl_queue_free(q);
}
