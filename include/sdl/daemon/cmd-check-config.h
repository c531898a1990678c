/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-check-config: `sdl check-config [-c FILE]` (DESIGN.md §7). Loads and validates FILE,
 * with its secrets looked up where `sdl run` looks for them, and prints the normalised
 * configuration (secrets masked: only where each came from) on stdout.
 *
 * argv[0] is the command name ("check-config"); options follow:
 *   -c FILE, --config FILE, --config=FILE   the configuration (default SDL_DEFAULT_CONFIG)
 *   --credentials DIR, --credentials=DIR    the credentials directory (config.h)
 *   -h, --help                              usage on stdout, exit 0
 *   --list-keys                             every key of the key tables
 *
 * Exit status: 0 valid; 78 (EX_CONFIG) invalid or unreadable, with "file:line:col: message"
 * and the offending line plus a caret on stderr; 2 usage error.
 */

int sdl_cmd_check_config(int argc, char **argv);
