/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the config loader must never crash on any bytes; an error must carry a
 * position its context printer can render; and what it accepts must print as YAML that
 * loads back to the same normalised configuration (print is a fixed point). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
print_to_string(const sdl_config *config, size_t *ret_len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, ret_len);

    if (!f) {
        abort();
    }
    sdl_config_print(config, f);
    fclose(f);
    return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdl_config *config = NULL, *again = NULL;
    sdl_error err = SDL_ERROR_INIT;
    FILE *devnull;

    if (size > 65536) {
        return 0;
    }
    /* Not NUL-terminated on purpose: the loader must respect len. */
    if (!sdl_config_load_string("fuzz.yaml", (const char *)data, size, &config, &err)) {
        if (err.code != SDL_E_CONFIG || strncmp(err.message, "fuzz.yaml:", 10) != 0) {
            abort();
        }
        devnull = fopen("/dev/null", "w");
        if (devnull) {
            sdl_config_format_error_context_string((const char *)data, size, &err, devnull);
            fclose(devnull);
        }
        return 0;
    }
    size_t len1 = 0, len2 = 0;
    char *p1 = print_to_string(config, &len1);
    if (!sdl_config_load_string("fuzz.yaml", p1, len1, &again, &err)) {
        fprintf(stderr, "printed config does not load: %s\n%s", err.message, p1);
        abort();
    }
    char *p2 = print_to_string(again, &len2);
    if (len1 != len2 || memcmp(p1, p2, len1) != 0) {
        fprintf(stderr, "print is not a fixed point:\n%s\n---\n%s", p1, p2);
        abort();
    }
    if (!sdl_config_check_reload(config, again, &err)) {
        abort();
    }
    free(p1);
    free(p2);
    sdl_config_free(config);
    sdl_config_free(again);
    return 0;
}
