/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: MySQL binary JSON and partial JSON updates (json-binary.h). Input: byte 0 picks
 * the entry point (0: a document; 1: a document and a diff vector, bytes 1-2 = the document's
 * length L little-endian; 2: a diff vector written as operations; bit 7: dates as text), the
 * rest is the bytes. Everything must decode or fail cleanly; on failure nothing is appended. */
#include <stdint.h>
#include <stdlib.h>

#include <bson/bson.h>

#include "sdl/mapping/json-binary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    sdl_json_binary_options opts = {0, false};
    bool ok = false;

    if (size < 1 || size > (1u << 20)) {
        return 0;
    }
    opts.datetime_as_string = (data[0] & 0x80) != 0;
    opts.max_depth = (data[0] & 0x40) ? 8 : 0;
    switch (data[0] & 3) {
    case 0:
        ok = sdl_json_binary_append(&doc, "v", 1, data + 1, size - 1, &opts, &err);
        break;
    case 1: {
        if (size < 3) {
            break;
        }
        size_t l = (size_t)data[1] | (size_t)data[2] << 8;
        if (l > size - 3) {
            break;
        }
        ok = sdl_json_binary_append_patched(&doc, "v", 1, data + 3, l, data + 3 + l, size - 3 - l,
                                            &opts, &err);
        break;
    }
    default:
        ok = sdl_json_diff_append(&doc, "v", 1, data + 1, size - 1, &opts, &err);
        break;
    }
    if (!ok && !bson_empty(&doc)) {
        abort(); /* failures must leave the parent untouched */
    }
    if (ok && !bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, NULL)) {
        abort();
    }
    bson_destroy(&doc);
    return 0;
}
