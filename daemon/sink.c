/*
 * sink: see sink.h.
 *
 * State: `cur` is the slab being filled ([cur_off, cur_len) not yet
 * written); `q` is a ring of full slabs, oldest first, each with its own
 * written offset.  Writes go out oldest first, so the output order is the
 * order records were committed.  The ring can hold every slab the pool
 * owns, so queuing never fails.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

/* Most bytes one page-cache window step writes back or drops (file_reset). */
#define SINK_WINDOW_STEP (1u << 20)

/* Bytes of full slabs queued before sink_reserve() writes them (see there). */
#define SINK_WRITE_BATCH (512u << 10)

struct qslab {
	uint8_t *slab;
	size_t   off, len;
};

struct sink {
	struct ev_loop *loop;
	struct pool    *pool;
	char           *path;        /* NULL for stdout */
	int             fd;
	int             restore_flags;  /* stdout's flags to restore, or -1 */
	size_t          slab_size;
	size_t          batch;       /* full slabs written at once: SINK_WRITE_BATCH, >= 1 */

	uint8_t        *cur;
	size_t          cur_off, cur_len;

	struct qslab   *q;
	size_t          qcap, qhead, qlen;

	ev_io           wio;         /* armed while the output says EAGAIN */
	ev_timer        retry;       /* armed after a write error */
	ev_idle         kick;        /* keeps the loop from sleeping on queued output */
	int             failing;     /* last write failed; logged once */

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
};

static void sink_on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void sink_on_retry(struct ev_loop *loop, ev_timer *w, int revents);
static void sink_on_kick(struct ev_loop *loop, ev_idle *w, int revents);

static int
open_output(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Starts the bookkeeping of a (newly opened) output at the file's end. */
static void
file_reset(struct sink *s)
{
	struct stat st;

	s->chunk = 0;
	s->prealloc = 0;
	if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
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

struct sink *
sink_new(struct ev_loop *loop, struct pool *pool, const char *path, sink_fail_cb *fail,
	 void *fail_arg, char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct stat st;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->pool = pool;
	s->slab_size = pool_slab_size(pool);
	s->batch = s->slab_size < SINK_WRITE_BATCH ? SINK_WRITE_BATCH / s->slab_size : 1;
	s->fail = fail;
	s->fail_arg = fail_arg;
	s->restore_flags = -1;
	s->rl = (struct ratelimit)RATELIMIT_INIT(10.0, 1);
	/* Every slab the pool can hand out fits in the queue at once. */
	s->qcap = pool_capacity(pool) + 1;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (s->q == NULL) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	if (strcmp(path, "-") == 0) {
		s->fd = STDOUT_FILENO;
		/* A pipe or socket reader may be slow: never block the loop on it.
		 * A terminal or file keeps its blocking mode (shared with the shell). */
		if (fstat(s->fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
			int fl = fcntl(s->fd, F_GETFL);
			if (fl >= 0 && !(fl & O_NONBLOCK) && fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == 0)
				s->restore_flags = fl;
		}
	} else {
		s->path = strdup(path);
		s->fd = s->path ? open_output(path) : -1;
		if (s->fd < 0) {
			snprintf(err, errlen, "%s: cannot open for append: %s", path, strerror(errno));
			free(s->path);
			free(s->q);
			free(s);
			return NULL;
		}
	}
	ev_io_init(&s->wio, sink_on_writable, s->fd, EV_WRITE);
	ev_timer_init(&s->retry, sink_on_retry, 1.0, 0.0);
	ev_idle_init(&s->kick, sink_on_kick);
	s->wio.data = s;
	s->retry.data = s;
	s->kick.data = s;
	return s;
}

void
sink_free(struct sink *s)
{
	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->wio);
	ev_timer_stop(s->loop, &s->retry);
	ev_idle_stop(s->loop, &s->kick);
	while (s->qlen > 0) {
		pool_give_back(s->pool, s->q[s->qhead].slab);
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
	}
	if (s->cur != NULL)
		pool_give_back(s->pool, s->cur);
	prealloc_release(s);
	if (s->restore_flags >= 0)
		fcntl(s->fd, F_SETFL, s->restore_flags);
	if (s->path != NULL)
		close(s->fd);
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
	s->qlen++;
	s->cur = NULL;
	s->cur_off = s->cur_len = 0;
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
			sink_flush(s);
	}
	s->cur = pool_checkout(s->pool, POOL_OUTPUT);
	if (s->cur == NULL)
		return NULL;
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
	/*
	 * Records committed after this iteration's flush (a connection woken
	 * by a slab hand-off during the flush itself) must not wait for the
	 * next socket event: with every read paused there may be none.  An
	 * active idle watcher makes the loop poll without sleeping.
	 */
	if (!ev_is_active(&s->kick))
		ev_idle_start(s->loop, &s->kick);
}

void
sink_adopt(struct sink *s, void *slab)
{
	if (s->cur != NULL)
		queue_cur(s);
	s->cur = slab;
	s->cur_off = s->cur_len = 0;
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
sink_pending(const struct sink *s)
{
	size_t n = s->cur_len - s->cur_off;

	for (size_t i = 0; i < s->qlen; i++) {
		const struct qslab *e = &s->q[(s->qhead + i) % s->qcap];
		n += e->len - e->off;
	}
	return n;
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
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		pool_give_back(s->pool, slab);
	}
	s->cur_off += n;
	if (s->cur_off == s->cur_len)
		s->cur_off = s->cur_len = 0;
}

#define SINK_IOV 64

/* One writev of what is queued.  Returns bytes written, 0 when there was
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
	do
		w = writev(s->fd, iov, n);
	while (w < 0 && errno == EINTR);
	if (w > 0) {
		STATS_ADD(bytes_out, (uint64_t)w);
		STATS_INC(output_writes);
		s->file_end += w;
		if (s->chunk != 0)
			window_advance(s);
	}
	return w;
}

static void
handle_error(struct sink *s, int err)
{
	uint64_t suppressed;

	STATS_INC(output_errors);
	if (err == EPIPE) {
		log_err("output: the reader went away (EPIPE); %zu bytes not written",
			sink_pending(s));
		if (s->fail != NULL)
			s->fail(s->fail_arg);
		return;
	}
	if (!s->failing || ratelimit_allow(&s->rl, ev_now(s->loop), &suppressed)) {
		errno = err;
		log_warn("output %s: write failed, keeping %zu bytes and retrying every second",
			 s->path ? s->path : "stdout", sink_pending(s));
	}
	s->failing = 1;
	ev_timer_stop(s->loop, &s->retry);
	ev_timer_set(&s->retry, 1.0, 0.0);
	ev_timer_start(s->loop, &s->retry);
}

void
sink_flush(struct sink *s)
{
	if (ev_is_active(&s->wio) || ev_is_active(&s->retry))
		return;  /* waiting for the output; its watcher calls back */
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
		if (s->failing) {
			log_info("output %s: writing again", s->path ? s->path : "stdout");
			s->failing = 0;
		}
		advance(s, (size_t)w);
	}
}

static void
sink_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sink *s = w->data;

	(void)revents;
	ev_io_stop(loop, w);
	sink_flush(s);
}

static void
sink_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sink *s = w->data;

	(void)loop;
	(void)revents;
	sink_flush(s);
}

static void
sink_on_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct sink *s = w->data;

	(void)revents;
	ev_idle_stop(loop, w);
	sink_flush(s);
}

int
sink_reopen(struct sink *s)
{
	int fd;

	if (s->path == NULL)
		return 0;
	/* Finish the old file first: whatever was committed before the HUP
	 * belongs to it, and it ends on a line boundary. */
	ev_io_stop(s->loop, &s->wio);
	ev_timer_stop(s->loop, &s->retry);
	while (!sink_empty(s)) {
		ssize_t w = write_some(s);
		if (w < 0) {
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
				poll(&pfd, 1, 100);
				continue;
			}
			break;  /* the new file gets the rest */
		}
		advance(s, (size_t)w);
	}
	fd = open_output(s->path);
	if (fd < 0)
		return -1;
	prealloc_release(s);
	close(s->fd);
	s->fd = fd;
	file_reset(s);
	ev_io_set(&s->wio, fd, EV_WRITE);
	STATS_INC(output_reopens);
	if (!sink_empty(s))
		sink_flush(s);
	return 0;
}
