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

/* Longest text of one field's value. */
static size_t
value_bound(const struct field *f)
{
	size_t n;

	switch (f->print) {
	case PR_STR:        n = 2 + 6 * (size_t)f->len; break;  /* \u00XX per byte at worst */
	case PR_HEX:        n = 2 + 2 * (size_t)f->len; break;
	case PR_INT_STRING:
	case PR_U64_STRING: n = 2 + JSNUM_MAX; break;
	default:            n = JSNUM_MAX; break;
	}
	/* put_field() copies FRAG_COPY bytes of a short fragment: the excess
	 * lands in the value's room. */
	return n < FRAG_COPY ? FRAG_COPY : n;
}

int
record_layout_init(struct record_layout *l, const struct schema *s)
{
	memset(l, 0, sizeof(*l));
	l->schema = s;
	l->bound = 2;  /* '}' '\n' */
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];
		size_t k = l->nprint;

		if (f->omit)
			continue;
		l->field[k] = f;
		l->frag[k] = json_fragment(k == 0 ? "{" : ",", f->name, ":", &l->frag_len[k]);
		if (l->frag[k] == NULL)
			goto fail;
		l->bound += l->frag_len[k] + value_bound(f);
		l->nprint++;
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
	return m->listener_len + schema_frag_len + m->peer_len + m->tls_len + m->rx_len;
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
	if (m->tls_len > 0)
		o = put(o, m->tls, m->tls_len);
	o = put(o, m->rx, m->rx_len);
	return o;
}

static const char hex_digits[] = "0123456789abcdef";

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF) at p[0..n), or 0.
 */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t len;

	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

/* A str field: a JSON string, escaped as JSON.stringify escapes. */
static char *
put_str(char *o, const uint8_t *p, size_t n)
{
	*o++ = '"';
	for (size_t i = 0; i < n && p[i] != 0;) {
		uint8_t c = p[i];
		size_t len;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			*o++ = '\\';
			switch (c) {
			case '"':  *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hex_digits[c >> 4];
				o[4] = hex_digits[c & 15];
				o += 5;
				break;
			}
			i++;
			continue;
		}
		if ((len = utf8_len(p + i, n - i)) > 0) {
			memcpy(o, p + i, len);
			o += len;
			i += len;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);   /* U+FFFD for this one byte */
			o += 3;
			i++;
		}
	}
	*o++ = '"';
	return o;
}

static char *
put_hex(char *o, const uint8_t *p, size_t n)
{
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		o[0] = hex_digits[p[i] >> 4];
		o[1] = hex_digits[p[i] & 15];
		o += 2;
	}
	*o++ = '"';
	return o;
}

/* Field k's fragment; returns the end. */
static inline char *
put_frag(char *o, const struct record_layout *l, size_t k)
{
	/*
	 * Field names are short: a fragment up to FRAG_COPY bytes goes as one
	 * fixed-size move of its zero-padded buffer.  The bytes past its
	 * length land in the value's room (record_bound) and are overwritten.
	 */
	if (l->frag_len[k] <= FRAG_COPY) {
		memcpy(o, l->frag[k], FRAG_COPY);
		return o + l->frag_len[k];
	}
	return put(o, l->frag[k], l->frag_len[k]);
}

/* A numeric value (schema_value()) as field f prints it. */
static inline char *
put_number(char *o, const struct field *f, union value v)
{
	switch (f->print) {
	case PR_INT:
		return o + jsnum_i64(v.i, o);
	case PR_U64:
		return o + jsnum_u64(v.u, o);
	case PR_INT_STRING:
		*o++ = '"';
		o += jsnum_i64(v.i, o);
		*o++ = '"';
		return o;
	case PR_U64_STRING:
		*o++ = '"';
		o += jsnum_u64(v.u, o);
		*o++ = '"';
		return o;
	default:  /* PR_F32, PR_F64, PR_SCALED */
		return o + jsnum_double(v.f, o);
	}
}

/* Printed field k, decoded from the frame as it is written. */
static inline char *
put_field(char *o, const struct record_layout *l, size_t k, const uint8_t *frame)
{
	const struct field *f = l->field[k];
	const uint8_t *q = frame + f->offset;

	o = put_frag(o, l, k);
	switch (f->fast) {
	case FAST_U8:    return o + jsnum_i64(q[0], o);
	case FAST_I8:    return o + jsnum_i64((int8_t)q[0], o);
	case FAST_U16BE: return o + jsnum_i64(schema_be16(q), o);
	case FAST_U16LE: return o + jsnum_i64(schema_le16(q), o);
	case FAST_I16BE: return o + jsnum_i64((int16_t)schema_be16(q), o);
	case FAST_I16LE: return o + jsnum_i64((int16_t)schema_le16(q), o);
	case FAST_U32BE: return o + jsnum_i64(schema_be32(q), o);
	case FAST_U32LE: return o + jsnum_i64(schema_le32(q), o);
	case FAST_I32BE: return o + jsnum_i64((int32_t)schema_be32(q), o);
	case FAST_I32LE: return o + jsnum_i64((int32_t)schema_le32(q), o);
	case FAST_F32BE: return o + jsnum_double(schema_f32(schema_be32(q)), o);
	case FAST_F32LE: return o + jsnum_double(schema_f32(schema_le32(q)), o);
	case FAST_F64BE: return o + jsnum_double(schema_f64(schema_be64(q)), o);
	case FAST_F64LE: return o + jsnum_double(schema_f64(schema_le64(q)), o);
	default:         break;
	}
	if (f->print == PR_STR)
		return put_str(o, frame + f->offset, f->len);
	if (f->print == PR_HEX)
		return put_hex(o, frame + f->offset, f->len);
	return put_number(o, f, schema_value(f, frame));
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
	const struct field *base = l->schema->fields;
	char *o = out;

	for (size_t k = 0; k < l->nprint; k++) {
		const struct field *f = l->field[k];

		o = put_frag(o, l, k);
		if (f->print == PR_STR || f->print == PR_HEX) {
			*o++ = '"';   /* values hold no bytes (schema.h) */
			*o++ = '"';
		} else {
			o = put_number(o, f, v[f - base]);
		}
	}
	o = put_end(o, l, m);
	return (size_t)(o - out);
}

size_t
record_write_frame(char *out, const struct record_layout *l, const uint8_t *frame,
		   const struct record_meta *m)
{
	char *o = out;

	for (size_t k = 0; k < l->nprint; k++)
		o = put_field(o, l, k, frame);
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
record_json_bytes(char *out, const uint8_t *p, size_t n)
{
	return (size_t)(put_str(out, p, n) - out);
}

size_t
record_meta_rx(char *out, int64_t ms)
{
	char *o = put(out, ",\"_rx_ms\":", 10);

	o += jsnum_i64(ms, o);
	return (size_t)(o - out);
}
