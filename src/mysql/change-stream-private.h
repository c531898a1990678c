/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * change-stream-private: what the files of the change stream share: change-stream.c (the
 * composition: positions, filters, DDL targets, --until, the changes handed out) and
 * event-source.c (the raw events: server or files, payload contents, the FDE, reconnecting;
 * its interface is event-source-private.h).
 * Not for other modules: include/sdl/mysql/change-stream.h is the interface.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/base/clock.h"
#include "sdl/base/error.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/row-decoder.h"
#include "sdl/mysql/schema-cache.h"
#include "sdl/mysql/source-position.h"
#include "sdl/mysql/table-map-cache.h"
#include "sdl/mysql/txn-assembler.h"

/* The event source's fields are reader, files, payload, fmt, inner_fmt, have_fde, flavor,
 * ev_pos, ev_end, payload_*, events, inner_events, bytes, reconnects, file, file_len, notice,
 * notice_given, backoff, meta and schema (reopened after a loss); the rest is the
 * composition's. */
struct sdl_change_stream {
    sdl_change_stream_options opts;
    const sdl_config *config;
    sdl_mysql_conn *meta; /* metadata connection: checks, positions, JSON columns */
    sdl_schema_cache *schema;
    sdl_binlog_reader *reader;
    sdl_binlog_file *files;      /* file mode: local binlog files instead of a server */
    sdl_payload_reader *payload; /* inner events of the current TRANSACTION_PAYLOAD */
    sdl_binlog_format fmt;
    sdl_binlog_format inner_fmt; /* fmt without checksums: events inside a payload */
    bool have_fde;
    sdl_binlog_flavor flavor; /* of positions: the server's, or the files' FDE */
    uint64_t ev_pos;          /* offset of the current (outer) event in its file */
    uint64_t ev_end;          /* offset after it */
    uint64_t payload_pos;     /* offset of the TRANSACTION_PAYLOAD being streamed */
    uint64_t payload_end;
    uint32_t payload_ts;    /* its header timestamp */
    uint64_t events;        /* events read, payload contents not counted */
    uint64_t inner_events;  /* events read from inside TRANSACTION_PAYLOADs */
    uint64_t bytes;         /* observability: bytes of the events read (outer) */
    uint64_t rows_read;     /* observability: row changes decoded, filtered ones too */
    uint64_t rows_filtered; /* observability: of those, rows the table filters drop */
    uint64_t reconnects;    /* observability: connections lost and re-established */

    char *pipeline;
    uint32_t pipeline_len;
    char *start_text;          /* resolved start position */
    sdl_txn_assembler ta;      /* the transactions; its position is the one after the last
                                * complete transaction (the kind says how the stream
                                * resumes: a MySQL source streamed by file and offset has
                                * FILE positions, resumed with COM_BINLOG_DUMP); MySQL: the
                                * PREVIOUS_GTIDS and start position included */
    sdl_source_position until; /* stop once the position reaches it */
    bool has_until;
    bool until_now; /* --until now: also stop at the end of the binlog */
    bool ended;

    char file[SDL_SOURCE_FILE_MAX]; /* current binlog file name */
    uint32_t file_len;              /* strlen(file), kept with it (set_file()) */

    /* rows of the current rows event still to hand out */
    bool rows_pending;
    sdl_row_decoder decoder;
    sdl_binlog_rows rows; /* the rows event being decoded (borrowed by decoder) */
    const sdl_table_map_entry *rows_slot;
    uint64_t rows_event_pos;
    uint32_t rows_event_ts;

    char *notice;      /* what the last reconnect was about */
    bool notice_given; /* notice was handed out; free it on the next call */

    sdl_table_map_cache tables; /* the table maps of the current transaction */
    sdl_arena event_arena;      /* per event: inflated rows, query text */
    sdl_arena row_arena;        /* per row: decoded values */
    sdl_backoff backoff;
};

/* ---- change-stream.c ----------------------------------------------------------------------- */

/* Whether the stream resumes by binlog file and offset (a MySQL source without GTIDs). */
bool sdl_change_stream_file_positions(const sdl_change_stream *s);

/* ---- change-stream-position.c ------------------------------------------------------------- */

/* Resolves --from (@from: a position, "start" or "now") into the stream's start position. */
SDL_MUST_CHECK bool sdl_change_stream_resolve_start(sdl_change_stream *s, const char *from,
                                                    sdl_error *err);
/* Resolves --until (@until: a position or "now"; NULL: none). */
SDL_MUST_CHECK bool sdl_change_stream_resolve_until(sdl_change_stream *s, const char *until,
                                                    sdl_error *err);

/* True when the position has reached @until: in every domain @until names (MariaDB), or
 * every GTID of the --until set is executed (MySQL). */
static inline bool
sdl_change_stream_until_reached(const sdl_change_stream *s)
{
    return s->has_until && sdl_source_position_reached(&s->ta.position, &s->until);
}

/* Whether the --until position names anything (an empty one is reached at once). */
static inline bool
sdl_change_stream_until_empty(const sdl_change_stream *s)
{
    return sdl_source_position_is_empty(&s->until);
}
