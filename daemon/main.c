/*
 * ingestd: sensor packets in over TCP, JSON Lines out.
 *
 * main wires the modules together: config -> workers (each with its pool,
 * connections and sink; worker.h) -> the output -> listeners, the main
 * libev loop with the signal watchers, /metrics, the statistics and
 * systemd's notifications, and the shutdown check at the end of each
 * iteration (an ev_prepare watcher at the lowest priority, so it runs after
 * the output's own end-of-iteration flush).  The main thread accepts, and
 * writes the output; with workers = 1 it also runs the connections.
 *
 * Under systemd (notify.c, no libsystemd) it reports READY=1 once its
 * listeners and output are open, a STATUS= summary every few seconds,
 * RELOADING=1 / READY=1 around SIGHUP, STOPPING=1 on SIGTERM/SIGINT, and
 * WATCHDOG=1 from the loop at half of $WATCHDOG_USEC.  It adopts listening
 * sockets systemd passes in (socket activation, see listener.h).
 *
 * Exit codes: 0 clean stop, 1 runtime failure (output gone, shutdown timed
 * out, a worker stuck), 64 bad command line, 71 cannot start (bind, output file, memory),
 * 78 bad configuration (including sockets passed by systemd that do not
 * fit the configured listeners).
 */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "offline.h"
#include "pool.h"
#include "record.h"
#include "schema.h"
#include "sink.h"
#include "stats.h"
#include "tls.h"
#include "kafka.h"
#include "version.h"
#include "worker.h"

#define EXIT_USAGE  64
#define EXIT_OSERR  71
#define EXIT_CONFIG 78

/* Seconds between STATUS= updates to the service manager. */
#define STATUS_INTERVAL 5.0

/* Seconds without output progress that count as a stalled output, at the
 * shutdown deadline and in STATUS=.  Not a config key: /healthz has its own
 * (unhealthy_after), and this only tells a writing output from a dead one. */
#define OUTPUT_STALLED 1.0

static struct config   cfg;
static struct workers *workers;
static struct sink    *output;    /* workers_output(workers) */
static int             stopping;  /* SIGTERM/SIGINT: draining */
static int             reads_paused;  /* every worker's reads are paused */
static struct listener listeners[CONFIG_MAX_LISTENERS];
static struct tls_server *tls_servers[CONFIG_MAX_LISTENERS];  /* NULL: plaintext */
static struct kafka    *kafka;     /* [output] type = kafka, else NULL */
static int              kafka_spilling;  /* shutdown: a full producer queue spills */
static int             exit_code;
static struct metrics *metrics;  /* NULL unless [metrics] enabled */

/* Prepared once per distinct schema; listeners borrow them. */
static struct record_layout layouts[CONFIG_MAX_SCHEMAS + 2];
static size_t               nlayouts;

static const struct record_layout *
layout_of(const struct schema *s)
{
	for (size_t i = 0; i < nlayouts; i++)
		if (layouts[i].schema == s)
			return &layouts[i];
	return NULL;
}

static int
prepare_layout(const struct schema *s)
{
	if (s == NULL || layout_of(s) != NULL)
		return 0;
	if (nlayouts == sizeof(layouts) / sizeof(layouts[0]) ||
	    record_layout_init(&layouts[nlayouts], s) < 0)
		return -1;
	nlayouts++;
	return 0;
}

/*
 * Every record a listener can produce, with the longest metadata, must fit
 * in one output slab; say which listener breaks that rather than fail later.
 */
static int
check_slab_fits(const struct config *c, char *err, size_t errlen)
{
	struct record_meta worst = { .peer_len = 72, .rx_len = 48 };
	size_t slab = c->pool.slab_size;

	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *lc = &c->listeners[i];
		size_t need;

		worst.listener_len = strlen(lc->name) * 6 + 20;  /* escaped worst case */
		/* `,"_tls_cn":"` + CN, each byte at worst a \u00XX escape, + `"` */
		worst.tls_len = lc->tls.on && lc->tls.ca[0] ? 13 + 6 * TLS_CN_MAX : 0;
		need = listener_record_bound(lc, layout_of, c->metadata ? &worst : NULL);
		if (need > slab) {
			snprintf(err, errlen,
				 "%s:%d: listener \"%s\": its longest record (%zu bytes) does not fit "
				 "in one slab ([pool] slab_size = %zu); raise slab_size%s",
				 c->source, lc->line, lc->name, need, slab,
				 lc->framer.kind == FRAMING_TLV ? " or lower max_frame" : "");
			return -1;
		}
	}
	return 0;
}

/* metrics_view_fn: the daemon's state for /metrics and /healthz. */
static void
view_of_workers(void *arg, double now, struct stats_view *v)
{
	workers_view(arg, now, v);
	for (size_t i = 0; i < v->nlisteners; i++)
		v->listeners[i].bound = listeners[i].bound;
	if (kafka != NULL) {
		v->have_kafka = 1;
		v->kafka_in_flight = kafka_in_flight(kafka);
		v->kafka_brokers_up = kafka_brokers_up(kafka);
	}
}

/* Main thread only; too large for the stack of a signal callback. */
static struct stats_view view;

static void
log_stats(const char *why)
{
	char line[3072];
	size_t n = 0;

	workers_view(workers, clock_mono(), &view);
	for (int i = 0; i < STAT__COUNT && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu", stats_names[i],
				      (unsigned long long)view.counters.c[i]);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	log_info("stats (%s): conns=%zu slabs_in_use=%zu/%zu slabs_peak=%zu read_slabs=%zu "
		 "overflow_in_use=%zu waiters=%zu waiters_peak=%zu paused=%d paused_seconds=%.3f "
		 "retained_bytes=%llu refused_releases=%llu output_pending=%zu output_waiters=%zu "
		 "workers=%zu%s",
		 why, view.conns, view.slabs_in_use, view.slabs, view.slabs_peak, view.read_slabs,
		 view.overflow_in_use, view.waiters, view.waiters_peak, view.paused,
		 view.paused_seconds, (unsigned long long)view.retained_bytes,
		 (unsigned long long)view.refused_releases, view.output_pending,
		 view.output_waiters, view.nworkers, line);
}

/*
 * The one-line STATUS= summary `systemctl status` shows: connections,
 * records per second since the previous summary, with several workers the
 * busiest one's share, pool use, and whether reads are paused.  `state`
 * comes first in the same datagram ("READY=1\n", "STOPPING=1\n", ...), or
 * "" for a plain update.
 */
static uint64_t  status_records;
static uint64_t  status_worker_records[STATS_MAX_BLOCKS];
static double    status_at;       /* clock_mono() */

static void
send_status(const char *state, const char *what)
{
	double now, dt;
	uint64_t rec;
	double rate = 0, best_rate = -1;
	size_t best = 0;
	char overflow[48] = "", how[96], busiest[96] = "";

	if (!notify_enabled())
		return;
	now = clock_mono();
	workers_view(workers, now, &view);
	rec = view.counters.c[STAT_records_out];
	dt = now > status_at && status_at > 0 ? now - status_at : 0;
	if (dt > 0)
		rate = (double)(rec - status_records) / dt;
	status_records = rec;
	for (size_t i = 0; i < view.nworkers; i++) {
		double r = dt > 0 ? (double)(view.workers[i].records - status_worker_records[i]) / dt
				  : 0;

		if (r > best_rate) {
			best_rate = r;
			best = i;
		}
		status_worker_records[i] = view.workers[i].records;
	}
	status_at = now;
	if (view.nworkers > 1)
		snprintf(busiest, sizeof(busiest), " (busiest: worker %zu, %.1f/s, %zu connection%s)",
			 best, best_rate, view.workers[best].conns,
			 view.workers[best].conns == 1 ? "" : "s");
	if (view.overflow_in_use > 0)
		snprintf(overflow, sizeof(overflow), " + %zu overflow", view.overflow_in_use);
	if (stopping)
		snprintf(how, sizeof(how), "draining");
	else if (view.paused)
		snprintf(how, sizeof(how), "reads PAUSED (output behind)");
	else if (view.output_stalled >= OUTPUT_STALLED) {
		/* Fewer connections than max_waiters never pause reads: say so
		 * anyway, with those waiting for output room or a read slab. */
		size_t held = view.output_waiters + view.read_waiters;

		snprintf(how, sizeof(how), "output STALLED for %.0f s, %zu connection%s held back",
			 view.output_stalled, held, held == 1 ? "" : "s");
	}
	else
		snprintf(how, sizeof(how), "reading");
	notify_sendf("%sSTATUS=%s%zu connection%s, %.1f records/s%s, pool %zu/%zu slabs in use%s, "
		     "%s", state, what, view.conns, view.conns == 1 ? "" : "s", rate, busiest,
		     view.slabs_in_use, view.slabs, overflow, how);
}

static void
on_status_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	send_status("", stopping ? "stopping: " : "");
}

/* From the main loop itself, and only while every worker's loop beats too,
 * so a wedged loop, any of them, stops the pings and systemd's watchdog
 * restarts the service. */
static void
on_watchdog_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	static struct ratelimit stuck_rl = RATELIMIT_INIT(60.0, 1);
	size_t stuck = 0;
	uint64_t suppressed;

	(void)loop;
	(void)w;
	(void)revents;
	if (workers_beating(workers, &stuck)) {
		notify_send("WATCHDOG=1");
		return;
	}
	if (ratelimit_allow(&stuck_rl, clock_mono(), &suppressed))
		log_err("worker %zu: its event loop has made no progress for %.1f s; withholding "
			"the watchdog ping so that systemd restarts ingestd", stuck, w->repeat);
}

static void
on_stats_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	log_stats("periodic");
}

static ev_timer shutdown_timer;
static double   shutdown_deadline;  /* clock_mono(): the output's last chance */
static int      shutdown_cut;       /* the drain's time ran out: connections closed */

/* workers_pressure_cb: accept only while some worker reads. */
static void
on_pressure(void *arg, int all_paused)
{
	(void)arg;
	reads_paused = all_paused;
	for (size_t i = 0; i < cfg.nlisteners; i++)
		listener_pause(&listeners[i], reads_paused || stopping);
}


/*
 * Shutdown takes at most shutdown_timeout for the drain: peers that keep
 * sending are cut off then.  Every frame already read has its record
 * queued, so ingestd still exits 0 once the output has taken them, as long
 * as the output keeps taking data (for at most a further
 * shutdown_timeout); an output that has taken nothing for a second exits 1
 * at once, so a stalled output cannot hold a stop for longer than
 * shutdown_timeout and a second.
 */
static void
on_shutdown_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = clock_mono();
	size_t open = workers_conns(workers);

	(void)revents;
	if (open > 0 && !shutdown_cut) {
		log_warnx("shutdown: %zu connections still sending after %.1f s; closing them",
			  open, cfg.shutdown_timeout);
		workers_close_all(workers);
		shutdown_cut = 1;
	}
	if (workers_done(workers) && sink_empty(output))
		return;   /* the prepare watcher ends the loop */
	/* Kafka that takes nothing: what it cannot take goes to the spill file,
	 * so the stop ends with every record delivered or spilled. */
	if (kafka != NULL && !kafka_spilling &&
	    sink_stalled_seconds(output, now) >= OUTPUT_STALLED) {
		log_warnx("shutdown: Kafka has taken nothing for %.1f s; records it cannot take "
			  "now go to %s", sink_stalled_seconds(output, now), cfg.kafka.spill_path);
		kafka_spill_when_full(kafka);
		kafka_spilling = 1;
		ev_timer_set(w, 0.25, 0.0);
		ev_timer_start(loop, w);
		return;
	}
	if (now < shutdown_deadline && sink_stalled_seconds(output, now) < OUTPUT_STALLED) {
		ev_timer_set(w, 0.25, 0.0);
		ev_timer_start(loop, w);
		return;
	}
	if (sink_empty(output))
		log_err("shutdown: a worker has not finished closing its connections after %.1f s; "
			"exiting", 2 * cfg.shutdown_timeout);
	else
		log_err("shutdown: the output did not take %zu bytes (no progress for %.1f s); "
			"exiting", sink_pending(output), sink_stalled_seconds(output, now));
	exit_code = 1;
	ev_break(loop, EVBREAK_ALL);
}

static void
begin_shutdown(struct ev_loop *loop, const char *why)
{
	if (stopping)
		return;
	stopping = 1;
	log_info("%s: no longer accepting; draining %zu connections", why,
		 workers_conns(workers));
	send_status("STOPPING=1\n", "stopping: ");
	/* Stop, not release: draining connections still borrow what the
	 * listeners own (listener.h). */
	for (size_t i = 0; i < cfg.nlisteners; i++)
		listener_stop(&listeners[i]);
	metrics_stop_accepting(metrics);
	workers_drain(workers);
	shutdown_deadline = clock_mono() + 2 * cfg.shutdown_timeout;
	ev_timer_init(&shutdown_timer, on_shutdown_timeout, cfg.shutdown_timeout, 0.0);
	ev_timer_start(loop, &shutdown_timer);
}

/*
 * SIGHUP: every TLS listener builds a new context from its files; one
 * that fails keeps its old context and says why.  New connections get the
 * new one, open ones keep theirs.
 */
static void
reload_tls(void)
{
	char err[1024];

	for (size_t i = 0; i < cfg.nlisteners; i++) {
		if (tls_servers[i] == NULL)
			continue;
		if (tls_server_reload(tls_servers[i], err, sizeof(err)) < 0) {
			STATS_INC(tls_reload_failures);
			log_warnx("SIGHUP: listener %s keeps its TLS certificates: %s",
				  cfg.listeners[i].name, err);
		} else {
			log_info("SIGHUP: listener %s: TLS certificates, key, CA and CRL reloaded",
				 cfg.listeners[i].name);
		}
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	int rc;

	(void)revents;
	switch (w->signum) {
	case SIGTERM:
	case SIGINT:
		begin_shutdown(loop, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		/* A reload is the reopen and the TLS files (the config file is
		 * not read again); tell systemd when it starts and ends. */
		notify_reloading();
		reload_tls();
		if (kafka != NULL) {
			log_info("SIGHUP: the output is Kafka: no file to reopen");
			send_status("READY=1\n", "");
		} else if ((rc = sink_reopen(output)) < 0) {
			log_warn("SIGHUP: cannot reopen %s; still writing to the old file",
				 cfg.output_path);
			send_status("READY=1\n", "reopen FAILED, still writing the old file: ");
		} else if (rc > 0) {
			log_info("SIGHUP: output reopened at the end of the line being written");
			send_status("READY=1\n", "");
		} else {
			log_info("SIGHUP: output reopened");
			send_status("READY=1\n", "");
		}
		break;
	case SIGUSR1:
		log_stats("SIGUSR1");
		break;
	}
}

/* End of every loop iteration, after the sink's flush: is shutdown done? */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	if (stopping && workers_done(workers) && sink_empty(output))
		ev_break(loop, EVBREAK_ALL);
}

static void
on_output_gone(void *arg)
{
	struct ev_loop *loop = arg;

	exit_code = 1;
	ev_break(loop, EVBREAK_ALL);
}

/* Start-up errors go to stderr before logging is set up; they quote paths
 * from the command line, so control characters are escaped as in the log. */
static void
print_error(const char *msg)
{
	char shown[8192];

	log_escape(shown, sizeof(shown), msg);
	fprintf(stderr, "ingestd: %s\n", shown);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: ingestd [-c FILE] [--check-config]\n"
		"       ingestd --version\n"
		"       ingestd --decode LISTENER [-c FILE] [INPUT ...]\n"
		"  -c, --config FILE   load FILE instead of the embedded default config\n"
		"  -n, --check-config  check the config and exit (0: valid, 78: not)\n"
		"  -V, --version       print the version and the libraries' versions\n"
		"  -d, --decode LISTENER\n"
		"                      decode the INPUT files (stdin when none, or -) as one\n"
		"                      stream arriving on LISTENER and print its records; exit\n"
		"                      0: all good, 65: bad or incomplete frames, 66: unreadable\n"
		"  -h, --help          this text\n");
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *decode_listener = NULL;
	static char **inputs;   /* static: a root for the leak checker on early exits */
	int check_only = 0, ninputs = 0;
	char err[8192];
	struct ev_loop *loop;
	ev_signal sigs[4];
	static const int signums[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	ev_prepare prep;
	ev_timer stats_timer, status_timer, watchdog_timer;
	struct passed_sockets passed;
	int passed_fd[CONFIG_MAX_LISTENERS];
	uint64_t wd_usec;
	size_t nworkers;

	/* argv[argc] is NULL, so this has room for every argument. */
	inputs = calloc((size_t)argc + 1, sizeof(*inputs));
	if (inputs == NULL)
		return EXIT_OSERR;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--decode") == 0) {
			if (++i == argc) {
				fprintf(stderr, "ingestd: %s needs a listener name\n", argv[i - 1]);
				return EXIT_USAGE;
			}
			decode_listener = argv[i];
		} else if (argv[i][0] != '-' || argv[i][1] == '\0') {
			inputs[ninputs++] = argv[i];   /* an INPUT, or "-" */
		} else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i == argc) {
				fprintf(stderr, "ingestd: %s needs a file name\n", argv[i - 1]);
				return EXIT_USAGE;
			}
			path = argv[i];
		} else if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--check-config") == 0) {
			check_only = 1;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			char libs[512];

			printf("ingestd %s\n%s\n", INGESTD_VERSION,
			       version_libraries(libs, sizeof(libs)));
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			char msg[256];

			snprintf(msg, sizeof(msg), "unknown argument \"%s\"", argv[i]);
			print_error(msg);
			usage(stderr);
			return EXIT_USAGE;
		}
	}

	if (ninputs > 0 && decode_listener == NULL) {
		char msg[256];

		snprintf(msg, sizeof(msg), "unknown argument \"%s\" (input files are for --decode)",
			 inputs[0]);
		print_error(msg);
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(LOG_LVL_INFO);
	if (config_load(&cfg, path, err, sizeof(err)) < 0) {
		print_error(err);
		return EXIT_CONFIG;
	}
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		int bad = 0;
		for (size_t k = 0; k < cfg.listeners[i].nschemas && !bad; k++)
			bad = prepare_layout(cfg.listeners[i].schemas[k]) < 0;
		for (int t = 1; t < 256 && !bad; t++)
			bad = prepare_layout(cfg.listeners[i].tlv_map[t]) < 0;
		if (bad) {
			fprintf(stderr, "ingestd: out of memory preparing record layouts\n");
			return EXIT_OSERR;
		}
	}
	if (check_slab_fits(&cfg, err, sizeof(err)) < 0) {
		print_error(err);
		return EXIT_CONFIG;
	}
	if (cfg.output_type == OUTPUT_KAFKA && decode_listener == NULL &&
	    kafka_check(&cfg, err, sizeof(err)) < 0) {
		print_error(err);
		return EXIT_CONFIG;
	}
	/* The certificate files are part of the config: --check-config reads
	 * them too. */
	for (size_t i = 0; i < cfg.nlisteners && decode_listener == NULL; i++) {
		if (cfg.listeners[i].tls.on &&
		    (tls_servers[i] = tls_server_new(&cfg.listeners[i], cfg.source, err,
						     sizeof(err))) == NULL) {
			print_error(err);
			return EXIT_CONFIG;
		}
	}
	if (decode_listener != NULL && !check_only) {
		int rc = offline_decode(&cfg, decode_listener, layout_of, inputs, ninputs);

		for (size_t i = 0; i < nlayouts; i++)
			record_layout_clear(&layouts[i]);
		free(inputs);
		return rc;
	}
	free(inputs);
	if (check_only) {
		char shown[sizeof(cfg.source)];

		log_escape(shown, sizeof(shown), cfg.source);
		printf("%s: configuration OK (%zu listeners)\n", shown, cfg.nlisteners);
		return 0;
	}
	log_set_level((enum log_level)cfg.log_level);
	signal(SIGPIPE, SIG_IGN);  /* EPIPE is handled where it happens */
	notify_init();

	/* Socket activation: sockets systemd passed must each belong to a
	 * configured listener; listeners without one bind their own. */
	if (listener_passed_sockets(&passed, err, sizeof(err)) < 0 ||
	    listener_match_passed(cfg.listeners, cfg.nlisteners, &passed, passed_fd, err,
				  sizeof(err)) < 0) {
		log_err("%s", err);
		notify_sendf("STATUS=failed: %s", err);
		return EXIT_CONFIG;
	}

	loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL)
		fatalx("cannot initialise the event loop");
	nworkers = workers_resolve(cfg.workers, &cfg.pool);
	if (cfg.workers == 0 && nworkers < workers_cpus())
		log_info("workers = auto: %zu workers, as many as [pool] slabs (%zu) can give "
			 "reserve + 2 slabs each", nworkers, cfg.pool.slabs);
	/* Two beats per watchdog ping: a worker that misses both is stuck. */
	wd_usec = notify_watchdog_usec();
	if (cfg.output_type == OUTPUT_KAFKA &&
	    (kafka = kafka_new(loop, &cfg, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		notify_sendf("STATUS=failed: %s", err);
		return EXIT_CONFIG;
	}
	workers = workers_new(loop, &cfg, nworkers, (double)wd_usec / 4e6, on_output_gone, loop,
			      on_pressure, NULL, kafka, err, sizeof(err));
	if (workers == NULL) {
		log_err("%s", err);
		notify_sendf("STATUS=failed: %s", err);
		return EXIT_OSERR;
	}
	output = workers_output(workers);
	sink_set_cache_window(output, cfg.cache_window);
	sink_set_preallocate(output, cfg.preallocate);
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		int rc;

		if (passed_fd[i] >= 0) {
			rc = listener_adopt(&listeners[i], &cfg.listeners[i], i, loop,
					    workers_hooks(workers), layout_of, passed_fd[i], err,
					    sizeof(err));
		} else {
			if (passed.n > 0)
				log_warnx("listener %s: no socket from systemd matches it; binding "
					  "%s port %u itself", cfg.listeners[i].name,
					  cfg.listeners[i].address, cfg.listeners[i].port);
			rc = listener_open(&listeners[i], &cfg.listeners[i], i, loop,
					   workers_hooks(workers), layout_of, err, sizeof(err));
		}
		if (rc < 0) {
			log_err("%s", err);
			notify_sendf("STATUS=failed: %s", err);
			workers_stop(workers, cfg.shutdown_timeout);
			return EXIT_OSERR;
		}
		listeners[i].tls = tls_servers[i];
	}
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		const struct listener_conf *lc = &cfg.listeners[i];
		char names[CONFIG_MAX_LISTENER_SCHEMAS * CONFIG_NAME_MAX] = "";
		size_t n = 0;

		for (size_t k = 0; k < lc->nschemas; k++)
			n += (size_t)snprintf(names + n, sizeof(names) - n, " %s", lc->schemas[k]->name);
		listener_start(&listeners[i]);
		log_info("listening on %s (listener %s, %s%s%s%s)", listeners[i].bound, lc->name,
			 lc->framer.kind == FRAMING_FIXED ? "fixed" : "tlv", names,
			 !lc->tls.on ? "" : lc->tls.ca[0] ? ", TLS with client certificates" : ", TLS",
			 listeners[i].passed ? ", socket from systemd" : "");
	}
	for (int i = 0; i < 4; i++) {
		ev_signal_init(&sigs[i], on_signal, signums[i]);
		ev_signal_start(loop, &sigs[i]);
	}
	ev_prepare_init(&prep, on_prepare);
	ev_set_priority(&prep, EV_MINPRI);
	ev_prepare_start(loop, &prep);
	if (cfg.stats_interval > 0) {
		ev_timer_init(&stats_timer, on_stats_timer, cfg.stats_interval, cfg.stats_interval);
		ev_timer_start(loop, &stats_timer);
	}
	if (cfg.metrics_enabled) {
		metrics = metrics_new(loop, &cfg, view_of_workers, workers, err, sizeof(err));
		if (metrics == NULL) {
			log_err("%s", err);
			workers_stop(workers, cfg.shutdown_timeout);
			return EXIT_OSERR;
		}
		log_info("metrics on http://%s/metrics", metrics_bound(metrics));
	}
	if (kafka != NULL)
		log_info("output: Kafka topic %s at %s (undeliverable records to %s; [output] path, "
			 "cache_window and preallocate are for type = file)", cfg.kafka.topic,
			 cfg.kafka.brokers, cfg.kafka.spill_path);
	log_info("ready: %zu listeners, output %s, pool %zu x %zu bytes, %zu worker%s",
		 cfg.nlisteners, kafka != NULL ? "kafka" :
		 strcmp(cfg.output_path, "-") == 0 ? "stdout" : cfg.output_path,
		 cfg.pool.slabs, cfg.pool.slab_size, nworkers, nworkers == 1 ? "" : "s");
	/* Listeners are listening and the output is open: ready. */
	send_status("READY=1\n", "");
	if (notify_enabled()) {
		ev_timer_init(&status_timer, on_status_timer, STATUS_INTERVAL, STATUS_INTERVAL);
		ev_timer_start(loop, &status_timer);
	}
	if (wd_usec > 0) {
		double every = (double)wd_usec / 2e6;

		log_info("systemd watchdog: pinging every %.3f s", every);
		ev_timer_init(&watchdog_timer, on_watchdog_timer, every, every);
		ev_timer_start(loop, &watchdog_timer);
	}

	ev_run(loop, 0);

	if (exit_code == 0)
		log_info("stopped: %llu records written", (unsigned long long)stats_get(STAT_records_out));
	/* Stops the worker threads and closes every connection left.  A worker
	 * that does not stop (its loop is stuck) is not waited for forever. */
	if (workers_stop(workers, cfg.shutdown_timeout) < 0) {
		log_err("a worker thread did not stop within %.1f s; exiting without it",
			cfg.shutdown_timeout);
		notify_close();
		_exit(1);
	}
	/* Kafka: what the producer still holds gets the rest of the time to be
	 * delivered; what is left then goes to the spill file. */
	if (kafka != NULL)
		kafka_close(kafka, cfg.shutdown_timeout);
	/* After every connection: what is left now is what a clean stop must
	 * leave (nothing, the tests check). */
	log_stats("exit");
	metrics_free(metrics);
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		listener_release(&listeners[i]);
		tls_server_free(tls_servers[i]);
	}
	workers_free(workers);
	kafka_free(kafka);
	for (size_t i = 0; i < nlayouts; i++)
		record_layout_clear(&layouts[i]);
	ev_loop_destroy(loop);
	notify_close();
	return exit_code;
}
