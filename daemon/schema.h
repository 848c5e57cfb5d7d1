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

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
 * Checks a frame of `len` bytes at `p` (borrowed) against s: SCHEMA_BAD_SIZE
 * when len != s->size, SCHEMA_BAD_MAGIC when a magic field differs.
 */
enum schema_status schema_check(const struct schema *s, const uint8_t *p, size_t len);

/*
 * schema_check(), then every field of the frame into out[0..s->nfields);
 * on an error out is not written.
 */
enum schema_status schema_decode(const struct schema *s, const uint8_t *p, size_t len,
				 union value *out);

/* Loads of each width and byte order; memcpy of a constant size compiles
 * to one unaligned load, and the swap to one instruction. */
static inline uint16_t schema_be16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static inline uint16_t schema_le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t schema_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static inline uint32_t schema_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t schema_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint64_t schema_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static inline double
schema_f32(uint32_t bits)
{
	float f;

	memcpy(&f, &bits, sizeof f);
	return (double)f;
}

static inline double
schema_f64(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof d);
	return d;
}

/* One case per (type, byte order): a field costs one jump, not two. */
#define SCHEMA_OP(type, order) ((unsigned)(type) << 1 | (unsigned)(order))

/*
 * The value of field f in a frame (borrowed) of its schema's size, which
 * the caller has checked.  Inline, because this is the decode step of every
 * record: the record writer calls it field by field as it writes.
 */
static inline union value
schema_field(const struct field *f, const uint8_t *frame)
{
	const uint8_t *q = frame + f->offset;
	union value v;

	switch (SCHEMA_OP(f->type, f->order)) {
	case SCHEMA_OP(FT_U8, BO_BIG):     case SCHEMA_OP(FT_U8, BO_LITTLE):
		v.i = q[0];
		break;
	case SCHEMA_OP(FT_I8, BO_BIG):     case SCHEMA_OP(FT_I8, BO_LITTLE):
		v.i = (int8_t)q[0];
		break;
	case SCHEMA_OP(FT_U16, BO_BIG):    v.i = schema_be16(q); break;
	case SCHEMA_OP(FT_U16, BO_LITTLE): v.i = schema_le16(q); break;
	case SCHEMA_OP(FT_I16, BO_BIG):    v.i = (int16_t)schema_be16(q); break;
	case SCHEMA_OP(FT_I16, BO_LITTLE): v.i = (int16_t)schema_le16(q); break;
	case SCHEMA_OP(FT_U32, BO_BIG):    v.i = schema_be32(q); break;
	case SCHEMA_OP(FT_U32, BO_LITTLE): v.i = schema_le32(q); break;
	case SCHEMA_OP(FT_I32, BO_BIG):    v.i = (int32_t)schema_be32(q); break;
	case SCHEMA_OP(FT_I32, BO_LITTLE): v.i = (int32_t)schema_le32(q); break;
	case SCHEMA_OP(FT_F32, BO_BIG):    v.f = schema_f32(schema_be32(q)); break;
	case SCHEMA_OP(FT_F32, BO_LITTLE): v.f = schema_f32(schema_le32(q)); break;
	case SCHEMA_OP(FT_F64, BO_BIG):    v.f = schema_f64(schema_be64(q)); break;
	default:                           v.f = schema_f64(schema_le64(q)); break;
	}
	return v;
}

#endif
