/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * notify: the one wrapper around sd_notify (STYLE.md §3.9). Compiled as no-ops without
 * libsystemd (-Dsystemd=disabled) and harmless when $NOTIFY_SOCKET is unset, so callers
 * never #ifdef. READY=1 only after recovery and both connections; STATUS= with last GTID,
 * lag and rate; WATCHDOG=1 from pipeline progress (the caller decides when), never from a
 * timer; EXTEND_TIMEOUT_USEC= during long recovery; RELOADING=1 … READY=1 around a reload;
 * STOPPING=1 on drain.
 *
 * Threading: any thread. Never logs above debug.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/macros.h"

/* Reads $NOTIFY_SOCKET and the watchdog interval (sd_watchdog_enabled). */
void sdl_notify_init(void);

/* The watchdog interval systemd expects pings within, usec; 0 when the watchdog is off. */
uint64_t sdl_notify_watchdog_usec(void);

void sdl_notify_ready(void);
void sdl_notify_reloading(void);
void sdl_notify_stopping(void);
void sdl_notify_watchdog(void);
/* Asks systemd for @usec more before it times out the current start/stop. */
void sdl_notify_extend_timeout(uint64_t usec);
SDL_PRINTF(1, 2) void sdl_notify_status(const char *fmt, ...);
