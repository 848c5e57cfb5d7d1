/*
 * access: see access.h.
 */
#include "access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One CIDR token (NUL-terminated) into c. */
static int
parse_cidr(struct cidr *c, const char *tok, char *err, size_t errlen)
{
	char addr[64];
	const char *slash = strchr(tok, '/');
	size_t alen = slash ? (size_t)(slash - tok) : strlen(tok);
	unsigned max, bits;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(addr))
		goto not_addr;
	memcpy(addr, tok, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		goto not_addr;
	}
	bits = max;
	if (slash != NULL) {
		const char *q = slash + 1;

		if (*q == '\0' || strlen(q) > 3)
			goto bad_len;
		bits = 0;
		for (; *q; q++) {
			if (*q < '0' || *q > '9')
				goto bad_len;
			bits = bits * 10 + (unsigned)(*q - '0');
		}
		if (bits > max)
			goto bad_len;
	}
	c->bits = (uint8_t)bits;
	if (c->family == AF_INET6 && bits >= 96 &&
	    memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		snprintf(err, errlen, "\"%s\" is an IPv4-mapped IPv6 prefix: write it as IPv4 "
			 "(connections from such addresses are matched as IPv4)", tok);
		return -1;
	}
	for (unsigned b = bits; b < max; b++) {
		if (c->addr[b / 8] & (0x80 >> (b % 8))) {
			/* Say what was probably meant, but do not take it. */
			struct cidr net = *c;
			char shown[INET6_ADDRSTRLEN];

			for (unsigned k = bits; k < max; k++)
				net.addr[k / 8] &= (uint8_t)~(0x80 >> (k % 8));
			inet_ntop(c->family, net.addr, shown, sizeof(shown));
			snprintf(err, errlen, "\"%s\" has address bits set past its /%u prefix "
				 "(the network is %s/%u)", tok, bits, shown, bits);
			return -1;
		}
	}
	return 0;

not_addr:
	snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address or CIDR prefix", tok);
	return -1;
bad_len:
	snprintf(err, errlen, "\"%s\": the prefix length must be 0 .. %u", tok,
		 c->family == AF_INET ? 32u : 128u);
	return -1;
}

int
access_parse_list(struct access_list *list, const char *text, char *err, size_t errlen)
{
	const char *q = text;

	list->n = 0;
	for (;;) {
		char tok[80];
		size_t n;

		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '\0')
			break;
		n = strcspn(q, " \t");
		if (n >= sizeof(tok)) {
			snprintf(err, errlen, "\"%.40s...\" is not an IPv4 or IPv6 address or CIDR "
				 "prefix", q);
			return -1;
		}
		memcpy(tok, q, n);
		tok[n] = '\0';
		q += n;
		if (list->n == ACCESS_MAX_CIDRS) {
			snprintf(err, errlen, "more than %d prefixes", ACCESS_MAX_CIDRS);
			return -1;
		}
		if (parse_cidr(&list->c[list->n], tok, err, errlen) < 0)
			return -1;
		for (size_t i = 0; i < list->n; i++) {
			if (memcmp(&list->c[i], &list->c[list->n], sizeof(struct cidr)) == 0) {
				snprintf(err, errlen, "\"%s\" is given twice", tok);
				return -1;
			}
		}
		list->n++;
	}
	if (list->n == 0) {
		snprintf(err, errlen, "no prefix given");
		return -1;
	}
	return 0;
}

/* sa's family and address bytes; an IPv4-mapped IPv6 address as IPv4.
 * 0 when sa is neither. */
static int
addr_of(const struct sockaddr *sa, const uint8_t **bytes)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b =
		    (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			*bytes = b + 12;
			return AF_INET;
		}
		*bytes = b;
		return AF_INET6;
	}
	return 0;
}

static int
in_prefix(const struct cidr *c, const uint8_t *a)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, full) != 0)
		return 0;
	return rest == 0 || ((c->addr[full] ^ a[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

int
access_match(const struct access_list *list, const struct sockaddr *sa)
{
	const uint8_t *a;
	int family = addr_of(sa, &a);

	for (size_t i = 0; family != 0 && i < list->n; i++)
		if (list->c[i].family == family && in_prefix(&list->c[i], a))
			return 1;
	return 0;
}

int
access_permits(const struct access_list *allow, const struct access_list *deny,
	       const struct sockaddr *sa)
{
	if (deny != NULL && deny->n > 0 && access_match(deny, sa))
		return 0;
	return allow == NULL || allow->n == 0 || access_match(allow, sa);
}

/* ---- the per-source table ---- */

int
access_sources_init(struct access_sources *t, size_t entries, uint32_t limit)
{
	t->n = entries;
	t->limit = limit;
	/* calloc: pages never used stay out of RSS. */
	t->e = calloc(entries, sizeof(*t->e));
	return t->e == NULL ? -1 : 0;
}

void
access_sources_free(struct access_sources *t)
{
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

/* The source of sa: family, then the IPv4 address or the IPv6 /64. */
static int
source_key(const struct sockaddr *sa, uint8_t key[17])
{
	const uint8_t *a;
	int family = addr_of(sa, &a);

	memset(key, 0, 17);
	if (family == 0)
		return -1;
	key[0] = (uint8_t)family;
	memcpy(key + 1, a, family == AF_INET ? 4 : 8);
	return 0;
}

/* FNV-1a over the key. */
static size_t
source_hash(const uint8_t key[17])
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)h;
}

static struct access_source *
source_find(const struct access_sources *t, const uint8_t key[17], struct access_source **free_slot)
{
	size_t h = source_hash(key);

	if (free_slot != NULL)
		*free_slot = NULL;
	for (size_t i = 0; i < ACCESS_PROBE && i < t->n; i++) {
		struct access_source *e = &t->e[(h + i) % t->n];

		if (atomic_load_explicit(&e->count, memory_order_relaxed) == 0) {
			if (free_slot != NULL && *free_slot == NULL)
				*free_slot = e;
			continue;
		}
		if (memcmp(e->key, key, 17) == 0)
			return e;
	}
	return NULL;
}

enum access_take_result
access_take(struct access_sources *t, const struct sockaddr *sa, struct access_source **out)
{
	uint8_t key[17];
	struct access_source *e, *free_slot;

	*out = NULL;
	if (source_key(sa, key) < 0)
		return ACCESS_OK;          /* not an IP peer: nothing to count */
	e = source_find(t, key, &free_slot);
	if (e != NULL) {
		if (atomic_load_explicit(&e->count, memory_order_relaxed) >= t->limit)
			return ACCESS_SOURCE_LIMIT;
		atomic_fetch_add_explicit(&e->count, 1, memory_order_relaxed);
		*out = e;
		return ACCESS_OK;
	}
	if (free_slot == NULL)
		return ACCESS_TABLE_FULL;
	memcpy(free_slot->key, key, 17);
	atomic_store_explicit(&free_slot->count, 1, memory_order_relaxed);
	*out = free_slot;
	return ACCESS_OK;
}

uint32_t
access_held(const struct access_sources *t, const struct sockaddr *sa)
{
	uint8_t key[17];
	struct access_source *e;

	if (t->e == NULL || source_key(sa, key) < 0)
		return 0;
	e = source_find(t, key, NULL);
	return e ? atomic_load_explicit(&e->count, memory_order_relaxed) : 0;
}
