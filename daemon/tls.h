/*
 * tls: the server side of a listener's TLS (OpenSSL 3).
 *
 * One tls_server per TLS listener holds its context: certificate chain and
 * key, the CAs that sign sensor certificates (tls_ca: a client must present
 * a valid certificate chaining to one of them), the CRL, the lowest
 * version.  Every worker's connections of that listener take their session
 * from the same context, so a session ticket issued by one worker resumes
 * on any other.  SIGHUP builds a new context from the files
 * (tls_server_reload); a file that fails keeps the old one.  Connections
 * keep the context they started with (OpenSSL counts its references).
 *
 * A session (tls_session_new) wraps one non-blocking socket; the caller
 * drives it from its event loop: tls_handshake() until TLS_OK, then
 * tls_read(), retrying each when the socket is readable (TLS_WANT_READ) or
 * writable (TLS_WANT_WRITE).  tls_read() may leave decrypted bytes buffered
 * (tls_pending()) that no readiness event will announce.  Before the first
 * byte is read the handshake peeks at it: a connection that does not start
 * with a TLS handshake record is plaintext on a TLS port, refused as such.
 *
 * Threads: tls_server_new/reload/free on the main thread; tls_session_new
 * on any (it takes the context under a mutex); a session belongs to the
 * thread of its connection.  OpenSSL's error queue is per thread; each call
 * here starts it empty.
 */
#ifndef INGESTD_TLS_H
#define INGESTD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct tls_server;
struct ssl_st;   /* OpenSSL's SSL */

/* The longest subject CN taken, in UTF-8 bytes (RFC 5280 allows 64
 * characters, at most 4 bytes each). */
#define TLS_CN_MAX 256

/* Why a handshake failed: each has its counter (stats.h). */
enum tls_failure {
	TLS_FAIL_NONE,
	TLS_FAIL_NO_CERT,     /* tls_ca is set and the client sent none */
	TLS_FAIL_VERIFY,      /* its chain does not verify (CA, expiry, CRL) */
	TLS_FAIL_VERSION,     /* below tls_min_version, or no common version */
	TLS_FAIL_PLAINTEXT,   /* the first byte is not a TLS handshake record */
	TLS_FAIL_OTHER,       /* anything else (reason in the message) */
};

enum tls_step { TLS_OK, TLS_WANT_READ, TLS_WANT_WRITE, TLS_CLOSED, TLS_FAILED };

/*
 * Builds the context of listener lc (borrowed: it must outlive the
 * server; its tls.on is set).  source names the config file in messages.
 * Returns the server, or NULL with "FILE:LINE: KEY: PATH: OpenSSL's
 * reason" in err.
 */
struct tls_server *tls_server_new(const struct listener_conf *lc, const char *source, char *err,
				  size_t errlen);
/* Rebuilds the context from the same files: 0, or -1 with the reason in
 * err and the old context kept. */
int tls_server_reload(struct tls_server *ts, char *err, size_t errlen);
/* Frees the server; sessions still open keep their context alive. */
void tls_server_free(struct tls_server *ts);

/* A session for fd (borrowed: the caller closes it after
 * tls_session_free()), with the current context.  NULL: out of memory. */
struct ssl_st *tls_session_new(struct tls_server *ts, int fd);
/* Sends close_notify once (no waiting) when the handshake was done, frees. */
void tls_session_free(struct ssl_st *ssl);

/*
 * One step of the handshake.  TLS_FAILED: *why and reason (text) say why;
 * TLS_CLOSED: the peer closed before it finished.
 */
enum tls_step tls_handshake(struct ssl_st *ssl, int fd, enum tls_failure *why, char *reason,
			    size_t reasonlen);
/* 1 when the session was resumed from a ticket or the session cache. */
int tls_resumed(struct ssl_st *ssl);
/*
 * The client certificate's subject CN as UTF-8 in out (NUL-terminated):
 * its length, 0 when the subject has no CN, -1 when there is no
 * certificate or the CN is not text (embedded NUL, bad encoding) or longer
 * than outlen - 1.
 */
int tls_peer_cn(struct ssl_st *ssl, char *out, size_t outlen);

/*
 * Reads decrypted bytes into buf[0..cap): TLS_OK with *got > 0, or a
 * TLS_WANT_*, TLS_CLOSED (close_notify, or the peer's end of stream), or
 * TLS_FAILED (reason from tls_last_error()).  *raw: bytes taken from the
 * socket meanwhile (what FIONREAD counted), in every case.
 */
enum tls_step tls_read(struct ssl_st *ssl, void *buf, size_t cap, size_t *got, uint64_t *raw);
/* 1 when decrypted or undecrypted bytes wait inside the session. */
int tls_pending(struct ssl_st *ssl);
/* OpenSSL's reason for the last failure on this thread, as text in buf. */
const char *tls_last_error(char *buf, size_t len);

const char *tls_failure_text(enum tls_failure why);

#endif
