/*
 * stats: every counter the daemon keeps, in one place, so the periodic log
 * line, SIGUSR1 and the metrics endpoint read the same numbers.
 *
 * Counters are named once in STATS_COUNTERS; the enum and the printed names
 * come from that list and cannot drift.
 *
 * Threads: each thread that counts owns one block of counters
 * (stats_bind(); the main thread and any thread that never binds use block
 * 0), aligned to its own cache lines so two writers never share a line.
 * Only the owner writes a block, so an increment is a relaxed atomic load
 * and store of its own counter (plain moves on x86-64), never a locked
 * read-modify-write; the atomics are what let another thread read it
 * meanwhile without a data race.  Readers sum the blocks (stats_get,
 * stats_snapshot).  Each counter of a block only grows and is read
 * coherently, so successive snapshots taken by one reader never go down.
 */
#ifndef INGESTD_STATS_H
#define INGESTD_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_COUNTERS(X) \
	X(conn_accepted)      \
	X(conn_closed)        \
	X(conn_refused)       \
	X(conn_denied)        \
	X(conn_source_limited) \
	X(source_table_full)  \
	X(proxy_headers)      \
	X(proxy_local)        \
	X(proxy_bad)          \
	X(proxy_refused)      \
	X(proxy_timeouts)     \
	X(tls_handshakes)     \
	X(tls_resumed)        \
	X(tls_handshake_timeouts) \
	X(tls_no_certificate) \
	X(tls_verify_failures) \
	X(tls_version_refused) \
	X(tls_plaintext)      \
	X(tls_handshake_failures) \
	X(tls_reload_failures) \
	X(bad_identity)       \
	X(kafka_delivered)    \
	X(kafka_failed)       \
	X(kafka_spilled)      \
	X(kafka_spill_errors) \
	X(kafka_restarts)     \
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

#define STATS_MAX_BLOCKS 65   /* the main thread's and up to 64 workers' */

/* One thread's counters; written by that thread only. */
struct stats_block {
	_Atomic uint64_t c[STAT__COUNT];
} __attribute__((aligned(64)));

extern struct stats_block stats_blocks[STATS_MAX_BLOCKS];
/* This thread's block: &stats_blocks[0] until stats_bind(). */
extern _Thread_local struct stats_block *stats_mine;
extern const char *const stats_names[STAT__COUNT];
/* The counters of frames rejected, one per reason: /metrics's
 * ingestd_frames_rejected_total{reason} and the status page list these. */
#define STATS_FRAME_REJECTIONS 6
extern const enum stats_counter stats_frame_rejections[STATS_FRAME_REJECTIONS];

/* A sum of every block, taken at one moment per counter. */
struct stats_snapshot {
	uint64_t c[STAT__COUNT];
};

#define STATS_MAX_LISTENERS 64

/*
 * Everything the metrics endpoint and the health check show, taken at one
 * moment: the counters, and gauges filled by the modules that own them
 * (workers_view() in worker.c).  A plain struct, so readers depend on it
 * alone, not on connections, listeners, pool or sink.
 */
struct stats_view {
	struct stats_snapshot counters;
	double   now;              /* clock_mono() when it was taken */

	int      have_conns;       /* 0: only the counters are filled */
	size_t   conns, max_connections;
	int      paused, stopping;
	double   paused_seconds;   /* in all, the current pause included */
	double   paused_for;       /* the current pause so far; 0 when not paused */
	uint64_t retained_bytes;
	size_t   read_slabs;

	int      have_pool;
	size_t   slab_size, slabs, slabs_in_use, slabs_peak, overflow_in_use, overflow_peak;
	size_t   waiters, read_waiters, waiters_peak;
	uint64_t checkouts, refused_releases;

	int      have_output;
	size_t   output_pending, output_waiters;
	int      output_failing;
	double   output_stalled;   /* seconds the output has taken nothing while records wait */
	double   output_reopened_at; /* clock_mono() of the last reopen (SIGHUP); 0: none */

	int      have_kafka;       /* [output] type = kafka */
	size_t   kafka_in_flight;  /* produced, not yet reported delivered or spilled */
	int      kafka_brokers_up; /* -1: no statistics yet */

	size_t   nlisteners;
	struct {
		const char *name;      /* borrowed from the config */
		const char *bound;     /* "127.0.0.1:7001"; borrowed; NULL: unknown */
		uint64_t    records, bytes_in;
		size_t      conns;     /* open now */
	} listeners[STATS_MAX_LISTENERS];

	size_t   nworkers;
	struct {
		size_t   conns;
		uint64_t records;      /* records_out of the worker's block */
	} workers[STATS_MAX_BLOCKS - 1];
};

/* Clears v and fills its counters and `now` (the rest for the owners). */
void stats_view_counters(struct stats_view *v, double now);

/* Makes the calling thread count into block `index` (1..STATS_MAX_BLOCKS-1
 * for workers; 0 is the main thread's). */
void stats_bind(size_t index);

static inline void
stats_add(enum stats_counter k, uint64_t n)
{
	_Atomic uint64_t *p = &stats_mine->c[k];

	/* This thread is *p's only writer: no read-modify-write needed. */
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* The total of counter k over every block. */
uint64_t stats_get(enum stats_counter k);
/* One block's value of counter k (per-worker figures). */
uint64_t stats_get_block(size_t index, enum stats_counter k);
/* Every counter's total. */
void stats_snapshot(struct stats_snapshot *s);
#ifdef INGESTD_TESTING
/* Tests: sets counter k of this thread's block, and zeroes the others'. */
void stats_set(enum stats_counter k, uint64_t v);
/* Tests: every counter of every block to 0 (no counting thread running). */
void stats_reset(void);
#endif

#define STATS_INC(name)    stats_add(STAT_##name, 1)
#define STATS_ADD(name, n) stats_add(STAT_##name, (n))

#endif
