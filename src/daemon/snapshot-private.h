/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * snapshot-private: what the files of the snapshot share: snapshot.c (the DBLog state machine,
 * keys, requests, the row tap) and snapshot-progress.c (the progress document: made, read, the
 * next one a chunk's COMMIT carries; the summaries of it). Not an interface: nothing outside
 * src/daemon/ includes it; include/sdl/daemon/snapshot.h is.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/arena.h"
#include "sdl/config/config.h"
#include "sdl/daemon/snapshot.h"
#include "sdl/model/change.h"
#include "sdl/mysql/snapshot-reader.h"

typedef enum chunk_state {
    CHUNK_NONE,    /* a free slot */
    CHUNK_WAIT_LO, /* read; the stream has not reached the low watermark yet */
    CHUNK_WINDOW,  /* between the watermarks: collecting changed keys */
    CHUNK_HI,      /* the high watermark's transaction is being read */
    CHUNK_VIEW,    /* consistent mode: read from the view, due at its position */
} chunk_state;

/* The chunks in flight at most (DESIGN.md §9, "Chunks in flight"): the next chunk of a table
 * is read while the stream catches up with the previous one's high watermark. Consistent mode
 * has one. */
#define SDL_SNAPSHOT_IN_FLIGHT 2

/* One chunk read and not yet emitted: its watermarks, its rows, the keys changed in its
 * window. */
typedef struct snap_chunk {
    chunk_state state;
    char lo[64];
    char hi[64];
    char *hi_gtid;
    sdl_arena arena;         /* its values */
    sdl_snapshot_chunk rows; /* values in arena */
    uint64_t limit;          /* the rows it asked for: fewer read means the table ends there */
    int64_t read_sec;
    char **changed; /* keys (key_bytes) changed in the window, sorted at the high mark */
    size_t nchanged;
    size_t cap_changed;
    bool sorted;
} snap_chunk;

struct sdl_snapshot {
    const sdl_config *config;
    char *wm_db; /* snapshot.watermark_table, split once (the tap looks at every row) */
    const char *wm_table;
    size_t wm_db_len;
    sdl_snapshot_reader *reader;
    bson_t progress; /* the committed progress (DESIGN.md §9) */
    bson_t next;     /* the progress a finished chunk's COMMIT carries */
    char *id;        /* from progress */
    char **tables;   /* from progress */
    size_t ntables;
    uint64_t done;       /* tables done */
    uint64_t chunk;      /* chunks committed of the current table */
    uint64_t rows;       /* rows emitted in total */
    uint64_t table_rows; /* rows emitted of the current table */
    char *last_request;  /* the newest `sdl snapshot` request served ("" none) */
    sdl_value *last_key; /* NULL: from the first row; strings point into progress */
    uint32_t nlast;

    sdl_snapshot_table *table; /* the current table, described */
    uint64_t described;        /* index of the table described (done at the time) */
    /* the estimated time left (DESIGN.md §9): each table's estimated rows, taken once per
     * process and snapshot (est_id) when a table is first described, tables [0, nest) */
    uint64_t *est;
    size_t nest;
    char *est_id;
    uint64_t run_t0_usec; /* when this process began reading this snapshot (0: not yet) */
    uint64_t run_rows0;   /* its rows committed then */
    int64_t started_ms;   /* when the snapshot began (progress "started", wall clock) */
    /* the chunks in flight, oldest first: chunks[(head + i) % SDL_SNAPSHOT_IN_FLIGHT], i <
     * count; all of the current table, the oldest the one the stream meets first */
    snap_chunk chunks[SDL_SNAPSHOT_IN_FLIGHT];
    size_t head;
    size_t count;

    /* snapshot.mode consistent (DESIGN.md §9): one transaction's view at a binlog position */
    bool consistent;
    char *view_pos;           /* the view's position; NULL: no view open */
    char *stream_pos;         /* the stream's position (after its last COMMIT) */
    char *old_view;           /* the last view's position, after the view ended */
    bool reached;             /* the stream is at view_pos: chunks are due, the stream waits */
    uint64_t view_checked;    /* the table (index) the view was found not older than */
    uint64_t view_not_before; /* no new view before (monotonic usec): after an outdated one */
};

/* The server's estimate of each table's rows not taken yet by this process for this snapshot,
 * and when this process began reading it (sdl_snapshot_estimate()). */
void sdl_snapshot_estimate_tables(sdl_snapshot *s);

/* Reads s->progress into the fields (last_key's strings point into it). */
void sdl_snapshot_load_progress(sdl_snapshot *s);

/* The oldest chunk in flight: the one emitted next. */
snap_chunk *sdl_snapshot_head(const sdl_snapshot *s);

/* s->next: the progress after the oldest chunk in flight covered rows [0, covered) of what it read.
 */
void sdl_snapshot_make_next(sdl_snapshot *s, size_t covered, size_t emitted, bool table_done);
