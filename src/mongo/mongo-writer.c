/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-writer: the commit protocol of DESIGN.md §3 on libmongoc 1.23: opening the target,
 * the offset document and the target's status. The staged documents are mongo-staging.c's,
 * the commit transaction mongo-commit.c's (the writer's state: mongo-writer-private.h).
 *
 * One single-threaded mongoc_client_t (the writer is used by one thread at a time), error
 * API v2 (server errors in MONGOC_ERROR_SERVER), retryWrites on, w:majority on every write.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#include "src/mongo/mongo-writer-private.h"

/* ---- values ---- */

void
sdl_target_status_done(sdl_target_status *status)
{
    if (!status) {
        return;
    }
    sdl_offset_done(&status->offset);
    memset(status, 0, sizeof(*status));
}

/* ---- helpers ---- */

int64_t
mw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Classifies @error/@reply into @err and prefixes it with the formatted context. */
void
mw_set_sink_error(sdl_error *err, const bson_error_t *error, const bson_t *reply, const char *fmt,
                  ...)
{
    char ctx[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    (void)sdl_mongo_error_classify(error, reply, err);
    sdl_error_prefix(err, "%s", ctx);
}

bool
mw_iter_u64(const bson_t *doc, const char *path, uint64_t *ret)
{
    bson_iter_t it, child;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &child)) {
        return false;
    }
    if (!BSON_ITER_HOLDS_INT32(&child) && !BSON_ITER_HOLDS_INT64(&child) &&
        !BSON_ITER_HOLDS_DOUBLE(&child)) {
        return false;
    }
    int64_t v = bson_iter_as_int64(&child);
    *ret = v < 0 ? 0 : (uint64_t)v;
    return true;
}

char *
mw_iter_strdup(const bson_t *doc, const char *path)
{
    bson_iter_t it, child;

    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
        BSON_ITER_HOLDS_UTF8(&child)) {
        return sdl_xstrdup(bson_iter_utf8(&child, NULL));
    }
    return NULL;
}

int64_t
mw_iter_date_ms(const bson_t *doc, const char *path)
{
    bson_iter_t it, child;

    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
        BSON_ITER_HOLDS_DATE_TIME(&child)) {
        return bson_iter_date_time(&child);
    }
    return 0;
}

bool
mw_same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

void
mw_append_str_or_null(bson_t *doc, const char *key, const char *value)
{
    if (value) {
        bson_append_utf8(doc, key, -1, value, -1);
    } else {
        bson_append_null(doc, key, -1);
    }
}

/* The offset fields of DESIGN.md §3 (everything but _id and updated_at). */
void
mw_append_offset_fields(bson_t *doc, const sdl_offset *o, uint64_t batch)
{
    bson_t child;

    mw_append_str_or_null(doc, "flavor", o->flavor);
    bson_append_utf8(doc, "gtid", -1, o->gtid ? o->gtid : "", -1);
    if (o->partial_gtid) {
        bson_append_document_begin(doc, "partial", -1, &child);
        bson_append_utf8(&child, "gtid", -1, o->partial_gtid, -1);
        bson_append_int64(&child, "seq", -1, (int64_t)o->partial_seq);
        bson_append_document_end(doc, &child);
    } else {
        bson_append_null(doc, "partial", -1);
    }
    if (o->binlog_file) {
        bson_append_document_begin(doc, "binlog", -1, &child);
        bson_append_utf8(&child, "file", -1, o->binlog_file, -1);
        bson_append_int64(&child, "pos", -1, (int64_t)o->binlog_pos);
        bson_append_document_end(doc, &child);
    } else {
        bson_append_null(doc, "binlog", -1); /* not known yet (batch 0) */
    }
    bson_append_int64(doc, "batch", -1, (int64_t)batch);
    if (o->source_ts_sec) {
        bson_append_date_time(doc, "source_ts", -1, o->source_ts_sec * 1000);
    } else {
        bson_append_null(doc, "source_ts", -1);
    }
    if (o->snapshot) { /* the snapshot's progress (DESIGN.md §9), stored as it is */
        bson_t progress;
        if (bson_init_static(&progress, o->snapshot, o->snapshot_len)) {
            bson_append_document(doc, "snapshot", -1, &progress);
        }
    }
}

void
mw_read_offset_fields(const bson_t *doc, sdl_offset *o)
{
    bson_iter_t it;

    memset(o, 0, sizeof(*o));
    o->flavor = mw_iter_strdup(doc, "flavor");
    o->gtid = mw_iter_strdup(doc, "gtid");
    if (!o->gtid) {
        o->gtid = sdl_xstrdup("");
    }
    if (bson_iter_init_find(&it, doc, "partial") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        o->partial_gtid = mw_iter_strdup(doc, "partial.gtid");
        (void)mw_iter_u64(doc, "partial.seq", &o->partial_seq);
    }
    o->binlog_file = mw_iter_strdup(doc, "binlog.file");
    (void)mw_iter_u64(doc, "binlog.pos", &o->binlog_pos);
    (void)mw_iter_u64(doc, "batch", &o->batch);
    o->source_ts_sec = mw_iter_date_ms(doc, "source_ts") / 1000;
    (void)mw_iter_u64(doc, "rows_applied", &o->rows_applied);
    (void)mw_iter_u64(doc, "dead_letters", &o->dead_letters);
    o->lease_holder = mw_iter_strdup(doc, "lease.holder");
    o->lease_until_ms = mw_iter_date_ms(doc, "lease.until");
    if (bson_iter_init_find(&it, doc, "snapshot") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        sdl_offset_set_snapshot(o, data, len);
    }
    mw_copy_requests(doc, &o->requests, &o->requests_len);
}

void
mw_copy_requests(const bson_t *doc, uint8_t **ret, size_t *ret_len)
{
    bson_iter_t it;

    *ret = NULL;
    *ret_len = 0;
    if (doc && bson_iter_init_find(&it, doc, "snapshot_requests") && BSON_ITER_HOLDS_ARRAY(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_iter_array(&it, &len, &data);
        *ret = sdl_xmalloc(len);
        memcpy(*ret, data, len);
        *ret_len = len;
    }
}

void
mw_append_wc_majority(const sdl_mongo_writer *w, bson_t *opts)
{
    (void)mongoc_write_concern_append(w->wc_majority, opts);
}

bool
mw_find_one(sdl_mongo_writer *w, mongoc_collection_t *coll, const bson_t *filter,
            const bson_t *projection, bson_t **ret_doc, bson_error_t *error, bson_t *reply)
{
    bson_t opts = BSON_INITIALIZER;
    const bson_t *doc;
    const bson_t *err_doc = NULL;
    mongoc_cursor_t *cursor;
    bool ok;

    *ret_doc = NULL;
    bson_append_int64(&opts, "limit", -1, 1);
    bson_append_bool(&opts, "singleBatch", -1, true);
    if (projection) {
        bson_append_document(&opts, "projection", -1, projection);
    }
    (void)mongoc_read_concern_append(w->rc_majority, &opts);
    cursor = mongoc_collection_find_with_opts(coll, filter, &opts, w->primary);
    if (mongoc_cursor_next(cursor, &doc)) {
        *ret_doc = bson_copy(doc);
    }
    ok = !mongoc_cursor_error_document(cursor, error, &err_doc);
    if (!ok && reply && err_doc) {
        bson_copy_to(err_doc, reply);
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    if (!ok && *ret_doc) {
        bson_destroy(*ret_doc);
        *ret_doc = NULL;
    }
    return ok;
}

/* ---- libmongoc's own log ---- */

static sdl_mongo_log_fn log_fn;
static void *log_userdata;
static bool log_installed;

static void
route_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message, void *userdata)
{
    (void)userdata;
    if (log_fn) {
        log_fn(level <= MONGOC_LOG_LEVEL_ERROR     ? 3
               : level == MONGOC_LOG_LEVEL_WARNING ? 4
                                                   : 7,
               domain, message, log_userdata);
    }
}

void
sdl_mongo_set_log_handler(sdl_mongo_log_fn fn, void *userdata)
{
    log_fn = fn;
    log_userdata = userdata;
    log_installed = true;
    mongoc_log_set_handler(route_mongoc_log, NULL);
}

/* ---- open ---- */

static void
writer_destroy(sdl_mongo_writer *w)
{
    mw_changes_free(w);
    mongoc_collection_destroy(w->changes);
    mongoc_collection_destroy(w->staging);
    mongoc_collection_destroy(w->offsets);
    mongoc_collection_destroy(w->dead_letters);
    mongoc_client_destroy(w->client);
    mongoc_write_concern_destroy(w->wc_majority);
    mongoc_read_concern_destroy(w->rc_majority);
    mongoc_read_concern_destroy(w->rc_snapshot);
    mongoc_read_prefs_destroy(w->primary);
    free(w->pipeline);
    free(w->target);
    free(w->db_name);
    free(w->holder);
    free(w->notice);
    free(w->committed_requests);
    for (size_t i = 0; i < w->nsessions; i++) {
        bson_destroy(w->sessions[i]);
    }
    for (size_t i = 0; i < w->nmirror_indexed; i++) {
        bson_free(w->mirror_indexed[i]);
    }
    bson_free(w->mirror_indexed);
    for (size_t i = 0; i < w->nmirror_created; i++) {
        bson_free(w->mirror_created[i]);
    }
    bson_free(w->mirror_created);
    free(w);
}

sdl_mongo_writer *
sdl_mongo_writer_free(sdl_mongo_writer *writer)
{
    if (writer) {
        writer_destroy(writer);
    }
    return NULL;
}

/* A timeout option in milliseconds, unless the URI sets it itself. */
static void
default_timeout(mongoc_uri_t *uri, const char *option, uint64_t usec)
{
    uint64_t ms = usec / 1000;

    if (!mongoc_uri_has_option(uri, option)) {
        (void)mongoc_uri_set_option_as_int32(uri, option, ms > INT32_MAX ? INT32_MAX : (int32_t)ms);
    }
}

/* hello on the primary: a replica set (setName) whose wire version has transactions. */
static bool
verify_replica_set(sdl_mongo_writer *w, sdl_error *err)
{
    bson_t reply;
    bson_error_t error;
    bson_iter_t it;
    const char *set_name = NULL;
    int32_t wire = 0;
    bool ok = false;
    bson_t *cmd = BCON_NEW("hello", BCON_INT32(1));

    if (!mongoc_client_command_simple(w->client, "admin", cmd, w->primary, &reply, &error)) {
        if (sdl_mongo_error_server_code(&error, &reply) == 59 /* CommandNotFound */) {
            /* hello is 4.4.2+ (and 4.0.21+, 4.2.10+); older servers know isMaster. */
            bson_destroy(&reply);
            bson_destroy(cmd);
            cmd = BCON_NEW("isMaster", BCON_INT32(1));
            if (!mongoc_client_command_simple(w->client, "admin", cmd, w->primary, &reply,
                                              &error)) {
                mw_set_sink_error(err, &error, &reply, "target %s: hello", w->target);
                goto out;
            }
        } else {
            mw_set_sink_error(err, &error, &reply, "target %s: hello", w->target);
            goto out;
        }
    }
    if (bson_iter_init_find(&it, &reply, "setName") && BSON_ITER_HOLDS_UTF8(&it)) {
        set_name = bson_iter_utf8(&it, NULL);
    }
    if (bson_iter_init_find(&it, &reply, "maxWireVersion") &&
        (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it))) {
        wire = (int32_t)bson_iter_as_int64(&it);
    }
    if (!set_name) {
        bool mongos = bson_iter_init_find(&it, &reply, "msg") && BSON_ITER_HOLDS_UTF8(&it) &&
                      strcmp(bson_iter_utf8(&it, NULL), "isdbgrid") == 0;
        if (mongos) {
            sdl_error_set(err, SDL_E_CONFIG,
                          "target %s is a mongos (sharded cluster): sdl needs a replica set",
                          w->target);
        } else {
            sdl_error_set(err, SDL_E_CONFIG,
                          "target %s is a standalone server: sdl needs a replica set for "
                          "transactions (start mongod with --replSet and run rs.initiate())",
                          w->target);
        }
        goto out;
    }
    if (wire < 7) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "target %s (replica set '%s') has wire version %d: sdl needs MongoDB 4.0 "
                      "or later (wire version 7) for transactions",
                      w->target, set_name, (int)wire);
        goto out;
    }
    ok = true;
out:
    bson_destroy(&reply);
    bson_destroy(cmd);
    return ok;
}

bool
mw_create_indexes(sdl_mongo_writer *w, mongoc_collection_t *coll, const char *const *keys,
                  size_t nkeys, sdl_error *err)
{
    bson_t cmd = BSON_INITIALIZER, indexes, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    bool ok;

    BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(coll));
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    for (size_t i = 0; i < nkeys; i++) {
        char idx[16];
        const char *k;
        bson_t index, key;
        bson_error_t jerr;
        bson_t *kdoc = bson_new_from_json((const uint8_t *)keys[i], -1, &jerr);
        char *name = NULL;

        BSON_ASSERT(kdoc);
        (void)bson_uint32_to_string((uint32_t)i, &k, idx, sizeof(idx));
        name = mongoc_collection_keys_to_index_string(kdoc);
        BSON_APPEND_DOCUMENT_BEGIN(&indexes, k, &index);
        bson_append_document_begin(&index, "key", -1, &key);
        bson_concat(&key, kdoc);
        bson_append_document_end(&index, &key);
        BSON_APPEND_UTF8(&index, "name", name);
        bson_append_document_end(&indexes, &index);
        bson_free(name);
        bson_destroy(kdoc);
    }
    bson_append_array_end(&cmd, &indexes);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_write_command_with_opts(coll, &cmd, &opts, &reply, &error);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "creating the indexes of %s.%s", w->db_name,
                          mongoc_collection_get_name(coll));
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    return ok;
}

/* Transactions on MongoDB 4.0 cannot create collections: create the offsets collection (the
 * others exist once their indexes do). NamespaceExists (48) is fine. */
static bool
ensure_collection(sdl_mongo_writer *w, const char *name, sdl_error *err)
{
    bson_t cmd = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    mongoc_database_t *db = mongoc_client_get_database(w->client, w->db_name);
    bool ok;

    BSON_APPEND_UTF8(&cmd, "create", name);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_database_write_command_with_opts(db, &cmd, &opts, &reply, &error);
    if (!ok && sdl_mongo_error_server_code(&error, &reply) == 48) {
        ok = true;
    }
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "creating collection %s.%s", w->db_name, name);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    mongoc_database_destroy(db);
    return ok;
}

/* Error text from libmongoc's URI parser, unless it might quote the secret. */
static void
uri_error(sdl_error *err, const char *masked, const char *raw, const bson_error_t *error)
{
    const char *msg = error->message;
    const char *at = strrchr(raw, '@');
    const char *scheme = strstr(raw, "://");

    if (at && scheme) {
        /* Anything from the user info (user:password) appearing in the message hides it. */
        const char *ui = scheme + 3;
        size_t len = at > ui ? (size_t)(at - ui) : 0;
        size_t win = SDL_MIN(len, (size_t)4);
        for (size_t i = 0; win > 0 && i + win <= len; i++) {
            if (memmem(msg, strlen(msg), ui + i, win) != NULL) {
                msg = "(details hidden: they quote the credentials)";
                break;
            }
        }
    }
    sdl_error_set(err, SDL_E_CONFIG, "target URI %s is invalid: %s", masked, msg);
}

static bool
writer_open(const sdl_target_config *cfg, const char *pipeline, bool set_up,
            sdl_mongo_writer **ret_writer, sdl_error *err)
{
    static const char *const staging_keys[] = {"{\"created_at\": 1}"};
    sdl_mongo_writer *w;
    mongoc_uri_t *uri = NULL;
    bson_error_t error;

    *ret_writer = NULL;
    if (!cfg || !cfg->uri) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "no MongoDB target configured (section 'target' with uri_file, uri, the "
                      "credential 'target-uri' or $SDL_TARGET_URI)");
        return false;
    }
    mongoc_init();
    sdl_mongo_forget_counters();
    if (!log_installed) {
        /* Unless the daemon routes them (sdl_mongo_set_log_handler), libmongoc's messages
         * are dropped: every failure they describe reaches the caller as an sdl_error. */
        log_installed = true;
        mongoc_log_set_handler(route_mongoc_log, NULL);
    }
    w = sdl_xcalloc(1, sizeof(*w));
    w->pipeline = sdl_xstrdup(pipeline);
    w->target = sdl_config_mask_uri(cfg->uri);
    w->db_name = sdl_xstrdup(cfg->database);
    uri = mongoc_uri_new_with_error(cfg->uri, &error);
    if (!uri) {
        uri_error(err, w->target, cfg->uri, &error);
        goto fail;
    }
    if (!mongoc_uri_get_option_as_utf8(uri, MONGOC_URI_APPNAME, NULL)) {
        (void)mongoc_uri_set_appname(uri, "sdl/" SDL_VERSION);
    }
    (void)mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, true);
    default_timeout(uri, MONGOC_URI_CONNECTTIMEOUTMS, cfg->connect_timeout_usec);
    default_timeout(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, cfg->connect_timeout_usec);
    default_timeout(uri, MONGOC_URI_SOCKETTIMEOUTMS, cfg->socket_timeout_usec);
    w->client = mongoc_client_new_from_uri_with_error(uri, &error);
    if (!w->client) {
        uri_error(err, w->target, cfg->uri, &error);
        goto fail;
    }
    (void)mongoc_client_set_error_api(w->client, MONGOC_ERROR_API_VERSION_2);
    w->wc_majority = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(w->wc_majority, 0);
    w->rc_majority = mongoc_read_concern_new();
    (void)mongoc_read_concern_set_level(w->rc_majority, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    w->rc_snapshot = mongoc_read_concern_new();
    (void)mongoc_read_concern_set_level(w->rc_snapshot, MONGOC_READ_CONCERN_LEVEL_SNAPSHOT);
    w->primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
    mongoc_client_set_write_concern(w->client, w->wc_majority);
    w->changes = mongoc_client_get_collection(w->client, cfg->database, cfg->changes_collection);
    w->staging = mongoc_client_get_collection(w->client, cfg->database, cfg->staging_collection);
    w->offsets = mongoc_client_get_collection(w->client, cfg->database, cfg->offsets_collection);
    w->dead_letters =
        mongoc_client_get_collection(w->client, cfg->database, cfg->dead_letters_collection);
    if (!verify_replica_set(w, err)) {
        goto fail;
    }
    if (!mw_changes_open(w, cfg, set_up, err)) { /* the audit log's indexes: mongo-changes.c */
        goto fail;
    }
    if (set_up &&
        (!mw_create_indexes(w, w->staging, staging_keys, SDL_ARRAY_SIZE(staging_keys), err) ||
         !ensure_collection(w, cfg->offsets_collection, err) ||
         !ensure_collection(w, cfg->dead_letters_collection, err))) {
        goto fail;
    }
    mongoc_uri_destroy(uri);
    *ret_writer = w;
    return true;
fail:
    mongoc_uri_destroy(uri);
    writer_destroy(w);
    return false;
}

bool
sdl_mongo_writer_open(const sdl_target_config *cfg, const char *pipeline,
                      sdl_mongo_writer **ret_writer, sdl_error *err)
{
    return writer_open(cfg, pipeline, true, ret_writer, err);
}

bool
sdl_mongo_writer_open_read_only(const sdl_target_config *cfg, const char *pipeline,
                                sdl_mongo_writer **ret_writer, sdl_error *err)
{
    return writer_open(cfg, pipeline, false, ret_writer, err);
}

/* ---- offset ---- */

bool
mw_read_offset(sdl_mongo_writer *w, sdl_offset *ret_offset, bool *ret_found,
               int64_t *ret_updated_ms, sdl_error *err)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(w->pipeline));
    bson_t reply = BSON_INITIALIZER;
    bson_t *doc = NULL;
    bson_error_t error;
    bool ok;

    memset(ret_offset, 0, sizeof(*ret_offset));
    *ret_found = false;
    ok = mw_find_one(w, w->offsets, filter, NULL, &doc, &error, &reply);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "reading the offset of pipeline '%s' from %s.%s",
                          w->pipeline, w->db_name, mongoc_collection_get_name(w->offsets));
    } else if (doc) {
        mw_read_offset_fields(doc, ret_offset);
        if (ret_updated_ms) {
            *ret_updated_ms = mw_iter_date_ms(doc, "updated_at");
        }
        *ret_found = true;
    }
    if (doc) {
        bson_destroy(doc);
    }
    bson_destroy(&reply);
    bson_destroy(filter);
    return ok;
}

bool
sdl_mongo_writer_load_offset(sdl_mongo_writer *writer, sdl_offset *ret_offset, bool *ret_found,
                             sdl_error *err)
{
    return mw_read_offset(writer, ret_offset, ret_found, NULL, err);
}

bool
sdl_mongo_writer_init_offset(sdl_mongo_writer *writer, const sdl_offset *offset, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    bson_t doc = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    bool ok;

    bson_append_utf8(&doc, "_id", -1, w->pipeline, -1);
    mw_append_offset_fields(&doc, offset, 0);
    bson_append_date_time(&doc, "updated_at", -1, mw_now_ms());
    bson_append_int64(&doc, "rows_applied", -1, 0);
    bson_append_int64(&doc, "dead_letters", -1, 0);
    mw_append_lease(w, &doc, false);
    mw_append_wc_majority(w, &opts);
    ok = mongoc_collection_insert_one(w->offsets, &doc, &opts, &reply, &error);
    if (!ok) {
        sdl_offset off;
        bool found = false;
        if (!sdl_mongo_error_is_duplicate_key(&error, &reply)) {
            mw_set_sink_error(err, &error, &reply,
                              "storing the start position of pipeline '%s' in %s.%s", w->pipeline,
                              w->db_name, mongoc_collection_get_name(w->offsets));
        } else if (mw_read_offset(w, &off, &found, NULL, err)) {
            /* An earlier attempt whose reply was lost stored this very offset: done. */
            ok = found && off.batch == 0 && mw_same_text(off.gtid, offset->gtid);
            if (!ok) {
                sdl_error_set(err, SDL_E_SINK,
                              "storing the start position of pipeline '%s': fencing: its offset "
                              "appeared meanwhile (batch %" PRIu64 " at '%s'; is another sdl "
                              "writing this pipeline?)",
                              w->pipeline, off.batch, off.gtid ? off.gtid : "");
            }
            sdl_offset_done(&off);
        }
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&doc);
    return ok;
}

/* ---- status ---- */

bool
sdl_mongo_writer_ping(sdl_mongo_writer *w, sdl_error *err)
{
    bson_t reply;
    bson_error_t error;
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(w->client, "admin", cmd, w->primary, &reply, &error);

    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "target %s: ping", w->target);
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    return ok;
}

bool
sdl_mongo_writer_status(sdl_mongo_writer *writer, sdl_target_status *ret_status, sdl_error *err)
{
    mw_part_info *parts;
    size_t n;

    memset(ret_status, 0, sizeof(*ret_status));
    if (!mw_read_offset(writer, &ret_status->offset, &ret_status->have_offset,
                        &ret_status->offset_updated_at_ms, err)) {
        return false;
    }
    if (!mw_scan_parts(writer, &parts, &n, err)) {
        sdl_target_status_done(ret_status);
        return false;
    }
    bson_t **dead = NULL;
    size_t ndead = 0;
    if (!sdl_mongo_writer_dead_letters(writer, NULL, &dead, &ndead, err)) {
        free(parts);
        sdl_target_status_done(ret_status);
        return false;
    }
    for (size_t i = 0; i < ndead; i++) {
        bson_destroy(dead[i]);
    }
    free(dead);
    ret_status->dead_letters = ndead;
    for (size_t i = 0; i < n; i++) {
        bool first = i == 0 || parts[i].batch != parts[i - 1].batch;
        if (ret_status->have_offset && parts[i].batch <= ret_status->offset.batch) {
            /* committed: a commit under load left its parts for a later one to delete */
            ret_status->committed_staged_batches += first;
            continue;
        }
        if (first) {
            ret_status->staged_batches++;
        }
        ret_status->staged_documents += parts[i].count;
        if (parts[i].created_ms &&
            (!ret_status->oldest_staged_ms || parts[i].created_ms < ret_status->oldest_staged_ms)) {
            ret_status->oldest_staged_ms = parts[i].created_ms;
        }
    }
    free(parts);
    return true;
}

bool
sdl_mongo_writer_committed_requests(const sdl_mongo_writer *writer, const uint8_t **ret_requests,
                                    size_t *ret_len)
{
    *ret_requests = writer->committed_read ? writer->committed_requests : NULL;
    *ret_len = writer->committed_read ? writer->committed_requests_len : 0;
    return writer->committed_read;
}

size_t
sdl_mongo_writer_rejected(const sdl_mongo_writer *writer)
{
    return writer->rejected;
}

void
sdl_mongo_forget_counters(void)
{
    char name[32];

    (void)snprintf(name, sizeof(name), "/mongoc-%ld", (long)getpid());
    (void)shm_unlink(name);
}
