/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * json-text: a strict RFC 8259 JSON parser that turns JSON text (MariaDB stores JSON columns
 * as LONGTEXT) into a native BSON value. It is not libbson's bson_new_from_json(), which reads
 * Extended JSON ("$date", "$oid" keys are interpreted) and wants an object at the top: here
 * any JSON value may be the top level and every key is kept literally, including keys that
 * contain '.' or start with '$' (legal in MongoDB >= 5.0).
 *
 * Mapping:
 *   object  → embedded document, members in text order. A duplicated key keeps the position
 *             of its first occurrence and the value of its last (as MySQL's JSON type and
 *             JavaScript's JSON.parse do).
 *   array   → array
 *   string  → UTF-8 string; escapes decoded, surrogate pairs required to be well-formed,
 *             raw bytes required to be valid UTF-8; "\u0000" is allowed in values but is an
 *             error in keys (BSON keys are C strings).
 *   number  → int32 when integral (no fraction or exponent) and within int32, int64 when
 *             within int64, otherwise double (strtod, correctly rounded; a magnitude beyond
 *             DBL_MAX becomes ±Infinity, as the text does name a number). "-0" is int32 0.
 *   true/false → bool; null → null.
 * Invalid JSON is an error (SDL_E_PROTOCOL, with the byte offset), never a raw string: a JSON
 * column is CHECK(json_valid(...)) in MariaDB, so invalid text means the decoder or the
 * schema is wrong, and sdl stops rather than store something else (DESIGN.md §1, guarantee 3).
 *
 * Nesting is limited to @max_depth arrays/objects (MySQL's own limit is 100); deeper input is
 * an error. There is one parser, one pass straight into BSON bytes: open containers live on
 * an explicit stack (on the heap beyond a few dozen levels), never on the C call stack.
 *
 * On failure @parent is unchanged: the text is validated completely before anything is
 * appended. No logging; no shared state (thread-safe). OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"

/* MySQL's JSON_DOCUMENT_MAX_DEPTH; the default of sdl_doc_mapper_options.json_max_depth. */
#define SDL_JSON_TEXT_MAX_DEPTH 100

/* A growable output buffer of the caller's: @p is @local (the caller's storage, never freed)
 * until the first growth, then a heap block (malloc; the caller frees it when p != local). */
typedef struct sdl_json_out {
    uint8_t *p;
    size_t len;
    size_t cap;
    uint8_t *local;
} sdl_json_out;

/* The parser for writers that build raw BSON themselves: appends the value of @text (an
 * object or an array at the top) to @out as a document body (int32 length, elements, NUL) and
 * sets *ret_type to BSON_TYPE_DOCUMENT or BSON_TYPE_ARRAY. Returns false, with out->len
 * unchanged (the buffer may have grown), for a scalar at the top and for anything
 * sdl_json_text_append() refuses (invalid text, nesting deeper than @max_depth, 0 meaning
 * SDL_JSON_TEXT_MAX_DEPTH); sdl_json_text_append() then appends the scalar or says why. Where
 * it returns true, the bytes are those sdl_json_text_append() writes for the value. */
SDL_MUST_CHECK bool sdl_json_text_write(sdl_json_out *out, const char *text, size_t len,
                                        uint32_t max_depth, uint8_t *ret_type);

/* Parses @text (@len bytes, not NUL-terminated) and appends the value to @parent under the key
 * @key (@key_len bytes, no NUL inside). @max_depth 0 means SDL_JSON_TEXT_MAX_DEPTH. */
SDL_MUST_CHECK bool sdl_json_text_append(bson_t *parent, const char *key, size_t key_len,
                                         const char *text, size_t len, uint32_t max_depth,
                                         sdl_error *err);
