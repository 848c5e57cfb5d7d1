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
#define LG_RAW_ID_SIZE   12
#define LG_LEGACY16_SIG  0xCAFE

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
