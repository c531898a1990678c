/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-snapshot.h"
#include "sdl/mongo/mongo-writer.h"

#define EXIT_USAGE 2

static const char snapshot_usage[] =
    "Usage: sdl snapshot [-c FILE] [--credentials DIR] --tables 'db.table[,db2.*...]'\n"
    "\n"
    "Asks the pipeline to snapshot the tables matching the patterns (glob patterns on\n"
    "\"db.table\", comma-separated) that its tables.include/exclude select: their rows are\n"
    "read in chunks while it streams, as with pipeline.start: snapshot. The request is stored\n"
    "in the target; the running pipeline serves it within a second or two, after the tables\n"
    "of a snapshot already under way. `sdl status` shows the progress.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials from DIR (default: $CREDENTIALS_DIRECTORY,\n"
    "                       else FILE's <name>.credentials/)\n"
    "  --tables PATTERNS    the tables, e.g. 'shop.orders,crm.*'\n";

int
sdl_cmd_snapshot(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"credentials", required_argument, NULL, 'C'},
        {"tables", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *credentials = NULL, *tables = NULL;
    sdl_config *config = NULL;
    sdl_mongo_writer *w = NULL;
    sdl_error err = SDL_ERROR_INIT;
    char **patterns = NULL;
    size_t n = 0;
    int status;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            credentials = optarg;
            break;
        case 't':
            tables = optarg;
            break;
        case 'h':
            fputs(snapshot_usage, stdout);
            return 0;
        default:
            fputs(snapshot_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !tables) {
        fputs(snapshot_usage, stderr);
        return EXIT_USAGE;
    }
    for (const char *p = tables; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *pat = sdl_xstrndup(p, len);
        if (!*pat || !strchr(pat, '.')) {
            fprintf(stderr,
                    "sdl snapshot: '%s': a pattern matches \"db.table\" and contains a '.' "
                    "(e.g. 'shop.*')\n",
                    pat);
            free(pat);
            status = EXIT_USAGE;
            goto out;
        }
        patterns = sdl_xreallocarray(patterns, n + 1, sizeof(*patterns));
        patterns[n++] = pat;
        p += len + (comma ? 1 : 0);
    }
    if ((status = sdl_cli_load_config(path, credentials, "snapshot", true, &config)) != 0) {
        goto out;
    }
    status = 1;
    if (!sdl_mongo_writer_open(&config->target, config->pipeline.name, &w, &err)) {
        fprintf(stderr, "sdl snapshot: cannot reach the target: %s\n", err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    /* ids sort in the order requests are made: the time, then randomness */
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        r = (uint32_t)sdl_now_monotonic_usec();
    }
    char id[64];
    (void)snprintf(id, sizeof(id), "r%016" PRIu64 "-%08" PRIx32, sdl_now_realtime_usec(), r);
    if (!sdl_mongo_writer_request_snapshot(w, id, patterns, n, &err)) {
        fprintf(stderr, "sdl snapshot: %s\n", err.message);
        status = sdl_error_exit_status(&err);
        goto out;
    }
    printf("Snapshot request %s stored for pipeline '%s' (%s); sdl status shows its progress\n", id,
           config->pipeline.name, tables);
    status = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(patterns[i]);
    }
    free(patterns);
    (void)sdl_mongo_writer_free(w);
    (void)sdl_config_free(config);
    return status;
}
