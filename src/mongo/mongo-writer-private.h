/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * mongo-writer-private: what the files of src/mongo/ that implement mongo-writer.h share (the
 * writer's state and its small BSON and error helpers): mongo-writer.c (open, offset,
 * status), mongo-staging.c (staged documents), mongo-commit.c (the commit transaction),
 * mongo-lease.c, mongo-mirror.c, mongo-ttl.c, mongo-tools.c. Not an interface: nothing outside
 * src/mongo/ includes it.
 */

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mongo/mongo-writer.h"

#define MW_LEASE_SESSIONS 4 /* sessions a lease names at most (one in practice: pooled) */

struct sdl_mongo_writer {
    mongoc_client_t *client;
    char *pipeline;
    char *target; /* masked URI, for messages */
    char *db_name;
    mongoc_collection_t *changes;
    mongoc_collection_t *staging;
    mongoc_collection_t *offsets;
    mongoc_collection_t *dead_letters;
    size_t rejected; /* 1 + index of the document the last commit's server refused; 0: none */
    mongoc_write_concern_t *wc_majority;
    mongoc_read_concern_t *rc_majority;
    mongoc_read_concern_t *rc_snapshot;
    mongoc_read_prefs_t *primary;
    char *holder;                        /* the lease holder ("host:pid"), NULL: no lease written */
    bson_t *sessions[MW_LEASE_SESSIONS]; /* lsids of the sessions our lease names, oldest first */
    size_t nsessions;
    uint64_t ambiguous_batch; /* a commit of this batch may have been applied: settle by
                               * reading the offset before calling a conflict fencing */
    char *notice;             /* what opening did that the operator should know, or NULL */
    bool notice_warning;      /* ... and whether it is a warning (else a notice) */
    char **mirror_indexed;    /* "db\ncollection\nkeys" of the mirror indexes created */
    size_t nmirror_indexed;
    char **mirror_created; /* "db\ncollection" of the mirror collections created or found */
    size_t nmirror_created;
    char *changes_template; /* target.collections.changes when a template ({db}, {table}),
                             * else NULL: w->changes is the audit log (mongo-changes.c) */
    uint64_t retention_sec; /* target.retention: the TTL of every audit collection's ts */
    char **changes_ready;   /* per-table audit collections this writer indexed */
    size_t nchanges_ready;
    /* the last commit read the offset document back (committed_read): its snapshot_requests
     * (NULL: none), owned */
    bool committed_read;
    uint8_t *committed_requests;
    size_t committed_requests_len;
};

/* The {ts: 1} index of the audit collection @coll with @ttl_sec as its TTL (0: none), as
 * mongo-ttl.c says; may set w->notice. */
bool mw_ensure_ts_index(sdl_mongo_writer *w, mongoc_collection_t *coll, uint64_t ttl_sec,
                        sdl_error *err);
/* createIndexes of @keys (JSON key documents, named as MongoDB would) on @coll, majority. */
bool mw_create_indexes(sdl_mongo_writer *w, mongoc_collection_t *coll, const char *const *keys,
                       size_t nkeys, sdl_error *err);

/* ---- the audit log's collection(s): mongo-changes.c ---- */

/* A run of a batch's documents bound for one audit collection. */
typedef struct mw_changes_run {
    char *name;
    const bson_t **docs;
    size_t *index; /* each document's position in its batch */
    size_t n, cap;
} mw_changes_run;

/* At open: takes target.collections.changes and target.retention from @cfg; with @set_up
 * and a single collection, creates its indexes. */
bool mw_changes_open(sdl_mongo_writer *w, const sdl_target_config *cfg, bool set_up,
                     sdl_error *err);
void mw_changes_free(sdl_mongo_writer *w);
/* The name of the audit collection of @doc (a row change or DDL document); malloc'd. */
char *mw_changes_name(const sdl_mongo_writer *w, const bson_t *doc);
/* Before writing into the audit collection @name: its indexes, unless this writer made them
 * already (nothing for a single collection: made at open). */
bool mw_changes_prepare(sdl_mongo_writer *w, const char *name, sdl_error *err);
/* Before the commit transaction of @batch: mw_changes_prepare() of each collection its audit
 * documents go to. */
bool mw_changes_before_commit(sdl_mongo_writer *w, const sdl_batch *batch, sdl_error *err);
/* @docs (@n; @index: their positions in the batch, NULL: 0..n-1) by audit collection, in
 * order within each; returns the number of runs. */
size_t mw_changes_group(const sdl_mongo_writer *w, const bson_t **docs, size_t n,
                        const size_t *index, mw_changes_run **ret_runs);
void mw_changes_runs_free(mw_changes_run *runs, size_t n);
/* The names of the audit collections that exist (a NULL-terminated array): the template's
 * matches, or the single collection. NULL on error. */
char **mw_changes_collections(sdl_mongo_writer *w, sdl_error *err);
void mw_changes_names_free(char **names);

/* The text at @path (dotted) of @doc, a copy; NULL when absent or not text. */
char *mw_iter_strdup(const bson_t *doc, const char *path);
/* The integer at @path of @doc (int32, int64 or double; negative as 0). */
bool mw_iter_u64(const bson_t *doc, const char *path, uint64_t *ret);
/* The Date at @path of @doc, ms since the epoch; 0 when absent. */
int64_t mw_iter_date_ms(const bson_t *doc, const char *path);
/* Realtime, ms since the epoch. */
int64_t mw_now_ms(void);
/* Classifies @error/@reply into @err (retry.h) and prefixes it with the formatted context. */
void mw_set_sink_error(sdl_error *err, const bson_error_t *error, const bson_t *reply,
                       const char *fmt, ...) SDL_PRINTF(4, 5);
/* Reads the pipeline's offset document (readConcern majority). */
bool mw_read_offset(sdl_mongo_writer *w, sdl_offset *ret_offset, bool *ret_found,
                    int64_t *ret_updated_ms, sdl_error *err);
/* The offset fields of DESIGN.md section 3 (all but _id, updated_at, rows_applied). */
void mw_append_offset_fields(bson_t *doc, const sdl_offset *o, uint64_t batch);
/* Ends @cs's transaction on the server, whatever its state (best effort). */
void mw_kill_session(sdl_mongo_writer *w, mongoc_client_session_t *cs);
/* A session of @w's client with its transaction started (read concern snapshot, write concern
 * majority, the primary) and the session's options appended to @sopts; NULL with @err set
 * ("@what: starting a session" / "…: starting a transaction") otherwise. The caller destroys
 * the session. */
mongoc_client_session_t *mw_begin_transaction(sdl_mongo_writer *w, bson_t *sopts, const char *what,
                                              sdl_error *err);
/* A staged part as the recovery helpers and the status see it (mongo-staging.c). */
typedef struct mw_part_info {
    uint64_t batch;
    uint32_t part;
    uint32_t parts;
    uint64_t count;
    int64_t created_ms;
} mw_part_info;
/* Every staged part of the pipeline (no changes), sorted by batch and part; *ret malloc'd. */
bool mw_scan_parts(sdl_mongo_writer *w, mw_part_info **ret, size_t *ret_n, sdl_error *err);
/* {_id.pipeline, _id.batch} of a batch's staged parts. */
void mw_staged_filter(bson_t *filter, const char *pipeline, uint64_t batch);
void mw_append_wc_majority(const sdl_mongo_writer *w, bson_t *opts);
bool mw_same_text(const char *a, const char *b);
/* lease: {holder, until, sessions} (until now + SDL_LEASE_MS, or now and no sessions when
 * @release), or nothing without a holder. mongo-lease.c. */
void mw_append_lease(const sdl_mongo_writer *w, bson_t *doc, bool release);
/* Before a commit transaction on @cs: when the lease does not name @cs's session yet, names it
 * (an update of the offset fenced on batch @fence, majority), so that a successor can end the
 * transaction if this process dies before committing it. Best effort. mongo-lease.c. */
void mw_lease_name_session(sdl_mongo_writer *w, mongoc_client_session_t *cs, uint64_t fence);
/* Reads one document matching @filter (readConcern majority, primary). *ret_doc NULL when
 * none. */
bool mw_find_one(sdl_mongo_writer *w, mongoc_collection_t *coll, const bson_t *filter,
                 const bson_t *projection, bson_t **ret_doc, bson_error_t *error, bson_t *reply);
void mw_append_str_or_null(bson_t *doc, const char *key, const char *value);
/* The offset fields of an offset document (or an offset_after) into @o (zeroed first). */
void mw_read_offset_fields(const bson_t *doc, sdl_offset *o);
/* A copy of @doc's `snapshot_requests` array (the offset's, DESIGN.md §9) into @ret/@ret_len;
 * NULL and 0 when @doc is NULL or has none. */
void mw_copy_requests(const bson_t *doc, uint8_t **ret, size_t *ret_len);

/* The batch's mirror writes (sdl_batch.mirror) in the transaction of @sopts; mongo-mirror.c. */
bool mw_apply_mirror(sdl_mongo_writer *w, const sdl_batch *batch, const bson_t *sopts,
                     sdl_error *err);
/* Before the commit transaction: creates the mirror collections the batch writes that this
 * writer has not created yet (MongoDB before 4.4 cannot create them in a transaction; an
 * existing one is fine). */
bool mw_mirror_before_commit(sdl_mongo_writer *w, const sdl_batch *batch, sdl_error *err);
/* After the commit: the batch's "drop" and "index" mirror writes (best effort). */
void mw_mirror_after_commit(sdl_mongo_writer *w, const sdl_batch *batch);
