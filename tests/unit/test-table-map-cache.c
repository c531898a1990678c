/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/mysql/table-map-cache.h"

#include "sdltest.h"

static sdl_bytes
body(const char *text)
{
    return (sdl_bytes){(const uint8_t *)text, strlen(text)};
}

static sdl_table *
table(sdl_table_map_cache *c, uint64_t id)
{
    sdl_table *t = sdl_arena_alloc(sdl_table_map_cache_arena(c), sizeof(*t));

    memset(t, 0, sizeof(*t));
    t->table_id = id;
    t->db = "db";
    t->name = "t";
    return t;
}

static sdl_config *
config(const char *tables)
{
    char text[512];
    sdl_config *config = NULL;
    sdl_error err = SDL_ERROR_INIT;

    (void)snprintf(text, sizeof(text), "source: {user: u, server_id: 1}\ntables:\n%s", tables);
    if (!sdl_config_load_string("t.yaml", text, strlen(text), &config, &err)) {
        fprintf(stderr, "%s\n", err.message);
        abort();
    }
    return config;
}

TEST(maps_are_reused_while_their_bytes_stay_the_same)
{
    sdl_table_map_cache c;
    sdl_config *excluded = config("  exclude: ['db.t']\n");

    sdl_table_map_cache_init(&c);
    ASSERT_NULL(sdl_table_map_cache_lookup(&c, 7));
    ASSERT_NULL(sdl_table_map_cache_same(&c, 7, body("map7")));
    sdl_table *t = table(&c, 7);
    sdl_table_map_cache_store(&c, 7, body("map7"), t, NULL);
    const sdl_table_map_entry *e = sdl_table_map_cache_same(&c, 7, body("map7"));
    ASSERT_NOT_NULL(e);
    ASSERT_TRUE(e->table == t);
    ASSERT_TRUE(e->included);
    ASSERT_UINT_EQ(e->pass_ops, SDL_OP_INSERT | SDL_OP_UPDATE | SDL_OP_DELETE);
    ASSERT_NULL(sdl_table_map_cache_same(&c, 7, body("map7, altered")));
    sdl_table *t2 = table(&c, 7);
    sdl_table_map_cache_store(&c, 7, body("map7, altered"), t2, excluded);
    e = sdl_table_map_cache_lookup(&c, 7);
    ASSERT_TRUE(e->table == t2);
    ASSERT_FALSE(e->included);
    ASSERT_UINT_EQ(e->pass_ops, 0);
    ASSERT_UINT_EQ(c.ntables, 1);
    sdl_table_map_cache_done(&c);
    (void)sdl_config_free(excluded);
}

TEST(a_reload_filters_the_cached_tables_again_with_skip_ops)
{
    sdl_table_map_cache c;
    sdl_config *skip = config("  skip_ops: [{match: 'db.*', ops: [delete, update]}]\n");

    sdl_table_map_cache_init(&c);
    sdl_table_map_cache_store(&c, 7, body("map7"), table(&c, 7), NULL);
    sdl_table_map_cache_refilter(&c, skip);
    const sdl_table_map_entry *e = sdl_table_map_cache_lookup(&c, 7);
    ASSERT_TRUE(e->included);
    ASSERT_UINT_EQ(e->pass_ops, SDL_OP_INSERT);
    sdl_table_map_cache_done(&c);
    (void)sdl_config_free(skip);
}

TEST(a_transaction_mapping_many_tables_keeps_them_all_until_it_ends)
{
    sdl_table_map_cache c;
    char raw[32];

    sdl_table_map_cache_init(&c);
    for (uint64_t id = 1; id <= 2000; id++) {
        (void)snprintf(raw, sizeof(raw), "map%llu", (unsigned long long)id);
        sdl_table_map_cache_store(&c, id * 1000003u, body(raw), table(&c, id), NULL);
    }
    ASSERT_UINT_EQ(c.ntables, 2000);
    ASSERT_TRUE(c.nslots >= 4000);
    for (uint64_t id = 1; id <= 2000; id++) {
        const sdl_table_map_entry *e = sdl_table_map_cache_lookup(&c, id * 1000003u);
        ASSERT_NOT_NULL(e);
        ASSERT_UINT_EQ(e->table->table_id, id);
    }
    /* between transactions: past 1,024 tables the cache is emptied */
    sdl_table_map_cache_trim(&c);
    ASSERT_UINT_EQ(c.ntables, 0);
    ASSERT_NULL(sdl_table_map_cache_lookup(&c, 1000003u));
    /* a small one stays */
    sdl_table_map_cache_store(&c, 1, body("map1"), table(&c, 1), NULL);
    sdl_table_map_cache_trim(&c);
    ASSERT_NOT_NULL(sdl_table_map_cache_lookup(&c, 1));
    sdl_table_map_cache_done(&c);
}
