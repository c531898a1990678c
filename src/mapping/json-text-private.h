/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* json-text internals, for the differential test (tests/fuzz/fuzz-json-text.c) only. */
#include "sdl/mapping/json-text.h"

/* sdl_json_text_append() without its single-pass fast path: validate into a node tree, then
 * write. Same contract; sdl_json_text_append() must give the same result and bytes. */
SDL_MUST_CHECK bool sdl_json_text_append_two_pass(bson_t *parent, const char *key, size_t key_len,
                                                  const char *text, size_t len, uint32_t max_depth,
                                                  sdl_error *err);
