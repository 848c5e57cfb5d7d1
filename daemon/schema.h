/*
 * schema: fixed-layout packets described as data.
 *
 * A schema is a table of fields (name, type, offset, byte order, options)
 * and an optional checksum; one decoder interprets every table, so a new
 * packet kind is a new table, not new code.  The two built-in tables
 * (sensor24, legacy16) and the ones operators declare in the config
 * ([schema NAME], parsed by config.c with schema_parse_field() and
 * schema_parse_checksum(), checked by schema_finish()) are the same
 * structure and take the same path through the decoder and record writer.
 *
 * A field's value, in this order: the bytes at its offset read in its byte
 * order (u24/i24: three bytes); `bits=LO..HI` keeps those bits of that
 * integer (bit 0 least significant), sign-extended from the top kept bit
 * for a signed type; `magic=V` must equal that value or the frame is bad;
 * `scale=X` / `div=X` then `add=Y` turn it into a double, each operation
 * rounded on its own (the build disables contraction into fused
 * multiply-adds), so results match JavaScript's `raw * X + Y` bit for bit.
 *
 * Pure: no I/O, no allocation.
 */
#ifndef INGESTD_SCHEMA_H
#define INGESTD_SCHEMA_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checksum.h"

#define SCHEMA_TYPES(X)          \
	X(U8,  "u8",  1, 0)      \
	X(I8,  "i8",  1, 1)      \
	X(U16, "u16", 2, 0)      \
	X(I16, "i16", 2, 1)      \
	X(U24, "u24", 3, 0)      \
	X(I24, "i24", 3, 1)      \
	X(U32, "u32", 4, 0)      \
	X(I32, "i32", 4, 1)      \
	X(U64, "u64", 8, 0)      \
	X(I64, "i64", 8, 1)      \
	X(F32, "f32", 4, 1)      \
	X(F64, "f64", 8, 1)      \
	X(STR, "str", 0, 0)      \
	X(HEX, "hex", 0, 0)

enum field_type {
#define X(id, name, width, is_signed) FT_##id,
	SCHEMA_TYPES(X)
#undef X
	FT__COUNT
};

enum byte_order { BO_BIG, BO_LITTLE };

/* How a value is read: bytes and order (floats read their bits this way). */
enum field_load { LD_1, LD_BE2, LD_LE2, LD_BE3, LD_LE3, LD_BE4, LD_LE4, LD_BE8, LD_LE8,
		  LD_BYTES };

/* How a value is printed (derived from type and options by schema_finish). */
enum field_print {
	PR_INT,          /* integer that fits int64: decimal */
	PR_U64,          /* u64 (whole or bits=...63): unsigned decimal */
	PR_INT_STRING,   /* json=string: "decimal" */
	PR_U64_STRING,
	PR_F32,          /* the float widened to double, as JavaScript prints it */
	PR_F64,
	PR_SCALED,       /* scale/div/add applied in double */
	PR_STR,
	PR_HEX,
};

enum field_scaling { SC_NONE, SC_SCALE, SC_DIV };

/*
 * The record writer's shortcut for the plainest fields (no bits, no
 * scaling, no json=string): one load and one cast, in one jump.  Any other
 * field is FAST_NONE and takes schema_value().  Both give the same value;
 * the fuzzers compare them.
 */
enum field_fast {
	FAST_NONE,
	FAST_U8, FAST_I8,
	FAST_U16BE, FAST_U16LE, FAST_I16BE, FAST_I16LE,
	FAST_U32BE, FAST_U32LE, FAST_I32BE, FAST_I32LE,
	FAST_F32BE, FAST_F32LE, FAST_F64BE, FAST_F64LE,
};

#define SCHEMA_MAX_FIELDS 32
#define SCHEMA_NAME_MAX   64    /* schema and field names, NUL included */

struct field {
	char     name[SCHEMA_NAME_MAX];
	uint16_t offset;
	uint8_t  type;        /* enum field_type */
	uint8_t  order;       /* enum byte_order */
	uint8_t  is_magic;
	uint64_t magic;       /* the value's bits, sign-extended for signed types */

	/* Options as written (zero: not given). */
	uint16_t len;         /* str, hex: bytes */
	uint8_t  order_given; /* be/le on the field itself; else the schema's */
	uint8_t  has_bits, bit_lo, bit_hi;
	uint8_t  omit, json_string;
	uint8_t  scaling;     /* enum field_scaling */
	uint8_t  has_add;
	double   factor;      /* scale=X or div=X */
	double   add;

	/* Derived by schema_finish(): read, keep bits, extend, print. */
	uint8_t  load;        /* enum field_load */
	uint8_t  shift;       /* bit_lo */
	uint8_t  print;       /* enum field_print */
	uint8_t  fast;        /* enum field_fast */
	uint64_t mask;        /* the kept bits, after the shift */
	uint64_t sign;        /* top kept bit for signed integer types, else 0 */
};

struct schema_checksum {
	uint8_t  algo;        /* enum checksum_algo; CK_NONE: no checksum */
	uint8_t  order;
	uint8_t  order_given;
	uint16_t offset;      /* where the stored value is */
	uint16_t first, last; /* bytes covered, both included */
};

struct schema {
	char                   name[SCHEMA_NAME_MAX];
	size_t                 size;      /* bytes in one packet */
	uint8_t                order;     /* default byte order (enum byte_order) */
	size_t                 nfields;
	struct field           fields[SCHEMA_MAX_FIELDS];
	struct schema_checksum checksum;
	uint8_t                needs_check;  /* a magic or a checksum (schema_finish) */
};

/* One decoded field: integers in .i (u64: .u), floats and scaled values
 * in .f; str and hex fields have no value here (.i = 0). */
union value {
	int64_t  i;
	uint64_t u;
	double   f;
};

enum schema_status { SCHEMA_OK, SCHEMA_BAD_SIZE, SCHEMA_BAD_MAGIC, SCHEMA_BAD_CHECKSUM };

/* Returns the built-in schema of that name (borrowed, static), or NULL. */
const struct schema *schema_find(const char *name);

/* Names of the built-in schemas, NULL-terminated (for error messages). */
extern const char *const schema_builtin_names[];

/* 1 when the field type is a float. */
int field_is_float(enum field_type t);
/* The type named `name` ("u24"), or -1; and the names, for messages. */
int         schema_type_find(const char *name);
const char *schema_type_name(enum field_type t);
const char *schema_type_names(void);
/* Bytes a field occupies (str/hex: its len). */
size_t field_width(const struct field *f);

/*
 * Parses a field line's value, "TYPE @OFFSET [options]", into *f (cleared
 * first) under the JSON key `name`.  Checks everything that does not need
 * the schema's size or order: the name, the type, each option's syntax,
 * options given twice or together that exclude each other, bits within the
 * type's width, a magic that fits its type, div=0, a non-finite factor.
 * Returns 0, or -1 with a message in err ("unknown option \"x\"").
 */
int schema_parse_field(struct field *f, const char *name, const char *spec, char *err,
		       size_t errlen);
/* Parses "ALGO @OFFSET over=FIRST..LAST [be|le]" into *c. */
int schema_parse_checksum(struct schema_checksum *c, const char *spec, char *err,
			  size_t errlen);

/* Where schema_finish() found a problem. */
#define SCHEMA_AT_SCHEMA   (-1)   /* the schema as a whole */
#define SCHEMA_AT_CHECKSUM (-2)

/*
 * Completes a parsed schema (size, order, fields, checksum set): applies
 * the default byte order, checks every field and the checksum against the
 * size, and derives how each field is read and printed.  Returns 0, or -1
 * with a message in err and *where set to the field's index or one of
 * SCHEMA_AT_*.
 */
int schema_finish(struct schema *s, char *err, size_t errlen, int *where);

/* 1 when s has a magic field or a checksum: a frame can be told from
 * noise, which on_bad_frame = resync and schema sets need. */
int schema_has_magic(const struct schema *s);
int schema_can_resync(const struct schema *s);

/*
 * 1 when every frame whose magics b accepts is also accepted by a, so with
 * a listed before b on one listener, b would never decode a frame (same
 * size assumed).  Also 1 when b's magics contradict each other.
 */
int schema_shadows(const struct schema *a, const struct schema *b);

/* schema_check()'s magic and checksum part, for a frame of s's size. */
enum schema_status schema_check_fields(const struct schema *s, const uint8_t *p);

/*
 * Checks a frame of `len` bytes at `p` (borrowed) against s: SCHEMA_BAD_SIZE
 * when len != s->size, SCHEMA_BAD_MAGIC when a magic field differs,
 * SCHEMA_BAD_CHECKSUM when the checksum does not match.  Inline: for a
 * schema with nothing to check (no magic, no checksum) it is one compare,
 * on every frame.
 */
static inline enum schema_status
schema_check(const struct schema *s, const uint8_t *p, size_t len)
{
	if (len != s->size)
		return SCHEMA_BAD_SIZE;
	if (!s->needs_check)
		return SCHEMA_OK;
	return schema_check_fields(s, p);
}

/*
 * For a listener with several schemas of one size: the first of set[0..n)
 * whose magic fields match the frame, in *idx; then its checksum.
 * SCHEMA_BAD_MAGIC when none matches (*idx untouched).
 */
enum schema_status schema_select(const struct schema *const *set, size_t n, const uint8_t *p,
				 size_t len, size_t *idx);

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

/* The bytes of field f in a frame (borrowed), zero-extended; floats give
 * their bit pattern.  Inline: this is the decode step of every record. */
static inline uint64_t
schema_load(const struct field *f, const uint8_t *frame)
{
	const uint8_t *q = frame + f->offset;

	switch (f->load) {
	case LD_1:   return q[0];
	case LD_BE2: return schema_be16(q);
	case LD_LE2: return schema_le16(q);
	case LD_BE3: return (uint64_t)q[0] << 16 | (uint64_t)q[1] << 8 | q[2];
	case LD_LE3: return (uint64_t)q[2] << 16 | (uint64_t)q[1] << 8 | q[0];
	case LD_BE4: return schema_be32(q);
	case LD_LE4: return schema_le32(q);
	case LD_BE8: return schema_be64(q);
	case LD_LE8: return schema_le64(q);
	default:     return 0;
	}
}

/* An integer field's value: its bits kept and sign-extended (for u64 the
 * bit pattern, to be read as unsigned). */
static inline int64_t
schema_int(const struct field *f, const uint8_t *frame)
{
	uint64_t v = (schema_load(f, frame) >> f->shift) & f->mask;

	return (int64_t)((v ^ f->sign) - f->sign);
}

/* A numeric field as a double before scaling: floats widened, integers
 * converted (rounded to nearest, as JavaScript's Number(BigInt) does). */
static inline double
schema_number(const struct field *f, const uint8_t *frame)
{
	switch (f->type) {
	case FT_F32: return schema_f32((uint32_t)schema_load(f, frame));
	case FT_F64: return schema_f64(schema_load(f, frame));
	case FT_U64: return (double)(uint64_t)schema_int(f, frame);
	default:     return (double)schema_int(f, frame);
	}
}

/* A PR_SCALED field's value. */
static inline double
schema_scaled(const struct field *f, const uint8_t *frame)
{
	double x = schema_number(f, frame);

	if (f->scaling == SC_SCALE)
		x = x * f->factor;
	else if (f->scaling == SC_DIV)
		x = x / f->factor;
	if (f->has_add)
		x = x + f->add;
	return x;
}

/* A numeric field's value as schema_decode() gives it (union value). */
static inline union value
schema_value(const struct field *f, const uint8_t *frame)
{
	union value v;

	switch (f->print) {
	case PR_F32:
	case PR_F64:    v.f = schema_number(f, frame); break;
	case PR_SCALED: v.f = schema_scaled(f, frame); break;
	case PR_STR:
	case PR_HEX:    v.i = 0; break;
	default:        v.i = schema_int(f, frame); break;
	}
	return v;
}

#endif
