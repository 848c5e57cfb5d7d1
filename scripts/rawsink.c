/*
 * rawsink: a TCP sink that reads and discards, to measure the loopback
 * ceiling that ingestd's benchmark is compared with (loadgen -> rawsink).
 *
 * Listens on HOST:PORT, accepts any number of connections, reads with large
 * (256 KiB) reads from one epoll loop, and closes each connection when its
 * peer closes (read returns 0), which is what lets loadgen finish.  Once
 * listening it prints `rawsink: listening on HOST:PORT` to stderr (with the
 * real port when -p 0 asked for an ephemeral one).  On SIGTERM or SIGINT,
 * or once --exit-after-conns K connections have been accepted and all are
 * closed, it prints
 *   rawsink: conns=C bytes=B seconds=S MBps=R
 * to stderr and exits 0.  seconds runs from the first accept to the last
 * close (to the signal if connections are still open).
 *
 * Exit: 0 ok, 1 runtime error, 64 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE   (256u << 10)
#define MAX_EXIT_K  100000000ull

static void usage(FILE *f)
{
	fprintf(f,
"usage: rawsink -p PORT [-h HOST] [--exit-after-conns K]\n"
"Accepts TCP connections, reads and discards everything, closes each\n"
"connection when its peer closes.\n"
"  -p PORT               port to listen on (0: ephemeral, printed when ready)\n"
"  -h HOST               address to listen on (default 127.0.0.1); -h alone: help\n"
"  --exit-after-conns K  exit once K connections were accepted and all closed\n"
"  --help                this help\n"
"Prints `rawsink: listening on HOST:PORT` when ready and, at exit (SIGTERM,\n"
"SIGINT or --exit-after-conns), `rawsink: conns= bytes= seconds= MBps=`.\n"
"Exit: 0 ok, 1 runtime error, 64 usage.\n");
}

#define TOOL_NAME "rawsink"
#define TOOL_HELP_FLAG "--help"
#include "tool_util.h"


static unsigned long long parse_ull(const char *s, unsigned long long max, const char *what)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		usage_error("%s: not a number: '%s'", what, s);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("%s: not a number: '%s'", what, s);
	if (v > max)
		usage_error("%s: %llu out of range 0..%llu", what, v, max);
	return v;
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	enum { O_EXIT = 256, O_HELP };
	static const struct option lopts[] = {
		{ "exit-after-conns", required_argument, NULL, O_EXIT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = "127.0.0.1", *port = NULL;
	unsigned long long exit_after = 0;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h:p:", lopts, NULL)) != -1) {
		switch (c) {
		case 'h': host = optarg; break;
		case 'p': parse_ull(optarg, 65535, "-p"); port = optarg; break;
		case O_EXIT:
			exit_after = parse_ull(optarg, MAX_EXIT_K, "--exit-after-conns");
			if (exit_after == 0)
				usage_error("--exit-after-conns: want at least 1");
			break;
		case O_HELP: usage(stdout); return 0;
		case ':':
			if (optopt == 'h') { usage(stdout); return 0; }
			usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!port)
		usage_error("-p PORT is required");

	/* Enough descriptors for loadgen's largest runs. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 200064) {
		rlim_t hard = rl.rlim_max;
		rl.rlim_cur = 200064;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;   /* needs CAP_SYS_RESOURCE */
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			rl.rlim_cur = rl.rlim_max = hard;
			setrlimit(RLIMIT_NOFILE, &rl);   /* best effort */
		}
	}

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0)
		die("cannot resolve %s: %s", host, gai_strerror(gai));
	int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0)
		die("bind %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	if (listen(lfd, 4096) != 0)
		die("listen: %s", strerror(errno));

	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		die("getsockname: %s", strerror(errno));

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		die("sigprocmask: %s", strerror(errno));
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	/* data.fd: -1 listener, -2 signals, else a connection. */
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	ev.data.fd = -2;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));

	uint8_t *buf = malloc(READ_SIZE);
	if (!buf)
		die("out of memory");

	fprintf(stderr, "rawsink: listening on %s:%s\n", hbuf, pbuf);
	fflush(stderr);

	unsigned long long accepted = 0, closed = 0, bytes = 0;
	double t_first = 0, t_last = 0;
	int stop = 0;
	struct epoll_event evs[256];

	while (!stop) {
		int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int e = 0; e < n; e++) {
			int fd = evs[e].data.fd;
			if (fd == -2) {
				stop = 1;
				continue;
			}
			if (fd == -1) {
				while (1) {
					int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (cfd < 0) {
						if (errno == EAGAIN || errno == EWOULDBLOCK)
							break;
						if (errno == EINTR || errno == ECONNABORTED)
							continue;
						if (errno == EMFILE || errno == ENFILE) {
							fprintf(stderr, "rawsink: accept: %s\n", strerror(errno));
							break;
						}
						die("accept: %s", strerror(errno));
					}
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = cfd };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) != 0)
						die("epoll_ctl: %s", strerror(errno));
					if (accepted++ == 0)
						t_first = now_mono();
				}
				continue;
			}
			/* One read per event, level-triggered: fair over connections. */
			ssize_t r = read(fd, buf, READ_SIZE);
			if (r > 0) {
				bytes += (unsigned long long)r;
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				continue;
			if (r < 0)
				fprintf(stderr, "rawsink: read: %s\n", strerror(errno));
			close(fd);
			closed++;
			t_last = now_mono();
			if (exit_after && closed >= exit_after && closed == accepted)
				stop = 1;
		}
	}
	double end = closed == accepted && accepted ? t_last : now_mono();
	double secs = accepted ? end - t_first : 0.0;
	fprintf(stderr, "rawsink: conns=%llu bytes=%llu seconds=%.3f MBps=%.1f\n",
		accepted, bytes, secs, secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
	free(buf);
	return 0;
}
