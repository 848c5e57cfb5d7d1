/*
 * listener: see listener.h.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "stats.h"

/* Accepts per readiness event: bounds the time one busy listener can keep
 * the loop from everything else. */
#define ACCEPTS_PER_EVENT 64

static struct ratelimit accept_rl = RATELIMIT_INIT(10.0, 5);

/*
 * One descriptor held in reserve for running out of them: on EMFILE the
 * listener gives it up, accepts the waiting connection, closes it at once
 * (the peer sees a prompt close, not a hang), and takes the reserve back.
 * Without it a readable listening socket that cannot be accepted from would
 * wake the loop forever.
 */
static int reserve_fd = -1;

/* Takes the reserve when it is not held; called again at every chance
 * (each shed, each backoff) so that a failure to get it once, say because
 * descriptors ran out at that moment, is not forever. */
static void
reserve_take(void)
{
	if (reserve_fd < 0)
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Accepts and closes one connection using the reserve.  Returns 1 when one
 * was shed, 0 when none was waiting (accept reports EMFILE before it looks
 * at the queue, so an empty queue looks the same as a full one until now),
 * -1 when there is no reserve to use.
 */
static int
shed_one(struct listener *l)
{
	int fd, err;

	reserve_take();
	if (reserve_fd < 0)
		return -1;
	close(reserve_fd);
	reserve_fd = -1;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (fd >= 0)
		close(fd);
	reserve_take();
	if (fd >= 0)
		return 1;
	return err == EAGAIN || err == EWOULDBLOCK ? 0 : -1;
}

/*
 * Whether peer may connect: the allow and deny lists, then its source's
 * count.  0 (counted, logged rate-limited) when not; else 1 with *src the
 * source's entry to hand to the connection (NULL without a per-source
 * limit).
 */
static int
admit(struct listener *l, const struct sockaddr *peer, struct access_source **src)
{
	const struct listener_conf *c = l->conf;
	static struct ratelimit deny_rl = RATELIMIT_INIT(10.0, 5);
	char addr[80];
	uint64_t suppressed;

	*src = NULL;
	if (c->proxy_versions != 0) {
		/* A balancer's connection: the lists and the per-source count
		 * apply to the sensor its header names (conn.c), not to it. */
		if (access_match(&c->proxy_from, peer))
			return 1;
		if (!c->proxy_direct) {
			STATS_INC(proxy_refused);
			if (ratelimit_allow(&deny_rl, clock_mono(), &suppressed)) {
				conn_format_addr(peer, addr, sizeof(addr));
				log_warnx("listener %s: %s is not in proxy_from and proxy_direct is "
					  "off; closed%s", c->name, addr,
					  suppressed ? " (more not logged)" : "");
			}
			return 0;
		}
	}
	if (!access_permits(&c->allow, &c->deny, peer)) {
		STATS_INC(conn_denied);
		if (ratelimit_allow(&deny_rl, clock_mono(), &suppressed)) {
			conn_format_addr(peer, addr, sizeof(addr));
			log_warnx("listener %s: %s is not allowed (allow/deny); closed%s", c->name,
				  addr, suppressed ? " (more not logged)" : "");
		}
		return 0;
	}
	if (l->sources.e == NULL)
		return 1;
	switch (access_take(&l->sources, peer, src)) {
	case ACCESS_OK:
		return 1;
	case ACCESS_SOURCE_LIMIT:
		STATS_INC(conn_source_limited);
		if (ratelimit_allow(&deny_rl, clock_mono(), &suppressed)) {
			conn_format_addr(peer, addr, sizeof(addr));
			log_warnx("listener %s: %s already has max_conns_per_source (%u) "
				  "connections; closed%s", c->name, addr, c->max_conns_per_source,
				  suppressed ? " (more not logged)" : "");
		}
		return 0;
	case ACCESS_TABLE_FULL:
		break;
	}
	STATS_INC(source_table_full);
	if (ratelimit_allow(&deny_rl, clock_mono(), &suppressed)) {
		conn_format_addr(peer, addr, sizeof(addr));
		log_warnx("listener %s: %s: the per-source table is full (max_sources = %zu); "
			  "closed%s", c->name, addr, c->max_sources, suppressed ? " (more not logged)" : "");
	}
	return 0;
}

static void
listener_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	const struct listener_hooks *h = l->hooks;
	uint64_t suppressed;

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct access_source *src = NULL;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;  /* logging below may change errno */

			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (err == EINTR || err == ECONNABORTED || err == EPROTO)
				continue;
			if (err == EMFILE || err == ENFILE) {
				int shed = shed_one(l);

				if (shed == 0)
					return;     /* nobody was waiting after all */
				if (shed > 0) {
					STATS_INC(accept_errors);
					STATS_INC(conn_refused);
					if (ratelimit_allow(&accept_rl, clock_mono(), &suppressed))
						log_warnx("listener %s: out of descriptors (%zu "
							  "connections open); closing new connections",
							  l->conf->name, h->open_conns(h->arg));
					continue;
				}
			}
			STATS_INC(accept_errors);
			if (ratelimit_allow(&accept_rl, clock_mono(), &suppressed)) {
				errno = err;
				log_warn("listener %s: accept (%zu connections open)", l->conf->name,
					 h->open_conns(h->arg));
			}
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				/* No reserve either: stop watching the socket for a
				 * second instead of spinning on it. */
				ev_io_stop(loop, &l->io);
				ev_timer_start(loop, &l->backoff);
			}
			return;
		}
		if (!admit(l, (struct sockaddr *)&ss, &src)) {
			close(fd);
			continue;
		}
		if (h->open_conns(h->arg) >= h->max_connections) {
			access_release(src);
			STATS_INC(conn_refused);
			if (ratelimit_allow(&accept_rl, clock_mono(), &suppressed))
				log_warnx("listener %s: max_connections (%zu) reached; "
					  "closing new connections", l->conf->name,
					  h->max_connections);
			close(fd);
			continue;
		}
		h->take(h->arg, l, fd, (struct sockaddr *)&ss, sl, src);
	}
}

static void
listener_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;

	(void)loop;
	(void)revents;
	reserve_take();
	listener_start(l);
}

/* The configured address and port as a sockaddr; -1 if not numeric. */
static int
conf_sockaddr(const struct listener_conf *conf, struct sockaddr_storage *ss, socklen_t *sl)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(conf->address, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(conf->port);
		if (inet_pton(AF_INET6, conf->address, &in6->sin6_addr) != 1)
			return -1;
		*sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(conf->port);
		if (inet_pton(AF_INET, conf->address, &in->sin_addr) != 1)
			return -1;
		*sl = sizeof(*in);
	}
	return 0;
}

size_t
listener_record_bound(const struct listener_conf *conf,
		      const struct record_layout *(*layout_of)(const struct schema *),
		      const struct record_meta *m)
{
	size_t need = 0, n;

	if (conf->framer.kind == FRAMING_FIXED) {
		for (size_t k = 0; k < conf->nschemas; k++)
			if ((n = record_bound(layout_of(conf->schemas[k]), m)) > need)
				need = n;
		return need;
	}
	need = record_raw_bound(conf->framer.max_value, m);
	for (int t = 1; t < 256; t++)
		if (conf->tlv_map[t] != NULL &&
		    (n = record_bound(layout_of(conf->tlv_map[t]), m)) > need)
			need = n;
	return need;
}

/* What binding and adopting share before the socket: fields, layouts, the
 * metadata fragment. */
static int
listener_setup(struct listener *l, const struct listener_conf *conf, size_t index,
	       struct ev_loop *loop, const struct listener_hooks *hooks,
	       const struct record_layout *(*layout_of)(const struct schema *), char *err,
	       size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->conf = conf;
	l->index = index;
	l->loop = loop;
	l->hooks = hooks;
	reserve_take();  /* idempotent: one reserve for all listeners */
	if (conf->framer.kind == FRAMING_FIXED) {
		for (size_t i = 0; i < conf->nschemas; i++)
			l->layouts[i] = layout_of(conf->schemas[i]);
	} else {
		for (int t = 1; t < 256; t++)
			if (conf->tlv_map[t] != NULL)
				l->tlv_layout[t] = layout_of(conf->tlv_map[t]);
	}
	l->meta = record_meta_string("_listener", conf->name, &l->meta_len);
	if (l->meta == NULL ||
	    (conf->max_conns_per_source > 0 &&
	     access_sources_init(&l->sources, conf->max_sources, conf->max_conns_per_source) < 0)) {
		free(l->meta);
		l->meta = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ... and after it: the bound address for the log, the watchers. */
static void
listener_finish(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		conn_format_addr((struct sockaddr *)&ss, l->bound, sizeof(l->bound));
	ev_io_init(&l->io, listener_on_accept, l->fd, EV_READ);
	l->io.data = l;
	ev_timer_init(&l->backoff, listener_on_backoff, 1.0, 0.0);
	l->backoff.data = l;
}

static void
listener_undo(struct listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->meta);
	l->meta = NULL;
	access_sources_free(&l->sources);
}

/* Set on the listening socket so accepted ones inherit it before the
 * handshake (the window is negotiated then).  It bounds what the kernel
 * queues per connection while reads are paused. */
static int
set_recv_buffer(int fd, const struct listener_conf *conf)
{
	int rb = (int)conf->recv_buffer;

	if (conf->recv_buffer == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
}

int
listener_open(struct listener *l, const struct listener_conf *conf, size_t index,
	      struct ev_loop *loop, const struct listener_hooks *hooks,
	      const struct record_layout *(*layout_of)(const struct schema *), char *err,
	      size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (listener_setup(l, conf, index, loop, hooks, layout_of, err, errlen) < 0)
		return -1;
	if (conf_sockaddr(conf, &ss, &sl) < 0) {
		snprintf(err, errlen, "listener %s: \"%s\" is not a numeric IP address", conf->name,
			 conf->address);
		listener_undo(l);
		return -1;
	}
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto sys_err;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (set_recv_buffer(l->fd, conf) < 0)
		goto sys_err;
	if (ss.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0 || listen(l->fd, SOMAXCONN) < 0)
		goto sys_err;
	listener_finish(l);
	return 0;

sys_err:
	snprintf(err, errlen, "listener %s: cannot listen on %s port %u: %s", conf->name,
		 conf->address, conf->port, strerror(errno));
	listener_undo(l);
	return -1;
}

int
listener_adopt(struct listener *l, const struct listener_conf *conf, size_t index,
	       struct ev_loop *loop, const struct listener_hooks *hooks,
	       const struct record_layout *(*layout_of)(const struct schema *), int fd,
	       char *err, size_t errlen)
{
	int fl;

	if (listener_setup(l, conf, index, loop, hooks, layout_of, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	l->fd = fd;
	l->passed = 1;
	/* systemd passes blocking sockets; accept() must never block. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || set_recv_buffer(fd, conf) < 0) {
		snprintf(err, errlen, "listener %s: cannot set up the socket systemd passed "
			 "(fd %d): %s", conf->name, fd, strerror(errno));
		listener_undo(l);
		return -1;
	}
	listener_finish(l);
	return 0;
}

/* ---- socket activation ---- */

#define LISTEN_FDS_START 3

static void
unset_listen_env(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* Strict decimal, no sign, no junk, fits in a long. */
static int
parse_num(const char *s, long *out)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (LONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

int
listener_passed_sockets(struct passed_sockets *ps, char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	long pid, nfds;
	int rc = -1;

	ps->n = 0;
	if (pid_s == NULL || fds_s == NULL) {
		unset_listen_env();
		return 0;
	}
	if (parse_num(pid_s, &pid) < 0) {
		snprintf(err, errlen, "socket activation: LISTEN_PID=\"%s\" is not a pid", pid_s);
		goto out;
	}
	if (pid != (long)getpid()) {
		/* Meant for another process (sd_listen_fds(3) ignores them too). */
		rc = 0;
		goto out;
	}
	if (parse_num(fds_s, &nfds) < 0) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS=\"%s\" is not a number", fds_s);
		goto out;
	}
	if (nfds > LISTENER_MAX_PASSED) {
		snprintf(err, errlen, "socket activation: %ld sockets passed; at most %d (one "
			 "per listener)", nfds, LISTENER_MAX_PASSED);
		goto out;
	}
	for (long i = 0; i < nfds; i++) {
		const char *colon;
		size_t len;

		ps->fd[i] = LISTEN_FDS_START + (int)i;
		if (names == NULL) {
			strcpy(ps->name[i], "unknown");  /* what sd_listen_fds_with_names says */
			continue;
		}
		colon = strchr(names, ':');
		len = colon ? (size_t)(colon - names) : strlen(names);
		if (len >= sizeof(ps->name[i])) {
			snprintf(err, errlen, "socket activation: LISTEN_FDNAMES: name %ld is too long",
				 i + 1);
			goto out;
		}
		memcpy(ps->name[i], names, len);
		ps->name[i][len] = '\0';
		if (colon == NULL && i + 1 < nfds) {
			snprintf(err, errlen, "socket activation: LISTEN_FDNAMES names %ld sockets "
				 "but LISTEN_FDS is %ld", i + 1, nfds);
			goto out;
		}
		names = colon ? colon + 1 : names + len;
	}
	if (names != NULL && *names != '\0') {
		snprintf(err, errlen, "socket activation: LISTEN_FDNAMES names more sockets than "
			 "LISTEN_FDS (%ld)", nfds);
		goto out;
	}
	ps->n = (size_t)nfds;
	rc = (int)nfds;
out:
	unset_listen_env();
	return rc;
}

/* Describes a passed socket for messages: fd, name, and address. */
static void
describe_passed(const struct passed_sockets *ps, size_t k, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[80] = "?";

	if (getsockname(ps->fd[k], (struct sockaddr *)&ss, &sl) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		conn_format_addr((struct sockaddr *)&ss, addr, sizeof(addr));
	snprintf(out, outlen, "fd %d, name \"%s\", address %s", ps->fd[k], ps->name[k], addr);
}

/* 1 when fd is bound to exactly conf's address and (non-zero) port. */
static int
same_address(int fd, const struct listener_conf *conf)
{
	struct sockaddr_storage want, got;
	socklen_t wl, gl = sizeof(got);

	if (conf->port == 0 || conf_sockaddr(conf, &want, &wl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &gl) < 0 || got.ss_family != want.ss_family)
		return 0;
	if (got.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&want;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&got;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&want;
		const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&got;
		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	}
}

int
listener_match_passed(const struct listener_conf *confs, size_t n,
		      const struct passed_sockets *ps, int *fd_of, char *err, size_t errlen)
{
	char what[400];
	size_t owner[LISTENER_MAX_PASSED];  /* passed socket -> listener index */

	for (size_t i = 0; i < n; i++)
		fd_of[i] = -1;
	for (size_t k = 0; k < ps->n; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int type = 0, acc = 0;
		socklen_t tl = sizeof(type), al = sizeof(acc);

		owner[k] = n;
		if (getsockopt(ps->fd[k], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    getsockopt(ps->fd[k], SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
		    getsockname(ps->fd[k], (struct sockaddr *)&ss, &sl) < 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
		    type != SOCK_STREAM || !acc) {
			snprintf(err, errlen, "socket activation: passed fd %d (name \"%s\") is not "
				 "a listening TCP socket (the socket unit needs ListenStream= with "
				 "an IP address and port)", ps->fd[k], ps->name[k]);
			return -1;
		}
	}
	/* By name first, so a named socket is never taken by address for a
	 * listener whose own named socket comes later. */
	for (size_t k = 0; k < ps->n; k++) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(ps->name[k], confs[i].name) != 0)
				continue;
			if (fd_of[i] >= 0) {
				describe_passed(ps, k, what, sizeof(what));
				snprintf(err, errlen, "socket activation: listener %s was passed two "
					 "sockets (fd %d and %s); give each socket unit its own "
					 "FileDescriptorName=", confs[i].name, fd_of[i], what);
				return -1;
			}
			fd_of[i] = ps->fd[k];
			owner[k] = i;
			break;
		}
	}
	for (size_t k = 0; k < ps->n; k++) {
		size_t taken = n;

		if (owner[k] < n)
			continue;
		for (size_t i = 0; i < n && owner[k] == n; i++) {
			if (!same_address(ps->fd[k], &confs[i]))
				continue;
			if (fd_of[i] >= 0) {
				taken = i;
				continue;
			}
			fd_of[i] = ps->fd[k];
			owner[k] = i;
		}
		if (owner[k] < n)
			continue;
		describe_passed(ps, k, what, sizeof(what));
		if (taken < n)
			snprintf(err, errlen, "socket activation: passed socket (%s) has the address "
				 "of listener %s, which already has fd %d", what, confs[taken].name,
				 fd_of[taken]);
		else
			snprintf(err, errlen, "socket activation: passed socket (%s) matches no "
				 "listener: no [listener NAME] is named \"%s\" or has that address "
				 "and port; add one, or remove the socket from the socket unit",
				 what, ps->name[k]);
		return -1;
	}
	return 0;
}

void
listener_start(struct listener *l)
{
	if (l->fd >= 0 && !l->paused && !ev_is_active(&l->backoff))
		ev_io_start(l->loop, &l->io);
}

void
listener_pause(struct listener *l, int pause)
{
	l->paused = pause;
	if (pause)
		ev_io_stop(l->loop, &l->io);
	else
		listener_start(l);
}

void
listener_stop(struct listener *l)
{
	if (l->fd >= 0) {
		ev_io_stop(l->loop, &l->io);
		ev_timer_stop(l->loop, &l->backoff);
		close(l->fd);
		l->fd = -1;
	}
}

void
listener_release(struct listener *l)
{
	listener_stop(l);
	free(l->meta);
	l->meta = NULL;
	l->meta_len = 0;
	access_sources_free(&l->sources);
}
