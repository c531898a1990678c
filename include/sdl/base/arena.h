/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * arena: a bump allocator whose memory is released all at once (MariaDB's memroot,
 * wal2json's per-change memory context). Decoding an event or a transaction allocates from
 * one arena; sdl_arena_reset() keeps the first block for reuse, so a steady stream of
 * similar events allocates nothing after warm-up.
 *
 * Threading: one thread at a time. OOM aborts.
 */

#include <stddef.h>

typedef struct sdl_arena_block sdl_arena_block;

typedef struct sdl_arena {
    sdl_arena_block *head; /* current block; older blocks chained behind it */
    size_t block_size;     /* default size of a new block, bytes */
    size_t used_bytes;     /* bytes handed out since the last reset (for accounting) */
} sdl_arena;

/* @block_size 0 means 64 KiB. */
void sdl_arena_init(sdl_arena *arena, size_t block_size);
/* Frees every block. */
void sdl_arena_done(sdl_arena *arena);
/* Releases all allocations; keeps one block of the default size. */
void sdl_arena_reset(sdl_arena *arena);

/* 16-byte aligned, uninitialised. Never NULL. */
void *sdl_arena_alloc(sdl_arena *arena, size_t size);
void *sdl_arena_calloc(sdl_arena *arena, size_t n, size_t size);
/* Copies @len bytes and appends a NUL. */
char *sdl_arena_strndup(sdl_arena *arena, const char *s, size_t len);
void *sdl_arena_memdup(sdl_arena *arena, const void *p, size_t len);
