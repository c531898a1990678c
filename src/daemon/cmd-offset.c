/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/log.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-offset.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/change-stream.h"

#define EXIT_USAGE 2

static const char offset_usage[] =
    "Usage: sdl offset show [-c FILE] [--credentials DIR] [--json]\n"
    "       sdl offset set [-c FILE] [--credentials DIR] --to GTID|now|start [--yes]\n"
    "\n"
    "show: the pipeline's offset document (where it resumes), read from MongoDB.\n"
    "set:  moves the pipeline to a position on the source: a GTID position (MariaDB) or GTID\n"
    "      set (MySQL), now (the end of the binlog) or start (the oldest binlog). Refused while\n"
    "      sdl runs the pipeline. Prints the old and new positions; changes nothing without\n"
    "      --yes. With --yes it moves the offset (fenced: a writer coming back cannot overwrite\n"
    "      it) and discards the staged batches, in one MongoDB transaction.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials from DIR (default: $CREDENTIALS_DIRECTORY,\n"
    "                       else FILE's <name>.credentials/)\n";

static int64_t
now_ms(void)
{
    return (int64_t)(sdl_now_realtime_usec() / 1000u);
}

static void
print_time(FILE *f, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];

    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        fputs("-", f);
        return;
    }
    fputs(buf, f);
}

/* The offset as one relaxed Extended JSON line (the fields of the offset document). */
static int
show_json(const char *pipeline, const sdl_offset *o, bool found, int64_t updated_ms)
{
    bson_t doc = BSON_INITIALIZER, child;
    sdl_buf out = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;
    int status = 0;

    bson_append_utf8(&doc, "pipeline", -1, pipeline, -1);
    if (!found) {
        bson_append_null(&doc, "offset", -1);
    } else {
        bson_append_document_begin(&doc, "offset", -1, &child);
        bson_append_utf8(&child, "flavor", -1, o->flavor ? o->flavor : "", -1);
        bson_append_utf8(&child, "gtid", -1, o->gtid ? o->gtid : "", -1);
        if (o->partial_gtid) {
            bson_t part;
            bson_append_document_begin(&child, "partial", -1, &part);
            bson_append_utf8(&part, "gtid", -1, o->partial_gtid, -1);
            bson_append_int64(&part, "seq", -1, (int64_t)o->partial_seq);
            bson_append_document_end(&child, &part);
        } else {
            bson_append_null(&child, "partial", -1);
        }
        if (o->binlog_file) {
            bson_t b;
            bson_append_document_begin(&child, "binlog", -1, &b);
            bson_append_utf8(&b, "file", -1, o->binlog_file, -1);
            bson_append_int64(&b, "pos", -1, (int64_t)o->binlog_pos);
            bson_append_document_end(&child, &b);
        } else {
            bson_append_null(&child, "binlog", -1);
        }
        bson_append_int64(&child, "batch", -1, (int64_t)o->batch);
        bson_append_int64(&child, "rows_applied", -1, (int64_t)o->rows_applied);
        bson_append_int64(&child, "dead_letters", -1, (int64_t)o->dead_letters);
        if (updated_ms) {
            bson_append_date_time(&child, "updated_at", -1, updated_ms);
        }
        if (o->lease_holder) {
            bson_t l;
            bson_append_document_begin(&child, "lease", -1, &l);
            bson_append_utf8(&l, "holder", -1, o->lease_holder, -1);
            bson_append_date_time(&l, "until", -1, o->lease_until_ms);
            bson_append_bool(&l, "held", -1, o->lease_until_ms > now_ms());
            bson_append_document_end(&child, &l);
        }
        bson_append_document_end(&doc, &child);
    }
    if (!sdl_doc_mapper_to_json(&doc, &out, &err)) {
        fprintf(stderr, "sdl offset show: %s\n", err.message);
        status = 1;
    } else {
        printf("%s\n", sdl_buf_cstr(&out));
    }
    sdl_buf_done(&out);
    bson_destroy(&doc);
    return status;
}

#define LABEL "%-14s"

static void
show_human(const char *pipeline, const sdl_offset *o, bool found, int64_t updated_ms)
{
    printf(LABEL "%s\n", "pipeline", pipeline);
    if (!found) {
        printf(LABEL "none (sdl run begins at pipeline.start; `sdl offset set` sets one)\n",
               "offset");
        return;
    }
    printf(LABEL "%s (%s, batch %" PRIu64 ")\n", "gtid position",
           o->gtid && *o->gtid ? o->gtid : "(empty)", o->flavor ? o->flavor : "?", o->batch);
    if (o->partial_gtid) {
        printf(LABEL "inside %s: %" PRIu64 " rows committed\n", "split txn", o->partial_gtid,
               o->partial_seq);
    }
    if (o->binlog_file) {
        printf(LABEL "%s:%" PRIu64 "\n", "binlog", o->binlog_file, o->binlog_pos);
    }
    printf(LABEL "%" PRIu64 " rows, %" PRIu64 " dead letters\n", "applied", o->rows_applied,
           o->dead_letters);
    printf(LABEL, "updated");
    print_time(stdout, updated_ms);
    putchar('\n');
    if (o->lease_holder) {
        printf(LABEL "%s, %s ", "lease", o->lease_holder,
               o->lease_until_ms > now_ms() ? "held until" : "ended");
        print_time(stdout, o->lease_until_ms);
        putchar('\n');
    }
}

/* Resolves @to on the source (now, start, a position) and checks it is on the server: one
 * change is read from it. */
static bool
resolve(sdl_config *config, const char *to, const char *stored_flavor, char **ret_position,
        char **ret_flavor, sdl_error *err)
{
    config->source.server_id = sdl_cli_tool_server_id(config);
    sdl_change_stream_options so = {
        .config = config,
        .pipeline = config->pipeline.name,
        .from = to,
        .until = "now",
        .from_flavor = strcmp(to, "now") != 0 && strcmp(to, "start") != 0 ? stored_flavor : NULL,
    };
    sdl_change_stream *stream = NULL;
    sdl_change c;
    bool ok = sdl_change_stream_open(&so, &stream, err) && sdl_change_stream_next(stream, &c, err);

    if (ok) {
        *ret_position = sdl_xstrdup(sdl_change_stream_start_position(stream));
        *ret_flavor = sdl_xstrdup(sdl_change_stream_flavor(stream));
    }
    (void)sdl_change_stream_free(stream);
    return ok;
}

static int
cmd_set(sdl_config *config, sdl_mongo_writer *w, const char *to, bool yes)
{
    const char *pipeline = config->pipeline.name;
    sdl_error err = SDL_ERROR_INIT;
    sdl_target_status st;
    char *position = NULL, *flavor = NULL;
    uint64_t discarded = 0;
    int status = 1;

    memset(&st, 0, sizeof(st));
    if (!sdl_mongo_writer_status(w, &st, &err)) {
        fprintf(stderr, "sdl offset set: cannot read pipeline '%s' from the target: %s\n", pipeline,
                err.message);
        goto out;
    }
    const sdl_offset *cur = st.have_offset ? &st.offset : NULL;
    if (cur && cur->lease_holder && cur->lease_until_ms > now_ms()) {
        fprintf(stderr, "sdl offset set: pipeline '%s' is running: %s holds it until ", pipeline,
                cur->lease_holder);
        print_time(stderr, cur->lease_until_ms);
        fprintf(stderr,
                " and renews that while it runs. Stop it first (systemctl stop sdl); "
                "the lease of an sdl that was killed ends by itself within %d s\n",
                SDL_LEASE_MS / 1000);
        goto out;
    }
    if (!resolve(config, to, cur ? cur->flavor : NULL, &position, &flavor, &err)) {
        fprintf(stderr, "sdl offset set: position '%s' on the source: %s\n", to, err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    printf("pipeline %s\n", pipeline);
    if (cur) {
        printf("  from  %s (%s, batch %" PRIu64 "%s%s)\n", cur->gtid ? cur->gtid : "",
               cur->flavor ? cur->flavor : "?", cur->batch,
               cur->partial_gtid ? ", inside split transaction " : "",
               cur->partial_gtid ? cur->partial_gtid : "");
        printf("  to    %s (%s, batch %" PRIu64 ")\n", position, flavor, cur->batch + 1);
    } else {
        printf("  from  (no offset: a new pipeline)\n");
        printf("  to    %s (%s, batch 0)\n", position, flavor);
    }
    printf("  staged batches discarded: %" PRIu64 "\n", st.staged_batches);
    if (st.committed_staged_batches) { /* committed: their rows stay in row_changes */
        printf("  staged parts of %" PRIu64 " committed batch%s deleted\n",
               st.committed_staged_batches, st.committed_staged_batches == 1 ? "" : "es");
    }
    if (!yes) {
        printf("Nothing changed: run again with --yes to move the offset.\n");
        status = 0;
        goto out;
    }
    if (!sdl_mongo_writer_move_offset(w, cur, flavor, position, &discarded, &err)) {
        fprintf(stderr, "sdl offset set: %s\n", err.message);
        goto out;
    }
    log_notice("Offset of pipeline '%s' moved from '%s' (batch %" PRIu64 ") to '%s' (batch %" PRIu64
               ") by sdl offset set; %" PRIu64 " staged parts discarded",
               pipeline, cur && cur->gtid ? cur->gtid : "(none)", cur ? cur->batch : 0, position,
               cur ? cur->batch + 1 : 0, discarded);
    printf("Moved.\n");
    status = 0;
out:
    free(position);
    free(flavor);
    sdl_target_status_done(&st);
    return status;
}

int
sdl_cmd_offset(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"credentials", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"to", required_argument, NULL, 't'},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *credentials = NULL, *to = NULL;
    bool json = false, yes = false;
    sdl_config *config = NULL;
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;
    int status = 1;
    int opt;

    if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "set") != 0)) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(offset_usage, help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    bool set = strcmp(argv[1], "set") == 0;
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "c:h", longopts, NULL)) != -1) {
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
        case 't':
            to = optarg;
            break;
        case 'y':
            yes = true;
            break;
        case 'h':
            fputs(offset_usage, stdout);
            return 0;
        default:
            fputs(offset_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc - 1 || (set && (!to || json)) || (!set && (to || yes))) {
        fputs(offset_usage, stderr);
        return EXIT_USAGE;
    }
    if ((status = sdl_cli_load_config(path, credentials, set ? "offset set" : "offset show", true,
                                      &config)) != 0) {
        return status;
    }
    status = 1;
    bool opened =
        set ? sdl_mongo_writer_open(&config->target, config->pipeline.name, &w, &err)
            : sdl_mongo_writer_open_read_only(&config->target, config->pipeline.name, &w, &err);
    if (!opened) {
        fprintf(stderr, "sdl offset: cannot reach the target: %s\n", err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    if (set) {
        status = cmd_set(config, w, to, yes);
        goto out;
    }
    sdl_target_status st;
    if (!sdl_mongo_writer_status(w, &st, &err)) {
        fprintf(stderr, "sdl offset show: cannot read pipeline '%s': %s\n", config->pipeline.name,
                err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    if (json) {
        status =
            show_json(config->pipeline.name, &st.offset, st.have_offset, st.offset_updated_at_ms);
    } else {
        show_human(config->pipeline.name, &st.offset, st.have_offset, st.offset_updated_at_ms);
        status = 0;
    }
    sdl_target_status_done(&st);
out:
    (void)sdl_mongo_writer_free(w);
    (void)sdl_config_free(config);
    return status;
}
