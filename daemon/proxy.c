/*
 * proxy: see proxy.h.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

#define PP2_TYPE_CRC32C 0x03

static uint32_t crc32c_table[256];

/* Built before main: read-only by the time any thread exists. */
__attribute__((constructor)) static void
crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc32c_table[i] = c;
	}
}

uint32_t
proxy_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n-- > 0)
		c = crc32c_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

const char *
proxy_bad_text(enum proxy_bad why)
{
	switch (why) {
	case PROXY_BAD_NONE:      return "no error";
	case PROXY_BAD_SIGNATURE: return "no PROXY header (or one of a version not allowed)";
	case PROXY_BAD_V1_LINE:   return "malformed PROXY v1 line";
	case PROXY_BAD_VERSION:   return "PROXY v2 header of an unknown version";
	case PROXY_BAD_COMMAND:   return "PROXY v2 header with an unknown command";
	case PROXY_BAD_FAMILY:    return "PROXY v2 header with an unknown or datagram address family";
	case PROXY_BAD_LENGTH:    return "PROXY v2 header whose length does not fit";
	case PROXY_BAD_CRC:       return "PROXY v2 header whose CRC32C does not match";
	}
	return "bad PROXY header";
}

static enum proxy_status
bad(enum proxy_bad *why, enum proxy_bad reason)
{
	*why = reason;
	return PROXY_BAD;
}

/* ---- v1 ---- */

/* The next field of the line [*p, end): up to a space, or to the end. */
static size_t
field(const char **p, const char *end, char *out, size_t outlen)
{
	const char *q = *p;
	size_t n = 0;

	while (q < end && *q != ' ') {
		if (n + 1 < outlen)
			out[n] = *q;
		n++;
		q++;
	}
	out[n < outlen ? n : outlen - 1] = '\0';
	*p = q;
	return n;
}

static int
port_of(const char *s, uint16_t *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
addr_of(int family, const char *text, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return inet_pton(AF_INET, text, &in->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? 0 : -1;
}

static enum proxy_status
parse_v1(const uint8_t *buf, size_t len, struct proxy_header *h, enum proxy_bad *why)
{
	/* The line, CRLF included, is at most PROXY_V1_MAX bytes: its CR is
	 * among the first PROXY_V1_MAX - 1. */
	const size_t cr_max = PROXY_V1_MAX - 1;
	const uint8_t *cr = memchr(buf, '\r', len < cr_max ? len : cr_max);
	const char *p, *end;
	char proto[8], src[48], dst[48], sport[8], dport[8];
	uint16_t sp, dp;
	int family;

	if (cr == NULL)
		return len >= cr_max || memchr(buf, '\n', len) != NULL ?
		       bad(why, PROXY_BAD_V1_LINE) : PROXY_MORE;
	if (memchr(buf, '\n', (size_t)(cr - buf)) != NULL)
		return bad(why, PROXY_BAD_V1_LINE);
	if ((size_t)(cr - buf) + 1 == len)
		return PROXY_MORE;                     /* the '\n' is still to come */
	if (cr[1] != '\n')
		return bad(why, PROXY_BAD_V1_LINE);
	p = (const char *)buf + 6;                 /* after "PROXY " */
	end = (const char *)cr;
	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->length = (size_t)(cr - buf) + 2;
	if (field(&p, end, proto, sizeof(proto)) == 7 && strcmp(proto, "UNKNOWN") == 0) {
		h->local = 1;                          /* the rest of the line is ignored */
		return PROXY_DONE;
	}
	if (strcmp(proto, "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		family = AF_INET6;
	else
		return bad(why, PROXY_BAD_V1_LINE);
	if (p == end || *p++ != ' ' || field(&p, end, src, sizeof(src)) >= sizeof(src) ||
	    p == end || *p++ != ' ' || field(&p, end, dst, sizeof(dst)) >= sizeof(dst) ||
	    p == end || *p++ != ' ' || field(&p, end, sport, sizeof(sport)) >= sizeof(sport) ||
	    p == end || *p++ != ' ' || field(&p, end, dport, sizeof(dport)) >= sizeof(dport) ||
	    p != end || port_of(sport, &sp) < 0 || port_of(dport, &dp) < 0 ||
	    addr_of(family, src, sp, &h->src) < 0 || addr_of(family, dst, dp, &h->dst) < 0)
		return bad(why, PROXY_BAD_V1_LINE);
	return PROXY_DONE;
}

/* ---- v2 ---- */

static enum proxy_status
parse_v2(const uint8_t *buf, size_t len, size_t max, struct proxy_header *h, enum proxy_bad *why)
{
	size_t body, total, addr_len = 0, off;
	int family = 0, local;
	uint8_t fam, transport;

	if (len < PROXY_V2_MIN)
		return PROXY_MORE;
	if ((buf[12] >> 4) != 2)
		return bad(why, PROXY_BAD_VERSION);
	if ((buf[12] & 0x0F) > 1)
		return bad(why, PROXY_BAD_COMMAND);
	local = (buf[12] & 0x0F) == 0;
	fam = buf[13] >> 4;
	transport = buf[13] & 0x0F;
	if (fam > 3 || transport > 2 || (fam != 0 && transport == 0) || transport == 2)
		return bad(why, PROXY_BAD_FAMILY);
	body = (size_t)buf[14] << 8 | buf[15];
	total = PROXY_V2_MIN + body;
	if (total > max)
		return bad(why, PROXY_BAD_LENGTH);
	if (fam == 1) {
		family = AF_INET;
		addr_len = 12;
	} else if (fam == 2) {
		family = AF_INET6;
		addr_len = 36;
	} else if (fam == 3) {
		addr_len = 216;
	}
	if (body < addr_len)
		return bad(why, PROXY_BAD_LENGTH);
	if (len < total)
		return PROXY_MORE;

	memset(h, 0, sizeof(*h));
	h->version = 2;
	h->length = total;
	h->local = local || family == 0;
	if (!h->local) {
		const uint8_t *a = buf + PROXY_V2_MIN;

		if (family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
			struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;

			s->sin_family = d->sin_family = AF_INET;
			memcpy(&s->sin_addr, a, 4);
			memcpy(&d->sin_addr, a + 4, 4);
			memcpy(&s->sin_port, a + 8, 2);
			memcpy(&d->sin_port, a + 10, 2);
		} else {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
			struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;

			s->sin6_family = d->sin6_family = AF_INET6;
			memcpy(&s->sin6_addr, a, 16);
			memcpy(&d->sin6_addr, a + 16, 16);
			memcpy(&s->sin6_port, a + 32, 2);
			memcpy(&d->sin6_port, a + 34, 2);
		}
	}
	/* TLVs: each must fit; a CRC32C is checked over the whole header with
	 * its own value taken as zero. */
	for (off = PROXY_V2_MIN + addr_len; off < total;) {
		size_t tl;

		if (total - off < 3)
			return bad(why, PROXY_BAD_LENGTH);
		tl = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (total - off - 3 < tl)
			return bad(why, PROXY_BAD_LENGTH);
		if (buf[off] == PP2_TYPE_CRC32C) {
			uint32_t want, got;
			static const uint8_t zero[4];
			uint32_t c = 0xFFFFFFFFu;
			const uint8_t *p;

			if (tl != 4)
				return bad(why, PROXY_BAD_LENGTH);
			want = (uint32_t)buf[off + 3] << 24 | (uint32_t)buf[off + 4] << 16 |
			       (uint32_t)buf[off + 5] << 8 | buf[off + 6];
			for (p = buf; p < buf + total; p++) {
				uint8_t b = p >= buf + off + 3 && p < buf + off + 7 ?
					    zero[p - (buf + off + 3)] : *p;

				c = crc32c_table[(c ^ b) & 0xFF] ^ (c >> 8);
			}
			got = c ^ 0xFFFFFFFFu;
			if (got != want)
				return bad(why, PROXY_BAD_CRC);
		}
		off += 3 + tl;
	}
	return PROXY_DONE;
}

enum proxy_status
proxy_parse(const uint8_t *buf, size_t len, unsigned versions, size_t max,
	    struct proxy_header *h, enum proxy_bad *why)
{
	static const char v1_sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };
	size_t n;

	*why = PROXY_BAD_NONE;
	if (len == 0)
		return PROXY_MORE;
	/* Which signature the bytes so far can still be (never guessed from
	 * less than they show). */
	n = len < sizeof(v1_sig) ? len : sizeof(v1_sig);
	if ((versions & PROXY_V1) && memcmp(buf, v1_sig, n) == 0)
		return len < sizeof(v1_sig) ? PROXY_MORE : parse_v1(buf, len, h, why);
	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if ((versions & PROXY_V2) && memcmp(buf, v2_sig, n) == 0)
		return len < sizeof(v2_sig) ? PROXY_MORE : parse_v2(buf, len, max, h, why);
	return bad(why, PROXY_BAD_SIGNATURE);
}
