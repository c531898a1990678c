/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * row-decoder: decodes the row images of one WRITE/UPDATE/DELETE rows event against the
 * sdl_table of its TABLE_MAP, one row change at a time.
 *
 * Usage:
 *     sdl_row_decoder dec;
 *     sdl_row_change change;
 *     bool more;
 *     if (!sdl_row_decoder_start(&dec, table, &rows, arena, err)) ...
 *     while (sdl_row_decoder_next(&dec, &change, &more, err) && more) { use change }
 *     (the loop ended with an error when sdl_row_decoder_next() returned false)
 *
 * Each row image is a null bitmap over the *present* columns followed by the values of the
 * present, non-NULL columns. Columns absent from a partial image (binlog_row_image=MINIMAL
 * or NOBLOB) come back as SDL_VALUE_ABSENT, never shifted onto other columns. An UPDATE row
 * change pairs a before and an after image, each with its own present bitmap.
 *
 * Types: every MariaDB 10.11 column type (and MySQL JSON/VECTOR) maps to the sdl_value kinds
 * of model/change.h; strings are converted to UTF-8 from the column charset (charset.h);
 * binary-charset strings are SDL_VALUE_BINARY; MariaDB JSON columns (LONGTEXT) become
 * SDL_VALUE_JSON_TEXT when the caller set sdl_column.is_json before decoding.
 * Zero or partial dates and zero TIMESTAMPs are SDL_VALUE_TEMPORAL_TEXT, as MySQL prints them.
 *
 * Does not: parse the event header (binlog-event.h), track schemas, or map to BSON.
 * Never logs. Errors: SDL_E_PROTOCOL (row bytes inconsistent with the image: truncated,
 * over-long, lengths past the buffer, invalid values or text), SDL_E_SCHEMA (the event
 * does not match the table: column count), SDL_E_UNSUPPORTED (a type or charset sdl cannot
 * decode); messages name table, column (name and index) and the problem.
 * Threading: a decoder is used by one thread at a time.
 * Lifetime: the decoder borrows @table and the event's row bytes until it is finished. The
 * sdl_value arrays and the strings/bytes sdl made (converted text, formatted values) are
 * allocated from @arena and stay valid until that arena is reset; the text and bytes of
 * utf8mb4, utf8mb3, ascii and binary columns are used where they are, in the row bytes, and
 * stay valid as long as those do (no copy: the values of a row are mapped before its event
 * is released).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/cursor.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/model/change.h"
#include "sdl/mysql/binlog-event.h"

/* sdl_column.charset of a string, ENUM or SET column whose table map carries no charset or
 * member metadata (servers before MySQL 8.0.1 / MariaDB 10.5, or binlog_row_metadata=MINIMAL),
 * set by the change stream when it reads binlog files: text that is valid UTF-8 becomes a
 * string, other bytes binary (never altered); ENUM/SET values without member names become
 * their index / bit mask (SDL_VALUE_UINT). A server connection requires FULL metadata
 * instead, so this is never guessed there. */
#define SDL_COLLATION_GUESS_UTF8 0xffffu

/* Iterator state. Transparent so it can live on the stack; fields are private. */
typedef struct sdl_row_decoder {
    const sdl_table *table;      /* borrowed */
    const sdl_binlog_rows *rows; /* borrowed */
    sdl_arena *arena;            /* values are allocated here */
    sdl_cursor cur;              /* position in rows->rows */
    uint32_t npresent;           /* columns in the before (or only) image */
    uint32_t npresent_after;     /* columns in the after image (UPDATE) */
    uint64_t row_index;          /* rows decoded so far, for error messages */
} sdl_row_decoder;

/* Prepares decoding @rows against @table. Fails with SDL_E_SCHEMA when the event's column
 * count differs from the table's. */
SDL_MUST_CHECK bool sdl_row_decoder_start(sdl_row_decoder *dec, const sdl_table *table,
                                          const sdl_binlog_rows *rows, sdl_arena *arena,
                                          sdl_error *err);

/* Decodes the next row change into @ret_change (op, table, before/after as the op has them).
 * *ret_more is false (and @ret_change untouched) when the event has no more rows. */
SDL_MUST_CHECK bool sdl_row_decoder_next(sdl_row_decoder *dec, sdl_row_change *ret_change,
                                         bool *ret_more, sdl_error *err);

/* Formats a DECIMAL from MySQL's packed binary form (strings/decimal.c bin2decimal) as exact
 * text "[-]int.frac" with exactly @scale fraction digits, into @arena. Exposed for tests.
 * Errors: SDL_E_PROTOCOL for precision/scale out of range, short input or a digit group
 * out of range. *ret_used gets the bytes consumed. */
SDL_MUST_CHECK bool sdl_decimal_to_text(const uint8_t *p, size_t len, unsigned precision,
                                        unsigned scale, sdl_arena *arena, sdl_bytes *ret_text,
                                        size_t *ret_used, sdl_error *err);

/* The same DECIMAL as its unscaled integer (value × 10^scale: -12.34 in DECIMAL(6,2) is
 * -1234), for @precision ≤ 18 (SDL_E_INVALID otherwise); the same errors as
 * sdl_decimal_to_text(). What the row decoder gives for DECIMAL(≤ 18). */
SDL_MUST_CHECK bool sdl_decimal_to_i64(const uint8_t *p, size_t len, unsigned precision,
                                       unsigned scale, int64_t *ret, size_t *ret_used,
                                       sdl_error *err);

/* Bytes a DECIMAL(precision, scale) takes in a row image (0 when out of range). */
size_t sdl_decimal_bin_size(unsigned precision, unsigned scale);
