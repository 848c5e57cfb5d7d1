/*
 * schema: the built-in packet tables and the one decoder that reads them.
 *
 * The tables restate SPEC.md's wire formats field by field; the decoder
 * knows types and byte orders, nothing about any particular packet.  Reads
 * go through fixed-size memcpy and byte swaps, so unaligned frames (anywhere
 * in a read buffer) are fine on every architecture.
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

enum schema_status
schema_check(const struct schema *s, const uint8_t *p, size_t len)
{
	if (len != s->size)
		return SCHEMA_BAD_SIZE;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];

		/* Magic fields are unsigned integers (schema.h). */
		if (f->is_magic && schema_field(f, p).i != (int64_t)f->magic)
			return SCHEMA_BAD_MAGIC;
	}
	return SCHEMA_OK;
}

enum schema_status
schema_decode(const struct schema *s, const uint8_t *p, size_t len, union value *out)
{
	enum schema_status st = schema_check(s, p, len);

	if (st != SCHEMA_OK)
		return st;
	for (size_t i = 0; i < s->nfields; i++)
		out[i] = schema_field(&s->fields[i], p);
	return SCHEMA_OK;
}
