/* SPDX-License-Identifier: Apache-2.0 */
/* doc-mapper: the row_changes documents: a row change (_id, images, pk, changed, the JSON
 * diffs, position; under the column policy when one is set) and a statement (DDL). The values
 * themselves are written by doc-mapper-value.c. */
#include "sdl/mapping/doc-mapper.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/json-binary.h"

#include "doc-mapper-private.h"
#include "utf8-private.h"

static const sdl_doc_mapper_options default_options = {false, 0, NULL};

void
sdl_mapper_bw_grow(bw *w, size_t n)
{
    size_t cap = w->cap * 2;
    while (cap < w->len + n) {
        cap *= 2;
    }
    if (w->p == w->local) {
        w->p = sdl_xmalloc(cap);
        memcpy(w->p, w->local, w->len);
    } else {
        w->p = sdl_xrealloc(w->p, cap);
    }
    w->cap = cap;
}

/* Same kind and the same payload: what "the column changed" means for `changed`. */
static bool
value_equal(const sdl_value *a, const sdl_value *b)
{
    if (a->kind != b->kind) {
        return false;
    }
    switch (a->kind) {
    case SDL_VALUE_ABSENT:
    case SDL_VALUE_NULL:
        return true;
    case SDL_VALUE_INT:
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
    case SDL_VALUE_DECIMAL64:
        return a->u == b->u;
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
        return memcmp(&a->d, &b->d, sizeof(a->d)) == 0;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        return a->usec == b->usec && a->fsp == b->fsp;
    case SDL_VALUE_SET:
        if (a->set.count != b->set.count) {
            return false;
        }
        for (uint32_t i = 0; i < a->set.count; i++) {
            if (strcmp(a->set.names[i], b->set.names[i]) != 0) {
                return false;
            }
        }
        return true;
    default:
        return a->str.len == b->str.len &&
               (a->str.len == 0 || memcmp(a->str.ptr, b->str.ptr, a->str.len) == 0);
    }
}

/* A partial JSON update (PARTIAL_UPDATE_ROWS) applied to the before image's value. */
static bool
put_json_patched(bw *w, const sdl_doc_mapper_options *opts, const sdl_value *base,
                 const sdl_value *diff, const char *key, size_t klen, sdl_error *err)
{
    bson_t tmp = BSON_INITIALIZER;
    sdl_json_binary_options jo = {opts->json_max_depth, opts->datetime_as_string};
    bool ok =
        sdl_json_binary_append_patched(&tmp, "", 0, (const uint8_t *)base->str.ptr, base->str.len,
                                       (const uint8_t *)diff->str.ptr, diff->str.len, &jo, err);
    if (ok) {
        bw_copy_element(w, key, klen, &tmp);
    }
    bson_destroy(&tmp);
    return ok;
}

/* True when the after image holds a JSON diff whose column the before image lacks
 * (binlog_row_image=MINIMAL): the diff cannot be applied and goes to `json_diffs`. */
static bool
diff_unapplied(const sdl_value *before, const sdl_value *after, uint32_t i)
{
    return after[i].kind == SDL_VALUE_JSON_DIFF &&
           (!before || before[i].kind != SDL_VALUE_JSON_BINARY);
}

static inline size_t
col_name_len(const sdl_column *c)
{
    return c->name_len ? c->name_len : strlen(c->name);
}

static bool
put_image(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
          const sdl_value *base, const char *key, size_t klen, sdl_error *err)
{
    size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, key, klen);

    for (uint32_t i = 0; i < t->ncols; i++) {
        const sdl_column *c = &t->cols[i];
        if (img[i].kind == SDL_VALUE_ABSENT) {
            continue;
        }
        if (img[i].kind == SDL_VALUE_JSON_DIFF) {
            if (diff_unapplied(base, img, i)) {
                continue; /* written under json_diffs */
            }
            if (!put_json_patched(w, opts, &base[i], &img[i], c->name, col_name_len(c), err)) {
                sdl_error_prefix(err, "%s image: column '%s'", key, c->name);
                return false;
            }
            continue;
        }
        if (!put_value_fast(w, opts, c, &img[i], c->name, col_name_len(c)) &&
            !sdl_mapper_put_value(w, opts, c, &img[i], c->name, col_name_len(c), err)) {
            sdl_error_prefix(err, "%s image: column '%s'", key, c->name);
            return false;
        }
    }
    bw_end(w, at);
    return true;
}

static inline __attribute__((always_inline)) bool
put_pk(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t, const sdl_value *img,
       const char *image, sdl_error *err)
{
    size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, "pk", 2);

    for (uint32_t k = 0; k < t->npk; k++) {
        uint32_t i = t->pk[k];
        if (i >= t->ncols) {
            sdl_error_set(err, SDL_E_INVALID, "primary key names column %" PRIu32 " of %" PRIu32,
                          i + 1, t->ncols);
            return false;
        }
        const sdl_column *c = &t->cols[i];
        if (img[i].kind == SDL_VALUE_ABSENT) {
            sdl_error_set(err, SDL_E_SCHEMA, "primary key column '%s' absent from the %s image",
                          c->name, image);
            return false;
        }
        if (!sdl_mapper_put_value(w, opts, c, &img[i], c->name, col_name_len(c), err)) {
            sdl_error_prefix(err, "primary key column '%s'", c->name);
            return false;
        }
    }
    bw_end(w, at);
    return true;
}

/* `json_diffs`: { <column>: [{op, path, value}, ...] } for partial JSON updates the before
 * image cannot take (it lacks the column); absent when there are none. */
static bool
put_json_diffs(bw *w, const sdl_doc_mapper_options *opts, const sdl_table *t,
               const sdl_value *before, const sdl_value *after, sdl_error *err)
{
    size_t at = 0;
    bool any = false;

    for (uint32_t i = 0; i < t->ncols; i++) {
        if (!diff_unapplied(before, after, i)) {
            continue;
        }
        if (!any) {
            at = bw_begin(w, BSON_TYPE_DOCUMENT, "json_diffs", 10);
            any = true;
        }
        bson_t tmp = BSON_INITIALIZER;
        sdl_json_binary_options jo = {opts->json_max_depth, opts->datetime_as_string};
        bool ok = sdl_json_diff_append(&tmp, "", 0, (const uint8_t *)after[i].str.ptr,
                                       after[i].str.len, &jo, err);
        if (ok) {
            bw_copy_element(w, t->cols[i].name, col_name_len(&t->cols[i]), &tmp);
        }
        bson_destroy(&tmp);
        if (!ok) {
            sdl_error_prefix(err, "json_diffs: column '%s'", t->cols[i].name);
            return false;
        }
    }
    if (any) {
        bw_end(w, at);
    }
    return true;
}

/* @plan: the column policy's, or NULL; dropped columns are never listed. */
static void
put_changed(bw *w, const sdl_table *t, const sdl_value *before, const sdl_value *after,
            const sdl_column_plan *plan)
{
    size_t at = bw_begin(w, BSON_TYPE_ARRAY, "changed", 7);
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->ncols; i++) {
        if (after[i].kind == SDL_VALUE_ABSENT || (plan && plan[i].action == SDL_COLUMN_DROP) ||
            (before[i].kind != SDL_VALUE_ABSENT && value_equal(&before[i], &after[i]))) {
            continue;
        }
        char k[12];
        bw_str(w, k, index_key(n++, k), t->cols[i].name, col_name_len(&t->cols[i]));
    }
    bw_end(w, at);
}

/* "<pipeline>:<gtid>:<seq>"; @lg = strlen(pos->gtid) */
static void
put_id(bw *w, const sdl_change_pos *pos, size_t lg)
{
    size_t lp = pos->pipeline_len ? pos->pipeline_len : strlen(pos->pipeline);
    char digits[24];
    size_t nd = 0;
    uint64_t s = pos->seq;

    do {
        digits[nd++] = (char)('0' + s % 10);
        s /= 10;
    } while (s);
    size_t len = lp + 1 + lg + 1 + nd;
    uint8_t *p = bw_elem(w, BSON_TYPE_UTF8, "_id", 3, 4 + len + 1);
    le32(p, (uint32_t)(len + 1));
    p += 4;
    copy_short(p, pos->pipeline, lp);
    p += lp;
    *p++ = ':';
    copy_short(p, pos->gtid, lg);
    p += lg;
    *p++ = ':';
    while (nd) {
        *p++ = (uint8_t)digits[--nd];
    }
    *p = 0;
}

/* Appends the bytes of a constant element header ("\x12seq\0" style) at @q. */
#define PUT_HDR(q, hdr) (memcpy((q), (hdr), sizeof(hdr) - 1), (q) + sizeof(hdr) - 1)

/* gtid, seq, ts, binlog {file, pos}: the same elements bw_str()/bw_i64()/bw_date()/bw_begin()
 * write, with one room check for all of them (this runs once per row). */
static void
put_position(bw *w, const sdl_change_pos *pos, size_t lg)
{
    const char *file = pos->binlog_file ? pos->binlog_file : "";
    size_t lf = pos->binlog_file_len ? pos->binlog_file_len : strlen(file);
    size_t doc_len = 4 + (6 + 4 + lf + 1) + (5 + 8) + 1;
    size_t need = (6 + 4 + lg + 1) + (5 + 8) + (4 + 8) + (8 + doc_len);
    uint8_t *q = bw_room(w, need);

    q = PUT_HDR(q, "\x02"
                   "gtid\0");
    le32(q, (uint32_t)(lg + 1));
    copy_short(q + 4, pos->gtid, lg);
    q[4 + lg] = 0;
    q += 4 + lg + 1;
    q = PUT_HDR(q, "\x12"
                   "seq\0");
    le64(q, (uint64_t)pos->seq);
    q += 8;
    q = PUT_HDR(q, "\x09"
                   "ts\0");
    le64(q, (uint64_t)(pos->ts_sec * 1000));
    q += 8;
    q = PUT_HDR(q, "\x03"
                   "binlog\0");
    le32(q, (uint32_t)doc_len);
    q += 4;
    q = PUT_HDR(q, "\x02"
                   "file\0");
    le32(q, (uint32_t)(lf + 1));
    memcpy(q + 4, file, lf);
    q[4 + lf] = 0;
    q += 4 + lf + 1;
    q = PUT_HDR(q, "\x12"
                   "pos\0");
    le64(q, (uint64_t)pos->binlog_pos);
    q += 8;
    *q = 0;
    w->len += need;
}

/* Whether `after` lacks a column of the table: a partial image (MINIMAL, NOBLOB) or a JSON
 * diff that could not be applied. Mirror mode then updates only the columns present. */
static bool
after_partial(const sdl_table *t, const sdl_row_change *rc)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (rc->after[i].kind == SDL_VALUE_ABSENT ||
            (rc->after[i].kind == SDL_VALUE_JSON_DIFF &&
             diff_unapplied(rc->op == SDL_ROW_UPDATE ? rc->before : NULL, rc->after, i))) {
            return true;
        }
    }
    return false;
}

/* The row document of @rc into @w (empty); false with @err when it cannot be written. @rc
 * holds the images to write (the column policy's, when @plan), @src the source's (for
 * `changed`). Inlined twice: the call without a policy keeps its plain code. */
static inline __attribute__((always_inline)) bool
map_row_images(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
               const sdl_row_change *rc, const sdl_row_change *src, const sdl_column_plan *plan,
               const sdl_doc_snapshot *snap, sdl_error *err)
{
    static const char *const op_names[] = {"insert", "update", "delete"};
    const sdl_table *t = rc->table;
    bool ok = false;

    size_t gtid_len = pos->gtid_len ? pos->gtid_len : strlen(pos->gtid);
    (void)bw_room(w, 4);
    w->len = 4; /* document length, written by bw_end() */
    put_id(w, pos, gtid_len);
    if (snap) {
        bw_str(w, "op", 2, "snapshot", 8);
    } else {
        bw_str(w, "op", 2, op_names[rc->op], 6); /* "insert", "update", "delete" */
    }
    bw_str(w, "db", 2, t->db, t->db_len ? t->db_len : strlen(t->db));
    bw_str(w, "table", 5, t->name, t->name_len ? t->name_len : strlen(t->name));
    if (t->npk > 0) {
        bool from_before = rc->op != SDL_ROW_INSERT;
        if (!put_pk(w, opts, t, from_before ? rc->before : rc->after,
                    from_before ? "before" : "after", err)) {
            goto out;
        }
    }
    if (rc->op != SDL_ROW_INSERT && !put_image(w, opts, t, rc->before, NULL, "before", 6, err)) {
        goto out;
    }
    if (rc->op != SDL_ROW_DELETE &&
        !put_image(w, opts, t, rc->after, rc->op == SDL_ROW_UPDATE ? rc->before : NULL, "after", 5,
                   err)) {
        goto out;
    }
    if (rc->op == SDL_ROW_UPDATE && !put_json_diffs(w, opts, t, rc->before, rc->after, err)) {
        goto out;
    }
    if (rc->op == SDL_ROW_UPDATE) {
        /* the source values: a redacted or hashed column that changed is still listed */
        put_changed(w, t, src->before, src->after, plan);
    }
    put_position(w, pos, gtid_len);
    if (pos->split) {
        bw_bool(w, "split", 5, true);
    }
    if (!t->names_from_metadata) {
        bw_bool(w, "columns_unnamed", 15, true);
    }
    if (rc->op != SDL_ROW_DELETE && after_partial(t, src)) { /* the source's image */
        bw_bool(w, "partial_after", 13, true);
    }
    if (snap) {
        size_t at = bw_begin(w, BSON_TYPE_DOCUMENT, "snapshot", 8);
        bw_cstr(w, "id", 2, snap->id);
        bw_i64(w, "chunk", 5, snap->chunk);
        bw_end(w, at);
    }
    bw_end(w, 0);
    if (w->len > INT32_MAX) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "document of %zu bytes exceeds the BSON limit",
                      w->len);
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        sdl_error_prefix(err, "table '%s.%s'", t->db ? t->db : "?", t->name ? t->name : "?");
    }
    return ok;
}

/* map_row() under the column policy of opts->columns. */
static __attribute__((noinline)) bool
map_row_policied(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                 const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_error *err)
{
    const sdl_table *t = rc->table;
    const sdl_column_plan *plan = NULL;
    sdl_row_change img = *rc;

    if (!sdl_column_policy_plan(opts->columns, t, &plan, err)) {
        sdl_error_prefix(err, "table '%s.%s'", t->db ? t->db : "?", t->name ? t->name : "?");
        return false;
    }
    if (!plan) {
        return map_row_images(w, opts, pos, rc, rc, NULL, snap, err);
    }
    if (img.before) {
        img.before = sdl_column_policy_image(opts->columns, t, plan, img.before, 0);
    }
    if (img.after) {
        img.after = sdl_column_policy_image(opts->columns, t, plan, img.after, 1);
    }
    return map_row_images(w, opts, pos, &img, rc, plan, snap, err);
}

/* The row document into @w (empty); false with @err when it cannot be written. */
static bool
map_row(bw *w, const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
        const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_error *err)
{
    const sdl_table *t = rc->table;

    if (!opts) {
        opts = &default_options;
    }
    if (!t || (unsigned)rc->op > SDL_ROW_DELETE || (rc->op != SDL_ROW_INSERT && !rc->before) ||
        (rc->op != SDL_ROW_DELETE && !rc->after)) {
        sdl_error_set(err, SDL_E_INVALID, "row change without the images its op needs");
        sdl_error_prefix(err, "table '%s.%s'", t && t->db ? t->db : "?",
                         t && t->name ? t->name : "?");
        return false;
    }
    if (SDL_UNLIKELY(opts->columns != NULL)) {
        return map_row_policied(w, opts, pos, rc, snap, err);
    }
    return map_row_images(w, opts, pos, rc, rc, NULL, snap, err);
}

bool
sdl_doc_mapper_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                   const sdl_row_change *rc, bson_t *doc, sdl_error *err)
{
    bw w;
    bool ok;

    bw_init(&w);
    ok = map_row(&w, opts, pos, rc, NULL, err);
    if (ok) {
        bw_finish(&w, doc);
    }
    bw_done(&w);
    return ok;
}

static bool
row_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const sdl_row_change *rc,
          const sdl_doc_snapshot *snap, sdl_buf *out, sdl_error *err)
{
    bw w;
    bool ok;

    /* write straight into @out's heap buffer: sdl_mapper_bw_grow() reallocates what is not
     * w.local */
    out->len = 0;
    sdl_buf_reserve(out, 4096);
    w.p = out->data;
    w.len = 0;
    w.cap = out->cap;
    ok = map_row(&w, opts, pos, rc, snap, err);
    out->data = w.p;
    out->cap = w.cap;
    out->len = ok ? w.len : 0;
    return ok;
}

bool
sdl_doc_mapper_row_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                         const sdl_row_change *rc, sdl_buf *out, sdl_error *err)
{
    return row_bytes(opts, pos, rc, NULL, out, err);
}

bool
sdl_doc_mapper_snapshot_bytes(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                              const sdl_row_change *rc, const sdl_doc_snapshot *snap, sdl_buf *out,
                              sdl_error *err)
{
    if (rc->op != SDL_ROW_INSERT) {
        out->len = 0;
        sdl_error_set(err, SDL_E_INVALID, "a snapshot row is an insert's image");
        return false;
    }
    return row_bytes(opts, pos, rc, snap, out, err);
}

/* A statement's document (a DDL, or with op "statement" a statement-based row change that
 * `sdl tail --statements print` shows). */
static bool
statement_doc(const sdl_doc_mapper_options *opts, const char *op, const sdl_change_pos *pos,
              const char *db, const char *table, const char *statement, size_t statement_len,
              bson_t *doc, sdl_error *err)
{
    sdl_buf fixed = SDL_BUF_INIT;
    bw w;

    (void)opts;
    if (statement_len > INT_MAX / 2) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "DDL statement of %zu bytes exceeds the BSON limit",
                      statement_len);
        return false;
    }
    if (!sdl_utf8_valid(statement, statement_len)) {
        /* Replace each invalid byte by U+FFFD: the statement is a record, not row data. */
        const uint8_t *p = (const uint8_t *)statement;
        const uint8_t *end = p + statement_len;
        while (p < end) {
            size_t n = *p < 0x80 ? 1 : sdl_utf8_seq_len(p, end);
            if (n == 0) {
                sdl_buf_append(&fixed, "\xEF\xBF\xBD", 3);
                p++;
            } else {
                sdl_buf_append(&fixed, p, n);
                p += n;
            }
        }
        statement = (const char *)fixed.data;
        statement_len = fixed.len;
    }
    bw_init(&w);
    w.len = 4;
    put_id(&w, pos, strlen(pos->gtid));
    bw_cstr(&w, "op", 2, op);
    if (db && *db) {
        bw_cstr(&w, "db", 2, db);
    }
    if (table && *table) {
        bw_cstr(&w, "table", 5, table);
    }
    bw_str(&w, "statement", 9, statement, statement_len);
    put_position(&w, pos, strlen(pos->gtid));
    bw_end(&w, 0);
    bw_finish(&w, doc);
    bw_done(&w);
    sdl_buf_done(&fixed);
    return true;
}

bool
sdl_doc_mapper_ddl(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos, const char *db,
                   const char *table, const char *statement, size_t statement_len, bson_t *doc,
                   sdl_error *err)
{
    return statement_doc(opts, "ddl", pos, db, table, statement, statement_len, doc, err);
}

bool
sdl_doc_mapper_statement(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                         const char *db, const char *statement, size_t statement_len, bson_t *doc,
                         sdl_error *err)
{
    return statement_doc(opts, "statement", pos, db, NULL, statement, statement_len, doc, err);
}
