/*
 * fuzz_record: record.c's raw TLV records and metadata fragments, and
 * records of schemas declared in the config.
 *
 * record_write_raw() of an arbitrary type and value (up to the TLV maximum
 * of 65535 bytes), metadata off and on, into a heap buffer of exactly
 * record_raw_bound() bytes: one '\n'-terminated line, a JSON object with
 * keys type, length, value (then _listener, _schema "raw", _peer, _rx_ms),
 * and value's base64 decoding to exactly the value bytes (strict: canonical
 * padding, no other characters).
 *
 * record_meta_string() of an arbitrary NUL-free listener name must give a
 * `,"_listener":"..."` fragment that is valid JSON inside an object and
 * reads back as the name, or NULL exactly when the name is not UTF-8
 * (jansson refuses those; the daemon's names are ASCII by config.c's rule).
 *
 * Declared schemas (an input starting with a 0 byte; TLV type 0 never
 * reaches record_write_raw(), the framer refuses it): the text up to the
 * next NUL is the body of a [schema f] section, loaded with a fixed
 * listener naming f through config_load_text(); inputs whose config does
 * not load are skipped.  Every schema the text declares then decodes the
 * bytes after the NUL (repeated to its size), and its records, by
 * record_write() and record_write_frame(), metadata off and on, must be
 * exactly the text an independent reference builds (ds_check_frame() in
 * fuzz_schema.c, included here: values by byte loops, bits, sign
 * extension, scaling in double; str, hex; magic and checksum verdicts by
 * bitwise CRCs), within record_bound(), and read back with jansson.
 *
 * Input layout, raw records:
 *   [0]         TLV type (1..255)
 *   [1]         name length k
 *   [2..2+k)    listener name (cut at the first NUL)
 *   [2+k..2+k+8) receive time (int64, big-endian), when present
 *   the rest    the value (cut to 65535 bytes)
 * Input layout, declared schemas:
 *   [0]         0
 *   [1..z)      the [schema f] section's body, z the first NUL (or the end)
 *   (z..]       the frame's bytes
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "jsnum.h"
#include "record.h"

/* The declared-schema reference and checks (ds_*), without fuzz_schema's
 * entry point. */
#define FZ_SCHEMA_LIBRARY
#include "fuzz_schema.c"

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64 (standard alphabet, padded, canonical); returns
 * the decoded length or (size_t)-1. */
static size_t
b64_decode(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	if (n % 4 != 0)
		return (size_t)-1;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = s[i + 2] == '=' && last ? -2 : b64_val(s[i + 2]);
		int d = s[i + 3] == '=' && last ? -2 : b64_val(s[i + 3]);

		if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
			return (size_t)-1;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		if (c == -2) {
			if (b & 0x0f)
				return (size_t)-1;   /* non-canonical: unused bits set */
			break;
		}
		out[o++] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
		if (d == -2) {
			if (c & 0x03)
				return (size_t)-1;
			break;
		}
		out[o++] = (uint8_t)((c & 0x03) << 6 | d);
	}
	return o;
}

static void
check_string_member(json_t *j, const char *want, size_t want_len)
{
	CHECK(json_is_string(j));
	CHECK(json_string_length(j) == want_len);
	CHECK(want_len == 0 || memcmp(json_string_value(j), want, want_len) == 0);
}

static json_t *
next_member(json_t *root, void **it, const char *key)
{
	json_t *v;

	CHECK(*it != NULL);
	CHECK(strcmp(json_object_iter_key(*it), key) == 0);
	v = json_object_iter_value(*it);
	*it = json_object_iter_next(root, *it);
	return v;
}

static void
check_raw(uint8_t type, const uint8_t *value, size_t len, const struct record_meta *m,
	  const char *name, size_t name_len, int64_t rx_ms)
{
	size_t bound = record_raw_bound(len, m), n, dlen;
	char *out = malloc(bound);
	uint8_t *dec;
	json_t *root, *j;
	json_error_t jerr;
	void *it;

	CHECK(out != NULL);
	n = record_write_raw(out, type, value, len, m);
	CHECK(n <= bound);
	CHECK(n >= 3 && out[0] == '{' && out[n - 2] == '}' && out[n - 1] == '\n');
	CHECK(memchr(out, '\n', n - 1) == NULL);
	CHECK(memchr(out, '\0', n) == NULL);

	root = json_loadb(out, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		fprintf(stderr, "json error: %s at %d\n", jerr.text, jerr.position);
	CHECK(root != NULL && json_is_object(root));
	CHECK(json_object_size(root) == (m != NULL ? 7u : 3u));
	it = json_object_iter(root);

	j = next_member(root, &it, "type");
	CHECK(json_is_integer(j) && json_integer_value(j) == type);
	j = next_member(root, &it, "length");
	CHECK(json_is_integer(j) && json_integer_value(j) == (json_int_t)len);
	j = next_member(root, &it, "value");
	CHECK(json_is_string(j));
	CHECK(json_string_length(j) == 4 * ((len + 2) / 3));
	dec = malloc(len + 3);
	CHECK(dec != NULL);
	dlen = b64_decode(json_string_value(j), json_string_length(j), dec);
	CHECK(dlen == len);
	CHECK(len == 0 || memcmp(dec, value, len) == 0);
	free(dec);
	if (m != NULL) {
		check_string_member(next_member(root, &it, "_listener"), name, name_len);
		check_string_member(next_member(root, &it, "_schema"), "raw", 3);
		check_string_member(next_member(root, &it, "_peer"), "203.0.113.9:40000", 17);
		j = next_member(root, &it, "_rx_ms");
		CHECK(json_is_integer(j) && json_integer_value(j) == rx_ms);
	}
	CHECK(it == NULL);
	json_decref(root);
	free(out);
}

/* The fragment inside an object: {"a":1<frag>} must parse and give the name. */
static void
check_meta_fragment(const char *frag, size_t frag_len, const char *key, const char *text,
		    size_t text_len)
{
	char *doc = malloc(frag_len + 8);
	json_t *root;
	json_error_t jerr;

	CHECK(doc != NULL);
	CHECK(strlen(frag) == frag_len);
	CHECK(frag_len > 0 && frag[0] == ',');
	memcpy(doc, "{\"a\":1", 6);
	memcpy(doc + 6, frag, frag_len);
	doc[6 + frag_len] = '}';
	root = json_loadb(doc, frag_len + 7, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		fprintf(stderr, "json error: %s at %d\n", jerr.text, jerr.position);
	CHECK(root != NULL && json_is_object(root));
	CHECK(json_object_size(root) == 2);
	check_string_member(json_object_get(root, key), text, text_len);
	json_decref(root);
	free(doc);
}

static char *peer;
static size_t peer_len;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type;
	size_t k, name_len;
	char *name, *listener;
	size_t listener_len = 0;
	int64_t rx_ms = 0;
	const uint8_t *value;
	size_t len;

	if (peer == NULL) {
		peer = record_meta_string("_peer", "203.0.113.9:40000", &peer_len);
		CHECK(peer != NULL);
		check_meta_fragment(peer, peer_len, "_peer", "203.0.113.9:40000", 17);
	}
	if (size < 2)
		return 0;
	if (data[0] == 0) {
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		size_t body_len = nul ? (size_t)(nul - data) - 1 : size - 1;
		const uint8_t *p = data + 1 + body_len + (nul != NULL);

		ds_init();
		ds_run_text((const char *)data + 1, body_len, p, size - (size_t)(p - data),
			    1672531200000);
		return 0;
	}
	type = data[0];
	k = data[1];
	if (k > size - 2)
		k = size - 2;
	name_len = strnlen((const char *)data + 2, k);
	name = malloc(name_len + 1);
	CHECK(name != NULL);
	memcpy(name, data + 2, name_len);
	name[name_len] = '\0';
	value = data + 2 + k;
	len = size - 2 - k;
	if (len >= 8) {
		for (int i = 0; i < 8; i++)
			rx_ms = (int64_t)((uint64_t)rx_ms << 8 | value[i]);
		value += 8;
		len -= 8;
	}
	if (len > 65535)
		len = 65535;

	/* Metadata off. */
	check_raw(type, value, len, NULL, NULL, 0, 0);

	/* The listener fragment. */
	listener = record_meta_string("_listener", name, &listener_len);
	if (listener == NULL) {
		CHECK(!fz_utf8_valid((const uint8_t *)name, name_len));
		free(name);
		return 0;
	}
	CHECK(fz_utf8_valid((const uint8_t *)name, name_len));
	check_meta_fragment(listener, listener_len, "_listener", name, name_len);

	/* Metadata on. */
	{
		char rx[48];
		struct record_meta m = { .listener = listener, .listener_len = listener_len,
					 .peer = peer, .peer_len = peer_len, .rx = rx };

		memset(rx, 0x7f, sizeof(rx));
		m.rx_len = record_meta_rx(rx, rx_ms);
		CHECK(m.rx_len <= 10 + JSNUM_MAX && m.rx_len <= sizeof(rx));
		check_raw(type, value, len, &m, name, name_len, rx_ms);
	}
	free(listener);
	free(name);
	return 0;
}
