/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/model/offset.h"

#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

static char *
dup_or_null(const char *s)
{
    return s ? sdl_xstrdup(s) : NULL;
}

void
sdl_offset_done(sdl_offset *offset)
{
    if (!offset) {
        return;
    }
    free(offset->flavor);
    free(offset->gtid);
    free(offset->partial_gtid);
    free(offset->binlog_file);
    free(offset->lease_holder);
    free(offset->snapshot);
    free(offset->requests);
    memset(offset, 0, sizeof(*offset));
}

void
sdl_offset_copy(sdl_offset *dst, const sdl_offset *src)
{
    *dst = *src;
    dst->flavor = dup_or_null(src->flavor);
    dst->gtid = dup_or_null(src->gtid);
    dst->partial_gtid = dup_or_null(src->partial_gtid);
    dst->binlog_file = dup_or_null(src->binlog_file);
    dst->lease_holder = dup_or_null(src->lease_holder);
    dst->snapshot = NULL;
    dst->snapshot_len = 0;
    sdl_offset_set_snapshot(dst, src->snapshot, src->snapshot_len);
    dst->requests = NULL;
    dst->requests_len = 0;
    if (src->requests) {
        dst->requests = sdl_xmalloc(src->requests_len);
        memcpy(dst->requests, src->requests, src->requests_len);
        dst->requests_len = src->requests_len;
    }
}

void
sdl_offset_set_snapshot(sdl_offset *offset, const uint8_t *doc, size_t len)
{
    free(offset->snapshot);
    offset->snapshot = NULL;
    offset->snapshot_len = 0;
    if (doc && len) {
        offset->snapshot = sdl_xmalloc(len);
        memcpy(offset->snapshot, doc, len);
        offset->snapshot_len = len;
    }
}

bool
sdl_offset_same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}
