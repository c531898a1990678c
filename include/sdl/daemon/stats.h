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

/* Upper bounds (usec) of the commit latency histogram buckets; the last is +Inf. */
#define SDL_STATS_LATENCY_BUCKETS 12
extern const uint64_t sdl_stats_latency_bounds_usec[SDL_STATS_LATENCY_BUCKETS];

typedef struct sdl_stats {
    atomic_uint_fast64_t rows_applied;      /* row changes committed by this process */
    atomic_uint_fast64_t txns_applied;      /* source transactions fully committed */
    atomic_uint_fast64_t batches_committed; /* MongoDB transactions committed */
    atomic_uint_fast64_t commit_latency_count;
    atomic_uint_fast64_t commit_latency_sum_usec;
    atomic_uint_fast64_t commit_latency_buckets[SDL_STATS_LATENCY_BUCKETS]; /* not cumulative */
    atomic_uint_fast64_t retries[SDL_RETRY_REASON_COUNT];
    atomic_uint_fast64_t dead_letters[SDL_STATS_DEAD_REASONS]; /* by sdl_dead_reason */
    atomic_uint_fast64_t staged_batches;     /* batches staged and not yet committed */
    atomic_uint_fast64_t queue_bytes;        /* decoded bytes waiting for the writer */
    atomic_int_fast64_t last_source_ts_sec;  /* source commit time of the last committed txn */
    atomic_uint_fast64_t last_commit_usec;   /* realtime of the last commit; 0 = none */
    atomic_uint_fast64_t last_progress_usec; /* monotonic: last time the pipeline made
                                              * progress or confirmed it is idle (watchdog) */
    atomic_bool caught_up;                   /* nothing read is waiting to be written */
    atomic_bool target_up;                   /* the last target operation succeeded */
    atomic_bool source_up;                   /* the source connection is established */
    atomic_bool ready;                       /* recovery done, both connections up */
    atomic_int reader_state;                 /* sdl_worker_state */
    atomic_int writer_state;                 /* sdl_worker_state */
    pthread_mutex_t lock;                    /* protects the strings below */
    char position[1024];                     /* GTID position of the last commit */
    char binlog_file[256];                   /* binlog file of the last commit */
    uint64_t binlog_pos;
    char pipeline[72];
} sdl_stats;

sdl_stats *sdl_stats_global(void);

void sdl_stats_commit(sdl_stats *s, uint64_t rows, uint64_t txns, uint64_t latency_usec,
                      int64_t source_ts_sec, const char *position, const char *binlog_file,
                      uint64_t binlog_pos);
void sdl_stats_retry(sdl_stats *s, sdl_retry_reason reason);
/* A row set aside as a dead letter, for reason @reason (sdl_dead_reason). */
void sdl_stats_dead_letter(sdl_stats *s, int reason);
void sdl_stats_progress(sdl_stats *s);
/* Copies the strings under the lock. */
void sdl_stats_position(sdl_stats *s, char *position, size_t cap, char *file, size_t file_cap,
                        uint64_t *ret_pos);
/* Seconds the target is behind the source: 0 when caught up, else now - last_source_ts. */
int64_t sdl_stats_lag_sec(sdl_stats *s);

const char *sdl_worker_state_name(sdl_worker_state state);
const char *sdl_retry_reason_name(sdl_retry_reason reason);
