/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * offset: where a pipeline resumes (DESIGN.md §3, §4): the position after the last committed
 * source transaction, the number of the batch that committed it, and inside a split
 * transaction the rows of it committed so far. The sink stores it (binlog_offsets for
 * MongoDB) in the same transaction as the batch's rows.
 *
 * A plain value: every string is owned; copy with sdl_offset_copy(), free with
 * sdl_offset_done(). No I/O, no logging. Thread-safe (no shared state).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The offset document of a pipeline. All strings owned; free with sdl_offset_done(). */
typedef struct sdl_offset {
    char *flavor;           /* "mariadb" | "mysql" */
    char *gtid;             /* executed GTID position/set after the last committed transaction */
    char *partial_gtid;     /* split transaction in progress: its GTID; NULL when none */
    uint64_t partial_seq;   /* rows of partial_gtid committed so far */
    char *binlog_file;      /* binlog file of the last committed change (for humans); NULL
                             * when unknown (batch 0: stored as binlog: null) */
    uint64_t binlog_pos;    /* position after it (inside a split transaction: the start of
                             * the rows event of its last committed row) */
    uint64_t batch;         /* number of the last committed batch; 0 = none */
    int64_t source_ts_sec;  /* source commit time of the last committed transaction (inside a
                             * split one: its time); 0 unknown (stored as null) */
    uint64_t rows_applied;  /* row changes committed by this pipeline, in total */
    uint64_t dead_letters;  /* rows set aside as dead letters by this pipeline, in total */
    char *lease_holder;     /* the sdl that holds the pipeline ("host:pid"), NULL when none */
    int64_t lease_until_ms; /* ... until then (ms since the epoch); it renews while it runs */
    uint8_t *snapshot;      /* NULL, or the snapshot's progress (DESIGN.md §9) as a BSON
                             * document of snapshot_len bytes (daemon/snapshot.c reads and
                             * writes it; the sink stores it as is); owned */
    size_t snapshot_len;
    uint8_t *requests; /* NULL, or the snapshot requests `sdl snapshot` stored in the offset
                        * document (BSON array as a document, requests_len bytes); read
                        * only, never written by a commit; owned */
    size_t requests_len;
} sdl_offset;

/* Frees the strings and zeroes @offset. NULL-safe. */
void sdl_offset_done(sdl_offset *offset);
/* @dst becomes a deep copy of @src (@dst's previous contents are not freed). */
void sdl_offset_copy(sdl_offset *dst, const sdl_offset *src);
/* Replaces @offset's snapshot progress by a copy of @len bytes at @doc (NULL: none). */
void sdl_offset_set_snapshot(sdl_offset *offset, const uint8_t *doc, size_t len);
/* Whether two texts are equal, NULL counting as "". */
bool sdl_offset_same_text(const char *a, const char *b);
