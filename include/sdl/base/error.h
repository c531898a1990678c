/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * error: the one error idiom of sdl. Fallible functions return bool (true = success) and
 * fill a caller-owned sdl_error. Context is added while unwinding with sdl_error_prefix(),
 * so a message reads top-down: "reading binlog: event at 'binlog.000001':1234: truncated".
 *
 * @err may be NULL everywhere; setters then do nothing. Success paths never touch @err.
 * Retry policy is data: err->transient is set by the adapter that knows the vendor.
 * Never logs. Thread-safe (no shared state).
 */

#include <stdbool.h>

#include "sdl/base/macros.h"

#define SDL_ERROR_CODES(X)                                                                         \
    X(OK, "success")                                                                               \
    X(IO, "I/O error")                                                                             \
    X(PROTOCOL, "malformed data from the source")                                                  \
    X(UNSUPPORTED, "event, type or setting sdl cannot handle")                                     \
    X(SOURCE, "MySQL/MariaDB server error")                                                        \
    X(SINK, "MongoDB error")                                                                       \
    X(CONFIG, "invalid configuration")                                                             \
    X(SCHEMA, "row image does not match the tracked schema")                                       \
    X(TIMEOUT, "deadline exceeded")                                                                \
    X(CANCELLED, "shutdown requested")                                                             \
    X(INVALID, "invalid argument")                                                                 \
    X(DATA, "a change sdl cannot replicate or store")

typedef enum sdl_errc {
#define SDL_X_ENUM(name, text) SDL_E_##name,
    SDL_ERROR_CODES(SDL_X_ENUM)
#undef SDL_X_ENUM
        SDL_E_COUNT
} sdl_errc;

typedef struct sdl_error {
    sdl_errc code;
    bool transient;    /* retrying the same operation later may succeed */
    int sys_errno;     /* errno or server error number; 0 if none */
    char message[512]; /* "context: context: cause" */
} sdl_error;

#define SDL_ERROR_INIT                                                                             \
    {                                                                                              \
        SDL_E_OK, false, 0,                                                                        \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Sets code and message; clears transient and sys_errno. */
SDL_PRINTF(3, 4) void sdl_error_set(sdl_error *err, sdl_errc code, const char *fmt, ...);

/* Like sdl_error_set() and marks the error transient. */
SDL_PRINTF(3, 4) void sdl_error_set_transient(sdl_error *err, sdl_errc code, const char *fmt, ...);

/* Prepends "<formatted>: " to the message, truncating the tail if needed. */
SDL_PRINTF(2, 3) void sdl_error_prefix(sdl_error *err, const char *fmt, ...);

/* Resets to SDL_E_OK with an empty message. */
void sdl_error_clear(sdl_error *err);

/* "PROTOCOL", "CONFIG", ... for a code; "UNKNOWN" when out of range. */
const char *sdl_errc_name(sdl_errc code);

/* The process exit status for a final error: 78 (EX_CONFIG) for CONFIG, 65 (EX_DATAERR) for
 * DATA (restarting cannot help: the unit's RestartPreventExitStatus= lists both), else 1. */
int sdl_error_exit_status(const sdl_error *err);
