/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * charset: MySQL/MariaDB collation ids → character sets, and conversion of column bytes to
 * UTF-8.
 *
 * The collation table covers every id MariaDB 10.11 reports in
 * information_schema.COLLATION_CHARACTER_SET_APPLICABILITY (including the 10.10+ UCA 14.0.0
 * ids from 2048 on) plus MySQL 8.0's utf8mb4_0900 ids 255..323. utf8mb4/utf8mb3/ascii are
 * validated and copied, latin1 (MySQL's cp1252 variant) and binary are converted natively,
 * every other charset goes through iconv(3). Conversion never guesses: invalid input or a
 * charset iconv lacks is an error.
 *
 * Never logs. Errors: SDL_E_PROTOCOL (bytes invalid in their charset), SDL_E_UNSUPPORTED
 * (charset sdl cannot convert). Thread-safe (iconv descriptors are per call).
 * Lifetime: sdl_charset pointers are static; converted text lives in the caller's arena.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"

typedef enum sdl_charset_kind {
    SDL_CHARSET_BINARY, /* charset "binary" (collation 63): bytes, not text */
    SDL_CHARSET_UTF8MB4,
    SDL_CHARSET_UTF8MB3,
    SDL_CHARSET_ASCII,
    SDL_CHARSET_LATIN1, /* MySQL latin1 = cp1252 with 0x81 0x8d 0x8f 0x90 0x9d as C1 */
    SDL_CHARSET_ICONV,  /* everything else: converted with iconv from iconv_name */
} sdl_charset_kind;

typedef struct sdl_charset {
    const char *name; /* MySQL name: "utf8mb4", "latin1", ... */
    uint8_t mbmaxlen; /* longest character, bytes */
    sdl_charset_kind kind;
    const char *iconv_name; /* for SDL_CHARSET_ICONV; NULL when iconv has no equivalent */
} sdl_charset;

/* The charset of a collation id, or NULL when the id is unknown. */
const sdl_charset *sdl_charset_by_collation(uint32_t collation_id);

/* True when [p, p+len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF);
 * with !allow_4byte (utf8mb3) 4-byte sequences are rejected too. */
bool sdl_utf8_valid(const uint8_t *p, size_t len, bool allow_4byte);

/*
 * Converts @in from @cs into UTF-8 allocated from @arena (always a copy, NUL-terminated after
 * ret_out->len bytes). For SDL_CHARSET_BINARY the bytes are copied unchanged.
 */
SDL_MUST_CHECK bool sdl_charset_to_utf8(const sdl_charset *cs, sdl_bytes in, sdl_arena *arena,
                                        sdl_bytes *ret_out, sdl_error *err);

/*
 * For the charsets whose bytes need no conversion (utf8mb4, utf8mb3, ascii, binary): checks
 * @in as sdl_charset_to_utf8() does and returns true with *ret_checked (the bytes can be used
 * as they are, they are valid UTF-8 or binary); false with the same error when they are not.
 * For the other charsets returns true with *ret_checked false: convert them.
 */
SDL_MUST_CHECK bool sdl_charset_check_in_place(const sdl_charset *cs, sdl_bytes in,
                                               bool *ret_checked, sdl_error *err);
