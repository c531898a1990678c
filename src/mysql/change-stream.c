/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/change-stream.h"

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
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/gtid.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/sql-text.h"
#include "sdl/mysql/row-decoder.h"
#include "sdl/mysql/schema-cache.h"

/* One table_id -> table map entry. Table maps are resent before every statement's rows, so
 * the map only has to hold the tables of the current transaction; entries whose raw event
 * bytes did not change are reused without parsing again (a stream of single-row statements
 * sends one TABLE_MAP per row). */
typedef struct table_slot {
    uint64_t table_id;
    sdl_buf raw;        /* TABLE_MAP body the table was parsed from */
    sdl_table *table;   /* parsed, from tables_arena */
    bool included;      /* passes the include/exclude filters */
    bool used;          /* slot holds a table */
} table_slot;

#define TABLE_SLOTS 64 /* open addressing; a transaction touching more tables evicts */

struct sdl_change_stream {
    sdl_change_stream_options opts;
    const sdl_config *config;
    sdl_mysql_conn *meta;         /* metadata connection: checks, positions, JSON columns */
    sdl_schema_cache *schema;
    sdl_binlog_reader *reader;
    sdl_binlog_format fmt;
    bool have_fde;

    char *pipeline;
    char *start_text;             /* resolved start position */
    sdl_gtid_pos position;        /* after the last complete transaction */
    char *position_text;          /* formatted position (for COMMIT changes) */
    sdl_gtid_pos until;           /* stop once position reaches it in every domain */
    bool has_until;
    bool until_now;               /* --until now: also stop at the end of the binlog */
    bool ended;

    char file[512];               /* current binlog file name */

    /* current transaction */
    bool in_txn;
    bool txn_standalone;          /* GTID with FL_STANDALONE: ends after its QUERY */
    sdl_gtid txn_gtid;
    char txn_gtid_text[SDL_GTID_TEXT_MAX];
    uint64_t txn_seq;             /* rows (and DDLs) seen in the transaction so far */
    int64_t txn_ts;

    /* rows of the current rows event still to hand out */
    bool rows_pending;
    sdl_row_decoder decoder;
    sdl_binlog_rows rows;         /* the rows event being decoded (borrowed by decoder) */
    const table_slot *rows_slot;
    uint64_t rows_event_pos;
    uint32_t rows_event_ts;

    /* after a reconnect inside a transaction: rows of that GTID up to skip_seq were returned */
    bool skipping;
    sdl_gtid skip_gtid;
    uint64_t skip_seq;
    uint64_t first_skip_rows;     /* opts.skip_rows, applied to the first transaction only */
    bool first_txn_seen;
    char *notice;                 /* what the last reconnect was about */
    bool notice_given;            /* notice was handed out; free it on the next call */

    sdl_arena tables_arena;       /* table maps */
    sdl_arena event_arena;        /* per event: inflated rows, query text */
    sdl_arena row_arena;          /* per row: decoded values */
    table_slot slots[TABLE_SLOTS];
    sdl_backoff backoff;
};

const char *
sdl_change_stream_start_position(const sdl_change_stream *stream)
{
    return stream->start_text;
}

/* ---- positions ---------------------------------------------------------------------------- */

static bool
resolve_start(sdl_change_stream *s, const char *from, sdl_error *err)
{
    char *value = NULL;

    if (strcmp(from, "now") == 0) {
        if (!sdl_mysql_conn_query_value(s->meta, "SELECT @@GLOBAL.gtid_binlog_pos", &value,
                                        err)) {
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
    if (!sdl_gtid_pos_parse(value ? value : "", &s->position, err)) {
        free(value);
        return false;
    }
    free(value);
    s->start_text = sdl_gtid_pos_format(&s->position);
    s->position_text = sdl_xstrdup(s->start_text);
    return true;
}

static bool
resolve_until(sdl_change_stream *s, const char *until, sdl_error *err)
{
    char *value = NULL;

    if (!until) {
        return true;
    }
    s->has_until = true;
    if (strcmp(until, "now") == 0) {
        s->until_now = true;
        if (!sdl_mysql_conn_query_value(s->meta, "SELECT @@GLOBAL.gtid_binlog_pos", &value,
                                        err)) {
            return false;
        }
    } else if (strcmp(until, "start") == 0) {
        sdl_error_set(err, SDL_E_INVALID, "--until start names no position: use now or a GTID");
        return false;
    } else {
        value = sdl_xstrdup(until);
    }
    bool ok = sdl_gtid_pos_parse(value ? value : "", &s->until, err);
    free(value);
    if (!ok) {
        sdl_error_prefix(err, "--until");
    }
    return ok;
}

/* True when the position has reached @until in every domain @until names. */
static bool
until_reached(const sdl_change_stream *s)
{
    if (!s->has_until) {
        return false;
    }
    for (size_t i = 0; i < s->until.count; i++) {
        const sdl_gtid *have = sdl_gtid_pos_find(&s->position, s->until.gtids[i].domain);
        if (!have || have->seq < s->until.gtids[i].seq) {
            return false;
        }
    }
    return true;
}

/* ---- connection --------------------------------------------------------------------------- */

static bool
open_reader(sdl_change_stream *s, sdl_error *err)
{
    sdl_binlog_request req = {s->position_text, s->until_now};

    s->reader = sdl_binlog_reader_free(s->reader);
    if (!sdl_binlog_reader_open(&s->config->source, &req, &s->reader, err)) {
        return false;
    }
    sdl_binlog_format_init(&s->fmt, SDL_BINLOG_FLAVOR_MARIADB,
                           sdl_binlog_reader_has_checksum(s->reader) ? SDL_BINLOG_CHECKSUM_CRC32
                                                                     : SDL_BINLOG_CHECKSUM_OFF);
    s->have_fde = false;
    return true;
}

bool
sdl_change_stream_open(const sdl_change_stream_options *opts, sdl_change_stream **ret_stream,
                       sdl_error *err)
{
    sdl_change_stream *s = sdl_xcalloc(1, sizeof(*s));
    const sdl_config *cfg = opts->config;

    s->opts = *opts;
    s->config = cfg;
    s->pipeline = sdl_xstrdup(opts->pipeline ? opts->pipeline : cfg->pipeline.name);
    s->first_skip_rows = opts->skip_rows;
    sdl_arena_init(&s->tables_arena, 0);
    sdl_arena_init(&s->event_arena, 0);
    sdl_arena_init(&s->row_arena, 0);
    sdl_backoff_init(&s->backoff, cfg->pipeline.retry_initial_usec, cfg->pipeline.retry_max_usec);
    (void)snprintf(s->file, sizeof(s->file), "%s", "");

    if (!sdl_mysql_conn_open(&cfg->source, 0, &s->meta, err) ||
        !sdl_mysql_conn_check_replication(s->meta, err)) {
        goto fail;
    }
    if (sdl_mysql_conn_flavor(s->meta) != SDL_FLAVOR_MARIADB) {
        sdl_error_set(err, SDL_E_UNSUPPORTED,
                      "source is MySQL %s: replicating from MySQL servers (GTID sets, "
                      "COM_BINLOG_DUMP_GTID) is not supported by this version yet",
                      sdl_mysql_conn_server_version(s->meta));
        goto fail;
    }
    s->schema = sdl_schema_cache_new(s->meta);
    if (!resolve_start(s, opts->from ? opts->from : cfg->pipeline.start, err)) {
        sdl_error_prefix(err, "resolving the start position");
        goto fail;
    }
    if (!resolve_until(s, opts->until, err)) {
        goto fail;
    }
    if (until_reached(s) && s->until.count > 0) {
        s->ended = true;
    } else if (s->until_now && s->until.count == 0) {
        s->ended = true; /* the server has no transactions at all */
    }
    if (s->ended) {
        /* Nothing to stream, but the position must still be valid on the server: the
         * source answers a purged, diverged or ahead position with an error as the very
         * first packet, so one read tells. */
        sdl_bytes raw;
        bool eof = false;
        s->until_now = true; /* non-blocking dump: never wait here */
        if (!open_reader(s, err) || !sdl_binlog_reader_next(s->reader, &raw, &eof, err)) {
            goto fail;
        }
        s->reader = sdl_binlog_reader_free(s->reader);
    } else if (!open_reader(s, err)) {
        goto fail;
    }
    *ret_stream = s;
    return true;
fail:
    (void)sdl_change_stream_free(s);
    return false;
}

sdl_change_stream *
sdl_change_stream_free(sdl_change_stream *s)
{
    if (!s) {
        return NULL;
    }
    (void)sdl_binlog_reader_free(s->reader);
    (void)sdl_schema_cache_free(s->schema);
    (void)sdl_mysql_conn_free(s->meta);
    for (size_t i = 0; i < TABLE_SLOTS; i++) {
        sdl_buf_done(&s->slots[i].raw);
    }
    sdl_arena_done(&s->tables_arena);
    sdl_arena_done(&s->event_arena);
    sdl_arena_done(&s->row_arena);
    sdl_gtid_pos_done(&s->position);
    sdl_gtid_pos_done(&s->until);
    free(s->pipeline);
    free(s->start_text);
    free(s->position_text);
    free(s->notice);
    free(s);
    return NULL;
}

/* ---- transactions ------------------------------------------------------------------------- */

static void
fill_pos(const sdl_change_stream *s, sdl_change *c, uint64_t seq, uint64_t binlog_pos,
         uint32_t ts)
{
    c->pos.pipeline = s->pipeline;
    c->pos.gtid = s->txn_gtid_text;
    c->pos.seq = seq;
    c->pos.ts_sec = (int64_t)(ts ? ts : (uint32_t)s->txn_ts);
    c->pos.binlog_file = s->file;
    c->pos.binlog_pos = binlog_pos;
    c->pos.split = false;
}

static bool
begin_txn(sdl_change_stream *s, const sdl_gtid *gtid, bool standalone, uint32_t ts,
          sdl_error *err)
{
    s->in_txn = true;
    s->txn_standalone = standalone;
    s->txn_gtid = *gtid;
    (void)sdl_gtid_format(gtid, s->txn_gtid_text);
    s->txn_seq = 0;
    s->txn_ts = ts;
    s->rows_pending = false;
    /* Table ids stay valid across transactions until the table definition changes, but
     * the source re-sends the maps for every statement; the cache keys on the raw bytes. */
    if (!s->first_txn_seen && s->first_skip_rows > 0 && s->opts.skip_gtid &&
        strcmp(s->opts.skip_gtid, s->txn_gtid_text) != 0) {
        sdl_error_set(err, SDL_E_SOURCE,
                      "resuming split transaction %s after its row %" PRIu64
                      ": the source sent transaction %s first; the binlog no longer matches "
                      "the stored offset",
                      s->opts.skip_gtid, s->first_skip_rows, s->txn_gtid_text);
        return false;
    }
    return true;
}

static void
commit_txn(sdl_change_stream *s, sdl_change *c, uint64_t end_pos)
{
    sdl_gtid_pos_advance(&s->position, &s->txn_gtid);
    free(s->position_text);
    s->position_text = sdl_gtid_pos_format(&s->position);
    c->kind = SDL_CHANGE_COMMIT;
    fill_pos(s, c, s->txn_seq, end_pos, 0);
    c->position = s->position_text;
    s->in_txn = false;
    s->rows_pending = false;
    if (s->skipping && s->skip_gtid.domain == s->txn_gtid.domain &&
        s->skip_gtid.seq == s->txn_gtid.seq) {
        s->skipping = false;
    }
    s->first_txn_seen = true;
    s->first_skip_rows = 0;
    if (until_reached(s)) {
        s->ended = true;
    }
    sdl_backoff_reset(&s->backoff);
}

/* Whether a row with @seq of the current transaction was already handed out (before a
 * reconnect, or in the committed part of a split transaction). */
static bool
row_already_returned(const sdl_change_stream *s, uint64_t seq)
{
    if (!s->first_txn_seen && seq <= s->first_skip_rows) {
        return true;
    }
    return s->skipping && s->skip_gtid.domain == s->txn_gtid.domain &&
           s->skip_gtid.seq == s->txn_gtid.seq && seq <= s->skip_seq;
}

static table_slot *
find_slot(sdl_change_stream *s, uint64_t table_id)
{
    size_t h = (size_t)(table_id * 0x9e3779b97f4a7c15u >> 58) % TABLE_SLOTS;

    for (size_t i = 0; i < TABLE_SLOTS; i++) {
        table_slot *slot = &s->slots[(h + i) % TABLE_SLOTS];
        if (!slot->used || slot->table_id == table_id) {
            return slot;
        }
    }
    return &s->slots[h]; /* full: evict (the table is re-sent before its next rows) */
}

static bool
handle_table_map(sdl_change_stream *s, const sdl_binlog_event *ev, sdl_error *err)
{
    sdl_cursor cur = sdl_cursor_make(ev->body);
    uint64_t table_id = sdl_cursor_uint_le(&cur, sdl_binlog_format_post_header_len(&s->fmt, 19) == 6 ? 4 : 6);
    table_slot *slot = find_slot(s, table_id);
    sdl_table *table = NULL;

    if (slot->used && slot->table_id == table_id &&
        sdl_bytes_equal(SDL_BYTES(slot->raw.data, slot->raw.len), ev->body)) {
        return true;
    }
    if (!sdl_binlog_event_parse_table_map(&s->fmt, ev, &s->tables_arena, &table, err)) {
        return false;
    }
    if (!sdl_schema_cache_mark_json(s->schema, table, err)) {
        return false;
    }
    sdl_buf_reset(&slot->raw);
    sdl_buf_append(&slot->raw, ev->body.ptr, ev->body.len);
    slot->table_id = table->table_id;
    slot->table = table;
    slot->used = true;
    slot->included = sdl_config_table_included(s->config, table->db, table->name);
    return true;
}

static bool
is_word(sdl_bytes stmt, const char *word)
{
    size_t n = strlen(word);

    return stmt.len == n && strncasecmp((const char *)stmt.ptr, word, n) == 0;
}

static bool
has_prefix(sdl_bytes stmt, const char *prefix)
{
    size_t n = strlen(prefix);

    return stmt.len >= n && strncasecmp((const char *)stmt.ptr, prefix, n) == 0;
}

/*
 * The table filters applied to a DDL: a statement on a table passes when the table does; a
 * database statement passes when some include pattern can match a table of that database;
 * any other statement (accounts, routines, views) passes only when no include pattern is set.
 */
static bool
ddl_included(const sdl_change_stream *s, bool known, const char *db, const char *table)
{
    const sdl_tables_config *t = &s->config->tables;

    if (known && table[0]) {
        return sdl_config_table_included(s->config, db, table);
    }
    if (t->ninclude == 0) {
        return true;
    }
    if (!known || !db[0]) {
        return false;
    }
    for (size_t i = 0; i < t->ninclude; i++) {
        const char *dot = strchr(t->include[i], '.');
        char *dbpat = sdl_xstrndup(t->include[i], dot ? (size_t)(dot - t->include[i])
                                                      : strlen(t->include[i]));
        bool match = fnmatch(dbpat, db, 0) == 0;
        free(dbpat);
        if (match) {
            return true;
        }
    }
    return false;
}

/* ---- the event loop ----------------------------------------------------------------------- */

static bool
read_event(sdl_change_stream *s, sdl_bytes *raw, bool *eof, sdl_error *err)
{
    for (;;) {
        if (s->opts.stop && *s->opts.stop) {
            sdl_error_set(err, SDL_E_CANCELLED, "stopped");
            return false;
        }
        if (!s->reader && !open_reader(s, err)) {
            goto failed;
        }
        if (sdl_binlog_reader_next(s->reader, raw, eof, err)) {
            return true;
        }
failed:
        if (!err || !err->transient || !s->opts.reconnect) {
            return false;
        }
        /* Lost the connection: resume after the last complete transaction. Rows of the
         * interrupted one that were already returned are skipped when they come again. */
        if (s->in_txn) {
            s->skipping = true;
            s->skip_gtid = s->txn_gtid;
            s->skip_seq = s->txn_seq;
            s->in_txn = false;
            s->rows_pending = false;
        }
        s->reader = sdl_binlog_reader_free(s->reader);
        uint64_t delay = sdl_backoff_next(&s->backoff);
        free(s->notice);
        s->notice = sdl_xasprintf("%s; reconnecting in %" PRIu64 " ms, resuming after %s",
                                  err->message, delay / 1000u,
                                  s->position_text[0] ? s->position_text : "the start");
        sdl_sleep_usec(delay, s->opts.stop);
    }
}

static bool
next_row(sdl_change_stream *s, sdl_change *c, bool *ret_have, sdl_error *err)
{
    for (;;) {
        bool more = false;
        sdl_row_change rc;

        sdl_arena_reset(&s->row_arena);
        if (!sdl_row_decoder_next(&s->decoder, &rc, &more, err)) {
            sdl_error_prefix(err, "decoding rows of '%s.%s' in transaction %s at '%s':%" PRIu64,
                             s->rows_slot->table->db, s->rows_slot->table->name,
                             s->txn_gtid_text, s->file, s->rows_event_pos);
            return false;
        }
        if (!more) {
            s->rows_pending = false;
            *ret_have = false;
            return true;
        }
        uint64_t seq = ++s->txn_seq;
        if (!s->rows_slot->included || row_already_returned(s, seq)) {
            continue;
        }
        c->kind = SDL_CHANGE_ROW;
        c->row = rc;
        fill_pos(s, c, seq, s->rows_event_pos, s->rows_event_ts);
        *ret_have = true;
        return true;
    }
}

static bool
handle_rows(sdl_change_stream *s, const sdl_binlog_event *ev, uint64_t event_pos,
            sdl_error *err)
{
    sdl_binlog_rows *rows = &s->rows;

    if (!s->in_txn) {
        sdl_error_set(err, SDL_E_PROTOCOL, "rows event outside a transaction");
        return false;
    }
    sdl_arena_reset(&s->event_arena);
    if (!sdl_binlog_event_parse_rows(&s->fmt, ev, &s->event_arena, rows, err)) {
        return false;
    }
    table_slot *slot = find_slot(s, rows->table_id);
    if (!slot->used || slot->table_id != rows->table_id) {
        sdl_error_set(err, SDL_E_PROTOCOL, "rows event for table id %" PRIu64
                                           " without a preceding TABLE_MAP",
                      rows->table_id);
        return false;
    }
    if (!sdl_row_decoder_start(&s->decoder, slot->table, rows, &s->row_arena, err)) {
        sdl_error_prefix(err, "table '%s.%s'", slot->table->db, slot->table->name);
        return false;
    }
    s->rows_slot = slot;
    s->rows_pending = true;
    s->rows_event_pos = event_pos;
    s->rows_event_ts = ev->header.timestamp;
    return true;
}

bool
sdl_change_stream_next(sdl_change_stream *s, sdl_change *c, sdl_error *err)
{
    memset(c, 0, sizeof(*c));
    if (s->notice_given) {
        free(s->notice); /* handed out once by the previous call */
        s->notice = NULL;
        s->notice_given = false;
    }
    for (;;) {
        if (s->rows_pending) {
            bool have = false;
            if (!next_row(s, c, &have, err)) {
                return false;
            }
            if (have) {
                return true;
            }
        }
        if (s->ended) {
            c->kind = SDL_CHANGE_END;
            c->position = s->position_text;
            return true;
        }

        sdl_bytes raw;
        bool eof = false;
        if (!read_event(s, &raw, &eof, err)) {
            return false;
        }
        if (s->notice) {
            c->notice = s->notice; /* valid until the next call */
            s->notice_given = true;
        }
        if (eof) {
            if (s->in_txn) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "the source ended the binlog stream inside transaction %s",
                              s->txn_gtid_text);
                return false;
            }
            s->ended = true;
            continue;
        }

        sdl_binlog_event_header hdr;
        if (!sdl_binlog_event_header_parse(raw, &hdr, err)) {
            sdl_error_prefix(err, "event after '%s':%s", s->file, s->position_text);
            return false;
        }
        uint64_t event_pos = hdr.log_pos >= hdr.event_size ? hdr.log_pos - hdr.event_size : 0;

        if (hdr.type == SDL_BINLOG_FORMAT_DESCRIPTION_EVENT) {
            if (!sdl_binlog_format_parse(raw, &s->fmt, err)) {
                sdl_error_prefix(err, "FORMAT_DESCRIPTION at '%s':%" PRIu64, s->file, event_pos);
                return false;
            }
            s->have_fde = true;
            continue;
        }
        sdl_binlog_event ev;
        if (!sdl_binlog_event_open(&s->fmt, raw, true, &ev, err)) {
            sdl_error_prefix(err, "%s event at '%s':%" PRIu64, sdl_binlog_event_type_name(hdr.type),
                             s->file, event_pos);
            return false;
        }

        bool ok = true;
        switch (hdr.type) {
        case SDL_BINLOG_ROTATE_EVENT: {
            sdl_binlog_rotate rot;
            ok = sdl_binlog_event_parse_rotate(&s->fmt, &ev, &rot, err);
            if (ok) {
                size_t n = SDL_MIN(rot.filename.len, sizeof(s->file) - 1);
                memcpy(s->file, rot.filename.ptr, n);
                s->file[n] = '\0';
            }
            break;
        }
        case SDL_BINLOG_GTID_EVENT: {
            sdl_binlog_gtid g;
            ok = sdl_binlog_event_parse_gtid(&s->fmt, &ev, &g, err);
            if (!ok) {
                break;
            }
            if (g.flags & (SDL_GTID_FL_PREPARED_XA | SDL_GTID_FL_COMPLETED_XA)) {
                sdl_error_set(err, SDL_E_UNSUPPORTED,
                              "XA transaction %" PRIu32 "-%" PRIu32 "-%" PRIu64
                              " at '%s':%" PRIu64 ": sdl does not replicate XA transactions yet",
                              g.domain, hdr.server_id, g.seq, s->file, event_pos);
                return false;
            }
            sdl_gtid gtid = {g.domain, hdr.server_id, g.seq};
            ok = begin_txn(s, &gtid, (g.flags & SDL_GTID_FL_STANDALONE) != 0, hdr.timestamp,
                           err);
            break;
        }
        case SDL_BINLOG_TABLE_MAP_EVENT:
            ok = handle_table_map(s, &ev, err);
            break;
        case SDL_BINLOG_XID_EVENT:
            if (!s->in_txn) {
                break; /* the tail of a transaction we resumed after */
            }
            commit_txn(s, c, hdr.log_pos);
            return true;
        case SDL_BINLOG_QUERY_EVENT:
        case SDL_BINLOG_QUERY_COMPRESSED_EVENT: {
            sdl_binlog_query q;
            sdl_arena_reset(&s->event_arena);
            ok = sdl_binlog_event_parse_query(&s->fmt, &ev, &s->event_arena, &q, err);
            if (!ok) {
                break;
            }
            if (!s->in_txn) {
                break;
            }
            if (is_word(q.statement, "BEGIN")) {
                break;
            }
            if (is_word(q.statement, "COMMIT")) {
                commit_txn(s, c, hdr.log_pos);
                return true;
            }
            if (is_word(q.statement, "ROLLBACK")) {
                /* A transaction that changed only non-transactional tables is never rolled
                 * back in the binlog; the server logs ROLLBACK only for empty ones. */
                commit_txn(s, c, hdr.log_pos);
                return true;
            }
            if (has_prefix(q.statement, "SAVEPOINT") || has_prefix(q.statement, "ROLLBACK TO")) {
                break;
            }
            /* A statement inside a row-based transaction that is not a transaction marker
             * is DDL (or a statement the server logs as text, like CREATE TABLE ... SELECT's
             * CREATE part): one DDL change with its own seq. */
            uint64_t seq = ++s->txn_seq;
            sdl_ddl_target target = {q.db, {NULL, 0}};
            bool known = sdl_ddl_target_parse(q.statement, q.db, &s->event_arena, &target);
            const char *tdb = sdl_arena_strndup(&s->event_arena, (const char *)target.db.ptr,
                                                target.db.len);
            const char *ttable = sdl_arena_strndup(&s->event_arena,
                                                   (const char *)target.table.ptr,
                                                   target.table.len);
            sdl_schema_cache_invalidate(s->schema, NULL);
            if (row_already_returned(s, seq) || !ddl_included(s, known, tdb, ttable)) {
                if (s->txn_standalone) {
                    sdl_change ignored;
                    commit_txn(s, &ignored, hdr.log_pos);
                }
                break;
            }
            c->kind = SDL_CHANGE_DDL;
            fill_pos(s, c, seq, event_pos, hdr.timestamp);
            /* the db text must outlive this call: keep it in the event arena */
            c->ddl_db = tdb;
            c->ddl_table = ttable;
            /* Account statements carry passwords in clear: never store or print them. */
            c->ddl_statement = sdl_redact_statement(q.statement, &s->event_arena);
            if (s->txn_standalone) {
                /* A standalone GTID (DDL) has no XID: the transaction ends here. */
                sdl_gtid_pos_advance(&s->position, &s->txn_gtid);
                free(s->position_text);
                s->position_text = sdl_gtid_pos_format(&s->position);
                s->in_txn = false;
                s->first_txn_seen = true;
                s->first_skip_rows = 0;
                s->skipping = false;
                if (until_reached(s)) {
                    s->ended = true;
                }
            }
            c->position = s->position_text;
            return true;
        }
        case SDL_BINLOG_HEARTBEAT_EVENT:
            c->kind = SDL_CHANGE_IDLE;
            return true;
        case SDL_BINLOG_XA_PREPARE_EVENT:
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "XA PREPARE at '%s':%" PRIu64 ": sdl does not replicate XA transactions yet",
                          s->file, event_pos);
            return false;
        case SDL_BINLOG_GTID_LIST_EVENT:
        case SDL_BINLOG_BINLOG_CHECKPOINT_EVENT:
        case SDL_BINLOG_ANNOTATE_ROWS_EVENT:
        case SDL_BINLOG_INTVAR_EVENT:
        case SDL_BINLOG_RAND_EVENT:
        case SDL_BINLOG_USER_VAR_EVENT:
        case SDL_BINLOG_STOP_EVENT:
        case SDL_BINLOG_START_ENCRYPTION_EVENT:
            break;
        default:
            if (sdl_binlog_event_is_rows(hdr.type)) {
                ok = handle_rows(s, &ev, event_pos, err);
                break;
            }
            /* Never silently skip: only types sdl knows to be irrelevant, or that the source
             * flags as ignorable, pass. */
            ok = sdl_binlog_event_check_known(&hdr, err);
            break;
        }
        if (!ok) {
            sdl_error_prefix(err, "%s event at '%s':%" PRIu64, sdl_binlog_event_type_name(hdr.type),
                             s->file, event_pos);
            return false;
        }
    }
}
