/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

SDL_NORETURN static void
oom(size_t size)
{
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "<2>sdl: out of memory allocating %zu bytes\n", size);

    if (n > 0) {
        (void)!write(STDERR_FILENO, msg, (size_t)n);
    }
    abort();
}

void *
sdl_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p) {
        oom(size);
    }
    return p;
}

void *
sdl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p) {
        oom(n * size);
    }
    return p;
}

void *
sdl_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (!p) {
        oom(size);
    }
    return p;
}

void *
sdl_xreallocarray(void *ptr, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        oom(SIZE_MAX);
    }
    return sdl_xrealloc(ptr, n * size);
}

char *
sdl_xstrdup(const char *s)
{
    return sdl_xstrndup(s, strlen(s));
}

char *
sdl_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = sdl_xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
sdl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    p = sdl_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
