/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sdl/base/clock.h"
#include "sdl/mapping/dead-letter.h"

_Static_assert(SDL_STATS_DEAD_REASONS == SDL_DEAD_REASON_COUNT, "one series per reason");

void
sdl_process_stats_read(uint64_t start_usec, sdl_process_stats *ret)
{
    char buf[1024];
    unsigned long utime = 0, stime = 0, vsize = 0;
    long rss = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    ssize_t n;
    int fd;

    memset(ret, 0, sizeof(*ret));
    ret->start_usec = start_usec;
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        /* "pid (comm) state ppid ...": the fields after the last ')' (comm may hold any) */
        char *p = n > 0 ? (buf[n] = '\0', strrchr(buf, ')')) : NULL;
        if (p &&
            sscanf(p + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                   "%*d %*d %*u %lu %ld",
                   &utime, &stime, &vsize, &rss) == 4 &&
            ticks > 0 && page > 0) {
            struct timespec cpu;
            ret->known = true;
            /* the process CPU clock (all threads) has nanoseconds where /proc counts clock
             * ticks (10 ms): a process that worked less than a tick is not at 0 */
            ret->cpu_usec =
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0
                    ? (uint64_t)cpu.tv_sec * SDL_USEC_PER_SEC + (uint64_t)cpu.tv_nsec / 1000u
                    : (uint64_t)(utime + stime) * SDL_USEC_PER_SEC / (uint64_t)ticks;
            ret->vsize_bytes = vsize;
            ret->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            ret->open_fds += e->d_name[0] != '.';
        }
        closedir(d);
        ret->open_fds -= ret->open_fds > 0; /* the directory's own descriptor */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        ret->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    }
}

void
sdl_metrics_snapshot_take(sdl_stats *s, sdl_metrics_snapshot *ret)
{
    uint64_t progress = atomic_load(&s->last_progress_usec);
    uint64_t now = sdl_now_monotonic_usec();

    memset(ret, 0, sizeof(*ret));
    ret->rows_applied = atomic_load(&s->rows_applied);
    for (int i = 0; i < SDL_STATS_OP_COUNT; i++) {
        ret->rows_applied_op[i] = atomic_load(&s->rows_applied_op[i]);
    }
    ret->ddl_applied = atomic_load(&s->ddl_applied);
    ret->snapshot_rows = atomic_load(&s->snapshot_rows);
    ret->snapshot_tables = atomic_load(&s->snapshot_tables);
    ret->snapshot_tables_done = atomic_load(&s->snapshot_tables_done);
    ret->snapshot_rows_estimated = atomic_load(&s->snapshot_rows_estimated);
    ret->snapshot_seconds_left = atomic_load(&s->snapshot_seconds_left);
    ret->txns_applied = atomic_load(&s->txns_applied);
    ret->batches_committed = atomic_load(&s->batches_committed);
    ret->latency_count = atomic_load(&s->commit_latency_count);
    ret->latency_sum_usec = atomic_load(&s->commit_latency_sum_usec);
    for (int i = 0; i < SDL_STATS_LATENCY_BUCKETS; i++) {
        ret->latency_buckets[i] = atomic_load(&s->commit_latency_buckets[i]);
    }
    for (int i = 0; i < SDL_RETRY_REASON_COUNT; i++) {
        ret->retries[i] = atomic_load(&s->retries[i]);
    }
    for (int i = 0; i < SDL_STATS_DEAD_REASONS; i++) {
        ret->dead_letters[i] = atomic_load(&s->dead_letters[i]);
    }
    ret->staged_batches = atomic_load(&s->staged_batches);
    ret->queue_bytes = atomic_load(&s->queue_bytes);
    ret->queue_capacity = atomic_load(&s->queue_capacity);
    ret->queue_full_usec = atomic_load(&s->queue_full_usec);
    ret->source_events = atomic_load(&s->source_events);
    ret->source_bytes = atomic_load(&s->source_bytes);
    ret->source_rows = atomic_load(&s->source_rows);
    ret->source_rows_filtered = atomic_load(&s->source_rows_filtered);
    ret->source_reconnects = atomic_load(&s->source_reconnects);
    ret->lag_usec = sdl_stats_lag_usec(s);
    ret->last_source_ts_sec = atomic_load(&s->last_source_ts_sec);
    ret->last_commit_usec = atomic_load(&s->last_commit_usec);
    ret->progress_known = progress != 0;
    ret->progress_age_usec = progress && now > progress ? now - progress : 0;
    ret->caught_up = atomic_load(&s->caught_up);
    ret->target_up = atomic_load(&s->target_up);
    ret->source_up = atomic_load(&s->source_up);
    ret->ready = atomic_load(&s->ready);
    ret->reader_state = atomic_load(&s->reader_state);
    ret->writer_state = atomic_load(&s->writer_state);
    (void)pthread_mutex_lock(&s->lock);
    (void)snprintf(ret->pipeline, sizeof(ret->pipeline), "%s", s->pipeline);
    ret->tables_on = s->table_limit > 0;
    (void)pthread_mutex_unlock(&s->lock);
    sdl_stats_position(s, ret->position, sizeof(ret->position), ret->binlog_file,
                       sizeof(ret->binlog_file), &ret->binlog_pos);
    if (ret->tables_on) {
        ret->tables = sdl_stats_tables_copy(s, &ret->ntables, &ret->table_rows_untracked);
    }
    sdl_process_stats_read(atomic_load(&s->start_usec), &ret->process);
}

void
sdl_metrics_snapshot_done(sdl_metrics_snapshot *snap)
{
    sdl_stats_tables_free(snap->tables, snap->ntables);
    snap->tables = NULL;
    snap->ntables = 0;
}

void
sdl_metrics_escape_label(sdl_buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        switch (*p) {
        case '\\':
            sdl_buf_append_str(out, "\\\\");
            break;
        case '"':
            sdl_buf_append_str(out, "\\\"");
            break;
        case '\n':
            sdl_buf_append_str(out, "\\n");
            break;
        default:
            sdl_buf_append_byte(out, (uint8_t)*p);
            break;
        }
    }
}

/* Exact decimal seconds from microseconds, without trailing zeros: 2500 -> "0.0025". */
static void
append_seconds(sdl_buf *out, uint64_t usec)
{
    uint64_t frac = usec % 1000000u;
    char digits[8];
    int n;

    sdl_buf_appendf(out, "%" PRIu64, usec / 1000000u);
    if (!frac) {
        return;
    }
    n = snprintf(digits, sizeof(digits), "%06" PRIu64, frac);
    while (n > 0 && digits[n - 1] == '0') {
        digits[--n] = '\0';
    }
    sdl_buf_appendf(out, ".%s", digits);
}

static void
header(sdl_buf *out, const char *name, const char *type, const char *help)
{
    sdl_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "name{pipeline="p"" — the caller adds more labels, then close_labels(). */
static void
open_series(sdl_buf *out, const sdl_metrics_snapshot *snap, const char *name)
{
    sdl_buf_appendf(out, "%s{pipeline=\"", name);
    sdl_metrics_escape_label(out, snap->pipeline);
    sdl_buf_append_byte(out, '"');
}

static void
add_label(sdl_buf *out, const char *label, const char *value)
{
    sdl_buf_appendf(out, ",%s=\"", label);
    sdl_metrics_escape_label(out, value);
    sdl_buf_append_byte(out, '"');
}

static void
series_u64(sdl_buf *out, const sdl_metrics_snapshot *snap, const char *name, uint64_t value)
{
    open_series(out, snap, name);
    sdl_buf_appendf(out, "} %" PRIu64 "\n", value);
}

static void
metric_u64(sdl_buf *out, const sdl_metrics_snapshot *snap, const char *name, const char *type,
           const char *help, uint64_t value)
{
    header(out, name, type, help);
    series_u64(out, snap, name, value);
}

static void
metric_state(sdl_buf *out, const sdl_metrics_snapshot *snap, const char *name, const char *help,
             int state)
{
    header(out, name, "gauge", help);
    for (int s = 0; s < SDL_WORKER_STATE_COUNT; s++) {
        open_series(out, snap, name);
        add_label(out, "state", sdl_worker_state_name((sdl_worker_state)s));
        sdl_buf_appendf(out, "} %d\n", s == state ? 1 : 0);
    }
}

static void
metric_seconds(sdl_buf *out, const sdl_metrics_snapshot *snap, const char *name, const char *type,
               const char *help, uint64_t usec)
{
    header(out, name, type, help);
    open_series(out, snap, name);
    sdl_buf_append_str(out, "} ");
    append_seconds(out, usec);
    sdl_buf_append_byte(out, '\n');
}

static const char *const op_names[SDL_STATS_OP_COUNT] = {"insert", "update", "delete"};

void
sdl_metrics_render(const sdl_metrics_snapshot *snap, const char *version, sdl_buf *out)
{
    uint64_t cumulative = 0;

    header(out, "sdl_build_info", "gauge", "Version of sdl; always 1.");
    open_series(out, snap, "sdl_build_info");
    add_label(out, "version", version);
    sdl_buf_append_str(out, "} 1\n");

    /* ---- what reached MongoDB ---- */
    header(out, "sdl_rows_applied_total", "counter",
           "Row changes committed to MongoDB by this process, by operation.");
    for (int o = 0; o < SDL_STATS_OP_COUNT; o++) {
        open_series(out, snap, "sdl_rows_applied_total");
        add_label(out, "op", op_names[o]);
        sdl_buf_appendf(out, "} %" PRIu64 "\n", snap->rows_applied_op[o]);
    }
    metric_u64(out, snap, "sdl_ddl_applied_total", "counter",
               "DDL statements committed to MongoDB (op ddl documents) by this process.",
               snap->ddl_applied);
    metric_u64(out, snap, "sdl_snapshot_rows_total", "counter",
               "Existing rows committed to MongoDB by snapshots (op snapshot documents) by this "
               "process.",
               snap->snapshot_rows);
    {
        static const char *const states[] = {"pending", "running", "done"};
        uint64_t done = snap->snapshot_tables_done;
        uint64_t running = snap->snapshot_tables > done ? 1 : 0;
        uint64_t n[] = {snap->snapshot_tables - done - running, running, done};
        header(out, "sdl_snapshot_tables", "gauge",
               "Tables of the snapshot (pipeline.start: snapshot, sdl snapshot) by state.");
        for (int i = 0; i < 3; i++) {
            open_series(out, snap, "sdl_snapshot_tables");
            add_label(out, "state", states[i]);
            sdl_buf_appendf(out, "} %" PRIu64 "\n", n[i]);
        }
    }
    metric_u64(out, snap, "sdl_snapshot_rows_estimated", "gauge",
               "Rows of the running snapshot estimated in all: its rows so far and the server's "
               "estimate of the rest (0: none running, or not known yet).",
               snap->snapshot_rows_estimated);
    metric_u64(out, snap, "sdl_snapshot_seconds_left", "gauge",
               "Estimated time left of the running snapshot at this process's rate (0: none "
               "running, or not known yet).",
               snap->snapshot_seconds_left);
    metric_u64(out, snap, "sdl_transactions_applied_total", "counter",
               "Source transactions fully committed to MongoDB by this process.",
               snap->txns_applied);
    metric_u64(out, snap, "sdl_batches_committed_total", "counter",
               "MongoDB transactions (batches) committed by this process.",
               snap->batches_committed);

    header(out, "sdl_commit_duration_seconds", "histogram",
           "Time to stage and commit one batch, retries included.");
    for (int i = 0; i < SDL_STATS_LATENCY_BUCKETS; i++) {
        cumulative += snap->latency_buckets[i];
        open_series(out, snap, "sdl_commit_duration_seconds_bucket");
        sdl_buf_append_str(out, ",le=\"");
        if (sdl_stats_latency_bounds_usec[i] == UINT64_MAX) {
            sdl_buf_append_str(out, "+Inf");
        } else {
            append_seconds(out, sdl_stats_latency_bounds_usec[i]);
        }
        sdl_buf_appendf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    open_series(out, snap, "sdl_commit_duration_seconds_sum");
    sdl_buf_append_str(out, "} ");
    append_seconds(out, snap->latency_sum_usec);
    sdl_buf_append_byte(out, '\n');
    series_u64(out, snap, "sdl_commit_duration_seconds_count", snap->latency_count);

    header(out, "sdl_retries_total", "counter",
           "Transient failures retried after a backoff, by what failed.");
    for (int r = 0; r < SDL_RETRY_REASON_COUNT; r++) {
        open_series(out, snap, "sdl_retries_total");
        add_label(out, "reason", sdl_retry_reason_name((sdl_retry_reason)r));
        sdl_buf_appendf(out, "} %" PRIu64 "\n", snap->retries[r]);
    }

    header(out, "sdl_dead_letters_total", "counter",
           "Rows set aside in the dead-letter collection (pipeline.on_error: dead_letter), by "
           "why they could not be written.");
    for (int r = 0; r < SDL_STATS_DEAD_REASONS; r++) {
        open_series(out, snap, "sdl_dead_letters_total");
        add_label(out, "reason", sdl_dead_reason_name((sdl_dead_reason)r));
        sdl_buf_appendf(out, "} %" PRIu64 "\n", snap->dead_letters[r]);
    }

    metric_u64(out, snap, "sdl_staging_batches", "gauge",
               "Batches staged in row_changes_staging and not yet committed.",
               snap->staged_batches);

    /* ---- what was read from the source ---- */
    metric_u64(out, snap, "sdl_source_events_total", "counter",
               "Binlog events read from the source (events inside compressed transaction "
               "payloads not counted).",
               snap->source_events);
    metric_u64(out, snap, "sdl_source_read_bytes_total", "counter",
               "Bytes of the binlog events read from the source.", snap->source_bytes);
    metric_u64(out, snap, "sdl_source_rows_total", "counter",
               "Row changes decoded from the binlog, those of filtered tables included.",
               snap->source_rows);
    metric_u64(out, snap, "sdl_source_rows_filtered_total", "counter",
               "Row changes of tables the table filters exclude (read, not written).",
               snap->source_rows_filtered);
    metric_u64(out, snap, "sdl_source_reconnects_total", "counter",
               "Times the replication connection was lost and connected again.",
               snap->source_reconnects);

    /* ---- in between ---- */
    metric_u64(out, snap, "sdl_queue_bytes", "gauge",
               "Decoded bytes read from the source and waiting for the writer.", snap->queue_bytes);
    metric_u64(out, snap, "sdl_queue_capacity_bytes", "gauge",
               "Capacity of the queue between reader and writer (pipeline.queue_bytes).",
               snap->queue_capacity);
    metric_seconds(out, snap, "sdl_queue_full_seconds_total", "counter",
                   "Time the reader waited for room in a full queue (for the writer).",
                   snap->queue_full_usec);
    metric_seconds(out, snap, "sdl_lag_seconds", "gauge",
                   "Seconds MongoDB is behind the source: 0 when everything read is committed, "
                   "else now minus the source commit time of the last committed transaction.",
                   snap->lag_usec / 1000u * 1000u);
    metric_seconds(out, snap, "sdl_last_commit_timestamp_seconds", "gauge",
                   "Unix time of the last batch commit by this process; 0 before the first.",
                   snap->last_commit_usec);
    header(out, "sdl_last_source_timestamp_seconds", "gauge",
           "Source commit time (Unix) of the last committed transaction; 0 before the first.");
    open_series(out, snap, "sdl_last_source_timestamp_seconds");
    sdl_buf_appendf(out, "} %" PRId64 "\n",
                    snap->last_source_ts_sec > 0 ? snap->last_source_ts_sec : 0);

    metric_state(out, snap, "sdl_reader_state", "State of the binlog reader (one-hot).",
                 snap->reader_state);
    metric_state(out, snap, "sdl_writer_state", "State of the MongoDB writer (one-hot).",
                 snap->writer_state);

    metric_u64(out, snap, "sdl_caught_up", "gauge",
               "1 when everything read from the source has been committed.", snap->caught_up);
    metric_u64(out, snap, "sdl_target_up", "gauge", "1 when the last MongoDB operation succeeded.",
               snap->target_up);
    metric_u64(out, snap, "sdl_source_up", "gauge",
               "1 while the source replication connection is established.", snap->source_up);
    metric_u64(out, snap, "sdl_ready", "gauge",
               "1 once recovery is done and both connections came up (as READY=1).", snap->ready);

    /* ---- per table, when configured (http.table_metrics) ---- */
    if (snap->tables_on) {
        header(out, "sdl_table_rows_applied_total", "counter",
               "Row changes committed by this process, by table and operation (the first "
               "http.table_metrics tables committed).");
        for (size_t i = 0; i < snap->ntables; i++) {
            for (int o = 0; o < SDL_STATS_OP_COUNT; o++) {
                open_series(out, snap, "sdl_table_rows_applied_total");
                add_label(out, "db", snap->tables[i].db);
                add_label(out, "table", snap->tables[i].table);
                add_label(out, "op", op_names[o]);
                sdl_buf_appendf(out, "} %" PRIu64 "\n", snap->tables[i].rows[o]);
            }
        }
        metric_u64(out, snap, "sdl_table_rows_untracked_total", "counter",
                   "Row changes committed of tables beyond the http.table_metrics limit.",
                   snap->table_rows_untracked);
    }

    /* ---- the process (as Prometheus client libraries name these) ---- */
    if (snap->process.known) {
        metric_seconds(out, snap, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.", snap->process.cpu_usec);
        metric_u64(out, snap, "process_resident_memory_bytes", "gauge",
                   "Resident memory size in bytes.", snap->process.rss_bytes);
        metric_u64(out, snap, "process_virtual_memory_bytes", "gauge",
                   "Virtual memory size in bytes.", snap->process.vsize_bytes);
    }
    metric_u64(out, snap, "process_open_fds", "gauge", "Number of open file descriptors.",
               snap->process.open_fds);
    if (snap->process.max_fds && snap->process.max_fds != UINT64_MAX) {
        metric_u64(out, snap, "process_max_fds", "gauge",
                   "Maximum number of open file descriptors.", snap->process.max_fds);
    }
    metric_seconds(out, snap, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.",
                   snap->process.start_usec / 1000u * 1000u);
}

static void
json_str(sdl_buf *body, const char *s)
{
    sdl_buf_append_byte(body, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            sdl_buf_appendf(body, "\\u%04x", (unsigned)(unsigned char)*p);
        } else {
            sdl_buf_append_byte(body, (uint8_t)*p);
        }
    }
    sdl_buf_append_byte(body, '"');
}

/* The fields both health bodies end with. */
static void
append_health_tail(sdl_buf *body, const sdl_metrics_snapshot *snap)
{
    sdl_buf_append_str(body, ",\"pipeline\":");
    json_str(body, snap->pipeline);
    sdl_buf_appendf(body, ",\"reader\":\"%s\",\"writer\":\"%s\",\"lag_seconds\":",
                    sdl_worker_state_name((sdl_worker_state)snap->reader_state),
                    sdl_worker_state_name((sdl_worker_state)snap->writer_state));
    append_seconds(body, snap->lag_usec / 1000u * 1000u);
    sdl_buf_append_str(body, ",\"position\":");
    if (!snap->position[0]) {
        sdl_buf_append_str(body, "null");
    } else {
        sdl_buf_append_str(body, "{\"gtid\":");
        json_str(body, snap->position);
        sdl_buf_append_str(body, ",\"binlog\":");
        if (snap->binlog_file[0]) {
            sdl_buf_append_str(body, "{\"file\":");
            json_str(body, snap->binlog_file);
            sdl_buf_appendf(body, ",\"pos\":%" PRIu64 "}", snap->binlog_pos);
        } else {
            sdl_buf_append_str(body, "null");
        }
        sdl_buf_append_byte(body, '}');
    }
    sdl_buf_append_str(body, "}\n");
}

int
sdl_health_live(const sdl_metrics_snapshot *snap, uint64_t stuck_usec, sdl_buf *body)
{
    bool stuck = snap->progress_known && snap->progress_age_usec >= stuck_usec;

    sdl_buf_appendf(body,
                    "{\"status\":\"%s\",\"last_progress_seconds_ago\":", stuck ? "stuck" : "ok");
    if (snap->progress_known) {
        append_seconds(body, snap->progress_age_usec / 1000u * 1000u);
    } else {
        sdl_buf_append_str(body, "null");
    }
    append_health_tail(body, snap);
    return stuck ? 503 : 200;
}

int
sdl_health_ready(const sdl_metrics_snapshot *snap, sdl_buf *body)
{
    const char *reasons[3];
    int n = 0;

    if (!snap->ready) {
        reasons[n++] = "pipeline not started or recovering";
    }
    if (!snap->target_up) {
        reasons[n++] = "target down";
    }
    if (!snap->source_up) {
        reasons[n++] = "source down";
    }
    sdl_buf_appendf(body, "{\"status\":\"%s\",\"reasons\":[", n ? "not ready" : "ok");
    for (int i = 0; i < n; i++) {
        sdl_buf_appendf(body, "%s\"%s\"", i ? "," : "", reasons[i]);
    }
    sdl_buf_appendf(body, "],\"ready\":%s,\"target_up\":%s,\"source_up\":%s",
                    snap->ready ? "true" : "false", snap->target_up ? "true" : "false",
                    snap->source_up ? "true" : "false");
    append_health_tail(body, snap);
    return n ? 503 : 200;
}
