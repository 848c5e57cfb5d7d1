/*
 * checksum: the frame checksums a declared schema may name, by the CRC
 * catalogue's parameters (each implementation is checked against the
 * catalogue's check value, the checksum of "123456789", in test_checksum):
 *
 *   xor8          XOR of the bytes                          check 0x31
 *   sum8          sum of the bytes mod 256                  check 0xDD
 *   crc8          CRC-8/SMBUS: poly 0x07, init 0            check 0xF4
 *   crc16-modbus  CRC-16/MODBUS: poly 0x8005 reflected,
 *                 init 0xFFFF                               check 0x4B37
 *   crc16-ccitt   CRC-16/IBM-3740 (CCITT-FALSE): poly
 *                 0x1021, init 0xFFFF                       check 0x29B1
 *   crc32         CRC-32/ISO-HDLC (zlib's crc32())          check 0xCBF43926
 *
 * The CRCs are table-driven (the tables are built before main() runs, so
 * they are read-only by the time any thread exists); crc32 is zlib's,
 * which is faster than a byte table and what operators' tools compute.
 * Pure: no I/O, no allocation.
 */
#ifndef INGESTD_CHECKSUM_H
#define INGESTD_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define CHECKSUM_ALGOS(X)                 \
	X(XOR8,        "xor8",         1) \
	X(SUM8,        "sum8",         1) \
	X(CRC8,        "crc8",         1) \
	X(CRC16_MODBUS, "crc16-modbus", 2) \
	X(CRC16_CCITT, "crc16-ccitt",  2) \
	X(CRC32,       "crc32",        4)

enum checksum_algo {
	CK_NONE,
#define X(id, name, width) CK_##id,
	CHECKSUM_ALGOS(X)
#undef X
	CK__COUNT
};

/* The algorithm named `name` ("crc16-modbus"), or CK_NONE. */
enum checksum_algo checksum_find(const char *name);
/* Its name, and the bytes its stored value takes (1, 2 or 4). */
const char *checksum_name(enum checksum_algo a);
size_t      checksum_width(enum checksum_algo a);
/* "xor8, sum8, ...", for messages (static storage). */
const char *checksum_names(void);

/* The checksum of p[0..n) (borrowed). */
uint32_t checksum_compute(enum checksum_algo a, const uint8_t *p, size_t n);

#endif
