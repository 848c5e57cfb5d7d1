/*
 * decode: see decode.h.
 */
#include "decode.h"

#include "schema.h"

const char *
decode_bad_text(enum decode_bad bad)
{
	static const char *const text[] = {
#define X(id, t) t,
		DECODE_BADS(X)
#undef X
	};

	return (size_t)bad < sizeof(text) / sizeof(text[0]) ? text[bad] : "?";
}

static enum decode_bad
bad_of(enum schema_status st)
{
	switch (st) {
	case SCHEMA_BAD_SIZE:     return DECODE_BAD_SIZE;
	case SCHEMA_BAD_MAGIC:    return DECODE_BAD_MAGIC;
	case SCHEMA_BAD_CHECKSUM: return DECODE_BAD_CHECKSUM;
	default:                  return DECODE_BAD_NONE;
	}
}

/* A fixed frame of the listener's size at p: which schema, or why not. */
static inline enum schema_status
check_fixed(const struct listener_conf *lc, const uint8_t *p, size_t *idx)
{
	if (lc->nschemas == 1) {
		*idx = 0;
		return schema_check(lc->schemas[0], p, lc->framer.fixed_size);
	}
	return schema_select(lc->schemas, lc->nschemas, p, lc->framer.fixed_size, idx);
}

void
decode_next(const struct listener_conf *lc, struct decode_state *st, const uint8_t *buf,
	    size_t len, struct decoded *out)
{
	enum framer_status fs = framer_next(&lc->framer, buf, len, &out->frame);
	enum schema_status ss;
	size_t size, k, room;

	out->bad = DECODE_BAD_NONE;
	out->resync_start = 0;
	out->advance = 0;
	out->schema = NULL;
	out->index = 0;
	switch (fs) {
	case FRAMER_PARTIAL:
		out->action = DEC_PARTIAL;
		return;
	case FRAMER_OVERSIZE:
		out->action = DEC_CLOSE;
		out->bad = DECODE_BAD_OVERSIZE;
		return;
	case FRAMER_BAD_TYPE:
		out->action = DEC_CLOSE;
		out->bad = DECODE_BAD_TYPE;
		return;
	case FRAMER_FRAME:
		break;
	}

	if (lc->framer.kind == FRAMING_TLV) {
		const struct schema *s = lc->tlv_map[out->frame.type];

		out->advance = out->frame.total;
		if (s == NULL) {
			out->action = DEC_RAW;
			return;
		}
		ss = schema_check(s, out->frame.value, out->frame.len);
		if (ss == SCHEMA_OK) {
			out->action = DEC_RECORD;
			out->schema = s;
			return;
		}
		out->bad = bad_of(ss);
		out->action = lc->on_bad_frame == ON_BAD_SKIP ? DEC_SKIP : DEC_CLOSE;
		if (out->action == DEC_CLOSE)
			out->advance = 0;
		return;
	}

	size = lc->framer.fixed_size;
	ss = check_fixed(lc, buf, &out->index);
	if (ss == SCHEMA_OK) {
		out->action = DEC_RECORD;
		out->schema = lc->schemas[out->index];
		out->advance = size;
		st->resyncing = 0;
		st->resync_run = 0;
		return;
	}
	switch (lc->on_bad_frame) {
	case ON_BAD_SKIP:
		out->action = DEC_SKIP;
		out->bad = bad_of(ss);
		out->advance = size;
		return;
	case ON_BAD_RESYNC:
		break;
	default:
		out->action = DEC_CLOSE;
		out->bad = bad_of(ss);
		return;
	}

	/* Resync: position 0 is bad; try 1, 2, ... while a whole frame fits. */
	if (!st->resyncing) {
		out->resync_start = 1;
		out->bad = bad_of(ss);
		st->resyncing = 1;
	}
	/* Never look further than the bytes a resync may still skip. */
	room = lc->max_resync - st->resync_run;
	for (k = 1; k <= room && k + size <= len; k++) {
		size_t idx;

		if (check_fixed(lc, buf + k, &idx) == SCHEMA_OK)
			break;
	}
	if (k > room) {
		/* Slide as far as allowed first, so the resync is counted the
		 * same however the bytes arrived; the next call gives up. */
		if (room == 0) {
			out->action = DEC_CLOSE;
			out->bad = DECODE_BAD_RESYNC_LIMIT;
			out->resync_start = 0;
			return;
		}
		k = room;
	}
	st->resync_run += k;
	out->action = DEC_SLIDE;
	out->advance = k;
}
