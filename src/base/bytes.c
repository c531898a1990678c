/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

bool
sdl_bytes_equal(sdl_bytes a, sdl_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool
sdl_bytes_equal_str(sdl_bytes a, const char *s)
{
    return sdl_bytes_equal(a, SDL_BYTES(s, strlen(s)));
}

void
sdl_buf_done(sdl_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void
sdl_buf_reset(sdl_buf *buf)
{
    buf->len = 0;
}

void
sdl_buf_reserve(sdl_buf *buf, size_t extra)
{
    size_t need = buf->len + extra + 1; /* +1 keeps room for sdl_buf_cstr()'s NUL */

    if (need < buf->len) {
        abort();
    }
    if (need <= buf->cap) {
        return;
    }
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) {
        cap = cap * 2 > cap ? cap * 2 : need;
    }
    buf->data = sdl_xrealloc(buf->data, cap);
    buf->cap = cap;
}

void
sdl_buf_append(sdl_buf *buf, const void *p, size_t len)
{
    if (!len) {
        return;
    }
    sdl_buf_reserve(buf, len);
    memcpy(buf->data + buf->len, p, len);
    buf->len += len;
}

void
sdl_buf_append_str(sdl_buf *buf, const char *s)
{
    sdl_buf_append(buf, s, strlen(s));
}

void
sdl_buf_append_byte(sdl_buf *buf, uint8_t b)
{
    sdl_buf_reserve(buf, 1);
    buf->data[buf->len++] = b;
}

void
sdl_buf_appendf(sdl_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    sdl_buf_reserve(buf, (size_t)n);
    va_start(ap, fmt);
    (void)vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

char *
sdl_buf_cstr(sdl_buf *buf)
{
    sdl_buf_reserve(buf, 0);
    buf->data[buf->len] = '\0';
    return (char *)buf->data;
}

void
sdl_buf_append_u16le(sdl_buf *buf, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    sdl_buf_append(buf, b, sizeof(b));
}

void
sdl_buf_append_u32le(sdl_buf *buf, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    sdl_buf_append(buf, b, sizeof(b));
}

void
sdl_buf_append_u64le(sdl_buf *buf, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    sdl_buf_append(buf, b, sizeof(b));
}
