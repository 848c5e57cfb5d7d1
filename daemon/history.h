/*
 * history: the last HISTORY_SAMPLES seconds of a few figures, for the
 * status page's chart (records/s and pool use over ten minutes).
 *
 * A fixed ring inside the struct: memory is sizeof(struct history) (about
 * 25 KiB) whatever the uptime, and adding a sample allocates nothing.  The
 * owner (metrics.c) adds one sample a second from its stats view; a sample
 * carries its clock_mono() time, so a late timer shows as a wider gap, not
 * a wrong rate, and a step of the wall clock changes nothing.
 *
 * Pure: no I/O, no clock reads, no locking (one thread: the owner's).
 */
#ifndef INGESTD_HISTORY_H
#define INGESTD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define HISTORY_SAMPLES 600   /* ten minutes at one a second */

struct history_sample {
	double   t;               /* clock_mono() of the view */
	double   records_per_s;   /* records_out since the sample before, per second */
	uint64_t records;         /* records_out, the total */
	uint32_t slabs_in_use;    /* arena slabs checked out */
	uint32_t waiters;         /* connections queued for a slab */
	uint8_t  paused;          /* reads were paused */
};

struct history {
	struct history_sample s[HISTORY_SAMPLES];
	size_t   next;            /* where the next sample goes */
	size_t   n;               /* samples held, at most HISTORY_SAMPLES */
	/* Per listener, the records total at the last two samples (the status
	 * page's records/s by listener); t of those two samples. */
	uint64_t listener_records[2][STATS_MAX_LISTENERS];
	double   listener_t[2];
	size_t   nlisteners;
};

/* Empties h. */
void history_init(struct history *h);

/* Adds a sample of v (borrowed; v->now is its time), dropping the oldest
 * when full.  A view no newer than the last sample is ignored. */
void history_add(struct history *h, const struct stats_view *v);

/* Samples held. */
size_t history_len(const struct history *h);

/* Sample i, 0 the oldest, history_len() - 1 the newest; borrowed from h,
 * valid until the next history_add.  i must be < history_len(). */
const struct history_sample *history_at(const struct history *h, size_t i);

/* Records per second of listener i between the last two samples; 0 until
 * there are two, or for i out of range. */
double history_listener_rate(const struct history *h, size_t i);

#endif
