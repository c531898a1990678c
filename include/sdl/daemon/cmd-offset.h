/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-offset: `sdl offset show -c FILE [--json]` and `sdl offset set -c FILE --to
 * GTID|now|start [--yes]` (README, "Moving a pipeline's position").
 *
 * `set` resolves the position on the source (now, start, or a GTID position checked against
 * the server's binlog), refuses while a running sdl holds the pipeline's lease, prints the old
 * and the new position, and with --yes moves the offset in one MongoDB transaction fenced on
 * its current batch (a writer that comes back cannot overwrite it), discarding the staged
 * batches; it also starts a new pipeline at a known position (a restored backup's). Without
 * --yes it changes nothing. Logs the move. Exit status: 0, 1 (refused, unreachable, fenced),
 * 2 (usage), 65 (the position is not on the source any more), 78 (configuration).
 */

/* @argc/@argv start at "offset". */
int sdl_cmd_offset(int argc, char **argv);
