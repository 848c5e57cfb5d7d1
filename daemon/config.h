/*
 * config: the INI file (inih) turned into a checked struct config.
 *
 * Every unknown section or key, bad value, duplicate key or listener, and
 * missing required key is an error naming FILE:LINE: key: what is wrong.
 * Without a file the embedded default (config/ingestd.ini, compiled in)
 * applies.  [schema NAME] sections declare packet layouts (schema.h);
 * listeners name built-in or declared schemas in any order in the file,
 * resolved here once the whole file is read, so a loaded config refers only
 * to valid, finished tables.  A struct config is large (its schemas):
 * keep it static or on the heap.
 */
#ifndef INGESTD_CONFIG_H
#define INGESTD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "framer.h"
#include "pool.h"
#include "schema.h"

#define CONFIG_MAX_LISTENERS 64
#define CONFIG_MAX_SCHEMAS 64            /* declared [schema NAME] sections */
#define CONFIG_MAX_LISTENER_SCHEMAS 16   /* schema = A B ... on one fixed listener */
#define CONFIG_NAME_MAX 64
#define CONFIG_MAX_WORKERS 64

#define CONFIG_PATH_MAX 1024             /* tls_cert, tls_key, tls_ca, tls_crl */

/* A listener's TLS settings (tls.h loads the files; config only reads the
 * keys, so the files are checked where they are used, with OpenSSL's word). */
struct tls_conf {
	int      on;                     /* tls = on */
	char     cert[CONFIG_PATH_MAX], key[CONFIG_PATH_MAX];   /* PEM, required */
	char     ca[CONFIG_PATH_MAX];    /* "": no client certificates asked for */
	char     crl[CONFIG_PATH_MAX];   /* "": none */
	int      cert_line, key_line, ca_line, crl_line;        /* for messages */
	int      min_version;            /* 12 or 13 */
	double   handshake_timeout;      /* seconds */
	/* tls_bind: the integer field that must equal the number the client
	 * certificate's CN ends with; "" = off.  Its index in each schema of
	 * the listener (fixed: by position in schemas[]; tlv: by type, -1 for
	 * a raw type), resolved once the whole file is read. */
	char     bind[SCHEMA_NAME_MAX];
	int8_t   bind_fixed[CONFIG_MAX_LISTENER_SCHEMAS];
	int8_t   bind_tlv[256];
};

/* on_bad_frame: what a listener does with a bad frame (decode.h). */
enum bad_frame_policy { ON_BAD_CLOSE, ON_BAD_SKIP, ON_BAD_RESYNC };

struct listener_conf {
	char                 name[CONFIG_NAME_MAX];  /* from [listener NAME] */
	char                 address[64];            /* numeric IPv4 or IPv6 */
	uint16_t             port;                   /* 0: ephemeral (tests) */
	struct framer_conf   framer;
	/* fixed: the schemas a frame may be, tried in this order (by magic) */
	const struct schema *schemas[CONFIG_MAX_LISTENER_SCHEMAS];
	size_t               nschemas;
	const struct schema *tlv_map[256];           /* tlv: type -> schema, NULL = raw */
	int                  on_bad_frame;           /* enum bad_frame_policy */
	size_t               max_resync;             /* bytes one resync may skip */
	size_t               recv_buffer;            /* SO_RCVBUF bytes; 0 = kernel's */
	struct access_list   allow, deny;            /* empty: everyone, nobody */
	uint32_t             max_conns_per_source;   /* 0: no limit */
	size_t               max_sources;            /* entries of the per-source table */
	unsigned             proxy_versions;         /* PROXY_V1 | PROXY_V2 (proxy.h); 0: off */
	struct access_list   proxy_from;             /* peers that must send a header */
	int                  proxy_direct;           /* others are served directly (1) or closed */
	double               proxy_timeout;          /* seconds for the header to arrive */
	size_t               proxy_max;              /* the longest v2 header accepted */
	struct tls_conf      tls;
	int                  line;                   /* line of the section header */
};

/* [output] type. */
enum output_type { OUTPUT_FILE, OUTPUT_KAFKA };
/* [kafka] key: what a record's message key is. */
enum kafka_key { KAFKA_KEY_NONE, KAFKA_KEY_FIELD, KAFKA_KEY_PEER };

#define CONFIG_MAX_KAFKA_PROPS 32

/* The [kafka] section (kafka.h builds the producer from it). */
struct kafka_conf {
	char     brokers[1024];
	char     topic[250];
	int      key;                     /* enum kafka_key */
	char     key_field[SCHEMA_NAME_MAX];
	char     compression[8];          /* none, gzip, snappy, lz4, zstd */
	uint32_t linger_ms;
	uint32_t queue_kbytes;            /* 0: librdkafka's default */
	char     acks[4];                 /* all, 1, 0 */
	int      idempotence;
	char     spill_path[CONFIG_PATH_MAX];
	int      line;                    /* of the section header */
	size_t   nprops;                  /* rdkafka.NAME = VALUE, checked by kafka.c */
	struct {
		char name[64], value[512];
		int  line;
	} props[CONFIG_MAX_KAFKA_PROPS];
};

struct config {
	char                 source[4096];    /* file path, or "(default)" */
	size_t               workers;         /* event-loop threads; 0 = auto (worker.h) */
	struct listener_conf listeners[CONFIG_MAX_LISTENERS];
	size_t               nlisteners;
	/* Declared layouts; listeners point into this array (or at built-ins). */
	struct schema        schemas[CONFIG_MAX_SCHEMAS];
	size_t               nschemas;

	int                  output_type;        /* enum output_type */
	char                 output_path[4096];  /* "-" is stdout */
	int                  metadata;           /* 1: add _listener, _schema, ... */
	size_t               cache_window;       /* bytes of newest output kept cached; 0 = off */
	size_t               preallocate;        /* output file blocks allocated ahead; 0 = off */

	struct pool_conf     pool;
	struct kafka_conf    kafka;              /* output_type == OUTPUT_KAFKA */

	size_t               max_connections;
	double               idle_timeout;       /* seconds; 0 = never */
	double               shutdown_timeout;   /* seconds a SIGTERM may take to drain */

	int                  log_level;          /* enum log_level */
	double               stats_interval;     /* seconds; 0 = never */

	int                  metrics_enabled;    /* serve /metrics and /healthz */
	char                 metrics_address[64];
	uint16_t             metrics_port;
	double               unhealthy_after;    /* paused this long: /healthz 503 */
};

/* The embedded default config's text (config/ingestd.ini as built); static
 * storage, never NULL.  A function because the generated header defines the
 * text as a static array, which cannot be re-exported under another name. */
const char *config_default_text(void);

/*
 * Loads path (or the embedded default when path is NULL) into *c, which is
 * first reset to defaults.  Returns 0, or -1 with a one-line message in err
 * ("FILE:LINE: key: what is wrong").  After a failure *c holds a partial
 * parse and must not be used (load into a scratch struct to keep a running
 * config on reload).
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Loads INI text already in memory; `source` names it in messages. */
int config_load_text(struct config *c, const char *text, const char *source, char *err,
		     size_t errlen);

#endif
