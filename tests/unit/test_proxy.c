/*
 * proxy: PROXY protocol v1 and v2 headers (proxy.h), whole and a byte at a
 * time, good and bad.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxy.h"

#define BOTH (PROXY_V1 | PROXY_V2)

/* Every proper prefix says MORE (or, once bad, the same BAD), and the
 * whole says `want`: a header may arrive one byte at a time. */
static enum proxy_status
parse_bytewise(const uint8_t *buf, size_t len, unsigned versions, size_t max,
	       struct proxy_header *h, enum proxy_bad *why)
{
	enum proxy_status whole = proxy_parse(buf, len, versions, max, h, why);
	enum proxy_bad whole_why = *why;
	struct proxy_header hh;
	enum proxy_bad w;

	for (size_t n = 0; n < len; n++) {
		enum proxy_status st = proxy_parse(buf, n, versions, max, &hh, &w);

		if (st == PROXY_BAD) {
			assert_int_equal(whole, PROXY_BAD);
			assert_int_equal(w, whole_why);
			return whole;
		}
		/* A proper prefix of a good header is never taken as whole. */
		if (whole == PROXY_DONE)
			assert_true(st == PROXY_MORE || hh.length <= n);
	}
	return whole;
}

static const char *
addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
	return buf;
}

static void
test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(proxy_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
}

static void
test_v1_good(void **state)
{
	static const struct {
		const char *line, *src, *dst;
	} cases[] = {
		{ "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1:56324",
		  "192.168.0.11:443" },
		{ "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", "[2001:db8::1]:65535", "[::1]:0" },
		{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		  "255.255.255.255:65535", "255.255.255.255:65535" },
	};
	struct proxy_header h;
	enum proxy_bad why;
	char a[80];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[200];
		size_t n = strlen(cases[i].line);

		memcpy(buf, cases[i].line, n);
		memcpy(buf + n, "\x00\x01sensor", 8);   /* what follows is data */
		assert_int_equal(parse_bytewise(buf, n + 8, BOTH, 1024, &h, &why), PROXY_DONE);
		assert_int_equal(h.version, 1);
		assert_false(h.local);
		assert_int_equal(h.length, n);
		assert_string_equal(addr_text(&h.src, a, sizeof(a)), cases[i].src);
		assert_string_equal(addr_text(&h.dst, a, sizeof(a)), cases[i].dst);
	}
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, PROXY_V1, 1024, &h,
				     &why), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.length, 15);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN ffff::1 ::1 1 2\r\nX", 32,
				     PROXY_V1, 1024, &h, &why), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.length, 31);
}

static void
test_v1_bad(void **state)
{
	static const char *const lines[] = {
		"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",     /* LF alone */
		"PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",  /* two spaces */
		"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",  /* leading zero */
		"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",   /* port range */
		"PROXY TCP4 ::1 ::1 1 2\r\n",                          /* family */
		"PROXY TCP6 10.0.0.1 10.0.0.2 1 2\r\n",
		"PROXY TCP5 10.0.0.1 10.0.0.2 1 2\r\n",
		"PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n",                  /* a field short */
		"PROXY TCP4 10.0.0.1 10.0.0.2 1 2 3\r\n",              /* one too many */
		"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY\r\n",
		"proxy TCP4 10.0.0.1 10.0.0.2 1 2\r\n",
	};
	struct proxy_header h;
	enum proxy_bad why;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		enum proxy_status st = parse_bytewise((const uint8_t *)lines[i], strlen(lines[i]),
						      BOTH, 1024, &h, &why);

		if (st != PROXY_BAD)
			fail_msg("accepted: %s", lines[i]);
	}
	/* 107 bytes at most: a line whose CR comes later is bad at once. */
	uint8_t longline[200];

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxy_parse(longline, 106, PROXY_V1, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_V1_LINE);
	longline[105] = '\r';
	longline[106] = '\n';
	assert_int_equal(proxy_parse(longline, 107, PROXY_V1, 1024, &h, &why), PROXY_DONE);
	assert_int_equal(h.length, 107);
	/* v1 not allowed on a v2 listener. */
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, PROXY_V2, 1024, &h,
				     &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_SIGNATURE);
}

/* A v2 header: ver_cmd, fam, the address block and TLVs; crc: add a
 * CRC32C TLV (corrupt: with a wrong value). */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *addrs, size_t alen,
   const uint8_t *tlvs, size_t tlen, int crc, int corrupt)
{
	static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55,
					 0x49, 0x54, 0x0A };
	size_t body = alen + tlen + (crc ? 7 : 0), n = 16;

	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(body >> 8);
	out[15] = (uint8_t)body;
	if (alen > 0)
		memcpy(out + n, addrs, alen);
	n += alen;
	if (tlen > 0)
		memcpy(out + n, tlvs, tlen);
	n += tlen;
	if (crc) {
		uint32_t c;

		out[n] = 0x03;
		out[n + 1] = 0;
		out[n + 2] = 4;
		memset(out + n + 3, 0, 4);
		c = proxy_crc32c(out, n + 7) ^ (corrupt ? 1u : 0u);
		out[n + 3] = (uint8_t)(c >> 24);
		out[n + 4] = (uint8_t)(c >> 16);
		out[n + 5] = (uint8_t)(c >> 8);
		out[n + 6] = (uint8_t)c;
		n += 7;
	}
	return n;
}

static const uint8_t a4[12] = { 127, 0, 0, 2, 127, 0, 0, 1, 0xC3, 0x50, 0x1B, 0x59 };  /* 50000 -> 7001 */

static void
test_v2_good(void **state)
{
	uint8_t buf[600], a6[36] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1, [31] = 1, [32] = 0x04, [33] = 0xD2,
				     [34] = 0x1B, [35] = 0x59 };
	static const uint8_t tlvs[] = { 0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00 };  /* ALPN, NOOP */
	struct proxy_header h;
	enum proxy_bad why;
	char a[80];
	size_t n;

	(void)state;
	n = v2(buf, 0x21, 0x11, a4, 12, NULL, 0, 0, 0);
	memcpy(buf + n, "data", 4);
	assert_int_equal(parse_bytewise(buf, n + 4, BOTH, 1024, &h, &why), PROXY_DONE);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.length, 28);
	assert_false(h.local);
	assert_string_equal(addr_text(&h.src, a, sizeof(a)), "127.0.0.2:50000");
	assert_string_equal(addr_text(&h.dst, a, sizeof(a)), "127.0.0.1:7001");

	n = v2(buf, 0x21, 0x21, a6, 36, tlvs, sizeof(tlvs), 1, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_DONE);
	assert_int_equal(h.length, n);
	assert_string_equal(addr_text(&h.src, a, sizeof(a)), "[2001:db8::1]:1234");

	/* LOCAL (a health check), UNSPEC and UNIX: no addresses to use. */
	n = v2(buf, 0x20, 0x00, NULL, 0, NULL, 0, 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_DONE);
	assert_true(h.local);
	n = v2(buf, 0x20, 0x11, a4, 12, NULL, 0, 1, 0);       /* LOCAL with addresses */
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_DONE);
	assert_true(h.local);
	uint8_t unix_addrs[216] = { '/' };
	n = v2(buf, 0x21, 0x31, unix_addrs, 216, NULL, 0, 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_DONE);
	assert_true(h.local);
}

static void
test_v2_bad(void **state)
{
	uint8_t buf[600];
	static const uint8_t cut_tlv[] = { 0x01, 0x00, 0x09, 'x' };
	struct proxy_header h;
	enum proxy_bad why;
	size_t n;

	(void)state;
	n = v2(buf, 0x31, 0x11, a4, 12, NULL, 0, 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_VERSION);
	n = v2(buf, 0x22, 0x11, a4, 12, NULL, 0, 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_COMMAND);
	n = v2(buf, 0x21, 0x12, a4, 12, NULL, 0, 0, 0);        /* UDP */
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_FAMILY);
	n = v2(buf, 0x21, 0x41, a4, 12, NULL, 0, 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_FAMILY);
	n = v2(buf, 0x21, 0x21, a4, 12, NULL, 0, 0, 0);        /* IPv6 needs 36 bytes */
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_LENGTH);
	n = v2(buf, 0x21, 0x11, a4, 12, cut_tlv, sizeof(cut_tlv), 0, 0);
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_LENGTH);
	n = v2(buf, 0x21, 0x11, a4, 12, NULL, 0, 1, 1);        /* wrong CRC32C */
	assert_int_equal(parse_bytewise(buf, n, PROXY_V2, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_CRC);
	/* Over max: bad as soon as the length says so, not after max bytes. */
	n = v2(buf, 0x21, 0x11, a4, 12, NULL, 0, 0, 0);
	assert_int_equal(proxy_parse(buf, 16, PROXY_V2, 27, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_LENGTH);
	assert_int_equal(proxy_parse(buf, 16, PROXY_V2, 28, &h, &why), PROXY_MORE);
	/* v2 not allowed on a v1 listener; plain data is no header. */
	assert_int_equal(proxy_parse(buf, n, PROXY_V1, 1024, &h, &why), PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_SIGNATURE);
	assert_int_equal(proxy_parse((const uint8_t *)"\x00\x00\x01\xa4", 4, BOTH, 1024, &h, &why),
			 PROXY_BAD);
	assert_int_equal(why, PROXY_BAD_SIGNATURE);
	assert_string_equal(proxy_bad_text(PROXY_BAD_CRC), "PROXY v2 header whose CRC32C does not match");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_v1_good),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v2_good),
		cmocka_unit_test(test_v2_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
