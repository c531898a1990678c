/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot-keys: a key's byte string (hex text), equal for equal values whatever produced them —
 * a chunk's SELECT (text protocol) or the binlog's row images — so the keys changed in a
 * watermark window can be looked up among a chunk's rows (DESIGN.md §9). */
#include <inttypes.h>
#include <stdio.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/daemon/snapshot.h"

static void
key_append(sdl_buf *b, const sdl_value *v)
{
    char tmp[64];
    int n = 0;
    char tag = 's';

    switch (v->kind) {
    case SDL_VALUE_NULL:
    case SDL_VALUE_ABSENT:
        tag = 'n';
        break;
    case SDL_VALUE_INT:
        tag = 'i';
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
        break;
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
        tag = 'i';
        n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v->u);
        break;
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
        tag = 'f';
        n = snprintf(tmp, sizeof(tmp), "%.17g", v->d);
        break;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        tag = 't';
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->usec);
        break;
    case SDL_VALUE_DECIMAL64: {
        /* unscaled integer → the text the server prints: -12.34 */
        uint64_t a = v->i < 0 ? (uint64_t)0 - (uint64_t)v->i : (uint64_t)v->i;
        char digits[32];
        int nd = snprintf(digits, sizeof(digits), "%0*" PRIu64, v->scale + 1, a);
        tag = 'd';
        n = snprintf(tmp, sizeof(tmp), "%s%.*s%s%s", v->i < 0 ? "-" : "", nd - v->scale, digits,
                     v->scale ? "." : "", digits + (nd - v->scale));
        break;
    }
    case SDL_VALUE_DECIMAL:
        tag = 'd';
        sdl_buf_append(b, &tag, 1);
        sdl_buf_append(b, v->str.ptr, v->str.len);
        sdl_buf_append(b, "\0", 1);
        return;
    default:
        break;
    }
    sdl_buf_append(b, &tag, 1);
    if (tag == 's') {
        uint32_t len = (uint32_t)v->str.len;
        sdl_buf_append(b, &len, sizeof(len));
        sdl_buf_append(b, v->str.ptr, v->str.len);
    } else if (n > 0) {
        sdl_buf_append(b, tmp, (size_t)n);
        sdl_buf_append(b, "\0", 1);
    }
}

char *
sdl_snapshot_key_text(const sdl_value *values, const uint32_t *cols, uint32_t n)
{
    sdl_buf b = SDL_BUF_INIT;
    static const char hex[] = "0123456789abcdef";

    for (uint32_t k = 0; k < n; k++) {
        key_append(&b, &values[cols[k]]);
    }
    char *out = sdl_xmalloc(b.len * 2 + 1);
    for (size_t i = 0; i < b.len; i++) {
        out[2 * i] = hex[b.data[i] >> 4];
        out[2 * i + 1] = hex[b.data[i] & 15];
    }
    out[b.len * 2] = '\0';
    sdl_buf_done(&b);
    return out;
}
