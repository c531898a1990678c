/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-mongo-writer: the writer (include/sdl/mongo/mongo-writer.h) against a real server:
 * tests/fakemongod, or a replica set named by $SDL_TEST_MONGODB_URI (failCommand needs
 * enableTestCommands there). Driven by tests/integration/test_mongo_writer.py.
 *
 * Usage: test-mongo-writer RS_URI STANDALONE_URI [DB_PREFIX]
 *   RS_URI          a replica set (mongodb://host:port/?replicaSet=rs0)
 *   STANDALONE_URI  a standalone server (the standalone case fails without it)
 *   DB_PREFIX       prefix of the databases the tests create (default "sdltest"); the
 *                   batches test leaves <prefix>_batches for the driver to inspect.
 * Prints TAP; exits 1 when a test fails.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "sdl/config/config.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

#define SECRET "Hunter2-Sekr1t-XyZ"

static const char *rs_uri;
static const char *standalone_uri;
static const char *prefix = "sdltest";
static mongoc_client_t *admin;
static jmp_buf fail_jmp;
static char fail_msg[2048];
static int napp;

SDL_PRINTF(3, 4) static _Noreturn void fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(fail_msg, sizeof(fail_msg), "%s:%d: ", file, line);

    va_start(ap, fmt);
    (void)vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
    va_end(ap);
    longjmp(fail_jmp, 1);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail_at(__FILE__, __LINE__, "expected: %s", #cond);                                    \
        }                                                                                          \
    } while (0)
#define CHECK_OK(call, errp)                                                                       \
    do {                                                                                           \
        if (!(call)) {                                                                             \
            fail_at(__FILE__, __LINE__, "%s failed: %s", #call, (errp)->message);                  \
        }                                                                                          \
    } while (0)
#define CHECK_U64(a, b)                                                                            \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        if (a_ != b_) {                                                                            \
            fail_at(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_);      \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fail_at(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",  \
                    b_ ? b_ : "(null)");                                                           \
        }                                                                                          \
    } while (0)
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!strstr(h_, (needle))) {                                                               \
            fail_at(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h_, (needle));           \
        }                                                                                          \
    } while (0)

/* ---- fixtures ---- */

typedef struct fixture {
    sdl_target_config cfg;
    char db[96];
    char app[64];
    char uri[1024];
} fixture;

/* A target config on database <prefix>_<name>, with its own appname (failpoints filter on
 * it). The database starts empty. */
static void
fixture_init(fixture *f, const char *name, const char *base_uri)
{
    const char *sep =
        strchr(base_uri, '?') ? "&" : (base_uri[strlen(base_uri) - 1] == '/' ? "?" : "/?");
    bson_error_t error;
    mongoc_database_t *db;

    memset(f, 0, sizeof(*f));
    (void)snprintf(f->db, sizeof(f->db), "%s_%s", prefix, name);
    (void)snprintf(f->app, sizeof(f->app), "sdltest-%d-%d", (int)getpid(), ++napp);
    (void)snprintf(f->uri, sizeof(f->uri), "%s%sappname=%s", base_uri, sep, f->app);
    f->cfg.uri = f->uri;
    f->cfg.database = f->db;
    f->cfg.changes_collection = "row_changes";
    f->cfg.staging_collection = "row_changes_staging";
    f->cfg.offsets_collection = "binlog_offsets";
    f->cfg.dead_letters_collection = "row_changes_dlq";
    f->cfg.connect_timeout_usec = 5000000;
    f->cfg.socket_timeout_usec = 20000000;
    if (base_uri == rs_uri) {
        db = mongoc_client_get_database(admin, f->db);
        if (!mongoc_database_drop_with_opts(db, NULL, &error) && error.code != 26) {
            fail_at(__FILE__, __LINE__, "dropping %s: %s", f->db, error.message);
        }
        mongoc_database_destroy(db);
    }
}

static sdl_mongo_writer *
open_writer(fixture *f, const char *pipeline)
{
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;

    CHECK_OK(sdl_mongo_writer_open(&f->cfg, pipeline, &w, &err), &err);
    return w;
}

SDL_PRINTF(1, 2) static void failpoint(const char *fmt, ...)
{
    char json[2048];
    va_list ap;
    bson_error_t error;
    bson_t *cmd;

    va_start(ap, fmt);
    (void)vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    cmd = bson_new_from_json((const uint8_t *)json, -1, &error);
    if (!cmd) {
        fail_at(__FILE__, __LINE__, "bad failpoint JSON %s: %s", json, error.message);
    }
    if (!mongoc_client_command_simple(admin, "admin", cmd, NULL, NULL, &error)) {
        bson_destroy(cmd);
        fail_at(__FILE__, __LINE__, "configureFailPoint: %s", error.message);
    }
    bson_destroy(cmd);
}

static void
failpoint_off(void)
{
    failpoint("{\"configureFailPoint\": \"failCommand\", \"mode\": \"off\"}");
}

static int64_t
count(const fixture *f, const char *coll, const char *filter_json)
{
    bson_error_t error;
    bson_t *filter =
        bson_new_from_json((const uint8_t *)(filter_json ? filter_json : "{}"), -1, &error);
    mongoc_collection_t *c = mongoc_client_get_collection(admin, f->db, coll);
    int64_t n = mongoc_collection_count_documents(c, filter, NULL, NULL, NULL, &error);

    mongoc_collection_destroy(c);
    bson_destroy(filter);
    if (n < 0) {
        fail_at(__FILE__, __LINE__, "count %s: %s", coll, error.message);
    }
    return n;
}

/* The offset document as the server has it (NULL when none). */
static bson_t *
offset_doc(const fixture *f, const char *pipeline)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(pipeline));
    mongoc_collection_t *c = mongoc_client_get_collection(admin, f->db, "binlog_offsets");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, NULL, NULL);
    const bson_t *doc;
    bson_t *ret = NULL;

    if (mongoc_cursor_next(cur, &doc)) {
        ret = bson_copy(doc);
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    bson_destroy(filter);
    return ret;
}

static int64_t
offset_batch(const fixture *f, const char *pipeline)
{
    bson_t *d = offset_doc(f, pipeline);
    bson_iter_t it;
    int64_t b = -1;

    if (d && bson_iter_init_find(&it, d, "batch")) {
        b = bson_iter_as_int64(&it);
    }
    if (d) {
        bson_destroy(d);
    }
    return b;
}

/* Batch @n of pipeline @p: @ndocs row documents of @payload bytes each, for GTID "0-1-<n>"
 * (or @gtid_base + n), offset after it set accordingly. */
static void
make_batch(sdl_batch *b, const char *p, uint64_t n, size_t ndocs, size_t payload,
           uint64_t gtid_base, uint64_t rows_before)
{
    char gtid[64], id[160], *pad = malloc(payload + 1);

    memset(pad, 'x', payload);
    pad[payload] = '\0';
    sdl_batch_init(b);
    b->number = n;
    (void)snprintf(gtid, sizeof(gtid), "0-1-%" PRIu64, gtid_base + n);
    for (size_t i = 0; i < ndocs; i++) {
        bson_t *doc = bson_new();
        (void)snprintf(id, sizeof(id), "%s:%s:%zu", p, gtid, i + 1);
        BSON_APPEND_UTF8(doc, "_id", id);
        BSON_APPEND_UTF8(doc, "op", "insert");
        BSON_APPEND_UTF8(doc, "db", "shop");
        BSON_APPEND_UTF8(doc, "table", "orders");
        bson_t *pk = BCON_NEW("id", BCON_INT64((int64_t)(n * 1000 + i)));
        BSON_APPEND_DOCUMENT(doc, "pk", pk);
        bson_destroy(pk);
        BSON_APPEND_UTF8(doc, "gtid", gtid);
        BSON_APPEND_INT64(doc, "seq", (int64_t)(i + 1));
        BSON_APPEND_DATE_TIME(doc, "ts", 1700000000000 + (int64_t)n * 1000);
        BSON_APPEND_UTF8(doc, "payload", pad);
        sdl_batch_add(b, doc, true);
    }
    b->offset_after.flavor = strdup("mariadb");
    b->offset_after.gtid = strdup(gtid);
    b->offset_after.binlog_file = strdup("binlog.000042");
    b->offset_after.binlog_pos = 1000 + n;
    b->offset_after.batch = n;
    b->offset_after.source_ts_sec = 1700000000 + (int64_t)n;
    b->offset_after.rows_applied = rows_before + ndocs;
    b->clean_staged = true; /* every commit deletes the staged parts (a caught-up writer) */
    free(pad);
}

static void
stage_and_commit(sdl_mongo_writer *w, const sdl_batch *b)
{
    sdl_error err = SDL_ERROR_INIT;

    CHECK_OK(sdl_mongo_writer_stage(w, b, &err), &err);
    CHECK_OK(sdl_mongo_writer_commit(w, b, &err), &err);
}

/* Commits batches 1..n (one row each) of pipeline "main". */
static void
commit_first(sdl_mongo_writer *w, uint64_t n)
{
    for (uint64_t i = 1; i <= n; i++) {
        sdl_batch b;
        make_batch(&b, "main", i, 1, 10, 0, i - 1);
        stage_and_commit(w, &b);
        sdl_batch_done(&b);
    }
}

/* ---- tests ---- */

static void
test_open_replica_set_creates_indexes(void)
{
    fixture f;
    sdl_mongo_writer *w;
    mongoc_collection_t *c;
    mongoc_cursor_t *cur;
    const bson_t *doc;
    char names[512] = "";

    fixture_init(&f, "open", rs_uri);
    w = open_writer(&f, "main");
    c = mongoc_client_get_collection(admin, f.db, "row_changes");
    cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "name")) {
            strncat(names, bson_iter_utf8(&it, NULL), sizeof(names) - strlen(names) - 2);
            strcat(names, " ");
        }
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    CHECK_CONTAINS(names, "ts_1 ");
    CHECK_CONTAINS(names, "db_1_table_1_pk_1 ");
    CHECK_CONTAINS(names, "gtid_1 ");
    c = mongoc_client_get_collection(admin, f.db, "row_changes_staging");
    cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    names[0] = '\0';
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "name")) {
            strncat(names, bson_iter_utf8(&it, NULL), sizeof(names) - strlen(names) - 2);
            strcat(names, " ");
        }
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    CHECK_CONTAINS(names, "created_at_1 ");
    /* Opening again is fine (indexes and collections exist). */
    sdl_mongo_writer_free(w);
    w = open_writer(&f, "main");
    {
        sdl_offset off;
        bool found = true;
        sdl_error err = SDL_ERROR_INIT;
        CHECK_OK(sdl_mongo_writer_load_offset(w, &off, &found, &err), &err);
        CHECK(!found);
        CHECK_U64(off.batch, 0);
        CHECK(off.gtid == NULL);
    }
    CHECK(sdl_mongo_writer_free(w) == NULL);
    CHECK(sdl_mongo_writer_free(NULL) == NULL);
}

static void
test_open_standalone_is_a_clear_permanent_error(void)
{
    fixture f;
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;

    if (!standalone_uri) {
        fail_at(__FILE__, __LINE__, "no standalone server URI given (argv[2])");
    }
    fixture_init(&f, "standalone", standalone_uri);
    CHECK(!sdl_mongo_writer_open(&f.cfg, "main", &w, &err));
    CHECK(w == NULL);
    CHECK(!err.transient);
    CHECK(err.code == SDL_E_CONFIG);
    CHECK_CONTAINS(err.message, "is a standalone server: sdl needs a replica set for transactions");
}

static void
test_open_unreachable_is_transient_and_masked(void)
{
    fixture f;
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;

    fixture_init(&f, "unreachable", "mongodb://sdl:" SECRET "@127.0.0.1:9/?replicaSet=rs0");
    f.cfg.connect_timeout_usec = 500000;
    CHECK(!sdl_mongo_writer_open(&f.cfg, "main", &w, &err));
    CHECK(err.transient);
    CHECK(err.code == SDL_E_SINK);
    CHECK(strstr(err.message, SECRET) == NULL);
    CHECK_CONTAINS(err.message, "mongodb://sdl:****@127.0.0.1:9/");

    fixture_init(&f, "invalid", "mongodb://sdl:" SECRET "@/?replicaSet=rs0");
    CHECK(!sdl_mongo_writer_open(&f.cfg, "main", &w, &err));
    CHECK(!err.transient);
    CHECK(err.code == SDL_E_CONFIG);
    CHECK(strstr(err.message, SECRET) == NULL);
    CHECK_CONTAINS(err.message, "target URI mongodb://sdl:****@/");

    f.cfg.uri = NULL;
    CHECK(!sdl_mongo_writer_open(&f.cfg, "main", &w, &err));
    CHECK(err.code == SDL_E_CONFIG);
}

static void
check_offset(const fixture *f, uint64_t n, uint64_t rows_applied)
{
    bson_t *d = offset_doc(f, "main");
    bson_iter_t it;
    char gtid[32];

    CHECK(d != NULL);
    (void)snprintf(gtid, sizeof(gtid), "0-1-%" PRIu64, n);
    CHECK(bson_iter_init_find(&it, d, "batch") && BSON_ITER_HOLDS_INT64(&it));
    CHECK_U64(bson_iter_int64(&it), n);
    CHECK(bson_iter_init_find(&it, d, "gtid"));
    CHECK_STR(bson_iter_utf8(&it, NULL), gtid);
    CHECK(bson_iter_init_find(&it, d, "flavor"));
    CHECK_STR(bson_iter_utf8(&it, NULL), "mariadb");
    CHECK(bson_iter_init_find(&it, d, "partial") && BSON_ITER_HOLDS_NULL(&it));
    CHECK(bson_iter_init_find(&it, d, "source_ts") && BSON_ITER_HOLDS_DATE_TIME(&it));
    CHECK_U64(bson_iter_date_time(&it), (1700000000 + n) * 1000);
    CHECK(bson_iter_init_find(&it, d, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
    CHECK(bson_iter_init_find(&it, d, "rows_applied"));
    CHECK_U64(bson_iter_as_int64(&it), rows_applied);
    CHECK(bson_iter_init(&it, d) && bson_iter_find_descendant(&it, "binlog.file", &it));
    CHECK_STR(bson_iter_utf8(&it, NULL), "binlog.000042");
    CHECK(bson_iter_init(&it, d) && bson_iter_find_descendant(&it, "binlog.pos", &it));
    CHECK_U64(bson_iter_as_int64(&it), 1000 + n);
    bson_destroy(d);
}

static void
test_stage_and_commit_batches_1_to_3(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    uint64_t rows = 0;

    fixture_init(&f, "batches", rs_uri);
    w = open_writer(&f, "main");
    for (uint64_t n = 1; n <= 3; n++) {
        sdl_batch b;
        sdl_offset off;
        bool found = false;
        make_batch(&b, "main", n, 5 * n, 100, 0, rows);
        CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
        /* A retried stage rewrites the same part. */
        CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
        CHECK_U64(count(&f, "row_changes_staging", NULL), 1);
        CHECK_U64(count(&f, "row_changes", NULL), rows);
        CHECK_OK(sdl_mongo_writer_commit(w, &b, &err), &err);
        rows += 5 * n;
        CHECK_U64(count(&f, "row_changes", NULL), rows);
        CHECK_U64(count(&f, "row_changes_staging", NULL), 0);
        check_offset(&f, n, rows);
        CHECK_OK(sdl_mongo_writer_load_offset(w, &off, &found, &err), &err);
        CHECK(found);
        CHECK_U64(off.batch, n);
        CHECK_STR(off.gtid, b.offset_after.gtid);
        CHECK_STR(off.flavor, "mariadb");
        CHECK(off.partial_gtid == NULL);
        CHECK_STR(off.binlog_file, "binlog.000042");
        CHECK_U64(off.binlog_pos, 1000 + n);
        CHECK_U64(off.source_ts_sec, 1700000000 + n);
        CHECK_U64(off.rows_applied, rows);
        sdl_offset_done(&off);
        sdl_batch_done(&b);
    }
    /* A split transaction's partial offset round-trips. */
    {
        sdl_batch b;
        sdl_offset off, copy;
        bool found;
        make_batch(&b, "main", 4, 2, 10, 0, rows);
        b.offset_after.partial_gtid = strdup("0-1-5");
        b.offset_after.partial_seq = 2;
        stage_and_commit(w, &b);
        rows += 2;
        CHECK_OK(sdl_mongo_writer_load_offset(w, &off, &found, &err), &err);
        CHECK_STR(off.partial_gtid, "0-1-5");
        CHECK_U64(off.partial_seq, 2);
        sdl_offset_copy(&copy, &off);
        sdl_offset_done(&off);
        CHECK_STR(copy.partial_gtid, "0-1-5");
        CHECK_U64(copy.rows_applied, rows);
        sdl_offset_done(&copy);
        CHECK(copy.gtid == NULL);
        sdl_batch_done(&b);
    }
    {
        sdl_target_status st;
        CHECK_OK(sdl_mongo_writer_status(w, &st, &err), &err);
        CHECK(st.have_offset);
        CHECK_U64(st.offset.batch, 4);
        CHECK(st.offset_updated_at_ms > 1700000000000);
        CHECK_U64(st.staged_batches, 0);
        CHECK_U64(st.staged_documents, 0);
        CHECK_U64(st.oldest_staged_ms, 0);
        sdl_target_status_done(&st);
    }
    sdl_mongo_writer_free(w);
}

static void
test_fencing_second_writer(void)
{
    fixture f;
    sdl_mongo_writer *a, *b;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch ba, bb;

    fixture_init(&f, "fencing", rs_uri);
    a = open_writer(&f, "main");
    b = open_writer(&f, "main");

    /* Batch 1 on a fresh pipeline, twice with different rows: the offset insert collides. */
    make_batch(&ba, "main", 1, 3, 10, 0, 0);
    make_batch(&bb, "main", 1, 3, 10, 100, 0);
    stage_and_commit(a, &ba);
    CHECK_OK(sdl_mongo_writer_stage(b, &bb, &err), &err);
    CHECK(!sdl_mongo_writer_commit(b, &bb, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "fencing");
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-101\"}"), 0);
    CHECK_U64(offset_batch(&f, "main"), 1);
    sdl_batch_done(&ba);
    sdl_batch_done(&bb);

    /* Batch 2 committed by a; b's own batch 2 (other rows): the fence matches nothing. */
    make_batch(&ba, "main", 2, 3, 10, 0, 3);
    make_batch(&bb, "main", 2, 3, 10, 100, 3);
    stage_and_commit(a, &ba);
    CHECK_OK(sdl_mongo_writer_stage(b, &bb, &err), &err);
    CHECK(!sdl_mongo_writer_commit(b, &bb, &err));
    CHECK(!err.transient);
    CHECK(err.code == SDL_E_SINK);
    CHECK_CONTAINS(err.message, "fencing: the offset update fenced on batch 1 matched nothing; the "
                                "offset of pipeline 'main' names batch 2, expected 1");
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-102\"}"), 0);
    CHECK_U64(count(&f, "row_changes", NULL), 6);
    CHECK_U64(offset_batch(&f, "main"), 2);

    /* b replays a's batch 2 (same rows): the duplicate row _id stops it too. */
    CHECK(!sdl_mongo_writer_commit(b, &ba, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "fencing: a row_changes document already exists");
    CHECK_U64(count(&f, "row_changes", NULL), 6);
    sdl_batch_done(&ba);
    sdl_batch_done(&bb);
    sdl_mongo_writer_free(a);
    sdl_mongo_writer_free(b);
}

static void
test_duplicate_row_id_is_permanent_and_writes_nothing(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b;
    mongoc_collection_t *c;
    bson_error_t error;

    fixture_init(&f, "dupkey", rs_uri);
    w = open_writer(&f, "main");
    commit_first(w, 1);
    /* A row of batch 2 already exists (written by someone else). */
    make_batch(&b, "main", 2, 4, 10, 0, 1);
    c = mongoc_client_get_collection(admin, f.db, "row_changes");
    CHECK(mongoc_collection_insert_one(c, b.docs[2], NULL, NULL, &error));
    mongoc_collection_destroy(c);
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "a row_changes document already exists");
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-2\"}"), 1); /* only the intruder */
    CHECK_U64(offset_batch(&f, "main"), 1);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 1); /* still staged */
    sdl_batch_done(&b);

    /* Two documents of one batch with the same _id. */
    make_batch(&b, "main", 2, 2, 10, 10, 1);
    bson_t *dup = bson_copy(b.docs[0]);
    sdl_batch_add(&b, dup, true);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    CHECK(!err.transient);
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-12\"}"), 0);
    sdl_batch_done(&b);
    sdl_mongo_writer_free(w);
}

static void
test_transient_error_on_insert_applies_nothing(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b;

    fixture_init(&f, "tte", rs_uri);
    w = open_writer(&f, "main");
    commit_first(w, 1);
    make_batch(&b, "main", 2, 3, 10, 0, 1);
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    failpoint("{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
              "{\"failCommands\": [\"insert\"], \"errorCode\": 112, \"appName\": \"%s\"}}",
              f.app);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    failpoint_off();
    CHECK(err.transient);
    CHECK_CONTAINS(err.message, "TransientTransactionError");
    CHECK_U64(count(&f, "row_changes", NULL), 1);
    CHECK_U64(offset_batch(&f, "main"), 1);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 1);
    /* The caller retries: applied once. */
    CHECK_OK(sdl_mongo_writer_commit(w, &b, &err), &err);
    CHECK_U64(count(&f, "row_changes", NULL), 4);
    CHECK_U64(offset_batch(&f, "main"), 2);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 0);

    /* A connection closed under the offset write (findAndModify): transient too (TTE from
     * libmongoc). */
    sdl_batch_done(&b);
    make_batch(&b, "main", 3, 3, 10, 0, 4);
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    failpoint("{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
              "{\"failCommands\": [\"findAndModify\"], \"closeConnection\": true, \"appName\": "
              "\"%s\"}}",
              f.app);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    failpoint_off();
    CHECK(err.transient);
    CHECK_U64(count(&f, "row_changes", NULL), 4);
    CHECK_U64(offset_batch(&f, "main"), 2);
    CHECK_OK(sdl_mongo_writer_commit(w, &b, &err), &err);
    CHECK_U64(count(&f, "row_changes", NULL), 7);
    sdl_batch_done(&b);
    sdl_mongo_writer_free(w);
}

/* commitTransaction faults: @data is the failCommand data (without appName), @times its
 * count. The commit must end applied exactly once: either reported committed, or (when
 * @expect_transient) a transient error and then a successful retry. */
static void
commit_under_fault(const char *name, const char *data, int times, bool expect_transient)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b;
    bool ok;

    fixture_init(&f, name, rs_uri);
    w = open_writer(&f, "main");
    commit_first(w, 2);
    make_batch(&b, "main", 3, 4, 10, 0, 2);
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    failpoint("{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": %d}, \"data\": "
              "{\"failCommands\": [\"commitTransaction\"], %s, \"appName\": \"%s\"}}",
              times, data, f.app);
    ok = sdl_mongo_writer_commit(w, &b, &err);
    failpoint_off();
    if (expect_transient) {
        if (ok) {
            fail_at(__FILE__, __LINE__, "%s: commit succeeded, expected a transient error", name);
        }
        CHECK(err.transient);
        CHECK_U64(count(&f, "row_changes", NULL), 2);
        CHECK_U64(offset_batch(&f, "main"), 2);
        CHECK_OK(sdl_mongo_writer_commit(w, &b, &err), &err);
    } else if (!ok) {
        fail_at(__FILE__, __LINE__, "%s: commit failed: %s", name, err.message);
    }
    CHECK_U64(count(&f, "row_changes", NULL), 6);
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-3\"}"), 4);
    CHECK_U64(offset_batch(&f, "main"), 3);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 0);
    /* The next batch follows normally. */
    sdl_batch_done(&b);
    make_batch(&b, "main", 4, 1, 10, 0, 6);
    stage_and_commit(w, &b);
    CHECK_U64(offset_batch(&f, "main"), 4);
    sdl_batch_done(&b);
    sdl_mongo_writer_free(w);
}

static void
test_commit_connection_closed_once(void)
{
    /* libmongoc retries the commit once by itself. */
    commit_under_fault("close1", "\"closeConnection\": true", 1, false);
}

static void
test_commit_connection_closed_twice_explicit_retry(void)
{
    /* libmongoc's own retry fails too (UnknownTransactionCommitResult): sdl retries. */
    commit_under_fault("close2", "\"closeConnection\": true", 2, false);
}

static void
test_commit_connection_closed_always_settles_not_committed(void)
{
    /* Every commit attempt is refused before it runs: the offset says "not committed". */
    commit_under_fault("close9", "\"closeConnection\": true", 20, true);
}

static void
test_commit_applied_reply_lost_write_concern_error(void)
{
    /* The commit runs, then a writeConcernError: UTCR; the retried commit is idempotent. */
    commit_under_fault("wce1",
                       "\"writeConcernError\": {\"code\": 64, \"errmsg\": \"waiting for "
                       "replication timed out\"}",
                       1, false);
}

static void
test_commit_applied_every_reply_lost_settles_committed(void)
{
    /* Every commit reply carries a writeConcernError: settled by the offset (batch n). */
    commit_under_fault("wce9",
                       "\"writeConcernError\": {\"code\": 64, \"errmsg\": \"waiting for "
                       "replication timed out\"}",
                       20, false);
}

static void
test_commit_unknown_result_retryable_error(void)
{
    /* ShutdownInProgress with RetryableWriteError twice: libmongoc retries once, then UTCR. */
    commit_under_fault("utcr", "\"errorCode\": 91, \"errorLabels\": [\"RetryableWriteError\"]", 2,
                       false);
}

static void
test_commit_no_such_transaction_is_transient(void)
{
    /* NoSuchTransaction (the server aborted it) on commit: TTE, not committed. */
    commit_under_fault("nosuchtxn", "\"errorCode\": 251", 1, true);
}

static void
test_deferred_staging_cleanup(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b;

    fixture_init(&f, "cleanup", rs_uri);
    w = open_writer(&f, "main");
    {
        /* another pipeline's staged batch 1: never touched by main's cleanups */
        fixture g = f;
        sdl_mongo_writer *other = open_writer(&g, "other");
        make_batch(&b, "other", 1, 1, 10, 0, 0);
        CHECK_OK(sdl_mongo_writer_stage(other, &b, &err), &err);
        sdl_batch_done(&b);
        sdl_mongo_writer_free(other);
    }
    /* batches 1..3 committed under load: rows and offset only, their staged parts stay */
    for (uint64_t n = 1; n <= 3; n++) {
        make_batch(&b, "main", n, 2, 10, 0, 2 * (n - 1));
        b.clean_staged = false;
        stage_and_commit(w, &b);
        sdl_batch_done(&b);
        CHECK_U64(count(&f, "row_changes_staging", "{\"_id.pipeline\": \"main\"}"), n);
    }
    CHECK_U64(count(&f, "row_changes", NULL), 6);
    check_offset(&f, 3, 6);
    {
        /* sdl status counts only the batch not committed yet as staged */
        sdl_target_status st;
        make_batch(&b, "main", 4, 2, 10, 0, 6);
        CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
        CHECK_OK(sdl_mongo_writer_status(w, &st, &err), &err);
        CHECK_U64(st.staged_batches, 1);
        CHECK_U64(st.staged_documents, 2);
        CHECK_U64(st.committed_staged_batches, 3);
        sdl_target_status_done(&st);
    }
    /* batch 4, the last of the burst: its commit deletes every staged part up to 4 */
    CHECK_OK(sdl_mongo_writer_commit(w, &b, &err), &err);
    sdl_batch_done(&b);
    CHECK_U64(count(&f, "row_changes_staging", "{\"_id.pipeline\": \"main\"}"), 0);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 1); /* the other pipeline's */
    /* batch 5 left, then the cleanup at a clean stop, fenced on batch 5 */
    make_batch(&b, "main", 5, 1, 10, 0, 8);
    b.clean_staged = false;
    stage_and_commit(w, &b);
    sdl_batch_done(&b);
    CHECK_U64(count(&f, "row_changes_staging", "{\"_id.pipeline\": \"main\"}"), 1);
    /* fenced: the offset does not name batch 4 any more: nothing deleted */
    CHECK(!sdl_mongo_writer_clean_staged(w, 4, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "fencing");
    CHECK_U64(count(&f, "row_changes_staging", "{\"_id.pipeline\": \"main\"}"), 1);
    sdl_error_clear(&err);
    CHECK_OK(sdl_mongo_writer_clean_staged(w, 5, &err), &err);
    CHECK_U64(count(&f, "row_changes_staging", "{\"_id.pipeline\": \"main\"}"), 0);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 1);
    check_offset(&f, 5, 9); /* the offset is as it was */
    sdl_mongo_writer_free(w);
}

/* The requests `sdl snapshot` stored in the offset document come back with every commit (the
 * fenced offset write returns the document, DESIGN.md §9); a fenced commit still fails as
 * fenced and leaves them. */
static void
test_commit_returns_snapshot_requests(void)
{
    fixture f;
    sdl_mongo_writer *w, *other;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b;
    const uint8_t *req = NULL;
    size_t len = 0;
    char *const tables[] = {"shop.orders", "shop.*"};
    bson_t arr;
    bson_iter_t it;
    sdl_offset off;
    bool found;

    fixture_init(&f, "requests", rs_uri);
    w = open_writer(&f, "main");
    other = open_writer(&f, "main");
    /* batch 1 creates the offset (no batch 0 here): no requests */
    commit_first(w, 1);
    CHECK(sdl_mongo_writer_committed_requests(w, &req, &len));
    CHECK(req == NULL);
    make_batch(&b, "main", 2, 1, 10, 0, 1);
    stage_and_commit(w, &b);
    sdl_batch_done(&b);
    CHECK(sdl_mongo_writer_committed_requests(w, &req, &len));
    CHECK(req == NULL);
    /* `sdl snapshot` stores a request: the next commit returns it */
    CHECK_OK(sdl_mongo_writer_request_snapshot(other, "r1", tables, 2, &err), &err);
    make_batch(&b, "main", 3, 1, 10, 0, 2);
    stage_and_commit(w, &b);
    sdl_batch_done(&b);
    CHECK(sdl_mongo_writer_committed_requests(w, &req, &len));
    CHECK(req != NULL);
    CHECK(bson_init_static(&arr, req, len));
    CHECK_U64(bson_count_keys(&arr), 1);
    {
        bson_iter_t id;
        CHECK(bson_iter_init(&it, &arr) && bson_iter_find_descendant(&it, "0.id", &id) &&
              BSON_ITER_HOLDS_UTF8(&id));
        CHECK_STR(bson_iter_utf8(&id, NULL), "r1");
        CHECK(bson_iter_init(&it, &arr) && bson_iter_find_descendant(&it, "0.tables.1", &id) &&
              BSON_ITER_HOLDS_UTF8(&id));
        CHECK_STR(bson_iter_utf8(&id, NULL), "shop.*");
    }
    check_offset(&f, 3, 3);
    /* another writer commits batch 4: w's own batch 4 is fenced out, as ever */
    make_batch(&b, "main", 4, 1, 10, 0, 3);
    stage_and_commit(other, &b);
    sdl_batch_done(&b);
    make_batch(&b, "main", 4, 1, 10, 100, 3);
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    CHECK(!err.transient);
    CHECK(err.code == SDL_E_SINK);
    CHECK_CONTAINS(err.message, "fencing: the offset update fenced on batch 3 matched nothing; the "
                                "offset of pipeline 'main' names batch 4, expected 3");
    CHECK(!sdl_mongo_writer_committed_requests(w, &req, &len));
    CHECK_U64(count(&f, "row_changes", "{\"gtid\": \"0-1-104\"}"), 0);
    sdl_batch_done(&b);
    /* the commits left the requests as they were */
    CHECK_OK(sdl_mongo_writer_load_offset(w, &off, &found, &err), &err);
    CHECK(found && off.batch == 4 && off.requests != NULL);
    CHECK(bson_init_static(&arr, off.requests, off.requests_len));
    CHECK_U64(bson_count_keys(&arr), 1);
    sdl_offset_done(&off);
    sdl_mongo_writer_free(w);
    sdl_mongo_writer_free(other);
}

static void
test_staged_list_load_delete_and_incomplete(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b4, b5, loaded;
    sdl_staged_batch *list = NULL;
    size_t n = 0;
    mongoc_collection_t *c;
    bson_error_t error;

    fixture_init(&f, "staged", rs_uri);
    w = open_writer(&f, "main");
    commit_first(w, 3);
    /* Batch 4: 3 parts (12 documents of 2 MiB), then its middle part lost. */
    make_batch(&b4, "main", 4, 12, 2u << 20, 0, 3);
    CHECK_OK(sdl_mongo_writer_stage(w, &b4, &err), &err);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 4);
    c = mongoc_client_get_collection(admin, f.db, "row_changes_staging");
    {
        bson_t *sel = BCON_NEW("_id", "{", "pipeline", BCON_UTF8("main"), "batch", BCON_INT64(4),
                               "part", BCON_INT32(1), "}");
        CHECK(mongoc_collection_delete_one(c, sel, NULL, NULL, &error));
        bson_destroy(sel);
    }
    mongoc_collection_destroy(c);
    /* Batch 5, another pipeline's batch 4: complete. */
    make_batch(&b5, "main", 5, 3, 100, 0, 15);
    b5.offset_after.partial_gtid = strdup("0-1-6");
    b5.offset_after.partial_seq = 7;
    b5.rows = 2; /* one of the documents is a DDL */
    CHECK_OK(sdl_mongo_writer_stage(w, &b5, &err), &err);
    {
        fixture g = f;
        sdl_mongo_writer *other = open_writer(&g, "other");
        sdl_batch ob;
        make_batch(&ob, "other", 4, 1, 10, 0, 0);
        CHECK_OK(sdl_mongo_writer_stage(other, &ob, &err), &err);
        sdl_batch_done(&ob);
        sdl_mongo_writer_free(other);
    }
    CHECK_OK(sdl_mongo_writer_list_staged(w, &list, &n, &err), &err);
    CHECK_U64(n, 2);
    CHECK_U64(list[0].number, 4);
    CHECK_U64(list[0].parts_expected, 4);
    CHECK(list[0].parts_found != list[0].parts_expected);
    CHECK_U64(list[1].number, 5);
    CHECK_U64(list[1].parts_expected, 1);
    CHECK_U64(list[1].parts_found, 1);
    free(list);
    {
        sdl_target_status st;
        CHECK_OK(sdl_mongo_writer_status(w, &st, &err), &err);
        CHECK_U64(st.staged_batches, 2);
        CHECK_U64(st.staged_documents, 12 - 3 + 3); /* part 1 of batch 4 had 3 documents */
        CHECK(st.oldest_staged_ms > 0);
        sdl_target_status_done(&st);
    }
    /* The incomplete batch cannot be loaded. */
    sdl_batch_init(&loaded);
    CHECK(!sdl_mongo_writer_load_staged(w, 4, &loaded, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "staged batch 4 of pipeline 'main' is");
    sdl_batch_done(&loaded);
    sdl_batch_init(&loaded);
    CHECK(!sdl_mongo_writer_load_staged(w, 9, &loaded, &err));
    sdl_batch_done(&loaded);
    /* The complete one comes back identical. */
    sdl_batch_init(&loaded);
    CHECK_OK(sdl_mongo_writer_load_staged(w, 5, &loaded, &err), &err);
    CHECK_U64(loaded.number, 5);
    CHECK_U64(loaded.ndocs, 3);
    CHECK_U64(loaded.rows, 2);
    CHECK_U64(loaded.bytes, b5.bytes);
    for (size_t i = 0; i < 3; i++) {
        CHECK(bson_equal(loaded.docs[i], b5.docs[i]));
    }
    CHECK_STR(loaded.first_gtid, "0-1-5");
    CHECK_STR(loaded.last_gtid, "0-1-5");
    CHECK_U64(loaded.offset_after.batch, 5);
    CHECK_STR(loaded.offset_after.gtid, "0-1-5");
    CHECK_STR(loaded.offset_after.flavor, "mariadb");
    CHECK_STR(loaded.offset_after.partial_gtid, "0-1-6");
    CHECK_U64(loaded.offset_after.partial_seq, 7);
    CHECK_STR(loaded.offset_after.binlog_file, "binlog.000042");
    CHECK_U64(loaded.offset_after.binlog_pos, 1005);
    CHECK_U64(loaded.offset_after.source_ts_sec, 1700000005);
    CHECK_U64(loaded.offset_after.rows_applied, 18);
    /* Recovery's order: delete the incomplete batch, then... batch 5 cannot follow 3. */
    CHECK_OK(sdl_mongo_writer_delete_staged(w, 4, &err), &err);
    CHECK_OK(sdl_mongo_writer_delete_staged(w, 4, &err), &err); /* no-op */
    CHECK(!sdl_mongo_writer_commit(w, &loaded, &err));
    CHECK(!err.transient);
    CHECK_CONTAINS(err.message, "fencing");
    CHECK_OK(sdl_mongo_writer_list_staged(w, &list, &n, &err), &err);
    CHECK_U64(n, 1);
    CHECK_U64(list[0].number, 5);
    free(list);
    CHECK_OK(sdl_mongo_writer_delete_staged(w, 5, &err), &err);
    CHECK_OK(sdl_mongo_writer_list_staged(w, &list, &n, &err), &err);
    CHECK_U64(n, 0);
    free(list);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 1); /* the other pipeline's */
    sdl_batch_done(&loaded);
    sdl_batch_done(&b4);
    sdl_batch_done(&b5);
    sdl_mongo_writer_free(w);
}

static void
test_large_batch_is_split_and_reassembled_in_order(void)
{
    fixture f;
    sdl_mongo_writer *w;
    sdl_error err = SDL_ERROR_INIT;
    sdl_batch b, loaded;
    sdl_staged_batch *list = NULL;
    size_t n = 0;

    fixture_init(&f, "large", rs_uri);
    w = open_writer(&f, "main");
    /* 40 documents of about 700 KiB: about 27 MiB, at most 8 MiB a part -> 4 parts. */
    make_batch(&b, "main", 1, 40, 700u << 10, 0, 0);
    CHECK(b.bytes > (26u << 20));
    CHECK_OK(sdl_mongo_writer_stage(w, &b, &err), &err);
    CHECK_OK(sdl_mongo_writer_list_staged(w, &list, &n, &err), &err);
    CHECK_U64(n, 1);
    CHECK_U64(list[0].parts_expected, 4);
    CHECK_U64(list[0].parts_found, 4);
    free(list);
    sdl_batch_init(&loaded);
    CHECK_OK(sdl_mongo_writer_load_staged(w, 1, &loaded, &err), &err);
    CHECK_U64(loaded.ndocs, 40);
    CHECK_U64(loaded.rows, 40);
    for (size_t i = 0; i < 40; i++) {
        CHECK(bson_equal(loaded.docs[i], b.docs[i]));
    }
    loaded.clean_staged = true; /* as recovery commits it (sdl_commit_staged()) */
    CHECK_OK(sdl_mongo_writer_commit(w, &loaded, &err), &err);
    CHECK_U64(count(&f, "row_changes", NULL), 40);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 0);
    CHECK_U64(offset_batch(&f, "main"), 1);
    sdl_batch_done(&loaded);
    sdl_batch_done(&b);

    /* One document over 16 MiB can be neither staged nor committed: permanent. */
    make_batch(&b, "main", 2, 1, 17u << 20, 0, 40);
    CHECK(!sdl_mongo_writer_stage(w, &b, &err));
    CHECK(!err.transient);
    CHECK(!sdl_mongo_writer_commit(w, &b, &err));
    CHECK(!err.transient);
    CHECK_U64(offset_batch(&f, "main"), 1);
    sdl_batch_done(&b);

    /* An empty batch (offset only) stages one part and commits. */
    make_batch(&b, "main", 2, 0, 0, 0, 40);
    stage_and_commit(w, &b);
    CHECK_U64(offset_batch(&f, "main"), 2);
    CHECK_U64(count(&f, "row_changes_staging", NULL), 0);
    sdl_batch_done(&b);
    sdl_mongo_writer_free(w);
}

/* ---- runner ---- */

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define T(fn)                                                                                      \
    {                                                                                              \
#fn, fn                                                                                    \
    }
static const test_case cases[] = {
    T(test_open_replica_set_creates_indexes),
    T(test_open_standalone_is_a_clear_permanent_error),
    T(test_open_unreachable_is_transient_and_masked),
    T(test_stage_and_commit_batches_1_to_3),
    T(test_fencing_second_writer),
    T(test_duplicate_row_id_is_permanent_and_writes_nothing),
    T(test_transient_error_on_insert_applies_nothing),
    T(test_commit_connection_closed_once),
    T(test_commit_connection_closed_twice_explicit_retry),
    T(test_commit_connection_closed_always_settles_not_committed),
    T(test_commit_applied_reply_lost_write_concern_error),
    T(test_commit_applied_every_reply_lost_settles_committed),
    T(test_commit_unknown_result_retryable_error),
    T(test_commit_no_such_transaction_is_transient),
    T(test_staged_list_load_delete_and_incomplete),
    T(test_large_batch_is_split_and_reassembled_in_order),
    T(test_deferred_staging_cleanup),
    T(test_commit_returns_snapshot_requests),
};

int
main(int argc, char **argv)
{
    const char *filter = getenv("SDL_TEST_FILTER");
    volatile int failed = 0;
    volatile size_t num = 0, planned = 0;
    bson_error_t error;
    char admin_uri[1024];

    if (argc < 2) {
        fprintf(stderr, "usage: %s RS_URI [STANDALONE_URI [DB_PREFIX]]\n", argv[0]);
        return 2;
    }
    rs_uri = argv[1];
    standalone_uri = argc > 2 && argv[2][0] ? argv[2] : NULL;
    if (argc > 3) {
        prefix = argv[3];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    mongoc_init();
    (void)snprintf(admin_uri, sizeof(admin_uri), "%s%sappname=sdltest-admin", rs_uri,
                   strchr(rs_uri, '?') ? "&" : (rs_uri[strlen(rs_uri) - 1] == '/' ? "?" : "/?"));
    admin = mongoc_client_new(admin_uri);
    if (!admin) {
        fprintf(stderr, "invalid URI %s\n", rs_uri);
        return 2;
    }
    (void)mongoc_client_set_error_api(admin, MONGOC_ERROR_API_VERSION_2);
    {
        bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
        if (!mongoc_client_command_simple(admin, "admin", ping, NULL, NULL, &error)) {
            fprintf(stderr, "cannot reach %s: %s\n", rs_uri, error.message);
            return 2;
        }
        bson_destroy(ping);
    }
    for (size_t i = 0; i < SDL_ARRAY_SIZE(cases); i++) {
        if (!filter || strstr(cases[i].name, filter)) {
            planned++;
        }
    }
    printf("TAP version 13\n1..%zu\n", (size_t)planned);
    for (size_t i = 0; i < SDL_ARRAY_SIZE(cases); i++) {
        if (filter && !strstr(cases[i].name, filter)) {
            continue;
        }
        num++;
        if (setjmp(fail_jmp) == 0) {
            cases[i].fn();
            printf("ok %zu - %s\n", (size_t)num, cases[i].name + 5);
        } else {
            failed++;
            printf("not ok %zu - %s\n# %s\n", (size_t)num, cases[i].name + 5, fail_msg);
            /* A failed test may leave its failpoint on. */
            bson_t *off =
                BCON_NEW("configureFailPoint", BCON_UTF8("failCommand"), "mode", BCON_UTF8("off"));
            (void)mongoc_client_command_simple(admin, "admin", off, NULL, NULL, &error);
            bson_destroy(off);
        }
    }
    mongoc_client_destroy(admin);
    mongoc_cleanup();
    return failed ? 1 : 0;
}
