/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the JSON text parser must never crash or read out of bounds; what it accepts
 * must be valid BSON that the relaxed Extended JSON writer can print, and a failed parse must
 * leave the parent document untouched. Differential: the parser and the former two-pass
 * parser (tests/lib/json-text-tree.c) must give the same result, bytes and error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"
#include "sdl/mapping/json-text.h"

#include "tests/lib/json-text-tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t doc = BSON_INITIALIZER;
    bson_t doc2 = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    sdl_error err2 = SDL_ERROR_INIT;
    sdl_buf out = SDL_BUF_INIT;
    /* The first byte picks a small depth limit sometimes, to exercise the limit. */
    uint32_t depth = size > 0 && data[0] == 'D' ? 3 : 0;

    bool ok = sdl_json_text_append(&doc, "v", 1, (const char *)data, size, depth, &err);
    bool ok2 = sdl_json_text_append_two_pass(&doc2, "v", 1, (const char *)data, size, depth, &err2);
    if (ok != ok2 || doc.len != doc2.len ||
        memcmp(bson_get_data(&doc), bson_get_data(&doc2), doc.len) != 0 ||
        (!ok && (err.code != err2.code || strcmp(err.message, err2.message) != 0))) {
        abort();
    }
    if (ok) {
        size_t off;
        if (!bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &off)) {
            abort();
        }
        if (!sdl_doc_mapper_to_json(&doc, &out, &err)) {
            abort();
        }
    } else if (doc.len != 5 || err.code != SDL_E_PROTOCOL) {
        abort();
    }
    sdl_buf_done(&out);
    bson_destroy(&doc);
    bson_destroy(&doc2);
    return 0;
}
