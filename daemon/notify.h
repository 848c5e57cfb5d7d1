/*
 * notify: the systemd service notification protocol (sd_notify(3)),
 * implemented directly.
 *
 * Why not libsystemd: the protocol is small, stable and documented (one
 * datagram of "KEY=VALUE\n" lines sent to the AF_UNIX socket named by
 * $NOTIFY_SOCKET), so a few dozen lines do the job without another run-time
 * dependency, and the daemon still builds and runs where libsystemd does not
 * exist.  See sd_notify(3) and systemd's "notify" protocol documentation.
 *
 * Without $NOTIFY_SOCKET (not started by systemd, or Type= other than
 * notify) every call is a no-op.  Sending never blocks the event loop for
 * long (a one-second send timeout) and a failure is logged once at debug
 * level and otherwise ignored: notification is advisory, ingesting is not.
 */
#ifndef INGESTD_NOTIFY_H
#define INGESTD_NOTIFY_H

#include <stdint.h>

/*
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and opens the
 * sending socket.  Returns 1 when notifications will be sent, 0 when not
 * (unset, or an address that cannot be used: a warning says why).
 */
int notify_init(void);

/* 1 after a successful notify_init(). */
int notify_enabled(void);

/*
 * Sends one message: `state` is one or more "KEY=VALUE" lines separated by
 * '\n' (no trailing newline needed).  No-op when disabled.
 */
void notify_send(const char *state);

/* printf-style notify_send(). */
void notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * "RELOADING=1" with "MONOTONIC_USEC=" (CLOCK_MONOTONIC now, in
 * microseconds), as Type=notify-reload requires and older managers accept.
 */
void notify_reloading(void);

/*
 * Watchdog interval the manager asked for, in microseconds: $WATCHDOG_USEC
 * when set, positive, and $WATCHDOG_PID is unset or names this process;
 * otherwise 0.  Independent of notify_enabled() only in that a watchdog
 * without a socket is useless: it is 0 then too.
 */
uint64_t notify_watchdog_usec(void);

/* Closes the socket (tests, clean exit). */
void notify_close(void);

#endif
