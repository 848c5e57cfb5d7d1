/*
 * listener: one configured listening socket and what its connections share.
 *
 * A listener binds its address (IPv4 or IPv6), accepts without blocking,
 * refuses connections over max_connections, from an address its allow and
 * deny lists refuse, or past max_conns_per_source for their source (each
 * accepted and closed at once, before a byte is read, counted and logged
 * rate-limited; access.h), and backs off for a second when the process is out of
 * descriptors instead of spinning on a readable socket it cannot accept.
 * It owns the record fragments its connections reuse: the `_listener`
 * metadata and the layouts of its schemas (borrowed from main).
 *
 * Lifetime, in two steps: listener_stop() closes the socket and stops its
 * watchers (shutdown: no new peers), while connections it accepted may
 * still be draining; they borrow l->conf, l->meta and the layouts until
 * they are closed.  listener_release() frees what they borrow, so it is
 * called only once the last connection is gone (conn_ctx_close_all()).
 *
 * Socket activation (sd_listen_fds(3), done here without libsystemd): a
 * listening socket systemd passed in (LISTEN_PID, LISTEN_FDS from fd 3,
 * LISTEN_FDNAMES) is used instead of binding.  Passed sockets are matched to
 * configured listeners first by name (the socket unit's
 * FileDescriptorName= equal to the listener's NAME), then by address: the
 * socket's getsockname() equal to the listener's address and port (a
 * configured port 0 never matches by address).  A configured listener that
 * received no socket binds its own; a passed socket that matches no
 * listener, or a second socket for one listener, is a configuration error.
 */
#ifndef INGESTD_LISTENER_H
#define INGESTD_LISTENER_H

#include <ev.h>
#include <sys/socket.h>

#include "access.h"
#include "config.h"
#include "record.h"

struct listener;
struct tls_server;

/*
 * Where accepted connections go (main's: a worker, worker.h).  Borrowed by
 * the listener for its lifetime; called from the loop it accepts on.
 */
struct listener_hooks {
	/* Takes fd, a connected non-blocking socket, and src, its place in
	 * the per-source table (NULL: none): 0, or -1 when it could not (fd
	 * is closed and src released then). */
	int    (*take)(void *arg, struct listener *l, int fd, const struct sockaddr *peer,
		       socklen_t peerlen, struct access_source *src);
	/* Connections open on every listener together (max_connections). */
	size_t (*open_conns)(void *arg);
	size_t   max_connections;
	void    *arg;
};

/* Fields are set up by listener_open/adopt; after that only the thread of
 * `loop` changes any, and connections on any thread read conf, index, meta
 * and the layouts, which never change until listener_release(). */
struct listener {
	ev_io                        io;
	ev_timer                     backoff;       /* EMFILE: retry accept later */
	int                          fd;
	int                          paused;        /* by pool pressure or shutdown */
	const struct listener_conf  *conf;          /* borrowed from the config */
	const struct record_layout  *layouts[CONFIG_MAX_LISTENER_SCHEMAS]; /* fixed: conf->schemas' */
	const struct record_layout  *tlv_layout[256]; /* tlv: NULL = raw record */
	char                        *meta;          /* `,"_listener":"name"` */
	size_t                       meta_len;
	char                         bound[80];     /* "127.0.0.1:7001" as bound */
	int                          passed;        /* 1: the socket came from systemd */
	size_t                       index;         /* in the config's listeners */
	struct ev_loop              *loop;
	const struct listener_hooks *hooks;
	struct access_sources        sources;       /* max_conns_per_source: accepting thread */
	struct tls_server           *tls;           /* tls = on: borrowed from main, else NULL */
};

/*
 * Binds and listens for conf (borrowed; must outlive l), the config's
 * listener number `index`, accepting on loop into hooks.  layout_of maps a
 * schema to its prepared layout.  Returns 0, or -1 with a message in err.
 */
int listener_open(struct listener *l, const struct listener_conf *conf, size_t index,
		  struct ev_loop *loop, const struct listener_hooks *hooks,
		  const struct record_layout *(*layout_of)(const struct schema *), char *err,
		  size_t errlen);
/*
 * As listener_open(), but adopts fd, a listening TCP socket passed by the
 * service manager, instead of binding (fd is made non-blocking and
 * close-on-exec; it is closed on failure and by listener_close()).
 */
int listener_adopt(struct listener *l, const struct listener_conf *conf, size_t index,
		   struct ev_loop *loop, const struct listener_hooks *hooks,
		   const struct record_layout *(*layout_of)(const struct schema *), int fd,
		   char *err, size_t errlen);

/*
 * The longest record any frame of listener conf can give, with metadata m
 * (NULL: off): the largest record_bound() of its schemas' layouts (from
 * layout_of), and for TLV the raw record of a max_frame value.  Pure: for
 * the start-up check that records fit a slab, and for --decode's buffer.
 */
size_t listener_record_bound(const struct listener_conf *conf,
			     const struct record_layout *(*layout_of)(const struct schema *),
			     const struct record_meta *m);

/* Sockets the service manager passed in (socket activation). */
#define LISTENER_MAX_PASSED CONFIG_MAX_LISTENERS
struct passed_sockets {
	size_t n;
	int    fd[LISTENER_MAX_PASSED];
	char   name[LISTENER_MAX_PASSED][256];  /* "unknown" when not named */
};

/*
 * Reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES into *ps and unsets all
 * three (they describe this process only; a child must not inherit them).
 * Sockets are taken only when LISTEN_PID is this process.  Returns the
 * number of sockets (0: none), or -1 with a message in err when the
 * variables are malformed or name more than LISTENER_MAX_PASSED sockets.
 */
int listener_passed_sockets(struct passed_sockets *ps, char *err, size_t errlen);

/*
 * Assigns the passed sockets to the n configured listeners: fd_of[i] is the
 * socket for confs[i], or -1 when it has none (it binds its own).  Returns
 * 0, or -1 with a message in err when a passed socket is not a listening
 * TCP socket, matches no listener, or two sockets match one listener.
 */
int listener_match_passed(const struct listener_conf *confs, size_t n,
			  const struct passed_sockets *ps, int *fd_of, char *err, size_t errlen);

/* Starts accepting (no-op while paused). */
void listener_start(struct listener *l);
/* Stops accepting without closing (pool pressure).  pause=0 resumes. */
void listener_pause(struct listener *l, int pause);
/* Stops accepting for good: stops the watchers, closes the socket.  What
 * connections borrow stays valid.  Idempotent. */
void listener_stop(struct listener *l);
/* listener_stop(), then frees the fragments connections borrow: only after
 * every connection of l is closed.  Idempotent. */
void listener_release(struct listener *l);

#endif
