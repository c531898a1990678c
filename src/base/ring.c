/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/ring.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdl/base/alloc.h"

#define REC_WRAP 1u /* filler up to the end of the ring: continue at offset 0 */
#define REC_HEAP 2u /* the record's bytes are in ->heap */

#define RELEASE_BYTES ((size_t)64 * 1024)    /* the consumer hands room back this often */
#define POLL_NSEC     (100L * 1000L * 1000L) /* an empty consumer looks at *stop this often */

typedef struct rec {
    uint32_t size;  /* bytes of this record in the ring, a multiple of 8 */
    uint32_t flags; /* REC_* */
    uint32_t tag;
    uint32_t len32; /* record length when it fits in 32 bits */
    uint8_t *heap;  /* REC_HEAP: the bytes (len in heap_len) */
    size_t heap_len;
} rec;

#define HDR (sizeof(rec))

struct sdl_ring {
    uint8_t *buf;
    size_t cap;
    /* shared, each written by one side */
    alignas(64) _Atomic size_t head; /* bytes published, ever */
    alignas(64) _Atomic size_t tail; /* bytes released, ever */
    _Atomic size_t heap_freed;       /* heap record bytes released, ever */
    atomic_bool consumer_waiting;
    atomic_bool producer_waiting;
    atomic_bool finished;
    atomic_bool closed;
    /* producer only */
    alignas(64) size_t p_head; /* bytes written, published or not */
    size_t p_tail;             /* tail as last read */
    size_t p_heap;             /* heap record bytes committed, ever */
    size_t p_heap_freed;       /* heap_freed as last read */
    size_t res_at;             /* the reserved record: offset in buf */
    size_t res_len;
    uint8_t *res_heap;
    bool reserved;
    /* consumer only */
    alignas(64) size_t c_tail; /* bytes taken, released to the producer or not */
    size_t c_head;             /* head as last read */
    rec *current;              /* the record handed out */
    pthread_mutex_t lock;
    pthread_cond_t data; /* the consumer waits here */
    pthread_cond_t room; /* the producer waits here */
};

static size_t
align8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

sdl_ring *
sdl_ring_new(size_t capacity)
{
    sdl_ring *r = sdl_xcalloc(1, sizeof(*r));

    r->cap = (SDL_MAX(capacity, (size_t)4096) + 63u) & ~(size_t)63u;
    r->buf = sdl_xmalloc(r->cap);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->heap_freed, 0);
    atomic_init(&r->consumer_waiting, false);
    atomic_init(&r->producer_waiting, false);
    atomic_init(&r->finished, false);
    atomic_init(&r->closed, false);
    (void)pthread_mutex_init(&r->lock, NULL);
    (void)pthread_cond_init(&r->data, NULL);
    (void)pthread_cond_init(&r->room, NULL);
    return r;
}

static void
signal_cond(sdl_ring *r, pthread_cond_t *cond)
{
    (void)pthread_mutex_lock(&r->lock);
    (void)pthread_cond_signal(cond);
    (void)pthread_mutex_unlock(&r->lock);
}

/* Producer: everything written becomes visible; a waiting consumer is woken. */
static void
publish(sdl_ring *r)
{
    atomic_store(&r->head, r->p_head); /* seq_cst: ordered before the load below */
    if (atomic_load(&r->consumer_waiting)) {
        signal_cond(r, &r->data);
    }
}

/* Producer: the capacity in use as last seen, ring bytes and heap bytes not yet released. */
static size_t
used(const sdl_ring *r)
{
    return (r->p_head - r->p_tail) + (r->p_heap - r->p_heap_freed);
}

/* Producer: a record costing @need bytes of capacity fits, as last seen (the hot path). */
static bool
fits(const sdl_ring *r, size_t need)
{
    return used(r) + need <= r->cap;
}

/* Producer: the same with the consumer's positions read again. An empty ring takes any one
 * record, even one larger than the ring (its bytes are on the heap). */
static bool
fits_now(sdl_ring *r, size_t need)
{
    r->p_tail = atomic_load(&r->tail);
    r->p_heap_freed = atomic_load(&r->heap_freed);
    size_t u = used(r);
    return u == 0 || u + need <= r->cap;
}

/* Producer: waits until @need bytes of capacity are free (ring bytes for the record and any
 * filler, plus its length if it goes to the heap), or the ring is empty. False when the
 * consumer closed the ring. */
static bool
wait_room(sdl_ring *r, size_t need)
{
    if (fits(r, need) || fits_now(r, need)) {
        return true;
    }
    /* Full: once woken, write half a ring's worth before the next wait. */
    need = SDL_MAX(need, r->cap / 2);
    publish(r);
    (void)pthread_mutex_lock(&r->lock);
    atomic_store(&r->producer_waiting, true);
    while (!fits_now(r, need) && !atomic_load(&r->closed)) {
        (void)pthread_cond_wait(&r->room, &r->lock);
    }
    atomic_store(&r->producer_waiting, false);
    (void)pthread_mutex_unlock(&r->lock);
    return !atomic_load(&r->closed);
}

void *
sdl_ring_reserve(sdl_ring *r, size_t len)
{
    bool heap = len > r->cap / 4;
    size_t size = HDR + (heap ? 0 : align8(len));
    size_t at = r->p_head % r->cap;
    size_t skip = at + size > r->cap ? r->cap - at : 0;

    if (r->reserved) {
        free(r->res_heap);
        r->reserved = false;
        r->res_heap = NULL;
    }
    if (atomic_load_explicit(&r->closed, memory_order_relaxed) ||
        !wait_room(r, skip + size + (heap ? len : 0))) {
        return NULL;
    }
    if (skip) {
        rec *filler = (rec *)(void *)(r->buf + at);
        filler->size = (uint32_t)skip;
        filler->flags = REC_WRAP;
        r->p_head += skip;
        at = 0;
    }
    r->reserved = true;
    r->res_at = at;
    r->res_len = len;
    r->res_heap = heap ? sdl_xmalloc(len ? len : 1) : NULL;
    return heap ? (void *)r->res_heap : (void *)(r->buf + at + HDR);
}

void
sdl_ring_commit(sdl_ring *r, uint32_t tag)
{
    rec *h = (rec *)(void *)(r->buf + r->res_at);

    if (!r->reserved) {
        return;
    }
    h->flags = r->res_heap ? REC_HEAP : 0;
    h->size = (uint32_t)(HDR + (r->res_heap ? 0 : align8(r->res_len)));
    h->tag = tag;
    h->len32 = r->res_heap ? 0 : (uint32_t)r->res_len;
    h->heap = r->res_heap;
    h->heap_len = r->res_heap ? r->res_len : 0;
    r->p_head += h->size;
    r->p_heap += h->heap_len;
    r->reserved = false;
    r->res_heap = NULL;
    publish(r);
}

void
sdl_ring_finish(sdl_ring *r)
{
    atomic_store(&r->finished, true);
    signal_cond(r, &r->data);
}

/* Consumer: hands the room taken so far back; wakes a producer waiting for it. */
static void
release_stored(sdl_ring *r)
{
    atomic_store(&r->tail, r->c_tail); /* seq_cst: ordered before the load below */
    if (atomic_load(&r->producer_waiting)) {
        signal_cond(r, &r->room);
    }
}

static void
release_current(sdl_ring *r)
{
    rec *h = r->current;

    if (!h) {
        return;
    }
    r->current = NULL;
    r->c_tail += h->size;
    if (h->flags & REC_HEAP) {
        /* Rare and large: its bytes go back at once. */
        size_t len = h->heap_len;
        free(h->heap);
        atomic_fetch_add(&r->heap_freed, len); /* seq_cst, before release_stored's load */
        release_stored(r);
        return;
    }
    if (r->c_tail - atomic_load_explicit(&r->tail, memory_order_relaxed) >= RELEASE_BYTES) {
        release_stored(r);
    }
}

sdl_ring_status
sdl_ring_next(sdl_ring *r, sdl_bytes *ret_record, uint32_t *ret_tag, const volatile int *stop)
{
    release_current(r);
    for (;;) {
        if (r->c_head == r->c_tail) {
            r->c_head = atomic_load(&r->head);
        }
        if (r->c_head != r->c_tail) {
            rec *h = (rec *)(void *)(r->buf + r->c_tail % r->cap);
            if (h->flags & REC_WRAP) {
                r->c_tail += h->size;
                continue;
            }
            r->current = h;
            *ret_tag = h->tag;
            *ret_record = (h->flags & REC_HEAP) ? SDL_BYTES(h->heap, h->heap_len)
                                                : SDL_BYTES((uint8_t *)h + HDR, h->len32);
            return SDL_RING_RECORD;
        }
        /* Empty: hand all room back, then wait. */
        release_stored(r);
        if (atomic_load(&r->finished)) {
            r->c_head = atomic_load(&r->head);
            if (r->c_head == r->c_tail) {
                return SDL_RING_FINISHED;
            }
            continue;
        }
        if (stop && *stop) {
            return SDL_RING_STOPPED;
        }
        (void)pthread_mutex_lock(&r->lock);
        atomic_store(&r->consumer_waiting, true);
        if (atomic_load(&r->head) == r->c_tail && !atomic_load(&r->finished)) {
            struct timespec ts;
            (void)clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += POLL_NSEC;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&r->data, &r->lock, &ts);
        }
        atomic_store(&r->consumer_waiting, false);
        (void)pthread_mutex_unlock(&r->lock);
    }
}

void
sdl_ring_close(sdl_ring *r)
{
    atomic_store(&r->closed, true);
    signal_cond(r, &r->room);
}

sdl_ring *
sdl_ring_free(sdl_ring *r)
{
    if (!r) {
        return NULL;
    }
    if (r->current) {
        release_current(r);
    }
    /* Records written but never taken (published or not) may own heap blocks. */
    for (size_t at = r->c_tail; at != r->p_head;) {
        rec *h = (rec *)(void *)(r->buf + at % r->cap);
        if (h->flags & REC_HEAP) {
            free(h->heap);
        }
        at += h->size;
    }
    free(r->res_heap);
    (void)pthread_mutex_destroy(&r->lock);
    (void)pthread_cond_destroy(&r->data);
    (void)pthread_cond_destroy(&r->room);
    free(r->buf);
    free(r);
    return NULL;
}
