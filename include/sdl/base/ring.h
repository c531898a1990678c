/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * ring: a single-producer single-consumer ring of variable-size byte records, for handing
 * bytes from one thread to the next without a lock per record (the binlog reader's
 * read-ahead thread hands events to the decoding thread through one).
 *
 * The producer reserves room for a record, writes it in place and commits it with a tag;
 * the consumer takes records in order, and a record it took stays valid until it takes the
 * next one. A record larger than a quarter of the ring lives on the heap instead (freed when
 * the consumer moves past it), so any size fits.
 *
 * Memory is bounded by the capacity: records not yet released by the consumer (the one it
 * holds included) occupy their bytes in the ring, and a heap record also occupies its length
 * in bytes of the capacity, so ring bytes + heap bytes stay within the capacity. The one
 * exception keeps any size passing: an empty ring admits one record whatever its length, and
 * the next one waits until the consumer has released it. So besides its buffer the ring
 * holds at most @capacity bytes on the heap, or one record larger than that.
 *
 * Sharing is batched: each side reads the other's position only when it seems to have run
 * out, and the consumer hands ring room back every 64 KiB (heap bytes at once, when it moves
 * past a heap record). Waiting is with a mutex and condition variables: a full producer
 * sleeps until half the capacity is free or the ring is empty; an empty consumer sleeps until
 * a record is committed, looking at its stop flag every 100 ms.
 *
 * Threading: one producer thread and one consumer thread; new/free from either when the
 * other side is done. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/macros.h"

typedef struct sdl_ring sdl_ring;

/* @capacity in bytes, rounded up to a multiple of 64; at least 4 KiB. */
sdl_ring *sdl_ring_new(size_t capacity);

/* Producer: room for a record of @len bytes (8-byte aligned), waiting until @len bytes and a
 * header of the capacity are free, or the ring is empty. NULL when the consumer closed the
 * ring. The record becomes visible with sdl_ring_commit(); reserving again without
 * committing abandons it. */
void *sdl_ring_reserve(sdl_ring *ring, size_t len);

/* Producer: publishes the reserved record with @tag (the consumer gets it back). */
void sdl_ring_commit(sdl_ring *ring, uint32_t tag);

/* Producer: no more records; a waiting consumer returns once it has taken the rest. */
void sdl_ring_finish(sdl_ring *ring);

typedef enum sdl_ring_status {
    SDL_RING_RECORD,   /* *ret_record and *ret_tag hold the next record */
    SDL_RING_FINISHED, /* the producer finished and every record was taken */
    SDL_RING_STOPPED,  /* *stop became non-zero while the ring was empty */
} sdl_ring_status;

/* Consumer: releases the record taken before and waits for the next one. */
sdl_ring_status sdl_ring_next(sdl_ring *ring, sdl_bytes *ret_record, uint32_t *ret_tag,
                              const volatile int *stop);

/* Consumer: takes no more records; a producer waiting for room gets NULL. */
void sdl_ring_close(sdl_ring *ring);

/* NULL-safe; returns NULL. Frees records never taken too. */
sdl_ring *sdl_ring_free(sdl_ring *ring);
