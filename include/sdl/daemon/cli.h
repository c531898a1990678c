/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cli: the command line of sdl (DESIGN.md §7): run, check-config, status, tail, --version,
 * --help. Parses argv, dispatches, and maps the final error to the exit status (78 for
 * configuration errors). This layer logs.
 */

#include <stdbool.h>

#include "sdl/config/config.h"

/* @path, or the default configuration file (SDL_DEFAULT_CONFIG, /etc/sdl/sdl.yaml in the
 * packaged build) when @path is NULL or empty: what every command reads without -c. */
const char *sdl_cli_config_path(const char *path);

/* Loads @path (NULL: the default file) for @command ("run", "status", ...), reading the
 * credentials from @credentials (--credentials DIR; NULL: config.h's default search). On an
 * error prints it (file:line:col and the offending line) and returns the exit status to end
 * with (78 for configuration errors and unreadable files); with @need_target a configuration
 * without a MongoDB target is such an error, and the message names the credential file to
 * write. Returns 0 with *ret_config set on success. */
int sdl_cli_load_config(const char *path, const char *credentials, const char *command,
                        bool need_target, sdl_config **ret_config);

/* The replica server_id of a command that reads the binlog beside a running pipeline (tail,
 * offset set, dlq retry): drawn at random from SDL_TAIL_SERVER_ID_MIN..UINT32_MAX, a range
 * source.server_id cannot take, so the source never drops a pipeline's connection for it
 * (error 4052 / 1236 "A slave with the same server_uuid/server_id"). */
uint32_t sdl_cli_tool_server_id(const sdl_config *config);

/* The check of pipeline.start that sdl_cli_main() installs (sdl_config_set_position_check()):
 * NULL when @text is a MariaDB GTID position or a MySQL GTID set (the source layer's parsers),
 * else the reason. */
const char *sdl_cli_check_position(const char *text);

/* Installs @handler for SIGINT and SIGTERM (and SIGHUP with @hup) without SA_RESTART, so a
 * blocking read returns and the caller sees its flag; ignores SIGPIPE (a closed peer is an
 * EPIPE error). */
void sdl_cli_catch_signals(void (*handler)(int), bool hup);

/* Returns the process exit status. */
int sdl_cli_main(int argc, char **argv);
