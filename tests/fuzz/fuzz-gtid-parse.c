/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: MariaDB GTID position parsing must never crash, and what it accepts must
 * format to a canonical text that parses back to an equal position. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/gtid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    sdl_gtid_pos pos = SDL_GTID_POS_INIT;
    sdl_gtid_pos again = SDL_GTID_POS_INIT;
    sdl_error err = SDL_ERROR_INIT;

    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (sdl_gtid_pos_parse(text, &pos, &err)) {
        char *canon = sdl_gtid_pos_format(&pos);
        if (!sdl_gtid_pos_parse(canon, &again, &err) || !sdl_gtid_pos_equal(&pos, &again)) {
            abort();
        }
        free(canon);
    }
    sdl_gtid_pos_done(&pos);
    sdl_gtid_pos_done(&again);
    free(text);
    return 0;
}
