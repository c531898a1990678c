/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/charset.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <string.h>

enum {
    CS_ARMSCII8,
    CS_ASCII,
    CS_BIG5,
    CS_BINARY,
    CS_CP1250,
    CS_CP1251,
    CS_CP1256,
    CS_CP1257,
    CS_CP850,
    CS_CP852,
    CS_CP866,
    CS_CP932,
    CS_DEC8,
    CS_EUCJPMS,
    CS_EUCKR,
    CS_GB2312,
    CS_GBK,
    CS_GEOSTD8,
    CS_GREEK,
    CS_HEBREW,
    CS_HP8,
    CS_KEYBCS2,
    CS_KOI8R,
    CS_KOI8U,
    CS_LATIN1,
    CS_LATIN2,
    CS_LATIN5,
    CS_LATIN7,
    CS_MACCE,
    CS_MACROMAN,
    CS_SJIS,
    CS_SWE7,
    CS_TIS620,
    CS_UCS2,
    CS_UJIS,
    CS_UTF16,
    CS_UTF16LE,
    CS_UTF32,
    CS_UTF8MB3,
    CS_UTF8MB4,
    CS_COUNT
};

/* MariaDB strings/ctype-*.c names and mbmaxlen (information_schema.CHARACTER_SETS.MAXLEN);
 * iconv names from glibc's gconv modules. NULL iconv name: glibc has no such converter. */
static const sdl_charset charsets[CS_COUNT] = {
    [CS_ARMSCII8] = {"armscii8", 1, SDL_CHARSET_ICONV, "ARMSCII-8"},
    [CS_ASCII] = {"ascii", 1, SDL_CHARSET_ASCII, NULL},
    [CS_BIG5] = {"big5", 2, SDL_CHARSET_ICONV, "BIG5"},
    [CS_BINARY] = {"binary", 1, SDL_CHARSET_BINARY, NULL},
    [CS_CP1250] = {"cp1250", 1, SDL_CHARSET_ICONV, "CP1250"},
    [CS_CP1251] = {"cp1251", 1, SDL_CHARSET_ICONV, "CP1251"},
    [CS_CP1256] = {"cp1256", 1, SDL_CHARSET_ICONV, "CP1256"},
    [CS_CP1257] = {"cp1257", 1, SDL_CHARSET_ICONV, "CP1257"},
    [CS_CP850] = {"cp850", 1, SDL_CHARSET_ICONV, "CP850"},
    [CS_CP852] = {"cp852", 1, SDL_CHARSET_ICONV, "CP852"},
    [CS_CP866] = {"cp866", 1, SDL_CHARSET_ICONV, "CP866"},
    [CS_CP932] = {"cp932", 2, SDL_CHARSET_ICONV, "CP932"},
    [CS_DEC8] = {"dec8", 1, SDL_CHARSET_ICONV, NULL},
    [CS_EUCJPMS] = {"eucjpms", 3, SDL_CHARSET_ICONV, "EUC-JP-MS"},
    [CS_EUCKR] = {"euckr", 2, SDL_CHARSET_ICONV, "EUC-KR"},
    [CS_GB2312] = {"gb2312", 2, SDL_CHARSET_ICONV, "GB2312"},
    [CS_GBK] = {"gbk", 2, SDL_CHARSET_ICONV, "GBK"},
    [CS_GEOSTD8] = {"geostd8", 1, SDL_CHARSET_ICONV, "GEORGIAN-PS"},
    [CS_GREEK] = {"greek", 1, SDL_CHARSET_ICONV, "ISO-8859-7"},
    [CS_HEBREW] = {"hebrew", 1, SDL_CHARSET_ICONV, "ISO-8859-8"},
    [CS_HP8] = {"hp8", 1, SDL_CHARSET_ICONV, "HP-ROMAN8"},
    [CS_KEYBCS2] = {"keybcs2", 1, SDL_CHARSET_ICONV, NULL},
    [CS_KOI8R] = {"koi8r", 1, SDL_CHARSET_ICONV, "KOI8-R"},
    [CS_KOI8U] = {"koi8u", 1, SDL_CHARSET_ICONV, "KOI8-U"},
    [CS_LATIN1] = {"latin1", 1, SDL_CHARSET_LATIN1, NULL},
    [CS_LATIN2] = {"latin2", 1, SDL_CHARSET_ICONV, "ISO-8859-2"},
    [CS_LATIN5] = {"latin5", 1, SDL_CHARSET_ICONV, "ISO-8859-9"},
    [CS_LATIN7] = {"latin7", 1, SDL_CHARSET_ICONV, "ISO-8859-13"},
    [CS_MACCE] = {"macce", 1, SDL_CHARSET_ICONV, "MAC-CENTRALEUROPE"},
    [CS_MACROMAN] = {"macroman", 1, SDL_CHARSET_ICONV, "MACINTOSH"},
    [CS_SJIS] = {"sjis", 2, SDL_CHARSET_ICONV, "SHIFT_JIS"},
    [CS_SWE7] = {"swe7", 1, SDL_CHARSET_ICONV, "ISO646-SE"},
    [CS_TIS620] = {"tis620", 1, SDL_CHARSET_ICONV, "TIS-620"},
    [CS_UCS2] = {"ucs2", 2, SDL_CHARSET_ICONV, "UCS-2BE"},
    [CS_UJIS] = {"ujis", 3, SDL_CHARSET_ICONV, "EUC-JP"},
    [CS_UTF16] = {"utf16", 4, SDL_CHARSET_ICONV, "UTF-16BE"},
    [CS_UTF16LE] = {"utf16le", 4, SDL_CHARSET_ICONV, "UTF-16LE"},
    [CS_UTF32] = {"utf32", 4, SDL_CHARSET_ICONV, "UTF-32BE"},
    [CS_UTF8MB3] = {"utf8mb3", 3, SDL_CHARSET_UTF8MB3, NULL},
    [CS_UTF8MB4] = {"utf8mb4", 4, SDL_CHARSET_UTF8MB4, NULL},
};

/*
 * Collation id ranges → charset. Generated from a MariaDB 10.11.19 server with
 *   SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY
 * (consecutive ids of one charset merged), plus MySQL 8.0's utf8mb4 ids 255..323 at the end.
 */
static const struct {
    uint16_t first, last;
    uint8_t cs;
} collations[] = {
    {1, 1, CS_BIG5},           {2, 2, CS_LATIN2},         {3, 3, CS_DEC8},
    {4, 4, CS_CP850},          {5, 5, CS_LATIN1},         {6, 6, CS_HP8},
    {7, 7, CS_KOI8R},          {8, 8, CS_LATIN1},         {9, 9, CS_LATIN2},
    {10, 10, CS_SWE7},         {11, 11, CS_ASCII},        {12, 12, CS_UJIS},
    {13, 13, CS_SJIS},         {14, 14, CS_CP1251},       {15, 15, CS_LATIN1},
    {16, 16, CS_HEBREW},       {18, 18, CS_TIS620},       {19, 19, CS_EUCKR},
    {20, 20, CS_LATIN7},       {21, 21, CS_LATIN2},       {22, 22, CS_KOI8U},
    {23, 23, CS_CP1251},       {24, 24, CS_GB2312},       {25, 25, CS_GREEK},
    {26, 26, CS_CP1250},       {27, 27, CS_LATIN2},       {28, 28, CS_GBK},
    {29, 29, CS_CP1257},       {30, 30, CS_LATIN5},       {31, 31, CS_LATIN1},
    {32, 32, CS_ARMSCII8},     {33, 33, CS_UTF8MB3},      {34, 34, CS_CP1250},
    {35, 35, CS_UCS2},         {36, 36, CS_CP866},        {37, 37, CS_KEYBCS2},
    {38, 38, CS_MACCE},        {39, 39, CS_MACROMAN},     {40, 40, CS_CP852},
    {41, 42, CS_LATIN7},       {43, 43, CS_MACCE},        {44, 44, CS_CP1250},
    {45, 46, CS_UTF8MB4},      {47, 49, CS_LATIN1},       {50, 52, CS_CP1251},
    {53, 53, CS_MACROMAN},     {54, 55, CS_UTF16},        {56, 56, CS_UTF16LE},
    {57, 57, CS_CP1256},       {58, 59, CS_CP1257},       {60, 61, CS_UTF32},
    {62, 62, CS_UTF16LE},      {63, 63, CS_BINARY},       {64, 64, CS_ARMSCII8},
    {65, 65, CS_ASCII},        {66, 66, CS_CP1250},       {67, 67, CS_CP1256},
    {68, 68, CS_CP866},        {69, 69, CS_DEC8},         {70, 70, CS_GREEK},
    {71, 71, CS_HEBREW},       {72, 72, CS_HP8},          {73, 73, CS_KEYBCS2},
    {74, 74, CS_KOI8R},        {75, 75, CS_KOI8U},        {77, 77, CS_LATIN2},
    {78, 78, CS_LATIN5},       {79, 79, CS_LATIN7},       {80, 80, CS_CP850},
    {81, 81, CS_CP852},        {82, 82, CS_SWE7},         {83, 83, CS_UTF8MB3},
    {84, 84, CS_BIG5},         {85, 85, CS_EUCKR},        {86, 86, CS_GB2312},
    {87, 87, CS_GBK},          {88, 88, CS_SJIS},         {89, 89, CS_TIS620},
    {90, 90, CS_UCS2},         {91, 91, CS_UJIS},         {92, 93, CS_GEOSTD8},
    {94, 94, CS_LATIN1},       {95, 96, CS_CP932},        {97, 98, CS_EUCJPMS},
    {99, 99, CS_CP1250},       {101, 124, CS_UTF16},      {128, 151, CS_UCS2},
    {159, 159, CS_UCS2},       {160, 183, CS_UTF32},      {192, 215, CS_UTF8MB3},
    {223, 223, CS_UTF8MB3},    {224, 247, CS_UTF8MB4},    {576, 578, CS_UTF8MB3},
    {608, 610, CS_UTF8MB4},    {640, 642, CS_UCS2},       {672, 674, CS_UTF16},
    {736, 738, CS_UTF32},      {1025, 1025, CS_BIG5},     {1027, 1027, CS_DEC8},
    {1028, 1028, CS_CP850},    {1030, 1030, CS_HP8},      {1031, 1031, CS_KOI8R},
    {1032, 1032, CS_LATIN1},   {1033, 1033, CS_LATIN2},   {1034, 1034, CS_SWE7},
    {1035, 1035, CS_ASCII},    {1036, 1036, CS_UJIS},     {1037, 1037, CS_SJIS},
    {1040, 1040, CS_HEBREW},   {1042, 1042, CS_TIS620},   {1043, 1043, CS_EUCKR},
    {1046, 1046, CS_KOI8U},    {1048, 1048, CS_GB2312},   {1049, 1049, CS_GREEK},
    {1050, 1050, CS_CP1250},   {1052, 1052, CS_GBK},      {1054, 1054, CS_LATIN5},
    {1056, 1056, CS_ARMSCII8}, {1057, 1057, CS_UTF8MB3},  {1059, 1059, CS_UCS2},
    {1060, 1060, CS_CP866},    {1061, 1061, CS_KEYBCS2},  {1062, 1062, CS_MACCE},
    {1063, 1063, CS_MACROMAN}, {1064, 1064, CS_CP852},    {1065, 1065, CS_LATIN7},
    {1067, 1067, CS_MACCE},    {1069, 1070, CS_UTF8MB4},  {1071, 1071, CS_LATIN1},
    {1074, 1075, CS_CP1251},   {1077, 1077, CS_MACROMAN}, {1078, 1079, CS_UTF16},
    {1080, 1080, CS_UTF16LE},  {1081, 1081, CS_CP1256},   {1082, 1083, CS_CP1257},
    {1084, 1085, CS_UTF32},    {1086, 1086, CS_UTF16LE},  {1088, 1088, CS_ARMSCII8},
    {1089, 1089, CS_ASCII},    {1090, 1090, CS_CP1250},   {1091, 1091, CS_CP1256},
    {1092, 1092, CS_CP866},    {1093, 1093, CS_DEC8},     {1094, 1094, CS_GREEK},
    {1095, 1095, CS_HEBREW},   {1096, 1096, CS_HP8},      {1097, 1097, CS_KEYBCS2},
    {1098, 1098, CS_KOI8R},    {1099, 1099, CS_KOI8U},    {1101, 1101, CS_LATIN2},
    {1102, 1102, CS_LATIN5},   {1103, 1103, CS_LATIN7},   {1104, 1104, CS_CP850},
    {1105, 1105, CS_CP852},    {1106, 1106, CS_SWE7},     {1107, 1107, CS_UTF8MB3},
    {1108, 1108, CS_BIG5},     {1109, 1109, CS_EUCKR},    {1110, 1110, CS_GB2312},
    {1111, 1111, CS_GBK},      {1112, 1112, CS_SJIS},     {1113, 1113, CS_TIS620},
    {1114, 1114, CS_UCS2},     {1115, 1115, CS_UJIS},     {1116, 1117, CS_GEOSTD8},
    {1119, 1120, CS_CP932},    {1121, 1122, CS_EUCJPMS},  {1125, 1125, CS_UTF16},
    {1147, 1147, CS_UTF16},    {1152, 1152, CS_UCS2},     {1174, 1174, CS_UCS2},
    {1184, 1184, CS_UTF32},    {1206, 1206, CS_UTF32},    {1216, 1216, CS_UTF8MB3},
    {1238, 1238, CS_UTF8MB3},  {1248, 1248, CS_UTF8MB4},  {1270, 1270, CS_UTF8MB4},
    {2048, 2215, CS_UTF8MB3},  {2232, 2247, CS_UTF8MB3},  {2304, 2471, CS_UTF8MB4},
    {2488, 2503, CS_UTF8MB4},  {2560, 2727, CS_UCS2},     {2744, 2759, CS_UCS2},
    {2816, 2983, CS_UTF16},    {3000, 3015, CS_UTF16},    {3072, 3239, CS_UTF32},
    {3256, 3271, CS_UTF32},
};

/* MySQL 8.0 utf8mb4_0900_* and friends (MySQL flavour); MariaDB has no ids there. */
#define MYSQL_UTF8MB4_FIRST 255
#define MYSQL_UTF8MB4_LAST  323

/* Every string value of every row asks for its charset: ids below 4096 (all of them today)
 * are answered from a table indexed by id, filled once; others by a binary search. */
#define DIRECT_IDS 4096
static uint8_t direct[DIRECT_IDS]; /* charset index + 1; 0 = unknown id */
static pthread_once_t direct_once = PTHREAD_ONCE_INIT;

static const sdl_charset *
search_collation(uint32_t id)
{
    size_t lo = 0, hi = SDL_ARRAY_SIZE(collations);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (id < collations[mid].first) {
            hi = mid;
        } else if (id > collations[mid].last) {
            lo = mid + 1;
        } else {
            return &charsets[collations[mid].cs];
        }
    }
    if (id >= MYSQL_UTF8MB4_FIRST && id <= MYSQL_UTF8MB4_LAST) {
        return &charsets[CS_UTF8MB4];
    }
    return NULL;
}

static void
fill_direct(void)
{
    for (uint32_t id = 0; id < DIRECT_IDS; id++) {
        const sdl_charset *cs = search_collation(id);
        direct[id] = cs ? (uint8_t)(cs - charsets + 1) : 0;
    }
}

const sdl_charset *
sdl_charset_by_collation(uint32_t id)
{
    if (id >= DIRECT_IDS) {
        return search_collation(id);
    }
    (void)pthread_once(&direct_once, fill_direct);
    return direct[id] ? &charsets[direct[id] - 1] : NULL;
}

bool
sdl_utf8_valid(const uint8_t *p, size_t len, bool allow_4byte)
{
    const uint8_t *const start = p;
    const uint8_t *end = p + len;

    while (p < end) {
        uint8_t c = *p;

        /* ASCII fast path, 8 bytes at a time. */
        if (c < 0x80) {
            while ((size_t)(end - p) >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & 0x8080808080808080ull) {
                    break;
                }
                p += 8;
            }
            if (p < end && (size_t)(end - p) < 8 && (size_t)(end - start) >= 8) {
                /* the rest is shorter than a word: one (overlapping) look at the last eight */
                uint64_t w;
                memcpy(&w, end - 8, 8);
                if (!(w & 0x8080808080808080ull)) {
                    return true;
                }
            }
            while (p < end && *p < 0x80) {
                p++;
            }
            continue;
        }
        /* RFC 3629 table 4 (well-formed byte sequences). */
        if (c >= 0xc2 && c <= 0xdf) {
            if (end - p < 2 || (p[1] & 0xc0) != 0x80) {
                return false;
            }
            p += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
                (c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)) {
                return false;
            }
            p += 3;
        } else if (c >= 0xf0 && c <= 0xf4 && allow_4byte) {
            if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
                (p[3] & 0xc0) != 0x80 || (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) {
                return false;
            }
            p += 4;
        } else {
            return false;
        }
    }
    return true;
}

/* MySQL's latin1 is cp1252 except that the five bytes cp1252 leaves undefined map to the
 * C1 controls (strings/ctype-latin1.c cs_to_uni). Code points for 0x80..0x9f. */
static const uint16_t latin1_80_9f[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    o[0] = (uint8_t)(0xe0 | cp >> 12);
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
}

static bool
iconv_to_utf8(const sdl_charset *cs, sdl_bytes in, sdl_arena *arena, sdl_bytes *ret_out,
              sdl_error *err)
{
    iconv_t cd;
    size_t cap, in_left, out_left;
    char *inp, *outp, *out;
    bool ok = false;

    if (!cs->iconv_name) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "charset '%s' has no converter to UTF-8", cs->name);
        return false;
    }
    cd = iconv_open("UTF-8", cs->iconv_name);
    if (cd == (iconv_t)-1) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "iconv cannot convert charset '%s' (%s)", cs->name,
                      cs->iconv_name);
        return false;
    }
    /* A character of any MySQL charset needs at most 4 UTF-8 bytes, and takes at least one
     * input byte, so 4 bytes per input byte always suffice. */
    cap = in.len * 4 + 1;
    out = sdl_arena_alloc(arena, cap);
    inp = (char *)(uintptr_t)in.ptr; /* iconv's prototype lacks const */
    in_left = in.len;
    outp = out;
    out_left = cap - 1;
    if (iconv(cd, &inp, &in_left, &outp, &out_left) == (size_t)-1) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid %s text at byte %zu", cs->name,
                      in.len - in_left);
        goto out;
    }
    *outp = '\0';
    *ret_out = SDL_BYTES(out, (size_t)(outp - out));
    ok = true;
out:
    iconv_close(cd);
    return ok;
}

bool
sdl_charset_check_in_place(const sdl_charset *cs, sdl_bytes in, bool *ret_checked, sdl_error *err)
{
    *ret_checked = false;
    switch (cs->kind) {
    case SDL_CHARSET_BINARY:
        break;
    case SDL_CHARSET_UTF8MB4:
    case SDL_CHARSET_UTF8MB3:
        if (!sdl_utf8_valid(in.ptr, in.len, cs->kind == SDL_CHARSET_UTF8MB4)) {
            sdl_error_set(err, SDL_E_PROTOCOL, "invalid %s text", cs->name);
            return false;
        }
        break;
    case SDL_CHARSET_ASCII:
        for (size_t i = 0; i < in.len; i++) {
            if (in.ptr[i] >= 0x80) {
                sdl_error_set(err, SDL_E_PROTOCOL, "invalid ascii text at byte %zu", i);
                return false;
            }
        }
        break;
    default:
        return true; /* converted by sdl_charset_to_utf8() */
    }
    *ret_checked = true;
    return true;
}

bool
sdl_charset_to_utf8(const sdl_charset *cs, sdl_bytes in, sdl_arena *arena, sdl_bytes *ret_out,
                    sdl_error *err)
{
    uint8_t *out;
    size_t n = 0;
    bool checked = false;

    if (!sdl_charset_check_in_place(cs, in, &checked, err)) {
        return false;
    }
    if (checked) {
        /* already UTF-8 (or binary): the copy below */
    } else if (cs->kind == SDL_CHARSET_LATIN1) {
        out = sdl_arena_alloc(arena, in.len * 3 + 1);
        for (size_t i = 0; i < in.len; i++) {
            uint8_t c = in.ptr[i];
            uint32_t cp = c >= 0x80 && c <= 0x9f ? latin1_80_9f[c - 0x80] : c;
            n += put_utf8(out + n, cp);
        }
        out[n] = '\0';
        *ret_out = SDL_BYTES(out, n);
        return true;
    } else {
        return iconv_to_utf8(cs, in, arena, ret_out, err);
    }
    out = sdl_arena_alloc(arena, in.len + 1);
    if (in.len) {
        memcpy(out, in.ptr, in.len);
    }
    out[in.len] = '\0';
    *ret_out = SDL_BYTES(out, in.len);
    return true;
}
