/* fakemongod-txn-client: drives fakemongod (or a real replica set) with libmongoc 1.23.
 *
 * Usage: fakemongod-txn-client URI
 *   URI must name a replica set, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0
 *
 * Each batch n commits, in one transaction, a row into x.c1 and x.c2 plus the fenced
 * offset update {_id:"p", batch:n-1} -> batch:n (the commit protocol of sdl, DESIGN.md §3).
 * Faults are injected with the failCommand fail point, filtered by this client's appName:
 *   batch 1: none
 *   batch 2: insert fails with WriteConflict (TransientTransactionError)
 *   batch 3: commitTransaction connection closed before it runs
 *   batch 4: commitTransaction applied, then writeConcernError (UnknownTransactionCommitResult)
 *   batch 5: manual loop (no with_transaction): TransientTransactionError on commit, abort, retry
 * and finally it checks that every batch is present exactly once.
 * Prints "ok ..." lines; exits 0 on success, 1 on failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct addrinfo in libmongoc headers under -std=c11 */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#define APP    "fakemongod-txn-client"
#define NBATCH 5

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

typedef struct {
    mongoc_client_t *client;
    int batch;
    int attempts;
} ctx_t;

static bool
set_failpoint(mongoc_client_t *client, const char *json)
{
    bson_error_t err;
    bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &err);
    if (!cmd) {
        fprintf(stderr, "bad failpoint json: %s\n", err.message);
        return false;
    }
    bool ok = mongoc_client_command_simple(client, "admin", cmd, NULL, NULL, &err);
    if (!ok)
        fprintf(stderr, "configureFailPoint failed: %s\n", err.message);
    bson_destroy(cmd);
    return ok;
}

/* Body of one batch: two inserts and the fenced offset update. */
static bool
batch_body(mongoc_client_session_t *cs, void *vctx, bson_t **reply, bson_error_t *error)
{
    ctx_t *ctx = vctx;
    mongoc_client_t *client = mongoc_client_session_get_client(cs);
    mongoc_collection_t *c1 = mongoc_client_get_collection(client, "x", "c1");
    mongoc_collection_t *c2 = mongoc_client_get_collection(client, "x", "c2");
    mongoc_collection_t *off = mongoc_client_get_collection(client, "x", "offsets");
    bson_t opts = BSON_INITIALIZER;
    bson_t r = BSON_INITIALIZER;
    bool ok = false;
    char id[32];
    bson_t *doc = NULL, *sel = NULL, *upd = NULL;

    ctx->attempts++;
    snprintf(id, sizeof id, "b%d", ctx->batch);
    if (!mongoc_client_session_append(cs, &opts, error))
        goto done;
    doc = BCON_NEW("_id", BCON_UTF8(id), "batch", BCON_INT32(ctx->batch));
    if (!mongoc_collection_insert_one(c1, doc, &opts, &r, error))
        goto done;
    bson_reinit(&r);
    if (!mongoc_collection_insert_one(c2, doc, &opts, &r, error))
        goto done;
    bson_reinit(&r);
    /* fencing: matches only if the previous batch is the current offset */
    sel = BCON_NEW("_id", "p", "batch", BCON_INT32(ctx->batch - 1));
    upd = BCON_NEW("$set", "{", "batch", BCON_INT32(ctx->batch), "}");
    if (!mongoc_collection_update_one(off, sel, upd, &opts, &r, error))
        goto done;
    {
        bson_iter_t it;
        int32_t matched = -1;
        if (bson_iter_init_find(&it, &r, "matchedCount"))
            matched = bson_iter_int32(&it);
        if (matched != 1) {
            bson_set_error(error, 1, 1, "fencing: offset update matched %d documents", matched);
            goto done;
        }
    }
    ok = true;
done:
    if (!ok && reply)
        *reply = bson_copy(&r);
    bson_destroy(&r);
    bson_destroy(&opts);
    if (doc)
        bson_destroy(doc);
    if (sel)
        bson_destroy(sel);
    if (upd)
        bson_destroy(upd);
    mongoc_collection_destroy(c1);
    mongoc_collection_destroy(c2);
    mongoc_collection_destroy(off);
    return ok;
}

static bool
run_with_transaction(mongoc_client_t *client, int batch, const char *fp, int min_attempts)
{
    bson_error_t err;
    bson_t reply;
    ctx_t ctx = {client, batch, 0};
    if (fp && !set_failpoint(client, fp))
        CHECK(false, "batch %d: could not set the fail point", batch);
    mongoc_client_session_t *cs = mongoc_client_start_session(client, NULL, &err);
    CHECK(cs, "start_session: %s", err.message);
    bool ok = mongoc_client_session_with_transaction(cs, batch_body, NULL, &ctx, &reply, &err);
    if (!ok) {
        char *j = bson_as_relaxed_extended_json(&reply, NULL);
        fprintf(stderr, "batch %d failed: %s reply=%s\n", batch, err.message, j);
        bson_free(j);
    }
    bson_destroy(&reply);
    mongoc_client_session_destroy(cs);
    set_failpoint(client, "{\"configureFailPoint\": \"failCommand\", \"mode\": \"off\"}");
    CHECK(ok, "batch %d: with_transaction failed", batch);
    CHECK(ctx.attempts >= min_attempts, "batch %d: expected >= %d attempts of the body, saw %d",
          batch, min_attempts, ctx.attempts);
    printf("ok batch %d committed (body attempts: %d)\n", batch, ctx.attempts);
    return true;
}

static bool
has_label(const bson_t *reply, const char *label)
{
    return reply && mongoc_error_has_label(reply, label);
}

/* The loop sdl itself runs (no with_transaction): on TransientTransactionError abort and
 * retry the whole batch; on UnknownTransactionCommitResult retry the commit. */
static bool
run_manual(mongoc_client_t *client, int batch)
{
    bson_error_t err;
    ctx_t ctx = {client, batch, 0};
    bool saw_tte = false;
    CHECK(set_failpoint(
              client,
              "{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
              "{\"failCommands\": [\"commitTransaction\"], \"errorCode\": 251, "
              "\"appName\": \"" APP "\"}}"),
          "failpoint");
    mongoc_client_session_t *cs = mongoc_client_start_session(client, NULL, &err);
    CHECK(cs, "start_session: %s", err.message);
    bool committed = false;
    for (int attempt = 0; attempt < 5 && !committed; attempt++) {
        bson_t *breply = NULL;
        CHECK(mongoc_client_session_start_transaction(cs, NULL, &err), "start_transaction: %s",
              err.message);
        if (!batch_body(cs, &ctx, &breply, &err)) {
            bool tte = has_label(breply, "TransientTransactionError");
            bson_destroy(breply);
            mongoc_client_session_abort_transaction(cs, NULL);
            CHECK(tte, "batch %d: body failed with a non-transient error: %s", batch, err.message);
            continue;
        }
        bson_t creply;
        for (int c = 0; c < 3; c++) {
            if (mongoc_client_session_commit_transaction(cs, &creply, &err)) {
                committed = true;
                bson_destroy(&creply);
                break;
            }
            bool tte = has_label(&creply, "TransientTransactionError");
            bool utcr = has_label(&creply, "UnknownTransactionCommitResult");
            bson_destroy(&creply);
            if (tte) {
                saw_tte = true;
                mongoc_client_session_abort_transaction(cs, NULL);
                break; /* retry the whole batch */
            }
            CHECK(utcr, "batch %d: commit failed permanently: %s", batch, err.message);
        }
    }
    mongoc_client_session_destroy(cs);
    set_failpoint(client, "{\"configureFailPoint\": \"failCommand\", \"mode\": \"off\"}");
    CHECK(committed, "batch %d: never committed", batch);
    CHECK(saw_tte, "batch %d: the injected NoSuchTransaction on commit was not labelled transient",
          batch);
    CHECK(ctx.attempts == 2, "batch %d: expected 2 attempts, saw %d", batch, ctx.attempts);
    printf("ok batch %d committed by the manual loop after TransientTransactionError on commit\n",
           batch);
    return true;
}

static int64_t
count(mongoc_client_t *client, const char *coll, const char *id)
{
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(client, "x", coll);
    bson_t *q = id ? BCON_NEW("_id", BCON_UTF8(id)) : bson_new();
    int64_t n = mongoc_collection_count_documents(c, q, NULL, NULL, NULL, &err);
    if (n < 0)
        fprintf(stderr, "count %s: %s\n", coll, err.message);
    bson_destroy(q);
    mongoc_collection_destroy(c);
    return n;
}

static bool
verify(mongoc_client_t *client)
{
    char id[32];
    for (int b = 1; b <= NBATCH; b++) {
        snprintf(id, sizeof id, "b%d", b);
        CHECK(count(client, "c1", id) == 1, "c1 must hold %s exactly once", id);
        CHECK(count(client, "c2", id) == 1, "c2 must hold %s exactly once", id);
    }
    CHECK(count(client, "c1", NULL) == NBATCH, "c1 must hold %d documents", NBATCH);
    CHECK(count(client, "c2", NULL) == NBATCH, "c2 must hold %d documents", NBATCH);
    mongoc_collection_t *off = mongoc_client_get_collection(client, "x", "offsets");
    bson_t *q = BCON_NEW("_id", "p");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(off, q, NULL, NULL);
    const bson_t *d;
    int32_t batch = -1;
    if (mongoc_cursor_next(cur, &d)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, d, "batch"))
            batch = bson_iter_int32(&it);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    mongoc_collection_destroy(off);
    CHECK(batch == NBATCH, "offset must name batch %d, found %d", NBATCH, batch);
    printf("ok exactly once: %d batches in c1 and c2, offset batch %d\n", NBATCH, batch);
    return true;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s URI\n", argv[0]);
        return 2;
    }
    mongoc_init();
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &err);
    if (!uri) {
        fprintf(stderr, "bad URI: %s\n", err.message);
        return 2;
    }
    mongoc_uri_set_appname(uri, APP);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 10000);
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);

    /* clean slate: drop collections, create the offset document (batch 0) */
    const char *colls[] = {"c1", "c2", "offsets"};
    for (int i = 0; i < 3; i++) {
        mongoc_collection_t *c = mongoc_client_get_collection(client, "x", colls[i]);
        mongoc_collection_drop(c, NULL); /* "ns not found" is fine */
        mongoc_collection_destroy(c);
    }
    {
        mongoc_collection_t *off = mongoc_client_get_collection(client, "x", "offsets");
        bson_t *d = BCON_NEW("_id", "p", "batch", BCON_INT32(0));
        if (!mongoc_collection_insert_one(off, d, NULL, NULL, &err)) {
            fprintf(stderr, "FAIL insert offset: %s\n", err.message);
            return 1;
        }
        bson_destroy(d);
        mongoc_collection_destroy(off);
    }

    run_with_transaction(client, 1, NULL, 1);
    run_with_transaction(
        client, 2,
        "{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
        "{\"failCommands\": [\"insert\"], \"errorCode\": 112, \"appName\": \"" APP "\"}}",
        2);
    run_with_transaction(
        client, 3,
        "{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
        "{\"failCommands\": [\"commitTransaction\"], \"closeConnection\": true, "
        "\"appName\": \"" APP "\"}}",
        1);
    run_with_transaction(
        client, 4,
        "{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1}, \"data\": "
        "{\"failCommands\": [\"commitTransaction\"], \"writeConcernError\": "
        "{\"code\": 64, \"codeName\": \"WriteConcernFailed\", \"errmsg\": \"injected\", "
        "\"errInfo\": {\"wtimeout\": true}}, \"appName\": \"" APP "\"}}",
        1);
    run_manual(client, 5);
    if (!failures)
        verify(client);

    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok all\n");
    return 0;
}
