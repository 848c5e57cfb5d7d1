/*
 * sink: the record output (stdout, an append-mode file, or a FIFO), and
 * the whole protocol of getting records to it.
 *
 * Records are written into the current output slab (from the pool).  The
 * sink writes at one point per loop iteration, its own ev_prepare watcher,
 * plus, while records are being made, as soon as 512 KiB of full slabs are
 * queued (sink_reserve).  Writing releases each slab as soon as it is out,
 * which is what wakes connections waiting for slabs.  Every slab holds
 * whole lines only.
 *
 * Waiting for room: when sink_reserve() finds no slab, the sink itself
 * queues in the pool (one waiter, POOL_OUTPUT) and the caller queues here
 * (sink_wait); when the pool grants the sink a slab, the sink wakes its
 * waiters in order from the loop (an ev_idle watcher), never from inside
 * the pool's release.
 *
 * The loop never blocks on the output:
 * - stdout that is a pipe, FIFO or terminal is reopened through
 *   /proc/self/fd/1, which gives ingestd an open file description of its
 *   own, set non-blocking; stderr keeps its own (blocking) one even when it
 *   was a copy of stdout (2>&1).  Stdout that is a socket (the journal) is
 *   written with MSG_DONTWAIT, which changes no flags at all.  A regular
 *   file is written as it is.
 * - A FIFO `path` is opened non-blocking.  With no reader yet, or after
 *   its reader left (EPIPE), the sink tries to open it again every second;
 *   a reader that stops reading is EAGAIN, as for stdout.
 * While the output takes nothing, records queue until the pool runs dry
 * and reads pause: backpressure, not loss.  A failing write (ENOSPC, EIO)
 * keeps its data and is retried each second.
 *
 * Whole lines, always (tests: test_sink, test_reliability.RotateDuringEnospc):
 * - A regular file that a write left ending inside a line (a short write,
 *   then ENOSPC) is cut back to the end of its last whole line at once
 *   (ftruncate), and that line is written again whole later; so while a
 *   failure lasts, a reader of the live file sees only whole lines.  Between
 *   the short write and the failing write that follows it, within one
 *   flush, the file may end in part of a line.  The cut is made only when
 *   the file ends exactly where this sink's last write left it.
 * - sink_reopen() (rotation) finishes what was committed before it into
 *   the old file as far as that file takes it, cuts the old file back to a
 *   line end if a write failed inside a line, and writes the rest to the
 *   new file: a record never spans two files.
 * - A FIFO whose reader left inside a line sends that line again, whole,
 *   to the next reader.
 * A regular file also gets its page-cache window and preallocation (below).
 */
#ifndef INGESTD_SINK_H
#define INGESTD_SINK_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

struct sink;

/* A writer waiting for output room (embedded in its owner, a connection). */
struct sink_waiter;
/* Called from the loop once the sink has room again; the waiter is no
 * longer queued.  It may call any sink function, including sink_wait(). */
typedef void sink_room_cb(struct sink_waiter *w);

struct sink_waiter {
	struct sink_waiter *next, *prev;   /* O(1) sink_cancel: closing is common */
	sink_room_cb       *room;
	uint8_t             queued;
};

/* Called when the output is gone for good (EPIPE on stdout). */
typedef void sink_fail_cb(void *arg);

/*
 * Opens path ("-": stdout) and starts the sink's watchers on loop.  The
 * pool is borrowed for the sink's lifetime.  Returns NULL with a message in
 * err when the file cannot be opened (a FIFO without a reader is not an
 * error: the sink waits for one).
 */
struct sink *sink_new(struct ev_loop *loop, struct pool *pool, const char *path,
		      sink_fail_cb *fail, void *fail_arg, char *err, size_t errlen);
/*
 * Several workers (worker.h): each worker's connections write into a relay
 * sink (sink_new_relay), which has the API above for reserving and
 * committing records but never touches a file: at the end of each of its
 * loop iterations, and whenever a batch of slabs is full, it hands its slabs
 * to the writer through its relay (relay.h).  The writer (sink_new_writer,
 * in the main thread) owns no pool: it queues the slabs it is handed
 * (sink_adopt), writes them as described above, and hands each back to its
 * worker once written.  So one thread writes the output, slabs stay whole
 * lines, and one connection's records (one worker's slabs, in order) stay
 * in order; a stalled output keeps the workers' slabs, their pools run dry,
 * and their reads pause, as with one loop.
 */
struct relay;

/* The writer of workers' slabs: as sink_new(), for at most `slabs` slabs of
 * slab_size bytes queued at once (every worker's pool together). */
struct sink *sink_new_writer(struct ev_loop *loop, size_t slab_size, size_t slabs,
			     const char *path, sink_fail_cb *fail, void *fail_arg, char *err,
			     size_t errlen);
/* A worker's sink on its loop and pool (both borrowed), handing its slabs to
 * the writer through relay (borrowed).  NULL when out of memory. */
struct sink *sink_new_relay(struct ev_loop *loop, struct pool *pool, struct relay *relay);

struct kafka;
/*
 * A sink whose output is Kafka (kafka.h, borrowed for the sink's lifetime):
 * each record line is produced as one message.  With a pool, as sink_new();
 * without (pool NULL: slab_size and slabs size its queue), the writer of
 * workers' slabs, as sink_new_writer().  When librdkafka's queue is full the
 * sink keeps the rest and waits for kafka's room callback: backpressure
 * exactly as for a file that takes nothing.
 */
struct sink *sink_new_kafka(struct ev_loop *loop, struct pool *pool, size_t slab_size,
			    size_t slabs, struct kafka *kafka, char *err, size_t errlen);
/* A worker's sink: n of its slabs came back from the writer (the worker
 * gave them to the pool; n may be 0 when only relay->writer_blocked
 * changed).  While the output takes data, it holds at most two write
 * batches' worth at a time, queued or with the writer (a bounded queue per
 * worker): records past that wait at sink_reserve(), as for a pool with no
 * slab.  This keeps a worker that decodes faster than the output writes
 * from filling its pool share with output.  While the output takes nothing
 * (relay->writer_blocked) the bound is off: records queue until the pool
 * runs dry and reads pause, exactly as with one loop. */
void sink_relay_returned(struct sink *s, size_t n);
/* The writer: cb(arg, 1) once the output has stopped taking data with
 * records queued (EAGAIN, a failing write, a FIFO without a reader), and
 * cb(arg, 0) once it takes data again or nothing waits; checked once per
 * loop iteration, at the flush. */
typedef void sink_blocked_cb(void *arg, int blocked);
void sink_set_blocked_cb(struct sink *s, sink_blocked_cb *cb, void *arg);
/* The writer: queues slab[off..len), which it owns from now on, and hands it
 * back through `from` once written. */
void sink_adopt(struct sink *s, struct relay *from, uint8_t *slab, size_t off, size_t len);

/*
 * Keeps only about `bytes` of the newest output in the page cache when the
 * output is a regular file: older output is written back and dropped from
 * the cache as new output arrives (0: leave it all to the kernel).  Call
 * after sink_new(); a reopened file gets the same window.
 */
void sink_set_cache_window(struct sink *s, size_t bytes);
/*
 * When the output is a regular file, allocates its disk blocks `bytes` at a
 * time ahead of the writes (fallocate, the file's size unchanged), and gives
 * back what is left unused when the file is closed or reopened (0: off).
 * Call after sink_new().
 */
void sink_set_preallocate(struct sink *s, size_t bytes);
/* Releases every slab the sink holds (unwritten data is dropped: flush first). */
void sink_free(struct sink *s);

/*
 * Returns room for `need` bytes (need <= slab size) at the end of the
 * output; moving on from a full slab may write full slabs first (which may
 * release slabs to waiters).  Returns NULL when a new slab is needed and the
 * pool has none: the caller then queues with sink_wait() and is called back
 * once there is room.  The room is borrowed until the next sink call.
 */
char *sink_reserve(struct sink *s, size_t need);
/* Bytes of room after a successful sink_reserve() (at least its need). */
size_t sink_room(const struct sink *s);
/* Marks n bytes of the reserved room as written: `records` whole lines. */
void sink_commit(struct sink *s, size_t n, size_t records);
/* Queues w (borrowed until its callback runs or sink_cancel) after
 * sink_reserve() returned NULL.  Queuing a queued waiter does nothing. */
void sink_wait(struct sink *s, struct sink_waiter *w);
/* Removes w from the queue if it is there (its owner is closing). */
void sink_cancel(struct sink *s, struct sink_waiter *w);

/* Writes what is queued, as far as the output takes it now.  The sink's
 * prepare watcher calls it once per loop iteration; callers need not. */
void sink_flush(struct sink *s);
/* 1 when nothing is waiting to be written. */
int sink_empty(const struct sink *s);
/* 1 while the output's last write failed, or a FIFO has no reader. */
int sink_failing(const struct sink *s);
/*
 * Seconds the output has taken nothing while records were waiting for it
 * (0 when nothing waits), measured on clock_mono() time `now`.
 */
double sink_stalled_seconds(const struct sink *s, double now);
/* Writers queued for room (sink_wait). */
size_t sink_waiting(const struct sink *s);
/* Bytes queued and not yet written. */
size_t sink_pending(const struct sink *s);

/*
 * Rotation: reopens the output by path (SIGHUP), never blocking on it.  A
 * regular file first gets what was committed before the call, as far as it
 * takes it (see "Whole lines" above).  A FIFO is reopened at the next line
 * boundary: 1 is returned when that is still to come.  Returns 0 when
 * reopened, or -1 with errno when the path cannot be opened (the old file
 * is kept).  Does nothing for stdout (0).
 */
int sink_reopen(struct sink *s);

/* clock_mono() when the output was last reopened (rotation), 0 if never. */
double sink_reopened_at(const struct sink *s);

#endif
