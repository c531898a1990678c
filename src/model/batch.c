/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/model/batch.h"

#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

/* ---- fields of a row_changes document (DOCUMENTS.md) ---- */

static bool
find(const bson_t *doc, const char *path, bson_iter_t *child)
{
    bson_iter_t it;

    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, child);
}

static char *
doc_strdup(const bson_t *doc, const char *path)
{
    bson_iter_t child;

    return find(doc, path, &child) && BSON_ITER_HOLDS_UTF8(&child)
               ? sdl_xstrdup(bson_iter_utf8(&child, NULL))
               : NULL;
}

static void
doc_u64(const bson_t *doc, const char *path, uint64_t *ret)
{
    bson_iter_t child;

    if (find(doc, path, &child) &&
        (BSON_ITER_HOLDS_INT32(&child) || BSON_ITER_HOLDS_INT64(&child) ||
         BSON_ITER_HOLDS_DOUBLE(&child))) {
        int64_t v = bson_iter_as_int64(&child);
        *ret = v < 0 ? 0 : (uint64_t)v;
    }
}

static int64_t
doc_date_ms(const bson_t *doc, const char *path)
{
    bson_iter_t child;

    return find(doc, path, &child) && BSON_ITER_HOLDS_DATE_TIME(&child)
               ? bson_iter_date_time(&child)
               : 0;
}

/* ---- batches ---- */

void
sdl_batch_init(sdl_batch *batch)
{
    memset(batch, 0, sizeof(*batch));
}

void
sdl_batch_add(sdl_batch *batch, bson_t *doc, bool is_row)
{
    bson_iter_t it;

    if (batch->ndocs == batch->cap) {
        batch->cap = batch->cap ? batch->cap * 2 : 64;
        batch->docs = sdl_xreallocarray(batch->docs, batch->cap, sizeof(*batch->docs));
        if (batch->dead) {
            batch->dead = sdl_xreallocarray(batch->dead, batch->cap, sizeof(*batch->dead));
        }
    }
    if (batch->dead) {
        batch->dead[batch->ndocs] = false;
    }
    batch->docs[batch->ndocs++] = doc;
    batch->bytes += doc->len;
    if (is_row) {
        batch->rows++;
    }
    if (bson_iter_init_find(&it, doc, "gtid") && BSON_ITER_HOLDS_UTF8(&it)) {
        const char *gtid = bson_iter_utf8(&it, NULL);
        if (!batch->first_gtid) {
            batch->first_gtid = sdl_xstrdup(gtid);
        }
        if (!batch->last_gtid || strcmp(batch->last_gtid, gtid) != 0) {
            free(batch->last_gtid);
            batch->last_gtid = sdl_xstrdup(gtid);
        }
    }
}

void
sdl_batch_add_dead(sdl_batch *batch, bson_t *doc)
{
    if (!batch->dead) {
        batch->dead = sdl_xcalloc(batch->cap ? batch->cap : 64, sizeof(*batch->dead));
    }
    sdl_batch_add(batch, doc, false);
    batch->dead[batch->ndocs - 1] = true;
    batch->ndead++;
}

void
sdl_batch_set_gtids(sdl_batch *batch)
{
    free(batch->first_gtid);
    free(batch->last_gtid);
    batch->first_gtid = batch->ndocs ? doc_strdup(batch->docs[0], "gtid") : NULL;
    batch->last_gtid = batch->ndocs ? doc_strdup(batch->docs[batch->ndocs - 1], "gtid") : NULL;
}

void
sdl_offset_set_partial(sdl_offset *offset, const bson_t *last)
{
    free(offset->partial_gtid);
    free(offset->binlog_file);
    offset->partial_gtid = doc_strdup(last, "gtid");
    offset->partial_seq = 0;
    doc_u64(last, "seq", &offset->partial_seq);
    offset->binlog_file = doc_strdup(last, "binlog.file");
    offset->binlog_pos = 0;
    doc_u64(last, "binlog.pos", &offset->binlog_pos);
    offset->source_ts_sec = doc_date_ms(last, "ts") / 1000;
}

void
sdl_batch_done(sdl_batch *batch)
{
    if (!batch) {
        return;
    }
    for (size_t i = 0; i < batch->ndocs; i++) {
        if (batch->docs[i]) {
            bson_destroy(batch->docs[i]);
        }
    }
    free(batch->docs);
    free(batch->dead);
    free(batch->first_gtid);
    free(batch->last_gtid);
    sdl_offset_done(&batch->offset_after);
    if (batch->mirror) {
        bson_destroy(batch->mirror);
    }
    memset(batch, 0, sizeof(*batch));
}

bool
sdl_batch_is_committed_in(const sdl_batch *batch, const sdl_offset *stored)
{
    const sdl_offset *mine = &batch->offset_after;

    return stored->batch == batch->number && sdl_offset_same_text(stored->gtid, mine->gtid) &&
           sdl_offset_same_text(stored->partial_gtid, mine->partial_gtid) &&
           (!mine->partial_gtid || stored->partial_seq == mine->partial_seq);
}

sdl_settle
sdl_batch_settle(const sdl_batch *batch, const sdl_offset *stored, bool found)
{
    uint64_t n = batch->number;

    if (found && sdl_batch_is_committed_in(batch, stored)) {
        return SDL_SETTLE_COMMITTED;
    }
    if ((!found && n == 1) || (found && stored->batch + 1 == n)) {
        return SDL_SETTLE_NOT_COMMITTED;
    }
    return SDL_SETTLE_OTHER_WRITER;
}
