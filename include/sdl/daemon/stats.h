/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * stats: what the running pipeline exposes to /metrics, /health, STATUS= and the watchdog.
 * The pipeline's threads write it (atomics, and one lock for the strings); the HTTP server
 * and the main loop read it. One instance per process (sdl_stats_global()).
 *
 * Never logs. Threading: any thread.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum sdl_retry_reason {
    SDL_RETRY_SOURCE,         /* source connection lost or unreachable */
    SDL_RETRY_TARGET_CONNECT, /* target unreachable at start-up or recovery */
    SDL_RETRY_STAGE,          /* staging a batch failed transiently */
    SDL_RETRY_COMMIT,         /* the commit transaction failed transiently */
    SDL_RETRY_REASON_COUNT
} sdl_retry_reason;

typedef enum sdl_worker_state {
    SDL_WORKER_STARTING,   /* not started yet */
    SDL_WORKER_RECOVERING, /* recovery in progress (writer) */
    SDL_WORKER_RUNNING,    /* streaming (reader) / writing (writer) */
    SDL_WORKER_IDLE,       /* caught up, waiting for changes */
    SDL_WORKER_RETRYING,   /* backing off after a transient error */
    SDL_WORKER_STOPPED,
    SDL_WORKER_STATE_COUNT
} sdl_worker_state;

/* Reasons of dead letters (mapping/dead-letter.h sdl_dead_reason: too_large, unmappable,
 * rejected). */
#define SDL_STATS_DEAD_REASONS 3
/* The row operations counted per op (DDL documents are counted apart). */
typedef enum sdl_stats_op {
    SDL_STATS_INSERT,
    SDL_STATS_UPDATE,
    SDL_STATS_DELETE,
    SDL_STATS_OP_COUNT
} sdl_stats_op;

/* Per-table counters (opt-in, http.table_metrics): at most that many tables get their own
 * counters, the first ones committed; rows of any other table are counted in
 * table_rows_untracked. */
#define SDL_STATS_TABLE_LIMIT_MAX 10000

typedef struct sdl_stats_table {
    char *db;
    char *table;
    uint64_t rows[SDL_STATS_OP_COUNT];
} sdl_stats_table;

/* Upper bounds (usec) of the commit latency histogram buckets; the last is +Inf. */
#define SDL_STATS_LATENCY_BUCKETS 12
extern const uint64_t sdl_stats_latency_bounds_usec[SDL_STATS_LATENCY_BUCKETS];

typedef struct sdl_stats {
    atomic_uint_fast64_t rows_applied; /* row changes committed by this process */
    atomic_uint_fast64_t rows_applied_op[SDL_STATS_OP_COUNT]; /* the same, by operation */
    atomic_uint_fast64_t ddl_applied;             /* DDL documents committed by this process */
    atomic_uint_fast64_t snapshot_rows;           /* snapshot rows (op snapshot) committed by it */
    atomic_uint_fast64_t snapshot_tables;         /* tables of the snapshot (reader thread) */
    atomic_uint_fast64_t snapshot_tables_done;    /* of them read completely */
    atomic_uint_fast64_t snapshot_rows_estimated; /* its rows estimated in all (0: unknown) */
    atomic_uint_fast64_t snapshot_seconds_left;   /* its time left estimated (0: unknown) */
    atomic_uint_fast64_t txns_applied;            /* source transactions fully committed */
    atomic_uint_fast64_t batches_committed;       /* MongoDB transactions committed */
    atomic_uint_fast64_t commit_latency_count;
    atomic_uint_fast64_t commit_latency_sum_usec;
    atomic_uint_fast64_t commit_latency_buckets[SDL_STATS_LATENCY_BUCKETS]; /* not cumulative */
    atomic_uint_fast64_t retries[SDL_RETRY_REASON_COUNT];
    atomic_uint_fast64_t dead_letters[SDL_STATS_DEAD_REASONS]; /* by sdl_dead_reason */
    atomic_uint_fast64_t staged_batches;       /* batches staged and not yet committed */
    atomic_uint_fast64_t queue_bytes;          /* decoded bytes waiting for the writer */
    atomic_uint_fast64_t queue_capacity;       /* pipeline.queue_bytes */
    atomic_uint_fast64_t queue_full_usec;      /* the reader waited on a full queue */
    atomic_uint_fast64_t source_events;        /* binlog events read (change-stream.h counters) */
    atomic_uint_fast64_t source_bytes;         /* bytes of those events */
    atomic_uint_fast64_t source_rows;          /* row changes decoded, filtered ones included */
    atomic_uint_fast64_t source_rows_filtered; /* rows of tables the filters exclude */
    atomic_uint_fast64_t source_reconnects;    /* replication connections re-established */
    atomic_uint_fast64_t start_usec;           /* realtime when the process started */
    atomic_int_fast64_t last_source_ts_sec;    /* source commit time of the last committed txn */
    atomic_uint_fast64_t last_commit_usec;     /* realtime of the last commit; 0 = none */
    atomic_uint_fast64_t last_progress_usec;   /* monotonic: last time the pipeline made
                                                * progress or confirmed it is idle (watchdog) */
    atomic_bool caught_up;                     /* nothing read is waiting to be written */
    atomic_bool target_up;                     /* the last target operation succeeded */
    atomic_bool source_up;                     /* the source connection is established */
    atomic_bool ready;                         /* recovery done, both connections up */
    atomic_int reader_state;                   /* sdl_worker_state */
    atomic_int writer_state;                   /* sdl_worker_state */
    pthread_mutex_t lock;                      /* protects the strings below */
    char position[1024];                       /* GTID position of the last commit */
    char snapshot[512];    /* the snapshot being read, for STATUS= ("" when none; under lock) */
    char binlog_file[256]; /* binlog file of the last commit */
    uint64_t binlog_pos;
    char pipeline[72];
    /* per-table counters, under the lock; table_limit 0 = off */
    size_t table_limit;
    sdl_stats_table *tables; /* open addressing, table_cap slots (power of two) */
    size_t table_cap;
    size_t ntables;
    uint64_t table_rows_untracked;
} sdl_stats;

sdl_stats *sdl_stats_global(void);

void sdl_stats_commit(sdl_stats *s, uint64_t rows, uint64_t txns, uint64_t latency_usec,
                      int64_t source_ts_sec, const char *position, const char *binlog_file,
                      uint64_t binlog_pos);
void sdl_stats_retry(sdl_stats *s, sdl_retry_reason reason);
/* A row set aside as a dead letter, for reason @reason (sdl_dead_reason). */
void sdl_stats_dead_letter(sdl_stats *s, int reason);

/* Records the process start (process_start_time_seconds). */
void sdl_stats_start(sdl_stats *s);

/* Turns per-table counters on for at most @limit tables (0: off). Call before the pipeline
 * starts. */
void sdl_stats_set_table_limit(sdl_stats *s, size_t limit);

/* Counts one committed document: @op is its "op" field ("insert", "update", "delete", "ddl";
 * anything else is ignored), @db and @table its table (NULL for a DDL without one). */
void sdl_stats_count_applied(sdl_stats *s, const char *op, const char *db, const char *table);

/* Copies the per-table counters under the lock: a malloc'd array of *ret_n entries (each
 * with malloc'd strings; free with sdl_stats_tables_free()), sorted by db and table, and the
 * untracked count. */
sdl_stats_table *sdl_stats_tables_copy(sdl_stats *s, size_t *ret_n, uint64_t *ret_untracked);
void sdl_stats_tables_free(sdl_stats_table *tables, size_t n);
void sdl_stats_progress(sdl_stats *s);
/* The same with the monotonic time @now_usec the caller has read already. */
void sdl_stats_progress_at(sdl_stats *s, uint64_t now_usec);
/* Copies the strings under the lock. */
void sdl_stats_position(sdl_stats *s, char *position, size_t cap, char *file, size_t file_cap,
                        uint64_t *ret_pos);
/* Seconds the target is behind the source: 0 when caught up, else now - last_source_ts. */
int64_t sdl_stats_lag_sec(sdl_stats *s);
/* The same in microseconds (the source's commit times have whole seconds; now has usec). */
uint64_t sdl_stats_lag_usec(sdl_stats *s);

const char *sdl_worker_state_name(sdl_worker_state state);
const char *sdl_retry_reason_name(sdl_retry_reason reason);
