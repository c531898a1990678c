/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

struct sdl_arena_block {
    sdl_arena_block *next;
    size_t size; /* usable bytes in data[] */
    size_t used; /* bytes handed out from data[] */
    _Alignas(16) unsigned char data[];
};

#define ARENA_ALIGN 16u

static sdl_arena_block *
block_new(size_t size)
{
    sdl_arena_block *b = sdl_xmalloc(sizeof(*b) + size);

    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void
sdl_arena_init(sdl_arena *arena, size_t block_size)
{
    arena->head = NULL;
    arena->block_size = block_size ? block_size : 64u * 1024u;
    arena->used_bytes = 0;
}

void
sdl_arena_done(sdl_arena *arena)
{
    sdl_arena_block *b = arena->head;

    while (b) {
        sdl_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena->head = NULL;
    arena->used_bytes = 0;
}

void
sdl_arena_reset(sdl_arena *arena)
{
    sdl_arena_block *keep = NULL;
    sdl_arena_block *b = arena->head;

    while (b) {
        sdl_arena_block *next = b->next;
        if (!keep && b->size == arena->block_size) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    arena->head = keep;
    arena->used_bytes = 0;
}

void *
sdl_arena_alloc(sdl_arena *arena, size_t size)
{
    sdl_arena_block *b = arena->head;
    size_t need;

    if (size > SIZE_MAX - ARENA_ALIGN) {
        abort();
    }
    need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!b || b->size - b->used < need) {
        if (need > arena->block_size / 4) {
            /* Large allocation: its own block, linked behind the current one so the
             * current block's free space is not wasted. */
            sdl_arena_block *big = block_new(need);
            big->used = need;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                arena->head = big;
            }
            arena->used_bytes += need;
            return big->data;
        }
        b = block_new(arena->block_size);
        b->next = arena->head;
        arena->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    arena->used_bytes += need;
    return p;
}

void *
sdl_arena_calloc(sdl_arena *arena, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        abort();
    }
    void *p = sdl_arena_alloc(arena, n * size);
    memset(p, 0, n * size);
    return p;
}

char *
sdl_arena_strndup(sdl_arena *arena, const char *s, size_t len)
{
    char *p = sdl_arena_alloc(arena, len + 1);

    if (len) {
        memcpy(p, s, len);
    }
    p[len] = '\0';
    return p;
}

void *
sdl_arena_memdup(sdl_arena *arena, const void *src, size_t len)
{
    void *p = sdl_arena_alloc(arena, len);

    if (len) {
        memcpy(p, src, len);
    }
    return p;
}
