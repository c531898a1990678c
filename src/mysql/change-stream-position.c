/* SPDX-License-Identifier: Apache-2.0 */
/* change-stream-position: where a change stream starts and stops: --from (a GTID position,
 * a MySQL GTID set, <file>:<offset>, "start" or "now") resolved against the server or the
 * files, and --until. Part of change-stream.c's composition (change-stream-private.h). */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdl/base/alloc.h"
#include "sdl/base/arena.h"
#include "sdl/base/clock.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/gtid.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/row-decoder.h"
#include "sdl/mysql/schema-cache.h"
#include "sdl/mysql/source-position.h"
#include "sdl/mysql/sql-text.h"
#include "sdl/mysql/table-map-cache.h"
#include "sdl/mysql/txn-assembler.h"

#include "change-stream-private.h"
#include "event-source-private.h"

/* ---- positions ---------------------------------------------------------------------------- */

/* Whether the stream resumes by binlog file and offset (a MySQL source without GTIDs). */
bool
sdl_change_stream_file_positions(const sdl_change_stream *s)
{
    return s->ta.position.kind == SDL_SOURCE_POSITION_FILE;
}

/* The position kinds a text names for this stream's flavour (in file mode before the first
 * FORMAT_DESCRIPTION_EVENT: either, by its form). */
static unsigned
position_kinds(const sdl_change_stream *s)
{
    if (s->files) {
        return SDL_SOURCE_ACCEPT_MARIADB | SDL_SOURCE_ACCEPT_MYSQL;
    }
    return s->flavor == SDL_BINLOG_FLAVOR_MYSQL ? SDL_SOURCE_ACCEPT_MYSQL
                                                : SDL_SOURCE_ACCEPT_MARIADB;
}

/* The start position's text is the position's until the first transaction ends. */
static void
set_position_text(sdl_change_stream *s, const char *text)
{
    free(s->ta.position_text);
    s->ta.position_text = sdl_xstrdup(text);
}

static bool
resolve_start_files(sdl_change_stream *s, const char *from, sdl_error *err)
{
    /* The flavour of the files is known only from their FDE; a --from position says which
     * one it is by its form. */
    if (strcmp(from, "now") == 0) {
        sdl_error_set(err, SDL_E_INVALID,
                      "--from now needs a server; with --file use start (the default) or a "
                      "GTID position / MySQL GTID set");
        return false;
    }
    if (strcmp(from, "start") != 0 && from[0]) {
        sdl_source_position pos = SDL_SOURCE_POSITION_INIT;
        if (!sdl_source_position_parse(from, position_kinds(s), &pos, err)) {
            return false;
        }
        sdl_txn_assembler_set_from(&s->ta, &pos);
        sdl_source_position_copy(&s->ta.position, &pos);
        sdl_source_position_done(&pos);
    }
    s->start_text = sdl_xstrdup(strcmp(from, "start") == 0 ? "" : from);
    set_position_text(s, s->start_text);
    return true;
}

/* MySQL: whether the source assigns GTIDs (gtid_mode ON), which COM_BINLOG_DUMP_GTID needs;
 * servers before 5.6 have no such variable. */
static bool
mysql_gtid_mode_on(sdl_change_stream *s, bool *ret_on, sdl_error *err)
{
    char *mode = NULL;

    if (!sdl_mysql_conn_query_value(s->meta, "SELECT @@GLOBAL.gtid_mode", &mode, err)) {
        if (err && err->sys_errno == 1193) { /* ER_UNKNOWN_SYSTEM_VARIABLE */
            *ret_on = false;
            return true;
        }
        return false;
    }
    *ret_on = mode && strcasecmp(mode, "ON") == 0;
    free(mode);
    return true;
}

/* Switches the stream to file positions, starting at @file:@pos. */
static void
start_at_file_position(sdl_change_stream *s, const char *file, uint64_t pos)
{
    sdl_source_position_done(&s->ta.position);
    s->ta.position.kind = SDL_SOURCE_POSITION_FILE;
    sdl_event_source_set_file(s, file);
    memcpy(s->ta.position.file, s->file, sizeof(s->ta.position.file));
    s->ta.position.offset = pos;
    s->start_text = sdl_source_position_format(&s->ta.position);
    set_position_text(s, s->start_text);
}

/*
 * A MySQL source without GTIDs (gtid_mode OFF, ON_PERMISSIVE or OFF_PERMISSIVE: anonymous
 * transactions are possible, which COM_BINLOG_DUMP_GTID refuses): "start" is the first event
 * of the oldest binlog file, "now" the end of the newest (SHOW BINARY LOGS: Log_name,
 * File_size, in every version; SHOW MASTER STATUS is gone in 8.4).
 */
static bool
resolve_start_file_position(sdl_change_stream *s, const char *from, sdl_error *err)
{
    char **logs = NULL;
    size_t nlogs = 0;
    uint64_t size = 0;
    bool ok = false;

    if (!sdl_mysql_conn_query_rows(s->meta, "SHOW BINARY LOGS", 2, &logs, &nlogs, err)) {
        return false;
    }
    if (nlogs == 0) {
        sdl_error_set(err, SDL_E_SOURCE, "the source lists no binary logs");
        goto out;
    }
    const char *name = strcmp(from, "start") == 0 ? logs[0] : logs[(nlogs - 1) * 2];
    const char *size_text = logs[(nlogs - 1) * 2 + 1];
    if (!name || !name[0] || strlen(name) >= sizeof(s->file) || strchr(name, ':') ||
        (strcmp(from, "now") == 0 &&
         (!size_text || sscanf(size_text, "%" SCNu64, &size) != 1 || size < 4))) {
        sdl_error_set(err, SDL_E_SOURCE, "SHOW BINARY LOGS on the source gave '%s' (size '%s')",
                      name ? name : "NULL", size_text ? size_text : "NULL");
        goto out;
    }
    start_at_file_position(s, name, strcmp(from, "start") == 0 ? 4 : size);
    ok = true;
out:
    sdl_mysql_rows_free(logs, nlogs * 2);
    return ok;
}

bool
sdl_change_stream_resolve_start(sdl_change_stream *s, const char *from, sdl_error *err)
{
    char *value = NULL;
    bool mysql = s->flavor == SDL_BINLOG_FLAVOR_MYSQL;
    sdl_source_position at_file = SDL_SOURCE_POSITION_INIT;

    if (s->files) {
        return resolve_start_files(s, from, err);
    }
    if (mysql && (strcmp(from, "now") == 0 || strcmp(from, "start") == 0)) {
        bool gtids = false;
        if (!mysql_gtid_mode_on(s, &gtids, err)) {
            return false;
        }
        if (!gtids) {
            return resolve_start_file_position(s, from, err);
        }
    } else if (mysql && sdl_source_position_parse(from, SDL_SOURCE_ACCEPT_FILE, &at_file, NULL)) {
        start_at_file_position(s, at_file.file, at_file.offset);
        return true;
    }
    if (strcmp(from, "now") == 0) {
        if (!sdl_mysql_conn_query_value(s->meta,
                                        mysql ? "SELECT @@GLOBAL.gtid_executed"
                                              : "SELECT @@GLOBAL.gtid_binlog_pos",
                                        &value, err)) {
            return false;
        }
    } else if (strcmp(from, "start") == 0 && mysql) {
        /* Everything the server still has: the transactions after the purged ones. */
        if (!sdl_mysql_conn_query_value(s->meta, "SELECT @@GLOBAL.gtid_purged", &value, err)) {
            return false;
        }
    } else if (strcmp(from, "start") == 0) {
        /* The oldest binlog file still on the server, and the GTID position its GTID_LIST
         * records: streaming from there gives every transaction the server still has. An
         * empty connect state would fail with 1236 once a file was purged. */
        char **logs = NULL;
        size_t nlogs = 0;
        if (!sdl_mysql_conn_query_rows(s->meta, "SHOW BINARY LOGS", 1, &logs, &nlogs, err)) {
            return false;
        }
        if (nlogs == 0 || !logs[0]) {
            sdl_mysql_rows_free(logs, nlogs);
            sdl_error_set(err, SDL_E_SOURCE, "the source lists no binary logs");
            return false;
        }
        char *esc = sdl_mysql_conn_escape(s->meta, logs[0]);
        char *sql = sdl_xasprintf("SELECT BINLOG_GTID_POS('%s', 4)", esc);
        bool ok = sdl_mysql_conn_query_value(s->meta, sql, &value, err);
        free(sql);
        free(esc);
        sdl_mysql_rows_free(logs, nlogs);
        if (!ok) {
            return false;
        }
    } else {
        value = sdl_xstrdup(from);
    }
    if (!sdl_source_position_parse(value ? value : "", position_kinds(s), &s->ta.position, err)) {
        free(value);
        return false;
    }
    free(value);
    s->start_text = sdl_source_position_format(&s->ta.position);
    set_position_text(s, s->start_text);
    return true;
}

bool
sdl_change_stream_resolve_until(sdl_change_stream *s, const char *until, sdl_error *err)
{
    char *value = NULL;
    bool ok;

    if (!until) {
        return true;
    }
    s->has_until = true;
    if (strcmp(until, "now") == 0) {
        s->until_now = true;
        if (s->files || sdl_change_stream_file_positions(s)) {
            /* the end of the files, or of the source's binlog (a non-blocking dump ends
             * there) */
            s->has_until = false;
            return true;
        }
        if (!sdl_mysql_conn_query_value(s->meta,
                                        s->flavor == SDL_BINLOG_FLAVOR_MYSQL
                                            ? "SELECT @@GLOBAL.gtid_executed"
                                            : "SELECT @@GLOBAL.gtid_binlog_pos",
                                        &value, err)) {
            return false;
        }
    } else if (strcmp(until, "start") == 0) {
        sdl_error_set(err, SDL_E_INVALID, "--until start names no position: use now or a GTID");
        return false;
    } else {
        value = sdl_xstrdup(until);
    }
    /* a MySQL stream by file and offset ends at a "<file>:<offset>" or a GTID set */
    ok = sdl_source_position_parse(
        value ? value : "",
        position_kinds(s) | (sdl_change_stream_file_positions(s) ? SDL_SOURCE_ACCEPT_FILE : 0u),
        &s->until, err);
    free(value);
    if (!ok) {
        sdl_error_prefix(err, "--until");
    }
    return ok;
}
