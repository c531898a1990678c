/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * http: the small HTTP server of `sdl run` (http.listen), built on libmicrohttpd in its
 * internal-thread mode, bound to exactly the configured address:
 *   GET /metrics        Prometheus text format 0.0.4 (metrics.h)
 *   GET /health/live    200 {"status":"ok",...} / 503 {"status":"stuck",...}
 *   GET /health/ready   200 when ready with both connections up, else 503 with the reasons
 * HEAD is answered like GET without a body; other methods get 405, other paths 404.
 * It reads sdl_stats only (never the config, never a secret).
 *
 * Without libmicrohttpd at build time (-Dhttp=disabled), sdl_http_start() fails with a clear
 * SDL_E_CONFIG error when a listen address is configured.
 *
 * Never logs (the caller logs the error or the address). Threading: start and stop from one
 * thread (the main thread of `sdl run`); requests are served on libmicrohttpd's thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/daemon/stats.h"

typedef struct sdl_http_server sdl_http_server;

/* Binds @listen ("127.0.0.1:9632", "[::1]:9632"; see sdl_config_split_listen()) and starts
 * serving @stats (borrowed until sdl_http_stop()). Fails with SDL_E_IO when the address
 * cannot be bound (in use, not local). */
SDL_MUST_CHECK bool sdl_http_start(const char *listen, sdl_stats *stats,
                                   sdl_http_server **ret_server, sdl_error *err);

/* The port actually bound. */
uint16_t sdl_http_port(const sdl_http_server *server);

/* Stops serving and frees; NULL-safe, returns NULL. */
sdl_http_server *sdl_http_stop(sdl_http_server *server);
