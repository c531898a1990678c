/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-writer: the commit protocol of DESIGN.md §3 on libmongoc 1.23.
 *
 * One single-threaded mongoc_client_t (the writer is used by one thread at a time), error
 * API v2 (server errors in MONGOC_ERROR_SERVER), retryWrites on, w:majority on every write.
 *
 * Staging: the batch's documents are cut into parts of at most SDL_STAGE_PART_BYTES of
 * changes; every part is upserted (replace, upsert) in one ordered bulk, so a retried stage
 * rewrites the same parts. Commit: one session, one transaction (readConcern snapshot,
 * writeConcern majority): insert_many(rows, ordered), the fenced offset update (insert when
 * n == 1), delete_many of the staged parts, commitTransaction. Ambiguous outcomes are settled
 * by reading the offset with readConcern majority (see settle()).
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
#include "sdl/base/failpoint.h"
#include "sdl/config/config.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#include "src/mongo/mongo-writer-private.h"

/* Changes per staged part, at most (a single larger document gets a part of its own). Far
 * under the 16 MiB BSON limit, whatever the overhead of the part document. */
#define SDL_STAGE_PART_BYTES ((size_t)8 << 20)
/* Explicit commitTransaction retries after UnknownTransactionCommitResult (libmongoc has
 * already retried once by itself). */
#define COMMIT_RETRIES 3

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
    if (bson_iter_init_find(&it, doc, "snapshot_requests") && BSON_ITER_HOLDS_ARRAY(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_iter_array(&it, &len, &data);
        o->requests = sdl_xmalloc(len);
        memcpy(o->requests, data, len);
        o->requests_len = len;
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

static bool
create_indexes(sdl_mongo_writer *w, mongoc_collection_t *coll, const char *const *keys,
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
    /* {ts: 1}, with target.retention's TTL: mw_ensure_ts_index() (mongo-ttl.c) */
    static const char *const change_keys[] = {
        "{\"db\": 1, \"table\": 1, \"pk\": 1}",
        "{\"gtid\": 1}",
    };
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
    if (set_up &&
        (!mw_ensure_ts_index(w, cfg->retention_usec / 1000000u, err) ||
         !create_indexes(w, w->changes, change_keys, SDL_ARRAY_SIZE(change_keys), err) ||
         !create_indexes(w, w->staging, staging_keys, SDL_ARRAY_SIZE(staging_keys), err) ||
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
        bson_t filter = BSON_INITIALIZER, doc = BSON_INITIALIZER, arr, off;
        bson_t *uopts = BCON_NEW("upsert", BCON_BOOL(true));
        uint32_t k = 0;

        append_part_id(&filter, "_id", w->pipeline, batch->number, (uint32_t)p);
        append_part_id(&doc, "_id", w->pipeline, batch->number, (uint32_t)p);
        bson_append_utf8(&doc, "status", -1, "pending", -1);
        bson_append_date_time(&doc, "created_at", -1, created);
        bson_append_int32(&doc, "parts", -1, (int32_t)nparts);
        bson_append_int32(&doc, "count", -1, (int32_t)(end - starts[p]));
        bson_append_int64(&doc, "rows", -1, (int64_t)batch->rows);
        mw_append_str_or_null(&doc, "first_gtid", batch->first_gtid);
        mw_append_str_or_null(&doc, "last_gtid", batch->last_gtid);
        bson_append_document_begin(&doc, "offset_after", -1, &off);
        mw_append_offset_fields(&off, &batch->offset_after, batch->number);
        bson_append_int64(&off, "rows_applied", -1, (int64_t)batch->offset_after.rows_applied);
        bson_append_int64(&off, "dead_letters", -1, (int64_t)batch->offset_after.dead_letters);
        bson_append_document_end(&doc, &off);
        bson_append_array_begin(&doc, "changes", -1, &arr);
        for (size_t i = starts[p]; i < end; i++, k++) {
            char idx[16];
            const char *key;
            size_t klen = bson_uint32_to_string(k, &key, idx, sizeof(idx));
            bson_append_document(&arr, key, (int)klen, batch->docs[i]);
        }
        bson_append_array_end(&doc, &arr);
        if (batch->ndead) {
            /* which of this part's changes are dead letters (dead-letter.h) */
            bson_t dead;
            uint32_t d = 0;
            bson_append_array_begin(&doc, "dead", -1, &dead);
            for (size_t i = starts[p]; i < end; i++) {
                if (batch->dead && batch->dead[i]) {
                    char idx[16];
                    const char *key;
                    size_t klen = bson_uint32_to_string(d++, &key, idx, sizeof(idx));
                    bson_append_int32(&dead, key, (int)klen, (int32_t)(i - starts[p]));
                }
            }
            bson_append_array_end(&doc, &dead);
        }
        if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &filter, &doc, uopts, &error)) {
            mw_set_sink_error(err, &error, NULL, "staging batch %" PRIu64 " part %zu of %zu",
                              batch->number, p + 1, nparts);
            err->transient = false;
            ok = false;
        }
        bson_destroy(uopts);
        bson_destroy(&filter);
        bson_destroy(&doc);
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

/* ---- commit ---- */

/*
 * The outcome of batch n's commit is unknown (or a conflict followed an earlier unknown
 * outcome): the offset, read with readConcern majority, decides. Batch n at this batch's
 * position: committed; batch n-1 (or no offset and n == 1): not committed, transient;
 * anything else: another writer.
 */
static bool
settle(sdl_mongo_writer *w, const sdl_batch *batch, const char *why, sdl_error *err)
{
    sdl_offset off;
    bool found;
    uint64_t n = batch->number;

    w->ambiguous_batch = n;
    if (!mw_read_offset(w, &off, &found, NULL, err)) {
        sdl_error_prefix(err, "committing batch %" PRIu64 ": %s; settling it", n, why);
        err->transient = true;
        return false;
    }
    sdl_settle settled = sdl_batch_settle(batch, &off, found);
    if (settled == SDL_SETTLE_COMMITTED) {
        sdl_offset_done(&off);
        w->ambiguous_batch = 0;
        return true; /* an earlier attempt committed it */
    }
    if (settled == SDL_SETTLE_NOT_COMMITTED) {
        sdl_offset_done(&off);
        sdl_error_set_transient(err, SDL_E_SINK,
                                "committing batch %" PRIu64 ": %s; the offset still names the "
                                "previous batch: not committed, retry",
                                n, why);
        return false;
    }
    sdl_error_set(err, SDL_E_SINK,
                  "committing batch %" PRIu64 ": fencing: the offset of pipeline '%s' names "
                  "batch %" PRIu64 "%s at position '%s'%s%s, expected batch %" PRIu64
                  " or batch %" PRIu64 " at '%s' (is another sdl writing this pipeline?)",
                  n, w->pipeline, found ? off.batch : 0, found ? "" : " (no offset)",
                  found && off.gtid ? off.gtid : "", off.partial_gtid ? " inside " : "",
                  off.partial_gtid ? off.partial_gtid : "", n - 1, n,
                  batch->offset_after.gtid ? batch->offset_after.gtid : "");
    sdl_offset_done(&off);
    w->ambiguous_batch = 0;
    return false;
}

/* A duplicate row _id or an offset that does not name batch n-1: another writer got there
 * first, unless an earlier attempt of ours may have committed this very batch. */
static bool
conflict(sdl_mongo_writer *w, const sdl_batch *batch, const char *what, sdl_error *err)
{
    sdl_offset off;
    bool found;
    uint64_t n = batch->number;
    sdl_error rerr = SDL_ERROR_INIT;

    if (w->ambiguous_batch == n) {
        return settle(w, batch, what, err);
    }
    if (mw_read_offset(w, &off, &found, NULL, &rerr)) {
        sdl_error_set(err, SDL_E_SINK,
                      "committing batch %" PRIu64 ": fencing: %s; the offset of pipeline '%s' "
                      "names batch %" PRIu64 "%s, expected %" PRIu64
                      " (is another sdl writing this pipeline?)",
                      n, what, w->pipeline, found ? off.batch : 0, found ? "" : " (no offset)",
                      n - 1);
        sdl_offset_done(&off);
    } else {
        sdl_error_set(err, SDL_E_SINK,
                      "committing batch %" PRIu64 ": fencing: %s (is another sdl writing this "
                      "pipeline?)",
                      n, what);
    }
    return false;
}

typedef enum step_result {
    STEP_OK,
    STEP_FAILED,   /* err set; transaction to abort */
    STEP_CONFLICT, /* duplicate key / fence mismatch: what in @what */
} step_result;

/* Codes with which the server refuses a document itself: storing it again cannot succeed. */
static bool
is_document_rejection(int32_t code)
{
    switch (code) {
    case SDL_MONGO_BSON_OBJECT_TOO_LARGE:
    case 52:    /* DollarPrefixedFieldName */
    case 56:    /* EmptyFieldName */
    case 57:    /* DottedFieldName */
    case 17280: /* KeyTooLong (index key over 1024 bytes before 4.2) */
    case 17419: /* document too large for the oplog entry */
        return true;
    default:
        return false;
    }
}

/* A write error that rejects one of @batch's documents as such: an SDL_E_DATA error naming
 * the document (_id, db.table, size). */
static bool
rejected_document(sdl_mongo_writer *w, const sdl_batch *batch, const size_t *map, size_t n,
                  const bson_error_t *error, const bson_t *reply, sdl_error *err)
{
    int32_t code = sdl_mongo_error_server_code(error, reply);
    uint64_t index = 0;
    bson_iter_t it;

    if (!is_document_rejection(code)) {
        return false;
    }
    (void)mw_iter_u64(reply, "writeErrors.0.index", &index);
    if (map && index < n) {
        index = map[index];
    }
    const bson_t *doc = index < batch->ndocs ? batch->docs[index] : NULL;
    w->rejected = doc ? (size_t)index + 1 : 0;
    char *id = doc && bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)
                   ? sdl_xstrdup(bson_iter_utf8(&it, NULL))
                   : sdl_xstrdup("?");
    char *db = doc ? mw_iter_strdup(doc, "db") : NULL;
    char *table = doc ? mw_iter_strdup(doc, "table") : NULL;
    (void)sdl_mongo_error_classify(error, reply, err);
    sdl_error_prefix(err,
                     "committing batch %" PRIu64 ": %s.%s refuses document %s of '%s.%s' "
                     "(%" PRIu32 " bytes)",
                     batch->number, w->db_name, mongoc_collection_get_name(w->changes), id,
                     db ? db : "?", table ? table : "?", doc ? doc->len : 0);
    err->code = SDL_E_DATA;
    err->transient = false;
    free(id);
    free(db);
    free(table);
    return true;
}

/* Inserts @docs (@n, ordered) into @coll in the transaction; @index maps their positions back
 * into @batch (for a refused document), NULL when they are the batch's own. */
static step_result
insert_docs(sdl_mongo_writer *w, mongoc_collection_t *coll, const sdl_batch *batch,
            const bson_t **docs, size_t n, const size_t *index, const bson_t *sopts, char *what,
            size_t whatcap, sdl_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply;
    bson_error_t error;
    step_result r = STEP_OK;

    if (n == 0) {
        return STEP_OK;
    }
    bson_concat(&opts, sopts);
    bson_append_bool(&opts, "ordered", -1, true);
    if (!mongoc_collection_insert_many(coll, docs, n, &opts, &reply, &error)) {
        if (rejected_document(w, batch, index, n, &error, &reply, err)) {
            r = STEP_FAILED;
        } else if (sdl_mongo_error_is_duplicate_key(&error, &reply)) {
            (void)snprintf(what, whatcap, "a %s document already exists (%s)",
                           mongoc_collection_get_name(coll), error.message);
            r = STEP_CONFLICT;
        } else {
            mw_set_sink_error(err, &error, &reply,
                              "committing batch %" PRIu64 ": inserting %zu documents into %s.%s",
                              batch->number, n, w->db_name, mongoc_collection_get_name(coll));
            r = STEP_FAILED;
        }
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    return r;
}

/* The batch's rows into row_changes and its dead letters into the dead-letter collection. */
static step_result
insert_rows(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts, char *what,
            size_t whatcap, sdl_error *err)
{
    step_result r;

    if (batch->no_audit && (!batch->dead || batch->ndead == 0)) {
        return STEP_OK;
    }
    if (!batch->dead || batch->ndead == 0) {
        return insert_docs(w, w->changes, batch, (const bson_t **)(void *)batch->docs, batch->ndocs,
                           NULL, sopts, what, whatcap, err);
    }
    const bson_t **docs = sdl_xcalloc(batch->ndocs, sizeof(*docs));
    size_t *index = sdl_xcalloc(batch->ndocs, sizeof(*index));
    size_t n = 0;
    for (size_t i = 0; i < batch->ndocs; i++) {
        if (!batch->dead[i]) {
            index[n] = i;
            docs[n++] = batch->docs[i];
        }
    }
    r = batch->no_audit
            ? STEP_OK
            : insert_docs(w, w->changes, batch, docs, n, index, sopts, what, whatcap, err);
    if (r == STEP_OK) {
        n = 0;
        for (size_t i = 0; i < batch->ndocs; i++) {
            if (batch->dead[i]) {
                index[n] = i;
                docs[n++] = batch->docs[i];
            }
        }
        r = insert_docs(w, w->dead_letters, batch, docs, n, index, sopts, what, whatcap, err);
    }
    free(docs);
    free(index);
    return r;
}

static step_result
write_offset(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts, char *what,
             size_t whatcap, sdl_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply, fields = BSON_INITIALIZER;
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER;
    bson_error_t error;
    step_result r = STEP_OK;
    uint64_t n = batch->number;
    uint64_t matched = 0;
    bool ok;

    bson_concat(&opts, sopts);
    mw_append_offset_fields(&fields, &batch->offset_after, n);
    bson_append_date_time(&fields, "updated_at", -1, mw_now_ms());
    bson_append_int64(&fields, "rows_applied", -1, (int64_t)batch->offset_after.rows_applied);
    bson_append_int64(&fields, "dead_letters", -1, (int64_t)batch->offset_after.dead_letters);
    mw_append_lease(w, &fields, false);
    bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
    bson_append_int64(&sel, "batch", -1, (int64_t)(n - 1));
    bson_append_document(&upd, "$set", -1, &fields);
    ok = mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error);
    if (ok && (!mw_iter_u64(&reply, "matchedCount", &matched) || matched != 1)) {
        if (n == 1) {
            /* No batch 0: a batch staged by an sdl that did not store its start position
             * first. Its offset is created here (fails if one exists after all). */
            bson_t doc = BSON_INITIALIZER;
            bson_destroy(&reply);
            bson_append_utf8(&doc, "_id", -1, w->pipeline, -1);
            bson_concat(&doc, &fields);
            ok = mongoc_collection_insert_one(w->offsets, &doc, &opts, &reply, &error);
            bson_destroy(&doc);
        } else {
            (void)snprintf(what, whatcap,
                           "the offset update fenced on batch %" PRIu64 " matched nothing", n - 1);
            r = STEP_CONFLICT;
        }
    }
    if (!ok) {
        if (sdl_mongo_error_is_duplicate_key(&error, &reply)) {
            (void)snprintf(what, whatcap, "the offset of batch %" PRIu64 " already exists", n);
            r = STEP_CONFLICT;
        } else {
            mw_set_sink_error(err, &error, &reply,
                              "committing batch %" PRIu64 ": writing the offset", n);
            r = STEP_FAILED;
        }
    }
    bson_destroy(&sel);
    bson_destroy(&upd);
    bson_destroy(&reply);
    bson_destroy(&fields);
    bson_destroy(&opts);
    return r;
}

static step_result
delete_parts(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts, sdl_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply, filter = BSON_INITIALIZER;
    bson_error_t error;
    step_result r = STEP_OK;

    bson_concat(&opts, sopts);
    mw_staged_filter(&filter, w->pipeline, batch->number);
    if (!mongoc_collection_delete_many(w->staging, &filter, &opts, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply,
                          "committing batch %" PRIu64 ": deleting its staged parts", batch->number);
        r = STEP_FAILED;
    }
    bson_destroy(&reply);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return r;
}

void
mw_kill_session(sdl_mongo_writer *w, mongoc_client_session_t *cs)
{
    bson_t cmd = BSON_INITIALIZER, arr;
    bson_error_t error;

    bson_append_array_begin(&cmd, "killSessions", -1, &arr);
    bson_append_document(&arr, "0", 1, mongoc_client_session_get_lsid(cs));
    bson_append_array_end(&cmd, &arr);
    (void)mongoc_client_command_simple(w->client, "admin", &cmd, w->primary, NULL, &error);
    bson_destroy(&cmd);
}

bool
sdl_mongo_writer_commit(sdl_mongo_writer *writer, const sdl_batch *batch, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    mongoc_client_session_t *cs = NULL;
    mongoc_transaction_opt_t *topts = NULL;
    bson_t sopts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_error_t error;
    char what[600];
    step_result r;
    bool ok = false;

    if (batch->number == 0) {
        sdl_error_set(err, SDL_E_INVALID, "committing a batch without a number");
        return false;
    }
    what[0] = '\0';
    w->rejected = 0;
    if (!mw_mirror_before_commit(w, batch, err)) {
        goto out;
    }
    cs = mongoc_client_start_session(w->client, NULL, &error);
    if (!cs) {
        mw_set_sink_error(err, &error, NULL, "committing batch %" PRIu64 ": starting a session",
                          batch->number);
        goto out;
    }
    mw_lease_name_session(w, cs, batch->number - 1);
    topts = mongoc_transaction_opts_new();
    mongoc_transaction_opts_set_read_concern(topts, w->rc_snapshot);
    mongoc_transaction_opts_set_write_concern(topts, w->wc_majority);
    mongoc_transaction_opts_set_read_prefs(topts, w->primary);
    if (!mongoc_client_session_start_transaction(cs, topts, &error) ||
        !mongoc_client_session_append(cs, &sopts, &error)) {
        mw_set_sink_error(err, &error, NULL, "committing batch %" PRIu64 ": starting a transaction",
                          batch->number);
        goto out;
    }
    r = insert_rows(w, batch, &sopts, what, sizeof(what), err);
    if (r == STEP_OK && !mw_apply_mirror(w, batch, &sopts, err)) {
        r = STEP_FAILED;
    }
    if (r == STEP_OK) {
        r = write_offset(w, batch, &sopts, what, sizeof(what), err);
    }
    if (r == STEP_OK) {
        r = delete_parts(w, batch, &sopts, err);
    }
    if (r != STEP_OK) {
        (void)mongoc_client_session_abort_transaction(cs, NULL);
        if (r == STEP_CONFLICT) {
            ok = conflict(w, batch, what, err);
        }
        goto out;
    }
    /* Crash test hook: every write of the transaction was sent, nothing is committed. */
    sdl_failpoint("writer.in_transaction");
    for (int attempt = 0;; attempt++) {
        bson_destroy(&reply);
        if (mongoc_client_session_commit_transaction(cs, &reply, &error)) {
            ok = true;
            w->ambiguous_batch = 0;
            mw_mirror_after_commit(w, batch);
            goto out;
        }
        if (sdl_mongo_error_has_label(&reply, "UnknownTransactionCommitResult") &&
            attempt < COMMIT_RETRIES) {
            continue; /* the same transaction again: idempotent on the server */
        }
        break;
    }
    if (sdl_mongo_error_is_ambiguous_commit(&error, &reply)) {
        char why[sizeof(err->message) + 64];
        /* Make the outcome definite before reading it: killing the session aborts the
         * transaction unless it committed (which a commit still in flight could do after
         * the offset was read). Best effort: when the server is unreachable the read below
         * fails too and the next attempt settles again. */
        mw_kill_session(w, cs);
        sdl_error cerr = SDL_ERROR_INIT;
        (void)sdl_mongo_error_classify(&error, &reply, &cerr);
        (void)snprintf(why, sizeof(why), "commitTransaction outcome unknown (%s)", cerr.message);
        ok = settle(w, batch, why, err);
        goto out;
    }
    /* Definite failure: not committed (TransientTransactionError, e.g. NoSuchTransaction
     * after the server aborted it) or a permanent error. A transaction the server did not
     * abort itself would hold its writes (the staged parts it deletes) until the server's
     * lifetime limit, blocking the next attempt: end it now (best effort). */
    mw_set_sink_error(err, &error, &reply, "committing batch %" PRIu64 ": commitTransaction",
                      batch->number);
    mw_kill_session(w, cs);
out:
    bson_destroy(&reply);
    bson_destroy(&sopts);
    mongoc_transaction_opts_destroy(topts);
    mongoc_client_session_destroy(cs);
    return ok;
}

/* ---- recovery helpers ---- */

typedef struct part_info {
    uint64_t batch;
    uint32_t part;
    uint32_t parts;
    uint64_t count;
    int64_t created_ms;
} part_info;

static int
cmp_part(const void *a, const void *b)
{
    const part_info *x = a, *y = b;

    if (x->batch != y->batch) {
        return x->batch < y->batch ? -1 : 1;
    }
    return x->part < y->part ? -1 : x->part > y->part;
}

/* Every staged part of the pipeline (no changes), sorted by batch and part. */
static bool
scan_parts(sdl_mongo_writer *w, part_info **ret, size_t *ret_n, sdl_error *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    mongoc_cursor_t *cursor;
    const bson_t *doc, *err_doc = NULL;
    bson_error_t error;
    part_info *parts = NULL;
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
        part_info pi = {0};
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
    part_info *parts;
    size_t n, count = 0;
    sdl_staged_batch *list;

    *ret_list = NULL;
    *ret_count = 0;
    if (!scan_parts(writer, &parts, &n, err)) {
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
    part_info *parts;
    size_t n;

    memset(ret_status, 0, sizeof(*ret_status));
    if (!mw_read_offset(writer, &ret_status->offset, &ret_status->have_offset,
                        &ret_status->offset_updated_at_ms, err)) {
        return false;
    }
    if (!scan_parts(writer, &parts, &n, err)) {
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
        if (i == 0 || parts[i].batch != parts[i - 1].batch) {
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
