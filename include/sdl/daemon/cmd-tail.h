/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-tail: `sdl tail` — decoded row changes as JSON lines on stdout, one line per row change
 * and one per DDL, each exactly the row_changes document sdl run would insert, in MongoDB
 * relaxed Extended JSON. Reads a server (the configuration's source; SDL_DEFAULT_CONFIG without
 * -c) or local binlog files (--file). From a server it connects as a replica with a server_id
 * of its own: --server-id N, else a random one from SDL_TAIL_SERVER_ID_MIN..UINT32_MAX, which
 * source.server_id cannot take, so it never drops a running pipeline's connection (error
 * 4052). Logs to stderr (log.format); returns the exit status.
 */

/* @argc/@argv start after "tail". */
int sdl_cmd_tail(int argc, char **argv);
