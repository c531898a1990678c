/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/table-map-cache.h"

#include <stdlib.h>

#include "sdl/base/alloc.h"

#define TABLE_CACHE_MIN 64
#define TABLE_CACHE_MAX 1024
#define TABLE_ARENA_MAX ((size_t)16 << 20)

static sdl_table_map_entry *
find_slot(const sdl_table_map_cache *c, uint64_t table_id)
{
    return sdl_table_map_cache_slot_(c, table_id);
}

static void
init_slots(sdl_table_map_cache *c, size_t nslots)
{
    c->slots = sdl_xcalloc(nslots, sizeof(*c->slots));
    c->nslots = nslots;
    c->ntables = 0;
}

static void
free_slots(sdl_table_map_cache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        sdl_buf_done(&c->slots[i].raw);
    }
    free(c->slots);
    c->slots = NULL;
}

void
sdl_table_map_cache_init(sdl_table_map_cache *c)
{
    sdl_arena_init(&c->arena, 0);
    init_slots(c, TABLE_CACHE_MIN);
}

void
sdl_table_map_cache_done(sdl_table_map_cache *c)
{
    free_slots(c);
    sdl_arena_done(&c->arena);
}

/* Doubles the table cache (at most half full, so a probe always ends at a free slot). */
static void
grow(sdl_table_map_cache *c)
{
    sdl_table_map_entry *old = c->slots;
    size_t nold = c->nslots;

    init_slots(c, nold * 2);
    for (size_t i = 0; i < nold; i++) {
        if (old[i].used) {
            *find_slot(c, old[i].table_id) = old[i];
            c->ntables++;
        } else {
            sdl_buf_done(&old[i].raw);
        }
    }
    free(old);
}

/* Sets @slot's included and pass_ops under @config (NULL: everything passes). */
static void
filter(sdl_table_map_entry *slot, const sdl_config *config)
{
    const unsigned all = SDL_OP_INSERT | SDL_OP_UPDATE | SDL_OP_DELETE;

    slot->included =
        !config || sdl_config_table_included(config, slot->table->db, slot->table->name);
    slot->pass_ops =
        !slot->included ? 0
        : config
            ? (uint8_t)(~sdl_config_table_skip_ops(config, slot->table->db, slot->table->name) &
                        all)
            : (uint8_t)all;
}

void
sdl_table_map_cache_store(sdl_table_map_cache *c, uint64_t table_id, sdl_bytes body,
                          sdl_table *table, const sdl_config *config)
{
    sdl_table_map_entry *slot = find_slot(c, table_id);

    if (!slot->used) {
        if ((c->ntables + 1) * 2 > c->nslots) {
            grow(c);
            slot = find_slot(c, table_id);
        }
        c->ntables++;
    }
    sdl_buf_reset(&slot->raw);
    sdl_buf_append(&slot->raw, body.ptr, body.len);
    slot->table_id = table_id;
    slot->table = table;
    slot->used = true;
    filter(slot, config);
}

void
sdl_table_map_cache_trim(sdl_table_map_cache *c)
{
    if (c->ntables <= TABLE_CACHE_MAX && c->arena.used_bytes <= TABLE_ARENA_MAX) {
        return;
    }
    free_slots(c);
    init_slots(c, TABLE_CACHE_MIN);
    sdl_arena_reset(&c->arena);
}

void
sdl_table_map_cache_refilter(sdl_table_map_cache *c, const sdl_config *config)
{
    for (size_t i = 0; i < c->nslots; i++) {
        sdl_table_map_entry *slot = &c->slots[i];
        if (slot->used) {
            filter(slot, config);
        }
    }
}
