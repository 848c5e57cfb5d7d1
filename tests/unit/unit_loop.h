/*
 * unit_loop: what the unit tests that run a real libev loop share.
 */
#ifndef INGESTD_UNIT_LOOP_H
#define INGESTD_UNIT_LOOP_H

#include <ev.h>
#include <unistd.h>

#include "clock.h"

/* Runs loop iterations, without blocking, for `seconds`. */
static inline void
loop_run_for(struct ev_loop *loop, double seconds)
{
	double end = clock_mono() + seconds;

	while (clock_mono() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

#endif
