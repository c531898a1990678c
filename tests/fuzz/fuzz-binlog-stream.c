/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a whole binlog file (magic, FDE, events) through the change stream in file
 * mode and the row mapper, as `sdl tail --file` runs them: MySQL GTIDs and GTID sets,
 * TRANSACTION_PAYLOAD, PARTIAL_UPDATE_ROWS, binary JSON, every row type. The input is put in
 * a memfd and read through /proc/self/fd. Must end with a change or a clean error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bson/bson.h>

#include "sdl/config/config.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mysql/change-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sdl_config *config;
    char path[64];
    const char *files[1] = {path};
    sdl_change_stream *s = NULL;
    sdl_error err = SDL_ERROR_INIT;
    int fd;

    if (size > (1u << 20)) {
        return 0;
    }
    if (!config) {
        config = sdl_config_new_default();
    }
    fd = memfd_create("binlog", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        abort();
    }
    (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    sdl_change_stream_options opts = {
        .config = config, .pipeline = "f", .files = files, .nfiles = 1};
    if (sdl_change_stream_open(&opts, &s, &err)) {
        for (int n = 0; n < 100000; n++) {
            sdl_change c;
            if (!sdl_change_stream_next(s, &c, &err) || c.kind == SDL_CHANGE_END) {
                break;
            }
            if (c.kind == SDL_CHANGE_ROW) {
                bson_t doc = BSON_INITIALIZER;
                if (!sdl_doc_mapper_row(NULL, &c.pos, &c.row, &doc, &err)) {
                    err.code = SDL_E_OK; /* failing cleanly is fine */
                }
                bson_destroy(&doc);
            }
        }
    }
    s = sdl_change_stream_free(s);
    close(fd);
    return 0;
}
