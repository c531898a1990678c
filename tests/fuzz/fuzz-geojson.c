/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: SRID + WKB → GeoJSON must never crash or read out of bounds; accepted input
 * yields valid BSON the JSON writer can print; rejected input leaves the parent untouched. */
#include <stdint.h>
#include <stdlib.h>

#include "sdl/mapping/doc-mapper.h"
#include "sdl/mapping/geojson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    sdl_buf out = SDL_BUF_INIT;

    if (sdl_geojson_append(&doc, "g", 1, data, size, &err)) {
        size_t off;
        if (!bson_validate(&doc, BSON_VALIDATE_UTF8, &off)) {
            abort();
        }
        if (!sdl_doc_mapper_to_json(&doc, &out, &err)) {
            abort();
        }
    } else if (doc.len != 5 || (err.code != SDL_E_PROTOCOL && err.code != SDL_E_UNSUPPORTED)) {
        abort();
    }
    sdl_buf_done(&out);
    bson_destroy(&doc);
    return 0;
}
