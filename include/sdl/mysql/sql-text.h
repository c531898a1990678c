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
 * sdl_statement_classify() tells what a QUERY event's statement is: a transaction marker, a
 * DDL (schema, accounts, routines: statements that change no row in a way the binlog would
 * log as rows), or a statement-based row change (INSERT, UPDATE, ... logged as text because
 * a session used binlog_format=STATEMENT or MIXED), which sdl refuses: it replicates row
 * events only and never guesses what a statement changed. Anything it does not recognise is
 * UNKNOWN, never guessed to be harmless. Leading comments are skipped; the code inside
 * MySQL's executable comments (slash, star, '!' and a version; MariaDB's 'M!') counts.
 *
 * Never logs; pure functions.
 */

#include <stdbool.h>
#include <stddef.h>

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
 * Finds the first object a DDL statement changes (comments read through, as below):
 * CREATE/ALTER/DROP/TRUNCATE/RENAME TABLE, CREATE/DROP INDEX ... ON, CREATE/ALTER/DROP
 * DATABASE|SCHEMA (views, triggers and routines are not tables: unknown). Names may be `quoted` (``
 * is a literal backquote) and qualified (db.table). Views borrow @stmt, @default_db or @arena
 * (unquoted names). Returns false when the statement names no table or database sdl recognises.
 */
bool sdl_ddl_target_parse(sdl_bytes stmt, sdl_bytes default_db, sdl_arena *arena,
                          sdl_ddl_target *ret_target);

/* Every table (or the database) a DDL statement changes, in statement order, at most @max
 * into @out: all of DROP TABLE a, b and both sides of each RENAME TABLE a TO b pair; one for
 * the other forms above. Leading comments and `SET STATEMENT ... FOR` are read through.
 * Returns how many it found (0: none sdl recognises). */
size_t sdl_ddl_targets_parse(sdl_bytes stmt, sdl_bytes default_db, sdl_arena *arena,
                             sdl_ddl_target *out, size_t max);

typedef enum sdl_statement_kind {
    SDL_STATEMENT_UNKNOWN = 0, /* nothing sdl recognises: never guessed */
    SDL_STATEMENT_BEGIN,       /* BEGIN, START TRANSACTION */
    SDL_STATEMENT_COMMIT,      /* COMMIT */
    SDL_STATEMENT_ROLLBACK,    /* ROLLBACK (not ROLLBACK TO) */
    SDL_STATEMENT_SAVEPOINT,   /* SAVEPOINT, ROLLBACK TO [SAVEPOINT], RELEASE SAVEPOINT */
    SDL_STATEMENT_XA,          /* XA START/END/PREPARE/COMMIT/ROLLBACK */
    SDL_STATEMENT_DDL,         /* CREATE, ALTER, DROP, RENAME, TRUNCATE, GRANT, REVOKE, ANALYZE,
                                * OPTIMIZE, REPAIR, FLUSH, INSTALL, UNINSTALL, SET PASSWORD,
                                * SET DEFAULT ROLE */
    SDL_STATEMENT_DML,         /* INSERT, UPDATE, DELETE, REPLACE, LOAD DATA, CALL, DO, SELECT,
                                * WITH, HANDLER, VALUES, TABLE */
} sdl_statement_kind;

/* What @stmt is (see above). `SET STATEMENT var=value[, ...] FOR <statement>` is what
 * <statement> is. */
sdl_statement_kind sdl_statement_classify(sdl_bytes stmt);

/* The statement's first words for messages, NUL-terminated in @buf (@cap > 0 bytes): leading
 * comments skipped, then at most five identifiers, keywords and dots, stopping at the first
 * literal or other punctuation, so no value of the statement is quoted ("INSERT INTO shop.t
 * VALUES"). Control characters never appear. Returns @buf. */
const char *sdl_statement_head(sdl_bytes stmt, char *buf, size_t cap);
