/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * queue: the one structure the reader thread and the writer thread share (DESIGN.md §2).
 * A FIFO of change items bounded by the bytes they hold: sdl_queue_push() blocks while the
 * queue is full, which is what bounds sdl's memory and applies backpressure to the binlog
 * reader. An item larger than the whole capacity is still accepted when the queue is empty,
 * so nothing can deadlock.
 *
 * Items carry an encoded document (opaque bytes: the queue area knows nothing of BSON or
 * MySQL) and the transaction bookkeeping the writer needs to batch on transaction
 * boundaries. The queue takes ownership of pushed items and hands ownership to the popper.
 *
 * Threading: any number of pushers and poppers; sdl_queue_close() wakes everyone.
 * Never logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sdl_queue_item_kind {
    SDL_QUEUE_ROW,         /* one row change document */
    SDL_QUEUE_DDL,         /* one DDL document (first in its transaction) */
    SDL_QUEUE_COMMIT,      /* end of a source transaction (every transaction has one) */
    SDL_QUEUE_DEAD_LETTER, /* the dead letter of a row that cannot be written */
} sdl_queue_item_kind;

typedef struct sdl_queue_item {
    struct sdl_queue_item *next; /* private to the queue */
    sdl_queue_item_kind kind;
    uint8_t *doc;        /* ROW/DDL/DEAD_LETTER: encoded document (malloc'd, owned; or in
                          * the item's own allocation: sdl_queue_item_new_doc) */
    size_t doc_len;      /* bytes */
    char *gtid;          /* GTID of the transaction (malloc'd): on a transaction's first
                          * item and its COMMIT; NULL on the items between (the producer's
                          * choice: the queue does not look) */
    uint64_t seq;        /* ROW/DDL/DEAD_LETTER: position in the transaction; COMMIT:
                          * rows + DDLs */
    int64_t ts_sec;      /* source commit time */
    char *position;      /* COMMIT: GTID position after the transaction (malloc'd) */
    char *binlog_file;   /* COMMIT: binlog file (malloc'd) */
    uint64_t binlog_pos; /* COMMIT: position after the transaction */
    uint8_t *snapshot;   /* COMMIT of a snapshot chunk: the snapshot's progress after it
                          * (opaque bytes, malloc'd, owned; NULL otherwise) */
    size_t snapshot_len;
} sdl_queue_item;

/* A zeroed item whose doc has room for @doc_len bytes in the same allocation (one malloc per
 * row instead of two); doc_len is set, the bytes are the caller's to write. */
sdl_queue_item *sdl_queue_item_new_doc(size_t doc_len);
/* Frees an item and everything it owns. NULL-safe. */
void sdl_queue_item_free(sdl_queue_item *item);
/* Bytes an item counts against the capacity. */
size_t sdl_queue_item_bytes(const sdl_queue_item *item);

typedef struct sdl_queue sdl_queue;

sdl_queue *sdl_queue_new(size_t capacity_bytes);
sdl_queue *sdl_queue_free(sdl_queue *queue);

/* Appends @item (ownership moves to the queue). Blocks while full; once blocked, it is woken
 * when a quarter of the capacity is free (or the queue is empty), not at every pop, so that a
 * full queue does not switch threads twice per item. Returns false (and frees the item) when
 * the queue is closed. */
bool sdl_queue_push(sdl_queue *queue, sdl_queue_item *item);

/* Removes the oldest item; waits at most @timeout_usec (0: don't wait). Returns NULL on
 * timeout, or when the queue is closed and empty (*ret_closed says which). */
sdl_queue_item *sdl_queue_pop(sdl_queue *queue, uint64_t timeout_usec, bool *ret_closed);

/* Wakes every waiter; later pushes fail, pops drain what is left. */
void sdl_queue_close(sdl_queue *queue);

/* Bytes currently queued (for metrics). */
size_t sdl_queue_bytes(sdl_queue *queue);

/* sdl_queue_bytes() and sdl_queue_full_usec() under one lock (the writer reads both for every
 * item it takes). */
void sdl_queue_counters(sdl_queue *queue, size_t *ret_bytes, uint64_t *ret_full_usec);

/* Microseconds sdl_queue_push() callers spent waiting for room in a full queue, in total (for
 * metrics: the time the reader waited for the writer). */
uint64_t sdl_queue_full_usec(sdl_queue *queue);
