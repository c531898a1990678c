/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cli: the command line of sdl (DESIGN.md §7): run, check-config, status, tail, --version,
 * --help. Parses argv, dispatches, and maps the final error to the exit status (78 for
 * configuration errors). This layer logs.
 */

/* Returns the process exit status. */
int sdl_cli_main(int argc, char **argv);
