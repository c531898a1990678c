/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/macros.h"

const uint64_t sdl_stats_latency_bounds_usec[SDL_STATS_LATENCY_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, UINT64_MAX,
};

static sdl_stats global_stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

sdl_stats *
sdl_stats_global(void)
{
    return &global_stats;
}

void
sdl_stats_commit(sdl_stats *s, uint64_t rows, uint64_t txns, uint64_t latency_usec,
                 int64_t source_ts_sec, const char *position, const char *binlog_file,
                 uint64_t binlog_pos)
{
    atomic_fetch_add(&s->rows_applied, rows);
    atomic_fetch_add(&s->txns_applied, txns);
    atomic_fetch_add(&s->batches_committed, 1);
    atomic_fetch_add(&s->commit_latency_count, 1);
    atomic_fetch_add(&s->commit_latency_sum_usec, latency_usec);
    for (int i = 0; i < SDL_STATS_LATENCY_BUCKETS; i++) {
        if (latency_usec <= sdl_stats_latency_bounds_usec[i]) {
            atomic_fetch_add(&s->commit_latency_buckets[i], 1);
            break;
        }
    }
    if (source_ts_sec) {
        atomic_store(&s->last_source_ts_sec, source_ts_sec);
    }
    atomic_store(&s->last_commit_usec, sdl_now_realtime_usec());
    atomic_store(&s->target_up, true);
    sdl_stats_progress(s);
    (void)pthread_mutex_lock(&s->lock);
    if (position) {
        (void)snprintf(s->position, sizeof(s->position), "%s", position);
    }
    if (binlog_file) {
        (void)snprintf(s->binlog_file, sizeof(s->binlog_file), "%s", binlog_file);
    }
    s->binlog_pos = binlog_pos;
    (void)pthread_mutex_unlock(&s->lock);
}

void
sdl_stats_retry(sdl_stats *s, sdl_retry_reason reason)
{
    if ((unsigned)reason < SDL_RETRY_REASON_COUNT) {
        atomic_fetch_add(&s->retries[reason], 1);
    }
}

void
sdl_stats_dead_letter(sdl_stats *s, int reason)
{
    if (reason >= 0 && reason < SDL_STATS_DEAD_REASONS) {
        atomic_fetch_add(&s->dead_letters[reason], 1);
    }
}

void
sdl_stats_progress(sdl_stats *s)
{
    atomic_store(&s->last_progress_usec, sdl_now_monotonic_usec());
}

void
sdl_stats_progress_at(sdl_stats *s, uint64_t now_usec)
{
    atomic_store(&s->last_progress_usec, now_usec);
}

void
sdl_stats_position(sdl_stats *s, char *position, size_t cap, char *file, size_t file_cap,
                   uint64_t *ret_pos)
{
    (void)pthread_mutex_lock(&s->lock);
    if (position && cap) {
        (void)snprintf(position, cap, "%s", s->position);
    }
    if (file && file_cap) {
        (void)snprintf(file, file_cap, "%s", s->binlog_file);
    }
    if (ret_pos) {
        *ret_pos = s->binlog_pos;
    }
    (void)pthread_mutex_unlock(&s->lock);
}

uint64_t
sdl_stats_lag_usec(sdl_stats *s)
{
    int64_t ts = atomic_load(&s->last_source_ts_sec);
    uint64_t now = sdl_now_realtime_usec();

    if (atomic_load(&s->caught_up) || ts <= 0 || now < (uint64_t)ts * SDL_USEC_PER_SEC) {
        return 0;
    }
    return now - (uint64_t)ts * SDL_USEC_PER_SEC;
}

void
sdl_stats_start(sdl_stats *s)
{
    atomic_store(&s->start_usec, sdl_now_realtime_usec());
}

void
sdl_stats_set_table_limit(sdl_stats *s, size_t limit)
{
    size_t cap = 16;

    limit = SDL_MIN(limit, (size_t)SDL_STATS_TABLE_LIMIT_MAX);
    while (limit && cap < limit * 2) {
        cap *= 2;
    }
    (void)pthread_mutex_lock(&s->lock);
    sdl_stats_tables_free(s->tables, s->table_cap);
    s->tables = limit ? sdl_xcalloc(cap, sizeof(*s->tables)) : NULL;
    s->table_cap = limit ? cap : 0;
    s->table_limit = limit;
    s->ntables = 0;
    s->table_rows_untracked = 0;
    (void)pthread_mutex_unlock(&s->lock);
}

static uint64_t
fnv1a(uint64_t h, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        h = (h ^ *p) * 0x100000001b3u;
    }
    return (h ^ 0xff) * 0x100000001b3u; /* a separator: ("ab","c") != ("a","bc") */
}

/* The slot of (@db, @table), or the empty slot where it would go; under the lock. */
static sdl_stats_table *
table_slot(sdl_stats *s, const char *db, const char *table)
{
    size_t mask = s->table_cap - 1;
    size_t i = (size_t)fnv1a(fnv1a(0xcbf29ce484222325u, db), table) & mask;

    for (;; i = (i + 1) & mask) {
        sdl_stats_table *t = &s->tables[i];
        if (!t->db || (strcmp(t->db, db) == 0 && strcmp(t->table, table) == 0)) {
            return t;
        }
    }
}

void
sdl_stats_count_applied(sdl_stats *s, const char *op, const char *db, const char *table)
{
    int o;

    if (!op) {
        return;
    }
    if (strcmp(op, "ddl") == 0) {
        atomic_fetch_add(&s->ddl_applied, 1);
        return;
    }
    if (strcmp(op, "snapshot") == 0) {
        atomic_fetch_add(&s->snapshot_rows, 1);
        return;
    }
    if (strcmp(op, "insert") == 0) {
        o = SDL_STATS_INSERT;
    } else if (strcmp(op, "update") == 0) {
        o = SDL_STATS_UPDATE;
    } else if (strcmp(op, "delete") == 0) {
        o = SDL_STATS_DELETE;
    } else {
        return;
    }
    atomic_fetch_add(&s->rows_applied_op[o], 1);
    if (!s->table_limit || !db || !table) {
        return;
    }
    (void)pthread_mutex_lock(&s->lock);
    sdl_stats_table *t = table_slot(s, db, table);
    if (!t->db && s->ntables < s->table_limit) {
        t->db = sdl_xstrdup(db);
        t->table = sdl_xstrdup(table);
        s->ntables++;
    }
    if (t->db) {
        t->rows[o]++;
    } else {
        s->table_rows_untracked++;
    }
    (void)pthread_mutex_unlock(&s->lock);
}

static int
cmp_table(const void *a, const void *b)
{
    const sdl_stats_table *x = a, *y = b;
    int c = strcmp(x->db, y->db);

    return c ? c : strcmp(x->table, y->table);
}

sdl_stats_table *
sdl_stats_tables_copy(sdl_stats *s, size_t *ret_n, uint64_t *ret_untracked)
{
    sdl_stats_table *out = NULL;
    size_t n = 0;

    (void)pthread_mutex_lock(&s->lock);
    if (s->ntables) {
        out = sdl_xcalloc(s->ntables, sizeof(*out));
        for (size_t i = 0; i < s->table_cap; i++) {
            if (s->tables[i].db) {
                out[n] = s->tables[i];
                out[n].db = sdl_xstrdup(s->tables[i].db);
                out[n].table = sdl_xstrdup(s->tables[i].table);
                n++;
            }
        }
    }
    *ret_untracked = s->table_rows_untracked;
    (void)pthread_mutex_unlock(&s->lock);
    if (n > 1) {
        qsort(out, n, sizeof(*out), cmp_table);
    }
    *ret_n = n;
    return out;
}

void
sdl_stats_tables_free(sdl_stats_table *tables, size_t n)
{
    for (size_t i = 0; tables && i < n; i++) {
        free(tables[i].db);
        free(tables[i].table);
    }
    free(tables);
}

int64_t
sdl_stats_lag_sec(sdl_stats *s)
{
    int64_t ts = atomic_load(&s->last_source_ts_sec);
    int64_t now = (int64_t)(sdl_now_realtime_usec() / SDL_USEC_PER_SEC);

    if (atomic_load(&s->caught_up) || ts == 0 || now < ts) {
        return 0;
    }
    return now - ts;
}

const char *
sdl_worker_state_name(sdl_worker_state state)
{
    static const char *const names[] = {"starting", "recovering", "running",
                                        "idle",     "retrying",   "stopped"};

    return (unsigned)state < SDL_WORKER_STATE_COUNT ? names[state] : "unknown";
}

const char *
sdl_retry_reason_name(sdl_retry_reason reason)
{
    static const char *const names[] = {"source", "target_connect", "stage", "commit"};
    _Static_assert(SDL_ARRAY_SIZE(names) == SDL_RETRY_REASON_COUNT, "one name per reason");

    return (unsigned)reason < SDL_RETRY_REASON_COUNT ? names[reason] : "unknown";
}
