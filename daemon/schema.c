/*
 * schema: the built-in packet tables, the parser of declared field and
 * checksum lines, and the one decoder that reads them all.
 *
 * The built-in tables restate SPEC.md's wire formats field by field; they
 * are finished by the same schema_finish() as declared ones (before main()
 * runs), so nothing distinguishes them after start-up.  Reads go through
 * fixed-size memcpy and byte swaps, so unaligned frames (anywhere in a read
 * buffer) are fine on every architecture.
 */
#include "schema.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain field: the rest of struct field is zero (no options). */
#define FIELD(n, off, t, o) { .name = n, .offset = off, .type = t, .order = o }

static struct schema builtin[] = {
	{
		.name = "sensor24",
		.size = 24,
		.nfields = 7,
		.fields = {
			FIELD("sensorId", 0, FT_U32, BO_BIG),
			FIELD("timestamp", 4, FT_F64, BO_BIG),
			FIELD("sensorType", 12, FT_U16, BO_BIG),
			FIELD("statusFlags", 14, FT_U8, BO_BIG),
			FIELD("temperature", 15, FT_I8, BO_BIG),
			FIELD("humidity", 16, FT_F32, BO_BIG),
			FIELD("pressure", 20, FT_F32, BO_BIG),
		},
	},
	{
		.name = "legacy16",
		.size = 16,
		.nfields = 6,
		.fields = {
			{ .name = "signature", .offset = 0, .type = FT_U16, .order = BO_BIG,
			  .is_magic = 1, .magic = 0xCAFE },
			FIELD("deviceId", 2, FT_I32, BO_LITTLE),
			FIELD("voltage", 6, FT_F32, BO_BIG),
			FIELD("status", 10, FT_U8, BO_BIG),
			FIELD("checksum", 11, FT_U8, BO_BIG),
			FIELD("uptime", 12, FT_U32, BO_LITTLE),
		},
	},
};

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

const char *const schema_builtin_names[] = { "sensor24", "legacy16", NULL };

/* The tables above give each field's order explicitly. */
__attribute__((constructor)) static void
finish_builtins(void)
{
	char err[256];
	int where;

	for (size_t i = 0; i < NBUILTIN; i++) {
		for (size_t j = 0; j < builtin[i].nfields; j++)
			builtin[i].fields[j].order_given = 1;
		if (schema_finish(&builtin[i], err, sizeof(err), &where) < 0)
			abort();  /* a built-in table is wrong: caught by every test */
	}
}

const struct schema *
schema_find(const char *name)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	return NULL;
}

static const struct {
	const char *name;
	uint8_t     width, is_signed;
} types[FT__COUNT] = {
#define X(id, n, w, s) [FT_##id] = { n, w, s },
	SCHEMA_TYPES(X)
#undef X
};

int
field_is_float(enum field_type t)
{
	return t == FT_F32 || t == FT_F64;
}

static bool
is_integer(enum field_type t)
{
	return t <= FT_I64;
}

int
schema_type_find(const char *name)
{
	for (int t = 0; t < FT__COUNT; t++)
		if (strcmp(types[t].name, name) == 0)
			return t;
	return -1;
}

const char *
schema_type_name(enum field_type t)
{
	return (unsigned)t < FT__COUNT ? types[t].name : "?";
}

const char *
schema_type_names(void)
{
	return "u8 i8 u16 i16 u24 i24 u32 i32 u64 i64 f32 f64 str hex";
}

size_t
field_width(const struct field *f)
{
	return f->type == FT_STR || f->type == FT_HEX ? f->len : types[f->type].width;
}

/* ---- parsing a field or checksum line ---- */

static int perr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A non-negative integer, decimal or 0x hex, at most max. */
static bool
parse_count(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2] != '\0') {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* "LO..HI", both counts. */
static bool
parse_range(const char *s, uint64_t max, uint64_t *lo, uint64_t *hi)
{
	const char *dots = strstr(s, "..");
	char first[32];

	if (dots == NULL || (size_t)(dots - s) >= sizeof(first))
		return false;
	memcpy(first, s, (size_t)(dots - s));
	first[dots - s] = '\0';
	return parse_count(first, max, lo) && parse_count(dots + 2, max, hi);
}

/* A decimal number as a config writes it: [-]digits[.digits][e[+-]digits];
 * no hex, inf, nan or spaces (which strtod would take). */
static bool
parse_decimal(const char *s, double *out)
{
	const char *q = s;
	bool digits = false;

	if (*q == '-' || *q == '+')
		q++;
	while (isdigit((unsigned char)*q)) {
		q++;
		digits = true;
	}
	if (*q == '.') {
		q++;
		while (isdigit((unsigned char)*q)) {
			q++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '-' || *q == '+')
			q++;
		if (!isdigit((unsigned char)*q))
			return false;
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (*q != '\0')
		return false;
	errno = 0;
	*out = strtod(s, NULL);
	return true;
}

static bool
valid_field_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SCHEMA_NAME_MAX || s[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* Splits spec into at most max whitespace-separated tokens in buf. */
static int
tokens(const char *spec, char *buf, size_t bufsize, char **tok, int max)
{
	int n = 0;
	char *p, *save = NULL;

	if (strlen(spec) >= bufsize)
		return -1;
	strcpy(buf, spec);
	for (p = strtok_r(buf, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		tok[n++] = p;
	}
	return n;
}

/* The value's width in bits: the type's, or the bits= range's. */
static unsigned
value_bits(const struct field *f)
{
	return f->has_bits ? (unsigned)(f->bit_hi - f->bit_lo + 1) : types[f->type].width * 8u;
}

static int
parse_magic(struct field *f, const char *v, char *err, size_t errlen)
{
	unsigned n = value_bits(f);
	bool is_signed = types[f->type].is_signed;
	uint64_t u;

	if (v[0] == '-') {
		/* Negative: decimal, for a signed type, within its range. */
		if (!is_signed || (v[1] == '0' && (v[2] == 'x' || v[2] == 'X')) ||
		    !parse_count(v + 1, UINT64_MAX, &u))
			goto bad;
		if (u > (uint64_t)1 << (n - 1))
			goto bad;
		f->magic = (uint64_t)0 - u;
	} else {
		if (!parse_count(v, UINT64_MAX, &u))
			return perr(err, errlen, "magic: \"%s\" is not an integer (decimal or 0x hex)",
				    v);
		bool hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
		/* Hex is a bit pattern of the value's width; decimal of a
		 * signed type must be within its positive range. */
		uint64_t limit = n == 64 ? UINT64_MAX : ((uint64_t)1 << n) - 1;
		if (is_signed && !hex)
			limit >>= 1;
		if (u > limit)
			goto bad;
		f->magic = u;
		if (is_signed && n < 64 && (u >> (n - 1)) & 1)  /* a hex pattern with the top bit set */
			f->magic = u | ~(((uint64_t)1 << n) - 1);
	}
	f->is_magic = 1;
	return 0;
bad:
	return perr(err, errlen, "magic: %s does not fit the field (%u bits, %s)", v, n,
		    is_signed ? "signed" : "unsigned");
}

int
schema_parse_field(struct field *f, const char *name, const char *spec, char *err,
		   size_t errlen)
{
	char buf[512], *tok[24];
	const char *magic_text = NULL;
	bool seen_order = false, seen_len = false, single_bit = false;
	uint64_t n, lo, hi;
	int ntok, t;

	memset(f, 0, sizeof(*f));
	if (!valid_field_name(name))
		return perr(err, errlen, "bad field name \"%s\" (1-%d characters of A-Z a-z 0-9 _, "
			    "not starting with _, which metadata keeps)", name, SCHEMA_NAME_MAX - 1);
	strcpy(f->name, name);
	ntok = tokens(spec, buf, sizeof(buf), tok, (int)(sizeof(tok) / sizeof(tok[0])));
	if (ntok < 0)
		return perr(err, errlen, "too long (expected TYPE @OFFSET [options])");
	if (ntok < 2 || tok[1][0] != '@')
		return perr(err, errlen, "expected TYPE @OFFSET [options], as in \"u16 @4 le\"");
	if ((t = schema_type_find(tok[0])) < 0)
		return perr(err, errlen, "unknown type \"%s\" (known: %s)", tok[0],
			    schema_type_names());
	f->type = (uint8_t)t;
	if (!parse_count(tok[1] + 1, 65534, &n))
		return perr(err, errlen, "offset: \"%s\" is not a byte offset (0-65534)", tok[1] + 1);
	f->offset = (uint16_t)n;

	for (int i = 2; i < ntok; i++) {
		char *o = tok[i], *eq = strchr(o, '=');
		const char *v = eq ? eq + 1 : NULL;
		size_t klen = eq ? (size_t)(eq - o) : strlen(o);

#define IS(k) (klen == sizeof(k) - 1 && memcmp(o, k, klen) == 0)
#define ONCE(cond, what) \
	do { if (cond) return perr(err, errlen, "%s given twice", what); } while (0)
#define NEEDS_VALUE(k) \
	do { if (v == NULL || *v == '\0') return perr(err, errlen, "%s needs a value (%s=...)", k, k); } while (0)
#define NO_VALUE(k) \
	do { if (v != NULL) return perr(err, errlen, "%s takes no value", k); } while (0)
		if (IS("be") || IS("le")) {
			NO_VALUE(IS("be") ? "be" : "le");
			ONCE(seen_order, "byte order (be/le)");
			seen_order = true;
			f->order = IS("le") ? BO_LITTLE : BO_BIG;
			f->order_given = 1;
		} else if (IS("magic")) {
			NEEDS_VALUE("magic");
			ONCE(magic_text != NULL, "magic");
			magic_text = v;   /* parsed once bits= is known */
		} else if (IS("bit") || IS("bits")) {
			bool single = IS("bit");

			NEEDS_VALUE(single ? "bit" : "bits");
			ONCE(f->has_bits, "bit/bits");
			if (single ? !parse_count(v, 63, &lo) : !parse_range(v, 63, &lo, &hi))
				return perr(err, errlen, single ? "bit: \"%s\" is not a bit number" :
					    "bits: \"%s\" is not a range LO..HI of bit numbers", v);
			if (single)
				hi = lo;
			if (lo > hi)
				return perr(err, errlen, "bits: %s: LO must not exceed HI", v);
			f->has_bits = 1;
			single_bit = single;
			f->bit_lo = (uint8_t)lo;
			f->bit_hi = (uint8_t)hi;
		} else if (IS("scale") || IS("div")) {
			const char *k = IS("scale") ? "scale" : "div";

			NEEDS_VALUE(k);
			ONCE(f->scaling != SC_NONE, "scale/div");
			if (!parse_decimal(v, &f->factor))
				return perr(err, errlen, "%s: \"%s\" is not a decimal number", k, v);
			if (!isfinite(f->factor))
				return perr(err, errlen, "%s: %s is not a finite number", k, v);
			if (IS("div") && f->factor == 0)
				return perr(err, errlen, "div: must not be 0");
			f->scaling = IS("scale") ? SC_SCALE : SC_DIV;
		} else if (IS("add")) {
			NEEDS_VALUE("add");
			ONCE(f->has_add, "add");
			if (!parse_decimal(v, &f->add))
				return perr(err, errlen, "add: \"%s\" is not a decimal number", v);
			if (!isfinite(f->add))
				return perr(err, errlen, "add: %s is not a finite number", v);
			f->has_add = 1;
		} else if (IS("omit")) {
			NO_VALUE("omit");
			ONCE(f->omit, "omit");
			f->omit = 1;
		} else if (IS("json")) {
			NEEDS_VALUE("json");
			ONCE(f->json_string, "json");
			if (strcmp(v, "string") != 0)
				return perr(err, errlen, "json: \"%s\" is not a choice (only json=string)",
					    v);
			f->json_string = 1;
		} else if (IS("len")) {
			NEEDS_VALUE("len");
			ONCE(seen_len, "len");
			if (!parse_count(v, 65535, &n) || n == 0)
				return perr(err, errlen, "len: \"%s\" is not a length (1-65535)", v);
			f->len = (uint16_t)n;
			seen_len = true;
		} else {
			return perr(err, errlen, "unknown option \"%.*s\" (known: be le magic= bit= bits= "
				    "scale= div= add= omit json=string len=)", (int)klen, o);
		}
#undef IS
#undef ONCE
#undef NEEDS_VALUE
#undef NO_VALUE
	}

	/* What each type allows. */
	bool bytes = f->type == FT_STR || f->type == FT_HEX;
	const char *tn = types[f->type].name;

	if (bytes && !seen_len)
		return perr(err, errlen, "%s needs len=N (its length in bytes)", tn);
	if (!bytes && seen_len)
		return perr(err, errlen, "len: only for str and hex (a %s has its own width)", tn);
	if (seen_order && (bytes || types[f->type].width == 1))
		return perr(err, errlen, "%s: a %s has no byte order", f->order ? "le" : "be", tn);
	if (f->has_bits) {
		if (!is_integer(f->type))
			return perr(err, errlen, "bits: only for integer types, not %s", tn);
		if (f->bit_hi >= types[f->type].width * 8 && single_bit)
			return perr(err, errlen, "bit: %u is outside the bits of %s (0..%u)",
				    f->bit_lo, tn, types[f->type].width * 8 - 1);
		if (f->bit_hi >= types[f->type].width * 8)
			return perr(err, errlen, "bits: %u..%u is outside the bits of %s (0..%u)",
				    f->bit_lo, f->bit_hi, tn, types[f->type].width * 8 - 1);
	}
	if ((f->scaling != SC_NONE || f->has_add) && bytes)
		return perr(err, errlen, "%s: only for numbers, not %s",
			    f->scaling == SC_SCALE ? "scale" : f->scaling == SC_DIV ? "div" : "add", tn);
	if (f->json_string) {
		if (f->type != FT_U64 && f->type != FT_I64)
			return perr(err, errlen, "json=string: only for u64 and i64 (other integers "
				    "are exact JSON numbers everywhere)");
		if (f->scaling != SC_NONE || f->has_add)
			return perr(err, errlen, "json=string: not with scale, div or add (the value is "
				    "then a double)");
	}
	if (magic_text != NULL) {
		if (!is_integer(f->type))
			return perr(err, errlen, "magic: only for integer types, not %s", tn);
		if (parse_magic(f, magic_text, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int
schema_parse_checksum(struct schema_checksum *c, const char *spec, char *err, size_t errlen)
{
	char buf[256], *tok[8];
	int ntok = tokens(spec, buf, sizeof(buf), tok, 8);
	bool seen_over = false;
	uint64_t n, lo, hi;

	memset(c, 0, sizeof(*c));
	if (ntok < 2 || tok[1][0] != '@')
		return perr(err, errlen, "expected ALGO @OFFSET over=FIRST..LAST [be|le], as in "
			    "\"crc16-modbus @14 over=0..13 le\"");
	if ((c->algo = (uint8_t)checksum_find(tok[0])) == CK_NONE)
		return perr(err, errlen, "unknown algorithm \"%s\" (known: %s)", tok[0],
			    checksum_names());
	if (!parse_count(tok[1] + 1, 65534, &n))
		return perr(err, errlen, "offset: \"%s\" is not a byte offset (0-65534)", tok[1] + 1);
	c->offset = (uint16_t)n;
	for (int i = 2; i < ntok; i++) {
		if (strcmp(tok[i], "be") == 0 || strcmp(tok[i], "le") == 0) {
			if (c->order_given)
				return perr(err, errlen, "byte order (be/le) given twice");
			c->order_given = 1;
			c->order = tok[i][0] == 'l' ? BO_LITTLE : BO_BIG;
		} else if (strncmp(tok[i], "over=", 5) == 0) {
			if (seen_over)
				return perr(err, errlen, "over given twice");
			if (!parse_range(tok[i] + 5, 65534, &lo, &hi) || lo > hi)
				return perr(err, errlen, "over: \"%s\" is not a byte range FIRST..LAST",
					    tok[i] + 5);
			c->first = (uint16_t)lo;
			c->last = (uint16_t)hi;
			seen_over = true;
		} else {
			return perr(err, errlen, "unknown option \"%s\" (known: over=FIRST..LAST be le)",
				    tok[i]);
		}
	}
	if (!seen_over)
		return perr(err, errlen, "needs over=FIRST..LAST (the bytes it covers)");
	if (c->order_given && checksum_width((enum checksum_algo)c->algo) == 1)
		return perr(err, errlen, "%s: a one-byte checksum has no byte order",
			    c->order ? "le" : "be");
	return 0;
}

/* ---- finishing a schema ---- */

static uint8_t
load_of(size_t width, enum byte_order order)
{
	switch (width) {
	case 1:  return LD_1;
	case 2:  return order == BO_LITTLE ? LD_LE2 : LD_BE2;
	case 3:  return order == BO_LITTLE ? LD_LE3 : LD_BE3;
	case 4:  return order == BO_LITTLE ? LD_LE4 : LD_BE4;
	default: return order == BO_LITTLE ? LD_LE8 : LD_BE8;
	}
}

static void
derive(struct field *f)
{
	unsigned nbits = value_bits(f);

	f->load = (f->type == FT_STR || f->type == FT_HEX) ? LD_BYTES :
		  load_of(types[f->type].width, (enum byte_order)f->order);
	f->shift = f->has_bits ? f->bit_lo : 0;
	f->mask = nbits >= 64 ? UINT64_MAX : ((uint64_t)1 << nbits) - 1;
	f->sign = is_integer(f->type) && types[f->type].is_signed ? (uint64_t)1 << (nbits - 1) : 0;
	if (f->type == FT_STR)
		f->print = PR_STR;
	else if (f->type == FT_HEX)
		f->print = PR_HEX;
	else if (f->scaling != SC_NONE || f->has_add)
		f->print = PR_SCALED;
	else if (f->type == FT_F32)
		f->print = PR_F32;
	else if (f->type == FT_F64)
		f->print = PR_F64;
	else if (f->type == FT_U64 && nbits == 64)
		f->print = f->json_string ? PR_U64_STRING : PR_U64;
	else
		f->print = f->json_string ? PR_INT_STRING : PR_INT;
	f->fast = FAST_NONE;
	if (f->print == PR_INT && !f->has_bits) {
		static const uint8_t fast_int[FT__COUNT][2] = {
			[FT_U8]  = { FAST_U8, FAST_U8 },       [FT_I8]  = { FAST_I8, FAST_I8 },
			[FT_U16] = { FAST_U16BE, FAST_U16LE }, [FT_I16] = { FAST_I16BE, FAST_I16LE },
			[FT_U32] = { FAST_U32BE, FAST_U32LE }, [FT_I32] = { FAST_I32BE, FAST_I32LE },
		};
		f->fast = fast_int[f->type][f->order];
	} else if (f->print == PR_F32) {
		f->fast = f->order == BO_LITTLE ? FAST_F32LE : FAST_F32BE;
	} else if (f->print == PR_F64) {
		f->fast = f->order == BO_LITTLE ? FAST_F64LE : FAST_F64BE;
	}
}

int
schema_finish(struct schema *s, char *err, size_t errlen, int *where)
{
	size_t printed = 0;
	struct schema_checksum *c = &s->checksum;

	*where = SCHEMA_AT_SCHEMA;
	if (s->size < 1 || s->size > 65535)
		return perr(err, errlen, "size %zu is not 1-65535", s->size);
	for (size_t i = 0; i < s->nfields; i++) {
		struct field *f = &s->fields[i];
		size_t end = f->offset + field_width(f);

		*where = (int)i;
		if (end > s->size)
			return perr(err, errlen, "bytes %u..%zu are past the frame's size (%zu)",
				    f->offset, end - 1, s->size);
		if (!f->order_given)
			f->order = s->order;
		derive(f);
		printed += !f->omit;
	}
	*where = SCHEMA_AT_SCHEMA;
	if (printed == 0)
		return perr(err, errlen, "no printed field (every field is omit)");
	if (c->algo != CK_NONE) {
		size_t w = checksum_width((enum checksum_algo)c->algo);

		*where = SCHEMA_AT_CHECKSUM;
		if (!c->order_given)
			c->order = s->order;
		if (c->offset + w > s->size)
			return perr(err, errlen, "its %zu bytes at %u are past the frame's size (%zu)",
				    w, c->offset, s->size);
		if (c->last >= s->size)
			return perr(err, errlen, "over=%u..%u is past the frame's size (%zu)",
				    c->first, c->last, s->size);
		if (c->offset <= c->last && c->offset + w - 1 >= c->first)
			return perr(err, errlen, "over=%u..%u includes the checksum's own bytes "
				    "(%u..%zu)", c->first, c->last, c->offset, c->offset + w - 1);
	}
	s->needs_check = (uint8_t)schema_can_resync(s);
	*where = 0;
	return 0;
}

int
schema_has_magic(const struct schema *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].is_magic)
			return 1;
	return 0;
}

int
schema_can_resync(const struct schema *s)
{
	return schema_has_magic(s) || s->checksum.algo != CK_NONE;
}

/*
 * What s's magics require of frame byte j: bits `*mask` must equal `*val`.
 * Returns 0 when two magics require different values of one bit.
 */
static int
magic_byte(const struct schema *s, size_t j, uint8_t *mask, uint8_t *val)
{
	*mask = 0;
	*val = 0;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];
		size_t w = types[f->type].width;
		unsigned base;
		uint8_t m, v;

		if (!f->is_magic || j < f->offset || j >= f->offset + w)
			continue;
		/* Which bits of the loaded integer byte j holds. */
		base = (unsigned)(f->order == BO_LITTLE || w == 1 ? j - f->offset :
				  w - 1 - (j - f->offset)) * 8;
		m = (uint8_t)((f->mask << f->shift) >> base);
		v = (uint8_t)(((f->magic & f->mask) << f->shift) >> base);
		if ((*mask & m & (*val ^ v)) != 0)
			return 0;
		*mask |= m;
		*val |= v & m;
	}
	return 1;
}

int
schema_shadows(const struct schema *a, const struct schema *b)
{
	for (size_t j = 0; j < b->size && j < a->size; j++) {
		uint8_t am, av, bm, bv;

		if (!magic_byte(b, j, &bm, &bv))
			return 1;   /* b can never match */
		if (!magic_byte(a, j, &am, &av))
			return 0;   /* a can never match: it shadows nothing */
		/* a constrains a bit b leaves free, or wants another value. */
		if ((am & ~bm) != 0 || ((av ^ bv) & am) != 0)
			return 0;
	}
	return 1;
}

/* ---- checking and decoding frames ---- */

static int
magics_match(const struct schema *s, const uint8_t *p)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];

		if (f->is_magic && (uint64_t)schema_int(f, p) != f->magic)
			return 0;
	}
	return 1;
}

static int
checksum_matches(const struct schema *s, const uint8_t *p)
{
	const struct schema_checksum *c = &s->checksum;
	const uint8_t *q = p + c->offset;
	uint32_t stored;

	switch (checksum_width((enum checksum_algo)c->algo)) {
	case 1:  stored = q[0]; break;
	case 2:  stored = c->order == BO_LITTLE ? schema_le16(q) : schema_be16(q); break;
	default: stored = c->order == BO_LITTLE ? schema_le32(q) : schema_be32(q); break;
	}
	return checksum_compute((enum checksum_algo)c->algo, p + c->first,
				(size_t)(c->last - c->first) + 1) == stored;
}

enum schema_status
schema_check_fields(const struct schema *s, const uint8_t *p)
{
	if (!magics_match(s, p))
		return SCHEMA_BAD_MAGIC;
	if (s->checksum.algo != CK_NONE && !checksum_matches(s, p))
		return SCHEMA_BAD_CHECKSUM;
	return SCHEMA_OK;
}

enum schema_status
schema_select(const struct schema *const *set, size_t n, const uint8_t *p, size_t len,
	      size_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		const struct schema *s = set[i];

		if (len != s->size)
			return SCHEMA_BAD_SIZE;
		if (!magics_match(s, p))
			continue;
		*idx = i;
		if (s->checksum.algo != CK_NONE && !checksum_matches(s, p))
			return SCHEMA_BAD_CHECKSUM;
		return SCHEMA_OK;
	}
	return SCHEMA_BAD_MAGIC;
}

enum schema_status
schema_decode(const struct schema *s, const uint8_t *p, size_t len, union value *out)
{
	enum schema_status st = schema_check(s, p, len);

	if (st != SCHEMA_OK)
		return st;
	for (size_t i = 0; i < s->nfields; i++)
		out[i] = schema_value(&s->fields[i], p);
	return SCHEMA_OK;
}
