/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: row documents built from arbitrary values of every kind. Whatever the mapper
 * accepts must be valid BSON (its raw writer computes every length itself) that the JSON
 * writer prints; whatever it rejects must leave the document empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mapping/doc-mapper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCOLS 6

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b.c", "$d", "", "\xc3\xa9", "f"};
    static const char *const members[] = {"x", "y,z", "\xff"};
    sdl_column cols[NCOLS];
    sdl_value img[2][NCOLS];
    const uint8_t *p = data;
    const uint8_t *end = data + size;

    if (size < 2) {
        return 0;
    }
    uint8_t flags = *p++;
    memset(cols, 0, sizeof(cols));
    memset(img, 0, sizeof(img));
    for (int i = 0; i < NCOLS; i++) {
        cols[i].name = names[i];
        cols[i].type = (uint8_t)(i == 5 ? 17 : 18);
    }
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < NCOLS && p < end; i++) {
            sdl_value *v = &img[s][i];
            v->kind = (sdl_value_kind)(*p++ % SDL_VALUE_KIND_COUNT);
            if (p >= end) {
                break;
            }
            uint8_t n = *p++;
            v->fsp = n % 8;
            v->precision = (uint8_t)(n % 70);
            v->scale = n % 31;
            if (v->kind == SDL_VALUE_SET) {
                v->set.count = n % 4;
                v->set.names = members;
                if (!(flags & 4) && v->set.count > 2) {
                    v->set.count = 2;
                }
            } else if (v->kind == SDL_VALUE_INT || v->kind == SDL_VALUE_UINT ||
                       v->kind == SDL_VALUE_BIT || v->kind == SDL_VALUE_FLOAT ||
                       v->kind == SDL_VALUE_DOUBLE || v->kind == SDL_VALUE_DATETIME ||
                       v->kind == SDL_VALUE_DATE || v->kind == SDL_VALUE_DECIMAL64) {
                uint64_t u = 0;
                for (int b = 0; b < 8 && p < end; b++) {
                    u = u << 8 | *p++;
                }
                v->u = u;
                if (v->kind == SDL_VALUE_DATETIME || v->kind == SDL_VALUE_DATE) {
                    /* The decoder's range: years 0001..9999. */
                    v->usec =
                        (int64_t)(u % UINT64_C(315537897600000000)) - INT64_C(62135596800000000);
                }
            } else {
                size_t len = SDL_MIN((size_t)n, (size_t)(end - p));
                v->str.ptr = (const char *)p;
                v->str.len = len;
                p += len;
            }
        }
    }
    const uint32_t pk[] = {0, 2};
    const sdl_table t = {1, "db", "t", NCOLS, cols, flags & 1 ? 2 : 0, pk, (flags & 2) != 0, 0, 0};
    const sdl_row_change rc = {(sdl_row_op)(flags >> 4) % 3, &t, img[0], img[1]};
    const sdl_change_pos pos = {"p", "0-1-2", flags, (int64_t)flags * 1000, "f", 4, flags & 8,
                                0,   0,       0};
    const sdl_doc_mapper_options opts = {(flags & 64) != 0, (flags & 128) ? 3 : 0, NULL};
    bson_t doc = BSON_INITIALIZER;
    sdl_error err = SDL_ERROR_INIT;
    sdl_buf out = SDL_BUF_INIT;

    if (sdl_doc_mapper_row(&opts, &pos, &rc, &doc, &err)) {
        size_t off;
        if (!bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &off) ||
            !sdl_doc_mapper_to_json(&doc, &out, &err)) {
            abort();
        }
    } else if (!bson_empty(&doc)) {
        abort();
    }
    sdl_buf_done(&out);
    bson_destroy(&doc);
    return 0;
}
