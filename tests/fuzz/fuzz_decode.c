/*
 * fuzz_decode: decode.c, the stream-level decisions (framer + schemas +
 * on_bad_frame), on arbitrary byte streams.
 *
 * A listener of a fixed config (below: declared schemas with magics,
 * bits and checksums, built-ins, TLV type maps; on_bad_frame close, skip
 * and resync, small max_resync values) is chosen by the input's first
 * byte; the rest after the second byte is the stream.  It goes through
 * decode_next() as conn.c and offline.c drive it: a buffer of the bytes
 * not yet consumed, decode_next() until it says PARTIAL or CLOSE, the
 * remainder carried in front of the next read.  The stream is delivered
 * whole, in pseudo-random chunks (seeded from the second byte) and byte by
 * byte.
 *
 * Every step must keep decode.h's promises: advance > 0 and within the
 * buffer for RECORD, RAW, SKIP and SLIDE, 0 for PARTIAL and CLOSE; PARTIAL
 * only when no whole frame is there; RECORD only for a frame that passes
 * schema_check() of the schema it names (for several schemas, the first
 * whose magics match); RAW only for unmapped TLV types; SKIP only under
 * skip, for a frame that is bad; SLIDE only under resync, over positions
 * none of which starts a good frame, stopping at a good frame, where no
 * whole frame fits or at max_resync bytes, with resync_start (and the bad
 * frame's reason) on the first slide of a resync only; a CLOSE for the
 * resync limit only after max_resync bytes slid, at a bad frame; and
 * nothing after a CLOSE (decode_next() says CLOSE again for the same
 * bytes).
 *
 * Every delivery must then give the same events as an independent reading
 * of the whole stream (reference(): issue 12's rules, frame by frame and,
 * resynchronising, byte by byte), and the same records (record_write_frame
 * and record_write_raw of the frames, concatenated): records before and
 * after a bad frame exactly once, in order, whatever the read boundaries.
 * Events: RECORD/RAW/SKIP at their stream offsets, each resync with its
 * start, first reason and bytes slid (what conn.c counts as bad_magic or
 * bad_checksum, resyncs and resync_bytes, and offline.c reports, also for
 * a resync that gives up), CLOSE with its reason and offset, and the bytes
 * left over.
 *
 * Input layout:
 *   [0]   listener: value % NLISTENERS (see config_text)
 *   [1]   seed of the chunk sizes
 *   [2..] the byte stream
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "config.h"
#include "decode.h"
#include "framer.h"
#include "fuzz_common.h"
#include "record.h"
#include "schema.h"

#define HDR 2

static const char config_text[] =
	/* One frame kind, a magic and a CRC-8 over the rest. */
	"[schema g1]\n"
	"size = 8\n"
	"field.magic = u8 @0 magic=0xA5 omit\n"
	"field.id = u16 @1\n"
	"field.v = i32 @3 le div=10\n"
	"checksum = crc8 @7 over=0..6\n"
	/* Three hardware generations of one size, told apart by magic. */
	"[schema genA]\n"
	"size = 10\n"
	"field.sig = u16 @0 magic=0xCAFE\n"
	"field.a = u32 @2\n"
	"field.b = u32 @6 le\n"
	"[schema genB]\n"
	"size = 10\n"
	"order = le\n"
	"field.sig = u16 @0 be magic=0xBEEF\n"
	"field.x = i16 @2 scale=0.01\n"
	"field.s = str @4 len=4\n"
	"checksum = crc16-modbus @8 over=0..7\n"
	"[schema genC]\n"
	"size = 10\n"
	"field.gen = u8 @0 bits=4..7 magic=0xD omit\n"
	"field.lo = u8 @0 bits=0..3\n"
	"field.t = hex @1 len=9\n"
	/* No magic, only a checksum: noise often passes. */
	"[schema tiny]\n"
	"size = 3\n"
	"field.v = u16 @0\n"
	"checksum = sum8 @2 over=0..1\n"
	"\n"
	"[listener resync1]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = g1\non_bad_frame = resync\nmax_resync = 40\n"
	"[listener resync3]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = genA genB genC\non_bad_frame = resync\n"
	"[listener skip3]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = genA genB genC\non_bad_frame = skip\n"
	"[listener tlvskip]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n"
	"type.1 = g1\ntype.2 = genB\ntype.3 = legacy16\ntype.4 = tiny\nmax_frame = 40\n"
	"on_bad_frame = skip\n"
	"[listener close1]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = g1\n"
	"[listener tlvclose]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n"
	"type.1 = g1\ntype.7 = genA\nmax_frame = 300\non_bad_frame = close\n"
	"[listener legacy]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = legacy16\non_bad_frame = resync\nmax_resync = 20\n"
	"[listener tiny]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
	"schema = tiny\non_bad_frame = resync\nmax_resync = 5\n";

#define NLISTENERS 8

static struct config *cfg;

/* Record layouts of every schema the listeners use. */
#define MAX_LAYOUTS 16
static struct {
	const struct schema *s;
	struct record_layout l;
} layouts[MAX_LAYOUTS];
static size_t nlayouts;

static void
add_layout(const struct schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < nlayouts; i++)
		if (layouts[i].s == s)
			return;
	CHECK(nlayouts < MAX_LAYOUTS);
	layouts[nlayouts].s = s;
	CHECK(record_layout_init(&layouts[nlayouts].l, s) == 0);
	nlayouts++;
}

static const struct record_layout *
layout_of(const struct schema *s)
{
	for (size_t i = 0; i < nlayouts; i++)
		if (layouts[i].s == s)
			return &layouts[i].l;
	CHECK(0);
	return NULL;
}

static void
init_once(void)
{
	char err[512];

	if (cfg != NULL)
		return;
	cfg = malloc(sizeof(*cfg));
	CHECK(cfg != NULL);
	if (config_load_text(cfg, config_text, "fuzz_decode.ini", err, sizeof(err)) != 0)
		fprintf(stderr, "%s\n", err);
	CHECK(cfg->nlisteners == NLISTENERS);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *lc = &cfg->listeners[i];

		for (size_t k = 0; k < lc->nschemas; k++)
			add_layout(lc->schemas[k]);
		for (int t = 0; t < 256; t++)
			add_layout(lc->tlv_map[t]);
	}
}

/* ---- events ---- */

enum ev_kind { EV_RECORD, EV_RAW, EV_SKIP, EV_RESYNC, EV_CLOSE, EV_END };

struct event {
	int    kind;
	size_t off;     /* stream offset */
	size_t len;     /* RECORD, RAW, SKIP: bytes; RESYNC: bytes slid; END: bytes left */
	size_t index;   /* RECORD: schema index (fixed) or TLV type; RAW: TLV type */
	int    bad;     /* SKIP, CLOSE, RESYNC: enum decode_bad */
	int    closed;  /* RESYNC: ended at the limit */
};

struct log {
	struct event   *ev;
	size_t          n, cap;
	struct fz_bytes out;   /* the records */
};

static size_t
log_add(struct log *L, int kind, size_t off, size_t len, size_t index, int bad)
{
	if (L->n == L->cap) {
		L->cap = L->cap ? 2 * L->cap : 64;
		L->ev = realloc(L->ev, L->cap * sizeof(*L->ev));
		CHECK(L->ev != NULL);
	}
	L->ev[L->n] = (struct event){ kind, off, len, index, bad, 0 };
	return L->n++;
}

static void
log_free(struct log *L)
{
	free(L->ev);
	fz_bytes_free(&L->out);
	memset(L, 0, sizeof(*L));
}

static void
write_record(struct log *L, const struct schema *s, const uint8_t *frame)
{
	const struct record_layout *l = layout_of(s);
	size_t bound = record_bound(l, NULL);
	char *out = malloc(bound);

	CHECK(out != NULL);
	fz_bytes_add(&L->out, out, record_write_frame(out, l, frame, NULL));
	free(out);
}

static void
write_raw(struct log *L, uint8_t type, const uint8_t *value, size_t len)
{
	size_t bound = record_raw_bound(len, NULL);
	char *out = malloc(bound);

	CHECK(out != NULL);
	fz_bytes_add(&L->out, out, record_write_raw(out, type, value, len, NULL));
	free(out);
}

static void
log_same(const struct log *a, const struct log *b)
{
	if (a->n != b->n)
		fprintf(stderr, "events: %zu vs %zu\n", a->n, b->n);
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		const struct event *x = &a->ev[i], *y = &b->ev[i];

		if (x->kind != y->kind || x->off != y->off || x->index != y->index ||
		    x->closed != y->closed || x->len != y->len || x->bad != y->bad)
			fprintf(stderr, "event %zu: kind %d/%d off %zu/%zu len %zu/%zu index %zu/%zu "
				"bad %d/%d closed %d/%d\n", i, x->kind, y->kind, x->off, y->off, x->len,
				y->len, x->index, y->index, x->bad, y->bad, x->closed, y->closed);
		CHECK(x->kind == y->kind && x->off == y->off && x->index == y->index);
		CHECK(x->closed == y->closed && x->len == y->len && x->bad == y->bad);
	}
	CHECK(a->n == b->n);
	CHECK(a->out.len == b->out.len);
	CHECK(a->out.len == 0 || memcmp(a->out.p, b->out.p, a->out.len) == 0);
}

/* ---- what a frame is, by the schema functions (fuzz_schema checks those) ---- */

static enum decode_bad
bad_of(enum schema_status st)
{
	switch (st) {
	case SCHEMA_OK:           return DECODE_BAD_NONE;
	case SCHEMA_BAD_SIZE:     return DECODE_BAD_SIZE;
	case SCHEMA_BAD_MAGIC:    return DECODE_BAD_MAGIC;
	default:                  return DECODE_BAD_CHECKSUM;
	}
}

/* A fixed frame at p: good (NONE, *idx the first schema whose magics
 * match) or why not: the first such schema's checksum, else the magic. */
static enum decode_bad
fixed_verdict(const struct listener_conf *lc, const uint8_t *p, size_t *idx)
{
	for (size_t j = 0; j < lc->nschemas; j++) {
		enum schema_status st = schema_check(lc->schemas[j], p, lc->framer.fixed_size);

		if (st == SCHEMA_BAD_MAGIC)
			continue;
		*idx = j;
		return bad_of(st);
	}
	return DECODE_BAD_MAGIC;
}

/* ---- the reference: the whole stream, by issue 12's rules ---- */

static void
reference(const struct listener_conf *lc, const uint8_t *s, size_t n, struct log *L)
{
	size_t pos = 0, idx = 0;

	memset(L, 0, sizeof(*L));
	if (lc->framer.kind == FRAMING_FIXED) {
		size_t size = lc->framer.fixed_size;

		for (;;) {
			enum decode_bad bad;

			if (n - pos < size) {
				log_add(L, EV_END, pos, n - pos, 0, 0);
				return;
			}
			bad = fixed_verdict(lc, s + pos, &idx);
			if (bad == DECODE_BAD_NONE) {
				log_add(L, EV_RECORD, pos, size, idx, 0);
				write_record(L, lc->schemas[idx], s + pos);
				pos += size;
				continue;
			}
			if (lc->on_bad_frame == ON_BAD_CLOSE) {
				log_add(L, EV_CLOSE, pos, 0, 0, bad);
				return;
			}
			if (lc->on_bad_frame == ON_BAD_SKIP) {
				log_add(L, EV_SKIP, pos, size, 0, bad);
				pos += size;
				continue;
			}
			/* Resync: the next position where a whole good frame is,
			 * at most max_resync bytes on; giving up, the stream
			 * ends there, after max_resync bytes slid. */
			size_t p0 = pos, e = log_add(L, EV_RESYNC, p0, 0, 0, bad);

			for (size_t q = p0 + 1;; q++) {
				if (q - p0 > lc->max_resync) {
					L->ev[e].closed = 1;
					L->ev[e].len = lc->max_resync;
					log_add(L, EV_CLOSE, p0 + lc->max_resync, 0, 0,
						DECODE_BAD_RESYNC_LIMIT);
					return;
				}
				if (q + size > n) {
					L->ev[e].len = q - p0;
					log_add(L, EV_END, q, n - q, 0, 0);
					return;
				}
				if (fixed_verdict(lc, s + q, &idx) == DECODE_BAD_NONE) {
					L->ev[e].len = q - p0;
					pos = q;
					break;
				}
			}
		}
	}
	for (;;) {
		size_t rem = n - pos, vlen;
		const struct schema *sc;
		enum decode_bad bad;
		uint8_t type;

		if (rem >= 1 && s[pos] == 0) {
			log_add(L, EV_CLOSE, pos, 0, 0, DECODE_BAD_TYPE);
			return;
		}
		if (rem < TLV_HEADER_SIZE) {
			log_add(L, EV_END, pos, rem, 0, 0);
			return;
		}
		type = s[pos];
		vlen = (size_t)s[pos + 1] << 8 | s[pos + 2];
		if (vlen > lc->framer.max_value) {
			log_add(L, EV_CLOSE, pos, 0, 0, DECODE_BAD_OVERSIZE);
			return;
		}
		if (rem < TLV_HEADER_SIZE + vlen) {
			log_add(L, EV_END, pos, rem, 0, 0);
			return;
		}
		sc = lc->tlv_map[type];
		if (sc == NULL) {
			log_add(L, EV_RAW, pos, TLV_HEADER_SIZE + vlen, type, 0);
			write_raw(L, type, s + pos + TLV_HEADER_SIZE, vlen);
		} else if ((bad = bad_of(schema_check(sc, s + pos + TLV_HEADER_SIZE, vlen))) ==
			   DECODE_BAD_NONE) {
			log_add(L, EV_RECORD, pos, TLV_HEADER_SIZE + vlen, type, 0);
			write_record(L, sc, s + pos + TLV_HEADER_SIZE);
		} else if (lc->on_bad_frame == ON_BAD_SKIP) {
			log_add(L, EV_SKIP, pos, TLV_HEADER_SIZE + vlen, 0, bad);
		} else {
			log_add(L, EV_CLOSE, pos, 0, 0, bad);
			return;
		}
		pos += TLV_HEADER_SIZE + vlen;
	}
}

/* ---- the connection-like driver ---- */

struct sim {
	const struct listener_conf *lc;
	struct decode_state st;
	uint8_t *left;          /* unconsumed bytes (heap, exactly left_len) */
	size_t   left_len;
	size_t   base;          /* stream offset of left[0] */
	int      closed;
	long     resync;        /* the RESYNC event under way, or -1 */
	struct log log;
};

static void
sim_init(struct sim *c, const struct listener_conf *lc)
{
	memset(c, 0, sizeof(*c));
	c->lc = lc;
	c->resync = -1;
}

static enum decode_bad
tlv_value_verdict(const struct schema *sc, const uint8_t *buf)
{
	size_t vlen = (size_t)buf[1] << 8 | buf[2];

	return bad_of(schema_check(sc, buf + TLV_HEADER_SIZE, vlen));
}

/* One decode_next() answer against decode.h's promises; buf[0..avail)
 * is what it was given, before the state it was given. */
static void
check_step(const struct listener_conf *lc, const struct decode_state *before,
	   const struct decode_state *st, const uint8_t *buf, size_t avail, const struct decoded *d)
{
	int fixed = lc->framer.kind == FRAMING_FIXED;
	size_t size = lc->framer.fixed_size, idx = 0, vlen = 0;

	if (!fixed && avail >= TLV_HEADER_SIZE)
		vlen = (size_t)buf[1] << 8 | buf[2];
	CHECK(d->action >= DEC_PARTIAL && d->action <= DEC_CLOSE);
	CHECK(st->resync_run <= lc->max_resync);
	CHECK(st->resyncing || st->resync_run == 0);
	if (d->action != DEC_PARTIAL && d->action != DEC_CLOSE)
		CHECK(d->advance > 0 && d->advance <= avail);
	if (d->action != DEC_SLIDE)
		CHECK(d->resync_start == 0);

	switch (d->action) {
	case DEC_PARTIAL:
		CHECK(d->advance == 0 && d->bad == DECODE_BAD_NONE);
		CHECK(st->resyncing == before->resyncing && st->resync_run == before->resync_run);
		if (fixed)
			CHECK(avail < size);
		else
			CHECK((avail == 0 || buf[0] != 0) &&
			      (avail < TLV_HEADER_SIZE ||
			       (vlen <= lc->framer.max_value && avail < TLV_HEADER_SIZE + vlen)));
		return;

	case DEC_CLOSE:
		CHECK(d->advance == 0 && d->bad != DECODE_BAD_NONE);
		switch (d->bad) {
		case DECODE_BAD_TYPE:
			CHECK(!fixed && avail >= 1 && buf[0] == 0);
			break;
		case DECODE_BAD_OVERSIZE:
			CHECK(!fixed && buf[0] != 0 && avail >= TLV_HEADER_SIZE &&
			      vlen > lc->framer.max_value);
			break;
		case DECODE_BAD_RESYNC_LIMIT:
			/* Only once max_resync bytes are slid, at a bad frame. */
			CHECK(fixed && lc->on_bad_frame == ON_BAD_RESYNC);
			CHECK(before->resyncing && before->resync_run == lc->max_resync);
			CHECK(avail >= size && fixed_verdict(lc, buf, &idx) != DECODE_BAD_NONE);
			CHECK(st->resyncing && st->resync_run == lc->max_resync);
			break;
		default:
			CHECK(lc->on_bad_frame == ON_BAD_CLOSE);
			if (fixed) {
				CHECK(avail >= size && fixed_verdict(lc, buf, &idx) == d->bad);
			} else {
				CHECK(buf[0] != 0 && avail >= TLV_HEADER_SIZE + vlen);
				CHECK(lc->tlv_map[buf[0]] != NULL &&
				      tlv_value_verdict(lc->tlv_map[buf[0]], buf) == d->bad);
			}
			break;
		}
		return;

	case DEC_RECORD:
		CHECK(d->bad == DECODE_BAD_NONE && d->schema != NULL);
		CHECK(schema_check(d->schema, d->frame.value, d->frame.len) == SCHEMA_OK);
		if (fixed) {
			CHECK(d->index < lc->nschemas && d->schema == lc->schemas[d->index]);
			CHECK(d->frame.value == buf && d->frame.len == size && d->advance == size);
			CHECK(fixed_verdict(lc, buf, &idx) == DECODE_BAD_NONE && idx == d->index);
			CHECK(!st->resyncing && st->resync_run == 0);
		} else {
			CHECK(buf[0] != 0 && d->frame.type == buf[0]);
			CHECK(d->schema == lc->tlv_map[buf[0]]);
			CHECK(d->frame.value == buf + TLV_HEADER_SIZE && d->frame.len == vlen);
			CHECK(d->advance == TLV_HEADER_SIZE + vlen && d->frame.total == d->advance);
		}
		return;

	case DEC_RAW:
		CHECK(!fixed && d->bad == DECODE_BAD_NONE);
		CHECK(buf[0] != 0 && d->frame.type == buf[0] && lc->tlv_map[buf[0]] == NULL);
		CHECK(d->frame.value == buf + TLV_HEADER_SIZE && d->frame.len == vlen);
		CHECK(d->advance == TLV_HEADER_SIZE + vlen && d->frame.total == d->advance);
		return;

	case DEC_SKIP:
		CHECK(lc->on_bad_frame == ON_BAD_SKIP);
		CHECK(d->bad == DECODE_BAD_SIZE || d->bad == DECODE_BAD_MAGIC ||
		      d->bad == DECODE_BAD_CHECKSUM);
		if (fixed) {
			CHECK(d->advance == size && fixed_verdict(lc, buf, &idx) == d->bad);
		} else {
			CHECK(buf[0] != 0 && d->advance == TLV_HEADER_SIZE + vlen);
			CHECK(lc->tlv_map[buf[0]] != NULL &&
			      tlv_value_verdict(lc->tlv_map[buf[0]], buf) == d->bad);
		}
		return;

	case DEC_SLIDE:
		CHECK(fixed && lc->on_bad_frame == ON_BAD_RESYNC && avail >= size);
		CHECK(d->resync_start == !before->resyncing);
		if (d->resync_start)
			CHECK(d->bad == fixed_verdict(lc, buf, &idx) && d->bad != DECODE_BAD_NONE);
		else
			CHECK(d->bad == DECODE_BAD_NONE);
		CHECK(st->resyncing && st->resync_run == before->resync_run + d->advance);
		/* None of the positions slid over starts a good frame ... */
		for (size_t k = 0; k < d->advance; k++) {
			CHECK(k + size <= avail);
			CHECK(fixed_verdict(lc, buf + k, &idx) != DECODE_BAD_NONE);
		}
		/* ... and it stops at one, where no whole frame fits, or as far
		 * as max_resync allows. */
		CHECK(d->advance + size > avail || st->resync_run == lc->max_resync ||
		      fixed_verdict(lc, buf + d->advance, &idx) == DECODE_BAD_NONE);
		return;
	}
}

/* Poisons what decode_next() must not look at: the bytes already consumed. */
#define POISON_SPAN 512

static void
sim_deliver(struct sim *c, const uint8_t *data, size_t n)
{
	const struct listener_conf *lc = c->lc;
	size_t len, pos = 0;
	uint8_t *buf;

	if (c->closed || n == 0)
		return;
	len = c->left_len + n;
	buf = malloc(len);
	CHECK(buf != NULL);
	if (c->left_len > 0)
		memcpy(buf, c->left, c->left_len);
	memcpy(buf + c->left_len, data, n);
	free(c->left);
	c->left = NULL;
	c->left_len = 0;

	for (;;) {
		struct decode_state before = c->st;
		struct decoded d;
		size_t lo = pos > POISON_SPAN ? pos - POISON_SPAN : 0, off = c->base + pos;

		memset(&d, 0xEE, sizeof(d));
		ASAN_POISON_MEMORY_REGION(buf + lo, pos - lo);
		decode_next(lc, &c->st, buf + pos, len - pos, &d);
		ASAN_UNPOISON_MEMORY_REGION(buf + lo, pos - lo);
		check_step(lc, &before, &c->st, buf + pos, len - pos, &d);

		switch (d.action) {
		case DEC_PARTIAL:
			goto keep;
		case DEC_CLOSE: {
			struct decode_state again = c->st;
			struct decoded d2;

			/* Nothing more: the same bytes close again. */
			decode_next(lc, &again, buf + pos, len - pos, &d2);
			CHECK(d2.action == DEC_CLOSE && d2.bad == d.bad);
			if (d.bad == DECODE_BAD_RESYNC_LIMIT) {
				CHECK(c->resync >= 0);
				c->log.ev[c->resync].closed = 1;
				c->resync = -1;
			}
			log_add(&c->log, EV_CLOSE, off, 0, 0, d.bad);
			c->closed = 1;
			free(buf);
			return;
		}
		case DEC_SKIP:
			log_add(&c->log, EV_SKIP, off, d.advance, 0, d.bad);
			break;
		case DEC_SLIDE:
			if (d.resync_start) {
				CHECK(c->resync < 0);
				c->resync = (long)log_add(&c->log, EV_RESYNC, off, 0, 0, d.bad);
			}
			CHECK(c->resync >= 0);
			c->log.ev[c->resync].len += d.advance;
			break;
		case DEC_RECORD:
			c->resync = -1;
			log_add(&c->log, EV_RECORD, off, d.advance,
				lc->framer.kind == FRAMING_FIXED ? d.index : d.frame.type, 0);
			write_record(&c->log, d.schema, d.frame.value);
			break;
		case DEC_RAW:
			log_add(&c->log, EV_RAW, off, d.advance, d.frame.type, 0);
			write_raw(&c->log, d.frame.type, d.frame.value, d.frame.len);
			break;
		}
		pos += d.advance;
	}
keep:
	c->left_len = len - pos;
	if (c->left_len > 0) {
		c->left = malloc(c->left_len);
		CHECK(c->left != NULL);
		memcpy(c->left, buf + pos, c->left_len);
	}
	c->base += pos;
	free(buf);
}

static void
sim_finish(struct sim *c, size_t n)
{
	if (!c->closed) {
		CHECK(c->base + c->left_len == n);
		log_add(&c->log, EV_END, c->base, c->left_len, 0, 0);
	}
	free(c->left);
	c->left = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct listener_conf *lc;
	struct log want;
	struct sim whole, c;
	const uint8_t *s;
	size_t n, frame_max;
	uint64_t seed;

	init_once();
	if (size < HDR)
		return 0;
	lc = &cfg->listeners[data[0] % NLISTENERS];
	s = data + HDR;
	n = size - HDR;
	frame_max = lc->framer.kind == FRAMING_FIXED ? lc->framer.fixed_size :
		    TLV_HEADER_SIZE + lc->framer.max_value;

	reference(lc, s, n, &want);
	if (getenv("FZ_DEBUG") != NULL) {   /* FZ_DEBUG=1: the events, as the reference sees them */
		static const char *const kinds[] = { "record", "raw", "skip", "resync", "close", "end" };

		fprintf(stderr, "--- listener %s, %zu bytes\n", lc->name, n);
		for (size_t i = 0; i < want.n; i++)
			fprintf(stderr, "%s @%zu len %zu index %zu bad %d%s\n", kinds[want.ev[i].kind],
				want.ev[i].off, want.ev[i].len, want.ev[i].index, want.ev[i].bad,
				want.ev[i].closed ? " (gave up)" : "");
	}

	/* (a) whole: one buffer */
	sim_init(&whole, lc);
	sim_deliver(&whole, s, n);
	sim_finish(&whole, n);
	log_same(&want, &whole.log);

	/* (b) pseudo-random chunks: 1..7 bytes, or up to a few frames */
	seed = (uint64_t)data[1] << 32 | n;
	sim_init(&c, lc);
	for (size_t off = 0; off < n;) {
		uint64_t r = rng_next(&seed);
		size_t k = (r & 1) ? 1 + (size_t)((r >> 1) % 7) :
			   1 + (size_t)((r >> 1) % (3 * frame_max));

		if (k > n - off)
			k = n - off;
		sim_deliver(&c, s + off, k);
		off += k;
	}
	sim_finish(&c, n);
	log_same(&want, &c.log);
	log_free(&c.log);

	/* (c) byte by byte */
	sim_init(&c, lc);
	for (size_t off = 0; off < n; off++)
		sim_deliver(&c, s + off, 1);
	sim_finish(&c, n);
	log_same(&want, &c.log);
	log_free(&c.log);

	log_free(&whole.log);
	log_free(&want);
	return 0;
}
