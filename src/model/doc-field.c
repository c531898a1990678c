/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/model/doc-field.h"

#include <string.h>

const char *
sdl_doc_field_text(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)
               ? bson_iter_utf8(&it, NULL)
               : NULL;
}

bool
sdl_doc_field_doc(const bson_t *doc, const char *key, bson_t *ret)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;

    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        return false;
    }
    bson_iter_document(&it, &len, &data);
    return bson_init_static(ret, data, len);
}

void
sdl_doc_field_leading_texts(const bson_t *doc, const char *const *keys, size_t n, const char **ret)
{
    const uint8_t *d = bson_get_data(doc);
    size_t len = doc->len, off = 4, found = 0;

    for (size_t i = 0; i < n; i++) {
        ret[i] = NULL;
    }
    /* element: type byte, key (NUL-terminated), int32 length, text and its NUL */
    while (found < n && off + 1 < len && d[off] == BSON_TYPE_UTF8) {
        const char *key = (const char *)d + off + 1;
        const void *nul = memchr(key, '\0', len - off - 1);
        uint32_t slen;
        if (!nul) {
            return;
        }
        size_t voff = (size_t)((const uint8_t *)nul - d) + 1;
        if (voff + 4 > len) {
            return;
        }
        memcpy(&slen, d + voff, 4);
        slen = BSON_UINT32_FROM_LE(slen);
        if (slen < 1 || slen > len - voff - 4 || d[voff + 4 + slen - 1] != '\0') {
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (!ret[i] && strcmp(key, keys[i]) == 0) {
                ret[i] = (const char *)d + voff + 4;
                found++;
                break;
            }
        }
        off = voff + 4 + slen;
    }
}

bool
sdl_doc_is_ddl(const bson_t *doc)
{
    const char *op = sdl_doc_field_text(doc, "op");

    return op && strcmp(op, "ddl") == 0;
}
