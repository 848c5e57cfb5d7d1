/*
 * record: decoded values to one JSON line, written into a caller's buffer.
 *
 * The constant parts of a record (`{"sensorId":`, `,"timestamp":`, ...) are
 * escaped once, with jansson, when a schema's layout is prepared; writing a
 * record is then copying those fragments and formatting numbers (jsnum) in
 * between.  Metadata, when on, follows the decoded fields:
 *   ,"_listener":"NAME","_schema":"SCHEMA","_peer":"ADDR:PORT","_rx_ms":MS
 * Fields marked omit are checked (their magic) but not written.
 * Unmapped TLV frames are written as {"type":T,"length":L,"value":"BASE64"}
 * with "_schema":"raw".  Every function that writes is given room for
 * record_bound() bytes and never checks again.  Pure apart from start-up
 * allocation in record_layout_init().
 */
#ifndef INGESTD_RECORD_H
#define INGESTD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"

/* A schema's prepared fragments, for its printed (not omit) fields in
 * line order.  Owned by whoever embeds it. */
struct record_layout {
	const struct schema *schema;          /* borrowed, outlives the layout */
	size_t  nprint;
	const struct field *field[SCHEMA_MAX_FIELDS];  /* borrowed from schema */
	char   *frag[SCHEMA_MAX_FIELDS];      /* `{"name":` then `,"name":` */
	size_t  frag_len[SCHEMA_MAX_FIELDS];
	char   *schema_frag;                  /* `,"_schema":"name"` */
	size_t  schema_frag_len;
	size_t  bound;                        /* longest record without metadata */
};

/* Per-record metadata pieces, prepared by the caller (see record_meta_*).
 * Every piece is borrowed for the duration of one record_write* call and
 * nothing is kept.  In the daemon the listener piece is owned by the
 * listener (alive until listener_release(), after its last connection),
 * the peer and tls pieces by the connection, the rx piece by the conn_ctx. */
struct record_meta {
	const char *listener;   size_t listener_len;   /* `,"_listener":"x"` */
	const char *peer;       size_t peer_len;       /* `,"_peer":"a:p"` */
	const char *tls;        size_t tls_len;        /* `,"_tls_cn":"cn"`, or 0 bytes */
	const char *rx;         size_t rx_len;         /* `,"_rx_ms":N` */
};

/* Fills l for schema s (borrowed).  Returns 0, or -1 on allocation failure
 * (l is then cleared).  record_layout_clear() frees the fragments. */
int  record_layout_init(struct record_layout *l, const struct schema *s);
void record_layout_clear(struct record_layout *l);

/* Upper bound, in bytes, of one record of layout l with metadata m (NULL:
 * metadata off), newline included. */
size_t record_bound(const struct record_layout *l, const struct record_meta *m);
size_t record_raw_bound(size_t value_len, const struct record_meta *m);

/*
 * Writes the record of values v (schema_decode()'s, indexed like the
 * schema's fields) and its '\n' at out; returns the bytes written.  For
 * tests and fuzzers: a str or hex field has no value there and prints "".
 */
size_t record_write(char *out, const struct record_layout *l, const union value *v,
		    const struct record_meta *m);
/*
 * Writes the record of a frame (borrowed) that has passed schema_check(),
 * and its '\n', at out; returns the bytes written.  Each field is decoded
 * as it is written: numbers as JavaScript's JSON.stringify prints them
 * (64-bit integers exactly), str as a JSON string of the bytes up to the
 * first NUL (valid UTF-8 kept, each invalid byte U+FFFD), hex as lowercase
 * digits.
 */
size_t record_write_frame(char *out, const struct record_layout *l, const uint8_t *frame,
			  const struct record_meta *m);
size_t record_write_raw(char *out, uint8_t type, const uint8_t *value, size_t len,
			const struct record_meta *m);

/*
 * Builds a metadata fragment for key (`,"key":` + JSON string of text) into
 * a new string the caller owns (free()).  Returns NULL on allocation failure.
 * Used at start-up and per connection, never per record.
 */
char *record_meta_string(const char *key, const char *text, size_t *len_out);
/*
 * Writes bytes p[0..n) (borrowed) as a JSON string, quotes included, by the
 * rule of str fields: up to the first NUL, well-formed UTF-8 kept, each
 * other byte U+FFFD.  out needs 2 + 6 * n bytes; returns the length.  For
 * text that may not be UTF-8 (a file name), where record_meta_string()
 * fails.
 */
size_t record_json_bytes(char *out, const uint8_t *p, size_t n);

/* Writes `,"_rx_ms":MS` into out (48 bytes of room, the rest of which may
 * be overwritten); returns its length. */
size_t record_meta_rx(char *out, int64_t ms);

#endif
