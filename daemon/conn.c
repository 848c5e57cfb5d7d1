/*
 * conn: see conn.h.
 *
 * States (enum conn_state; conn_update_io() derives the watcher from it):
 *
 *   HANDSHAKE    a TLS listener's connection before its handshake is done:
 *                the watcher waits for what OpenSSL wants (readable, or
 *                writable: tls_want_write), unless reads are paused; the
 *                open timer bounds it (tls_handshake_timeout).
 *   IDLE         no read slab.  Reads when readable, unless reads are
 *                paused (a shutdown drain reads anyway).
 *   READING      holds a read slab: one the pool just granted, or one kept
 *                for a partial frame too large for the carry (on the ctx's
 *                retained list).  Reads even while paused: it needs no new
 *                slab, and finishing its frame is what frees the slab.
 *   WAIT_READ    wanted a read slab, none free: queued in the pool (READ).
 *   WAIT_OUTPUT  mid-read, the sink had no room: queued at the sink; the
 *                unparsed bytes stay in the read slab, in order.
 *   CLOSED       socket closed, watcher stopped, slabs and queues left; on
 *                the ctx's closed list until conn_ctx_reap() frees it.
 *
 * Transitions:
 *   new                       -> IDLE; on a TLS listener -> HANDSHAKE
 *   HANDSHAKE done            -> IDLE (decrypted bytes may wait in the session)
 *   HANDSHAKE failed, timed out, peer gone, shutdown -> CLOSED
 *   IDLE    readable, slab    -> read, process, settle
 *   IDLE    readable, none    -> WAIT_READ
 *   WAIT_READ   pool grant    -> READING (the bytes are still in the socket)
 *   READING readable          -> read, process, settle
 *   process: bytes left, no output room -> WAIT_OUTPUT
 *   WAIT_OUTPUT sink room     -> process, settle
 *   settle: slab released     -> IDLE; slab kept for a partial frame -> READING
 *   EOF, error, bad input, idle, eviction, shutdown -> CLOSED
 *
 * Activity (the idle clock): accept, a completed frame, and leaving a wait
 * or a pause restart it; the activity list keeps the most recent first.
 * Shutdown (ctx->stopping) is not a state: every connection drains, i.e.
 * reads on until its peer's end of stream, or until it has been quiet for
 * DRAIN_QUIET seconds after the bytes the kernel held at the signal
 * (FIONREAD) are read, then closes.
 *
 * TLS: a session's reads fill the slab with decrypted bytes and everything
 * after the read is as for plaintext.  Bytes OpenSSL has taken from the
 * socket but not yet handed over raise no readiness event, so wherever
 * the watcher runs and the session holds some, conn_update_io() feeds the
 * event itself; while reads are paused it does not, and no SSL_read runs.
 * A read may need a write (a TLS 1.3 key update): tls_want_write makes the
 * watcher wait for writable instead, whatever the state.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "decode.h"
#include "proxy.h"
#include "framer.h"
#include "identity.h"
#include "listener.h"
#include "log.h"
#include "record.h"
#include "schema.h"
#include "stats.h"
#include "tls.h"

enum conn_state { CONN_HANDSHAKE, CONN_IDLE, CONN_READING, CONN_WAIT_READ, CONN_WAIT_OUTPUT,
		  CONN_CLOSED };

struct conn {
	ev_io               io;
	struct pool_waiter  read_wait;   /* WAIT_READ: in the pool's queue */
	struct sink_waiter  out_wait;    /* WAIT_OUTPUT: in the sink's queue */
	struct conn        *prev, *next; /* activity list; `next` also links `closed` */
	struct conn_ctx    *ctx;
	struct listener    *l;
	uint8_t             state;       /* enum conn_state */
	uint8_t             retained;    /* on the ctx's retained list */
	uint8_t             peer_len;
	uint8_t            *slab;        /* read slab, or NULL */
	uint32_t            pos, len;    /* unparsed bytes: slab[pos..len) */
	uint32_t            drain_left;  /* shutdown: bytes held at the signal, still unread */
	uint32_t            retained_rem;  /* bytes counted in ctx->retained_bytes */
	struct conn        *rprev, *rnext; /* ctx's retained list, stalest first */
	double              last_active;   /* clock_mono() of the last activity */
	char                peer[72];    /* `,"_peer":"ADDR:PORT"` */
	struct framer       framer;
	struct decode_state decode;      /* on_bad_frame = resync's progress */
	struct access_source *source;    /* max_conns_per_source's count, or NULL */
	uint8_t             awaiting_proxy;  /* a trusted balancer: its PROXY header first */
	uint8_t             tls_want_write;  /* the session must write before it reads on */
	uint8_t             tls_end;         /* the session ended after the last bytes read */
	uint8_t             bound;           /* tls_bind: frames must carry `identity` */
	ev_timer            open_timer;      /* PROXY header or TLS handshake deadline */
	struct ssl_st      *tls;             /* TLS listener: the session, else NULL */
	char               *tls_meta;        /* `,"_tls_cn":"CN"` (tls_ca), else NULL */
	size_t              tls_meta_len;
	uint64_t            identity;        /* tls_bind: the number the CN ends with */
};

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents);
static void conn_on_drain_sweep(struct ev_loop *loop, ev_timer *w, int revents);

/* Seconds a draining connection may stay silent before it is considered done. */
#define DRAIN_QUIET 0.05

/* The peer address as text, for log lines. */
static const char *
peer_text(const struct conn *c, char *buf, size_t len)
{
	/* peer is `,"_peer":"` + text + `"` */
	size_t pre = sizeof(",\"_peer\":\"") - 1;
	size_t n = c->peer_len > pre + 1 ? c->peer_len - pre - 1 : 0;

	if (n >= len)
		n = len - 1;
	memcpy(buf, c->peer + pre, n);
	buf[n] = '\0';
	return buf;
}

void
conn_format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	} else {
		snprintf(out, outlen, "unknown");
	}
}

/* The one place that decides whether the watcher runs, and for what. */
static void
conn_update_io(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;
	int want = c->state == CONN_READING ||
		   ((c->state == CONN_IDLE || c->state == CONN_HANDSHAKE) &&
		    (!ctx->paused || ctx->stopping));
	int events = c->tls_want_write ? EV_WRITE : EV_READ;

	if (want && ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) != events)
		ev_io_stop(ctx->loop, &c->io);
	if (want && !ev_is_active(&c->io)) {
		ev_io_modify(&c->io, events);
		ev_io_start(ctx->loop, &c->io);
	} else if (!want && ev_is_active(&c->io)) {
		ev_io_stop(ctx->loop, &c->io);
	}
	/* Bytes inside the session: no readiness event will say so. */
	if (want && c->tls != NULL && c->state != CONN_HANDSHAKE && !c->tls_want_write &&
	    (c->tls_end || tls_pending(c->tls)))
		ev_feed_event(ctx->loop, &c->io, EV_READ);
}

/* Appends c to the retained list (it has just started keeping a slab). */
static void
retained_link(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;

	c->retained = 1;
	c->rnext = NULL;
	c->rprev = ctx->retained_tail;
	if (ctx->retained_tail != NULL)
		ctx->retained_tail->rnext = c;
	else
		ctx->retained_head = c;
	ctx->retained_tail = c;
	ctx->retained_slabs++;
}

static void
retained_unlink(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;

	if (c->rprev != NULL)
		c->rprev->rnext = c->rnext;
	else
		ctx->retained_head = c->rnext;
	if (c->rnext != NULL)
		c->rnext->rprev = c->rprev;
	else
		ctx->retained_tail = c->rprev;
	c->rprev = c->rnext = NULL;
	c->retained = 0;
	ctx->retained_slabs--;
	ctx->retained_bytes -= c->retained_rem;
	c->retained_rem = 0;
}

/* The activity list: most recent frame first, so idle peers sit at the tail. */
static void
conns_unlink(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctx->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		ctx->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

static void
conns_push_front(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;

	c->prev = NULL;
	c->next = ctx->conns;
	if (ctx->conns != NULL)
		ctx->conns->prev = c;
	else
		ctx->conns_tail = c;
	ctx->conns = c;
}

/* Activity: restarts c's idle clock and moves it to the list's front. */
static void
touch(struct conn *c, double now)
{
	c->last_active = now;
	if (c->ctx->conns != c) {
		conns_unlink(c);
		conns_push_front(c);
	}
}

/* Takes a read slab (from a checkout or a grant): the carry goes first. */
static void
take_read_slab(struct conn *c, uint8_t *slab)
{
	c->slab = slab;
	c->ctx->read_slabs++;
	c->pos = 0;
	c->len = (uint32_t)framer_restore(&c->framer, slab);
	c->state = CONN_READING;
}

static void
release_slab(struct conn *c)
{
	if (c->slab == NULL)
		return;
	if (c->retained)
		retained_unlink(c);
	pool_give_back(c->ctx->pool, c->slab);
	c->ctx->read_slabs--;
	c->slab = NULL;
	c->pos = c->len = 0;
}

static void
conn_close(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;

	if (c->state == CONN_CLOSED)
		return;
	/* Out of the list first: releasing slabs below can end a pause, and the
	 * pressure callback then restarts every listed connection's watcher. */
	c->state = CONN_CLOSED;
	ev_io_stop(ctx->loop, &c->io);
	ev_timer_stop(ctx->loop, &c->open_timer);
	conns_unlink(c);
	ctx->nconns--;
	ctx->per_listener[c->l->index].conns--;
	pool_cancel(ctx->pool, &c->read_wait);
	sink_cancel(ctx->sink, &c->out_wait);
	release_slab(c);
	access_release(c->source);   /* the per-source count (any thread) */
	c->source = NULL;
	STATS_INC(conn_closed);
	if (ctx->on_closed != NULL)
		ctx->on_closed(ctx->hook_arg);
	tls_session_free(c->tls);   /* its close_notify goes before the socket closes */
	c->tls = NULL;
	free(c->tls_meta);
	c->tls_meta = NULL;
	/* The socket last: once the peer sees the close, every count says so. */
	close(c->io.fd);
	/* Freed at the end of the iteration: callers up the stack may still
	 * look at c (and see CLOSED). */
	c->next = ctx->closed;
	ctx->closed = c;
	if (!ev_is_active(&ctx->reap))
		ev_prepare_start(ctx->loop, &ctx->reap);
}

void
conn_ctx_reap(struct conn_ctx *ctx)
{
	while (ctx->closed != NULL) {
		struct conn *c = ctx->closed;

		ctx->closed = c->next;
		free(c);
	}
	if (ev_is_active(&ctx->reap))
		ev_prepare_stop(ctx->loop, &ctx->reap);
}

static void
conn_on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_ctx_reap(w->data);
}

void
conn_ctx_init(struct conn_ctx *ctx)
{
	ev_prepare_init(&ctx->reap, conn_on_reap);
	ctx->reap.data = ctx;
}

/* Per-peer bad input: counted by reason, logged rate-limited (per worker
 * thread: each thread has its own limiter, so none waits for another). */
static _Thread_local struct ratelimit bad_input_rl = RATELIMIT_INIT(10.0, 20);

static void
bad_input(struct conn *c, enum decode_bad bad, const char *then)
{
	char peer[64];
	uint64_t suppressed;

	if (ratelimit_allow(&bad_input_rl, clock_mono(), &suppressed))
		log_warnx("%s: listener %s: %s; %s%s",
			  peer_text(c, peer, sizeof(peer)), c->l->conf->name, decode_bad_text(bad),
			  then, suppressed ? " (more bad input not logged)" : "");
}

/* Refreshes the shared `,"_rx_ms":N` fragment once per loop iteration. */
static void
update_rx(struct conn_ctx *ctx)
{
	ev_tstamp now = ev_now(ctx->loop);

	if (now != ctx->rx_at) {
		ctx->rx_at = now;
		ctx->rx_len = record_meta_rx(ctx->rx, (int64_t)(now * 1000.0));
	}
}

enum process_result { PROCESS_DONE, PROCESS_WAIT, PROCESS_BAD };

/*
 * The common case of process(), fixed-size frames of one schema, without
 * decode_next()'s and the sink's per-record calls: the frame size and the
 * record bound do not change, so records are written back to back into the
 * sink's room and committed together.  Stops at a partial frame, when the
 * sink needs a slab (PROCESS_WAIT), or before a frame that fails
 * schema_check(), which it leaves for process() to handle as on_bad_frame
 * says.  Adds the records written to *records.
 */
static enum process_result
process_fixed(struct conn *c, const struct record_meta *m, size_t *records)
{
	struct sink *sink = c->ctx->sink;
	const struct record_layout *lay = c->l->layouts[0];
	uint32_t size = (uint32_t)lay->schema->size;
	size_t bound = record_bound(lay, m);
	/* tls_bind: frames must carry the certificate's identity (process()
	 * refuses the first that does not). */
	const struct field *bind = c->bound ? &lay->schema->fields[c->l->conf->tls.bind_fixed[0]] :
			     NULL;
	int bad = 0;

	while (!bad && c->len - c->pos >= size) {
		char *out = sink_reserve(sink, bound), *o;
		size_t room, n = 0;

		if (out == NULL)
			return PROCESS_WAIT;
		room = sink_room(sink);
		for (o = out; c->len - c->pos >= size && (size_t)(o - out) + bound <= room; n++) {
			const uint8_t *frame = c->slab + c->pos;

			if (schema_check(lay->schema, frame, size) != SCHEMA_OK ||
			    (bind != NULL && !identity_matches(bind, frame, c->identity))) {
				bad = 1;
				break;
			}
			o += record_write_frame(o, lay, frame, m);
			c->pos += size;
		}
		sink_commit(sink, (size_t)(o - out), n);
		*records += n;
	}
	return PROCESS_DONE;
}

/* Counts a bad frame by its reason. */
static void
count_bad(enum decode_bad bad)
{
	switch (bad) {
	case DECODE_BAD_TYPE:         STATS_INC(bad_type); break;
	case DECODE_BAD_OVERSIZE:     STATS_INC(oversize); break;
	case DECODE_BAD_SIZE:         STATS_INC(bad_size); break;
	case DECODE_BAD_MAGIC:        STATS_INC(bad_magic); break;
	case DECODE_BAD_CHECKSUM:     STATS_INC(bad_checksum); break;
	case DECODE_BAD_RESYNC_LIMIT: STATS_INC(resync_giveups); break;
	default:                      break;
	}
}

/* Sets the `,"_peer":"ADDR:PORT"` fragment (and so every log line's peer). */
static void
set_peer(struct conn *c, const struct sockaddr *peer)
{
	char addr[64];
	int n;

	conn_format_addr(peer, addr, sizeof(addr));
	n = snprintf(c->peer, sizeof(c->peer), ",\"_peer\":\"%s\"", addr);
	c->peer_len = (uint8_t)(n > 0 && (size_t)n < sizeof(c->peer) ? n : 0);
}

static _Thread_local struct ratelimit proxy_rl = RATELIMIT_INIT(10.0, 20);

/*
 * A trusted balancer's connection starts with a PROXY header: parses it
 * from slab[pos..len).  PROCESS_DONE with the header consumed (and the
 * sensor's address as the peer from now on) or still incomplete (its bytes
 * stay, like a partial frame's); PROCESS_BAD to close: a bad header, or a
 * sensor the allow/deny lists refuse.
 */
static enum process_result
take_proxy_header(struct conn *c)
{
	const struct listener_conf *lc = c->l->conf;
	struct proxy_header h;
	enum proxy_bad why;
	char peer[64];
	uint64_t suppressed;

	switch (proxy_parse(c->slab + c->pos, c->len - c->pos, lc->proxy_versions, lc->proxy_max,
			    &h, &why)) {
	case PROXY_MORE:
		return PROCESS_DONE;
	case PROXY_BAD:
		STATS_INC(proxy_bad);
		if (ratelimit_allow(&proxy_rl, clock_mono(), &suppressed))
			log_warnx("%s: listener %s: %s; closing the connection%s",
				  peer_text(c, peer, sizeof(peer)), lc->name, proxy_bad_text(why),
				  suppressed ? " (more not logged)" : "");
		return PROCESS_BAD;
	case PROXY_DONE:
		break;
	}
	c->pos += (uint32_t)h.length;
	c->awaiting_proxy = 0;
	ev_timer_stop(c->ctx->loop, &c->open_timer);
	STATS_INC(proxy_headers);
	if (h.local) {
		STATS_INC(proxy_local);   /* a health check: the balancer itself */
		return PROCESS_DONE;
	}
	set_peer(c, (struct sockaddr *)&h.src);
	if (!access_permits(&lc->allow, &lc->deny, (struct sockaddr *)&h.src)) {
		STATS_INC(conn_denied);
		if (ratelimit_allow(&proxy_rl, clock_mono(), &suppressed))
			log_warnx("%s: listener %s: not allowed (allow/deny, address from the PROXY "
				  "header); closing the connection%s", peer_text(c, peer, sizeof(peer)),
				  lc->name, suppressed ? " (more not logged)" : "");
		return PROCESS_BAD;
	}
	return PROCESS_DONE;
}

static _Thread_local struct ratelimit tls_rl = RATELIMIT_INIT(10.0, 20);

/* The open timer: a PROXY header or a TLS handshake took too long. */
static void
conn_on_open_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	const struct listener_conf *lc = c->l->conf;
	double limit = c->awaiting_proxy ? lc->proxy_timeout : lc->tls.handshake_timeout;
	char peer[64];
	uint64_t suppressed;

	(void)revents;
	/* Only the peer's slowness counts, not ingestd's: a connection held
	 * back (waiting for a slab, or paused) gets its time again. */
	if (c->state == CONN_WAIT_READ || c->state == CONN_WAIT_OUTPUT ||
	    (c->ctx->paused && !c->ctx->stopping)) {
		ev_timer_set(w, limit, 0.0);
		ev_timer_start(loop, w);
		return;
	}
	if (c->awaiting_proxy) {
		STATS_INC(proxy_timeouts);
		if (ratelimit_allow(&proxy_rl, clock_mono(), &suppressed))
			log_warnx("%s: listener %s: no whole PROXY header within %.1f s; closing%s",
				  peer_text(c, peer, sizeof(peer)), lc->name, limit,
				  suppressed ? " (more not logged)" : "");
	} else {
		STATS_INC(tls_handshake_timeouts);
		if (ratelimit_allow(&tls_rl, clock_mono(), &suppressed))
			log_warnx("%s: listener %s: no TLS handshake within %.1f s; closing%s",
				  peer_text(c, peer, sizeof(peer)), lc->name, limit,
				  suppressed ? " (more not logged)" : "");
	}
	conn_close(c);
}

/* Counts a failed handshake by its reason. */
static void
count_tls_failure(enum tls_failure why)
{
	switch (why) {
	case TLS_FAIL_NO_CERT:   STATS_INC(tls_no_certificate); break;
	case TLS_FAIL_VERIFY:    STATS_INC(tls_verify_failures); break;
	case TLS_FAIL_VERSION:   STATS_INC(tls_version_refused); break;
	case TLS_FAIL_PLAINTEXT: STATS_INC(tls_plaintext); break;
	default:                 STATS_INC(tls_handshake_failures); break;
	}
}

static void
refuse_tls(struct conn *c, const char *what, const char *detail)
{
	char peer[64];
	uint64_t suppressed;

	if (ratelimit_allow(&tls_rl, clock_mono(), &suppressed))
		log_warnx("%s: listener %s: TLS: %s%s%s; closing the connection%s",
			  peer_text(c, peer, sizeof(peer)), c->l->conf->name, what,
			  detail[0] ? ": " : "", detail, suppressed ? " (more not logged)" : "");
	conn_close(c);
}

/*
 * The handshake is done: with tls_ca, the certificate's CN becomes the
 * `_tls_cn` metadata and, with tls_bind, the identity every frame must
 * carry.  Returns 0, or -1 when the connection was refused (and closed).
 */
static int
take_identity(struct conn *c)
{
	const struct tls_conf *t = &c->l->conf->tls;
	char cn[TLS_CN_MAX + 1], shown[4 * TLS_CN_MAX + 8];
	int n;

	if (t->ca[0] == '\0')
		return 0;
	if ((n = tls_peer_cn(c->tls, cn, sizeof(cn))) < 0) {
		STATS_INC(tls_verify_failures);
		refuse_tls(c, tls_failure_text(TLS_FAIL_VERIFY), "its subject CN is not text of "
			   "at most 256 bytes");
		return -1;
	}
	if (c->ctx->metadata &&
	    (c->tls_meta = record_meta_string("_tls_cn", cn, &c->tls_meta_len)) == NULL) {
		STATS_INC(tls_verify_failures);
		refuse_tls(c, tls_failure_text(TLS_FAIL_VERIFY), "its subject CN could not be made "
			   "metadata (not UTF-8, or out of memory)");
		return -1;
	}
	if (t->bind[0] != '\0') {
		if (identity_from_cn(cn, (size_t)n, &c->identity) < 0) {
			char why[sizeof(shown) + SCHEMA_NAME_MAX + 64];

			log_escape(shown, sizeof(shown), cn);
			snprintf(why, sizeof(why), "certificate CN \"%s\" does not end with a number "
				 "for tls_bind (%s)", shown, t->bind);
			STATS_INC(bad_identity);
			refuse_tls(c, "bad identity", why);
			return -1;
		}
		c->bound = 1;
	}
	return 0;
}

/* One step of a TLS handshake (the watcher said the socket is ready). */
static void
handshake_step(struct conn *c)
{
	enum tls_failure why;
	char reason[256];
	enum tls_step step = tls_handshake(c->tls, c->io.fd, &why, reason, sizeof(reason));

	switch (step) {
	case TLS_WANT_READ:
	case TLS_WANT_WRITE:
		c->tls_want_write = step == TLS_WANT_WRITE;
		conn_update_io(c);
		return;
	case TLS_CLOSED:
		STATS_INC(tls_handshake_failures);
		refuse_tls(c, tls_failure_text(TLS_FAIL_OTHER), "the peer closed the connection");
		return;
	case TLS_FAILED:
		count_tls_failure(why);
		refuse_tls(c, tls_failure_text(why), reason);
		return;
	case TLS_OK:
		break;
	}
	ev_timer_stop(c->ctx->loop, &c->open_timer);
	c->tls_want_write = 0;
	STATS_INC(tls_handshakes);
	if (tls_resumed(c->tls))
		STATS_INC(tls_resumed);
	if (take_identity(c) < 0)
		return;
	c->state = CONN_IDLE;
	touch(c, clock_mono());
	conn_update_io(c);   /* application data may have come with the last flight */
}

/*
 * tls_bind: 1 when the frame (of layout lay, whose bound field is number
 * idx; -1: none) carries c's identity; else counts and logs bad_identity
 * and returns 0.  A frame that claims another sensor closes the connection
 * whatever on_bad_frame says: it is the sensor's key that is in question.
 */
static int
speaks_for(struct conn *c, const struct record_layout *lay, int idx, const uint8_t *frame)
{
	const struct field *f = idx >= 0 ? &lay->schema->fields[idx] : NULL;
	char peer[64];
	uint64_t suppressed;

	if (f != NULL && identity_matches(f, frame, c->identity))
		return 1;
	STATS_INC(bad_identity);
	if (ratelimit_allow(&tls_rl, clock_mono(), &suppressed)) {
		if (f != NULL)
			log_warnx("%s: listener %s: bad identity: %s %lld, but the certificate "
				  "speaks for %llu; closing the connection%s",
				  peer_text(c, peer, sizeof(peer)), c->l->conf->name, f->name,
				  (long long)schema_int(f, frame), (unsigned long long)c->identity,
				  suppressed ? " (more not logged)" : "");
		else
			log_warnx("%s: listener %s: bad identity: a raw TLV frame has no %s to "
				  "check against the certificate; closing the connection%s",
				  peer_text(c, peer, sizeof(peer)), c->l->conf->name,
				  c->l->conf->tls.bind, suppressed ? " (more not logged)" : "");
	}
	return 0;
}

/*
 * Turns every complete frame in slab[pos..len) into a record, and handles
 * bad frames as the listener's on_bad_frame says (decode.h).  Stops early
 * (PROCESS_WAIT) when the sink needs a slab the pool does not have.
 */
static enum process_result
process(struct conn *c)
{
	struct conn_ctx *ctx = c->ctx;
	struct listener *l = c->l;
	const struct listener_conf *lc = l->conf;
	struct record_meta meta, *m = NULL;
	size_t records = 0;
	enum process_result res = PROCESS_DONE;

	if (c->awaiting_proxy) {
		res = take_proxy_header(c);
		if (res != PROCESS_DONE || c->awaiting_proxy)
			return res;
	}
	if (ctx->metadata) {
		update_rx(ctx);
		meta = (struct record_meta){ .listener = l->meta, .listener_len = l->meta_len,
					     .peer = c->peer, .peer_len = c->peer_len,
					     .tls = c->tls_meta, .tls_len = c->tls_meta_len,
					     .rx = ctx->rx, .rx_len = ctx->rx_len };
		m = &meta;
	}
	if (lc->framer.kind == FRAMING_FIXED && lc->nschemas == 1 && !c->decode.resyncing) {
		res = process_fixed(c, m, &records);
		if (res == PROCESS_WAIT)
			goto out;
	}
	for (;;) {
		struct decoded d;
		const struct record_layout *lay;
		char *out;

		decode_next(lc, &c->decode, c->slab + c->pos, c->len - c->pos, &d);
		switch (d.action) {
		case DEC_PARTIAL:
			goto out;
		case DEC_CLOSE:
			count_bad(d.bad);
			bad_input(c, d.bad, "closing the connection");
			res = PROCESS_BAD;
			goto out;
		case DEC_SKIP:
			count_bad(d.bad);
			STATS_INC(frames_skipped);
			bad_input(c, d.bad, "frame dropped (on_bad_frame = skip)");
			c->pos += (uint32_t)d.advance;
			continue;
		case DEC_SLIDE:
			if (d.resync_start) {
				count_bad(d.bad);
				STATS_INC(resyncs);
				bad_input(c, d.bad, "resynchronising (on_bad_frame = resync)");
			}
			STATS_ADD(resync_bytes, d.advance);
			c->pos += (uint32_t)d.advance;
			continue;
		case DEC_RECORD:
			lay = lc->framer.kind == FRAMING_FIXED ? l->layouts[d.index] :
			      l->tlv_layout[d.frame.type];
			if (c->bound && !speaks_for(c, lay, lc->framer.kind == FRAMING_FIXED ?
						    lc->tls.bind_fixed[d.index] :
						    lc->tls.bind_tlv[d.frame.type], d.frame.value)) {
				res = PROCESS_BAD;
				goto out;
			}
			out = sink_reserve(ctx->sink, record_bound(lay, m));
			if (out == NULL) {
				res = PROCESS_WAIT;
				goto out;
			}
			sink_commit(ctx->sink, record_write_frame(out, lay, d.frame.value, m), 1);
			break;
		case DEC_RAW:
			if (c->bound && !speaks_for(c, NULL, -1, NULL)) {
				res = PROCESS_BAD;   /* a raw record has no field to bind */
				goto out;
			}
			out = sink_reserve(ctx->sink, record_raw_bound(d.frame.len, m));
			if (out == NULL) {
				res = PROCESS_WAIT;
				goto out;
			}
			sink_commit(ctx->sink, record_write_raw(out, d.frame.type, d.frame.value,
								d.frame.len, m), 1);
			break;
		}
		c->pos += (uint32_t)d.advance;
		records++;
	}
out:
	STATS_ADD(frames_in, records);
	if (records > 0) {
		ctx->per_listener[l->index].records += records;
		touch(c, clock_mono());
	}
	return res;
}

/*
 * Partial frames may keep at most max_retained slabs in all: past that the
 * connection whose partial frame has waited longest is closed, so peers
 * that park big half-frames cannot drain the pool and pause everyone.  The
 * one closed may be the caller's own connection: callers check its state.
 */
static void
enforce_retained_cap(struct conn_ctx *ctx)
{
	while (ctx->retained_slabs > ctx->max_retained && ctx->retained_head != NULL) {
		struct conn *victim = ctx->retained_head;
		char peer[64];
		uint64_t suppressed;

		STATS_INC(retained_evictions);
		if (ratelimit_allow(&bad_input_rl, clock_mono(), &suppressed))
			log_warnx("%s: listener %s: partial frame of %u bytes held longest while "
				  "max_retained (%zu) is reached; closing the connection",
				  peer_text(victim, peer, sizeof(peer)), victim->l->conf->name,
				  victim->retained_rem, ctx->max_retained);
		conn_close(victim);
	}
}

/*
 * After processing: give the read slab back unless a large partial frame
 * needs it.  A small remainder moves to the carry so a few bytes never pin
 * a whole slab.
 */
static void
settle_slab(struct conn *c)
{
	uint32_t rem = c->len - c->pos;

	c->state = CONN_IDLE;
	if (rem == 0) {
		release_slab(c);
		return;
	}
	if (framer_save(&c->framer, c->slab + c->pos, rem)) {
		STATS_INC(carry_copies);
		c->pos = c->len;  /* consumed into the carry */
		release_slab(c);
		return;
	}
	c->state = CONN_READING;
	if (!c->retained) {
		STATS_INC(slabs_retained);
		retained_link(c);
	}
	/* In 64 bits: rem may be smaller than what was counted before. */
	c->ctx->retained_bytes = c->ctx->retained_bytes - c->retained_rem + rem;
	c->retained_rem = rem;
	enforce_retained_cap(c->ctx);
}

/* What follows process(): close, wait for output room, or settle. */
static void
after_process(struct conn *c, enum process_result pr)
{
	if (pr == PROCESS_BAD) {
		conn_close(c);
		return;
	}
	if (pr == PROCESS_WAIT) {
		c->state = CONN_WAIT_OUTPUT;
		conn_update_io(c);
		sink_wait(c->ctx->sink, &c->out_wait);
		return;
	}
	settle_slab(c);
	conn_update_io(c);  /* no-op when settle closed c */
}

/* The sink has room again: go on with the bytes left in the slab. */
static void
conn_on_output_room(struct sink_waiter *w)
{
	struct conn *c = (struct conn *)(void *)((char *)w - offsetof(struct conn, out_wait));

	if (c->state != CONN_WAIT_OUTPUT)
		return;
	c->state = CONN_READING;
	touch(c, clock_mono());  /* the wait was ingestd's, not the peer's silence */
	after_process(c, process(c));
}

/* Called from inside pool_release(): take the slab and start the watcher;
 * the bytes that made c want it are still in the socket. */
static void
conn_on_read_slab(struct pool_waiter *w, void *slab)
{
	struct conn *c = (struct conn *)(void *)((char *)w - offsetof(struct conn, read_wait));

	take_read_slab(c, slab);
	touch(c, clock_mono());
	conn_update_io(c);
}

/* Reads once into the slab; 1 on data, 0 on EOF, -1 on EAGAIN, -2 on error. */
static int
read_once(struct conn *c)
{
	size_t cap = pool_slab_size(c->ctx->pool);
	uint64_t raw = 0;
	ssize_t n;

	if (c->pos > 0) {
		memmove(c->slab, c->slab + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->tls != NULL) {
		size_t got, total = 0;
		uint64_t took;
		enum tls_step st;

		/* A TLS read gives at most one record (16 KiB): fill the slab
		 * from what the session holds, as one plaintext read would.  An
		 * end or error after some bytes comes again on the next read. */
		do {
			st = tls_read(c->tls, c->slab + c->len + total, cap - c->len - total, &got,
				      &took);
			raw += took;
			total += got;
		} while (st == TLS_OK && total < cap - c->len);
		c->tls_want_write = st == TLS_WANT_WRITE;
		/* The end came with bytes: they go first, and nothing on the socket
		 * will announce the end again (conn_update_io feeds it). */
		c->tls_end = total > 0 && (st == TLS_CLOSED || st == TLS_FAILED);
		if (st == TLS_FAILED && total == 0) {
			char peer[64], why[256];

			log_debug("%s: TLS read: %s", peer_text(c, peer, sizeof(peer)),
				  tls_last_error(why, sizeof(why)));
		}
		n = total > 0 ? (ssize_t)total : st == TLS_CLOSED ? 0 : -1;
		errno = st == TLS_FAILED ? EPROTO : EAGAIN;
	} else {
		do
			n = read(c->io.fd, c->slab + c->len, cap - c->len);
		while (n < 0 && errno == EINTR);
		raw = n > 0 ? (uint64_t)n : 0;
	}
	/* FIONREAD counted what the socket held: TLS records, not their text. */
	if (raw > 0 && c->ctx->stopping) {
		c->drain_left -= raw < c->drain_left ? (uint32_t)raw : c->drain_left;
		c->last_active = clock_mono();  /* while draining: the last bytes */
	}
	if (n > 0) {
		c->len += (uint32_t)n;
		STATS_ADD(bytes_in, (uint64_t)n);
		c->ctx->per_listener[c->l->index].bytes_in += (uint64_t)n;
		return 1;
	}
	if (n == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -1;
	return -2;
}

static void
conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct conn_ctx *ctx = c->ctx;
	char peer[64];
	int r;

	(void)loop;
	(void)revents;
	if (c->state == CONN_HANDSHAKE) {
		if (!ctx->paused || ctx->stopping)
			handshake_step(c);
		else
			conn_update_io(c);   /* queued before the pause began */
		return;
	}
	if (c->state != CONN_IDLE && c->state != CONN_READING)
		return;  /* an event queued before the state changed */
	if (c->state == CONN_IDLE) {
		uint8_t *slab;

		if (ctx->paused && !ctx->stopping) {
			conn_update_io(c);  /* queued before the pause began */
			return;
		}
		slab = pool_checkout(ctx->pool, POOL_READ);
		if (slab == NULL) {
			c->state = CONN_WAIT_READ;
			STATS_INC(slab_waits);
			/* pool_wait may call conn_ctx_pressure, which skips waiters. */
			conn_update_io(c);
			pool_wait(ctx->pool, &c->read_wait, POOL_READ);
			return;
		}
		take_read_slab(c, slab);
	}

	r = read_once(c);
	if (r == -2) {
		STATS_INC(read_errors);
		log_debug("%s: read: %s", peer_text(c, peer, sizeof(peer)), strerror(errno));
		conn_close(c);
		return;
	}
	if (r == 0) {
		if (c->len > c->pos) {
			STATS_INC(truncated);
			log_debug("%s: closed with %u bytes of an unfinished frame",
				  peer_text(c, peer, sizeof(peer)), c->len - c->pos);
		}
		conn_close(c);
		return;
	}
	/* Data, or nothing yet (EAGAIN): a slab with no new bytes settles back.
	 * Draining: an empty socket is not the end (the peer's kernel may still
	 * be sending); the drain sweep closes the connection once it is quiet. */
	after_process(c, r == 1 ? process(c) : PROCESS_DONE);
}

int
conn_new(struct conn_ctx *ctx, struct listener *l, int fd, const struct sockaddr *peer,
	 socklen_t peerlen, struct access_source *src)
{
	struct conn *c = calloc(1, sizeof(*c));

	(void)peerlen;
	if (c == NULL) {
		close(fd);
		access_release(src);
		return -1;
	}
	c->source = src;
	c->ctx = ctx;
	c->l = l;
	c->state = CONN_IDLE;
	c->read_wait.grant = conn_on_read_slab;
	c->out_wait.room = conn_on_output_room;
	framer_init(&c->framer, &l->conf->framer);
	set_peer(c, peer);
	ev_io_init(&c->io, conn_on_io, fd, EV_READ);
	c->io.data = c;
	ev_timer_init(&c->open_timer, conn_on_open_timeout, l->conf->proxy_timeout, 0.0);
	c->open_timer.data = c;
	if (l->conf->proxy_versions != 0 && access_match(&l->conf->proxy_from, peer)) {
		c->awaiting_proxy = 1;
		ev_timer_start(ctx->loop, &c->open_timer);
	}
	if (l->tls != NULL) {
		if ((c->tls = tls_session_new(l->tls, fd)) == NULL) {
			log_warnx("listener %s: out of memory for a TLS session; closing a new "
				  "connection", l->conf->name);
			close(fd);
			access_release(src);
			free(c);
			return -1;
		}
		c->state = CONN_HANDSHAKE;
		ev_timer_set(&c->open_timer, l->conf->tls.handshake_timeout, 0.0);
		ev_timer_start(ctx->loop, &c->open_timer);
	}
	c->last_active = clock_mono();
	conns_push_front(c);
	ctx->nconns++;
	ctx->per_listener[l->index].conns++;
	STATS_INC(conn_accepted);
	conn_update_io(c);
	return 0;
}

void
conn_ctx_pressure(void *arg, int paused)
{
	struct conn_ctx *ctx = arg;
	double now = clock_mono();

	ctx->paused = paused;
	/* A sink that keeps up only just can pause and resume many times a
	 * second: log one pause (and its resume) per window; pause_events and
	 * paused_seconds keep the full count. */
	static _Thread_local struct ratelimit pause_rl = RATELIMIT_INIT(10.0, 1);
	static _Thread_local int pause_logged;
	uint64_t suppressed;

	if (paused) {
		ctx->paused_since = now;
		STATS_INC(pause_events);
		pause_logged = ratelimit_allow(&pause_rl, now, &suppressed);
		if (pause_logged)
			log_info("pool: read waiters reached max_waiters; pausing reads on every "
				 "connection (%llu pauses not logged before this one)",
				 (unsigned long long)suppressed);
	} else {
		ctx->paused_total += now - ctx->paused_since;
		if (pause_logged)
			log_info("pool: waiters drained to waiters_low; resuming reads after %.3f s",
				 now - ctx->paused_since);
	}
	for (struct conn *c = ctx->conns; c != NULL; c = c->next) {
		/* A pause is ingestd holding back, not the peer going quiet: every
		 * idle clock restarts when it ends (all equal: the order holds). */
		if (!paused)
			c->last_active = now;
		conn_update_io(c);
	}
	if (ctx->on_pressure != NULL)
		ctx->on_pressure(ctx->hook_arg, paused);
}

void
conn_ctx_drain_all(struct conn_ctx *ctx)
{
	double now = clock_mono();

	ev_timer_init(&ctx->drain_sweep, conn_on_drain_sweep, DRAIN_QUIET / 2, DRAIN_QUIET / 2);
	ctx->drain_sweep.data = ctx;
	ev_timer_start(ctx->loop, &ctx->drain_sweep);
	for (struct conn *c = ctx->conns, *next; c != NULL; c = next) {
		int pending = 0;

		next = c->next;
		/* Nothing of theirs has been read yet: refused as after the signal. */
		if (c->state == CONN_HANDSHAKE) {
			conn_close(c);
			continue;
		}
		/* What the kernel holds now is what the peer has delivered. */
		if (ioctl(c->io.fd, FIONREAD, &pending) < 0 || pending < 0)
			pending = 0;
		c->drain_left = (uint32_t)pending;
		c->last_active = now;
		conn_update_io(c);
		if (c->state == CONN_IDLE || c->state == CONN_READING)
			ev_feed_event(ctx->loop, &c->io, EV_READ);
	}
}

static void
conn_on_drain_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_ctx *ctx = w->data;
	double now = clock_mono();
	struct conn *c, *next;

	(void)revents;
	for (c = ctx->conns; c != NULL; c = next) {
		next = c->next;
		if ((c->state == CONN_IDLE || c->state == CONN_READING) && c->drain_left == 0 &&
		    now - c->last_active >= DRAIN_QUIET &&
		    (c->tls == NULL || (!c->tls_end && !tls_pending(c->tls)))) {
			if (c->slab != NULL || c->framer.carry_len > 0)
				STATS_INC(truncated);
			conn_close(c);
		}
	}
	if (ctx->conns == NULL)
		ev_timer_stop(loop, w);
}

void
conn_ctx_close_all(struct conn_ctx *ctx)
{
	while (ctx->conns != NULL)
		conn_close(ctx->conns);
}

/*
 * Closes connections whose peer has been silent for idle_timeout while
 * ingestd was reading them.  The activity list keeps the longest-idle at
 * its tail, so a sweep looks at the connections it closes, the ones
 * waiting for a slab or output room (ingestd's wait, skipped), plus one.
 * While reads are paused nobody is being read: no sweep.
 */
static void
conn_on_idle_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_ctx *ctx = w->data;
	double now = clock_mono();
	static _Thread_local struct ratelimit idle_rl = RATELIMIT_INIT(10.0, 5);
	struct conn *c, *prev;

	(void)loop;
	(void)revents;
	if (ctx->paused)
		return;
	for (c = ctx->conns_tail; c != NULL && now - c->last_active >= ctx->idle_timeout; c = prev) {
		char peer[64];
		uint64_t suppressed;

		prev = c->prev;
		if (c->state == CONN_WAIT_READ || c->state == CONN_WAIT_OUTPUT)
			continue;
		STATS_INC(idle_closed);
		if (ratelimit_allow(&idle_rl, now, &suppressed))
			log_info("%s: listener %s: no complete frame for %.1f s; closing",
				 peer_text(c, peer, sizeof(peer)), c->l->conf->name, ctx->idle_timeout);
		conn_close(c);
	}
}

void
conn_ctx_start_idle_sweep(struct conn_ctx *ctx)
{
	double every;

	if (ctx->idle_timeout <= 0)
		return;
	/* Closes within a quarter of the timeout, at most a second late. */
	every = ctx->idle_timeout / 4;
	if (every > 1.0)
		every = 1.0;
	ev_timer_init(&ctx->idle_sweep, conn_on_idle_sweep, every, every);
	ctx->idle_sweep.data = ctx;
	ev_timer_start(ctx->loop, &ctx->idle_sweep);
}

void
conn_ctx_gauges(const struct conn_ctx *ctx, struct conn_gauges *g)
{
	g->conns = ctx->nconns;
	g->read_slabs = ctx->read_slabs;
	g->paused = ctx->paused;
	g->stopping = ctx->stopping;
	g->paused_since = ctx->paused_since;
	g->paused_total = ctx->paused_total;
	g->retained_bytes = ctx->retained_bytes;
	pool_get_stats(ctx->pool, &g->pool);
	g->output_waiters = sink_waiting(ctx->sink);
	g->sink_empty = sink_empty(ctx->sink);
	g->nlisteners = ctx->nlisteners;
	memcpy(g->per_listener, ctx->per_listener, ctx->nlisteners * sizeof(g->per_listener[0]));
}

void
conn_gauges_add(const struct conn_gauges *g, double now, struct stats_view *v)
{
	double paused_for = g->paused && now > g->paused_since ? now - g->paused_since : 0;
	double paused_seconds = g->paused_total + paused_for;

	v->conns += g->conns;
	v->read_slabs += g->read_slabs;
	v->retained_bytes += g->retained_bytes;
	v->paused |= g->paused;
	v->stopping |= g->stopping;
	/* A pause is one worker's: the longest is what health judges. */
	if (paused_for > v->paused_for)
		v->paused_for = paused_for;
	if (paused_seconds > v->paused_seconds)
		v->paused_seconds = paused_seconds;
	v->slabs += g->pool.slabs;
	v->slabs_in_use += g->pool.in_use;
	v->slabs_peak += g->pool.peak;
	v->overflow_in_use += g->pool.overflow_in_use;
	v->overflow_peak += g->pool.overflow_peak;
	v->waiters += g->pool.waiters;
	v->read_waiters += g->pool.read_waiters;
	v->waiters_peak += g->pool.waiters_peak;
	v->checkouts += g->pool.checkouts;
	v->refused_releases += g->pool.refused_releases;
	v->output_waiters += g->output_waiters;
	for (size_t j = 0; j < g->nlisteners && j < v->nlisteners; j++) {
		v->listeners[j].records += g->per_listener[j].records;
		v->listeners[j].bytes_in += g->per_listener[j].bytes_in;
		v->listeners[j].conns += g->per_listener[j].conns;
	}
}
