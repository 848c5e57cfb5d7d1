/*
 * stats: every counter the daemon keeps, in one place, so the periodic log
 * line, SIGUSR1 and (later) a metrics endpoint read the same numbers.
 *
 * Counters are named once in STATS_COUNTERS; the enum and the printed names
 * come from that list and cannot drift.  Single-threaded: plain integers.
 */
#ifndef INGESTD_STATS_H
#define INGESTD_STATS_H

#include <stdint.h>
#include <stddef.h>

#define STATS_COUNTERS(X) \
	X(conn_accepted)      \
	X(conn_closed)        \
	X(conn_refused)       \
	X(accept_errors)      \
	X(bytes_in)           \
	X(frames_in)          \
	X(records_out)        \
	X(bytes_out)          \
	X(output_writes)      \
	X(output_errors)      \
	X(output_reopens)     \
	X(output_rewinds)     \
	X(pause_events)       \
	X(slab_waits)         \
	X(slabs_retained)     \
	X(carry_copies)       \
	X(bad_magic)          \
	X(bad_size)           \
	X(bad_type)           \
	X(bad_checksum)       \
	X(frames_skipped)     \
	X(resyncs)            \
	X(resync_bytes)       \
	X(resync_giveups)     \
	X(oversize)           \
	X(truncated)          \
	X(idle_closed)        \
	X(retained_evictions) \
	X(read_errors)        \
	X(log_dropped)

enum stats_counter {
#define X(name) STAT_##name,
	STATS_COUNTERS(X)
#undef X
	STAT__COUNT
};

extern uint64_t stats[STAT__COUNT];
extern const char *const stats_names[STAT__COUNT];

#define STATS_INC(name)    (stats[STAT_##name]++)
#define STATS_ADD(name, n) (stats[STAT_##name] += (n))

#endif
