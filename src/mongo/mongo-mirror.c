/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-mirror: a batch's mirror writes (sdl_batch.mirror, daemon/mirror.h) inside the commit
 * transaction. Consecutive writes to one collection go out as one ordered bulk write, so the
 * writes of one key keep their source order; "move" and "copy" read inside the transaction
 * (snapshot) first.
 */
#include <inttypes.h>
#include <string.h>

#include "sdl/model/doc-field.h"
#include "sdl/mongo/retry.h"

#include "mongo-writer-private.h"

typedef struct run {
    mongoc_collection_t *coll;
    mongoc_bulk_operation_t *bulk;
    char db[128];
    char c[256];
    uint32_t n;
} run;

static bool
run_flush(sdl_mongo_writer *w, const sdl_batch *batch, run *r, sdl_error *err)
{
    bool ok = true;

    if (r->bulk && r->n > 0) {
        bson_t reply;
        bson_error_t error;
        if (!mongoc_bulk_operation_execute(r->bulk, &reply, &error)) {
            mw_set_sink_error(err, &error, &reply,
                              "committing batch %" PRIu64 ": mirror writes into %s.%s",
                              batch->number, r->db, r->c);
            ok = false;
        }
        bson_destroy(&reply);
    }
    if (r->bulk) {
        mongoc_bulk_operation_destroy(r->bulk);
    }
    if (r->coll) {
        mongoc_collection_destroy(r->coll);
    }
    r->bulk = NULL;
    r->coll = NULL;
    r->n = 0;
    r->db[0] = r->c[0] = '\0';
    (void)w;
    return ok;
}

/* Makes @r the run of @db.@c (flushing the previous one). */
static bool
run_to(sdl_mongo_writer *w, const sdl_batch *batch, run *r, const char *db, const char *c,
       const bson_t *sopts, sdl_error *err)
{
    if (r->coll && strcmp(r->db, db) == 0 && strcmp(r->c, c) == 0) {
        return true;
    }
    if (!run_flush(w, batch, r, err)) {
        return false;
    }
    bson_t opts = BSON_INITIALIZER;
    bson_concat(&opts, sopts);
    bson_append_bool(&opts, "ordered", -1, true);
    r->coll = mongoc_client_get_collection(w->client, db, c);
    r->bulk = mongoc_collection_create_bulk_operation_with_opts(r->coll, &opts);
    bson_destroy(&opts);
    (void)snprintf(r->db, sizeof(r->db), "%s", db);
    (void)snprintf(r->c, sizeof(r->c), "%s", c);
    return true;
}

/* Every document of @from into @r's collection (a RENAME TABLE), read in the transaction. */
static bool
copy_all(sdl_mongo_writer *w, const sdl_batch *batch, run *r, const char *db, const char *from,
         const bson_t *sopts, sdl_error *err)
{
    mongoc_collection_t *src = mongoc_client_get_collection(w->client, db, from);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    const bson_t *doc;
    bson_error_t error;
    bool ok = true;

    bson_concat(&opts, sopts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(src, &filter, &opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_error_t e2;
        if (!mongoc_bulk_operation_insert_with_opts(r->bulk, doc, NULL, &e2)) {
            mw_set_sink_error(err, &e2, NULL, "committing batch %" PRIu64 ": copying %s.%s",
                              batch->number, db, from);
            ok = false;
            break;
        }
        r->n++;
    }
    if (ok && mongoc_cursor_error(cur, &error)) {
        mw_set_sink_error(err, &error, NULL, "committing batch %" PRIu64 ": reading %s.%s",
                          batch->number, db, from);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    mongoc_collection_destroy(src);
    return ok;
}

/* A changed key with a partial image: the old document (read in the transaction) under the
 * new _id, with the columns present applied; @q the old _id, @u {_id: new, $set: {...}}. */
static bool
move_doc(sdl_mongo_writer *w, const sdl_batch *batch, run *r, const bson_t *q, const bson_t *u,
         const bson_t *sopts, sdl_error *err)
{
    bson_t *old = NULL, reply, set, upd = BSON_INITIALIZER, nq = BSON_INITIALIZER;
    bson_t ropts = BSON_INITIALIZER, uopts = BSON_INITIALIZER;
    bson_error_t error;
    bson_iter_t it;
    bool ok = false;

    char db[sizeof(r->db)], c[sizeof(r->c)];

    /* the bulk so far first: the old document may be one of its writes */
    memcpy(db, r->db, sizeof(db));
    memcpy(c, r->c, sizeof(c));
    if (!run_flush(w, batch, r, err)) {
        return false;
    }
    if (!bson_iter_init_find(&it, u, "_id") || !sdl_doc_field_doc(u, "$set", &set)) {
        sdl_error_set(err, SDL_E_DATA, "committing batch %" PRIu64 ": a malformed mirror move",
                      batch->number);
        return false;
    }
    bson_append_value(&nq, "_id", 3, bson_iter_value(&it));
    bson_append_document(&upd, "$set", 4, &set);
    mongoc_collection_t *coll = mongoc_client_get_collection(w->client, db, c);
    bson_init(&reply);
    {
        mongoc_cursor_t *cur;
        const bson_t *doc;
        bson_t fopts = BSON_INITIALIZER;
        bson_concat(&fopts, sopts);
        bson_append_int64(&fopts, "limit", -1, 1);
        cur = mongoc_collection_find_with_opts(coll, q, &fopts, NULL);
        if (mongoc_cursor_next(cur, &doc)) {
            old = bson_copy(doc);
        }
        bool failed = mongoc_cursor_error(cur, &error);
        mongoc_cursor_destroy(cur);
        bson_destroy(&fopts);
        if (failed) {
            mw_set_sink_error(err, &error, NULL,
                              "committing batch %" PRIu64 ": reading the mirror document",
                              batch->number);
            goto out;
        }
    }
    bson_concat(&ropts, sopts);
    bson_concat(&uopts, sopts);
    bson_append_bool(&uopts, "upsert", -1, true);
    if (old) {
        bson_t moved = BSON_INITIALIZER;
        bson_iter_t f;
        bson_concat(&moved, &nq); /* _id first */
        if (bson_iter_init(&f, old)) {
            while (bson_iter_next(&f)) {
                if (strcmp(bson_iter_key(&f), "_id") != 0) {
                    bson_append_value(&moved, bson_iter_key(&f), -1, bson_iter_value(&f));
                }
            }
        }
        bool done = mongoc_collection_delete_one(coll, q, &ropts, &reply, &error) &&
                    (bson_destroy(&reply), true) &&
                    mongoc_collection_replace_one(coll, &nq, &moved, &uopts, &reply, &error);
        bson_destroy(&moved);
        if (!done) {
            mw_set_sink_error(err, &error, &reply,
                              "committing batch %" PRIu64 ": moving a mirror document",
                              batch->number);
            goto out;
        }
        bson_destroy(&reply);
        bson_init(&reply);
    }
    if (!mongoc_collection_update_one(coll, &nq, &upd, &uopts, &reply, &error)) {
        mw_set_sink_error(err, &error, &reply,
                          "committing batch %" PRIu64 ": updating a moved mirror document",
                          batch->number);
        goto out;
    }
    ok = true;
out:
    bson_destroy(&reply);
    if (old) {
        bson_destroy(old);
    }
    bson_destroy(&ropts);
    bson_destroy(&uopts);
    bson_destroy(&upd);
    bson_destroy(&nq);
    mongoc_collection_destroy(coll);
    return ok;
}

bool
mw_apply_mirror(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts, sdl_error *err)
{
    run r = {0};
    bson_iter_t it;
    bool ok = true;

    if (!batch->mirror || !bson_iter_init(&it, batch->mirror)) {
        return true;
    }
    while (ok && bson_iter_next(&it)) {
        bson_t op, q, u;
        const uint8_t *data;
        uint32_t len;
        bson_error_t error;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            continue;
        }
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&op, data, len)) {
            continue;
        }
        const char *kind = sdl_doc_field_text(&op, "w"), *db = sdl_doc_field_text(&op, "db"),
                   *c = sdl_doc_field_text(&op, "c");
        bool has_q = sdl_doc_field_doc(&op, "q", &q), has_u = sdl_doc_field_doc(&op, "u", &u);
        if (!kind || !db || !c || strcmp(kind, "drop") == 0 || strcmp(kind, "index") == 0) {
            continue; /* after the commit */
        }
        if (!run_to(w, batch, &r, db, c, sopts, err)) {
            ok = false;
            break;
        }
        bson_t wopts = BSON_INITIALIZER;
        bool added = true;
        memset(&error, 0, sizeof(error));
        if (strcmp(kind, "replace") == 0 && has_q && has_u) {
            bson_append_bool(&wopts, "upsert", -1, true);
            added = mongoc_bulk_operation_replace_one_with_opts(r.bulk, &q, &u, &wopts, &error);
        } else if (strcmp(kind, "set") == 0 && has_q && has_u) {
            bson_append_bool(&wopts, "upsert", -1, true);
            added = mongoc_bulk_operation_update_one_with_opts(r.bulk, &q, &u, &wopts, &error);
        } else if (strcmp(kind, "insert") == 0 && has_u) {
            added = mongoc_bulk_operation_insert_with_opts(r.bulk, &u, NULL, &error);
        } else if (strcmp(kind, "delete") == 0 && has_q) {
            added = mongoc_bulk_operation_remove_one_with_opts(r.bulk, &q, NULL, &error);
        } else if (strcmp(kind, "clear") == 0) {
            bson_t all = BSON_INITIALIZER;
            added = mongoc_bulk_operation_remove_many_with_opts(r.bulk, &all, NULL, &error);
            bson_destroy(&all);
        } else if (strcmp(kind, "copy") == 0 && sdl_doc_field_text(&op, "from")) {
            ok = copy_all(w, batch, &r, db, sdl_doc_field_text(&op, "from"), sopts, err);
            r.n--; /* counted per document */
        } else if (strcmp(kind, "move") == 0 && has_q && has_u) {
            ok = move_doc(w, batch, &r, &q, &u, sopts, err);
            r.n--; /* written already */
        } else {
            added = false;
            bson_set_error(&error, 0, 0, "unknown mirror write '%s'", kind);
        }
        bson_destroy(&wopts);
        if (ok && !added) {
            mw_set_sink_error(err, &error, NULL, "committing batch %" PRIu64 ": a mirror write",
                              batch->number);
            err->code = SDL_E_DATA;
            err->transient = false;
            ok = false;
        }
        r.n++;
    }
    if (ok) {
        ok = run_flush(w, batch, &r, err);
    } else {
        sdl_error tmp = SDL_ERROR_INIT;
        r.n = 0;
        (void)run_flush(w, batch, &r, &tmp);
    }
    return ok;
}

static void forget_created(sdl_mongo_writer *w, const char *db, const char *c);

/* Whether this writer created the index @keys on @db.@c already (else: it records it). */
static bool
indexed_before(sdl_mongo_writer *w, const char *db, const char *c, const bson_t *keys)
{
    char *k = mongoc_collection_keys_to_index_string(keys);
    size_t n = strlen(db) + strlen(c) + strlen(k) + 3;
    char *id = bson_malloc(n);

    (void)snprintf(id, n, "%s\n%s\n%s", db, c, k);
    bson_free(k);
    for (size_t i = 0; i < w->nmirror_indexed; i++) {
        if (strcmp(w->mirror_indexed[i], id) == 0) {
            bson_free(id);
            return true;
        }
    }
    w->mirror_indexed =
        bson_realloc(w->mirror_indexed, (w->nmirror_indexed + 1) * sizeof(*w->mirror_indexed));
    w->mirror_indexed[w->nmirror_indexed++] = id;
    return false;
}

void
mw_mirror_after_commit(sdl_mongo_writer *w, const sdl_batch *batch)
{
    bson_iter_t it;

    if (!batch->mirror || !bson_iter_init(&it, batch->mirror)) {
        return;
    }
    while (bson_iter_next(&it)) {
        bson_t op;
        const uint8_t *data;
        uint32_t len;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            continue;
        }
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&op, data, len)) {
            continue;
        }
        const char *kind = sdl_doc_field_text(&op, "w"), *db = sdl_doc_field_text(&op, "db"),
                   *c = sdl_doc_field_text(&op, "c");
        bson_t keys;
        if (kind && db && c && strcmp(kind, "drop") == 0) {
            mongoc_collection_t *coll = mongoc_client_get_collection(w->client, db, c);
            bson_error_t error;
            /* best effort: emptied in the commit; a missing collection is fine */
            (void)mongoc_collection_drop_with_opts(coll, NULL, &error);
            mongoc_collection_destroy(coll);
            forget_created(w, db, c);
        } else if (kind && db && c && strcmp(kind, "index") == 0 &&
                   sdl_doc_field_doc(&op, "u", &keys) && !indexed_before(w, db, c, &keys)) {
            mongoc_collection_t *coll = mongoc_client_get_collection(w->client, db, c);
            bson_t cmd = BSON_INITIALIZER, arr, index, reply;
            bson_error_t error;
            char *name = mongoc_collection_keys_to_index_string(&keys);
            bson_append_utf8(&cmd, "createIndexes", -1, c, -1);
            bson_append_array_begin(&cmd, "indexes", -1, &arr);
            bson_append_document_begin(&arr, "0", 1, &index);
            bson_append_document(&index, "key", -1, &keys);
            bson_append_utf8(&index, "name", -1, name, -1);
            bson_append_document_end(&arr, &index);
            bson_append_array_end(&cmd, &arr);
            /* best effort: an index that exists is fine; the next process tries again */
            (void)mongoc_collection_write_command_with_opts(coll, &cmd, NULL, &reply, &error);
            bson_destroy(&reply);
            bson_destroy(&cmd);
            bson_free(name);
            mongoc_collection_destroy(coll);
        }
    }
}

/* Whether this writer created (or found) @db.@c already (else: it records it). */
static bool
created_before(sdl_mongo_writer *w, const char *db, const char *c)
{
    size_t n = strlen(db) + strlen(c) + 2;
    char *id = bson_malloc(n);

    (void)snprintf(id, n, "%s\n%s", db, c);
    for (size_t i = 0; i < w->nmirror_created; i++) {
        if (strcmp(w->mirror_created[i], id) == 0) {
            bson_free(id);
            return true;
        }
    }
    w->mirror_created =
        bson_realloc(w->mirror_created, (w->nmirror_created + 1) * sizeof(*w->mirror_created));
    w->mirror_created[w->nmirror_created++] = id;
    return false;
}

bool
mw_mirror_before_commit(sdl_mongo_writer *w, const sdl_batch *batch, sdl_error *err)
{
    bson_iter_t it;

    if (!batch->mirror || !bson_iter_init(&it, batch->mirror)) {
        return true;
    }
    while (bson_iter_next(&it)) {
        bson_t op;
        const uint8_t *data;
        uint32_t len;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            continue;
        }
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&op, data, len)) {
            continue;
        }
        const char *kind = sdl_doc_field_text(&op, "w"), *db = sdl_doc_field_text(&op, "db"),
                   *c = sdl_doc_field_text(&op, "c");
        if (!kind || !db || !c || strcmp(kind, "drop") == 0 || strcmp(kind, "index") == 0 ||
            created_before(w, db, c)) {
            continue;
        }
        mongoc_database_t *d = mongoc_client_get_database(w->client, db);
        bson_t cmd = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
        bson_error_t error;
        bson_append_utf8(&cmd, "create", -1, c, -1);
        mw_append_wc_majority(w, &opts);
        bool ok = mongoc_database_write_command_with_opts(d, &cmd, &opts, &reply, &error) ||
                  sdl_mongo_error_server_code(&error, &reply) == 48; /* NamespaceExists */
        if (!ok) {
            mw_set_sink_error(err, &error, &reply,
                              "committing batch %" PRIu64 ": creating mirror collection %s.%s",
                              batch->number, db, c);
            /* forget it: the next attempt creates it again */
            bson_free(w->mirror_created[--w->nmirror_created]);
        }
        bson_destroy(&reply);
        bson_destroy(&opts);
        bson_destroy(&cmd);
        mongoc_database_destroy(d);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static void
forget_created(sdl_mongo_writer *w, const char *db, const char *c)
{
    size_t dl = strlen(db);

    for (size_t i = 0; i < w->nmirror_created; i++) {
        const char *id = w->mirror_created[i];
        if (strncmp(id, db, dl) == 0 && id[dl] == '\n' && strcmp(id + dl + 1, c) == 0) {
            bson_free(w->mirror_created[i]);
            w->mirror_created[i] = w->mirror_created[--w->nmirror_created];
            return;
        }
    }
}
