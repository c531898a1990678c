/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * event-source-private: the event source of a change stream (event-source.c): where raw events
 * come from (the server, reconnecting after a transient loss, or local binlog files), the
 * inner events of a TRANSACTION_PAYLOAD, the FORMAT_DESCRIPTION_EVENT. Its fields live in
 * struct sdl_change_stream (change-stream-private.h). The read path, run once per event, is
 * inline here: called out of line from the composition's loop it cost ~35 instructions per
 * event (+1.4 % on bench/decode B, one row per event). Not for other modules.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/failpoint.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"
#include "sdl/mysql/binlog-reader.h"

#include "change-stream-private.h"

/* The current binlog file name, with its length. */
void sdl_event_source_set_file(sdl_change_stream *s, const char *name);

/* Connects to the server (the metadata connection too, when it is closed) and starts the
 * binlog dump at the stream's position. */
bool sdl_event_source_open_reader(sdl_change_stream *s, sdl_error *err);

/* File mode: no server, no connection; the files' FDEs say the flavour. */
bool sdl_event_source_open_files(sdl_change_stream *s, sdl_error *err);

/* Where events come from, for messages: the path in file mode, else the binlog name. */
const char *sdl_event_source_where(const sdl_change_stream *s);

/* A transient failure of either connection: both are closed, s->notice says so, and after a
 * backoff the next read resumes after the last complete transaction. */
void sdl_event_source_lose_connection(sdl_change_stream *s, const sdl_error *err);

/* The FORMAT_DESCRIPTION_EVENT: every later event is read as it says. */
bool sdl_event_source_handle_fde(sdl_change_stream *s, sdl_bytes raw, sdl_error *err);

/* ---- the read path, inline -------------------------------------------------------------- */

/* The next event of a local binlog file. */
static inline bool
sdl_event_source_read_file(sdl_change_stream *s, sdl_bytes *raw, bool *eof, sdl_error *err)
{
    bool new_file = false;

    if (s->opts.stop && *s->opts.stop) {
        sdl_error_set(err, SDL_E_CANCELLED, "stopped");
        return false;
    }
    if (!sdl_binlog_file_next(s->files, raw, &new_file, eof, err)) {
        return false;
    }
    if (*eof) {
        return true;
    }
    if (new_file) {
        /* Each file starts with its own FORMAT_DESCRIPTION_EVENT. */
        sdl_event_source_set_file(s, sdl_binlog_file_name(s->files));
        sdl_binlog_format_init(&s->fmt, s->flavor, SDL_BINLOG_CHECKSUM_OFF);
        s->have_fde = false;
    }
    s->ev_pos = sdl_binlog_file_offset(s->files);
    s->ev_end = sdl_binlog_file_next_offset(s->files);
    s->events++;
    s->bytes += raw->len;
    return true;
}

/*
 * The next raw event: from the TRANSACTION_PAYLOAD being streamed (*ret_inner), else from
 * the files or the server.
 */
static inline bool
sdl_event_source_read(sdl_change_stream *s, sdl_bytes *raw, bool *eof, bool *ret_inner,
                      sdl_error *err)
{
    *ret_inner = false;
    if (sdl_payload_reader_active(s->payload)) {
        bool end = false;
        if (!sdl_payload_reader_next(s->payload, raw, &end, err)) {
            sdl_error_prefix(err, "TRANSACTION_PAYLOAD_EVENT at '%s':%" PRIu64,
                             sdl_event_source_where(s), s->payload_pos);
            return false;
        }
        if (!end) {
            *ret_inner = true;
            *eof = false;
            s->inner_events++;
            return true;
        }
    }
    if (s->files) {
        return sdl_event_source_read_file(s, raw, eof, err);
    }
    for (;;) {
        if (s->opts.stop && *s->opts.stop) {
            sdl_error_set(err, SDL_E_CANCELLED, "stopped");
            return false;
        }
        if (!s->reader && !sdl_event_source_open_reader(s, err)) {
            goto failed;
        }
        if (sdl_binlog_reader_next(s->reader, raw, eof, err)) {
            if (!*eof && sdl_failpoint_hit("source.lose_connection")) {
                /* test hook (SDL_FAILPOINT): as if the connection broke before this event */
                sdl_error_set_transient(err, SDL_E_SOURCE, "failpoint: lost the connection");
                goto failed;
            }
            if (!*eof && raw->len >= SDL_BINLOG_HEADER_LEN) {
                uint32_t size = (uint32_t)raw->ptr[9] | (uint32_t)raw->ptr[10] << 8 |
                                (uint32_t)raw->ptr[11] << 16 | (uint32_t)raw->ptr[12] << 24;
                uint32_t log_pos = (uint32_t)raw->ptr[13] | (uint32_t)raw->ptr[14] << 8 |
                                   (uint32_t)raw->ptr[15] << 16 | (uint32_t)raw->ptr[16] << 24;
                s->ev_pos = log_pos >= size ? log_pos - size : 0;
                s->ev_end = log_pos;
                s->events++;
                s->bytes += raw->len;
            }
            return true;
        }
    failed:
        if (!err || !err->transient || !s->opts.reconnect) {
            return false;
        }
        sdl_event_source_lose_connection(s, err);
    }
}
