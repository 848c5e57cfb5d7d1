/*
 * fuzz_access: access_parse_list() on arbitrary text, then, for a list it
 * accepts, every prefix checked against an independent reading: no address
 * bit is set past its prefix length, the network address itself matches,
 * the address with the first bit past the prefix flipped does not (unless
 * another prefix covers it: checked against a slow bitwise reference), and
 * the same address as an IPv4-mapped IPv6 address matches an IPv4 prefix.
 *
 * Input: the list text (NUL-terminated copy).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fuzz_common.h"

static int
bit(const uint8_t *a, unsigned b)
{
	return (a[b / 8] >> (7 - b % 8)) & 1;
}

/* The reference: does any prefix of l cover (family, a)?  An IPv4-mapped
 * IPv6 address is IPv4 (access.h). */
static int
slow_match(const struct access_list *l, int family, const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (family == AF_INET6 && memcmp(a, mapped, 12) == 0) {
		family = AF_INET;
		a += 12;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct cidr *c = &l->c[i];
		unsigned b;

		if (c->family != family)
			continue;
		for (b = 0; b < c->bits && bit(c->addr, b) == bit(a, b); b++)
			;
		if (b == c->bits)
			return 1;
	}
	return 0;
}

static void
to_sockaddr(int family, const uint8_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a, 16);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct access_list l;
	char err[256], *text = malloc(size + 1);

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (access_parse_list(&l, text, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		free(text);
		return 0;
	}
	CHECK(l.n >= 1 && l.n <= ACCESS_MAX_CIDRS);
	for (size_t i = 0; i < l.n; i++) {
		const struct cidr *c = &l.c[i];
		unsigned max = c->family == AF_INET ? 32 : 128;
		struct sockaddr_storage ss;
		uint8_t a[16];

		CHECK(c->family == AF_INET || c->family == AF_INET6);
		CHECK(c->bits <= max);
		for (unsigned b = c->bits; b < max; b++)
			CHECK(!bit(c->addr, b));
		to_sockaddr(c->family, c->addr, &ss);
		CHECK(access_match(&l, (struct sockaddr *)&ss));
		CHECK(access_permits(&l, NULL, (struct sockaddr *)&ss));
		CHECK(!access_permits(NULL, &l, (struct sockaddr *)&ss));
		if (c->bits < max) {
			memcpy(a, c->addr, 16);
			a[c->bits / 8] ^= (uint8_t)(0x80 >> (c->bits % 8));
			to_sockaddr(c->family, a, &ss);
			CHECK(access_match(&l, (struct sockaddr *)&ss) == slow_match(&l, c->family, a));
		}
		if (c->bits > 0) {
			memcpy(a, c->addr, 16);
			a[(c->bits - 1) / 8] ^= (uint8_t)(0x80 >> ((c->bits - 1) % 8));
			to_sockaddr(c->family, a, &ss);
			CHECK(access_match(&l, (struct sockaddr *)&ss) == slow_match(&l, c->family, a));
		}
		if (c->family == AF_INET) {
			uint8_t m[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

			memcpy(m + 12, c->addr, 4);
			to_sockaddr(AF_INET6, m, &ss);
			CHECK(access_match(&l, (struct sockaddr *)&ss));
		}
	}
	free(text);
	return 0;
}
