/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "sdl/base/alloc.h"
#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/snapshot-reader.h"

#include "row-decoder-private.h"
#include "snapshot-reader-private.h"

static MYSQL *
handle(sdl_snapshot_reader *r)
{
    return sdl_mysql_conn_handle(r->conn);
}

/* ---- chunks ---- */

static void
stmt_error(MYSQL_STMT *st, const char *what, sdl_error *err)
{
    unsigned no = mysql_stmt_errno(st);
    /* lost connections and timeouts may pass on a new attempt */
    bool transient = no == 2006 || no == 2013 || no == 2002 || no == 2003 || no == 1205 ||
                     no == 1213 || no == 2055;

    /* the table dropped or renamed (1146), a column gone (1054), redefined (1412) */
    bool schema = no == 1146 || no == 1054 || no == 1412;

    sdl_error_set(err, schema ? SDL_E_SCHEMA : SDL_E_SOURCE, "%s: %s (%u)", what,
                  mysql_stmt_error(st), no);
    err->transient = transient;
}

static void
time_of_usec(int64_t usec, bool with_time, MYSQL_TIME *t)
{
    time_t sec = (time_t)(usec >= 0 ? usec / 1000000 : (usec - 999999) / 1000000);
    struct tm tm;

    (void)gmtime_r(&sec, &tm);
    memset(t, 0, sizeof(*t));
    t->year = (unsigned)tm.tm_year + 1900;
    t->month = (unsigned)tm.tm_mon + 1;
    t->day = (unsigned)tm.tm_mday;
    if (with_time) {
        t->hour = (unsigned)tm.tm_hour;
        t->minute = (unsigned)tm.tm_min;
        t->second = (unsigned)tm.tm_sec;
        t->second_part = (unsigned long)(usec - (int64_t)sec * 1000000);
        t->time_type = MYSQL_TIMESTAMP_DATETIME;
    } else {
        t->time_type = MYSQL_TIMESTAMP_DATE;
    }
}

/* A parameter buffer the client library only reads. */
static void *
unconst(const void *p)
{
    void *q;
    memcpy(&q, &p, sizeof(q));
    return q;
}

/* One parameter from a key value. */
static void
bind_key(MYSQL_BIND *b, const sdl_value *v, MYSQL_TIME *tbuf)
{
    memset(b, 0, sizeof(*b));
    switch (v->kind) {
    case SDL_VALUE_INT:
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = unconst(&v->i);
        break;
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = unconst(&v->u);
        b->is_unsigned = 1;
        break;
    case SDL_VALUE_FLOAT:
    case SDL_VALUE_DOUBLE:
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = unconst(&v->d);
        break;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        time_of_usec(v->usec, v->kind == SDL_VALUE_DATETIME, tbuf);
        b->buffer_type = v->kind == SDL_VALUE_DATETIME ? MYSQL_TYPE_DATETIME : MYSQL_TYPE_DATE;
        b->buffer = tbuf;
        break;
    case SDL_VALUE_DECIMAL:
        b->buffer_type = MYSQL_TYPE_NEWDECIMAL;
        b->buffer = unconst(v->str.ptr);
        b->buffer_length = (unsigned long)v->str.len;
        break;
    case SDL_VALUE_BINARY:
        b->buffer_type = MYSQL_TYPE_BLOB;
        b->buffer = unconst(v->str.ptr);
        b->buffer_length = (unsigned long)v->str.len;
        break;
    default: /* text: strings, TIME, zero dates, ENUM */
        b->buffer_type = MYSQL_TYPE_STRING;
        b->buffer = unconst(v->str.ptr);
        b->buffer_length = (unsigned long)v->str.len;
        break;
    }
}

static void
set_str(sdl_value *v, sdl_value_kind kind, const char *p, size_t n)
{
    v->kind = kind;
    v->str.ptr = p;
    v->str.len = n;
}

/* One fetched column into @v (values copied into @a). */
static bool
convert(sdl_arena *a, const sdl_snapshot_table *t, uint32_t i, const MYSQL_BIND *b, const void *buf,
        unsigned long len, sdl_value *v, sdl_error *err)
{
    const sdl_column *c = &t->table.cols[i];

    memset(v, 0, sizeof(*v));
    switch (t->read[i]) {
    case READ_INT:
        if (c->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            memcpy(&v->u, buf, 8);
        } else {
            v->kind = SDL_VALUE_INT;
            memcpy(&v->i, buf, 8);
        }
        break;
    case READ_FLOAT: {
        float f;
        memcpy(&f, buf, 4);
        v->kind = SDL_VALUE_FLOAT;
        v->d = (double)f;
        break;
    }
    case READ_DOUBLE:
        v->kind = SDL_VALUE_DOUBLE;
        memcpy(&v->d, buf, 8);
        break;
    case READ_DECIMAL:
        set_str(v, SDL_VALUE_DECIMAL, sdl_arena_strndup(a, buf, len), len);
        v->precision = t->prec[i];
        v->scale = t->scale[i];
        break;
    case READ_DATE:
    case READ_DATETIME: { /* the binlog decoder's own builders: the same values by construction */
        const MYSQL_TIME *tm = buf;
        bool with_time = t->read[i] == READ_DATETIME;
        if (!sdl_row_make_datetime(
                a, v, tm->year, tm->month, tm->day, with_time, with_time ? tm->hour : 0,
                with_time ? tm->minute : 0, with_time ? tm->second : 0,
                with_time ? (uint32_t)tm->second_part : 0, with_time ? t->fsp[i] : 0, err)) {
            sdl_error_prefix(err, "snapshot of '%s.%s', column '%s'", t->table.db, t->table.name,
                             c->name);
            return false;
        }
        break;
    }
    case READ_TIME: {
        const MYSQL_TIME *tm = buf;
        sdl_row_make_time_text(a, v, tm->neg, (uint32_t)(tm->day * 24ul + tm->hour), tm->minute,
                               tm->second, (uint32_t)(tm->second_part % 1000000ul), t->fsp[i]);
        break;
    }
    case READ_BIT: {
        const uint8_t *p = buf;
        v->kind = SDL_VALUE_BIT;
        for (unsigned long k = 0; k < len; k++) {
            v->u = v->u << 8 | p[k];
        }
        break;
    }
    case READ_STRING:
    case READ_BINARY:
    case READ_ENUM:
    case READ_JSON:
    case READ_GEOMETRY: {
        /* the column's bytes as they are, a value of the kind the row decoder gives them */
        col_read read = t->read[i];
        sdl_value_kind kind = read == READ_STRING   ? SDL_VALUE_STRING
                              : read == READ_BINARY ? SDL_VALUE_BINARY
                              : read == READ_ENUM   ? SDL_VALUE_ENUM
                              : read == READ_JSON   ? SDL_VALUE_JSON_TEXT
                                                    : SDL_VALUE_GEOMETRY;
        set_str(v, kind, sdl_arena_memdup(a, buf, len ? len : 1), len);
        break;
    }
    case READ_SET: {
        const char *s = buf;
        uint32_t count = 0;
        for (unsigned long k = 0; k < len; k++) {
            count += s[k] == ',';
        }
        count += len > 0;
        const char **names = sdl_arena_calloc(a, count ? count : 1, sizeof(*names));
        uint32_t m = 0;
        unsigned long start = 0;
        for (unsigned long k = 0; k <= len && len > 0; k++) {
            if (k == len || s[k] == ',') {
                names[m++] = sdl_arena_strndup(a, s + start, k - start);
                start = k + 1;
            }
        }
        v->kind = SDL_VALUE_SET;
        v->set.count = m;
        v->set.names = names;
        break;
    }
    }
    (void)b;
    return true;
}

static enum enum_field_types
buffer_type(col_read rd)
{
    switch (rd) {
    case READ_INT:
        return MYSQL_TYPE_LONGLONG;
    case READ_FLOAT:
        return MYSQL_TYPE_FLOAT;
    case READ_DOUBLE:
        return MYSQL_TYPE_DOUBLE;
    case READ_DATE:
        return MYSQL_TYPE_DATE;
    case READ_DATETIME:
        return MYSQL_TYPE_DATETIME;
    case READ_TIME:
        return MYSQL_TYPE_TIME;
    case READ_DECIMAL:
    case READ_STRING:
    case READ_ENUM:
    case READ_SET:
    case READ_JSON:
        return MYSQL_TYPE_STRING;
    default:
        return MYSQL_TYPE_BLOB;
    }
}

bool
sdl_snapshot_reader_chunk(sdl_snapshot_reader *r, sdl_snapshot_table *t, const sdl_value *last_key,
                          uint64_t limit, sdl_arena *arena, sdl_snapshot_chunk *ret_chunk,
                          sdl_error *err)
{
    MYSQL_STMT **slot = last_key ? &t->next : &t->first;
    const char *sql = last_key ? t->select_next : t->select_first;
    uint32_t ncols = t->table.ncols;
    uint32_t nparams = 0;
    MYSQL_BIND *params = NULL, *res = NULL;
    MYSQL_TIME *tbufs = NULL;
    void **bufs = NULL;
    unsigned long *lens = NULL;
    my_bool *nulls = NULL, *errs = NULL;
    MYSQL_RES *meta = NULL;
    sdl_value *values = NULL;
    size_t nrows = 0;
    bool ok = false;

    memset(ret_chunk, 0, sizeof(*ret_chunk));
    sdl_arena_reset(arena);
    if (!sdl_snapshot_reader_settle(r, err)) {
        return false;
    }
    if (!t->nkey) {
        sdl_error_set(err, SDL_E_INVALID, "snapshot of a table without a chunk key");
        return false;
    }
    if (!*slot) {
        *slot = mysql_stmt_init(handle(r));
        if (!*slot || mysql_stmt_prepare(*slot, sql, (unsigned long)strlen(sql)) != 0) {
            if (*slot) {
                stmt_error(*slot, "preparing a snapshot chunk query", err);
                (void)mysql_stmt_close(*slot);
                *slot = NULL;
            } else {
                sdl_mysql_conn_set_error(r->conn, "preparing a snapshot chunk query", err);
            }
            return false;
        }
    }
    MYSQL_STMT *st = *slot;
    /* parameters: (k1 >= ?) and the OR terms when composite, then the limit */
    uint32_t nk = t->nkey;
    uint32_t nkparams = last_key ? (nk > 1 ? 1 : 0) + nk * (nk + 1) / 2 : 0;
    nparams = nkparams + 1;
    params = sdl_xcalloc(nparams, sizeof(*params));
    tbufs = sdl_xcalloc(nparams, sizeof(*tbufs));
    uint32_t pi = 0;
    if (last_key) {
        if (nk > 1) {
            bind_key(&params[pi], &last_key[0], &tbufs[pi]);
            pi++;
        }
        for (uint32_t k = 0; k < nk; k++) {
            for (uint32_t j = 0; j <= k; j++) {
                bind_key(&params[pi], &last_key[j], &tbufs[pi]);
                pi++;
            }
        }
    }
    unsigned long long lim = limit;
    params[pi].buffer_type = MYSQL_TYPE_LONGLONG;
    params[pi].buffer = &lim;
    params[pi].is_unsigned = 1;
    if (mysql_stmt_bind_param(st, params) != 0 || mysql_stmt_execute(st) != 0) {
        stmt_error(st, "reading a snapshot chunk", err);
        goto out;
    }
    my_bool update_max = 1;
    (void)mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
    if (mysql_stmt_store_result(st) != 0) {
        stmt_error(st, "reading a snapshot chunk", err);
        goto out;
    }
    meta = mysql_stmt_result_metadata(st);
    if (!meta || mysql_num_fields(meta) != ncols) {
        sdl_error_set(err, SDL_E_SCHEMA,
                      "snapshot of '%s.%s': the table changed while it was read (columns)",
                      t->table.db, t->table.name);
        goto out;
    }
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    res = sdl_xcalloc(ncols, sizeof(*res));
    bufs = sdl_xcalloc(ncols, sizeof(*bufs));
    lens = sdl_xcalloc(ncols, sizeof(*lens));
    nulls = sdl_xcalloc(ncols, sizeof(*nulls));
    errs = sdl_xcalloc(ncols, sizeof(*errs));
    for (uint32_t i = 0; i < ncols; i++) {
        enum enum_field_types bt = buffer_type(t->read[i]);
        size_t size = bt == MYSQL_TYPE_LONGLONG || bt == MYSQL_TYPE_DOUBLE ? 8
                      : bt == MYSQL_TYPE_FLOAT                             ? 4
                      : bt == MYSQL_TYPE_DATE || bt == MYSQL_TYPE_DATETIME || bt == MYSQL_TYPE_TIME
                          ? sizeof(MYSQL_TIME)
                          : (size_t)fields[i].max_length + 1;
        bufs[i] = sdl_xcalloc(1, size);
        res[i].buffer_type = bt;
        res[i].buffer = bufs[i];
        res[i].buffer_length = (unsigned long)size;
        res[i].length = &lens[i];
        res[i].is_null = &nulls[i];
        res[i].error = &errs[i];
        res[i].is_unsigned = t->table.cols[i].is_unsigned;
    }
    if (mysql_stmt_bind_result(st, res) != 0) {
        stmt_error(st, "reading a snapshot chunk", err);
        goto out;
    }
    size_t total = (size_t)mysql_stmt_num_rows(st);
    values = sdl_arena_calloc(arena, total ? total * ncols : 1, sizeof(*values));
    for (;;) {
        int rc = mysql_stmt_fetch(st);
        if (rc == MYSQL_NO_DATA) {
            break;
        }
        if (rc == 1 || rc == MYSQL_DATA_TRUNCATED || nrows >= total) {
            if (rc == 1) {
                stmt_error(st, "reading a snapshot chunk", err);
            } else {
                sdl_error_set(err, SDL_E_SOURCE, "snapshot of '%s.%s': a value did not fit",
                              t->table.db, t->table.name);
            }
            goto out;
        }
        for (uint32_t i = 0; i < ncols; i++) {
            sdl_value *v = &values[nrows * ncols + i];
            if (nulls[i]) {
                memset(v, 0, sizeof(*v));
                v->kind = SDL_VALUE_NULL;
            } else if (!convert(arena, t, i, &res[i], bufs[i], lens[i], v, err)) {
                goto out;
            }
        }
        nrows++;
    }
    ret_chunk->nrows = nrows;
    ret_chunk->values = values;
    ok = true;
out:
    if (meta) {
        mysql_free_result(meta);
    }
    (void)mysql_stmt_free_result(st);
    if (bufs) {
        for (uint32_t i = 0; i < ncols; i++) {
            free(bufs[i]);
        }
    }
    free(bufs);
    free(res);
    free(lens);
    free(nulls);
    free(errs);
    free(params);
    free(tbufs);
    if (!ok && err->transient) {
        /* a statement of a lost connection is of no use to the next attempt */
        (void)mysql_stmt_close(st);
        *slot = NULL;
    }
    return ok;
}
