/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* json-text-tree: the former two-pass JSON text parser (a node tree, then BSON), kept in the
 * tests as the oracle of the differential tests (tests/fuzz/fuzz-json-text.c,
 * test-doc-mapper's doc_mapper_json_text_matches_two_pass). sdl itself has one parser,
 * src/mapping/json-text.c. */
#include "sdl/mapping/json-text.h"

/* Validates @text into a node tree, then writes it. Same contract as sdl_json_text_append();
 * sdl_json_text_append() must give the same result, bytes and error. */
SDL_MUST_CHECK bool sdl_json_text_append_two_pass(bson_t *parent, const char *key, size_t key_len,
                                                  const char *text, size_t len, uint32_t max_depth,
                                                  sdl_error *err);
