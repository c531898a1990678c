/* SPDX-License-Identifier: Apache-2.0 */
/* change-stream: the source as one pull interface, composed of the event source
 * (event-source.c), the transaction assembler and the table-map cache: positions (--from,
 * --until), filters, DDL targets, the changes handed out. */
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
#include "sdl/mysql/binlog-file.h"
#include "sdl/mysql/binlog-payload.h"
#include "sdl/mysql/binlog-reader.h"
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

_Static_assert(SDL_OP_INSERT == 1u << SDL_ROW_INSERT && SDL_OP_UPDATE == 1u << SDL_ROW_UPDATE &&
                   SDL_OP_DELETE == 1u << SDL_ROW_DELETE,
               "tables.skip_ops bits are 1 << sdl_row_op");

void
sdl_change_stream_set_config(sdl_change_stream *s, const sdl_config *config)
{
    s->config = config;
    s->opts.config = config;
    sdl_table_map_cache_refilter(&s->tables, config);
}

const sdl_config *
sdl_change_stream_config(const sdl_change_stream *stream)
{
    return stream->config;
}

const char *
sdl_change_stream_start_position(const sdl_change_stream *stream)
{
    return stream->start_text;
}

const char *
sdl_change_stream_position(const sdl_change_stream *stream)
{
    return stream->ta.position_text;
}

const char *
sdl_change_stream_flavor(const sdl_change_stream *stream)
{
    return sdl_source_flavor_name(stream->flavor);
}

/* ---- connection --------------------------------------------------------------------------- */

bool
sdl_change_stream_open(const sdl_change_stream_options *opts, sdl_change_stream **ret_stream,
                       sdl_error *err)
{
    sdl_change_stream *s = sdl_xcalloc(1, sizeof(*s));
    const sdl_config *cfg = opts->config;

    s->opts = *opts;
    s->config = cfg;
    s->pipeline = sdl_xstrdup(opts->pipeline ? opts->pipeline : cfg->pipeline.name);
    s->pipeline_len = (uint32_t)strlen(s->pipeline);
    sdl_txn_assembler_init(&s->ta, &(sdl_txn_assembler_options){
                                       .overlap_ok = opts->nfiles > 0,
                                       .statements_as_changes = opts->statements_as_changes,
                                       .skip_gtid = opts->skip_gtid,
                                       .skip_rows = opts->skip_rows,
                                   });
    sdl_table_map_cache_init(&s->tables);
    sdl_arena_init(&s->event_arena, 0);
    sdl_arena_init(&s->row_arena, 0);
    sdl_backoff_init(&s->backoff, cfg->pipeline.retry_initial_usec, cfg->pipeline.retry_max_usec);
    sdl_event_source_set_file(s, "");
    s->payload = sdl_payload_reader_new();

    if (opts->nfiles > 0) {
        if (!sdl_event_source_open_files(s, err)) {
            goto fail;
        }
        if (!sdl_change_stream_resolve_start(s, opts->from ? opts->from : "start", err)) {
            sdl_error_prefix(err, "--from");
            goto fail;
        }
        if (!sdl_change_stream_resolve_until(s, opts->until, err)) {
            goto fail;
        }
        /* Binlog files may hold transactions without GTIDs of any server. */
        s->ta.opts.statements_begin_txns = true;
        s->ta.opts.rows_begin_txns = true;
        *ret_stream = s;
        return true;
    }
    if (!sdl_mysql_conn_open(&cfg->source, 0, &s->meta, err) ||
        !sdl_mysql_conn_check_replication(s->meta, err)) {
        goto fail;
    }
    s->flavor = sdl_mysql_conn_flavor(s->meta) == SDL_FLAVOR_MYSQL ? SDL_BINLOG_FLAVOR_MYSQL
                                                                   : SDL_BINLOG_FLAVOR_MARIADB;
    if (opts->from_flavor && opts->from_flavor[0] &&
        strcmp(opts->from_flavor, sdl_change_stream_flavor(s)) != 0 &&
        !(s->flavor == SDL_BINLOG_FLAVOR_MYSQL &&
          strcmp(opts->from_flavor, sdl_source_flavor_name(SDL_BINLOG_FLAVOR_MARIADB)) == 0 &&
          sdl_source_flavor_of_text(opts->from) == SDL_BINLOG_FLAVOR_MYSQL)) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "the position '%s' was written for a %s source; this source is %s (%s): "
                      "use another pipeline.name or target database for it",
                      opts->from ? opts->from : "", opts->from_flavor, sdl_change_stream_flavor(s),
                      sdl_mysql_conn_server_version(s->meta));
        goto fail;
    }
    /* MySQL table maps carry the JSON type; the information_schema lookup is MariaDB's. */
    s->schema = s->flavor == SDL_BINLOG_FLAVOR_MYSQL ? NULL : sdl_schema_cache_new(s->meta);
    const char *from = opts->from ? opts->from : cfg->pipeline.start;
    if (strcmp(from, "snapshot") == 0) {
        from = "now"; /* the stream of a snapshot begins now (DESIGN.md §9) */
    }
    if (!sdl_change_stream_resolve_start(s, from, err)) {
        sdl_error_prefix(err, "resolving the start position");
        goto fail;
    }
    if (!sdl_change_stream_resolve_until(s, opts->until, err)) {
        goto fail;
    }
    /* Without GTIDs (MySQL with gtid_mode=OFF, servers before 5.6) a BEGIN starts a
     * transaction and any other statement is one by itself; over a MariaDB connection every
     * transaction starts with its GTID. Streamed by file and offset, rows without BEGIN are
     * a transaction of their own; by GTID they would have no position to resume at. */
    s->ta.opts.statements_begin_txns = s->flavor == SDL_BINLOG_FLAVOR_MYSQL;
    s->ta.opts.rows_begin_txns = sdl_change_stream_file_positions(s);
    if (sdl_change_stream_until_reached(s) && !sdl_change_stream_until_empty(s)) {
        s->ended = true;
    } else if (s->has_until && s->until_now && sdl_change_stream_until_empty(s)) {
        s->ended = true; /* the server has no transactions at all */
    }
    if (s->ended) {
        /* Nothing to stream, but the position must still be valid on the server: the
         * source answers a purged, diverged or ahead position with an error as the very
         * first packet, so one read tells. */
        sdl_bytes raw;
        bool eof = false;
        s->until_now = true; /* non-blocking dump: never wait here */
        if (!sdl_event_source_open_reader(s, err) ||
            !sdl_binlog_reader_next(s->reader, &raw, &eof, err)) {
            goto fail;
        }
        s->reader = sdl_binlog_reader_free(s->reader);
    } else if (!sdl_event_source_open_reader(s, err)) {
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
    (void)sdl_binlog_file_free(s->files);
    (void)sdl_payload_reader_free(s->payload);
    (void)sdl_schema_cache_free(s->schema);
    (void)sdl_mysql_conn_free(s->meta);
    sdl_table_map_cache_done(&s->tables);
    sdl_arena_done(&s->event_arena);
    sdl_arena_done(&s->row_arena);
    sdl_txn_assembler_done(&s->ta);
    sdl_source_position_done(&s->until);
    free(s->pipeline);
    free(s->start_text);
    free(s->notice);
    free(s);
    return NULL;
}

/* ---- transactions ------------------------------------------------------------------------- */

static void
fill_pos(const sdl_change_stream *s, sdl_change *c, uint64_t seq, uint64_t binlog_pos, uint32_t ts)
{
    c->pos.pipeline = s->pipeline;
    c->pos.gtid = s->ta.txn.text;
    c->pos.seq = seq;
    c->pos.ts_sec = (int64_t)(ts ? ts : (uint32_t)s->ta.ts);
    c->pos.binlog_file = s->file;
    c->pos.binlog_pos = binlog_pos;
    c->pos.split = false;
    c->pos.pipeline_len = s->pipeline_len;
    c->pos.gtid_len = s->ta.txn.text_len;
    c->pos.binlog_file_len = s->file_len;
}

/* A transaction began (@resumed: the one a lost connection interrupted). */
static void
began_txn(sdl_change_stream *s, bool resumed)
{
    if (s->opts.live_config && !resumed) {
        /* A reload applies from the next transaction on; a transaction read again after a
         * reconnect keeps the filters its first rows were read with. */
        const sdl_config *live = atomic_load(s->opts.live_config);
        if (live && live != s->config) {
            sdl_change_stream_set_config(s, live);
        }
    }
    s->rows_pending = false;
}

/* A GTID event: the transaction whose id is in s->ta.txn begins. */
static bool
begin_txn(sdl_change_stream *s, bool standalone, uint32_t ts, sdl_error *err)
{
    bool resumed = false;

    if (!sdl_txn_assembler_begin(&s->ta, &s->ta.txn, standalone, ts, &resumed, err)) {
        return false;
    }
    began_txn(s, resumed);
    return true;
}

/* Ends the transaction whose COMMIT is pending and fills the COMMIT change; false when the
 * transaction is one --from already covers (file mode), whose COMMIT is not handed out. */
static bool
commit_txn(sdl_change_stream *s, sdl_change *c)
{
    sdl_txn_commit tc;
    bool hand_out = sdl_txn_assembler_commit(&s->ta, s->file, &tc);

    s->rows_pending = false;
    sdl_table_map_cache_trim(&s->tables); /* between transactions: nothing mapped is needed */
    if (sdl_change_stream_until_reached(s)) {
        s->ended = true;
    }
    sdl_backoff_reset(&s->backoff);
    c->kind = SDL_CHANGE_COMMIT;
    fill_pos(s, c, tc.seq, tc.end_pos, 0);
    c->position = tc.position;
    return hand_out;
}

/* Binlog files of servers that log no charset metadata: see SDL_COLLATION_GUESS_UTF8. */
static void
guess_missing_charsets(sdl_table *t)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        sdl_column *col = &t->cols[i];
        switch (col->type) {
        case SDL_MYSQL_TYPE_STRING:
        case SDL_MYSQL_TYPE_VAR_STRING:
        case SDL_MYSQL_TYPE_VARCHAR:
        case SDL_MYSQL_TYPE_BLOB:
        case SDL_MYSQL_TYPE_ENUM:
        case SDL_MYSQL_TYPE_SET:
            if (col->charset == 0 ||
                ((col->type == SDL_MYSQL_TYPE_ENUM || col->type == SDL_MYSQL_TYPE_SET) &&
                 col->nvalues == 0)) {
                col->charset = SDL_COLLATION_GUESS_UTF8;
            }
            break;
        default:
            break;
        }
    }
}

static bool
handle_table_map(sdl_change_stream *s, const sdl_binlog_event *ev, sdl_error *err)
{
    sdl_cursor cur = sdl_cursor_make(ev->body);
    uint64_t table_id =
        sdl_cursor_uint_le(&cur, sdl_binlog_format_post_header_len(&s->fmt, 19) == 6 ? 4 : 6);
    sdl_table *table = NULL;

    if (sdl_table_map_cache_same(&s->tables, table_id, ev->body)) {
        return true;
    }
    if (!sdl_binlog_event_parse_table_map(&s->fmt, ev, sdl_table_map_cache_arena(&s->tables),
                                          &table, err)) {
        return false;
    }
    if (s->schema && !sdl_schema_cache_mark_json(s->schema, table, err)) {
        return false;
    }
    if (s->files) {
        guess_missing_charsets(table);
    }
    if (table->table_id != table_id) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TABLE_MAP table id %" PRIu64 " read as %" PRIu64,
                      table_id, table->table_id);
        return false;
    }
    sdl_table_map_cache_store(&s->tables, table_id, ev->body, table, s->config);
    return true;
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
        char *dbpat = sdl_xstrndup(t->include[i],
                                   dot ? (size_t)(dot - t->include[i]) : strlen(t->include[i]));
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
next_row(sdl_change_stream *s, sdl_change *c, bool *ret_have, sdl_error *err)
{
    for (;;) {
        bool more = false;
        sdl_row_change rc;

        sdl_arena_reset(&s->row_arena);
        if (!sdl_row_decoder_next(&s->decoder, &rc, &more, err)) {
            sdl_error_prefix(err, "decoding rows of '%s.%s' in transaction %s at '%s':%" PRIu64,
                             s->rows_slot->table->db, s->rows_slot->table->name, s->ta.txn.text,
                             s->file, s->rows_event_pos);
            return false;
        }
        if (!more) {
            s->rows_pending = false;
            *ret_have = false;
            return true;
        }
        bool again;
        uint64_t seq = sdl_txn_assembler_row(&s->ta, &again);
        /* tables.skip_ops: the row is dropped like a filtered one; its transaction's COMMIT
         * still comes, so the offset moves past it */
        bool pass = (s->rows_slot->pass_ops >> rc.op) & 1u;
        if (!again) {
            s->rows_read++;
            s->rows_filtered += !pass;
        }
        if (again) {
            continue;
        }
        c->row = rc;
        fill_pos(s, c, seq, s->rows_event_pos, s->rows_event_ts);
        /* the snapshot's tap (DESIGN.md §9) sees every row, filtered or not; a row it keeps
         * (the watermark table's) is never handed out */
        if (s->opts.row_tap && s->opts.row_tap(s->opts.row_tap_ctx, &c->row, &c->pos)) {
            continue;
        }
        if (!pass) {
            continue;
        }
        c->kind = SDL_CHANGE_ROW;
        *ret_have = true;
        return true;
    }
}

static bool
handle_rows(sdl_change_stream *s, const sdl_binlog_event *ev, uint64_t event_pos, sdl_error *err)
{
    sdl_binlog_rows *rows = &s->rows;
    bool began = false, resumed = false;

    if (!sdl_txn_assembler_rows(&s->ta, s->file, event_pos, ev->header.timestamp, &began, &resumed,
                                err)) {
        return false;
    }
    if (began) {
        began_txn(s, resumed);
    }
    sdl_arena_reset(&s->event_arena);
    if (!sdl_binlog_event_parse_rows(&s->fmt, ev, &s->event_arena, rows, err)) {
        return false;
    }
    const sdl_table_map_entry *slot = sdl_table_map_cache_lookup(&s->tables, rows->table_id);
    if (!slot) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "rows event for table id %" PRIu64 " without a preceding TABLE_MAP",
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

/*
 * A QUERY (or EXECUTE_LOAD_QUERY) event. Returns true with *ret_have when @c holds a change
 * to hand out. The assembler (txn-assembler.h) says what the statement is to its
 * transaction: a marker, the end, a DDL (handed out unless the filters exclude its table), a
 * STATEMENT (opts.statements_as_changes), or why it stops the stream.
 */
static bool
handle_query(sdl_change_stream *s, const sdl_binlog_event *ev, uint64_t event_pos, uint64_t end_pos,
             sdl_change *c, bool *ret_have, sdl_error *err)
{
    sdl_binlog_query q;
    sdl_txn_query_result r;

    *ret_have = false;
    sdl_arena_reset(&s->event_arena);
    if (!sdl_binlog_event_parse_query(&s->fmt, ev, &s->event_arena, &q, err)) {
        return false;
    }
    if (!sdl_txn_assembler_query(&s->ta, q.statement, s->file, event_pos, end_pos,
                                 ev->header.timestamp, &r, err)) {
        return false;
    }
    if (r.began) {
        began_txn(s, r.resumed);
    }
    if (r.step == SDL_TXN_STEP_NONE) {
        return true;
    }
    if (r.step == SDL_TXN_STEP_STATEMENT) {
        /* opts.statements_as_changes: a statement-based change handed out as one */
        *ret_have = !r.again;
        if (*ret_have) {
            c->kind = SDL_CHANGE_STATEMENT;
            fill_pos(s, c, r.seq, event_pos, ev->header.timestamp);
            c->ddl_db = sdl_arena_strndup(&s->event_arena, (const char *)q.db.ptr, q.db.len);
            c->ddl_table = "";
            c->ddl_statement = sdl_redact_statement(q.statement, &s->event_arena);
        }
        return true;
    }
    uint64_t seq = r.seq;
    sdl_ddl_target targets[16];
    size_t ntargets =
        sdl_ddl_targets_parse(q.statement, q.db, &s->event_arena, targets, SDL_ARRAY_SIZE(targets));
    bool included = ntargets == 0 && ddl_included(s, false, "", "");
    const char *tdb = NULL, *ttable = NULL;
    for (size_t i = 0; i < ntargets; i++) {
        const char *db =
            sdl_arena_strndup(&s->event_arena, (const char *)targets[i].db.ptr, targets[i].db.len);
        const char *table = sdl_arena_strndup(&s->event_arena, (const char *)targets[i].table.ptr,
                                              targets[i].table.len);
        if (i == 0) {
            tdb = db; /* the document names the first table (or database) */
            ttable = table;
        }
        /* a statement on several tables passes when one of them does */
        included = included || ddl_included(s, true, db, table);
    }
    if (ntargets == 0) {
        tdb = sdl_arena_strndup(&s->event_arena, (const char *)q.db.ptr, q.db.len);
        ttable = "";
    }
    if (s->schema) {
        sdl_schema_cache_invalidate(s->schema, NULL);
    }
    bool hand_out = !r.again && included;
    if (hand_out) {
        c->kind = SDL_CHANGE_DDL;
        fill_pos(s, c, seq, event_pos, ev->header.timestamp);
        /* the db text must outlive this call: keep it in the event arena */
        c->ddl_db = tdb;
        c->ddl_table = ttable;
        /* Account statements carry passwords in clear: never store or print them. */
        c->ddl_statement = sdl_redact_statement(q.statement, &s->event_arena);
    }
    *ret_have = hand_out;
    return true;
}

bool
sdl_change_stream_next(sdl_change_stream *s, sdl_change *c, sdl_error *err)
{
    if (s->rows_pending && !s->notice_given) {
        /* The common call: the next row of the current rows event. next_row() sets kind, row
         * and pos, and a row carries nothing else, so only the rest is cleared (the memset of
         * the whole change below costs more than the row's other bookkeeping). */
        bool have = false;
        c->ddl_db = NULL;
        c->ddl_table = NULL;
        c->ddl_statement = (sdl_bytes){NULL, 0};
        c->position = NULL;
        c->notice = NULL;
        if (!next_row(s, c, &have, err)) {
            return false;
        }
        if (have) {
            return true;
        }
    }
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
        if (sdl_txn_assembler_commit_pending(&s->ta)) {
            /* the end of a transaction: its XID or COMMIT, or the standalone DDL handed out
             * by the previous call */
            if (commit_txn(s, c)) {
                return true;
            }
        }
        if (s->ended) {
            c->kind = SDL_CHANGE_END;
            c->position = s->ta.position_text;
            if (s->notice && !s->notice_given) {
                c->notice = s->notice;
                s->notice_given = true;
            }
            return true;
        }

        sdl_bytes raw;
        bool eof = false;
        bool inner = false;
        if (!sdl_event_source_read(s, &raw, &eof, &inner, err)) {
            return false;
        }
        if (s->notice) {
            c->notice = s->notice; /* valid until the next call */
            s->notice_given = true;
        }
        if (eof) {
            if (sdl_txn_assembler_in_txn(&s->ta) && s->files) {
                /* The files end between two events of a transaction: the server was still
                 * writing it (or crashed). Its rows so far were handed out; it never
                 * committed here. */
                free(s->notice);
                s->notice = sdl_xasprintf("the binlog files end inside transaction %s, which "
                                          "has no COMMIT in them",
                                          s->ta.txn.text);
                s->notice_given = false;
                sdl_txn_assembler_abandon(&s->ta);
            } else if (sdl_txn_assembler_in_txn(&s->ta)) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "the source ended the binlog stream inside transaction %s",
                              s->ta.txn.text);
                return false;
            }
            s->ended = true;
            continue;
        }

        sdl_binlog_event_header hdr;
        uint64_t event_pos = inner ? s->payload_pos : s->ev_pos;
        uint64_t end_pos = inner ? s->payload_end : s->ev_end;
        if (!sdl_binlog_event_header_parse(raw, &hdr, err)) {
            sdl_error_prefix(err, "event at '%s':%" PRIu64, sdl_event_source_where(s), event_pos);
            return false;
        }

        if (hdr.type == SDL_BINLOG_FORMAT_DESCRIPTION_EVENT && !inner) {
            if (!sdl_event_source_handle_fde(s, raw, err)) {
                sdl_error_prefix(err, "FORMAT_DESCRIPTION at '%s':%" PRIu64,
                                 sdl_event_source_where(s), event_pos);
                return false;
            }
            continue;
        }
        if (s->files && !s->have_fde) {
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "%s event at '%s':%" PRIu64
                          " before any FORMAT_DESCRIPTION_EVENT: only binlog format v4 "
                          "(MySQL 5.0+, MariaDB) is supported",
                          sdl_binlog_event_type_name(hdr.type), sdl_event_source_where(s),
                          event_pos);
            return false;
        }
        sdl_binlog_event ev;
        /* The read-ahead thread may have checked the CRC already. */
        bool checked = !inner && !s->files && s->reader && sdl_binlog_reader_crc_ok(s->reader);
        if (!sdl_binlog_event_open(inner ? &s->inner_fmt : &s->fmt, raw, !checked, &ev, err)) {
            sdl_error_prefix(err, "%s event at '%s':%" PRIu64, sdl_binlog_event_type_name(hdr.type),
                             sdl_event_source_where(s), event_pos);
            return false;
        }

        bool ok = true;
        bool have = false;
        switch (hdr.type) {
        case SDL_BINLOG_ROTATE_EVENT: {
            sdl_binlog_rotate rot;
            ok = sdl_binlog_event_parse_rotate(&s->fmt, &ev, &rot, err);
            if (ok && !s->files) {
                /* In files, the name is the file's own (a relay log's ROTATEs name the
                 * source's files). */
                size_t n = SDL_MIN(rot.filename.len, sizeof(s->file) - 1);
                memcpy(s->file, rot.filename.ptr, n);
                s->file[n] = '\0';
                s->file_len = (uint32_t)strlen(s->file); /* a NUL inside ends it */
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
                              "XA transaction %" PRIu32 "-%" PRIu32 "-%" PRIu64 " at '%s':%" PRIu64
                              ": sdl does not replicate XA transactions yet",
                              g.domain, hdr.server_id, g.seq, sdl_event_source_where(s), event_pos);
                return false;
            }
            sdl_source_txn_set_mariadb(&s->ta.txn, &(sdl_gtid){g.domain, hdr.server_id, g.seq});
            ok = begin_txn(s, (g.flags & SDL_GTID_FL_STANDALONE) != 0, hdr.timestamp, err);
            break;
        }
        case SDL_BINLOG_MYSQL_GTID_EVENT:
        case SDL_BINLOG_MYSQL_GTID_TAGGED_EVENT:
        case SDL_BINLOG_MYSQL_ANONYMOUS_GTID_EVENT: {
            sdl_binlog_mysql_gtid g;
            ok = sdl_binlog_event_parse_mysql_gtid(&s->fmt, &ev, &g, err);
            if (ok) {
                /* Standalone until a BEGIN says otherwise (a DDL has none). Without a GTID
                 * the id is "<file>:<offset of its first event>". */
                if (g.anonymous) {
                    sdl_source_txn_set_anonymous(&s->ta.txn, s->file, event_pos);
                } else {
                    sdl_source_txn_set_mysql(&s->ta.txn, &g.gtid);
                }
                ok = begin_txn(s, true, hdr.timestamp, err);
            }
            break;
        }
        case SDL_BINLOG_MYSQL_PREVIOUS_GTIDS_EVENT: {
            /* The GTIDs of every earlier file: executed before the first transaction here. */
            sdl_gtid_set prev = SDL_GTID_SET_INIT;
            ok = sdl_binlog_event_parse_previous_gtids(&s->fmt, &ev, &prev, err);
            if (ok && s->flavor == SDL_BINLOG_FLAVOR_MYSQL) {
                sdl_source_position_add_set(&s->ta.position, &prev);
            }
            sdl_gtid_set_done(&prev);
            break;
        }
        case SDL_BINLOG_TRANSACTION_PAYLOAD_EVENT: {
            sdl_binlog_payload pl;
            if (inner) {
                sdl_error_set(err, SDL_E_PROTOCOL, "a TRANSACTION_PAYLOAD_EVENT inside another");
                ok = false;
                break;
            }
            ok = sdl_binlog_event_parse_payload(&s->fmt, &ev, &pl, err) &&
                 sdl_payload_reader_start(s->payload, &pl, err);
            s->payload_pos = event_pos;
            s->payload_end = end_pos;
            s->payload_ts = hdr.timestamp;
            break;
        }
        case SDL_BINLOG_TABLE_MAP_EVENT:
            ok = handle_table_map(s, &ev, err);
            break;
        case SDL_BINLOG_XID_EVENT:
            sdl_txn_assembler_xid(&s->ta, end_pos); /* its COMMIT: at the top of the loop */
            break;
        case SDL_BINLOG_QUERY_EVENT:
        case SDL_BINLOG_QUERY_COMPRESSED_EVENT:
        case SDL_BINLOG_EXECUTE_LOAD_QUERY_EVENT:
            /* EXECUTE_LOAD_QUERY is a QUERY with a longer post-header (statement-based LOAD
             * DATA): a statement like any other. */
            ok = handle_query(s, &ev, event_pos, end_pos, c, &have, err);
            if (ok && have) {
                return true;
            }
            break;
        case SDL_BINLOG_HEARTBEAT_EVENT:
        case SDL_BINLOG_HEARTBEAT_EVENT_V2:
            c->kind = SDL_CHANGE_IDLE;
            return true;
        case SDL_BINLOG_XA_PREPARE_EVENT:
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "XA PREPARE at '%s':%" PRIu64
                          ": sdl does not replicate XA transactions yet",
                          sdl_event_source_where(s), event_pos);
            return false;
        case SDL_BINLOG_INCIDENT_EVENT:
            /* The source says its binlog lost changes here (e.g. LOST_EVENTS): never go on
             * as if nothing happened. */
            sdl_error_set(err, SDL_E_SOURCE,
                          "INCIDENT_EVENT at '%s':%" PRIu64
                          ": the source recorded an incident (changes may be missing from its "
                          "binlog); re-synchronise the target from the source",
                          sdl_event_source_where(s), event_pos);
            return false;
        case SDL_BINLOG_GTID_LIST_EVENT:
        case SDL_BINLOG_BINLOG_CHECKPOINT_EVENT:
        case SDL_BINLOG_ANNOTATE_ROWS_EVENT:
        case SDL_BINLOG_ROWS_QUERY_EVENT:
        case SDL_BINLOG_INTVAR_EVENT:
        case SDL_BINLOG_RAND_EVENT:
        case SDL_BINLOG_USER_VAR_EVENT:
        case SDL_BINLOG_STOP_EVENT:
        case SDL_BINLOG_START_ENCRYPTION_EVENT:
        case SDL_BINLOG_APPEND_BLOCK_EVENT:     /* LOAD DATA file contents */
        case SDL_BINLOG_BEGIN_LOAD_QUERY_EVENT: /* LOAD DATA file contents */
        case SDL_BINLOG_MYSQL_TRANSACTION_CONTEXT_EVENT:
        case SDL_BINLOG_MYSQL_VIEW_CHANGE_EVENT:
            break;
        default:
            if (sdl_binlog_event_is_rows(hdr.type)) {
                ok = handle_rows(s, &ev, event_pos, err);
                break;
            }
            /* Never silently skip: only types sdl knows to be irrelevant, or that the source
             * flags as ignorable, pass. */
            ok = hdr.type != SDL_BINLOG_START_EVENT_V3 && sdl_binlog_event_check_known(&hdr, err);
            if (!ok && hdr.type == SDL_BINLOG_START_EVENT_V3) {
                sdl_error_set(err, SDL_E_UNSUPPORTED, "binlog format v1/v3 is not supported");
            }
            break;
        }
        if (!ok) {
            sdl_error_prefix(err, "%s event at '%s':%" PRIu64, sdl_binlog_event_type_name(hdr.type),
                             sdl_event_source_where(s), event_pos);
            if (err->transient && s->opts.reconnect && !s->files) {
                sdl_event_source_lose_connection(s,
                                                 err); /* e.g. the metadata query of a table map */
                continue;
            }
            return false;
        }
    }
}

void
sdl_change_stream_counts(const sdl_change_stream *s, sdl_change_stream_counters *ret)
{
    ret->events = s->events;
    ret->inner_events = s->inner_events;
    ret->bytes = s->bytes;
    ret->rows = s->rows_read;
    ret->rows_filtered = s->rows_filtered;
    ret->reconnects = s->reconnects;
}

uint64_t
sdl_change_stream_events(const sdl_change_stream *s, uint64_t *ret_inner)
{
    if (ret_inner) {
        *ret_inner = s->inner_events;
    }
    return s->events;
}
