/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot-consistent: snapshot.mode consistent (DESIGN.md §9) — the one transaction a
 * read-only source's snapshot reads in, and the binlog position it is consistent with
 * (MariaDB: Binlog_snapshot_file/position → BINLOG_GTID_POS, no lock; MySQL: gtid_executed
 * under the shortest global read lock); when the stream has reached it; GTIDs required on
 * MySQL. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdl/base/alloc.h"
#include "sdl/base/failpoint.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/gtid.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/snapshot-reader.h"

#include "snapshot-reader-private.h"

/* ---- consistent mode (DESIGN.md §9): one transaction, its position ---- */

/* MariaDB: the consistent snapshot's binlog coordinates (no lock) as a GTID position. */
static bool
consistent_mariadb(sdl_snapshot_reader *r, char **ret_position, sdl_error *err)
{
    char **rows = NULL;
    size_t nrows = 0;
    char *file = NULL, *pos = NULL;

    if (!sdl_mysql_conn_exec(r->conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                             err) ||
        !sdl_mysql_conn_query_rows(r->conn, "SHOW STATUS LIKE 'binlog_snapshot_%'", 2, &rows,
                                   &nrows, err)) {
        return false;
    }
    for (size_t i = 0; i < nrows; i++) {
        const char *name = rows[2 * i], *value = rows[2 * i + 1];
        if (name && value && strcasecmp(name, "Binlog_snapshot_file") == 0) {
            file = sdl_xstrdup(value);
        } else if (name && value && strcasecmp(name, "Binlog_snapshot_position") == 0) {
            pos = sdl_xstrdup(value);
        }
    }
    sdl_mysql_rows_free(rows, nrows * 2);
    bool ok = false;
    if (!file || !*file || !pos || strspn(pos, "0123456789") != strlen(pos) || !*pos) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "snapshot.mode consistent: the source reports no Binlog_snapshot_file/"
                      "position (is its binlog enabled?)");
    } else {
        char *esc = sdl_mysql_conn_escape(r->conn, file);
        size_t len = strlen(esc) + 64;
        char *sql = sdl_xmalloc(len);
        (void)snprintf(sql, len, "SELECT BINLOG_GTID_POS('%s', %s)", esc, pos);
        free(esc);
        ok = sdl_mysql_conn_query_value(r->conn, sql, ret_position, err);
        free(sql);
        if (ok && !*ret_position) {
            *ret_position = sdl_xstrdup("");
        }
    }
    free(file);
    free(pos);
    return ok;
}

/* MySQL: the shortest global read lock that yields a consistent gtid_executed (RELOAD). */
static bool
consistent_mysql(sdl_snapshot_reader *r, char **ret_position, sdl_error *err)
{
    sdl_error ignored = SDL_ERROR_INIT;

    if (!sdl_mysql_conn_exec(r->conn, "FLUSH TABLES WITH READ LOCK", err)) {
        sdl_error_prefix(err, "snapshot.mode consistent on MySQL needs the RELOAD privilege "
                              "(FLUSH TABLES WITH READ LOCK, held only while the snapshot's "
                              "transaction starts)");
        return false;
    }
    bool ok =
        sdl_mysql_conn_exec(r->conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                            err) &&
        sdl_mysql_conn_query_value(r->conn, "SELECT @@GLOBAL.gtid_executed", ret_position, err);
    if (!sdl_mysql_conn_exec(r->conn, "UNLOCK TABLES", &ignored)) {
        ok = false; /* the lock must not outlive this call: the connection is given up */
        sdl_error_set_transient(err, SDL_E_SOURCE, "UNLOCK TABLES failed: %s", ignored.message);
    }
    if (ok && !*ret_position) {
        *ret_position = sdl_xstrdup("");
    }
    return ok;
}

bool
sdl_snapshot_reader_consistent(sdl_snapshot_reader *r, char **ret_position, sdl_error *err)
{
    sdl_error ignored = SDL_ERROR_INIT;

    *ret_position = NULL;
    if (!sdl_snapshot_reader_settle(r, err) ||
        !sdl_mysql_conn_exec(r->conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                             err)) {
        return false;
    }
    /* before the view: a table's CREATE_TIME (whole seconds) at or after it is newer than the
     * view (sdl_snapshot_reader_view_outdated); none known when the server does not say */
    free(r->view_time);
    r->view_time = NULL;
    if (!sdl_mysql_conn_query_value(r->conn, "SELECT NOW()", &r->view_time, &ignored)) {
        r->view_time = NULL;
    }
    return sdl_mysql_conn_flavor(r->conn) == SDL_FLAVOR_MYSQL
               ? consistent_mysql(r, ret_position, err)
               : consistent_mariadb(r, ret_position, err);
}

bool
sdl_snapshot_position_reached(const char *current, const char *target)
{
    sdl_error err = SDL_ERROR_INIT;
    bool reached = false;

    if (!current || !target) {
        return false;
    }
    if (strchr(target, ':')) { /* MySQL: a GTID set */
        sdl_gtid_set cur = {0}, tgt = {0};
        reached = sdl_gtid_set_parse(current, &cur, &err) &&
                  sdl_gtid_set_parse(target, &tgt, &err) && sdl_gtid_set_contains(&cur, &tgt);
        sdl_gtid_set_done(&cur);
        sdl_gtid_set_done(&tgt);
        return reached;
    }
    sdl_gtid_pos cur = SDL_GTID_POS_INIT, tgt = SDL_GTID_POS_INIT;
    if (sdl_gtid_pos_parse(current, &cur, &err) && sdl_gtid_pos_parse(target, &tgt, &err)) {
        reached = true;
        for (size_t i = 0; i < tgt.count; i++) {
            reached = reached && sdl_gtid_pos_contains(&cur, &tgt.gtids[i]);
        }
    }
    sdl_gtid_pos_done(&cur);
    sdl_gtid_pos_done(&tgt);
    return reached;
}

/* ---- consistent mode needs GTIDs on MySQL ---- */

bool
sdl_snapshot_consistent_gtids_ok(const char *gtid_mode, sdl_error *err)
{
    if (gtid_mode && strcasecmp(gtid_mode, "ON") == 0) {
        return true;
    }
    sdl_error_set(err, SDL_E_CONFIG,
                  "snapshot.mode: consistent needs GTIDs on a MySQL source (gtid_mode=ON; it is "
                  "%s): without them the stream has binlog file:offset positions and the "
                  "snapshot's view could never be placed in it; enable gtid_mode=ON "
                  "(with enforce_gtid_consistency=ON) or use snapshot.mode: watermark",
                  gtid_mode ? (*gtid_mode ? gtid_mode : "empty") : "not available");
    return false;
}

/* MySQL: @@GLOBAL.gtid_mode must be ON (servers before 5.6 have no such variable). */
bool
sdl_snapshot_reader_check_gtids(sdl_snapshot_reader *r, sdl_error *err)
{
    char *mode = NULL;
    sdl_error e = SDL_ERROR_INIT;

    if (sdl_mysql_conn_flavor(r->conn) != SDL_FLAVOR_MYSQL) {
        return true; /* MariaDB: GTIDs always */
    }
    if (!sdl_mysql_conn_query_value(r->conn, "SELECT @@GLOBAL.gtid_mode", &mode, &e) &&
        e.sys_errno != 1193 /* ER_UNKNOWN_SYSTEM_VARIABLE */) {
        *err = e;
        return false;
    }
    bool ok = sdl_snapshot_consistent_gtids_ok(mode, err);
    free(mode);
    return ok;
}

bool
sdl_snapshot_reader_view_outdated(sdl_snapshot_reader *r, const char *db, const char *table)
{
    if (!r->view_time || !*r->view_time) {
        return false;
    }
    char *edb = sdl_mysql_conn_escape(r->conn, db), *et = sdl_mysql_conn_escape(r->conn, table);
    char *sql = sdl_xasprintf("SELECT CREATE_TIME FROM information_schema.TABLES WHERE "
                              "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
                              edb, et);
    char *created = NULL;
    sdl_error ignored = SDL_ERROR_INIT;
    /* both "YYYY-MM-DD HH:MM:SS" in the session's time zone: ordered as text */
    bool outdated = sdl_mysql_conn_query_value(r->conn, sql, &created, &ignored) && created &&
                    strlen(created) >= 19 && strncmp(created, r->view_time, 19) >= 0;
    free(created);
    free(sql);
    free(edb);
    free(et);
    return outdated;
}
