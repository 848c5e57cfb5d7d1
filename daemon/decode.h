/*
 * decode: what one listener makes of the bytes at the start of a buffer.
 *
 * The one place where frames (framer) meet schemas and the listener's
 * on_bad_frame policy.  Each call looks at buf[0..len) and says what the
 * next step is: a record of a schema, a raw TLV record, a bad frame to drop
 * (skip) or to stop at (close), bytes slid over while resynchronising, or
 * that more bytes are needed.  The daemon's connections (conn.c) and the
 * offline decoder (`ingestd --decode`, offline.c) both run it, so a capture
 * decodes offline exactly as it would have live.
 *
 * on_bad_frame:
 *   close   every bad frame ends the stream (the default).
 *   skip    a frame of the right framing whose value is bad (wrong size,
 *           magic or checksum) is dropped and the next one is trusted: a
 *           TLV header, or a fixed frame's position, still frames the
 *           stream.  A bad TLV header (type 0, length over max_frame)
 *           cannot be skipped and ends the stream.
 *   resync  (fixed framing, schemas with a magic or a checksum) after a bad
 *           frame, slide forward byte by byte to the next position where a
 *           whole frame passes its magic and checksum.  At most max_resync
 *           bytes per resync; past that the stream ends.
 *
 * Pure: no I/O, no allocation.  The per-stream state is struct
 * decode_state, embedded in whatever owns the stream.
 */
#ifndef INGESTD_DECODE_H
#define INGESTD_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "framer.h"

#define DECODE_BADS(X)                                                       \
	X(NONE,         "")                                                  \
	X(TYPE,         "TLV type 0 (garbage?)")                             \
	X(OVERSIZE,     "TLV length over the listener's max_frame")          \
	X(SIZE,         "TLV value size does not match its schema")          \
	X(MAGIC,        "wrong signature (magic field)")                     \
	X(CHECKSUM,     "checksum mismatch")                                 \
	X(RESYNC_LIMIT, "no good frame within max_resync bytes")

enum decode_bad {
#define X(id, text) DECODE_BAD_##id,
	DECODE_BADS(X)
#undef X
};

enum decode_action {
	DEC_PARTIAL,   /* more bytes are needed */
	DEC_RECORD,    /* a good frame of a schema */
	DEC_RAW,       /* a TLV frame of an unmapped type: a raw record */
	DEC_SKIP,      /* a bad frame, `advance` bytes, dropped (skip) */
	DEC_SLIDE,     /* resync: `advance` bytes slid over, none of them a frame */
	DEC_CLOSE,     /* a bad frame the stream cannot get past */
};

/* Per stream: whether a resync is under way and how far it has slid. */
struct decode_state {
	uint8_t resyncing;
	size_t  resync_run;
};

struct decoded {
	enum decode_action action;
	enum decode_bad    bad;          /* SKIP, CLOSE, and a SLIDE that starts a resync */
	uint8_t            resync_start; /* SLIDE: the first slide of a resync */
	size_t             advance;      /* bytes this step consumes (0 for PARTIAL, CLOSE) */
	struct frame       frame;        /* RECORD, RAW; framer_next()'s view otherwise */
	const struct schema *schema;     /* RECORD */
	size_t             index;        /* RECORD, fixed: which of lc->schemas */
};

/* Fills *out for the bytes buf[0..len) (borrowed; out->frame points into
 * it) of a stream of listener lc (borrowed), updating *st. */
void decode_next(const struct listener_conf *lc, struct decode_state *st, const uint8_t *buf,
		 size_t len, struct decoded *out);

/* The text of a bad-frame reason, for logs. */
const char *decode_bad_text(enum decode_bad bad);

#endif
