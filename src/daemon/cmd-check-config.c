/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/cmd-check-config.h"

#include <stdio.h>
#include <string.h>

#include "sdl/config/config.h"

#define EXIT_USAGE  2
#define EXIT_CONFIG 78 /* EX_CONFIG; RestartPreventExitStatus=78 */

static const char usage[] =
    "Usage: sdl check-config -c FILE\n"
    "\n"
    "Validates FILE and prints the normalised configuration (every key with\n"
    "its effective value, secrets masked). Exit status: 0 valid, 78 invalid.\n";

int
sdl_cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    sdl_config *config = NULL;
    sdl_error err = SDL_ERROR_INIT;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--list-keys") == 0) {
            sdl_config_list_keys(stdout);
            return 0;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sdl check-config: %s needs a FILE\n%s", a, usage);
                return EXIT_USAGE;
            }
            path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        } else {
            fprintf(stderr, "sdl check-config: unexpected argument '%s'\n%s", a, usage);
            return EXIT_USAGE;
        }
    }
    if (!path || !*path) {
        fprintf(stderr, "sdl check-config: -c FILE is required\n%s", usage);
        return EXIT_USAGE;
    }
    if (!sdl_config_load(path, &config, &err)) {
        /* Unreadable is also a configuration problem for the operator (and for systemd:
         * restarting will not fix it), hence 78 for SDL_E_IO too. */
        fprintf(stderr, "%s\n", err.message);
        sdl_config_format_error_context(path, &err, stderr);
        return EXIT_CONFIG;
    }
    sdl_config_print(config, stdout);
    if (fflush(stdout) != 0) {
        sdl_config_free(config);
        return 1;
    }
    sdl_config_free(config);
    return 0;
}
