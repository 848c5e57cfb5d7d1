/* history: see history.h. */
#include "history.h"

#include <string.h>

void
history_init(struct history *h)
{
	memset(h, 0, sizeof(*h));
}

static uint32_t
clamp32(size_t x)
{
	return x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

void
history_add(struct history *h, const struct stats_view *v)
{
	struct history_sample *s = &h->s[h->next];
	const struct history_sample *last = h->n > 0 ? history_at(h, h->n - 1) : NULL;
	uint64_t records = v->counters.c[STAT_records_out];

	if (last != NULL && v->now <= last->t)
		return;
	s->t = v->now;
	s->records = records;
	/* The first sample has no interval; a counter never goes back, but a
	 * view of another origin must not make a huge rate out of it. */
	s->records_per_s = last != NULL && records >= last->records ?
		(double)(records - last->records) / (v->now - last->t) : 0.0;
	s->slabs_in_use = clamp32(v->slabs_in_use);
	s->waiters = clamp32(v->waiters);
	s->paused = v->paused ? 1 : 0;
	h->next = (h->next + 1) % HISTORY_SAMPLES;
	if (h->n < HISTORY_SAMPLES)
		h->n++;

	memcpy(h->listener_records[0], h->listener_records[1], sizeof(h->listener_records[0]));
	h->listener_t[0] = h->listener_t[1];
	h->nlisteners = v->nlisteners < STATS_MAX_LISTENERS ? v->nlisteners : STATS_MAX_LISTENERS;
	for (size_t i = 0; i < h->nlisteners; i++)
		h->listener_records[1][i] = v->listeners[i].records;
	h->listener_t[1] = v->now;
}

size_t
history_len(const struct history *h)
{
	return h->n;
}

const struct history_sample *
history_at(const struct history *h, size_t i)
{
	size_t oldest = (h->next + HISTORY_SAMPLES - h->n) % HISTORY_SAMPLES;

	return &h->s[(oldest + i) % HISTORY_SAMPLES];
}

double
history_listener_rate(const struct history *h, size_t i)
{
	double dt = h->listener_t[1] - h->listener_t[0];

	if (h->n < 2 || i >= h->nlisteners || dt <= 0 ||
	    h->listener_records[1][i] < h->listener_records[0][i])
		return 0.0;
	return (double)(h->listener_records[1][i] - h->listener_records[0][i]) / dt;
}
