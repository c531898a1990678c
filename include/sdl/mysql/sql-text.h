/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * sql-text: what sdl needs to understand of SQL statement text from the binlog.
 *
 * sdl_redact_statement() removes credentials from a statement before sdl stores or prints it.
 * Account statements reach the binlog as DDL with their passwords in clear
 * (CREATE USER ... IDENTIFIED BY 'pw', ALTER USER, GRANT ... IDENTIFIED BY, SET PASSWORD
 * ... = PASSWORD('pw'), IDENTIFIED WITH plugin AS 'hash', CHANGE MASTER ... PASSWORD='pw').
 * The quoted literal after each of those keywords is replaced by '<redacted>'; everything
 * else is kept byte for byte. Quoting rules follow MySQL (backslash escapes and doubled
 * quotes, ' and " strings, `identifiers`).
 *
 * sdl_ddl_target() tells which table (or database) a DDL statement changes, for the table
 * filters and the `table` field of DDL documents.
 *
 * Never logs; pure functions.
 */

#include <stdbool.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"

/* Returns @stmt itself when nothing needed redacting, else a redacted copy in @arena. */
sdl_bytes sdl_redact_statement(sdl_bytes stmt, sdl_arena *arena);

typedef struct sdl_ddl_target {
    sdl_bytes db;    /* database the statement changes (the default database when the name
                      * is unqualified); empty when unknown */
    sdl_bytes table; /* table it changes; empty for database statements or when unknown */
} sdl_ddl_target;

/*
 * Finds the first object a DDL statement changes: CREATE/ALTER/DROP/TRUNCATE/RENAME TABLE,
 * CREATE/DROP INDEX ... ON, CREATE/ALTER/DROP DATABASE|SCHEMA (views, triggers and
 * routines are not tables: unknown). Names may be `quoted` (`` is a literal backquote) and
 * qualified (db.table). Views borrow @stmt, @default_db or @arena (unquoted names).
 * Returns false when the statement names no table or database sdl recognises.
 */
bool sdl_ddl_target_parse(sdl_bytes stmt, sdl_bytes default_db, sdl_arena *arena,
                          sdl_ddl_target *ret_target);
