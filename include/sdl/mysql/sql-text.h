/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * redact: removes credentials from SQL statement text before sdl stores or prints it.
 * Account statements reach the binlog as DDL with their passwords in clear
 * (CREATE USER ... IDENTIFIED BY 'pw', ALTER USER, GRANT ... IDENTIFIED BY, SET PASSWORD
 * ... = PASSWORD('pw'), IDENTIFIED WITH plugin AS 'hash', CHANGE MASTER ... PASSWORD='pw').
 * The quoted literal after each of those keywords is replaced by '<redacted>'; everything
 * else is kept byte for byte. Quoting rules follow MySQL (backslash escapes and doubled
 * quotes, ' and " strings, `identifiers`).
 *
 * Never logs; pure function.
 */

#include <stdbool.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"

/* Returns @stmt itself when nothing needed redacting, else a redacted copy in @arena. */
sdl_bytes sdl_redact_statement(sdl_bytes stmt, sdl_arena *arena);
