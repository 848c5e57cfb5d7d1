/*
 * clock: the one clock every timeout is measured on.
 *
 * Idle closing, the shutdown drain, pause lengths, output stalls and log
 * rate limits compare durations, so they read CLOCK_MONOTONIC: a step of
 * the wall clock (NTP, an operator's `date -s`, a VM resumed) must neither
 * close every connection nor keep a dead one open forever.  ev_now() is the
 * wall clock and is used only for what records carry (_rx_ms).  libev's
 * timers already run on the monotonic clock.
 */
#ifndef INGESTD_CLOCK_H
#define INGESTD_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin; compare, never print). */
static inline double
clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
