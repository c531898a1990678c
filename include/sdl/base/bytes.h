/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * bytes: sdl_bytes, a borrowed {ptr, len} view, and sdl_buf, a growable owned byte buffer.
 * A view never owns memory; its lifetime is that of the buffer it points into, which the
 * producing module's header states. sdl_buf aborts on OOM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/macros.h"

typedef struct sdl_bytes {
    const uint8_t *ptr;
    size_t len;
} sdl_bytes;

#define SDL_BYTES(p, n) ((sdl_bytes){(const uint8_t *)(p), (n)})

/* True when both views hold the same bytes. */
bool sdl_bytes_equal(sdl_bytes a, sdl_bytes b);
/* True when the view equals the NUL-terminated @s. */
bool sdl_bytes_equal_str(sdl_bytes a, const char *s);

typedef struct sdl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sdl_buf;

#define SDL_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sdl_buf_done(sdl_buf *buf);
void sdl_buf_reset(sdl_buf *buf);
/* Makes room for @extra more bytes. */
void sdl_buf_reserve(sdl_buf *buf, size_t extra);
void sdl_buf_append(sdl_buf *buf, const void *p, size_t len);
void sdl_buf_append_str(sdl_buf *buf, const char *s);
void sdl_buf_append_byte(sdl_buf *buf, uint8_t b);
SDL_PRINTF(2, 3) void sdl_buf_appendf(sdl_buf *buf, const char *fmt, ...);
/* Keeps data[len] == '\0' readable without counting it; returns data. */
char *sdl_buf_cstr(sdl_buf *buf);
/* Little-endian appends. */
void sdl_buf_append_u16le(sdl_buf *buf, uint16_t v);
void sdl_buf_append_u32le(sdl_buf *buf, uint32_t v);
void sdl_buf_append_u64le(sdl_buf *buf, uint64_t v);
