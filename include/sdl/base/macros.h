/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * macros: compiler attributes and tiny helpers shared by every area.
 * Header only; no state, no logging.
 */

#include <stddef.h>

#define SDL_MUST_CHECK       __attribute__((warn_unused_result))
#define SDL_PRINTF(fmt, arg) __attribute__((format(printf, fmt, arg)))
#define SDL_NORETURN         _Noreturn
#define SDL_UNUSED           __attribute__((unused))
#define SDL_LIKELY(x)        __builtin_expect(!!(x), 1)
#define SDL_UNLIKELY(x)      __builtin_expect(!!(x), 0)

#define SDL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SDL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SDL_MAX(a, b) ((a) > (b) ? (a) : (b))

#define sdl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
