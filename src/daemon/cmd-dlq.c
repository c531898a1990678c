/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "sdl/base/alloc.h"
#include "sdl/base/log.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-dlq.h"
#include "sdl/mapping/column-policy.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/change-stream.h"

#define EXIT_USAGE   2
#define EXIT_DATAERR 65

static const char dlq_usage[] =
    "Usage: sdl dlq list [-c FILE] [--credentials DIR] [--json]\n"
    "       sdl dlq retry [-c FILE] [--credentials DIR] (--id ID | --all)\n"
    "\n"
    "list:  the pipeline's dead letters (rows it could not write), oldest first.\n"
    "retry: reads each selected row again from the source and, when it can be written now\n"
    "       (e.g. after target.max_document_bytes was raised), moves it into row_changes and\n"
    "       out of the dead letters in one MongoDB transaction.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials from DIR (default: $CREDENTIALS_DIRECTORY,\n"
    "                       else FILE's <name>.credentials/)\n";

static const char *
text(const bson_t *doc, const char *path, const char *dflt)
{
    bson_iter_t it, child;

    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
        BSON_ITER_HOLDS_UTF8(&child)) {
        return bson_iter_utf8(&child, NULL);
    }
    return dflt;
}

static int64_t
number(const bson_t *doc, const char *path)
{
    bson_iter_t it, child;

    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
        (BSON_ITER_HOLDS_INT32(&child) || BSON_ITER_HOLDS_INT64(&child))) {
        return bson_iter_as_int64(&child);
    }
    return 0;
}

static int
list(bson_t **docs, size_t n, bool json)
{
    sdl_buf out = SDL_BUF_INIT;
    sdl_error err = SDL_ERROR_INIT;

    for (size_t i = 0; i < n; i++) {
        if (json) {
            sdl_buf_reset(&out);
            if (!sdl_doc_mapper_to_json(docs[i], &out, &err)) {
                fprintf(stderr, "sdl dlq list: %s\n", err.message);
                sdl_buf_done(&out);
                return 1;
            }
            printf("%s\n", sdl_buf_cstr(&out));
            continue;
        }
        const char *message = text(docs[i], "error.message", "");
        printf("%s  %s  %s.%s  %" PRId64 " bytes  %.160s\n", text(docs[i], "_id", "?"),
               text(docs[i], "error.reason", "?"), text(docs[i], "db", "?"),
               text(docs[i], "table", "?"), number(docs[i], "size"), message);
    }
    if (!json) {
        printf("%zu dead letter%s\n", n, n == 1 ? "" : "s");
    }
    sdl_buf_done(&out);
    return 0;
}

/* Reads row @seq of transaction @gtid again from @from into @row. False with *ret_data when
 * the row still cannot be written (a data error), else with err set. */
static bool
read_again(const sdl_config *config, const char *from, const char *gtid, uint64_t seq, bson_t *row,
           bool *ret_data, sdl_error *err)
{
    sdl_change_stream_options so = {
        .config = config,
        .pipeline = config->pipeline.name,
        .from = from,
        .until = "now",
    };
    sdl_change_stream *stream = NULL;
    sdl_doc_mapper_options mopts = {.columns = sdl_column_policy_new(config)};
    bool found = false, ok = false;

    *ret_data = false;
    if (!sdl_change_stream_open(&so, &stream, err)) {
        sdl_error_prefix(err, "reading the binlog again from '%s'", from);
        return false;
    }
    for (;;) {
        sdl_change c;
        if (!sdl_change_stream_next(stream, &c, err)) {
            break;
        }
        if (c.kind == SDL_CHANGE_END ||
            (c.kind == SDL_CHANGE_COMMIT && strcmp(c.pos.gtid, gtid) == 0)) {
            sdl_error_set(err, SDL_E_SOURCE,
                          "row %" PRIu64 " of transaction %s is not in the binlog after '%s' "
                          "(purged?)",
                          seq, gtid, from);
            break;
        }
        if (c.kind != SDL_CHANGE_ROW || c.pos.seq != seq || strcmp(c.pos.gtid, gtid) != 0) {
            continue;
        }
        found = true;
        if (!sdl_doc_mapper_row(&mopts, &c.pos, &c.row, row, err)) {
            *ret_data = true;
            break;
        }
        if (row->len > config->target.max_document_bytes) {
            sdl_error_set(err, SDL_E_DATA,
                          "its document is %" PRIu32 " bytes, over target.max_document_bytes "
                          "(%" PRIu64 ")",
                          row->len, config->target.max_document_bytes);
            *ret_data = true;
            break;
        }
        ok = true;
        break;
    }
    (void)found;
    (void)sdl_change_stream_free(stream);
    mopts.columns = sdl_column_policy_free(mopts.columns);
    return ok;
}

static int
retry(sdl_config *config, sdl_mongo_writer *w, bson_t **docs, size_t n)
{
    size_t moved = 0, still = 0, failed = 0;

    /* the row is read whatever the filters say now: it was replicated when it came */
    size_t ninclude = config->tables.ninclude, nexclude = config->tables.nexclude;
    size_t nskip_ops = config->tables.nskip_ops;
    config->source.server_id = sdl_cli_tool_server_id(config);
    config->tables.ninclude = 0;
    config->tables.nexclude = 0;
    config->tables.nskip_ops = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = text(docs[i], "_id", NULL);
        const char *gtid = text(docs[i], "gtid", NULL);
        const char *from = text(docs[i], "from", NULL);
        int64_t seq = number(docs[i], "seq");
        sdl_error err = SDL_ERROR_INIT;
        bson_t row = BSON_INITIALIZER;
        bool data = false;

        if (!id || !gtid || !from || seq <= 0) {
            fprintf(stderr, "sdl dlq retry: %s: no position to read it again from\n",
                    id ? id : "(no _id)");
            failed++;
            bson_destroy(&row);
            continue;
        }
        if (read_again(config, from, gtid, (uint64_t)seq, &row, &data, &err)) {
            bool split = false;
            if (sdl_mongo_writer_txn_split(w, gtid, &split, &err)) {
                if (split) {
                    BSON_APPEND_BOOL(&row, "split", true); /* as the rest of its transaction */
                }
                if (sdl_mongo_writer_revive(w, id, &row, &err)) {
                    printf("%s: moved into row_changes\n", id);
                    log_notice("Dead letter %s retried: moved into row_changes", id);
                    moved++;
                    bson_destroy(&row);
                    continue;
                }
            }
        }
        fprintf(stderr, "sdl dlq retry: %s: %s%s\n", id, data ? "still cannot be written: " : "",
                err.message);
        data ? still++ : failed++;
        bson_destroy(&row);
    }
    config->tables.ninclude = ninclude;
    config->tables.nexclude = nexclude;
    config->tables.nskip_ops = nskip_ops;
    printf("%zu moved, %zu still cannot be written, %zu failed\n", moved, still, failed);
    return failed ? 1 : still ? EXIT_DATAERR : 0;
}

int
sdl_cmd_dlq(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"credentials", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"id", required_argument, NULL, 'i'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *credentials = NULL, *id = NULL;
    bool json = false, all = false;
    sdl_config *config = NULL;
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;
    bson_t **docs = NULL;
    size_t n = 0;
    int status = 1;
    int opt;

    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "retry") != 0)) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(dlq_usage, help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    bool retrying = strcmp(argv[1], "retry") == 0;
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
        case 'i':
            id = optarg;
            break;
        case 'a':
            all = true;
            break;
        case 'h':
            fputs(dlq_usage, stdout);
            return 0;
        default:
            fputs(dlq_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc - 1 || (retrying && (json || !id == !all)) || (!retrying && (id || all))) {
        fputs(dlq_usage, stderr);
        return EXIT_USAGE;
    }
    if ((status = sdl_cli_load_config(path, credentials, retrying ? "dlq retry" : "dlq list", true,
                                      &config)) != 0) {
        return status;
    }
    status = 1;
    if (!(retrying ? sdl_mongo_writer_open(&config->target, config->pipeline.name, &w, &err)
                   : sdl_mongo_writer_open_read_only(&config->target, config->pipeline.name, &w,
                                                     &err)) ||
        !sdl_mongo_writer_dead_letters(w, id, &docs, &n, &err)) {
        fprintf(stderr, "sdl dlq: %s\n", err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    if (retrying && id && n == 0) {
        fprintf(stderr, "sdl dlq retry: no dead letter %s\n", id);
        goto out;
    }
    status = retrying ? retry(config, w, docs, n) : list(docs, n, json);
out:
    for (size_t i = 0; i < n; i++) {
        bson_destroy(docs[i]);
    }
    free(docs);
    (void)sdl_mongo_writer_free(w);
    (void)sdl_config_free(config);
    return status;
}
