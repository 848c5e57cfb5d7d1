/*
 * fuzz_schema: schema.c's decoder and record.c's writer (with jsnum.c's
 * numbers) on arbitrary bytes, for the built-in schemas and for schemas
 * declared in the config ([schema NAME], issue 12).
 *
 * Built-ins.  Each built-in schema (sensor24, legacy16) decodes the whole
 * input, which must fail with SCHEMA_BAD_SIZE unless its length is the
 * schema's size, and then the input's prefix of exactly that size, which
 * must succeed or (legacy16, signature not 0xCAFE) fail with
 * SCHEMA_BAD_MAGIC, and must give the values SPEC.md's tables give (an
 * independent decoding here).  A third, synthetic table (finished with
 * schema_finish(), as every table must be) covers the numeric types in both
 * byte orders and field names that need JSON escaping.  Each successful
 * decode is written as a record, with metadata off and on, into a heap
 * buffer of exactly record_bound() bytes, and read back with jansson (and
 * compared with record_write_frame's bytes for the same frame): one
 * '\n'-terminated line holding one JSON object with the schema's keys (then
 * the metadata keys) in order, no duplicates, integers as JSON integers
 * equal to the decoded ones, floats equal to the decoded double, or null
 * for NaN and the infinities.
 *
 * Declared schemas.  The same input is also read as a compact description
 * of a schema (layout below), which is written out as the text of a
 * [schema f] section with a fixed listener naming it and loaded with
 * config_load_text(), as the daemon loads its config.  The load must
 * succeed exactly when the description is valid by issue 12's rules (the
 * generator knows when it wrote div=0, a non-finite factor, a checksum over
 * its own bytes or only omitted fields), and the loaded table must hold
 * what the text said.  Then the frame (the rest of the input, repeated to
 * the schema's size; a correct checksum is stored into it on request, and
 * magics are taken from it on request, so good frames are common) goes
 * through ds_check_frame(): schema_check(), schema_select() and
 * schema_decode() must give the verdict of an independent reference
 * (byte loops for each width and order, bits, sign extension, bitwise
 * CRCs from the catalogue's parameters), schema_decode() the reference's
 * values (doubles bit for bit: scaling in double, one rounding per
 * operation), and record_write() / record_write_frame(), metadata off and
 * on, exactly the text built here from the reference (integers by printf,
 * doubles by jsnum_double(), which test_jsnum checks against JavaScript;
 * str by issue 12's rule: the bytes up to the first NUL, each well-formed
 * UTF-8 sequence kept, each other byte U+FFFD, escaped as JSON.stringify
 * escapes; hex in lowercase), within record_bound(), and that text must
 * read back with jansson as one object with the printed fields' keys in
 * order, then the metadata, each value equal to the reference's.
 *
 * fuzz_record.c includes this file (FZ_SCHEMA_LIBRARY defined) for the
 * declared-schema checks (the ds_* functions), feeding them schemas
 * written as config text.
 *
 * An input starting with a 0 byte is instead a [schema f] body in text up
 * to the next NUL, then the frame's bytes, as fuzz_record takes them
 * (ds_run_text(): every schema the text declares is checked, with the
 * loaded table as the meaning of the text).
 *
 * Compact schema layout (the whole input; max_len is 64):
 *   [0]  bits 0-2: fields - 1; bit 3: order = le; bits 4-7: checksum
 *        algorithm (value % 7: 0 none, then xor8 sum8 crc8 crc16-modbus
 *        crc16-ccitt crc32)
 *   [1]  bits 0-5: size - 1 at least (fields and checksum widen it);
 *        bit 7: write "order = be" when the order is be
 *   [2]  checksum offset, [3] first byte covered, [4] span (see gen_checksum)
 *   [5]  checksum flags: bit 0 store the right checksum in the frame,
 *        bit 1 be/le on the checksum line (bit 2: le), bit 3 at the end
 *   then 4 bytes per field: T O A B
 *        T: bits 0-3 type (% 14: u8 i8 u16 i16 u24 i24 u32 i32 u64 i64 f32
 *           f64 str hex); bit 4: be/le given (bit 5: le); bit 6: omit;
 *           bit 7: bits= (range from B and A >> 3)
 *        O: offset
 *        A: bits 0-2 option: 0 none, 1 magic, 2 scale, 3 div, 4 add,
 *           5 scale+add, 6 div+add, 7 json=string (u64, i64); bits 3-7: a
 *           parameter (the factor's index; str/hex: len - 1; magic: how
 *           it is written)
 *        B: a parameter (add's index; magic: bit 0 the frame's own value,
 *           else the frame's value changed; bits: the low bit)
 *   the rest: the frame's bytes
 */
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "jsnum.h"
#include "record.h"
#include "schema.h"

/* ==== declared schemas: an independent reading of issue 12's rules ==== */

enum { RK_INT, RK_FLOAT, RK_STR, RK_HEX };

static const struct ds_type {
	const char *name;
	unsigned    width;       /* bytes; 0: len=N */
	int         is_signed;
	int         kind;
} ds_types[] = {
	{ "u8",  1, 0, RK_INT },   { "i8",  1, 1, RK_INT },
	{ "u16", 2, 0, RK_INT },   { "i16", 2, 1, RK_INT },
	{ "u24", 3, 0, RK_INT },   { "i24", 3, 1, RK_INT },
	{ "u32", 4, 0, RK_INT },   { "i32", 4, 1, RK_INT },
	{ "u64", 8, 0, RK_INT },   { "i64", 8, 1, RK_INT },
	{ "f32", 4, 1, RK_FLOAT }, { "f64", 8, 1, RK_FLOAT },
	{ "str", 0, 0, RK_STR },   { "hex", 0, 0, RK_HEX },
};
#define DS_NTYPES (sizeof(ds_types) / sizeof(ds_types[0]))

static const struct ds_algo {
	const char *name;
	unsigned    width;
} ds_algos[] = {
	{ "xor8", 1 }, { "sum8", 1 }, { "crc8", 1 },
	{ "crc16-modbus", 2 }, { "crc16-ccitt", 2 }, { "crc32", 4 },
};
#define DS_NALGOS (sizeof(ds_algos) / sizeof(ds_algos[0]))

enum { DS_SC_NONE, DS_SC_SCALE, DS_SC_DIV };

struct ds_field {
	char                  name[SCHEMA_NAME_MAX];
	const struct ds_type *t;
	unsigned              offset, width;
	int                   le;
	int                   has_bits;
	unsigned              lo, hi;
	int                   scaling;      /* DS_SC_* */
	double                factor;
	int                   has_add;
	double                add;
	int                   omit, json_string;
	int                   is_magic;
	uint64_t              magic;        /* the value's bits, sign-extended */
};

struct ds_schema {
	char                  name[SCHEMA_NAME_MAX];
	size_t                size;
	int                   le;
	size_t                nfields;
	struct ds_field       f[SCHEMA_MAX_FIELDS];
	const struct ds_algo *ck;           /* NULL: no checksum */
	unsigned              ck_offset, ck_first, ck_last;
	int                   ck_le;
};

static const struct ds_type *
ds_type_named(const char *name)
{
	for (size_t i = 0; i < DS_NTYPES; i++)
		if (strcmp(ds_types[i].name, name) == 0)
			return &ds_types[i];
	return NULL;
}

static const struct ds_algo *
ds_algo_named(const char *name)
{
	for (size_t i = 0; i < DS_NALGOS; i++)
		if (strcmp(ds_algos[i].name, name) == 0)
			return &ds_algos[i];
	return NULL;
}

/* ---- checksums, bit by bit from the catalogue's parameters ---- */

static uint32_t
ds_checksum(const struct ds_algo *a, const uint8_t *p, size_t n)
{
	uint32_t c;

	if (strcmp(a->name, "xor8") == 0) {
		for (c = 0; n--; p++)
			c ^= *p;
		return c;
	}
	if (strcmp(a->name, "sum8") == 0) {
		for (c = 0; n--; p++)
			c = (c + *p) & 0xFF;
		return c;
	}
	if (strcmp(a->name, "crc8") == 0) {        /* CRC-8/SMBUS */
		for (c = 0; n--; p++) {
			c ^= *p;
			for (int k = 0; k < 8; k++)
				c = (c & 0x80) ? ((c << 1) ^ 0x07) & 0xFF : (c << 1) & 0xFF;
		}
		return c;
	}
	if (strcmp(a->name, "crc16-modbus") == 0) { /* poly 0x8005 reflected, init 0xFFFF */
		for (c = 0xFFFF; n--; p++) {
			c ^= *p;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0xA001 : c >> 1;
		}
		return c;
	}
	if (strcmp(a->name, "crc16-ccitt") == 0) {  /* CRC-16/IBM-3740 */
		for (c = 0xFFFF; n--; p++) {
			c ^= (uint32_t)*p << 8;
			for (int k = 0; k < 8; k++)
				c = (c & 0x8000) ? ((c << 1) ^ 0x1021) & 0xFFFF : (c << 1) & 0xFFFF;
		}
		return c;
	}
	CHECK(strcmp(a->name, "crc32") == 0);         /* CRC-32/ISO-HDLC */
	for (c = 0xFFFFFFFFu; n--; p++) {
		c ^= *p;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
	}
	return ~c;
}

/* ---- the reference decoding ---- */

static uint64_t
ds_load(const uint8_t *p, unsigned w, int le)
{
	uint64_t v = 0;

	if (le) {
		for (unsigned i = w; i-- > 0;)
			v = v << 8 | p[i];
	} else {
		for (unsigned i = 0; i < w; i++)
			v = v << 8 | p[i];
	}
	return v;
}

static void
ds_store(uint8_t *p, unsigned w, int le, uint64_t v)
{
	for (unsigned i = 0; i < w; i++)
		p[le ? i : w - 1 - i] = (uint8_t)(v >> (8 * i));
}

static unsigned
ds_value_bits(const struct ds_field *f)
{
	return f->has_bits ? f->hi - f->lo + 1 : f->width * 8;
}

/* Keeps the low nb bits of v, sign-extended from the top one when signed. */
static uint64_t
ds_extend(uint64_t v, unsigned nb, int is_signed)
{
	if (nb >= 64)
		return v;
	v &= ((uint64_t)1 << nb) - 1;
	if (is_signed && ((v >> (nb - 1)) & 1))
		v |= ~(((uint64_t)1 << nb) - 1);
	return v;
}

/* An integer field's value as a bit pattern (sign-extended when signed). */
static uint64_t
ds_int_bits(const struct ds_field *f, const uint8_t *frame)
{
	uint64_t v = ds_load(frame + f->offset, f->width, f->le);

	if (f->has_bits)
		v >>= f->lo;
	return ds_extend(v, ds_value_bits(f), f->t->is_signed);
}

static int
ds_is_scaled(const struct ds_field *f)
{
	return f->scaling != DS_SC_NONE || f->has_add;
}

enum { RV_INT, RV_UINT, RV_INT_STR, RV_UINT_STR, RV_DOUBLE, RV_STR, RV_HEX };

struct ds_value {
	int      kind;
	int64_t  i;
	uint64_t u;
	double   d;
};

static struct ds_value
ds_value(const struct ds_field *f, const uint8_t *frame)
{
	struct ds_value r = { 0, 0, 0, 0 };
	double x;

	switch (f->t->kind) {
	case RK_STR:
		r.kind = RV_STR;
		return r;
	case RK_HEX:
		r.kind = RV_HEX;
		return r;
	case RK_FLOAT: {
		uint64_t bits = ds_load(frame + f->offset, f->width, f->le);

		if (f->width == 4) {
			uint32_t b32 = (uint32_t)bits;
			float fl;

			memcpy(&fl, &b32, sizeof(fl));
			x = (double)fl;
		} else {
			memcpy(&x, &bits, sizeof(x));
		}
		break;
	}
	default: {
		uint64_t v = ds_int_bits(f, frame);

		if (!ds_is_scaled(f)) {
			if (f->t->is_signed) {
				r.kind = f->json_string ? RV_INT_STR : RV_INT;
				r.i = (int64_t)v;
			} else {
				r.kind = f->json_string ? RV_UINT_STR : RV_UINT;
				r.u = v;
			}
			return r;
		}
		x = f->t->is_signed ? (double)(int64_t)v : (double)v;
		break;
	}
	}
	/* One rounding per operation, each in its own statement. */
	if (f->scaling == DS_SC_SCALE)
		x = x * f->factor;
	else if (f->scaling == DS_SC_DIV)
		x = x / f->factor;
	if (f->has_add)
		x = x + f->add;
	r.kind = RV_DOUBLE;
	r.d = x;
	return r;
}

static enum schema_status
ds_verdict(const struct ds_schema *r, const uint8_t *p, size_t len)
{
	if (len != r->size)
		return SCHEMA_BAD_SIZE;
	for (size_t i = 0; i < r->nfields; i++)
		if (r->f[i].is_magic && ds_int_bits(&r->f[i], p) != r->f[i].magic)
			return SCHEMA_BAD_MAGIC;
	if (r->ck != NULL) {
		uint64_t stored = ds_load(p + r->ck_offset, r->ck->width, r->ck_le);

		if (ds_checksum(r->ck, p + r->ck_first, r->ck_last - r->ck_first + 1) != stored)
			return SCHEMA_BAD_CHECKSUM;
	}
	return SCHEMA_OK;
}

/* The table config.c built, as written (not as schema_finish() derived it). */
static void
ds_of_schema(const struct schema *s, struct ds_schema *r)
{
	memset(r, 0, sizeof(*r));
	CHECK(strlen(s->name) < sizeof(r->name));
	strcpy(r->name, s->name);
	r->size = s->size;
	r->le = s->order == BO_LITTLE;
	CHECK(s->nfields >= 1 && s->nfields <= SCHEMA_MAX_FIELDS);
	r->nfields = s->nfields;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];
		struct ds_field *d = &r->f[i];

		strcpy(d->name, f->name);
		d->t = ds_type_named(schema_type_name((enum field_type)f->type));
		CHECK(d->t != NULL);
		d->width = d->t->width ? d->t->width : f->len;
		CHECK(d->width > 0);
		d->offset = f->offset;
		d->le = (f->order_given ? f->order : s->order) == BO_LITTLE;
		d->has_bits = f->has_bits;
		d->lo = f->bit_lo;
		d->hi = f->bit_hi;
		if (d->has_bits)
			CHECK(d->lo <= d->hi && d->hi < d->width * 8 && d->t->kind == RK_INT);
		d->scaling = f->scaling == SC_SCALE ? DS_SC_SCALE : f->scaling == SC_DIV ? DS_SC_DIV :
			     DS_SC_NONE;
		CHECK(f->scaling == SC_NONE || f->scaling == SC_SCALE || f->scaling == SC_DIV);
		d->factor = f->factor;
		d->has_add = f->has_add;
		d->add = f->add;
		d->omit = f->omit;
		d->json_string = f->json_string;
		d->is_magic = f->is_magic;
		d->magic = f->magic;
		CHECK(!d->is_magic || d->t->kind == RK_INT);
	}
	if (s->checksum.algo != CK_NONE) {
		r->ck = ds_algo_named(checksum_name((enum checksum_algo)s->checksum.algo));
		CHECK(r->ck != NULL);
		CHECK(checksum_width((enum checksum_algo)s->checksum.algo) == r->ck->width);
		r->ck_offset = s->checksum.offset;
		r->ck_first = s->checksum.first;
		r->ck_last = s->checksum.last;
		r->ck_le = (s->checksum.order_given ? s->checksum.order : s->order) == BO_LITTLE;
	}
}

static int
ds_same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0 || (isnan(a) && isnan(b));
}

/* ---- the expected record text ---- */

static void
ds_add(struct fz_bytes *b, const char *s)
{
	fz_bytes_add(b, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at p[0..n) (its code point
 * range-checked: no overlong form, no surrogate, nothing past U+10FFFF),
 * or 0. */
static size_t
ds_utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	size_t k;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		k = 2;
		v = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		k = 3;
		v = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		k = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if ((k == 2 && v < 0x80) || (k == 3 && v < 0x800) || (k == 4 && v < 0x10000) ||
	    v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return k;
}

/*
 * A str field's bytes: the string they stand for (UTF-8, into *raw) and
 * its JSON.stringify text (into *json), either may be NULL.
 */
static void
ds_str(const uint8_t *p, size_t len, struct fz_bytes *raw, struct fz_bytes *json)
{
	size_t n = 0;

	while (n < len && p[n] != 0)
		n++;
	if (json != NULL)
		ds_add(json, "\"");
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = ds_utf8_seq(p + i, n - i, &cp);
		const char *bytes = (const char *)p + i;
		char esc[8];

		if (k == 0) {
			bytes = "\xEF\xBF\xBD";
			cp = 0xFFFD;
			k = 3;
			i++;
		} else {
			i += k;
		}
		if (raw != NULL)
			fz_bytes_add(raw, bytes, k);
		if (json == NULL)
			continue;
		switch (cp) {
		case '"':  ds_add(json, "\\\""); break;
		case '\\': ds_add(json, "\\\\"); break;
		case '\b': ds_add(json, "\\b"); break;
		case '\f': ds_add(json, "\\f"); break;
		case '\n': ds_add(json, "\\n"); break;
		case '\r': ds_add(json, "\\r"); break;
		case '\t': ds_add(json, "\\t"); break;
		default:
			if (cp < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
				ds_add(json, esc);
			} else {
				fz_bytes_add(json, bytes, k);
			}
		}
	}
	if (json != NULL)
		ds_add(json, "\"");
}

static void
ds_hex(const uint8_t *p, size_t len, struct fz_bytes *b)
{
	char two[3];

	for (size_t i = 0; i < len; i++) {
		snprintf(two, sizeof(two), "%02x", p[i]);
		fz_bytes_add(b, two, 2);
	}
}

/* A field's value text (values_only: str/hex as record_write() prints them). */
static void
ds_value_text(const struct ds_field *f, const uint8_t *frame, int values_only, struct fz_bytes *b)
{
	struct ds_value v = ds_value(f, frame);
	char t[64];

	switch (v.kind) {
	case RV_INT:      snprintf(t, sizeof(t), "%" PRId64, v.i); break;
	case RV_UINT:     snprintf(t, sizeof(t), "%" PRIu64, v.u); break;
	case RV_INT_STR:  snprintf(t, sizeof(t), "\"%" PRId64 "\"", v.i); break;
	case RV_UINT_STR: snprintf(t, sizeof(t), "\"%" PRIu64 "\"", v.u); break;
	case RV_DOUBLE: {
		char num[JSNUM_MAX];

		fz_bytes_add(b, num, jsnum_double(v.d, num));
		return;
	}
	case RV_STR:
		if (values_only)
			ds_add(b, "\"\"");
		else
			ds_str(frame + f->offset, f->width, NULL, b);
		return;
	default:
		ds_add(b, "\"");
		if (!values_only)
			ds_hex(frame + f->offset, f->width, b);
		ds_add(b, "\"");
		return;
	}
	ds_add(b, t);
}

/* Metadata when on: these pieces, built once (ds_init). */
#define DS_LISTENER "sensors-1"
#define DS_PEER     "[::1]:65535"
static char *ds_meta_listener, *ds_meta_peer;
static size_t ds_meta_listener_len, ds_meta_peer_len;

/* Names config.c accepts need no JSON escaping; say so rather than assume. */
static void
ds_check_plain_name(const char *s)
{
	CHECK(*s != '\0');
	for (; *s; s++)
		CHECK((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-');
}

static void
ds_expect(const struct ds_schema *r, const uint8_t *frame, int values_only, int with_meta,
	  int64_t rx_ms, struct fz_bytes *b)
{
	int first = 1;
	char t[64];

	for (size_t i = 0; i < r->nfields; i++) {
		const struct ds_field *f = &r->f[i];

		if (f->omit)
			continue;
		ds_check_plain_name(f->name);
		ds_add(b, first ? "{\"" : ",\"");
		ds_add(b, f->name);
		ds_add(b, "\":");
		ds_value_text(f, frame, values_only, b);
		first = 0;
	}
	CHECK(!first);
	if (with_meta) {
		ds_check_plain_name(r->name);
		ds_add(b, ",\"_listener\":\"" DS_LISTENER "\",\"_schema\":\"");
		ds_add(b, r->name);
		ds_add(b, "\",\"_peer\":\"" DS_PEER "\",\"_rx_ms\":");
		snprintf(t, sizeof(t), "%" PRId64, rx_ms);
		ds_add(b, t);
	}
	ds_add(b, "}\n");
}

/* ---- the record read back with jansson ---- */

static void
ds_check_json_string(json_t *j, const void *want, size_t want_len)
{
	CHECK(json_is_string(j));
	CHECK(json_string_length(j) == want_len);
	CHECK(want_len == 0 || memcmp(json_string_value(j), want, want_len) == 0);
}

static void
ds_check_json_int(json_t *j, int ints_as_real, int neg, uint64_t mag)
{
	if (ints_as_real) {
		double want = neg ? -(double)mag : (double)mag;

		CHECK(json_is_real(j) && json_real_value(j) == want);
	} else {
		CHECK(json_is_integer(j));
		if (neg)
			CHECK((uint64_t)0 - (uint64_t)json_integer_value(j) == mag &&
			      json_integer_value(j) < 0);
		else
			CHECK(json_integer_value(j) >= 0 && (uint64_t)json_integer_value(j) == mag);
	}
}

static void
ds_check_json(const char *out, size_t n, const struct ds_schema *r, const uint8_t *frame,
	      int values_only, int with_meta, int64_t rx_ms)
{
	json_t *root;
	json_error_t jerr;
	void *it;
	int ints_as_real = 0;
	size_t nprint = 0;
	char t[32];

	root = json_loadb(out, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_numeric_overflow) {
		/* A u64 >= 2^63, or an integral double printed as digits past
		 * int64: too wide for jansson's json_int_t. */
		root = json_loadb(out, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
		ints_as_real = 1;
	}
	if (root == NULL)
		fprintf(stderr, "json error: %s at %d: %.*s", jerr.text, jerr.position, (int)n, out);
	CHECK(root != NULL && json_is_object(root));
	for (size_t i = 0; i < r->nfields; i++)
		nprint += !r->f[i].omit;
	CHECK(json_object_size(root) == nprint + (with_meta ? 4 : 0));

	it = json_object_iter(root);
	for (size_t i = 0; i < r->nfields; i++) {
		const struct ds_field *f = &r->f[i];
		struct ds_value v;
		json_t *j;

		if (f->omit)
			continue;
		CHECK(it != NULL && strcmp(json_object_iter_key(it), f->name) == 0);
		j = json_object_iter_value(it);
		v = ds_value(f, frame);
		switch (v.kind) {
		case RV_INT:
			ds_check_json_int(j, ints_as_real, v.i < 0,
					  v.i < 0 ? (uint64_t)0 - (uint64_t)v.i : (uint64_t)v.i);
			break;
		case RV_UINT:
			ds_check_json_int(j, ints_as_real, 0, v.u);
			break;
		case RV_INT_STR:
			snprintf(t, sizeof(t), "%" PRId64, v.i);
			ds_check_json_string(j, t, strlen(t));
			break;
		case RV_UINT_STR:
			snprintf(t, sizeof(t), "%" PRIu64, v.u);
			ds_check_json_string(j, t, strlen(t));
			break;
		case RV_DOUBLE:
			if (!isfinite(v.d)) {
				CHECK(json_is_null(j));
			} else {
				/* The shortest text reads back as the same double
				 * (-0 prints as 0, which == accepts). */
				CHECK(json_is_number(j));
				CHECK(json_number_value(j) == v.d);
			}
			break;
		case RV_STR: {
			struct fz_bytes raw = { 0 };

			if (!values_only)
				ds_str(frame + f->offset, f->width, &raw, NULL);
			ds_check_json_string(j, raw.p, raw.len);
			fz_bytes_free(&raw);
			break;
		}
		default: {
			struct fz_bytes hex = { 0 };

			if (!values_only)
				ds_hex(frame + f->offset, f->width, &hex);
			ds_check_json_string(j, hex.p, hex.len);
			fz_bytes_free(&hex);
			break;
		}
		}
		it = json_object_iter_next(root, it);
	}
	if (with_meta) {
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_listener") == 0);
		ds_check_json_string(json_object_iter_value(it), DS_LISTENER, strlen(DS_LISTENER));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_schema") == 0);
		ds_check_json_string(json_object_iter_value(it), r->name, strlen(r->name));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_peer") == 0);
		ds_check_json_string(json_object_iter_value(it), DS_PEER, strlen(DS_PEER));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_rx_ms") == 0);
		ds_check_json_int(json_object_iter_value(it), ints_as_real, rx_ms < 0,
				  rx_ms < 0 ? (uint64_t)0 - (uint64_t)rx_ms : (uint64_t)rx_ms);
		it = json_object_iter_next(root, it);
	}
	CHECK(it == NULL);
	json_decref(root);
}

/* ---- one frame of a declared schema through the daemon's functions ---- */

static struct config *ds_config;

static void
ds_init(void)
{
	static const uint8_t check[] = "123456789";
	static const uint32_t want[DS_NALGOS] = { 0x31, 0xDD, 0xF4, 0x4B37, 0x29B1, 0xCBF43926 };

	if (ds_config != NULL)
		return;
	/* The reference CRCs give the catalogue's check values. */
	for (size_t i = 0; i < DS_NALGOS; i++)
		CHECK(ds_checksum(&ds_algos[i], check, 9) == want[i]);
	ds_config = malloc(sizeof(*ds_config));
	CHECK(ds_config != NULL);
	ds_meta_listener = record_meta_string("_listener", DS_LISTENER, &ds_meta_listener_len);
	ds_meta_peer = record_meta_string("_peer", DS_PEER, &ds_meta_peer_len);
	CHECK(ds_meta_listener != NULL && ds_meta_peer != NULL);
}

/* FZ_DEBUG=1 in the environment: say what each input was made into. */
static int
ds_debug(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("FZ_DEBUG") != NULL;
	return v;
}

/* The sentinel schema_decode() must leave alone on an error. */
#define DS_UNTOUCHED 0xA5

/*
 * frame: exactly r->size bytes (borrowed; its own heap block or inside
 * one, so ASan sees reads past it).  s is the loaded table, r what it must
 * mean.
 */
static void
ds_check_frame(const struct schema *s, const struct ds_schema *r, const uint8_t *frame,
	       int64_t rx_ms)
{
	union value v[SCHEMA_MAX_FIELDS];
	enum schema_status want = ds_verdict(r, frame, r->size);
	const struct schema *set[1] = { s };
	size_t idx = 99;
	struct record_layout l;

	if (ds_debug())
		fprintf(stderr, "--- %s: %zu-byte frame: verdict %d\n", r->name, r->size, (int)want);

	CHECK(s->size == r->size && s->nfields == r->nfields);
	CHECK(schema_check(s, frame, s->size) == want);
	CHECK(schema_select(set, 1, frame, s->size, &idx) == want);
	CHECK(idx == (want == SCHEMA_BAD_MAGIC ? 99u : 0u));
	memset(v, DS_UNTOUCHED, sizeof(v));
	CHECK(schema_decode(s, frame, s->size, v) == want);
	if (want != SCHEMA_OK) {
		for (size_t i = 0; i < sizeof(v); i++)
			CHECK(((const uint8_t *)v)[i] == DS_UNTOUCHED);
		return;
	}

	for (size_t i = 0; i < r->nfields; i++) {
		struct ds_value x = ds_value(&r->f[i], frame);

		switch (x.kind) {
		case RV_INT:
		case RV_INT_STR:  CHECK(v[i].i == x.i); break;
		case RV_UINT:
		case RV_UINT_STR: CHECK(v[i].u == x.u); break;
		case RV_DOUBLE:   CHECK(ds_same_bits(v[i].f, x.d)); break;
		default:          CHECK(v[i].i == 0); break;   /* str, hex: no value */
		}
	}

	CHECK(record_layout_init(&l, s) == 0);
	for (int with_meta = 0; with_meta < 2; with_meta++) {
		char rx[48];
		struct record_meta m = {
			.listener = ds_meta_listener, .listener_len = ds_meta_listener_len,
			.peer = ds_meta_peer, .peer_len = ds_meta_peer_len,
			.rx = rx, .rx_len = record_meta_rx(rx, rx_ms),
		};
		const struct record_meta *mp = with_meta ? &m : NULL;
		size_t bound = record_bound(&l, mp);

		for (int values_only = 0; values_only < 2; values_only++) {
			struct fz_bytes want_text = { 0 };
			char *out = malloc(bound);
			size_t n;

			CHECK(out != NULL);
			n = values_only ? record_write(out, &l, v, mp) :
			    record_write_frame(out, &l, frame, mp);
			CHECK(n <= bound);
			ds_expect(r, frame, values_only, with_meta, rx_ms, &want_text);
			if (n != want_text.len || memcmp(out, want_text.p, n) != 0)
				fprintf(stderr, "record:   %.*sexpected: %.*s", (int)n, out,
					(int)want_text.len, (const char *)want_text.p);
			CHECK(n == want_text.len && memcmp(out, want_text.p, n) == 0);
			ds_check_json(out, n, r, frame, values_only, with_meta, rx_ms);
			fz_bytes_free(&want_text);
			free(out);
		}
	}
	record_layout_clear(&l);
}

/* The frame of schema size `size` from the input's bytes: repeated when
 * short (zeros when none), cut when long.  Caller frees. */
static uint8_t *
ds_frame_of(const uint8_t *p, size_t n, size_t size)
{
	uint8_t *f = malloc(size);

	CHECK(f != NULL);
	for (size_t i = 0; i < size; i++)
		f[i] = n ? p[i % n] : 0;
	return f;
}

/* Checks frame bytes p[0..n) against a loaded declared schema: the bytes as
 * they are (BAD_SIZE unless exactly the size), then as a frame of its size,
 * aligned and not. */
static void
ds_check_bytes(const struct schema *s, const struct ds_schema *r, const uint8_t *frame,
	       int64_t rx_ms, const uint8_t *p, size_t n)
{
	uint8_t *copy;

	if (n != s->size) {
		CHECK(schema_check(s, p, n) == SCHEMA_BAD_SIZE);
		CHECK(schema_decode(s, p, n, NULL) == SCHEMA_BAD_SIZE);
	}
	ds_check_frame(s, r, frame, rx_ms);
	/* Anywhere in a read buffer: one byte in. */
	copy = malloc(s->size + 1);
	CHECK(copy != NULL);
	memcpy(copy + 1, frame, s->size);
	ds_check_frame(s, r, copy + 1, rx_ms);
	free(copy);
}

/* [schema f] with `body`, then a fixed listener naming it. */
static int
ds_load_text(const char *body, size_t body_len, char *err, size_t errlen)
{
	static const char head[] = "[schema f]\n";
	static const char tail[] = "\n[listener fz]\naddress = 127.0.0.1\nport = 0\n"
				   "framing = fixed\nschema = f\n";
	char *text = malloc(sizeof(head) + body_len + sizeof(tail));
	int rc;

	CHECK(text != NULL);
	memcpy(text, head, sizeof(head) - 1);
	memcpy(text + sizeof(head) - 1, body, body_len);
	memcpy(text + sizeof(head) - 1 + body_len, tail, sizeof(tail));
	rc = config_load_text(ds_config, text, "fuzz.ini", err, errlen);
	free(text);
	return rc;
}

/*
 * A [schema f] body as text (cut at its first NUL) and frame bytes: when the
 * config loads, every schema it declares (f, and any other sections the
 * body holds) is checked on the frame bytes.
 */
static void
ds_run_text(const char *body, size_t body_len, const uint8_t *p, size_t n, int64_t rx_ms)
{
	char err[512];
	const struct config *c = ds_config;
	const struct listener_conf *lc = NULL;
	int found = 0;

	body_len = strnlen(body, body_len);
	if (ds_load_text(body, body_len, err, sizeof(err)) != 0)
		return;
	/* The body may hold listeners of its own. */
	for (size_t i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, "fz") == 0)
			lc = &c->listeners[i];
	CHECK(lc != NULL && lc->nschemas == 1);
	for (size_t i = 0; i < c->nschemas; i++) {
		const struct schema *s = &c->schemas[i];
		struct ds_schema r;
		uint8_t *frame;

		found += strcmp(s->name, "f") == 0 && lc->schemas[0] == s;
		ds_of_schema(s, &r);
		frame = ds_frame_of(p, n, s->size);
		ds_check_bytes(s, &r, frame, rx_ms, p, n);
		free(frame);
	}
	CHECK(found == 1);
}

/* ---- the compact description (layout at the top) ---- */

static const struct ds_num {
	const char *text;
	double      v;
} ds_factors[32] = {
	{ "0.1", 0.1 }, { "0.01", 0.01 }, { "0.5", 0.5 }, { "10", 10 },
	{ "100", 100 }, { "1e-3", 1e-3 }, { "-2.5", -2.5 }, { "3", 3 },
	{ "1e300", 1e300 }, { "1e-300", 1e-300 }, { "0.3", 0.3 }, { "7", 7 },
	{ "1000000", 1e6 }, { "-0", -0.0 }, { "123.456", 123.456 },
	{ "1.7976931348623157e308", DBL_MAX }, { "4.9e-324", 4.9e-324 }, { "2", 2 },
	{ "0.25", 0.25 }, { "1E2", 100 }, { "+1.5", 1.5 }, { "-0.001", -0.001 },
	{ "6.02214076e23", 6.02214076e23 }, { "1e-7", 1e-7 }, { "0", 0 },
	{ "1e999", INFINITY }, { ".5", 0.5 }, { "5.", 5.0 }, { "3.0e+1", 30 },
	{ "0.000001", 1e-6 }, { "65536", 65536 }, { "9007199254740993", 9007199254740993.0 },
};

static const struct ds_num ds_adds[16] = {
	{ "0", 0 }, { "-40", -40 }, { "0.1", 0.1 }, { "273.15", 273.15 },
	{ "-0.5", -0.5 }, { "1e16", 1e16 }, { "-1e308", -1e308 }, { "1e308", 1e308 },
	{ "0.2", 0.2 }, { "-0", -0.0 }, { "-1e999", -INFINITY }, { "100", 100 },
	{ "-32768", -32768 }, { "5e-324", 5e-324 }, { "0.7", 0.7 }, { "1.5e-5", 1.5e-5 },
};

#define CB_HDR 6

struct ds_gen {
	struct ds_schema r;
	int      order_be_line;   /* write "order = be" */
	int      ck_order_given;
	int      valid;           /* by issue 12's rules */
	/* per field, as the text writes it */
	uint8_t  magic_form[SCHEMA_MAX_FIELDS];  /* 0 dec, 1 0x, 2 0X, 3 leading 0 */
	uint8_t  magic_exact[SCHEMA_MAX_FIELDS];
	uint8_t  magic_delta[SCHEMA_MAX_FIELDS];
	uint8_t  order_given[SCHEMA_MAX_FIELDS];
	uint8_t  bit_single[SCHEMA_MAX_FIELDS];
	uint8_t  reversed[SCHEMA_MAX_FIELDS];
	const char *factor_text[SCHEMA_MAX_FIELDS];
	const char *add_text[SCHEMA_MAX_FIELDS];
};

/* Reads the fields and size; 0 when the input is too short for one field. */
static int
gen_layout(struct ds_gen *g, const uint8_t *d, size_t size)
{
	struct ds_schema *r = &g->r;
	size_t nf, end;

	memset(g, 0, sizeof(*g));
	g->valid = 1;
	if (size < CB_HDR + 4)
		return 0;
	nf = (size_t)(d[0] & 7) + 1;
	end = (size_t)(d[1] & 0x3f) + 1;
	if (nf > (size - CB_HDR) / 4)
		nf = (size - CB_HDR) / 4;
	strcpy(r->name, "f");
	r->le = (d[0] >> 3) & 1;
	g->order_be_line = !r->le && (d[1] & 0x80);
	r->nfields = nf;
	for (size_t i = 0; i < nf; i++) {
		const uint8_t *q = d + CB_HDR + 4 * i;
		uint8_t T = q[0], O = q[1], A = q[2], B = q[3];
		unsigned kind = A & 7, a5 = A >> 3;
		struct ds_field *f = &r->f[i];

		snprintf(f->name, sizeof(f->name), "x%zu", i);
		f->t = &ds_types[(T & 15) % DS_NTYPES];
		f->width = f->t->width ? f->t->width : a5 + 1;
		f->offset = O;
		f->omit = (T >> 6) & 1;
		g->reversed[i] = (a5 >> 2) & 1;
		if (f->t->width > 1 && ((T >> 4) & 1)) {
			g->order_given[i] = 1;
			f->le = (T >> 5) & 1;
		} else {
			f->le = r->le;
		}
		if (f->t->kind == RK_INT && (T & 0x80)) {
			unsigned wb = f->width * 8;

			f->has_bits = 1;
			f->lo = (B & 63) % wb;
			f->hi = f->lo + a5 * 2 + ((B >> 6) & 1);
			if (f->hi >= wb)
				f->hi = wb - 1;
			g->bit_single[i] = f->lo == f->hi && (B & 0x80);
		}
		if (f->t->kind == RK_INT || f->t->kind == RK_FLOAT) {
			const struct ds_num *fa = &ds_factors[a5], *ad = &ds_adds[B & 15];

			if (kind == 1 && f->t->kind == RK_INT) {
				f->is_magic = 1;
				g->magic_form[i] = a5 & 3;
				g->magic_exact[i] = B & 1;
				g->magic_delta[i] = (uint8_t)((B >> 1) | 1);
			}
			if (kind == 2 || kind == 5) {
				f->scaling = DS_SC_SCALE;
				g->valid &= isfinite(fa->v);
			}
			if (kind == 3 || kind == 6) {
				f->scaling = DS_SC_DIV;
				g->valid &= isfinite(fa->v) && fa->v != 0;
			}
			if (f->scaling != DS_SC_NONE) {
				f->factor = fa->v;
				g->factor_text[i] = fa->text;
			}
			if (kind == 4 || kind == 5 || kind == 6) {
				f->has_add = 1;
				f->add = ad->v;
				g->add_text[i] = ad->text;
				g->valid &= isfinite(ad->v);
			}
			if (kind == 7 && f->t->kind == RK_INT && f->width == 8)
				f->json_string = 1;
		}
		if (f->offset + f->width > end)
			end = f->offset + f->width;
	}
	r->size = end;
	return 1;
}

static void
gen_checksum(struct ds_gen *g, const uint8_t *d)
{
	struct ds_schema *r = &g->r;
	unsigned algo = (d[0] >> 4) % (DS_NALGOS + 1), w;
	uint8_t flags = d[5];

	if (algo == 0)
		return;
	r->ck = &ds_algos[algo - 1];
	w = r->ck->width;
	if (r->size < w + 1)
		r->size = w + 1;
	if (flags & 8) {            /* at the end, over a tail of the bytes before it */
		r->ck_offset = (unsigned)r->size - w;
		r->ck_last = r->ck_offset - 1;
		r->ck_first = d[3] % (r->ck_last + 1);
	} else {
		r->ck_offset = d[2] % ((unsigned)r->size - w + 1);
		r->ck_first = d[3] % (unsigned)r->size;
		r->ck_last = r->ck_first + d[4] % ((unsigned)r->size - r->ck_first);
	}
	g->ck_order_given = w > 1 && (flags & 2);
	r->ck_le = g->ck_order_given ? (flags >> 2) & 1 : r->le;
	/* The checksum may not cover its own bytes. */
	if (!(r->ck_offset > r->ck_last || r->ck_offset + w - 1 < r->ck_first))
		g->valid = 0;
}

/* The frame, then the magics it decides (exact, or changed). */
static uint8_t *
gen_frame(struct ds_gen *g, const uint8_t *d, const uint8_t *p, size_t n)
{
	struct ds_schema *r = &g->r;
	uint8_t *frame = ds_frame_of(p, n, r->size);
	size_t printed = 0;

	if (r->ck != NULL && (d[5] & 1) && g->valid)
		ds_store(frame + r->ck_offset, r->ck->width, r->ck_le,
			 ds_checksum(r->ck, frame + r->ck_first, r->ck_last - r->ck_first + 1));
	for (size_t i = 0; i < r->nfields; i++) {
		struct ds_field *f = &r->f[i];

		printed += !f->omit;
		if (!f->is_magic)
			continue;
		f->magic = ds_int_bits(f, frame);
		if (!g->magic_exact[i])
			f->magic = ds_extend(f->magic ^ g->magic_delta[i], ds_value_bits(f),
					     f->t->is_signed);
	}
	if (printed == 0)
		g->valid = 0;
	return frame;
}

static void
gen_magic_text(const struct ds_gen *g, size_t i, char *out, size_t outlen)
{
	const struct ds_field *f = &g->r.f[i];
	unsigned nb = ds_value_bits(f);
	uint64_t pattern = nb >= 64 ? f->magic : f->magic & (((uint64_t)1 << nb) - 1);
	int neg = f->t->is_signed && (int64_t)f->magic < 0;
	uint64_t mag = neg ? (uint64_t)0 - f->magic : f->magic;

	switch (g->magic_form[i]) {
	case 1:  snprintf(out, outlen, "magic=0x%" PRIx64, pattern); break;
	case 2:  snprintf(out, outlen, "magic=0X%" PRIX64, pattern); break;
	case 3:  snprintf(out, outlen, "magic=%s0%" PRIu64, neg ? "-" : "", mag); break;
	default: snprintf(out, outlen, "magic=%s%" PRIu64, neg ? "-" : "", mag); break;
	}
}

static void
gen_text(const struct ds_gen *g, struct fz_bytes *b)
{
	const struct ds_schema *r = &g->r;
	char line[256];

	snprintf(line, sizeof(line), "size = %zu\n", r->size);
	ds_add(b, line);
	if (r->le)
		ds_add(b, "order = le\n");
	else if (g->order_be_line)
		ds_add(b, "order = be\n");
	for (size_t i = 0; i < r->nfields; i++) {
		const struct ds_field *f = &r->f[i];
		char opt[8][96];
		int no = 0;

		if (g->order_given[i])
			snprintf(opt[no++], sizeof(opt[0]), "%s", f->le ? "le" : "be");
		if (f->has_bits) {
			if (g->bit_single[i])
				snprintf(opt[no++], sizeof(opt[0]), "bit=%u", f->lo);
			else
				snprintf(opt[no++], sizeof(opt[0]), "bits=%u..%u", f->lo, f->hi);
		}
		if (f->is_magic)
			gen_magic_text(g, i, opt[no++], sizeof(opt[0]));
		if (f->scaling != DS_SC_NONE)
			snprintf(opt[no++], sizeof(opt[0]), "%s=%s",
				 f->scaling == DS_SC_SCALE ? "scale" : "div", g->factor_text[i]);
		if (f->has_add)
			snprintf(opt[no++], sizeof(opt[0]), "add=%s", g->add_text[i]);
		if (f->json_string)
			snprintf(opt[no++], sizeof(opt[0]), "json=string");
		if (f->t->width == 0)
			snprintf(opt[no++], sizeof(opt[0]), "len=%u", f->width);
		if (f->omit)
			snprintf(opt[no++], sizeof(opt[0]), "omit");
		snprintf(line, sizeof(line), "field.%s = %s @%u", f->name, f->t->name, f->offset);
		ds_add(b, line);
		for (int k = 0; k < no; k++) {
			ds_add(b, " ");
			ds_add(b, opt[g->reversed[i] ? no - 1 - k : k]);
		}
		ds_add(b, "\n");
	}
	if (r->ck != NULL) {
		snprintf(line, sizeof(line), "checksum = %s @%u over=%u..%u%s\n", r->ck->name,
			 r->ck_offset, r->ck_first, r->ck_last,
			 g->ck_order_given ? (r->ck_le ? " le" : " be") : "");
		ds_add(b, line);
	}
}

/* The loaded table says what the text said. */
static void
gen_compare(const struct ds_schema *want, const struct ds_schema *got)
{
	CHECK(strcmp(want->name, got->name) == 0);
	CHECK(want->size == got->size && want->le == got->le && want->nfields == got->nfields);
	for (size_t i = 0; i < want->nfields; i++) {
		const struct ds_field *a = &want->f[i], *b = &got->f[i];

		CHECK(strcmp(a->name, b->name) == 0);
		CHECK(a->t == b->t && a->offset == b->offset && a->width == b->width);
		CHECK(a->le == b->le || a->width == 1 || a->t->width == 0);
		CHECK(a->has_bits == b->has_bits);
		CHECK(!a->has_bits || (a->lo == b->lo && a->hi == b->hi));
		CHECK(a->scaling == b->scaling && a->has_add == b->has_add);
		CHECK(a->scaling == DS_SC_NONE || ds_same_bits(a->factor, b->factor));
		CHECK(!a->has_add || ds_same_bits(a->add, b->add));
		CHECK(a->omit == b->omit && a->json_string == b->json_string);
		CHECK(a->is_magic == b->is_magic && (!a->is_magic || a->magic == b->magic));
	}
	CHECK(want->ck == got->ck);
	if (want->ck != NULL) {
		CHECK(want->ck_offset == got->ck_offset && want->ck_first == got->ck_first &&
		      want->ck_last == got->ck_last);
		CHECK(want->ck_le == got->ck_le || want->ck->width == 1);
	}
}

static void __attribute__((unused))
ds_run_compact(const uint8_t *d, size_t size)
{
	struct ds_gen g;
	struct ds_schema got;
	struct fz_bytes text = { 0 };
	const uint8_t *p;
	uint8_t *frame;
	size_t n;
	char err[512];
	int rc;

	if (!gen_layout(&g, d, size))
		return;
	gen_checksum(&g, d);
	p = d + CB_HDR + 4 * g.r.nfields;
	n = size - CB_HDR - 4 * g.r.nfields;
	frame = gen_frame(&g, d, p, n);
	gen_text(&g, &text);
	rc = ds_load_text((const char *)text.p, text.len, err, sizeof(err));
	if (rc != 0 && g.valid)
		fprintf(stderr, "valid schema refused: %s\n%.*s", err, (int)text.len,
			(const char *)text.p);
	if (rc == 0 && !g.valid)
		fprintf(stderr, "invalid schema accepted:\n%.*s", (int)text.len, (const char *)text.p);
	if (ds_debug())
		fprintf(stderr, "--- compact schema (%s):\n%.*s", rc == 0 ? "loaded" : err,
			(int)text.len, (const char *)text.p);
	CHECK((rc == 0) == g.valid);
	if (rc == 0) {
		const struct config *c = ds_config;

		CHECK(c->nschemas == 1 && c->nlisteners == 1);
		CHECK(c->listeners[0].nschemas == 1 && c->listeners[0].schemas[0] == &c->schemas[0]);
		ds_of_schema(&c->schemas[0], &got);
		gen_compare(&g.r, &got);
		ds_check_bytes(&c->schemas[0], &g.r, frame,
			       (int64_t)ds_load(frame, g.r.size < 8 ? (unsigned)g.r.size : 8, 0), p, n);
	}
	free(frame);
	fz_bytes_free(&text);
}

#ifndef FZ_SCHEMA_LIBRARY

/* ==== the built-in tables and a synthetic one ==== */

/* Numeric types, both orders, overlapping fields, names jansson must
 * escape.  Finished in init_once(), as every table must be. */
static struct schema synthetic = {
	.name = "synth\"etic\\",
	.size = 24,
	.nfields = 14,
	.fields = {
		{ .name = "u8", .offset = 0, .type = FT_U8, .order = BO_BIG },
		{ .name = "i8", .offset = 1, .type = FT_I8, .order = BO_LITTLE },
		{ .name = "u16be", .offset = 2, .type = FT_U16, .order = BO_BIG },
		{ .name = "u16le", .offset = 2, .type = FT_U16, .order = BO_LITTLE },
		{ .name = "i16be", .offset = 4, .type = FT_I16, .order = BO_BIG },
		{ .name = "i16le", .offset = 6, .type = FT_I16, .order = BO_LITTLE },
		{ .name = "u32le", .offset = 8, .type = FT_U32, .order = BO_LITTLE },
		{ .name = "i32be", .offset = 8, .type = FT_I32, .order = BO_BIG },
		{ .name = "i32le", .offset = 12, .type = FT_I32, .order = BO_LITTLE },
		{ .name = "f32le", .offset = 12, .type = FT_F32, .order = BO_LITTLE },
		{ .name = "f32be", .offset = 16, .type = FT_F32, .order = BO_BIG },
		{ .name = "f64le", .offset = 16, .type = FT_F64, .order = BO_LITTLE },
		{ .name = "quo\"te\\", .offset = 20, .type = FT_U32, .order = BO_BIG },
		{ .name = "ctl\x01\ttab\xc3\xa9", .offset = 0, .type = FT_F64, .order = BO_BIG },
	},
};

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static double
f32_bits(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof(f));
	return (double)f;
}

static double
f64_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static int
same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* SPEC.md's tables (and the synthetic one), read independently of schema.c's. */
static void
check_spec_values(const struct schema *s, const uint8_t *p, const union value *v)
{
	if (strcmp(s->name, "sensor24") == 0) {
		CHECK(s->nfields == 7);
		CHECK(v[0].i == (int64_t)be(p, 4));
		CHECK(same_double(v[1].f, f64_bits(be(p + 4, 8))));
		CHECK(v[2].i == (int64_t)be(p + 12, 2));
		CHECK(v[3].i == p[14]);
		CHECK(v[4].i == (int8_t)p[15]);
		CHECK(same_double(v[5].f, f32_bits((uint32_t)be(p + 16, 4))));
		CHECK(same_double(v[6].f, f32_bits((uint32_t)be(p + 20, 4))));
	} else if (strcmp(s->name, "legacy16") == 0) {
		CHECK(s->nfields == 6);
		CHECK(v[0].i == 0xCAFE);
		CHECK(v[1].i == (int32_t)(uint32_t)le(p + 2, 4));
		CHECK(same_double(v[2].f, f32_bits((uint32_t)be(p + 6, 4))));
		CHECK(v[3].i == p[10]);
		CHECK(v[4].i == p[11]);
		CHECK(v[5].i == (int64_t)le(p + 12, 4));
	} else if (s == &synthetic) {
		CHECK(v[0].i == p[0]);
		CHECK(v[1].i == (int8_t)p[1]);
		CHECK(v[2].i == (int64_t)be(p + 2, 2));
		CHECK(v[3].i == (int64_t)le(p + 2, 2));
		CHECK(v[4].i == (int16_t)be(p + 4, 2));
		CHECK(v[5].i == (int16_t)le(p + 6, 2));
		CHECK(v[6].i == (int64_t)le(p + 8, 4));
		CHECK(v[7].i == (int32_t)be(p + 8, 4));
		CHECK(v[8].i == (int32_t)le(p + 12, 4));
		CHECK(same_double(v[9].f, f32_bits((uint32_t)le(p + 12, 4))));
		CHECK(same_double(v[10].f, f32_bits((uint32_t)be(p + 16, 4))));
		CHECK(same_double(v[11].f, f64_bits(le(p + 16, 8))));
		CHECK(v[12].i == (int64_t)be(p + 20, 4));
		CHECK(same_double(v[13].f, f64_bits(be(p, 8))));
	}
}

/* One decoded value against its JSON. */
static void
check_value(const struct field *f, const union value *v, json_t *j, int ints_as_real)
{
	if (field_is_float((enum field_type)f->type)) {
		if (!isfinite(v->f)) {
			CHECK(json_is_null(j));
			return;
		}
		CHECK(json_is_number(j));
		CHECK(json_number_value(j) == v->f);
	} else {
		if (ints_as_real) {
			CHECK(json_is_real(j));
			CHECK(json_real_value(j) == (double)v->i);
		} else {
			CHECK(json_is_integer(j));
			CHECK(json_integer_value(j) == v->i);
		}
	}
}

static void
check_string_member(json_t *j, const char *want, size_t want_len)
{
	CHECK(json_is_string(j));
	CHECK(json_string_length(j) == want_len);
	CHECK(memcmp(json_string_value(j), want, want_len) == 0);
}

static void
check_record(const struct record_layout *l, const union value *v, const uint8_t *frame,
	     const struct record_meta *m, int64_t rx_ms)
{
	const struct schema *s = l->schema;
	size_t bound = record_bound(l, m), n;
	char *out = malloc(bound);
	json_t *root;
	json_error_t jerr;
	void *it;
	int ints_as_real = 0;

	CHECK(out != NULL);
	n = record_write(out, l, v, m);
	CHECK(n <= bound);
	CHECK(n >= 3 && out[n - 1] == '\n' && out[n - 2] == '}' && out[0] == '{');
	CHECK(memchr(out, '\n', n - 1) == NULL);
	CHECK(memchr(out, '\0', n) == NULL);

	/* The daemon's path, decoding as it writes, gives the same bytes. */
	char *direct = malloc(bound);
	CHECK(direct != NULL);
	CHECK(record_write_frame(direct, l, frame, m) == n);
	CHECK(memcmp(direct, out, n) == 0);
	free(direct);

	root = json_loadb(out, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_numeric_overflow) {
		/* An integral double >= 2^63 prints as digits too wide for
		 * jansson's json_int_t. */
		root = json_loadb(out, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
		ints_as_real = 1;
	}
	if (root == NULL)
		fprintf(stderr, "json error: %s at %d: %.*s", jerr.text, jerr.position, (int)n, out);
	CHECK(root != NULL);
	CHECK(json_is_object(root));
	CHECK(json_object_size(root) == s->nfields + (m != NULL ? 4 : 0));

	it = json_object_iter(root);
	for (size_t i = 0; i < s->nfields; i++) {
		CHECK(it != NULL);
		CHECK(strcmp(json_object_iter_key(it), s->fields[i].name) == 0);
		check_value(&s->fields[i], &v[i], json_object_iter_value(it), ints_as_real);
		it = json_object_iter_next(root, it);
	}
	if (m != NULL) {
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_listener") == 0);
		check_string_member(json_object_iter_value(it), DS_LISTENER, strlen(DS_LISTENER));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_schema") == 0);
		check_string_member(json_object_iter_value(it), s->name, strlen(s->name));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_peer") == 0);
		check_string_member(json_object_iter_value(it), DS_PEER, strlen(DS_PEER));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_rx_ms") == 0);
		if (ints_as_real)
			CHECK(json_real_value(json_object_iter_value(it)) == (double)rx_ms);
		else
			CHECK(json_integer_value(json_object_iter_value(it)) == rx_ms);
		it = json_object_iter_next(root, it);
	}
	CHECK(it == NULL);
	json_decref(root);
	free(out);
}

static struct record_layout layouts[3];
static const struct schema *schemas[3];

static void
init_once(void)
{
	static int done;
	char err[256];
	int where;

	if (done)
		return;
	done = 1;
	ds_init();
	for (size_t i = 0; i < synthetic.nfields; i++)
		synthetic.fields[i].order_given = 1;
	CHECK(schema_finish(&synthetic, err, sizeof(err), &where) == 0);
	schemas[0] = schema_find("sensor24");
	schemas[1] = schema_find("legacy16");
	schemas[2] = &synthetic;
	CHECK(schemas[0] != NULL && schemas[1] != NULL);
	CHECK(schema_find("sensor25") == NULL);
	for (int i = 0; i < 3; i++)
		CHECK(record_layout_init(&layouts[i], schemas[i]) == 0);
}

static void
decode_and_write(const struct schema *s, const struct record_layout *l, const uint8_t *p,
		 size_t len, int64_t rx_ms)
{
	union value v[SCHEMA_MAX_FIELDS];
	enum schema_status st = schema_decode(s, p, len, v);
	int magic_ok = 1;

	if (len != s->size) {
		CHECK(st == SCHEMA_BAD_SIZE);
		return;
	}
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].is_magic)
			magic_ok &= be(p + s->fields[i].offset, 2) == s->fields[i].magic;
	if (!magic_ok) {
		CHECK(st == SCHEMA_BAD_MAGIC);
		return;
	}
	CHECK(st == SCHEMA_OK);
	check_spec_values(s, p, v);

	check_record(l, v, p, NULL, 0);

	char rx[48];
	struct record_meta m = {
		.listener = ds_meta_listener, .listener_len = ds_meta_listener_len,
		.peer = ds_meta_peer, .peer_len = ds_meta_peer_len,
		.rx = rx, .rx_len = record_meta_rx(rx, rx_ms),
	};
	CHECK(m.rx_len <= sizeof(rx));
	check_record(l, v, p, &m, rx_ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t rx_ms = 0;

	init_once();
	/* The receive time: any int64, from the last 8 bytes. */
	if (size >= 8)
		rx_ms = (int64_t)be(data + size - 8, 8);
	for (int i = 0; i < 3; i++) {
		const struct schema *s = schemas[i];

		/* Only the built-in schemas' magic fields are 16-bit (checked
		 * with be(..., 2) above). */
		decode_and_write(s, &layouts[i], data, size, rx_ms);
		if (size > s->size)
			decode_and_write(s, &layouts[i], data, s->size, rx_ms);
		/* An unaligned copy: the decoder must not care where a frame
		 * sits in a read buffer. */
		if (size >= s->size + 1)
			decode_and_write(s, &layouts[i], data + 1, s->size, rx_ms);
	}

	/* The same bytes as a declared schema and its frame: a 0 byte, then
	 * [schema f] text up to a NUL, then the frame (as in fuzz_record),
	 * else the compact description (byte 0 = 0x70 is its one-field
	 * big-endian layout without a checksum). */
	if (size >= 1 && data[0] == 0) {
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		size_t body_len = nul ? (size_t)(nul - data) - 1 : size - 1;
		const uint8_t *p = data + 1 + body_len + (nul != NULL);

		ds_run_text((const char *)data + 1, body_len, p, size - (size_t)(p - data), rx_ms);
	} else {
		ds_run_compact(data, size);
	}
	return 0;
}

#endif /* FZ_SCHEMA_LIBRARY */
