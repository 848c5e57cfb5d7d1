/*
 * framer: turns a connection's byte stream into frames.
 *
 * Two framings: fixed (every frame is one schema's size) and TLV (1-byte
 * type 1..255, 2-byte big-endian length, value).  framer_next() finds the
 * next complete frame at the start of a contiguous buffer and never copies.
 * Bytes left over at the end of a read are the connection's carry: when they
 * are few (at most FRAMER_CARRY_MAX) framer_save() copies them into the
 * framer's own space so the caller can release its buffer at once, and
 * framer_restore() puts them back in front of the next read.  A longer
 * partial frame stays in the caller's buffer (the caller retains it).
 * Pure: no I/O, no allocation, no logging.
 */
#ifndef INGESTD_FRAMER_H
#define INGESTD_FRAMER_H

#include <stddef.h>
#include <stdint.h>

enum framing { FRAMING_FIXED, FRAMING_TLV };

#define TLV_HEADER_SIZE 3
#define FRAMER_CARRY_MAX 256

/* Shared by every connection of a listener. */
struct framer_conf {
	enum framing kind;
	size_t       fixed_size;   /* FRAMING_FIXED: bytes per frame */
	size_t       max_value;    /* FRAMING_TLV: longest value accepted */
};

#define FRAMER_STATUSES(X) \
	X(FRAME)       /* a whole frame is at the start of the buffer */ \
	X(PARTIAL)     /* more bytes are needed */                       \
	X(OVERSIZE)    /* TLV length over max_value */                   \
	X(BAD_TYPE)    /* TLV type 0 */

enum framer_status {
#define X(name, ...) FRAMER_##name,
	FRAMER_STATUSES(X)
#undef X
};

struct frame {
	uint8_t        type;       /* TLV type; 0 for fixed frames */
	const uint8_t *value;      /* borrowed: points into the caller's buffer */
	size_t         len;        /* value length */
	size_t         total;      /* bytes the frame occupies, header included */
};

/*
 * Per-connection state: only the carried bytes.  Embedded in struct conn;
 * framer_init() sets it up, nothing to free.
 */
struct framer {
	const struct framer_conf *conf;   /* borrowed */
	uint16_t carry_len;
	uint8_t  carry[FRAMER_CARRY_MAX];
};

void framer_init(struct framer *f, const struct framer_conf *conf);

/*
 * Looks at buf[0..len) (borrowed).  FRAMER_FRAME fills *out; FRAMER_PARTIAL
 * sets out->total to the frame's full size when the header says it (TLV),
 * else to the fixed size or 0; errors leave the stream unusable.
 */
enum framer_status framer_next(const struct framer_conf *conf, const uint8_t *buf, size_t len,
			       struct frame *out);

/* Copies the carried bytes to buf (caller's, at least FRAMER_CARRY_MAX
 * bytes) and empties the carry; returns how many were copied. */
size_t framer_restore(struct framer *f, uint8_t *buf);

/* Copies rest[0..n) into the carry when n <= FRAMER_CARRY_MAX and returns 1;
 * returns 0 otherwise (the caller keeps its buffer). */
int framer_save(struct framer *f, const uint8_t *rest, size_t n);

/* The printable name of a status ("FRAME", "OVERSIZE", ...). */
const char *framer_status_name(enum framer_status st);

#endif
