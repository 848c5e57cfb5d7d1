/*
 * proxy: the PROXY protocol header a load balancer (HAProxy's send-proxy,
 * send-proxy-v2; an nginx stream proxy; a cloud NLB) puts before a
 * connection's bytes, telling whom it relays: version 1 (one text line)
 * and version 2 (binary), as HAProxy's doc/proxy-protocol.txt defines them.
 *
 * Pure: no sockets, no logging.  conn.c calls proxy_parse() on the first
 * bytes of a connection whose peer is trusted to send a header (the
 * listener's proxy_from); whether a header is expected is decided by the
 * peer's address, never by the bytes (the specification forbids guessing).
 *
 * What is accepted:
 * - v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN...\r\n"
 *   (the connection's own addresses apply), at most 107 bytes, single
 *   spaces, numeric addresses of the stated family, ports 0 .. 65535
 *   without leading zeros.
 * - v2: the 12-byte signature, version 2, command LOCAL (a health check:
 *   the connection's own addresses apply) or PROXY; TCP over IPv4 or IPv6
 *   (UNSPEC and UNIX families are taken as LOCAL; datagrams are refused);
 *   the whole header at most `max` bytes; TLVs after the addresses are
 *   skipped, but each must fit, and a CRC32C TLV (type 0x03) is verified.
 */
#ifndef INGESTD_PROXY_H
#define INGESTD_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1      1u
#define PROXY_V2      2u
#define PROXY_V1_MAX  107     /* the longest v1 line, CRLF included */
#define PROXY_V2_MIN  16      /* signature, version/command, family, length */

enum proxy_status { PROXY_MORE, PROXY_DONE, PROXY_BAD };

enum proxy_bad {
	PROXY_BAD_NONE,
	PROXY_BAD_SIGNATURE,   /* neither "PROXY " nor the v2 signature, or a version not allowed */
	PROXY_BAD_V1_LINE,     /* a v1 line that breaks the rules */
	PROXY_BAD_VERSION,     /* v2: a version other than 2 */
	PROXY_BAD_COMMAND,     /* v2: neither LOCAL nor PROXY */
	PROXY_BAD_FAMILY,      /* v2: an unknown family or transport, or a datagram */
	PROXY_BAD_LENGTH,      /* v2: addresses or TLVs past the length, or over `max` */
	PROXY_BAD_CRC,         /* v2: the CRC32C TLV does not match */
};

struct proxy_header {
	unsigned                version;   /* 1 or 2 */
	int                     local;     /* 1: no addresses (LOCAL, UNKNOWN, UNSPEC, UNIX) */
	struct sockaddr_storage src, dst;  /* when !local: AF_INET or AF_INET6 */
	size_t                  length;    /* bytes of the header, to skip */
};

/*
 * Parses the header at the start of buf[0..len).  versions: PROXY_V1,
 * PROXY_V2 or both.  Returns PROXY_MORE while buf is a proper beginning of
 * a header that may still turn out good, PROXY_DONE with *h filled, or
 * PROXY_BAD with the reason in *why (nothing after a bad header may be
 * trusted).  A v1 header longer than PROXY_V1_MAX, or a v2 one longer than
 * max, is bad as soon as that is known.
 */
enum proxy_status proxy_parse(const uint8_t *buf, size_t len, unsigned versions, size_t max,
			      struct proxy_header *h, enum proxy_bad *why);

/* "bad v2 signature"... for logs; never NULL. */
const char *proxy_bad_text(enum proxy_bad why);

/* CRC-32C (Castagnoli), as PP2_TYPE_CRC32C uses: check value 0xE3069283. */
uint32_t proxy_crc32c(const uint8_t *p, size_t n);

#endif
