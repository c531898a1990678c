/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>

#include "sdl/base/arena.h"

#include "sdltest.h"

TEST(arena_allocations_are_aligned_and_distinct)
{
    sdl_arena a;
    char *p[100];

    sdl_arena_init(&a, 1024);
    for (int i = 0; i < 100; i++) {
        p[i] = sdl_arena_alloc(&a, (size_t)i + 1);
        ASSERT_UINT_EQ((uintptr_t)p[i] % 16, 0);
        memset(p[i], i, (size_t)i + 1);
    }
    for (int i = 0; i < 100; i++) {
        for (int j = 0; j <= i; j++) {
            ASSERT_INT_EQ(p[i][j], i);
        }
    }
    sdl_arena_done(&a);
}

TEST(arena_large_allocations_and_reset)
{
    sdl_arena a;

    sdl_arena_init(&a, 256);
    char *small = sdl_arena_alloc(&a, 16);
    char *big = sdl_arena_alloc(&a, 100000);
    memset(big, 7, 100000);
    char *small2 = sdl_arena_alloc(&a, 16);
    ASSERT_TRUE(small2 == small + 16);
    ASSERT_TRUE(a.used_bytes >= 100032);
    sdl_arena_reset(&a);
    ASSERT_UINT_EQ(a.used_bytes, 0);
    char *again = sdl_arena_strndup(&a, "hello", 5);
    ASSERT_STR_EQ(again, "hello");
    int *z = sdl_arena_calloc(&a, 10, sizeof(int));
    for (int i = 0; i < 10; i++) {
        ASSERT_INT_EQ(z[i], 0);
    }
    sdl_arena_done(&a);
}
