/*
 * config: owns turning INI text (a file, or the embedded default that is
 * config/ingestd.ini compiled in) into a fully checked struct config.
 *
 * inih does the tokenizing; everything else is here.  This inih build does
 * not hand line numbers to the handler, so the text is fed to
 * ini_parse_stream() through our own line reader: it counts lines (inih
 * calls the handler for the line just read, so the count is the handler's
 * line), refuses over-long lines instead of letting them be split, and sees
 * every "[section]" header itself.  Seeing headers in the reader matters
 * because inih only reports keys: an empty or misspelt section would
 * otherwise pass unnoticed, and inih truncates section names to 49 bytes,
 * shorter than "listener " plus a 63-byte name.
 *
 * Policy: strict.  Unknown sections and keys, keys outside a section,
 * repeated keys or sections, values with trailing junk, and out-of-range
 * numbers are all errors, and loading stops at the first one with a single
 * "SOURCE:LINE: key: what is wrong" line, because a daemon that guesses at a
 * typo runs with a configuration nobody wrote.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "default_config.h"
#include "log.h"

/* Longest line accepted, excluding the line end.  Generous (a 4095-byte
 * output path fits), and the reader refuses longer lines outright. */
#define LINE_MAX_CHARS 8192
/* A config is a few kilobytes; a huge file is a wrong path, not a config. */
#define FILE_MAX_BYTES (1024 * 1024)
/* inih copies key names into a 50-byte buffer (MAX_NAME in ini.c). */
#define INIH_NAME_MAX 50
#define TLV_MAX_VALUE 65535

enum section {
	SEC_NONE, SEC_DAEMON, SEC_OUTPUT, SEC_POOL, SEC_LIMITS, SEC_LOG, SEC_METRICS, SEC_KAFKA,
	SEC_LISTENER, SEC_SCHEMA, NSECTIONS
};

static const char *const section_names[NSECTIONS] = {
	[SEC_NONE] = "", [SEC_DAEMON] = "daemon", [SEC_OUTPUT] = "output", [SEC_POOL] = "pool",
	[SEC_LIMITS] = "limits", [SEC_LOG] = "log", [SEC_METRICS] = "metrics", [SEC_KAFKA] = "kafka",
	[SEC_LISTENER] = "listener", [SEC_SCHEMA] = "schema",
};

enum key {
	KEY_WORKERS,
	KEY_OUTPUT_TYPE, KEY_PATH, KEY_METADATA, KEY_CACHE_WINDOW, KEY_PREALLOCATE,
	KEY_SLAB_SIZE, KEY_SLABS, KEY_OVERFLOW, KEY_RESERVE, KEY_MAX_WAITERS, KEY_WAITERS_LOW,
	KEY_MAX_RETAINED,
	KEY_MAX_CONNECTIONS, KEY_IDLE_TIMEOUT, KEY_SHUTDOWN_TIMEOUT,
	KEY_LEVEL, KEY_STATS_INTERVAL,
	KEY_METRICS_ENABLED, KEY_METRICS_ADDRESS, KEY_METRICS_PORT, KEY_UNHEALTHY_AFTER,
	KEY_ADDRESS, KEY_PORT, KEY_FRAMING, KEY_SCHEMA, KEY_MAX_FRAME, KEY_RECV_BUFFER,
	KEY_ON_BAD_FRAME, KEY_MAX_RESYNC,
	KEY_ALLOW, KEY_DENY, KEY_MAX_CONNS_PER_SOURCE, KEY_MAX_SOURCES,
	KEY_PROXY_PROTOCOL, KEY_PROXY_FROM, KEY_PROXY_DIRECT, KEY_PROXY_TIMEOUT, KEY_PROXY_MAX,
	KEY_TLS, KEY_TLS_CERT, KEY_TLS_KEY, KEY_TLS_CA, KEY_TLS_CRL, KEY_TLS_MIN_VERSION,
	KEY_TLS_HANDSHAKE_TIMEOUT, KEY_TLS_BIND,
	KEY_SIZE, KEY_ORDER, KEY_CHECKSUM,
	KEY_BROKERS, KEY_TOPIC, KEY_KAFKA_KEY, KEY_COMPRESSION, KEY_LINGER_MS, KEY_QUEUE_KBYTES,
	KEY_ACKS, KEY_IDEMPOTENCE, KEY_SPILL_PATH,
	NKEYS
};

/* type.N and field.NAME are not in this table: they are families of keys,
 * matched by prefix. */
static const struct keydef {
	enum section sec;
	const char  *name;
	uint64_t     min, max;   /* integers and durations */
} keys[NKEYS] = {
	[KEY_WORKERS]         = { SEC_DAEMON,   "workers",         1, CONFIG_MAX_WORKERS },
	[KEY_OUTPUT_TYPE]     = { SEC_OUTPUT,   "type",            0, 0 },
	[KEY_PATH]            = { SEC_OUTPUT,   "path",            0, 0 },
	[KEY_METADATA]        = { SEC_OUTPUT,   "metadata",        0, 0 },
	/* 0 (off) or at least 1 MiB, checked by get_size_or_off(). */
	[KEY_CACHE_WINDOW]    = { SEC_OUTPUT,   "cache_window",    0, 1099511627776ull },
	/* Each step is one fallocate inside the event loop: 1 GiB took 3.5 ms. */
	[KEY_PREALLOCATE]     = { SEC_OUTPUT,   "preallocate",     0, 1073741824 },
	[KEY_SLAB_SIZE]       = { SEC_POOL,     "slab_size",       4096, 16777216 },
	[KEY_SLABS]           = { SEC_POOL,     "slabs",           2, 1048576 },
	[KEY_OVERFLOW]        = { SEC_POOL,     "overflow",        0, 65536 },
	/* reserve < slabs and waiters_low < max_waiters are checked after the
	 * parse, when both values are known; these bounds only keep them sane. */
	[KEY_RESERVE]         = { SEC_POOL,     "reserve",         1, 1048575 },
	[KEY_MAX_WAITERS]     = { SEC_POOL,     "max_waiters",     1, 1000000 },
	[KEY_WAITERS_LOW]     = { SEC_POOL,     "waiters_low",     0, 999999 },
	[KEY_MAX_RETAINED]    = { SEC_POOL,     "max_retained",    1, 1048576 },
	[KEY_MAX_CONNECTIONS] = { SEC_LIMITS,   "max_connections", 1, 1000000 },
	[KEY_IDLE_TIMEOUT]    = { SEC_LIMITS,   "idle_timeout",    0, 86400 },
	[KEY_SHUTDOWN_TIMEOUT] = { SEC_LIMITS,  "shutdown_timeout", 1, 3600 },
	[KEY_METRICS_ENABLED] = { SEC_METRICS,  "enabled",         0, 0 },
	[KEY_METRICS_ADDRESS] = { SEC_METRICS,  "address",         0, 0 },
	[KEY_METRICS_PORT]    = { SEC_METRICS,  "port",            0, 65535 },
	[KEY_UNHEALTHY_AFTER] = { SEC_METRICS,  "unhealthy_after", 1, 86400 },
	[KEY_LEVEL]           = { SEC_LOG,      "level",           0, 0 },
	[KEY_STATS_INTERVAL]  = { SEC_LOG,      "stats_interval",  0, 86400 },
	[KEY_ADDRESS]         = { SEC_LISTENER, "address",         0, 0 },
	[KEY_PORT]            = { SEC_LISTENER, "port",            0, 65535 },
	[KEY_FRAMING]         = { SEC_LISTENER, "framing",         0, 0 },
	[KEY_SCHEMA]          = { SEC_LISTENER, "schema",          0, 0 },
	[KEY_MAX_FRAME]       = { SEC_LISTENER, "max_frame",       0, TLV_MAX_VALUE },
	[KEY_RECV_BUFFER]     = { SEC_LISTENER, "recv_buffer",     0, 67108864 },
	[KEY_ON_BAD_FRAME]    = { SEC_LISTENER, "on_bad_frame",    0, 0 },
	/* Each byte slid over costs one look at the magics (and a checksum
	 * when they match), so a resync is bounded like every other input. */
	[KEY_MAX_RESYNC]      = { SEC_LISTENER, "max_resync",      1, 16777216 },
	[KEY_ALLOW]           = { SEC_LISTENER, "allow",           0, 0 },
	[KEY_DENY]            = { SEC_LISTENER, "deny",            0, 0 },
	[KEY_MAX_CONNS_PER_SOURCE] = { SEC_LISTENER, "max_conns_per_source", 0, 1000000 },
	/* Each entry is 24 bytes, allocated with the listener. */
	[KEY_MAX_SOURCES]     = { SEC_LISTENER, "max_sources",     1, 1048576 },
	[KEY_PROXY_PROTOCOL]  = { SEC_LISTENER, "proxy_protocol",  0, 0 },
	[KEY_PROXY_FROM]      = { SEC_LISTENER, "proxy_from",      0, 0 },
	[KEY_PROXY_DIRECT]    = { SEC_LISTENER, "proxy_direct",    0, 0 },
	[KEY_PROXY_TIMEOUT]   = { SEC_LISTENER, "proxy_timeout",   1, 3600 },
	/* At least a v2 header with UNIX addresses (232 bytes); a v2 length
	 * field cannot say more than 65535 + 16. */
	[KEY_PROXY_MAX]       = { SEC_LISTENER, "proxy_max",       232, 65551 },
	[KEY_TLS]             = { SEC_LISTENER, "tls",             0, 0 },
	[KEY_TLS_CERT]        = { SEC_LISTENER, "tls_cert",        0, 0 },
	[KEY_TLS_KEY]         = { SEC_LISTENER, "tls_key",         0, 0 },
	[KEY_TLS_CA]          = { SEC_LISTENER, "tls_ca",          0, 0 },
	[KEY_TLS_CRL]         = { SEC_LISTENER, "tls_crl",         0, 0 },
	[KEY_TLS_MIN_VERSION] = { SEC_LISTENER, "tls_min_version", 0, 0 },
	[KEY_TLS_HANDSHAKE_TIMEOUT] = { SEC_LISTENER, "tls_handshake_timeout", 1, 3600 },
	[KEY_TLS_BIND]        = { SEC_LISTENER, "tls_bind",        0, 0 },
	[KEY_SIZE]            = { SEC_SCHEMA,   "size",            1, 65535 },
	[KEY_ORDER]           = { SEC_SCHEMA,   "order",           0, 0 },
	[KEY_CHECKSUM]        = { SEC_SCHEMA,   "checksum",        0, 0 },
	[KEY_BROKERS]         = { SEC_KAFKA,    "brokers",         0, 0 },
	[KEY_TOPIC]           = { SEC_KAFKA,    "topic",           0, 0 },
	[KEY_KAFKA_KEY]       = { SEC_KAFKA,    "key",             0, 0 },
	[KEY_COMPRESSION]     = { SEC_KAFKA,    "compression",     0, 0 },
	/* librdkafka's own bounds for linger.ms and queue.buffering.max.kbytes. */
	[KEY_LINGER_MS]       = { SEC_KAFKA,    "linger_ms",       0, 900000 },
	[KEY_QUEUE_KBYTES]    = { SEC_KAFKA,    "queue_kbytes",    1, 2147483647 },
	[KEY_ACKS]            = { SEC_KAFKA,    "acks",            0, 0 },
	[KEY_IDEMPOTENCE]     = { SEC_KAFKA,    "idempotence",     0, 0 },
	[KEY_SPILL_PATH]      = { SEC_KAFKA,    "spill_path",      0, 0 },
};

#define DEFAULT_MAX_RESYNC 65536
#define DEFAULT_MAX_SOURCES 4096

/* proxy_protocol's values, indexed by their PROXY_V1 | PROXY_V2 bits. */
static const char *const proxy_names[] = { "off", "v1", "v2", "any", NULL };

/* on_bad_frame's values, indexed by enum bad_frame_policy. */
static const char *const policy_names[] = { "close", "skip", "resync", NULL };

/* A schema name a listener line refers to, resolved once the whole file
 * has been read (schemas may be declared after the listeners using them). */
struct schema_ref {
	size_t listener;
	int    tlv_type;                 /* 0: fixed, schemas[slot] */
	size_t slot;
	int    line;
	char   name[CONFIG_NAME_MAX];
};

/* Binary form of a listener's address, to catch "::1" vs "0::1" clashes. */
struct bin_addr {
	int           family;
	unsigned char bytes[16];
};

struct parse {
	struct config *c;
	const char    *source;
	char          *err;
	size_t         errlen;
	bool           failed;

	/* The reader's input and position. */
	const char    *text;
	size_t         len, pos;
	int            lineno;
	const char    *line;          /* raw current line (not NUL-terminated) */
	size_t         line_len;

	/* The section being read. */
	enum section   sec;
	int            sec_line;      /* its header's line */
	char           sec_label[96]; /* "[listener a]", for messages */
	int            sec_first[NSECTIONS];  /* header line of each singular section */
	struct listener_conf *l;      /* SEC_LISTENER: the listener being filled */

	/* Line each key was given on (0: not given).  The listener keys and
	 * type_line are reset at each [listener NAME] header. */
	int            key_line[NKEYS];
	int            type_line[256];
	int            first_type;    /* first type.N seen in this listener, 0: none */

	/* Per listener, kept for the checks after the parse. */
	int            frame_line[CONFIG_MAX_LISTENERS];  /* max_frame's line, else header's */
	int            schema_line[CONFIG_MAX_LISTENERS]; /* schema's line, else header's */
	int            policy_line[CONFIG_MAX_LISTENERS]; /* on_bad_frame's line, else 0 */
	int            bind_line[CONFIG_MAX_LISTENERS];   /* tls_bind's line, else 0 */
	int            resync_line[CONFIG_MAX_LISTENERS]; /* max_resync's line, else 0 */
	int            type_lines[CONFIG_MAX_LISTENERS][256];
	struct bin_addr addr[CONFIG_MAX_LISTENERS];

	/* SEC_SCHEMA: the schema being filled and its field lines. */
	struct schema *s;
	int            field_line[SCHEMA_MAX_FIELDS];
	int            schema_hdr_line[CONFIG_MAX_SCHEMAS];

	struct schema_ref *refs;      /* grown as listener lines name schemas */
	size_t         nrefs, refs_cap;
};

static void fail(struct parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are usually its echoes. */
static void
fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[8192];
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	if (p->errlen == 0)
		return;
	if (line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", p->source, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", p->source);
	if (n >= 0 && (size_t)n < sizeof(msg)) {
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* The message quotes bytes from the file. */
	log_escape(p->err, p->errlen, msg);
}

static void
reset_defaults(struct config *c, const char *source)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->source, sizeof(c->source), "%s", source);
	strcpy(c->output_path, "-");
	c->metadata = 1;
	c->cache_window = 67108864;
	c->preallocate = 16777216;
	c->pool = (struct pool_conf){
		.slab_size = 131072, .slabs = 256, .overflow = 0,
		.reserve = 2, .max_waiters = 64, .waiters_low = 16,
	};
	c->max_connections = 4096;
	c->idle_timeout = 300;
	c->shutdown_timeout = 10;
	strcpy(c->metrics_address, "127.0.0.1");
	c->metrics_port = 9464;
	c->unhealthy_after = 30;
	c->log_level = LOG_LVL_INFO;
	c->stats_interval = 60;
}

/* ---- value parsers: strict, no sign, no spaces, no trailing junk ---- */

/* Returns false unless s is all decimal digits; saturates on overflow so the
 * range check reports a huge number as out of range, not as junk. */
static bool
parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out = v;
	return true;
}

/* Decimal seconds: digits, optionally '.' and more digits.  Checked by hand
 * first because strtod() would also take signs, spaces, hex, "inf", "nan". */
static bool
parse_seconds(const char *s, double *out)
{
	const char *q = s;

	while (*q >= '0' && *q <= '9')
		q++;
	if (q == s)
		return false;
	if (*q == '.') {
		const char *frac = ++q;

		while (*q >= '0' && *q <= '9')
			q++;
		if (q == frac)
			return false;
	}
	if (*q != '\0')
		return false;
	*out = strtod(s, NULL);
	return true;
}

static int
parse_bool(const char *s)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* "sensor24, legacy16; declared: a, b", for messages. */
static const char *
schema_list(const struct config *c)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; schema_builtin_names[i] != NULL && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
				      schema_builtin_names[i]);
	for (size_t i = 0; i < c->nschemas && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "; declared: ",
				      c->schemas[i].name);
	return buf;
}

/* Remembers that listener line `line` names schema `name` in a slot. */
static int
add_ref(struct parse *p, const char *key, int tlv_type, size_t slot, const char *name,
	size_t len)
{
	struct schema_ref *r;

	if (len >= CONFIG_NAME_MAX) {
		fail(p, p->lineno, "%s: \"%.*s\" is not a known schema (names are at most %d "
		     "characters)", key, (int)(len > 80 ? 80 : len), name, CONFIG_NAME_MAX - 1);
		return -1;
	}
	if (p->nrefs == p->refs_cap) {
		size_t cap = p->refs_cap ? p->refs_cap * 2 : 64;
		struct schema_ref *n = realloc(p->refs, cap * sizeof(*n));

		if (n == NULL) {
			fail(p, p->lineno, "%s: out of memory", key);
			return -1;
		}
		p->refs = n;
		p->refs_cap = cap;
	}
	r = &p->refs[p->nrefs++];
	*r = (struct schema_ref){ .listener = (size_t)(p->l - p->c->listeners),
				  .tlv_type = tlv_type, .slot = slot, .line = p->lineno };
	memcpy(r->name, name, len);
	r->name[len] = '\0';
	return 0;
}

/* schema = NAME [NAME ...] in a listener section. */
static int
set_schemas(struct parse *p, const char *v)
{
	struct listener_conf *l = p->l;
	const char *q = v;

	l->nschemas = 0;
	while (*q) {
		size_t n;

		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '\0')
			break;
		n = strcspn(q, " \t");
		if (l->nschemas == CONFIG_MAX_LISTENER_SCHEMAS) {
			fail(p, p->lineno, "schema: more than %d schemas on one listener",
			     CONFIG_MAX_LISTENER_SCHEMAS);
			return -1;
		}
		for (size_t i = 0; i < p->nrefs; i++) {
			const struct schema_ref *r = &p->refs[i];

			if (r->line == p->lineno && strlen(r->name) == n && memcmp(r->name, q, n) == 0) {
				fail(p, p->lineno, "schema: \"%s\" is named twice", r->name);
				return -1;
			}
		}
		if (add_ref(p, "schema", 0, l->nschemas, q, n) < 0)
			return -1;
		l->nschemas++;
		q += n;
	}
	return 0;
}

/* Parses an integer key and checks its range; returns -1 after fail(). */
static int
get_uint(struct parse *p, enum key k, const char *v, uint64_t *out)
{
	const struct keydef *d = &keys[k];

	if (!parse_uint(v, out)) {
		fail(p, p->lineno, "%s: \"%s\" is not an integer", d->name, v);
		return -1;
	}
	if (*out < d->min || *out > d->max) {
		fail(p, p->lineno, "%s: \"%s\" is out of range (%llu-%llu)", d->name, v,
		     (unsigned long long)d->min, (unsigned long long)d->max);
		return -1;
	}
	return 0;
}

/* A byte count where 0 turns a feature off and anything else is at least
 * 1 MiB; returns -1 after fail(). */
static int
get_size_or_off(struct parse *p, enum key k, const char *v, uint64_t *out)
{
	if (get_uint(p, k, v, out) < 0)
		return -1;
	if (*out > SIZE_MAX) {
		fail(p, p->lineno, "%s: \"%s\" is too large for this machine", keys[k].name, v);
		return -1;
	}
	if (*out != 0 && *out < 1048576) {
		fail(p, p->lineno, "%s: \"%s\" is too small (0 turns it off; otherwise at least "
		     "1048576)", keys[k].name, v);
		return -1;
	}
	return 0;
}

static int
get_seconds(struct parse *p, enum key k, const char *v, double *out)
{
	const struct keydef *d = &keys[k];

	if (!parse_seconds(v, out)) {
		fail(p, p->lineno, "%s: \"%s\" is not a duration in seconds (e.g. 300 or 2.5)",
		     d->name, v);
		return -1;
	}
	if (*out < (double)d->min || *out > (double)d->max) {
		fail(p, p->lineno, "%s: \"%s\" is out of range (%llu-%llu seconds)", d->name, v,
		     (unsigned long long)d->min, (unsigned long long)d->max);
		return -1;
	}
	return 0;
}

/* ---- keys ---- */

/* Stores one key's value; the key is known and given once.  -1 on error. */
static int
set_key(struct parse *p, enum key k, const char *v)
{
	struct config *c = p->c;
	struct listener_conf *l = p->l;
	uint64_t n = 0;
	int b;

	switch (k) {
	case KEY_WORKERS:
		if (strcmp(v, "auto") == 0) {
			c->workers = 0;
			return 0;
		}
		if (!parse_uint(v, &n) || n < 1 || n > CONFIG_MAX_WORKERS) {
			fail(p, p->lineno, "workers: \"%s\" is not auto or a number of workers "
			     "(1 .. %d)", v, CONFIG_MAX_WORKERS);
			return -1;
		}
		c->workers = (size_t)n;
		return 0;
	case KEY_OUTPUT_TYPE:
		if (strcmp(v, "file") == 0 || strcmp(v, "kafka") == 0) {
			c->output_type = v[0] == 'k' ? OUTPUT_KAFKA : OUTPUT_FILE;
			return 0;
		}
		fail(p, p->lineno, "type: \"%s\" is not an output type (file, kafka)", v);
		return -1;
	case KEY_BROKERS:
	case KEY_TOPIC:
	case KEY_SPILL_PATH: {
		char *dst = k == KEY_BROKERS ? c->kafka.brokers : k == KEY_TOPIC ? c->kafka.topic :
			    c->kafka.spill_path;
		size_t cap = k == KEY_BROKERS ? sizeof(c->kafka.brokers) :
			     k == KEY_TOPIC ? sizeof(c->kafka.topic) : sizeof(c->kafka.spill_path);

		if (strlen(v) >= cap) {
			fail(p, p->lineno, "%s: too long (at most %zu bytes)", keys[k].name, cap - 1);
			return -1;
		}
		strcpy(dst, v);
		return 0;
	}
	case KEY_KAFKA_KEY:
		if (strcmp(v, "none") == 0) {
			c->kafka.key = KAFKA_KEY_NONE;
		} else if (strcmp(v, "_peer") == 0) {
			c->kafka.key = KAFKA_KEY_PEER;
		} else if (strlen(v) < sizeof(c->kafka.key_field) && v[0] != '_') {
			c->kafka.key = KAFKA_KEY_FIELD;
			strcpy(c->kafka.key_field, v);
		} else {
			fail(p, p->lineno, "key: \"%s\" is not a field name, _peer or none", v);
			return -1;
		}
		return 0;
	case KEY_COMPRESSION: {
		static const char *const codecs[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };

		for (int i = 0; codecs[i] != NULL; i++) {
			if (strcmp(v, codecs[i]) == 0) {
				strcpy(c->kafka.compression, v);
				return 0;
			}
		}
		fail(p, p->lineno, "compression: \"%s\" is not a choice (none, gzip, snappy, lz4, "
		     "zstd)", v);
		return -1;
	}
	case KEY_LINGER_MS:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		c->kafka.linger_ms = (uint32_t)n;
		return 0;
	case KEY_QUEUE_KBYTES:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		c->kafka.queue_kbytes = (uint32_t)n;
		return 0;
	case KEY_ACKS:
		if (strcmp(v, "all") == 0 || strcmp(v, "1") == 0 || strcmp(v, "0") == 0) {
			strcpy(c->kafka.acks, v);
			return 0;
		}
		fail(p, p->lineno, "acks: \"%s\" is not a choice (all, 1, 0)", v);
		return -1;
	case KEY_IDEMPOTENCE:
		if ((b = parse_bool(v)) < 0) {
			fail(p, p->lineno, "idempotence: \"%s\" is not a boolean (on/off, yes/no, "
			     "true/false, 1/0)", v);
			return -1;
		}
		c->kafka.idempotence = b;
		return 0;
	case KEY_PATH:
		if (strlen(v) >= sizeof(c->output_path)) {
			fail(p, p->lineno, "path: too long (at most %zu bytes)",
			     sizeof(c->output_path) - 1);
			return -1;
		}
		strcpy(c->output_path, v);
		return 0;
	case KEY_METADATA:
		if ((b = parse_bool(v)) < 0) {
			fail(p, p->lineno,
			     "metadata: \"%s\" is not a boolean (on/off, yes/no, true/false, 1/0)", v);
			return -1;
		}
		c->metadata = b;
		return 0;
	case KEY_CACHE_WINDOW:
		if (get_size_or_off(p, k, v, &n) < 0)
			return -1;
		c->cache_window = (size_t)n;
		return 0;
	case KEY_PREALLOCATE:
		if (get_size_or_off(p, k, v, &n) < 0)
			return -1;
		c->preallocate = (size_t)n;
		return 0;
	case KEY_LEVEL:
		if ((b = log_level_parse(v)) < 0) {
			fail(p, p->lineno,
			     "level: \"%s\" is not a log level (error, warning, info, debug)", v);
			return -1;
		}
		c->log_level = b;
		return 0;
	case KEY_IDLE_TIMEOUT:
		return get_seconds(p, k, v, &c->idle_timeout);
	case KEY_SHUTDOWN_TIMEOUT:
		return get_seconds(p, k, v, &c->shutdown_timeout);
	case KEY_UNHEALTHY_AFTER:
		return get_seconds(p, k, v, &c->unhealthy_after);
	case KEY_METRICS_ENABLED:
		if ((b = parse_bool(v)) < 0) {
			fail(p, p->lineno,
			     "enabled: \"%s\" is not a boolean (on/off, yes/no, true/false, 1/0)", v);
			return -1;
		}
		c->metrics_enabled = b;
		return 0;
	case KEY_METRICS_ADDRESS: {
		unsigned char buf[16];
		if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1) {
			fail(p, p->lineno,
			     "address: \"%s\" is not a numeric IPv4 or IPv6 address", v);
			return -1;
		}
		snprintf(c->metrics_address, sizeof(c->metrics_address), "%s", v);
		return 0;
	}
	case KEY_METRICS_PORT:
		if (!parse_uint(v, &n) || n > 65535) {
			fail(p, p->lineno, "port: \"%s\" is not a port number (0-65535)", v);
			return -1;
		}
		c->metrics_port = (uint16_t)n;
		return 0;
	case KEY_STATS_INTERVAL:
		return get_seconds(p, k, v, &c->stats_interval);
	case KEY_ADDRESS: {
		struct bin_addr *a = &p->addr[l - c->listeners];

		/* Numeric only: resolving names at start-up would make the
		 * listening set depend on DNS. */
		if (inet_pton(AF_INET, v, a->bytes) == 1)
			a->family = AF_INET;
		else if (inet_pton(AF_INET6, v, a->bytes) == 1)
			a->family = AF_INET6;
		else {
			fail(p, p->lineno,
			     "address: \"%s\" is not a numeric IPv4 or IPv6 address", v);
			return -1;
		}
		snprintf(l->address, sizeof(l->address), "%s", v);  /* <= 45 chars */
		return 0;
	}
	case KEY_PORT:
		if (!parse_uint(v, &n) || n > 65535) {
			fail(p, p->lineno, "port: \"%s\" is not a port number (0-65535)", v);
			return -1;
		}
		l->port = (uint16_t)n;
		return 0;
	case KEY_FRAMING:
		if (strcmp(v, "fixed") == 0)
			l->framer.kind = FRAMING_FIXED;
		else if (strcmp(v, "tlv") == 0)
			l->framer.kind = FRAMING_TLV;
		else {
			fail(p, p->lineno, "framing: \"%s\" is not a framing (fixed, tlv)", v);
			return -1;
		}
		return 0;
	case KEY_SCHEMA:
		return set_schemas(p, v);
	case KEY_ON_BAD_FRAME:
		for (int i = 0; policy_names[i] != NULL; i++) {
			if (strcmp(v, policy_names[i]) == 0) {
				l->on_bad_frame = i;
				return 0;
			}
		}
		fail(p, p->lineno, "on_bad_frame: \"%s\" is not a choice (close, skip, resync)", v);
		return -1;
	case KEY_MAX_RESYNC:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->max_resync = (size_t)n;
		return 0;
	case KEY_ALLOW:
	case KEY_DENY: {
		char msg[256];

		if (access_parse_list(k == KEY_ALLOW ? &l->allow : &l->deny, v, msg,
				      sizeof(msg)) < 0) {
			fail(p, p->lineno, "%s: %s", keys[k].name, msg);
			return -1;
		}
		return 0;
	}
	case KEY_PROXY_PROTOCOL:
		for (int i = 0; proxy_names[i] != NULL; i++) {
			if (strcmp(v, proxy_names[i]) == 0) {
				l->proxy_versions = (unsigned)i;
				return 0;
			}
		}
		fail(p, p->lineno, "proxy_protocol: \"%s\" is not a choice (off, v1, v2, any)", v);
		return -1;
	case KEY_PROXY_FROM: {
		char msg[256];

		if (access_parse_list(&l->proxy_from, v, msg, sizeof(msg)) < 0) {
			fail(p, p->lineno, "proxy_from: %s", msg);
			return -1;
		}
		return 0;
	}
	case KEY_PROXY_DIRECT:
		if ((b = parse_bool(v)) < 0) {
			fail(p, p->lineno, "proxy_direct: \"%s\" is not a boolean (on/off, yes/no, "
			     "true/false, 1/0)", v);
			return -1;
		}
		l->proxy_direct = b;
		return 0;
	case KEY_PROXY_TIMEOUT:
		return get_seconds(p, k, v, &l->proxy_timeout);
	case KEY_PROXY_MAX:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->proxy_max = (size_t)n;
		return 0;
	case KEY_TLS:
		if ((b = parse_bool(v)) < 0) {
			fail(p, p->lineno, "tls: \"%s\" is not a boolean (on/off, yes/no, "
			     "true/false, 1/0)", v);
			return -1;
		}
		l->tls.on = b;
		return 0;
	case KEY_TLS_CERT:
	case KEY_TLS_KEY:
	case KEY_TLS_CA:
	case KEY_TLS_CRL: {
		char *dst = k == KEY_TLS_CERT ? l->tls.cert : k == KEY_TLS_KEY ? l->tls.key :
			    k == KEY_TLS_CA ? l->tls.ca : l->tls.crl;

		if (v[0] == '\0' || strlen(v) >= CONFIG_PATH_MAX) {
			fail(p, p->lineno, "%s: %s", keys[k].name, v[0] == '\0' ? "needs a file "
			     "name" : "the path is longer than 1023 bytes");
			return -1;
		}
		memcpy(dst, v, strlen(v) + 1);
		*(k == KEY_TLS_CERT ? &l->tls.cert_line : k == KEY_TLS_KEY ? &l->tls.key_line :
		  k == KEY_TLS_CA ? &l->tls.ca_line : &l->tls.crl_line) = p->lineno;
		return 0;
	}
	case KEY_TLS_MIN_VERSION:
		if (strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0) {
			l->tls.min_version = v[2] == '2' ? 12 : 13;
			return 0;
		}
		fail(p, p->lineno, "tls_min_version: \"%s\" is not a choice (1.2, 1.3)", v);
		return -1;
	case KEY_TLS_HANDSHAKE_TIMEOUT:
		return get_seconds(p, k, v, &l->tls.handshake_timeout);
	case KEY_TLS_BIND:
		if (v[0] == '\0' || strlen(v) >= sizeof(l->tls.bind)) {
			fail(p, p->lineno, "tls_bind: \"%s\" is not a field name", v);
			return -1;
		}
		memcpy(l->tls.bind, v, strlen(v) + 1);
		return 0;
	case KEY_MAX_CONNS_PER_SOURCE:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->max_conns_per_source = (uint32_t)n;
		return 0;
	case KEY_MAX_SOURCES:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->max_sources = (size_t)n;
		return 0;
	case KEY_SIZE:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		p->s->size = (size_t)n;
		return 0;
	case KEY_ORDER:
		if (strcmp(v, "be") == 0 || strcmp(v, "le") == 0) {
			p->s->order = v[0] == 'l' ? BO_LITTLE : BO_BIG;
			return 0;
		}
		fail(p, p->lineno, "order: \"%s\" is not a byte order (be, le)", v);
		return -1;
	case KEY_CHECKSUM: {
		char msg[512];

		if (schema_parse_checksum(&p->s->checksum, v, msg, sizeof(msg)) < 0) {
			fail(p, p->lineno, "checksum: %s", msg);
			return -1;
		}
		return 0;
	}
	case KEY_MAX_FRAME:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->framer.max_value = (size_t)n;
		return 0;
	case KEY_RECV_BUFFER:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		l->recv_buffer = (size_t)n;
		return 0;
	case KEY_SLAB_SIZE: case KEY_SLABS: case KEY_OVERFLOW: case KEY_RESERVE:
	case KEY_MAX_WAITERS: case KEY_WAITERS_LOW: case KEY_MAX_CONNECTIONS: case KEY_MAX_RETAINED:
		if (get_uint(p, k, v, &n) < 0)
			return -1;
		switch (k) {
		case KEY_SLAB_SIZE:       c->pool.slab_size = (size_t)n; break;
		case KEY_SLABS:           c->pool.slabs = (size_t)n; break;
		case KEY_OVERFLOW:        c->pool.overflow = (size_t)n; break;
		case KEY_RESERVE:         c->pool.reserve = (size_t)n; break;
		case KEY_MAX_WAITERS:     c->pool.max_waiters = (size_t)n; break;
		case KEY_WAITERS_LOW:     c->pool.waiters_low = (size_t)n; break;
		case KEY_MAX_RETAINED:    c->pool.max_retained = (size_t)n; break;
		default:                  c->max_connections = (size_t)n; break;
		}
		return 0;
	case NKEYS:
		break;
	}
	return -1;
}

/* type.N = SCHEMA in a listener section. */
static int
set_type(struct parse *p, const char *key, const char *v)
{
	uint64_t n;

	if (!parse_uint(key + 5, &n) || n < 1 || n > 255) {
		fail(p, p->lineno, "%s: \"%s\" is not a TLV type (1-255)", key, key + 5);
		return -1;
	}
	if (p->type_line[n]) {
		/* Also catches type.1 vs type.01: same type, two spellings. */
		fail(p, p->lineno, "%s: given twice (first at line %d)", key, p->type_line[n]);
		return -1;
	}
	if (add_ref(p, key, (int)n, 0, v, strlen(v)) < 0)
		return -1;
	p->type_line[n] = p->lineno;
	p->type_lines[p->l - p->c->listeners][n] = p->lineno;
	if (!p->first_type)
		p->first_type = (int)n;
	return 0;
}

/* field.NAME = TYPE @OFFSET [options] in a schema section. */
static int
set_field(struct parse *p, const char *key, const char *v)
{
	struct schema *s = p->s;
	char msg[512];

	for (size_t i = 0; i < s->nfields; i++) {
		if (strcmp(s->fields[i].name, key + 6) == 0) {
			fail(p, p->lineno, "%s: given twice (first at line %d)", key, p->field_line[i]);
			return -1;
		}
	}
	if (s->nfields == SCHEMA_MAX_FIELDS) {
		fail(p, p->lineno, "%s: more than %d fields in [schema %s]", key, SCHEMA_MAX_FIELDS,
		     s->name);
		return -1;
	}
	if (schema_parse_field(&s->fields[s->nfields], key + 6, v, msg, sizeof(msg)) < 0) {
		fail(p, p->lineno, "%s: %s", key, msg);
		return -1;
	}
	p->field_line[s->nfields++] = p->lineno;
	return 0;
}

static const char *
known_keys(enum section sec)
{
	switch (sec) {
	case SEC_DAEMON:   return "workers";
	case SEC_OUTPUT:   return "type, path, metadata, cache_window, preallocate";
	case SEC_KAFKA:    return "brokers, topic, key, compression, linger_ms, queue_kbytes, acks, "
				  "idempotence, spill_path, rdkafka.NAME";
	case SEC_POOL:     return "slab_size, slabs, overflow, reserve, max_waiters, waiters_low, "
				  "max_retained";
	case SEC_LIMITS:   return "max_connections, idle_timeout, shutdown_timeout";
	case SEC_METRICS:  return "enabled, address, port, unhealthy_after";
	case SEC_LOG:      return "level, stats_interval";
	case SEC_LISTENER: return "address, port, framing, schema, type.N, max_frame, recv_buffer, "
				  "on_bad_frame, max_resync, allow, deny, max_conns_per_source, "
				  "max_sources, proxy_protocol, proxy_from, proxy_direct, "
				  "proxy_timeout, proxy_max, tls, tls_cert, tls_key, tls_ca, tls_crl, "
				  "tls_min_version, tls_handshake_timeout, tls_bind";
	case SEC_SCHEMA:   return "size, order, field.NAME, checksum";
	default:           return "";
	}
}

/*
 * The key as written in the current line.  inih truncates names to 49
 * bytes; no real key is that long, but the message should show what the
 * user wrote.
 */
static void
raw_key(const struct parse *p, char *buf, size_t size)
{
	const char *s = p->line, *end = p->line + p->line_len;
	const char *e;

	while (s < end && isspace((unsigned char)*s))
		s++;
	for (e = s; e < end && *e != '=' && *e != ':'; e++)
		;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	snprintf(buf, size, "%.*s", (int)(e - s), s);
}

/* inih's callback: one "key = value" line of the current section. */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char longname[256];
	int k;

	(void)section;  /* ours (from the reader) is exact; inih's may be truncated */
	if (p->failed)
		return 0;
	if (strlen(name) >= INIH_NAME_MAX - 1) {
		raw_key(p, longname, sizeof(longname));
		name = longname;
	}
	if (p->sec == SEC_NONE) {
		fail(p, p->lineno, "%s: key outside any section (keys belong under a [section])",
		     name);
		return 0;
	}
	if (p->sec == SEC_LISTENER && strncmp(name, "type.", 5) == 0) {
		if (*value == '\0') {
			fail(p, p->lineno, "%s: empty value", name);
			return 0;
		}
		return set_type(p, name, value) == 0;
	}
	if (p->sec == SEC_KAFKA && strncmp(name, "rdkafka.", 8) == 0) {
		struct kafka_conf *kc = &p->c->kafka;

		if (*value == '\0' || name[8] == '\0') {
			fail(p, p->lineno, "%s: empty %s", name, name[8] == '\0' ? "property name" :
			     "value");
			return 0;
		}
		for (size_t i = 0; i < kc->nprops; i++) {
			if (strcmp(kc->props[i].name, name + 8) == 0) {
				fail(p, p->lineno, "%s: given twice (first at line %d)", name,
				     kc->props[i].line);
				return 0;
			}
		}
		if (kc->nprops == CONFIG_MAX_KAFKA_PROPS || strlen(name + 8) >= 64 ||
		    strlen(value) >= 512) {
			fail(p, p->lineno, "%s: %s", name, kc->nprops == CONFIG_MAX_KAFKA_PROPS ?
			     "too many rdkafka.NAME keys (at most 32)" :
			     "name or value too long (63, 511 bytes at most)");
			return 0;
		}
		strcpy(kc->props[kc->nprops].name, name + 8);
		strcpy(kc->props[kc->nprops].value, value);
		kc->props[kc->nprops++].line = p->lineno;
		return 1;
	}
	if (p->sec == SEC_SCHEMA && strncmp(name, "field.", 6) == 0) {
		if (*value == '\0') {
			fail(p, p->lineno, "%s: empty value", name);
			return 0;
		}
		return set_field(p, name, value) == 0;
	}
	for (k = 0; k < NKEYS; k++)
		if (keys[k].sec == p->sec && strcmp(keys[k].name, name) == 0)
			break;
	if (k == NKEYS) {
		fail(p, p->lineno, "%s: unknown key in %s (known: %s)", name, p->sec_label,
		     known_keys(p->sec));
		return 0;
	}
	if (p->key_line[k]) {
		fail(p, p->lineno, "%s: given twice (first at line %d)", name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = p->lineno;
	if (*value == '\0') {
		fail(p, p->lineno, "%s: empty value", name);
		return 0;
	}
	return set_key(p, (enum key)k, value) == 0;
}

/* ---- sections ---- */

static bool
valid_listener_name(const char *s, size_t n)
{
	if (n < 1 || n >= CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* Checks a finished [listener NAME] section and completes its framer. */
/* The tls keys of a finished [listener NAME] section (the files are read
 * by tls.c, the tls_bind field is resolved with the schemas). */
static int
close_listener_tls(struct parse *p, struct listener_conf *l)
{
	struct tls_conf *t = &l->tls;

	/* The tls_* keys after tls are consecutive in enum key. */
	for (int k = KEY_TLS_CERT; !t->on && k <= KEY_TLS_BIND; k++) {
		if (p->key_line[k]) {
			fail(p, p->key_line[k], "%s: only with tls = on", keys[k].name);
			return -1;
		}
	}
	if (!t->on)
		return 0;
	if (!p->key_line[KEY_TLS_CERT] || !p->key_line[KEY_TLS_KEY]) {
		fail(p, p->key_line[KEY_TLS], "tls: needs tls_cert and tls_key (the server's "
		     "certificate chain and its private key, PEM)");
		return -1;
	}
	if (p->key_line[KEY_TLS_CRL] && !p->key_line[KEY_TLS_CA]) {
		fail(p, p->key_line[KEY_TLS_CRL], "tls_crl: only with tls_ca (revocation is of "
		     "client certificates)");
		return -1;
	}
	if (p->key_line[KEY_TLS_BIND] && !p->key_line[KEY_TLS_CA]) {
		fail(p, p->key_line[KEY_TLS_BIND], "tls_bind: only with tls_ca (the identity "
		     "comes from the client certificate)");
		return -1;
	}
	if (l->proxy_versions != 0) {
		fail(p, p->key_line[KEY_TLS], "tls: not with proxy_protocol on the same listener "
		     "(not supported yet: terminate TLS on the balancer, or connect sensors "
		     "directly)");
		return -1;
	}
	if (!p->key_line[KEY_TLS_MIN_VERSION])
		t->min_version = 12;
	if (!p->key_line[KEY_TLS_HANDSHAKE_TIMEOUT])
		t->handshake_timeout = 10;
	p->bind_line[l - p->c->listeners] = p->key_line[KEY_TLS_BIND];
	return 0;
}

static int
close_listener(struct parse *p)
{
	static const enum key required[] = { KEY_ADDRESS, KEY_PORT, KEY_FRAMING };
	struct listener_conf *l = p->l;
	size_t idx = (size_t)(l - p->c->listeners);
	int max_frame_line = p->key_line[KEY_MAX_FRAME];

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!p->key_line[required[i]]) {
			fail(p, p->sec_line, "listener \"%s\": missing required key \"%s\"",
			     l->name, keys[required[i]].name);
			return -1;
		}
	}
	if (l->framer.kind == FRAMING_FIXED) {
		if (!p->key_line[KEY_SCHEMA]) {
			fail(p, p->sec_line, "listener \"%s\": missing required key \"schema\"",
			     l->name);
			return -1;
		}
		if (p->first_type) {
			fail(p, p->type_line[p->first_type],
			     "type.%d: only for framing = tlv (a fixed listener has one schema)",
			     p->first_type);
			return -1;
		}
		if (max_frame_line) {
			fail(p, max_frame_line, "max_frame: only for framing = tlv "
			     "(a fixed frame is its schema's size)");
			return -1;
		}
	} else {
		if (p->key_line[KEY_SCHEMA]) {
			fail(p, p->key_line[KEY_SCHEMA], "schema: only for framing = fixed "
			     "(map TLV types with type.N = SCHEMA)");
			return -1;
		}
		if (!max_frame_line)
			l->framer.max_value = TLV_MAX_VALUE;
	}
	/* Port 0 asks the kernel for a free port, so those never clash. */
	for (size_t i = 0; l->port != 0 && i < idx; i++) {
		const struct listener_conf *o = &p->c->listeners[i];

		if (o->port == l->port && p->addr[i].family == p->addr[idx].family &&
		    memcmp(p->addr[i].bytes, p->addr[idx].bytes, sizeof(p->addr[i].bytes)) == 0) {
			fail(p, p->sec_line,
			     "listener \"%s\": %s port %u is already used by listener \"%s\" "
			     "(line %d)", l->name, l->address, (unsigned)l->port, o->name, o->line);
			return -1;
		}
	}
	p->frame_line[idx] = max_frame_line ? max_frame_line : p->sec_line;
	p->schema_line[idx] = p->key_line[KEY_SCHEMA] ? p->key_line[KEY_SCHEMA] : p->sec_line;
	p->policy_line[idx] = p->key_line[KEY_ON_BAD_FRAME];
	p->resync_line[idx] = p->key_line[KEY_MAX_RESYNC];
	if (!p->key_line[KEY_MAX_RESYNC])
		l->max_resync = DEFAULT_MAX_RESYNC;
	if (p->key_line[KEY_MAX_SOURCES] && l->max_conns_per_source == 0) {
		fail(p, p->key_line[KEY_MAX_SOURCES],
		     "max_sources: only with max_conns_per_source (the table it sizes)");
		return -1;
	}
	if (!p->key_line[KEY_MAX_SOURCES])
		l->max_sources = DEFAULT_MAX_SOURCES;
	if (l->proxy_versions != 0 && l->proxy_from.n == 0) {
		fail(p, p->key_line[KEY_PROXY_PROTOCOL], "proxy_protocol: needs proxy_from (the "
		     "balancers' addresses: a header is expected from them, never guessed)");
		return -1;
	}
	/* The proxy_* keys after proxy_protocol are consecutive in enum key. */
	for (int k = KEY_PROXY_FROM; l->proxy_versions == 0 && k <= KEY_PROXY_MAX; k++) {
		if (p->key_line[k]) {
			fail(p, p->key_line[k], "%s: only with proxy_protocol = v1, v2 or any",
			     keys[k].name);
			return -1;
		}
	}
	if (!p->key_line[KEY_PROXY_TIMEOUT])
		l->proxy_timeout = 3;
	if (!p->key_line[KEY_PROXY_MAX])
		l->proxy_max = 1024;
	return close_listener_tls(p, l);
}

/* Checks a finished [schema NAME] section and derives its decoding. */
static int
close_schema(struct parse *p)
{
	struct schema *s = p->s;
	char msg[512];
	int where;

	if (!p->key_line[KEY_SIZE]) {
		fail(p, p->sec_line, "[schema %s]: missing required key \"size\"", s->name);
		return -1;
	}
	if (s->nfields == 0) {
		fail(p, p->sec_line, "[schema %s]: no field (declare at least one field.NAME)",
		     s->name);
		return -1;
	}
	if (schema_finish(s, msg, sizeof(msg), &where) < 0) {
		if (where >= 0)
			fail(p, p->field_line[where], "field.%s: %s", s->fields[where].name, msg);
		else if (where == SCHEMA_AT_CHECKSUM)
			fail(p, p->key_line[KEY_CHECKSUM], "checksum: %s", msg);
		else
			fail(p, p->sec_line, "[schema %s]: %s", s->name, msg);
		return -1;
	}
	return 0;
}

static int
close_section(struct parse *p)
{
	int rc = 0;

	if (p->sec == SEC_LISTENER)
		rc = close_listener(p);
	else if (p->sec == SEC_SCHEMA)
		rc = close_schema(p);
	p->s = NULL;
	p->sec = SEC_NONE;
	p->l = NULL;
	return rc;
}

/* Starts [schema NAME]: a new, empty schema. */
static int
open_schema(struct parse *p, const char *name, size_t n, const char *sname, size_t len)
{
	struct config *c = p->c;
	struct schema *s;
	char nm[CONFIG_NAME_MAX];

	if (len == 0) {
		fail(p, p->lineno, "[schema]: a schema needs a name ([schema NAME])");
		return -1;
	}
	if (!valid_listener_name(sname, len)) {
		fail(p, p->lineno, "[%.*s]: bad schema name \"%.*s\" "
		     "(1-%d characters of A-Z a-z 0-9 _ . -)", (int)(n > 80 ? 80 : n), name,
		     (int)(len > 70 ? 70 : len), sname, CONFIG_NAME_MAX - 1);
		return -1;
	}
	memcpy(nm, sname, len);
	nm[len] = '\0';
	if (schema_find(nm) != NULL || strcmp(nm, "raw") == 0) {
		fail(p, p->lineno, "[schema %s]: \"%s\" is a built-in schema's name (built-in: %s, "
		     "and raw for unmapped TLV types)", nm, nm, "sensor24, legacy16");
		return -1;
	}
	for (size_t i = 0; i < c->nschemas; i++) {
		if (strcmp(c->schemas[i].name, nm) == 0) {
			fail(p, p->lineno, "[schema %s]: duplicate schema name (first at line %d)", nm,
			     p->schema_hdr_line[i]);
			return -1;
		}
	}
	if (c->nschemas == CONFIG_MAX_SCHEMAS) {
		fail(p, p->lineno, "[schema %s]: too many schemas (at most %d)", nm,
		     CONFIG_MAX_SCHEMAS);
		return -1;
	}
	p->schema_hdr_line[c->nschemas] = p->lineno;
	s = &c->schemas[c->nschemas++];
	memset(s, 0, sizeof(*s));
	strcpy(s->name, nm);
	s->order = BO_BIG;
	p->s = s;
	for (int k = 0; k < NKEYS; k++)
		if (keys[k].sec == SEC_SCHEMA)
			p->key_line[k] = 0;
	snprintf(p->sec_label, sizeof(p->sec_label), "[schema %s]", nm);
	return 0;
}

/* Starts the section named by name[0..n) (already trimmed). */
static int
open_section(struct parse *p, const char *name, size_t n)
{
	enum section sec = SEC_NONE;
	const char *lname = NULL;
	size_t lname_len = 0;

	if (close_section(p) < 0)
		return -1;
	for (int s = SEC_DAEMON; s < SEC_LISTENER; s++)
		if (strlen(section_names[s]) == n && memcmp(section_names[s], name, n) == 0)
			sec = (enum section)s;
	for (int s = SEC_LISTENER; s <= SEC_SCHEMA; s++) {
		size_t kn = strlen(section_names[s]);

		if (n >= kn && memcmp(name, section_names[s], kn) == 0 &&
		    (n == kn || isspace((unsigned char)name[kn]))) {
			sec = (enum section)s;
			lname = name + kn;
			while (lname < name + n && isspace((unsigned char)*lname))
				lname++;
			lname_len = (size_t)(name + n - lname);
		}
	}
	if (sec == SEC_NONE) {
		fail(p, p->lineno, "[%.*s]: unknown section (known: daemon, output, pool, limits, log, "
		     "metrics, kafka, listener NAME, schema NAME)", (int)(n > 80 ? 80 : n), name);
		return -1;
	}
	if (sec == SEC_SCHEMA) {
		if (open_schema(p, name, n, lname, lname_len) < 0)
			return -1;
	} else if (sec != SEC_LISTENER) {
		if (p->sec_first[sec]) {
			/* One place per setting: a second [pool] is almost always
			 * a pasted block overriding the first. */
			fail(p, p->lineno, "[%s]: section given twice (first at line %d)",
			     section_names[sec], p->sec_first[sec]);
			return -1;
		}
		p->sec_first[sec] = p->lineno;
		snprintf(p->sec_label, sizeof(p->sec_label), "[%s]", section_names[sec]);
	} else {
		struct config *c = p->c;
		struct listener_conf *l;

		if (lname_len == 0) {
			fail(p, p->lineno, "[listener]: a listener needs a name ([listener NAME])");
			return -1;
		}
		if (!valid_listener_name(lname, lname_len)) {
			fail(p, p->lineno, "[%.*s]: bad listener name \"%.*s\" "
			     "(1-%d characters of A-Z a-z 0-9 _ . -)", (int)(n > 80 ? 80 : n), name,
			     (int)(lname_len > 70 ? 70 : lname_len), lname, CONFIG_NAME_MAX - 1);
			return -1;
		}
		for (size_t i = 0; i < c->nlisteners; i++) {
			if (strlen(c->listeners[i].name) == lname_len &&
			    memcmp(c->listeners[i].name, lname, lname_len) == 0) {
				fail(p, p->lineno,
				     "[listener %s]: duplicate listener name (first at line %d)",
				     c->listeners[i].name, c->listeners[i].line);
				return -1;
			}
		}
		if (c->nlisteners == CONFIG_MAX_LISTENERS) {
			fail(p, p->lineno, "[listener %.*s]: too many listeners (at most %d)",
			     (int)lname_len, lname, CONFIG_MAX_LISTENERS);
			return -1;
		}
		l = &c->listeners[c->nlisteners++];
		memcpy(l->name, lname, lname_len);
		l->name[lname_len] = '\0';
		l->line = p->lineno;
		p->l = l;
		for (int k = 0; k < NKEYS; k++)
			if (keys[k].sec == SEC_LISTENER)
				p->key_line[k] = 0;
		memset(p->type_line, 0, sizeof(p->type_line));
		p->first_type = 0;
		snprintf(p->sec_label, sizeof(p->sec_label), "[listener %s]", l->name);
	}
	p->sec = sec;
	p->sec_line = p->lineno;
	return 0;
}

/*
 * Looks at a line the way inih will: a first non-blank '[' starts a header
 * that ends at ']' (a ';' after a blank starts a comment instead).  Opens
 * the section; a header inih would reject is left for inih to report.
 * Returns -1 after fail().
 */
static int
scan_header(struct parse *p, const char *s, size_t n)
{
	const char *end = s + n, *q, *name;
	bool was_space = false;

	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s == end || *s != '[')
		return 0;
	for (q = s + 1; q < end && *q != ']'; q++) {
		if (was_space && *q == ';')
			return 0;  /* inih: unterminated header, a syntax error */
		was_space = isspace((unsigned char)*q);
	}
	if (q == end)
		return 0;
	name = s + 1;
	end = q;
	/* inih ignores anything after ']'; we allow only a comment there. */
	for (q++; q < s + n && isspace((unsigned char)*q); q++)
		;
	if (q < s + n && *q != ';' && *q != '#') {
		fail(p, p->lineno, "syntax error (expected \"key = value\" or \"[section]\")");
		return -1;
	}
	while (name < end && isspace((unsigned char)*name))
		name++;
	while (end > name && isspace((unsigned char)end[-1]))
		end--;
	return open_section(p, name, (size_t)(end - name));
}

/*
 * inih's fgets-style reader: copies the next line into str (num bytes) and
 * counts it.  Stops the parse (returns NULL) at the end or on an error.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *s, *nl;
	size_t n, content;

	if (p->failed || p->pos >= p->len)
		return NULL;
	s = p->text + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - s) : p->len - p->pos;
	p->pos += n + (nl != NULL);
	p->lineno++;
	/* A UTF-8 byte-order mark is dropped here so the header scan sees '['. */
	if (p->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		n -= 3;
	}
	p->line = s;
	p->line_len = n;
	content = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
	if (content > LINE_MAX_CHARS || n + 2 > (size_t)num) {
		fail(p, p->lineno, "line too long (over %d characters)", LINE_MAX_CHARS);
		return NULL;
	}
	if (memchr(s, '\0', n) != NULL) {
		fail(p, p->lineno, "NUL byte in line (not a text file?)");
		return NULL;
	}
	if (scan_header(p, s, n) < 0)
		return NULL;
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* ---- checks across sections ---- */

static int
check_pool(struct parse *p)
{
	struct pool_conf *pc = &p->c->pool;

	if (pc->reserve >= pc->slabs) {
		if (p->key_line[KEY_RESERVE])
			fail(p, p->key_line[KEY_RESERVE], "reserve: %zu must be less than slabs (%zu)",
			     pc->reserve, pc->slabs);
		else
			fail(p, p->key_line[KEY_SLABS], "slabs: %zu must be greater than reserve (%zu)",
			     pc->slabs, pc->reserve);
		return -1;
	}
	/* Unset: half of what reads may use, so parked partial frames can
	 * never take every slab a streaming connection needs. */
	if (!p->key_line[KEY_MAX_RETAINED])
		pc->max_retained = (pc->slabs - pc->reserve + 1) / 2;
	if (pc->max_retained > pc->slabs - pc->reserve) {
		fail(p, p->key_line[KEY_MAX_RETAINED] ? p->key_line[KEY_MAX_RETAINED] :
		     p->key_line[KEY_SLABS], "max_retained: %zu is more than the slabs reads may "
		     "use (slabs - reserve = %zu)", pc->max_retained, pc->slabs - pc->reserve);
		return -1;
	}
	/* Each worker gets its own share of the slabs, and a share needs
	 * reserve + 2 of them to read and write (worker.h); `auto` stays within
	 * what the pool allows by itself. */
	if (p->c->workers > 1 && pc->slabs / p->c->workers < pc->reserve + 2) {
		fail(p, p->key_line[KEY_WORKERS], "workers: %zu workers need at least %zu slabs "
		     "(reserve + 2 = %zu each), and [pool] slabs is %zu", p->c->workers,
		     p->c->workers * (pc->reserve + 2), pc->reserve + 2, pc->slabs);
		return -1;
	}
	if (pc->waiters_low >= pc->max_waiters) {
		if (p->key_line[KEY_WAITERS_LOW])
			fail(p, p->key_line[KEY_WAITERS_LOW],
			     "waiters_low: %zu must be less than max_waiters (%zu)",
			     pc->waiters_low, pc->max_waiters);
		else
			fail(p, p->key_line[KEY_MAX_WAITERS],
			     "max_waiters: %zu must be greater than waiters_low (%zu)",
			     pc->max_waiters, pc->waiters_low);
		return -1;
	}
	return 0;
}

static const struct schema *
lookup_schema(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nschemas; i++)
		if (strcmp(c->schemas[i].name, name) == 0)
			return &c->schemas[i];
	return schema_find(name);
}

/* Points every listener's schema names at their tables. */
static int
resolve_refs(struct parse *p)
{
	struct config *c = p->c;

	for (size_t i = 0; i < p->nrefs; i++) {
		const struct schema_ref *r = &p->refs[i];
		const struct schema *s = lookup_schema(c, r->name);
		struct listener_conf *l = &c->listeners[r->listener];

		if (s == NULL) {
			if (r->tlv_type)
				fail(p, r->line, "type.%d: \"%s\" is not a known schema (known: %s)",
				     r->tlv_type, r->name, schema_list(c));
			else
				fail(p, r->line, "schema: \"%s\" is not a known schema (known: %s)",
				     r->name, schema_list(c));
			return -1;
		}
		if (r->tlv_type)
			l->tlv_map[r->tlv_type] = s;
		else
			l->schemas[r->slot] = s;
	}
	return 0;
}

/* tls_bind's field in schema s: its index, or -1 with the reason in why. */
static int
bind_field(const struct schema *s, const char *name, const char **why)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];

		if (strcmp(f->name, name) != 0)
			continue;
		if (f->print != PR_INT && f->print != PR_U64 && f->print != PR_INT_STRING &&
		    f->print != PR_U64_STRING) {
			*why = "is not an integer field (no float, str, hex, scale, div or add)";
			return -1;
		}
		return (int)i;
	}
	*why = "has no such field";
	return -1;
}

/* Finds tls_bind's field in every schema of listener idx. */
static int
resolve_bind(struct parse *p, size_t idx)
{
	struct listener_conf *l = &p->c->listeners[idx];
	const char *why = "";

	memset(l->tls.bind_fixed, -1, sizeof(l->tls.bind_fixed));
	memset(l->tls.bind_tlv, -1, sizeof(l->tls.bind_tlv));
	if (l->tls.bind[0] == '\0')
		return 0;
	for (size_t i = 0; l->framer.kind == FRAMING_FIXED && i < l->nschemas; i++) {
		int f = bind_field(l->schemas[i], l->tls.bind, &why);

		if (f < 0) {
			fail(p, p->bind_line[idx], "tls_bind: schema \"%s\" %s \"%s\"",
			     l->schemas[i]->name, why, l->tls.bind);
			return -1;
		}
		l->tls.bind_fixed[i] = (int8_t)f;
	}
	for (int t = 1; l->framer.kind == FRAMING_TLV && t < 256; t++) {
		int f;

		if (l->tlv_map[t] == NULL)
			continue;  /* raw records: bad_identity on such a listener */
		if ((f = bind_field(l->tlv_map[t], l->tls.bind, &why)) < 0) {
			fail(p, p->bind_line[idx], "tls_bind: schema \"%s\" (type.%d) %s \"%s\"",
			     l->tlv_map[t]->name, t, why, l->tls.bind);
			return -1;
		}
		l->tls.bind_tlv[t] = (int8_t)f;
	}
	return 0;
}

/* What the schemas of one listener must satisfy together. */
static int
check_listener_schemas(struct parse *p, size_t idx)
{
	struct listener_conf *l = &p->c->listeners[idx];
	int line = p->schema_line[idx];

	if (l->framer.kind == FRAMING_TLV) {
		if (l->on_bad_frame == ON_BAD_RESYNC) {
			fail(p, p->policy_line[idx], "on_bad_frame: resync is only for framing = fixed "
			     "(a TLV header frames the stream: use skip)");
			return -1;
		}
		for (int t = 1; t < 256; t++) {
			const struct schema *s = l->tlv_map[t];

			if (s != NULL && s->size > l->framer.max_value) {
				fail(p, p->type_lines[idx][t], "type.%d: schema \"%s\" is %zu bytes, "
				     "over the listener's max_frame (%zu)", t, s->name, s->size,
				     l->framer.max_value);
				return -1;
			}
		}
	} else {
		const struct schema *first = l->schemas[0];

		for (size_t i = 1; i < l->nschemas; i++) {
			if (l->schemas[i]->size != first->size) {
				fail(p, line, "schema: \"%s\" is %zu bytes but \"%s\" is %zu (the "
				     "schemas of one fixed listener share a frame size)",
				     l->schemas[i]->name, l->schemas[i]->size, first->name, first->size);
				return -1;
			}
		}
		for (size_t i = 0; l->nschemas > 1 && i < l->nschemas; i++) {
			if (!schema_has_magic(l->schemas[i])) {
				fail(p, line, "schema: \"%s\" has no magic field (several schemas on "
				     "one listener are told apart by their magic fields)",
				     l->schemas[i]->name);
				return -1;
			}
			for (size_t j = 0; j < i; j++) {
				if (schema_shadows(l->schemas[j], l->schemas[i])) {
					fail(p, line, "schema: \"%s\" would never decode a frame: "
					     "every frame its magic fields accept, \"%s\" (listed "
					     "before it) accepts first", l->schemas[i]->name,
					     l->schemas[j]->name);
					return -1;
				}
			}
		}
		for (size_t i = 0; l->on_bad_frame == ON_BAD_RESYNC && i < l->nschemas; i++) {
			if (!schema_can_resync(l->schemas[i])) {
				fail(p, p->policy_line[idx], "on_bad_frame: resync needs schemas with "
				     "a magic field or a checksum to find frames by, and \"%s\" has "
				     "neither", l->schemas[i]->name);
				return -1;
			}
		}
		l->framer.fixed_size = first->size;
	}
	if (p->resync_line[idx] && l->on_bad_frame != ON_BAD_RESYNC) {
		fail(p, p->resync_line[idx], "max_resync: only with on_bad_frame = resync");
		return -1;
	}
	return resolve_bind(p, idx);
}

/* 1 when field `name` is printed by schema s. */
static int
prints_field(const struct schema *s, const char *name)
{
	for (size_t i = 0; s != NULL && i < s->nfields; i++)
		if (!s->fields[i].omit && strcmp(s->fields[i].name, name) == 0)
			return 1;
	return 0;
}

/* [output] type and [kafka] together. */
static int
check_output(struct parse *p)
{
	struct config *c = p->c;
	struct kafka_conf *kc = &c->kafka;

	if (c->output_type != OUTPUT_KAFKA) {
		if (p->sec_first[SEC_KAFKA]) {
			fail(p, p->sec_first[SEC_KAFKA], "[kafka]: only with [output] type = kafka");
			return -1;
		}
		return 0;
	}
	/* path, cache_window and preallocate stay as given (the shipped file
	 * sets them) and are unused: main logs that at start-up. */
	kc->line = p->sec_first[SEC_KAFKA];
	for (int k = KEY_BROKERS; k <= KEY_SPILL_PATH; k++) {
		if ((k == KEY_BROKERS || k == KEY_TOPIC || k == KEY_SPILL_PATH) && !p->key_line[k]) {
			fail(p, p->key_line[KEY_OUTPUT_TYPE], "type: kafka needs [kafka] %s%s",
			     keys[k].name, k == KEY_SPILL_PATH ? " (where records Kafka cannot take "
			     "go, never dropped)" : "");
			return -1;
		}
	}
	if (!p->key_line[KEY_COMPRESSION])
		strcpy(kc->compression, "lz4");
	if (!p->key_line[KEY_LINGER_MS])
		kc->linger_ms = 50;
	/* The producer's queue is memory beside the pool: bounded by default. */
	if (!p->key_line[KEY_QUEUE_KBYTES])
		kc->queue_kbytes = 16384;
	if (!p->key_line[KEY_ACKS])
		strcpy(kc->acks, "all");
	if (!p->key_line[KEY_IDEMPOTENCE])
		kc->idempotence = 1;
	if (kc->idempotence && strcmp(kc->acks, "all") != 0) {
		fail(p, p->key_line[KEY_ACKS], "acks: %s with idempotence (which needs acks = all)",
		     kc->acks);
		return -1;
	}
	if (kc->key == KAFKA_KEY_PEER && !c->metadata) {
		fail(p, p->key_line[KEY_KAFKA_KEY], "key: _peer needs [output] metadata = on");
		return -1;
	}
	/* Records of a schema without the field have no key (any partition). */
	if (kc->key == KAFKA_KEY_FIELD) {
		int found = 0;

		for (size_t i = 0; i < c->nlisteners && !found; i++) {
			const struct listener_conf *l = &c->listeners[i];

			for (size_t j = 0; j < l->nschemas && !found; j++)
				found = prints_field(l->schemas[j], kc->key_field);
			for (int t = 1; t < 256 && !found; t++)
				found = prints_field(l->tlv_map[t], kc->key_field);
		}
		if (!found) {
			fail(p, p->key_line[KEY_KAFKA_KEY], "key: no schema of any listener prints a "
			     "field \"%s\"", kc->key_field);
			return -1;
		}
	}
	return 0;
}

static int
check_listeners(struct parse *p)
{
	const struct config *c = p->c;

	if (c->nlisteners == 0) {
		fail(p, 0, "no [listener NAME] section");
		return -1;
	}
	if (resolve_refs(p) < 0)
		return -1;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];

		if (check_listener_schemas(p, i) < 0)
			return -1;
		/* A header waits in the read slab until it is whole. */
		if (l->proxy_versions != 0 && c->pool.slab_size < l->proxy_max) {
			fail(p, l->line, "listener \"%s\": proxy_max %zu is more than slab_size (%zu): "
			     "a PROXY header must fit in one slab", l->name, l->proxy_max,
			     c->pool.slab_size);
			return -1;
		}
		/* The framer hands out frames as pointers into one slab, so
		 * a frame that spans slabs could never be delivered. */
		if (l->framer.kind == FRAMING_TLV &&
		    c->pool.slab_size < l->framer.max_value + TLV_HEADER_SIZE) {
			fail(p, p->frame_line[i], "listener \"%s\": max_frame %zu needs slab_size "
			     ">= %zu (a whole frame must fit in one slab), but slab_size is %zu",
			     l->name, l->framer.max_value, l->framer.max_value + TLV_HEADER_SIZE,
			     c->pool.slab_size);
			return -1;
		}
	}
	return 0;
}

/* ---- driving inih ---- */

/* inih's run-time options (Debian's build makes them variables). */
struct ini_opts {
	bool  multiline, bom, inline_comments, use_stack, stop_on_first_error, no_value;
	char *start_prefixes, *inline_prefixes;
	int   max_line;
};

static void
ini_opts_save(struct ini_opts *o)
{
	*o = (struct ini_opts){
		.multiline = ini_allow_multiline, .bom = ini_allow_bom,
		.inline_comments = ini_allow_inline_comments, .use_stack = ini_use_stack,
		.stop_on_first_error = ini_stop_on_first_error, .no_value = ini_allow_no_value,
		.start_prefixes = ini_start_comment_prefixes,
		.inline_prefixes = ini_inline_comment_prefixes, .max_line = ini_max_line,
	};
}

static void
ini_opts_restore(const struct ini_opts *o)
{
	ini_allow_multiline = o->multiline;
	ini_allow_bom = o->bom;
	ini_allow_inline_comments = o->inline_comments;
	ini_use_stack = o->use_stack;
	ini_stop_on_first_error = o->stop_on_first_error;
	ini_allow_no_value = o->no_value;
	ini_start_comment_prefixes = o->start_prefixes;
	ini_inline_comment_prefixes = o->inline_prefixes;
	ini_max_line = o->max_line;
}

static int
parse_text(struct config *c, const char *text, size_t len, const char *source, char *err,
	   size_t errlen)
{
	/* inih wants writable strings; these are never written. */
	static char start_prefixes[] = ";#";
	static char inline_prefixes[] = ";";
	struct parse *p;
	struct ini_opts saved;
	int rc;

	reset_defaults(c, source);
	if (errlen > 0)
		err[0] = '\0';
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", source);
		return -1;
	}
	*p = (struct parse){ .c = c, .source = source, .err = err, .errlen = errlen,
			     .text = text, .len = len };

	ini_opts_save(&saved);
	/* No continuation lines: an indented line must not be glued silently
	 * onto the key above it. */
	ini_allow_multiline = false;
	ini_allow_bom = true;  /* the reader already strips it */
	ini_allow_inline_comments = true;
	ini_start_comment_prefixes = start_prefixes;
	ini_inline_comment_prefixes = inline_prefixes;
	ini_allow_no_value = false;
	ini_use_stack = true;
	ini_stop_on_first_error = true;
	/* Room for the longest line the reader passes, plus '\n' and NUL (and
	 * the '\r' inih's sizing note allows for). */
	ini_max_line = LINE_MAX_CHARS + 3;
	rc = ini_parse_stream(reader, p, handler, p);
	ini_opts_restore(&saved);

	if (!p->failed && rc > 0)
		fail(p, rc, "syntax error (expected \"key = value\" or \"[section]\")");
	else if (!p->failed && rc < 0)
		fail(p, 0, "cannot parse (inih error %d)", rc);
	if (!p->failed)
		close_section(p);
	if (!p->failed)
		check_pool(p);
	if (!p->failed)
		check_listeners(p);
	if (!p->failed)
		check_output(p);
	rc = p->failed ? -1 : 0;
	free(p->refs);
	free(p);
	return rc;
}

const char *
config_default_text(void)
{
	return default_config_text;
}

int
config_load_text(struct config *c, const char *text, const char *source, char *err,
		 size_t errlen)
{
	return parse_text(c, text, strlen(text), source, err, errlen);
}

static int
load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t len = 0;
	int rc;

	if (path == NULL)
		return config_load_text(c, default_config_text, "(default)", err, errlen);

	reset_defaults(c, path);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	/* One read past the limit tells "too large" from "exactly at it". */
	if ((buf = malloc(FILE_MAX_BYTES + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	len = fread(buf, 1, FILE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	} else if (len > FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: too large (over %d bytes)", path, FILE_MAX_BYTES);
		rc = -1;
	} else {
		rc = parse_text(c, buf, len, path, err, errlen);
	}
	free(buf);
	fclose(f);
	return rc;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	int rc = load_file(c, path, err, errlen);

	/* The path came from the command line: it may hold any byte. */
	if (rc < 0 && errlen > 0) {
		char raw[8192];

		snprintf(raw, sizeof(raw), "%s", err);
		log_escape(err, errlen, raw);
	}
	return rc;
}
