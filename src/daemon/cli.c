/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "sdl/daemon/cli.h"

#include <stdio.h>
#include <string.h>

#include "sdl/base/log.h"
#include "sdl/daemon/cmd-check-config.h"
#include "sdl/daemon/cmd-tail.h"

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
    "  (run and status, the MongoDB writer, arrive with a later version)\n"
    "  --version    print the version\n"
    "  --help       print this help\n";

int
sdl_cli_main(int argc, char **argv)
{
    sdl_log_open();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sdl %s\n", SDL_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "tail") == 0) {
        return sdl_cmd_tail(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "check-config") == 0) {
        return sdl_cmd_check_config(argc - 1, argv + 1);
    }
    fprintf(stderr, "sdl: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
