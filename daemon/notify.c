/*
 * notify: see notify.h.
 *
 * $NOTIFY_SOCKET is either an absolute path ("/run/systemd/notify") or an
 * abstract socket name written with a leading '@' (the '@' stands for the
 * leading NUL byte of the abstract name; the address length, not a
 * terminating NUL, ends it).  Anything else (systemd 254's "vsock:" form,
 * a relative path) is refused with a warning rather than guessed at.
 *
 * One socket is opened at start-up and every message is a sendto() on it,
 * so the address is resolved per message (a re-executed manager that
 * recreated its socket is still reached) and no descriptor is opened in the
 * middle of an overloaded run.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int                notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t          notify_addrlen;
static uint64_t           watchdog_usec;
static int                send_failing;   /* warned about the current failure */

/* Strict decimal: digits only, no sign, no overflow. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static void
read_watchdog(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;

	watchdog_usec = 0;
	if (usec == NULL)
		return;
	if (parse_u64(usec, &v) < 0 || v == 0) {
		log_warnx("systemd: ignoring WATCHDOG_USEC=\"%s\" (not a positive number)", usec);
		return;
	}
	if (pid != NULL) {
		if (parse_u64(pid, &p) < 0) {
			log_warnx("systemd: ignoring the watchdog: WATCHDOG_PID=\"%s\" is not a pid",
				  pid);
			return;
		}
		if (p != (uint64_t)getpid()) {
			/* Meant for another process (a wrapper that exec'd us
			 * would have updated it). */
			log_debug("systemd: watchdog is for pid %llu, not this process",
				  (unsigned long long)p);
			return;
		}
	}
	watchdog_usec = v;
}

int
notify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t len;
	struct timeval tv = { 1, 0 };

	notify_close();
	watchdog_usec = 0;
	if (e == NULL || *e == '\0')
		return 0;
	len = strlen(e);
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	if (e[0] != '/' && e[0] != '@') {
		log_warnx("systemd: NOTIFY_SOCKET=\"%s\" is neither an absolute path nor an "
			  "abstract socket (@name); not sending notifications", e);
		return 0;
	}
	/* The '@' form could be one byte longer; keeping both NUL-terminated in
	 * sun_path keeps the messages that print it simple. */
	if (len < 2 || len > sizeof(notify_addr.sun_path) - 1) {
		log_warnx("systemd: NOTIFY_SOCKET=\"%s\": bad length; not sending notifications", e);
		return 0;
	}
	memcpy(notify_addr.sun_path, e, len);
	if (e[0] == '@') {
		notify_addr.sun_path[0] = '\0';
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0) {
		log_warn("systemd: cannot create the notification socket");
		return 0;
	}
	/* The manager reads its socket promptly; should it not, give up on a
	 * message after a second rather than stall the loop indefinitely. */
	setsockopt(notify_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	send_failing = 0;
	read_watchdog();
	return 1;
}

int
notify_enabled(void)
{
	return notify_fd >= 0;
}

void
notify_send(const char *state)
{
	ssize_t r;

	if (notify_fd < 0)
		return;
	do
		r = sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL,
			   (const struct sockaddr *)&notify_addr, notify_addrlen);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		/* Once per failing spell: a missing manager must not flood the
		 * log every watchdog interval. */
		if (!send_failing)
			log_warn("systemd: cannot send a notification to %s%s",
				 notify_addr.sun_path[0] ? "" : "@",
				 notify_addr.sun_path + !notify_addr.sun_path[0]);
		send_failing = 1;
	} else {
		send_failing = 0;
	}
}

void
notify_sendf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	notify_send(buf);  /* a cut STATUS= line is still a valid message */
}

void
notify_reloading(void)
{
	struct timespec ts;

	if (notify_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
		     (unsigned long long)ts.tv_sec * 1000000ULL +
		     (unsigned long long)ts.tv_nsec / 1000ULL);
}

uint64_t
notify_watchdog_usec(void)
{
	return notify_fd >= 0 ? watchdog_usec : 0;
}

void
notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
