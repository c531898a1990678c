/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/snapshot-reader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>

#include "sdl/base/alloc.h"
#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/base/failpoint.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/gtid.h"
#include "sdl/mysql/mysql-conn.h"
#include "sdl/mysql/schema-cache.h"

#include "snapshot-reader-private.h"

/* `name` with backquotes doubled, into an arena-free malloc'd string. */
static char *
quote_ident(const char *name)
{
    size_t n = strlen(name), k = 0;
    char *out = sdl_xmalloc(2 * n + 3);

    out[k++] = '`';
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '`') {
            out[k++] = '`';
        }
        out[k++] = name[i];
    }
    out[k++] = '`';
    out[k] = '\0';
    return out;
}

static char *
quoted_table(const char *db, const char *table)
{
    char *a = quote_ident(db), *b = quote_ident(table);
    char *out = sdl_xasprintf("%s.%s", a, b);

    free(a);
    free(b);
    return out;
}

/* ---- open ---- */

static bool
ensure_watermark_table(sdl_snapshot_reader *r, sdl_error *err)
{
    char *qt = quoted_table(r->wm_db, r->wm_table);
    char *qdb = quote_ident(r->wm_db);
    char *probe = sdl_xasprintf("SELECT 1 FROM %s LIMIT 0", qt);
    char *create_db = sdl_xasprintf("CREATE DATABASE IF NOT EXISTS %s", qdb);
    char *create = sdl_xasprintf("CREATE TABLE IF NOT EXISTS %s (pipeline VARCHAR(64) NOT NULL "
                                 "PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB",
                                 qt);
    sdl_error probe_err = SDL_ERROR_INIT;
    bool ok = true;

    if (!sdl_mysql_conn_exec(r->conn, probe, &probe_err)) {
        if (probe_err.transient) {
            *err = probe_err;
            ok = false;
        } else if (!sdl_mysql_conn_exec(r->conn, create_db, err) ||
                   !sdl_mysql_conn_exec(r->conn, create, err)) {
            sdl_error_prefix(err,
                             "the snapshot's watermark table %s.%s (snapshot.watermark_table) "
                             "does not exist and sdl may not create it; create it with `%s; %s` "
                             "and GRANT INSERT, UPDATE ON %s TO the source user",
                             r->wm_db, r->wm_table, create_db, create, qt);
            err->transient = false;
            ok = false;
        }
    }
    free(qt);
    free(qdb);
    free(probe);
    free(create_db);
    free(create);
    return ok;
}

/* MySQL commits to the engine in binlog order only with binlog_order_commits=ON (DESIGN.md
 * §9); MariaDB always does (commit_ordered). */
static bool
check_commit_order(sdl_snapshot_reader *r, sdl_error *err)
{
    char *v = NULL;

    if (sdl_mysql_conn_flavor(r->conn) != SDL_FLAVOR_MYSQL) {
        return true;
    }
    if (!sdl_mysql_conn_query_value(r->conn, "SELECT @@GLOBAL.binlog_order_commits", &v, err)) {
        return false;
    }
    bool on = v && (strcmp(v, "1") == 0 || strcmp(v, "ON") == 0);
    free(v);
    if (!on) {
        sdl_error_set(err, SDL_E_CONFIG,
                      "snapshots need binlog_order_commits=ON on a MySQL source (transactions "
                      "must become visible in binlog order for the watermark window to be "
                      "exact): SET GLOBAL binlog_order_commits=ON (and in the server "
                      "configuration)");
        return false;
    }
    return true;
}

/* Whether a comma-separated list of databases (binlog_do_db, binlog_ignore_db) names @db. */
static bool
db_listed(const char *list, const char *db)
{
    size_t n = strlen(db);

    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, db, n) == 0) {
            return true;
        }
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/* The watermarks must reach the binlog: a server that leaves their database out of it
 * (binlog_do_db / binlog_ignore_db) would stall every chunk. */
static bool
check_watermarks_logged(sdl_snapshot_reader *r, sdl_error *err)
{
    char **rows = NULL;
    size_t nrows = 0;
    sdl_error ignored = SDL_ERROR_INIT;
    bool ok = true;

    if (!sdl_mysql_conn_query_rows(r->conn, "SHOW MASTER STATUS", 4, &rows, &nrows, &ignored)) {
        return true; /* not told: the stream would show it */
    }
    if (nrows > 0) {
        const char *do_db = rows[2], *ignore_db = rows[3];
        if ((do_db && *do_db && !db_listed(do_db, r->wm_db)) ||
            (ignore_db && db_listed(ignore_db, r->wm_db))) {
            sdl_error_set(err, SDL_E_CONFIG,
                          "the source leaves database '%s' of snapshot.watermark_table out of "
                          "its binlog (binlog_do_db '%s', binlog_ignore_db '%s'): the "
                          "snapshot's watermarks would never reach sdl; choose a table in a "
                          "logged database",
                          r->wm_db, do_db ? do_db : "", ignore_db ? ignore_db : "");
            ok = false;
        }
    }
    sdl_mysql_rows_free(rows, nrows * 4);
    return ok;
}

bool
sdl_snapshot_reader_open(const sdl_config *config, const char *pipeline,
                         sdl_snapshot_reader **ret_reader, sdl_error *err)
{
    sdl_snapshot_reader *r = sdl_xcalloc(1, sizeof(*r));
    const char *wm = config->snapshot.watermark_table;
    const char *dot = strchr(wm, '.');

    r->wm_db = sdl_xstrndup(wm, (size_t)(dot - wm));
    r->wm_table = sdl_xstrdup(dot + 1);
    r->pipeline = sdl_xstrdup(pipeline);
    if (!sdl_mysql_conn_open(&config->source, 600u * 1000000u /* a chunk SELECT that hangs */,
                             &r->conn, err)) {
        sdl_error_prefix(err, "snapshot connection");
        goto fail;
    }
    if (!sdl_mysql_conn_exec(r->conn, "SET SESSION time_zone = '+00:00'", err)) {
        goto fail;
    }
    /* consistent mode reads inside one transaction: no watermark table, SELECT only */
    if (config->snapshot.mode != SDL_SNAPSHOT_CONSISTENT &&
        (!check_commit_order(r, err) || !check_watermarks_logged(r, err) ||
         !ensure_watermark_table(r, err))) {
        goto fail;
    }
    if (config->snapshot.mode == SDL_SNAPSHOT_CONSISTENT &&
        !sdl_snapshot_reader_check_gtids(r, err)) {
        goto fail;
    }
    if (sdl_mysql_conn_flavor(r->conn) != SDL_FLAVOR_MYSQL) {
        r->schema = sdl_schema_cache_new(r->conn);
    }
    *ret_reader = r;
    return true;
fail:
    (void)sdl_snapshot_reader_free(r);
    return false;
}

sdl_snapshot_reader *
sdl_snapshot_reader_free(sdl_snapshot_reader *r)
{
    if (!r) {
        return NULL;
    }
    (void)sdl_schema_cache_free(r->schema);
    (void)sdl_mysql_conn_free(r->conn);
    free(r->wm_db);
    free(r->wm_table);
    free(r->pipeline);
    free(r->view_time);
    free(r);
    return NULL;
}

/* ---- tables ---- */

/* information_schema.TABLES: the tables a snapshot may read */
#define BASE_TABLES                                                                                \
    "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "           \
    "'performance_schema', 'sys')"

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool
sdl_snapshot_reader_list_tables(sdl_snapshot_reader *r, const sdl_config *config, char ***ret_names,
                                size_t *ret_count, sdl_error *err)
{
    char **rows = NULL;
    size_t nrows = 0, n = 0;

    if (!sdl_snapshot_reader_settle(r, err) ||
        !sdl_mysql_conn_query_rows(
            r->conn,
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE " BASE_TABLES, 2,
            &rows, &nrows, err)) {
        sdl_error_prefix(err, "listing the tables to snapshot");
        return false;
    }
    char **names = sdl_xcalloc(nrows ? nrows : 1, sizeof(*names));
    for (size_t i = 0; i < nrows; i++) {
        const char *db = rows[2 * i], *t = rows[2 * i + 1];
        if (!db || !t || (strcmp(db, r->wm_db) == 0 && strcmp(t, r->wm_table) == 0) ||
            !sdl_config_table_included(config, db, t)) {
            continue;
        }
        names[n++] = sdl_xasprintf("%s.%s", db, t);
    }
    sdl_mysql_rows_free(rows, nrows * 2);
    qsort(names, n, sizeof(*names), cmp_names);
    *ret_names = names;
    *ret_count = n;
    return true;
}

void
sdl_snapshot_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
}

static void
watermark_error(sdl_snapshot_reader *r, sdl_error *err)
{
    sdl_error_prefix(err,
                     "writing a snapshot watermark into %s.%s (it needs INSERT and UPDATE there)",
                     r->wm_db, r->wm_table);
}

bool
sdl_snapshot_reader_settle(sdl_snapshot_reader *r, sdl_error *err)
{
    if (!r->pending) {
        return true;
    }
    r->pending = false;
    MYSQL *h = sdl_mysql_conn_handle(r->conn);
    if (mysql_read_query_result(h) != 0) {
        sdl_mysql_conn_set_error(r->conn, "query on", err);
        watermark_error(r, err);
        return false;
    }
    return true;
}

static bool
watermark(sdl_snapshot_reader *r, const char *token, bool wait, sdl_error *err)
{
    if (!sdl_snapshot_reader_settle(r, err)) {
        return false;
    }
    char *qt = quoted_table(r->wm_db, r->wm_table);
    char *p = sdl_mysql_conn_escape(r->conn, r->pipeline);
    char *t = sdl_mysql_conn_escape(r->conn, token);
    char *sql = sdl_xasprintf("INSERT INTO %s (pipeline, token) VALUES ('%s', '%s') ON DUPLICATE "
                              "KEY UPDATE token = VALUES(token)",
                              qt, p, t);
    bool ok;

    if (wait) {
        ok = sdl_mysql_conn_exec(r->conn, sql, err);
    } else {
        if (sdl_failpoint_hit("snapshot.high_watermark_fails")) {
            /* tests: a write the server refuses, found only when its reply is read */
            free(sql);
            sql = sdl_xasprintf("INSERT INTO %s (no_such_column) VALUES (1)", qt);
        }
        ok = mysql_send_query(sdl_mysql_conn_handle(r->conn), sql, (unsigned long)strlen(sql)) == 0;
        if (!ok) {
            sdl_mysql_conn_set_error(r->conn, "query on", err);
        }
        r->pending = ok;
    }
    if (!ok) {
        watermark_error(r, err);
    }
    free(qt);
    free(p);
    free(t);
    free(sql);
    return ok;
}

bool
sdl_snapshot_reader_watermark(sdl_snapshot_reader *r, const char *token, sdl_error *err)
{
    return watermark(r, token, true, err);
}

bool
sdl_snapshot_reader_watermark_send(sdl_snapshot_reader *r, const char *token, sdl_error *err)
{
    return watermark(r, token, false, err);
}

/* The source type code and read method of an information_schema DATA_TYPE. */
static bool
type_of(const char *dt, const char *charset, bool is_json, uint8_t *ret_type, col_read *ret_read)
{
    static const struct {
        const char *name;
        uint8_t type;
        col_read read;
    } types[] = {
        {"tinyint", SDL_MYSQL_TYPE_TINY, READ_INT},
        {"smallint", SDL_MYSQL_TYPE_SHORT, READ_INT},
        {"mediumint", SDL_MYSQL_TYPE_INT24, READ_INT},
        {"int", SDL_MYSQL_TYPE_LONG, READ_INT},
        {"bigint", SDL_MYSQL_TYPE_LONGLONG, READ_INT},
        {"year", SDL_MYSQL_TYPE_YEAR, READ_INT},
        {"float", SDL_MYSQL_TYPE_FLOAT, READ_FLOAT},
        {"double", SDL_MYSQL_TYPE_DOUBLE, READ_DOUBLE},
        {"decimal", SDL_MYSQL_TYPE_NEWDECIMAL, READ_DECIMAL},
        {"date", SDL_MYSQL_TYPE_DATE, READ_DATE},
        {"datetime", SDL_MYSQL_TYPE_DATETIME2, READ_DATETIME},
        {"timestamp", SDL_MYSQL_TYPE_TIMESTAMP2, READ_DATETIME},
        {"time", SDL_MYSQL_TYPE_TIME2, READ_TIME},
        {"bit", SDL_MYSQL_TYPE_BIT, READ_BIT},
        {"char", SDL_MYSQL_TYPE_STRING, READ_STRING},
        {"varchar", SDL_MYSQL_TYPE_VARCHAR, READ_STRING},
        {"binary", SDL_MYSQL_TYPE_STRING, READ_BINARY},
        {"varbinary", SDL_MYSQL_TYPE_VARCHAR, READ_BINARY},
        {"tinytext", SDL_MYSQL_TYPE_BLOB, READ_STRING},
        {"text", SDL_MYSQL_TYPE_BLOB, READ_STRING},
        {"mediumtext", SDL_MYSQL_TYPE_BLOB, READ_STRING},
        {"longtext", SDL_MYSQL_TYPE_BLOB, READ_STRING},
        {"tinyblob", SDL_MYSQL_TYPE_BLOB, READ_BINARY},
        {"blob", SDL_MYSQL_TYPE_BLOB, READ_BINARY},
        {"mediumblob", SDL_MYSQL_TYPE_BLOB, READ_BINARY},
        {"longblob", SDL_MYSQL_TYPE_BLOB, READ_BINARY},
        {"enum", SDL_MYSQL_TYPE_ENUM, READ_ENUM},
        {"set", SDL_MYSQL_TYPE_SET, READ_SET},
        {"json", SDL_MYSQL_TYPE_JSON, READ_JSON},
        {"geometry", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"point", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"linestring", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"polygon", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"multipoint", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"multilinestring", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"multipolygon", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"geometrycollection", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
        {"geomcollection", SDL_MYSQL_TYPE_GEOMETRY, READ_GEOMETRY},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i].name, dt) == 0) {
            *ret_type = types[i].type;
            *ret_read = types[i].read;
            if (*ret_read == READ_STRING && charset && strcmp(charset, "binary") == 0) {
                *ret_read = READ_BINARY;
            }
            if (is_json && (*ret_read == READ_STRING)) {
                *ret_read = READ_JSON;
            }
            return true;
        }
    }
    return false;
}

static char *
escaped(sdl_snapshot_reader *r, const char *s)
{
    return sdl_mysql_conn_escape(r->conn, s);
}

/* The column list, "ORDER BY" list and key predicate of the chunk queries. */
static void
build_queries(sdl_snapshot_table *t)
{
    sdl_table *tb = &t->table;
    size_t cap = 256;
    char *cols = sdl_xstrdup(""), *order = sdl_xstrdup(""), *pred = sdl_xstrdup("");

    (void)cap;
    for (uint32_t i = 0; i < tb->ncols; i++) {
        char *q = quote_ident(tb->cols[i].name);
        char *n = sdl_xasprintf("%s%s%s", cols, i ? ", " : "", q);
        free(cols);
        cols = n;
        free(q);
    }
    for (uint32_t k = 0; k < t->nkey; k++) {
        char *q = quote_ident(tb->cols[t->key[k]].name);
        char *n = sdl_xasprintf("%s%s%s", order, k ? ", " : "", q);
        free(order);
        order = n;
        free(q);
    }
    /* k1 > ? OR (k1 = ? AND k2 > ?) OR ..., with k1 >= ? first for the range optimizer */
    if (t->nkey > 1) {
        char *q = quote_ident(tb->cols[t->key[0]].name);
        free(pred);
        pred = sdl_xasprintf("%s >= ? AND (", q);
        free(q);
    }
    for (uint32_t k = 0; k < t->nkey; k++) {
        char *term = sdl_xstrdup("");
        for (uint32_t j = 0; j <= k; j++) {
            char *q = quote_ident(tb->cols[t->key[j]].name);
            char *n = sdl_xasprintf("%s%s%s %s ?", term, j ? " AND " : "", q, j == k ? ">" : "=");
            free(term);
            term = n;
            free(q);
        }
        char *n = sdl_xasprintf("%s%s(%s)", pred, k ? " OR " : "", term);
        free(pred);
        pred = n;
        free(term);
    }
    if (t->nkey > 1) {
        char *n = sdl_xasprintf("%s)", pred);
        free(pred);
        pred = n;
    }
    char *qt = quoted_table(tb->db, tb->name);
    t->select_first = sdl_xasprintf("SELECT %s FROM %s ORDER BY %s LIMIT ?", cols, qt, order);
    t->select_next =
        sdl_xasprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT ?", cols, qt, pred, order);
    free(qt);
    free(cols);
    free(order);
    free(pred);
}

bool
sdl_snapshot_reader_describe(sdl_snapshot_reader *r, const char *db, const char *table,
                             sdl_snapshot_table **ret_table, sdl_error *err)
{
    if (!sdl_snapshot_reader_settle(r, err)) {
        return false;
    }
    char *edb = escaped(r, db), *et = escaped(r, table);
    char *sql_cols = sdl_xasprintf(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, "
        "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION",
        edb, et);
    char *sql_keys = sdl_xasprintf(
        "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS WHERE "
        "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND NON_UNIQUE = 0",
        edb, et);
    char **cols = NULL, **keys = NULL;
    size_t ncols = 0, nkeys = 0;
    sdl_snapshot_table *t = NULL;
    bool ok = false;

    if (!sdl_mysql_conn_query_rows(r->conn, sql_cols, 8, &cols, &ncols, err) ||
        !sdl_mysql_conn_query_rows(r->conn, sql_keys, 3, &keys, &nkeys, err)) {
        sdl_error_prefix(err, "describing '%s.%s' for its snapshot", db, table);
        goto out;
    }
    if (ncols == 0) {
        sdl_error_set(err, SDL_E_SCHEMA, "table '%s.%s' to snapshot does not exist", db, table);
        goto out;
    }
    t = sdl_xcalloc(1, sizeof(*t));
    sdl_arena_init(&t->arena, 4096);
    sdl_table *tb = &t->table;
    tb->db = sdl_arena_strndup(&t->arena, db, strlen(db));
    tb->name = sdl_arena_strndup(&t->arena, table, strlen(table));
    tb->db_len = (uint32_t)strlen(db);
    tb->name_len = (uint32_t)strlen(table);
    tb->names_from_metadata = true;
    tb->ncols = (uint32_t)ncols;
    tb->cols = sdl_arena_calloc(&t->arena, ncols, sizeof(sdl_column));
    t->read = sdl_arena_calloc(&t->arena, ncols, sizeof(*t->read));
    t->fsp = sdl_arena_calloc(&t->arena, ncols, 1);
    t->prec = sdl_arena_calloc(&t->arena, ncols, 1);
    t->scale = sdl_arena_calloc(&t->arena, ncols, 1);
    for (size_t i = 0; i < ncols; i++) {
        char **row = cols + 8 * i;
        sdl_column *c = &tb->cols[i];
        c->name = sdl_arena_strndup(&t->arena, row[0], strlen(row[0]));
        c->name_len = (uint32_t)strlen(row[0]);
        c->is_unsigned = row[2] && strstr(row[2], "unsigned") != NULL;
        c->is_nullable = row[3] && strcmp(row[3], "YES") == 0;
        c->is_visible = true;
        c->charset = row[4] && strcmp(row[4], "binary") != 0 ? 45 : 63;
        t->prec[i] = (uint8_t)(row[5] ? atoi(row[5]) : 0);
        t->scale[i] = (uint8_t)(row[6] ? atoi(row[6]) : 0);
        t->fsp[i] = (uint8_t)(row[7] ? atoi(row[7]) : 0);
        if (strcmp(row[1], "json") == 0) {
            c->is_json = true;
        }
    }
    /* MariaDB: JSON columns are LONGTEXT with a json_valid() check */
    if (r->schema && !sdl_schema_cache_mark_json(r->schema, tb, err)) {
        goto out;
    }
    for (size_t i = 0; i < ncols; i++) {
        char **row = cols + 8 * i;
        sdl_column *c = &tb->cols[i];
        if (!type_of(row[1], row[4], c->is_json, &c->type, &t->read[i])) {
            sdl_error_set(err, SDL_E_UNSUPPORTED,
                          "snapshot of '%s.%s': column '%s' has type %s, which snapshots do not "
                          "read yet",
                          db, table, c->name, row[2] ? row[2] : row[1]);
            goto out;
        }
        if (t->read[i] == READ_JSON) {
            c->is_json = true;
        }
    }
    /* the chunk key: PRIMARY, else the first unique index of whole NOT NULL columns */
    t->key = sdl_arena_calloc(&t->arena, ncols, sizeof(uint32_t));
    uint32_t *pk = sdl_arena_calloc(&t->arena, ncols, sizeof(uint32_t));
    for (size_t i = 0; i < nkeys && tb->npk == 0;) {
        const char *index = keys[3 * i];
        size_t j = i;
        bool usable = true, ordered = true;
        uint32_t n = 0;
        for (; j < nkeys && strcmp(keys[3 * j], index) == 0; j++) {
            const char *col = keys[3 * j + 1];
            uint32_t k = 0;
            while (k < tb->ncols && (!col || strcmp(tb->cols[k].name, col) != 0)) {
                k++;
            }
            if (k == tb->ncols || keys[3 * j + 2] || tb->cols[k].is_nullable || n >= ncols) {
                usable = false; /* an expression, a prefix or a NULL-able column */
                continue;
            }
            /* ENUM and SET sort by their members' numbers but compare with a string as
             * strings: "after the last key" would not follow ORDER BY */
            ordered = ordered && t->read[k] != READ_ENUM && t->read[k] != READ_SET;
            t->key[n++] = k;
        }
        /* The server's primary key: PRIMARY, else (MariaDB and InnoDB promote it) the first
         * unique index of NOT NULL columns; its rows' binlog images name it as the key, and
         * so do the snapshot's. The server lists a table's keys in that order. It is also the
         * chunk key, unless it cannot be ordered (then the table has none: snapshot.no_key). */
        if (usable && n > 0) {
            for (uint32_t k = 0; k < n; k++) {
                tb->cols[t->key[k]].is_pk = true;
                pk[k] = t->key[k];
            }
            tb->npk = n;
            tb->pk = pk;
            t->nkey = ordered ? n : 0;
        }
        i = j;
    }
    if (t->nkey) {
        build_queries(t);
    }
    ok = true;
out:
    if (cols) {
        sdl_mysql_rows_free(cols, ncols * 8);
    }
    if (keys) {
        sdl_mysql_rows_free(keys, nkeys * 3);
    }
    free(sql_cols);
    free(sql_keys);
    free(edb);
    free(et);
    if (!ok) {
        t = sdl_snapshot_table_free(t);
    }
    *ret_table = t;
    return ok;
}

typedef struct {
    char *name; /* "db.table" */
    uint64_t rows;
} table_estimate;

static int
cmp_estimates(const void *a, const void *b)
{
    return strcmp(((const table_estimate *)a)->name, ((const table_estimate *)b)->name);
}

void
sdl_snapshot_reader_estimate(sdl_snapshot_reader *r, char *const *names, size_t n,
                             uint64_t *ret_rows)
{
    char **rows = NULL;
    size_t nrows = 0;
    sdl_error err = SDL_ERROR_INIT;

    memset(ret_rows, 0, n * sizeof(*ret_rows));
    /* one query for all of them (a snapshot of many tables would wait for a round trip per
     * table); a watermark's reply unread: none (the next call that may fail reads it) */
    if (n == 0 || r->pending ||
        !sdl_mysql_conn_query_rows(r->conn,
                                   "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM "
                                   "information_schema.TABLES WHERE " BASE_TABLES,
                                   3, &rows, &nrows, &err)) {
        return;
    }
    table_estimate *est = sdl_xcalloc(nrows ? nrows : 1, sizeof(*est));
    for (size_t i = 0; i < nrows; i++) {
        char **row = rows + 3 * i;
        est[i].name = sdl_xasprintf("%s.%s", row[0] ? row[0] : "", row[1] ? row[1] : "");
        est[i].rows = row[2] ? strtoull(row[2], NULL, 10) : 0;
    }
    qsort(est, nrows, sizeof(*est), cmp_estimates);
    for (size_t j = 0; j < n; j++) {
        table_estimate key = {.name = names[j]};
        const table_estimate *hit =
            nrows ? bsearch(&key, est, nrows, sizeof(*est), cmp_estimates) : NULL;
        ret_rows[j] = hit ? hit->rows : 0;
    }
    for (size_t i = 0; i < nrows; i++) {
        free(est[i].name);
    }
    free(est);
    sdl_mysql_rows_free(rows, nrows * 3);
}

sdl_snapshot_table *
sdl_snapshot_table_free(sdl_snapshot_table *t)
{
    if (!t) {
        return NULL;
    }
    if (t->first) {
        (void)mysql_stmt_close(t->first);
    }
    if (t->next) {
        (void)mysql_stmt_close(t->next);
    }
    free(t->select_first);
    free(t->select_next);
    sdl_arena_done(&t->arena);
    free(t);
    return NULL;
}

const sdl_table *
sdl_snapshot_table_get(const sdl_snapshot_table *t)
{
    return &t->table;
}

uint32_t
sdl_snapshot_table_key(const sdl_snapshot_table *t, const uint32_t **ret_cols)
{
    *ret_cols = t->nkey ? t->key : NULL;
    return t->nkey;
}
