/* SPDX-License-Identifier: Apache-2.0 */
/* event-source: where a change stream's raw events come from: the server (the replication
 * connection and the metadata connection, reconnecting after a transient loss) or local binlog
 * files; the inner events of a TRANSACTION_PAYLOAD; the FORMAT_DESCRIPTION_EVENT every later
 * event is read by. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/schema-cache.h"
#include "sdl/mysql/source-position.h"
#include "sdl/mysql/txn-assembler.h"

#include "change-stream-private.h"
#include "event-source-private.h"

/* ---- the current file ---------------------------------------------------------------------- */

/* The current binlog file name, with its length. */
void
sdl_event_source_set_file(sdl_change_stream *s, const char *name)
{
    (void)snprintf(s->file, sizeof(s->file), "%s", name);
    s->file_len = (uint32_t)strlen(s->file);
}

/* ---- connection --------------------------------------------------------------------------- */

bool
sdl_event_source_open_reader(sdl_change_stream *s, sdl_error *err)
{
    char file[sizeof(s->file)];
    uint64_t pos = 0;
    sdl_binlog_request req = {
        .connect_state = s->ta.position_text,
        .non_blocking = s->until_now,
        .read_ahead_bytes = s->opts.read_ahead_bytes,
        .stop = s->opts.stop,
    };

    if (sdl_change_stream_file_positions(s)) {
        if (!sdl_file_position_parse(s->ta.position_text, file, sizeof(file), &pos)) {
            sdl_error_set(err, SDL_E_PROTOCOL, "position '%s' names no binlog file and offset",
                          s->ta.position_text);
            return false;
        }
        req.file = file;
        req.pos = pos;
    }

    s->reader = sdl_binlog_reader_free(s->reader);
    if (!s->meta) {
        /* After a lost connection the metadata connection is opened anew too (the source
         * may have restarted): the same server, so the same flavour. */
        if (!sdl_mysql_conn_open(&s->config->source, 0, &s->meta, err)) {
            return false;
        }
        if (s->flavor != SDL_BINLOG_FLAVOR_MYSQL) {
            s->schema = sdl_schema_cache_new(s->meta);
        }
    }
    if (!sdl_binlog_reader_open(&s->config->source, &req, &s->reader, err)) {
        return false;
    }
    sdl_binlog_format_init(&s->fmt, s->flavor,
                           sdl_binlog_reader_has_checksum(s->reader) ? SDL_BINLOG_CHECKSUM_CRC32
                                                                     : SDL_BINLOG_CHECKSUM_OFF);
    s->have_fde = false;
    if (s->opts.connected) {
        atomic_store(s->opts.connected, true);
    }
    return true;
}

/* File mode: no server, no connection; the files' FDEs say the flavour. */
bool
sdl_event_source_open_files(sdl_change_stream *s, sdl_error *err)
{
    if (!sdl_binlog_file_open(s->opts.files, s->opts.nfiles, &s->files, err)) {
        return false;
    }
    sdl_binlog_format_init(&s->fmt, SDL_BINLOG_FLAVOR_UNKNOWN, SDL_BINLOG_CHECKSUM_OFF);
    sdl_event_source_set_file(s, sdl_binlog_file_name(s->files));
    return true;
}

/* ---- events ------------------------------------------------------------------------------- */

/* Where events come from, for messages: the path in file mode, else the binlog name. */
const char *
sdl_event_source_where(const sdl_change_stream *s)
{
    return s->files ? sdl_binlog_file_path(s->files) : s->file;
}

/*
 * A transient failure of either connection (the replication stream, or the metadata
 * connection while a table map is being completed): both are closed and the stream resumes,
 * after a backoff, after the last complete transaction. Rows of the interrupted one that were
 * already returned are skipped when they come again.
 */
void
sdl_event_source_lose_connection(sdl_change_stream *s, const sdl_error *err)
{
    sdl_txn_assembler_lost(&s->ta);
    s->rows_pending = false;
    s->reader = sdl_binlog_reader_free(s->reader);
    s->schema = sdl_schema_cache_free(s->schema);
    s->meta = sdl_mysql_conn_free(s->meta);
    if (s->opts.connected) {
        atomic_store(s->opts.connected, false);
    }
    s->reconnects++;
    uint64_t delay = sdl_backoff_next(&s->backoff);
    /* A notice still here was not returned yet (the caller frees the ones it got): a second
     * loss within one call keeps both in the message. */
    char *prev = s->notice;
    s->notice =
        sdl_xasprintf("%s%s%s; reconnecting in %" PRIu64 " ms, resuming after %s", prev ? prev : "",
                      prev ? "; then again: " : "", err->message, delay / 1000u,
                      s->ta.position_text[0] ? s->ta.position_text : "the start");
    free(prev);
    s->notice_given = false;
    sdl_sleep_usec(delay, s->opts.stop);
}

/* The FORMAT_DESCRIPTION_EVENT: every later event is read as it says. */
bool
sdl_event_source_handle_fde(sdl_change_stream *s, sdl_bytes raw, sdl_error *err)
{
    if (!sdl_binlog_format_parse(raw, &s->fmt, err)) {
        return false;
    }
    if (s->files) {
        if (s->flavor != SDL_BINLOG_FLAVOR_UNKNOWN && s->flavor != s->fmt.flavor) {
            sdl_error_set(err, SDL_E_INVALID,
                          "'%s' was written by %s (server %s), the files before it by %s: read "
                          "one server's binlog files at a time",
                          sdl_event_source_where(s),
                          s->fmt.flavor == SDL_BINLOG_FLAVOR_MYSQL ? "MySQL" : "MariaDB",
                          s->fmt.server_version,
                          s->flavor == SDL_BINLOG_FLAVOR_MYSQL ? "MySQL" : "MariaDB");
            return false;
        }
        s->flavor = s->fmt.flavor;
        s->ta.position.kind = s->flavor == SDL_BINLOG_FLAVOR_MYSQL ? SDL_SOURCE_POSITION_MYSQL
                                                                   : SDL_SOURCE_POSITION_MARIADB;
    }
    s->inner_fmt = s->fmt;
    s->inner_fmt.checksum = SDL_BINLOG_CHECKSUM_OFF; /* payload events carry none */
    s->have_fde = true;
    return true;
}
