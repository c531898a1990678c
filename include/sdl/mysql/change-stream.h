/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * change-stream: the source side of sdl as one pull interface. It owns a binlog reader (and
 * a metadata connection), verifies and parses every event, keeps the table maps, assembles
 * transactions (GTID → rows → XID, GTID → rows → QUERY COMMIT for non-transactional
 * engines, standalone GTID → DDL) and hands out one change at a time:
 *
 *   ROW     a row change, with its position (gtid, seq, ts, binlog file/pos)
 *   DDL     a DDL statement: alone in its transaction, or first in one whose rows follow
 *           (CREATE TABLE ... SELECT)
 *   STATEMENT  a statement-based change (only with opts.statements_as_changes)
 *   COMMIT  the end of a source transaction; `position` is the GTID position after it, pos
 *           its end in the binlog. EVERY source transaction ends with one, whether the
 *           filters kept any of its changes or not (a DDL's too), so a consumer's position
 *           never lags behind a transaction it was handed
 *   IDLE    nothing happened (heartbeat); lets the caller flush or check deadlines
 *   END     the --until position (or the end of the binlog in "now" mode) was reached
 *
 * Never guessed, never skipped: a statement that changes rows (statement-based logging in a
 * session), one sdl does not recognise, or a DDL after rows in one transaction ends the
 * stream with an SDL_E_DATA error naming the transaction and the statement's first words; a
 * transaction that begins before the previous one ended is a protocol error. The table-map
 * cache holds every table the current transaction mapped.
 *
 * Rows of tables the filters exclude are not returned but still counted in seq, so a row's
 * seq (and the `_id` built from it) does not depend on the filters. DDL statements are
 * filtered by the table they change (sql-text.h); statements on no table (accounts,
 * routines) pass only when no include pattern is configured.
 *
 * Positions are text (source-position.h says how each flavour's reads and advances): a
 * MariaDB GTID position, or from a MySQL source the executed GTID set
 * (after a MySQL transaction without a GTID: "<file>:<offset after it>", and the
 * transaction's gtid is "<file>:<offset of its first event>"). A MySQL server without GTIDs
 * (gtid_mode not ON), or a start position of that form, is streamed by file and position, and
 * then every position is "<file>:<offset>". The source is a server or,
 * with opts.files, local binlog files (binlog-file.h); TRANSACTION_PAYLOAD events are
 * streamed (binlog-payload.h) through the same state machine.
 *
 * Resuming: the stream starts after a GTID position ("start" = the oldest binlog on the
 * server, "now" = the server's current position). A lost connection is re-established with
 * backoff, resuming after the last complete transaction; rows of the interrupted
 * transaction that were already returned are not returned again.
 *
 * Never logs (the caller logs reconnects through the err of the transient failure it is
 * given in ret_change->notice). Threading: one thread at a time.
 * Lifetime: everything a change points to is valid until the next
 * sdl_change_stream_next() call.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"
#include "sdl/model/change.h"

typedef struct sdl_change_stream sdl_change_stream;

typedef enum sdl_change_kind {
    SDL_CHANGE_ROW,
    SDL_CHANGE_DDL,
    SDL_CHANGE_STATEMENT, /* only with opts.statements_as_changes */
    SDL_CHANGE_COMMIT,
    SDL_CHANGE_IDLE,
    SDL_CHANGE_END,
} sdl_change_kind;

typedef struct sdl_change {
    sdl_change_kind kind;
    sdl_change_pos pos;      /* ROW, DDL, COMMIT: where the change sits */
    sdl_row_change row;      /* ROW */
    const char *ddl_db;      /* DDL: database it changes, else the default one ("" if none);
                              * STATEMENT: the default database */
    const char *ddl_table;   /* DDL: table it changes ("" when not a table statement) */
    sdl_bytes ddl_statement; /* DDL, STATEMENT: statement text (credentials redacted) */
    const char *position;    /* COMMIT (and END): GTID position after the transaction */
    const char *notice;      /* non-NULL once after a reconnect: what happened (for logs) */
} sdl_change;

typedef struct sdl_change_stream_options {
    const sdl_config *config; /* source settings and table filters; borrowed */
    const char *pipeline;     /* first part of _id */
    const char *from;         /* "start", "now", a GTID position or (MySQL) a GTID set or
                               * "<file>:<offset>"; NULL = config start */
    const char *until;        /* NULL (follow forever), "now" or a GTID position */
    bool reconnect;           /* re-establish lost connections with backoff */
    const char *skip_gtid;    /* with skip_rows: the GTID the first transaction must have
                               * (the split transaction being resumed); the stream fails
                               * when the source sends another one first */
    uint64_t skip_rows;       /* rows of the first transaction already handled (a split
                               * transaction's committed part), not returned again */
    const volatile int *stop; /* when non-zero, blocking waits end with SDL_E_CANCELLED */
    atomic_bool *connected;   /* optional: kept true while the replication connection is
                               * up, false from a lost connection until the reconnect (for
                               * health checks in other threads) */
    _Atomic(const sdl_config *)
        *live_config;           /* optional: a reloaded configuration (same
                                 * source settings) stored here by another thread; its table
                                 * filters apply from the next transaction the stream begins */
    const char *const *files;   /* file mode: local binlog files to read in order (borrowed);
                                 * no server connection is made; `from` is "start" or a
                                 * position (MariaDB) / GTID set (MySQL) whose transactions are
                                 * not returned; `until` "now" means the end of the files */
    size_t nfiles;              /* 0: read from the server */
    const char *from_flavor;    /* optional: the flavour `from` was written for ("mariadb",
                                 * "mysql"); a server of the other one is refused (SDL_E_CONFIG)
                                 * before `from` is read. Positions stored as "mariadb" that are
                                 * MySQL GTID sets (versions before batch 0 wrote that literal)
                                 * pass for a MySQL server. */
    bool statements_as_changes; /* a statement-based row change, a statement sdl does not
                                 * know, or a DDL after rows is handed out as a STATEMENT change
                                 * (whatever the filters) instead of ending the stream: for
                                 * looking at old binlogs (`sdl tail --statements print`) */
    size_t read_ahead_bytes;    /* server: > 0 lets a thread of the binlog reader receive
                                 * events ahead of decoding, in a ring of this many bytes
                                 * (binlog-reader.h, SDL_BINLOG_READ_AHEAD); 0: one thread */
    /* optional: called with every row change decoded (rows the filters drop included; rows
     * read again after a reconnect not), before the filters; returning true drops the row
     * (never handed out). The snapshot (DESIGN.md §9) watches its watermarks and the keys
     * changed in a chunk's window through it. Called on the thread of next(). */
    bool (*row_tap)(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos);
    void *row_tap_ctx;
} sdl_change_stream_options;

/* Connects, runs the start-up checks and resolves the start position. */
SDL_MUST_CHECK bool sdl_change_stream_open(const sdl_change_stream_options *opts,
                                           sdl_change_stream **ret_stream, sdl_error *err);

SDL_MUST_CHECK bool sdl_change_stream_next(sdl_change_stream *stream, sdl_change *ret_change,
                                           sdl_error *err);

/* A reloaded configuration (SIGHUP) with the same source settings: its table filters apply
 * from the next change on (use options.live_config for "from the next transaction").
 * @config is borrowed and must outlive the stream. Call from the thread that calls
 * sdl_change_stream_next(). */
void sdl_change_stream_set_config(sdl_change_stream *stream, const sdl_config *config);

/* The configuration in force for the current transaction (the table filters, tables.skip_ops
 * and the column policies a row is read and mapped with). */
const sdl_config *sdl_change_stream_config(const sdl_change_stream *stream);

/* The position after the last complete transaction (inside a transaction: the position before
 * it), borrowed until the next call. */
const char *sdl_change_stream_position(const sdl_change_stream *stream);

/* GTID position the stream resumed after (resolved "start"/"now"), borrowed. */
const char *sdl_change_stream_start_position(const sdl_change_stream *stream);

/* The flavour of the source's positions: "mariadb" or "mysql" ("" in file mode before the
 * first FORMAT_DESCRIPTION_EVENT). */
const char *sdl_change_stream_flavor(const sdl_change_stream *stream);

/* Events read so far (outer events; *ret_inner, when not NULL, gets the events read from
 * inside TRANSACTION_PAYLOAD events). */
uint64_t sdl_change_stream_events(const sdl_change_stream *stream, uint64_t *ret_inner);

/* What the stream has read so far, for metrics. Counts only grow; they survive reconnects. */
typedef struct sdl_change_stream_counters {
    uint64_t events;        /* binlog events read (TRANSACTION_PAYLOAD contents not counted) */
    uint64_t inner_events;  /* events read from inside TRANSACTION_PAYLOAD events */
    uint64_t bytes;         /* bytes of the events read (headers and checksums included) */
    uint64_t rows;          /* row changes decoded, those the table filters drop included
                             * (rows read again after a reconnect are counted once) */
    uint64_t rows_filtered; /* of @rows, those of tables the filters exclude */
    uint64_t reconnects;    /* times a lost connection was re-established (or retried) */
} sdl_change_stream_counters;

/* Copies the counters. Call from the thread that calls sdl_change_stream_next(). */
void sdl_change_stream_counts(const sdl_change_stream *stream,
                              sdl_change_stream_counters *ret_counters);

/* NULL-safe; returns NULL. */
sdl_change_stream *sdl_change_stream_free(sdl_change_stream *stream);
