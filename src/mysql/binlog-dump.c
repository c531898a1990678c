/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-dump.h"

#include <string.h>

void
sdl_binlog_dump_packet(uint16_t flags, uint32_t server_id, const char *filename, uint32_t pos,
                       sdl_buf *out)
{
    sdl_buf_append_u32le(out, pos);
    sdl_buf_append_u16le(out, flags);
    sdl_buf_append_u32le(out, server_id);
    sdl_buf_append(out, filename, strlen(filename));
}

void
sdl_binlog_dump_gtid_packet(uint16_t flags, uint32_t server_id, const char *filename, uint64_t pos,
                            const sdl_gtid_set *executed, sdl_buf *out)
{
    sdl_buf set = SDL_BUF_INIT;
    size_t name_len = strlen(filename);

    sdl_gtid_set_encode(executed, &set);
    sdl_buf_append_u16le(out, flags);
    sdl_buf_append_u32le(out, server_id);
    sdl_buf_append_u32le(out, (uint32_t)name_len);
    sdl_buf_append(out, filename, name_len);
    sdl_buf_append_u64le(out, pos);
    sdl_buf_append_u32le(out, (uint32_t)set.len);
    sdl_buf_append(out, set.data, set.len);
    sdl_buf_done(&set);
}
