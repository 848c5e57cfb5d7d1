/*
 * loadgen: load generator for ingestd's benchmark and tests.
 *
 * Opens N TCP connections to host:port and sends M deterministic packets on
 * each (sensor24, legacy16, env16 or TLV frames), from one thread with non-blocking
 * sockets and one epoll loop.  When a connection has sent everything it
 * shuts down its write side and waits for the peer to close (read returns
 * 0); loadgen exits once every connection is closed, or after --wait
 * seconds (a warning then, still exit 0).  A summary goes to stderr:
 *   loadgen: packets=P bytes=B seconds=S pps=R send_seconds=S2 conns=N unclosed=U
 * seconds runs from the first connect() to the last close by the peer (or the
 * --wait timeout); pps = packets / seconds; send_seconds ends at the last
 * byte written.
 *
 * Packets: connection i (0-based, plus --conn-base) sends seq = 0..M-1; the
 * field values are a function of (conn, seq) given in loadgen_packets.h
 * (shared with checker.c, which expects exactly those values):
 *   sensor24: sensorId=conn, timestamp=seq, sensorType=seq&0xffff,
 *             statusFlags=seq&0xff, temperature=(int8)seq,
 *             humidity=(float)(seq%10000)*0.37f+0.01f,
 *             pressure=(float)((seq+conn*7919)%30011)*0.0173f+950.0f
 *   legacy16: signature=0xCAFE, deviceId=conn,
 *             voltage=(float)((seq+conn)%5000)*0.001f+3.3f,
 *             status=seq&0xff, checksum=(seq>>8)&0xff, uptime=seq
 *   env16:    16 bytes for a schema declared in the config: proto=0x02,
 *             devId=conn (u24 LE), temp_c raw=(int16)(seq*37+conn*101)
 *             (i16 LE), rh raw=(seq+conn)%201, byte 7=(uint8)(seq*29+conn*3)
 *             (lowBatt bit 0, mode bits 4..7), seq in bytes 8..13 (48 bits
 *             BE), CRC-16/MODBUS of bytes 0..13 (LE) at 14 (the schema's
 *             count, u64 BE @8, reads seq * 65536 + the CRC's bytes)
 *   tlv:      type -t, length -s; the value is a sensor24 packet for type 1
 *             (length must be 24), a legacy16 packet for type 2 (length 16),
 *             else raw bytes: conn u32 BE, seq u64 BE, then byte k =
 *             (uint8)(seq*131 + conn*31 + k*7 + (k>>8)).  --tlv-as overrides
 *             the value kind for a daemon configured with other mappings
 *             (env16: length 16).
 * --latency (sensor24 values only) puts CLOCK_REALTIME in ms (with fraction)
 * at generation time into timestamp instead of seq, for `checker --tail`.
 *
 * Sending: each turn a connection builds a batch of whole frames (-b bytes)
 * and writes it until EAGAIN; --split cuts every write at a random length
 * (half the time 1..64 bytes, else up to the rest of the batch; xorshift
 * seeded by --seed) with TCP_NODELAY, so frames straddle writes.  Frames not
 * written are built again later; the tail of a half-written frame is kept.
 * -r spreads a token bucket of RATE packets/s over the connections that can
 * write.  A daemon that stops reading blocks loadgen (no send timeout: run
 * it under timeout(1)); a peer that closes or resets before everything was
 * sent is an error (exit 1) at once.
 *
 * TLS (--tls): each connection does a TLS client handshake (OpenSSL 3,
 * TLS 1.3 only, ciphersuite TLS_AES_128_GCM_SHA256 only, so that a
 * benchmark measures AES-GCM; key exchange by OpenSSL's default groups)
 * before it sends, and sends its packets with SSL_write, on the same
 * non-blocking sockets and epoll loop: SSL_ERROR_WANT_READ / WANT_WRITE
 * wait for the next edge (both EPOLLIN and EPOLLOUT are always watched).
 * --tls-ca FILE verifies the server's certificate against FILE's CAs and its
 * name against -h (an IP literal against an IP subjectAltName, a name
 * against DNS, which is also sent as SNI); without it nothing is verified.
 * --tls-cert FILE --tls-key FILE present a client certificate (a listener
 * with tls_ca asks for one).  A write that SSL_write could not finish
 * (WANT_WRITE) is retried with the same bytes and length: the rest of the
 * batch is kept, not built again (SSL_MODE_ENABLE_PARTIAL_WRITE |
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER); with --split each SSL_write, so each
 * record, has a random length.  When a connection has sent everything it
 * sends close_notify (SSL_shutdown), then shuts down its write side and
 * waits for the peer to close as without TLS, reading (SSL_read, discarding:
 * session tickets, the server's close_notify) until the end of the stream.
 * bytes= in the summary counts application bytes (packets), not TLS
 * records; seconds includes the handshakes.  Not with --proxy-v2 (ingestd
 * refuses proxy_protocol and tls on one listener).
 *
 * Handshake rate (--handshakes N, with --tls): no packets (-n, -r, -f,
 * --split, --latency do not apply).  -c connections are open at once; each
 * completes its handshake, sends close_notify, shuts down its write side and
 * waits for the peer to close; then a new one takes its place, until N
 * connections have been made.  With --resume each new connection offers
 * (SSL_set_session) the session of an earlier one: TLS 1.3 sends session
 * tickets after the handshake, so the first connection reads until a ticket
 * arrives (SSL_CTX_sess_set_new_cb) before it sends close_notify, and no
 * other connection is opened until then (at most --wait seconds, else exit
 * 1).  Every later one offers a copy (SSL_SESSION_dup: OpenSSL's client
 * marks a TLS 1.3 session not resumable once used) of the latest session
 * received, and closes right after its handshake; the tickets it reads
 * while it waits for the peer's close replace the latest session.  So a
 * ticket may be offered more than once (a server with single-use tickets
 * would resume fewer).  Whether a connection was in fact resumed is
 * SSL_session_reused().  Summary:
 *   loadgen: handshakes=N seconds=S rate=R resumed=K
 * seconds from the first connect() to the last close by the peer (or the
 * --wait timeout after the last handshake, with a warning); rate = N /
 * seconds, new connections per second; K = the connections resumed.
 *
 * Exit: 0 ok, 1 runtime error (connect refused, reset, ...), 64 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "loadgen_packets.h"

#define MAX_CONNS      100000u
#define MAX_PER_CONN   4294967295ull       /* ids must fit the u32 fields */
#define MAX_RATE       1000000000ull
#define MAX_BATCH      (64u << 20)
#define MIN_BATCH      64u
#define DEFAULT_BATCH  (64u << 10)
#define DEFAULT_WAIT   60.0
#define TURN_BATCHES   4                   /* batches per conn per turn, unlimited rate */
#define MAX_HANDSHAKES 1000000000ull
#define TLS_SUITE      "TLS_AES_128_GCM_SHA256"

enum fmt { FMT_SENSOR24, FMT_LEGACY16, FMT_ENV16, FMT_TLV };
enum val { VAL_SENSOR24, VAL_LEGACY16, VAL_ENV16, VAL_RAW };
/* CS_SENDING: after the handshake with --tls; with --handshakes, the wait for
 * a ticket (--resume) and for close_notify to go out. */
enum cstate { CS_CONNECTING, CS_HANDSHAKE, CS_SENDING, CS_DRAINING, CS_CLOSED };

struct conn {
	int       fd;
	uint8_t   state;
	uint8_t   queued;        /* in the ready queue */
	uint32_t  idx;           /* 0-based, without conn-base */
	uint64_t  next_seq;      /* next packet to generate */
	uint64_t  sent;          /* packet bytes written (the header not counted) */
	uint8_t  *carry;         /* built, not yet written: the tail of a partly written
				  * frame; with TLS, the rest of the batch (see keep()) */
	size_t    carry_len, carry_off;
	SSL      *ssl;           /* --tls */
	size_t    tls_retry;     /* length of the SSL_write to repeat (WANT_WRITE), else 0 */
	uint8_t   shut_sent;     /* close_notify sent */
	uint8_t   tls_eof;       /* SSL_read saw the end: read the socket itself from here */
	uint8_t   hdr[28];       /* --proxy-v2: the header sent before the packets */
	uint8_t   hdr_len, hdr_off;
};

static struct {
	const char *host;
	const char *port;
	uint32_t    nconns;
	uint64_t    per_conn;
	enum fmt    fmt;
	enum val    val;
	int         val_forced;
	unsigned    tlv_type;
	size_t      tlv_size;
	uint64_t    rate;
	int         split;
	uint64_t    seed;
	size_t      batch;
	int         latency;
	int         proxy_v2;
	uint64_t    conn_base;
	double      wait;
	int         tls;
	const char *tls_ca, *tls_cert, *tls_key;
	uint64_t    handshakes;
	int         resume;
} opt = {
	.host = "127.0.0.1", .port = NULL, .nconns = 1, .per_conn = 1000,
	.fmt = FMT_SENSOR24, .tlv_type = 1, .tlv_size = 24, .seed = 1,
	.batch = DEFAULT_BATCH, .wait = DEFAULT_WAIT,
};

static size_t    frame_size;           /* bytes per frame on the wire */
static size_t    value_off;            /* 3 for TLV, else 0 */
static uint8_t  *batch_buf;
static size_t    batch_frames;
static uint64_t  rng_state;
static uint64_t  total_packets, total_bytes, taken_packets;
static SSL_CTX  *tls_ctx;
static SSL_SESSION *resume_sess;       /* --resume: the latest ticket received */
static int       host_is_ip;

static void usage(FILE *f)
{
	fprintf(f,
"usage: loadgen -p PORT [options]\n"
"Sends N x M deterministic packets to ingestd over N TCP connections.\n"
"  -h HOST          host to connect to (default 127.0.0.1); -h alone: this help\n"
"  -p PORT          port (required)\n"
"  -c N             connections, 1..%u (default 1)\n"
"  -n M             packets per connection, 0..%llu (default 1000)\n"
"  -f FORMAT        sensor24 | legacy16 | env16 | tlv (default sensor24)\n"
"  -t TYPE          TLV type 1..255 (default 1)\n"
"  -s SIZE          TLV value size (default 24); type 1: 24 (sensor24 value),\n"
"                   type 2: 16 (legacy16 value), others: 12..65535 (raw bytes);\n"
"                   an env16 value (--tlv-as env16): 16\n"
"  --tlv-as KIND    value kind for the TLV type: sensor24 | legacy16 | env16 | raw\n"
"                   (default: 1 -> sensor24, 2 -> legacy16, else raw)\n"
"  -r RATE          total packets/s over all connections, 0 = unlimited (default 0)\n"
"  -b BYTES         batch size per write, %u..%u (default %u)\n"
"  --proxy-v2       begin each connection with a PROXY protocol v2 header (TCP4,\n"
"                   source 192.0.2.X:PORT, X and PORT from the connection's number)\n"
"  --split          cut each batch into random-length writes so frames straddle\n"
"                   writes (sets TCP_NODELAY)\n"
"  --seed S         seed for --split (default 1)\n"
"  --latency        timestamp = CLOCK_REALTIME ms at send time (sensor24 values)\n"
"  --conn-base K    add K to the connection index in sensorId/deviceId/devId\n"
"                   (default 0)\n"
"  --wait SEC       after sending, wait at most SEC for the peer to close\n"
"                   (default %.0f; on timeout: warning, exit 0)\n"
"  --tls            TLS 1.3 with " TLS_SUITE " only: a handshake on each\n"
"                   connection, then the packets with SSL_write, close_notify at the end\n"
"  --tls-ca FILE    verify the server's certificate against the CAs in FILE, and its\n"
"                   IP or name against -h (default: no verification)\n"
"  --tls-cert FILE  client certificate (PEM chain) to present, with --tls-key\n"
"  --tls-key FILE   its private key (PEM)\n"
"  --handshakes N   with --tls: no packets; N connections, -c at a time, each closed\n"
"                   after its handshake (1..%llu)\n"
"  --resume         with --handshakes: each connection after the first offers the\n"
"                   session (ticket) of an earlier one\n"
"  --help           this help\n"
"Summary on stderr: loadgen: packets= bytes= seconds= pps= send_seconds= conns= unclosed=\n"
"  (with --handshakes: loadgen: handshakes= seconds= rate= resumed=)\n"
"Exit: 0 ok, 1 runtime error, 64 usage.\n",
		MAX_CONNS, (unsigned long long)MAX_PER_CONN, MIN_BATCH, MAX_BATCH, DEFAULT_BATCH,
		DEFAULT_WAIT, (unsigned long long)MAX_HANDSHAKES);
}

#define TOOL_NAME "loadgen"
#define TOOL_HELP_FLAG "--help"
#include "tool_util.h"



static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_next(void)
{
	/* xorshift64* */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 2685821657736338717ull;
}

/* Length of the next write when cutting `rem` bytes at random points. */
static size_t split_len(size_t rem)
{
	uint64_t r = rng_next();
	size_t cap = (r & 1) ? (rem < 64 ? rem : 64) : rem;
	return 1 + (size_t)((r >> 1) % cap);
}

/* One frame of connection idx, sequence seq, at out (frame_size bytes). */
static void gen_frame(uint32_t idx, uint64_t seq, double rt_ms, uint8_t *out)
{
	uint64_t conn = opt.conn_base + idx;
	uint8_t *v = out + value_off;

	if (opt.fmt == FMT_TLV) {
		out[0] = (uint8_t)opt.tlv_type;
		out[1] = (uint8_t)(opt.tlv_size >> 8);
		out[2] = (uint8_t)(opt.tlv_size & 0xff);
	}
	switch (opt.val) {
	case VAL_SENSOR24: {
		struct lg_sensor24 p;
		lg_sensor24_derive(conn, seq, &p);
		if (opt.latency)
			p.timestamp = rt_ms;
		lg_sensor24_encode(&p, v);
		break;
	}
	case VAL_LEGACY16: {
		struct lg_legacy16 p;
		lg_legacy16_derive(conn, seq, &p);
		lg_legacy16_encode(&p, v);
		break;
	}
	case VAL_ENV16: {
		struct lg_env16 p;
		lg_env16_derive(conn, seq, &p);
		lg_env16_encode(&p, v);
		break;
	}
	case VAL_RAW:
		lg_raw_fill(conn, seq, v, opt.tlv_size);
		break;
	}
}

static void parse_args(int argc, char **argv)
{
	enum { O_SPLIT = 256, O_SEED, O_LATENCY, O_BASE, O_WAIT, O_TLVAS, O_PROXY, O_HELP, O_TLS,
	       O_TLS_CA, O_TLS_CERT, O_TLS_KEY, O_HANDSHAKES, O_RESUME };
	static const struct option lopts[] = {
		{ "split", no_argument, NULL, O_SPLIT },
		{ "proxy-v2", no_argument, NULL, O_PROXY },
		{ "seed", required_argument, NULL, O_SEED },
		{ "latency", no_argument, NULL, O_LATENCY },
		{ "conn-base", required_argument, NULL, O_BASE },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "tlv-as", required_argument, NULL, O_TLVAS },
		{ "tls", no_argument, NULL, O_TLS },
		{ "tls-ca", required_argument, NULL, O_TLS_CA },
		{ "tls-cert", required_argument, NULL, O_TLS_CERT },
		{ "tls-key", required_argument, NULL, O_TLS_KEY },
		{ "handshakes", required_argument, NULL, O_HANDSHAKES },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, size_given = 0;
	char *end;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h:p:c:n:f:t:s:r:b:", lopts, NULL)) != -1) {
		switch (c) {
		case 'h': opt.host = optarg; break;
		case 'p': parse_u64(optarg, 1, 65535, "-p"); opt.port = optarg; break;
		case 'c': opt.nconns = (uint32_t)parse_u64(optarg, 1, MAX_CONNS, "-c"); break;
		case 'n': opt.per_conn = parse_u64(optarg, 0, MAX_PER_CONN, "-n"); break;
		case 'f':
			if (!strcmp(optarg, "sensor24")) opt.fmt = FMT_SENSOR24;
			else if (!strcmp(optarg, "legacy16")) opt.fmt = FMT_LEGACY16;
			else if (!strcmp(optarg, "env16")) opt.fmt = FMT_ENV16;
			else if (!strcmp(optarg, "tlv")) opt.fmt = FMT_TLV;
			else usage_error("-f: unknown format '%s' (sensor24, legacy16, env16, tlv)", optarg);
			break;
		case 't': opt.tlv_type = (unsigned)parse_u64(optarg, 1, 255, "-t"); break;
		case 's': opt.tlv_size = (size_t)parse_u64(optarg, 0, 65535, "-s"); size_given = 1; break;
		case 'r': opt.rate = parse_u64(optarg, 0, MAX_RATE, "-r"); break;
		case 'b': opt.batch = (size_t)parse_u64(optarg, MIN_BATCH, MAX_BATCH, "-b"); break;
		case O_SPLIT: opt.split = 1; break;
		case O_PROXY: opt.proxy_v2 = 1; break;
		case O_SEED: opt.seed = parse_u64(optarg, 0, UINT64_MAX, "--seed"); break;
		case O_LATENCY: opt.latency = 1; break;
		case O_BASE: opt.conn_base = parse_u64(optarg, 0, UINT32_MAX, "--conn-base"); break;
		case O_WAIT:
			errno = 0;
			opt.wait = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(opt.wait >= 0 && opt.wait <= 86400))
				usage_error("--wait: want seconds 0..86400, got '%s'", optarg);
			break;
		case O_TLVAS:
			opt.val_forced = 1;
			if (!strcmp(optarg, "sensor24")) opt.val = VAL_SENSOR24;
			else if (!strcmp(optarg, "legacy16")) opt.val = VAL_LEGACY16;
			else if (!strcmp(optarg, "env16")) opt.val = VAL_ENV16;
			else if (!strcmp(optarg, "raw")) opt.val = VAL_RAW;
			else usage_error("--tlv-as: unknown kind '%s' (sensor24, legacy16, env16, raw)", optarg);
			break;
		case O_TLS: opt.tls = 1; break;
		case O_TLS_CA: opt.tls_ca = optarg; break;
		case O_TLS_CERT: opt.tls_cert = optarg; break;
		case O_TLS_KEY: opt.tls_key = optarg; break;
		case O_HANDSHAKES:
			opt.handshakes = parse_u64(optarg, 1, MAX_HANDSHAKES, "--handshakes");
			break;
		case O_RESUME: opt.resume = 1; break;
		case O_HELP: usage(stdout); exit(0);
		case ':':
			if (optopt == 'h') { usage(stdout); exit(0); }
			usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!opt.port)
		usage_error("-p PORT is required");
	if (!opt.tls && (opt.tls_ca || opt.tls_cert || opt.tls_key || opt.handshakes))
		usage_error("--tls-ca, --tls-cert, --tls-key and --handshakes need --tls");
	if (!opt.tls_cert != !opt.tls_key)
		usage_error("--tls-cert and --tls-key go together");
	if (opt.resume && !opt.handshakes)
		usage_error("--resume needs --handshakes");
	if (opt.tls && opt.proxy_v2)
		usage_error("--proxy-v2 and --tls: ingestd takes no PROXY header on a TLS listener");

	switch (opt.fmt) {
	case FMT_SENSOR24:
		opt.val = VAL_SENSOR24; frame_size = LG_SENSOR24_SIZE; value_off = 0;
		if (opt.val_forced) usage_error("--tlv-as needs -f tlv");
		break;
	case FMT_LEGACY16:
		opt.val = VAL_LEGACY16; frame_size = LG_LEGACY16_SIZE; value_off = 0;
		if (opt.val_forced) usage_error("--tlv-as needs -f tlv");
		break;
	case FMT_ENV16:
		opt.val = VAL_ENV16; frame_size = LG_ENV16_SIZE; value_off = 0;
		if (opt.val_forced) usage_error("--tlv-as needs -f tlv");
		break;
	case FMT_TLV:
		if (!opt.val_forced)
			opt.val = opt.tlv_type == 1 ? VAL_SENSOR24 : opt.tlv_type == 2 ? VAL_LEGACY16 : VAL_RAW;
		if (opt.val == VAL_LEGACY16 && !size_given)
			opt.tlv_size = LG_LEGACY16_SIZE;
		if (opt.val == VAL_ENV16 && !size_given)
			opt.tlv_size = LG_ENV16_SIZE;
		if (opt.val == VAL_SENSOR24 && opt.tlv_size != LG_SENSOR24_SIZE)
			usage_error("-s: a sensor24 value (TLV type %u) must be 24 bytes, not %zu",
				    opt.tlv_type, opt.tlv_size);
		if (opt.val == VAL_LEGACY16 && opt.tlv_size != LG_LEGACY16_SIZE)
			usage_error("-s: a legacy16 value (TLV type %u) must be 16 bytes, not %zu",
				    opt.tlv_type, opt.tlv_size);
		if (opt.val == VAL_ENV16 && opt.tlv_size != LG_ENV16_SIZE)
			usage_error("-s: an env16 value (TLV type %u) must be 16 bytes, not %zu",
				    opt.tlv_type, opt.tlv_size);
		if (opt.val == VAL_RAW && opt.tlv_size < LG_RAW_ID_SIZE)
			usage_error("-s: a raw value must be at least %d bytes (it carries conn and seq)",
				    LG_RAW_ID_SIZE);
		frame_size = 3 + opt.tlv_size;
		value_off = 3;
		break;
	}
	if (opt.latency && opt.val != VAL_SENSOR24)
		usage_error("--latency needs sensor24 values (-f sensor24, or -f tlv -t 1)");
	if (opt.conn_base + opt.nconns - 1 > (opt.val == VAL_LEGACY16 ? (uint64_t)INT32_MAX :
					      opt.val == VAL_ENV16 ? (uint64_t)LG_ENV16_MAX_ID : UINT32_MAX))
		usage_error("--conn-base %llu + -c %u overflows the id field",
			    (unsigned long long)opt.conn_base, opt.nconns);
}

static void raise_nofile(uint32_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)need + 64;
	if (rl.rlim_cur >= want)
		return;
	rlim_t hard = rl.rlim_max;
	if (rl.rlim_max < want)
		rl.rlim_max = want;          /* needs CAP_SYS_RESOURCE */
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("cannot raise the open-file limit to %llu for %u connections (hard limit %llu): %s",
		    (unsigned long long)want, need, (unsigned long long)hard, strerror(errno));
}

/* Ready queue: connections that can write (no EAGAIN seen since last event). */
static uint32_t *rq;
static uint32_t  rq_head, rq_len, rq_cap;

static void rq_push(struct conn *conns, uint32_t i)
{
	if (conns[i].queued)
		return;
	conns[i].queued = 1;
	rq[(rq_head + rq_len) % rq_cap] = i;
	rq_len++;
}

static uint32_t rq_pop(struct conn *conns)
{
	uint32_t i = rq[rq_head];
	rq_head = (rq_head + 1) % rq_cap;
	rq_len--;
	conns[i].queued = 0;
	return i;
}

enum turn { T_YIELD, T_BLOCKED, T_DONE };

static uint64_t packets_finished(const struct conn *c)
{
	return c->sent / frame_size;
}

static void conn_fail(const struct conn *c, const char *what, const char *why) __attribute__((noreturn));
static void conn_fail(const struct conn *c, const char *what, const char *why)
{
	if (opt.handshakes)
		die("connection to %s:%s: %s: %s", opt.host, opt.port, what, why);
	die("connection %u (id %llu) to %s:%s: %s: %s (after %llu of %llu packets)",
	    c->idx, (unsigned long long)(opt.conn_base + c->idx), opt.host, opt.port, what,
	    why, (unsigned long long)packets_finished(c), (unsigned long long)opt.per_conn);
}

static void conn_error(const struct conn *c, const char *what, int err) __attribute__((noreturn));
static void conn_error(const struct conn *c, const char *what, int err)
{
	conn_fail(c, what, strerror(err));
}

/* OpenSSL's reason for the first error in this thread's queue (emptied). */
static const char *ossl_why(char *buf, size_t len)
{
	int err = errno;
	unsigned long e = ERR_get_error();
	const char *r;

	ERR_clear_error();
	if (e == 0)
		snprintf(buf, len, "%s", err ? strerror(err) : "no reason given");
	else if (ERR_SYSTEM_ERROR(e))
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(e)));
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	return buf;
}

/* A failed SSL_* call on c (sslerr from SSL_get_error): OpenSSL's reason. */
static void tls_error(const struct conn *c, const char *what, int sslerr) __attribute__((noreturn));
static void tls_error(const struct conn *c, const char *what, int sslerr)
{
	int err = errno;
	char why[512];

	if (ERR_peek_error() != 0) {
		long v = opt.tls_ca ? SSL_get_verify_result(c->ssl) : X509_V_OK;

		ossl_why(why, sizeof why);
		if (v != X509_V_OK) {
			size_t l = strlen(why);
			snprintf(why + l, sizeof why - l, " (%s)", X509_verify_cert_error_string(v));
		}
	} else if (sslerr == SSL_ERROR_SYSCALL) {
		snprintf(why, sizeof why, "%s", err ? strerror(err) : "the peer closed the connection");
	} else if (sslerr == SSL_ERROR_ZERO_RETURN) {
		snprintf(why, sizeof why, "the peer closed the connection");
	} else {
		snprintf(why, sizeof why, "TLS error %d", sslerr);
	}
	conn_fail(c, what, why);
}

/* The session ticket callback (--resume): keeps the latest session. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (resume_sess)
		SSL_SESSION_free(resume_sess);
	resume_sess = sess;
	return 1;                               /* the reference is ours */
}

static void tls_init(void)
{
	unsigned char ip[16];
	char ebuf[256];

	host_is_ip = inet_pton(AF_INET, opt.host, ip) == 1 || inet_pton(AF_INET6, opt.host, ip) == 1;
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx)
		die("cannot make a TLS context: %s", ossl_why(ebuf, sizeof ebuf));
	if (SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(tls_ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(tls_ctx, TLS_SUITE) != 1)
		die("cannot set TLS 1.3 with %s: %s", TLS_SUITE,
		    ossl_why(ebuf, sizeof ebuf));
	/* A retried SSL_write gets the same bytes at another address (keep()). */
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
	/* The end of the stream without close_notify is the peer's close too. */
	SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (opt.tls_ca) {
		if (SSL_CTX_load_verify_locations(tls_ctx, opt.tls_ca, NULL) != 1)
			die("--tls-ca %s: %s", opt.tls_ca, ossl_why(ebuf, sizeof ebuf));
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	}
	if (opt.tls_cert) {
		if (SSL_CTX_use_certificate_chain_file(tls_ctx, opt.tls_cert) != 1)
			die("--tls-cert %s: %s", opt.tls_cert, ossl_why(ebuf, sizeof ebuf));
		if (SSL_CTX_use_PrivateKey_file(tls_ctx, opt.tls_key, SSL_FILETYPE_PEM) != 1)
			die("--tls-key %s: %s", opt.tls_key, ossl_why(ebuf, sizeof ebuf));
		if (SSL_CTX_check_private_key(tls_ctx) != 1)
			die("--tls-key %s: not the key of --tls-cert %s", opt.tls_key, opt.tls_cert);
	}
	if (opt.resume) {
		SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_CLIENT |
					       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(tls_ctx, on_new_session);
	} else {
		SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
	}
}

/* A client session on c's socket (connect() may still be in progress). */
static void tls_attach(struct conn *c)
{
	char ebuf[256];

	c->ssl = SSL_new(tls_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		die("cannot make a TLS session: %s", ossl_why(ebuf, sizeof ebuf));
	SSL_set_connect_state(c->ssl);
	if (!host_is_ip && SSL_set_tlsext_host_name(c->ssl, opt.host) != 1)
		die("SNI %s: %s", opt.host, ossl_why(ebuf, sizeof ebuf));
	if (opt.tls_ca) {
		int ok = host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), opt.host)
				    : SSL_set1_host(c->ssl, opt.host);
		if (ok != 1)
			die("cannot check the server against %s", opt.host);
	}
	if (opt.resume && resume_sess) {
		/* A copy: OpenSSL's client marks a TLS 1.3 session not
		 * resumable once it has been used, and never offers it again. */
		SSL_SESSION *copy = SSL_SESSION_dup(resume_sess);
		if (!copy || SSL_set_session(c->ssl, copy) != 1)
			die("cannot offer the session: %s", ossl_why(ebuf, sizeof ebuf));
		SSL_SESSION_free(copy);
	}
	c->tls_retry = 0;
	c->shut_sent = c->tls_eof = 0;
}

/* One step of the handshake: 1 done, 0 wait for the next edge; dies on failure. */
static int tls_step(struct conn *c)
{
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	tls_error(c, "TLS handshake", e);
}

/* Sends close_notify once: 1 sent (or queued in the socket), 0 blocked. */
static int tls_close_notify(struct conn *c)
{
	if (c->shut_sent)
		return 1;
	ERR_clear_error();
	errno = 0;
	int r = SSL_shutdown(c->ssl);
	if (r < 0) {
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return 0;
		tls_error(c, "close_notify", e);
	}
	c->shut_sent = 1;
	return 1;
}

/* Writes len bytes at p; returns bytes written before EAGAIN (maybe 0). */
static size_t write_some(struct conn *c, const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t want = opt.split ? split_len(len - off) : len - off;
		if (c->ssl) {
			/* A retry repeats the call that wanted to write: same bytes
			 * (maybe moved: keep()), same length. */
			if (c->tls_retry)
				want = c->tls_retry;
			if (want > INT_MAX)
				want = INT_MAX;
			ERR_clear_error();
			errno = 0;
			int n = SSL_write(c->ssl, p + off, (int)want);
			if (n > 0) {
				c->tls_retry = 0;
				off += (size_t)n;
				continue;
			}
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				c->tls_retry = want;
				break;
			}
			tls_error(c, "write", e);
		}
		ssize_t n = send(c->fd, p + off, want, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_error(c, "write", errno);
		}
		off += (size_t)n;
	}
	return off;
}

/* n more packet bytes written on c. */
static void count_sent(struct conn *c, size_t n)
{
	uint64_t before = c->sent / frame_size;
	c->sent += n;
	total_bytes += n;
	total_packets += c->sent / frame_size - before;
}

/* Keeps len built bytes at p to be written first on c's next turn. */
static void keep(struct conn *c, const uint8_t *p, size_t len)
{
	c->carry = malloc(len);
	if (!c->carry)
		die("out of memory");
	memcpy(c->carry, p, len);
	c->carry_len = len;
	c->carry_off = 0;
}

/* Everything sent: close_notify (TLS), then the write side. */
static enum turn conn_finish(struct conn *c)
{
	if (c->ssl && !tls_close_notify(c))
		return T_BLOCKED;
	if (shutdown(c->fd, SHUT_WR) != 0)
		conn_error(c, "shutdown", errno);
	c->state = CS_DRAINING;
	return T_DONE;
}

/* Sends up to quota new packets on c. */
static enum turn conn_turn(struct conn *c, uint64_t quota)
{
	while (c->hdr_off < c->hdr_len) {
		size_t n = write_some(c, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off);

		c->hdr_off += (uint8_t)n;
		total_bytes += n;
		if (c->hdr_off < c->hdr_len)
			return T_BLOCKED;
	}
	while (1) {
		if (c->carry_off < c->carry_len) {
			size_t n = write_some(c, c->carry + c->carry_off, c->carry_len - c->carry_off);
			c->carry_off += n;
			count_sent(c, n);
			if (c->carry_off < c->carry_len)
				return T_BLOCKED;
			free(c->carry);
			c->carry = NULL;
			c->carry_len = c->carry_off = 0;
		}
		if (c->next_seq >= opt.per_conn)
			return conn_finish(c);
		if (quota == 0)
			return T_YIELD;

		uint64_t k = opt.per_conn - c->next_seq;
		if (k > batch_frames) k = batch_frames;
		if (k > quota) k = quota;
		double rt = opt.latency ? now_real_ms() : 0.0;
		for (uint64_t j = 0; j < k; j++)
			gen_frame(c->idx, c->next_seq + j, rt, batch_buf + j * frame_size);

		size_t len = (size_t)k * frame_size;
		size_t n = write_some(c, batch_buf, len);
		uint64_t took;
		count_sent(c, n);
		if (n < len && c->ssl) {
			/* SSL_write wants the rest again, as it was. */
			keep(c, batch_buf + n, len - n);
			took = k;
		} else {
			/* Whole frames not written are built again later. */
			size_t full = n / frame_size, part = n % frame_size;
			if (part)
				keep(c, batch_buf + full * frame_size + part, frame_size - part);
			took = full + (part ? 1 : 0);
		}
		c->next_seq += took;
		quota -= took;
		taken_packets += took;
		if (n < len)
			return T_BLOCKED;
	}
}

/* Reads and discards (with TLS: SSL_read until the session ends, then the
 * socket); returns 1 when the peer closed. */
static int conn_read(struct conn *c)
{
	static uint8_t sink[65536];
	while (c->ssl && !c->tls_eof) {
		ERR_clear_error();
		errno = 0;
		int n = SSL_read(c->ssl, sink, sizeof sink);
		if (n > 0)
			continue;
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e != SSL_ERROR_ZERO_RETURN)
			tls_error(c, "read", e);
		c->tls_eof = 1;         /* close_notify or the end of the stream */
	}
	while (1) {
		ssize_t n = read(c->fd, sink, sizeof sink);
		if (n > 0)
			continue;
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_error(c, "read", errno);
	}
}

/* A new non-blocking socket for c, connecting, in ep as slot i. */
static void conn_open(struct conn *c, uint32_t i, const struct addrinfo *ai, int ep)
{
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	if (opt.split) {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
		conn_error(c, "connect", errno);
	c->state = CS_CONNECTING;
	if (opt.tls)
		tls_attach(c);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u32 = i };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->state = CS_CLOSED;
}

/* connect() finished (what: the epoll event): 0 not yet, 1 done; dies on failure. */
static int connect_done(struct conn *c, uint32_t what)
{
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err)
		conn_error(c, "connect", err);
	return (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0;
}

/* --handshakes: connections that only shake hands, -c at a time. */
static int handshake_main(const struct addrinfo *ai, int ep, struct conn *conns)
{
	uint32_t slots = opt.nconns < opt.handshakes ? opt.nconns : (uint32_t)opt.handshakes;
	uint64_t opened = 0, shaken = 0, closed = 0, resumed = 0;
	uint32_t open_now = 0;
	double deadline = 0, ticket_wait = 0;
	struct epoll_event evs[1024];

	for (uint32_t i = 0; i < opt.nconns; i++) {
		conns[i].fd = -1;
		conns[i].state = CS_CLOSED;
	}
	double t0 = now_mono();
	while (closed < opt.handshakes) {
		/* Fill the free slots; with --resume only one at a time until a
		 * session ticket has come. */
		for (uint32_t i = 0; i < slots && opened < opt.handshakes; i++) {
			if (conns[i].state != CS_CLOSED)
				continue;
			if (opt.resume && !resume_sess && open_now > 0)
				break;
			conn_open(&conns[i], i, ai, ep);
			opened++;
			open_now++;
		}

		double now = now_mono();
		int timeout = -1;
		if (shaken == opt.handshakes) {
			if (deadline == 0)
				deadline = now + opt.wait;
			double ms = (deadline - now) * 1000.0;
			if (ms <= 0)
				break;
			timeout = (int)ceil(ms);
		}
		if (ticket_wait > 0) {
			double ms = (ticket_wait + opt.wait - now) * 1000.0;
			if (ms <= 0)
				die("no session ticket from %s:%s within %.1f s of the first handshake "
				    "(--resume)", opt.host, opt.port, opt.wait);
			if (timeout < 0 || timeout > ms)
				timeout = (int)ceil(ms);
		}
		int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		/* Closed slots are opened again only after this batch, so no event
		 * of a closed socket reaches its successor. */
		for (int e = 0; e < n; e++) {
			struct conn *c = &conns[evs[e].data.u32];
			uint32_t what = evs[e].events;
			if (c->state == CS_CLOSED)
				continue;
			if (c->state == CS_CONNECTING) {
				if (!connect_done(c, what))
					continue;
				c->state = CS_HANDSHAKE;
			}
			if (c->state == CS_HANDSHAKE) {
				if (!tls_step(c))
					continue;
				shaken++;
				if (SSL_session_reused(c->ssl))
					resumed++;
				c->state = CS_SENDING;
				what |= EPOLLIN;        /* what came with the last flight */
				if (opt.resume && !resume_sess)
					ticket_wait = now_mono();
			}
			if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				if (conn_read(c)) {
					if (c->state != CS_DRAINING)
						conn_fail(c, "read", "closed by the peer after the handshake");
					conn_close(c);
					closed++;
					open_now--;
					continue;
				}
			}
			if (c->state == CS_SENDING) {
				if (opt.resume && !resume_sess)
					continue;       /* this one brings the ticket */
				ticket_wait = 0;
				if (conn_finish(c) == T_BLOCKED)
					continue;       /* close_notify goes on EPOLLOUT */
			}
		}
	}
	double t_end = now_mono();

	if (closed < opt.handshakes)
		fprintf(stderr, "loadgen: warning: %llu of %llu connections not closed by the peer "
			"%.1f s after the last handshake\n",
			(unsigned long long)(opt.handshakes - closed), (unsigned long long)opt.handshakes,
			opt.wait);
	double secs = t_end - t0;
	fprintf(stderr, "loadgen: handshakes=%llu seconds=%.3f rate=%.0f resumed=%llu\n",
		(unsigned long long)shaken, secs, secs > 0 ? (double)shaken / secs : 0.0,
		(unsigned long long)resumed);
	for (uint32_t i = 0; i < opt.nconns; i++)
		if (conns[i].state != CS_CLOSED)
			conn_close(&conns[i]);
	return 0;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	rng_state = opt.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!rng_state)
		rng_state = 1;
	if (opt.tls)
		tls_init();

	batch_frames = opt.batch / frame_size;
	if (batch_frames == 0)
		batch_frames = 1;
	batch_buf = malloc(batch_frames * frame_size);
	struct conn *conns = calloc(opt.nconns, sizeof *conns);
	rq_cap = opt.nconns;
	rq = malloc(rq_cap * sizeof *rq);
	if (!batch_buf || !conns || !rq)
		die("out of memory");
	raise_nofile(opt.nconns);

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *ai;
	int gai = getaddrinfo(opt.host, opt.port, &hints, &ai);
	if (gai != 0)
		die("cannot resolve %s: %s", opt.host, gai_strerror(gai));

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));

	if (opt.handshakes) {
		int rc = handshake_main(ai, ep, conns);
		freeaddrinfo(ai);
		free(conns);
		free(rq);
		free(batch_buf);
		close(ep);
		SSL_SESSION_free(resume_sess);
		SSL_CTX_free(tls_ctx);
		return rc;
	}

	double t0 = now_mono();
	for (uint32_t i = 0; i < opt.nconns; i++) {
		struct conn *c = &conns[i];
		c->idx = i;
		conn_open(c, i, ai, ep);
		if (opt.proxy_v2) {
			/* signature, v2 PROXY, TCP4, 12 bytes: src 192.0.2.X:P, dst 127.0.0.1:7001 */
			static const uint8_t head[16] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
							  0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C };
			uint8_t *h = c->hdr;
			uint32_t port = 10000 + i % 50000;

			memcpy(h, head, 16);
			h[16] = 192; h[17] = 0; h[18] = 2; h[19] = (uint8_t)(1 + i % 254);
			h[20] = 127; h[21] = 0; h[22] = 0; h[23] = 1;
			h[24] = (uint8_t)(port >> 8); h[25] = (uint8_t)port;
			h[26] = 0x1B; h[27] = 0x59;
			c->hdr_len = 28;
		}
	}
	freeaddrinfo(ai);

	uint32_t open_conns = opt.nconns, sending = opt.nconns;
	double t_sent = 0, deadline = 0;
	struct epoll_event evs[1024];
	uint64_t turn_quota = batch_frames * TURN_BATCHES;

	while (open_conns > 0) {
		double now = now_mono();
		int timeout = -1;
		uint64_t avail = UINT64_MAX;

		if (opt.rate) {
			double allowed = floor((now - t0) * (double)opt.rate);
			avail = allowed > (double)taken_packets ? (uint64_t)(allowed - (double)taken_packets) : 0;
		}
		if (rq_len > 0) {
			if (avail > 0) {
				timeout = 0;
			} else {
				double next = (double)(taken_packets + 1) / (double)opt.rate;
				double ms = (next - (now - t0)) * 1000.0;
				timeout = ms < 1 ? 1 : (int)ceil(ms);
			}
		}
		if (sending == 0) {
			if (deadline == 0)
				deadline = now + opt.wait;
			double ms = (deadline - now) * 1000.0;
			if (ms <= 0)
				break;
			if (timeout < 0 || timeout > ms)
				timeout = (int)ceil(ms);
		}

		int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int e = 0; e < n; e++) {
			struct conn *c = &conns[evs[e].data.u32];
			uint32_t what = evs[e].events;
			if (c->state == CS_CLOSED)
				continue;
			if (c->state == CS_CONNECTING) {
				if (!connect_done(c, what))
					continue;
				c->state = c->ssl ? CS_HANDSHAKE : CS_SENDING;
			}
			if (c->state == CS_HANDSHAKE) {
				if (!tls_step(c))
					continue;       /* SSL wants the next edge */
				c->state = CS_SENDING;
				/* Writable as far as we know; and read what came with
				 * the last flight (edge-triggered). */
				what |= EPOLLOUT | EPOLLIN;
			}
			if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				if (conn_read(c)) {
					if (c->state != CS_DRAINING) {
						die("connection %u (id %llu): closed by the peer after %llu of %llu packets",
						    c->idx, (unsigned long long)(opt.conn_base + c->idx),
						    (unsigned long long)packets_finished(c),
						    (unsigned long long)opt.per_conn);
					}
					conn_close(c);
					open_conns--;
					continue;
				}
			}
			if ((what & EPOLLOUT) && c->state == CS_SENDING)
				rq_push(conns, c->idx);
		}

		/* One round over the ready queue. */
		uint32_t round = rq_len;
		for (uint32_t r = 0; r < round; r++) {
			uint64_t quota = turn_quota;
			if (opt.rate) {
				double allowed = floor((now_mono() - t0) * (double)opt.rate);
				avail = allowed > (double)taken_packets ? (uint64_t)(allowed - (double)taken_packets) : 0;
				if (avail == 0)
					break;
				uint64_t share = (avail + rq_len - 1) / rq_len;
				if (share < quota)
					quota = share;
			}
			uint32_t i = rq_pop(conns);
			struct conn *c = &conns[i];
			enum turn t = conn_turn(c, quota);
			if (t == T_YIELD)
				rq_push(conns, i);
			else if (t == T_DONE && --sending == 0)
				t_sent = now_mono();
		}
	}
	double t_end = now_mono();
	if (t_sent == 0)
		t_sent = t_end;

	if (open_conns > 0)
		fprintf(stderr, "loadgen: warning: %u of %u connections not closed by the peer %.1f s after sending\n",
			open_conns, opt.nconns, opt.wait);
	double secs = t_end - t0;
	fprintf(stderr,
		"loadgen: packets=%llu bytes=%llu seconds=%.3f pps=%.0f send_seconds=%.3f conns=%u unclosed=%u\n",
		(unsigned long long)total_packets, (unsigned long long)total_bytes, secs,
		secs > 0 ? (double)total_packets / secs : 0.0, t_sent - t0, opt.nconns, open_conns);

	for (uint32_t i = 0; i < opt.nconns; i++) {
		if (conns[i].state != CS_CLOSED)
			conn_close(&conns[i]);
		free(conns[i].carry);
	}
	free(conns);
	free(rq);
	free(batch_buf);
	close(ep);
	SSL_CTX_free(tls_ctx);
	return 0;
}
