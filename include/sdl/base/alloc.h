/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * alloc: allocation that aborts on OOM (libbson and Redis do the same; systemd restarts the
 * daemon, which resumes from the committed offset). No caller checks for NULL.
 */

#include <stddef.h>

#include "sdl/base/macros.h"

void *sdl_xmalloc(size_t size);
void *sdl_xcalloc(size_t n, size_t size);
void *sdl_xrealloc(void *ptr, size_t size);
char *sdl_xstrdup(const char *s);
char *sdl_xstrndup(const char *s, size_t n);
/* Aborts when n * size overflows. */
void *sdl_xreallocarray(void *ptr, size_t n, size_t size);
/* Returns a newly allocated formatted string; caller frees. */
SDL_PRINTF(1, 2) char *sdl_xasprintf(const char *fmt, ...);
