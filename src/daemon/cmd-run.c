/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-run.h"
#include "sdl/daemon/http.h"
#include "sdl/daemon/notify.h"
#include "sdl/daemon/pipeline.h"
#include "sdl/daemon/stats.h"

static volatile int stop_requested;
static volatile int reload_requested;

static void
on_signal(int sig)
{
    if (sig == SIGHUP) {
        reload_requested = 1;
    } else {
        stop_requested = 1;
    }
}

static const char run_usage[] =
    "Usage: sdl run [-c FILE] [--credentials DIR]\n"
    "\n"
    "Replicates the source into the target until stopped (SIGTERM, SIGINT).\n"
    "SIGHUP reloads the reloadable keys of FILE.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials source-password and target-uri from DIR\n"
    "                       (default: $CREDENTIALS_DIRECTORY, else FILE's directory\n"
    "                       <name>.credentials/ when it exists)\n";

int
sdl_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"credentials", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    const char *credentials = NULL;
    sdl_config *config = NULL;
    sdl_error err = SDL_ERROR_INIT;
    sdl_http_server *http = NULL;
    int status = 1;
    int opt;

    /* First thing: a SIGTERM that arrives while the configuration loads or the target is
     * waited for is a clean stop, not death by the default action. */
    sdl_cli_catch_signals(on_signal, true);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            credentials = optarg;
            break;
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        default:
            fputs(run_usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sdl run: unexpected argument '%s'\n%s", argv[optind], run_usage);
        return 2;
    }
    path = sdl_cli_config_path(path);
    if ((status = sdl_cli_load_config(path, credentials, "run", true, &config)) != 0) {
        return status;
    }
    status = 1;
    sdl_log_set_level(config->log.level);
    sdl_log_set_format(config->log.format);
    sdl_log_set_context(config->pipeline.name, NULL, NULL);
    sdl_failpoint_init();
    sdl_notify_init();

    log_notice("sdl %s starting pipeline '%s'", SDL_VERSION, config->pipeline.name);
    /* The HTTP server (http.listen) runs from before the pipeline connects until after it
     * stopped, so /health/ready says 503 while recovering and /metrics keeps the last
     * counters until the end. It only reads sdl_stats_global(). */
    (void)snprintf(sdl_stats_global()->pipeline, sizeof(sdl_stats_global()->pipeline), "%s",
                   config->pipeline.name);
    sdl_stats_start(sdl_stats_global());
    sdl_stats_set_table_limit(sdl_stats_global(), config->http.table_metrics);
    if (config->http.listen) {
        if (!sdl_http_start(config->http.listen, sdl_stats_global(), &http, &err)) {
            log_error_e(&err, "Failed to start the HTTP server (http.listen)");
            (void)sdl_config_free(config);
            return sdl_error_exit_status(&err);
        }
        log_info("Serving /metrics, /health/live and /health/ready on %s", config->http.listen);
    }
    sdl_pipeline_control control = {&stop_requested, &reload_requested, path};
#ifdef __GLIBC__
    /* A batch's buffers (its staging parts, libmongoc's command buffers) are megabytes,
     * allocated and freed once per batch. Freed memory at the top of the heap is kept for the
     * next batch instead of being returned to the kernel and faulted in (zeroed) again:
     * bench/e2e counted 18,000 minor faults for 50,000 rows, 7,600 with this setting, peak
     * RSS unchanged; the bound on sdl's memory is the queue's and the batch's, which this does
     * not change. (An M_MMAP_THRESHOLD of 64 MiB was set here too: glibc refuses values
     * above 32 MiB, so it never took effect, and 32 MiB changed no figure of bench/snapshot.) */
    (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
    if (sdl_pipeline_run(config, &control, &err)) {
        status = 0;
    } else {
        log_error_e(&err, "Pipeline '%s' stopped", config->pipeline.name);
        status = sdl_error_exit_status(&err);
    }
    http = sdl_http_stop(http);
    (void)sdl_config_free(config);
    return status;
}
