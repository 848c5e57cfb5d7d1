/*
 * pool: see pool.h.
 *
 * Layout: one arena of `slabs` * slab_size bytes; slab i starts at
 * arena + i * slab_size.  state[i] says whether slab i is out; the free
 * list is a stack of indices.  A pointer is ours iff it lies in the arena
 * on a slab boundary, so ownership and double-release checks are O(1).
 * Overflow slabs are separate allocations listed in a small table (the
 * overflow cap is small by design), searched linearly.
 *
 * Invariants: nfree + in_use == slabs; a slab index is on the free stack
 * iff state[index] == 0; a waiter is in at most one queue.
 */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

struct waitq {
	struct pool_waiter *head, *tail;
	size_t              len;
};

struct pool {
	struct pool_conf  conf;
	uint8_t          *arena;
	uint8_t          *state;      /* 1 = checked out */
	uint32_t         *free_stack;
	size_t            nfree;
	void            **overflow;   /* overflow slabs out, conf.overflow entries */
	size_t            overflow_out;
	struct waitq      q[2];       /* indexed by enum pool_class */
	pool_pressure_cb *pressure;
	void             *pressure_arg;
	struct pool_stats st;
};

struct pool *
pool_new(const struct pool_conf *conf, pool_pressure_cb *cb, void *cb_arg)
{
	struct pool *p;

	if (conf->slab_size == 0 || conf->slabs == 0 || conf->slabs > UINT32_MAX ||
	    conf->slab_size > SIZE_MAX / conf->slabs)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->conf = *conf;
	/* malloc, not calloc: untouched slabs must stay out of RSS. */
	p->arena = malloc(conf->slab_size * conf->slabs);
	p->state = calloc(conf->slabs, 1);
	p->free_stack = malloc(conf->slabs * sizeof(uint32_t));
	p->overflow = calloc(conf->overflow ? conf->overflow : 1, sizeof(void *));
	if (p->arena == NULL || p->state == NULL || p->free_stack == NULL || p->overflow == NULL) {
		pool_free(p);
		return NULL;
	}
	/* Lowest index on top, so light load keeps reusing the same few slabs. */
	for (size_t i = 0; i < conf->slabs; i++)
		p->free_stack[i] = (uint32_t)(conf->slabs - 1 - i);
	p->nfree = conf->slabs;
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
	if (p->overflow != NULL)
		for (size_t i = 0; i < p->overflow_out; i++)
			free(p->overflow[i]);
	free(p->overflow);
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
	if (p->overflow_out < p->conf.overflow) {
		void *s = malloc(p->conf.slab_size);
		if (s != NULL) {
			p->overflow[p->overflow_out++] = s;
			p->st.overflow_in_use = p->overflow_out;
			if (p->overflow_out > p->st.overflow_peak)
				p->st.overflow_peak = p->overflow_out;
			p->st.checkouts++;
			return s;
		}
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

int
pool_release(struct pool *p, void *slab)
{
	uint8_t *b = slab;
	struct pool_waiter *w;

	if (b >= p->arena && b < p->arena + p->conf.slab_size * p->conf.slabs) {
		size_t off = (size_t)(b - p->arena);
		size_t i = off / p->conf.slab_size;

		if (off % p->conf.slab_size != 0 || !p->state[i]) {
			p->st.refused_releases++;
			return -1;
		}
		/* Hand-off: the slab stays out and changes owner. */
		w = waitq_pop(&p->q[POOL_OUTPUT]);
		if (w == NULL && p->nfree >= p->conf.reserve)
			w = waitq_pop(&p->q[POOL_READ]);
		if (w != NULL) {
			p->st.waiters = waiters_total(p);
			p->st.checkouts++;
			check_resume(p);
			w->grant(w, slab);
			return 0;
		}
		p->state[i] = 0;
		p->free_stack[p->nfree++] = (uint32_t)i;
		p->st.in_use--;
		return 0;
	}
	for (size_t k = 0; k < p->overflow_out; k++) {
		if (p->overflow[k] == slab) {
			/* A waiter may have it as it is (the reserve guards the arena
			 * only); it stays in the overflow table with its new owner. */
			w = waitq_pop(&p->q[POOL_OUTPUT]);
			if (w == NULL)
				w = waitq_pop(&p->q[POOL_READ]);
			if (w != NULL) {
				p->st.waiters = waiters_total(p);
				p->st.checkouts++;
				check_resume(p);
				w->grant(w, slab);
				return 0;
			}
			/* Temporary slabs go back to malloc, never into the arena. */
			p->overflow[k] = p->overflow[--p->overflow_out];
			p->st.overflow_in_use = p->overflow_out;
			free(slab);
			return 0;
		}
	}
	p->st.refused_releases++;
	return -1;
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
}

int
pool_paused(const struct pool *p)
{
	return p->st.paused;
}
