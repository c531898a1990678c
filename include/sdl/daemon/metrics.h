/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * metrics: renders the process-wide stats (stats.h) as Prometheus text exposition format
 * 0.0.4 for /metrics, and as the JSON bodies and status codes of /health/live and
 * /health/ready. Pure formatting: the HTTP server (http.c) takes a snapshot and calls these;
 * unit tests build a snapshot by hand and compare the exact text.
 *
 * Every series carries pipeline="<name>"; label values are escaped (\\, \", \n). No label
 * takes a value that changes with every commit (the position is in the /health bodies, not
 * in /metrics); per-table series exist only when configured, for a bounded number of tables.
 * Nothing secret is in the stats, so nothing secret is rendered (no URI, no user, no
 * password).
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

/* The process's own resource use (the process_* series of Prometheus client libraries). */
typedef struct sdl_process_stats {
    bool known;           /* /proc/self/stat could be read */
    uint64_t cpu_usec;    /* user + system CPU time */
    uint64_t rss_bytes;   /* resident set size */
    uint64_t vsize_bytes; /* virtual memory size */
    uint64_t open_fds;    /* entries of /proc/self/fd */
    uint64_t max_fds;     /* RLIMIT_NOFILE soft limit */
    uint64_t start_usec;  /* realtime the process started (sdl_stats_start()) */
} sdl_process_stats;

/* A consistent copy of sdl_stats, with times already turned into ages. */
typedef struct sdl_metrics_snapshot {
    char pipeline[72];
    uint64_t rows_applied;
    uint64_t rows_applied_op[SDL_STATS_OP_COUNT];
    uint64_t ddl_applied;
    uint64_t snapshot_rows;
    uint64_t snapshot_tables;
    uint64_t snapshot_tables_done;
    uint64_t snapshot_rows_estimated;
    uint64_t snapshot_seconds_left;
    uint64_t txns_applied;
    uint64_t batches_committed;
    uint64_t latency_count;
    uint64_t latency_sum_usec;
    uint64_t latency_buckets[SDL_STATS_LATENCY_BUCKETS]; /* per bucket, not cumulative */
    uint64_t retries[SDL_RETRY_REASON_COUNT];
    uint64_t dead_letters[SDL_STATS_DEAD_REASONS];
    uint64_t staged_batches;
    uint64_t queue_bytes;
    uint64_t queue_capacity;
    uint64_t queue_full_usec;
    uint64_t source_events;
    uint64_t source_bytes;
    uint64_t source_rows;
    uint64_t source_rows_filtered;
    uint64_t source_reconnects;
    uint64_t lag_usec;          /* sdl_stats_lag_usec() */
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
    char position[1024]; /* GTID position of the last commit (/health only: no label) */
    char binlog_file[256];
    uint64_t binlog_pos;
    bool tables_on;          /* per-table counters are configured (http.table_metrics) */
    sdl_stats_table *tables; /* their copy (owned; sdl_metrics_snapshot_done()) */
    size_t ntables;
    uint64_t table_rows_untracked;
    sdl_process_stats process;
} sdl_metrics_snapshot;

/* Copies @stats (atomics one by one, strings and tables under the stats lock) and reads the
 * process's resource use. Free with sdl_metrics_snapshot_done(). */
void sdl_metrics_snapshot_take(sdl_stats *stats, sdl_metrics_snapshot *ret_snap);

/* Frees what a snapshot owns (the per-table copy). */
void sdl_metrics_snapshot_done(sdl_metrics_snapshot *snap);

/* Reads /proc/self/stat, /proc/self/fd and RLIMIT_NOFILE; @start_usec is the process start. */
void sdl_process_stats_read(uint64_t start_usec, sdl_process_stats *ret);

/* Appends the whole /metrics body to @out. @version goes into sdl_build_info. */
void sdl_metrics_render(const sdl_metrics_snapshot *snap, const char *version, sdl_buf *out);

/* Appends @value to @out escaped as a Prometheus label value (without the quotes). */
void sdl_metrics_escape_label(sdl_buf *out, const char *value);

/* /health/live: 200 {"status":"ok",...} while the pipeline makes progress, 503
 * {"status":"stuck",...} when it made none for @stuck_usec. Appends the JSON body to @body
 * and returns the HTTP status. Both health bodies end with the pipeline name, the workers'
 * states, the lag and the position of the last commit:
 * "position":{"gtid":"0-1-5","binlog":{"file":"binlog.000001","pos":1234}} (null before
 * anything is known). */
int sdl_health_live(const sdl_metrics_snapshot *snap, uint64_t stuck_usec, sdl_buf *body);

/* /health/ready: 200 when ready, target_up and source_up; else 503 with the reasons
 * ({"status":"not ready","reasons":["target down", ...],...}). */
int sdl_health_ready(const sdl_metrics_snapshot *snap, sdl_buf *body);
