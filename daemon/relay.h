/*
 * relay: the two one-way rings between one worker thread and the output
 * writer (the main thread), through which output slabs change owner.
 *
 * A worker fills slabs from its own pool with whole lines.  relay_push()
 * hands one over (the writer owns it from then on); the writer writes it,
 * then relay_return() hands it back, and the worker gives it to its pool
 * (relay_take_back()).  A slab has one owner at a time, and a pool is
 * touched only by its own worker's thread.
 *
 * Each ring has one producer and one consumer, so it needs no lock: the
 * producer fills an entry, then publishes it by storing `tail` with release
 * order; the consumer loads `tail` with acquire order, reads the entries up
 * to it, and frees them by storing `head` with release order (which the
 * producer loads with acquire before reusing an entry).  Neither side ever
 * writes the other's index.
 *
 * Bounded by construction: a ring holds as many entries as the worker's
 * pool has slabs, plus one, so a push never finds it full: every slab in a
 * ring is one the pool handed out.  Pushes and returns wake the other side
 * through ev_async (relay_init names the watchers); ev_async_send is
 * thread-safe and merges wake-ups that arrive before the callback runs.
 */
#ifndef INGESTD_RELAY_H
#define INGESTD_RELAY_H

#include <ev.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct relay_slab {
	uint8_t *slab;
	size_t   off, len;    /* the bytes to write: slab[off..len) */
};

struct relay_ring {
	_Atomic size_t    head __attribute__((aligned(64)));  /* consumer's */
	_Atomic size_t    tail __attribute__((aligned(64)));  /* producer's */
	size_t            cap;                                 /* entries */
	struct relay_slab *e;
};

struct relay {
	struct relay_ring out;     /* worker -> writer: slabs to write */
	struct relay_ring back;    /* writer -> worker: slabs written */
	struct ev_loop   *writer_loop;
	ev_async         *writer_wake;   /* the writer's: there are slabs to write */
	struct ev_loop   *worker_loop;
	ev_async         *worker_wake;   /* the worker's: slabs came back */
	/* Written by the writer, read by the worker: the output takes nothing
	 * now (sink_relay_returned); a hint, so relaxed order is enough. */
	_Atomic int       writer_blocked;
};

/*
 * Allocates both rings for a pool of `slabs` slabs and records whom to
 * wake.  Returns 0, or -1 when out of memory (relay_clear() is still safe).
 */
int relay_init(struct relay *r, size_t slabs, struct ev_loop *writer_loop, ev_async *writer_wake,
	       struct ev_loop *worker_loop, ev_async *worker_wake);
void relay_clear(struct relay *r);

/* Worker: hands slab[off..len) to the writer, which owns the slab from now
 * on.  Does not wake the writer: relay_wake() does, once for many pushes
 * (each wake-up of a sleeping thread costs a switch on a busy core). */
void relay_push(struct relay *r, uint8_t *slab, size_t off, size_t len);
/* Worker: wakes the writer for the slabs pushed so far. */
void relay_wake(struct relay *r);
/* Writer: takes the oldest slab handed over; 0 when there is none. */
int relay_pop(struct relay *r, struct relay_slab *out);
/* Writer: gives a written slab back to its worker, and wakes it. */
void relay_return(struct relay *r, uint8_t *slab);
/* Worker: the next slab given back (its owner again), or NULL. */
uint8_t *relay_take_back(struct relay *r);
/* Either side: 1 when no slab is on its way to the writer. */
int relay_out_empty(struct relay *r);

#endif
