/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "sdl/daemon/cli.h"

#include <stdio.h>
#include <string.h>

#include "sdl/base/log.h"

static const char usage[] =
    "Usage: sdl COMMAND [OPTIONS]\n"
    "\n"
    "Replicates row changes from a MySQL or MariaDB binlog into MongoDB.\n"
    "\n"
    "Commands:\n"
    "  run          -c FILE                 the daemon (foreground; systemd runs this)\n"
    "  check-config -c FILE                 validate, print the normalised config; exit 0 or 78\n"
    "  status       -c FILE [--json]        offsets, staging backlog, lag, last commit\n"
    "  tail         -c FILE [--from START] [--until STOP] [--file BINLOG ...]\n"
    "               [--format json|none] [--include PATTERN] [--exclude PATTERN]\n"
    "                                       decoded row changes as JSON lines on stdout\n"
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
    fprintf(stderr, "sdl: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
