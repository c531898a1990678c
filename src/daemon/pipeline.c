/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/log.h"
#include "sdl/daemon/committer.h"
#include "sdl/daemon/mirror.h"
#include "sdl/daemon/notify.h"
#include "sdl/daemon/recovery.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/daemon/stats.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"
#include "sdl/queue/queue.h"

#include "pipeline-private.h"

/* ---- start-up ----------------------------------------------------------------------------- */

static bool
open_writer_attempt(void *arg, sdl_error *err)
{
    pipeline *p = arg;
    const char *notice;
    bool warning = false;

    if (!sdl_mongo_writer_open(&p->config->target, p->config->pipeline.name, &p->writer, err)) {
        return false;
    }
    /* target.retention and the ts index (mongo-writer.h) */
    if ((notice = sdl_mongo_writer_notice(p->writer, &warning)) != NULL) {
        if (warning) {
            log_warning("%s", notice);
        } else {
            log_notice("%s", notice);
        }
    }
    return true;
}

/* DESIGN.md §3.4, through the sink seam (recovery.c). */
static bool
recover(pipeline *p, sdl_error *err)
{
    sdl_recovery_env env = {
        .commit = p->commit,
        .pipeline = p->config->pipeline.name,
        .start = p->config->pipeline.start,
    };
    sdl_recovery rec;

    if (!sdl_recover(&env, &rec, err)) {
        return false;
    }
    sdl_offset_done(&p->offset);
    p->offset = rec.offset; /* taken over */
    p->limit_rows = rec.limit_rows;
    p->limit_bytes = rec.limit_bytes;
    return true;
}

static bool
init_offset_attempt(void *arg, sdl_error *err)
{
    pipeline *p = arg;

    return sdl_sink_init_offset(&p->sink, &p->offset, err);
}

typedef struct stream_op {
    pipeline *p;
    const sdl_change_stream_options *options;
} stream_op;

static bool
open_stream_attempt(void *arg, sdl_error *err)
{
    stream_op *o = arg;

    return sdl_change_stream_open(o->options, &o->p->stream, err);
}

/*
 * SIGHUP: reads the configuration file again. Keys marked reloadable (batch, retry, table
 * filters, log level) take effect at once (the filters from the next source transaction);
 * a file that does not load, or that changes any other key, is refused with a logged error
 * and the running configuration stays in force. systemd sees RELOADING=1 … READY=1.
 */
static void
reload(pipeline *p)
{
    sdl_config *next = NULL;
    sdl_error err = SDL_ERROR_INIT;

    sdl_notify_reloading();
    log_notice("Reloading the configuration from %s", p->config_path);
    sdl_config_load_options opts = {.credentials_dir = p->config->credentials_dir};
    if (!sdl_config_load_opts(p->config_path, &opts, &next, &err) ||
        !sdl_config_check_reload(p->config, next, &err)) {
        log_error_e(&err, "Reload refused, the running configuration stays in force");
        (void)sdl_config_free(next);
    } else {
        p->retired = sdl_xrealloc(p->retired, (p->nretired + 1) * sizeof(*p->retired));
        p->retired[p->nretired++] = next;
        sdl_log_set_level(next->log.level);
        sdl_log_set_format(next->log.format);
        atomic_store(&p->live, next);
        log_notice("Configuration reloaded (batch max_rows %" PRIu64 ", max_delay %" PRIu64
                   " ms; %zu include and %zu exclude patterns)",
                   next->pipeline.batch_max_rows, next->pipeline.batch_max_delay_usec / 1000u,
                   next->tables.ninclude, next->tables.nexclude);
    }
    sdl_notify_ready();
}

/*
 * The main thread while the workers run: READY=1 once, STATUS= every few seconds, and
 * WATCHDOG=1 only while the pipeline shows progress (a change read, a writer loop turn, a
 * commit, a backoff step) within the watchdog interval, so a stuck pipeline is restarted by
 * systemd even though this thread is fine.
 */
static void
supervise(pipeline *p)
{
    uint64_t watchdog = sdl_notify_watchdog_usec();
    uint64_t last_status = 0;
    uint64_t last_rows = atomic_load(&p->stats->rows_applied);
    bool stopping_sent = false;

    atomic_store(&p->stats->ready, true);
    sdl_notify_ready();
    while (!atomic_load(&p->reader_done) || !atomic_load(&p->writer_done)) {
        uint64_t now = sdl_now_monotonic_usec();
        if (p->reload && *p->reload && !*p->stop) {
            *p->reload = 0;
            reload(p);
        }
        if (*p->stop && !stopping_sent) {
            log_notice("Stopping: finishing the current batch");
            sdl_notify_stopping();
            stopping_sent = true;
        }
        if (watchdog && now - atomic_load(&p->stats->last_progress_usec) < watchdog) {
            sdl_notify_watchdog();
        }
        if (now - last_status >= 5 * SDL_USEC_PER_SEC) {
            char position[256];
            uint64_t rows = atomic_load(&p->stats->rows_applied);
            double secs = last_status ? (double)(now - last_status) / 1e6 : 1.0;
            char snap[sizeof(p->stats->snapshot)];
            sdl_stats_position(p->stats, position, sizeof(position), NULL, 0, NULL);
            (void)pthread_mutex_lock(&p->stats->lock);
            memcpy(snap, p->stats->snapshot, sizeof(snap));
            (void)pthread_mutex_unlock(&p->stats->lock);
            sdl_notify_status("Replicating: lag %.1fs, %.0f rows/s, %llu rows applied, GTID %s%s%s",
                              (double)sdl_stats_lag_usec(p->stats) / 1e6,
                              (double)(rows - last_rows) / secs, (unsigned long long)rows,
                              position[0] ? position : p->offset.gtid,
                              snap[0] ? "; snapshot: " : "", snap);
            last_rows = rows;
            last_status = now;
        }
        /* a stop request ends the sleep: STOPPING=1 goes out while the workers wind down */
        sdl_sleep_usec(SDL_MIN(watchdog ? watchdog / 4 : SDL_USEC_PER_SEC, SDL_USEC_PER_SEC) / 2,
                       stopping_sent ? NULL : p->stop);
    }
    if (*p->stop && !stopping_sent) {
        /* the workers finished within this thread's sleep: still say so, as systemd expects */
        log_notice("Stopping: finishing the current batch");
        sdl_notify_stopping();
    }
    atomic_store(&p->stats->ready, false);
}

bool
sdl_pipeline_run(const sdl_config *config, const sdl_pipeline_control *control, sdl_error *err)
{
    const volatile int *stop = control->stop;
    pipeline p;
    pthread_t reader;
    pthread_t writer;
    bool ok = false;

    memset(&p, 0, sizeof(p));
    (void)pthread_mutex_init(&p.requests_lock, NULL);
    p.config = config;
    atomic_store(&p.live, config);
    p.stop = stop;
    p.reload = control->reload;
    p.config_path = control->config_path;
    p.stats = sdl_stats_global();
    (void)snprintf(p.stats->pipeline, sizeof(p.stats->pipeline), "%s", config->pipeline.name);
    atomic_store(&p.stats->writer_state, SDL_WORKER_RECOVERING);
    sdl_stats_progress(p.stats);
    sdl_error_clear(&p.reader_err);
    sdl_error_clear(&p.writer_err);

    log_info("Connecting to the target (%s)",
             config->target.uri_origin ? config->target.uri_origin : "uri");
    if (!pl_with_retry(&p, "connecting to the target", SDL_RETRY_TARGET_CONNECT,
                       open_writer_attempt, &p, err)) {
        goto out;
    }
    p.sink = sdl_mongo_writer_sink(p.writer);
    p.mirror = sdl_mirror_new(config); /* pipeline.modes: read at start-up only */
    p.commit = (sdl_commit_env){
        .sink = &p.sink,
        .retry = pl_retry_hook,
        .dead_letter = pl_dead_letter_hook,
        .begin = pl_begin_hook,
        .staged = pl_staged_hook,
        .committed = pl_committed_hook,
        .plan = p.mirror ? pl_plan_hook : NULL,
        .more_queued = pl_more_queued_hook,
        .requests = pl_requests_hook,
        .ctx = &p,
    };
    {
        /* the lease every commit renews: `sdl offset set` refuses while it holds */
        char host[256], holder[300];
        if (gethostname(host, sizeof(host)) != 0) {
            (void)snprintf(host, sizeof(host), "?");
        }
        host[sizeof(host) - 1] = '\0';
        (void)snprintf(holder, sizeof(holder), "%s:%ld", host, (long)getpid());
        sdl_mongo_writer_set_holder(p.writer, holder);
    }
    if (!recover(&p, err)) {
        goto out;
    }
    if (p.offset.partial_gtid) {
        p.resume_split_gtid = sdl_xstrdup(p.offset.partial_gtid);
        p.resume_split_seq = p.offset.partial_seq;
    }
    sdl_change_stream_options so = {
        .config = config,
        .pipeline = config->pipeline.name,
        .from = p.offset.gtid ? p.offset.gtid : config->pipeline.start,
        .until = NULL,
        .reconnect = true,
        .from_flavor = p.offset.flavor, /* a MySQL position never goes to a MariaDB server */
        .skip_gtid = p.resume_split_gtid,
        .skip_rows = p.resume_split_gtid ? p.resume_split_seq : 0,
        .stop = stop,
        .live_config = &p.live,           /* SIGHUP: new table filters from the next transaction */
        .connected = &p.stats->source_up, /* observability: /health/ready, sdl_source_up */
        .read_ahead_bytes = SDL_BINLOG_READ_AHEAD, /* receive while this thread decodes */
        .row_tap = pl_snapshot_tap, /* the snapshot's watermarks and windows (DESIGN.md §9) */
        .row_tap_ctx = &p,
    };
    stream_op sop = {.p = &p, .options = &so};
    if (!pl_with_retry(&p, "connecting to the source", SDL_RETRY_SOURCE, open_stream_attempt, &sop,
                       err)) {
        goto out;
    }
    p.flavor = sdl_xstrdup(sdl_change_stream_flavor(p.stream));
    if (!p.offset.gtid) {
        /* First start: the offset begins where the stream begins, stored as batch 0 before
         * anything is read (or READY=1 sent), so a crash before the first commit resumes
         * there and not at a new "now", and batch 1 is fenced like every other. */
        p.offset.gtid = sdl_xstrdup(sdl_change_stream_start_position(p.stream));
        p.offset.flavor = sdl_xstrdup(p.flavor);
        if (strcmp(config->pipeline.start, "snapshot") == 0) {
            /* the tables to snapshot, listed now: their progress goes into batch 0 */
            bson_t *plan = NULL;
            if (!sdl_snapshot_plan(config, &plan, err)) {
                goto out;
            }
            sdl_offset_set_snapshot(&p.offset, bson_get_data(plan), plan->len);
            bson_destroy(plan);
        }
        if (!pl_with_retry(&p, "storing the start position", SDL_RETRY_TARGET_CONNECT,
                           init_offset_attempt, &p, err)) {
            goto out;
        }
        log_notice("First start of pipeline '%s': its start position '%s' is stored as batch 0",
                   config->pipeline.name, p.offset.gtid);
    }
    log_notice("Replicating after GTID position '%s' into the target (batch %" PRIu64 " next)",
               p.offset.gtid, p.offset.batch + 1);
    p.snapshot = sdl_snapshot_new(config, p.offset.snapshot, p.offset.snapshot_len);
    sdl_snapshot_stream_at(p.snapshot, p.offset.gtid);
    sdl_snapshot_stream_at(p.snapshot, p.offset.gtid);
    if (sdl_snapshot_pending(p.snapshot)) {
        char what[512];
        sdl_snapshot_describe(p.snapshot, what, sizeof(what));
        log_notice("Snapshot in progress: %s", what);
    }
    pl_snapshot_status(&p);
    atomic_store(&p.stats->target_up, true);
    (void)pthread_mutex_lock(&p.stats->lock);
    (void)snprintf(p.stats->position, sizeof(p.stats->position), "%s", p.offset.gtid);
    (void)pthread_mutex_unlock(&p.stats->lock);

    p.queue = sdl_queue_new(config->pipeline.queue_bytes);
    atomic_store(&p.stats->queue_capacity, config->pipeline.queue_bytes);
    if (pthread_create(&writer, NULL, pl_writer_main, &p) != 0) {
        sdl_error_set(err, SDL_E_IO, "cannot start the writer thread");
        goto out;
    }
    if (pthread_create(&reader, NULL, pl_reader_main, &p) != 0) {
        p.abort_threads = 1;
        sdl_queue_close(p.queue);
        (void)pthread_join(writer, NULL);
        sdl_error_set(err, SDL_E_IO, "cannot start the reader thread");
        goto out;
    }
    supervise(&p);
    (void)pthread_join(reader, NULL);
    if (p.reader_failed) {
        /* The writer committed what was complete before it stopped. */
        if (p.fail_table[0]) { /* observability: journal fields of the failing row */
            sdl_log_set_context(config->pipeline.name, p.fail_gtid, p.fail_table);
        }
        log_error_e(&p.reader_err, "Reading the binlog failed");
    }
    (void)pthread_join(writer, NULL);
    if (p.writer_failed) {
        *err = p.writer_err;
        goto out;
    }
    if (p.reader_failed) {
        *err = p.reader_err;
        goto out;
    }
    ok = true;
out:
    if (p.writer) {
        sdl_error lerr = SDL_ERROR_INIT;
        if (!sdl_sink_renew_lease(&p.sink, true, &lerr)) {
            log_debug_e(&lerr, "Releasing the lease");
        }
    }
    if (ok) {
        log_notice("Stopped at batch %" PRIu64 ", GTID position '%s'", p.offset.batch,
                   p.offset.gtid ? p.offset.gtid : "");
    }
    (void)sdl_change_stream_free(p.stream);
    (void)sdl_mongo_writer_free(p.writer);
    sdl_mirror_free(p.mirror);
    (void)sdl_snapshot_free(p.snapshot);
    free(p.requests);
    sdl_request_watch_done(&p.requests_watch);
    (void)pthread_mutex_destroy(&p.requests_lock);
    (void)sdl_queue_free(p.queue);
    sdl_offset_done(&p.offset);
    free(p.flavor);
    free(p.resume_split_gtid);
    free(p.held_ops);
    for (size_t i = 0; i < p.nretired; i++) {
        (void)sdl_config_free(p.retired[i]);
    }
    free(p.retired);
    if (!ok && err->code == SDL_E_CANCELLED && *stop) {
        return true; /* a stop while waiting is a clean stop */
    }
    return ok;
}
