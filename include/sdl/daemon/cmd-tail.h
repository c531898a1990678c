/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-tail: `sdl tail` — decoded row changes as JSON lines on stdout, one line per row change
 * and one per DDL, each exactly the row_changes document sdl run would insert, in MongoDB
 * relaxed Extended JSON. Logs to stderr; returns the exit status.
 */

/* @argc/@argv start after "tail". */
int sdl_cmd_tail(int argc, char **argv);
