/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-tail.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"

static volatile int stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char tail_usage[] =
    "Usage: sdl tail [-c FILE] [--from START] [--until STOP] [--format json|none]\n"
    "                [--include PATTERN]... [--exclude PATTERN]... [--stats]\n"
    "                [--statements stop|print] [--server-id N] [--one-thread]\n"
    "                [--credentials DIR]\n"
    "       sdl tail [-c FILE] --file BINLOG... [options]\n"
    "\n"
    "Prints the decoded row changes of the source as JSON lines, one per row change and one\n"
    "per DDL, each the row_changes document sdl run writes (MongoDB relaxed Extended JSON).\n"
    "It writes nothing anywhere else, and it never disturbs a running sdl run: it connects\n"
    "with a replica server_id of its own.\n"
    "\n"
    "  -c, --config FILE    configuration (source, tables and columns are used; default\n"
    "                       " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials source-password and columns-hash-key from\n"
    "                       DIR (default: $CREDENTIALS_DIRECTORY, else FILE's\n"
    "                       <name>.credentials/)\n"
    "  --server-id N        the replica server_id tail connects with (default: a random one\n"
    "                       from 4000000000..4294967295, a range source.server_id may not use,\n"
    "                       so tail never takes a pipeline's identity); must differ from every\n"
    "                       replica of the source\n"
    "  --from START         position to start after: a GTID position (MariaDB), a GTID set\n"
    "                       or, on a MySQL source without GTIDs, FILE:OFFSET (MySQL),\n"
    "                       `start` (oldest binlog on the server) or `now`; default:\n"
    "                       pipeline.start from the config\n"
    "  --until STOP         stop after the transaction that reaches this position, or `now`\n"
    "                       (the position when tail started); default: follow forever\n"
    "  --format FORMAT      json (default) or none (decode and map, print nothing: for\n"
    "                       benchmarks and validation)\n"
    "  --include PATTERN    only tables matching the db.table glob (adds to tables.include)\n"
    "  --exclude PATTERN    skip tables matching the db.table glob (adds to tables.exclude)\n"
    "  --file BINLOG...     read these local binlog files (MySQL or MariaDB) in order instead\n"
    "                       of a server; -c is then optional; --from/--until take a GTID\n"
    "                       position (MariaDB) or GTID set (MySQL); the default is all of them\n"
    "  --stats              print event and change counts to standard error at the end\n"
    "  --statements WHAT    a statement-based row change (a session with binlog_format\n"
    "                       STATEMENT or MIXED) stops tail with exit status 65 as it stops\n"
    "                       sdl run (stop, the default), or is printed as a document with\n"
    "                       op \"statement\" (print: for looking at old binlogs)\n"
    "  --one-thread         receive events in this thread too (default: a second thread\n"
    "                       receives from the server while this one decodes and prints)\n";

static void
add_pattern(char ***list, size_t *n, const char *pattern)
{
    *list = sdl_xreallocarray(*list, *n + 1, sizeof(char *));
    (*list)[(*n)++] = sdl_xstrdup(pattern);
}

static bool
write_all(sdl_buf *out, sdl_error *err)
{
    size_t off = 0;

    while (off < out->len) {
        ssize_t n = write(STDOUT_FILENO, out->data + off, out->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EPIPE) {
            /* The reader went away (`sdl tail | head`): an ordinary end, not an error. */
            sdl_error_set(err, SDL_E_CANCELLED, "standard output was closed");
            return false;
        }
        if (n < 0) {
            sdl_error_set(err, SDL_E_IO, "writing to standard output: %s", strerror(errno));
            return false;
        }
        off += (size_t)n;
    }
    sdl_buf_reset(out);
    return true;
}

int
sdl_cmd_tail(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},
        {"format", required_argument, NULL, 'F'},
        {"include", required_argument, NULL, 'i'},
        {"exclude", required_argument, NULL, 'x'},
        {"file", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {"stats", no_argument, NULL, 'S'},
        {"one-thread", no_argument, NULL, '1'},
        {"statements", required_argument, NULL, 's'},
        {"server-id", required_argument, NULL, 'I'},
        {"credentials", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *credentials = NULL;
    uint32_t server_id = 0;
    const char *config_path = NULL;
    const char *from = NULL;
    const char *until = NULL;
    bool print = true;
    bool out_closed = false;
    char **includes = NULL;
    size_t nincludes = 0;
    char **excludes = NULL;
    size_t nexcludes = 0;
    sdl_config *config = NULL;
    sdl_change_stream *stream = NULL;
    sdl_error err = SDL_ERROR_INIT;
    sdl_buf out = SDL_BUF_INIT;
    int status = 1;
    int opt;
    uint64_t rows = 0;
    uint64_t ddls = 0;
    uint64_t commits = 0;
    char **files = NULL;
    size_t nfiles = 0;
    bool stats = false;
    bool one_thread = false;
    bool statements = false;
    uint64_t nstatements = 0;
    char *final_position = NULL;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0) {
                print = true;
            } else if (strcmp(optarg, "none") == 0) {
                print = false;
            } else {
                fprintf(stderr, "sdl tail: --format must be json or none, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'i':
            add_pattern(&includes, &nincludes, optarg);
            break;
        case 'x':
            add_pattern(&excludes, &nexcludes, optarg);
            break;
        case 'b':
            add_pattern(&files, &nfiles, optarg);
            break;
        case 'S':
            stats = true;
            break;
        case '1':
            one_thread = true;
            break;
        case 's':
            if (strcmp(optarg, "stop") == 0 || strcmp(optarg, "print") == 0) {
                statements = strcmp(optarg, "print") == 0;
            } else {
                fprintf(stderr, "sdl tail: --statements must be stop or print, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'I': {
            char *end = NULL;
            unsigned long long v;
            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v == 0 || v > UINT32_MAX) {
                fprintf(stderr,
                        "sdl tail: --server-id must be between 1 and 4294967295, not '%s'\n",
                        optarg);
                return 2;
            }
            server_id = (uint32_t)v;
            break;
        }
        case 'C':
            credentials = optarg;
            break;
        case 'h':
            fputs(tail_usage, stdout);
            return 0;
        default:
            fputs(tail_usage, stderr);
            return 2;
        }
    }
    /* --file F1 F2 ...: the names after the first --file are files too. */
    while (nfiles > 0 && optind < argc && argv[optind][0] != '-') {
        add_pattern(&files, &nfiles, argv[optind++]);
    }
    if (optind < argc) {
        fprintf(stderr, "sdl tail: unexpected argument '%s'\n%s", argv[optind], tail_usage);
        status = 2;
        goto out;
    }
    if (!config_path && nfiles > 0) {
        /* Files need no server: the defaults (pipeline name, no filters) are enough. */
        config = sdl_config_new_default();
    } else if ((status = sdl_cli_load_config(config_path, credentials, "tail", false, &config)) !=
               0) {
        goto out;
    }
    status = 1;
    if (nfiles == 0) {
        /* Its own replica identity: a source drops the older of two connections with one
         * server_id (error 4052), which would be the running pipeline's. */
        config->source.server_id = server_id ? server_id : sdl_cli_tool_server_id(config);
    }
    sdl_log_set_level(config->log.level);
    sdl_log_set_format(config->log.format);
    for (size_t i = 0; i < nincludes; i++) {
        add_pattern(&config->tables.include, &config->tables.ninclude, includes[i]);
    }
    for (size_t i = 0; i < nexcludes; i++) {
        add_pattern(&config->tables.exclude, &config->tables.nexclude, excludes[i]);
    }
    sdl_cli_catch_signals(on_signal, false);
    sdl_failpoint_init(); /* test hooks (SDL_FAILPOINT), as in sdl run */

    sdl_change_stream_options sopts = {
        .config = config,
        .pipeline = config->pipeline.name,
        .from = from,
        .until = until,
        .reconnect = true,
        .skip_rows = 0,
        .stop = &stop_requested,
        .files = (const char *const *)files,
        .nfiles = nfiles,
        .read_ahead_bytes = one_thread ? 0 : SDL_BINLOG_READ_AHEAD,
        .statements_as_changes = statements,
    };
    if (!sdl_change_stream_open(&sopts, &stream, &err)) {
        log_error_e(&err, "Failed to start reading the binlog");
        status = sdl_error_exit_status(&err);
        goto out;
    }
    log_debug("Reading the binlog after GTID position '%s'%s",
              sdl_change_stream_start_position(stream), nfiles ? "" : " as a replica");
    if (nfiles == 0) {
        log_debug("Connected with replica server_id %" PRIu32, config->source.server_id);
    }

    sdl_doc_mapper_options mopts = {.columns = sdl_column_policy_new(config)};
    bson_t doc;      /* a DDL document */
    bson_t row_view; /* a row document, read in place from row_bytes */
    sdl_buf row_bytes = SDL_BUF_INIT;
    const bson_t *mapped_doc = &doc;
    bson_init(&doc);
    for (;;) {
        sdl_change c;
        if (!sdl_change_stream_next(stream, &c, &err)) {
            if (err.code == SDL_E_CANCELLED) {
                status = 0;
            } else {
                log_error_e(&err, "Failed to read the binlog");
                status = sdl_error_exit_status(&err);
            }
            break;
        }
        if (c.notice && c.kind == SDL_CHANGE_END) {
            log_warning("%s", c.notice);
        } else if (c.notice) {
            log_warning("Lost the source connection: %s", c.notice);
        }
        bool mapped = false;
        switch (c.kind) {
        case SDL_CHANGE_ROW:
            if (!sdl_doc_mapper_row_bytes(&mopts, &c.pos, &c.row, &row_bytes, &err)) {
                sdl_error_prefix(&err, "mapping row %s:%llu of '%s.%s'", c.pos.gtid,
                                 (unsigned long long)c.pos.seq, c.row.table->db, c.row.table->name);
                char table[192]; /* journal field SDL_TABLE= for this error */
                (void)snprintf(table, sizeof(table), "%s.%s", c.row.table->db, c.row.table->name);
                sdl_log_set_context(config->pipeline.name, c.pos.gtid, table);
                log_error_e(&err, "Failed to map a row change");
                status = sdl_error_exit_status(&err);
                goto done;
            }
            mapped = true;
            if (print) {
                BSON_ASSERT(bson_init_static(&row_view, row_bytes.data, row_bytes.len));
                mapped_doc = &row_view;
            }
            rows++;
            break;
        case SDL_CHANGE_DDL:
            bson_reinit(&doc);
            mapped_doc = &doc;
            if (!sdl_doc_mapper_ddl(&mopts, &c.pos, c.ddl_db, c.ddl_table,
                                    (const char *)c.ddl_statement.ptr, c.ddl_statement.len, &doc,
                                    &err)) {
                log_error_e(&err, "Failed to map a DDL statement");
                status = sdl_error_exit_status(&err);
                goto done;
            }
            mapped = true;
            ddls++;
            break;
        case SDL_CHANGE_STATEMENT:
            bson_reinit(&doc);
            mapped_doc = &doc;
            if (!sdl_doc_mapper_statement(&mopts, &c.pos, c.ddl_db,
                                          (const char *)c.ddl_statement.ptr, c.ddl_statement.len,
                                          &doc, &err)) {
                log_error_e(&err, "Failed to map a statement");
                status = sdl_error_exit_status(&err);
                goto done;
            }
            mapped = true;
            nstatements++;
            break;
        case SDL_CHANGE_COMMIT:
        case SDL_CHANGE_IDLE:
            commits += c.kind == SDL_CHANGE_COMMIT;
            if (print && out.len && !write_all(&out, &err)) {
                goto write_failed;
            }
            break;
        case SDL_CHANGE_END:
            final_position = sdl_xstrdup(c.position ? c.position : "");
            status = 0;
            goto done;
        }
        if (mapped && print) {
            if (!sdl_doc_mapper_to_json(mapped_doc, &out, &err)) {
                log_error_e(&err, "Failed to print a change");
                status = sdl_error_exit_status(&err);
                goto done;
            }
            sdl_buf_append_byte(&out, '\n');
            if (out.len >= 256u * 1024u && !write_all(&out, &err)) {
                goto write_failed;
            }
        }
        continue;
    write_failed:
        out_closed = err.code == SDL_E_CANCELLED;
        if (out_closed) {
            log_debug("Standard output was closed: stopping");
            status = 0;
        } else {
            log_error_e(&err, "Failed to write output");
            status = 1;
        }
        goto done;
    }
done:
    if (print && out.len && !out_closed && !write_all(&out, &err)) {
        if (err.code != SDL_E_CANCELLED) {
            log_error_e(&err, "Failed to write output");
            status = 1;
        }
    }
    bson_destroy(&doc);
    sdl_buf_done(&row_bytes);
    mopts.columns = sdl_column_policy_free(mopts.columns);
    log_debug("Printed %llu row changes", (unsigned long long)rows);
    if (stats && stream) {
        uint64_t inner = 0;
        uint64_t events = sdl_change_stream_events(stream, &inner);
        fprintf(stderr,
                "sdl tail: %llu events (and %llu inside transaction payloads), %llu "
                "transactions, %llu row changes, %llu DDL statements, %llu statement-based "
                "changes, position '%s'\n",
                (unsigned long long)events, (unsigned long long)inner, (unsigned long long)commits,
                (unsigned long long)rows, (unsigned long long)ddls, (unsigned long long)nstatements,
                final_position ? final_position : "");
    }
out:
    sdl_buf_done(&out);
    (void)sdl_change_stream_free(stream);
    (void)sdl_config_free(config);
    for (size_t i = 0; i < nincludes; i++) {
        free(includes[i]);
    }
    free(includes);
    for (size_t i = 0; i < nexcludes; i++) {
        free(excludes[i]);
    }
    free(excludes);
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i]);
    }
    free(files);
    free(final_position);
    return status;
}
