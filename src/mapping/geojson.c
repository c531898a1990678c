/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/geojson.h"

#include <limits.h>
#include <string.h>

/*
 * WKB (OGC 06-103r4 §8.2): byte order (0 = big endian, 1 = little endian), uint32 type,
 * then the body: Point = x, y doubles; LineString = uint32 n, n points; Polygon = uint32
 * rings, each a LineString body; Multi* and GeometryCollection = uint32 n, n full WKB
 * geometries. walk() reads one geometry; with @out NULL it only validates, so the caller can
 * validate everything first and leave its document untouched on failure.
 */

enum {
    WKB_POINT = 1,
    WKB_LINESTRING,
    WKB_POLYGON,
    WKB_MULTIPOINT,
    WKB_MULTILINESTRING,
    WKB_MULTIPOLYGON,
    WKB_GEOMETRYCOLLECTION,
};

static const char *const type_names[] = {
    NULL,         "Point",           "LineString",   "Polygon",
    "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection",
};

typedef struct wkb {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    sdl_error *err;
} wkb;

static bool
fail(wkb *w, sdl_errc code, const char *what)
{
    sdl_error_set(w->err, code, "invalid WKB at byte %zu: %s", (size_t)(w->p - w->start), what);
    return false;
}

static bool
read_u32(wkb *w, bool le, uint32_t *ret)
{
    if (w->end - w->p < 4) {
        return fail(w, SDL_E_PROTOCOL, "truncated");
    }
    const uint8_t *p = w->p;
    *ret = le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
    w->p += 4;
    return true;
}

static double
get_double(const uint8_t *p, bool le)
{
    uint64_t v = 0;
    double d;

    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[le ? i : 7 - i] << (8 * i);
    }
    memcpy(&d, &v, sizeof(d));
    return d;
}

/* A count of items each at least @min_item bytes long; checked against what remains. */
static bool
read_count(wkb *w, bool le, size_t min_item, uint32_t *ret)
{
    if (!read_u32(w, le, ret)) {
        return false;
    }
    if ((size_t)*ret > (size_t)(w->end - w->p) / min_item) {
        w->p -= 4;
        return fail(w, SDL_E_PROTOCOL, "count exceeds the remaining bytes");
    }
    return true;
}

static bool
points(wkb *w, bool le, uint32_t n, bson_t *out)
{
    /* read_count() has checked n * 16 bytes are there. */
    for (uint32_t i = 0; i < n; i++) {
        if (out) {
            char buf[16];
            const char *k;
            size_t klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
            bson_t xy;
            bson_append_array_begin(out, k, (int)klen, &xy);
            bson_append_double(&xy, "0", 1, get_double(w->p, le));
            bson_append_double(&xy, "1", 1, get_double(w->p + 8, le));
            bson_append_array_end(out, &xy);
        }
        w->p += 16;
    }
    return true;
}

static bool
read_header(wkb *w, uint32_t *ret_type, bool *ret_le)
{
    if (w->p >= w->end) {
        return fail(w, SDL_E_PROTOCOL, "truncated");
    }
    if (*w->p > 1) {
        return fail(w, SDL_E_PROTOCOL, "byte order must be 0 or 1");
    }
    *ret_le = *w->p == 1;
    w->p++;
    uint32_t type;
    if (!read_u32(w, *ret_le, &type)) {
        return false;
    }
    if (type & 0xE0000000u || (type >= 1000 && type < 4000)) {
        w->p -= 4;
        return fail(w, SDL_E_UNSUPPORTED, "Z/M coordinates (or an EWKB SRID) are not supported");
    }
    if (type < WKB_POINT || type > WKB_GEOMETRYCOLLECTION) {
        w->p -= 4;
        return fail(w, SDL_E_PROTOCOL, "unknown geometry type");
    }
    *ret_type = type;
    return true;
}

/* The coordinates array of a geometry of @type whose header has been read. */
static bool
coordinates(wkb *w, uint32_t type, bool le, bson_t *out, const char *key, int key_len)
{
    bson_t arr;
    bson_t *a = out ? &arr : NULL;
    uint32_t n;
    bool ok = true;

    if (type == WKB_POINT) {
        if (w->end - w->p < 16) {
            return fail(w, SDL_E_PROTOCOL, "truncated");
        }
        if (out) {
            bson_append_array_begin(out, key, key_len, &arr);
            bson_append_double(&arr, "0", 1, get_double(w->p, le));
            bson_append_double(&arr, "1", 1, get_double(w->p + 8, le));
            bson_append_array_end(out, &arr);
        }
        w->p += 16;
        return true;
    }
    if (out) {
        bson_append_array_begin(out, key, key_len, &arr);
    }
    switch (type) {
    case WKB_LINESTRING:
        ok = read_count(w, le, 16, &n) && points(w, le, n, a);
        break;
    case WKB_POLYGON:
        ok = read_count(w, le, 4, &n);
        for (uint32_t i = 0; ok && i < n; i++) {
            char buf[16];
            const char *k;
            size_t klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
            uint32_t npts;
            ok = read_count(w, le, 16, &npts);
            if (ok && a) {
                bson_t ring;
                bson_append_array_begin(a, k, (int)klen, &ring);
                ok = points(w, le, npts, &ring);
                bson_append_array_end(a, &ring);
            } else if (ok) {
                ok = points(w, le, npts, NULL);
            }
        }
        break;
    case WKB_MULTIPOINT:
    case WKB_MULTILINESTRING:
    case WKB_MULTIPOLYGON: {
        uint32_t want = type - 3; /* MultiPoint(4) holds Points(1), ... */
        ok = read_count(w, le, 5, &n);
        for (uint32_t i = 0; ok && i < n; i++) {
            char buf[16];
            const char *k;
            size_t klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
            uint32_t mtype;
            bool mle;
            ok = read_header(w, &mtype, &mle);
            if (ok && mtype != want) {
                w->p -= 4;
                ok = fail(w, SDL_E_PROTOCOL, "member type does not match the multi-geometry");
            }
            if (ok) {
                ok = coordinates(w, mtype, mle, a, k, (int)klen);
            }
        }
        break;
    }
    default:
        abort();
    }
    if (out) {
        bson_append_array_end(out, &arr);
    }
    return ok;
}

/* One geometry with its header; @out receives its fields (type, coordinates|geometries). */
static bool
geometry(wkb *w, uint32_t depth, bson_t *out)
{
    uint32_t type;
    bool le;

    if (!read_header(w, &type, &le)) {
        return false;
    }
    if (out) {
        bson_append_utf8(out, "type", 4, type_names[type], -1);
    }
    if (type != WKB_GEOMETRYCOLLECTION) {
        return coordinates(w, type, le, out, "coordinates", 11);
    }
    if (depth >= SDL_GEOJSON_MAX_DEPTH) {
        return fail(w, SDL_E_PROTOCOL, "GeometryCollections nested too deep");
    }
    uint32_t n;
    bson_t arr;
    bool ok = read_count(w, le, 5, &n);
    if (!ok) {
        return false;
    }
    if (out) {
        bson_append_array_begin(out, "geometries", 10, &arr);
    }
    for (uint32_t i = 0; ok && i < n; i++) {
        if (out) {
            char buf[16];
            const char *k;
            size_t klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
            bson_t member;
            bson_append_document_begin(&arr, k, (int)klen, &member);
            ok = geometry(w, depth + 1, &member);
            bson_append_document_end(&arr, &member);
        } else {
            ok = geometry(w, depth + 1, NULL);
        }
    }
    if (out) {
        bson_append_array_end(out, &arr);
    }
    return ok;
}

static bool
walk(const uint8_t *data, size_t len, bson_t *out, sdl_error *err)
{
    if (len < 4) { /* before any pointer arithmetic: @data may be NULL when @len is 0 */
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid WKB at byte 0: shorter than the 4-byte SRID");
        return false;
    }
    wkb w = {data, data, data + len, err};

    uint32_t srid;
    (void)read_u32(&w, true, &srid);
    if (!geometry(&w, 0, out)) {
        return false;
    }
    if (w.p != w.end) {
        return fail(&w, SDL_E_PROTOCOL, "trailing bytes after the geometry");
    }
    if (out) {
        if (srid <= INT32_MAX) {
            bson_append_int32(out, "srid", 4, (int32_t)srid);
        } else {
            bson_append_int64(out, "srid", 4, (int64_t)srid);
        }
    }
    return true;
}

bool
sdl_geojson_append(bson_t *parent, const char *key, size_t key_len, const uint8_t *data, size_t len,
                   sdl_error *err)
{
    bson_t child;

    if (len > INT_MAX || key_len > INT_MAX) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "geometry of %zu bytes exceeds the BSON limit", len);
        return false;
    }
    if (!walk(data, len, NULL, err)) {
        return false;
    }
    bson_append_document_begin(parent, key, (int)key_len, &child);
    (void)walk(data, len, &child, err);
    bson_append_document_end(parent, &child);
    return true;
}
