/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdl/base/clock.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-status.h"
#include "sdl/daemon/snapshot.h"

#define EXIT_USAGE 2

static const char status_usage[] =
    "Usage: sdl status [-c FILE] [--credentials DIR] [--json]\n"
    "\n"
    "Prints the pipeline's offset, last commit, lag and staging backlog as stored in MongoDB\n"
    "(the daemon need not run). Exit status: 0 when MongoDB answered (also when the pipeline\n"
    "has no offset yet), 1 when it cannot be reached, 78 for configuration errors.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credential target-uri from DIR (default:\n"
    "                       $CREDENTIALS_DIRECTORY, else FILE's <name>.credentials/)\n"
    "  --json               one JSON object instead of aligned lines\n";

/* "2024-11-23T19:55:01Z", or with milliseconds "2024-11-23T19:55:01.123Z". */
static void
append_time(sdl_buf *out, int64_t ms, bool with_ms)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    char buf[32];

    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        sdl_buf_append_str(out, "?");
        return;
    }
    sdl_buf_append_str(out, buf);
    if (with_ms) {
        sdl_buf_appendf(out, ".%03d", (int)(ms - (int64_t)t * 1000));
    }
    sdl_buf_append_byte(out, 'Z');
}

/* "45s", "3m05s", "2h03m", "4d02h"; negative ages (clock skew) print with a '-'. */
static void
append_age(sdl_buf *out, int64_t sec)
{
    if (sec < 0) {
        sdl_buf_append_byte(out, '-');
        sec = -sec;
    }
    if (sec < 60) {
        sdl_buf_appendf(out, "%" PRId64 "s", sec);
    } else if (sec < 3600) {
        sdl_buf_appendf(out, "%" PRId64 "m%02" PRId64 "s", sec / 60, sec % 60);
    } else if (sec < 86400) {
        sdl_buf_appendf(out, "%" PRId64 "h%02" PRId64 "m", sec / 3600, sec % 3600 / 60);
    } else {
        sdl_buf_appendf(out, "%" PRId64 "d%02" PRId64 "h", sec / 86400, sec % 86400 / 3600);
    }
}

/* A running snapshot's time left at its average rate since it began (0: not known). */
static uint64_t
snapshot_left(const sdl_snapshot_summary *snap, int64_t now_ms)
{
    if (strcmp(snap->state, "running") != 0 || !snap->started_ms || now_ms <= snap->started_ms) {
        return 0;
    }
    return sdl_snapshot_seconds_left(snap->est_rows, snap->rows, snap->rows,
                                     (uint64_t)(now_ms - snap->started_ms) * 1000u);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void
json_string(sdl_buf *out, const char *s)
{
    if (!s) {
        sdl_buf_append_str(out, "null");
        return;
    }
    sdl_buf_append_byte(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sdl_buf_append_byte(out, '\\');
            sdl_buf_append_byte(out, c);
        } else if (c < 0x20) {
            sdl_buf_appendf(out, "\\u%04x", (unsigned)c);
        } else {
            sdl_buf_append_byte(out, c);
        }
    }
    sdl_buf_append_byte(out, '"');
}

static void
json_time(sdl_buf *out, int64_t ms)
{
    if (!ms) {
        sdl_buf_append_str(out, "null");
        return;
    }
    sdl_buf_append_byte(out, '"');
    append_time(out, ms, true);
    sdl_buf_append_byte(out, '"');
}

static void
json_age(sdl_buf *out, int64_t now_ms, int64_t ms)
{
    if (!ms) {
        sdl_buf_append_str(out, "null");
        return;
    }
    sdl_buf_appendf(out, "%" PRId64, floor_div(now_ms - ms, 1000));
}

static void
format_json(const char *pipeline, const sdl_target_status *st, int64_t now_ms, sdl_buf *out)
{
    const sdl_offset *o = &st->offset;
    int64_t updated = st->have_offset ? st->offset_updated_at_ms : 0;
    int64_t source = st->have_offset ? o->source_ts_sec * 1000 : 0;

    sdl_buf_append_str(out, "{\"pipeline\":");
    json_string(out, pipeline);
    sdl_buf_append_str(out, ",\"now\":");
    json_time(out, now_ms);
    sdl_buf_append_str(out, ",\"offset\":");
    if (!st->have_offset) {
        sdl_buf_append_str(out, "null");
    } else {
        sdl_buf_append_str(out, "{\"gtid\":");
        json_string(out, o->gtid);
        sdl_buf_append_str(out, ",\"partial\":");
        if (o->partial_gtid) {
            sdl_buf_append_str(out, "{\"gtid\":");
            json_string(out, o->partial_gtid);
            sdl_buf_appendf(out, ",\"seq\":%" PRIu64 "}", o->partial_seq);
        } else {
            sdl_buf_append_str(out, "null");
        }
        sdl_buf_append_str(out, ",\"binlog\":{\"file\":");
        json_string(out, o->binlog_file);
        sdl_buf_appendf(out,
                        ",\"pos\":%" PRIu64 "},\"batch\":%" PRIu64 ",\"rows_applied\":%" PRIu64
                        ",\"flavor\":",
                        o->binlog_pos, o->batch, o->rows_applied);
        json_string(out, o->flavor);
        sdl_buf_append_byte(out, '}');
    }
    sdl_buf_append_str(out, ",\"last_commit\":");
    json_time(out, updated);
    sdl_buf_append_str(out, ",\"last_commit_age_seconds\":");
    json_age(out, now_ms, updated);
    sdl_buf_append_str(out, ",\"source_ts\":");
    json_time(out, source);
    sdl_buf_append_str(out, ",\"source_ts_age_seconds\":");
    json_age(out, now_ms, source);
    sdl_buf_append_str(out, ",\"lag_at_commit_seconds\":");
    if (updated && source) {
        sdl_buf_appendf(out, "%" PRId64, floor_div(updated - source, 1000));
    } else {
        sdl_buf_append_str(out, "null");
    }
    sdl_buf_appendf(out,
                    ",\"staged\":{\"batches\":%" PRIu64 ",\"documents\":%" PRIu64 ",\"oldest\":",
                    st->staged_batches, st->staged_documents);
    json_time(out, st->oldest_staged_ms);
    sdl_buf_append_str(out, ",\"oldest_age_seconds\":");
    json_age(out, now_ms, st->oldest_staged_ms);
    sdl_buf_appendf(out, ",\"committed_awaiting_cleanup\":%" PRIu64, st->committed_staged_batches);
    sdl_buf_appendf(out, "},\"dead_letters\":%" PRIu64, st->dead_letters);
    if (st->have_offset && o->requests) {
        sdl_buf_appendf(out, ",\"snapshot_requests_waiting\":%" PRIu64,
                        sdl_snapshot_requests_waiting(o->snapshot, o->snapshot_len, o->requests,
                                                      o->requests_len));
    }
    sdl_snapshot_summary snap;
    if (st->have_offset && sdl_snapshot_summarize(o->snapshot, o->snapshot_len, &snap)) {
        sdl_buf_append_str(out, ",\"snapshot\":{\"id\":");
        json_string(out, snap.id);
        sdl_buf_append_str(out, ",\"state\":");
        json_string(out, snap.state);
        sdl_buf_append_str(out, ",\"table\":");
        if (snap.table[0]) {
            json_string(out, snap.table);
        } else {
            sdl_buf_append_str(out, "null");
        }
        sdl_buf_appendf(out,
                        ",\"tables\":%" PRIu64 ",\"tables_done\":%" PRIu64 ",\"rows\":%" PRIu64,
                        snap.ntables, snap.done, snap.rows);
        uint64_t left = snapshot_left(&snap, now_ms);
        sdl_buf_append_str(out, ",\"rows_estimated\":");
        if (snap.est_rows) {
            sdl_buf_appendf(out, "%" PRIu64, snap.est_rows);
        } else {
            sdl_buf_append_str(out, "null");
        }
        sdl_buf_append_str(out, ",\"seconds_left\":");
        if (left) {
            sdl_buf_appendf(out, "%" PRIu64, left);
        } else {
            sdl_buf_append_str(out, "null");
        }
        sdl_buf_append_str(out, ",\"started\":");
        json_time(out, snap.started_ms);
        sdl_buf_append_str(out, "}");
    }
    sdl_buf_append_str(out, "}\n");
}

#define LABEL "%-14s"

static void
format_human(const char *pipeline, const sdl_target_status *st, int64_t now_ms, sdl_buf *out)
{
    const sdl_offset *o = &st->offset;

    sdl_buf_appendf(out, LABEL "%s\n", "pipeline", pipeline);
    if (!st->have_offset) {
        sdl_buf_appendf(out,
                        LABEL "none yet: no batch committed (sdl run begins at "
                              "pipeline.start)\n",
                        "offset");
    } else {
        sdl_buf_appendf(out, LABEL "%s (batch %" PRIu64 ")\n", "gtid position",
                        o->gtid && *o->gtid ? o->gtid : "(empty)", o->batch);
        if (o->partial_gtid) {
            sdl_buf_appendf(out, LABEL "inside %s: %" PRIu64 " rows committed, the rest follow\n",
                            "split txn", o->partial_gtid, o->partial_seq);
        }
        if (o->binlog_file && *o->binlog_file) {
            sdl_buf_appendf(out, LABEL "%s:%" PRIu64 "\n", "binlog", o->binlog_file, o->binlog_pos);
        }
        sdl_buf_appendf(out, LABEL "%" PRIu64 "\n", "rows applied", o->rows_applied);
        sdl_buf_appendf(out, LABEL, "last commit");
        if (st->offset_updated_at_ms) {
            append_time(out, st->offset_updated_at_ms, false);
            sdl_buf_append_str(out, " (");
            append_age(out, floor_div(now_ms - st->offset_updated_at_ms, 1000));
            sdl_buf_append_str(out, " ago)\n");
        } else {
            sdl_buf_append_str(out, "unknown\n");
        }
        if (o->source_ts_sec) {
            int64_t source_ms = o->source_ts_sec * 1000;
            sdl_buf_appendf(out, LABEL, "source time");
            append_time(out, source_ms, false);
            sdl_buf_append_str(out, " (");
            append_age(out, floor_div(now_ms - source_ms, 1000));
            sdl_buf_append_str(out, " ago; commit time of the last applied transaction)\n");
            if (st->offset_updated_at_ms) {
                sdl_buf_appendf(out, LABEL, "lag");
                append_age(out, floor_div(st->offset_updated_at_ms - source_ms, 1000));
                sdl_buf_append_str(out, " at the last commit (last commit - source time); at "
                                        "most ");
                append_age(out, floor_div(now_ms - source_ms, 1000));
                sdl_buf_append_str(out, " now (now - source time)\n");
            }
        }
    }
    sdl_buf_appendf(out, LABEL "%" PRIu64 " batch%s", "staged", st->staged_batches,
                    st->staged_batches == 1 ? "" : "es");
    if (st->staged_batches) {
        sdl_buf_appendf(out, " (%" PRIu64 " documents)", st->staged_documents);
        if (st->oldest_staged_ms) {
            sdl_buf_append_str(out, ", oldest ");
            append_age(out, floor_div(now_ms - st->oldest_staged_ms, 1000));
            sdl_buf_append_str(out, " old");
        }
    }
    if (st->committed_staged_batches) {
        sdl_buf_appendf(out, "; %" PRIu64 " committed batch%s awaiting cleanup",
                        st->committed_staged_batches,
                        st->committed_staged_batches == 1 ? "" : "es");
    }
    sdl_buf_append_byte(out, '\n');
    if (st->dead_letters || (st->have_offset && o->dead_letters)) {
        sdl_buf_appendf(out,
                        LABEL "%" PRIu64 " waiting (sdl dlq list); %" PRIu64 " set aside in all\n",
                        "dead letters", st->dead_letters, o->dead_letters);
    }
    sdl_snapshot_summary snap;
    if (st->have_offset && sdl_snapshot_summarize(o->snapshot, o->snapshot_len, &snap)) {
        if (strcmp(snap.state, "done") == 0) {
            sdl_buf_appendf(
                out, LABEL "%s done: %" PRIu64 " rows of %" PRIu64 " table%s committed\n",
                "snapshot", snap.id, snap.rows, snap.ntables, snap.ntables == 1 ? "" : "s");
        } else {
            sdl_buf_appendf(out,
                            LABEL "%s running: table %s (%" PRIu64 " of %" PRIu64 "), %" PRIu64
                                  " rows committed",
                            "snapshot", snap.id, snap.table, snap.done + 1, snap.ntables,
                            snap.rows);
            if (snap.est_rows) {
                sdl_buf_appendf(out, "; %" PRIu64 "%% of ~%" PRIu64 " rows",
                                SDL_MIN(snap.rows * 100 / snap.est_rows, 100), snap.est_rows);
            }
            uint64_t left = snapshot_left(&snap, now_ms);
            if (left) {
                sdl_buf_append_str(out, ", ~");
                append_age(out, (int64_t)left);
                sdl_buf_append_str(out, " left at its rate so far");
            }
            sdl_buf_append_byte(out, '\n');
        }
    }
    uint64_t waiting = st->have_offset ? sdl_snapshot_requests_waiting(o->snapshot, o->snapshot_len,
                                                                       o->requests, o->requests_len)
                                       : 0;
    if (waiting) {
        sdl_buf_appendf(out, LABEL "%" PRIu64 " request%s waiting (sdl snapshot)\n", "snapshot",
                        waiting, waiting == 1 ? "" : "s");
    }
    if (st->have_offset && o->lease_holder && o->lease_until_ms > now_ms) {
        sdl_buf_appendf(out, LABEL "held by %s until ", "running", o->lease_holder);
        append_time(out, o->lease_until_ms, false);
        sdl_buf_append_str(out, " (renewed while it runs)\n");
    }
}

void
sdl_status_format(const char *pipeline, const sdl_target_status *st, int64_t now_ms, bool json,
                  sdl_buf *out)
{
    if (json) {
        format_json(pipeline, st, now_ms, out);
    } else {
        format_human(pipeline, st, now_ms, out);
    }
}

int
sdl_cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"credentials", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    const char *credentials = NULL;
    bool json = false;
    sdl_config *config = NULL;
    sdl_mongo_writer *writer = NULL;
    sdl_target_status st;
    sdl_error err = SDL_ERROR_INIT;
    sdl_buf out = {0};
    int status = 1;
    int opt;

    memset(&st, 0, sizeof(st));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            credentials = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(status_usage, stdout);
            return 0;
        default:
            fputs(status_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sdl status: unexpected argument '%s'\n%s", argv[optind], status_usage);
        return EXIT_USAGE;
    }
    int load_status = sdl_cli_load_config(path, credentials, "status", true, &config);
    if (load_status != 0) {
        return load_status;
    }
    if (!sdl_mongo_writer_open_read_only(&config->target, config->pipeline.name, &writer, &err) ||
        !sdl_mongo_writer_status(writer, &st, &err)) {
        fprintf(stderr, "sdl status: cannot read pipeline '%s' from the target: %s\n",
                config->pipeline.name, err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    sdl_status_format(config->pipeline.name, &st, (int64_t)(sdl_now_realtime_usec() / 1000u), json,
                      &out);
    fwrite(out.data, 1, out.len, stdout);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    sdl_buf_done(&out);
    sdl_target_status_done(&st);
    (void)sdl_mongo_writer_free(writer);
    (void)sdl_config_free(config);
    return status;
}
