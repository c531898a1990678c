/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * binlog-dump: the bodies of the replication requests a replica sends, built byte by byte
 * (the command byte itself is added by the client library's command call). Pure functions,
 * no I/O, so the exact bytes are unit-tested.
 *
 * COM_BINLOG_DUMP (0x12), MySQL/MariaDB client-server protocol:
 *   int<4> binlog-pos, int<2> flags, int<4> server-id, string<EOF> binlog-filename
 * COM_BINLOG_DUMP_GTID (0x1e), MySQL 5.6+ (sql/rpl_replica.cc request_dump,
 * sql/rpl_source.cc com_binlog_dump_gtid):
 *   int<2> flags, int<4> server-id, int<4> binlog-filename-len, string binlog-filename,
 *   int<8> binlog-pos, int<4> data-size (the server reads it whatever the flags), then the
 *   executed GTID set in Gtid_set::encode() form (gtid-set.h; the tagged form from 8.4 when
 *   the set has tags). The server sends every transaction not in that set.
 *
 * Flags: only BINLOG_DUMP_NON_BLOCK, as a MySQL replica sends (it adds 0x02, heartbeat v2).
 * 0x04, "BINLOG_THROUGH_GTID" in old documents, is sent by no MySQL replica and is
 * MYSQL_RPL_SKIP_TAGGED_GTIDS in 8.3+'s mysql.h: never set it
 * (notes/mysql-replication-protocol.md §4).
 *
 * Never logs; no shared state.
 */

#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/mysql/gtid-set.h"

#define SDL_COM_BINLOG_DUMP      0x12
#define SDL_COM_BINLOG_DUMP_GTID 0x1e

/* flags (sql/rpl_constants.h) */
#define SDL_BINLOG_DUMP_NON_BLOCK 0x0001 /* end the stream at the end of the binlog */

/* Appends the COM_BINLOG_DUMP body to @out. */
void sdl_binlog_dump_packet(uint16_t flags, uint32_t server_id, const char *filename, uint32_t pos,
                            sdl_buf *out);

/* Appends the COM_BINLOG_DUMP_GTID body to @out; the set (possibly empty) is always sent. */
void sdl_binlog_dump_gtid_packet(uint16_t flags, uint32_t server_id, const char *filename,
                                 uint64_t pos, const sdl_gtid_set *executed, sdl_buf *out);
