/*
 * pool: every payload byte the daemon holds lives in a slab from here.
 *
 * A fixed number of fixed-size slabs is allocated once, in one arena, at
 * start-up and never handed back to malloc while running, so traffic cannot
 * fragment the heap and the data-memory budget is slab_size * slabs.  Free
 * slabs are kept LIFO so a light load touches (and keeps resident) only a
 * few of them.  An optional bounded overflow hands out temporary slabs when
 * the arena is empty: they sit in address space reserved beside the arena
 * (untouched until used), and their memory goes back to the kernel
 * (MADV_DONTNEED) when they are released; they never join the arena.
 *
 * What a release can and cannot be checked for, in O(1) for arena and
 * overflow slabs alike: a pointer outside both ranges, or not at the start
 * of a slab, is refused and counted (refused_releases); so is a release of
 * a slab that is free at that moment (a second release before anyone
 * checked it out again).  What no pool can see: a stale pointer released
 * after the slab went out again to a new owner.  That release succeeds and
 * takes the slab from its new owner; only the one-owner discipline of the
 * callers (each buffer has exactly one owner, see conn.c and sink.c) rules
 * it out.  Test builds abort on any refusal (pool_give_back).
 *
 * Waiters: a caller that finds no slab queues a struct pool_waiter and is
 * granted the next released slab directly (the source's acquire/release
 * hand-off).  Two queues: OUTPUT waiters (a connection mid-read that needs
 * room for records) are served before READ waiters (a connection that wants
 * to start a read), and READ checkouts leave `reserve` slabs for output, so
 * connections holding read slabs can always finish and release them.  When
 * the READ queue reaches max_waiters the pool calls its pressure callback
 * with 1 (pause all reads); when it falls to waiters_low, with 0.
 *
 * Pure: no I/O, no logging.  Single-threaded.
 */
#ifndef INGESTD_POOL_H
#define INGESTD_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct pool_conf {
	size_t slab_size;     /* bytes per slab */
	size_t slabs;         /* slabs in the arena */
	size_t overflow;      /* temporary slabs allowed beyond the arena */
	size_t reserve;       /* slabs READ checkouts leave free for output */
	size_t max_waiters;   /* READ waiters that trigger the pause */
	size_t waiters_low;   /* READ waiters at which the pause ends */
	size_t max_retained;  /* slabs partial frames may keep (enforced by conn) */
};

enum pool_class { POOL_OUTPUT, POOL_READ };

struct pool_waiter;
/* Called from pool_release() with the slab, which the waiter now owns.
 * Must not call back into the pool synchronously (schedule the work). */
typedef void pool_grant_cb(struct pool_waiter *w, void *slab);

struct pool_waiter {
	struct pool_waiter *next;
	pool_grant_cb      *grant;
	uint8_t             queued;   /* 1 while in a queue */
	uint8_t             cls;      /* enum pool_class */
};

typedef void pool_pressure_cb(void *arg, int paused);

struct pool_stats {
	size_t   slabs;            /* arena size */
	size_t   in_use;           /* arena slabs checked out */
	size_t   peak;             /* highest in_use */
	size_t   overflow_in_use;
	size_t   overflow_peak;
	size_t   waiters;          /* READ + OUTPUT queued */
	size_t   read_waiters;     /* READ queued */
	size_t   waiters_peak;
	uint64_t checkouts;
	uint64_t refused_releases; /* foreign pointer or double release */
	uint64_t pauses;           /* times the pressure callback said 1 */
	int      paused;
};

/* Returns a new pool (caller owns; pool_free), or NULL when memory for the
 * arena cannot be had or the conf is unusable. */
struct pool *pool_new(const struct pool_conf *conf, pool_pressure_cb *cb, void *cb_arg);
/* Frees the arena and any overflow slabs still out.  NULL is fine. */
void pool_free(struct pool *p);

size_t pool_slab_size(const struct pool *p);
/* The most slabs that can be out at once: the arena plus the overflow. */
size_t pool_capacity(const struct pool *p);

/*
 * Returns a slab (caller owns it until pool_release) or NULL when none is
 * free for that class: POOL_READ leaves `reserve` arena slabs free.  Overflow
 * slabs are tried before returning NULL.
 */
void *pool_checkout(struct pool *p, enum pool_class cls);

/*
 * Takes ownership of slab back.  Hands it to the oldest waiter when one may
 * have it, else frees it to the arena (or, for overflow, gives its pages back).  Returns
 * 0, or -1 when the pool did not hand this pointer out or it is already
 * released (counted; the pool is unchanged).
 */
int pool_release(struct pool *p, void *slab);

/*
 * pool_release() for callers that own the slab by construction (the daemon
 * itself): a refusal there is a bug, so test builds abort on it and the
 * integration tests catch it; production counts it and carries on.
 */
static inline void
pool_give_back(struct pool *p, void *slab)
{
	if (pool_release(p, slab) < 0) {
#ifdef INGESTD_TESTING
		abort();
#endif
	}
}

/* Queues w (borrowed until granted or cancelled) in class cls.  The caller
 * must have just seen pool_checkout() return NULL. */
void pool_wait(struct pool *p, struct pool_waiter *w, enum pool_class cls);
/* Removes w from its queue if it is queued (a closing connection). */
void pool_cancel(struct pool *p, struct pool_waiter *w);

void pool_get_stats(const struct pool *p, struct pool_stats *out);
int  pool_paused(const struct pool *p);

#endif
