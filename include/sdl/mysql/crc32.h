/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * crc32: the CRC-32 of binlog event checksums (ISO-HDLC / zlib's, reflected polynomial
 * 0xEDB88320). On x86-64 CPUs with PCLMULQDQ and SSE4.1 (checked once at run time) whole
 * 16-byte blocks of inputs of 64 bytes or more are folded with carry-less multiplies (Gopal
 * et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", Intel 2009); the
 * rest, and every input elsewhere, goes through zlib's crc32(). Thread-safe, no allocation.
 */
#include <stddef.h>
#include <stdint.h>

/* Continues @crc (0 to start) over @len bytes at @p, like zlib's crc32(crc, p, len). */
uint32_t sdl_crc32(uint32_t crc, const void *p, size_t len);

/* The same through zlib only (the portable path; for tests and comparisons). */
uint32_t sdl_crc32_portable(uint32_t crc, const void *p, size_t len);
