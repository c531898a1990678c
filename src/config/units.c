/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/config/units.h"

#include <stdio.h>
#include <string.h>

#include "sdl/base/macros.h"

typedef struct unit {
    const char *name;
    uint64_t factor;
} unit;

/* Longest names first where one is a prefix of another ("ms" before "m", "min" before "m"). */
static const unit duration_units[] = {
    {"us", 1},       {"ms", 1000},      {"min", 60000000},  {"s", 1000000},
    {"m", 60000000}, {"h", 3600000000}, {"d", 86400000000},
};

/* Canonical output order: largest first. */
static const unit duration_canon[] = {
    {"d", 86400000000}, {"h", 3600000000}, {"m", 60000000}, {"s", 1000000}, {"ms", 1000},
};

static const unit size_units[] = {
    {"B", 1},
    {"KiB", (uint64_t)1 << 10},
    {"MiB", (uint64_t)1 << 20},
    {"GiB", (uint64_t)1 << 30},
    {"TiB", (uint64_t)1 << 40},
};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses the leading digits of *s; advances *s. */
static bool
take_digits(const char **s, uint64_t *ret, const char **ret_why)
{
    const char *p = *s;
    uint64_t v = 0;

    if (!is_digit(*p)) {
        *ret_why = *p == '-' ? "negative values are not allowed" : "expected a number";
        return false;
    }
    for (; is_digit(*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *ret_why = "number too large";
            return false;
        }
        v = v * 10 + d;
    }
    *s = p;
    *ret = v;
    return true;
}

bool
sdl_parse_uint(const char *s, uint64_t *ret, const char **ret_why)
{
    const char *p = s;
    uint64_t v;

    if (!take_digits(&p, &v, ret_why)) {
        return false;
    }
    if (*p != '\0') {
        *ret_why = "expected a whole number";
        return false;
    }
    *ret = v;
    return true;
}

bool
sdl_parse_duration(const char *s, uint64_t *ret_usec, const char **ret_why)
{
    const char *p = s;
    uint64_t total = 0;

    if (strcmp(s, "0") == 0) {
        *ret_usec = 0;
        return true;
    }
    if (*p == '\0') {
        *ret_why = "empty duration";
        return false;
    }
    while (*p) {
        uint64_t n;
        const unit *u = NULL;

        if (!take_digits(&p, &n, ret_why)) {
            if (*p == '.') {
                *ret_why = "fractions are not allowed (use a smaller unit: '1500ms')";
            }
            return false;
        }
        if (*p == '.') {
            *ret_why = "fractions are not allowed (use a smaller unit: '1500ms')";
            return false;
        }
        if (*p == '\0') {
            *ret_why = "missing unit (us, ms, s, m, h or d; e.g. '500ms')";
            return false;
        }
        for (size_t i = 0; i < SDL_ARRAY_SIZE(duration_units); i++) {
            size_t len = strlen(duration_units[i].name);
            if (strncmp(p, duration_units[i].name, len) == 0 &&
                (p[len] == '\0' || is_digit(p[len]))) {
                u = &duration_units[i];
                p += len;
                break;
            }
        }
        if (!u) {
            *ret_why = "unknown unit (expected us, ms, s, m, h or d; e.g. '30s')";
            return false;
        }
        if (n > UINT64_MAX / u->factor || total > UINT64_MAX - n * u->factor) {
            *ret_why = "duration too large";
            return false;
        }
        total += n * u->factor;
    }
    *ret_usec = total;
    return true;
}

bool
sdl_parse_size(const char *s, uint64_t *ret_bytes, const char **ret_why)
{
    const char *p = s;
    const unit *u = NULL;
    uint64_t n;

    if (!take_digits(&p, &n, ret_why)) {
        return false;
    }
    if (*p == '.') {
        *ret_why = "fractions are not allowed (use a smaller unit: '1536KiB')";
        return false;
    }
    if (*p == '\0') {
        *ret_bytes = n;
        return true;
    }
    for (size_t i = 0; i < SDL_ARRAY_SIZE(size_units); i++) {
        if (strcmp(p, size_units[i].name) == 0) {
            u = &size_units[i];
            break;
        }
    }
    if (!u) {
        if (strlen(p) <= 2 && strchr("kKmMgGtT", p[0]) && (p[1] == '\0' || p[1] == 'B')) {
            *ret_why = "ambiguous unit (use binary units: KiB, MiB, GiB, TiB)";
        } else {
            *ret_why = "unknown unit (expected B, KiB, MiB, GiB or TiB; e.g. '64MiB')";
        }
        return false;
    }
    if (n > UINT64_MAX / u->factor) {
        *ret_why = "size too large";
        return false;
    }
    *ret_bytes = n * u->factor;
    return true;
}

const char *
sdl_format_duration(uint64_t usec, char *buf)
{
    if (usec == 0) {
        (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "0");
        return buf;
    }
    for (size_t i = 0; i < SDL_ARRAY_SIZE(duration_canon); i++) {
        if (usec % duration_canon[i].factor == 0) {
            (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%llu%s",
                           (unsigned long long)(usec / duration_canon[i].factor),
                           duration_canon[i].name);
            return buf;
        }
    }
    (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%lluus", (unsigned long long)usec);
    return buf;
}

const char *
sdl_format_size(uint64_t bytes, char *buf)
{
    for (size_t i = SDL_ARRAY_SIZE(size_units); i-- > 1;) {
        if (bytes != 0 && bytes % size_units[i].factor == 0) {
            (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%llu%s",
                           (unsigned long long)(bytes / size_units[i].factor), size_units[i].name);
            return buf;
        }
    }
    (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%lluB", (unsigned long long)bytes);
    return buf;
}
