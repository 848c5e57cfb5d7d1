/*
 * record: see record.h.  Writing a record is memcpy of prepared fragments
 * and number formatting; no allocation, no bounds checks beyond the bound
 * the caller reserved (record_bound covers the longest possible text).
 */
#include "record.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jsnum.h"

/* Every fragment's buffer holds at least this many bytes (see put_field). */
#define FRAG_COPY 16

/* Returns `prefix` + JSON string of s + `suffix`, newly allocated. */
static char *
json_fragment(const char *prefix, const char *s, const char *suffix, size_t *len_out)
{
	json_t *js = json_string(s);
	char *quoted, *out;
	size_t qlen, plen = strlen(prefix), slen = strlen(suffix);

	if (js == NULL)
		return NULL;
	quoted = json_dumps(js, JSON_ENCODE_ANY);
	json_decref(js);
	if (quoted == NULL)
		return NULL;
	qlen = strlen(quoted);
	/* At least FRAG_COPY bytes, zero-padded: see put_field(). */
	out = calloc(1, plen + qlen + slen + 1 > FRAG_COPY ? plen + qlen + slen + 1 : FRAG_COPY);
	if (out != NULL) {
		memcpy(out, prefix, plen);
		memcpy(out + plen, quoted, qlen);
		memcpy(out + plen + qlen, suffix, slen + 1);
		*len_out = plen + qlen + slen;
	}
	free(quoted);
	return out;
}

int
record_layout_init(struct record_layout *l, const struct schema *s)
{
	memset(l, 0, sizeof(*l));
	l->schema = s;
	l->bound = 2;  /* '}' '\n' */
	for (size_t i = 0; i < s->nfields; i++) {
		l->frag[i] = json_fragment(i == 0 ? "{" : ",", s->fields[i].name, ":",
					   &l->frag_len[i]);
		if (l->frag[i] == NULL)
			goto fail;
		l->is_float[i] = (uint8_t)field_is_float((enum field_type)s->fields[i].type);
		l->has_magic |= s->fields[i].is_magic;
		l->bound += l->frag_len[i] + JSNUM_MAX;
	}
	l->schema_frag = json_fragment(",\"_schema\":", s->name, "", &l->schema_frag_len);
	if (l->schema_frag == NULL)
		goto fail;
	return 0;
fail:
	record_layout_clear(l);
	return -1;
}

void
record_layout_clear(struct record_layout *l)
{
	for (size_t i = 0; i < SCHEMA_MAX_FIELDS; i++)
		free(l->frag[i]);
	free(l->schema_frag);
	memset(l, 0, sizeof(*l));
}

static const char raw_schema_frag[] = ",\"_schema\":\"raw\"";

static size_t
meta_bound(const struct record_meta *m, size_t schema_frag_len)
{
	if (m == NULL)
		return 0;
	return m->listener_len + schema_frag_len + m->peer_len + m->rx_len;
}

size_t
record_bound(const struct record_layout *l, const struct record_meta *m)
{
	return l->bound + meta_bound(m, l->schema_frag_len);
}

size_t
record_raw_bound(size_t value_len, const struct record_meta *m)
{
	/* {"type":255,"length":65535,"value":"..."}\n */
	return sizeof("{\"type\":255,\"length\":65535,\"value\":\"\"}\n") +
	       4 * ((value_len + 2) / 3) + meta_bound(m, sizeof(raw_schema_frag) - 1);
}

/*
 * Copies n bytes and returns the end.  Fragments are short (keys, the
 * peer, the receive time), and a libc memcpy call costs more than they
 * do: up to 32 bytes go as two overlapping fixed-size moves, which touch
 * exactly [0, n) of both sides and compile to a few instructions.
 */
static inline char *
put(char *out, const char *s, size_t n)
{
	if (n >= 16 && n <= 32) {
		memcpy(out, s, 16);
		memcpy(out + n - 16, s + n - 16, 16);
	} else if (n >= 8 && n < 16) {
		memcpy(out, s, 8);
		memcpy(out + n - 8, s + n - 8, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(out, s, 4);
		memcpy(out + n - 4, s + n - 4, 4);
	} else {
		memcpy(out, s, n);
	}
	return out + n;
}

static char *
put_meta(char *o, const struct record_meta *m, const char *schema_frag, size_t schema_len)
{
	o = put(o, m->listener, m->listener_len);
	o = put(o, schema_frag, schema_len);
	o = put(o, m->peer, m->peer_len);
	o = put(o, m->rx, m->rx_len);
	return o;
}

/* Field i's fragment and value; returns the end. */
static inline char *
put_field(char *o, const struct record_layout *l, size_t i, union value v)
{
	/*
	 * Field names are short: a fragment up to FRAG_COPY bytes goes as one
	 * fixed-size move of its zero-padded buffer.  The bytes past its
	 * length land in the value's room (record_bound) and are overwritten.
	 */
	if (l->frag_len[i] <= FRAG_COPY) {
		memcpy(o, l->frag[i], FRAG_COPY);
		o += l->frag_len[i];
	} else {
		o = put(o, l->frag[i], l->frag_len[i]);
	}
	if (l->is_float[i])
		o += jsnum_double(v.f, o);
	else
		o += jsnum_i64(v.i, o);
	return o;
}

static inline char *
put_end(char *o, const struct record_layout *l, const struct record_meta *m)
{
	if (m != NULL)
		o = put_meta(o, m, l->schema_frag, l->schema_frag_len);
	*o++ = '}';
	*o++ = '\n';
	return o;
}

size_t
record_write(char *out, const struct record_layout *l, const union value *v,
	     const struct record_meta *m)
{
	char *o = out;

	for (size_t i = 0; i < l->schema->nfields; i++)
		o = put_field(o, l, i, v[i]);
	o = put_end(o, l, m);
	return (size_t)(o - out);
}

size_t
record_write_frame(char *out, const struct record_layout *l, const uint8_t *frame,
		   const struct record_meta *m)
{
	const struct schema *s = l->schema;
	char *o = out;

	for (size_t i = 0; i < s->nfields; i++)
		o = put_field(o, l, i, schema_field(&s->fields[i], frame));
	o = put_end(o, l, m);
	return (size_t)(o - out);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
put_base64(char *o, const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t t = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		o[0] = b64[t >> 18];
		o[1] = b64[(t >> 12) & 63];
		o[2] = b64[(t >> 6) & 63];
		o[3] = b64[t & 63];
		o += 4;
	}
	if (n - i == 1) {
		uint32_t t = (uint32_t)p[i] << 16;
		o[0] = b64[t >> 18];
		o[1] = b64[(t >> 12) & 63];
		o[2] = '=';
		o[3] = '=';
		o += 4;
	} else if (n - i == 2) {
		uint32_t t = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		o[0] = b64[t >> 18];
		o[1] = b64[(t >> 12) & 63];
		o[2] = b64[(t >> 6) & 63];
		o[3] = '=';
		o += 4;
	}
	return o;
}

size_t
record_write_raw(char *out, uint8_t type, const uint8_t *value, size_t len,
		 const struct record_meta *m)
{
	char *o = out;

	o = put(o, "{\"type\":", 8);
	o += jsnum_u64(type, o);
	o = put(o, ",\"length\":", 10);
	o += jsnum_u64(len, o);
	o = put(o, ",\"value\":\"", 10);
	o = put_base64(o, value, len);
	*o++ = '"';
	if (m != NULL)
		o = put_meta(o, m, raw_schema_frag, sizeof(raw_schema_frag) - 1);
	*o++ = '}';
	*o++ = '\n';
	return (size_t)(o - out);
}

char *
record_meta_string(const char *key, const char *text, size_t *len_out)
{
	char prefix[80];
	char *keyfrag;
	size_t klen;
	char *out;

	keyfrag = json_fragment(",", key, ":", &klen);
	if (keyfrag == NULL || klen >= sizeof(prefix)) {
		free(keyfrag);
		return NULL;
	}
	memcpy(prefix, keyfrag, klen + 1);
	free(keyfrag);
	out = json_fragment(prefix, text, "", len_out);
	return out;
}

size_t
record_meta_rx(char *out, int64_t ms)
{
	char *o = put(out, ",\"_rx_ms\":", 10);

	o += jsnum_i64(ms, o);
	return (size_t)(o - out);
}
