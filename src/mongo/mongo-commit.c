/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-commit: a batch's commit transaction (DESIGN.md §3.2). One session, one transaction
 * (readConcern snapshot, writeConcern majority): insert_many(rows, ordered), the fenced offset
 * update (a findAndModify that returns the snapshot requests; insert when n == 1), when
 * batch->clean_staged delete_many of the staged parts of every batch up to n (deferred staging
 * cleanup: the committer decides when), and commitTransaction. Ambiguous outcomes are settled by
 * reading the offset with readConcern majority (see settle()). Also the fenced cleanup at a clean
 * stop (clean_staged()).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "sdl/base/alloc.h"
#include "sdl/base/failpoint.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#include "src/mongo/mongo-writer-private.h"

/* Explicit commitTransaction retries after UnknownTransactionCommitResult (libmongoc has
 * already retried once by itself). */
#define COMMIT_RETRIES 3

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
        free(w->committed_requests);
        w->committed_requests = off.requests; /* the offset read back: its requests too */
        w->committed_requests_len = off.requests_len;
        w->committed_read = true;
        off.requests = NULL;
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
rejected_document(sdl_mongo_writer *w, mongoc_collection_t *coll, const sdl_batch *batch,
                  const size_t *map, size_t n, const bson_error_t *error, const bson_t *reply,
                  sdl_error *err)
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
                     batch->number, w->db_name, mongoc_collection_get_name(coll), id, db ? db : "?",
                     table ? table : "?", doc ? doc->len : 0);
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
    bson_append_bool(&opts, "validate", -1, false); /* sdl's own BSON: see the staging bulk */
    if (!mongoc_collection_insert_many(coll, docs, n, &opts, &reply, &error)) {
        if (rejected_document(w, coll, batch, index, n, &error, &reply, err)) {
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

/* @docs into the audit log: row_changes, or each into its per-table collection. */
static step_result
insert_changes(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t **docs, size_t n,
               const size_t *index, const bson_t *sopts, char *what, size_t whatcap, sdl_error *err)
{
    if (!w->changes_template) {
        return insert_docs(w, w->changes, batch, docs, n, index, sopts, what, whatcap, err);
    }
    mw_changes_run *runs;
    size_t nruns = mw_changes_group(w, docs, n, index, &runs);
    step_result r = STEP_OK;
    for (size_t i = 0; i < nruns && r == STEP_OK; i++) {
        mongoc_collection_t *c = mongoc_client_get_collection(w->client, w->db_name, runs[i].name);
        r = insert_docs(w, c, batch, runs[i].docs, runs[i].n, runs[i].index, sopts, what, whatcap,
                        err);
        mongoc_collection_destroy(c);
    }
    mw_changes_runs_free(runs, nruns);
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
        return insert_changes(w, batch, (const bson_t **)(void *)batch->docs, batch->ndocs, NULL,
                              sopts, what, whatcap, err);
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
    r = batch->no_audit ? STEP_OK
                        : insert_changes(w, batch, docs, n, index, sopts, what, whatcap, err);
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

/* What the commit's offset write returned (findAndModify's value, projected on
 * snapshot_requests: the offset document as this transaction wrote it): the requests of
 * `sdl snapshot` the writer hands over (DESIGN.md §9), read back with no round trip of its
 * own. NULL: the offset document was created (it has none). */
static void
keep_requests(sdl_mongo_writer *w, const bson_t *value)
{
    free(w->committed_requests);
    w->committed_read = true;
    mw_copy_requests(value, &w->committed_requests, &w->committed_requests_len);
}

/*
 * The fenced offset write: a findAndModify of {_id: pipeline, batch: n-1} ($set of the new
 * offset, new: true, projected on snapshot_requests) in the transaction. A null value is the
 * fence matching nothing (another writer moved the pipeline), exactly as an update's
 * matchedCount 0 was; errors are classified as the update's were (the same command error
 * codes and labels: TransientTransactionError, WriteConflict).
 */
static step_result
write_offset(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts, char *what,
             size_t whatcap, sdl_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply, fields = BSON_INITIALIZER;
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, proj = BSON_INITIALIZER;
    bson_error_t error;
    bson_iter_t it;
    step_result r = STEP_OK;
    uint64_t n = batch->number;
    mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
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
    bson_append_int32(&proj, "snapshot_requests", -1, 1);
    (void)mongoc_find_and_modify_opts_set_update(fam, &upd);
    (void)mongoc_find_and_modify_opts_set_fields(fam, &proj);
    (void)mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    (void)mongoc_find_and_modify_opts_append(fam, &opts); /* the session (and transaction) */
    ok = mongoc_collection_find_and_modify_with_opts(w->offsets, &sel, fam, &reply, &error);
    if (ok && bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t value;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&value, data, len)) {
            keep_requests(w, &value);
        }
    } else if (ok) { /* value null: the fence matched nothing */
        if (n == 1) {
            /* No batch 0: a batch staged by an sdl that did not store its start position
             * first. Its offset is created here (fails if one exists after all). */
            bson_t doc = BSON_INITIALIZER;
            bson_destroy(&reply);
            bson_append_utf8(&doc, "_id", -1, w->pipeline, -1);
            bson_concat(&doc, &fields);
            ok = mongoc_collection_insert_one(w->offsets, &doc, &opts, &reply, &error);
            bson_destroy(&doc);
            if (ok) {
                keep_requests(w, NULL);
            }
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
    mongoc_find_and_modify_opts_destroy(fam);
    bson_destroy(&sel);
    bson_destroy(&upd);
    bson_destroy(&proj);
    bson_destroy(&reply);
    bson_destroy(&fields);
    bson_destroy(&opts);
    return r;
}

/* In the transaction of @sopts: the staged parts of every batch up to @upto. Only ever after
 * the fenced offset write of that transaction: parts numbered at or below the offset's batch
 * are committed ones, never another writer's (batch numbers only grow). */
static step_result
delete_parts(sdl_mongo_writer *w, uint64_t upto, const bson_t *sopts, const char *what,
             sdl_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply, filter = BSON_INITIALIZER, le;
    bson_error_t error;
    step_result r = STEP_OK;

    bson_concat(&opts, sopts);
    bson_append_utf8(&filter, "_id.pipeline", -1, w->pipeline, -1);
    bson_append_document_begin(&filter, "_id.batch", -1, &le);
    bson_append_int64(&le, "$lte", -1, (int64_t)upto);
    bson_append_document_end(&filter, &le);
    if (!mongoc_collection_delete_many(w->staging, &filter, &opts, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply, "%s: deleting the staged parts up to batch %" PRIu64,
                          what, upto);
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

mongoc_client_session_t *
mw_begin_transaction(sdl_mongo_writer *w, bson_t *sopts, const char *what, sdl_error *err)
{
    bson_error_t error;
    mongoc_client_session_t *cs = mongoc_client_start_session(w->client, NULL, &error);

    if (!cs) {
        mw_set_sink_error(err, &error, NULL, "%s: starting a session", what);
        return NULL;
    }
    mongoc_transaction_opt_t *topts = mongoc_transaction_opts_new();
    mongoc_transaction_opts_set_read_concern(topts, w->rc_snapshot);
    mongoc_transaction_opts_set_write_concern(topts, w->wc_majority);
    mongoc_transaction_opts_set_read_prefs(topts, w->primary);
    bool ok = mongoc_client_session_start_transaction(cs, topts, &error) &&
              mongoc_client_session_append(cs, sopts, &error);
    mongoc_transaction_opts_destroy(topts);
    if (!ok) {
        mw_set_sink_error(err, &error, NULL, "%s: starting a transaction", what);
        mongoc_client_session_destroy(cs);
        return NULL;
    }
    return cs;
}

bool
sdl_mongo_writer_commit(sdl_mongo_writer *writer, const sdl_batch *batch, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    mongoc_client_session_t *cs = NULL;
    bson_t sopts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_error_t error;
    char what[600];
    char ctx[64];
    step_result r;
    bool ok = false;

    if (batch->number == 0) {
        sdl_error_set(err, SDL_E_INVALID, "committing a batch without a number");
        return false;
    }
    what[0] = '\0';
    (void)snprintf(ctx, sizeof(ctx), "committing batch %" PRIu64, batch->number);
    w->rejected = 0;
    w->committed_read = false;
    if (!mw_mirror_before_commit(w, batch, err) || !mw_changes_before_commit(w, batch, err)) {
        goto out;
    }
    cs = mw_begin_transaction(w, &sopts, ctx, err);
    if (!cs) {
        goto out;
    }
    /* the lease names the session before the transaction's first command reaches the server */
    mw_lease_name_session(w, cs, batch->number - 1);
    r = insert_rows(w, batch, &sopts, what, sizeof(what), err);
    if (r == STEP_OK && !mw_apply_mirror(w, batch, &sopts, err)) {
        r = STEP_FAILED;
    }
    if (r == STEP_OK) {
        r = write_offset(w, batch, &sopts, what, sizeof(what), err);
    }
    if (r == STEP_OK && batch->clean_staged) {
        r = delete_parts(w, batch->number, &sopts, ctx, err);
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
    mongoc_client_session_destroy(cs);
    return ok;
}

/* ---- the cleanup at a clean stop ---- */

bool
sdl_mongo_writer_clean_staged(sdl_mongo_writer *writer, uint64_t committed, sdl_error *err)
{
    sdl_mongo_writer *w = writer;
    mongoc_client_session_t *cs = NULL;
    bson_t sopts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, opts = BSON_INITIALIZER;
    bson_error_t error;
    const char *what = "deleting committed staged batches";
    uint64_t matched = 0;
    bool ok = false;

    cs = mw_begin_transaction(w, &sopts, what, err);
    if (!cs) {
        goto out;
    }
    /* The fence, a write (so a concurrent move of the offset conflicts with it): the offset
     * must still name @committed. It renews the lease, or rewrites the batch number. */
    bson_append_utf8(&sel, "_id", -1, w->pipeline, -1);
    bson_append_int64(&sel, "batch", -1, (int64_t)committed);
    bson_append_document_begin(&upd, "$set", -1, &set);
    if (w->holder) {
        mw_append_lease(w, &set, false);
    } else {
        bson_append_int64(&set, "batch", -1, (int64_t)committed);
    }
    bson_append_document_end(&upd, &set);
    bson_concat(&opts, &sopts);
    if (!mongoc_collection_update_one(w->offsets, &sel, &upd, &opts, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply, "%s: the fenced offset update", what);
        (void)mongoc_client_session_abort_transaction(cs, NULL);
        goto out;
    }
    if (!mw_iter_u64(&reply, "matchedCount", &matched) || matched != 1) {
        (void)mongoc_client_session_abort_transaction(cs, NULL);
        sdl_error_set(err, SDL_E_SINK,
                      "%s: fencing: the offset of pipeline '%s' does not name batch %" PRIu64
                      " any more (is another sdl writing this pipeline?)",
                      what, w->pipeline, committed);
        goto out;
    }
    if (delete_parts(w, committed, &sopts, what, err) != STEP_OK) {
        (void)mongoc_client_session_abort_transaction(cs, NULL);
        goto out;
    }
    bson_destroy(&reply);
    if (!mongoc_client_session_commit_transaction(cs, &reply, &error)) {
        /* deleting committed parts again is harmless: any failure may be retried */
        mw_set_sink_error(err, &error, &reply, "%s: commitTransaction", what);
        if (sdl_mongo_error_is_ambiguous_commit(&error, &reply)) {
            err->transient = true;
        }
        mw_kill_session(w, cs);
        goto out;
    }
    ok = true;
out:
    bson_destroy(&sel);
    bson_destroy(&upd);
    bson_destroy(&opts);
    bson_destroy(&reply);
    bson_destroy(&sopts);
    mongoc_client_session_destroy(cs);
    return ok;
}
