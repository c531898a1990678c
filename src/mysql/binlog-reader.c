/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-reader.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "sdl/base/alloc.h"
#include "sdl/base/ring.h"
#include "sdl/mysql/binlog-dump.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/crc32.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/mysql-conn.h"
/* MariaDB sql/log_event.h: MARIA_SLAVE_CAPABILITY_GTID */
#define SDL_MARIA_SLAVE_CAPABILITY_GTID 4
/* MariaDB: ER_SLAVE_SAME_ID (the code a replica with a duplicate server_id receives) */
#define SDL_ER_SLAVE_SAME_ID 4052

/* Read-ahead records: an event (without the packet's 0x00), the end of a non-blocking
 * stream, or the sdl_error that ended the stream. */
enum { TAG_EVENT = 1, TAG_EVENT_CRC_OK, TAG_EOF, TAG_ERROR };

struct sdl_binlog_reader {
    sdl_mysql_conn *conn;
    bool checksum; /* CRC32 on every event */
    char *state;   /* connect state ("<file>:<pos>" with by_file), for messages */
    bool by_file;  /* MySQL, streamed by file and position (no GTIDs) */
    uint32_t server_id;
    sdl_ring *ring; /* read-ahead: events read by the thread */
    pthread_t thread;
    const volatile int *stop;
    bool ended;  /* read-ahead: EOF or an error was returned; the thread has finished */
    bool crc_ok; /* the last event's trailing 4 bytes are the CRC32 of the rest */
};

static bool read_packet(sdl_binlog_reader *reader, sdl_bytes *ret_event, bool *ret_eof,
                        sdl_error *err);

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
 * @slave_connect_state), or on a source without GTIDs (gtid_mode OFF) from a file and position
 * with COM_BINLOG_DUMP (req->file). The session variables are the ones MySQL's own replica sets
 * (sql/rpl_replica.cc get_master_version_and_clock, request_dump): the checksum it accepts
 * (@master_binlog_checksum, @source_binlog_checksum from 8.0.26), the heartbeat period in
 * nanoseconds, and a replica uuid, by which the server replaces a stale dump thread of the
 * same replica (a second sdl with the same server_id has the same uuid, so the source drops
 * the older one, as MariaDB does by server_id).
 */
static bool
open_mysql(sdl_binlog_reader *r, const sdl_source_config *cfg, const sdl_binlog_request *req,
           uint64_t heartbeat, sdl_error *err)
{
    sdl_gtid_set executed = SDL_GTID_SET_INIT;
    sdl_buf packet = SDL_BUF_INIT;
    char *checksum = NULL;
    char sql[256];
    uint16_t flags = req->non_blocking ? SDL_BINLOG_DUMP_NON_BLOCK : 0;
    bool ok = false;

    if (req->file) {
        /* COM_BINLOG_DUMP's position is 4 bytes (MySQL caps a binlog file at 1 GiB). */
        if (req->pos < 4 || req->pos > UINT32_MAX) {
            sdl_error_set(err, SDL_E_INVALID,
                          "binlog position %s: offset %" PRIu64
                          " is out of range (4 to 4294967295)",
                          r->state, req->pos);
            goto out;
        }
    } else if (!sdl_gtid_set_parse(r->state, &executed, err)) {
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
    uint8_t command;
    if (req->file) {
        sdl_binlog_dump_packet(flags, cfg->server_id, req->file, (uint32_t)req->pos, &packet);
        command = SDL_COM_BINLOG_DUMP;
    } else {
        sdl_binlog_dump_gtid_packet(flags, cfg->server_id, "", 4, &executed, &packet);
        command = SDL_COM_BINLOG_DUMP_GTID;
    }
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    if (m->methods->db_command(m, command, (const char *)packet.data, packet.len, 1, NULL) != 0) {
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

/* The checksum is computed in the read-ahead thread too, so the decoding thread need not
 * (change-stream.c skips its own check when this says the bytes match). */
static bool
trailing_crc_ok(sdl_bytes ev)
{
    if (ev.len < SDL_BINLOG_HEADER_LEN + SDL_BINLOG_CHECKSUM_LEN) {
        return false;
    }
    const uint8_t *p = ev.ptr + ev.len - SDL_BINLOG_CHECKSUM_LEN;
    uint32_t stored =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return sdl_crc32(0, ev.ptr, ev.len - SDL_BINLOG_CHECKSUM_LEN) == stored;
}

/* The read-ahead thread: reads packets until the end of the stream, an error, or until the
 * consumer closes the ring (sdl_binlog_reader_free also shuts the socket down). */
static void *
read_ahead_main(void *arg)
{
    sdl_binlog_reader *r = arg;

    for (;;) {
        sdl_bytes ev = {0};
        bool eof = false;
        sdl_error e = SDL_ERROR_INIT;
        void *p;
        if (!read_packet(r, &ev, &eof, &e)) {
            if ((p = sdl_ring_reserve(r->ring, sizeof(e))) != NULL) {
                memcpy(p, &e, sizeof(e));
                sdl_ring_commit(r->ring, TAG_ERROR);
            }
            break;
        }
        if (eof) {
            if (sdl_ring_reserve(r->ring, 0) != NULL) {
                sdl_ring_commit(r->ring, TAG_EOF);
            }
            break;
        }
        if ((p = sdl_ring_reserve(r->ring, ev.len)) == NULL) {
            break; /* the consumer is gone */
        }
        memcpy(p, ev.ptr, ev.len);
        sdl_ring_commit(r->ring, r->checksum && trailing_crc_ok(ev) ? TAG_EVENT_CRC_OK : TAG_EVENT);
    }
    sdl_ring_finish(r->ring);
    return NULL;
}

static bool
start_read_ahead(sdl_binlog_reader *r, const sdl_binlog_request *req, sdl_error *err)
{
    sigset_t all;
    sigset_t old;
    int rc;

    if (!req->read_ahead_bytes) {
        return true;
    }
    r->stop = req->stop;
    r->ring = sdl_ring_new(req->read_ahead_bytes);
    /* Signals stay with the caller's threads. */
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&r->thread, NULL, read_ahead_main, r);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        r->ring = sdl_ring_free(r->ring);
        sdl_error_set(err, SDL_E_IO, "cannot start the binlog read-ahead thread");
        return false;
    }
    return true;
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
    r->by_file = req->file != NULL;
    r->state = req->file ? sdl_xasprintf("%s:%" PRIu64, req->file, req->pos)
                         : sdl_xstrdup(req->connect_state ? req->connect_state : "");
    if (!sdl_mysql_conn_open(cfg, read_timeout, &r->conn, err)) {
        goto fail;
    }
    if (sdl_mysql_conn_flavor(r->conn) == SDL_FLAVOR_MYSQL) {
        if (!open_mysql(r, cfg, req, heartbeat, err) || !start_read_ahead(r, req, err)) {
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
    sdl_binlog_dump_packet(req->non_blocking ? SDL_BINLOG_DUMP_NON_BLOCK : 0, cfg->server_id, "", 4,
                           &packet);
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    if (m->methods->db_command(m, SDL_COM_BINLOG_DUMP, (const char *)packet.data, packet.len, 1,
                               NULL) != 0) {
        sdl_mysql_conn_set_error(r->conn, "requesting the binlog from", err);
        goto fail;
    }
    if (!start_read_ahead(r, req, err)) {
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

/* The first sentence of a server message (up to ". " or ";"), into @out. MySQL's texts for
 * replication errors run to several hundred characters; the first sentence says what. */
static void
first_sentence(const char *msg, char *out, size_t size)
{
    size_t n = strcspn(msg, ";");
    const char *dot = strstr(msg, ". ");

    if (dot && (size_t)(dot - msg) + 1 < n) {
        n = (size_t)(dot - msg) + 1;
    }
    (void)snprintf(out, size, "%.*s", (int)n, msg);
}

/* The text between @marker and the next quote in @msg ("" when absent). */
static void
quoted_after(const char *msg, const char *marker, char *out, size_t size)
{
    const char *p = strstr(msg, marker);

    out[0] = '\0';
    if (p) {
        p += strlen(marker);
        (void)snprintf(out, size, "%.*s", (int)strcspn(p, "'"), p);
    }
}

/* Turns the server's replication errors into messages that say what happened and what the
 * operator can do (the servers' texts: notes/connector-c-and-binlog.md §3.6 for MariaDB,
 * notes/mysql-replication-protocol.md §5 for MySQL). */
static void
set_stream_error(sdl_binlog_reader *r, sdl_error *err)
{
    MYSQL *m = sdl_mysql_conn_handle(r->conn);
    unsigned no = mysql_errno(m);
    const char *msg = mysql_error(m);
    const char *state = r->state[0] ? r->state : "(the beginning of the binlog)";
    const char *what = r->by_file ? "binlog position" : "GTID position";
    char head[160];
    char missing[200];

    first_sentence(msg, head, sizeof(head));
    if (no == ER_MASTER_FATAL_ERROR_READING_BINLOG) { /* 1236 */
        /* SDL_E_DATA (exit 65): no restart brings the files back */
        if (strstr(msg, "purged required binary logs")) {
            /* MySQL: "Cannot replicate because the source purged required binary logs. …
             * and the missing transactions are '<set>'." */
            quoted_after(msg, "the missing transactions are '", missing, sizeof(missing));
            sdl_error_set(err, SDL_E_DATA,
                          "the source no longer has the binlog needed to resume after %s %s: "
                          "it was purged (server error 1236: %.*s%s%s%s). Nothing was "
                          "skipped. To continue, restore the purged binlog files on the "
                          "source, or move the pipeline with `sdl offset set --to now` and "
                          "re-synchronise the tables (README, \"A purged binlog\")",
                          what, state, (int)strcspn(head, "."), head,
                          missing[0] ? "; the missing transactions are '" : "", missing,
                          missing[0] ? "'" : "");
        } else if (strstr(msg, "Could not find GTID state") || strstr(msg, "purged") ||
                   (r->by_file && strstr(msg, "Could not find first log file name"))) {
            sdl_error_set(err, SDL_E_DATA,
                          "the source no longer has the binlog needed to resume after %s %s: "
                          "it was purged (server error 1236: %s). Nothing was skipped. To "
                          "continue, restore the purged binlog files on the source, or move "
                          "the pipeline with `sdl offset set --to now` and re-synchronise the "
                          "tables (README, \"A purged binlog\")",
                          what, state, msg);
        } else if (strstr(msg, "diverged")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the source's binlog has diverged from GTID position %s: the source "
                          "has other transactions with the same sequence numbers (server "
                          "error 1236: %s). This happens after a failover to a server that "
                          "missed transactions; check which server is authoritative",
                          state, msg);
        } else if (strstr(msg, "not in the master's binlog") ||
                   strstr(msg, "more GTIDs than the")) {
            /* MariaDB: "… which is not in the master's binlog"; MySQL: "Replica has more
             * GTIDs than the source has, using the source's SERVER_UUID. …" */
            sdl_error_set(err, SDL_E_SOURCE,
                          "GTID position %s is ahead of the source's binlog (server error 1236: "
                          "%s). The position was recorded from another server, or the source's "
                          "binlog was reset (RESET MASTER)",
                          state, head);
        } else if (r->by_file && strstr(msg, "position > file size")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "binlog position %s is past the end of the source's binlog file "
                          "(server error 1236: %s). The position was recorded from another "
                          "server, or the file was truncated or rewritten",
                          state, head);
        } else if (strstr(msg, "same server_uuid/server_id")) {
            /* MySQL drops the older of two dump threads with the same replica uuid (sdl's is
             * made from server_id), or the same server_id without one. */
            sdl_error_set(err, SDL_E_SOURCE,
                          "another replica connected to the source with the same server_id "
                          "%" PRIu32 " and the source dropped this connection (server error "
                          "1236: %s). Give every replica and every sdl pipeline its own "
                          "source.server_id",
                          r->server_id, head);
        } else if (strstr(msg, "checksum")) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the source refused the checksum setting (server "
                          "error 1236: %s)",
                          msg);
        } else {
            sdl_error_set(err, SDL_E_SOURCE,
                          "the source stopped the binlog stream (server error "
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

static bool
read_packet(sdl_binlog_reader *reader, sdl_bytes *ret_event, bool *ret_eof, sdl_error *err)
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

bool
sdl_binlog_reader_next(sdl_binlog_reader *reader, sdl_bytes *ret_event, bool *ret_eof,
                       sdl_error *err)
{
    sdl_bytes rec;
    uint32_t tag = 0;

    reader->crc_ok = false;
    if (!reader->ring) {
        return read_packet(reader, ret_event, ret_eof, err);
    }
    if (reader->ended) {
        sdl_error_set_transient(err, SDL_E_SOURCE, "reading the binlog: the stream has ended");
        return false;
    }
    switch (sdl_ring_next(reader->ring, &rec, &tag, reader->stop)) {
    case SDL_RING_RECORD:
        break;
    case SDL_RING_STOPPED:
        sdl_error_set(err, SDL_E_CANCELLED, "stopped");
        return false;
    case SDL_RING_FINISHED:
    default:
        reader->ended = true;
        sdl_error_set_transient(err, SDL_E_SOURCE, "reading the binlog: the stream has ended");
        return false;
    }
    if (tag == TAG_ERROR) {
        reader->ended = true;
        if (err) {
            memcpy(err, rec.ptr, sizeof(*err));
        }
        return false;
    }
    if (tag == TAG_EOF) {
        reader->ended = true;
        *ret_eof = true;
        return true;
    }
    *ret_eof = false;
    *ret_event = rec;
    reader->crc_ok = tag == TAG_EVENT_CRC_OK;
    return true;
}

bool
sdl_binlog_reader_crc_ok(const sdl_binlog_reader *reader)
{
    return reader->crc_ok;
}

sdl_binlog_reader *
sdl_binlog_reader_free(sdl_binlog_reader *reader)
{
    if (!reader) {
        return NULL;
    }
    if (reader->ring) {
        /* The thread stops at once: a wait for room ends (closed ring), a read fails (the
         * socket is shut down). */
        sdl_ring_close(reader->ring);
        my_socket fd = mysql_get_socket(sdl_mysql_conn_handle(reader->conn));
        if (fd >= 0) {
            (void)shutdown(fd, SHUT_RDWR);
        }
        (void)pthread_join(reader->thread, NULL);
        reader->ring = sdl_ring_free(reader->ring);
    }
    (void)sdl_mysql_conn_free(reader->conn);
    free(reader->state);
    free(reader);
    return NULL;
}
