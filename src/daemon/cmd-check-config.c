/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "sdl/config/config.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-check-config.h"

#define EXIT_USAGE  2
#define EXIT_CONFIG 78 /* EX_CONFIG; RestartPreventExitStatus=78 */

static const char usage[] =
    "Usage: sdl check-config [-c FILE] [--credentials DIR]\n"
    "       sdl check-config --list-keys\n"
    "\n"
    "Validates FILE and prints the normalised configuration (every key with its effective\n"
    "value, secrets masked), with the secrets found where sdl run finds them. Exit status:\n"
    "0 valid, 78 invalid.\n"
    "\n"
    "  -c, --config FILE    the configuration (default " SDL_DEFAULT_CONFIG ")\n"
    "  --credentials DIR    read the credentials source-password and target-uri from DIR, as\n"
    "                       systemd passes them (default: $CREDENTIALS_DIRECTORY, else FILE's\n"
    "                       directory <name>.credentials/ when it exists)\n"
    "  --list-keys          every key: path, type, default, reloadable (tab-separated)\n";

int
sdl_cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    const char *credentials = NULL;
    sdl_config *config = NULL;
    int status;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--list-keys") == 0) {
            sdl_config_list_keys(stdout);
            return 0;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                   strcmp(a, "--credentials") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0]) {
                fprintf(stderr, "sdl check-config: %s needs a %s\n%s", a,
                        a[2] == 'r' ? "DIR" : "FILE", usage);
                return EXIT_USAGE;
            }
            if (strcmp(a, "--credentials") == 0) {
                credentials = argv[++i];
            } else {
                path = argv[++i];
            }
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        } else if (strncmp(a, "--credentials=", 14) == 0) {
            credentials = a + 14;
        } else {
            fprintf(stderr, "sdl check-config: unexpected argument '%s'\n%s", a, usage);
            return EXIT_USAGE;
        }
    }
    /* Unreadable is also a configuration problem for the operator (and for systemd:
     * restarting will not fix it), hence 78 for SDL_E_IO too (sdl_cli_load_config). */
    if ((status = sdl_cli_load_config(path, credentials, "check-config", false, &config)) != 0) {
        return status == 1 ? EXIT_CONFIG : status;
    }
    sdl_config_print(config, stdout);
    if (fflush(stdout) != 0) {
        sdl_config_free(config);
        return 1;
    }
    sdl_config_free(config);
    return 0;
}
