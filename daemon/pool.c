/*
 * pool: see pool.h.
 *
 * Layout: one allocation of (slabs + overflow) * slab_size bytes; slot i
 * starts at arena + i * slab_size.  Slots [0, slabs) are the arena,
 * [slabs, slabs + overflow) the overflow.  state[i] says whether slot i is
 * out; each part has its free list, a stack of slot indices.  A pointer is
 * ours iff it lies in the allocation on a slot boundary, so ownership and
 * double-release checks are O(1) for both parts.  Overflow slots' pages
 * are given back with MADV_DONTNEED on release, so they cost memory only
 * while they are out.
 *
 * Invariants: nfree + in_use == slabs; ofree + overflow_in_use == overflow;
 * a slot index is on a free stack iff state[index] == 0; a waiter is in at
 * most one queue.
 */
#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct waitq {
	struct pool_waiter *head, *tail;
	size_t              len;
};

struct pool {
	struct pool_conf  conf;
	uint8_t          *arena;
	uint8_t          *state;      /* 1 = checked out */
	uint32_t         *free_stack; /* arena slots */
	size_t            nfree;
	uint32_t         *ofree_stack; /* overflow slots */
	size_t            ofree;
	size_t            nslots;     /* slabs + overflow */
	struct waitq      q[2];       /* indexed by enum pool_class */
	pool_pressure_cb *pressure;
	void             *pressure_arg;
	struct pool_stats st;
};

struct pool *
pool_new(const struct pool_conf *conf, pool_pressure_cb *cb, void *cb_arg)
{
	struct pool *p;

	if (conf->slab_size == 0 || conf->slabs == 0 || conf->slabs > UINT32_MAX / 2 ||
	    conf->overflow > UINT32_MAX / 2 ||
	    conf->slab_size > SIZE_MAX / (conf->slabs + conf->overflow))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->conf = *conf;
	p->nslots = conf->slabs + conf->overflow;
	/* malloc, not calloc: untouched slabs must stay out of RSS. */
	p->arena = malloc(conf->slab_size * p->nslots);
	p->state = calloc(p->nslots, 1);
	p->free_stack = malloc(conf->slabs * sizeof(uint32_t));
	p->ofree_stack = malloc((conf->overflow ? conf->overflow : 1) * sizeof(uint32_t));
	if (p->arena == NULL || p->state == NULL || p->free_stack == NULL ||
	    p->ofree_stack == NULL) {
		pool_free(p);
		return NULL;
	}
	/* Lowest index on top, so light load keeps reusing the same few slabs. */
	for (size_t i = 0; i < conf->slabs; i++)
		p->free_stack[i] = (uint32_t)(conf->slabs - 1 - i);
	p->nfree = conf->slabs;
	for (size_t i = 0; i < conf->overflow; i++)
		p->ofree_stack[i] = (uint32_t)(p->nslots - 1 - i);
	p->ofree = conf->overflow;
	p->pressure = cb;
	p->pressure_arg = cb_arg;
	p->st.slabs = conf->slabs;
	return p;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	free(p->ofree_stack);
	free(p->free_stack);
	free(p->state);
	free(p->arena);
	free(p);
}

size_t
pool_slab_size(const struct pool *p)
{
	return p->conf.slab_size;
}

size_t
pool_capacity(const struct pool *p)
{
	return p->conf.slabs + p->conf.overflow;
}

static void *
take_arena(struct pool *p)
{
	uint32_t i = p->free_stack[--p->nfree];

	p->state[i] = 1;
	p->st.in_use++;
	if (p->st.in_use > p->st.peak)
		p->st.peak = p->st.in_use;
	p->st.checkouts++;
	return p->arena + (size_t)i * p->conf.slab_size;
}

void *
pool_checkout(struct pool *p, enum pool_class cls)
{
	size_t keep = cls == POOL_READ ? p->conf.reserve : 0;

	/* Waiters queue first: a newcomer must not overtake them. */
	if (p->nfree > keep && p->q[POOL_OUTPUT].len == 0 &&
	    (cls == POOL_OUTPUT || p->q[POOL_READ].len == 0))
		return take_arena(p);
	if (p->ofree > 0) {
		uint32_t i = p->ofree_stack[--p->ofree];

		p->state[i] = 1;
		p->st.overflow_in_use++;
		if (p->st.overflow_in_use > p->st.overflow_peak)
			p->st.overflow_peak = p->st.overflow_in_use;
		p->st.checkouts++;
		return p->arena + (size_t)i * p->conf.slab_size;
	}
	return NULL;
}

static struct pool_waiter *
waitq_pop(struct waitq *q)
{
	struct pool_waiter *w = q->head;

	if (w == NULL)
		return NULL;
	q->head = w->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->len--;
	w->next = NULL;
	w->queued = 0;
	return w;
}

static size_t
waiters_total(const struct pool *p)
{
	return p->q[POOL_OUTPUT].len + p->q[POOL_READ].len;
}

/* Ends the pause once the READ queue is short again. */
static void
check_resume(struct pool *p)
{
	if (p->st.paused && p->q[POOL_READ].len <= p->conf.waiters_low) {
		p->st.paused = 0;
		if (p->pressure != NULL)
			p->pressure(p->pressure_arg, 0);
	}
}

/* Gives an overflow slot's whole pages back to the kernel. */
static void
overflow_discard(struct pool *p, uint8_t *b)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)b + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)b + p->conf.slab_size) & ~(page - 1);

	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int
pool_release(struct pool *p, void *slab)
{
	uint8_t *b = slab;
	struct pool_waiter *w;
	size_t off, i;
	int overflow;

	if (b < p->arena || b >= p->arena + p->conf.slab_size * p->nslots) {
		p->st.refused_releases++;
		return -1;
	}
	off = (size_t)(b - p->arena);
	i = off / p->conf.slab_size;
	if (off % p->conf.slab_size != 0 || !p->state[i]) {
		p->st.refused_releases++;
		return -1;
	}
	overflow = i >= p->conf.slabs;
	/* Hand-off: the slab stays out and changes owner.  A waiter may have an
	 * overflow slab as it is (the reserve guards the arena only). */
	w = waitq_pop(&p->q[POOL_OUTPUT]);
	if (w == NULL && (overflow || p->nfree >= p->conf.reserve))
		w = waitq_pop(&p->q[POOL_READ]);
	if (w != NULL) {
		p->st.waiters = waiters_total(p);
		p->st.checkouts++;
		check_resume(p);
		w->grant(w, slab);
		return 0;
	}
	p->state[i] = 0;
	if (overflow) {
		/* Temporary slabs give their memory back, never join the arena. */
		overflow_discard(p, b);
		p->ofree_stack[p->ofree++] = (uint32_t)i;
		p->st.overflow_in_use--;
	} else {
		p->free_stack[p->nfree++] = (uint32_t)i;
		p->st.in_use--;
	}
	return 0;
}

void
pool_wait(struct pool *p, struct pool_waiter *w, enum pool_class cls)
{
	struct waitq *q = &p->q[cls];

	if (w->queued)
		return;
	w->next = NULL;
	w->queued = 1;
	w->cls = (uint8_t)cls;
	if (q->tail != NULL)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	q->len++;
	p->st.waiters = waiters_total(p);
	if (p->st.waiters > p->st.waiters_peak)
		p->st.waiters_peak = p->st.waiters;
	if (cls == POOL_READ && !p->st.paused && q->len >= p->conf.max_waiters) {
		p->st.paused = 1;
		p->st.pauses++;
		if (p->pressure != NULL)
			p->pressure(p->pressure_arg, 1);
	}
}

void
pool_cancel(struct pool *p, struct pool_waiter *w)
{
	struct waitq *q;
	struct pool_waiter **pp;

	if (!w->queued)
		return;
	q = &p->q[w->cls];
	for (pp = &q->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			if (q->tail == w) {
				/* The new tail is the node whose next we just rewrote. */
				q->tail = q->head == NULL ? NULL :
				    (struct pool_waiter *)((char *)pp - offsetof(struct pool_waiter, next));
			}
			q->len--;
			break;
		}
	}
	w->next = NULL;
	w->queued = 0;
	p->st.waiters = waiters_total(p);
	check_resume(p);
}

void
pool_get_stats(const struct pool *p, struct pool_stats *out)
{
	*out = p->st;
	out->read_waiters = p->q[POOL_READ].len;
}

int
pool_paused(const struct pool *p)
{
	return p->st.paused;
}
