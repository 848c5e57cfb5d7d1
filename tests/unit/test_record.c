/*
 * Unit tests for record (daemon/record.c): decoded values to JSON lines.
 *
 * Covers: the prepared layout fragments and bound; the SPEC.md golden
 * records byte for byte (sensor24, legacy16, the two raw TLV messages),
 * without and with metadata; the golden files in tests/data/golden (.bin
 * decoded must give .jsonl exactly); base64 (RFC 4648 vectors for lengths
 * 0..4, the whole alphabet, 65535 bytes against an independent encoder);
 * record_meta_rx and record_meta_string text, including names that need
 * escaping; and, over many random and special values (NaN, infinities,
 * subnormals, -0, integral doubles past 2^63, extremes), that no record
 * exceeds record_bound / record_raw_bound (the output buffer is exactly
 * that size, so ASan reports any overrun), that every record is one line,
 * and that it parses back with jansson to the same keys, in order, with
 * exactly the decoded values.
 * Run from the repository root (the golden files are read by path).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "schema.h"

#define GOLDEN_DIR "tests/data/golden/"

static const uint8_t sensor24_golden[24] = {
	0x00, 0x00, 0x01, 0xa4, 0x42, 0x78, 0x56, 0xaa, 0x0c, 0x80, 0x00, 0x00,
	0x00, 0x01, 0x05, 0x19, 0x42, 0x48, 0x00, 0x00, 0x42, 0xc8, 0x66, 0x66,
};
static const uint8_t legacy16_golden[16] = {
	0xca, 0xfe, 0xad, 0xde, 0x00, 0x00, 0x40, 0xa0,
	0x00, 0x00, 0x01, 0xb5, 0x80, 0x51, 0x01, 0x00,
};

static const char sensor24_json[] =
	"{\"sensorId\":420,\"timestamp\":1672531200000,\"sensorType\":1,\"statusFlags\":5,"
	"\"temperature\":25,\"humidity\":50,\"pressure\":100.19999694824219}\n";
static const char legacy16_json[] =
	"{\"signature\":51966,\"deviceId\":57005,\"voltage\":5,\"status\":1,\"checksum\":181,"
	"\"uptime\":86400}\n";
static const char meta_tail[] =
	",\"_listener\":\"sensors\",\"_schema\":\"sensor24\",\"_peer\":\"127.0.0.1:5000\","
	"\"_rx_ms\":1700000000123}\n";

/* ---- deterministic PRNG (splitmix64) ---- */

static uint64_t rng_state = 42;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
bits_to_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

/* ---- metadata built the way the daemon builds it ---- */

struct meta_owner {
	struct record_meta m;
	char              *listener;
	char              *peer;
	char               rx[48];
	const char        *schema_name;  /* expected "_schema" value */
	const char        *listener_text, *peer_text;
	int64_t            rx_ms;
};

static void
meta_build(struct meta_owner *o, const char *listener, const char *peer, int64_t rx_ms)
{
	memset(o, 0, sizeof(*o));
	o->listener = record_meta_string("_listener", listener, &o->m.listener_len);
	o->peer = record_meta_string("_peer", peer, &o->m.peer_len);
	assert_non_null(o->listener);
	assert_non_null(o->peer);
	assert_int_equal(o->m.listener_len, strlen(o->listener));
	assert_int_equal(o->m.peer_len, strlen(o->peer));
	o->m.listener = o->listener;
	o->m.peer = o->peer;
	o->m.rx_len = record_meta_rx(o->rx, rx_ms);
	assert_true(o->m.rx_len <= sizeof(o->rx));
	o->m.rx = o->rx;
	o->listener_text = listener;
	o->peer_text = peer;
	o->rx_ms = rx_ms;
}

static void
meta_free(struct meta_owner *o)
{
	free(o->listener);
	free(o->peer);
	memset(o, 0, sizeof(*o));
}

/* ---- writing: into a buffer of exactly the bound the daemon reserves ---- */

/* Returns the record as a NUL-terminated copy; *len_out is its length.
 * Checks the length against the bound and that it is exactly one line. */
static char *
finish_record(char *buf, size_t n, size_t bound, size_t *len_out)
{
	char *copy;

	assert_true(n <= bound);
	assert_true(n >= 3);
	assert_int_equal(buf[0], '{');
	assert_int_equal(buf[n - 2], '}');
	assert_int_equal(buf[n - 1], '\n');
	/* JSON Lines: the only newline is the last byte, and no NUL inside. */
	assert_ptr_equal(memchr(buf, '\n', n), buf + n - 1);
	assert_null(memchr(buf, '\0', n));
	copy = malloc(n + 1);
	assert_non_null(copy);
	memcpy(copy, buf, n);
	copy[n] = '\0';
	free(buf);
	*len_out = n;
	return copy;
}

static char *
write_rec(const struct record_layout *l, const union value *v, const struct record_meta *m,
	  size_t *len_out)
{
	size_t bound = record_bound(l, m);
	char *buf = malloc(bound);

	assert_non_null(buf);
	return finish_record(buf, record_write(buf, l, v, m), bound, len_out);
}

static char *
write_raw(uint8_t type, const uint8_t *value, size_t len, const struct record_meta *m,
	  size_t *len_out)
{
	size_t bound = record_raw_bound(len, m);
	char *buf = malloc(bound);

	assert_non_null(buf);
	return finish_record(buf, record_write_raw(buf, type, value, len, m), bound, len_out);
}

/* ---- reading back with jansson ---- */

/*
 * Parses a record.  JavaScript prints integral doubles below 1e21 as plain
 * digits, which jansson refuses as integers once past int64; such a record
 * is re-read with every integer as a real (fine: the fields that need exact
 * integers are at most 32 bits, and rx_ms is checked on the first parse
 * whenever it succeeds).
 */
static json_t *
parse_record(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, 0, &err);

	if (j == NULL) {
		if (strstr(err.text, "too big") == NULL)
			fail_msg("jansson: %s at %d in: %s", err.text, err.position, text);
		j = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &err);
		if (j == NULL)
			fail_msg("jansson (ints as reals): %s in: %s", err.text, text);
	}
	assert_true(json_is_object(j));
	return j;
}

/* A JSON number (or null) that must read back as exactly want. */
static void
assert_json_double(const json_t *j, double want, const char *key, const char *text)
{
	if (!isfinite(want)) {
		if (!json_is_null(j))
			fail_msg("%s: want null for %g in %s", key, want, text);
		return;
	}
	if (json_is_integer(j)) {
		/* Integral doubles print without a fraction; jansson reads them as
		 * integers.  The conversion rounds like a parser would. */
		if ((double)json_integer_value(j) != want)
			fail_msg("%s: %lld != %.17g in %s", key, (long long)json_integer_value(j),
				 want, text);
		return;
	}
	if (!json_is_real(j))
		fail_msg("%s: not a number in %s", key, text);
	if (json_real_value(j) != want)
		fail_msg("%s: %.17g != %.17g in %s", key, json_real_value(j), want, text);
}

static void
assert_json_int(const json_t *j, int64_t want, const char *key, const char *text)
{
	if (json_is_integer(j)) {
		if (json_integer_value(j) != want)
			fail_msg("%s: %lld != %lld in %s", key, (long long)json_integer_value(j),
				 (long long)want, text);
	} else if (json_is_real(j)) {
		/* Only after the ints-as-reals re-read. */
		if (json_real_value(j) != (double)want)
			fail_msg("%s: %.17g != %lld in %s", key, json_real_value(j),
				 (long long)want, text);
	} else {
		fail_msg("%s: not an integer in %s", key, text);
	}
}

/* Walks the object's keys in order (jansson keeps insertion order). */
struct key_walk {
	json_t     *obj;
	void       *it;
	const char *text;
};

static json_t *
next_key(struct key_walk *w, const char *want_key)
{
	json_t *v;

	if (w->it == NULL)
		fail_msg("missing key %s in %s", want_key, w->text);
	if (strcmp(json_object_iter_key(w->it), want_key) != 0)
		fail_msg("key %s where %s was expected in %s", json_object_iter_key(w->it),
			 want_key, w->text);
	v = json_object_iter_value(w->it);
	w->it = json_object_iter_next(w->obj, w->it);
	return v;
}

static void
check_meta_keys(struct key_walk *w, const struct meta_owner *o, const char *schema_name)
{
	json_t *v;

	if (o == NULL)
		return;
	v = next_key(w, "_listener");
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), o->listener_text);
	v = next_key(w, "_schema");
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), schema_name);
	v = next_key(w, "_peer");
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), o->peer_text);
	v = next_key(w, "_rx_ms");
	assert_json_int(v, o->rx_ms, "_rx_ms", w->text);
}

/* The record parses to exactly the schema's fields, in order, with these
 * values, followed by the metadata when there is some. */
static void
check_record_json(const char *text, size_t len, const struct record_layout *l,
		  const union value *v, const struct meta_owner *o)
{
	const struct schema *s = l->schema;
	json_t *j = parse_record(text, len);
	struct key_walk w = { j, json_object_iter(j), text };

	assert_int_equal(json_object_size(j), s->nfields + (o ? 4 : 0));
	for (size_t i = 0; i < s->nfields; i++) {
		json_t *jv = next_key(&w, s->fields[i].name);

		if (field_is_float((enum field_type)s->fields[i].type))
			assert_json_double(jv, v[i].f, s->fields[i].name, text);
		else
			assert_json_int(jv, v[i].i, s->fields[i].name, text);
	}
	check_meta_keys(&w, o, s->name);
	assert_null(w.it);
	json_decref(j);
}

/* ---- base64: an independent reference, bit by bit ---- */

static const char *const b64_alpha =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
ref_base64(const uint8_t *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	size_t o = 0, nbits = 0;
	uint32_t acc = 0;

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		nbits += 8;
		while (nbits >= 6) {
			nbits -= 6;
			out[o++] = b64_alpha[(acc >> nbits) & 63];
		}
	}
	if (nbits > 0)
		out[o++] = b64_alpha[(acc << (6 - nbits)) & 63];
	while (o % 4 != 0)
		out[o++] = '=';
	out[o] = '\0';
	return out;
}

/* Checks a raw record parses back to type, length and the value bytes. */
static void
check_raw_json(const char *text, size_t len, uint8_t type, const uint8_t *value, size_t vlen,
	       const struct meta_owner *o)
{
	json_t *j = parse_record(text, len);
	struct key_walk w = { j, json_object_iter(j), text };
	json_t *jv;
	char *want = ref_base64(value, vlen);

	assert_int_equal(json_object_size(j), 3 + (o ? 4 : 0));
	assert_json_int(next_key(&w, "type"), type, "type", text);
	assert_json_int(next_key(&w, "length"), (int64_t)vlen, "length", text);
	jv = next_key(&w, "value");
	assert_true(json_is_string(jv));
	assert_string_equal(json_string_value(jv), want);
	check_meta_keys(&w, o, "raw");
	assert_null(w.it);
	free(want);
	json_decref(j);
}

/* ---- fixtures: the two built-in layouts ---- */

struct layouts {
	struct record_layout s24, l16;
};

static int
setup_layouts(void **state)
{
	struct layouts *ls = calloc(1, sizeof(*ls));

	if (ls == NULL)
		return -1;
	if (record_layout_init(&ls->s24, schema_find("sensor24")) != 0 ||
	    record_layout_init(&ls->l16, schema_find("legacy16")) != 0)
		return -1;
	*state = ls;
	return 0;
}

static int
teardown_layouts(void **state)
{
	struct layouts *ls = *state;

	record_layout_clear(&ls->s24);
	record_layout_clear(&ls->l16);
	free(ls);
	return 0;
}

static void
decode(const struct record_layout *l, const uint8_t *p, size_t len, union value *v)
{
	assert_int_equal(schema_decode(l->schema, p, len, v), SCHEMA_OK);
}

/* ------------------------------------------------------------------------ */

static void
test_layout_fragments(void **state)
{
	struct layouts *ls = *state;
	static const char *const want[] = {
		"{\"sensorId\":", ",\"timestamp\":", ",\"sensorType\":", ",\"statusFlags\":",
		",\"temperature\":", ",\"humidity\":", ",\"pressure\":",
	};
	size_t bound = 2;

	assert_ptr_equal(ls->s24.schema, schema_find("sensor24"));
	for (size_t i = 0; i < 7; i++) {
		assert_non_null(ls->s24.frag[i]);
		assert_int_equal(ls->s24.frag_len[i], strlen(want[i]));
		assert_memory_equal(ls->s24.frag[i], want[i], strlen(want[i]));
		bound += strlen(want[i]) + 32;   /* JSNUM_MAX per number */
	}
	assert_null(ls->s24.frag[7]);
	assert_int_equal(ls->s24.schema_frag_len, strlen(",\"_schema\":\"sensor24\""));
	assert_memory_equal(ls->s24.schema_frag, ",\"_schema\":\"sensor24\"",
			    ls->s24.schema_frag_len);
	assert_int_equal(ls->s24.bound, bound);
	assert_int_equal(record_bound(&ls->s24, NULL), bound);

	/* Clearing frees and zeroes; clearing twice is harmless. */
	struct record_layout tmp;
	assert_int_equal(record_layout_init(&tmp, schema_find("legacy16")), 0);
	record_layout_clear(&tmp);
	assert_null(tmp.frag[0]);
	assert_null(tmp.schema_frag);
	assert_int_equal(tmp.bound, 0);
	record_layout_clear(&tmp);
}

static void
test_sensor24_golden(void **state)
{
	struct layouts *ls = *state;
	union value v[SCHEMA_MAX_FIELDS];
	size_t n;
	char *rec;

	decode(&ls->s24, sensor24_golden, 24, v);
	rec = write_rec(&ls->s24, v, NULL, &n);
	assert_string_equal(rec, sensor24_json);
	assert_int_equal(n, strlen(sensor24_json));
	check_record_json(rec, n, &ls->s24, v, NULL);
	free(rec);
}

static void
test_legacy16_golden(void **state)
{
	struct layouts *ls = *state;
	union value v[SCHEMA_MAX_FIELDS];
	size_t n;
	char *rec;

	decode(&ls->l16, legacy16_golden, 16, v);
	rec = write_rec(&ls->l16, v, NULL, &n);
	assert_string_equal(rec, legacy16_json);
	check_record_json(rec, n, &ls->l16, v, NULL);
	free(rec);
}

static void
test_raw_golden(void **state)
{
	size_t n;
	char *rec;

	(void)state;
	rec = write_raw(1, (const uint8_t *)"hello", 5, NULL, &n);
	assert_string_equal(rec, "{\"type\":1,\"length\":5,\"value\":\"aGVsbG8=\"}\n");
	check_raw_json(rec, n, 1, (const uint8_t *)"hello", 5, NULL);
	free(rec);
	rec = write_raw(2, (const uint8_t *)"goodbye!", 8, NULL, &n);
	assert_string_equal(rec, "{\"type\":2,\"length\":8,\"value\":\"Z29vZGJ5ZSE=\"}\n");
	check_raw_json(rec, n, 2, (const uint8_t *)"goodbye!", 8, NULL);
	free(rec);
}

static void
test_metadata_golden(void **state)
{
	struct layouts *ls = *state;
	struct meta_owner o;
	union value v[SCHEMA_MAX_FIELDS];
	size_t n, base = strlen(sensor24_json) - 2;   /* without "}\n" */
	char *rec;

	meta_build(&o, "sensors", "127.0.0.1:5000", 1700000000123);
	assert_string_equal(o.listener, ",\"_listener\":\"sensors\"");
	assert_string_equal(o.peer, ",\"_peer\":\"127.0.0.1:5000\"");
	assert_int_equal(o.m.rx_len, strlen(",\"_rx_ms\":1700000000123"));
	assert_memory_equal(o.rx, ",\"_rx_ms\":1700000000123", o.m.rx_len);

	decode(&ls->s24, sensor24_golden, 24, v);
	rec = write_rec(&ls->s24, v, &o.m, &n);
	/* The decoded fields exactly as without metadata, then the metadata. */
	assert_int_equal(n, base + strlen(meta_tail));
	assert_memory_equal(rec, sensor24_json, base);
	assert_string_equal(rec + base, meta_tail);
	check_record_json(rec, n, &ls->s24, v, &o);
	free(rec);

	/* legacy16 names its own schema. */
	decode(&ls->l16, legacy16_golden, 16, v);
	rec = write_rec(&ls->l16, v, &o.m, &n);
	assert_non_null(strstr(rec, ",\"uptime\":86400,\"_listener\":\"sensors\","
				    "\"_schema\":\"legacy16\",\"_peer\":"));
	check_record_json(rec, n, &ls->l16, v, &o);
	free(rec);

	/* Raw TLV records say "_schema":"raw". */
	rec = write_raw(1, (const uint8_t *)"hello", 5, &o.m, &n);
	assert_string_equal(rec, "{\"type\":1,\"length\":5,\"value\":\"aGVsbG8=\","
				 "\"_listener\":\"sensors\",\"_schema\":\"raw\","
				 "\"_peer\":\"127.0.0.1:5000\",\"_rx_ms\":1700000000123}\n");
	check_raw_json(rec, n, 1, (const uint8_t *)"hello", 5, &o);
	free(rec);
	meta_free(&o);
}

static void
test_meta_rx(void **state)
{
	static const struct { int64_t ms; const char *text; } cases[] = {
		{ 0, ",\"_rx_ms\":0" },
		{ -1, ",\"_rx_ms\":-1" },
		{ 1700000000123, ",\"_rx_ms\":1700000000123" },
		{ INT64_MAX, ",\"_rx_ms\":9223372036854775807" },
		{ INT64_MIN, ",\"_rx_ms\":-9223372036854775808" },
	};
	char buf[48 + 16];

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(buf, '#', sizeof(buf));
		size_t n = record_meta_rx(buf, cases[k].ms);
		assert_int_equal(n, strlen(cases[k].text));
		assert_true(n <= 48);
		assert_memory_equal(buf, cases[k].text, n);
		/* Nothing written past the 48 bytes of room (record.h). */
		for (size_t i = 48; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
	}
}

static void
test_meta_string_escaping(void **state)
{
	struct layouts *ls = *state;
	static const struct { const char *name; const char *frag; } exact[] = {
		{ "a\"b", ",\"_listener\":\"a\\\"b\"" },
		{ "back\\slash", ",\"_listener\":\"back\\\\slash\"" },
		{ "nl\nx", ",\"_listener\":\"nl\\nx\"" },
		{ "\x01", ",\"_listener\":\"\\u0001\"" },
	};
	static const char *const names[] = {
		"a\"b", "back\\slash", "tab\there", "nl\nx", "cr\rx", "\x01\x02\x1f", "del\x7f",
		"caf\xc3\xa9", "\xe2\x98\x83 snow", "emoji \xf0\x9f\x98\x80", "</script>",
		"\"\\\"\\", "", "u2028\xe2\x80\xa8",
	};
	union value v[SCHEMA_MAX_FIELDS];
	size_t len, n;
	char *frag, *rec;
	struct meta_owner o;

	for (size_t k = 0; k < sizeof(exact) / sizeof(exact[0]); k++) {
		frag = record_meta_string("_listener", exact[k].name, &len);
		assert_non_null(frag);
		assert_string_equal(frag, exact[k].frag);
		assert_int_equal(len, strlen(exact[k].frag));
		free(frag);
	}
	/* Whatever the escaping, the record is one valid JSON line that reads
	 * back to the very same name. */
	decode(&ls->s24, sensor24_golden, 24, v);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		meta_build(&o, names[k], "[::1]:65535", 5);
		rec = write_rec(&ls->s24, v, &o.m, &n);
		check_record_json(rec, n, &ls->s24, v, &o);
		free(rec);
		rec = write_raw(7, (const uint8_t *)"x", 1, &o.m, &n);
		check_raw_json(rec, n, 7, (const uint8_t *)"x", 1, &o);
		free(rec);
		meta_free(&o);
	}
	/* Text that is not UTF-8 cannot become a JSON string: refused. */
	assert_null(record_meta_string("_listener", "bad\xff", &len));
}

/* A schema whose field names need escaping, an i16 field, and a name
 * whose fragment is longer than the fixed-size copy of short ones. */
static struct schema odd_schema = {
	.name = "odd\"schema",
	.size = 7,
	.nfields = 4,
	.fields = {
		{ "we\"ird\\name", 0, FT_I16, BO_BIG, 0, 0 },
		{ "tab\tf", 2, FT_F32, BO_LITTLE, 0, 0 },
		{ "\xc3\xbc", 6, FT_U8, BO_BIG, 0, 0 },
		{ "relative_humidity_percent", 6, FT_U8, BO_BIG, 0, 0 },
	},
};

static void
test_escaped_field_names(void **state)
{
	struct record_layout l;
	struct meta_owner o;
	union value v[SCHEMA_MAX_FIELDS];
	static const uint8_t pkt[7] = { 0x80, 0x00, 0x00, 0x00, 0xc0, 0x3f, 0xff };
	size_t n;
	char *rec;

	(void)state;
	{
		char err[256];
		int where;

		for (size_t i = 0; i < odd_schema.nfields; i++)
			odd_schema.fields[i].order_given = 1;
		assert_int_equal(schema_finish(&odd_schema, err, sizeof(err), &where), 0);
	}
	assert_int_equal(record_layout_init(&l, &odd_schema), 0);
	assert_int_equal(schema_decode(&odd_schema, pkt, 7, v), SCHEMA_OK);
	assert_int_equal(v[0].i, -32768);
	assert_true(v[1].f == 1.5);
	rec = write_rec(&l, v, NULL, &n);
	assert_string_equal(rec, "{\"we\\\"ird\\\\name\":-32768,\"tab\\tf\":1.5,\"\xc3\xbc\":255,"
			    "\"relative_humidity_percent\":255}\n");
	check_record_json(rec, n, &l, v, NULL);
	free(rec);
	meta_build(&o, "sensors", "1.2.3.4:1", 1);
	rec = write_rec(&l, v, &o.m, &n);
	check_record_json(rec, n, &l, v, &o);
	free(rec);
	meta_free(&o);
	record_layout_clear(&l);
}

static void
test_base64_vectors(void **state)
{
	/* RFC 4648 section 10, lengths 0..4 (and 5, 6). */
	static const struct { const char *in; const char *out; } vec[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char want[128];
	size_t n;
	char *rec;

	(void)state;
	for (size_t k = 0; k < sizeof(vec) / sizeof(vec[0]); k++) {
		size_t len = strlen(vec[k].in);

		snprintf(want, sizeof(want), "{\"type\":255,\"length\":%zu,\"value\":\"%s\"}\n", len,
			 vec[k].out);
		rec = write_raw(255, (const uint8_t *)vec[k].in, len, NULL, &n);
		assert_string_equal(rec, want);
		free(rec);
	}
	/* The top of the alphabet: 0xfb 0xef 0xbe is "++++", 0xff x3 "////". */
	rec = write_raw(9, (const uint8_t *)"\xfb\xef\xbe\xff\xff\xff\x00\x00\x00", 9, NULL, &n);
	assert_string_equal(rec, "{\"type\":9,\"length\":9,\"value\":\"++++////AAAA\"}\n");
	free(rec);
}

static void
test_base64_all_bytes_and_65535(void **state)
{
	uint8_t *buf = malloc(65535);
	size_t n;
	char *rec;

	(void)state;
	assert_non_null(buf);
	/* Every byte value at every position mod 3. */
	for (size_t i = 0; i < 768; i++)
		buf[i] = (uint8_t)(i % 256);
	for (size_t len = 760; len <= 768; len++) {
		rec = write_raw(3, buf, len, NULL, &n);
		check_raw_json(rec, n, 3, buf, len, NULL);
		free(rec);
	}
	/* The longest TLV value, type 255, with and without metadata. */
	for (size_t i = 0; i < 65535; i++)
		buf[i] = (uint8_t)(rng_next() >> 56);
	rec = write_raw(255, buf, 65535, NULL, &n);
	assert_int_equal(n, strlen("{\"type\":255,\"length\":65535,\"value\":\"\"}\n") +
				    4 * 21845);
	check_raw_json(rec, n, 255, buf, 65535, NULL);
	free(rec);

	struct meta_owner o;
	meta_build(&o, "sensors", "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535",
		   INT64_MIN);
	rec = write_raw(255, buf, 65535, &o.m, &n);
	check_raw_json(rec, n, 255, buf, 65535, &o);
	free(rec);
	meta_free(&o);
	free(buf);
}

/* Doubles that stress the number text: every layout branch of
 * Number::toString, integral values past int64, and the non-finite. */
static const double special[] = {
	0.0, -0.0, 1.0, -1.0, 0.5, 100.2, 1e21, 9.999999999999999e20, 1e20, 123456789012345680000.0,
	0x1p63, 0x1p64, -0x1p63, 0x1p53, 0x1p53 + 2, 1e-6, 1e-7, 1.5e-7, 0.000001234, 5e-324,
	-5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, DBL_MAX, -DBL_MAX, DBL_EPSILON,
	1.7976931348623157e308, -1.2345678901234567e-300, 4.35, 0.1, 0.3, 1.0 / 3.0, 1672531200000.0,
	(double)FLT_MAX, (double)FLT_MIN, (double)0x1p-149f, -123456.789e-12,
};

static double
nonfinite(int k)
{
	switch (k) {
	case 0: return bits_to_double(0x7ff8000000000000ull);   /* NaN */
	case 1: return bits_to_double(0xfff8000000000001ull);   /* -NaN, payload */
	case 2: return bits_to_double(0x7ff0000000000001ull);   /* signalling NaN */
	case 3: return INFINITY;
	default: return -INFINITY;
	}
}

/* A random double: random bits (every exponent), a special, or a
 * non-finite value. */
static double
random_double(void)
{
	uint64_t r = rng_next();

	switch (r % 8) {
	case 0:
		return special[(r >> 8) % (sizeof(special) / sizeof(special[0]))];
	case 1:
		return nonfinite((int)((r >> 8) % 5));
	case 2:   /* subnormals */
		return bits_to_double((rng_next() & 0x800fffffffffffffull));
	case 3: { /* integral doubles up to 2^70: plain digits past int64 */
		double d = ldexp((double)(rng_next() >> 11), (int)((r >> 8) % 18));
		return (r >> 16) & 1 ? -d : d;
	}
	default:
		return bits_to_double(rng_next());
	}
}

static void
check_values(const struct record_layout *l, const union value *v, const struct meta_owner *o)
{
	size_t n;
	char *rec = write_rec(l, v, o ? &o->m : NULL, &n);

	check_record_json(rec, n, l, v, o);
	free(rec);
}

/* Random bytes for a frame of l's schema (at most 24), with legacy16's
 * signature where the schema has one, so the frame passes schema_check. */
static void
random_frame(const struct record_layout *l, uint8_t *pkt)
{
	for (size_t i = 0; i < l->schema->size; i++)
		pkt[i] = (uint8_t)rng_next();
	if (l->schema->fields[0].is_magic) {
		pkt[0] = 0xca;
		pkt[1] = 0xfe;
	}
}

static void
test_random_values_bound_and_json(void **state)
{
	struct layouts *ls = *state;
	const struct record_layout *lay[2] = { &ls->s24, &ls->l16 };
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t pkt[24];
	struct meta_owner o;

	rng_state = 0xC0FFEE;
	meta_build(&o, "sensors", "[2001:db8::1]:5000", 1700000000123);
	for (int iter = 0; iter < 20000; iter++) {
		const struct record_layout *l = lay[iter & 1];
		const struct schema *s = l->schema;

		/* Random wire bytes through the real decoder give values of the
		 * right ranges (f32 widened, i8 sign-extended, ...). */
		random_frame(l, pkt);
		decode(l, pkt, s->size, v);
		/* Half the time, force specials into the float fields. */
		if (iter & 2)
			for (size_t i = 0; i < s->nfields; i++)
				if (field_is_float((enum field_type)s->fields[i].type))
					v[i].f = random_double();
		check_values(l, v, (iter & 4) ? &o : NULL);
	}
	meta_free(&o);
}

/*
 * The daemon writes records straight from frames (record_write_frame); it
 * must give byte for byte what decoding and then writing gives, for any
 * wire bytes, with and without metadata.
 */
static void
test_write_frame_matches_decode_then_write(void **state)
{
	struct layouts *ls = *state;
	const struct record_layout *lay[2] = { &ls->s24, &ls->l16 };
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t pkt[24];
	struct meta_owner o;

	rng_state = 0xF00D;
	meta_build(&o, "sensors", "192.0.2.7:4000", 1700000000123);
	for (int iter = 0; iter < 20000; iter++) {
		const struct record_layout *l = lay[iter & 1];
		const struct record_meta *m = (iter & 2) ? &o.m : NULL;
		size_t bound = record_bound(l, m);
		char *a = malloc(bound), *b = malloc(bound);
		size_t na, nb;

		assert_non_null(a);
		assert_non_null(b);
		random_frame(l, pkt);
		assert_int_equal(schema_check(l->schema, pkt, l->schema->size), SCHEMA_OK);
		decode(l, pkt, l->schema->size, v);
		na = record_write(a, l, v, m);
		nb = record_write_frame(b, l, pkt, m);
		assert_true(na <= bound);
		assert_int_equal(nb, na);
		assert_memory_equal(b, a, na);
		free(a);
		free(b);
	}
	assert_int_equal(ls->s24.schema->needs_check, 0);
	assert_int_equal(ls->l16.schema->needs_check, 1);
	meta_free(&o);
}

static void
test_specials_each_field(void **state)
{
	struct layouts *ls = *state;
	union value v[SCHEMA_MAX_FIELDS];
	const size_t ns = sizeof(special) / sizeof(special[0]);

	/* Every special and non-finite value in every float field of sensor24,
	 * the others at the golden values. */
	for (size_t k = 0; k < ns + 5; k++) {
		double d = k < ns ? special[k] : nonfinite((int)(k - ns));

		for (size_t f = 0; f < ls->s24.schema->nfields; f++) {
			if (!field_is_float((enum field_type)ls->s24.schema->fields[f].type))
				continue;
			decode(&ls->s24, sensor24_golden, 24, v);
			v[f].f = d;
			check_values(&ls->s24, v, NULL);
		}
	}
	/* The widest integers the record can be handed. */
	decode(&ls->s24, sensor24_golden, 24, v);
	v[0].i = INT64_MIN;
	v[2].i = INT64_MAX;
	check_values(&ls->s24, v, NULL);
}

static void
test_special_texts(void **state)
{
	struct layouts *ls = *state;
	union value v[SCHEMA_MAX_FIELDS];
	static const struct { double d; const char *text; } cases[] = {
		{ 1e21, "1e+21" }, { 1e20, "100000000000000000000" }, { 5e-7, "5e-7" },
		{ 0.000001, "0.000001" }, { -0.0, "0" }, { 1.5, "1.5" }, { 5e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 100.19999694824219, "100.19999694824219" },
	};
	char want[256];
	size_t n;
	char *rec;

	/* The humidity slot of the golden record, as JSON.stringify prints it. */
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		decode(&ls->s24, sensor24_golden, 24, v);
		v[5].f = cases[k].d;
		rec = write_rec(&ls->s24, v, NULL, &n);
		snprintf(want, sizeof(want), ",\"humidity\":%s,\"pressure\":", cases[k].text);
		if (strstr(rec, want) == NULL)
			fail_msg("want %s in %s", want, rec);
		free(rec);
	}
	decode(&ls->s24, sensor24_golden, 24, v);
	v[1].f = NAN;
	v[5].f = INFINITY;
	v[6].f = -INFINITY;
	rec = write_rec(&ls->s24, v, NULL, &n);
	assert_string_equal(rec, "{\"sensorId\":420,\"timestamp\":null,\"sensorType\":1,"
				 "\"statusFlags\":5,\"temperature\":25,\"humidity\":null,"
				 "\"pressure\":null}\n");
	free(rec);
}

static void
test_random_raw_bound_and_json(void **state)
{
	uint8_t value[600];
	struct meta_owner o;
	size_t n;
	char *rec;

	(void)state;
	rng_state = 0xBA5E64;
	meta_build(&o, "raw-listener", "10.0.0.1:1", -42);
	for (int iter = 0; iter < 3000; iter++) {
		uint8_t type = (uint8_t)(1 + rng_next() % 255);
		size_t len = (size_t)(rng_next() % sizeof(value));

		for (size_t i = 0; i < len; i++)
			value[i] = (uint8_t)rng_next();
		rec = write_raw(type, value, len, (iter & 1) ? &o.m : NULL, &n);
		check_raw_json(rec, n, type, value, len, (iter & 1) ? &o : NULL);
		free(rec);
	}
	meta_free(&o);
}

/* Reads a whole file into a new buffer. */
static uint8_t *
slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL)
		fail_msg("cannot open %s (tests run from the repository root)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	buf[len] = 0;
	*len_out = (size_t)len;
	return buf;
}

/* Appends a record to a growing text. */
static void
append(char **text, size_t *len, const char *rec, size_t n)
{
	*text = realloc(*text, *len + n + 1);
	assert_non_null(*text);
	memcpy(*text + *len, rec, n);
	*len += n;
	(*text)[*len] = '\0';
}

static void
test_golden_files(void **state)
{
	struct layouts *ls = *state;
	const struct record_layout *fixed[2] = { &ls->s24, &ls->l16 };
	static const char *const names[2] = { "sensor24", "legacy16" };
	union value v[SCHEMA_MAX_FIELDS];
	char path[256];
	size_t blen, jlen, olen, n;
	uint8_t *bin;
	char *jsonl, *out, *rec;

	/* Fixed framings: the .bin is whole packets back to back. */
	for (int k = 0; k < 2; k++) {
		size_t size = fixed[k]->schema->size;

		snprintf(path, sizeof(path), GOLDEN_DIR "%s.bin", names[k]);
		bin = slurp(path, &blen);
		snprintf(path, sizeof(path), GOLDEN_DIR "%s.jsonl", names[k]);
		jsonl = (char *)slurp(path, &jlen);
		assert_true(blen > 0);
		assert_int_equal(blen % size, 0);
		out = NULL;
		olen = 0;
		for (size_t off = 0; off < blen; off += size) {
			decode(fixed[k], bin + off, size, v);
			rec = write_rec(fixed[k], v, NULL, &n);
			append(&out, &olen, rec, n);
			free(rec);
		}
		assert_string_equal(out, jsonl);
		free(out);
		free(bin);
		free(jsonl);
	}
	/* The same bytes as the inline golden vectors. */
	bin = slurp(GOLDEN_DIR "sensor24.bin", &blen);
	assert_int_equal(blen, 24);
	assert_memory_equal(bin, sensor24_golden, 24);
	free(bin);

	/* TLV, no type mapped: every frame is a raw record. */
	bin = slurp(GOLDEN_DIR "tlv_messages.bin", &blen);
	jsonl = (char *)slurp(GOLDEN_DIR "tlv_messages.jsonl", &jlen);
	out = NULL;
	olen = 0;
	for (size_t off = 0; off < blen;) {
		size_t vlen;

		assert_true(blen - off >= 3);
		vlen = (size_t)bin[off + 1] << 8 | bin[off + 2];
		assert_true(blen - off - 3 >= vlen);
		rec = write_raw(bin[off], bin + off + 3, vlen, NULL, &n);
		append(&out, &olen, rec, n);
		free(rec);
		off += 3 + vlen;
	}
	assert_string_equal(out, jsonl);
	free(out);
	free(bin);
	free(jsonl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_fragments),
		cmocka_unit_test(test_sensor24_golden),
		cmocka_unit_test(test_legacy16_golden),
		cmocka_unit_test(test_raw_golden),
		cmocka_unit_test(test_metadata_golden),
		cmocka_unit_test(test_meta_rx),
		cmocka_unit_test(test_meta_string_escaping),
		cmocka_unit_test(test_escaped_field_names),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_all_bytes_and_65535),
		cmocka_unit_test(test_special_texts),
		cmocka_unit_test(test_specials_each_field),
		cmocka_unit_test(test_write_frame_matches_decode_then_write),
		cmocka_unit_test(test_random_values_bound_and_json),
		cmocka_unit_test(test_random_raw_bound_and_json),
		cmocka_unit_test(test_golden_files),
	};

	return cmocka_run_group_tests_name("record", tests, setup_layouts, teardown_layouts);
}
