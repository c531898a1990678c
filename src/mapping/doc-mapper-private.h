/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* doc-mapper-private: the mapper's text forms, shared with column-policy.c (the text a
 * hashed value is hashed as). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "YYYY-MM-DD[ hh:mm:ss[.f…]]" as MySQL prints DATE / DATETIME(fsp) (@usec since 1970 UTC);
 * returns the length written into @buf (@cap bytes, 64 are enough). */
size_t sdl_mapper_format_datetime(char *buf, size_t cap, int64_t usec, unsigned fsp,
                                  bool date_only);

/* The double of a FLOAT column's shortest round-trip decimal form (1.1f -> 1.1). */
double sdl_mapper_float_shortest(double d);
