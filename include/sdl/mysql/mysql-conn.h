/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * mysql-conn: one client connection to the MySQL/MariaDB source through MariaDB
 * Connector/C: authentication, TLS per sdl_source_config, timeouts, the server's flavour and
 * version, ordinary queries (start-up checks, positions, information_schema lookups), and
 * the mapping of client/server error numbers to sdl_error (transient or not, with a message
 * an operator can act on). Only src/mysql/ includes <mysql.h>; the handle is opaque.
 *
 * Never logs. Secrets are never copied into error messages.
 * Threading: one thread at a time per connection.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"

typedef struct sdl_mysql_conn sdl_mysql_conn;

/* Connects. @read_timeout_usec 0 = the library default (none). */
SDL_MUST_CHECK bool sdl_mysql_conn_open(const sdl_source_config *cfg, uint64_t read_timeout_usec,
                                        sdl_mysql_conn **ret_conn, sdl_error *err);

sdl_mysql_conn *sdl_mysql_conn_free(sdl_mysql_conn *conn);

/* "10.11.19-MariaDB-0+deb12u1-log"; borrowed for the connection's lifetime. */
const char *sdl_mysql_conn_server_version(const sdl_mysql_conn *conn);
/* SDL_FLAVOR_MARIADB or SDL_FLAVOR_MYSQL: source.flavor when set, else from the server
 * version. */
sdl_flavor sdl_mysql_conn_flavor(const sdl_mysql_conn *conn);
/* Whether the connection is encrypted, and the TLS version ("TLSv1.3") or NULL. */
const char *sdl_mysql_conn_tls_version(const sdl_mysql_conn *conn);

/* Runs a statement, discarding any result. */
SDL_MUST_CHECK bool sdl_mysql_conn_exec(sdl_mysql_conn *conn, const char *sql, sdl_error *err);

/* Runs a query returning at most one row; the first column's text (NULL for SQL NULL or no
 * row) is stored in *ret_value, which the caller frees. */
SDL_MUST_CHECK bool sdl_mysql_conn_query_value(sdl_mysql_conn *conn, const char *sql,
                                               char **ret_value, sdl_error *err);

/* Runs a query and returns all rows' first @ncols columns as a flat array of strings
 * (row-major; NULL entries for SQL NULL); *ret_nrows rows. Free with
 * sdl_mysql_rows_free(values, nrows * ncols). */
SDL_MUST_CHECK bool sdl_mysql_conn_query_rows(sdl_mysql_conn *conn, const char *sql, unsigned ncols,
                                              char ***ret_values, size_t *ret_nrows,
                                              sdl_error *err);
void sdl_mysql_rows_free(char **values, size_t n);

/* Escapes @s for use inside single quotes in SQL; caller frees. */
char *sdl_mysql_conn_escape(sdl_mysql_conn *conn, const char *s);

/*
 * Start-up checks for replication (DESIGN.md §4): binary logging on, binlog_format=ROW,
 * binlog_row_image=FULL, binlog_row_metadata=FULL (MariaDB ≥ 10.5 / MySQL ≥ 8.0.1), and
 * the privileges sdl needs. Each failure names the setting, its value and the fix.
 */
SDL_MUST_CHECK bool sdl_mysql_conn_check_replication(sdl_mysql_conn *conn, sdl_error *err);

/* Fills @err from the connection's last error, prefixed with @what ("connecting to ..."),
 * classifying it (2002/2003/2006/2013/... transient; 1045 access denied not). */
void sdl_mysql_conn_set_error(sdl_mysql_conn *conn, const char *what, sdl_error *err);

/* Internal to src/mysql: the Connector/C handle (MYSQL *), for the binlog reader. */
void *sdl_mysql_conn_handle(sdl_mysql_conn *conn);
