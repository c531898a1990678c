/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/crc32.h"

#include <stdbool.h>

#include <zlib.h>

uint32_t
sdl_crc32_portable(uint32_t crc, const void *p, size_t len)
{
    const uint8_t *b = p;

    /* zlib takes uInt lengths: feed in chunks so huge inputs cannot truncate. */
    while (len > 0) {
        size_t n = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        crc = (uint32_t)crc32(crc, b, (uInt)n);
        b += n;
        len -= n;
    }
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/*
 * Folds @len bytes (>= 64, a multiple of 16) into the CRC register @crc (pre-inverted, as
 * the algorithm keeps it): four 128-bit lanes folded 64 bytes at a time by x^(512±64) mod P,
 * then into one lane by x^(128±64) mod P, then 128 → 64 → 32 bits and a Barrett reduction.
 * The constants are those of the paper for the bit-reflected polynomial (k1..k5, P', mu).
 */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
crc32_fold(uint32_t crc, const uint8_t *buf, size_t len)
{
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 48));
    __m128i t;

    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    buf += 64;
    len -= 64;
    while (len >= 64) {
        __m128i l1 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        __m128i l2 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
        __m128i l3 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        __m128i l4 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, l1),
                           _mm_loadu_si128((const __m128i *)(const void *)(buf + 0)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, l2),
                           _mm_loadu_si128((const __m128i *)(const void *)(buf + 16)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, l3),
                           _mm_loadu_si128((const __m128i *)(const void *)(buf + 32)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, l4),
                           _mm_loadu_si128((const __m128i *)(const void *)(buf + 48)));
        buf += 64;
        len -= 64;
    }
    /* Four lanes into one, then the remaining 16-byte blocks. */
    t = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x2), t);
    t = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x3), t);
    t = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x4), t);
    while (len >= 16) {
        t = _mm_clmulepi64_si128(x1, k3k4, 0x00);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11),
                                         _mm_loadu_si128((const __m128i *)(const void *)buf)),
                           t);
        buf += 16;
        len -= 16;
    }
    /* 128 → 64 bits, 64 → 32 bits, then Barrett. */
    t = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5k0, 0x00), t);
    t = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10), mask32);
    x1 = _mm_xor_si128(x1, _mm_clmulepi64_si128(t, poly, 0x00));
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

static bool
have_fold(void)
{
    static int have = -1; /* racy but idempotent: every thread computes the same value */

    if (__atomic_load_n(&have, __ATOMIC_RELAXED) < 0) {
        __builtin_cpu_init();
        __atomic_store_n(&have,
                         __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"),
                         __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&have, __ATOMIC_RELAXED) == 1;
}

uint32_t
sdl_crc32(uint32_t crc, const void *p, size_t len)
{
    const uint8_t *b = p;

    if (len >= 64 && have_fold()) {
        size_t n = len & ~(size_t)15;
        crc = ~crc32_fold(~crc, b, n);
        b += n;
        len -= n;
    }
    return sdl_crc32_portable(crc, b, len);
}
#else
uint32_t
sdl_crc32(uint32_t crc, const void *p, size_t len)
{
    return sdl_crc32_portable(crc, p, len);
}
#endif
