/*
 * Unit tests for listener (daemon/listener.c) on a real libev loop and
 * real loopback TCP sockets.
 *
 * Covers: accepted peers become connections; max_connections at its
 * boundary (N served, N+1 closed at once and counted); listener_stop()
 * refuses new peers while an accepted connection goes on producing records
 * with the listener's metadata, which it borrows until listener_release();
 * out of descriptors (RLIMIT_NOFILE lowered for real), a waiting peer is
 * accepted with the reserve descriptor and closed at once, counted, and the
 * next one is served again once a descriptor is free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "pool.h"
#include "record.h"
#include "sink.h"
#include "stats.h"
#include "unit_daemon.h"
#include "unit_loop.h"

static struct fixture *
fixture_new(size_t max_connections)
{
	char text[512];
	struct fixture *f;

	snprintf(text, sizeof(text),
		 "[limits]\nmax_connections = %zu\n"
		 "[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
		 "schema = sensor24\n", max_connections);
	f = fixture_new_from(text, 0);
	listener_start(&f->l);
	return f;
}

static int
tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static int
tcp_connect_fd(int fd, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

static int
tcp_connect(uint16_t port)
{
	int fd = tcp_socket();

	assert_int_equal(tcp_connect_fd(fd, port), 0);
	return fd;
}

/* 1 when the daemon side has closed fd's connection, waiting up to 2 s. */
static int
closed_within(struct fixture *f, int fd)
{
	double end = clock_mono() + 2;
	char c;

	while (clock_mono() < end) {
		ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return 1;
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	return 0;
}

static void
sensor24(uint8_t *p, uint32_t id)
{
	memset(p, 0, 24);
	p[3] = (uint8_t)id;
}

static size_t
count_in_file(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	size_t n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

static void
test_max_connections_boundary(void **state)
{
	struct fixture *f = fixture_new(2);
	int a = tcp_connect(f->port), b = tcp_connect(f->port), c;

	(void)state;
	loop_run_for(f->loop, 0.1);
	assert_int_equal(f->ctx.nconns, 2);       /* N: served */
	c = tcp_connect(f->port);
	assert_true(closed_within(f, c));         /* N + 1: closed at once */
	assert_int_equal(stats_get(STAT_conn_refused), 1);
	assert_int_equal(f->ctx.nconns, 2);
	close(a);
	close(b);
	close(c);
	fixture_free(f);
}

static void
test_stop_refuses_new_peers_and_keeps_what_conns_borrow(void **state)
{
	struct fixture *f = fixture_new(10);
	int a = tcp_connect(f->port), b;
	uint8_t pkt[24];

	(void)state;
	loop_run_for(f->loop, 0.1);
	assert_int_equal(f->ctx.nconns, 1);
	listener_stop(&f->l);
	listener_stop(&f->l);                     /* idempotent */
	b = tcp_socket();
	assert_int_equal(tcp_connect_fd(b, f->port), -1);
	assert_int_equal(errno, ECONNREFUSED);
	/* The accepted connection goes on, with the listener's metadata. */
	sensor24(pkt, 77);
	assert_int_equal(write(a, pkt, 24), 24);
	loop_run_for(f->loop, 0.2);
	assert_int_equal(count_in_file(f->out, "\"sensorId\":77,"), 1);
	assert_int_equal(count_in_file(f->out, ",\"_listener\":\"sensors\""), 1);
	close(a);
	close(b);
	fixture_free(f);
}

/* Descriptors in use now: the highest open one. */
static int
highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int hi = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (atoi(e->d_name) > hi)
			hi = atoi(e->d_name);
	closedir(d);
	return hi;
}

static void
test_out_of_descriptors_sheds_with_the_reserve(void **state)
{
	struct fixture *f = fixture_new(10);
	int a = tcp_socket(), b = tcp_socket(), c;
	struct rlimit old, rl;
	static int filler[4096];
	int nfill = 0, fd;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)highest_fd() + 2;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Fill the gaps below the limit, so exactly one descriptor is left. */
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		assert_true(nfill < 4096);
		filler[nfill++] = fd;
	}
	close(filler[--nfill]);
	assert_int_equal(tcp_connect_fd(a, f->port), 0);
	assert_int_equal(tcp_connect_fd(b, f->port), 0);
	loop_run_for(f->loop, 0.1);
	assert_int_equal(f->ctx.nconns, 1);       /* a took the last descriptor */
	assert_true(closed_within(f, b));         /* b: accepted and shed */
	assert_true(stats_get(STAT_conn_refused) >= 1);
	assert_true(stats_get(STAT_accept_errors) >= 1);
	/* a goes away: a descriptor is free, the next peer is served. */
	close(a);
	loop_run_for(f->loop, 0.1);
	assert_int_equal(f->ctx.nconns, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	while (nfill > 0)
		close(filler[--nfill]);
	c = tcp_connect(f->port);
	loop_run_for(f->loop, 0.1);
	assert_int_equal(f->ctx.nconns, 1);
	close(b);
	close(c);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_connections_boundary),
		cmocka_unit_test(test_stop_refuses_new_peers_and_keeps_what_conns_borrow),
		cmocka_unit_test(test_out_of_descriptors_sheds_with_the_reserve),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
