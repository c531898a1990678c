/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-dlq: `sdl dlq list -c FILE [--json]` and `sdl dlq retry -c FILE (--id ID | --all)`
 * (README, "Dead letters").
 *
 * `retry` reads each dead letter's row again from the source (its `from` position), maps it
 * with the configuration as it is now (e.g. a raised target.max_document_bytes) and, when it
 * fits, moves it into row_changes in one MongoDB transaction that also deletes the dead
 * letter. A row that still cannot be written stays where it is. Exit status: 0 when every
 * selected dead letter moved, 65 when some still cannot be written, 1 for other failures, 2
 * usage, 78 configuration.
 */

/* @argc/@argv start at "dlq". */
int sdl_cmd_dlq(int argc, char **argv);
