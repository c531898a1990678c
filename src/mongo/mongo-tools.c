/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-tools: what `sdl offset set` and `sdl dlq` change in the target (mongo-writer.h,
 * "offset tools" and "dead letters"), each in one MongoDB transaction. An ambiguous commit is
 * reported as such: these are commands run by hand, and the operator looks (`sdl offset
 * show`, `sdl dlq list`) before running them again.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "sdl/base/alloc.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#include "src/mongo/mongo-writer-private.h"

typedef bool (*txn_body)(sdl_mongo_writer *w, const bson_t *sopts, void *arg, sdl_error *err);

/* Runs @body in one transaction (snapshot, majority) and commits it. */
static bool
in_transaction(sdl_mongo_writer *w, const char *what, txn_body body, void *arg, sdl_error *err)
{
    mongoc_client_session_t *cs = NULL;
    bson_t sopts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_error_t error;
    bool ok = false;

    cs = mw_begin_transaction(w, &sopts, what, err);
    if (!cs) {
        goto out;
    }
    if (!body(w, &sopts, arg, err)) {
        (void)mongoc_client_session_abort_transaction(cs, NULL);
        goto out;
    }
    if (!mongoc_client_session_commit_transaction(cs, &reply, &error)) {
        bool unknown = sdl_mongo_error_is_ambiguous_commit(&error, &reply);
        mw_set_sink_error(err, &error, &reply, "%s: commitTransaction%s", what,
                          unknown ? " (its outcome is unknown: look before trying again)" : "");
        err->transient = false;
        mw_kill_session(w, cs);
        goto out;
    }
    ok = true;
out:
    bson_destroy(&reply);
    bson_destroy(&sopts);
    mongoc_client_session_destroy(cs);
    return ok;
}

/* ---- sdl offset set ---- */

typedef struct move_arg {
    const sdl_offset *current;
    const char *flavor;
    const char *gtid;
    uint64_t discarded;
} move_arg;

static bool
move_body(sdl_mongo_writer *w, const bson_t *sopts, void *arg, sdl_error *err)
{
    move_arg *a = arg;
    bson_t opts = BSON_INITIALIZER, reply, fields = BSON_INITIALIZER, by, filter = BSON_INITIALIZER;
    bson_error_t error;
    sdl_offset next;
    uint64_t number = a->current ? a->current->batch + 1 : 0;
    bool ok;

    memset(&next, 0, sizeof(next));
    next.flavor = (char *)(uintptr_t)a->flavor;
    next.gtid = (char *)(uintptr_t)a->gtid;
    bson_concat(&opts, sopts);
    mw_append_offset_fields(&fields, &next, number);
    bson_append_date_time(&fields, "updated_at", -1, mw_now_ms());
    bson_append_null(&fields, "lease", -1);
    bson_append_document_begin(&fields, "set_by", -1, &by);
    bson_append_utf8(&by, "command", -1, "sdl offset set", -1);
    bson_append_date_time(&by, "at", -1, mw_now_ms());
    mw_append_str_or_null(&by, "from_gtid", a->current ? a->current->gtid : NULL);
    if (a->current) {
        bson_append_int64(&by, "from_batch", -1, (int64_t)a->current->batch);
    }
    bson_append_document_end(&fields, &by);
    if (a->current) {
        bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER;
        uint64_t matched = 0;
        bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
        bson_append_int64(&sel, "batch", -1, (int64_t)a->current->batch);
        bson_append_document(&upd, "$set", -1, &fields);
        ok = mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error);
        if (ok && (!mw_iter_u64(&reply, "matchedCount", &matched) || matched != 1)) {
            sdl_error_set(err, SDL_E_SINK,
                          "fencing: the offset of pipeline '%s' moved past batch %" PRIu64
                          " meanwhile (is an sdl running it?)",
                          w->pipeline, a->current->batch);
            ok = false;
        } else if (!ok) {
            mw_set_sink_error(err, &error, &reply, "moving the offset of pipeline '%s'",
                              w->pipeline);
        }
        bson_destroy(&sel);
        bson_destroy(&upd);
    } else {
        bson_t doc = BSON_INITIALIZER;
        bson_append_utf8(&doc, "_id", -1, w->pipeline, -1);
        bson_concat(&doc, &fields);
        bson_append_int64(&doc, "rows_applied", -1, 0);
        bson_append_int64(&doc, "dead_letters", -1, 0);
        ok = mongoc_collection_insert_one(w->offsets, &doc, &opts, &reply, &error);
        if (!ok) {
            mw_set_sink_error(err, &error, &reply, "storing the offset of pipeline '%s'",
                              w->pipeline);
            if (sdl_mongo_error_is_duplicate_key(&error, &reply)) {
                sdl_error_prefix(err, "fencing: its offset appeared meanwhile");
            }
        }
        bson_destroy(&doc);
    }
    bson_destroy(&reply);
    if (ok) {
        bson_append_utf8(&filter, "_id.pipeline", -1, w->pipeline, -1);
        ok = mongoc_collection_delete_many(w->staging, &filter, &opts, &reply, &error);
        if (!ok) {
            mw_set_sink_error(err, &error, &reply, "discarding the staged batches of '%s'",
                              w->pipeline);
        } else {
            (void)mw_iter_u64(&reply, "deletedCount", &a->discarded);
        }
        bson_destroy(&reply);
    }
    bson_destroy(&filter);
    bson_destroy(&fields);
    bson_destroy(&opts);
    return ok;
}

bool
sdl_mongo_writer_move_offset(sdl_mongo_writer *writer, const sdl_offset *current,
                             const char *flavor, const char *gtid, uint64_t *ret_discarded,
                             sdl_error *err)
{
    move_arg a = {current, flavor, gtid, 0};
    bool ok = in_transaction(writer, "moving the offset", move_body, &a, err);

    *ret_discarded = a.discarded;
    return ok;
}

/* ---- dead letters ---- */

/* {_id: {$regex: "^<pipeline>:"}}: a pipeline name is letters, digits, '_', '-' and '.'. */
static void
pipeline_ids(bson_t *filter, const char *pipeline)
{
    char *rx = sdl_xasprintf("^%s:", pipeline);
    bson_t id;
    size_t o = 1;

    for (const char *p = pipeline; *p; p++) {
        if (*p == '.') {
            o++;
        }
    }
    char *escaped = sdl_xcalloc(strlen(rx) + o + 1, 1);
    for (size_t i = 0, j = 0; rx[i]; i++) {
        if (rx[i] == '.') {
            escaped[j++] = '\\';
        }
        escaped[j++] = rx[i];
    }
    bson_append_document_begin(filter, "_id", -1, &id);
    bson_append_regex(&id, "$regex", -1, escaped, "");
    bson_append_document_end(filter, &id);
    free(escaped);
    free(rx);
}

bool
sdl_mongo_writer_dead_letters(sdl_mongo_writer *w, const char *id, bson_t ***ret_docs,
                              size_t *ret_n, sdl_error *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    const bson_t *doc, *err_doc = NULL;
    bson_error_t error;
    bson_t **docs = NULL;
    size_t n = 0;
    bool ok;

    if (id) {
        bson_append_utf8(&filter, "_id", -1, id, -1);
    } else {
        pipeline_ids(&filter, w->pipeline);
    }
    bson_append_document_begin(&opts, "sort", -1, &sort);
    bson_append_int32(&sort, "dead_at", -1, 1);
    bson_append_int32(&sort, "_id", -1, 1);
    bson_append_document_end(&opts, &sort);
    (void)mongoc_read_concern_append(w->rc_majority, &opts);
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(w->dead_letters, &filter, &opts, w->primary);
    while (mongoc_cursor_next(cursor, &doc)) {
        docs = sdl_xreallocarray(docs, n + 1, sizeof(*docs));
        docs[n++] = bson_copy(doc);
    }
    ok = !mongoc_cursor_error_document(cursor, &error, &err_doc);
    if (!ok) {
        mw_set_sink_error(err, &error, err_doc, "reading the dead letters of pipeline '%s'",
                          w->pipeline);
        for (size_t i = 0; i < n; i++) {
            bson_destroy(docs[i]);
        }
        free(docs);
        docs = NULL;
        n = 0;
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&filter);
    *ret_docs = docs;
    *ret_n = n;
    return ok;
}

typedef struct revive_arg {
    const char *id;
    const bson_t *row;
} revive_arg;

static bool
revive_body(sdl_mongo_writer *w, const bson_t *sopts, void *arg, sdl_error *err)
{
    revive_arg *a = arg;
    bson_t opts = BSON_INITIALIZER, reply, filter = BSON_INITIALIZER;
    bson_error_t error;
    uint64_t deleted = 0;
    bool ok;

    bson_concat(&opts, sopts);
    char *name = mw_changes_name(w, a->row);
    mongoc_collection_t *changes = mongoc_client_get_collection(w->client, w->db_name, name);
    ok = mongoc_collection_insert_one(changes, a->row, &opts, &reply, &error);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "inserting %s into %s.%s", a->id, w->db_name, name);
    }
    mongoc_collection_destroy(changes);
    free(name);
    bson_destroy(&reply);
    if (ok) {
        bson_append_utf8(&filter, "_id", -1, a->id, -1);
        ok = mongoc_collection_delete_one(w->dead_letters, &filter, &opts, &reply, &error);
        if (!ok) {
            mw_set_sink_error(err, &error, &reply, "deleting dead letter %s", a->id);
        } else if (!mw_iter_u64(&reply, "deletedCount", &deleted) || deleted != 1) {
            sdl_error_set(err, SDL_E_SINK, "dead letter %s is gone (retried meanwhile?)", a->id);
            ok = false;
        }
        bson_destroy(&reply);
    }
    bson_destroy(&filter);
    bson_destroy(&opts);
    return ok;
}

bool
sdl_mongo_writer_revive(sdl_mongo_writer *writer, const char *id, const bson_t *row, sdl_error *err)
{
    revive_arg a = {id, row};
    char *name = mw_changes_name(writer, row);
    bool ok = mw_changes_prepare(writer, name, err); /* a per-table one's indexes first */

    free(name);
    return ok && in_transaction(writer, "retrying a dead letter", revive_body, &a, err);
}

/* Whether @coll holds a document of transaction @gtid marked split. */
static bool
split_in(sdl_mongo_writer *w, const char *coll, const char *gtid, bool *ret_split, sdl_error *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    const bson_t *doc, *err_doc = NULL;
    bson_error_t error;
    bool ok;

    bson_append_utf8(&filter, "gtid", -1, gtid, -1);
    bson_append_bool(&filter, "split", -1, true);
    bson_append_int64(&opts, "limit", -1, 1);
    (void)mongoc_read_concern_append(w->rc_majority, &opts);
    mongoc_collection_t *c = mongoc_client_get_collection(w->client, w->db_name, coll);
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(c, &filter, &opts, w->primary);
    *ret_split = mongoc_cursor_next(cursor, &doc);
    ok = !mongoc_cursor_error_document(cursor, &error, &err_doc);
    if (!ok) {
        mw_set_sink_error(err, &error, err_doc, "reading %s.%s", w->db_name, coll);
    }
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(c);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}

bool
sdl_mongo_writer_txn_split(sdl_mongo_writer *w, const char *gtid, bool *ret_split, sdl_error *err)
{
    char **names = mw_changes_collections(w, err); /* a transaction spans tables */
    bool ok = names != NULL;

    *ret_split = false;
    for (size_t i = 0; ok && names[i] && !*ret_split; i++) {
        ok = split_in(w, names[i], gtid, ret_split, err);
    }
    mw_changes_names_free(names);
    return ok;
}

/* ---- snapshot requests (`sdl snapshot`) ---- */

bool
sdl_mongo_writer_request_snapshot(sdl_mongo_writer *w, const char *id, char *const *tables,
                                  size_t ntables, sdl_error *err)
{
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, push, field, each, req, arr;
    bson_t opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    uint64_t matched = 0;
    bool ok;

    bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
    bson_append_document_begin(&upd, "$push", -1, &push);
    bson_append_document_begin(&push, "snapshot_requests", -1, &field);
    bson_append_array_begin(&field, "$each", -1, &each);
    bson_append_document_begin(&each, "0", 1, &req);
    bson_append_utf8(&req, "id", -1, id, -1);
    bson_append_array_begin(&req, "tables", -1, &arr);
    for (size_t i = 0; i < ntables; i++) {
        char key[16];
        const char *k;
        size_t klen = bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
        bson_append_utf8(&arr, k, (int)klen, tables[i], -1);
    }
    bson_append_array_end(&req, &arr);
    bson_append_date_time(&req, "at", -1, mw_now_ms());
    bson_append_document_end(&each, &req);
    bson_append_array_end(&field, &each);
    bson_append_int32(&field, "$slice", -1, -100); /* the newest hundred: old ones are served */
    bson_append_document_end(&push, &field);
    bson_append_document_end(&upd, &push);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "storing a snapshot request for pipeline '%s'",
                          w->pipeline);
    } else if (!mw_iter_u64(&reply, "matchedCount", &matched) || matched != 1) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "pipeline '%s' has no offset in %s yet: start it (sdl run) first, or "
                      "begin it with pipeline.start: snapshot",
                      w->pipeline, w->db_name);
        ok = false;
    }
    bson_destroy(&reply);
    bson_destroy(&sel);
    bson_destroy(&upd);
    bson_destroy(&opts);
    return ok;
}
