/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-ttl: the {ts: 1} index of an audit collection (the changes collection, or each
 * per-table one: mongo-changes.c), with target.retention as its TTL (docs/CONFIG.md,
 * target.retention). At start-up (a per-table collection: before the first commit into it
 * since this process started) the index is looked up by its key, whatever
 * its name, so an index an operator made (a TTL index on ts is the usual way to expire an
 * audit log) is taken as it is instead of conflicting with sdl's own:
 *
 *   none                                  createIndexes {ts: 1} (name ts_1), with
 *                                         expireAfterSeconds when retention is set
 *   the wanted TTL (or no TTL, none set)  nothing
 *   retention set, another TTL or none    collMod {index: {keyPattern: {ts: 1},
 *                                         expireAfterSeconds}}: changed in place (MongoDB
 *                                         5.1+ to add a TTL to a plain index), never dropped
 *                                         and rebuilt, so the collection always has it
 *   no retention, the index has a TTL     left alone, with a warning for the caller to log
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

#include "mongo-writer-private.h"

/* True when @ix (a listIndexes entry) is on exactly {ts: 1}. */
static bool
is_ts_index(const bson_t *ix)
{
    bson_iter_t it, kit;
    uint32_t len;
    const uint8_t *data;
    bson_t key;

    if (!bson_iter_init_find(&it, ix, "key") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        return false;
    }
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(&key, data, len) || bson_count_keys(&key) != 1 ||
        !bson_iter_init_find(&kit, &key, "ts") || !BSON_ITER_HOLDS_NUMBER(&kit)) {
        return false;
    }
    return bson_iter_as_double(&kit) == 1.0;
}

static void
set_notice(sdl_mongo_writer *w, bool warning, char *text)
{
    free(w->notice);
    w->notice = text;
    w->notice_warning = warning;
}

static bool
create_ts_index(sdl_mongo_writer *w, mongoc_collection_t *coll, uint64_t ttl_sec, sdl_error *err)
{
    bson_t cmd = BSON_INITIALIZER, indexes, index, key, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    bool ok;

    BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(coll));
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, "ts", 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", "ts_1");
    if (ttl_sec) {
        BSON_APPEND_INT64(&index, "expireAfterSeconds", (int64_t)ttl_sec);
    }
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_write_command_with_opts(coll, &cmd, &opts, &reply, &error);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "creating the ts index of %s.%s", w->db_name,
                          mongoc_collection_get_name(coll));
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    return ok;
}

static bool
set_ttl(sdl_mongo_writer *w, mongoc_collection_t *coll, const char *name, bool had_ttl,
        int64_t old_ttl, uint64_t ttl_sec, sdl_error *err)
{
    bson_t cmd = BSON_INITIALIZER, index, key, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    char was[48];
    bool ok;

    BSON_APPEND_UTF8(&cmd, "collMod", mongoc_collection_get_name(coll));
    BSON_APPEND_DOCUMENT_BEGIN(&cmd, "index", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "keyPattern", &key);
    BSON_APPEND_INT32(&key, "ts", 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_INT64(&index, "expireAfterSeconds", (int64_t)ttl_sec);
    bson_append_document_end(&cmd, &index);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_write_command_with_opts(coll, &cmd, &opts, &reply, &error);
    if (had_ttl) {
        (void)snprintf(was, sizeof(was), "%lld s", (long long)old_ttl);
    } else {
        (void)snprintf(was, sizeof(was), "none");
    }
    if (!ok) {
        mw_set_sink_error(err, &error, &reply,
                          "setting the TTL of index '%s' (ts) of %s.%s to %llu s for "
                          "target.retention (it has %s; adding a TTL to an index without one "
                          "needs MongoDB 5.1 or later)",
                          name, w->db_name, mongoc_collection_get_name(coll),
                          (unsigned long long)ttl_sec, was);
    } else {
        set_notice(w, false,
                   sdl_xasprintf("Set the TTL of index '%s' (ts) of %s.%s to %llu s "
                                 "(target.retention; it was %s)",
                                 name, w->db_name, mongoc_collection_get_name(coll),
                                 (unsigned long long)ttl_sec, was));
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    return ok;
}

bool
mw_ensure_ts_index(sdl_mongo_writer *w, mongoc_collection_t *coll, uint64_t ttl_sec, sdl_error *err)
{
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
    const bson_t *ix, *reply = NULL;
    bson_error_t error;
    bool found = false, had_ttl = false, ok = false;
    int64_t old_ttl = 0;
    char *name = NULL;

    while (mongoc_cursor_next(cur, &ix)) {
        bson_iter_t it;
        if (found || !is_ts_index(ix)) {
            continue;
        }
        found = true;
        name = sdl_xstrdup(bson_iter_init_find(&it, ix, "name") && BSON_ITER_HOLDS_UTF8(&it)
                               ? bson_iter_utf8(&it, NULL)
                               : "ts_1");
        if (bson_iter_init_find(&it, ix, "expireAfterSeconds") && BSON_ITER_HOLDS_NUMBER(&it)) {
            had_ttl = true;
            old_ttl = bson_iter_as_int64(&it);
        }
    }
    if (mongoc_cursor_error_document(cur, &error, &reply)) {
        mw_set_sink_error(err, &error, reply, "listing the indexes of %s.%s", w->db_name,
                          mongoc_collection_get_name(coll));
        goto out;
    }
    if (!found) {
        ok = create_ts_index(w, coll, ttl_sec, err);
    } else if (ttl_sec && (!had_ttl || old_ttl != (int64_t)ttl_sec)) {
        ok = set_ttl(w, coll, name, had_ttl, old_ttl, ttl_sec, err);
    } else if (!ttl_sec && had_ttl) {
        set_notice(w, true,
                   sdl_xasprintf("Index '%s' (ts) of %s.%s has a TTL of %lld s: MongoDB deletes "
                                 "row change documents older than that, although "
                                 "target.retention is not set; sdl leaves the index as it is "
                                 "(set target.retention: %llds to make it sdl's, or drop the "
                                 "index and restart sdl for a plain one)",
                                 name, w->db_name, mongoc_collection_get_name(coll),
                                 (long long)old_ttl, (long long)old_ttl));
        ok = true;
    } else {
        ok = true;
    }
out:
    mongoc_cursor_destroy(cur);
    free(name);
    return ok;
}

const char *
sdl_mongo_writer_notice(const sdl_mongo_writer *w, bool *ret_warning)
{
    if (ret_warning) {
        *ret_warning = w->notice_warning;
    }
    return w->notice;
}
