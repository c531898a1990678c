/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * sdltest: the in-tree unit-test harness (systemd's tests.h and pipewire's pwtest in
 * spirit). TEST(name) registers a test; the binary runs every test (or those whose name
 * contains $SDL_TEST_FILTER) and prints TAP, which meson reads with protocol: 'tap'.
 * A failed ASSERT_* prints both sides with file:line and ends the current test.
 *
 * Fixtures: sdltest_hex() turns "0a 0b ff" into bytes; sdltest_data_path() resolves a file
 * under $SDL_TEST_DATA (tests/data); sdltest_read_file() loads one.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*sdltest_fn)(void);

void sdltest_register(const char *name, sdltest_fn fn);
void sdltest_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void sdltest_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        sdltest_register(#name, test_##name);                                                      \
    }                                                                                              \
    static void test_##name(void)

#define ASSERT_TRUE(expr)                                                                          \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            sdltest_fail(__FILE__, __LINE__, "expected true: %s", #expr);                          \
        }                                                                                          \
    } while (0)

#define ASSERT_FALSE(expr)                                                                         \
    do {                                                                                           \
        if (expr) {                                                                                \
            sdltest_fail(__FILE__, __LINE__, "expected false: %s", #expr);                         \
        }                                                                                          \
    } while (0)

#define ASSERT_INT_EQ(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a);                                                             \
        long long b_ = (long long)(b);                                                             \
        if (a_ != b_) {                                                                            \
            sdltest_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);            \
        }                                                                                          \
    } while (0)

#define ASSERT_UINT_EQ(a, b)                                                                       \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a);                                           \
        unsigned long long b_ = (unsigned long long)(b);                                           \
        if (a_ != b_) {                                                                            \
            sdltest_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, a_, b_);            \
        }                                                                                          \
    } while (0)

#define ASSERT_DOUBLE_EQ(a, b)                                                                     \
    do {                                                                                           \
        double a_ = (double)(a);                                                                   \
        double b_ = (double)(b);                                                                   \
        if (a_ != b_) {                                                                            \
            sdltest_fail(__FILE__, __LINE__, "%s == %s: %.17g != %.17g", #a, #b, a_, b_);          \
        }                                                                                          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a);                                                                      \
        const char *b_ = (b);                                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            sdltest_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                 \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
        }                                                                                          \
    } while (0)

/* Compares a (ptr, len) byte string with a NUL-terminated expected string. */
#define ASSERT_MEM_STR_EQ(ptr, len, s)                                                             \
    do {                                                                                           \
        const char *p_ = (const char *)(ptr);                                                      \
        size_t l_ = (size_t)(len);                                                                 \
        const char *s_ = (s);                                                                      \
        if (l_ != strlen(s_) || (l_ && memcmp(p_, s_, l_) != 0)) {                                 \
            sdltest_fail(__FILE__, __LINE__, "%s == %s: \"%.*s\" != \"%s\"", #ptr, #s, (int)l_,    \
                         p_ ? p_ : "", s_);                                                        \
        }                                                                                          \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        const char *n_ = (needle);                                                                 \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            sdltest_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, n_,           \
                         h_ ? h_ : "(null)");                                                      \
        }                                                                                          \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                                         \
    do {                                                                                           \
        if ((p) == NULL) {                                                                         \
            sdltest_fail(__FILE__, __LINE__, "expected non-NULL: %s", #p);                         \
        }                                                                                          \
    } while (0)

#define ASSERT_NULL(p)                                                                             \
    do {                                                                                           \
        if ((p) != NULL) {                                                                         \
            sdltest_fail(__FILE__, __LINE__, "expected NULL: %s", #p);                             \
        }                                                                                          \
    } while (0)

/* Asserts a bool-returning call succeeded, printing err->message otherwise. */
#define ASSERT_OK(call, errp)                                                                      \
    do {                                                                                           \
        if (!(call)) {                                                                             \
            sdltest_fail(__FILE__, __LINE__, "%s failed: %s", #call, (errp)->message);             \
        }                                                                                          \
    } while (0)

/* Parses hex digits (whitespace ignored) into a malloc'd buffer; aborts on bad input. */
uint8_t *sdltest_hex(const char *hex, size_t *ret_len);
/* $SDL_TEST_DATA/<rel>; static buffer. */
const char *sdltest_data_path(const char *rel);
/* Reads a whole file (malloc'd, NUL-appended); fails the test when unreadable. */
char *sdltest_read_file(const char *path, size_t *ret_len);
/* Creates a fresh temporary directory; returns its path (static buffer). */
const char *sdltest_tmpdir(void);
