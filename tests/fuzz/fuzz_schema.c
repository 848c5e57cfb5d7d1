/*
 * fuzz_schema: schema.c's decoder and record.c's writer (with jsnum.c's
 * numbers) on arbitrary bytes.
 *
 * Each built-in schema (sensor24, legacy16) decodes the whole input, which
 * must fail with SCHEMA_BAD_SIZE unless its length is the schema's size,
 * and then the input's prefix of exactly that size, which must succeed or
 * (legacy16, signature not 0xCAFE) fail with SCHEMA_BAD_MAGIC, and must give
 * the values SPEC.md's tables give (an independent decoding here).  A
 * third, synthetic schema covers every field type in both byte orders and
 * field names that need JSON escaping.
 *
 * Each successful decode is written as a record, with metadata off and on,
 * into a heap buffer of exactly record_bound() bytes, and read back with
 * jansson (and compared with record_write_frame's bytes for the same
 * frame): one '\n'-terminated line holding one JSON object with the
 * schema's keys (then the metadata keys) in order, no duplicates, integers
 * as JSON integers equal to the decoded ones, floats equal to the decoded
 * double, or null for NaN and the infinities.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "record.h"
#include "schema.h"

/* Every type, both orders, overlapping fields, names jansson must escape. */
static const struct schema synthetic = {
	.name = "synth\"etic\\",
	.size = 24,
	.nfields = 14,
	.fields = {
		{ "u8",            0,  FT_U8,  BO_BIG,    0, 0 },
		{ "i8",            1,  FT_I8,  BO_LITTLE, 0, 0 },
		{ "u16be",         2,  FT_U16, BO_BIG,    0, 0 },
		{ "u16le",         2,  FT_U16, BO_LITTLE, 0, 0 },
		{ "i16be",         4,  FT_I16, BO_BIG,    0, 0 },
		{ "i16le",         6,  FT_I16, BO_LITTLE, 0, 0 },
		{ "u32le",         8,  FT_U32, BO_LITTLE, 0, 0 },
		{ "i32be",         8,  FT_I32, BO_BIG,    0, 0 },
		{ "i32le",         12, FT_I32, BO_LITTLE, 0, 0 },
		{ "f32le",         12, FT_F32, BO_LITTLE, 0, 0 },
		{ "f32be",         16, FT_F32, BO_BIG,    0, 0 },
		{ "f64le",         16, FT_F64, BO_LITTLE, 0, 0 },
		{ "quo\"te\\",     20, FT_U32, BO_BIG,    0, 0 },
		{ "ctl\x01\ttab\xc3\xa9", 0, FT_F64, BO_BIG, 0, 0 },
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

/* SPEC.md's tables, read independently of schema.c's. */
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

/* Metadata used when it is on. */
static char *meta_listener, *meta_peer;
static size_t meta_listener_len, meta_peer_len;

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
		check_string_member(json_object_iter_value(it), "sensors-1", 9);
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_schema") == 0);
		check_string_member(json_object_iter_value(it), s->name, strlen(s->name));
		it = json_object_iter_next(root, it);
		CHECK(it != NULL && strcmp(json_object_iter_key(it), "_peer") == 0);
		check_string_member(json_object_iter_value(it), "[::1]:65535", 11);
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

	if (done)
		return;
	done = 1;
	schemas[0] = schema_find("sensor24");
	schemas[1] = schema_find("legacy16");
	schemas[2] = &synthetic;
	CHECK(schemas[0] != NULL && schemas[1] != NULL);
	CHECK(schema_find("sensor25") == NULL);
	for (int i = 0; i < 3; i++)
		CHECK(record_layout_init(&layouts[i], schemas[i]) == 0);
	meta_listener = record_meta_string("_listener", "sensors-1", &meta_listener_len);
	meta_peer = record_meta_string("_peer", "[::1]:65535", &meta_peer_len);
	CHECK(meta_listener != NULL && meta_peer != NULL);
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
		meta_listener, meta_listener_len, meta_peer, meta_peer_len,
		rx, record_meta_rx(rx, rx_ms),
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
	return 0;
}
