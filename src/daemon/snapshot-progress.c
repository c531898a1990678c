/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/mysql/snapshot-reader.h"

#include "snapshot-private.h"

/* ---- progress ---- */

static bson_t *
progress_new(const char *id, char *const *tables, size_t n, const char *last_request)
{
    bson_t *doc = bson_new(), arr;

    bson_append_utf8(doc, "id", -1, id, -1);
    bson_append_utf8(doc, "state", -1, n ? "running" : "done", -1);
    bson_append_array_begin(doc, "tables", -1, &arr);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        const char *k;
        size_t klen = bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
        bson_append_utf8(&arr, k, (int)klen, tables[i], -1);
    }
    bson_append_array_end(doc, &arr);
    bson_append_int64(doc, "done", -1, 0);
    bson_append_int64(doc, "chunk", -1, 0);
    bson_append_null(doc, "last_key", -1);
    bson_append_utf8(doc, "last_request", -1, last_request, -1);
    bson_append_int64(doc, "rows", -1, 0);
    bson_append_int64(doc, "table_rows", -1, 0);
    bson_append_int64(doc, "started", -1, (int64_t)(sdl_now_realtime_usec() / 1000u));
    return doc;
}

bson_t *
sdl_snapshot_progress_new(const char *id, char *const *tables, size_t n)
{
    return progress_new(id, tables, n, "");
}

bool
sdl_snapshot_plan(const sdl_config *config, bson_t **ret, sdl_error *err)
{
    sdl_snapshot_reader *r = NULL;
    char **names = NULL;
    size_t n = 0;
    char id[64];

    if (!sdl_snapshot_reader_open(config, config->pipeline.name, &r, err)) {
        return false;
    }
    if (!sdl_snapshot_reader_list_tables(r, config, &names, &n, err)) {
        (void)sdl_snapshot_reader_free(r);
        return false;
    }
    (void)snprintf(id, sizeof(id), "%s-%" PRIu64, config->pipeline.name,
                   sdl_now_realtime_usec() / 1000u);
    *ret = sdl_snapshot_progress_new(id, names, n);
    sdl_snapshot_names_free(names, n);
    (void)sdl_snapshot_reader_free(r);
    return true;
}

static int64_t
iter_i64(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it)
               ? bson_iter_as_int64(&it)
               : 0;
}

/* Reads s->progress into the fields (last_key's strings point into it). */
void
sdl_snapshot_load_progress(sdl_snapshot *s)
{
    bson_iter_t it, child;

    free(s->id);
    s->id = NULL;
    free(s->last_request);
    s->last_request = NULL;
    if (bson_iter_init_find(&it, &s->progress, "last_request") && BSON_ITER_HOLDS_UTF8(&it)) {
        s->last_request = sdl_xstrdup(bson_iter_utf8(&it, NULL));
    } else {
        s->last_request = sdl_xstrdup("");
    }
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->tables[i]);
    }
    free(s->tables);
    s->tables = NULL;
    s->ntables = 0;
    free(s->last_key);
    s->last_key = NULL;
    s->nlast = 0;
    if (bson_iter_init_find(&it, &s->progress, "id") && BSON_ITER_HOLDS_UTF8(&it)) {
        s->id = sdl_xstrdup(bson_iter_utf8(&it, NULL));
    } else {
        s->id = sdl_xstrdup("?");
    }
    if (bson_iter_init_find(&it, &s->progress, "tables") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            if (BSON_ITER_HOLDS_UTF8(&child)) {
                s->tables = sdl_xreallocarray(s->tables, s->ntables + 1, sizeof(*s->tables));
                s->tables[s->ntables++] = sdl_xstrdup(bson_iter_utf8(&child, NULL));
            }
        }
    }
    s->done = (uint64_t)iter_i64(&s->progress, "done");
    s->chunk = (uint64_t)iter_i64(&s->progress, "chunk");
    s->rows = (uint64_t)iter_i64(&s->progress, "rows");
    s->table_rows = (uint64_t)iter_i64(&s->progress, "table_rows");
    s->started_ms = iter_i64(&s->progress, "started");
    if (!s->started_ms) { /* a progress written before sdl kept it: from now on */
        s->started_ms = (int64_t)(sdl_now_realtime_usec() / 1000u);
    }
    if (bson_iter_init_find(&it, &s->progress, "last_key") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            bson_iter_t f;
            sdl_value v;
            memset(&v, 0, sizeof(v));
            if (!BSON_ITER_HOLDS_DOCUMENT(&child) || !bson_iter_recurse(&child, &f)) {
                continue;
            }
            while (bson_iter_next(&f)) {
                const char *k = bson_iter_key(&f);
                if (strcmp(k, "k") == 0) {
                    v.kind = (sdl_value_kind)bson_iter_as_int64(&f);
                } else if (strcmp(k, "i") == 0) {
                    v.i = bson_iter_as_int64(&f);
                } else if (strcmp(k, "d") == 0 && BSON_ITER_HOLDS_DOUBLE(&f)) {
                    v.d = bson_iter_double(&f);
                } else if (strcmp(k, "s") == 0 && BSON_ITER_HOLDS_BINARY(&f)) {
                    const uint8_t *data;
                    uint32_t len;
                    bson_subtype_t sub;
                    bson_iter_binary(&f, &sub, &len, &data);
                    v.str.ptr = (const char *)data;
                    v.str.len = len;
                }
            }
            s->last_key = sdl_xreallocarray(s->last_key, s->nlast + 1, sizeof(*s->last_key));
            s->last_key[s->nlast++] = v;
        }
    }
}

static void
append_key_value(bson_t *arr, uint32_t idx, const sdl_value *v)
{
    char key[16];
    const char *k;
    size_t klen = bson_uint32_to_string(idx, &k, key, sizeof(key));
    bson_t d;

    bson_append_document_begin(arr, k, (int)klen, &d);
    bson_append_int32(&d, "k", -1, (int32_t)v->kind);
    switch (v->kind) {
    case SDL_VALUE_INT:
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        bson_append_int64(&d, "i", -1, v->i);
        break;
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
        bson_append_double(&d, "d", -1, v->d);
        break;
    default:
        bson_append_binary(&d, "s", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)v->str.ptr,
                           (uint32_t)v->str.len);
        break;
    }
    bson_append_document_end(arr, &d);
}

/* s->next: the progress after the current chunk covered rows [0, covered) of what it read. */
void
sdl_snapshot_make_next(sdl_snapshot *s, size_t covered, size_t emitted, bool table_done)
{
    bson_t arr;

    bson_reinit(&s->next);
    bson_append_utf8(&s->next, "id", -1, s->id, -1);
    bool all = table_done && s->done + 1 >= s->ntables;
    bson_append_utf8(&s->next, "state", -1, all ? "done" : "running", -1);
    bson_append_array_begin(&s->next, "tables", -1, &arr);
    for (size_t i = 0; i < s->ntables; i++) {
        char key[16];
        const char *k;
        size_t klen = bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
        bson_append_utf8(&arr, k, (int)klen, s->tables[i], -1);
    }
    bson_append_array_end(&s->next, &arr);
    bson_append_int64(&s->next, "done", -1, (int64_t)(s->done + (table_done ? 1 : 0)));
    bson_append_int64(&s->next, "chunk", -1, table_done ? 0 : (int64_t)(s->chunk + 1));
    if (table_done || covered == 0) {
        if (table_done || !s->last_key) {
            bson_append_null(&s->next, "last_key", -1);
        } else {
            bson_append_array_begin(&s->next, "last_key", -1, &arr);
            for (uint32_t k = 0; k < s->nlast; k++) {
                append_key_value(&arr, k, &s->last_key[k]);
            }
            bson_append_array_end(&s->next, &arr);
        }
    } else {
        const uint32_t *cols;
        uint32_t n = sdl_snapshot_table_key(s->table, &cols);
        const sdl_value *row = sdl_snapshot_head(s)->rows.values +
                               (covered - 1) * sdl_snapshot_table_get(s->table)->ncols;
        bson_append_array_begin(&s->next, "last_key", -1, &arr);
        for (uint32_t k = 0; k < n; k++) {
            append_key_value(&arr, k, &row[cols[k]]);
        }
        bson_append_array_end(&s->next, &arr);
    }
    bson_append_utf8(&s->next, "last_request", -1, s->last_request, -1);
    bson_append_int64(&s->next, "rows", -1, (int64_t)(s->rows + emitted));
    bson_append_int64(&s->next, "table_rows", -1,
                      table_done ? 0 : (int64_t)(s->table_rows + emitted));
    /* for sdl status: when it began, and the rows estimated in all (DESIGN.md §9) */
    uint64_t est, secs;
    sdl_snapshot_estimate(s, &est, &secs);
    bson_append_int64(&s->next, "started", -1, s->started_ms);
    bson_append_int64(&s->next, "est_rows", -1,
                      (int64_t)(all ? s->rows + emitted : SDL_MAX(est, s->rows + emitted)));
}

void
sdl_snapshot_document(const bson_t *doc, const char *id, int64_t chunk, bson_t *out)
{
    bson_iter_t it;
    bson_t sub;

    bson_init(out);
    if (!bson_iter_init(&it, doc)) {
        return;
    }
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "op") == 0) {
            bson_append_utf8(out, "op", 2, "snapshot", 8);
        } else {
            bson_append_iter(out, key, -1, &it);
        }
    }
    bson_append_document_begin(out, "snapshot", -1, &sub);
    bson_append_utf8(&sub, "id", -1, id, -1);
    bson_append_int64(&sub, "chunk", -1, chunk);
    bson_append_document_end(out, &sub);
}

uint64_t
sdl_snapshot_requests_waiting(const uint8_t *progress, size_t progress_len, const uint8_t *requests,
                              size_t requests_len)
{
    bson_t p, arr;
    bson_iter_t it, f;
    const char *last = "";
    uint64_t n = 0;

    if (progress && bson_init_static(&p, progress, progress_len) &&
        bson_iter_init_find(&it, &p, "last_request") && BSON_ITER_HOLDS_UTF8(&it)) {
        last = bson_iter_utf8(&it, NULL);
    }
    if (!requests || !bson_init_static(&arr, requests, requests_len) ||
        !bson_iter_init(&it, &arr)) {
        return 0;
    }
    while (bson_iter_next(&it)) {
        if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &f) &&
            bson_iter_find(&f, "id") && BSON_ITER_HOLDS_UTF8(&f) &&
            strcmp(bson_iter_utf8(&f, NULL), last) > 0) {
            n++;
        }
    }
    return n;
}

bool
sdl_snapshot_summarize(const uint8_t *doc, size_t len, sdl_snapshot_summary *ret)
{
    bson_t p;
    bson_iter_t it, child;

    memset(ret, 0, sizeof(*ret));
    if (!doc || !bson_init_static(&p, doc, len)) {
        return false;
    }
    if (bson_iter_init_find(&it, &p, "id") && BSON_ITER_HOLDS_UTF8(&it)) {
        (void)snprintf(ret->id, sizeof(ret->id), "%s", bson_iter_utf8(&it, NULL));
    }
    if (bson_iter_init_find(&it, &p, "state") && BSON_ITER_HOLDS_UTF8(&it)) {
        (void)snprintf(ret->state, sizeof(ret->state), "%s", bson_iter_utf8(&it, NULL));
    }
    ret->done = (uint64_t)iter_i64(&p, "done");
    ret->rows = (uint64_t)iter_i64(&p, "rows");
    ret->est_rows = (uint64_t)iter_i64(&p, "est_rows");
    ret->started_ms = iter_i64(&p, "started");
    if (bson_iter_init_find(&it, &p, "tables") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            if (BSON_ITER_HOLDS_UTF8(&child) && ret->ntables == ret->done) {
                (void)snprintf(ret->table, sizeof(ret->table), "%s", bson_iter_utf8(&child, NULL));
            }
            ret->ntables++;
        }
    }
    return ret->id[0] != '\0';
}

/* ---- the estimated time left ---- */

/* The server's estimate of each table's rows not taken yet by this process for this snapshot
 * (a snapshot request adds tables; a new snapshot starts again), and when this process began
 * reading it. */
void
sdl_snapshot_estimate_tables(sdl_snapshot *s)
{
    if (!s->est_id || strcmp(s->est_id, s->id) != 0) {
        free(s->est_id);
        s->est_id = sdl_xstrdup(s->id);
        s->nest = 0;
        s->run_t0_usec = 0;
    }
    if (!s->run_t0_usec) {
        s->run_t0_usec = sdl_now_monotonic_usec();
        s->run_rows0 = s->rows;
    }
    if (s->nest >= s->ntables) {
        return;
    }
    s->est = sdl_xreallocarray(s->est, s->ntables, sizeof(*s->est));
    sdl_snapshot_reader_estimate(s->reader, s->tables + s->nest, s->ntables - s->nest,
                                 s->est + s->nest);
    for (size_t i = s->nest; i < s->done; i++) {
        s->est[i] = 0; /* tables done need none: their rows are counted */
    }
    s->nest = s->ntables;
}

uint64_t
sdl_snapshot_seconds_left(uint64_t total, uint64_t rows, uint64_t read, uint64_t elapsed_usec)
{
    if (!total || rows >= total || !read || elapsed_usec < SDL_USEC_PER_SEC) {
        return 0;
    }
    /* (total - rows) / (read / elapsed), an estimate: doubles (the product of rows and
     * microseconds can pass 2^64) */
    double left = (double)(total - rows) * (double)elapsed_usec / (double)read / SDL_USEC_PER_SEC;
    return left < 1.0 ? 1 : (uint64_t)(left + 0.5);
}

void
sdl_snapshot_estimate(const sdl_snapshot *s, uint64_t *ret_rows, uint64_t *ret_seconds)
{
    *ret_rows = *ret_seconds = 0;
    if (!s || !s->est_id || strcmp(s->est_id, s->id) != 0 || s->nest <= s->done ||
        s->done >= s->ntables) {
        return;
    }
    /* the rows of the tables done, the current table's (at least what it gave), the rest's */
    uint64_t total = s->rows - s->table_rows + SDL_MAX(s->est[s->done], s->table_rows);
    for (size_t i = s->done + 1; i < s->nest; i++) {
        total += s->est[i];
    }
    *ret_rows = total;
    *ret_seconds = sdl_snapshot_seconds_left(total, s->rows, s->rows - s->run_rows0,
                                             sdl_now_monotonic_usec() - s->run_t0_usec);
}
