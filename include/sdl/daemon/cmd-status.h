/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cmd-status: `sdl status [-c FILE] [--credentials DIR] [--json]` — what an operator runs
 * first (without -c it reads SDL_DEFAULT_CONFIG; the URI comes from the credentials directory
 * as for every command). Reads the target
 * (MongoDB) only, never the daemon: the pipeline's offset document (GTID position, split
 * transaction, binlog file and position, batch number, rows applied, updated_at, source_ts)
 * and its staged batches, and prints them with ages and lag.
 *
 * Exit status: 0 when the target answered (also when the pipeline has no offset yet: the
 * output says so on its "offset" line and "offset": null in JSON), 1 when the target cannot
 * be reached or read, 78 for configuration errors (no target configured), 2 on usage errors.
 *
 * Lag, two numbers (both from the offset document, no clock of the source needed):
 *   lag at commit = updated_at - source_ts: how far behind the source the last commit was
 *                   when it was made;
 *   age of source time = now - source_ts: an upper bound of the lag right now, exact while
 *                   the source keeps writing, growing while the source is idle.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/mongo/mongo-writer.h"

/* @argc/@argv start at "status". */
int sdl_cmd_status(int argc, char **argv);

/* Formats @st for pipeline @pipeline as of @now_ms (ms since the epoch): aligned lines, or
 * one JSON object and a newline when @json. Appends to @out. */
void sdl_status_format(const char *pipeline, const sdl_target_status *st, int64_t now_ms, bool json,
                       sdl_buf *out);
