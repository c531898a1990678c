/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-check-config: `sdl check-config -c FILE` (DESIGN.md §7). Loads and validates FILE and
 * prints the normalised configuration (secrets masked) on stdout.
 *
 * argv[0] is the command name ("check-config"); options follow:
 *   -c FILE, --config FILE, --config=FILE   the configuration (required)
 *   -h, --help                              usage on stdout, exit 0
 *   --list-keys                             (for docs and tests) every key of the key tables
 *
 * Exit status: 0 valid; 78 (EX_CONFIG) invalid or unreadable, with "file:line:col: message"
 * and the offending line plus a caret on stderr; 2 usage error.
 */

int sdl_cmd_check_config(int argc, char **argv);
