/*
 * access: who may connect to a listener.  Address lists (`allow`, `deny`:
 * CIDR prefixes, IPv4 and IPv6) and the per-source connection count
 * (`max_conns_per_source`).
 *
 * Pure: no sockets, no logging; the listener applies it at accept, before
 * a byte is read (listener.c).
 *
 * The per-source table is fixed-size (`max_sources` entries, allocated once
 * with the listener) and open-addressed: a source's entry lies within
 * ACCESS_PROBE slots of its hash, so a lookup costs at most that many
 * compares and never allocates.  An entry whose count is 0 is free.
 * Threads: only the accepting thread (main) takes entries (access_take);
 * a connection's worker gives its entry back at close (access_release), an
 * atomic decrement.  An entry is only reused for another source while its
 * count is 0, that is while no connection holds it, so a worker's
 * decrement always lands on its own source.
 */
#ifndef INGESTD_ACCESS_H
#define INGESTD_ACCESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACCESS_MAX_CIDRS 64   /* per list */
#define ACCESS_PROBE     16

struct cidr {
	uint8_t family;      /* AF_INET or AF_INET6 */
	uint8_t bits;        /* prefix length */
	uint8_t addr[16];    /* network order; 4 bytes used for IPv4 */
};

struct access_list {
	struct cidr c[ACCESS_MAX_CIDRS];
	size_t      n;
};

/*
 * Parses "CIDR [CIDR ...]" (spaces or tabs between; an address alone is a
 * /32 or /128) into list.  Returns 0, or -1 with a message in err: not an
 * address, a prefix length out of range, bits set past the prefix
 * ("10.0.0.1/8": nothing is guessed), a prefix given twice, more than
 * ACCESS_MAX_CIDRS, an empty list.
 */
int access_parse_list(struct access_list *list, const char *text, char *err, size_t errlen);

/* 1 when sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * IPv4) lies in one of list's prefixes. */
int access_match(const struct access_list *list, const struct sockaddr *sa);

/* 1 when a listener with these lists (NULL or empty allow: everyone) lets
 * sa connect: deny wins, then allow. */
int access_permits(const struct access_list *allow, const struct access_list *deny,
		   const struct sockaddr *sa);

/* The per-source table. */
struct access_source {
	_Atomic uint32_t count;      /* connections held; 0: free */
	uint8_t          key[17];    /* family byte, then /32 or /64 of the address */
};

struct access_sources {
	struct access_source *e;
	size_t                n;
	uint32_t              limit;  /* connections per source */
};

enum access_take_result { ACCESS_OK, ACCESS_SOURCE_LIMIT, ACCESS_TABLE_FULL };

/* Allocates a table of `entries` (0 on success; -1 when out of memory). */
int access_sources_init(struct access_sources *t, size_t entries, uint32_t limit);
void access_sources_free(struct access_sources *t);
/*
 * Counts one more connection from sa's source: an IPv4 address, or the /64
 * of an IPv6 one.  ACCESS_OK with *out set to the entry (the caller holds
 * it until access_release), ACCESS_SOURCE_LIMIT when the source already
 * holds `limit`, ACCESS_TABLE_FULL when no entry is free near its hash.
 * Accepting thread only.
 */
enum access_take_result access_take(struct access_sources *t, const struct sockaddr *sa,
				    struct access_source **out);
/* Gives back one connection of e (any thread).  NULL is fine. */
static inline void
access_release(struct access_source *e)
{
	if (e != NULL)
		atomic_fetch_sub_explicit(&e->count, 1, memory_order_relaxed);
}
/* Connections sa's source holds now (tests, logs). */
uint32_t access_held(const struct access_sources *t, const struct sockaddr *sa);

#endif
