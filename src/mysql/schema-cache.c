/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/schema-cache.h"

#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

typedef struct json_column {
    char *table;
    char *column;
} json_column;

typedef struct db_entry {
    char *db;
    json_column *cols; /* JSON columns of every table in db */
    size_t ncols;
} db_entry;

struct sdl_schema_cache {
    sdl_mysql_conn *conn;
    db_entry *dbs;
    size_t ndbs;
    size_t cap;
};

sdl_schema_cache *
sdl_schema_cache_new(sdl_mysql_conn *conn)
{
    sdl_schema_cache *c = sdl_xcalloc(1, sizeof(*c));

    c->conn = conn;
    return c;
}

static void
db_entry_done(db_entry *e)
{
    for (size_t i = 0; i < e->ncols; i++) {
        free(e->cols[i].table);
        free(e->cols[i].column);
    }
    free(e->cols);
    free(e->db);
}

void
sdl_schema_cache_invalidate(sdl_schema_cache *cache, const char *db)
{
    size_t keep = 0;

    for (size_t i = 0; i < cache->ndbs; i++) {
        if (!db || strcmp(cache->dbs[i].db, db) == 0) {
            db_entry_done(&cache->dbs[i]);
        } else {
            cache->dbs[keep++] = cache->dbs[i];
        }
    }
    cache->ndbs = keep;
}

sdl_schema_cache *
sdl_schema_cache_free(sdl_schema_cache *cache)
{
    if (!cache) {
        return NULL;
    }
    sdl_schema_cache_invalidate(cache, NULL);
    free(cache->dbs);
    free(cache);
    return NULL;
}

/* "json_valid(`a``b`)" -> "a`b"; NULL when the clause is something else. */
static char *
json_valid_column(const char *clause)
{
    static const char prefix[] = "json_valid(`";
    size_t plen = sizeof(prefix) - 1;
    size_t len;
    char *out;
    size_t n = 0;

    if (!clause || strncmp(clause, prefix, plen) != 0) {
        return NULL;
    }
    len = strlen(clause);
    if (len < plen + 2 || strcmp(clause + len - 2, "`)") != 0) {
        return NULL;
    }
    out = sdl_xmalloc(len);
    for (size_t i = plen; i < len - 2; i++) {
        if (clause[i] == '`') {
            if (i + 1 < len - 2 && clause[i + 1] == '`') {
                i++;
            } else {
                free(out);
                return NULL;
            }
        }
        out[n++] = clause[i];
    }
    out[n] = '\0';
    return out;
}

static bool
load_db(sdl_schema_cache *cache, const char *db, db_entry **ret, sdl_error *err)
{
    char *esc = sdl_mysql_conn_escape(cache->conn, db);
    char *sql = sdl_xasprintf("SELECT TABLE_NAME, CHECK_CLAUSE FROM "
                              "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '%s' "
                              "AND CHECK_CLAUSE LIKE 'json\\_valid(%%'",
                              esc);
    char **rows = NULL;
    size_t nrows = 0;
    db_entry e = {sdl_xstrdup(db), NULL, 0};

    free(esc);
    if (!sdl_mysql_conn_query_rows(cache->conn, sql, 2, &rows, &nrows, err)) {
        free(sql);
        free(e.db);
        sdl_error_prefix(err, "looking up JSON columns of database '%s'", db);
        return false;
    }
    free(sql);
    e.cols = sdl_xcalloc(nrows + 1, sizeof(*e.cols));
    for (size_t i = 0; i < nrows; i++) {
        char *col = json_valid_column(rows[i * 2 + 1]);
        if (col && rows[i * 2]) {
            e.cols[e.ncols].table = sdl_xstrdup(rows[i * 2]);
            e.cols[e.ncols].column = col;
            e.ncols++;
        } else {
            free(col);
        }
    }
    sdl_mysql_rows_free(rows, nrows * 2);
    if (cache->ndbs == cache->cap) {
        cache->cap = cache->cap ? cache->cap * 2 : 8;
        cache->dbs = sdl_xreallocarray(cache->dbs, cache->cap, sizeof(*cache->dbs));
    }
    cache->dbs[cache->ndbs] = e;
    *ret = &cache->dbs[cache->ndbs++];
    return true;
}

bool
sdl_schema_cache_mark_json(sdl_schema_cache *cache, sdl_table *table, sdl_error *err)
{
    db_entry *e = NULL;

    for (size_t i = 0; i < cache->ndbs; i++) {
        if (strcmp(cache->dbs[i].db, table->db) == 0) {
            e = &cache->dbs[i];
            break;
        }
    }
    if (!e && !load_db(cache, table->db, &e, err)) {
        return false;
    }
    for (size_t i = 0; i < e->ncols; i++) {
        if (strcmp(e->cols[i].table, table->name) != 0) {
            continue;
        }
        for (uint32_t c = 0; c < table->ncols; c++) {
            if (strcmp(table->cols[c].name, e->cols[i].column) == 0) {
                table->cols[c].is_json = true;
            }
        }
    }
    return true;
}
