/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/bytes.h"
#include "sdl/mapping/doc-mapper.h"
#include "sdl/mapping/geojson.h"

#include "sdltest.h"

/* WKB writer for the tests: every geometry in the byte order of .le. */
typedef struct wkbw {
    sdl_buf b;
    bool le;
} wkbw;

static void
w_u32(wkbw *w, uint32_t v)
{
    if (w->le) {
        sdl_buf_append_u32le(&w->b, v);
    } else {
        for (int i = 3; i >= 0; i--) {
            sdl_buf_append_byte(&w->b, (uint8_t)(v >> (8 * i)));
        }
    }
}

static void
w_double(wkbw *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    if (w->le) {
        sdl_buf_append_u64le(&w->b, v);
    } else {
        for (int i = 7; i >= 0; i--) {
            sdl_buf_append_byte(&w->b, (uint8_t)(v >> (8 * i)));
        }
    }
}

static void
w_head(wkbw *w, uint32_t type)
{
    sdl_buf_append_byte(&w->b, w->le ? 1 : 0);
    w_u32(w, type);
}

static void
w_points(wkbw *w, uint32_t n, double base)
{
    w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        w_double(w, base + i);
        w_double(w, -(base + i) / 2);
    }
}

static void
w_init(wkbw *w, bool le, uint32_t srid)
{
    w->b = (sdl_buf)SDL_BUF_INIT;
    w->le = le;
    sdl_buf_append_u32le(&w->b, srid); /* the SRID prefix is always little endian */
}

/* Converts and prints {"g": geometry} (static buffer), or NULL with @err set. */
static const char *
geo_json(const uint8_t *p, size_t len, sdl_error *err)
{
    static char out[8192];
    bson_t doc = BSON_INITIALIZER;
    sdl_buf buf = SDL_BUF_INIT;
    const char *ret = NULL;

    if (sdl_geojson_append(&doc, "g", 1, p, len, err)) {
        ASSERT_OK(sdl_doc_mapper_to_json(&doc, &buf, err), err);
        (void)snprintf(out, sizeof(out), "%s", sdl_buf_cstr(&buf));
        ret = out;
    } else {
        ASSERT_UINT_EQ(doc.len, 5); /* untouched */
    }
    sdl_buf_done(&buf);
    bson_destroy(&doc);
    return ret;
}

static const char *
geo_ok(wkbw *w)
{
    sdl_error err = SDL_ERROR_INIT;
    const char *s = geo_json(w->b.data, w->b.len, &err);
    if (!s) {
        sdltest_fail(__FILE__, __LINE__, "geojson: %s", err.message);
    }
    return s;
}

TEST(geojson_point_both_byte_orders)
{
    for (int le = 0; le <= 1; le++) {
        wkbw w;
        w_init(&w, le, 4326);
        w_head(&w, 1);
        w_double(&w, 13.5);
        w_double(&w, -52.25);
        ASSERT_STR_EQ(geo_ok(&w),
                      "{\"g\":{\"type\":\"Point\",\"coordinates\":[13.5,-52.25],\"srid\":4326}}");
        sdl_buf_done(&w.b);
    }
}

TEST(geojson_known_point_bytes)
{
    /* SELECT ST_GeomFromText('POINT(1 2)') as stored: SRID 0, little-endian WKB. */
    size_t len;
    uint8_t *p = sdltest_hex("00000000 01 01000000 000000000000f03f 0000000000000040", &len);
    sdl_error err = SDL_ERROR_INIT;
    ASSERT_STR_EQ(geo_json(p, len, &err),
                  "{\"g\":{\"type\":\"Point\",\"coordinates\":[1.0,2.0],\"srid\":0}}");
    free(p);
    /* The same point in big-endian WKB, SRID 3857, and a huge SRID. */
    p = sdltest_hex("110f0000 00 00000001 3ff0000000000000 4000000000000000", &len);
    ASSERT_STR_EQ(geo_json(p, len, &err),
                  "{\"g\":{\"type\":\"Point\",\"coordinates\":[1.0,2.0],\"srid\":3857}}");
    free(p);
    p = sdltest_hex("ffffffff 00 00000001 3ff0000000000000 4000000000000000", &len);
    ASSERT_STR_EQ(geo_json(p, len, &err),
                  "{\"g\":{\"type\":\"Point\",\"coordinates\":[1.0,2.0],\"srid\":4294967295}}");
    free(p);
}

TEST(geojson_linestring_and_polygon)
{
    for (int le = 0; le <= 1; le++) {
        wkbw w;
        w_init(&w, le, 0);
        w_head(&w, 2);
        w_points(&w, 3, 1);
        ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"LineString\",\"coordinates\":[[1.0,-0.5],"
                                  "[2.0,-1.0],[3.0,-1.5]],\"srid\":0}}");
        sdl_buf_done(&w.b);

        w_init(&w, le, 0);
        w_head(&w, 3);
        w_u32(&w, 2);
        w_points(&w, 2, 0);
        w_points(&w, 1, 10);
        ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"Polygon\",\"coordinates\":[[[0.0,-0.0],"
                                  "[1.0,-0.5]],[[10.0,-5.0]]],\"srid\":0}}");
        sdl_buf_done(&w.b);

        w_init(&w, le, 0);
        w_head(&w, 3);
        w_u32(&w, 0);
        ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"Polygon\",\"coordinates\":[],\"srid\":0}}");
        sdl_buf_done(&w.b);
    }
}

TEST(geojson_multi_geometries_mixed_byte_orders)
{
    wkbw w;

    /* MultiPoint whose members alternate byte order. */
    w_init(&w, true, 7);
    w_head(&w, 4);
    w_u32(&w, 2);
    w.le = false;
    w_head(&w, 1);
    w_double(&w, 1);
    w_double(&w, 2);
    w.le = true;
    w_head(&w, 1);
    w_double(&w, 3);
    w_double(&w, 4);
    ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"MultiPoint\",\"coordinates\":[[1.0,2.0],"
                              "[3.0,4.0]],\"srid\":7}}");
    sdl_buf_done(&w.b);

    for (int le = 0; le <= 1; le++) {
        w_init(&w, le, 0);
        w_head(&w, 5);
        w_u32(&w, 2);
        w_head(&w, 2);
        w_points(&w, 2, 1);
        w_head(&w, 2);
        w_points(&w, 1, 5);
        ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"MultiLineString\",\"coordinates\":"
                                  "[[[1.0,-0.5],[2.0,-1.0]],[[5.0,-2.5]]],\"srid\":0}}");
        sdl_buf_done(&w.b);

        w_init(&w, le, 0);
        w_head(&w, 6);
        w_u32(&w, 2);
        w_head(&w, 3);
        w_u32(&w, 1);
        w_points(&w, 2, 1);
        w_head(&w, 3);
        w_u32(&w, 0);
        ASSERT_STR_EQ(geo_ok(&w), "{\"g\":{\"type\":\"MultiPolygon\",\"coordinates\":"
                                  "[[[[1.0,-0.5],[2.0,-1.0]]],[]],\"srid\":0}}");
        sdl_buf_done(&w.b);
    }
}

TEST(geojson_geometry_collection_nested)
{
    for (int le = 0; le <= 1; le++) {
        wkbw w;
        w_init(&w, le, 4326);
        w_head(&w, 7);
        w_u32(&w, 3);
        w_head(&w, 1);
        w_double(&w, 1);
        w_double(&w, 2);
        w_head(&w, 7);
        w_u32(&w, 1);
        w_head(&w, 2);
        w_points(&w, 1, 3);
        w_head(&w, 7);
        w_u32(&w, 0);
        ASSERT_STR_EQ(geo_ok(&w),
                      "{\"g\":{\"type\":\"GeometryCollection\",\"geometries\":["
                      "{\"type\":\"Point\",\"coordinates\":[1.0,2.0]},"
                      "{\"type\":\"GeometryCollection\",\"geometries\":["
                      "{\"type\":\"LineString\",\"coordinates\":[[3.0,-1.5]]}]},"
                      "{\"type\":\"GeometryCollection\",\"geometries\":[]}],\"srid\":4326}}");
        sdl_buf_done(&w.b);
    }
}

static void
expect_reject(const sdl_buf *b, size_t len, sdl_errc code, const char *msg)
{
    sdl_error err = SDL_ERROR_INIT;
    if (geo_json(b->data, len, &err)) {
        sdltest_fail(__FILE__, __LINE__, "accepted %zu bytes", len);
    }
    ASSERT_INT_EQ(err.code, code);
    ASSERT_STR_CONTAINS(err.message, msg);
}

TEST(geojson_rejects_truncated_input_at_every_length)
{
    wkbw w;
    w_init(&w, true, 0);
    w_head(&w, 7);
    w_u32(&w, 2);
    w_head(&w, 3);
    w_u32(&w, 1);
    w_points(&w, 4, 0);
    w_head(&w, 4);
    w_u32(&w, 1);
    w_head(&w, 1);
    w_double(&w, 1);
    w_double(&w, 2);
    ASSERT_NOT_NULL(geo_ok(&w));
    for (size_t len = 0; len < w.b.len; len++) {
        sdl_error err = SDL_ERROR_INIT;
        /* An exact-size copy, so ASan/valgrind catch any read past the end. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, w.b.data, len);
        ASSERT_NULL(geo_json(copy, len, &err));
        ASSERT_INT_EQ(err.code, SDL_E_PROTOCOL);
        free(copy);
    }
    expect_reject(&w.b, 3, SDL_E_PROTOCOL, "shorter than the 4-byte SRID");
    expect_reject(&w.b, 20, SDL_E_PROTOCOL, "count exceeds the remaining bytes");
    /* Trailing garbage. */
    sdl_buf_append_byte(&w.b, 0);
    expect_reject(&w.b, w.b.len, SDL_E_PROTOCOL, "trailing bytes after the geometry");
    sdl_buf_done(&w.b);
}

TEST(geojson_rejects_bad_headers)
{
    wkbw w;

    w_init(&w, true, 0);
    sdl_buf_append_byte(&w.b, 2);
    w_u32(&w, 1);
    expect_reject(&w.b, w.b.len, SDL_E_PROTOCOL, "byte order must be 0 or 1");
    sdl_buf_done(&w.b);

    uint32_t bad_types[] = {0, 8, 17, 999, 4000};
    for (size_t i = 0; i < SDL_ARRAY_SIZE(bad_types); i++) {
        w_init(&w, true, 0);
        w_head(&w, bad_types[i]);
        w_double(&w, 0);
        w_double(&w, 0);
        expect_reject(&w.b, w.b.len, SDL_E_PROTOCOL, "unknown geometry type");
        sdl_buf_done(&w.b);
    }
    /* ISO Z, M, ZM and EWKB flag variants. */
    uint32_t zm_types[] = {1001, 2001, 3001, 1007, 0x80000001u, 0x40000001u, 0x20000001u};
    for (size_t i = 0; i < SDL_ARRAY_SIZE(zm_types); i++) {
        for (int le = 0; le <= 1; le++) {
            w_init(&w, le, 0);
            w_head(&w, zm_types[i]);
            w_double(&w, 0);
            w_double(&w, 0);
            w_double(&w, 0);
            expect_reject(&w.b, w.b.len, SDL_E_UNSUPPORTED, "Z/M coordinates");
            sdl_buf_done(&w.b);
        }
    }
    /* A MultiPoint holding a LineString. */
    w_init(&w, true, 0);
    w_head(&w, 4);
    w_u32(&w, 1);
    w_head(&w, 2);
    w_points(&w, 1, 0);
    expect_reject(&w.b, w.b.len, SDL_E_PROTOCOL, "member type does not match");
    sdl_buf_done(&w.b);
    /* A huge count with few bytes behind it. */
    w_init(&w, true, 0);
    w_head(&w, 2);
    w_u32(&w, 0xFFFFFFFFu);
    w_double(&w, 0);
    w_double(&w, 0);
    expect_reject(&w.b, w.b.len, SDL_E_PROTOCOL, "count exceeds the remaining bytes");
    sdl_buf_done(&w.b);
}

TEST(geojson_collection_nesting_limit)
{
    wkbw w;

    for (int depth = SDL_GEOJSON_MAX_DEPTH; depth <= SDL_GEOJSON_MAX_DEPTH + 1; depth++) {
        w_init(&w, true, 0);
        for (int i = 0; i < depth; i++) {
            w_head(&w, 7);
            w_u32(&w, 1);
        }
        w_head(&w, 1);
        w_double(&w, 0);
        w_double(&w, 0);
        sdl_error err = SDL_ERROR_INIT;
        const char *s = geo_json(w.b.data, w.b.len, &err);
        if (depth == SDL_GEOJSON_MAX_DEPTH) {
            ASSERT_NOT_NULL(s);
        } else {
            ASSERT_NULL(s);
            ASSERT_STR_CONTAINS(err.message, "nested too deep");
        }
        sdl_buf_done(&w.b);
    }
}
