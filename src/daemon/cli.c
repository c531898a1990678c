/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sdl/base/log.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-check-config.h"
#include "sdl/daemon/cmd-dlq.h"
#include "sdl/daemon/cmd-offset.h"
#include "sdl/daemon/cmd-run.h"
#include "sdl/daemon/cmd-status.h"
#include "sdl/daemon/cmd-tail.h"
#include "sdl/mongo/mongo-writer.h"

static const char usage[] =
    "Usage: sdl COMMAND [OPTIONS]\n"
    "\n"
    "Replicates row changes from a MySQL or MariaDB binlog into MongoDB.\n"
    "\n"
    "Commands:\n"
    "  check-config -c FILE                 validate, print the normalised config; exit 0 or 78\n"
    "  tail         -c FILE [--from START] [--until STOP] [--format json|none]\n"
    "               [--include PATTERN] [--exclude PATTERN]\n"
    "                                       decoded row changes as JSON lines on stdout\n"
    "  run          -c FILE                 the daemon (foreground; systemd runs this)\n"
    "  status       -c FILE [--json]        offset, last commit, lag, staged batches, read from\n"
    "                                       MongoDB\n"
    "  offset       show -c FILE [--json]   the pipeline's offset (where it resumes)\n"
    "               set -c FILE --to GTID|now|start [--yes]\n"
    "                                       move it (refused while sdl runs the pipeline)\n"
    "  dlq          list -c FILE [--json]   rows set aside as dead letters\n"
    "               retry -c FILE (--id ID | --all)\n"
    "                                       write them again (after raising a limit)\n"
    "  --version    print the version\n"
    "  --help       print this help\n";

void
sdl_cli_catch_signals(void (*handler)(int), bool hup)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    if (hup) {
        (void)sigaction(SIGHUP, &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
}

int
sdl_cli_load_config(const char *path, const char *command, bool need_target,
                    sdl_config **ret_config)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *config = NULL;

    *ret_config = NULL;
    if (!sdl_config_load(path, &config, &err)) {
        fprintf(stderr, "%s\n", err.message);
        sdl_config_format_error_context(path, &err, stderr);
        return sdl_error_exit_status(&err);
    }
    if (need_target && !config->target.uri) {
        fprintf(stderr,
                "%s: sdl %s needs a target: add a 'target' section with uri_file (or set the "
                "credential target-uri or $SDL_TARGET_URI)\n",
                path, command);
        (void)sdl_config_free(config);
        return 78;
    }
    *ret_config = config;
    return 0;
}

int
sdl_cli_main(int argc, char **argv)
{
    sdl_log_open();
    sdl_mongo_forget_counters(); /* created by libmongoc's automatic initialisation, if any */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sdl %s\n", SDL_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) {
        return sdl_cmd_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "status") == 0) {
        return sdl_cmd_status(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "tail") == 0) {
        return sdl_cmd_tail(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "offset") == 0) {
        return sdl_cmd_offset(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "dlq") == 0) {
        return sdl_cmd_dlq(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "check-config") == 0) {
        return sdl_cmd_check_config(argc - 1, argv + 1);
    }
    fprintf(stderr, "sdl: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
