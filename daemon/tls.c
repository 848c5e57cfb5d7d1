/* tls: a listener's TLS server side (tls.h). */
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

struct tls_server {
	pthread_mutex_t              lock;   /* ctx: swapped by reload, read by sessions */
	SSL_CTX                     *ctx;
	const struct listener_conf  *conf;   /* borrowed */
	char                         source[4096];
};

/* The TLS record type a ClientHello arrives in. */
#define TLS_HANDSHAKE_RECORD 0x16

/*
 * Empties this thread's error queue and describes its first (most
 * specific) error in buf; returns that error's code, 0 if none.
 */
static unsigned long
take_errors(char *buf, size_t len)
{
	unsigned long e, first = 0;
	const char *data = NULL, *d;
	int flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
		if (first == 0) {
			first = e;
			data = (flags & ERR_TXT_STRING) && d != NULL && d[0] != '\0' ? d : NULL;
		}
	}
	if (first == 0) {
		snprintf(buf, len, "%s", errno != 0 ? strerror(errno) : "no reason given");
	} else if (ERR_SYSTEM_ERROR(first)) {
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(first)));
	} else {
		const char *r = ERR_reason_error_string(first);

		if (r == NULL)
			ERR_error_string_n(first, buf, len);
		else
			snprintf(buf, len, "%s%s%s%s", r, data ? " (" : "", data ? data : "",
				 data ? ")" : "");
	}
	return first;
}

const char *
tls_last_error(char *buf, size_t len)
{
	take_errors(buf, len);
	return buf;
}

/* "FILE:LINE: KEY: PATH: reason" from the error queue. */
static void
file_error(char *err, size_t errlen, const char *source, int line, const char *key,
	   const char *path, const char *what)
{
	char why[256];

	take_errors(why, sizeof(why));
	snprintf(err, errlen, "%s:%d: %s: %s: %s%s%s", source, line, key, path, what ? what : "",
		 what ? ": " : "", why);
}

static SSL_CTX *
build_ctx(const struct listener_conf *lc, const char *source, char *err, size_t errlen)
{
	const struct tls_conf *t = &lc->tls;
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
	int sidlen;
	SSL_CTX *ctx;

	ERR_clear_error();
	errno = 0;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		file_error(err, errlen, source, lc->line, "tls", "(context)", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/* A sensor's end of stream without close_notify is the end of its
	 * records, not an attack on them: every frame is whole or counted. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections give their buffers back; each read takes what the
	 * socket has, not one record header and then its body. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		file_error(err, errlen, source, t->cert_line, "tls_cert", t->cert, NULL);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		file_error(err, errlen, source, t->key_line, "tls_key", t->key, NULL);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		file_error(err, errlen, source, t->key_line, "tls_key", t->key,
			   "not the key of tls_cert's certificate");
		goto fail;
	}
	if (t->ca[0] != '\0') {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
			file_error(err, errlen, source, t->ca_line, "tls_ca", t->ca, NULL);
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(t->ca)) == NULL) {
			file_error(err, errlen, source, t->ca_line, "tls_ca", t->ca,
				   "no CA certificate in it");
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		if (t->crl[0] != '\0') {
			X509_STORE *store = SSL_CTX_get_cert_store(ctx);
			X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

			if (lookup == NULL ||
			    X509_load_crl_file(lookup, t->crl, X509_FILETYPE_PEM) <= 0) {
				file_error(err, errlen, source, t->crl_line, "tls_crl", t->crl,
					   NULL);
				goto fail;
			}
			X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
		}
	}
	/* Resumption with client certificates needs a session id context:
	 * the listener's name, so a session never resumes on another one. */
	sidlen = snprintf((char *)sid, sizeof(sid), "ingestd/%s", lc->name);
	if (sidlen < 0 || (size_t)sidlen >= sizeof(sid))
		sidlen = (int)sizeof(sid) - 1;
	SSL_CTX_set_session_id_context(ctx, sid, (unsigned)sidlen);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_new(const struct listener_conf *lc, const char *source, char *err, size_t errlen)
{
	struct tls_server *ts = calloc(1, sizeof(*ts));

	if (ts == NULL) {
		snprintf(err, errlen, "listener %s: out of memory for its TLS context", lc->name);
		return NULL;
	}
	ts->conf = lc;
	snprintf(ts->source, sizeof(ts->source), "%s", source);
	if ((ts->ctx = build_ctx(lc, source, err, errlen)) == NULL) {
		free(ts);
		return NULL;
	}
	pthread_mutex_init(&ts->lock, NULL);
	return ts;
}

int
tls_server_reload(struct tls_server *ts, char *err, size_t errlen)
{
	SSL_CTX *fresh = build_ctx(ts->conf, ts->source, err, errlen), *old;

	if (fresh == NULL)
		return -1;
	pthread_mutex_lock(&ts->lock);
	old = ts->ctx;
	ts->ctx = fresh;
	pthread_mutex_unlock(&ts->lock);
	SSL_CTX_free(old);   /* sessions still open hold their own reference */
	return 0;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ctx);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

SSL *
tls_session_new(struct tls_server *ts, int fd)
{
	SSL *ssl;

	pthread_mutex_lock(&ts->lock);
	ssl = SSL_new(ts->ctx);
	pthread_mutex_unlock(&ts->lock);
	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void
tls_session_free(SSL *ssl)
{
	if (ssl == NULL)
		return;
	if (SSL_is_init_finished(ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(ssl);   /* one try: a full socket just loses it */
	}
	SSL_free(ssl);
	ERR_clear_error();
}

/* What SSL_get_error() makes of a call that returned r (errno as it left
 * it): a peer's end of stream is TLS_CLOSED, every other failure FAILED. */
static enum tls_step
step_of(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	case SSL_ERROR_SYSCALL:
		return ERR_peek_error() == 0 && errno == 0 ? TLS_CLOSED : TLS_FAILED;
	default:
		return TLS_FAILED;
	}
}

static enum tls_failure
classify(SSL *ssl, unsigned long e, char *reason, size_t reasonlen)
{
	long verify = SSL_get_verify_result(ssl);
	int r = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;

	switch (r) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		snprintf(reason, reasonlen, "the client sent none (tls_ca asks for one)");
		return TLS_FAIL_NO_CERT;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_WRONG_SSL_VERSION:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return TLS_FAIL_VERSION;
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return TLS_FAIL_PLAINTEXT;
	default:
		break;
	}
	if (verify != X509_V_OK || r == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		snprintf(reason, reasonlen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(verify));
		return TLS_FAIL_VERIFY;
	}
	return TLS_FAIL_OTHER;
}

enum tls_step
tls_handshake(SSL *ssl, int fd, enum tls_failure *why, char *reason, size_t reasonlen)
{
	enum tls_step step;
	unsigned long e;
	int r;

	*why = TLS_FAIL_NONE;
	if (BIO_number_read(SSL_get_rbio(ssl)) == 0) {
		unsigned char first;
		ssize_t n;

		do
			n = recv(fd, &first, 1, MSG_PEEK);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			return TLS_CLOSED;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TLS_WANT_READ;
		if (n < 0) {
			*why = TLS_FAIL_OTHER;
			snprintf(reason, reasonlen, "%s", strerror(errno));
			return TLS_FAILED;
		}
		if (first != TLS_HANDSHAKE_RECORD) {
			*why = TLS_FAIL_PLAINTEXT;
			snprintf(reason, reasonlen, "the first byte is 0x%02x, not a TLS handshake "
				 "record (0x16)", first);
			return TLS_FAILED;
		}
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(ssl);
	if (r == 1)
		return TLS_OK;
	if ((step = step_of(ssl, r)) != TLS_FAILED)
		return step;
	if (ERR_peek_error() == 0) {   /* the socket's own error */
		*why = TLS_FAIL_OTHER;
		snprintf(reason, reasonlen, "%s", strerror(errno));
		return TLS_FAILED;
	}
	e = take_errors(reason, reasonlen);
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return TLS_CLOSED;
	*why = classify(ssl, e, reason, reasonlen);
	return TLS_FAILED;
}

int
tls_resumed(SSL *ssl)
{
	return SSL_session_reused(ssl);
}

int
tls_peer_cn(SSL *ssl, char *out, size_t outlen)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *subject;
	unsigned char *utf8 = NULL;
	int i, len;

	if (cert == NULL || outlen == 0)
		return -1;
	subject = X509_get_subject_name(cert);
	if ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)) < 0) {
		out[0] = '\0';
		return 0;
	}
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
	if (len < 0 || (size_t)len >= outlen || memchr(utf8, '\0', (size_t)len) != NULL) {
		OPENSSL_free(utf8);
		ERR_clear_error();
		return -1;
	}
	memcpy(out, utf8, (size_t)len);
	out[len] = '\0';
	OPENSSL_free(utf8);
	return len;
}

enum tls_step
tls_read(SSL *ssl, void *buf, size_t cap, size_t *got, uint64_t *raw)
{
	BIO *rbio = SSL_get_rbio(ssl);
	uint64_t before = BIO_number_read(rbio);
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	*raw = BIO_number_read(rbio) - before;
	*got = 0;
	if (n > 0) {
		*got = (size_t)n;
		return TLS_OK;
	}
	return step_of(ssl, n);
}

int
tls_pending(SSL *ssl)
{
	return SSL_has_pending(ssl);
}

const char *
tls_failure_text(enum tls_failure why)
{
	switch (why) {
	case TLS_FAIL_NO_CERT:   return "no client certificate";
	case TLS_FAIL_VERIFY:    return "client certificate not verified";
	case TLS_FAIL_VERSION:   return "protocol version refused";
	case TLS_FAIL_PLAINTEXT: return "plaintext on a TLS port";
	case TLS_FAIL_OTHER:     return "handshake failed";
	default:                 return "no failure";
	}
}
