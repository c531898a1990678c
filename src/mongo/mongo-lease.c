/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-lease: the lease in the offset document (mongo-writer.h, "the lease"). It says which
 * sdl runs the pipeline (`sdl offset set` refuses while it holds) and names the server
 * sessions that sdl commits with: a process killed between the writes of a commit transaction
 * and commitTransaction leaves that transaction open on the server, holding the offset
 * document until transactionLifetimeLimitSeconds (60 s by default), and its successor ends it
 * with killSessions instead of retrying a WriteConflict until then.
 *
 * libmongoc pools server sessions: one writer thread commits with the same session (lsid)
 * again and again, so naming a session costs one update per process, not per batch.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "sdl/base/alloc.h"
#include "sdl/mongo/mongo-writer.h"

#include "src/mongo/mongo-writer-private.h"

void
mw_append_lease(const sdl_mongo_writer *w, bson_t *doc, bool release)
{
    bson_t lease, arr;
    char key[16];

    if (!w->holder) {
        return;
    }
    bson_append_document_begin(doc, "lease", -1, &lease);
    bson_append_utf8(&lease, "holder", -1, w->holder, -1);
    bson_append_date_time(&lease, "until", -1, mw_now_ms() + (release ? 0 : SDL_LEASE_MS));
    if (!release) {
        bson_append_array_begin(&lease, "sessions", -1, &arr);
        for (size_t i = 0; i < w->nsessions; i++) {
            (void)snprintf(key, sizeof(key), "%zu", i);
            bson_append_document(&arr, key, -1, w->sessions[i]);
        }
        bson_append_array_end(&lease, &arr);
    }
    bson_append_document_end(doc, &lease);
}

void
sdl_mongo_writer_set_holder(sdl_mongo_writer *writer, const char *holder)
{
    free(writer->holder);
    writer->holder = holder ? sdl_xstrdup(holder) : NULL;
}

bool
sdl_mongo_writer_renew_lease(sdl_mongo_writer *w, bool release, sdl_error *err)
{
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, opts = BSON_INITIALIZER, reply;
    bson_t or, alt;
    bson_error_t error;
    bool ok = true;

    if (!w->holder) {
        return true;
    }
    /* never another holder's lease: only ours, or none */
    bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
    bson_append_array_begin(&sel, "$or", -1, & or);
    bson_append_document_begin(& or, "0", -1, &alt);
    bson_append_utf8(&alt, "lease.holder", -1, w->holder, -1);
    bson_append_document_end(& or, &alt);
    bson_append_document_begin(& or, "1", -1, &alt);
    bson_append_null(&alt, "lease", -1);
    bson_append_document_end(& or, &alt);
    bson_append_array_end(&sel, & or);
    bson_append_document_begin(&upd, "$set", -1, &set);
    mw_append_lease(w, &set, release);
    bson_append_document_end(&upd, &set);
    mw_append_wc_majority(w, &opts);
    if (!mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply, "renewing the lease of pipeline '%s'", w->pipeline);
        ok = false;
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&upd);
    bson_destroy(&sel);
    return ok;
}

void
mw_lease_name_session(sdl_mongo_writer *w, mongoc_client_session_t *cs, uint64_t fence)
{
    const bson_t *lsid = mongoc_client_session_get_lsid(cs);
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, opts = BSON_INITIALIZER, reply;
    bson_error_t error;

    if (!w->holder || !lsid) {
        return;
    }
    for (size_t i = 0; i < w->nsessions; i++) {
        if (bson_equal(w->sessions[i], lsid)) {
            return;
        }
    }
    if (w->nsessions == MW_LEASE_SESSIONS) {
        /* the oldest has long been returned to the pool and reused or ended */
        bson_destroy(w->sessions[0]);
        memmove(w->sessions, w->sessions + 1, (MW_LEASE_SESSIONS - 1) * sizeof(w->sessions[0]));
        w->nsessions--;
    }
    w->sessions[w->nsessions++] = bson_copy(lsid);
    /* Fenced like a commit: a live writer that moved the offset keeps its lease (and this
     * process's commit will fail its fence anyway). A failure leaves the session unnamed; the
     * successor of a crash then waits for the server's transaction lifetime, as before. */
    bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
    bson_append_int64(&sel, "batch", -1, (int64_t)fence);
    bson_append_document_begin(&upd, "$set", -1, &set);
    mw_append_lease(w, &set, false);
    bson_append_document_end(&upd, &set);
    mw_append_wc_majority(w, &opts);
    if (!mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error)) {
        bson_destroy(w->sessions[--w->nsessions]); /* named by the next commit's attempt */
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&upd);
    bson_destroy(&sel);
}

bool
sdl_mongo_writer_end_previous_sessions(sdl_mongo_writer *w, size_t *ret_n, char **ret_holder,
                                       sdl_error *err)
{
    bson_t filter = BSON_INITIALIZER, projection = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_t cmd = BSON_INITIALIZER, arr;
    bson_t *doc = NULL;
    bson_error_t error;
    bson_iter_t it, sub;
    char *holder = NULL;
    char key[16];
    size_t n = 0;
    bool ok;

    *ret_n = 0;
    *ret_holder = NULL;
    bson_append_utf8(&filter, "_id", -1, w->pipeline, -1);
    bson_append_int32(&projection, "lease", -1, 1);
    ok = mw_find_one(w, w->offsets, &filter, &projection, &doc, &error, &reply);
    if (!ok) {
        mw_set_sink_error(err, &error, &reply, "reading the lease of pipeline '%s'", w->pipeline);
        goto out;
    }
    if (!doc) {
        goto out;
    }
    holder = mw_iter_strdup(doc, "lease.holder");
    if (!holder || (w->holder && strcmp(holder, w->holder) == 0) || !bson_iter_init(&it, doc) ||
        !bson_iter_find_descendant(&it, "lease.sessions", &sub) || !BSON_ITER_HOLDS_ARRAY(&sub) ||
        !bson_iter_recurse(&sub, &it)) {
        goto out;
    }
    bson_append_array_begin(&cmd, "killSessions", -1, &arr);
    while (bson_iter_next(&it) && n < MW_LEASE_SESSIONS) {
        const uint8_t *data;
        uint32_t len;
        bson_t lsid;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            continue;
        }
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&lsid, data, len)) {
            continue;
        }
        (void)snprintf(key, sizeof(key), "%zu", n++);
        bson_append_document(&arr, key, -1, &lsid);
    }
    bson_append_array_end(&cmd, &arr);
    if (n == 0) {
        goto out;
    }
    bson_destroy(&reply);
    if (!mongoc_client_command_simple(w->client, "admin", &cmd, w->primary, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply,
                          "ending the sessions of the previous holder %s of pipeline '%s'", holder,
                          w->pipeline);
        ok = false;
        goto out;
    }
    *ret_n = n;
    *ret_holder = holder;
    holder = NULL;
out:
    free(holder);
    if (doc) {
        bson_destroy(doc);
    }
    bson_destroy(&cmd);
    bson_destroy(&reply);
    bson_destroy(&projection);
    bson_destroy(&filter);
    return ok;
}
