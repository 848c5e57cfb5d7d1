/*
 * schema: the built-in packet tables and the one decoder that reads them.
 *
 * The tables restate SPEC.md's wire formats field by field; the decoder
 * knows types and byte orders, nothing about any particular packet.  Reads
 * go through memcpy-free byte assembly so unaligned frames (anywhere in a
 * read buffer) are fine on every architecture.
 */
#include "schema.h"

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

static const unsigned type_width[] = {
	[FT_U8] = 1, [FT_I8] = 1, [FT_U16] = 2, [FT_I16] = 2,
	[FT_U32] = 4, [FT_I32] = 4, [FT_F32] = 4, [FT_F64] = 8,
};

/* Assembles an unsigned integer of `width` bytes in the given order. */
static inline uint64_t
load(const uint8_t *p, unsigned width, enum byte_order order)
{
	uint64_t v = 0;

	if (order == BO_BIG)
		for (unsigned i = 0; i < width; i++)
			v = (v << 8) | p[i];
	else
		for (unsigned i = width; i-- > 0;)
			v = (v << 8) | p[i];
	return v;
}

enum schema_status
schema_decode(const struct schema *s, const uint8_t *p, size_t len, union value *out)
{
	if (len != s->size)
		return SCHEMA_BAD_SIZE;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];
		uint64_t raw = load(p + f->offset, type_width[f->type], (enum byte_order)f->order);

		switch ((enum field_type)f->type) {
		case FT_U8: case FT_U16: case FT_U32:
			out[i].i = (int64_t)raw;
			break;
		case FT_I8:
			out[i].i = (int8_t)(uint8_t)raw;
			break;
		case FT_I16:
			out[i].i = (int16_t)(uint16_t)raw;
			break;
		case FT_I32:
			out[i].i = (int32_t)(uint32_t)raw;
			break;
		case FT_F32: {
			uint32_t bits = (uint32_t)raw;
			float fv;
			memcpy(&fv, &bits, sizeof(fv));
			out[i].f = (double)fv;
			break;
		}
		case FT_F64:
			memcpy(&out[i].f, &raw, sizeof(double));
			break;
		}
		if (f->is_magic && raw != f->magic)
			return SCHEMA_BAD_MAGIC;
	}
	return SCHEMA_OK;
}
