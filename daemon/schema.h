/*
 * schema: fixed-layout packets described as data.
 *
 * A schema is a table of fields (name, offset, type, byte order); one
 * decoder interprets every table, so a new packet kind is a new table, not
 * new code.  A field may be a magic: its value must equal the table's
 * constant or the frame is rejected (legacy16's 0xCAFE signature).
 * Pure: no I/O, no allocation.
 */
#ifndef INGESTD_SCHEMA_H
#define INGESTD_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

enum field_type { FT_U8, FT_I8, FT_U16, FT_I16, FT_U32, FT_I32, FT_F32, FT_F64 };
enum byte_order { BO_BIG, BO_LITTLE };

#define SCHEMA_MAX_FIELDS 32

struct field {
	const char     *name;
	uint16_t        offset;
	uint8_t         type;      /* enum field_type */
	uint8_t         order;     /* enum byte_order */
	uint8_t         is_magic;
	uint32_t        magic;     /* required value when is_magic (an unsigned field) */
};

struct schema {
	const char     *name;
	size_t          size;      /* bytes in one packet */
	size_t          nfields;
	struct field    fields[SCHEMA_MAX_FIELDS];
};

/* One decoded field: integers in .i, floats (f32 widened) in .f. */
union value {
	int64_t i;
	double  f;
};

enum schema_status { SCHEMA_OK, SCHEMA_BAD_SIZE, SCHEMA_BAD_MAGIC };

/* Returns the built-in schema of that name (borrowed, static), or NULL. */
const struct schema *schema_find(const char *name);

/* Names of the built-in schemas, NULL-terminated (for error messages). */
extern const char *const schema_builtin_names[];

/* 1 when the field type is a float. */
int field_is_float(enum field_type t);

/*
 * Decodes `len` bytes at `p` (borrowed) into out[0..s->nfields).  Returns
 * SCHEMA_BAD_SIZE when len != s->size, SCHEMA_BAD_MAGIC when a magic field
 * differs; out is then partly written and must not be used.
 */
enum schema_status schema_decode(const struct schema *s, const uint8_t *p, size_t len,
				 union value *out);

#endif
