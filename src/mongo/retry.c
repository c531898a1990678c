/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retry: transient or permanent, from libmongoc's error domain and code and the server's
 * reply (labels, codes). See retry.h for the rules; the code lists follow mongod's
 * RetriableError category, its TransientTransactionError rules and the transactions and
 * retryable-writes specifications (notes: /work/shared/notes/mongo-fake.md §5).
 */
#include "sdl/mongo/retry.h"

#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

static bool
iter_int32(const bson_iter_t *it, int32_t *ret)
{
    if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it) || BSON_ITER_HOLDS_DOUBLE(it)) {
        int64_t v = bson_iter_as_int64(it);
        if (v >= INT32_MIN && v <= INT32_MAX) {
            *ret = (int32_t)v;
            return true;
        }
    }
    return false;
}

/* Code of the first writeErrors entry, or of writeConcernError (@wce). */
static int32_t
reply_code(const bson_t *reply, const char *where)
{
    bson_iter_t it, child;
    int32_t code = 0;

    if (!reply || !bson_iter_init_find(&it, reply, where)) {
        return 0;
    }
    if (strcmp(where, "code") == 0) {
        return iter_int32(&it, &code) ? code : 0;
    }
    if (BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child)) {
        /* writeErrors: [{index, code, errmsg}, ...] */
        while (bson_iter_next(&child)) {
            bson_iter_t entry;
            if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &entry) &&
                bson_iter_find(&entry, "code") && iter_int32(&entry, &code)) {
                return code;
            }
        }
        return 0;
    }
    if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &child) &&
        bson_iter_find(&child, "code") && iter_int32(&child, &code)) {
        return code; /* writeConcernError: {code, errmsg} */
    }
    return 0;
}

static bool
domain_has_server_codes(uint32_t domain)
{
    return domain == MONGOC_ERROR_SERVER || domain == MONGOC_ERROR_QUERY ||
           domain == MONGOC_ERROR_COMMAND || domain == MONGOC_ERROR_WRITE_CONCERN;
}

int32_t
sdl_mongo_error_server_code(const bson_error_t *error, const bson_t *reply)
{
    int32_t code;

    if ((code = reply_code(reply, "code")) != 0 || (code = reply_code(reply, "writeErrors")) != 0 ||
        (code = reply_code(reply, "writeConcernError")) != 0) {
        return code;
    }
    if (error && domain_has_server_codes(error->domain) && error->code <= INT32_MAX) {
        return (int32_t)error->code;
    }
    return 0;
}

bool
sdl_mongo_error_has_label(const bson_t *reply, const char *label)
{
    return reply && !bson_empty(reply) && mongoc_error_has_label(reply, label);
}

static bool
is_duplicate_key_code(int32_t code)
{
    return code == SDL_MONGO_DUPLICATE_KEY || code == 11001 || code == 12582;
}

bool
sdl_mongo_error_is_duplicate_key(const bson_error_t *error, const bson_t *reply)
{
    bson_iter_t it, child;

    if (is_duplicate_key_code(sdl_mongo_error_server_code(error, reply))) {
        return true;
    }
    if (reply && bson_iter_init_find(&it, reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            bson_iter_t entry;
            int32_t code = 0;
            if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &entry) &&
                bson_iter_find(&entry, "code") && iter_int32(&entry, &code) &&
                is_duplicate_key_code(code)) {
                return true;
            }
        }
    }
    return false;
}

static bool
is_network_domain(const bson_error_t *error)
{
    return error && (error->domain == MONGOC_ERROR_STREAM ||
                     error->domain == MONGOC_ERROR_SERVER_SELECTION ||
                     (error->domain == MONGOC_ERROR_PROTOCOL &&
                      error->code == MONGOC_ERROR_PROTOCOL_INVALID_REPLY));
}

bool
sdl_mongo_error_is_ambiguous_commit(const bson_error_t *error, const bson_t *reply)
{
    return sdl_mongo_error_has_label(reply, "UnknownTransactionCommitResult") ||
           is_network_domain(error);
}

static bool
is_transient_code(int32_t code)
{
    switch (code) {
    case SDL_MONGO_HOST_UNREACHABLE:
    case SDL_MONGO_HOST_NOT_FOUND:
    case SDL_MONGO_LOCK_TIMEOUT:
    case SDL_MONGO_MAX_TIME_MS_EXPIRED:
    case SDL_MONGO_WRITE_CONCERN_FAILED:
    case SDL_MONGO_NETWORK_TIMEOUT:
    case SDL_MONGO_SHUTDOWN_IN_PROGRESS:
    case SDL_MONGO_WRITE_CONFLICT:
    case SDL_MONGO_READ_CONCERN_MAJORITY_NOT_AVAILABLE_YET:
    case SDL_MONGO_PRIMARY_STEPPED_DOWN:
    case SDL_MONGO_SNAPSHOT_TOO_OLD:
    case SDL_MONGO_SNAPSHOT_UNAVAILABLE:
    case SDL_MONGO_NO_SUCH_TRANSACTION:
    case SDL_MONGO_EXCEEDED_TIME_LIMIT:
    case SDL_MONGO_PREPARED_TRANSACTION_IN_PROGRESS:
    case SDL_MONGO_SOCKET_EXCEPTION:
    case SDL_MONGO_NOT_WRITABLE_PRIMARY:
    case SDL_MONGO_LEGACY_NOT_PRIMARY:
    case SDL_MONGO_INTERRUPTED_AT_SHUTDOWN:
    case SDL_MONGO_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE:
    case SDL_MONGO_NOT_PRIMARY_NO_SECONDARY_OK:
    case SDL_MONGO_NOT_PRIMARY_OR_SECONDARY:
        return true;
    default:
        return false;
    }
}

static const char *const known_labels[] = {
    "TransientTransactionError",
    "UnknownTransactionCommitResult",
    "RetryableWriteError",
};

bool
sdl_mongo_error_classify(const bson_error_t *error, const bson_t *reply, sdl_error *err)
{
    int32_t code = sdl_mongo_error_server_code(error, reply);
    bool transient = false;
    char labels[128];
    size_t n = 0;

    labels[0] = '\0';
    for (size_t i = 0; i < sizeof(known_labels) / sizeof(known_labels[0]); i++) {
        if (sdl_mongo_error_has_label(reply, known_labels[i])) {
            n += (size_t)snprintf(labels + n, sizeof(labels) - n, ", %s", known_labels[i]);
            transient = true;
            if (n >= sizeof(labels)) {
                n = sizeof(labels) - 1;
            }
        }
    }
    if (is_network_domain(error)) {
        transient = true;
    } else if (error && error->domain == MONGOC_ERROR_CLIENT) {
        /* A client that could not get a connection ready may succeed later; authentication,
         * TLS peer and size failures will not. */
        transient = transient || error->code == MONGOC_ERROR_CLIENT_NOT_READY;
    } else if (is_transient_code(code)) {
        transient = true;
    }
    /* A duplicate key or an authorization failure is never made transient by a label. */
    if (sdl_mongo_error_is_duplicate_key(error, reply) || code == SDL_MONGO_UNAUTHORIZED ||
        code == SDL_MONGO_AUTHENTICATION_FAILED ||
        (error && error->domain == MONGOC_ERROR_CLIENT &&
         error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)) {
        transient = false;
    }
    if (err) {
        uint32_t shown = code ? (uint32_t)code : (error ? error->code : 0);
        sdl_error_set(err, SDL_E_SINK, "%s (error %u%s)",
                      error && error->message[0] ? error->message : "MongoDB error", shown, labels);
        err->transient = transient;
        err->sys_errno = (int)shown;
    }
    return transient;
}

bool
sdl_mongo_error_wants_smaller_batch(const sdl_error *err)
{
    if (!err || err->code != SDL_E_SINK) {
        return false;
    }
    switch (err->sys_errno) {
    case SDL_MONGO_TRANSACTION_TOO_LARGE:
    case SDL_MONGO_TRANSACTION_TOO_LARGE_FOR_CACHE:
    case SDL_MONGO_TRANSACTION_EXCEEDED_LIFETIME_LIMIT_SECONDS:
        return true;
    case SDL_MONGO_NO_SUCH_TRANSACTION:
        /* mongod: "... has been aborted because it exceeded transactionLifetimeLimitSeconds" */
        return strstr(err->message, "transactionLifetimeLimitSeconds") != NULL;
    default:
        return false;
    }
}
