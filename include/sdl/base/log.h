/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * log: the one place sdl writes diagnostics. Level-gated macros (the level is checked before
 * formatting) carrying file, line and function.
 *
 * Output: when $JOURNAL_STREAM names our stderr (running under systemd) and sdl is built with
 * libsystemd, records go to the journal with PRIORITY=, CODE_FILE=, CODE_LINE=, CODE_FUNC=
 * and the context fields SDL_PIPELINE=, SDL_GTID=, SDL_TABLE=. Otherwise one line per record
 * on stderr, in the format chosen with sdl_log_set_format() (log.format):
 *   text  "2026-11-23T19:00:00.123456Z sdl[PID] notice: message" (RFC 3339 time, UTC);
 *         when stderr is a journal stream that sdl cannot talk to natively, the time is left
 *         to journald and the line is "<N>sdl[level]: message" (<N>: the syslog priority,
 *         which journald reads)
 *   json  one object per line with the journal's fields (MESSAGE, PRIORITY, CODE_FILE,
 *         CODE_LINE, CODE_FUNC, SYSLOG_IDENTIFIER, SDL_PIPELINE, SDL_GTID, SDL_TABLE, as
 *         strings, as `journalctl -o json` shows them) plus TIMESTAMP (RFC 3339) and LEVEL
 *
 * Only src/daemon/ logs at notice or above; other areas return errors and may log at debug.
 * Never pass secrets: callers mask them first.
 * Threading: safe from any thread (one write(2) per record; context is per thread).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"

typedef enum sdl_log_level {
    SDL_LOG_ERROR = 3,   /* syslog LOG_ERR */
    SDL_LOG_WARNING = 4, /* LOG_WARNING */
    SDL_LOG_NOTICE = 5,  /* LOG_NOTICE */
    SDL_LOG_INFO = 6,    /* LOG_INFO */
    SDL_LOG_DEBUG = 7,   /* LOG_DEBUG */
} sdl_log_level;

typedef enum sdl_log_format {
    SDL_LOG_TEXT, /* one line: RFC 3339 time, pid, level, message */
    SDL_LOG_JSON, /* one JSON object per line, the journal's field names */
} sdl_log_format;

extern sdl_log_level sdl_log_max_level;

/* Parses "error", "warning", "notice", "info", "debug". */
SDL_MUST_CHECK bool sdl_log_level_from_string(const char *s, sdl_log_level *ret_level);
const char *sdl_log_level_to_string(sdl_log_level level);

void sdl_log_set_level(sdl_log_level level);
/* The format of stderr records (the journal always gets its native fields). */
void sdl_log_set_format(sdl_log_format format);

/* One stderr record exactly as emitted (with its newline) for @realtime_usec, into @buf of
 * @cap bytes; returns the length (a record that does not fit is cut, ending in a newline).
 * Uses this thread's context. Exposed for tests. */
size_t sdl_log_format_line(sdl_log_format format, bool journal_stream, uint64_t realtime_usec,
                           sdl_log_level level, const char *file, int line, const char *func,
                           const char *msg, char *buf, size_t cap);
/* Chooses journal or stderr output from the environment ($JOURNAL_STREAM). */
void sdl_log_open(void);

/* Per-thread context attached to records as journal fields (and ignored on stderr).
 * Strings are copied; NULL clears. */
void sdl_log_set_context(const char *pipeline, const char *gtid, const char *table);

/* The journal fields of one record, exactly as sent under systemd: MESSAGE=, PRIORITY=,
 * CODE_FILE=, CODE_LINE=, CODE_FUNC=, SYSLOG_IDENTIFIER=sdl, then SDL_PIPELINE=, SDL_GTID=
 * and SDL_TABLE= when this thread's context (sdl_log_set_context()) sets them. Values are
 * truncated to fit SDL_LOG_FIELD_MAX bytes. Exposed for tests. */
#define SDL_LOG_MAX_FIELDS 9
#define SDL_LOG_FIELD_MAX  3200
typedef struct sdl_log_fields {
    int n;
    char field[SDL_LOG_MAX_FIELDS][SDL_LOG_FIELD_MAX];
} sdl_log_fields;
void sdl_log_journal_fields(sdl_log_level level, const char *file, int line, const char *func,
                            const char *msg, sdl_log_fields *ret_fields);

SDL_PRINTF(5, 6)
void sdl_log_internal(sdl_log_level level, const char *file, int line, const char *func,
                      const char *fmt, ...);

#define sdl_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((level) <= sdl_log_max_level) {                                                        \
            sdl_log_internal((level), __FILE__, __LINE__, __func__, __VA_ARGS__);                  \
        }                                                                                          \
    } while (0)

#define log_error(...)   sdl_log(SDL_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) sdl_log(SDL_LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  sdl_log(SDL_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    sdl_log(SDL_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   sdl_log(SDL_LOG_DEBUG, __VA_ARGS__)

SDL_PRINTF(6, 7)
void sdl_log_internal_e(sdl_log_level level, const char *file, int line, const char *func,
                        const sdl_error *err, const char *fmt, ...);

/* The _e variants append ": <err->message>". */
#define sdl_log_e(level, err, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= sdl_log_max_level) {                                                        \
            sdl_log_internal_e((level), __FILE__, __LINE__, __func__, (err), __VA_ARGS__);         \
        }                                                                                          \
    } while (0)
#define log_error_e(err, ...)   sdl_log_e(SDL_LOG_ERROR, err, __VA_ARGS__)
#define log_warning_e(err, ...) sdl_log_e(SDL_LOG_WARNING, err, __VA_ARGS__)
#define log_notice_e(err, ...)  sdl_log_e(SDL_LOG_NOTICE, err, __VA_ARGS__)
#define log_info_e(err, ...)    sdl_log_e(SDL_LOG_INFO, err, __VA_ARGS__)
#define log_debug_e(err, ...)   sdl_log_e(SDL_LOG_DEBUG, err, __VA_ARGS__)
