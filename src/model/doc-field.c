/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/model/doc-field.h"

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
