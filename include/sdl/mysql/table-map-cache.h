/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * table-map-cache: the TABLE_MAP events of a source stream, by table id.
 *
 * Table maps are resent before every statement's rows, so the cache only has to hold the
 * tables of the current transaction; an entry whose raw event body did not change is reused
 * without parsing again (a stream of single-row statements sends one TABLE_MAP per row).
 *
 * An open-addressing hash table that grows while a transaction maps more tables (a statement
 * may map any number: a multi-table UPDATE, triggers writing other tables), so a table mapped
 * in the current transaction is never evicted. Between transactions
 * (sdl_table_map_cache_trim), once it holds more than 1,024 tables or its parsed maps take
 * more than 16 MiB, it is emptied at once: the source maps every table again before the rows
 * of the next statement that uses it.
 *
 * Parsed tables live in the cache's arena until it is trimmed. Never logs. One thread at a
 * time. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/config/config.h"
#include "sdl/model/change.h"

typedef struct sdl_table_map_entry {
    uint64_t table_id;
    sdl_buf raw;      /* TABLE_MAP body the table was parsed from */
    sdl_table *table; /* parsed, from the cache's arena */
    bool included;    /* passes the include/exclude filters */
    uint8_t pass_ops; /* bit (1 << sdl_row_op) set when rows of that op are replicated: 0 when
                       * not included, else all but tables.skip_ops's */
    bool used;        /* the slot holds a table */
} sdl_table_map_entry;

typedef struct sdl_table_map_cache {
    sdl_arena arena;            /* parsed table maps */
    sdl_table_map_entry *slots; /* nslots entries, a power of two, at most half used */
    size_t nslots;
    size_t ntables; /* slots in use */
} sdl_table_map_cache;

void sdl_table_map_cache_init(sdl_table_map_cache *c);
void sdl_table_map_cache_done(sdl_table_map_cache *c);

/* The arena a table about to be stored is to be parsed into. */
static inline sdl_arena *
sdl_table_map_cache_arena(sdl_table_map_cache *c)
{
    return &c->arena;
}

/* (internal) The slot of @table_id, or the free slot where it would go. Inline: the lookups
 * run once per rows event and TABLE_MAP. */
static inline sdl_table_map_entry *
sdl_table_map_cache_slot_(const sdl_table_map_cache *c, uint64_t table_id)
{
    size_t mask = c->nslots - 1;

    for (size_t i = (size_t)((table_id * 0x9e3779b97f4a7c15u) >> 32) & mask;; i = (i + 1) & mask) {
        sdl_table_map_entry *slot = &c->slots[i];
        if (!slot->used || slot->table_id == table_id) {
            return slot;
        }
    }
}

/* The entry of @table_id when its TABLE_MAP body was @body: NULL when the table is not
 * cached or was mapped differently (then parse it and sdl_table_map_cache_store() it). */
static inline const sdl_table_map_entry *
sdl_table_map_cache_same(const sdl_table_map_cache *c, uint64_t table_id, sdl_bytes body)
{
    const sdl_table_map_entry *slot = sdl_table_map_cache_slot_(c, table_id);

    if (slot->used && sdl_bytes_equal(SDL_BYTES(slot->raw.data, slot->raw.len), body)) {
        return slot;
    }
    return NULL;
}

/* Stores @table (parsed from @body into the cache's arena) as @table_id's map, with its
 * filters (included, pass_ops) under @config; a NULL @config includes every table and op. */
void sdl_table_map_cache_store(sdl_table_map_cache *c, uint64_t table_id, sdl_bytes body,
                               sdl_table *table, const sdl_config *config);

/* The entry of @table_id; NULL when the table is not mapped. */
static inline const sdl_table_map_entry *
sdl_table_map_cache_lookup(const sdl_table_map_cache *c, uint64_t table_id)
{
    const sdl_table_map_entry *slot = sdl_table_map_cache_slot_(c, table_id);

    return slot->used ? slot : NULL;
}

/* Between transactions: empties a cache that grew past its bounds. */
void sdl_table_map_cache_trim(sdl_table_map_cache *c);

/* The table filters of @config apply to every cached table from now on. */
void sdl_table_map_cache_refilter(sdl_table_map_cache *c, const sdl_config *config);
