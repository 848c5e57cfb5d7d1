/*
 * sink: see sink.h.
 *
 * State: `cur` is the slab being filled ([cur_off, cur_len) not yet
 * written); `q` is a ring of full slabs, oldest first, each with its own
 * written offset.  Writes go out oldest first, so the output order is the
 * order records were committed.  The ring can hold every slab the pool
 * owns, so queuing never fails.  Each slab starts with a whole line, so the
 * oldest unwritten byte is at a line boundary exactly when it is at the
 * start of its slab or follows a '\n' (at_line_start).
 *
 * Why the output waits where it does:
 *   wio     armed on EAGAIN; writable again -> the next flush writes.
 *   retry   armed after a failed write, or while a FIFO has no reader;
 *           fires a second later -> the next flush tries again.
 *   flush   the prepare watcher, once per loop iteration, plus full batches
 *           written from sink_reserve.
 *   wake    an idle watcher started by the pool's grant; adopts the slab
 *           and calls the sink's waiters from the loop.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "kafka.h"
#include "relay.h"
#include "stats.h"

/* Most bytes one page-cache window step writes back or drops (file_reset). */
#define SINK_WINDOW_STEP (1u << 20)

/* Bytes of full slabs queued before sink_reserve() writes them (see there). */
#define SINK_WRITE_BATCH (512u << 10)

/* A worker's sink: write batches the writer may hold for it at once.  Two
 * keep the writer busy with one while the worker fills the next; more would
 * only let a worker that decodes faster than the output writes take its
 * whole pool share into the queue. */
#define SINK_RELAY_BATCHES 2

struct qslab {
	uint8_t      *slab;
	size_t        off, len;
	struct relay *from;   /* a worker's slab (writer mode), or NULL: s->pool's */
};

struct sink {
	struct ev_loop *loop;
	struct pool    *pool;        /* NULL for the writer of workers' slabs */
	struct relay   *relay;       /* a worker's sink: slabs go to the writer */
	size_t          relay_out;   /* ... slabs handed to it, not yet back */
	size_t          relay_limit; /* ... the most it may hold (relay_blocked) */
	int             relay_unwoken; /* ... pushed slabs the writer was not woken for */
	sink_blocked_cb *blocked_cb; /* the writer: tells the workers (sink_set_blocked_cb) */
	void           *blocked_arg;
	int             blocked;     /* ... as last told */
	char           *path;        /* NULL for stdout (or a relay) */
	int             fd;          /* -1: a FIFO path waiting for a reader */
	int             own_fd;      /* fd is ours to close (not fd 1) */
	int             use_send;    /* stdout is a socket: sendmsg(MSG_DONTWAIT) */
	int             regular;     /* fd is a regular file */
	int             append;      /* ... opened with O_APPEND */
	int             fifo;        /* path names a FIFO */
	int             reopen_due;  /* sink_reopen() waits for a line boundary */
	double          reopened_at; /* clock_mono() of the last reopen; 0: none */
	size_t          slab_size;
	size_t          batch;       /* full slabs written at once: SINK_WRITE_BATCH, >= 1 */

	uint8_t        *cur;
	size_t          cur_off, cur_len;

	struct qslab   *q;
	size_t          qcap, qhead, qlen;

	ev_io           wio;
	ev_timer        retry;
	ev_prepare      flush;
	ev_idle         wake;
	struct pool_waiter pw;       /* the sink's place in the pool's OUTPUT queue */
	uint8_t        *granted;     /* slab the pool handed over, not yet adopted */
	struct sink_waiter *wait_head, *wait_tail;
	size_t          nwaiting;    /* in that queue */
	int             failing;     /* last write failed (logged once), or no reader */

	/* Stall measure (sink_stalled_seconds), clock_mono() seconds. */
	double          progress_at; /* last write that took bytes, or new data after empty */
	int             was_empty;   /* empty at the end of the last flush */

	/* Regular files only: file_end is just past what this sink has written
	 * (read again from the file now and then: see file_resync). */
	off_t           file_end;
	/* Page-cache window (sink_set_cache_window). */
	size_t          window, chunk;   /* 0: off */
	off_t           wb_next;         /* writeback started up to here */
	/* Preallocation (sink_set_preallocate). */
	size_t          prealloc_conf;   /* as configured; 0: off */
	size_t          prealloc;        /* 0: off for this file */
	off_t           alloc_end;       /* the next step is due when writes pass this */
	int             alloc_held;      /* blocks may be allocated past the end */
	sink_fail_cb   *fail;
	void           *fail_arg;
	struct ratelimit rl;
	struct kafka   *kafka;       /* the output is Kafka, else NULL */
	int             kafka_waiting;  /* ... whose queue was full: its room callback ends it */
};

static void sink_on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void sink_on_retry(struct ev_loop *loop, ev_timer *w, int revents);
static void sink_on_flush(struct ev_loop *loop, ev_prepare *w, int revents);
static void sink_on_wake(struct ev_loop *loop, ev_idle *w, int revents);
static void sink_on_grant(struct pool_waiter *w, void *slab);

static const char *
out_name(const struct sink *s)
{
	return s->path ? s->path : "stdout";
}

/* Non-blocking: a FIFO must not hold the loop in open() until a reader
 * comes; O_NONBLOCK means nothing to a regular file's writes. */
static int
open_output(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
}

/* Starts the bookkeeping of a (newly opened) output at the file's end. */
static void
file_reset(struct sink *s)
{
	struct stat st;

	s->chunk = 0;
	s->prealloc = 0;
	s->regular = 0;
	if (s->fd < 0 || fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	s->regular = 1;
	s->append = (fcntl(s->fd, F_GETFL) & O_APPEND) != 0;
	/* Only a file ingestd opens itself: stdout's file belongs to whoever
	 * redirected it, and may be shared with other writers. */
	s->prealloc = s->path != NULL ? s->prealloc_conf : 0;
	s->file_end = s->wb_next = s->alloc_end = st.st_size;
	s->alloc_held = 0;
	if (s->window == 0)
		return;
	/* Each step runs inside the event loop: writeback of 16 MiB at once
	 * held it for milliseconds (p99 latency at 100k/s: 1.2-2.9 ms with no
	 * window, 4-6 ms with 16 MiB steps, 2.6 ms with 1 MiB), so steps
	 * stay at 1 MiB, or a quarter of a smaller window. */
	s->chunk = s->window / 4 < SINK_WINDOW_STEP ? s->window / 4 : SINK_WINDOW_STEP;
}

/*
 * After n more bytes reached the file: every `chunk` bytes, start writing
 * the newest chunk back to disk, and drop from the page cache the chunk
 * that has left the window (its writeback began a window ago).
 *
 * Why: output is written once and read, if at all, by tailers near its
 * end.  Left to the kernel, the page cache fills with it until writeback
 * and reclaim catch up; dropped behind the window, the same few pages are
 * reused for new output, so ingestd's cache footprint stays near `window`
 * and, on a VM whose free memory goes back to its host, new output does not
 * pay a host fault per page (measured: 2.6x the records/s).  Advisory:
 * pages still dirty or under writeback are skipped by the kernel.
 */
/*
 * Reads the file's end again: the window and preallocation follow the file
 * ingestd believes it is appending to, and a file truncated under it
 * (copytruncate rotation) or appended to by someone else has moved on.
 * Called once per window step or preallocation step, not per write.
 * Returns the size, or -1 when fstat fails (bookkeeping unchanged).
 */
static off_t
file_resync(struct sink *s)
{
	struct stat st;

	if (fstat(s->fd, &st) != 0)
		return -1;
	if (st.st_size < s->wb_next)
		s->wb_next = st.st_size;   /* truncated: the window starts over */
	s->file_end = st.st_size;
	return st.st_size;
}

static void
window_advance(struct sink *s)
{
	if (s->file_end - s->wb_next < (off_t)s->chunk || file_resync(s) < 0)
		return;
	while (s->file_end - s->wb_next >= (off_t)s->chunk) {
		if (sync_file_range(s->fd, s->wb_next, (off_t)s->chunk, SYNC_FILE_RANGE_WRITE) != 0) {
			log_debug("output %s: sync_file_range: %s; page-cache window off",
				  s->path ? s->path : "stdout", strerror(errno));
			s->chunk = 0;
			return;
		}
		s->wb_next += (off_t)s->chunk;
		if (s->wb_next - (off_t)s->window >= (off_t)s->chunk)
			posix_fadvise(s->fd, s->wb_next - (off_t)s->window - (off_t)s->chunk,
				      (off_t)s->chunk, POSIX_FADV_DONTNEED);
	}
}

static void prealloc_release(struct sink *s);

/*
 * Before n more bytes go to the file: when they would pass the last step,
 * allocate the next `prealloc` bytes past the file's end (fallocate, size
 * unchanged).
 *
 * Why: appending into blocks the filesystem has not allocated makes every
 * page of every write reserve space and be mapped at writeback (ext4's
 * delayed allocation); into allocated blocks it does not.  Measured on
 * ext4, appending 3.6 GB in 128 KiB writes: 1.8 -> 1.3 s of system time.
 * The file's real end is read again here (file_resync), so a file
 * truncated under ingestd gets its preallocation back.  A disk
 * with less than four steps free is left alone: preallocation must never
 * be what fills it.
 */
static void
prealloc_ahead(struct sink *s, size_t n)
{
	struct statvfs vfs;
	off_t want = (off_t)(n + s->prealloc);
	off_t size;

	if (s->file_end + (off_t)n <= s->alloc_end || (size = file_resync(s)) < 0)
		return;
	s->alloc_end = size + want;
	if (fstatvfs(s->fd, &vfs) == 0 && vfs.f_frsize > 0 &&
	    vfs.f_bavail / 4 < (uint64_t)want / vfs.f_frsize + 1)
		return;                    /* nearly full: try again a step later */
	s->alloc_held = 1;             /* even a failed call may leave some */
	if (fallocate(s->fd, FALLOC_FL_KEEP_SIZE, size, want) != 0) {
		/* Not supported here, or no room: give back what a partial
		 * allocation left, and write on without, until the file is
		 * reopened. */
		log_debug("output %s: fallocate: %s; preallocation off for this file",
			  s->path, strerror(errno));
		prealloc_release(s);
		s->prealloc = 0;
	}
}

/*
 * Gives back the blocks allocated past the file's end: a file ingestd
 * leaves must not keep up to `prealloc` bytes of disk it does not use.
 * Truncating to the current size is what frees them on ext4 (which does not
 * punch holes past the end); punching is what frees them elsewhere (XFS
 * keeps preallocated blocks through a truncate that changes nothing).
 * Only when the file ends where this sink's last write left it: if anyone
 * else appended or truncated meanwhile, truncating could cut their data or
 * grow the file back, so the blocks are left to whoever changed it.  (A
 * write landing between the fstat and the truncate is not ruled out; the
 * file is ingestd's own, and this runs only at close and reopen.)
 */
static void
prealloc_release(struct sink *s)
{
	struct stat st;

	if (!s->alloc_held)
		return;
	s->alloc_held = 0;
	if (fstat(s->fd, &st) != 0 || st.st_size != s->file_end)
		return;
	if (ftruncate(s->fd, st.st_size) != 0 ||
	    (s->alloc_end > st.st_size &&
	     fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size,
		       s->alloc_end - st.st_size) != 0))
		log_debug("output %s: giving back preallocated blocks: %s", s->path,
			  strerror(errno));
}

void
sink_set_cache_window(struct sink *s, size_t bytes)
{
	s->window = bytes;
	file_reset(s);
}

void
sink_set_preallocate(struct sink *s, size_t bytes)
{
	s->prealloc_conf = bytes;
	file_reset(s);
}


/*
 * Stdout as the sink writes it (see sink.h): fd 1 itself for a regular file
 * or a socket, else a description of its own, made non-blocking.
 */
static void
setup_stdout(struct sink *s)
{
	struct stat st;
	int fd;

	s->fd = STDOUT_FILENO;
	if (fstat(STDOUT_FILENO, &st) != 0 || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		s->use_send = 1;
		return;
	}
	fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_warn("output: cannot open stdout again through /proc/self/fd/1; writing "
			 "to it may block the daemon while its reader stalls");
		return;
	}
	s->fd = fd;
	s->own_fd = 1;
}

/* What every kind of sink shares: fields, the queue, the watchers (not
 * started).  `slabs` is the most slabs that can be queued at once. */
static struct sink *
sink_alloc(struct ev_loop *loop, struct pool *pool, size_t slab_size, size_t slabs)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->pool = pool;
	s->fd = -1;
	s->slab_size = slab_size;
	s->batch = s->slab_size < SINK_WRITE_BATCH ? SINK_WRITE_BATCH / s->slab_size : 1;
	s->rl = (struct ratelimit)RATELIMIT_INIT(10.0, 1);
	s->pw.grant = sink_on_grant;
	s->was_empty = 1;
	s->qcap = slabs + 1;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (s->q == NULL) {
		free(s);
		return NULL;
	}
	ev_timer_init(&s->retry, sink_on_retry, 1.0, 0.0);
	ev_prepare_init(&s->flush, sink_on_flush);
	ev_idle_init(&s->wake, sink_on_wake);
	s->wio.data = s;
	s->retry.data = s;
	s->flush.data = s;
	s->wake.data = s;
	return s;
}

/* Opens path for a sink that writes (sink_new, sink_new_writer). */
static struct sink *
sink_open(struct sink *s, const char *path, sink_fail_cb *fail, void *fail_arg, char *err,
	  size_t errlen)
{
	struct stat st;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fail = fail;
	s->fail_arg = fail_arg;
	if (strcmp(path, "-") == 0) {
		setup_stdout(s);
	} else {
		s->path = strdup(path);
		s->fifo = stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
		s->fd = s->path ? open_output(path) : -1;
		s->own_fd = 1;
		if (s->fd < 0 && !(s->path != NULL && s->fifo && errno == ENXIO)) {
			snprintf(err, errlen, "%s: cannot open for append: %s", path, strerror(errno));
			s->fd = -1;
			sink_free(s);
			return NULL;
		}
		if (s->fd < 0)
			log_warnx("output %s: a FIFO with no reader yet; records wait for one",
				  path);
	}
	ev_io_init(&s->wio, sink_on_writable, s->fd < 0 ? 0 : s->fd, EV_WRITE);
	s->wio.data = s;
	ev_prepare_start(s->loop, &s->flush);
	file_reset(s);
	return s;
}

struct sink *
sink_new(struct ev_loop *loop, struct pool *pool, const char *path, sink_fail_cb *fail,
	 void *fail_arg, char *err, size_t errlen)
{
	/* Every slab the pool can hand out fits in the queue at once. */
	return sink_open(sink_alloc(loop, pool, pool_slab_size(pool), pool_capacity(pool)), path,
			 fail, fail_arg, err, errlen);
}

struct sink *
sink_new_writer(struct ev_loop *loop, size_t slab_size, size_t slabs, const char *path,
		sink_fail_cb *fail, void *fail_arg, char *err, size_t errlen)
{
	return sink_open(sink_alloc(loop, NULL, slab_size, slabs), path, fail, fail_arg, err,
			 errlen);
}

struct sink *
sink_new_relay(struct ev_loop *loop, struct pool *pool, struct relay *relay)
{
	struct sink *s = sink_alloc(loop, pool, pool_slab_size(pool), pool_capacity(pool));

	if (s == NULL)
		return NULL;
	s->relay = relay;
	s->relay_limit = SINK_RELAY_BATCHES * s->batch + 1;
	ev_io_init(&s->wio, sink_on_writable, 0, EV_WRITE);   /* never started */
	s->wio.data = s;
	ev_prepare_start(loop, &s->flush);
	return s;
}

static void
sink_on_kafka_room(void *arg)
{
	struct sink *s = arg;

	s->kafka_waiting = 0;
	sink_flush(s);
}

struct sink *
sink_new_kafka(struct ev_loop *loop, struct pool *pool, size_t slab_size, size_t slabs,
	       struct kafka *kafka, char *err, size_t errlen)
{
	struct sink *s = pool != NULL ?
			 sink_alloc(loop, pool, pool_slab_size(pool), pool_capacity(pool)) :
			 sink_alloc(loop, NULL, slab_size, slabs);

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->kafka = kafka;
	kafka_set_room_cb(kafka, sink_on_kafka_room, s);
	ev_io_init(&s->wio, sink_on_writable, 0, EV_WRITE);   /* never started */
	s->wio.data = s;
	ev_prepare_start(loop, &s->flush);
	return s;
}

void
sink_adopt(struct sink *s, struct relay *from, uint8_t *slab, size_t off, size_t len)
{
	struct qslab *e = &s->q[(s->qhead + s->qlen) % s->qcap];

	e->slab = slab;
	e->off = off;
	e->len = len;
	e->from = from;
	s->qlen++;
}

void
sink_free(struct sink *s)
{
	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->wio);
	ev_timer_stop(s->loop, &s->retry);
	ev_prepare_stop(s->loop, &s->flush);
	ev_idle_stop(s->loop, &s->wake);
	if (s->pool != NULL)
		pool_cancel(s->pool, &s->pw);
	while (s->qlen > 0) {
		/* A worker's slab is left to its pool, which frees its arena whole
		 * after this (the worker has stopped). */
		if (s->q[s->qhead].from == NULL)
			pool_give_back(s->pool, s->q[s->qhead].slab);
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
	}
	if (s->cur != NULL)
		pool_give_back(s->pool, s->cur);
	if (s->granted != NULL)
		pool_give_back(s->pool, s->granted);
	if (s->fd >= 0) {
		prealloc_release(s);
		if (s->own_fd)
			close(s->fd);
	}
	free(s->path);
	free(s->q);
	free(s);
}

/* Moves the current slab to the queue; it is full as far as records go. */
static void
queue_cur(struct sink *s)
{
	struct qslab *e = &s->q[(s->qhead + s->qlen) % s->qcap];

	e->slab = s->cur;
	e->off = s->cur_off;
	e->len = s->cur_len;
	e->from = NULL;
	s->qlen++;
	s->cur = NULL;
	s->cur_off = s->cur_len = 0;
}

static void drain(struct sink *s);

/* Wakes the writer for what this worker's sink pushed since the last time:
 * at the end of each loop iteration (the flush), and when it must wait for
 * slabs back.  Pushes in between do not wake it, so on a busy core the
 * writer is switched to once per round of slabs, not per batch. */
static void
relay_wake_writer(struct sink *s)
{
	if (s->relay_unwoken) {
		s->relay_unwoken = 0;
		relay_wake(s->relay);
	}
}

/* A worker's sink holds (queued, or with the writer) as many slabs as it
 * may: new records wait until the writer gives some back. */
static int
relay_blocked(const struct sink *s)
{
	return s->relay != NULL && s->relay_out + s->qlen >= s->relay_limit &&
	       !atomic_load_explicit(&s->relay->writer_blocked, memory_order_relaxed);
}

void
sink_set_blocked_cb(struct sink *s, sink_blocked_cb *cb, void *arg)
{
	s->blocked_cb = cb;
	s->blocked_arg = arg;
}

void
sink_relay_returned(struct sink *s, size_t n)
{
	s->relay_out -= n;
	if (s->nwaiting > 0 && !relay_blocked(s) && !s->pw.queued)
		ev_idle_start(s->loop, &s->wake);
}

char *
sink_reserve(struct sink *s, size_t need)
{
	if (s->cur != NULL && s->slab_size - s->cur_len >= need)
		return (char *)s->cur + s->cur_len;
	if (s->cur != NULL) {
		if (s->cur_len == s->cur_off) {
			/* Everything in it is written: start it over. */
			s->cur_off = s->cur_len = 0;
			return (char *)s->cur;
		}
		queue_cur(s);
		/*
		 * Write full slabs now rather than at the end of the loop
		 * iteration: one read can make megabytes of records, and
		 * written while still in cache they cost the kernel's copy
		 * less; the slabs then come straight back for reuse.  But not
		 * one by one: each write to a file has a fixed cost besides
		 * the copy (locking, timestamps, the journal), and into ext4,
		 * 512 KiB writes took 0.6 s less system time per 3.8 GB than
		 * 128 KiB ones.
		 */
		if (s->qlen >= s->batch)
			drain(s);
	}
	if (s->pw.queued)
		return NULL;      /* already waiting: no overtaking the queue */
	if (relay_blocked(s)) {
		relay_wake_writer(s);   /* the caller waits for slabs it has pushed */
		return NULL;
	}
	if (s->granted != NULL) {
		/* Granted while the batch above was written: take it now. */
		s->cur = s->granted;
		s->granted = NULL;
		return (char *)s->cur;
	}
	s->cur = pool_checkout(s->pool, POOL_OUTPUT);
	if (s->cur == NULL) {
		STATS_INC(slab_waits);
		pool_wait(s->pool, &s->pw, POOL_OUTPUT);
		return NULL;
	}
	return (char *)s->cur;
}

size_t
sink_room(const struct sink *s)
{
	return s->slab_size - s->cur_len;
}

void
sink_commit(struct sink *s, size_t n, size_t records)
{
	s->cur_len += n;
	STATS_ADD(records_out, records);
}

void
sink_wait(struct sink *s, struct sink_waiter *w)
{
	if (w->queued)
		return;
	w->queued = 1;
	w->next = NULL;
	w->prev = s->wait_tail;
	s->nwaiting++;
	if (s->wait_tail != NULL)
		s->wait_tail->next = w;
	else
		s->wait_head = w;
	s->wait_tail = w;
	/* Room may have come back since the caller's sink_reserve(). */
	if (!s->pw.queued && !relay_blocked(s))
		ev_idle_start(s->loop, &s->wake);
}

void
sink_cancel(struct sink *s, struct sink_waiter *w)
{
	if (!w->queued)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		s->wait_head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		s->wait_tail = w->prev;
	s->nwaiting--;
	w->next = w->prev = NULL;
	w->queued = 0;
}

/* Called from inside pool_release(): only note the slab; the loop adopts it. */
static void
sink_on_grant(struct pool_waiter *w, void *slab)
{
	struct sink *s = (struct sink *)(void *)((char *)w - offsetof(struct sink, pw));

	s->granted = slab;
	ev_idle_start(s->loop, &s->wake);
}

static void
sink_on_wake(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct sink *s = w->data;
	size_t n = 0;

	(void)revents;
	ev_idle_stop(loop, w);
	if (s->granted != NULL) {
		if (s->cur != NULL)
			queue_cur(s);
		s->cur = s->granted;
		s->cur_off = s->cur_len = 0;
		s->granted = NULL;
	}
	/* Each waiter once: one that finds no room again queues at the tail,
	 * and the sink waits in the pool again. */
	n = s->nwaiting;
	while (n-- > 0 && s->wait_head != NULL && !s->pw.queued && !relay_blocked(s)) {
		struct sink_waiter *x = s->wait_head;

		sink_cancel(s, x);   /* off the queue before its callback */
		x->room(x);
	}
}

int
sink_empty(const struct sink *s)
{
	return s->qlen == 0 && s->cur_len == s->cur_off;
}

int
sink_failing(const struct sink *s)
{
	return s->failing;
}

size_t
sink_waiting(const struct sink *s)
{
	return s->nwaiting;
}

size_t
sink_pending(const struct sink *s)
{
	size_t n = s->cur_len - s->cur_off;

	for (size_t i = 0; i < s->qlen; i++) {
		const struct qslab *e = &s->q[(s->qhead + i) % s->qcap];
		n += e->len - e->off;
	}
	return n;
}

double
sink_stalled_seconds(const struct sink *s, double now)
{
	/* was_empty: the data came after the last flush and has not been
	 * offered to the output yet. */
	if (sink_empty(s) || s->was_empty || now < s->progress_at)
		return 0;
	return now - s->progress_at;
}

/* The oldest unwritten byte: its slab and a pointer to its offset there. */
static uint8_t *
head_of(struct sink *s, size_t **off)
{
	if (s->qlen > 0) {
		*off = &s->q[s->qhead].off;
		return s->q[s->qhead].slab;
	}
	*off = &s->cur_off;
	return s->cur;
}

/* Bytes of the line being written that are already out (0: at a line start). */
static size_t
line_written(struct sink *s)
{
	size_t *off;
	uint8_t *b = head_of(s, &off);
	uint8_t *nl;

	if (b == NULL || *off == 0 || b[*off - 1] == '\n')
		return 0;
	nl = memrchr(b, '\n', *off);
	return nl == NULL ? *off : *off - (size_t)(nl + 1 - b);
}

/*
 * Takes back the part of a line already written, so that the line goes out
 * again whole: for a regular file, cuts the file back to its last line end
 * (only when it ends where this sink left it: nobody else's data is cut);
 * for a pipe whose reader left, the next reader gets the whole line.
 * Returns 0 when the output is at a line boundary afterwards.
 */
static int
rewind_line(struct sink *s)
{
	size_t r = line_written(s), *off;
	struct stat st;

	if (r == 0)
		return 0;
	if (s->regular) {
		off_t to = s->file_end - (off_t)r;

		if (fstat(s->fd, &st) != 0 || st.st_size != s->file_end ||
		    (!s->append && lseek(s->fd, 0, SEEK_CUR) != s->file_end) ||
		    ftruncate(s->fd, to) != 0 ||
		    (!s->append && lseek(s->fd, to, SEEK_SET) != to)) {
			log_warn("output %s: cannot cut a partly written line back; the file "
				 "ends inside a line until its rest is written", out_name(s));
			return -1;
		}
		s->file_end = to;
		STATS_INC(output_rewinds);
	}
	head_of(s, &off);
	*off -= r;
	return 0;
}

/* Accounts n written bytes against the oldest data, releasing whole slabs. */
static void
advance(struct sink *s, size_t n)
{
	while (n > 0 && s->qlen > 0) {
		struct qslab *e = &s->q[s->qhead];
		size_t left = e->len - e->off;

		if (n < left) {
			e->off += n;
			return;
		}
		n -= left;
		uint8_t *slab = e->slab;
		struct relay *from = e->from;
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		if (from != NULL)
			relay_return(from, slab);
		else
			pool_give_back(s->pool, slab);
	}
	s->cur_off += n;
	if (s->cur_off == s->cur_len)
		s->cur_off = s->cur_len = 0;
}

#define SINK_IOV 64

/* One write of what is queued.  Returns bytes written, 0 when there was
 * nothing, -1 with errno on error. */
static ssize_t
write_some(struct sink *s)
{
	struct iovec iov[SINK_IOV];
	int n = 0;
	ssize_t w;

	for (size_t i = 0; i < s->qlen && n < SINK_IOV; i++) {
		struct qslab *e = &s->q[(s->qhead + i) % s->qcap];
		iov[n].iov_base = e->slab + e->off;
		iov[n].iov_len = e->len - e->off;
		n++;
	}
	if (n < SINK_IOV && s->cur_len > s->cur_off) {
		iov[n].iov_base = s->cur + s->cur_off;
		iov[n].iov_len = s->cur_len - s->cur_off;
		n++;
	}
	if (n == 0)
		return 0;
	if (s->prealloc != 0) {
		size_t total = 0;
		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		prealloc_ahead(s, total);
	}
	do {
		if (s->use_send) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			w = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			w = writev(s->fd, iov, n);
		}
	} while (w < 0 && errno == EINTR);
	if (w > 0) {
		STATS_ADD(bytes_out, (uint64_t)w);
		STATS_INC(output_writes);
		s->file_end += w;
		if (s->chunk != 0)
			window_advance(s);
	}
	return w;
}

static int do_reopen(struct sink *s);

/* Switches to the new file once a pending reopen is at a line boundary. */
static void
reopen_if_due(struct sink *s)
{
	if (s->reopen_due && line_written(s) == 0) {
		s->reopen_due = 0;
		if (do_reopen(s) < 0)
			log_warn("output %s: cannot reopen; still writing the old one", s->path);
		else
			log_info("output %s: reopened", s->path);
	}
}

static void
arm_retry(struct sink *s)
{
	ev_timer_stop(s->loop, &s->retry);
	ev_timer_set(&s->retry, 1.0, 0.0);
	ev_timer_start(s->loop, &s->retry);
}

/* A FIFO path without a descriptor: try to open it for the reader that may
 * have come.  0 when open. */
static int
fifo_open(struct sink *s)
{
	int fd = open_output(s->path);
	uint64_t suppressed;

	if (fd < 0) {
		if (!s->failing || ratelimit_allow(&s->rl, clock_mono(), &suppressed))
			log_warn("output %s: cannot open the FIFO (no reader?); keeping %zu bytes "
				 "and trying every second", s->path, sink_pending(s));
		s->failing = 1;
		arm_retry(s);
		return -1;
	}
	s->fd = fd;
	ev_io_set(&s->wio, fd, EV_WRITE);
	file_reset(s);
	log_info("output %s: a reader opened the FIFO; writing", s->path);
	s->failing = 0;
	return 0;
}

static void
handle_error(struct sink *s, int err)
{
	uint64_t suppressed;

	STATS_INC(output_errors);
	if ((err == EPIPE || err == ECONNRESET) && s->fifo) {
		/* The FIFO's reader left: the next one gets whole lines. */
		rewind_line(s);
		close(s->fd);
		s->fd = -1;
		s->failing = 1;
		if (ratelimit_allow(&s->rl, clock_mono(), &suppressed))
			log_warnx("output %s: the FIFO's reader went away; keeping %zu bytes for "
				  "the next one (trying every second)", s->path, sink_pending(s));
		arm_retry(s);
		return;
	}
	if (err == EPIPE || err == ECONNRESET) {
		log_err("output: the reader went away (EPIPE); %zu bytes not written",
			sink_pending(s));
		if (s->fail != NULL)
			s->fail(s->fail_arg);
		return;
	}
	rewind_line(s);
	if (!s->failing || ratelimit_allow(&s->rl, clock_mono(), &suppressed)) {
		errno = err;
		log_warn("output %s: write failed, keeping %zu bytes and retrying every second",
			 out_name(s), sink_pending(s));
	}
	s->failing = 1;
	arm_retry(s);
}

/*
 * A worker's sink: hands every queued (full) slab to the writer, and the one
 * being filled if it holds records and nothing else of this sink is with
 * the writer.  Otherwise the writer is busy with this sink's records anyway,
 * and gives a slab back when done, which runs this again: the partly filled
 * slab goes out then, fuller, in one hand-off instead of one per loop
 * iteration (each hand-off wakes the other thread).
 */
static void
relay_all(struct sink *s)
{
	int writer_idle = s->relay_out == 0 && s->qlen == 0;

	while (s->qlen > 0) {
		struct qslab *e = &s->q[s->qhead];

		relay_push(s->relay, e->slab, e->off, e->len);
		s->relay_out++;
		s->relay_unwoken = 1;
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
	}
	if (writer_idle && s->cur != NULL && s->cur_len > s->cur_off) {
		relay_push(s->relay, s->cur, s->cur_off, s->cur_len);
		s->relay_out++;
		s->relay_unwoken = 1;
		s->cur = NULL;
		s->cur_off = s->cur_len = 0;
	}
}

/*
 * Kafka: produces the whole lines at the head of the queue (the oldest
 * slab, or the current one), one message each.  Returns the bytes taken,
 * 0 when there was nothing, -1 (EAGAIN) when the producer's queue took none.
 */
static ssize_t
produce_some(struct sink *s)
{
	const uint8_t *buf;
	size_t off, len, done = 0;

	if (s->qlen > 0) {
		const struct qslab *e = &s->q[s->qhead];

		buf = e->slab;
		off = e->off;
		len = e->len;
	} else if (s->cur_len > s->cur_off) {
		buf = s->cur;
		off = s->cur_off;
		len = s->cur_len;
	} else {
		return 0;
	}
	while (off + done < len) {
		const char *line = (const char *)buf + off + done;
		const char *nl = memchr(line, '\n', len - off - done);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - off - done;

		if (kafka_produce(s->kafka, line, n) < 0)
			break;
		done += n + (nl != NULL);
	}
	if (done == 0) {
		errno = EAGAIN;
		return -1;
	}
	STATS_ADD(bytes_out, (uint64_t)done);
	STATS_INC(output_writes);
	return (ssize_t)done;
}

static void
drain_kafka(struct sink *s)
{
	if (s->kafka_waiting)
		return;   /* kafka's room callback ends the wait */
	for (;;) {
		ssize_t w = produce_some(s);

		if (w == 0)
			return;
		if (w < 0) {
			s->kafka_waiting = 1;
			return;
		}
		s->progress_at = clock_mono();
		advance(s, (size_t)w);
	}
}

/* Writes as long as the output takes data; arms a watcher when it stops. */
static void
drain(struct sink *s)
{
	if (s->relay != NULL) {
		relay_all(s);
		return;
	}
	if (s->kafka != NULL) {
		drain_kafka(s);
		return;
	}
	if (ev_is_active(&s->wio) || ev_is_active(&s->retry))
		return;  /* waiting for the output; its watcher ends the wait */
	if (s->fd < 0 && fifo_open(s) < 0)
		return;
	for (;;) {
		ssize_t w = write_some(s);

		if (w == 0)
			return;
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(s->loop, &s->wio);
				return;
			}
			handle_error(s, errno);
			return;
		}
		s->progress_at = clock_mono();
		if (s->failing) {
			log_info("output %s: writing again", out_name(s));
			s->failing = 0;
		}
		advance(s, (size_t)w);
		reopen_if_due(s);
	}
}

void
sink_flush(struct sink *s)
{
	int empty = sink_empty(s);

	if (s->was_empty && !empty)
		s->progress_at = clock_mono();  /* the stall clock starts now */
	if (!empty)
		drain(s);
	if (s->relay != NULL)
		relay_wake_writer(s);
	reopen_if_due(s);
	s->was_empty = sink_empty(s);
	/* Nothing left to write: the slabs go back, so an idle daemon holds
	 * no output slab and a waiting reader may have it.  With nobody
	 * waiting for room, the sink stops waiting for a slab too. */
	if (s->was_empty && s->cur != NULL) {
		uint8_t *slab = s->cur;

		s->cur = NULL;
		s->cur_off = s->cur_len = 0;
		pool_give_back(s->pool, slab);
	}
	if (s->blocked_cb != NULL) {
		/* Waiting for the output (EAGAIN, a failing write, no FIFO
		 * reader) with records queued: the workers' bound is lifted. */
		int blocked = !s->was_empty &&
			      (s->kafka != NULL ? s->kafka_waiting :
			       ev_is_active(&s->wio) || ev_is_active(&s->retry) || s->fd < 0);

		if (blocked != s->blocked) {
			s->blocked = blocked;
			s->blocked_cb(s->blocked_arg, blocked);
		}
	}
	if (s->was_empty && s->nwaiting == 0 && s->pool != NULL) {
		pool_cancel(s->pool, &s->pw);
		if (s->granted != NULL) {
			uint8_t *slab = s->granted;

			s->granted = NULL;
			pool_give_back(s->pool, slab);
		}
	}
}

static void
sink_on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	sink_flush(w->data);
}

static void
sink_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	ev_io_stop(loop, w);  /* the flush at the end of this iteration writes */
}

static void
sink_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;        /* stopped by now: the next flush tries again */
}

/* Closes the old descriptor and opens path again.  0, or -1 with errno
 * (the old one is kept). */
static int
do_reopen(struct sink *s)
{
	int fd = open_output(s->path);
	struct stat st;

	if (fd < 0 && !(s->fifo && errno == ENXIO))
		return -1;
	ev_io_stop(s->loop, &s->wio);
	ev_timer_stop(s->loop, &s->retry);
	if (s->fd >= 0) {
		prealloc_release(s);
		close(s->fd);
	}
	s->fd = fd;
	s->fifo = fd >= 0 ? fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) : s->fifo;
	if (fd >= 0)
		ev_io_set(&s->wio, fd, EV_WRITE);
	else
		arm_retry(s);
	file_reset(s);
	s->reopened_at = clock_mono();
	STATS_INC(output_reopens);
	return 0;
}

int
sink_reopen(struct sink *s)
{
	if (s->path == NULL || s->relay != NULL)
		return 0;
	if (s->regular) {
		/* What was committed before the HUP belongs to the old file, as
		 * far as it takes it (regular files do not say EAGAIN); a failing
		 * write cuts it back to a line end, and the rest goes to the new
		 * file. */
		ev_timer_stop(s->loop, &s->retry);
		drain(s);
	} else if (s->fd >= 0 && line_written(s) != 0) {
		s->reopen_due = 1;  /* at the end of the line being written */
		return 1;
	}
	return do_reopen(s);
}

double
sink_reopened_at(const struct sink *s)
{
	return s->reopened_at;
}
