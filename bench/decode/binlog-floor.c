/* SPDX-License-Identifier: Apache-2.0 */
/*
 * binlog-floor: how fast can the events of a GTID range arrive, and what does each layer of
 * `sdl tail --format none` add on top? A measurement tool for bench/decode (not installed):
 *
 *   binlog-floor -c CFG --from POS [--until POS] MODE
 *
 *   raw     COM_BINLOG_DUMP (non-blocking, after POS) read to the end and discarded: the
 *           server's binlog sender + libmariadb's packet reads, the floor of any client
 *   crc     raw + sdl_binlog_crc32() over every event
 *   stream  sdl_change_stream_next() until --until (or the end): CRC, event and row decoding
 *   map     stream + sdl_doc_mapper_row() into a reused bson_t (what --format none does)
 *
 * raw and crc read to the end of the server's binlog (--until is ignored), so POS should be
 * the last position before the workload and the workload the last thing in the binlog.
 * Prints events, bytes, rows, wall seconds and this process's user/sys CPU seconds.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <bson/bson.h>

#include "sdl/base/clock.h"
#include "sdl/config/config.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-reader.h"
#include "sdl/mysql/change-stream.h"

static double
cpu_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static bool
run_raw(const sdl_config *config, const char *from, bool crc, uint64_t *events, uint64_t *bytes,
        sdl_error *err)
{
    sdl_binlog_request req = {.connect_state = from, .non_blocking = true};
    sdl_binlog_reader *reader = NULL;
    uint32_t acc = 0;

    if (!sdl_binlog_reader_open(&config->source, &req, &reader, err)) {
        return false;
    }
    for (;;) {
        sdl_bytes ev;
        bool eof = false;
        if (!sdl_binlog_reader_next(reader, &ev, &eof, err)) {
            (void)sdl_binlog_reader_free(reader);
            return false;
        }
        if (eof) {
            break;
        }
        (*events)++;
        *bytes += ev.len;
        if (crc && ev.len > 4) {
            acc ^= sdl_binlog_crc32(SDL_BYTES(ev.ptr, ev.len - 4));
        }
    }
    if (crc) {
        fprintf(stderr, "binlog-floor: crc xor 0x%08" PRIx32 "\n", acc);
    }
    (void)sdl_binlog_reader_free(reader);
    return true;
}

static bool
run_stream(const sdl_config *config, const char *from, const char *until, bool map,
           uint64_t *events, uint64_t *rows, sdl_error *err)
{
    sdl_change_stream_options sopts = {
        .config = config, .pipeline = config->pipeline.name, .from = from, .until = until};
    sdl_change_stream *stream = NULL;
    sdl_doc_mapper_options mopts = {0};
    bson_t doc;
    bool ok = false;

    if (!sdl_change_stream_open(&sopts, &stream, err)) {
        return false;
    }
    bson_init(&doc);
    for (;;) {
        sdl_change c;
        if (!sdl_change_stream_next(stream, &c, err)) {
            goto out;
        }
        if (c.kind == SDL_CHANGE_END) {
            break;
        }
        if (c.kind != SDL_CHANGE_ROW) {
            continue;
        }
        (*rows)++;
        if (map) {
            bson_reinit(&doc);
            if (!sdl_doc_mapper_row(&mopts, &c.pos, &c.row, &doc, err)) {
                goto out;
            }
        }
    }
    ok = true;
out:
    *events = sdl_change_stream_events(stream, NULL);
    bson_destroy(&doc);
    (void)sdl_change_stream_free(stream);
    return ok;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},
        {0},
    };
    const char *config_path = NULL;
    const char *from = NULL;
    const char *until = "now";
    sdl_config *config = NULL;
    sdl_error err = {0};
    uint64_t events = 0, bytes = 0, rows = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        default:
            return 2;
        }
    }
    const char *mode = optind < argc ? argv[optind] : NULL;
    if (!config_path || !from || !mode ||
        (strcmp(mode, "raw") && strcmp(mode, "crc") && strcmp(mode, "stream") &&
         strcmp(mode, "map"))) {
        fprintf(stderr, "usage: binlog-floor -c CFG --from POS [--until POS] "
                        "raw|crc|stream|map\n");
        return 2;
    }
    if (!sdl_config_load(config_path, &config, &err)) {
        fprintf(stderr, "binlog-floor: %s\n", err.message);
        return 1;
    }
    uint64_t t0 = sdl_now_monotonic_usec();
    bool ok = mode[0] == 'r' || mode[0] == 'c'
                  ? run_raw(config, from, mode[0] == 'c', &events, &bytes, &err)
                  : run_stream(config, from, until, mode[0] == 'm', &events, &rows, &err);
    double wall = (double)(sdl_now_monotonic_usec() - t0) / 1e6;
    struct rusage ru;
    (void)getrusage(RUSAGE_SELF, &ru);
    if (!ok) {
        fprintf(stderr, "binlog-floor: %s\n", err.message);
    }
    printf("%s: %" PRIu64 " events, %" PRIu64 " bytes, %" PRIu64 " rows, %.3f s wall, "
           "%.3f s user, %.3f s sys\n",
           mode, events, bytes, rows, wall, cpu_seconds(&ru.ru_utime), cpu_seconds(&ru.ru_stime));
    (void)sdl_config_free(config);
    return ok ? 0 : 1;
}
