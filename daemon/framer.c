/*
 * framer: see framer.h.  The stream state lives in the caller's buffer and
 * the small carry; framer_next() is a pure function of the bytes it is
 * shown, which is what makes whole, byte-at-a-time and randomly split input
 * produce the same frames.
 */
#include "framer.h"

#include <string.h>

void
framer_init(struct framer *f, const struct framer_conf *conf)
{
	f->conf = conf;
	f->carry_len = 0;
}

enum framer_status
framer_next(const struct framer_conf *conf, const uint8_t *buf, size_t len, struct frame *out)
{
	if (conf->kind == FRAMING_FIXED) {
		out->total = conf->fixed_size;
		if (len < conf->fixed_size)
			return FRAMER_PARTIAL;
		out->type = 0;
		out->value = buf;
		out->len = conf->fixed_size;
		return FRAMER_FRAME;
	}

	if (len < TLV_HEADER_SIZE) {
		/* A type byte alone can already be judged. */
		if (len >= 1 && buf[0] == 0)
			return FRAMER_BAD_TYPE;
		out->total = 0;
		return FRAMER_PARTIAL;
	}
	if (buf[0] == 0)
		return FRAMER_BAD_TYPE;
	size_t vlen = ((size_t)buf[1] << 8) | buf[2];
	/* Judged on the header alone: nothing is reserved for an oversize value. */
	if (vlen > conf->max_value)
		return FRAMER_OVERSIZE;
	out->total = TLV_HEADER_SIZE + vlen;
	if (len < out->total)
		return FRAMER_PARTIAL;
	out->type = buf[0];
	out->value = buf + TLV_HEADER_SIZE;
	out->len = vlen;
	return FRAMER_FRAME;
}

size_t
framer_restore(struct framer *f, uint8_t *buf)
{
	size_t n = f->carry_len;

	memcpy(buf, f->carry, n);
	f->carry_len = 0;
	return n;
}

int
framer_save(struct framer *f, const uint8_t *rest, size_t n)
{
	if (n > FRAMER_CARRY_MAX)
		return 0;
	memcpy(f->carry, rest, n);
	f->carry_len = (uint16_t)n;
	return 1;
}

const char *
framer_status_name(enum framer_status st)
{
	static const char *const names[] = {
#define X(name, ...) #name,
		FRAMER_STATUSES(X)
#undef X
	};

	if ((size_t)st < sizeof(names) / sizeof(names[0]))
		return names[st];
	return "?";
}
