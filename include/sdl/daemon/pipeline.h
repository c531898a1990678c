/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * pipeline: `sdl run` — recovery, then two threads meeting at one bounded queue
 * (DESIGN.md §2, §3, §5):
 *
 *   reader thread   change stream → doc-mapper → queue items (ROW/DDL documents, COMMIT)
 *   writer thread   queue → batches on transaction boundaries (max_rows, max_bytes,
 *                   max_delay), a transaction larger than a batch split into parts with a
 *                   partial offset and split: true rows; each batch staged, then committed
 *                   with its offset in one MongoDB transaction; transient errors retried
 *                   with exponential backoff and jitter until retry.give_up_after
 *
 * Recovery (before the threads start): wait for the target, load the offset, delete staged
 * batches the offset covers and incomplete ones, commit later complete ones in order, then
 * resume the binlog after the offset (skipping the committed rows of a split transaction).
 *
 * Reload (SIGHUP): the reloadable keys of the file take effect (pipeline.batch, .retry,
 * tables, log.level); any other change is refused and logged, the old values stay.
 *
 * Graceful stop: when *stop becomes non-zero the reader stops, the writer commits the
 * complete transactions it holds (or leaves its batch safely in staging) and both threads
 * end; sdl_pipeline_run() returns.
 *
 * Logs (daemon layer). Threading: call from the main thread; it owns both workers.
 */

#include <signal.h>
#include <stdbool.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"

typedef struct sdl_pipeline_control {
    const volatile int *stop; /* non-zero: graceful stop (SIGTERM, SIGINT) */
    volatile int *reload;     /* non-zero: reload @config_path (SIGHUP); reset when done */
    const char *config_path;  /* the file @config was loaded from */
} sdl_pipeline_control;

/* Runs until *control->stop or a permanent error. Returns true after a requested stop.
 * @config must stay valid until it returns; reloaded configurations are owned and freed
 * here. */
SDL_MUST_CHECK bool sdl_pipeline_run(const sdl_config *config, const sdl_pipeline_control *control,
                                     sdl_error *err);
