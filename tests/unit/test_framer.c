/*
 * Unit tests for framer (daemon/framer.c): byte streams to frames.
 *
 * Covers: fixed framing (24 and 16 bytes: PARTIAL with the size below it,
 * a frame at and above it); TLV header boundaries (empty, 1 and 2 bytes,
 * type 0 judged from the first byte, length 0, length == max_value,
 * max_value + 1 refused as soon as the 3-byte header is there, 65535);
 * a frame truncated at every offset (PARTIAL, out->total known once the
 * header is); framer_save/restore at and over FRAMER_CARRY_MAX; status
 * names; the source's split TLV golden; and a property test: long
 * deterministic-random streams of TLV and fixed frames fed whole, byte by
 * byte and in random splits through a harness that does what the daemon's
 * connection loop does (conn.c: restore carry, read into the slab, frame,
 * then carry or retain the rest) must give exactly the frames generated.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "framer.h"

/* ---- deterministic PRNG (splitmix64), so failures reproduce ---- */

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static size_t
rng_range(size_t lo, size_t hi)
{
	return lo + (size_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* ---- expected frames and a growable byte buffer ---- */

struct bytes {
	uint8_t *p;
	size_t   len, cap;
};

static void
bytes_add(struct bytes *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

/*
 * A list of frames as seen by a consumer: for each, its type, value length
 * and value bytes, serialised into one buffer so two lists compare with
 * memcmp and a mismatch anywhere (order, boundaries, bytes) shows.
 */
struct frames {
	struct bytes log;
	size_t       count;
};

static void
frames_add(struct frames *f, uint8_t type, const uint8_t *value, size_t len)
{
	uint8_t hdr[5] = { type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			   (uint8_t)len };

	bytes_add(&f->log, hdr, sizeof(hdr));
	bytes_add(&f->log, value, len);
	f->count++;
}

static void
frames_free(struct frames *f)
{
	free(f->log.p);
	memset(f, 0, sizeof(*f));
}

static void
assert_frames_equal(const struct frames *got, const struct frames *want)
{
	assert_int_equal(got->count, want->count);
	assert_int_equal(got->log.len, want->log.len);
	assert_memory_equal(got->log.p, want->log.p, want->log.len);
}

/* ---- a harness that imitates conn.c's read loop ---- */

#define CAP 8192   /* the slab: larger than any frame the tests generate */

struct conn_sim {
	const struct framer_conf *conf;
	struct framer            framer;
	uint8_t                 *mem;       /* the one slab the "pool" hands out */
	uint8_t                 *slab;      /* NULL: no slab checked out */
	size_t                   pos, len;  /* unparsed bytes: slab[pos..len) */
	struct frames            out;
	size_t                   carries;   /* remainders moved to the carry */
	size_t                   retains;   /* remainders kept in the slab */
	size_t                   slabs_taken;
};

static void
sim_init(struct conn_sim *c, const struct framer_conf *conf)
{
	memset(c, 0, sizeof(*c));
	c->conf = conf;
	framer_init(&c->framer, conf);
	/* Exactly CAP bytes on the heap, so ASan catches any access past the
	 * slab.  Like the pool under light load, the same slab comes back
	 * every time, with whatever an earlier read left in it. */
	c->mem = malloc(CAP);
	assert_non_null(c->mem);
	memset(c->mem, 0, CAP);
}

static void
sim_take_slab(struct conn_sim *c)
{
	c->slab = c->mem;
	c->slabs_taken++;
	c->pos = 0;
	c->len = framer_restore(&c->framer, c->slab);
	assert_true(c->len <= FRAMER_CARRY_MAX);
}

/* Released: the bytes just used are wiped (0 is TLV's bad type) so a
 * framer that read stale data after a release would go wrong visibly. */
static void
sim_release_slab(struct conn_sim *c)
{
	memset(c->slab, 0, c->len);
	c->slab = NULL;
	c->pos = c->len = 0;
}

/* One read of up to n bytes, then frame and settle; returns bytes taken. */
static size_t
sim_read(struct conn_sim *c, const uint8_t *data, size_t n)
{
	size_t room, take;
	struct frame fr;
	enum framer_status st;

	if (c->slab == NULL)
		sim_take_slab(c);
	/* read_once(): move the unparsed rest to the front first. */
	if (c->pos > 0) {
		memmove(c->slab, c->slab + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	room = CAP - c->len;
	assert_true(room > 0);   /* a frame bigger than the slab would stall */
	take = n < room ? n : room;
	memcpy(c->slab + c->len, data, take);
	c->len += take;

	/* process(): every complete frame, in order. */
	for (;;) {
		memset(&fr, 0xEE, sizeof(fr));
		st = framer_next(c->conf, c->slab + c->pos, c->len - c->pos, &fr);
		if (st == FRAMER_PARTIAL)
			break;
		assert_int_equal(st, FRAMER_FRAME);
		assert_ptr_equal(fr.value, c->slab + c->pos +
				 (c->conf->kind == FRAMING_TLV ? TLV_HEADER_SIZE : 0));
		assert_true(fr.total <= c->len - c->pos);
		frames_add(&c->out, fr.type, fr.value, fr.len);
		c->pos += fr.total;
	}

	/* settle_slab(): release, carry the rest, or keep the slab. */
	if (c->len == c->pos) {
		sim_release_slab(c);
	} else if (framer_save(&c->framer, c->slab + c->pos, c->len - c->pos)) {
		c->carries++;
		sim_release_slab(c);
	} else {
		assert_true(c->len - c->pos > FRAMER_CARRY_MAX);
		c->retains++;
	}
	return take;
}

/* The socket delivers `n` bytes; reads continue until all are taken. */
static void
sim_deliver(struct conn_sim *c, const uint8_t *data, size_t n)
{
	while (n > 0) {
		size_t t = sim_read(c, data, n);

		data += t;
		n -= t;
	}
}

/* At the end of a stream of whole frames nothing may be left over. */
static void
sim_finish(struct conn_sim *c)
{
	uint8_t tmp[FRAMER_CARRY_MAX];

	assert_null(c->slab);
	assert_int_equal(framer_restore(&c->framer, tmp), 0);
	frames_free(&c->out);
	free(c->mem);
	c->mem = NULL;
}

/* ---- stream generators ---- */

/* Random TLV frames, types 1..255, lengths mostly 0..300 (around the
 * carry limit) and some up to 4000 (retained slabs). */
static void
gen_tlv_stream(struct bytes *stream, struct frames *want, size_t nframes)
{
	uint8_t value[4000];

	for (size_t i = 0; i < nframes; i++) {
		uint8_t type = (uint8_t)rng_range(1, 255);
		size_t len = rng_range(0, 9) == 0 ? rng_range(0, 4000) : rng_range(0, 300);
		uint8_t hdr[3] = { type, (uint8_t)(len >> 8), (uint8_t)len };

		for (size_t k = 0; k < len; k++)
			value[k] = (uint8_t)rng_next();
		bytes_add(stream, hdr, sizeof(hdr));
		bytes_add(stream, value, len);
		frames_add(want, type, value, len);
	}
}

static void
gen_fixed_stream(struct bytes *stream, struct frames *want, size_t size, size_t nframes)
{
	uint8_t value[64];

	assert_true(size <= sizeof(value));
	for (size_t i = 0; i < nframes; i++) {
		for (size_t k = 0; k < size; k++)
			value[k] = (uint8_t)rng_next();
		bytes_add(stream, value, size);
		frames_add(want, 0, value, size);
	}
}

/* Feeds the stream whole, byte by byte, and in random splits of 1..64 and
 * 1..5000 bytes; every way must yield exactly `want`. */
static void
check_all_feeds(const struct framer_conf *conf, const struct bytes *stream,
		const struct frames *want, int expect_retains)
{
	struct conn_sim c;
	static const size_t max_split[] = { 64, 5000 };

	/* (a) whole */
	sim_init(&c, conf);
	sim_deliver(&c, stream->p, stream->len);
	assert_frames_equal(&c.out, want);
	sim_finish(&c);

	/* (b) byte by byte: every frame is split at every offset */
	sim_init(&c, conf);
	for (size_t i = 0; i < stream->len; i++)
		sim_deliver(&c, stream->p + i, 1);
	assert_frames_equal(&c.out, want);
	/* Small frames went through the carry, big ones kept their slab. */
	assert_true(c.carries > 0);
	if (expect_retains)
		assert_true(c.retains > 0);
	sim_finish(&c);

	/* (c) random splits */
	for (size_t m = 0; m < 2; m++) {
		for (int round = 0; round < 3; round++) {
			size_t off = 0;

			sim_init(&c, conf);
			while (off < stream->len) {
				size_t n = rng_range(1, max_split[m]);

				if (n > stream->len - off)
					n = stream->len - off;
				sim_deliver(&c, stream->p + off, n);
				off += n;
			}
			assert_frames_equal(&c.out, want);
			sim_finish(&c);
		}
	}
}

/* ------------------------------------------------------------------------ */

static void
check_fixed(size_t size)
{
	struct framer_conf conf = { .kind = FRAMING_FIXED, .fixed_size = size };
	uint8_t buf[100];
	struct frame fr;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;   /* buf[0] == 0: fixed frames have no type byte */
	for (size_t len = 0; len < size; len++) {
		memset(&fr, 0xEE, sizeof(fr));
		assert_int_equal(framer_next(&conf, buf, len, &fr), FRAMER_PARTIAL);
		assert_int_equal(fr.total, size);
	}
	for (size_t len = size; len <= sizeof(buf); len += 7) {
		memset(&fr, 0xEE, sizeof(fr));
		assert_int_equal(framer_next(&conf, buf, len, &fr), FRAMER_FRAME);
		assert_int_equal(fr.type, 0);
		assert_ptr_equal(fr.value, buf);
		assert_int_equal(fr.len, size);
		assert_int_equal(fr.total, size);
	}
}

static void
test_fixed_24(void **state)
{
	(void)state;
	check_fixed(24);
}

static void
test_fixed_16(void **state)
{
	(void)state;
	check_fixed(16);
}

static const struct framer_conf tlv300 = { .kind = FRAMING_TLV, .max_value = 300 };

static void
test_tlv_short_header(void **state)
{
	static const uint8_t hdr[] = { 0x07, 0x00, 0x05 };
	struct frame fr;

	(void)state;
	/* Empty, 1 and 2 bytes: not enough to know the length. */
	for (size_t len = 0; len < TLV_HEADER_SIZE; len++) {
		memset(&fr, 0xEE, sizeof(fr));
		assert_int_equal(framer_next(&tlv300, hdr, len, &fr), FRAMER_PARTIAL);
		assert_int_equal(fr.total, 0);
	}
	/* Three: the frame's size is known. */
	memset(&fr, 0xEE, sizeof(fr));
	assert_int_equal(framer_next(&tlv300, hdr, 3, &fr), FRAMER_PARTIAL);
	assert_int_equal(fr.total, 8);
}

static void
test_tlv_bad_type(void **state)
{
	static const uint8_t zero[] = { 0x00, 0x00, 0x01, 0x41 };
	struct frame fr;

	(void)state;
	/* Type 0 is garbage, and one byte is enough to say so. */
	for (size_t len = 1; len <= sizeof(zero); len++)
		assert_int_equal(framer_next(&tlv300, zero, len, &fr), FRAMER_BAD_TYPE);
	/* Type 0 with length 0 is not a valid empty frame either. */
	static const uint8_t zero_empty[] = { 0x00, 0x00, 0x00 };
	assert_int_equal(framer_next(&tlv300, zero_empty, 3, &fr), FRAMER_BAD_TYPE);
}

static void
test_tlv_length_zero(void **state)
{
	static const uint8_t buf[] = { 0x09, 0x00, 0x00, 0x01, 0x00, 0x00 };
	struct frame fr;

	(void)state;
	assert_int_equal(framer_next(&tlv300, buf, 3, &fr), FRAMER_FRAME);
	assert_int_equal(fr.type, 9);
	assert_int_equal(fr.len, 0);
	assert_int_equal(fr.total, 3);
	assert_ptr_equal(fr.value, buf + 3);
	/* The next frame right behind it is unaffected. */
	assert_int_equal(framer_next(&tlv300, buf + fr.total, sizeof(buf) - fr.total, &fr),
			 FRAMER_FRAME);
	assert_int_equal(fr.type, 1);
	assert_int_equal(fr.len, 0);
	assert_int_equal(fr.total, 3);
}

static void
test_tlv_max_value(void **state)
{
	uint8_t buf[3 + 302];
	struct frame fr;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	/* Exactly max_value: fine. */
	buf[0] = 0xff;
	buf[1] = 300 >> 8;
	buf[2] = 300 & 0xff;
	assert_int_equal(framer_next(&tlv300, buf, 303, &fr), FRAMER_FRAME);
	assert_int_equal(fr.type, 255);
	assert_int_equal(fr.len, 300);
	assert_int_equal(fr.total, 303);
	/* max_value + 1: refused from the header alone, before any value byte. */
	buf[2] = 301 & 0xff;
	for (size_t len = 3; len <= 304; len++)
		assert_int_equal(framer_next(&tlv300, buf, len, &fr), FRAMER_OVERSIZE);
	/* ...but not before the header is complete. */
	assert_int_equal(framer_next(&tlv300, buf, 2, &fr), FRAMER_PARTIAL);
	/* The largest length on the wire. */
	buf[1] = 0xff;
	buf[2] = 0xff;
	assert_int_equal(framer_next(&tlv300, buf, 3, &fr), FRAMER_OVERSIZE);
}

static void
test_tlv_max_value_65535(void **state)
{
	const struct framer_conf conf = { .kind = FRAMING_TLV, .max_value = 65535 };
	size_t total = 3 + 65535;
	uint8_t *buf = malloc(total);
	struct frame fr;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0x5a, total);
	buf[0] = 1;
	buf[1] = 0xff;
	buf[2] = 0xff;
	assert_int_equal(framer_next(&conf, buf, total - 1, &fr), FRAMER_PARTIAL);
	assert_int_equal(fr.total, total);
	assert_int_equal(framer_next(&conf, buf, total, &fr), FRAMER_FRAME);
	assert_int_equal(fr.len, 65535);
	assert_int_equal(fr.total, total);
	free(buf);
}

static void
test_tlv_truncated_everywhere(void **state)
{
	uint8_t buf[3 + 260];
	struct frame fr;

	(void)state;
	buf[0] = 0x2a;
	buf[1] = 0x01;   /* 260 = 0x0104: both length bytes matter */
	buf[2] = 0x04;
	for (size_t i = 3; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	for (size_t len = 0; len < sizeof(buf); len++) {
		memset(&fr, 0xEE, sizeof(fr));
		assert_int_equal(framer_next(&tlv300, buf, len, &fr), FRAMER_PARTIAL);
		assert_int_equal(fr.total, len < TLV_HEADER_SIZE ? 0 : sizeof(buf));
	}
	assert_int_equal(framer_next(&tlv300, buf, sizeof(buf), &fr), FRAMER_FRAME);
	assert_int_equal(fr.type, 0x2a);
	assert_int_equal(fr.len, 260);
	assert_int_equal(fr.total, sizeof(buf));
	assert_ptr_equal(fr.value, buf + 3);
}

static void
test_save_restore(void **state)
{
	struct framer f;
	uint8_t src[FRAMER_CARRY_MAX + 1], dst[FRAMER_CARRY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	framer_init(&f, &tlv300);
	assert_ptr_equal(f.conf, &tlv300);
	assert_int_equal(framer_restore(&f, dst), 0);

	/* Exactly the maximum fits. */
	assert_int_equal(framer_save(&f, src, FRAMER_CARRY_MAX), 1);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(framer_restore(&f, dst), FRAMER_CARRY_MAX);
	assert_memory_equal(dst, src, FRAMER_CARRY_MAX);
	/* Restoring empties the carry. */
	assert_int_equal(framer_restore(&f, dst), 0);

	/* One more is refused and leaves the carry empty: the caller keeps it. */
	assert_int_equal(framer_save(&f, src, FRAMER_CARRY_MAX + 1), 0);
	assert_int_equal(framer_restore(&f, dst), 0);

	/* Small and empty saves. */
	assert_int_equal(framer_save(&f, src + 5, 3), 1);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(framer_restore(&f, dst), 3);
	assert_memory_equal(dst, src + 5, 3);
	assert_int_equal(framer_save(&f, src, 0), 1);
	assert_int_equal(framer_restore(&f, dst), 0);
	/* A second save replaces, it does not append. */
	assert_int_equal(framer_save(&f, src, 10), 1);
	assert_int_equal(framer_save(&f, src + 20, 4), 1);
	assert_int_equal(framer_restore(&f, dst), 4);
	assert_memory_equal(dst, src + 20, 4);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(framer_status_name(FRAMER_FRAME), "FRAME");
	assert_string_equal(framer_status_name(FRAMER_PARTIAL), "PARTIAL");
	assert_string_equal(framer_status_name(FRAMER_OVERSIZE), "OVERSIZE");
	assert_string_equal(framer_status_name(FRAMER_BAD_TYPE), "BAD_TYPE");
	assert_string_equal(framer_status_name((enum framer_status)99), "?");
}

/* The source's example: two messages split 4 / 4+6 / 8+... bytes. */
static void
test_tlv_golden_split(void **state)
{
	static const uint8_t m1[] = { 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t m2[] = { 0x02, 0x00, 0x08, 'g', 'o', 'o', 'd', 'b', 'y', 'e', '!' };
	const struct framer_conf conf = { .kind = FRAMING_TLV, .max_value = 65535 };
	uint8_t chunk2[sizeof(m1) - 4 + 6];
	struct conn_sim c;
	struct frames want = { { NULL, 0, 0 }, 0 };

	(void)state;
	memcpy(chunk2, m1 + 4, sizeof(m1) - 4);
	memcpy(chunk2 + sizeof(m1) - 4, m2, 6);
	frames_add(&want, 1, (const uint8_t *)"hello", 5);
	frames_add(&want, 2, (const uint8_t *)"goodbye!", 8);

	sim_init(&c, &conf);
	sim_deliver(&c, m1, 4);
	assert_int_equal(c.out.count, 0);
	sim_deliver(&c, chunk2, sizeof(chunk2));
	assert_int_equal(c.out.count, 1);
	sim_deliver(&c, m2 + 6, sizeof(m2) - 6);
	assert_int_equal(c.out.count, 2);
	assert_frames_equal(&c.out, &want);
	/* Both remainders were small: they went through the carry. */
	assert_int_equal(c.carries, 2);
	assert_int_equal(c.retains, 0);
	sim_finish(&c);
	frames_free(&want);
}

static void
test_property_tlv(void **state)
{
	const struct framer_conf conf = { .kind = FRAMING_TLV, .max_value = 4000 };
	struct bytes stream = { NULL, 0, 0 };
	struct frames want = { { NULL, 0, 0 }, 0 };

	(void)state;
	rng_state = 0x1234567;
	gen_tlv_stream(&stream, &want, 1500);
	assert_int_equal(want.count, 1500);
	check_all_feeds(&conf, &stream, &want, 1);
	free(stream.p);
	frames_free(&want);
}

static void
test_property_fixed(void **state)
{
	static const size_t sizes[] = { 24, 16 };
	struct bytes stream;
	struct frames want;

	(void)state;
	rng_state = 0xfeed;
	for (size_t i = 0; i < 2; i++) {
		const struct framer_conf conf = { .kind = FRAMING_FIXED, .fixed_size = sizes[i] };

		memset(&stream, 0, sizeof(stream));
		memset(&want, 0, sizeof(want));
		gen_fixed_stream(&stream, &want, sizes[i], 20000);
		check_all_feeds(&conf, &stream, &want, 0);
		free(stream.p);
		frames_free(&want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_24),
		cmocka_unit_test(test_fixed_16),
		cmocka_unit_test(test_tlv_short_header),
		cmocka_unit_test(test_tlv_bad_type),
		cmocka_unit_test(test_tlv_length_zero),
		cmocka_unit_test(test_tlv_max_value),
		cmocka_unit_test(test_tlv_max_value_65535),
		cmocka_unit_test(test_tlv_truncated_everywhere),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_tlv_golden_split),
		cmocka_unit_test(test_property_tlv),
		cmocka_unit_test(test_property_fixed),
	};

	return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}
