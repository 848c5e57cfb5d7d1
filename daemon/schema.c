/*
 * schema: the built-in packet tables and the one decoder that reads them.
 *
 * The tables restate SPEC.md's wire formats field by field; the decoder
 * knows types and byte orders, nothing about any particular packet.  Reads
 * go through fixed-size memcpy and byte swaps, so unaligned frames (anywhere
 * in a read buffer) are fine on every architecture.
 */
#include "schema.h"

#include <endian.h>
#include <string.h>

static const struct schema builtin[] = {
	{
		.name = "sensor24",
		.size = 24,
		.nfields = 7,
		.fields = {
			{ "sensorId",    0,  FT_U32, BO_BIG, 0, 0 },
			{ "timestamp",   4,  FT_F64, BO_BIG, 0, 0 },
			{ "sensorType",  12, FT_U16, BO_BIG, 0, 0 },
			{ "statusFlags", 14, FT_U8,  BO_BIG, 0, 0 },
			{ "temperature", 15, FT_I8,  BO_BIG, 0, 0 },
			{ "humidity",    16, FT_F32, BO_BIG, 0, 0 },
			{ "pressure",    20, FT_F32, BO_BIG, 0, 0 },
		},
	},
	{
		.name = "legacy16",
		.size = 16,
		.nfields = 6,
		.fields = {
			{ "signature", 0,  FT_U16, BO_BIG,    1, 0xCAFE },
			{ "deviceId",  2,  FT_I32, BO_LITTLE, 0, 0 },
			{ "voltage",   6,  FT_F32, BO_BIG,    0, 0 },
			{ "status",    10, FT_U8,  BO_BIG,    0, 0 },
			{ "checksum",  11, FT_U8,  BO_BIG,    0, 0 },
			{ "uptime",    12, FT_U32, BO_LITTLE, 0, 0 },
		},
	},
};

const char *const schema_builtin_names[] = { "sensor24", "legacy16", NULL };

const struct schema *
schema_find(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	return NULL;
}

int
field_is_float(enum field_type t)
{
	return t == FT_F32 || t == FT_F64;
}

/* Loads of each width and byte order; memcpy of a constant size compiles
 * to one unaligned load, and the swap to one instruction. */
static inline uint16_t ld_be16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static inline uint16_t ld_le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t ld_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static inline uint32_t ld_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t ld_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint64_t ld_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static inline double
f32_bits(uint32_t bits)
{
	float f;

	memcpy(&f, &bits, sizeof f);
	return (double)f;
}

static inline double
f64_bits(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof d);
	return d;
}

/* One case per (type, byte order): a field costs one jump, not two. */
#define OP(type, order) ((unsigned)(type) << 1 | (unsigned)(order))

enum schema_status
schema_decode(const struct schema *s, const uint8_t *p, size_t len, union value *out)
{
	if (len != s->size)
		return SCHEMA_BAD_SIZE;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];
		const uint8_t *q = p + f->offset;

		switch (OP(f->type, f->order)) {
		case OP(FT_U8, BO_BIG):     case OP(FT_U8, BO_LITTLE):
			out[i].i = q[0];
			break;
		case OP(FT_I8, BO_BIG):     case OP(FT_I8, BO_LITTLE):
			out[i].i = (int8_t)q[0];
			break;
		case OP(FT_U16, BO_BIG):    out[i].i = ld_be16(q); break;
		case OP(FT_U16, BO_LITTLE): out[i].i = ld_le16(q); break;
		case OP(FT_I16, BO_BIG):    out[i].i = (int16_t)ld_be16(q); break;
		case OP(FT_I16, BO_LITTLE): out[i].i = (int16_t)ld_le16(q); break;
		case OP(FT_U32, BO_BIG):    out[i].i = ld_be32(q); break;
		case OP(FT_U32, BO_LITTLE): out[i].i = ld_le32(q); break;
		case OP(FT_I32, BO_BIG):    out[i].i = (int32_t)ld_be32(q); break;
		case OP(FT_I32, BO_LITTLE): out[i].i = (int32_t)ld_le32(q); break;
		case OP(FT_F32, BO_BIG):    out[i].f = f32_bits(ld_be32(q)); break;
		case OP(FT_F32, BO_LITTLE): out[i].f = f32_bits(ld_le32(q)); break;
		case OP(FT_F64, BO_BIG):    out[i].f = f64_bits(ld_be64(q)); break;
		case OP(FT_F64, BO_LITTLE): out[i].f = f64_bits(ld_le64(q)); break;
		}
		/* Magic fields are unsigned integers (schema.h). */
		if (f->is_magic && out[i].i != (int64_t)f->magic)
			return SCHEMA_BAD_MAGIC;
	}
	return SCHEMA_OK;
}
