/*
 * listener: see listener.h.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "stats.h"

/* Accepts per readiness event: bounds the time one busy listener can keep
 * the loop from everything else. */
#define ACCEPTS_PER_EVENT 64

static struct ratelimit accept_rl = RATELIMIT_INIT(10.0, 5);

static void
listener_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct conn_ctx *ctx = l->ctx;
	uint64_t suppressed;

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			STATS_INC(accept_errors);
			if (ratelimit_allow(&accept_rl, ev_now(loop), &suppressed))
				log_warn("listener %s: accept", l->conf->name);
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The socket stays readable: stop watching it for a
				 * second instead of spinning. */
				ev_io_stop(loop, &l->io);
				ev_timer_start(loop, &l->backoff);
			}
			return;
		}
		if (ctx->nconns >= ctx->max_connections) {
			STATS_INC(conn_refused);
			if (ratelimit_allow(&accept_rl, ev_now(loop), &suppressed))
				log_warnx("listener %s: max_connections (%zu) reached; "
					  "closing new connections", l->conf->name,
					  ctx->max_connections);
			close(fd);
			continue;
		}
		conn_new(ctx, l, fd, (struct sockaddr *)&ss, sl);
	}
}

static void
listener_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;

	(void)loop;
	(void)revents;
	listener_start(l);
}

int
listener_open(struct listener *l, const struct listener_conf *conf, struct conn_ctx *ctx,
	      const struct record_layout *(*layout_of)(const struct schema *), char *err,
	      size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->conf = conf;
	l->ctx = ctx;
	memset(&ss, 0, sizeof(ss));
	if (strchr(conf->address, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(conf->port);
		if (inet_pton(AF_INET6, conf->address, &in6->sin6_addr) != 1)
			goto bad_addr;
		sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(conf->port);
		if (inet_pton(AF_INET, conf->address, &in->sin_addr) != 1)
			goto bad_addr;
		sl = sizeof(*in);
	}
	if (conf->framer.kind == FRAMING_FIXED) {
		l->layout = layout_of(conf->schema);
	} else {
		for (int t = 1; t < 256; t++)
			if (conf->tlv_map[t] != NULL)
				l->tlv_layout[t] = layout_of(conf->tlv_map[t]);
	}
	l->meta = record_meta_string("_listener", conf->name, &l->meta_len);
	if (l->meta == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto sys_err;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Set on the listening socket so accepted ones inherit it before the
	 * handshake (the window is negotiated then).  It bounds what the kernel
	 * queues per connection while reads are paused. */
	if (conf->recv_buffer > 0) {
		int rb = (int)conf->recv_buffer;
		if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) < 0)
			goto sys_err;
	}
	if (ss.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0 || listen(l->fd, SOMAXCONN) < 0)
		goto sys_err;
	sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		conn_format_addr((struct sockaddr *)&ss, l->bound, sizeof(l->bound));
	ev_io_init(&l->io, listener_on_accept, l->fd, EV_READ);
	l->io.data = l;
	ev_timer_init(&l->backoff, listener_on_backoff, 1.0, 0.0);
	l->backoff.data = l;
	return 0;

bad_addr:
	snprintf(err, errlen, "listener %s: \"%s\" is not a numeric IP address", conf->name,
		 conf->address);
	return -1;
sys_err:
	snprintf(err, errlen, "listener %s: cannot listen on %s port %u: %s", conf->name,
		 conf->address, conf->port, strerror(errno));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->meta);
	l->meta = NULL;
	return -1;
}

void
listener_start(struct listener *l)
{
	if (l->fd >= 0 && !l->paused && !ev_is_active(&l->backoff))
		ev_io_start(l->ctx->loop, &l->io);
}

void
listener_pause(struct listener *l, int pause)
{
	l->paused = pause;
	if (pause)
		ev_io_stop(l->ctx->loop, &l->io);
	else
		listener_start(l);
}

void
listener_close(struct listener *l)
{
	if (l->fd >= 0) {
		ev_io_stop(l->ctx->loop, &l->io);
		ev_timer_stop(l->ctx->loop, &l->backoff);
		close(l->fd);
		l->fd = -1;
	}
	free(l->meta);
	l->meta = NULL;
}
