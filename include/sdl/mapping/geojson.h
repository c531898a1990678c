/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * geojson: MySQL/MariaDB GEOMETRY values (a 4-byte little-endian SRID followed by OGC WKB)
 * as GeoJSON-shaped BSON documents (RFC 7946 shapes), the SRID kept as a plain field:
 *
 *   { type: "Point", coordinates: [x, y], srid: 4326 }
 *   { type: "LineString" | "MultiPoint", coordinates: [[x, y], ...], srid: N }
 *   { type: "Polygon" | "MultiLineString", coordinates: [[[x, y], ...], ...], srid: N }
 *   { type: "MultiPolygon", coordinates: [[[[x, y], ...], ...], ...], srid: N }
 *   { type: "GeometryCollection", geometries: [{type, coordinates}, ...], srid: N }
 *
 * `srid` (int32, or int64 above 2^31-1 like every integer) is always present, 0 included, and only
 * on the top-level geometry; members of a GeometryCollection carry just type and
 * coordinates/geometries. Coordinates are the stored x and y, in that order (for SRID 4326 MySQL
 * stores longitude as x), as doubles.
 *
 * Both WKB byte orders are read (each nested geometry has its own). Every count is bounds-
 * checked against the remaining bytes, trailing bytes are an error, a Multi* member must be
 * of the matching simple type, and GeometryCollections nest at most SDL_GEOJSON_MAX_DEPTH
 * deep. Z, M and ZM variants (ISO 1000/2000/3000 codes and EWKB flag bits) are rejected
 * with SDL_E_UNSUPPORTED; malformed input with SDL_E_PROTOCOL.
 *
 * On failure @parent is unchanged (the WKB is validated before anything is appended).
 * No logging; no shared state (thread-safe). OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"

#define SDL_GEOJSON_MAX_DEPTH 32

/* Appends the geometry in @data (@len bytes: SRID + WKB, the binlog's GEOMETRY format) to
 * @parent under @key (@key_len bytes). */
SDL_MUST_CHECK bool sdl_geojson_append(bson_t *parent, const char *key, size_t key_len,
                                       const uint8_t *data, size_t len, sdl_error *err);
