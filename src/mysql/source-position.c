/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/source-position.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

const char *
sdl_source_flavor_name(sdl_binlog_flavor flavor)
{
    switch (flavor) {
    case SDL_BINLOG_FLAVOR_MYSQL:
        return "mysql";
    case SDL_BINLOG_FLAVOR_MARIADB:
        return "mariadb";
    default:
        return "";
    }
}

sdl_binlog_flavor
sdl_source_flavor_of_text(const char *text)
{
    if (!text || !text[0] || strcmp(text, "start") == 0 || strcmp(text, "now") == 0) {
        return SDL_BINLOG_FLAVOR_UNKNOWN;
    }
    /* MySQL GTID sets always contain ':' (uuid:interval); MariaDB positions never do. */
    return strchr(text, ':') ? SDL_BINLOG_FLAVOR_MYSQL : SDL_BINLOG_FLAVOR_MARIADB;
}

void
sdl_source_position_done(sdl_source_position *pos)
{
    sdl_gtid_pos_done(&pos->gtid_pos);
    sdl_gtid_set_done(&pos->gtid_set);
    *pos = (sdl_source_position)SDL_SOURCE_POSITION_INIT;
}

void
sdl_source_position_copy(sdl_source_position *dst, const sdl_source_position *src)
{
    if (dst == src) {
        return;
    }
    sdl_gtid_pos_copy(&dst->gtid_pos, &src->gtid_pos);
    sdl_gtid_set_copy(&dst->gtid_set, &src->gtid_set);
    dst->kind = src->kind;
    dst->at_file = src->at_file;
    memcpy(dst->file, src->file, sizeof(dst->file));
    dst->offset = src->offset;
}

bool
sdl_source_position_parse(const char *text, unsigned accept, sdl_source_position *ret_pos,
                          sdl_error *err)
{
    char file[SDL_SOURCE_FILE_MAX];
    uint64_t offset = 0;

    if ((accept & SDL_SOURCE_ACCEPT_FILE) &&
        sdl_file_position_parse(text, file, sizeof(file), &offset)) {
        sdl_source_position_done(ret_pos);
        ret_pos->kind = SDL_SOURCE_POSITION_FILE;
        memcpy(ret_pos->file, file, sizeof(file));
        ret_pos->offset = offset;
        return true;
    }
    if (!(accept & (SDL_SOURCE_ACCEPT_MARIADB | SDL_SOURCE_ACCEPT_MYSQL))) {
        sdl_error_set(err, SDL_E_INVALID, "'%s' is not a binlog position <file>:<offset>", text);
        return false;
    }
    bool mysql;
    if ((accept & SDL_SOURCE_ACCEPT_MYSQL) && (accept & SDL_SOURCE_ACCEPT_MARIADB)) {
        mysql = sdl_source_flavor_of_text(text) == SDL_BINLOG_FLAVOR_MYSQL;
    } else {
        mysql = (accept & SDL_SOURCE_ACCEPT_MYSQL) != 0;
    }
    if (mysql) {
        sdl_gtid_set set = SDL_GTID_SET_INIT;
        if (!sdl_gtid_set_parse(text, &set, err)) {
            return false;
        }
        sdl_source_position_done(ret_pos);
        ret_pos->kind = SDL_SOURCE_POSITION_MYSQL;
        ret_pos->gtid_set = set;
        return true;
    }
    sdl_gtid_pos gp = SDL_GTID_POS_INIT;
    if (!sdl_gtid_pos_parse(text, &gp, err)) {
        return false;
    }
    sdl_source_position_done(ret_pos);
    ret_pos->kind = SDL_SOURCE_POSITION_MARIADB;
    ret_pos->gtid_pos = gp;
    return true;
}

char *
sdl_source_position_format(const sdl_source_position *pos)
{
    switch (pos->kind) {
    case SDL_SOURCE_POSITION_MYSQL:
        if (!pos->at_file) {
            return sdl_gtid_set_format(&pos->gtid_set);
        }
        /* after a transaction without a GTID */
        return sdl_xasprintf("%s:%" PRIu64, pos->file, pos->offset);
    case SDL_SOURCE_POSITION_FILE:
        return sdl_xasprintf("%s:%" PRIu64, pos->file, pos->offset);
    case SDL_SOURCE_POSITION_MARIADB:
    default:
        return sdl_gtid_pos_format(&pos->gtid_pos);
    }
}

bool
sdl_source_position_is_empty(const sdl_source_position *pos)
{
    switch (pos->kind) {
    case SDL_SOURCE_POSITION_FILE:
        return false;
    case SDL_SOURCE_POSITION_MYSQL:
        return sdl_gtid_set_is_empty(&pos->gtid_set);
    case SDL_SOURCE_POSITION_MARIADB:
    default:
        return pos->gtid_pos.count == 0;
    }
}

void
sdl_source_txn_set_mariadb(sdl_source_txn *txn, const sdl_gtid *gtid)
{
    txn->kind = SDL_SOURCE_TXN_MARIADB;
    txn->gtid = *gtid;
    (void)sdl_gtid_format(gtid, txn->text);
    txn->text_len = (uint32_t)strlen(txn->text);
}

void
sdl_source_txn_set_mysql(sdl_source_txn *txn, const sdl_mysql_gtid *gtid)
{
    txn->kind = SDL_SOURCE_TXN_MYSQL;
    txn->mysql = *gtid;
    (void)sdl_mysql_gtid_format(gtid, txn->text);
    txn->text_len = (uint32_t)strlen(txn->text);
}

void
sdl_source_txn_set_anonymous(sdl_source_txn *txn, const char *file, uint64_t offset)
{
    txn->kind = SDL_SOURCE_TXN_ANONYMOUS;
    (void)snprintf(txn->text, sizeof(txn->text), "%s:%" PRIu64, file, offset);
    txn->text_len = (uint32_t)strlen(txn->text);
}

void
sdl_source_position_advance(sdl_source_position *pos, const sdl_source_txn *txn, const char *file,
                            uint64_t end_offset)
{
    switch (txn->kind) {
    case SDL_SOURCE_TXN_MARIADB:
        sdl_gtid_pos_advance(&pos->gtid_pos, &txn->gtid);
        break;
    case SDL_SOURCE_TXN_MYSQL:
        sdl_gtid_set_add(&pos->gtid_set, &txn->mysql);
        break;
    case SDL_SOURCE_TXN_ANONYMOUS:
        break;
    }
    pos->at_file = txn->kind == SDL_SOURCE_TXN_ANONYMOUS;
    if (file != pos->file) {
        (void)snprintf(pos->file, sizeof(pos->file), "%s", file);
    }
    pos->offset = end_offset;
}

void
sdl_source_position_add_set(sdl_source_position *pos, const sdl_gtid_set *set)
{
    sdl_gtid_set_union(&pos->gtid_set, set);
}

bool
sdl_source_position_contains(const sdl_source_position *pos, const sdl_source_txn *txn)
{
    switch (txn->kind) {
    case SDL_SOURCE_TXN_MARIADB:
        return sdl_gtid_pos_contains(&pos->gtid_pos, &txn->gtid);
    case SDL_SOURCE_TXN_MYSQL:
        return sdl_gtid_set_contains_gtid(&pos->gtid_set, &txn->mysql);
    case SDL_SOURCE_TXN_ANONYMOUS:
    default:
        return false;
    }
}

static int
file_offset_cmp(const sdl_source_position *a, const sdl_source_position *b)
{
    int c = strcmp(a->file, b->file);

    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

bool
sdl_source_position_reached(const sdl_source_position *pos, const sdl_source_position *target)
{
    switch (target->kind) {
    case SDL_SOURCE_POSITION_FILE:
        return file_offset_cmp(pos, target) >= 0;
    case SDL_SOURCE_POSITION_MYSQL:
        return sdl_gtid_set_contains(&pos->gtid_set, &target->gtid_set);
    case SDL_SOURCE_POSITION_MARIADB:
    default:
        for (size_t i = 0; i < target->gtid_pos.count; i++) {
            const sdl_gtid *have =
                sdl_gtid_pos_find(&pos->gtid_pos, target->gtid_pos.gtids[i].domain);
            if (!have || have->seq < target->gtid_pos.gtids[i].seq) {
                return false;
            }
        }
        return true;
    }
}

bool
sdl_source_position_compare(const sdl_source_position *a, const sdl_source_position *b,
                            int *ret_cmp)
{
    if (a->kind != b->kind) {
        return false;
    }
    switch (a->kind) {
    case SDL_SOURCE_POSITION_FILE:
        *ret_cmp = file_offset_cmp(a, b);
        return true;
    case SDL_SOURCE_POSITION_MYSQL: {
        bool ab = sdl_gtid_set_contains(&b->gtid_set, &a->gtid_set); /* a ⊆ b */
        bool ba = sdl_gtid_set_contains(&a->gtid_set, &b->gtid_set); /* b ⊆ a */
        if (!ab && !ba) {
            return false;
        }
        *ret_cmp = ab && ba ? 0 : ab ? -1 : 1;
        return true;
    }
    case SDL_SOURCE_POSITION_MARIADB:
    default:
        return sdl_gtid_pos_compare(&a->gtid_pos, &b->gtid_pos, ret_cmp);
    }
}
