/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cli: the command line of sdl (DESIGN.md §7): run, check-config, status, tail, --version,
 * --help. Parses argv, dispatches, and maps the final error to the exit status (78 for
 * configuration errors). This layer logs.
 */

#include <stdbool.h>

#include "sdl/config/config.h"

/* Loads @path for @command ("run", "status", ...). On an error prints it (file:line:col and
 * the offending line) and returns the exit status to end with (78 for configuration errors);
 * with @need_target a configuration without a MongoDB target is such an error. Returns 0
 * with *ret_config set on success. */
int sdl_cli_load_config(const char *path, const char *command, bool need_target,
                        sdl_config **ret_config);

/* Installs @handler for SIGINT and SIGTERM (and SIGHUP with @hup) without SA_RESTART, so a
 * blocking read returns and the caller sees its flag; ignores SIGPIPE (a closed peer is an
 * EPIPE error). */
void sdl_cli_catch_signals(void (*handler)(int), bool hup);

/* Returns the process exit status. */
int sdl_cli_main(int argc, char **argv);
