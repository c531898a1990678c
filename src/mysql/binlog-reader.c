/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-reader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "sdl/base/alloc.h"
#include "sdl/mysql/binlog-dump.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/mysql-conn.h"
/* MariaDB sql/log_event.h: MARIA_SLAVE_CAPABILITY_GTID */
#define SDL_MARIA_SLAVE_CAPABILITY_GTID 4
/* MariaDB: ER_SLAVE_SAME_ID (the code a replica with a duplicate server_id receives) */
#define SDL_ER_SLAVE_SAME_ID 4052

struct sdl_binlog_reader {
    sdl_mysql_conn *conn;
    bool checksum;  /* CRC32 on every event */
    char *state;    /* connect state, for messages */
    uint32_t server_id;
};

const char *
sdl_binlog_reader_server_version(const sdl_binlog_reader *reader)
{
    return sdl_mysql_conn_server_version(reader->conn);
}

bool
sdl_binlog_reader_has_checksum(const sdl_binlog_reader *reader)
{
    return reader->checksum;
}

/* Runs "<prefix><value><suffix>". */
static bool
exec_with(sdl_mysql_conn *conn, sdl_error *err, const char *prefix, const char *value,
          const char *suffix)
{
    char *sql = sdl_xasprintf("%s%s%s", prefix, value, suffix);
    bool ok = sdl_mysql_conn_exec(conn, sql, err);

    free(sql);
    return ok;
}

/*
 * MySQL: resume from the executed GTID set with COM_BINLOG_DUMP_GTID (MySQL has no
 * @slave_connect_state). The session variables are the ones MySQL's own replica sets
 * (sql/rpl_replica.cc get_master_version_and_clock, request_dump): the checksum it accepts
 * (@master_binlog_checksum, @source_binlog_checksum from 8.0.26), the heartbeat period in
 * nanoseconds, and a replica uuid, by which the server replaces a stale dump thread of the
 * same replica. Not testable here (no MySQL server in Debian 12): the packet bytes are
 * unit-tested (binlog-dump.h), the server's answers go through the same error mapping.
 */
static bool
open_mysql(sdl_binlog_reader *r, const sdl_source_config *cfg, const sdl_binlog_request *req,
           uint64_t heartbeat, sdl_error *err)
{
    sdl_gtid_set executed = SDL_GTID_SET_INIT;
    sdl_buf packet = SDL_BUF_INIT;
    char *checksum = NULL;
    char sql[256];
    bool ok = false;

    if (!sdl_gtid_set_parse(r->state, &executed, err)) {
        sdl_error_prefix(err, "resuming from a MySQL server");
        goto out;
    }
    if (!sdl_mysql_conn_query_value(r->conn, "SELECT @@GLOBAL.binlog_checksum", &checksum, err) ||
        !sdl_mysql_conn_exec(r->conn,
                             "SET @master_binlog_checksum = @@GLOBAL.binlog_checksum, "
                             "@source_binlog_checksum = @@GLOBAL.binlog_checksum",
                             err)) {
        goto out;
    }
    r->checksum = checksum && strcasecmp(checksum, "NONE") != 0;
    (void)snprintf(sql, sizeof(sql),
                   "SET @master_heartbeat_period = %" PRIu64 ", @source_heartbeat_period = %" PRIu64
                   ", @slave_uuid = '00000000-0000-4000-8000-%012" PRIx32
                   "', @replica_uuid = '00000000-0000-4000-8000-%012" PRIx32 "'",
                   heartbeat * 1000u, heartbeat * 1000u, cfg->server_id, cfg->server_id);
    if (!sdl_mysql_conn_exec(r->conn, sql, err)) {
        goto out;
    }
    sdl_binlog_dump_gtid_packet(req->non_blocking ? SDL_BINLOG_DUMP_NON_BLOCK : 0, cfg->server_id,
                                "", 4, &executed, &packet);
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    if (m->methods->db_command(m, SDL_COM_BINLOG_DUMP_GTID, (const char *)packet.data, packet.len,
                               1, NULL) != 0) {
        sdl_mysql_conn_set_error(r->conn, "requesting the binlog from", err);
        goto out;
    }
    ok = true;
out:
    free(checksum);
    sdl_buf_done(&packet);
    sdl_gtid_set_done(&executed);
    return ok;
}

bool
sdl_binlog_reader_open(const sdl_source_config *cfg, const sdl_binlog_request *req,
                       sdl_binlog_reader **ret_reader, sdl_error *err)
{
    sdl_binlog_reader *r = sdl_xcalloc(1, sizeof(*r));
    char *checksum = NULL;
    char *escaped = NULL;
    sdl_buf packet = SDL_BUF_INIT;
    char num[32];
    /* Heartbeats keep an idle stream alive; reads time out after a few missed ones. */
    uint64_t heartbeat = cfg->heartbeat_usec ? cfg->heartbeat_usec : 5000000u;
    uint64_t read_timeout = heartbeat * 3 + 5000000u;

    r->server_id = cfg->server_id;
    r->state = sdl_xstrdup(req->connect_state ? req->connect_state : "");
    if (!sdl_mysql_conn_open(cfg, read_timeout, &r->conn, err)) {
        goto fail;
    }
    if (sdl_mysql_conn_flavor(r->conn) == SDL_FLAVOR_MYSQL) {
        if (!open_mysql(r, cfg, req, heartbeat, err)) {
            goto fail;
        }
        *ret_reader = r;
        return true;
    }
    /* The server refuses to send checksummed events to a replica that does not declare it
     * understands them (sql/sql_repl.cc). We take whatever the server writes. */
    if (!sdl_mysql_conn_query_value(r->conn, "SELECT @@GLOBAL.binlog_checksum", &checksum, err) ||
        !sdl_mysql_conn_exec(r->conn, "SET @master_binlog_checksum = @@GLOBAL.binlog_checksum",
                             err)) {
        goto fail;
    }
    r->checksum = checksum && strcasecmp(checksum, "NONE") != 0;
    (void)snprintf(num, sizeof(num), "%d", SDL_MARIA_SLAVE_CAPABILITY_GTID);
    if (!exec_with(r->conn, err, "SET @mariadb_slave_capability = ", num, "")) {
        goto fail;
    }
    escaped = sdl_mysql_conn_escape(r->conn, r->state);
    if (!exec_with(r->conn, err, "SET @slave_connect_state = '", escaped, "'") ||
        !sdl_mysql_conn_exec(r->conn, "SET @slave_gtid_strict_mode = 1", err)) {
        goto fail;
    }
    (void)snprintf(num, sizeof(num), "%" PRIu64, heartbeat * 1000u);
    if (!exec_with(r->conn, err, "SET @master_heartbeat_period = ", num, "")) {
        goto fail;
    }

    /* COM_BINLOG_DUMP: 4-byte position, 2-byte flags, 4-byte server_id, file name. With
     * @slave_connect_state set, the server ignores file and position and finds the binlog
     * holding the GTID state itself (sql_repl.cc, init_binlog_sender). */
    sdl_binlog_dump_packet(req->non_blocking ? SDL_BINLOG_DUMP_NON_BLOCK : 0, cfg->server_id, "",
                           4, &packet);
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    if (m->methods->db_command(m, SDL_COM_BINLOG_DUMP, (const char *)packet.data, packet.len, 1,
                               NULL) != 0) {
        sdl_mysql_conn_set_error(r->conn, "requesting the binlog from", err);
        goto fail;
    }
    sdl_buf_done(&packet);
    free(checksum);
    free(escaped);
    *ret_reader = r;
    return true;
fail:
    sdl_buf_done(&packet);
    free(checksum);
    free(escaped);
    (void)sdl_binlog_reader_free(r);
    return false;
}

/* Turns the server's replication errors into messages that say what happened and what the
 * operator can do (see notes/connector-c-and-binlog.md §3.6 for the server's texts). */
static void
set_stream_error(sdl_binlog_reader *r, sdl_error *err)
{
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    unsigned no = mysql_errno(m);
    const char *msg = mysql_error(m);
    const char *state = r->state[0] ? r->state : "(the beginning of the binlog)";

    if (no == ER_MASTER_FATAL_ERROR_READING_BINLOG) { /* 1236 */
        if (strstr(msg, "Could not find GTID state") || strstr(msg, "purged")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the source no longer has the binlog needed to resume after GTID "
                          "position %s: it was purged (server error 1236: %s). Nothing was "
                          "skipped. To continue, re-synchronise the target and start from the "
                          "current position (pipeline.start: now, or --from now), or restore "
                          "the purged binlog files on the source",
                          state, msg);
        } else if (strstr(msg, "diverged")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the source's binlog has diverged from GTID position %s: the source "
                          "has other transactions with the same sequence numbers (server "
                          "error 1236: %s). This happens after a failover to a server that "
                          "missed transactions; check which server is authoritative",
                          state, msg);
        } else if (strstr(msg, "not in the master's binlog")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "GTID position %s is ahead of the source's binlog (server error 1236: "
                          "%s). The position was recorded from another server, or the source's "
                          "binlog was reset (RESET MASTER)",
                          state, msg);
        } else if (strstr(msg, "checksum")) {
            sdl_error_set(err, SDL_E_SOURCE, "the source refused the checksum setting (server "
                                             "error 1236: %s)",
                          msg);
        } else {
            sdl_error_set(err, SDL_E_SOURCE, "the source stopped the binlog stream (server error "
                                             "1236: %s)",
                          msg);
        }
        if (err) {
            err->sys_errno = (int)no;
        }
        return;
    }
    if (no == SDL_ER_SLAVE_SAME_ID) {
        sdl_error_set(err, SDL_E_SOURCE,
                      "another replica connected to the source with the same server_id %" PRIu32
                      " and the source dropped this connection (server error 4052: %s). Give "
                      "every replica and every sdl pipeline its own source.server_id",
                      r->server_id, msg);
        if (err) {
            err->sys_errno = (int)no;
        }
        return;
    }
    sdl_mysql_conn_set_error(r->conn, "reading the binlog from", err);
}

bool
sdl_binlog_reader_next(sdl_binlog_reader *reader, sdl_bytes *ret_event, bool *ret_eof,
                       sdl_error *err)
{
    MYSQL *m = sdl_mysql_conn_handle(reader->conn);
    unsigned long len = mysql_net_read_packet(m);

    if (len == packet_error || len == 0) {
        if (mysql_errno(m) == 0) {
            sdl_error_set_transient(err, SDL_E_SOURCE, "reading the binlog: empty packet");
            return false;
        }
        set_stream_error(reader, err);
        return false;
    }
    const uint8_t *p = m->net.read_pos;
    /* First byte: 0x00 OK + event; 0xfe with a short packet: end of stream (non-blocking
     * dump); 0xff errors are turned into mysql_errno by the library. */
    if (p[0] == 0xfe && len < 8) {
        *ret_eof = true;
        return true;
    }
    if (p[0] != 0x00) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "reading the binlog: unexpected packet type 0x%02x (length %lu)", p[0], len);
        return false;
    }
    *ret_eof = false;
    ret_event->ptr = p + 1;
    ret_event->len = len - 1;
    return true;
}

sdl_binlog_reader *
sdl_binlog_reader_free(sdl_binlog_reader *reader)
{
    if (!reader) {
        return NULL;
    }
    (void)sdl_mysql_conn_free(reader->conn);
    free(reader->state);
    free(reader);
    return NULL;
}
