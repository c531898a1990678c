/* SPDX-License-Identifier: Apache-2.0 */
/* retry: sdl_mongo_error_classify() on hand-built libmongoc errors and server replies. */
#include <mongoc/mongoc.h>

#include "sdl/mongo/retry.h"

#include "sdltest.h"

static bson_error_t
make_error(uint32_t domain, uint32_t code, const char *msg)
{
    bson_error_t e;

    bson_set_error(&e, domain, code, "%s", msg);
    return e;
}

static bson_t *
reply_json(const char *json)
{
    bson_error_t jerr;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &jerr);

    ASSERT_NOT_NULL(b);
    return b;
}

/* Classifies a server error @code (domain SERVER) with reply @json. */
static bool
server(uint32_t code, const char *json, sdl_error *err)
{
    bson_error_t e = make_error(MONGOC_ERROR_SERVER, code, "server says no");
    bson_t *r = json ? reply_json(json) : NULL;
    bool t = sdl_mongo_error_classify(&e, r, err);

    if (r) {
        bson_destroy(r);
    }
    return t;
}

TEST(retry_network_and_selection_errors_are_transient)
{
    sdl_error err = SDL_ERROR_INIT;
    bson_error_t e;

    e = make_error(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, "socket error or timeout");
    ASSERT_TRUE(sdl_mongo_error_classify(&e, NULL, &err));
    ASSERT_TRUE(err.transient);
    ASSERT_INT_EQ(err.code, SDL_E_SINK);
    ASSERT_STR_CONTAINS(err.message, "socket error or timeout (error ");
    e = make_error(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT, "connection refused");
    ASSERT_TRUE(sdl_mongo_error_classify(&e, NULL, &err));
    e = make_error(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
                   "No suitable servers found");
    ASSERT_TRUE(sdl_mongo_error_classify(&e, NULL, &err));
    ASSERT_TRUE(sdl_mongo_error_is_ambiguous_commit(&e, NULL));
    e = make_error(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, "not ready");
    ASSERT_TRUE(sdl_mongo_error_classify(&e, NULL, NULL));
}

TEST(retry_server_codes)
{
    static const uint32_t transient[] = {6,     7,     24,    50,  64,   89,    91,    112,
                                         134,   189,   251,   262, 9001, 10107, 11600, 11602,
                                         13435, 13436, 10058, 239, 246,  267};
    static const uint32_t permanent[] = {2, 13, 18, 26, 59, 11000, 10334, 17419, 14, 121, 8000};
    sdl_error err = SDL_ERROR_INIT;

    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        if (!server(transient[i], NULL, &err)) {
            sdltest_fail(__FILE__, __LINE__, "code %u should be transient", transient[i]);
        }
        ASSERT_INT_EQ(err.sys_errno, (int)transient[i]);
    }
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++) {
        if (server(permanent[i], NULL, &err)) {
            sdltest_fail(__FILE__, __LINE__, "code %u should be permanent", permanent[i]);
        }
        ASSERT_FALSE(err.transient);
    }
    /* The reply's code wins over the error's. */
    ASSERT_TRUE(server(8000, "{\"ok\": 0, \"code\": 112, \"codeName\": \"WriteConflict\"}", &err));
    ASSERT_INT_EQ(err.sys_errno, 112);
}

TEST(retry_labels)
{
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_TRUE(server(8000, "{\"errorLabels\": [\"TransientTransactionError\"]}", &err));
    ASSERT_STR_CONTAINS(err.message, "server says no (error 8000, TransientTransactionError)");
    ASSERT_TRUE(server(8000, "{\"errorLabels\": [\"UnknownTransactionCommitResult\"]}", &err));
    ASSERT_TRUE(server(8000, "{\"errorLabels\": [\"RetryableWriteError\"]}", &err));
    ASSERT_FALSE(server(8000, "{\"errorLabels\": [\"NoWritesPerformed\"]}", &err));
    ASSERT_FALSE(server(8000, "{\"errorLabels\": []}", &err));
    {
        bson_t *r = reply_json("{\"errorLabels\": [\"A\", \"UnknownTransactionCommitResult\"]}");
        bson_error_t e = make_error(MONGOC_ERROR_WRITE_CONCERN, 64, "waiting for replication");
        ASSERT_TRUE(sdl_mongo_error_has_label(r, "UnknownTransactionCommitResult"));
        ASSERT_FALSE(sdl_mongo_error_has_label(r, "TransientTransactionError"));
        ASSERT_TRUE(sdl_mongo_error_is_ambiguous_commit(&e, r));
        bson_destroy(r);
    }
    ASSERT_FALSE(sdl_mongo_error_has_label(NULL, "x"));
    {
        bson_error_t e = make_error(MONGOC_ERROR_SERVER, 251, "no such transaction");
        bson_t *r = reply_json("{\"errorLabels\": [\"TransientTransactionError\"], \"code\": 251}");
        ASSERT_FALSE(sdl_mongo_error_is_ambiguous_commit(&e, r));
        ASSERT_TRUE(sdl_mongo_error_classify(&e, r, NULL));
        bson_destroy(r);
    }
}

TEST(retry_duplicate_key_and_auth_are_permanent_whatever_the_labels)
{
    sdl_error err = SDL_ERROR_INIT;
    bson_t *r;
    bson_error_t e;

    /* insert_many: ok:1 with writeErrors, error in the SERVER domain with the code. */
    r = reply_json("{\"nInserted\": 0, \"writeErrors\": [{\"index\": 0, \"code\": 11000, "
                   "\"errmsg\": \"E11000 duplicate key\"}]}");
    e = make_error(MONGOC_ERROR_SERVER, 11000, "E11000 duplicate key");
    ASSERT_FALSE(sdl_mongo_error_classify(&e, r, &err));
    ASSERT_TRUE(sdl_mongo_error_is_duplicate_key(&e, r));
    ASSERT_INT_EQ(sdl_mongo_error_server_code(&e, r), 11000);
    bson_destroy(r);
    /* Legacy COMMAND domain, code only in writeErrors. */
    r = reply_json("{\"writeErrors\": [{\"index\": 3, \"code\": 11000}]}");
    e = make_error(MONGOC_ERROR_COMMAND, MONGOC_ERROR_COLLECTION_INSERT_FAILED, "write failed");
    ASSERT_TRUE(sdl_mongo_error_is_duplicate_key(&e, r));
    ASSERT_FALSE(sdl_mongo_error_classify(&e, r, NULL));
    bson_destroy(r);
    /* A label never makes a duplicate key transient. */
    ASSERT_FALSE(server(11000, "{\"errorLabels\": [\"TransientTransactionError\"]}", &err));
    ASSERT_FALSE(server(13, "{\"errorLabels\": [\"RetryableWriteError\"]}", &err));
    e = make_error(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, "Authentication failed.");
    ASSERT_FALSE(sdl_mongo_error_classify(&e, NULL, &err));
    ASSERT_STR_CONTAINS(err.message, "Authentication failed.");
    e = make_error(MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "Document 0 is too large");
    ASSERT_FALSE(sdl_mongo_error_classify(&e, NULL, &err));
    e = make_error(MONGOC_ERROR_TRANSACTION, MONGOC_ERROR_TRANSACTION_INVALID_STATE, "state");
    ASSERT_FALSE(sdl_mongo_error_classify(&e, NULL, &err));
    ASSERT_FALSE(sdl_mongo_error_is_duplicate_key(&e, NULL));
}

TEST(retry_write_concern_errors)
{
    sdl_error err = SDL_ERROR_INIT;
    bson_t *r = reply_json("{\"ok\": 1, \"writeConcernError\": {\"code\": 64, \"errmsg\": "
                           "\"waiting for replication timed out\"}}");
    bson_error_t e = make_error(MONGOC_ERROR_WRITE_CONCERN, 64, "waiting for replication");

    ASSERT_INT_EQ(sdl_mongo_error_server_code(&e, r), 64);
    ASSERT_TRUE(sdl_mongo_error_classify(&e, r, &err));
    bson_destroy(r);
    r = reply_json("{\"ok\": 1, \"writeConcernError\": {\"code\": 100}}");
    e = make_error(MONGOC_ERROR_WRITE_CONCERN, 100, "unsatisfiable");
    ASSERT_FALSE(sdl_mongo_error_classify(&e, r, &err));
    bson_destroy(r);
    ASSERT_INT_EQ(sdl_mongo_error_server_code(NULL, NULL), 0);
}
