/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * pipeline-private: what the files of `sdl run` share (the pipeline's state, and the functions
 * one file calls in another): pipeline.c (start-up, reload, supervision, sdl_pipeline_run()),
 * pipeline-writer.c (retries with backoff, the writer thread, the committer's hooks: dead
 * letters, counters) and pipeline-reader.c (the reader thread, the snapshot's hooks). Not an
 * interface: nothing outside src/daemon/ includes it; include/sdl/daemon/pipeline.h is.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/bytes.h"
#include "sdl/base/clock.h"
#include "sdl/base/error.h"
#include "sdl/config/config.h"
#include "sdl/daemon/committer.h"
#include "sdl/daemon/mirror.h"
#include "sdl/daemon/request-watch.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/daemon/stats.h"
#include "sdl/model/batch.h"
#include "sdl/model/offset.h"
#include "sdl/model/sink.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/queue/queue.h"

typedef struct pipeline {
    const sdl_config *config;         /* as started: the keys a reload cannot change */
    _Atomic(const sdl_config *) live; /* the reloadable keys (SIGHUP swaps it) */
    sdl_config **retired;             /* reloaded configurations, freed at the end (main thread) */
    size_t nretired;
    const volatile int *stop; /* set by the signal handler */
    volatile int *reload;     /* set by the SIGHUP handler, reset by supervise() */
    const char *config_path;
    volatile int abort_threads; /* set when one thread failed: the other one ends too */
    sdl_queue *queue;
    sdl_change_stream *stream;
    sdl_mongo_writer *writer;
    sdl_sink sink;          /* the writer behind the seam (model/sink.h) */
    sdl_commit_env commit;  /* how committer.c and recovery.c use it */
    sdl_mirror *mirror;     /* mirror mode's planner (mirror.h); NULL: audit only */
    sdl_snapshot *snapshot; /* the snapshot, running or not (snapshot.h; reader thread) */
    /* `sdl snapshot` requests, heard of by the writer thread from its commits, or read with
     * the offset when no commit returned them for a second (request-watch.h), and handed to
     * the reader thread (under requests_lock) */
    pthread_mutex_t requests_lock;
    uint8_t *requests;          /* new requests not yet taken by the reader; NULL: none */
    atomic_bool requests_ready; /* requests is set (the reader's cheap look) */
    size_t requests_len;
    sdl_request_watch requests_watch; /* writer thread: when heard, which handed over */

    sdl_offset offset;       /* last committed offset (writer thread after start) */
    char *flavor;            /* the source's: "mariadb" or "mysql" (offsets record it) */
    char *resume_split_gtid; /* the offset's partial transaction, if any */
    uint64_t resume_split_seq;
    uint64_t limit_rows; /* batch limits lowered by recovery (0: the configured ones) */
    size_t limit_bytes;

    sdl_error reader_err;
    bool reader_failed;
    sdl_error writer_err;
    bool writer_failed;

    atomic_bool reader_done;
    atomic_bool writer_done;
    sdl_stats *stats;
    /* observability: journal context (SDL_GTID=, SDL_TABLE=) of the reader's error */
    char fail_gtid[128];
    char fail_table[192];
    /* writer thread: the operation of each document the batcher holds, in its order (a ring):
     * read while the document is fresh in the cache, counted when its batch commits */
    uint8_t *held_ops;
    size_t held_cap, held_head, held_n;
    /* reader thread: the mapper writes each row document here (reused, no allocation) */
    sdl_buf map_buf;
    /* reader thread: the open transaction's first item is queued (it carries the GTID) */
    bool txn_named;
} pipeline;

/* The configuration in force for the reloadable keys (batch, retry, tables, log). */
static inline const sdl_config *
pl_live(pipeline *p)
{
    return atomic_load(&p->live);
}

static inline int64_t
pl_now_ms(void)
{
    return (int64_t)(sdl_now_realtime_usec() / 1000u);
}

/* ---- pipeline-writer.c ---- */

/*
 * Runs @fn until it succeeds, a permanent error occurs, or transient errors have lasted
 * longer than pipeline.retry.give_up_after (any thread).
 */
bool pl_with_retry(pipeline *p, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn,
                   void *arg, sdl_error *err);
/* The committer's hooks (committer.h sdl_commit_env), @ctx the pipeline. */
bool pl_retry_hook(void *ctx, const char *what, sdl_retry_reason reason, sdl_attempt_fn fn,
                   void *arg, sdl_error *err);
bson_t *pl_dead_letter_hook(void *ctx, const bson_t *doc, const sdl_error *err,
                            const sdl_offset *offset);
void pl_begin_hook(void *ctx, const sdl_batch *b);
void pl_staged_hook(void *ctx, const sdl_batch *b);
bool pl_more_queued_hook(void *ctx);
bool pl_plan_hook(void *ctx, sdl_batch *b, sdl_error *err);
void pl_committed_hook(void *ctx, const sdl_batch *b, uint64_t txns, uint64_t usec);
void pl_requests_hook(void *ctx, const uint8_t *requests, size_t len);
/* The writer thread (@arg the pipeline): queue -> batcher -> committer. */
void *pl_writer_main(void *arg);

/* ---- pipeline-reader.c ---- */

/* The reader thread (@arg the pipeline): change stream -> mapper -> queue. */
void *pl_reader_main(void *arg);
/* The change stream's row tap (change-stream.h), @ctx the pipeline: the snapshot's. */
bool pl_snapshot_tap(void *ctx, const sdl_row_change *row, const sdl_change_pos *pos);
/* observability: the snapshot's progress for STATUS= (the main thread reads it) */
void pl_snapshot_status(pipeline *p);
