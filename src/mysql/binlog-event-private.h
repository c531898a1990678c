/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * binlog-event-private: what the files behind include/sdl/mysql/binlog-event.h share:
 * binlog-event.c (simple events, MySQL GTIDs, ROWS headers) and binlog-table-map.c (TABLE_MAP
 * and its optional metadata); binlog-format.c (header, FORMAT_DESCRIPTION, checksums, type
 * names) needs none of it. Not for other modules.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/cursor.h"
#include "sdl/base/error.h"
#include "sdl/mysql/binlog-event.h"

/* Upper bound on columns: MySQL and MariaDB allow at most 4096 per table. */
#define SDL_BINLOG_MAX_COLUMNS 4096

/* Splits the body into post-header and payload, checking the FDE's post-header length. */
SDL_MUST_CHECK bool sdl_binlog_split_body(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                          size_t min_post, sdl_cursor *ret_post,
                                          sdl_cursor *ret_payload, sdl_error *err);

/* Sets "<event type>: truncated @what" (SDL_E_PROTOCOL); returns false. */
bool sdl_binlog_truncated(const sdl_binlog_event *ev, const char *what, sdl_error *err);

/* The table id of a TABLE_MAP or ROWS post-header: 6 bytes, or 4 before MySQL 5.1.4. */
uint64_t sdl_binlog_read_table_id(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                                  sdl_cursor *post);
