/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-staging: the staged documents of a batch (DESIGN.md §3.2, `row_changes_staging`):
 * writing them, and reading them back for recovery (§3.4).
 *
 * Staging: the batch's documents are cut into parts of at most SDL_STAGE_PART_BYTES of
 * changes; every part is upserted (replace, upsert) in one ordered bulk, so a retried stage
 * rewrites the same parts. The commit transaction deletes them (mongo-commit.c).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "sdl/base/alloc.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#include "src/mongo/mongo-writer-private.h"

/* Changes per staged part, at most (a single larger document gets a part of its own). Far
 * under the 16 MiB BSON limit, whatever the overhead of the part document. */
#define SDL_STAGE_PART_BYTES ((size_t)8 << 20)

/* ---- staging ---- */

/* Number of parts @batch is staged in, and where part @p starts (index of its first doc). */
static size_t
partition(const sdl_batch *batch, size_t *starts)
{
    size_t nparts = 0, bytes = 0;

    for (size_t i = 0; i < batch->ndocs; i++) {
        size_t len = batch->docs[i]->len;
        if (nparts == 0 || (bytes > 0 && bytes + len > SDL_STAGE_PART_BYTES)) {
            if (starts) {
                starts[nparts] = i;
            }
            nparts++;
            bytes = 0;
        }
        bytes += len;
    }
    if (nparts == 0) {
        if (starts) {
            starts[0] = 0;
        }
        nparts = 1; /* an empty batch still stages its offset */
    }
    return nparts;
}

static void
append_part_id(bson_t *doc, const char *key, const char *pipeline, uint64_t batch, uint32_t part)
{
    bson_t id;

    bson_append_document_begin(doc, key, -1, &id);
    bson_append_utf8(&id, "pipeline", -1, pipeline, -1);
    bson_append_int64(&id, "batch", -1, (int64_t)batch);
    bson_append_int32(&id, "part", -1, (int32_t)part);
    bson_append_document_end(doc, &id);
}

/* The array key of element @i ("0", "1", ...) in @buf (16 bytes); returns its length.
 * bson_uint32_to_string() formats keys from 1000 on with snprintf, which cost more than
 * appending the document itself for a staging part of thousands of changes. */
static size_t
index_key(uint32_t i, const char **key, char *buf)
{
    char *p = buf + 15;

    if (i < 1000) {
        return bson_uint32_to_string(i, key, buf, 16);
    }
    *p = '\0';
    do {
        *--p = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    *key = p;
    return (size_t)(buf + 15 - p);
}

void
mw_staged_filter(bson_t *filter, const char *pipeline, uint64_t batch)
{
    bson_append_utf8(filter, "_id.pipeline", -1, pipeline, -1);
    bson_append_int64(filter, "_id.batch", -1, (int64_t)batch);
}

bool
sdl_mongo_writer_stage(sdl_mongo_writer *writer, const sdl_batch *batch, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    size_t *starts = sdl_xcalloc(batch->ndocs + 1, sizeof(*starts));
    size_t nparts = partition(batch, starts);
    bson_t opts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    mongoc_bulk_operation_t *bulk;
    bson_error_t error;
    int64_t created = mw_now_ms();
    bool ok = true;

    if (batch->number == 0) {
        free(starts);
        sdl_error_set(err, SDL_E_INVALID, "staging a batch without a number");
        return false;
    }
    bson_append_bool(&opts, "ordered", -1, true);
    mw_append_wc_majority(w, &opts);
    bulk = mongoc_collection_create_bulk_operation_with_opts(w->staging, &opts);
    for (size_t p = 0; p < nparts && ok; p++) {
        size_t end = p + 1 < nparts ? starts[p + 1] : batch->ndocs;
        bson_t filter = BSON_INITIALIZER, arr, off;
        size_t part_bytes = 1024;
        for (size_t i = starts[p]; i < end; i++) {
            part_bytes += batch->docs[i]->len + 16;
        }
        /* sized at once: growing a part of megabytes by doubling copied it again and again */
        bson_t *doc = bson_sized_new(part_bytes);
        /* validate false: the parts are sdl's own BSON (the mapper checked its text is UTF-8);
         * libmongoc's client-side walk of every document cost more than mapping them. The
         * server still refuses what it refuses. */
        bson_t *uopts = BCON_NEW("upsert", BCON_BOOL(true), "validate", BCON_BOOL(false));
        uint32_t k = 0;

        append_part_id(&filter, "_id", w->pipeline, batch->number, (uint32_t)p);
        append_part_id(doc, "_id", w->pipeline, batch->number, (uint32_t)p);
        bson_append_utf8(doc, "status", -1, "pending", -1);
        bson_append_date_time(doc, "created_at", -1, created);
        bson_append_int32(doc, "parts", -1, (int32_t)nparts);
        bson_append_int32(doc, "count", -1, (int32_t)(end - starts[p]));
        bson_append_int64(doc, "rows", -1, (int64_t)batch->rows);
        mw_append_str_or_null(doc, "first_gtid", batch->first_gtid);
        mw_append_str_or_null(doc, "last_gtid", batch->last_gtid);
        bson_append_document_begin(doc, "offset_after", -1, &off);
        mw_append_offset_fields(&off, &batch->offset_after, batch->number);
        bson_append_int64(&off, "rows_applied", -1, (int64_t)batch->offset_after.rows_applied);
        bson_append_int64(&off, "dead_letters", -1, (int64_t)batch->offset_after.dead_letters);
        bson_append_document_end(doc, &off);
        bson_append_array_begin(doc, "changes", -1, &arr);
        for (size_t i = starts[p]; i < end; i++, k++) {
            char idx[16];
            const char *key;
            size_t klen = index_key(k, &key, idx);
            bson_append_document(&arr, key, (int)klen, batch->docs[i]);
        }
        bson_append_array_end(doc, &arr);
        if (batch->ndead) {
            /* which of this part's changes are dead letters (dead-letter.h) */
            bson_t dead;
            uint32_t d = 0;
            bson_append_array_begin(doc, "dead", -1, &dead);
            for (size_t i = starts[p]; i < end; i++) {
                if (batch->dead && batch->dead[i]) {
                    char idx[16];
                    const char *key;
                    size_t klen = index_key(d++, &key, idx);
                    bson_append_int32(&dead, key, (int)klen, (int32_t)(i - starts[p]));
                }
            }
            bson_append_array_end(doc, &dead);
        }
        if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &filter, doc, uopts, &error)) {
            mw_set_sink_error(err, &error, NULL, "staging batch %" PRIu64 " part %zu of %zu",
                              batch->number, p + 1, nparts);
            err->transient = false;
            ok = false;
        }
        bson_destroy(uopts);
        bson_destroy(&filter);
        bson_destroy(doc);
    }
    if (ok && !mongoc_bulk_operation_execute(bulk, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply, "staging batch %" PRIu64 " (%zu parts) in %s.%s",
                          batch->number, nparts, w->db_name,
                          mongoc_collection_get_name(w->staging));
        ok = false;
    }
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&reply);
    bson_destroy(&opts);
    free(starts);
    return ok;
}

/* ---- recovery helpers ---- */

static int
cmp_part(const void *a, const void *b)
{
    const mw_part_info *x = a, *y = b;

    if (x->batch != y->batch) {
        return x->batch < y->batch ? -1 : 1;
    }
    return x->part < y->part ? -1 : x->part > y->part;
}

bool
mw_scan_parts(sdl_mongo_writer *w, mw_part_info **ret, size_t *ret_n, sdl_error *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    mongoc_cursor_t *cursor;
    const bson_t *doc, *err_doc = NULL;
    bson_error_t error;
    mw_part_info *parts = NULL;
    size_t n = 0, cap = 0;
    bool ok;

    bson_append_utf8(&filter, "_id.pipeline", -1, w->pipeline, -1);
    bson_append_document_begin(&opts, "projection", -1, &proj);
    bson_append_int32(&proj, "_id", -1, 1);
    bson_append_int32(&proj, "parts", -1, 1);
    bson_append_int32(&proj, "count", -1, 1);
    bson_append_int32(&proj, "created_at", -1, 1);
    bson_append_document_end(&opts, &proj);
    (void)mongoc_read_concern_append(w->rc_majority, &opts);
    cursor = mongoc_collection_find_with_opts(w->staging, &filter, &opts, w->primary);
    while (mongoc_cursor_next(cursor, &doc)) {
        mw_part_info pi = {0};
        uint64_t v = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            parts = sdl_xreallocarray(parts, cap, sizeof(*parts));
        }
        (void)mw_iter_u64(doc, "_id.batch", &pi.batch);
        if (mw_iter_u64(doc, "_id.part", &v)) {
            pi.part = (uint32_t)SDL_MIN(v, UINT32_MAX);
        }
        if (mw_iter_u64(doc, "parts", &v)) {
            pi.parts = (uint32_t)SDL_MIN(v, UINT32_MAX);
        }
        (void)mw_iter_u64(doc, "count", &pi.count);
        pi.created_ms = mw_iter_date_ms(doc, "created_at");
        parts[n++] = pi;
    }
    ok = !mongoc_cursor_error_document(cursor, &error, &err_doc);
    if (!ok) {
        mw_set_sink_error(err, &error, err_doc, "listing the staged batches of pipeline '%s'",
                          w->pipeline);
        free(parts);
        parts = NULL;
        n = 0;
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&filter);
    if (n > 1) {
        qsort(parts, n, sizeof(*parts), cmp_part);
    }
    *ret = parts;
    *ret_n = n;
    return ok;
}

bool
sdl_mongo_writer_list_staged(sdl_mongo_writer *writer, sdl_staged_batch **ret_list,
                             size_t *ret_count, sdl_error *err)
{
    mw_part_info *parts;
    size_t n, count = 0;
    sdl_staged_batch *list;

    *ret_list = NULL;
    *ret_count = 0;
    if (!mw_scan_parts(writer, &parts, &n, err)) {
        return false;
    }
    list = sdl_xcalloc(n ? n : 1, sizeof(*list));
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint32_t expected = parts[i].parts, found = 0;
        bool consistent = true;
        uint32_t next = 0;
        for (; j < n && parts[j].batch == parts[i].batch; j++) {
            consistent = consistent && parts[j].parts == expected;
            expected = SDL_MAX(expected, parts[j].parts);
            if (parts[j].part == next && parts[j].part < parts[j].parts) {
                next++;
                found++;
            }
        }
        /* Parts that disagree on the part count (a restaged batch with another split) are
         * reported as incomplete: recovery re-reads their changes. */
        list[count++] = (sdl_staged_batch){parts[i].batch, expected, consistent ? found : 0};
        i = j;
    }
    free(parts);
    *ret_list = list;
    *ret_count = count;
    return true;
}

/* A staged batch whose parts contradict what they record: SDL_E_DATA, with what to do. */
static void damaged(sdl_error *err, const sdl_mongo_writer *w, uint64_t number, uint64_t part,
                    const char *fmt, ...) SDL_PRINTF(5, 6);

static void
damaged(sdl_error *err, const sdl_mongo_writer *w, uint64_t number, uint64_t part, const char *fmt,
        ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sdl_error_set(err, SDL_E_DATA,
                  "staged batch %" PRIu64 " of pipeline '%s' is damaged: part %" PRIu64
                  ": %s; sdl neither commits a part of it nor drops it: inspect %s.%s (_id.batch "
                  "%" PRIu64 ") and delete it to read its changes again from the binlog",
                  number, w->pipeline, part, what, w->db_name,
                  mongoc_collection_get_name(w->staging), number);
}

bool
sdl_mongo_writer_load_staged(sdl_mongo_writer *writer, uint64_t number, sdl_batch *ret_batch,
                             sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    mongoc_cursor_t *cursor;
    const bson_t *doc, *err_doc = NULL;
    bson_error_t error;
    uint32_t expected = 0, next = 0;
    uint64_t rows = 0;
    char *first_gtid = NULL, *last_gtid = NULL;
    bool ok = true;

    mw_staged_filter(&filter, w->pipeline, number);
    bson_append_document_begin(&opts, "sort", -1, &sort);
    bson_append_int32(&sort, "_id.part", -1, 1);
    bson_append_document_end(&opts, &sort);
    (void)mongoc_read_concern_append(w->rc_majority, &opts);
    cursor = mongoc_collection_find_with_opts(w->staging, &filter, &opts, w->primary);
    ret_batch->number = number;
    while (ok && mongoc_cursor_next(cursor, &doc)) {
        uint64_t part = 0, parts = 0;
        bson_iter_t it, arr;
        (void)mw_iter_u64(doc, "_id.part", &part);
        (void)mw_iter_u64(doc, "parts", &parts);
        if (next == 0) {
            expected = (uint32_t)SDL_MIN(parts, UINT32_MAX);
            (void)mw_iter_u64(doc, "rows", &rows);
            first_gtid = mw_iter_strdup(doc, "first_gtid");
            last_gtid = mw_iter_strdup(doc, "last_gtid");
            if (bson_iter_init_find(&it, doc, "offset_after") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
                uint32_t len;
                const uint8_t *data;
                bson_t off;
                bson_iter_document(&it, &len, &data);
                if (bson_init_static(&off, data, len)) {
                    mw_read_offset_fields(&off, &ret_batch->offset_after);
                }
            }
        }
        if (part != next || parts != expected) {
            sdl_error_set(err, SDL_E_DATA,
                          "staged batch %" PRIu64 " of pipeline '%s' is inconsistent: part %" PRIu64
                          " found where part %" PRIu32 " of %" PRIu32 " was expected",
                          number, w->pipeline, part, next, expected);
            ok = false;
            break;
        }
        next++;
        if (!bson_iter_init_find(&it, doc, "changes") || !BSON_ITER_HOLDS_ARRAY(&it) ||
            !bson_iter_recurse(&it, &arr)) {
            damaged(err, w, number, part, "it has no 'changes' array");
            ok = false;
            break;
        }
        uint64_t count = 0, found = 0;
        bool have_count = mw_iter_u64(doc, "count", &count);
        uint32_t *dead = NULL; /* this part's dead letters, by index, ascending */
        size_t ndead = 0, next_dead = 0;
        bson_iter_t dit, dlist;
        if (bson_iter_init_find(&dit, doc, "dead") && BSON_ITER_HOLDS_ARRAY(&dit) &&
            bson_iter_recurse(&dit, &dlist)) {
            while (bson_iter_next(&dlist)) {
                dead = sdl_xreallocarray(dead, ndead + 1, sizeof(*dead));
                dead[ndead++] =
                    BSON_ITER_HOLDS_INT32(&dlist) ? (uint32_t)bson_iter_int32(&dlist) : UINT32_MAX;
            }
        }
        while (ok && bson_iter_next(&arr)) {
            uint32_t len;
            const uint8_t *data;
            bson_t *change = NULL;
            if (BSON_ITER_HOLDS_DOCUMENT(&arr)) {
                bson_iter_document(&arr, &len, &data);
                change = bson_new_from_data(data, len);
            }
            if (!change || !bson_validate(change, BSON_VALIDATE_NONE, NULL)) {
                damaged(err, w, number, part, "change %" PRIu64 " is not a document", found);
                if (change) {
                    bson_destroy(change);
                }
                ok = false;
                break;
            }
            if (next_dead < ndead && dead[next_dead] == found) {
                sdl_batch_add_dead(ret_batch, change);
                next_dead++;
            } else {
                sdl_batch_add(ret_batch, change, false);
            }
            found++;
        }
        if (ok && next_dead != ndead) {
            damaged(err, w, number, part, "its dead-letter list names %zu changes it lacks",
                    ndead - next_dead);
            ok = false;
        }
        free(dead);
        if (ok && (!have_count || count != found)) {
            damaged(err, w, number, part,
                    "it holds %" PRIu64 " changes where its count says %s%" PRIu64, found,
                    have_count ? "" : "(no count) ", count);
            ok = false;
        }
    }
    /* What staging recorded wins over what the documents say. */
    free(ret_batch->first_gtid);
    free(ret_batch->last_gtid);
    ret_batch->first_gtid = first_gtid;
    ret_batch->last_gtid = last_gtid;
    ret_batch->rows = rows;
    if (ok && mongoc_cursor_error_document(cursor, &error, &err_doc)) {
        mw_set_sink_error(err, &error, err_doc, "loading staged batch %" PRIu64, number);
        ok = false;
    }
    if (ok && (next == 0 || next != expected)) {
        sdl_error_set(err, SDL_E_SINK,
                      "staged batch %" PRIu64 " of pipeline '%s' is incomplete: %" PRIu32
                      " of %" PRIu32 " parts",
                      number, w->pipeline, next, expected);
        ok = false;
    }
    ret_batch->offset_after.batch = number;
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}

bool
sdl_mongo_writer_delete_staged(sdl_mongo_writer *writer, uint64_t number, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    bool ok;

    mw_staged_filter(&filter, w->pipeline, number);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_delete_many(w->staging, &filter, &opts, &reply, &error);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "deleting staged batch %" PRIu64, number);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}
