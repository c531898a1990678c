/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * units: the typed values of the configuration, parsed once (STYLE.md §3.8).
 *
 *   integer   decimal digits only ("3306"); no sign, no base prefix, no separators
 *   duration  one or more <integer><unit> groups, unit one of us, ms, s, m (or min), h, d:
 *             "500ms", "30s", "5m", "1h30m"; a bare "0" is zero; stored in microseconds
 *   size      <integer>[unit], unit one of B, KiB, MiB, GiB, TiB (binary, 1 KiB = 1024 B);
 *             a bare integer is bytes; stored in bytes
 *
 * Parsers return false with a short reason in *ret_why (a static string, "" when the
 * caller should use its own wording). Formatters give the canonical form: the largest unit
 * that represents the value exactly ("16MiB", "200ms", "5m").
 * Pure functions; thread-safe; never log.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/macros.h"

#define SDL_UNIT_TEXT_MAX 32 /* enough for any uint64 plus a unit */

SDL_MUST_CHECK bool sdl_parse_uint(const char *s, uint64_t *ret, const char **ret_why);
SDL_MUST_CHECK bool sdl_parse_duration(const char *s, uint64_t *ret_usec, const char **ret_why);
SDL_MUST_CHECK bool sdl_parse_size(const char *s, uint64_t *ret_bytes, const char **ret_why);

/* Write into buf (SDL_UNIT_TEXT_MAX bytes) and return it. */
const char *sdl_format_duration(uint64_t usec, char *buf);
const char *sdl_format_size(uint64_t bytes, char *buf);
