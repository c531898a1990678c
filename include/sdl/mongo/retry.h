/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * retry: the ONE place that decides whether a MongoDB failure is transient (retrying the
 * same operation later may succeed) or permanent (DESIGN.md §3, STYLE.md: retry decisions
 * come from a classification, not from string matching at call sites).
 *
 * Inputs are what libmongoc reports: the bson_error_t (domain, code, message) and, when there
 * is one, the server reply (code, errorLabels, writeErrors, writeConcernError). Labels win:
 * TransientTransactionError, UnknownTransactionCommitResult and RetryableWriteError are
 * transient. Then codes: network and server-selection failures, not-primary / election /
 * shutdown codes, WriteConflict, LockTimeout, time limits, NoSuchTransaction (only ever seen
 * inside a transaction), write-concern timeouts are transient; everything else (auth,
 * Unauthorized, DuplicateKey, document too large, invalid BSON, client-side state errors) is
 * permanent. The caller owns retries and backoff.
 *
 * Only libbson types here; src/mongo/retry.c reads libmongoc's error domains. Never logs.
 * Thread-safe (pure functions).
 */

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"

/* MongoDB server error codes sdl reasons about (src/mongo/error_codes.yml names). */
enum {
    SDL_MONGO_HOST_UNREACHABLE = 6,
    SDL_MONGO_HOST_NOT_FOUND = 7,
    SDL_MONGO_UNAUTHORIZED = 13,
    SDL_MONGO_AUTHENTICATION_FAILED = 18,
    SDL_MONGO_LOCK_TIMEOUT = 24,
    SDL_MONGO_MAX_TIME_MS_EXPIRED = 50,
    SDL_MONGO_WRITE_CONCERN_FAILED = 64,
    SDL_MONGO_NETWORK_TIMEOUT = 89,
    SDL_MONGO_SHUTDOWN_IN_PROGRESS = 91,
    SDL_MONGO_WRITE_CONFLICT = 112,
    SDL_MONGO_READ_CONCERN_MAJORITY_NOT_AVAILABLE_YET = 134,
    SDL_MONGO_PRIMARY_STEPPED_DOWN = 189,
    SDL_MONGO_SNAPSHOT_TOO_OLD = 239,
    SDL_MONGO_SNAPSHOT_UNAVAILABLE = 246,
    SDL_MONGO_NO_SUCH_TRANSACTION = 251,
    SDL_MONGO_TRANSACTION_TOO_LARGE = 257,
    SDL_MONGO_EXCEEDED_TIME_LIMIT = 262,
    SDL_MONGO_PREPARED_TRANSACTION_IN_PROGRESS = 267,
    SDL_MONGO_TRANSACTION_EXCEEDED_LIFETIME_LIMIT_SECONDS = 290,
    SDL_MONGO_TRANSACTION_TOO_LARGE_FOR_CACHE = 334,
    SDL_MONGO_SOCKET_EXCEPTION = 9001,
    SDL_MONGO_DUPLICATE_KEY = 11000,
    SDL_MONGO_NOT_WRITABLE_PRIMARY = 10107,
    SDL_MONGO_BSON_OBJECT_TOO_LARGE = 10334,
    SDL_MONGO_LEGACY_NOT_PRIMARY = 10058,
    SDL_MONGO_INTERRUPTED_AT_SHUTDOWN = 11600,
    SDL_MONGO_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE = 11602,
    SDL_MONGO_NOT_PRIMARY_NO_SECONDARY_OK = 13435,
    SDL_MONGO_NOT_PRIMARY_OR_SECONDARY = 13436,
};

/* Fills @err (code SDL_E_SINK, message "<libmongoc message> (error N[, label...])",
 * sys_errno = the server code or libmongoc's code, transient as classified) and returns
 * err->transient. @reply may be NULL or empty. @err may be NULL (then only the result). */
bool sdl_mongo_error_classify(const bson_error_t *error, const bson_t *reply, sdl_error *err);

/* True when @reply carries the error label @label (errorLabels array). NULL-safe. */
bool sdl_mongo_error_has_label(const bson_t *reply, const char *label);

/* The server error code that matters: the reply's top-level code, else the first
 * writeErrors[].code, else writeConcernError.code, else error->code when error->domain
 * carries server codes; 0 when none. */
int32_t sdl_mongo_error_server_code(const bson_error_t *error, const bson_t *reply);

/* DuplicateKey (11000/11001/12582) in the error or any writeErrors entry. */
bool sdl_mongo_error_is_duplicate_key(const bson_error_t *error, const bson_t *reply);

/* True when @err (filled by sdl_mongo_error_classify()) says a transaction was too large or
 * ran too long for the server (TransactionTooLarge, TransactionTooLargeForCache,
 * TransactionExceededLifetimeLimitSeconds, or NoSuchTransaction because the server aborted it
 * at transactionLifetimeLimitSeconds): the same batch fails again, a smaller one can pass. */
bool sdl_mongo_error_wants_smaller_batch(const sdl_error *err);

/* The outcome of a failed commitTransaction is unknown: UnknownTransactionCommitResult, or a
 * network / server-selection failure (the command may have run). */
bool sdl_mongo_error_is_ambiguous_commit(const bson_error_t *error, const bson_t *reply);
