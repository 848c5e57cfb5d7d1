/*
 * fuzz_framer: framer.c through a harness that does what conn.c's read loop
 * does (restore the carry into a fresh slab, read, frame every complete
 * frame, then release the slab, carry a small remainder or retain the slab
 * for a large one), with the stream delivered whole, in fuzzer-chosen
 * chunks, in pseudo-random chunks and byte by byte.  Every delivery must
 * yield the same frames (type, value bytes), the same final status (which
 * error, or no error) and the same leftover bytes as an independent,
 * slab-free reading of the wire format (SPEC.md "Framings").
 *
 * Input layout:
 *   [0]     framing: bits 0-1: 0 fixed 24, 1 fixed 16, 2/3 TLV
 *   [1]     TLV max_value (see max_value_of)
 *   [2]     slab size above the minimum (see slab_cap_of)
 *   [3..6]  chunk sizes, used in turn (see chunk_of), and the PRNG seed
 *   [7..]   the byte stream
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "framer.h"
#include "fuzz_common.h"

#define HDR 7

/* 0..318 in steps of 2 around the carry limit, then up to 65535. */
static size_t
max_value_of(uint8_t b)
{
	if (b < 160)
		return (size_t)b * 2;
	if (b == 255)
		return 65535;
	return (size_t)(b - 159) * 690;   /* 690 .. 65550 */
}

/*
 * The slab: at least one whole frame (config.c enforces slab_size >=
 * max_frame + 3) and at least FRAMER_CARRY_MAX (framer_restore's buffer).
 * The daemon's minimum is 4096; smaller slabs are allowed here because the
 * framer's contract does not depend on it and they reach "slab full" with
 * short inputs.
 */
static size_t
slab_cap_of(size_t frame_max, uint8_t b)
{
	size_t base = frame_max > FRAMER_CARRY_MAX ? frame_max : FRAMER_CARRY_MAX;

	return base + (size_t)(b & 0x7f) * ((b & 0x80) ? 61 : 1);
}

/* 1..128, or 64..8128 in steps of 64. */
static size_t
chunk_of(uint8_t b)
{
	return b < 128 ? (size_t)b + 1 : (size_t)(b - 127) * 64;
}

/* ---- what one delivery produced ---- */

enum end_kind { END_OK, END_OVERSIZE, END_BAD_TYPE };

struct result {
	struct fz_bytes frames;    /* per frame: type, 4-byte length, value */
	size_t          nframes;
	enum end_kind   end;
	struct fz_bytes leftover;  /* END_OK: the unfinished frame's bytes */
};

static void
result_frame(struct result *r, uint8_t type, const uint8_t *value, size_t len)
{
	uint8_t hdr[5] = { type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			   (uint8_t)len };

	fz_bytes_add(&r->frames, hdr, sizeof(hdr));
	fz_bytes_add(&r->frames, value, len);
	r->nframes++;
}

static void
result_free(struct result *r)
{
	fz_bytes_free(&r->frames);
	fz_bytes_free(&r->leftover);
}

static void
result_same(const struct result *a, const struct result *b)
{
	CHECK(a->nframes == b->nframes);
	CHECK(a->frames.len == b->frames.len);
	CHECK(a->frames.len == 0 || memcmp(a->frames.p, b->frames.p, a->frames.len) == 0);
	CHECK(a->end == b->end);
	CHECK(a->leftover.len == b->leftover.len);
	CHECK(a->leftover.len == 0 ||
	      memcmp(a->leftover.p, b->leftover.p, a->leftover.len) == 0);
}

/* ---- the reference: the wire format read straight off the whole stream ---- */

static void
reference(const struct framer_conf *conf, const uint8_t *s, size_t n, struct result *r)
{
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		size_t rem = n - pos;

		if (conf->kind == FRAMING_FIXED) {
			if (rem < conf->fixed_size)
				break;
			result_frame(r, 0, s + pos, conf->fixed_size);
			pos += conf->fixed_size;
			continue;
		}
		if (rem >= 1 && s[pos] == 0) {
			r->end = END_BAD_TYPE;
			return;
		}
		if (rem < 3)
			break;
		size_t vlen = (size_t)s[pos + 1] << 8 | s[pos + 2];
		if (vlen > conf->max_value) {
			r->end = END_OVERSIZE;
			return;
		}
		if (rem < 3 + vlen)
			break;
		result_frame(r, s[pos], s + pos + 3, vlen);
		pos += 3 + vlen;
	}
	r->end = END_OK;
	fz_bytes_add(&r->leftover, s + pos, n - pos);
}

/* ---- the connection-loop harness (conn.c: conn_on_io, read_once, process,
 * settle_slab) ---- */

struct conn_sim {
	const struct framer_conf *conf;
	struct framer framer;
	size_t        cap;
	uint8_t      *mem[2];     /* the pool: two slabs, handed out in turn */
	unsigned      next;
	uint8_t      *slab;       /* NULL: none checked out */
	size_t        pos, len;   /* unparsed: slab[pos..len) */
	int           closed;     /* a framing error closed the connection */
	struct result res;
};

static void
sim_init(struct conn_sim *c, const struct framer_conf *conf, size_t cap)
{
	memset(c, 0, sizeof(*c));
	c->conf = conf;
	c->cap = cap;
	framer_init(&c->framer, conf);
	CHECK(c->framer.conf == conf);
	/* Exactly cap bytes each, so ASan sees any access past a slab.  They
	 * start as garbage that would frame as something. */
	for (int i = 0; i < 2; i++) {
		c->mem[i] = malloc(cap);
		CHECK(c->mem[i] != NULL);
		memset(c->mem[i], 0x5A, cap);
	}
}

static void
sim_take_slab(struct conn_sim *c)
{
	/* Alternating slabs: the carry must come back through framer_restore,
	 * not by luck from the bytes the last read left behind. */
	c->slab = c->mem[c->next];
	c->next ^= 1;
	c->pos = 0;
	c->len = framer_restore(&c->framer, c->slab);
	CHECK(c->len <= FRAMER_CARRY_MAX);
	CHECK(c->len < c->cap);
}

/* Released slabs are scribbled over where they were used (0 is TLV's bad
 * type, and a fixed frame of zeros would show in the values) so stale reads
 * cannot go unseen. */
static void
sim_release_slab(struct conn_sim *c)
{
	memset(c->slab, 0, c->len);
	c->slab = NULL;
	c->pos = c->len = 0;
}

static size_t
frame_header(const struct framer_conf *conf)
{
	return conf->kind == FRAMING_TLV ? TLV_HEADER_SIZE : 0;
}

/*
 * framer_next() may look at buf[0..len) only: the bytes around that window
 * (already framed before it, not yet read after it) are poisoned for ASan
 * during the call.  A window of POISON_SPAN each side catches an off-by-some
 * read without paying for the whole slab's shadow on every call.
 */
#define POISON_SPAN 512

static enum framer_status
framer_next_fenced(struct conn_sim *c, struct frame *fr)
{
	size_t lo = c->pos > POISON_SPAN ? c->pos - POISON_SPAN : 0;
	size_t hi = c->cap - c->len > POISON_SPAN ? c->len + POISON_SPAN : c->cap;
	enum framer_status st;

	ASAN_POISON_MEMORY_REGION(c->slab + lo, c->pos - lo);
	ASAN_POISON_MEMORY_REGION(c->slab + c->len, hi - c->len);
	st = framer_next(c->conf, c->slab + c->pos, c->len - c->pos, fr);
	ASAN_UNPOISON_MEMORY_REGION(c->slab + lo, c->pos - lo);
	ASAN_UNPOISON_MEMORY_REGION(c->slab + c->len, hi - c->len);
	return st;
}

/* One read of up to n bytes, then frame and settle; returns bytes taken. */
static size_t
sim_read(struct conn_sim *c, const uint8_t *data, size_t n)
{
	size_t room, take;

	if (c->slab == NULL)
		sim_take_slab(c);
	if (c->pos > 0) {
		memmove(c->slab, c->slab + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	room = c->cap - c->len;
	CHECK(room > 0);   /* a partial frame filling the slab would stall */
	take = n < room ? n : room;
	memcpy(c->slab + c->len, data, take);
	c->len += take;

	for (;;) {
		struct frame fr;
		size_t avail = c->len - c->pos;
		enum framer_status st;

		memset(&fr, 0xEE, sizeof(fr));
		st = framer_next_fenced(c, &fr);
		CHECK(strcmp(framer_status_name(st), "?") != 0);
		if (st == FRAMER_PARTIAL) {
			/* out->total: the frame's size once the header says it. */
			if (c->conf->kind == FRAMING_FIXED)
				CHECK(fr.total == c->conf->fixed_size);
			else if (avail < TLV_HEADER_SIZE)
				CHECK(fr.total == 0);
			else
				CHECK(fr.total > avail && fr.total <= TLV_HEADER_SIZE +
				      c->conf->max_value);
			break;
		}
		if (st == FRAMER_OVERSIZE || st == FRAMER_BAD_TYPE) {
			CHECK(c->conf->kind == FRAMING_TLV);
			c->res.end = st == FRAMER_OVERSIZE ? END_OVERSIZE : END_BAD_TYPE;
			c->closed = 1;
			sim_release_slab(c);
			return n;   /* the connection is gone: the rest is dropped */
		}
		CHECK(st == FRAMER_FRAME);
		CHECK(fr.value == c->slab + c->pos + frame_header(c->conf));
		CHECK(fr.total == fr.len + frame_header(c->conf));
		CHECK(fr.total <= avail);
		if (c->conf->kind == FRAMING_FIXED) {
			CHECK(fr.type == 0);
			CHECK(fr.len == c->conf->fixed_size);
		} else {
			CHECK(fr.type != 0);
			CHECK(fr.len <= c->conf->max_value);
		}
		result_frame(&c->res, fr.type, fr.value, fr.len);
		c->pos += fr.total;
	}

	if (c->len == c->pos) {
		sim_release_slab(c);
	} else if (framer_save(&c->framer, c->slab + c->pos, c->len - c->pos)) {
		CHECK(c->len - c->pos <= FRAMER_CARRY_MAX);
		sim_release_slab(c);
	} else {
		CHECK(c->len - c->pos > FRAMER_CARRY_MAX);
		/* retained: the slab stays checked out */
	}
	return take;
}

static void
sim_deliver(struct conn_sim *c, const uint8_t *data, size_t n)
{
	while (n > 0 && !c->closed) {
		size_t t = sim_read(c, data, n);

		data += t;
		n -= t;
	}
}

/* End of stream: what is left is the unfinished frame, in the slab or the
 * carry.  Frees everything but the result. */
static void
sim_finish(struct conn_sim *c)
{
	uint8_t tmp[FRAMER_CARRY_MAX];

	if (!c->closed) {
		c->res.end = END_OK;
		if (c->slab != NULL) {
			CHECK(c->len - c->pos > FRAMER_CARRY_MAX);
			fz_bytes_add(&c->res.leftover, c->slab + c->pos, c->len - c->pos);
			/* A retained slab means the carry is empty. */
			CHECK(framer_restore(&c->framer, tmp) == 0);
		} else {
			size_t k = framer_restore(&c->framer, tmp);

			fz_bytes_add(&c->res.leftover, tmp, k);
		}
	}
	free(c->mem[0]);
	free(c->mem[1]);
	c->mem[0] = c->mem[1] = NULL;
	c->slab = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framer_conf conf;
	struct result want;
	struct conn_sim c;
	const uint8_t *s;
	size_t n, cap, frame_max;

	if (size < HDR)
		return 0;
	memset(&conf, 0, sizeof(conf));
	switch (data[0] & 3) {
	case 0:
		conf.kind = FRAMING_FIXED;
		conf.fixed_size = 24;
		frame_max = 24;
		break;
	case 1:
		conf.kind = FRAMING_FIXED;
		conf.fixed_size = 16;
		frame_max = 16;
		break;
	default:
		conf.kind = FRAMING_TLV;
		conf.max_value = max_value_of(data[1]);
		if (conf.max_value > 65535)
			conf.max_value = 65535;
		frame_max = TLV_HEADER_SIZE + conf.max_value;
		break;
	}
	cap = slab_cap_of(frame_max, data[2]);
	s = data + HDR;
	n = size - HDR;

	reference(&conf, s, n, &want);

	/* (a) whole: one delivery (several reads when it overflows the slab) */
	sim_init(&c, &conf, cap);
	sim_deliver(&c, s, n);
	sim_finish(&c);
	result_same(&c.res, &want);
	result_free(&c.res);

	/* (b) split at fuzzer-chosen points: chunk sizes from bytes 3..6 in turn */
	sim_init(&c, &conf, cap);
	for (size_t off = 0, i = 0; off < n; i++) {
		size_t k = chunk_of(data[3 + i % 4]);

		if (k > n - off)
			k = n - off;
		sim_deliver(&c, s + off, k);
		off += k;
	}
	sim_finish(&c);
	result_same(&c.res, &want);
	result_free(&c.res);

	/* (c) pseudo-random splits, 1 .. 2 slabs, seeded from bytes 0..6 */
	{
		uint64_t seed = 0;

		for (int i = 0; i < HDR; i++)
			seed = seed << 8 | data[i];
		sim_init(&c, &conf, cap);
		for (size_t off = 0; off < n;) {
			uint64_t r = rng_next(&seed);
			size_t k = (r & 1) ? 1 + (size_t)((r >> 1) % 7) : 1 + (size_t)((r >> 1) % (2 * cap));

			if (k > n - off)
				k = n - off;
			sim_deliver(&c, s + off, k);
			off += k;
		}
		sim_finish(&c);
		result_same(&c.res, &want);
		result_free(&c.res);
	}

	/* (d) byte by byte: every frame split at every offset */
	sim_init(&c, &conf, cap);
	for (size_t off = 0; off < n; off++)
		sim_deliver(&c, s + off, 1);
	sim_finish(&c);
	result_same(&c.res, &want);
	result_free(&c.res);

	result_free(&want);
	return 0;
}
