/*
 * checksum: see checksum.h.  Each CRC table is built from its polynomial
 * by the textbook bitwise definition, once, before main().
 */
#include "checksum.h"

#include <string.h>
#include <zlib.h>

static const struct {
	const char *name;
	size_t      width;
} algos[CK__COUNT] = {
	[CK_NONE] = { "none", 0 },
#define X(id, n, w) [CK_##id] = { n, w },
	CHECKSUM_ALGOS(X)
#undef X
};

static uint8_t  crc8_table[256];
static uint16_t modbus_table[256];
static uint16_t ccitt_table[256];

__attribute__((constructor)) static void
build_tables(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint8_t c8 = (uint8_t)i;
		uint16_t mb = (uint16_t)i, cc = (uint16_t)(i << 8);

		for (int b = 0; b < 8; b++) {
			c8 = (uint8_t)(c8 & 0x80 ? (c8 << 1) ^ 0x07 : c8 << 1);
			mb = (uint16_t)(mb & 1 ? (mb >> 1) ^ 0xA001 : mb >> 1);  /* 0x8005 reflected */
			cc = (uint16_t)(cc & 0x8000 ? (cc << 1) ^ 0x1021 : cc << 1);
		}
		crc8_table[i] = c8;
		modbus_table[i] = mb;
		ccitt_table[i] = cc;
	}
}

enum checksum_algo
checksum_find(const char *name)
{
	for (int a = CK_NONE + 1; a < CK__COUNT; a++)
		if (strcmp(algos[a].name, name) == 0)
			return (enum checksum_algo)a;
	return CK_NONE;
}

const char *
checksum_name(enum checksum_algo a)
{
	return (unsigned)a < CK__COUNT ? algos[a].name : "?";
}

size_t
checksum_width(enum checksum_algo a)
{
	return (unsigned)a < CK__COUNT ? algos[a].width : 0;
}

const char *
checksum_names(void)
{
	return "xor8, sum8, crc8, crc16-modbus, crc16-ccitt, crc32";
}

uint32_t
checksum_compute(enum checksum_algo a, const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	switch (a) {
	case CK_XOR8:
		for (size_t i = 0; i < n; i++)
			v ^= p[i];
		return v;
	case CK_SUM8:
		for (size_t i = 0; i < n; i++)
			v += p[i];
		return v & 0xFF;
	case CK_CRC8: {
		uint8_t c = 0;

		for (size_t i = 0; i < n; i++)
			c = crc8_table[c ^ p[i]];
		return c;
	}
	case CK_CRC16_MODBUS: {
		uint16_t c = 0xFFFF;

		for (size_t i = 0; i < n; i++)
			c = (uint16_t)((c >> 8) ^ modbus_table[(c ^ p[i]) & 0xFF]);
		return c;
	}
	case CK_CRC16_CCITT: {
		uint16_t c = 0xFFFF;

		for (size_t i = 0; i < n; i++)
			c = (uint16_t)((c << 8) ^ ccitt_table[((c >> 8) ^ p[i]) & 0xFF]);
		return c;
	}
	case CK_CRC32:
		/* Frames are at most 65535 bytes: one call, no uInt overflow. */
		return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
	default:
		return 0;
	}
}
