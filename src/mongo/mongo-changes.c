/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-changes: the collection(s) of the audit log. target.collections.changes is a name
 * ("row_changes") or a template with {db} and {table} (docs/CONFIG.md), in which case each
 * row change document goes into the collection its db and table name ("_" for a field the
 * document lacks: a DDL statement on no table or no database), within the same commit
 * transaction as the rest of its batch.
 *
 * Every audit collection gets the changes indexes ({ts: 1} with target.retention's TTL,
 * mongo-ttl.c; {db, table, pk}; {gtid}): the single collection at start-up, a per-table one
 * before the commit transaction of the first batch this writer commits into it (MongoDB
 * cannot create an index on an existing collection inside a transaction, nor a collection
 * before 4.4). An index made before a crash that kept its batch out is harmless: the
 * collection is then empty and indexed, as the next attempt needs it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/model/doc-field.h"

#include "mongo-writer-private.h"

static const char *const change_keys[] = {
    "{\"db\": 1, \"table\": 1, \"pk\": 1}",
    "{\"gtid\": 1}",
};

/* The ts index and the other changes indexes on @coll. */
static bool
index_changes(sdl_mongo_writer *w, mongoc_collection_t *coll, sdl_error *err)
{
    return mw_ensure_ts_index(w, coll, w->retention_sec, err) &&
           mw_create_indexes(w, coll, change_keys, SDL_ARRAY_SIZE(change_keys), err);
}

bool
mw_changes_open(sdl_mongo_writer *w, const sdl_target_config *cfg, bool set_up, sdl_error *err)
{
    w->retention_sec = cfg->retention_usec / 1000000u;
    if (sdl_config_collection_is_template(cfg->changes_collection)) {
        w->changes_template = sdl_xstrdup(cfg->changes_collection);
        return true; /* each collection when it is first written */
    }
    return !set_up || index_changes(w, w->changes, err);
}

void
mw_changes_free(sdl_mongo_writer *w)
{
    free(w->changes_template);
    for (size_t i = 0; i < w->nchanges_ready; i++) {
        free(w->changes_ready[i]);
    }
    free(w->changes_ready);
}

char *
mw_changes_name(const sdl_mongo_writer *w, const bson_t *doc)
{
    if (!w->changes_template) {
        return sdl_xstrdup(mongoc_collection_get_name(w->changes));
    }
    const char *db = sdl_doc_field_text(doc, "db"), *table = sdl_doc_field_text(doc, "table");
    return sdl_config_collection_name(w->changes_template, db && *db ? db : "_",
                                      table && *table ? table : "_");
}

bool
mw_changes_prepare(sdl_mongo_writer *w, const char *name, sdl_error *err)
{
    if (!w->changes_template) {
        return true;
    }
    for (size_t i = 0; i < w->nchanges_ready; i++) {
        if (strcmp(w->changes_ready[i], name) == 0) {
            return true;
        }
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(w->client, w->db_name, name);
    bool ok = index_changes(w, coll, err);
    mongoc_collection_destroy(coll);
    if (ok) {
        w->changes_ready =
            sdl_xrealloc(w->changes_ready, (w->nchanges_ready + 1) * sizeof(*w->changes_ready));
        w->changes_ready[w->nchanges_ready++] = sdl_xstrdup(name);
    }
    return ok;
}

bool
mw_changes_before_commit(sdl_mongo_writer *w, const sdl_batch *batch, sdl_error *err)
{
    if (!w->changes_template || batch->no_audit || batch->ndocs == 0) {
        return true;
    }
    const bson_t **docs = sdl_xcalloc(batch->ndocs, sizeof(*docs));
    size_t n = 0;
    for (size_t i = 0; i < batch->ndocs; i++) {
        if (!batch->dead || !batch->dead[i]) {
            docs[n++] = batch->docs[i];
        }
    }
    mw_changes_run *runs;
    size_t nruns = mw_changes_group(w, docs, n, NULL, &runs);
    bool ok = true;
    for (size_t r = 0; ok && r < nruns; r++) {
        ok = mw_changes_prepare(w, runs[r].name, err);
    }
    if (!ok) {
        sdl_error_prefix(err, "committing batch %" PRIu64, batch->number);
    }
    mw_changes_runs_free(runs, nruns);
    free(docs);
    return ok;
}

size_t
mw_changes_group(const sdl_mongo_writer *w, const bson_t **docs, size_t n, const size_t *index,
                 mw_changes_run **ret_runs)
{
    mw_changes_run *runs = NULL;
    size_t nruns = 0;

    for (size_t i = 0; i < n; i++) {
        char *name = mw_changes_name(w, docs[i]);
        size_t r = 0;
        while (r < nruns && strcmp(runs[r].name, name) != 0) {
            r++;
        }
        if (r == nruns) {
            runs = sdl_xreallocarray(runs, nruns + 1, sizeof(*runs));
            runs[r] = (mw_changes_run){.name = name};
            nruns++;
        } else {
            free(name);
        }
        mw_changes_run *run = &runs[r];
        if (run->n == run->cap) { /* grown as needed: a batch may touch many tables */
            run->cap = run->cap ? 2 * run->cap : 16;
            run->docs = sdl_xreallocarray(run->docs, run->cap, sizeof(*run->docs));
            run->index = sdl_xreallocarray(run->index, run->cap, sizeof(*run->index));
        }
        run->docs[run->n] = docs[i];
        run->index[run->n++] = index ? index[i] : i;
    }
    *ret_runs = runs;
    return nruns;
}

void
mw_changes_runs_free(mw_changes_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(runs[i].name);
        free(runs[i].docs);
        free(runs[i].index);
    }
    free(runs);
}

/* Whether @name is a name @t (a template) gives: {db} and {table} stand for any non-empty
 * text. */
static bool
template_matches(const char *t, const char *name)
{
    if (!*t) {
        return !*name;
    }
    size_t ph = strncmp(t, "{db}", 4) == 0 ? 4 : strncmp(t, "{table}", 7) == 0 ? 7 : 0;
    if (!ph) {
        return *name == *t && template_matches(t + 1, name + 1);
    }
    for (const char *p = name + 1; p <= name + strlen(name); p++) {
        if (template_matches(t + ph, p)) {
            return true;
        }
    }
    return false;
}

char **
mw_changes_collections(sdl_mongo_writer *w, sdl_error *err)
{
    if (!w->changes_template) {
        char **one = sdl_xcalloc(2, sizeof(*one));
        one[0] = sdl_xstrdup(mongoc_collection_get_name(w->changes));
        return one;
    }
    mongoc_database_t *d = mongoc_client_get_database(w->client, w->db_name);
    bson_error_t error;
    char **names = mongoc_database_get_collection_names_with_opts(d, NULL, &error);
    mongoc_database_destroy(d);
    if (!names) {
        mw_set_sink_error(err, &error, NULL, "listing the collections of %s", w->db_name);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; names[i]; i++) {
        n++;
    }
    char **out = sdl_xcalloc(n + 1, sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; names[i]; i++) {
        mongoc_collection_t *own[] = {w->staging, w->offsets, w->dead_letters};
        bool mine = false;
        for (size_t j = 0; j < SDL_ARRAY_SIZE(own); j++) {
            mine = mine || strcmp(names[i], mongoc_collection_get_name(own[j])) == 0;
        }
        if (!mine && template_matches(w->changes_template, names[i])) {
            out[k++] = sdl_xstrdup(names[i]);
        }
    }
    bson_strfreev(names);
    return out;
}

void
mw_changes_names_free(char **names)
{
    for (size_t i = 0; names && names[i]; i++) {
        free(names[i]);
    }
    free(names);
}
