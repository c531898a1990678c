/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sdl/base/clock.h"

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

    return (unsigned)reason < SDL_RETRY_REASON_COUNT ? names[reason] : "unknown";
}
