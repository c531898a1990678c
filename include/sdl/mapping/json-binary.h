/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * json-binary: MySQL's binary JSON (the storage format of JSON columns, sql-common/
 * json_binary.h) and its partial updates (Json_diff, sql/json_diff.h) → native BSON.
 *
 * The result is what json-text.h produces for the same value written as JSON text:
 *   object  → embedded document, members in the stored order (MySQL stores keys sorted by
 *             length, then bytes; that order is kept)
 *   array   → array; string → UTF-8 string (validated); true/false → bool; null → null
 *   int16/int32/int64 → int32 when it fits, else int64
 *   uint16/uint32/uint64 → int32 / int64 when it fits, above INT64_MAX Decimal128 (exact,
 *             as for BIGINT UNSIGNED columns; JSON text would give a double)
 *   double  → double
 * and for the "opaque" values that only binary JSON has (CAST(... AS JSON) of SQL values):
 *   DECIMAL           → Decimal128 with its scale (string when more than 34 digits)
 *   DATE, DATETIME,   → BSON Date (UTC, sub-millisecond digits dropped); with
 *   TIMESTAMP           @datetime_as_string the MySQL text "YYYY-MM-DD" /
 *                       "YYYY-MM-DD hh:mm:ss.ffffff"; a zero or partial date is always that text
 *   TIME              → string "[-]hh:mm:ss.ffffff" (what MySQL prints)
 *   any other type    → string "base64:type<N>:<base64 of the bytes>" (what MySQL prints)
 * An empty value (0 bytes) is JSON null, as MySQL reads it.
 *
 * Partial updates (PARTIAL_UPDATE_ROWS_EVENT): a diff vector is a sequence of
 *   operation 1 (0 REPLACE, 1 INSERT, 2 REMOVE), path (lenenc length + MySQL JSON path text
 *   such as $.a."b c"[3]), and for REPLACE/INSERT a value (lenenc length + binary JSON).
 * sdl_json_binary_append_patched() applies the diffs, in order, to the before image's
 * value, as MySQL's apply_json_diffs() does: REPLACE needs an existing value; INSERT adds a
 * member that must not exist, or inserts into an array at the index (appending past the
 * end); REMOVE needs an existing member/element. A diff that does not apply is an error,
 * never a silent skip. sdl_json_diff_append() writes the diffs themselves, as an array of
 * {op: "replace"|"insert"|"remove", path: text, value: <BSON>} documents, for a row whose
 * before image lacks the column (binlog_row_image=MINIMAL).
 *
 * Every input is untrusted: offsets and sizes are bounds-checked, nesting is limited to
 * @max_depth (0 = 100, MySQL's limit). Errors: SDL_E_PROTOCOL with the problem and where.
 * On failure @parent is unchanged. No logging; no shared state. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"

typedef struct sdl_json_binary_options {
    uint32_t max_depth;      /* 0 = SDL_JSON_TEXT_MAX_DEPTH (100) */
    bool datetime_as_string; /* opaque DATE/DATETIME/TIMESTAMP as MySQL text */
} sdl_json_binary_options;

/* Appends the value of binary JSON @data (@len bytes) under @key (@key_len bytes). @opts may
 * be NULL. */
SDL_MUST_CHECK bool sdl_json_binary_append(bson_t *parent, const char *key, size_t key_len,
                                           const uint8_t *data, size_t len,
                                           const sdl_json_binary_options *opts, sdl_error *err);

/* Applies the diff vector @diffs to the binary JSON @base and appends the result. */
SDL_MUST_CHECK bool sdl_json_binary_append_patched(bson_t *parent, const char *key, size_t key_len,
                                                   const uint8_t *base, size_t base_len,
                                                   const uint8_t *diffs, size_t diffs_len,
                                                   const sdl_json_binary_options *opts,
                                                   sdl_error *err);

/* Appends the diff vector @diffs as an array of {op, path, value} documents. */
SDL_MUST_CHECK bool sdl_json_diff_append(bson_t *parent, const char *key, size_t key_len,
                                         const uint8_t *diffs, size_t diffs_len,
                                         const sdl_json_binary_options *opts, sdl_error *err);
