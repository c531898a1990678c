/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo-sink: the MongoDB writer behind the sink seam (model/sink.h). A thin adapter: every
 * operation is the writer's function of the same name, unchanged.
 */
#include "sdl/mongo/mongo-writer.h"
#include "sdl/mongo/retry.h"

static bool
ms_ping(void *impl, sdl_error *err)
{
    return sdl_mongo_writer_ping(impl, err);
}

static bool
ms_load_offset(void *impl, sdl_offset *ret_offset, bool *ret_found, sdl_error *err)
{
    return sdl_mongo_writer_load_offset(impl, ret_offset, ret_found, err);
}

static bool
ms_init_offset(void *impl, const sdl_offset *offset, sdl_error *err)
{
    return sdl_mongo_writer_init_offset(impl, offset, err);
}

static bool
ms_stage(void *impl, const sdl_batch *batch, sdl_error *err)
{
    return sdl_mongo_writer_stage(impl, batch, err);
}

static bool
ms_commit(void *impl, const sdl_batch *batch, sdl_error *err)
{
    return sdl_mongo_writer_commit(impl, batch, err);
}

static size_t
ms_rejected(void *impl)
{
    return sdl_mongo_writer_rejected(impl);
}

static bool
ms_committed_requests(void *impl, const uint8_t **ret_requests, size_t *ret_len)
{
    return sdl_mongo_writer_committed_requests(impl, ret_requests, ret_len);
}

static sdl_sink_size
ms_size(void *impl, const sdl_error *err)
{
    (void)impl;
    if (!sdl_mongo_error_wants_smaller_batch(err)) {
        return SDL_SINK_SIZE_OK;
    }
    return err->sys_errno == SDL_MONGO_TRANSACTION_TOO_LARGE ||
                   err->sys_errno == SDL_MONGO_TRANSACTION_TOO_LARGE_FOR_CACHE
               ? SDL_SINK_TOO_LARGE
               : SDL_SINK_TOO_SLOW;
}

static bool
ms_list_staged(void *impl, sdl_staged_batch **ret_list, size_t *ret_count, sdl_error *err)
{
    return sdl_mongo_writer_list_staged(impl, ret_list, ret_count, err);
}

static bool
ms_load_staged(void *impl, uint64_t number, sdl_batch *ret_batch, sdl_error *err)
{
    return sdl_mongo_writer_load_staged(impl, number, ret_batch, err);
}

static bool
ms_delete_staged(void *impl, uint64_t number, sdl_error *err)
{
    return sdl_mongo_writer_delete_staged(impl, number, err);
}

static bool
ms_clean_staged(void *impl, uint64_t committed, sdl_error *err)
{
    return sdl_mongo_writer_clean_staged(impl, committed, err);
}

static bool
ms_renew_lease(void *impl, bool release, sdl_error *err)
{
    return sdl_mongo_writer_renew_lease(impl, release, err);
}

static bool
ms_end_previous_sessions(void *impl, size_t *ret_n, char **ret_holder, sdl_error *err)
{
    return sdl_mongo_writer_end_previous_sessions(impl, ret_n, ret_holder, err);
}

static const sdl_sink_ops mongo_sink_ops = {
    .ping = ms_ping,
    .load_offset = ms_load_offset,
    .init_offset = ms_init_offset,
    .stage = ms_stage,
    .commit = ms_commit,
    .rejected = ms_rejected,
    .committed_requests = ms_committed_requests,
    .size = ms_size,
    .list_staged = ms_list_staged,
    .load_staged = ms_load_staged,
    .delete_staged = ms_delete_staged,
    .clean_staged = ms_clean_staged,
    .renew_lease = ms_renew_lease,
    .end_previous_sessions = ms_end_previous_sessions,
};

sdl_sink
sdl_mongo_writer_sink(sdl_mongo_writer *writer)
{
    return (sdl_sink){.ops = &mongo_sink_ops, .impl = writer};
}
