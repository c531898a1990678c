/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/mysql-conn.h"

#include <errmsg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "sdl/base/alloc.h"

struct sdl_mysql_conn {
    MYSQL *mysql;
    char *endpoint; /* "host:port", for messages */
    sdl_flavor flavor;
};

const char *
sdl_mysql_conn_server_version(const sdl_mysql_conn *conn)
{
    return mysql_get_server_info(conn->mysql);
}

sdl_flavor
sdl_mysql_conn_flavor(const sdl_mysql_conn *conn)
{
    return conn->flavor;
}

const char *
sdl_mysql_conn_tls_version(const sdl_mysql_conn *conn)
{
    return mysql_get_ssl_cipher(conn->mysql) ? mysql_get_ssl_cipher(conn->mysql) : NULL;
}

void *
sdl_mysql_conn_handle(sdl_mysql_conn *conn)
{
    return conn->mysql;
}

/* Client errors that a new connection attempt can cure (errmsg.h). */
static bool
client_error_is_transient(unsigned no)
{
    switch (no) {
    case CR_CONNECTION_ERROR:     /* 2002 */
    case CR_CONN_HOST_ERROR:      /* 2003 */
    case CR_SERVER_GONE_ERROR:    /* 2006 */
    case CR_SERVER_LOST:          /* 2013 */
    case CR_SERVER_LOST_EXTENDED: /* 2055 */
    case CR_IPSOCK_ERROR:         /* 2004 */
    case CR_UNKNOWN_HOST:         /* 2005: DNS may come back */
        return true;
    default:
        return false;
    }
}

static bool
server_error_is_transient(unsigned no)
{
    switch (no) {
    case ER_CON_COUNT_ERROR:   /* 1040 too many connections */
    case ER_SERVER_SHUTDOWN:   /* 1053 */
    case ER_QUERY_INTERRUPTED: /* 1317 */
    case ER_LOCK_WAIT_TIMEOUT: /* 1205 */
    case ER_LOCK_DEADLOCK:     /* 1213 */
    case ER_CONNECTION_KILLED: /* 1927 */
        return true;
    default:
        return false;
    }
}

void
sdl_mysql_conn_set_error(sdl_mysql_conn *conn, const char *what, sdl_error *err)
{
    unsigned no = mysql_errno(conn->mysql);
    const char *msg = mysql_error(conn->mysql);
    const char *hint = "";

    switch (no) {
    case ER_ACCESS_DENIED_ERROR: /* 1045 */
        hint = " (check source.user and the password; the password itself is never shown)";
        break;
    case ER_SPECIFIC_ACCESS_DENIED_ERROR: /* 1227 */
    case ER_DBACCESS_DENIED_ERROR:
    case ER_TABLEACCESS_DENIED_ERROR:
        hint = " (grant the replication user REPLICATION SLAVE, BINLOG MONITOR (MariaDB) or "
               "REPLICATION CLIENT (MySQL), and SELECT)";
        break;
    default:
        break;
    }
    if (no >= 2000 && no < 3000) {
        if (client_error_is_transient(no)) {
            sdl_error_set_transient(err, SDL_E_SOURCE, "%s '%s': %s%s", what, conn->endpoint, msg,
                                    hint);
        } else {
            sdl_error_set(err, SDL_E_SOURCE, "%s '%s': %s%s", what, conn->endpoint, msg, hint);
        }
    } else if (server_error_is_transient(no)) {
        sdl_error_set_transient(err, SDL_E_SOURCE, "%s '%s': server error %u: %s%s", what,
                                conn->endpoint, no, msg, hint);
    } else {
        sdl_error_set(err, SDL_E_SOURCE, "%s '%s': server error %u: %s%s", what, conn->endpoint, no,
                      msg, hint);
    }
    if (err) {
        err->sys_errno = (int)no;
    }
}

/*
 * TLS through Connector/C 3.3: any TLS option plus MYSQL_OPT_SSL_ENFORCE makes the client
 * require TLS; MYSQL_OPT_SSL_VERIFY_SERVER_CERT checks the chain against the CA *and* the
 * host name (the library cannot check one without the other, so verify_ca also checks the
 * name). "preferred" is tried with TLS first and falls back to plain TCP only when the server
 * offers no TLS (sdl_mysql_conn_open).
 */
static bool
set_tls(MYSQL *m, const sdl_source_config *cfg, bool use_tls)
{
    my_bool yes = 1;
    my_bool no = 0;

    if (!use_tls) {
        return mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &no) == 0;
    }
    if (mysql_ssl_set(m, cfg->tls_key, cfg->tls_cert, cfg->tls_ca, NULL, NULL) != 0) {
        return false;
    }
    if (mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes) != 0) {
        return false;
    }
    if (mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
                       cfg->tls_mode >= SDL_TLS_VERIFY_CA ? &yes : &no) != 0) {
        return false;
    }
    return true;
}

static bool
connect_once(sdl_mysql_conn *conn, const sdl_source_config *cfg, uint64_t read_timeout_usec,
             bool use_tls, sdl_error *err)
{
    unsigned connect_timeout = (unsigned)SDL_MAX(cfg->connect_timeout_usec / 1000000u, 1u);
    unsigned long max_packet = 1024ul * 1024ul * 1024ul;
    unsigned read_timeout = (unsigned)(read_timeout_usec / 1000000u);
    my_bool no = 0;

    if (conn->mysql) {
        mysql_close(conn->mysql);
    }
    conn->mysql = mysql_init(NULL);
    if (!conn->mysql) {
        sdl_error_set(err, SDL_E_SOURCE, "initialising the MySQL client library failed");
        return false;
    }
    (void)mysql_optionsv(conn->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    (void)mysql_optionsv(conn->mysql, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    (void)mysql_optionsv(conn->mysql, MYSQL_OPT_RECONNECT, &no);
    if (read_timeout) {
        (void)mysql_optionsv(conn->mysql, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
    }
    (void)mysql_optionsv(conn->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!set_tls(conn->mysql, cfg, use_tls)) {
        sdl_error_set(err, SDL_E_CONFIG, "configuring TLS for '%s' failed", conn->endpoint);
        return false;
    }
    if (!mysql_real_connect(conn->mysql, cfg->host, cfg->user, cfg->password, NULL, cfg->port, NULL,
                            0)) {
        sdl_mysql_conn_set_error(conn, "connecting to", err);
        return false;
    }
    return true;
}

bool
sdl_mysql_conn_open(const sdl_source_config *cfg, uint64_t read_timeout_usec,
                    sdl_mysql_conn **ret_conn, sdl_error *err)
{
    sdl_mysql_conn *conn = sdl_xcalloc(1, sizeof(*conn));
    bool tls = cfg->tls_mode != SDL_TLS_DISABLED;

    conn->endpoint = sdl_xasprintf("%s:%u", cfg->host, (unsigned)cfg->port);
    if (!connect_once(conn, cfg, read_timeout_usec, tls, err)) {
        /* "preferred": a server without TLS support is fine, everything else is not. */
        if (!(cfg->tls_mode == SDL_TLS_PREFERRED && conn->mysql &&
              mysql_errno(conn->mysql) == CR_SSL_CONNECTION_ERROR &&
              connect_once(conn, cfg, read_timeout_usec, false, err))) {
            goto fail;
        }
    }
    /* source.flavor, when set, wins: a server may announce any version (MariaDB's `version`
     * variable, proxies); else the version string says (MariaDB's contains "MariaDB"). */
    const char *version = mysql_get_server_info(conn->mysql);
    if (cfg->flavor != SDL_FLAVOR_AUTO) {
        conn->flavor = cfg->flavor;
    } else {
        conn->flavor =
            (version && strstr(version, "MariaDB")) ? SDL_FLAVOR_MARIADB : SDL_FLAVOR_MYSQL;
    }
    *ret_conn = conn;
    return true;
fail:
    (void)sdl_mysql_conn_free(conn);
    return false;
}

sdl_mysql_conn *
sdl_mysql_conn_free(sdl_mysql_conn *conn)
{
    if (!conn) {
        return NULL;
    }
    if (conn->mysql) {
        mysql_close(conn->mysql);
    }
    free(conn->endpoint);
    free(conn);
    return NULL;
}

bool
sdl_mysql_conn_exec(sdl_mysql_conn *conn, const char *sql, sdl_error *err)
{
    if (mysql_real_query(conn->mysql, sql, strlen(sql)) != 0) {
        sdl_mysql_conn_set_error(conn, "query on", err);
        return false;
    }
    MYSQL_RES *res = mysql_store_result(conn->mysql);
    if (res) {
        mysql_free_result(res);
    } else if (mysql_field_count(conn->mysql) != 0) {
        sdl_mysql_conn_set_error(conn, "reading a result from", err);
        return false;
    }
    return true;
}

bool
sdl_mysql_conn_query_rows(sdl_mysql_conn *conn, const char *sql, unsigned ncols, char ***ret_values,
                          size_t *ret_nrows, sdl_error *err)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    char **values = NULL;
    size_t n = 0;

    if (mysql_real_query(conn->mysql, sql, strlen(sql)) != 0) {
        sdl_mysql_conn_set_error(conn, "query on", err);
        return false;
    }
    res = mysql_store_result(conn->mysql);
    if (!res) {
        if (mysql_field_count(conn->mysql) == 0) {
            *ret_values = NULL;
            *ret_nrows = 0;
            return true;
        }
        sdl_mysql_conn_set_error(conn, "reading a result from", err);
        return false;
    }
    unsigned have = mysql_num_fields(res);
    size_t nrows = (size_t)mysql_num_rows(res);
    values = sdl_xcalloc(nrows * ncols + 1, sizeof(char *));
    while ((row = mysql_fetch_row(res))) {
        unsigned long *lengths = mysql_fetch_lengths(res);
        for (unsigned c = 0; c < ncols; c++) {
            values[n * ncols + c] =
                (c < have && row[c]) ? sdl_xstrndup(row[c], (size_t)lengths[c]) : NULL;
        }
        n++;
    }
    mysql_free_result(res);
    *ret_values = values;
    *ret_nrows = n;
    return true;
}

void
sdl_mysql_rows_free(char **values, size_t n)
{
    if (!values) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(values[i]);
    }
    free(values);
}

bool
sdl_mysql_conn_query_value(sdl_mysql_conn *conn, const char *sql, char **ret_value, sdl_error *err)
{
    char **values = NULL;
    size_t nrows = 0;

    if (!sdl_mysql_conn_query_rows(conn, sql, 1, &values, &nrows, err)) {
        return false;
    }
    *ret_value = nrows ? values[0] : NULL;
    for (size_t i = 1; i < nrows; i++) {
        free(values[i]);
    }
    free(values);
    return true;
}

char *
sdl_mysql_conn_escape(sdl_mysql_conn *conn, const char *s)
{
    size_t len = strlen(s);
    char *out = sdl_xmalloc(len * 2 + 1);

    (void)mysql_real_escape_string(conn->mysql, out, s, (unsigned long)len);
    return out;
}

typedef struct required_setting {
    const char *variable; /* @@global variable */
    const char *want;     /* required value (case-insensitive) */
    const char *fix;      /* how to fix it */
} required_setting;

bool
sdl_mysql_conn_check_replication(sdl_mysql_conn *conn, sdl_error *err)
{
    static const required_setting settings[] = {
        {"log_bin", "1", "start the server with --log-bin"},
        {"binlog_format", "ROW", "SET GLOBAL binlog_format=ROW (and in the server configuration)"},
        {"binlog_row_image", "FULL",
         "SET GLOBAL binlog_row_image=FULL (and in the server configuration)"},
        {"binlog_row_metadata", "FULL",
         "SET GLOBAL binlog_row_metadata=FULL (and in the server configuration; needs MariaDB "
         "10.5+ or MySQL 8.0.1+)"},
    };
    char sql[128];

    for (size_t i = 0; i < SDL_ARRAY_SIZE(settings); i++) {
        char *value = NULL;
        (void)snprintf(sql, sizeof(sql), "SELECT @@GLOBAL.%s", settings[i].variable);
        if (!sdl_mysql_conn_query_value(conn, sql, &value, err)) {
            if (err && err->sys_errno == ER_UNKNOWN_SYSTEM_VARIABLE) {
                sdl_error_set(err, SDL_E_UNSUPPORTED, "source '%s' (%s) has no '%s' variable: %s",
                              conn->endpoint, sdl_mysql_conn_server_version(conn),
                              settings[i].variable, settings[i].fix);
            }
            return false;
        }
        bool ok = value && strcasecmp(value, settings[i].want) == 0;
        if (!ok) {
            if (strcmp(settings[i].variable, "log_bin") == 0) {
                sdl_error_set(err, SDL_E_UNSUPPORTED,
                              "source '%s' does not write a binary log (log_bin=%s): %s",
                              conn->endpoint, value ? value : "NULL", settings[i].fix);
            } else {
                sdl_error_set(err, SDL_E_UNSUPPORTED, "source '%s' has %s=%s, sdl needs %s: %s",
                              conn->endpoint, settings[i].variable, value ? value : "NULL",
                              settings[i].want, settings[i].fix);
            }
            free(value);
            return false;
        }
        free(value);
    }

    /* Privileges: SHOW BINARY LOGS needs BINLOG MONITOR (MariaDB) / REPLICATION CLIENT
     * (MySQL); the dump itself needs REPLICATION SLAVE, which the server only checks when
     * the dump starts, so we look for it in SHOW GRANTS. */
    if (!sdl_mysql_conn_exec(conn, "SHOW BINARY LOGS", err)) {
        if (err && (err->sys_errno == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
                    err->sys_errno == ER_ACCESS_DENIED_ERROR)) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the replication user lacks a privilege on '%s': SHOW BINARY LOGS was "
                          "denied; GRANT %s ON *.* TO the user",
                          conn->endpoint,
                          conn->flavor == SDL_FLAVOR_MARIADB ? "BINLOG MONITOR"
                                                             : "REPLICATION CLIENT");
        }
        return false;
    }
    char **grants = NULL;
    size_t ngrants = 0;
    if (!sdl_mysql_conn_query_rows(conn, "SHOW GRANTS FOR CURRENT_USER()", 1, &grants, &ngrants,
                                   err)) {
        return false;
    }
    bool repl = false;
    for (size_t i = 0; i < ngrants; i++) {
        const char *g = grants[i] ? grants[i] : "";
        if (strstr(g, "ALL PRIVILEGES ON *.*") || strstr(g, "REPLICATION SLAVE") ||
            strstr(g, "REPLICATION REPLICA")) {
            repl = true;
        }
    }
    sdl_mysql_rows_free(grants, ngrants);
    if (!repl) {
        sdl_error_set(err, SDL_E_SOURCE,
                      "the replication user lacks a privilege on '%s': REPLICATION SLAVE is not "
                      "granted; GRANT REPLICATION SLAVE ON *.* TO the user",
                      conn->endpoint);
        return false;
    }
    return true;
}
