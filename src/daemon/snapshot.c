/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/snapshot.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/mysql/snapshot-reader.h"

#include "snapshot-private.h"

/* consistent mode: a chunk's documents' seq starts above this (see sdl_snapshot_due_commit) */
#define SDL_SNAPSHOT_SEQ_BASE ((uint64_t)1 << 32)

/* ---- keys (snapshot-keys.c makes their text) ---- */

/* The key of @values (a row image of the current table). */
static char *
key_string(const sdl_snapshot *s, const sdl_value *values)
{
    const uint32_t *cols;
    uint32_t n = sdl_snapshot_table_key(s->table, &cols);

    return sdl_snapshot_key_text(values, cols, n);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the chunks in flight ---- */

static snap_chunk *
nth(const sdl_snapshot *s, size_t i)
{
    return (snap_chunk *)(uintptr_t)&s->chunks[(s->head + i) % SDL_SNAPSHOT_IN_FLIGHT];
}

snap_chunk *
sdl_snapshot_head(const sdl_snapshot *s)
{
    return nth(s, 0);
}

/* Frees what the slot holds but its arena's first block: the slot is free again. */
static void
chunk_clear(snap_chunk *c)
{
    for (size_t i = 0; i < c->nchanged; i++) {
        free(c->changed[i]);
    }
    c->nchanged = 0;
    c->sorted = false;
    free(c->hi_gtid);
    c->hi_gtid = NULL;
    memset(&c->rows, 0, sizeof(c->rows));
    sdl_arena_reset(&c->arena);
    c->state = CHUNK_NONE;
}

/* Drops every chunk in flight (a DDL, a lost connection, a chunk cut short): none is
 * emitted; their watermarks, met in the stream later, match nothing, and the next chunk is
 * read after the last committed key. */
static void
drop_chunks(sdl_snapshot *s)
{
    for (size_t i = 0; i < s->count; i++) {
        chunk_clear(nth(s, i));
    }
    s->head = 0;
    s->count = 0;
}

/* ---- life ---- */

sdl_snapshot *
sdl_snapshot_new(const sdl_config *config, const uint8_t *progress, size_t len)
{
    bson_t p;
    sdl_snapshot *s = sdl_xcalloc(1, sizeof(*s));

    s->config = config;
    s->consistent = config && config->snapshot.mode == SDL_SNAPSHOT_CONSISTENT;
    if (config) {
        const char *wm = config->snapshot.watermark_table, *dot = strchr(wm, '.');
        s->wm_db_len = dot ? (size_t)(dot - wm) : 0;
        s->wm_db = sdl_xstrndup(wm, s->wm_db_len);
        s->wm_table = dot ? dot + 1 : "";
    }
    bson_init(&s->progress);
    if (progress && bson_init_static(&p, progress, len)) {
        bson_copy_to_excluding_noinit(&p, &s->progress, "", NULL);
    }
    bson_init(&s->next);
    for (size_t i = 0; i < SDL_SNAPSHOT_IN_FLIGHT; i++) {
        sdl_arena_init(&s->chunks[i].arena, 64 * 1024);
    }
    sdl_snapshot_load_progress(s);
    return s;
}

sdl_snapshot *
sdl_snapshot_free(sdl_snapshot *s)
{
    if (!s) {
        return NULL;
    }
    drop_chunks(s);
    for (size_t i = 0; i < SDL_SNAPSHOT_IN_FLIGHT; i++) {
        free(s->chunks[i].changed);
        sdl_arena_done(&s->chunks[i].arena);
    }
    (void)sdl_snapshot_table_free(s->table);
    (void)sdl_snapshot_reader_free(s->reader);
    bson_destroy(&s->progress);
    bson_destroy(&s->next);
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->tables[i]);
    }
    free(s->tables);
    free(s->id);
    free(s->last_request);
    free(s->last_key);
    free(s->est);
    free(s->est_id);
    free(s->view_pos);
    free(s->old_view);
    free(s->stream_pos);
    free(s->wm_db);
    free(s);
    return NULL;
}

bool
sdl_snapshot_pending(const sdl_snapshot *s)
{
    return s && s->done < s->ntables;
}

/* Drops the connection and the table after a failure: the next step opens them again. */
static void
reset_source(sdl_snapshot *s)
{
    drop_chunks(s); /* the new connection starts again after the last committed key */
    s->table = sdl_snapshot_table_free(s->table);
    s->reader = sdl_snapshot_reader_free(s->reader);
    free(s->old_view); /* the view went with the connection: a new one is opened */
    s->old_view = s->view_pos;
    s->view_pos = NULL;
    s->reached = false;
}

/* The current table's database (malloc'd) and *ret_table, its name. */
static char *
current_table(const sdl_snapshot *s, const char **ret_table)
{
    const char *name = s->tables[s->done];
    const char *dot = strchr(name, '.');

    *ret_table = dot ? dot + 1 : "";
    return sdl_xstrndup(name, dot ? (size_t)(dot - name) : strlen(name));
}

/* Describes the current table; false with *ret_skip when it is to be skipped. */
static bool
describe(sdl_snapshot *s, bool *ret_skip, sdl_error *err)
{
    const char *name = s->tables[s->done], *table;
    char *db = current_table(s, &table);
    const uint32_t *cols;
    bool ok;

    *ret_skip = false;
    s->table = sdl_snapshot_table_free(s->table);
    ok = sdl_snapshot_reader_describe(s->reader, db, table, &s->table, err);
    if (!ok && err->code == SDL_E_SCHEMA) {
        log_warning("Snapshot: table '%s' no longer exists; it is left out", name);
        *ret_skip = true;
        sdl_error_clear(err);
        ok = true;
    } else if (ok && sdl_snapshot_table_key(s->table, &cols) == 0) {
        if (s->config->snapshot.no_key == SDL_SNAPSHOT_NO_KEY_ERROR) {
            sdl_error_set(err, SDL_E_CONFIG,
                          "snapshot: table '%s' has neither a primary key nor a unique key of "
                          "NOT NULL columns to read it in chunks by; add one, exclude the table "
                          "(tables.exclude) or set snapshot.no_key: skip",
                          name);
            ok = false;
        } else {
            log_warning("Snapshot: table '%s' has no key to read it in chunks by; its existing "
                        "rows are left out (snapshot.no_key: skip)",
                        name);
            *ret_skip = true;
        }
    }
    s->described = s->done;
    free(db);
    return ok;
}

static void
new_token(char *buf, size_t size, const char *what)
{
    uint64_t a = sdl_now_realtime_usec();
    uint64_t b = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ sdl_now_monotonic_usec();
    (void)snprintf(buf, size, "%016" PRIx64 "%016" PRIx64 "-%s", a, b, what);
}

/* consistent mode: the current table changed after the view opened, which held no lock on it
 * before reading it (@why). The view is given up; the next one, opened in a later second
 * (CREATE_TIME has whole seconds), is where the stream reads on to (past the DDL), and the
 * table is described there and read on after its last committed key. */
static void
new_view(sdl_snapshot *s, const char *why)
{
    log_info("Snapshot %s: table %s changed after the consistent view opened (%s); it is read "
             "on from a new view",
             s->id, s->tables[s->done], why);
    reset_source(s);
    s->view_not_before = sdl_now_monotonic_usec() + SDL_USEC_PER_SEC;
}

/* consistent mode: opens the view, and once the stream is at its position reads the next
 * chunk from it (due: sdl_snapshot_due()). */
static bool
consistent_step(sdl_snapshot *s, uint64_t limit, sdl_error *err)
{
    snap_chunk *c = nth(s, 0); /* one chunk at a time: none is in flight */

    chunk_clear(c);
    if (!s->view_pos) {
        if (sdl_now_monotonic_usec() < s->view_not_before) {
            return true; /* CREATE_TIME has whole seconds: the next view in a later one */
        }
        if (!sdl_snapshot_reader_consistent(s->reader, &s->view_pos, err)) {
            goto failed;
        }
        s->view_checked = UINT64_MAX;
        s->reached = sdl_snapshot_position_reached(s->stream_pos, s->view_pos);
        log_info("Snapshot %s: consistent view at position '%s'; its rows go in when the "
                 "stream is there (now at '%s')",
                 s->id, s->view_pos, s->stream_pos ? s->stream_pos : "");
    }
    if (!s->reached) {
        return true;
    }
    if (s->table && s->view_checked != s->done) {
        /* a table altered after the view opened without a rebuild would be read in its new
         * shape at the view's position, before its ALTER: a new view, past the ALTER */
        const char *table;
        char *db = current_table(s, &table);
        bool outdated = sdl_snapshot_reader_view_outdated(s->reader, db, table);
        free(db);
        if (outdated) {
            new_view(s, "created or altered since");
            return true;
        }
        s->view_checked = s->done;
    }
    c->read_sec = (int64_t)(sdl_now_realtime_usec() / SDL_USEC_PER_SEC);
    c->limit = limit;
    if (s->table && !sdl_snapshot_reader_chunk(s->reader, s->table, s->last_key, limit, &c->arena,
                                               &c->rows, err)) {
        if (err->code != SDL_E_SCHEMA) {
            goto failed;
        }
        /* altered (error 1412), dropped or renamed after the view opened */
        new_view(s, err->message);
        sdl_error_clear(err);
        return true;
    }
    c->state = CHUNK_VIEW;
    s->count = 1;
    return true;
failed:
    if (err->transient) {
        reset_source(s);
    }
    return false;
}

void
sdl_snapshot_stream_at(sdl_snapshot *s, const char *position)
{
    if (!s || !s->consistent || !position) {
        return;
    }
    size_t len = strlen(position);
    s->stream_pos = sdl_xrealloc(s->stream_pos, len + 1);
    memcpy(s->stream_pos, position, len + 1);
    if (s->view_pos && !s->reached) {
        s->reached = sdl_snapshot_position_reached(s->stream_pos, s->view_pos);
    }
}

bool
sdl_snapshot_due(const sdl_snapshot *s)
{
    return s && s->count && nth(s, 0)->state == CHUNK_VIEW;
}

void
sdl_snapshot_due_commit(const sdl_snapshot *s, sdl_change *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->kind = SDL_CHANGE_COMMIT;
    ret->pos.pipeline = s->config->pipeline.name;
    /* the view's position names the transaction the rows follow (one domain: its GTID), so
     * they sort after it and before the next; seq above any transaction's own rows, counted
     * by the snapshot's committed rows, keeps the _ids <pipeline>:<gtid>:<seq> apart */
    ret->pos.gtid = s->view_pos ? s->view_pos : "";
    ret->pos.seq = SDL_SNAPSHOT_SEQ_BASE + s->rows;
    ret->pos.ts_sec = nth(s, 0)->read_sec;
    ret->pos.binlog_file = "";
    ret->position = s->stream_pos ? s->stream_pos : "";
}

static bool read_chunk(sdl_snapshot *s, snap_chunk *c, const sdl_value *after, sdl_error *err);

/* Reads the reply of the newest chunk's high watermark when no step will (the stream waits
 * for that watermark: a write that failed must not go unnoticed). */
static bool
settle(sdl_snapshot *s, sdl_error *err)
{
    if (!s->reader || sdl_snapshot_reader_settle(s->reader, err)) {
        return true;
    }
    if (err->transient) {
        reset_source(s);
    }
    return false;
}

/* The key after which a chunk started now reads: the last committed key, or, with chunks in
 * flight, the last key the newest of them read (*ret_buf: the values, to free); false when no
 * chunk may start now (the newest chunk in flight ends its table, or its table was left out). */
static bool
next_start(sdl_snapshot *s, const sdl_value **ret_after, sdl_value **ret_buf)
{
    *ret_buf = NULL;
    *ret_after = s->last_key;
    if (s->count == 0) {
        return true;
    }
    const snap_chunk *last = nth(s, s->count - 1);
    if (!s->table || last->state == CHUNK_VIEW || last->rows.nrows == 0 ||
        last->rows.nrows < last->limit) {
        return false;
    }
    const uint32_t *cols;
    uint32_t n = sdl_snapshot_table_key(s->table, &cols);
    const sdl_value *row =
        last->rows.values + (last->rows.nrows - 1) * sdl_snapshot_table_get(s->table)->ncols;
    sdl_value *key = sdl_xcalloc(n ? n : 1, sizeof(*key));
    for (uint32_t k = 0; k < n; k++) {
        key[k] = row[cols[k]]; /* strings in last's arena: it stays in flight meanwhile */
    }
    *ret_after = key;
    *ret_buf = key;
    return true;
}

bool
sdl_snapshot_step(sdl_snapshot *s, uint64_t max_rows, sdl_error *err)
{
    const sdl_value *after;
    sdl_value *key_buf = NULL;

    if (!s || s->done >= s->ntables) {
        return true;
    }
    if (s->count >= (s->consistent ? 1 : SDL_SNAPSHOT_IN_FLIGHT)) {
        return true; /* the oldest chunk's high watermark was settled before the newest's SELECT */
    }
    if (s->count && (!s->reader || !s->table || s->described != s->done)) {
        return settle(s, err);
    }
    if (!s->reader &&
        !sdl_snapshot_reader_open(s->config, s->config->pipeline.name, &s->reader, err)) {
        return false;
    }
    if (s->count == 0 && (!s->table || s->described != s->done)) {
        bool skip = false;
        if (!describe(s, &skip, err)) {
            if (err->transient) {
                reset_source(s);
            }
            return false;
        }
        if (skip) {
            /* a table left out still needs its progress committed: an empty chunk */
            s->table = sdl_snapshot_table_free(s->table);
        } else {
            const char *name = s->tables[s->done];
            sdl_snapshot_estimate_tables(s);
            log_info("Snapshot %s: table %s (%" PRIu64 " of %zu, about %" PRIu64 " rows)", s->id,
                     name, s->done + 1, s->ntables, s->est[s->done]);
        }
    }
    uint64_t limit = s->config->snapshot.chunk_rows;
    if (max_rows && limit > max_rows) {
        limit = max_rows; /* a transaction of exactly the limit is not split (batcher.h) */
    }
    if (s->consistent) {
        return consistent_step(s, limit, err);
    }
    if (!next_start(s, &after, &key_buf)) {
        return settle(s, err); /* the newest chunk in flight ends the table: the next waits */
    }
    /* the newest chunk in flight's high watermark is this one's low watermark (DESIGN.md §9
     * "Chunks in flight"): written before this SELECT, not yet passed by the stream */
    const snap_chunk *prev = s->count ? nth(s, s->count - 1) : NULL;
    snap_chunk *c = nth(s, s->count);
    chunk_clear(c);
    c->limit = limit;
    new_token(c->hi, sizeof(c->hi), "hi");
    if (prev) {
        memcpy(c->lo, prev->hi, sizeof(c->lo));
    } else {
        new_token(c->lo, sizeof(c->lo), "lo");
        if (!sdl_snapshot_reader_watermark(s->reader, c->lo, err)) {
            goto failed;
        }
    }
    c->read_sec = (int64_t)(sdl_now_realtime_usec() / SDL_USEC_PER_SEC);
    if (s->table && !read_chunk(s, c, after, err)) {
        if (err->code == SDL_E_SCHEMA && s->count) {
            /* the table changed under the chunks in flight: all of them are read again, from
             * the last committed key, once it is described again */
            log_info("Snapshot %s: table %s changed while it was read (%s); the chunks in "
                     "flight are read again as it is now",
                     s->id, s->tables[s->done], err->message);
            sdl_error_clear(err);
            chunk_clear(c);
            drop_chunks(s);
            s->table = sdl_snapshot_table_free(s->table);
            free(key_buf);
            return true;
        }
        goto failed;
    }
    free(key_buf);
    key_buf = NULL;
    /* sent, not waited for: it commits while the stream and the emitting go on; the next call
     * on the connection reads its reply (and fails if the write did) */
    if (!sdl_snapshot_reader_watermark_send(s->reader, c->hi, err)) {
        goto failed;
    }
    /* between the shared watermark's row and its COMMIT (the stream met the row already):
     * the window is open from here */
    c->state = prev && prev->state == CHUNK_HI ? CHUNK_WINDOW : CHUNK_WAIT_LO;
    s->count++;
    if (s->count > 1) {
        sdl_failpoint("snapshot.chunks_in_flight"); /* tests: kill -9 with two in flight */
    }
    return true;
failed:
    free(key_buf);
    chunk_clear(c);
    if (err->transient) {
        reset_source(s);
    }
    return false;
}

/* The tables of a request: those the configuration includes that match one of @patterns. */
static bool
request_tables(sdl_snapshot *s, const sdl_config *config, bson_iter_t *patterns, char ***ret_names,
               size_t *ret_n, sdl_error *err)
{
    char **all = NULL, **out = NULL;
    size_t nall = 0, n = 0;

    if (!s->reader &&
        !sdl_snapshot_reader_open(s->config, s->config->pipeline.name, &s->reader, err)) {
        return false;
    }
    if (!sdl_snapshot_reader_list_tables(s->reader, config, &all, &nall, err)) {
        reset_source(s);
        return false;
    }
    out = sdl_xcalloc(nall ? nall : 1, sizeof(*out));
    for (size_t i = 0; i < nall; i++) {
        bson_iter_t it = *patterns;
        bool match = false;
        while (!match && bson_iter_next(&it)) {
            match = BSON_ITER_HOLDS_UTF8(&it) && fnmatch(bson_iter_utf8(&it, NULL), all[i], 0) == 0;
        }
        if (match) {
            out[n++] = all[i];
            all[i] = NULL;
        }
    }
    sdl_snapshot_names_free(all, nall);
    *ret_names = out;
    *ret_n = n;
    return true;
}

bool
sdl_snapshot_serve(sdl_snapshot *s, const sdl_config *config, const uint8_t *requests, size_t len,
                   sdl_error *err)
{
    bson_t arr;
    bson_iter_t it;

    if (!requests || !bson_init_static(&arr, requests, len) || !bson_iter_init(&it, &arr)) {
        return true;
    }
    while (bson_iter_next(&it)) {
        bson_iter_t f, patterns;
        const char *id = NULL;
        bool have_patterns = false;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f)) {
            continue;
        }
        while (bson_iter_next(&f)) {
            if (strcmp(bson_iter_key(&f), "id") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
                id = bson_iter_utf8(&f, NULL);
            } else if (strcmp(bson_iter_key(&f), "tables") == 0 && BSON_ITER_HOLDS_ARRAY(&f)) {
                have_patterns = bson_iter_recurse(&f, &patterns);
            }
        }
        if (!id || !have_patterns || strcmp(id, s->last_request) <= 0) {
            continue; /* served already */
        }
        char **names = NULL;
        size_t n = 0;
        if (!request_tables(s, config, &patterns, &names, &n, err)) {
            return false;
        }
        if (s->done >= s->ntables) {
            /* a new snapshot, named after the request */
            for (size_t i = 0; i < s->ntables; i++) {
                free(s->tables[i]);
            }
            free(s->tables);
            s->tables = NULL;
            s->ntables = 0;
            free(s->id);
            s->id = sdl_xstrdup(id);
            drop_chunks(s); /* none: the last table was done */
            s->done = s->chunk = s->rows = s->table_rows = 0;
            s->started_ms = (int64_t)(sdl_now_realtime_usec() / 1000u);
            free(s->last_key);
            s->last_key = NULL;
            s->nlast = 0;
            s->table = sdl_snapshot_table_free(s->table);
        }
        /* during a snapshot: its tables are read after the ones still to come */
        s->tables = sdl_xreallocarray(s->tables, s->ntables + n + 1, sizeof(*s->tables));
        for (size_t i = 0; i < n; i++) {
            s->tables[s->ntables++] = names[i];
        }
        free(names);
        free(s->last_request);
        s->last_request = sdl_xstrdup(id);
        log_notice("Snapshot request %s: %zu table%s (snapshot %s, %zu tables in all)", id, n,
                   n == 1 ? "" : "s", s->id, s->ntables);
    }
    return true;
}

/* The token of a watermark row (its after image's second column). */
static bool
watermark_token(const sdl_row_change *row, const char **ret, size_t *ret_len)
{
    const sdl_value *v = row->after;
    if (!v || row->table->ncols < 2 || v[1].kind != SDL_VALUE_STRING) {
        return false;
    }
    *ret = v[1].str.ptr;
    *ret_len = v[1].str.len;
    return true;
}

static bool
same_table(const sdl_table *a, const char *db, const char *name)
{
    return strcmp(a->db, db) == 0 && strcmp(a->name, name) == 0;
}

bool
sdl_snapshot_is_watermark(const sdl_config *config, const sdl_table *table)
{
    const char *wm = config->snapshot.watermark_table;
    const char *dot = strchr(wm, '.');
    size_t dblen = dot ? (size_t)(dot - wm) : 0;

    return dot && strlen(table->db) == dblen && strncmp(table->db, wm, dblen) == 0 &&
           strcmp(table->name, dot + 1) == 0;
}

bool
sdl_snapshot_row_tap(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos)
{
    sdl_snapshot *s = ctx;
    const sdl_table *t = row->table;
    size_t dblen = t->db_len ? t->db_len : strlen(t->db);

    if (s->wm_db && dblen == s->wm_db_len && memcmp(t->db, s->wm_db, dblen) == 0 &&
        strcmp(t->name, s->wm_table) == 0) {
        const char *tok;
        size_t len;
        /* the chunks' watermarks come in the order they were written: lo(k) hi(k) hi(k+1) …,
         * chunk k's high one also chunk k+1's low one when k+1 was read while k was in flight:
         * one row may close a window and open the next */
        for (size_t k = 0; k < s->count && watermark_token(row, &tok, &len); k++) {
            snap_chunk *c = nth(s, k);
            if (c->state == CHUNK_WAIT_LO && len == strlen(c->lo) && memcmp(tok, c->lo, len) == 0) {
                c->state = CHUNK_WINDOW;
            } else if (c->state == CHUNK_WINDOW && len == strlen(c->hi) &&
                       memcmp(tok, c->hi, len) == 0) {
                c->state = CHUNK_HI;
                free(c->hi_gtid);
                c->hi_gtid = sdl_xstrdup(pos->gtid ? pos->gtid : "");
            }
        }
        return true; /* never a row change */
    }
    if (!s->count || !s->table ||
        !same_table(sdl_snapshot_table_get(s->table), row->table->db, row->table->name)) {
        return false;
    }
    for (size_t k = 0; k < s->count; k++) {
        snap_chunk *c = nth(s, k);
        if (c->state != CHUNK_WINDOW) {
            continue;
        }
        const sdl_value *images[2] = {row->before, row->after};
        for (int i = 0; i < 2; i++) {
            if (!images[i]) {
                continue;
            }
            if (c->nchanged == c->cap_changed) {
                c->cap_changed = c->cap_changed ? c->cap_changed * 2 : 64;
                c->changed = sdl_xreallocarray(c->changed, c->cap_changed, sizeof(*c->changed));
            }
            c->changed[c->nchanged++] = key_string(s, images[i]);
        }
    }
    return false;
}

bool
sdl_snapshot_at_commit(const sdl_snapshot *s, const char *gtid)
{
    const snap_chunk *c = s && s->count ? nth(s, 0) : NULL;

    return c && c->state == CHUNK_HI && c->hi_gtid && gtid && strcmp(c->hi_gtid, gtid) == 0;
}

size_t
sdl_snapshot_chunk_size(const sdl_snapshot *s)
{
    return s->count ? nth(s, 0)->rows.nrows : 0;
}

bool
sdl_snapshot_chunk_row(const sdl_snapshot *s, size_t i, sdl_row_change *ret_row)
{
    snap_chunk *m = nth(s, 0); /* sorting the keys once is not a change */
    const sdl_table *t = sdl_snapshot_table_get(s->table);
    const sdl_value *row = m->rows.values + i * t->ncols;

    if (!m->sorted) {
        if (m->nchanged) { /* none in consistent mode (changed NULL) */
            qsort(m->changed, m->nchanged, sizeof(*m->changed), cmp_str);
        }
        m->sorted = true;
    }
    if (m->nchanged) {
        char *k = key_string(s, row);
        bool hit = bsearch(&k, m->changed, m->nchanged, sizeof(*m->changed), cmp_str) != NULL;
        free(k);
        if (hit) {
            return false;
        }
    }
    memset(ret_row, 0, sizeof(*ret_row));
    ret_row->op = SDL_ROW_INSERT;
    ret_row->table = t;
    ret_row->after = row;
    return true;
}

void
sdl_snapshot_chunk_info(const sdl_snapshot *s, const char **ret_id, int64_t *ret_chunk,
                        int64_t *ret_read_sec)
{
    *ret_id = s->id;
    *ret_chunk = (int64_t)s->chunk + 1;
    *ret_read_sec = nth(s, 0)->read_sec;
}

void
sdl_snapshot_chunk_done(sdl_snapshot *s, size_t covered, size_t emitted,
                        const bson_t **ret_progress)
{
    snap_chunk *c = nth(s, 0);
    size_t nread = c->rows.nrows;
    /* the SELECT saw every row after the last key when it returned fewer than asked */
    bool table_done = !s->table || (covered == nread && nread < c->limit);

    sdl_snapshot_make_next(s, covered, emitted, table_done);
    bson_destroy(&s->progress);
    bson_copy_to(&s->next, &s->progress);
    if (table_done && s->table) {
        log_info("Snapshot %s: table %s done (%" PRIu64 " rows)", s->id, s->tables[s->done],
                 s->table_rows + emitted);
    }
    sdl_snapshot_load_progress(s);
    chunk_clear(c);
    s->head = (s->head + 1) % SDL_SNAPSHOT_IN_FLIGHT;
    s->count--;
    if (covered < nread || table_done) {
        /* cut short (its documents' bytes): the chunks after it began after its last row, not
         * after the last one committed; read again. (None follows a table's last chunk.) */
        drop_chunks(s);
    }
    if (table_done) {
        s->table = sdl_snapshot_table_free(s->table);
    }
    if (s->done >= s->ntables) {
        /* consistent mode: the view's transaction ends with the reader; its position stays
         * readable for the COMMIT sdl_snapshot_due_commit() described */
        free(s->old_view);
        s->old_view = s->view_pos;
        s->view_pos = NULL;
        s->reached = false;
        log_notice("Snapshot %s complete: %" PRIu64 " rows of %zu table%s", s->id, s->rows,
                   s->ntables, s->ntables == 1 ? "" : "s");
        s->reader = sdl_snapshot_reader_free(s->reader);
    }
    *ret_progress = &s->progress;
}

void
sdl_snapshot_describe(const sdl_snapshot *s, char *buf, size_t size)
{
    if (!s || s->done >= s->ntables) {
        (void)snprintf(buf, size, "done");
        return;
    }
    int n = snprintf(buf, size, "%s (table %" PRIu64 " of %zu), %" PRIu64 " rows",
                     s->tables[s->done], s->done + 1, s->ntables, s->rows);
    uint64_t est = s->nest > s->done ? SDL_MAX(s->est[s->done], s->table_rows) : 0;
    if (s->table && est && n > 0 && (size_t)n < size) {
        /* the table's share read; the whole snapshot's, and its time left at this run's rate */
        uint64_t total, secs;
        sdl_snapshot_estimate(s, &total, &secs);
        int m = snprintf(buf + n, size - (size_t)n, "; %" PRIu64 "%% of the table's ~%" PRIu64,
                         s->table_rows * 100 / est, est);
        if (m > 0 && (size_t)(n + m) < size && total) {
            n += m;
            m = snprintf(buf + n, size - (size_t)n, ", %" PRIu64 "%% of ~%" PRIu64 " rows in all",
                         SDL_MIN(s->rows * 100 / total, 100), total);
        }
        if (m > 0 && (size_t)(n + m) < size && secs) {
            (void)snprintf(buf + n + m, size - (size_t)(n + m), ", ~%" PRIu64 " s left", secs);
        }
    }
}

void
sdl_snapshot_tables(const sdl_snapshot *s, uint64_t *ret_tables, uint64_t *ret_done)
{
    *ret_tables = s ? s->ntables : 0;
    *ret_done = s ? SDL_MIN(s->done, (uint64_t)s->ntables) : 0;
}

uint64_t
sdl_snapshot_rows(const sdl_snapshot *s)
{
    return s ? s->rows : 0;
}

/* ---- a DDL on the table under snapshot (DESIGN.md §9) ---- */

/* Reads the next chunk of the current table. A table the SELECT finds changed (dropped,
 * renamed, a column gone: SDL_E_SCHEMA) is described again: gone, it is done (an empty
 * chunk); changed, the chunk is read with its new definition. */
static bool
read_chunk(sdl_snapshot *s, snap_chunk *c, const sdl_value *after, sdl_error *err)
{
    bool skip = false;

    if (sdl_snapshot_reader_chunk(s->reader, s->table, after, c->limit, &c->arena, &c->rows, err)) {
        return true;
    }
    if (err->code != SDL_E_SCHEMA || s->count) {
        return false; /* with chunks in flight: the caller drops them all */
    }
    log_info("Snapshot %s: table %s changed while it was read (%s); reading it again as it is "
             "now",
             s->id, s->tables[s->done], err->message);
    sdl_error_clear(err);
    if (!describe(s, &skip, err)) {
        return false;
    }
    if (skip) {
        s->table = sdl_snapshot_table_free(s->table); /* done: an empty chunk */
        memset(&c->rows, 0, sizeof(c->rows));
        return true;
    }
    return sdl_snapshot_reader_chunk(s->reader, s->table, after, c->limit, &c->arena, &c->rows,
                                     err);
}

void
sdl_snapshot_ddl(sdl_snapshot *s, const char *db, const char *table)
{
    if (!s || s->consistent || s->done >= s->ntables || !db || !table) {
        return;
    }
    const char *name = s->tables[s->done];
    size_t dblen = strlen(db);
    if (strncmp(name, db, dblen) != 0 || name[dblen] != '.' ||
        (table[0] && strcmp(name + dblen + 1, table) != 0)) {
        return;
    }
    if (s->count) {
        log_info("Snapshot %s: table %s changed (DDL) while %zu chunk%s of it %s in flight; "
                 "%s read again with the table's new definition",
                 s->id, name, s->count, s->count == 1 ? "" : "s", s->count == 1 ? "was" : "were",
                 s->count == 1 ? "it is" : "they are");
    } else {
        log_info("Snapshot %s: table %s changed (DDL); it is described again", s->id, name);
    }
    drop_chunks(s);
    s->table = sdl_snapshot_table_free(s->table); /* the next step describes it again */
}
