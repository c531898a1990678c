/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"
#include "sdl/config/config.h"
#include "sdl/daemon/http.h"
#include "sdl/daemon/metrics.h"

#if HAVE_MICROHTTPD
#include <microhttpd.h>
#endif

struct sdl_http_server {
    sdl_stats *stats;
    uint16_t port;
#if HAVE_MICROHTTPD
    struct MHD_Daemon *daemon;
#endif
};

uint16_t
sdl_http_port(const sdl_http_server *server)
{
    return server ? server->port : 0;
}

#if HAVE_MICROHTTPD

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned status, const char *content_type, sdl_buf *body,
        bool head)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len = head ? 0 : body->len;

    /* MUST_COPY: the buffer is freed when this returns. */
    resp =
        MHD_create_response_from_buffer(len, len ? body->data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    static int first_call_marker;
    sdl_http_server *server = cls;
    sdl_metrics_snapshot *snap = NULL;
    const char *json = "application/json";
    sdl_buf body = {0};
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    unsigned status;
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    /* libmicrohttpd calls once with the headers, then once per chunk of the body, then a
     * last time with no data: the answer comes then; bodies are read and ignored (no
     * endpoint takes one). */
    if (*req_cls == NULL) {
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        sdl_buf_append_str(&body, "{\"status\":\"method not allowed\"}\n");
        ret = respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, json, &body, false);
        goto out;
    }
    snap = sdl_xmalloc(sizeof(*snap));
    sdl_metrics_snapshot_take(server->stats, snap);
    if (strcmp(url, "/metrics") == 0) {
        sdl_metrics_render(snap, SDL_VERSION, &body);
        ret = respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &body, head);
    } else if (strcmp(url, "/health/live") == 0) {
        status = (unsigned)sdl_health_live(snap, SDL_HEALTH_STUCK_USEC, &body);
        ret = respond(conn, status, json, &body, head);
    } else if (strcmp(url, "/health/ready") == 0) {
        status = (unsigned)sdl_health_ready(snap, &body);
        ret = respond(conn, status, json, &body, head);
    } else {
        sdl_buf_append_str(&body, "{\"status\":\"not found\",\"endpoints\":[\"/metrics\","
                                  "\"/health/live\",\"/health/ready\"]}\n");
        ret = respond(conn, MHD_HTTP_NOT_FOUND, json, &body, head);
    }
out:
    if (snap) {
        sdl_metrics_snapshot_done(snap);
    }
    free(snap);
    sdl_buf_done(&body);
    return ret;
}

bool
sdl_http_start(const char *listen, sdl_stats *stats, sdl_http_server **ret_server, sdl_error *err)
{
    struct sockaddr_storage ss;
    char host[64];
    const char *why;
    int family = 0;
    uint16_t port = 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    sdl_http_server *server;
    const union MHD_DaemonInfo *info;

    why = sdl_config_split_listen(listen, host, sizeof(host), &family, &port);
    if (why) {
        sdl_error_set(err, SDL_E_CONFIG, "invalid http.listen '%s': %s", listen, why);
        return false;
    }
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        (void)inet_pton(AF_INET6, host, &sin6->sin6_addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        (void)inet_pton(AF_INET, host, &sin->sin_addr);
    }
    server = sdl_xcalloc(1, sizeof(*server));
    server->stats = stats;
    server->port = port;
    /* The server's thread inherits the signal mask: with every signal blocked there, SIGTERM
     * and SIGINT reach the pipeline's threads, whose blocking calls they are meant to end. */
    sigset_t all, old;
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, &old);
    errno = 0;
    server->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, handle, server, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    int e = errno;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!server->daemon) {
        sdl_error_set(err, SDL_E_IO, "cannot serve HTTP on %s: %s", listen,
                      e ? strerror(e) : "libmicrohttpd could not start");
        err->sys_errno = e;
        free(server);
        return false;
    }
    info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port) {
        server->port = info->port;
    }
    *ret_server = server;
    return true;
}

sdl_http_server *
sdl_http_stop(sdl_http_server *server)
{
    if (!server) {
        return NULL;
    }
    MHD_stop_daemon(server->daemon);
    free(server);
    return NULL;
}

#else /* !HAVE_MICROHTTPD */

bool
sdl_http_start(const char *listen, sdl_stats *stats, sdl_http_server **ret_server, sdl_error *err)
{
    (void)stats;
    (void)ret_server;
    sdl_error_set(err, SDL_E_CONFIG,
                  "http.listen is '%s' but this sdl was built without libmicrohttpd "
                  "(-Dhttp=disabled): remove the 'http' section or rebuild",
                  listen);
    return false;
}

sdl_http_server *
sdl_http_stop(sdl_http_server *server)
{
    free(server);
    return NULL;
}

#endif
