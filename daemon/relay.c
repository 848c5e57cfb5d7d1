/*
 * relay: see relay.h.  head and tail count entries from the start and are
 * taken modulo cap only to index; they never wrap in practice (2^64).
 */
#include "relay.h"

#include <stdlib.h>

static int
ring_init(struct relay_ring *q, size_t cap)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	q->cap = cap;
	q->e = calloc(cap, sizeof(*q->e));
	return q->e == NULL ? -1 : 0;
}

/* Producer only. */
static void
ring_put(struct relay_ring *q, const struct relay_slab *s)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	/* Never full (relay.h): a ring holds every slab of the pool, plus one.
	 * The acquire pairs with the consumer's release of head, so the entry
	 * is not overwritten before the consumer has read it. */
	if (t - atomic_load_explicit(&q->head, memory_order_acquire) >= q->cap)
		abort();
	q->e[t % q->cap] = *s;
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

/* Consumer only. */
static int
ring_get(struct relay_ring *q, struct relay_slab *s)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (h == atomic_load_explicit(&q->tail, memory_order_acquire))
		return 0;
	*s = q->e[h % q->cap];
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return 1;
}

int
relay_init(struct relay *r, size_t slabs, struct ev_loop *writer_loop, ev_async *writer_wake,
	   struct ev_loop *worker_loop, ev_async *worker_wake)
{
	r->writer_loop = writer_loop;
	r->writer_wake = writer_wake;
	r->worker_loop = worker_loop;
	r->worker_wake = worker_wake;
	r->out.e = r->back.e = NULL;
	atomic_init(&r->writer_blocked, 0);
	if (ring_init(&r->out, slabs + 1) < 0 || ring_init(&r->back, slabs + 1) < 0)
		return -1;
	return 0;
}

void
relay_clear(struct relay *r)
{
	free(r->out.e);
	free(r->back.e);
	r->out.e = r->back.e = NULL;
}

void
relay_push(struct relay *r, uint8_t *slab, size_t off, size_t len)
{
	struct relay_slab s = { slab, off, len };

	ring_put(&r->out, &s);
}

void
relay_wake(struct relay *r)
{
	ev_async_send(r->writer_loop, r->writer_wake);
}

int
relay_pop(struct relay *r, struct relay_slab *out)
{
	return ring_get(&r->out, out);
}

void
relay_return(struct relay *r, uint8_t *slab)
{
	struct relay_slab s = { slab, 0, 0 };

	ring_put(&r->back, &s);
	ev_async_send(r->worker_loop, r->worker_wake);
}

uint8_t *
relay_take_back(struct relay *r)
{
	struct relay_slab s;

	return ring_get(&r->back, &s) ? s.slab : NULL;
}

int
relay_out_empty(struct relay *r)
{
	return atomic_load_explicit(&r->out.head, memory_order_acquire) ==
	       atomic_load_explicit(&r->out.tail, memory_order_acquire);
}
