/*
 * Helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * CHECK() is the fuzzers' assert: it says what went wrong on stderr (so a
 * crash report is readable without a debugger) and then traps, which
 * libFuzzer reports as a crash and saves the input for.
 */
#ifndef INGESTD_FUZZ_COMMON_H
#define INGESTD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			__builtin_trap();                                             \
		}                                                                     \
	} while (0)

/* A growable byte log; freed by the caller (libFuzzer checks for leaks). */
struct fz_bytes {
	uint8_t *p;
	size_t   len, cap;
};

static inline void
fz_bytes_add(struct fz_bytes *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		CHECK(b->p != NULL);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static inline void
fz_bytes_free(struct fz_bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * 1 when s[0..n) is well-formed UTF-8 as jansson judges it (json_string()
 * refuses anything else): no stray continuation bytes, no overlong forms,
 * no surrogates, nothing above U+10FFFF.
 */
static inline int
fz_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* splitmix64, seeded from the input so every run reproduces. */
static inline uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

#endif
