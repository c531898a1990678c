/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/queue/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"

struct sdl_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    sdl_queue_item *head;
    sdl_queue_item *tail;
    size_t bytes;       /* sum of sdl_queue_item_bytes() of queued items */
    size_t capacity;    /* bytes */
    uint64_t full_usec; /* time pushers spent waiting for room */
    bool closed;
};

/* An item made by sdl_queue_item_new_doc: its document follows it in one allocation. */
typedef struct item_with_doc {
    sdl_queue_item item;
    _Alignas(16) uint8_t doc[];
} item_with_doc;

sdl_queue_item *
sdl_queue_item_new_doc(size_t doc_len)
{
    item_with_doc *w = sdl_xmalloc(sizeof(*w) + (doc_len ? doc_len : 1));

    memset(&w->item, 0, sizeof(w->item));
    w->item.doc = w->doc;
    w->item.doc_len = doc_len;
    return &w->item;
}

void
sdl_queue_item_free(sdl_queue_item *item)
{
    if (!item) {
        return;
    }
    if ((uintptr_t)item->doc != (uintptr_t)item + offsetof(item_with_doc, doc)) {
        free(item->doc);
    }
    free(item->gtid);
    free(item->position);
    free(item->binlog_file);
    free(item->snapshot);
    free(item);
}

size_t
sdl_queue_item_bytes(const sdl_queue_item *item)
{
    /* The document plus a fixed overhead for the item and its strings. */
    return item->doc_len + sizeof(*item) + 64;
}

sdl_queue *
sdl_queue_new(size_t capacity_bytes)
{
    sdl_queue *q = sdl_xcalloc(1, sizeof(*q));
    pthread_condattr_t attr;

    (void)pthread_mutex_init(&q->lock, NULL);
    (void)pthread_condattr_init(&attr);
    (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&q->not_empty, &attr);
    (void)pthread_cond_init(&q->not_full, &attr);
    (void)pthread_condattr_destroy(&attr);
    q->capacity = capacity_bytes;
    return q;
}

sdl_queue *
sdl_queue_free(sdl_queue *q)
{
    if (!q) {
        return NULL;
    }
    while (q->head) {
        sdl_queue_item *next = q->head->next;
        sdl_queue_item_free(q->head);
        q->head = next;
    }
    (void)pthread_cond_destroy(&q->not_empty);
    (void)pthread_cond_destroy(&q->not_full);
    (void)pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
}

bool
sdl_queue_push(sdl_queue *q, sdl_queue_item *item)
{
    size_t size = sdl_queue_item_bytes(item);

    item->next = NULL;
    (void)pthread_mutex_lock(&q->lock);
    if (!q->closed && q->head && q->bytes + size > q->capacity) {
        uint64_t t0 = sdl_now_monotonic_usec();
        while (!q->closed && q->head && q->bytes + size > q->capacity) {
            (void)pthread_cond_wait(&q->not_full, &q->lock);
        }
        q->full_usec += sdl_now_monotonic_usec() - t0;
    }
    if (q->closed) {
        (void)pthread_mutex_unlock(&q->lock);
        sdl_queue_item_free(item);
        return false;
    }
    if (q->tail) {
        q->tail->next = item;
    } else {
        q->head = item;
    }
    q->tail = item;
    q->bytes += size;
    (void)pthread_cond_signal(&q->not_empty);
    (void)pthread_mutex_unlock(&q->lock);
    return true;
}

sdl_queue_item *
sdl_queue_pop(sdl_queue *q, uint64_t timeout_usec, bool *ret_closed)
{
    sdl_queue_item *item = NULL;
    struct timespec deadline;

    (void)pthread_mutex_lock(&q->lock);
    if (!q->head && !q->closed && timeout_usec > 0) {
        /* the clock only when there is something to wait for (not once per item) */
        (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(timeout_usec / 1000000u);
        deadline.tv_nsec += (long)(timeout_usec % 1000000u) * 1000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    while (!q->head && !q->closed && timeout_usec > 0) {
        if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (q->head) {
        item = q->head;
        q->head = item->next;
        if (!q->head) {
            q->tail = NULL;
        }
        q->bytes -= sdl_queue_item_bytes(item);
        item->next = NULL;
        /* Blocked producers are woken once a quarter of the capacity is free, not at every
         * pop: with a slow consumer a full queue would otherwise switch threads twice per
         * item (a futex wake, a wait), which cost more system time than the items' work. */
        if (q->bytes <= q->capacity - q->capacity / 4) {
            (void)pthread_cond_broadcast(&q->not_full);
        }
    }
    if (ret_closed) {
        *ret_closed = !item && q->closed;
    }
    (void)pthread_mutex_unlock(&q->lock);
    return item;
}

void
sdl_queue_close(sdl_queue *q)
{
    (void)pthread_mutex_lock(&q->lock);
    q->closed = true;
    (void)pthread_cond_broadcast(&q->not_empty);
    (void)pthread_cond_broadcast(&q->not_full);
    (void)pthread_mutex_unlock(&q->lock);
}

size_t
sdl_queue_bytes(sdl_queue *q)
{
    size_t n;

    (void)pthread_mutex_lock(&q->lock);
    n = q->bytes;
    (void)pthread_mutex_unlock(&q->lock);
    return n;
}

void
sdl_queue_counters(sdl_queue *q, size_t *ret_bytes, uint64_t *ret_full_usec)
{
    (void)pthread_mutex_lock(&q->lock);
    *ret_bytes = q->bytes;
    *ret_full_usec = q->full_usec;
    (void)pthread_mutex_unlock(&q->lock);
}

uint64_t
sdl_queue_full_usec(sdl_queue *q)
{
    uint64_t n;

    (void)pthread_mutex_lock(&q->lock);
    n = q->full_usec;
    (void)pthread_mutex_unlock(&q->lock);
    return n;
}
