/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "sdl/base/alloc.h"
#include "sdl/base/clock.h"
#include "sdl/base/log.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-check-config.h"
#include "sdl/daemon/cmd-dlq.h"
#include "sdl/daemon/cmd-offset.h"
#include "sdl/daemon/cmd-run.h"
#include "sdl/daemon/cmd-snapshot.h"
#include "sdl/daemon/cmd-status.h"
#include "sdl/daemon/cmd-tail.h"
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mysql/source-position.h"

static const char usage[] =
    "Usage: sdl COMMAND [OPTIONS]\n"
    "\n"
    "Replicates row changes from a MySQL or MariaDB binlog into MongoDB.\n"
    "Without -c FILE every command reads " SDL_DEFAULT_CONFIG ".\n"
    "\n"
    "Commands:\n"
    "  run [-c FILE] [--credentials DIR]\n"
    "        the daemon, in the foreground (systemd runs this); SIGHUP reloads, SIGTERM stops\n"
    "  check-config [-c FILE] [--credentials DIR]\n"
    "        validate, print the normalised configuration (secrets masked); exit 0 or 78\n"
    "  check-config --list-keys\n"
    "        every configuration key: path, type, default, reloadable\n"
    "  status [-c FILE] [--credentials DIR] [--json]\n"
    "        offset, last commit, lag and staged batches, read from MongoDB\n"
    "  tail [-c FILE] [--credentials DIR] [--from START] [--until STOP] [--format json|none]\n"
    "       [--include PATTERN]... [--exclude PATTERN]... [--stats] [--statements stop|print]\n"
    "       [--server-id N] [--one-thread]\n"
    "        the row_changes documents sdl run would write, as JSON lines on stdout, from\n"
    "        the server (with a replica server_id of its own)\n"
    "  tail [-c FILE] --file BINLOG... [options]\n"
    "        the same from local binlog files, MySQL or MariaDB\n"
    "  offset show [-c FILE] [--credentials DIR] [--json]\n"
    "        the pipeline's offset (where it resumes) and who holds its lease\n"
    "  offset set [-c FILE] [--credentials DIR] --to GTID|now|start [--yes]\n"
    "        move it (refused while sdl runs the pipeline)\n"
    "  snapshot [-c FILE] [--credentials DIR] --tables 'db.t,db2.*'\n"
    "        ask the running pipeline to snapshot tables (their existing rows)\n"
    "  dlq list [-c FILE] [--credentials DIR] [--json]\n"
    "        rows set aside as dead letters\n"
    "  dlq retry [-c FILE] [--credentials DIR] (--id ID | --all)\n"
    "        write them again (after raising a limit)\n"
    "  --version    print the version\n"
    "  --help       print this help; `sdl COMMAND --help` explains each option\n"
    "\n"
    "Options of every command:\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    where the credentials source-password and target-uri are read;\n"
    "                       default $CREDENTIALS_DIRECTORY, else the directory next to FILE\n"
    "                       named after it (sdl.yaml -> sdl.credentials/)\n"
    "  -h, --help           the command's own help\n"
    "\n"
    "See sdl(8) and sdl.yaml(5).\n";

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

const char *
sdl_cli_config_path(const char *path)
{
    return path && *path ? path : SDL_DEFAULT_CONFIG;
}

int
sdl_cli_load_config(const char *path, const char *credentials, const char *command,
                    bool need_target, sdl_config **ret_config)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *config = NULL;
    sdl_config_load_options opts = {.credentials_dir = credentials};

    *ret_config = NULL;
    path = sdl_cli_config_path(path);
    if (!sdl_config_load_opts(path, &opts, &config, &err)) {
        fprintf(stderr, "%s\n", err.message);
        sdl_config_format_error_context(path, &err, stderr);
        /* An unreadable file is a configuration problem too (restarting cannot fix it). */
        return err.code == SDL_E_IO ? 78 : sdl_error_exit_status(&err);
    }
    if (need_target && !config->target.uri) {
        char *dir = config->credentials_dir ? sdl_xstrdup(config->credentials_dir)
                                            : sdl_config_credentials_dir_for(path);
        fprintf(stderr,
                "%s: sdl %s needs a target (MongoDB): add a 'target' section and write the URI "
                "to the credential file %s/target-uri (root-only; sdl.service passes it as the "
                "systemd credential 'target-uri'), or set 'target.uri_file' or "
                "$SDL_TARGET_URI\n",
                path, command, dir);
        free(dir);
        (void)sdl_config_free(config);
        return 78;
    }
    *ret_config = config;
    return 0;
}

uint32_t
sdl_cli_tool_server_id(const sdl_config *config)
{
    const uint32_t span = UINT32_MAX - SDL_TAIL_SERVER_ID_MIN + 1u;
    uint32_t r = 0;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        r = (uint32_t)(sdl_now_realtime_usec() ^ ((uint64_t)getpid() << 16));
    }
    r = SDL_TAIL_SERVER_ID_MIN + r % span;
    return r == config->source.server_id ? r + 1u : r;
}

const char *
sdl_cli_check_position(const char *text)
{
    static _Thread_local char why[512];
    sdl_error err = SDL_ERROR_INIT;
    bool ok;

    sdl_source_position pos = SDL_SOURCE_POSITION_INIT;
    ok = sdl_source_position_parse(text, SDL_SOURCE_ACCEPT_MARIADB | SDL_SOURCE_ACCEPT_MYSQL, &pos,
                                   &err);
    sdl_source_position_done(&pos);
    if (ok) {
        return NULL;
    }
    (void)snprintf(why, sizeof(why),
                   "must be 'now', 'start', a MariaDB GTID position (domain-server-seq, one per "
                   "domain: '0-1-100,1-2-5') or a MySQL GTID set ('uuid:1-100'): %.300s",
                   err.message);
    return why;
}

int
sdl_cli_main(int argc, char **argv)
{
    sdl_log_open();
    sdl_mongo_forget_counters(); /* created by libmongoc's automatic initialisation, if any */
    sdl_config_set_position_check(sdl_cli_check_position);
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
    if (strcmp(argv[1], "snapshot") == 0) {
        return sdl_cmd_snapshot(argc - 1, argv + 1);
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
