/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/base/clock.h"
#include "sdl/daemon/http.h"
#include "sdl/daemon/metrics.h"
#include "sdl/daemon/stats.h"

#include "sdltest.h"

static void
known_snapshot(sdl_metrics_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    (void)snprintf(s->pipeline, sizeof(s->pipeline), "main");
    s->rows_applied = 1234;
    s->rows_applied_op[SDL_STATS_INSERT] = 1000;
    s->rows_applied_op[SDL_STATS_UPDATE] = 200;
    s->rows_applied_op[SDL_STATS_DELETE] = 34;
    s->ddl_applied = 3;
    s->txns_applied = 56;
    s->batches_committed = 7;
    s->latency_count = 7;
    s->latency_sum_usec = 1502500; /* 1.5025 s */
    s->latency_buckets[0] = 1;     /* <= 1ms */
    s->latency_buckets[3] = 4;     /* <= 10ms */
    s->latency_buckets[9] = 1;     /* <= 1s */
    s->latency_buckets[11] = 1;    /* +Inf */
    s->retries[SDL_RETRY_COMMIT] = 3;
    s->retries[SDL_RETRY_SOURCE] = 1;
    s->dead_letters[0] = 2; /* too_large */
    s->dead_letters[2] = 1; /* rejected */
    s->staged_batches = 1;
    s->queue_bytes = 4096;
    s->queue_capacity = 67108864;
    s->queue_full_usec = 2500000;
    s->source_events = 9000;
    s->source_bytes = 1048576;
    s->source_rows = 1300;
    s->source_rows_filtered = 66;
    s->source_reconnects = 1;
    s->lag_usec = 2250000; /* 2.25 s */
    s->last_source_ts_sec = 1700000000;
    s->last_commit_usec = 1700000002250000u;
    s->progress_known = true;
    s->progress_age_usec = 150000;
    s->caught_up = false;
    s->target_up = true;
    s->source_up = true;
    s->ready = true;
    s->reader_state = SDL_WORKER_RUNNING;
    s->writer_state = SDL_WORKER_RETRYING;
    (void)snprintf(s->position, sizeof(s->position), "0-1-4711");
    (void)snprintf(s->binlog_file, sizeof(s->binlog_file), "binlog.000042");
    s->binlog_pos = 98765;
    s->process.known = true;
    s->process.cpu_usec = 12340000;
    s->process.rss_bytes = 25165824;
    s->process.vsize_bytes = 314572800;
    s->process.open_fds = 12;
    s->process.max_fds = 1024;
    s->process.start_usec = 1699999000500000u;
}

/* The exact /metrics text for known_snapshot(): tests/data/metrics/known-state.prom (also
 * checked with promtool by tests/integration/test_metrics.py). */

/* First in the file, while the test process has worked well under one clock tick (10 ms):
 * process_cpu_seconds_total must still not be 0 (it once counted /proc's ticks). */
TEST(process_cpu_time_is_finer_than_a_clock_tick)
{
    sdl_process_stats p;

    sdl_process_stats_read(sdl_now_realtime_usec(), &p);
    ASSERT_TRUE(p.known);
    ASSERT_TRUE(p.cpu_usec > 0);
    ASSERT_TRUE(p.cpu_usec < 10u * SDL_USEC_PER_SEC);
    ASSERT_TRUE(p.rss_bytes > 0 && p.open_fds >= 3);
}

TEST(metrics_render_exact_text_for_a_known_state)
{
    sdl_metrics_snapshot s;
    sdl_buf out = {0};

    char *expected = sdltest_read_file(sdltest_data_path("metrics/known-state.prom"), NULL);

    known_snapshot(&s);
    sdl_metrics_render(&s, "9.8.7", &out);
    if (getenv("SDL_TEST_REGENERATE")) { /* after a deliberate change: rewrite the file */
        FILE *f = fopen(sdltest_data_path("metrics/known-state.prom"), "w");
        ASSERT_NOT_NULL(f);
        fputs(sdl_buf_cstr(&out), f);
        fclose(f);
    }
    ASSERT_STR_EQ(sdl_buf_cstr(&out), expected);
    free(expected);
    sdl_buf_done(&out);
}

TEST(metrics_label_values_are_escaped)
{
    sdl_metrics_snapshot s;
    sdl_buf out = {0};
    sdl_buf esc = {0};

    sdl_metrics_escape_label(&esc, "a\\b\"c\nd\te");
    ASSERT_STR_EQ(sdl_buf_cstr(&esc), "a\\\\b\\\"c\\nd\te");

    known_snapshot(&s);
    (void)snprintf(s.pipeline, sizeof(s.pipeline), "m\"a\\in\nx");
    sdl_metrics_render(&s, "1\"0", &out);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out), "sdl_ready{pipeline=\"m\\\"a\\\\in\\nx\"} 1\n");
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out), "version=\"1\\\"0\"} 1\n");
    /* every line stays one line */
    for (const char *p = sdl_buf_cstr(&out); *p;) {
        const char *nl = strchr(p, '\n');
        ASSERT_NOT_NULL(nl);
        ASSERT_TRUE(nl > p);
        ASSERT_TRUE(*p == '#' || strncmp(p, "sdl_", 4) == 0 || strncmp(p, "process_", 8) == 0);
        p = nl + 1;
    }
    sdl_buf_done(&out);
    sdl_buf_done(&esc);
}

TEST(metrics_empty_state_renders_zeroes)
{
    sdl_metrics_snapshot s;
    sdl_buf out = {0};

    memset(&s, 0, sizeof(s));
    sdl_metrics_render(&s, "0", &out);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out),
                        "sdl_rows_applied_total{pipeline=\"\",op=\"insert\"} 0\n");
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out),
                        "sdl_commit_duration_seconds_bucket{pipeline=\"\",le=\"+Inf\"} 0\n");
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out), "sdl_commit_duration_seconds_sum{pipeline=\"\"} 0\n");
    /* no label carries the position: it changes with every commit (it is in /health) */
    ASSERT_NULL(strstr(sdl_buf_cstr(&out), "gtid"));
    ASSERT_NULL(strstr(sdl_buf_cstr(&out), "sdl_table_rows_applied_total"));
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out),
                        "sdl_reader_state{pipeline=\"\",state=\"starting\"} 1\n");
    sdl_buf_done(&out);
}

TEST(metrics_snapshot_reads_the_stats)
{
    sdl_stats *st = sdl_stats_global();
    sdl_metrics_snapshot s;

    (void)snprintf(st->pipeline, sizeof(st->pipeline), "snap");
    sdl_stats_commit(st, 10, 2, 3000, 0, "0-1-9", "binlog.000001", 456);
    sdl_stats_retry(st, SDL_RETRY_STAGE);
    atomic_store(&st->writer_state, SDL_WORKER_IDLE);
    sdl_metrics_snapshot_take(st, &s);
    ASSERT_STR_EQ(s.pipeline, "snap");
    ASSERT_UINT_EQ(s.rows_applied, 10);
    ASSERT_UINT_EQ(s.txns_applied, 2);
    ASSERT_UINT_EQ(s.batches_committed, 1);
    ASSERT_UINT_EQ(s.latency_buckets[2], 1); /* 3 ms <= 5 ms */
    ASSERT_UINT_EQ(s.retries[SDL_RETRY_STAGE], 1);
    ASSERT_STR_EQ(s.position, "0-1-9");
    ASSERT_STR_EQ(s.binlog_file, "binlog.000001");
    ASSERT_UINT_EQ(s.binlog_pos, 456);
    ASSERT_TRUE(s.target_up);
    ASSERT_TRUE(s.progress_known);
    ASSERT_TRUE(s.progress_age_usec < 10 * SDL_USEC_PER_SEC);
    ASSERT_INT_EQ(s.writer_state, SDL_WORKER_IDLE);
    ASSERT_TRUE(s.process.known);
    ASSERT_TRUE(s.process.rss_bytes > 0 && s.process.open_fds >= 3);
    sdl_metrics_snapshot_done(&s);
}

TEST(metrics_per_table_counters_are_opt_in_and_bounded)
{
    sdl_stats *st = sdl_stats_global();
    sdl_metrics_snapshot s;
    sdl_buf out = {0};

    sdl_stats_set_table_limit(st, 0);
    sdl_stats_count_applied(st, "insert", "shop", "orders");
    sdl_metrics_snapshot_take(st, &s);
    ASSERT_FALSE(s.tables_on);
    sdl_metrics_snapshot_done(&s);

    sdl_stats_set_table_limit(st, 2);
    sdl_stats_count_applied(st, "insert", "shop", "orders");
    sdl_stats_count_applied(st, "update", "shop", "orders");
    sdl_stats_count_applied(st, "delete", "crm", "people");
    sdl_stats_count_applied(st, "insert", "shop", "third"); /* over the limit */
    sdl_stats_count_applied(st, "ddl", "shop", "orders");   /* not a row */
    sdl_stats_count_applied(st, "insert", "shop", "orders");
    sdl_metrics_snapshot_take(st, &s);
    ASSERT_TRUE(s.tables_on);
    ASSERT_UINT_EQ(s.ntables, 2);
    ASSERT_STR_EQ(s.tables[0].db, "crm"); /* sorted */
    ASSERT_UINT_EQ(s.tables[0].rows[SDL_STATS_DELETE], 1);
    ASSERT_STR_EQ(s.tables[1].table, "orders");
    ASSERT_UINT_EQ(s.tables[1].rows[SDL_STATS_INSERT], 2);
    ASSERT_UINT_EQ(s.tables[1].rows[SDL_STATS_UPDATE], 1);
    ASSERT_UINT_EQ(s.table_rows_untracked, 1);
    sdl_metrics_render(&s, "0", &out);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out), "sdl_table_rows_applied_total{pipeline=\"snap\","
                                            "db=\"shop\",table=\"orders\",op=\"insert\"} 2\n");
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&out),
                        "sdl_table_rows_untracked_total{pipeline=\"snap\"} 1\n");
    sdl_metrics_snapshot_done(&s);
    sdl_buf_done(&out);
    sdl_stats_set_table_limit(st, 0);
}

TEST(health_live_and_ready)
{
    sdl_metrics_snapshot s;
    sdl_buf b = {0};

    known_snapshot(&s);
    ASSERT_INT_EQ(sdl_health_live(&s, SDL_HEALTH_STUCK_USEC, &b), 200);
    ASSERT_STR_EQ(sdl_buf_cstr(&b),
                  "{\"status\":\"ok\",\"last_progress_seconds_ago\":0.15,\"pipeline\":\"main\","
                  "\"reader\":\"running\",\"writer\":\"retrying\",\"lag_seconds\":2.25,"
                  "\"position\":{\"gtid\":\"0-1-4711\",\"binlog\":{\"file\":\"binlog.000042\","
                  "\"pos\":98765}}}\n");
    sdl_buf_reset(&b);
    s.progress_age_usec = 61 * SDL_USEC_PER_SEC;
    ASSERT_INT_EQ(sdl_health_live(&s, SDL_HEALTH_STUCK_USEC, &b), 503);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&b),
                        "{\"status\":\"stuck\",\"last_progress_seconds_ago\":61,");
    sdl_buf_reset(&b);
    s.progress_known = false; /* not started yet: alive */
    ASSERT_INT_EQ(sdl_health_live(&s, SDL_HEALTH_STUCK_USEC, &b), 200);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&b), "\"last_progress_seconds_ago\":null,");
    sdl_buf_reset(&b);

    known_snapshot(&s);
    ASSERT_INT_EQ(sdl_health_ready(&s, &b), 200);
    ASSERT_STR_EQ(sdl_buf_cstr(&b),
                  "{\"status\":\"ok\",\"reasons\":[],\"ready\":true,\"target_up\":true,"
                  "\"source_up\":true,\"pipeline\":\"main\",\"reader\":\"running\","
                  "\"writer\":\"retrying\",\"lag_seconds\":2.25,\"position\":{\"gtid\":"
                  "\"0-1-4711\",\"binlog\":{\"file\":\"binlog.000042\",\"pos\":98765}}}\n");
    sdl_buf_reset(&b);
    s.target_up = false;
    ASSERT_INT_EQ(sdl_health_ready(&s, &b), 503);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&b), "{\"status\":\"not ready\",\"reasons\":[\"target down\"],"
                                          "\"ready\":true,\"target_up\":false,");
    sdl_buf_reset(&b);
    memset(&s, 0, sizeof(s));
    ASSERT_INT_EQ(sdl_health_ready(&s, &b), 503);
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&b), "\"lag_seconds\":0,\"position\":null}\n");
    ASSERT_STR_CONTAINS(sdl_buf_cstr(&b), "\"reasons\":[\"pipeline not started or recovering\","
                                          "\"target down\",\"source down\"]");
    sdl_buf_done(&b);
}

#if HAVE_MICROHTTPD

/* One request over a fresh connection; returns the whole response (headers and body). */
static char *
http_request(uint16_t port, const char *request)
{
    struct sockaddr_in sin;
    sdl_buf resp = {0};
    char buf[4096];
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ASSERT_TRUE(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ASSERT_INT_EQ(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        sdl_buf_append(&resp, buf, (size_t)n);
    }
    close(fd);
    char *s = sdl_xstrdup(sdl_buf_cstr(&resp));
    sdl_buf_done(&resp);
    return s;
}

/* A free loopback port: bind port 0, read it back, close. */
static uint16_t
free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ASSERT_INT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

TEST(http_serves_metrics_and_health_on_the_configured_address)
{
    sdl_stats *st = sdl_stats_global();
    sdl_http_server *server = NULL;
    sdl_http_server *second = NULL;
    sdl_error err = SDL_ERROR_INIT;
    char listen[64];
    uint16_t port = free_port();
    char *r;

    (void)snprintf(st->pipeline, sizeof(st->pipeline), "web");
    atomic_store(&st->ready, false);
    (void)snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
    ASSERT_OK(sdl_http_start(listen, st, &server, &err), &err);
    ASSERT_UINT_EQ(sdl_http_port(server), port);

    r = http_request(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 200 OK\r\n");
    ASSERT_STR_CONTAINS(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
    ASSERT_STR_CONTAINS(r, "\r\n\r\n# HELP sdl_build_info ");
    ASSERT_STR_CONTAINS(r, "sdl_ready{pipeline=\"web\"} 0\n");
    free(r);

    r = http_request(port, "GET /health/ready HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 503 Service Unavailable\r\n");
    ASSERT_STR_CONTAINS(r, "Content-Type: application/json\r\n");
    ASSERT_STR_CONTAINS(r, "{\"status\":\"not ready\",\"reasons\":[\"pipeline not started");
    free(r);

    atomic_store(&st->ready, true);
    atomic_store(&st->target_up, true);
    atomic_store(&st->source_up, true);
    r = http_request(port, "GET /health/ready HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 200 OK\r\n");
    free(r);

    r = http_request(port, "GET /health/live HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 200 OK\r\n");
    ASSERT_STR_CONTAINS(r, "{\"status\":\"ok\",");
    free(r);

    r = http_request(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 200 OK\r\n");
    ASSERT_TRUE(strstr(r, "# HELP") == NULL);
    free(r);

    r = http_request(port, "GET /metrics/ HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 404 Not Found\r\n");
    free(r);
    r = http_request(port, "GET / HTTP/1.0\r\n\r\n");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 404 Not Found\r\n");
    free(r);

    r = http_request(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_STR_CONTAINS(r, "HTTP/1.1 405 Method Not Allowed\r\n");
    ASSERT_STR_CONTAINS(r, "Allow: GET, HEAD\r\n");
    free(r);

    /* The address is taken: a second server fails with a message naming it. */
    ASSERT_FALSE(sdl_http_start(listen, st, &second, &err));
    ASSERT_NULL(second);
    ASSERT_STR_CONTAINS(err.message, "cannot serve HTTP on 127.0.0.1:");
    ASSERT_STR_CONTAINS(err.message, "Address already in use");

    server = sdl_http_stop(server);
    ASSERT_NULL(server);
    ASSERT_NULL(sdl_http_stop(NULL));
}

TEST(http_binds_ipv6_loopback_and_rejects_bad_addresses)
{
    sdl_http_server *server = NULL;
    sdl_error err = SDL_ERROR_INIT;

    ASSERT_FALSE(sdl_http_start("localhost:9632", sdl_stats_global(), &server, &err));
    ASSERT_STR_CONTAINS(err.message, "invalid http.listen 'localhost:9632'");
    /* [::1] may be missing in a container without IPv6; only check a clean outcome */
    sdl_error_clear(&err);
    ASSERT_FALSE(sdl_http_start("127.0.0.1:0", sdl_stats_global(), &server, &err));
    ASSERT_STR_CONTAINS(err.message, "needs a port between 1 and 65535");
    sdl_error_clear(&err);
    char listen[64];
    (void)snprintf(listen, sizeof(listen), "[::1]:%u", (unsigned)free_port());
    if (sdl_http_start(listen, sdl_stats_global(), &server, &err)) {
        ASSERT_NOT_NULL(server);
        server = sdl_http_stop(server);
    } else {
        sdltest_note("no IPv6 loopback here: %s", err.message);
        ASSERT_STR_CONTAINS(err.message, "cannot serve HTTP on [::1]:");
    }
}

#endif
