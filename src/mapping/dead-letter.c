/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/dead-letter.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/mapping/column-policy.h"

static const char *const reason_names[SDL_DEAD_REASON_COUNT] = {
    [SDL_DEAD_TOO_LARGE] = "too_large",
    [SDL_DEAD_UNMAPPABLE] = "unmappable",
    [SDL_DEAD_REJECTED] = "rejected",
};

const char *
sdl_dead_reason_name(sdl_dead_reason reason)
{
    return (unsigned)reason < SDL_DEAD_REASON_COUNT ? reason_names[reason] : "unknown";
}

/* The length of the longest prefix of @s (@len bytes) of at most @max bytes that does not cut
 * a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;

    if (n == len) {
        return n;
    }
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--; /* s[n] continues a sequence: cut before its start */
    }
    return n;
}

/* Appends {column, value[, truncated, bytes]} for the value at @it under @key of @arr. */
static void
append_entry(bson_t *arr, const char *key, const char *column, size_t column_len,
             const bson_iter_t *it)
{
    bson_t entry;
    uint32_t len = 0;
    size_t size = 0;

    bson_append_document_begin(arr, key, -1, &entry);
    bson_append_utf8(&entry, "column", -1, column, (int)column_len);
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        const char *s = bson_iter_utf8(it, &len);
        size = len;
        if (size > SDL_DEAD_LETTER_VALUE_BYTES) {
            bson_append_utf8(&entry, "value", -1, s,
                             (int)utf8_cut(s, size, SDL_DEAD_LETTER_VALUE_BYTES));
        }
        break;
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t sub;
        const uint8_t *data;
        bson_iter_binary(it, &sub, &len, &data);
        size = len;
        if (size > SDL_DEAD_LETTER_VALUE_BYTES) {
            bson_append_binary(&entry, "value", -1, sub, data, SDL_DEAD_LETTER_VALUE_BYTES);
        }
        break;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        const uint8_t *data;
        bson_t sub;
        if (BSON_ITER_HOLDS_DOCUMENT(it)) {
            bson_iter_document(it, &len, &data);
        } else {
            bson_iter_array(it, &len, &data);
        }
        size = len;
        if (size > SDL_DEAD_LETTER_VALUE_BYTES && bson_init_static(&sub, data, len)) {
            size_t jlen = 0;
            char *json = BSON_ITER_HOLDS_DOCUMENT(it) ? bson_as_relaxed_extended_json(&sub, &jlen)
                                                      : bson_array_as_json(&sub, &jlen);
            bson_append_utf8(&entry, "value", -1, json ? json : "",
                             json ? (int)utf8_cut(json, jlen, SDL_DEAD_LETTER_VALUE_BYTES) : 0);
            bson_free(json);
        }
        break;
    }
    default:
        break;
    }
    if (size > SDL_DEAD_LETTER_VALUE_BYTES) {
        bson_append_bool(&entry, "truncated", -1, true);
        bson_append_int64(&entry, "bytes", -1, (int64_t)size);
    } else {
        bson_append_iter(&entry, "value", -1, it);
    }
    bson_append_document_end(arr, &entry);
}

/* The subdocument @name of @row ({column: value, ...}) as an array of entries in @out. */
static void
append_image(bson_t *out, const bson_t *row, const char *name)
{
    bson_iter_t it, child;
    bson_t arr;
    uint32_t i = 0;

    if (!bson_iter_init_find(&it, row, name) || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &child)) {
        return;
    }
    bson_append_array_begin(out, name, -1, &arr);
    while (bson_iter_next(&child)) {
        char idx[16];
        const char *key;
        (void)bson_uint32_to_string(i++, &key, idx, sizeof(idx));
        append_entry(&arr, key, bson_iter_key(&child), bson_iter_key_len(&child), &child);
    }
    bson_append_array_end(out, &arr);
}

static void
append_error(bson_t *out, sdl_dead_reason reason, const char *message)
{
    bson_t e;

    bson_append_document_begin(out, "error", -1, &e);
    bson_append_utf8(&e, "reason", -1, sdl_dead_reason_name(reason), -1);
    bson_append_utf8(&e, "message", -1, message ? message : "", -1);
    bson_append_document_end(out, &e);
}

static void
append_tail(bson_t *out, size_t size, const char *from, int64_t now_ms)
{
    bson_append_int64(out, "size", -1, (int64_t)size);
    if (from) {
        bson_append_utf8(out, "from", -1, from, -1);
    } else {
        bson_append_null(out, "from", -1);
    }
    bson_append_date_time(out, "dead_at", -1, now_ms);
}

void
sdl_dead_letter_from_document(const bson_t *row, sdl_dead_reason reason, const char *message,
                              const char *from, int64_t now_ms, bson_t *out)
{
    static const char *const copied[] = {"_id",    "error", "op",   "db",  "table", "pk",
                                         "before", "after", "gtid", "seq", "ts",    "binlog"};
    bson_iter_t it;

    for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
        const char *name = copied[k];
        if (strcmp(name, "error") == 0) {
            append_error(out, reason, message);
        } else if (strcmp(name, "pk") == 0 || strcmp(name, "before") == 0 ||
                   strcmp(name, "after") == 0) {
            append_image(out, row, name);
        } else if (bson_iter_init_find(&it, row, name)) {
            bson_append_iter(out, name, -1, &it);
        }
    }
    append_tail(out, row->len, from, now_ms);
}

/* One column's entry, mapped on its own; raw bytes when it cannot be. */
static void
append_value(bson_t *arr, const char *key, const sdl_doc_mapper_options *opts,
             const sdl_column *col, const sdl_value *v)
{
    size_t name_len = col->name_len ? col->name_len : strlen(col->name);
    sdl_error err = SDL_ERROR_INIT;
    bson_t tmp = BSON_INITIALIZER;
    bson_iter_t it;

    if (sdl_doc_mapper_value(opts, col, v, &tmp, "v", 1, &err) &&
        bson_iter_init_find(&it, &tmp, "v")) {
        append_entry(arr, key, col->name, name_len, &it);
        bson_destroy(&tmp);
        return;
    }
    bson_destroy(&tmp);
    bson_t entry;
    bson_append_document_begin(arr, key, -1, &entry);
    bson_append_utf8(&entry, "column", -1, col->name, (int)name_len);
    switch (v->kind) {
    case SDL_VALUE_INT:
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
    case SDL_VALUE_SET:
    case SDL_VALUE_DECIMAL64:
    case SDL_VALUE_NULL:
    case SDL_VALUE_ABSENT:
    case SDL_VALUE_KIND_COUNT:
        bson_append_null(&entry, "value", -1);
        break;
    default: /* every other kind holds .str */
        bson_append_binary(&entry, "value", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)v->str.ptr,
                           (uint32_t)(v->str.len < SDL_DEAD_LETTER_VALUE_BYTES
                                          ? v->str.len
                                          : SDL_DEAD_LETTER_VALUE_BYTES));
        if (v->str.len > SDL_DEAD_LETTER_VALUE_BYTES) {
            bson_append_bool(&entry, "truncated", -1, true);
            bson_append_int64(&entry, "bytes", -1, (int64_t)v->str.len);
        }
        break;
    }
    bson_append_bool(&entry, "unmapped", -1, true);
    bson_append_utf8(&entry, "error", -1, err.message, -1);
    bson_append_document_end(arr, &entry);
}

/* @plan: the column policy of @t (opts->columns), or NULL; its values replace the source's,
 * so a dead letter holds no more than the row document would. */
static void
append_row_image(bson_t *out, const char *name, const sdl_doc_mapper_options *opts,
                 const sdl_column_plan *plan, const sdl_table *t, const sdl_value *values,
                 const uint32_t *only, uint32_t nonly)
{
    bson_t arr;
    uint32_t n = 0;

    if (!values) {
        return;
    }
    bson_append_array_begin(out, name, -1, &arr);
    for (uint32_t k = 0; k < (only ? nonly : t->ncols); k++) {
        uint32_t c = only ? only[k] : k;
        char idx[16], text[SDL_COLUMN_HASH_TEXT];
        const char *key;
        sdl_value v;
        if (c >= t->ncols) {
            continue;
        }
        v = values[c];
        if (plan && plan[c].action != SDL_COLUMN_KEEP) {
            sdl_column_policy_apply(opts->columns, &plan[c], &t->cols[c], &values[c], &v, text);
        }
        if (v.kind == SDL_VALUE_ABSENT) {
            continue;
        }
        (void)bson_uint32_to_string(n++, &key, idx, sizeof(idx));
        append_value(&arr, key, opts, &t->cols[c], &v);
    }
    bson_append_array_end(out, &arr);
}

void
sdl_dead_letter_from_row(const sdl_doc_mapper_options *opts, const sdl_change_pos *pos,
                         const sdl_row_change *rc, sdl_dead_reason reason, const char *message,
                         const char *from, int64_t now_ms, bson_t *out)
{
    static const char *const ops[] = {"insert", "update", "delete"};
    const sdl_table *t = rc->table;
    char *id = sdl_xasprintf("%s:%s:%" PRIu64, pos->pipeline, pos->gtid, pos->seq);
    const sdl_column_plan *plan = NULL;
    bool images = true;
    bson_t b;

    if (opts && opts->columns) {
        sdl_error perr = SDL_ERROR_INIT;
        /* a policy that refuses the table (a dropped key column): no values at all */
        images = sdl_column_policy_plan(opts->columns, t, &plan, &perr);
    }

    bson_append_utf8(out, "_id", -1, id, -1);
    free(id);
    append_error(out, reason, message);
    bson_append_utf8(out, "op", -1, (unsigned)rc->op < 3 ? ops[rc->op] : "?", -1);
    bson_append_utf8(out, "db", -1, t->db, -1);
    bson_append_utf8(out, "table", -1, t->name, -1);
    if (t->npk > 0 && images) {
        append_row_image(out, "pk", opts, plan, t,
                         rc->op == SDL_ROW_INSERT ? rc->after : rc->before, t->pk, t->npk);
    }
    if (images) {
        append_row_image(out, "before", opts, plan, t, rc->before, NULL, 0);
        append_row_image(out, "after", opts, plan, t, rc->after, NULL, 0);
    }
    bson_append_utf8(out, "gtid", -1, pos->gtid, -1);
    bson_append_int64(out, "seq", -1, (int64_t)pos->seq);
    bson_append_date_time(out, "ts", -1, pos->ts_sec * 1000);
    bson_append_document_begin(out, "binlog", -1, &b);
    bson_append_utf8(&b, "file", -1, pos->binlog_file ? pos->binlog_file : "", -1);
    bson_append_int64(&b, "pos", -1, (int64_t)pos->binlog_pos);
    bson_append_document_end(out, &b);
    append_tail(out, 0, from, now_ms);
}
