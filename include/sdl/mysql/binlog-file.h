/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * binlog-file: reads local binlog files (MySQL and MariaDB, any version with v4 events),
 * one after another, and returns their raw events exactly as binlog-reader returns the
 * network's: header + body + checksum, for the same parsers (binlog-event.h) to check.
 *
 * Framing only: each file must start with the magic "\xfebin"; an event is its 19-byte
 * header's event_size bytes. A file that ends inside a header or inside an event, an
 * event_size below 19 or beyond what the file holds, or an unreadable file is an error
 * naming the file and the byte offset; nothing after the damage is returned. Checksums are
 * the caller's (they depend on the file's FORMAT_DESCRIPTION_EVENT). Connector/C's file
 * mode is not used (it is broken in Debian 12's 3.3.20, see notes).
 *
 * Never logs. Threading: one thread at a time.
 * Lifetime: an event borrows the reader's buffer until the next sdl_binlog_file_next().
 * Memory: one buffer of the largest event read (events are at most 1 GiB; TRANSACTION_PAYLOAD
 * events are compressed, and their contents are streamed by the caller).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"

typedef struct sdl_binlog_file sdl_binlog_file;

/* Largest event accepted: MySQL's and MariaDB's max_allowed_packet limit (1 GiB). */
#define SDL_BINLOG_FILE_MAX_EVENT (1024u * 1024u * 1024u)

/* Opens the first of @npaths files (copied). Errors: SDL_E_IO (cannot open), SDL_E_PROTOCOL
 * (not a binlog file: "bad magic"). */
SDL_MUST_CHECK bool sdl_binlog_file_open(const char *const *paths, size_t npaths,
                                         sdl_binlog_file **ret_reader, sdl_error *err);

/* The next raw event, or *ret_eof after the last event of the last file. *ret_new_file is
 * true for the first event of each file (its FORMAT_DESCRIPTION_EVENT resets the format). */
SDL_MUST_CHECK bool sdl_binlog_file_next(sdl_binlog_file *reader, sdl_bytes *ret_event,
                                         bool *ret_new_file, bool *ret_eof, sdl_error *err);

/* Path of the current file as given, and its base name (what binlog.file records). */
const char *sdl_binlog_file_path(const sdl_binlog_file *reader);
const char *sdl_binlog_file_name(const sdl_binlog_file *reader);
/* Byte offset of the last event returned, and of the byte after it. */
uint64_t sdl_binlog_file_offset(const sdl_binlog_file *reader);
uint64_t sdl_binlog_file_next_offset(const sdl_binlog_file *reader);
/* Events returned so far, over all files. */
uint64_t sdl_binlog_file_events(const sdl_binlog_file *reader);

/* NULL-safe; returns NULL. */
sdl_binlog_file *sdl_binlog_file_free(sdl_binlog_file *reader);
