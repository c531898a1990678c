/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-run: `sdl run [-c FILE] [--credentials DIR]` — the daemon in the foreground (systemd
 * runs this; without -c it reads SDL_DEFAULT_CONFIG). Loads the configuration (exit 78 when
 * it is invalid, unreadable or has no target), starts the HTTP server (http.listen), the
 * process's metrics clock and the per-table counters, installs the signal handlers
 * (SIGTERM/SIGINT: graceful stop; SIGHUP: reload), reads $SDL_FAILPOINT and runs the pipeline. Exit
 * status: 0 after a requested stop, 78 for configuration errors, 1 for everything else.
 */

/* @argc/@argv start at "run". */
int sdl_cmd_run(int argc, char **argv);
