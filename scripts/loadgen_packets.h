/*
 * loadgen_packets.h: the deterministic packets of scripts/loadgen.c, shared
 * with scripts/checker.c so that the checker expects exactly what was sent.
 *
 * A packet is a function of (conn, seq): conn is the connection index plus
 * --conn-base, seq runs 0..M-1 on each connection.  All float arithmetic is
 * done in float, one operation per statement (no contraction), so the values
 * are the same on every IEEE machine and easy to reproduce elsewhere.
 *
 * sensor24 (24 bytes, big-endian):
 *   sensorId    u32 @0  = conn
 *   timestamp   f64 @4  = seq  (loadgen --latency: CLOCK_REALTIME in ms)
 *   sensorType  u16 @12 = seq & 0xffff
 *   statusFlags u8  @14 = seq & 0xff
 *   temperature i8  @15 = (int8)(seq & 0xff)          (-128..127)
 *   humidity    f32 @16 = (float)(seq % 10000) * 0.37f + 0.01f
 *   pressure    f32 @20 = (float)((seq + conn * 7919) % 30011) * 0.0173f + 950.0f
 * legacy16 (16 bytes):
 *   signature   u16 BE @0  = 0xCAFE
 *   deviceId    i32 LE @2  = conn
 *   voltage     f32 BE @6  = (float)((seq + conn) % 5000) * 0.001f + 3.3f
 *   status      u8     @10 = seq & 0xff
 *   checksum    u8     @11 = (seq >> 8) & 0xff
 *   uptime      u32 LE @12 = seq  (as u32)
 * env16 (16 bytes, little-endian but for count; decoded by a [schema env16]
 * declared in the config, with bits, scaling and a checksum):
 *   proto       u8      @0  = 0x02 (the schema's magic, not printed)
 *   devId       u24 LE  @1  = conn  (conn < 2^24)
 *   temp_c      i16 LE  @4  = (int16)((seq * 37 + conn * 101) & 0xffff),
 *                             printed as raw / 100 (double)
 *   rh          u8      @6  = (seq + conn) % 201, printed as raw * 0.5
 *   byte 7              = (uint8)(seq * 29 + conn * 3):
 *     lowBatt   bit 0       = byte7 & 1
 *     mode      bits 4..7   = byte7 >> 4   (bits 1..3 are not printed)
 *   bytes 8..13         = seq (48 bits, BE; seq < 2^48)
 *   crc         u16 LE  @14 = CRC-16/MODBUS of bytes 0..13 (poly 0x8005
 *                             reflected, i.e. 0xA001; init 0xFFFF; no final
 *                             XOR; check value of "123456789" 0x4B37)
 *   count       u64 BE  @8  = bytes 8..15 read big-endian, as the schema
 *                             declares it (`u64 @8 be` in a 16-byte frame
 *                             whose checksum is at 14..15): seq * 65536 +
 *                             (byte 14 << 8 | byte 15), the CRC's bytes
 *                             swapped; lg_env16_count() computes it
 * raw TLV value of L >= 12 bytes:
 *   bytes 0..3 = conn (u32 BE), bytes 4..11 = seq (u64 BE),
 *   byte k >= 12 = (uint8)(seq * 131 + conn * 31 + k * 7 + (k >> 8))
 */
#ifndef INGESTD_LOADGEN_PACKETS_H
#define INGESTD_LOADGEN_PACKETS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LG_SENSOR24_SIZE 24
#define LG_LEGACY16_SIZE 16
#define LG_ENV16_SIZE   16
#define LG_RAW_ID_SIZE   12
#define LG_LEGACY16_SIG  0xCAFE
#define LG_ENV16_PROTO   0x02
#define LG_ENV16_MAX_ID  0xffffffu          /* devId is 24 bits */

struct lg_sensor24 {
	uint32_t sensor_id;
	double   timestamp;
	uint16_t sensor_type;
	uint8_t  status_flags;
	int8_t   temperature;
	float    humidity;
	float    pressure;
};

struct lg_legacy16 {
	uint16_t signature;
	int32_t  device_id;
	float    voltage;
	uint8_t  status;
	uint8_t  checksum;
	uint32_t uptime;
};

struct lg_env16 {
	uint8_t  proto;
	uint32_t dev_id;        /* 24 bits */
	int16_t  temp_raw;      /* temp_c = temp_raw / 100 */
	uint8_t  rh_raw;        /* rh = rh_raw * 0.5 */
	uint8_t  flags;         /* byte 7: lowBatt bit 0, mode bits 4..7 */
	uint64_t seq;           /* bytes 8..13 (48 bits) */
};

/*
 * Each float field is a function of a small key (below its period), so the
 * checker can remember, per key, a text already proven to read as the value.
 */
#define LG_HUMIDITY_PERIOD 10000u
#define LG_PRESSURE_PERIOD 30011u
#define LG_VOLTAGE_PERIOD  5000u

static inline uint32_t lg_humidity_key(uint64_t conn, uint64_t seq)
{
	(void)conn;
	return (uint32_t)(seq % LG_HUMIDITY_PERIOD);
}

static inline uint32_t lg_pressure_key(uint64_t conn, uint64_t seq)
{
	return (uint32_t)((seq + conn * 7919u) % LG_PRESSURE_PERIOD);
}

static inline uint32_t lg_voltage_key(uint64_t conn, uint64_t seq)
{
	return (uint32_t)((seq + conn) % LG_VOLTAGE_PERIOD);
}

static inline void lg_sensor24_derive(uint64_t conn, uint64_t seq, struct lg_sensor24 *p)
{
	int t = (int)(seq & 0xff);
	float h = (float)lg_humidity_key(conn, seq);
	float pr = (float)lg_pressure_key(conn, seq);

	p->sensor_id = (uint32_t)conn;
	p->timestamp = (double)seq;
	p->sensor_type = (uint16_t)(seq & 0xffff);
	p->status_flags = (uint8_t)(seq & 0xff);
	p->temperature = (int8_t)(t > 127 ? t - 256 : t);
	h = h * 0.37f;
	h = h + 0.01f;
	p->humidity = h;
	pr = pr * 0.0173f;
	pr = pr + 950.0f;
	p->pressure = pr;
}

static inline void lg_legacy16_derive(uint64_t conn, uint64_t seq, struct lg_legacy16 *p)
{
	float v = (float)lg_voltage_key(conn, seq);

	v = v * 0.001f;
	v = v + 3.3f;
	p->signature = LG_LEGACY16_SIG;
	p->device_id = (int32_t)conn;
	p->voltage = v;
	p->status = (uint8_t)(seq & 0xff);
	p->checksum = (uint8_t)((seq >> 8) & 0xff);
	p->uptime = (uint32_t)seq;
}

static inline void lg_env16_derive(uint64_t conn, uint64_t seq, struct lg_env16 *p)
{
	uint16_t t = (uint16_t)((seq * 37u + conn * 101u) & 0xffff);

	p->proto = LG_ENV16_PROTO;
	p->dev_id = (uint32_t)(conn & LG_ENV16_MAX_ID);
	p->temp_raw = (int16_t)(t > 0x7fff ? (int)t - 0x10000 : (int)t);
	p->rh_raw = (uint8_t)((seq + conn) % 201u);
	p->flags = (uint8_t)(seq * 29u + conn * 3u);
	p->seq = seq & 0xffffffffffffull;
}

/* The values env16's schema prints, from the raw fields. */
static inline double lg_env16_temp_c(const struct lg_env16 *p) { return (double)p->temp_raw / 100.0; }
static inline double lg_env16_rh(const struct lg_env16 *p) { return (double)p->rh_raw * 0.5; }
static inline int lg_env16_low_batt(const struct lg_env16 *p) { return p->flags & 1; }
static inline int lg_env16_mode(const struct lg_env16 *p) { return p->flags >> 4; }

/*
 * CRC-16/MODBUS, one table lookup per byte (the table is the bitwise
 * algorithm's result for each byte value, built on first use).
 */
static inline uint16_t lg_crc16_modbus(const uint8_t *p, size_t n)
{
	static uint16_t table[256];
	static int ready;

	if (!ready) {
		for (unsigned b = 0; b < 256; b++) {
			uint16_t c = (uint16_t)b;
			for (int k = 0; k < 8; k++)
				c = (uint16_t)((c & 1) ? (c >> 1) ^ 0xA001u : c >> 1);
			table[b] = c;
		}
		ready = 1;
	}
	uint16_t crc = 0xFFFF;
	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)((crc >> 8) ^ table[(crc ^ p[i]) & 0xff]);
	return crc;
}

static inline void lg_put_be(uint8_t *out, uint64_t v, int n)
{
	for (int k = n - 1; k >= 0; k--) {
		out[k] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static inline void lg_put_le(uint8_t *out, uint64_t v, int n)
{
	for (int k = 0; k < n; k++) {
		out[k] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static inline uint32_t lg_f32_bits(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof b);
	return b;
}

static inline uint64_t lg_f64_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	return b;
}

static inline void lg_sensor24_encode(const struct lg_sensor24 *p, uint8_t *out)
{
	lg_put_be(out + 0, p->sensor_id, 4);
	lg_put_be(out + 4, lg_f64_bits(p->timestamp), 8);
	lg_put_be(out + 12, p->sensor_type, 2);
	out[14] = p->status_flags;
	out[15] = (uint8_t)p->temperature;
	lg_put_be(out + 16, lg_f32_bits(p->humidity), 4);
	lg_put_be(out + 20, lg_f32_bits(p->pressure), 4);
}

static inline void lg_legacy16_encode(const struct lg_legacy16 *p, uint8_t *out)
{
	lg_put_be(out + 0, p->signature, 2);
	lg_put_le(out + 2, (uint32_t)p->device_id, 4);
	lg_put_be(out + 6, lg_f32_bits(p->voltage), 4);
	out[10] = p->status;
	out[11] = p->checksum;
	lg_put_le(out + 12, p->uptime, 4);
}

static inline void lg_env16_encode(const struct lg_env16 *p, uint8_t *out)
{
	out[0] = p->proto;
	lg_put_le(out + 1, p->dev_id, 3);
	lg_put_le(out + 4, (uint16_t)p->temp_raw, 2);
	out[6] = p->rh_raw;
	out[7] = p->flags;
	lg_put_be(out + 8, p->seq, 6);
	lg_put_le(out + 14, lg_crc16_modbus(out, 14), 2);
}

/* count as env16's schema reads it: the u64 BE at 8..15 of the encoded frame. */
static inline uint64_t lg_env16_count(const uint8_t frame[LG_ENV16_SIZE])
{
	uint64_t v = 0;
	for (int k = 8; k < 16; k++)
		v = v << 8 | frame[k];
	return v;
}

/* Fills the raw TLV value of (conn, seq); len must be >= LG_RAW_ID_SIZE. */
static inline void lg_raw_fill(uint64_t conn, uint64_t seq, uint8_t *out, size_t len)
{
	lg_put_be(out, (uint32_t)conn, 4);
	lg_put_be(out + 4, seq, 8);
	uint64_t base = seq * 131u + conn * 31u;
	for (size_t k = LG_RAW_ID_SIZE; k < len; k++)
		out[k] = (uint8_t)(base + k * 7u + (k >> 8));
}

#endif
