/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * metrics: renders the process-wide stats (stats.h) as Prometheus text exposition format
 * 0.0.4 for /metrics, and as the JSON bodies and status codes of /health/live and
 * /health/ready. Pure formatting: the HTTP server (http.c) takes a snapshot and calls these;
 * unit tests build a snapshot by hand and compare the exact text.
 *
 * Every series carries pipeline="<name>"; label values are escaped (\\, \", \n). Nothing
 * secret is in the stats, so nothing secret is rendered (no URI, no user, no password).
 *
 * Never logs. Threading: any thread; a snapshot is a plain value.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/daemon/stats.h"

/* /health/live answers 503 when the pipeline showed no progress for this long. The writer
 * loop turns every 200 ms and backoff steps count as progress, so only a hung thread (a
 * deadlock, a blocked system call) gets there. */
#define SDL_HEALTH_STUCK_USEC (60u * 1000000u)

/* A consistent copy of sdl_stats, with times already turned into ages. */
typedef struct sdl_metrics_snapshot {
    char pipeline[72];
    uint64_t rows_applied;
    uint64_t txns_applied;
    uint64_t batches_committed;
    uint64_t latency_count;
    uint64_t latency_sum_usec;
    uint64_t latency_buckets[SDL_STATS_LATENCY_BUCKETS]; /* per bucket, not cumulative */
    uint64_t retries[SDL_RETRY_REASON_COUNT];
    uint64_t dead_letters[SDL_STATS_DEAD_REASONS];
    uint64_t staged_batches;
    uint64_t queue_bytes;
    int64_t lag_sec;            /* sdl_stats_lag_sec() */
    int64_t last_source_ts_sec; /* source commit time of the last committed txn; 0 = none */
    uint64_t last_commit_usec;  /* realtime of the last commit; 0 = none */
    bool progress_known;        /* the pipeline has reported progress at least once */
    uint64_t progress_age_usec; /* now - last_progress_usec (monotonic) */
    bool caught_up;
    bool target_up;
    bool source_up;
    bool ready;
    int reader_state; /* sdl_worker_state */
    int writer_state;
    char position[1024]; /* GTID position of the last commit */
    char binlog_file[256];
    uint64_t binlog_pos;
} sdl_metrics_snapshot;

/* Copies @stats (atomics one by one, strings under the stats lock). */
void sdl_metrics_snapshot_take(sdl_stats *stats, sdl_metrics_snapshot *ret_snap);

/* Appends the whole /metrics body to @out. @version goes into sdl_build_info. */
void sdl_metrics_render(const sdl_metrics_snapshot *snap, const char *version, sdl_buf *out);

/* Appends @value to @out escaped as a Prometheus label value (without the quotes). */
void sdl_metrics_escape_label(sdl_buf *out, const char *value);

/* /health/live: 200 {"status":"ok",...} while the pipeline makes progress, 503
 * {"status":"stuck",...} when it made none for @stuck_usec. Appends the JSON body to @body
 * and returns the HTTP status. */
int sdl_health_live(const sdl_metrics_snapshot *snap, uint64_t stuck_usec, sdl_buf *body);

/* /health/ready: 200 when ready, target_up and source_up; else 503 with the reasons
 * ({"status":"not ready","reasons":["target down", ...],...}). */
int sdl_health_ready(const sdl_metrics_snapshot *snap, sdl_buf *body);
