/*
 * metrics: see metrics.h (and http.h for the parser and the choice of
 * writing it rather than using libmicrohttpd).
 *
 * A client moves READ -> WRITE -> LINGER -> closed, each state with one
 * deadline on its timer:
 *   READ    recv into the fixed buffer, parse after each read; COMPLETE or
 *           BAD (or a full buffer: 431) builds the whole response at once;
 *           EOF or an error closes; the read deadline closes (counted).
 *   WRITE   sendmsg the head and body from where the last write stopped;
 *           EAGAIN arms the write watcher.  Done: shutdown(SHUT_WR).
 *   LINGER  read and drop what the client still sends (a pipelined request,
 *           the rest of an oversized head) until its EOF, 64 KiB, or
 *           METRICS_LINGER seconds: closing with unread bytes would send a
 *           reset, which can destroy the response before the client reads it.
 * The counters are rendered when the request is complete, so one scrape is
 * one stats_view, taken at that moment.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "history.h"
#include "http.h"
#include "log.h"
#include "stats.h"
#include "status.h"
#include "version.h"

#define ACCEPTS_PER_EVENT 16
#define LINGER_MAX_BYTES  (64 * 1024)

#define CT_TEXT    "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_HTML    "text/html; charset=utf-8"
#define CT_JSON    "application/json"
/* The status page may run its own inline script and style and fetch from
 * this origin, nothing else; no caching, so a reload is the live state. */
#define PAGE_HEADERS "Cache-Control: no-store\r\n" \
	"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; " \
	"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'\r\n" \
	"X-Content-Type-Options: nosniff\r\n"

enum client_state { C_READ, C_WRITE, C_LINGER };

struct client {
	struct client    *prev, *next;
	struct metrics   *m;
	int               fd;
	enum client_state state;
	ev_io             io;
	ev_timer          timer;
	char              peer[80];
	size_t            len;                        /* request bytes in req */
	char              head[640];                  /* response head */
	size_t            head_len;
	const char       *body;                       /* body_alloc, small, or static */
	char             *body_alloc;                 /* owned, or NULL */
	size_t            body_len;                   /* bytes sent (0 for HEAD) */
	size_t            sent;                       /* of head_len + body_len */
	size_t            lingered;
	char              small[192];                 /* short bodies */
	char              req[METRICS_REQUEST_MAX];
};

struct metrics {
	struct ev_loop      *loop;
	const struct config *cfg;       /* borrowed */
	metrics_view_fn      view;      /* fills sv at each request */
	void                *view_arg;
	struct stats_view    sv;        /* the latest request's */
	int                  fd;
	ev_io                io;
	ev_timer             backoff;   /* EMFILE: accept again in a second */
	char                 bound[80];
	struct client       *clients;
	size_t               nclients;
	uint64_t             requests, refused, timeouts;
	size_t               body_hint; /* last /metrics body size */
	struct ratelimit     rl;
	double               started;   /* clock_mono() at metrics_new */
	ev_timer             sampler;   /* adds a history sample each second */
	struct history       history;   /* the status page's chart */
};

/* ---------------------------------------------------------------- render */

/* Appends to a buffer snprintf-style: keeps counting past the end. */
struct out {
	char  *buf;
	size_t cap, len;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void
out_char(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
	if (o->len < o->cap)
		o->buf[o->len] = '\0';
	else if (o->cap > 0)
		o->buf[o->cap - 1] = '\0';
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void
out_label(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"') {
			out_char(o, '\\');
			out_char(o, *s);
		} else if (*s == '\n') {
			out_char(o, '\\');
			out_char(o, 'n');
		} else {
			out_char(o, *s);
		}
	}
}

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	out_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

/* Help text for the stats.h counters; a counter not listed gets a generic one. */
static const struct {
	const char *name, *help;
} stat_help[] = {
	{ "conn_accepted", "Sensor connections accepted." },
	{ "conn_closed", "Sensor connections closed." },
	{ "conn_refused", "Sensor connections closed at once: max_connections reached." },
	{ "conn_denied", "Sensor connections closed at once: refused by allow/deny." },
	{ "conn_source_limited", "Sensor connections closed at once: max_conns_per_source reached." },
	{ "source_table_full", "Sensor connections closed at once: the per-source table was full." },
	{ "proxy_headers", "PROXY protocol headers taken." },
	{ "proxy_local", "PROXY v2 LOCAL headers (the balancer's own health checks)." },
	{ "proxy_bad", "Connections closed: a malformed PROXY header." },
	{ "proxy_refused", "Connections closed: not from proxy_from, and proxy_direct is off." },
	{ "proxy_timeouts", "Connections closed: no whole PROXY header within proxy_timeout." },
	{ "tls_handshakes", "TLS handshakes completed." },
	{ "tls_resumed", "TLS handshakes that resumed a session." },
	{ "tls_handshake_timeouts", "Connections closed: no TLS handshake within tls_handshake_timeout." },
	{ "tls_no_certificate", "TLS handshakes refused: no client certificate (tls_ca)." },
	{ "tls_verify_failures", "TLS handshakes refused: the client certificate did not verify." },
	{ "tls_version_refused", "TLS handshakes refused: protocol version below tls_min_version." },
	{ "tls_plaintext", "Connections closed: plaintext on a TLS listener." },
	{ "tls_handshake_failures", "TLS handshakes that failed for another reason." },
	{ "tls_reload_failures", "SIGHUP reloads of a listener's TLS files that failed (old kept)." },
	{ "bad_identity", "Connections closed: a frame or certificate against tls_bind." },
	{ "kafka_delivered", "Records Kafka acknowledged." },
	{ "kafka_failed", "Records whose delivery to Kafka failed for good (then spilled)." },
	{ "kafka_spilled", "Records written to the Kafka spill file." },
	{ "kafka_spill_errors", "Records neither delivered nor written to the spill file: lost." },
	{ "kafka_restarts", "Times the Kafka producer was made again after a fatal error." },
	{ "accept_errors", "Failed accept calls on the sensor listeners." },
	{ "bytes_in", "Bytes read from sensor connections." },
	{ "frames_in", "Complete frames decoded into records." },
	{ "records_out", "Records committed to the output." },
	{ "bytes_out", "Bytes written to the output." },
	{ "output_writes", "Write calls to the output that wrote something." },
	{ "output_errors", "Failed writes to the output." },
	{ "output_reopens", "Times the output file was reopened (SIGHUP)." },
	{ "output_rewinds", "Times the output file was cut back to a line end after a write failed inside a line." },
	{ "pause_events", "Times reads were paused on every connection (pool pressure)." },
	{ "slab_waits", "Times a connection queued for a slab." },
	{ "slabs_retained", "Times a read slab was kept for a large partial frame." },
	{ "carry_copies", "Times a small partial frame was copied to a connection's carry." },
	{ "bad_magic", "Frames rejected: bad magic or signature." },
	{ "bad_size", "Frames rejected: bad size." },
	{ "bad_type", "Frames rejected: TLV type 0." },
	{ "bad_checksum", "Frames rejected: checksum mismatch." },
	{ "frames_skipped", "Bad frames dropped with the connection kept open (on_bad_frame = skip)." },
	{ "resyncs", "Times a connection slid past a bad frame to find the next good one (on_bad_frame = resync)." },
	{ "resync_bytes", "Bytes slid over while resynchronising." },
	{ "resync_giveups", "Connections closed: no good frame within max_resync bytes." },
	{ "oversize", "Frames rejected: longer than max_frame." },
	{ "truncated", "Connections closed in the middle of a frame." },
	{ "idle_closed", "Sensor connections closed for being idle." },
	{ "retained_evictions", "Connections closed to free slabs kept for partial frames." },
	{ "read_errors", "Failed reads on sensor connections." },
	{ "log_dropped", "Log lines dropped because stderr could take nothing at that moment." },
};

size_t
metrics_render(char *buf, size_t cap, const struct stats_view *sv,
	       const struct metrics_view *view)
{
	static const struct metrics_view none;
	struct out o = { buf, cap, 0 };
	const struct stats_snapshot *snap = &sv->counters;
	char name[128];

	if (cap > 0)
		buf[0] = '\0';
	if (view == NULL)
		view = &none;

	{
		char labels[512];

		family(&o, "ingestd_build_info", "gauge",
		       "Always 1: the version of ingestd and of the libraries it runs on, as labels.");
		out_printf(&o, "ingestd_build_info{%s} 1\n", version_labels(labels, sizeof(labels)));
	}

	/* Every stats.h counter, by its own name, from the view's snapshot. */
	for (int i = 0; i < STAT__COUNT; i++) {
		const char *help = NULL;
		char generic[96];
		for (size_t k = 0; k < sizeof(stat_help) / sizeof(stat_help[0]); k++)
			if (strcmp(stat_help[k].name, stats_names[i]) == 0)
				help = stat_help[k].help;
		if (help == NULL) {
			snprintf(generic, sizeof(generic), "ingestd counter %s.", stats_names[i]);
			help = generic;
		}
		snprintf(name, sizeof(name), "ingestd_%s_total", stats_names[i]);
		one(&o, name, "counter", help, snap->c[i]);
	}

	/* The rejections again, as one family to sum or graph by reason. */
	family(&o, "ingestd_frames_rejected_total", "counter",
	       "Frames rejected (or cut short), by reason; "
	       "the same counts as ingestd_<reason>_total.");
	for (size_t k = 0; k < STATS_FRAME_REJECTIONS; k++)
		out_printf(&o, "ingestd_frames_rejected_total{reason=\"%s\"} %llu\n",
			   stats_names[stats_frame_rejections[k]],
			   (unsigned long long)snap->c[stats_frame_rejections[k]]);

	if (!sv->have_conns)
		goto http;

	one(&o, "ingestd_connections", "gauge", "Sensor connections open.", sv->conns);
	one(&o, "ingestd_max_connections", "gauge", "Configured limit on sensor connections.",
	    sv->max_connections);
	one(&o, "ingestd_paused", "gauge",
	    "1 while reads are paused on every connection (pool pressure), else 0.",
	    sv->paused ? 1 : 0);
	family(&o, "ingestd_paused_seconds_total", "counter",
	       "Seconds reads have been paused, the current pause included.");
	out_printf(&o, "ingestd_paused_seconds_total %.6f\n", sv->paused_seconds);
	one(&o, "ingestd_retained_bytes", "gauge",
	    "Bytes of partial frames kept in read slabs.", sv->retained_bytes);
	one(&o, "ingestd_read_slabs", "gauge", "Slabs held by connections for reading.",
	    sv->read_slabs);

	if (sv->have_pool) {
		one(&o, "ingestd_pool_slab_size_bytes", "gauge", "Bytes per slab.", sv->slab_size);
		one(&o, "ingestd_pool_slabs", "gauge", "Slabs in the arena.", sv->slabs);
		one(&o, "ingestd_pool_slabs_in_use", "gauge", "Arena slabs checked out.",
		    sv->slabs_in_use);
		one(&o, "ingestd_pool_slabs_peak", "gauge", "Most arena slabs ever checked out.",
		    sv->slabs_peak);
		one(&o, "ingestd_pool_overflow_in_use", "gauge",
		    "Temporary overflow slabs checked out.", sv->overflow_in_use);
		one(&o, "ingestd_pool_overflow_peak", "gauge",
		    "Most overflow slabs ever checked out at once.", sv->overflow_peak);
		one(&o, "ingestd_pool_waiters", "gauge", "Connections queued for a slab.",
		    sv->waiters);
		one(&o, "ingestd_pool_waiters_peak", "gauge",
		    "Most connections ever queued for a slab at once.", sv->waiters_peak);
		one(&o, "ingestd_pool_checkouts_total", "counter", "Slabs handed out.",
		    sv->checkouts);
		one(&o, "ingestd_pool_refused_releases_total", "counter",
		    "Slab releases refused (foreign pointer or double release): a bug.",
		    sv->refused_releases);
	}
	if (sv->have_output) {
		one(&o, "ingestd_output_pending_bytes", "gauge",
		    "Record bytes queued for the output and not yet written.", sv->output_pending);
		one(&o, "ingestd_output_failing", "gauge",
		    "1 while the output's last write failed (retried each second), else 0.",
		    sv->output_failing ? 1 : 0);
		one(&o, "ingestd_output_waiters", "gauge",
		    "Connections waiting for room in the output.", sv->output_waiters);
		family(&o, "ingestd_output_stalled_seconds", "gauge",
		       "Seconds the output has taken nothing while records wait for it (0: none wait).");
		out_printf(&o, "ingestd_output_stalled_seconds %.3f\n", sv->output_stalled);
	}
	if (sv->have_kafka) {
		one(&o, "ingestd_kafka_in_flight_messages", "gauge",
		    "Records given to the Kafka producer and not yet delivered or spilled.",
		    sv->kafka_in_flight);
		family(&o, "ingestd_kafka_brokers_up", "gauge",
		       "Kafka brokers the producer is connected to (state UP in its last "
		       "statistics; -1: none yet).");
		out_printf(&o, "ingestd_kafka_brokers_up %d\n", sv->kafka_brokers_up);
	}

	if (sv->nlisteners > 0) {
		family(&o, "ingestd_listener_records_total", "counter",
		       "Records decoded, by listener.");
		for (size_t i = 0; i < sv->nlisteners; i++) {
			out_printf(&o, "ingestd_listener_records_total{listener=\"");
			out_label(&o, sv->listeners[i].name);
			out_printf(&o, "\"} %llu\n", (unsigned long long)sv->listeners[i].records);
		}
		family(&o, "ingestd_listener_bytes_in_total", "counter",
		       "Bytes read from sensor connections, by listener.");
		for (size_t i = 0; i < sv->nlisteners; i++) {
			out_printf(&o, "ingestd_listener_bytes_in_total{listener=\"");
			out_label(&o, sv->listeners[i].name);
			out_printf(&o, "\"} %llu\n", (unsigned long long)sv->listeners[i].bytes_in);
		}
	}

	if (sv->nworkers > 0) {
		family(&o, "ingestd_worker_connections", "gauge",
		       "Sensor connections open, by worker (event-loop thread).");
		for (size_t i = 0; i < sv->nworkers; i++)
			out_printf(&o, "ingestd_worker_connections{worker=\"%zu\"} %zu\n", i,
				   sv->workers[i].conns);
		family(&o, "ingestd_worker_records_total", "counter",
		       "Records written, by the worker that decoded them.");
		for (size_t i = 0; i < sv->nworkers; i++)
			out_printf(&o, "ingestd_worker_records_total{worker=\"%zu\"} %llu\n", i,
				   (unsigned long long)sv->workers[i].records);
		one(&o, "ingestd_workers", "gauge", "Worker threads (event loops) reading sensors.",
		    sv->nworkers);
	}

http:
	if (view->rss_bytes > 0)
		one(&o, "ingestd_resident_memory_bytes", "gauge",
		    "Resident set size of the process, read at scrape time.", view->rss_bytes);
	one(&o, "ingestd_metrics_clients", "gauge", "Clients connected to this endpoint.",
	    view->http_clients);
	one(&o, "ingestd_metrics_requests_total", "counter",
	    "Requests answered by this endpoint, any status.", view->http_requests);
	one(&o, "ingestd_metrics_refused_total", "counter",
	    "Clients of this endpoint closed at once: too many connected.", view->http_refused);
	one(&o, "ingestd_metrics_timeouts_total", "counter",
	    "Clients of this endpoint closed for not sending a request in time.",
	    view->http_timeouts);
	return o.len;
}

int
metrics_health(const struct stats_view *sv, double unhealthy_after, char *reason,
	       size_t reasonlen)
{
	if (reasonlen > 0)
		reason[0] = '\0';
	if (!sv->have_conns)
		return 200;
	if (sv->stopping) {
		snprintf(reason, reasonlen, "shutting down");
		return 503;
	}
	if (sv->have_output && sv->output_failing) {
		snprintf(reason, reasonlen,
			 "output failing: writes are erroring (retried each second)");
		return 503;
	}
	if (sv->paused && sv->paused_for > unhealthy_after) {
		snprintf(reason, reasonlen,
			 "reads paused for %.1f s (unhealthy_after = %g s): "
			 "the output is not keeping up", sv->paused_for, unhealthy_after);
		return 503;
	}
	if (sv->have_output && sv->output_stalled > unhealthy_after) {
		snprintf(reason, reasonlen,
			 "output stalled: it has taken nothing for %.1f s while %zu bytes wait "
			 "(unhealthy_after = %g s)", sv->output_stalled, sv->output_pending,
			 unhealthy_after);
		return 503;
	}
	return 200;
}

uint64_t
metrics_read_rss(void)
{
	char buf[128];
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || page <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

/* ----------------------------------------------------------------- serve */

static void client_on_io(struct ev_loop *loop, ev_io *w, int revents);
static void client_on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void
client_close(struct client *c)
{
	struct metrics *m = c->m;

	ev_io_stop(m->loop, &c->io);
	ev_timer_stop(m->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->nclients--;
	free(c->body_alloc);
	free(c);
}

static void
client_watch(struct client *c, int events, double timeout)
{
	struct ev_loop *loop = c->m->loop;

	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, timeout, 0.0);
	ev_timer_start(loop, &c->timer);
}

static void
client_linger(struct client *c)
{
	char scratch[4096];

	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n > 0) {
			c->lingered += (size_t)n;
			if (c->lingered < LINGER_MAX_BYTES)
				continue;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		client_close(c);  /* EOF, an error, or enough */
		return;
	}
}

static void
client_write(struct client *c)
{
	size_t total = c->head_len + c->body_len;

	while (c->sent < total) {
		struct iovec iov[2];
		struct msghdr msg;
		int niov = 0;
		ssize_t n;

		if (c->sent < c->head_len) {
			iov[niov].iov_base = c->head + c->sent;
			iov[niov++].iov_len = c->head_len - c->sent;
			if (c->body_len > 0) {
				iov[niov].iov_base = (void *)(uintptr_t)c->body;
				iov[niov++].iov_len = c->body_len;
			}
		} else {
			iov[niov].iov_base = (void *)(uintptr_t)(c->body + (c->sent - c->head_len));
			iov[niov++].iov_len = total - c->sent;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)niov;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The write deadline runs from client_respond(). */
			if (!ev_is_active(&c->io)) {
				ev_io_set(&c->io, c->fd, EV_WRITE);
				ev_io_start(c->m->loop, &c->io);
			}
			return;
		} else {
			client_close(c);  /* the client went away */
			return;
		}
	}
	free(c->body_alloc);
	c->body_alloc = NULL;
	c->body = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	client_watch(c, EV_READ, METRICS_LINGER);
	client_linger(c);
}

/*
 * Sets the response up and starts sending it, with the write deadline.
 * body_len is the Content-Length; head_only (HEAD) sends none of the body.
 * alloc: a malloc'd body the client now owns (body is then alloc), or NULL
 * to copy a short body (< sizeof(c->small)) into the client; with
 * is_static, body lives as long as the program and is sent as it is.
 */
static void
client_respond(struct client *c, int status, int head_only, const char *content_type,
	       const char *body, size_t body_len, char *alloc, const char *extra, int is_static)
{
	struct metrics *m = c->m;

	c->body_alloc = alloc;
	if (alloc != NULL) {
		c->body = alloc;
	} else if (is_static) {
		c->body = body;
	} else {
		if (body_len >= sizeof(c->small))
			body_len = sizeof(c->small) - 1;
		memcpy(c->small, body, body_len);
		c->body = c->small;
	}
	c->head_len = http_format_head(c->head, sizeof(c->head), status, content_type, body_len,
				       extra);
	if (c->head_len >= sizeof(c->head))
		c->head_len = sizeof(c->head) - 1;  /* cannot happen: a fixed set of headers */
	c->body_len = head_only ? 0 : body_len;
	c->sent = 0;
	c->state = C_WRITE;
	m->requests++;
	ev_io_stop(m->loop, &c->io);
	ev_timer_stop(m->loop, &c->timer);
	ev_timer_set(&c->timer, METRICS_WRITE_TIMEOUT, 0.0);
	ev_timer_start(m->loop, &c->timer);
	client_write(c);
}

static void
respond_text(struct client *c, int status, int head_only, const char *text, const char *extra)
{
	client_respond(c, status, head_only, CT_TEXT, text, strlen(text), NULL, extra, 0);
}

/* Every request may fail the same way while memory is short: rate-limited. */
static void
oom(struct metrics *m, const char *what)
{
	uint64_t suppressed;

	if (ratelimit_allow(&m->rl, clock_mono(), &suppressed))
		log_warnx("metrics: out of memory rendering %s%s", what,
			  suppressed ? " (more not logged)" : "");
}

static void
serve_metrics(struct client *c, int head_only)
{
	struct metrics *m = c->m;
	struct metrics_view v = {
		.rss_bytes = metrics_read_rss(),
		.http_clients = m->nclients,
		.http_requests = m->requests + 1,  /* this one */
		.http_refused = m->refused,
		.http_timeouts = m->timeouts,
	};
	size_t cap = m->body_hint ? m->body_hint + 1024 : 16384;
	char *body = NULL;

	m->view(m->view_arg, clock_mono(), &m->sv);  /* one moment for the whole body */

	for (int tries = 0; tries < 3; tries++) {
		char *nb = realloc(body, cap);
		size_t need;
		if (nb == NULL)
			break;
		body = nb;
		need = metrics_render(body, cap, &m->sv, &v);
		if (need < cap) {
			m->body_hint = need;
			client_respond(c, 200, head_only, CT_METRICS, body, need, body, NULL, 0);
			return;
		}
		cap = need + 1024;
	}
	free(body);
	oom(m, "/metrics");
	respond_text(c, 500, head_only, "out of memory\n", NULL);
}

static void
serve_health(struct client *c, int head_only)
{
	struct metrics *m = c->m;
	char reason[160];
	int status;

	m->view(m->view_arg, clock_mono(), &m->sv);
	status = metrics_health(&m->sv, m->cfg->unhealthy_after, reason, sizeof(reason));
	char line[sizeof(reason) + 2];

	if (status == 200) {
		respond_text(c, 200, head_only, "ok\n", NULL);
		return;
	}
	snprintf(line, sizeof(line), "%s\n", reason);
	respond_text(c, status, head_only, line, NULL);
}

static void
serve_status_json(struct client *c, int head_only)
{
	struct metrics *m = c->m;
	double now = clock_mono();
	size_t len = 0;
	char *body;

	m->view(m->view_arg, now, &m->sv);
	body = status_json(m->cfg, &m->sv, &m->history, now - m->started, &len);
	if (body == NULL) {
		oom(m, "/status.json");
		respond_text(c, 500, head_only, "out of memory\n", NULL);
		return;
	}
	client_respond(c, 200, head_only, CT_JSON, body, len, body, PAGE_HEADERS, 0);
}

enum route { R_NONE, R_METRICS, R_HEALTH, R_PAGE, R_STATUS_JSON };

static enum route
route_of(const char *path, size_t len)
{
	static const struct {
		const char *path;
		enum route  route;
	} routes[] = {
		{ "/metrics", R_METRICS }, { "/healthz", R_HEALTH }, { "/", R_PAGE },
		{ "/index.html", R_PAGE }, { "/status.json", R_STATUS_JSON },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == len && memcmp(path, routes[i].path, len) == 0)
			return routes[i].route;
	return R_NONE;
}

static void
client_request(struct client *c, const struct http_request *r)
{
	int head_only = r->method == HTTP_METHOD_HEAD;
	enum route route = route_of(r->path, r->path_len);

	log_debug("metrics: %s %.*s %.*s", c->peer, (int)r->method_len, r->method_str,
		  (int)(r->target_len > 200 ? 200 : r->target_len), r->target);
	if (route == R_NONE) {
		respond_text(c, 404, head_only,
			     "not found: try /, /status.json, /metrics or /healthz\n", NULL);
		return;
	}
	if (r->method == HTTP_METHOD_OTHER) {
		respond_text(c, 405, 0, "method not allowed: GET or HEAD only\n",
			     "Allow: GET, HEAD\r\n");
		return;
	}
	switch (route) {
	case R_METRICS:     serve_metrics(c, head_only); break;
	case R_HEALTH:      serve_health(c, head_only); break;
	case R_STATUS_JSON: serve_status_json(c, head_only); break;
	case R_PAGE:
		client_respond(c, 200, head_only, CT_HTML, status_page_html, status_page_len,
			       NULL, PAGE_HEADERS, 1);
		break;
	case R_NONE:        break;
	}
}

static void
client_read(struct client *c)
{
	for (;;) {
		struct http_request r;
		ssize_t n = recv(c->fd, c->req + c->len, sizeof(c->req) - c->len, 0);
		int res;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(c);  /* gave up before a whole request, or an error */
			return;
		}
		c->len += (size_t)n;
		res = http_parse_request(c->req, c->len, &r);
		if (res == HTTP_PARSE_COMPLETE) {
			client_request(c, &r);
			return;
		}
		if (res == HTTP_PARSE_BAD) {
			char text[128];
			log_debug("metrics: %s: bad request: %s", c->peer, r.error);
			snprintf(text, sizeof(text), "bad request: %s\n", r.error);
			respond_text(c, r.status, 0, text, NULL);
			return;
		}
		if (c->len == sizeof(c->req)) {
			log_debug("metrics: %s: request head over %zu bytes", c->peer,
				  sizeof(c->req));
			respond_text(c, 431, 0, "request head too large\n", NULL);
			return;
		}
	}
}

static void
client_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case C_READ:   client_read(c); break;
	case C_WRITE:  client_write(c); break;
	case C_LINGER: client_linger(c); break;
	}
}

static void
client_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == C_READ) {
		c->m->timeouts++;
		log_debug("metrics: %s: no complete request in %.0f s; closing", c->peer,
			  METRICS_READ_TIMEOUT);
	}
	client_close(c);
}

static void
metrics_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics *m = w->data;
	uint64_t suppressed;

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct client *c;
		int fd = accept4(m->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (ratelimit_allow(&m->rl, clock_mono(), &suppressed))
				log_warn("metrics: accept");
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				ev_io_stop(loop, &m->io);
				ev_timer_start(loop, &m->backoff);
			}
			return;
		}
		if (m->nclients >= METRICS_MAX_CLIENTS || (c = calloc(1, sizeof(*c))) == NULL) {
			m->refused++;
			if (ratelimit_allow(&m->rl, clock_mono(), &suppressed))
				log_warnx("metrics: %zu clients connected; closing a new one",
					  m->nclients);
			close(fd);
			continue;
		}
		c->m = m;
		c->fd = fd;
		c->state = C_READ;
		conn_format_addr((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
		c->next = m->clients;
		if (m->clients)
			m->clients->prev = c;
		m->clients = c;
		m->nclients++;
		ev_io_init(&c->io, client_on_io, fd, EV_READ);
		c->io.data = c;
		ev_timer_init(&c->timer, client_on_timer, METRICS_READ_TIMEOUT, 0.0);
		c->timer.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_start(loop, &c->timer);
		/* Most clients send the request with the handshake: read it now. */
		client_read(c);
	}
}

/* Once a second: a sample for the status page's chart. */
static void
metrics_on_sample(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = w->data;

	(void)loop;
	(void)revents;
	m->view(m->view_arg, clock_mono(), &m->sv);
	history_add(&m->history, &m->sv);
}

static void
metrics_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = w->data;

	(void)revents;
	if (m->fd >= 0)
		ev_io_start(loop, &m->io);
}

struct metrics *
metrics_new(struct ev_loop *loop, const struct config *cfg, metrics_view_fn view,
	    void *view_arg, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (m == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	m->loop = loop;
	m->cfg = cfg;
	m->view = view;
	m->view_arg = view_arg;
	m->fd = -1;
	m->rl = (struct ratelimit)RATELIMIT_INIT(10.0, 5);
	memset(&ss, 0, sizeof(ss));
	if (strchr(cfg->metrics_address, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(cfg->metrics_port);
		if (inet_pton(AF_INET6, cfg->metrics_address, &in6->sin6_addr) != 1)
			goto bad_addr;
		sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(cfg->metrics_port);
		if (inet_pton(AF_INET, cfg->metrics_address, &in->sin_addr) != 1)
			goto bad_addr;
		sl = sizeof(*in);
	}
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto sys_err;
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(m->fd, (struct sockaddr *)&ss, sl) < 0 || listen(m->fd, 64) < 0)
		goto sys_err;
	sl = sizeof(ss);
	if (getsockname(m->fd, (struct sockaddr *)&ss, &sl) == 0)
		conn_format_addr((struct sockaddr *)&ss, m->bound, sizeof(m->bound));
	ev_io_init(&m->io, metrics_on_accept, m->fd, EV_READ);
	m->io.data = m;
	ev_timer_init(&m->backoff, metrics_on_backoff, 1.0, 0.0);
	m->backoff.data = m;
	ev_io_start(loop, &m->io);
	m->started = clock_mono();
	history_init(&m->history);
	ev_timer_init(&m->sampler, metrics_on_sample, 1.0, 1.0);
	m->sampler.data = m;
	ev_timer_start(loop, &m->sampler);
	/* The sampler alone must not keep the loop from ending. */
	ev_unref(loop);
	return m;

bad_addr:
	snprintf(err, errlen, "metrics: \"%s\" is not a numeric IP address", cfg->metrics_address);
	free(m);
	return NULL;
sys_err:
	snprintf(err, errlen, "metrics: cannot listen on %s port %u: %s", cfg->metrics_address,
		 cfg->metrics_port, strerror(errno));
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return NULL;
}

const char *
metrics_bound(const struct metrics *m)
{
	return m->bound;
}

void
metrics_stop_accepting(struct metrics *m)
{
	if (m == NULL || m->fd < 0)
		return;
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->backoff);
	close(m->fd);
	m->fd = -1;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	ev_ref(m->loop);
	ev_timer_stop(m->loop, &m->sampler);
	metrics_stop_accepting(m);
	while (m->clients != NULL)
		client_close(m->clients);
	free(m);
}
