/*
 * sink: the record output (stdout or an append-mode file).
 *
 * Records are written into the current output slab (from the pool).  Full
 * slabs are written as soon as 512 KiB of them are queued (from
 * sink_reserve), the rest by sink_flush() at the end of a loop iteration;
 * while the output cannot take more, full slabs queue here, in order.
 * Writing uses writev and releases each slab as soon as it is out, which is
 * what wakes connections waiting for slabs.  Every slab holds whole lines
 * only, so a file never shows half a line between two writes.  A slow
 * reader of stdout (EAGAIN) arms a write watcher; the queue then grows
 * until the pool runs dry and reads pause: backpressure, not loss.  A
 * failing output (ENOSPC, EIO) keeps its data and retries each second.
 * A regular file also gets its page-cache window and preallocation (below).
 */
#ifndef INGESTD_SINK_H
#define INGESTD_SINK_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

struct sink;

/* Called when the output is gone for good (EPIPE on stdout). */
typedef void sink_fail_cb(void *arg);

/*
 * Opens path ("-": stdout).  The pool is borrowed for the sink's lifetime.
 * Returns NULL with a message in err when the file cannot be opened.
 */
struct sink *sink_new(struct ev_loop *loop, struct pool *pool, const char *path,
		      sink_fail_cb *fail, void *fail_arg, char *err, size_t errlen);
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
 * output; moving on from a full slab writes it first (which may release
 * slabs to waiters).  Returns NULL when a new slab is needed and the pool
 * has none: the caller then waits as a POOL_OUTPUT waiter and hands the
 * granted slab to sink_adopt().  The room stays valid until the next sink
 * call.
 */
char *sink_reserve(struct sink *s, size_t need);
/* Bytes of room after a successful sink_reserve() (at least its need). */
size_t sink_room(const struct sink *s);
/* Marks n bytes of the reserved room as written: `records` whole lines. */
void sink_commit(struct sink *s, size_t n, size_t records);
/* Takes ownership of a slab granted by the pool for output. */
void sink_adopt(struct sink *s, void *slab);

/* Writes what is queued, as far as the output takes it now. */
void sink_flush(struct sink *s);
/* 1 when nothing is waiting to be written. */
int sink_empty(const struct sink *s);
/* 1 while the output's last write failed (it is being retried). */
int sink_failing(const struct sink *s);
/* Bytes queued and not yet written. */
size_t sink_pending(const struct sink *s);

/*
 * Writes everything queued (waiting for the output if it must), then
 * reopens the file by path, so a rotated file is left complete.  Returns
 * 0, or -1 with errno when the new file cannot be opened (the old one is
 * kept).  Does nothing for stdout.
 */
int sink_reopen(struct sink *s);

#endif
