/*
 * Unit tests for config: the embedded default and config/ingestd.ini load
 * to the documented values; good variants parse as meant; every kind of
 * bad config is refused with its exact one-line message (FILE:LINE: key:
 * what is wrong).  Bad configs are written to mkstemp() files so the file
 * path, the file reader and the line numbers are all exercised.
 * Run from the repository root (config/ingestd.ini is read by path).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define EXAMPLE_PATH "config/ingestd.ini"

/* struct config is large (listener maps), so tests keep it off the stack. */
static struct config *
new_config(void)
{
	struct config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

/* Writes text to a fresh temporary file; returns its malloc'd path. */
static char *
write_temp(const char *text)
{
	char *path = strdup("/tmp/ingestd-test-config-XXXXXX");
	int fd;
	size_t len = strlen(text);

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

/* Loads text through a temp file; returns config_load's result. */
static int
load_via_file(struct config *c, const char *text, char *err, size_t errlen, char **path_out)
{
	char *path = write_temp(text);
	int rc = config_load(c, path, err, errlen);

	unlink(path);
	*path_out = path;
	return rc;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The documented default (config/ingestd.ini), field by field. */
static void
check_default_values(const struct config *c)
{
	const struct schema *s24 = schema_find("sensor24");
	const struct schema *l16 = schema_find("legacy16");
	static const char *const names[] = { "sensors", "mixed", "legacy" };

	assert_non_null(s24);
	assert_non_null(l16);
	assert_string_equal(c->output_path, "-");
	assert_int_equal(c->workers, 0);   /* auto */
	assert_int_equal(c->metadata, 1);
	assert_int_equal(c->cache_window, 67108864);
	assert_int_equal(c->preallocate, 16777216);
	assert_int_equal(c->pool.slab_size, 131072);
	assert_int_equal(c->pool.slabs, 256);
	assert_int_equal(c->pool.overflow, 0);
	assert_int_equal(c->pool.reserve, 2);
	assert_int_equal(c->pool.max_waiters, 64);
	assert_int_equal(c->pool.waiters_low, 16);
	assert_int_equal(c->max_connections, 4096);
	assert_true(c->idle_timeout == 300.0);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_true(c->stats_interval == 60.0);

	assert_int_equal(c->nlisteners, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(c->listeners[i].name, names[i]);
		assert_string_equal(c->listeners[i].address, "127.0.0.1");
		assert_int_equal(c->listeners[i].port, 7001 + i);
		assert_true(c->listeners[i].line > 0);
	}

	const struct listener_conf *l = &c->listeners[0];
	assert_int_equal(l->framer.kind, FRAMING_FIXED);
	assert_ptr_equal(l->schemas[0], s24);
	assert_int_equal(l->framer.fixed_size, 24);
	for (int t = 0; t < 256; t++)
		assert_null(l->tlv_map[t]);

	l = &c->listeners[1];
	assert_int_equal(l->framer.kind, FRAMING_TLV);
	assert_int_equal(l->nschemas, 0);
	assert_int_equal(l->framer.max_value, 65535);
	for (int t = 0; t < 256; t++)
		assert_ptr_equal(l->tlv_map[t], t == 1 ? s24 : t == 2 ? l16 : NULL);

	l = &c->listeners[2];
	assert_int_equal(l->framer.kind, FRAMING_FIXED);
	assert_ptr_equal(l->schemas[0], l16);
	assert_int_equal(l->framer.fixed_size, 16);
}

/* Everything but the source name. */
static void
assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->output_path, b->output_path);
	assert_int_equal(a->metadata, b->metadata);
	assert_int_equal(a->cache_window, b->cache_window);
	assert_int_equal(a->preallocate, b->preallocate);
	assert_memory_equal(&a->pool, &b->pool, sizeof(a->pool));
	assert_int_equal(a->max_connections, b->max_connections);
	assert_true(a->idle_timeout == b->idle_timeout);
	assert_int_equal(a->log_level, b->log_level);
	assert_true(a->stats_interval == b->stats_interval);
	assert_int_equal(a->nlisteners, b->nlisteners);
	for (size_t i = 0; i < a->nlisteners; i++) {
		const struct listener_conf *x = &a->listeners[i], *y = &b->listeners[i];

		assert_string_equal(x->name, y->name);
		assert_string_equal(x->address, y->address);
		assert_int_equal(x->port, y->port);
		assert_int_equal(x->framer.kind, y->framer.kind);
		assert_int_equal(x->framer.fixed_size, y->framer.fixed_size);
		assert_int_equal(x->framer.max_value, y->framer.max_value);
		assert_int_equal(x->nschemas, y->nschemas);
		assert_memory_equal(x->schemas, y->schemas, sizeof(x->schemas));
		assert_memory_equal(x->tlv_map, y->tlv_map, sizeof(x->tlv_map));
		assert_int_equal(x->line, y->line);
	}
}

/* ---- good configs ---- */

static void
test_default_loads(void **state)
{
	struct config *c = new_config();
	char err[512] = "";

	(void)state;
	assert_int_equal(config_load(c, NULL, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c->source, "(default)");
	check_default_values(c);
	free(c);
}

static void
test_example_file_equals_default(void **state)
{
	struct config *def = new_config(), *file = new_config();
	char err[512] = "";

	(void)state;
	assert_int_equal(config_load(def, NULL, err, sizeof(err)), 0);
	if (config_load(file, EXAMPLE_PATH, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(file->source, EXAMPLE_PATH);
	check_default_values(file);
	assert_config_equal(def, file);
	free(def);
	free(file);
}

/* The embedded text is the example file as it stands (a stale build of the
 * generated header would make the documented default a lie). */
static void
test_embedded_text_is_example(void **state)
{
	char *text = read_file(EXAMPLE_PATH);

	(void)state;
	assert_string_equal(config_default_text(), text);
	free(text);
}

#define FIXED_A "[listener a]\naddress = 127.0.0.1\nport = 7001\nframing = fixed\n" \
		"schema = sensor24\n"

static void
test_variants(void **state)
{
	struct config *c = new_config();
	char err[512] = "";
	const char *text =
		"\xEF\xBB\xBF; BOM, comments and odd spacing are fine\r\n"
		"# hash comment\n"
		"  [ output ]   ; trimmed header, trailing comment\n"
		"path=/var/lib/ingestd/out;1.jsonl   ; ';' after a blank starts a comment\n"
		"metadata = OFF\n"
		"cache_window = 0\n"
		"preallocate = 1048576\n"
		"[pool]\r\n"
		"slab_size = 4096\n"
		"slabs = 2\n"
		"overflow = 65536\n"
		"reserve = 1\n"
		"max_waiters = 1\n"
		"waiters_low = 0\n"
		"[limits]\n"
		"max_connections = 1000000\n"
		"idle_timeout = 0.25\n"
		"[log]\n"
		"level = DEBUG\n"
		"stats_interval = 0\n"
		"[listener v6.any_1-x]\n"
		"address = ::\n"
		"port = 0\n"
		"framing = tlv\n"
		"type.255 = legacy16\n"
		"type.07 = sensor24\n"
		"max_frame = 4093\n"
		"[listener\tsecond]\n"
		"address = 0.0.0.0\n"
		"port = 0\n"     /* port 0 twice: ephemeral ports never clash */
		"framing = tlv\n"
		"max_frame = 0\n"
		"[listener third]\n"
		"schema = legacy16\n"  /* keys in any order */
		"framing = fixed\n"
		"port = 65535\n"
		"address = ::1\n";

	(void)state;
	if (config_load_text(c, text, "variants", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->source, "variants");
	assert_string_equal(c->output_path, "/var/lib/ingestd/out;1.jsonl");
	assert_int_equal(c->metadata, 0);
	assert_int_equal(c->cache_window, 0);
	assert_int_equal(c->preallocate, 1048576);
	assert_int_equal(c->pool.slab_size, 4096);
	assert_int_equal(c->pool.slabs, 2);
	assert_int_equal(c->pool.overflow, 65536);
	assert_int_equal(c->pool.reserve, 1);
	assert_int_equal(c->pool.max_waiters, 1);
	assert_int_equal(c->pool.waiters_low, 0);
	assert_int_equal(c->max_connections, 1000000);
	assert_true(c->idle_timeout == 0.25);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_true(c->stats_interval == 0.0);
	assert_int_equal(c->nlisteners, 3);

	const struct listener_conf *l = &c->listeners[0];
	assert_string_equal(l->name, "v6.any_1-x");
	assert_string_equal(l->address, "::");
	assert_int_equal(l->port, 0);
	assert_int_equal(l->framer.kind, FRAMING_TLV);
	assert_int_equal(l->framer.max_value, 4093);
	assert_ptr_equal(l->tlv_map[255], schema_find("legacy16"));
	assert_ptr_equal(l->tlv_map[7], schema_find("sensor24"));
	assert_null(l->tlv_map[1]);
	assert_int_equal(l->line, 21);

	l = &c->listeners[1];
	assert_string_equal(l->name, "second");
	assert_int_equal(l->framer.max_value, 0);
	for (int t = 0; t < 256; t++)
		assert_null(l->tlv_map[t]);

	l = &c->listeners[2];
	assert_string_equal(l->address, "::1");
	assert_int_equal(l->port, 65535);
	assert_int_equal(l->framer.kind, FRAMING_FIXED);
	assert_int_equal(l->framer.fixed_size, 16);
	free(c);
}

/* A line of exactly the limit is fine; one more character is not. */
static void
test_line_length_limit(void **state)
{
	struct config *c = new_config();
	char err[512] = "", want[512];
	size_t n = 8192;
	char *text = malloc(n + 200), *path;

	(void)state;
	assert_non_null(text);
	strcpy(text, FIXED_A ";");
	memset(text + strlen(text), 'x', n - 1);
	strcpy(text + strlen(FIXED_A) + n, "\n[output]\n");
	if (config_load_text(c, text, "t", err, sizeof(err)) != 0)
		fail_msg("%s", err);

	strcpy(text, FIXED_A "[output]\npath = ");
	memset(text + strlen(text), 'x', n + 1 - strlen("path = "));
	strcpy(text + strlen(FIXED_A "[output]\n") + n + 1, "\nmetadata = on\n");
	assert_int_equal(load_via_file(c, text, err, sizeof(err), &path), -1);
	snprintf(want, sizeof(want), "%s:7: line too long (over 8192 characters)", path);
	assert_string_equal(err, want);
	free(path);
	free(text);
	free(c);
}

/* CONFIG_MAX_LISTENERS listeners fit; one more is refused at its header. */
static void
test_listener_limit(void **state)
{
	struct config *c = new_config();
	char err[512] = "", want[512];
	size_t size = (CONFIG_MAX_LISTENERS + 1) * 128, n = 0;
	char *text = malloc(size);

	(void)state;
	assert_non_null(text);
	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++)
		n += (size_t)snprintf(text + n, size - n, "[listener l%d]\naddress = ::1\n"
				      "port = 0\nframing = tlv\n", i);
	if (config_load_text(c, text, "t", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->nlisteners, CONFIG_MAX_LISTENERS);

	snprintf(text + n, size - n, "[listener extra]\n");
	assert_int_equal(config_load_text(c, text, "t", err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "t:%d: [listener extra]: too many listeners (at most %d)",
		 CONFIG_MAX_LISTENERS * 4 + 1, CONFIG_MAX_LISTENERS);
	assert_string_equal(err, want);
	free(text);
	free(c);
}

static void
test_unopenable_file(void **state)
{
	struct config *c = new_config();
	char err[512] = "";

	(void)state;
	assert_int_equal(config_load(c, "/nonexistent/ingestd.ini", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/ingestd.ini: cannot open: No such file or directory");
	free(c);
}

/* Messages name the source given to config_load_text. */
static void
test_text_source_name(void **state)
{
	struct config *c = new_config();
	char err[512] = "";

	(void)state;
	assert_int_equal(config_load_text(c, "[log]\nlevel = loud\n", "(default)", err,
					  sizeof(err)), -1);
	assert_string_equal(err, "(default):2: level: \"loud\" is not a log level "
			    "(error, warning, info, debug)");
	free(c);
}

/* A short err buffer gets a truncated, terminated message. */
static void
test_small_err_buffer(void **state)
{
	struct config *c = new_config();
	char err[8];

	(void)state;
	memset(err, 'z', sizeof(err));
	assert_int_equal(config_load_text(c, "[nope]\n", "source", err, sizeof(err)), -1);
	assert_string_equal(err, "source:");
	assert_int_equal(config_load_text(c, "[nope]\n", "source", NULL, 0), -1);
	free(c);
}

/* inih's settings are process-wide; loading must leave them as it found them. */
static void
test_inih_settings_restored(void **state)
{
	struct config *c = new_config();
	char err[512];
	bool multiline = ini_allow_multiline;
	int max_line = ini_max_line;

	(void)state;
	assert_int_equal(config_load(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(ini_allow_multiline, multiline);
	assert_int_equal(ini_max_line, max_line);
	free(c);
}

/* ---- bad configs: text, and the message with "%s" for the file path ---- */

#define TLV_T "[listener t]\naddress = ::1\nport = 7009\nframing = tlv\n"

struct bad_case {
	const char *name;
	const char *text;
	const char *want;
};

static struct bad_case bad_cases[] = {  /* not const: cmocka state is void * */
	{ "unknown_section",
	  "[output]\npath = -\n\n[listner x]\naddress = ::1\n",
	  "%s:4: [listner x]: unknown section (known: daemon, output, pool, limits, log, "
	  "metrics, kafka, listener NAME, schema NAME)" },
	{ "unknown_empty_section",
	  FIXED_A "[statistics]\n",
	  "%s:6: [statistics]: unknown section (known: daemon, output, pool, limits, log, "
	  "metrics, kafka, listener NAME, schema NAME)" },
	{ "unknown_key",
	  "[output]\ncolour = red\n",
	  "%s:2: colour: unknown key in [output] (known: type, path, metadata, cache_window, preallocate)" },
	{ "unknown_listener_key",
	  FIXED_A "colour = red\n",
	  "%s:6: colour: unknown key in [listener a] (known: address, port, framing, schema, "
	  "type.N, max_frame, recv_buffer, on_bad_frame, max_resync, allow, deny, "
	  "max_conns_per_source, max_sources, proxy_protocol, proxy_from, proxy_direct, "
	  "proxy_timeout, proxy_max, tls, tls_cert, tls_key, tls_ca, tls_crl, tls_min_version, "
	  "tls_handshake_timeout, tls_bind)" },
	{ "key_in_wrong_section",
	  "[pool]\nlevel = info\n",
	  "%s:2: level: unknown key in [pool] (known: slab_size, slabs, overflow, reserve, "
	  "max_waiters, waiters_low, max_retained)" },
	{ "long_unknown_key",
	  "[log]\nthis_key_name_is_much_longer_than_inih_keeps_it_is_sixty = 1\n",
	  "%s:2: this_key_name_is_much_longer_than_inih_keeps_it_is_sixty: unknown key in [log] "
	  "(known: level, stats_interval)" },
	{ "key_outside_section",
	  "; comment\npath = -\n[output]\n",
	  "%s:2: path: key outside any section (keys belong under a [section])" },
	{ "bad_integer",
	  "[pool]\nslabs = 12x\n",
	  "%s:2: slabs: \"12x\" is not an integer" },
	{ "negative_integer",
	  "[limits]\nmax_connections = -1\n",
	  "%s:2: max_connections: \"-1\" is not an integer" },
	{ "plus_sign",
	  "[pool]\noverflow = +1\n",
	  "%s:2: overflow: \"+1\" is not an integer" },
	{ "integer_overflow",
	  "[pool]\nslabs = 99999999999999999999999\n",
	  "%s:2: slabs: \"99999999999999999999999\" is out of range (2-1048576)" },
	{ "out_of_range",
	  "[pool]\nslab_size = 1024\n",
	  "%s:2: slab_size: \"1024\" is out of range (4096-16777216)" },
	{ "zero_max_connections",
	  "[limits]\nmax_connections = 0\n",
	  "%s:2: max_connections: \"0\" is out of range (1-1000000)" },
	{ "bad_port",
	  "[listener a]\naddress = 127.0.0.1\nport = 70000\n",
	  "%s:3: port: \"70000\" is not a port number (0-65535)" },
	{ "bad_port_text",
	  "[listener a]\naddress = 127.0.0.1\nport = http\n",
	  "%s:3: port: \"http\" is not a port number (0-65535)" },
	{ "port_with_hash_comment",
	  "[listener a]\naddress = 127.0.0.1\nport = 7001 # only ; starts inline comments\n",
	  "%s:3: port: \"7001 # only\" is not a port number (0-65535)" },
	{ "cache_window_small",
	  "[output]\ncache_window = 65536\n",
	  "%s:2: cache_window: \"65536\" is too small (0 turns it off; otherwise at least 1048576)" },
	{ "cache_window_suffix",
	  "[output]\ncache_window = 64M\n",
	  "%s:2: cache_window: \"64M\" is not an integer" },
	{ "preallocate_small",
	  "[output]\npreallocate = 4096\n",
	  "%s:2: preallocate: \"4096\" is too small (0 turns it off; otherwise at least 1048576)" },
	{ "preallocate_large",
	  "[output]\npreallocate = 2147483648\n",
	  "%s:2: preallocate: \"2147483648\" is out of range (0-1073741824)" },
	{ "preallocate_negative",
	  "[output]\npreallocate = -1\n",
	  "%s:2: preallocate: \"-1\" is not an integer" },
	{ "control_bytes_escaped",
	  "[output]\nmetadata = \x1b[31mred\x7f\n",
	  "%s:2: metadata: \"\\x1b[31mred\\x7f\" is not a boolean (on/off, yes/no, true/false, 1/0)" },
	{ "bad_bool",
	  "[output]\nmetadata = maybe\n",
	  "%s:2: metadata: \"maybe\" is not a boolean (on/off, yes/no, true/false, 1/0)" },
	{ "bad_duration",
	  "[limits]\nidle_timeout = 5m\n",
	  "%s:2: idle_timeout: \"5m\" is not a duration in seconds (e.g. 300 or 2.5)" },
	{ "duration_exponent",
	  "[log]\nstats_interval = 1e3\n",
	  "%s:2: stats_interval: \"1e3\" is not a duration in seconds (e.g. 300 or 2.5)" },
	{ "duration_bare_point",
	  "[limits]\nidle_timeout = 5.\n",
	  "%s:2: idle_timeout: \"5.\" is not a duration in seconds (e.g. 300 or 2.5)" },
	{ "duration_out_of_range",
	  "[limits]\nidle_timeout = 86400.5\n",
	  "%s:2: idle_timeout: \"86400.5\" is out of range (0-86400 seconds)" },
	{ "bad_level",
	  "[log]\nlevel = loud\n",
	  "%s:2: level: \"loud\" is not a log level (error, warning, info, debug)" },
	{ "empty_value",
	  "[output]\npath =\n",
	  "%s:2: path: empty value" },
	{ "empty_value_comment",
	  "[output]\npath = ; nothing\n",
	  "%s:2: path: empty value" },
	{ "duplicate_key",
	  "[output]\npath = -\nmetadata = on\npath = /tmp/x\n",
	  "%s:4: path: given twice (first at line 2)" },
	{ "duplicate_listener_key",
	  FIXED_A "port = 7002\n",
	  "%s:6: port: given twice (first at line 3)" },
	{ "duplicate_section",
	  "[pool]\n[log]\n[pool]\n",
	  "%s:3: [pool]: section given twice (first at line 1)" },
	{ "duplicate_listener_name",
	  FIXED_A "\n[listener a]\n",
	  "%s:7: [listener a]: duplicate listener name (first at line 1)" },
	{ "duplicate_address_port",
	  FIXED_A "[listener b]\naddress = 127.0.0.1\nport = 7001\nframing = tlv\n",
	  "%s:6: listener \"b\": 127.0.0.1 port 7001 is already used by listener \"a\" (line 1)" },
	{ "duplicate_ipv6_spelling",
	  "[listener a]\naddress = ::1\nport = 9\nframing = tlv\n"
	  "[listener b]\naddress = 0:0::0:1\nport = 9\nframing = tlv\n",
	  "%s:5: listener \"b\": 0:0::0:1 port 9 is already used by listener \"a\" (line 1)" },
	{ "missing_schema",
	  "[output]\n\n[listener a]\naddress = 127.0.0.1\nport = 1\nframing = fixed\n"
	  "[log]\n",
	  "%s:3: listener \"a\": missing required key \"schema\"" },
	{ "missing_address_empty_section",
	  FIXED_A "[listener b]\n",
	  "%s:6: listener \"b\": missing required key \"address\"" },
	{ "missing_framing",
	  "[listener a]\naddress = 127.0.0.1\nport = 1\nschema = sensor24\n",
	  "%s:1: listener \"a\": missing required key \"framing\"" },
	{ "schema_for_tlv",
	  "[listener a]\naddress = 127.0.0.1\nport = 1\nschema = sensor24\nframing = tlv\n",
	  "%s:4: schema: only for framing = fixed (map TLV types with type.N = SCHEMA)" },
	{ "type_for_fixed",
	  FIXED_A "type.3 = sensor24\n",
	  "%s:6: type.3: only for framing = tlv (a fixed listener has one schema)" },
	{ "type_0",
	  TLV_T "type.0 = sensor24\n",
	  "%s:5: type.0: \"0\" is not a TLV type (1-255)" },
	{ "type_256",
	  TLV_T "type.256 = sensor24\n",
	  "%s:5: type.256: \"256\" is not a TLV type (1-255)" },
	{ "type_not_number",
	  TLV_T "type.x = sensor24\n",
	  "%s:5: type.x: \"x\" is not a TLV type (1-255)" },
	{ "type_twice",
	  TLV_T "type.1 = sensor24\ntype.01 = legacy16\n",
	  "%s:6: type.01: given twice (first at line 5)" },
	{ "type_unknown_schema",
	  TLV_T "type.7 = nope\n",
	  "%s:5: type.7: \"nope\" is not a known schema (known: sensor24, legacy16)" },
	{ "unknown_schema",
	  "[listener a]\naddress = 127.0.0.1\nport = 7001\nframing = fixed\nschema = sensor99\n",
	  "%s:5: schema: \"sensor99\" is not a known schema (known: sensor24, legacy16)" },
	{ "bad_framing",
	  "[listener a]\nframing = slip\n",
	  "%s:2: framing: \"slip\" is not a framing (fixed, tlv)" },
	{ "max_frame_for_fixed",
	  FIXED_A "max_frame = 100\n",
	  "%s:6: max_frame: only for framing = tlv (a fixed frame is its schema's size)" },
	{ "max_frame_out_of_range",
	  TLV_T "max_frame = 65536\n",
	  "%s:5: max_frame: \"65536\" is out of range (0-65535)" },
	{ "slab_too_small_for_max_frame",
	  "[pool]\nslab_size = 4096\n" TLV_T "max_frame = 5000\n",
	  "%s:7: listener \"t\": max_frame 5000 needs slab_size >= 5003 (a whole frame must fit "
	  "in one slab), but slab_size is 4096" },
	{ "slab_too_small_for_default_max_frame",
	  FIXED_A TLV_T "[pool]\nslab_size = 65536\n",
	  "%s:6: listener \"t\": max_frame 65535 needs slab_size >= 65538 (a whole frame must "
	  "fit in one slab), but slab_size is 65536" },
	{ "proxy_without_from",
	  FIXED_A "proxy_protocol = v2\n",
	  "%s:6: proxy_protocol: needs proxy_from (the balancers' addresses: a header is "
	  "expected from them, never guessed)" },
	{ "proxy_from_without_protocol",
	  FIXED_A "proxy_from = 10.0.0.1\n",
	  "%s:6: proxy_from: only with proxy_protocol = v1, v2 or any" },
	{ "proxy_protocol_unknown",
	  FIXED_A "proxy_protocol = v3\n",
	  "%s:6: proxy_protocol: \"v3\" is not a choice (off, v1, v2, any)" },
	{ "proxy_max_over_slab",
	  "[pool]\nslab_size = 4096\n" FIXED_A "proxy_protocol = any\nproxy_from = ::1\n"
	  "proxy_max = 5000\n",
	  "%s:3: listener \"a\": proxy_max 5000 is more than slab_size (4096): a PROXY header "
	  "must fit in one slab" },
	{ "tls_not_a_boolean",
	  FIXED_A "tls = maybe\n",
	  "%s:6: tls: \"maybe\" is not a boolean (on/off, yes/no, true/false, 1/0)" },
	{ "tls_without_cert",
	  FIXED_A "tls = on\ntls_key = k.pem\n",
	  "%s:6: tls: needs tls_cert and tls_key (the server's certificate chain and its "
	  "private key, PEM)" },
	{ "tls_key_without_tls",
	  FIXED_A "tls_cert = c.pem\n",
	  "%s:6: tls_cert: only with tls = on" },
	{ "tls_crl_without_ca",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_crl = r.pem\n",
	  "%s:9: tls_crl: only with tls_ca (revocation is of client certificates)" },
	{ "tls_bind_without_ca",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_bind = sensorId\n",
	  "%s:9: tls_bind: only with tls_ca (the identity comes from the client certificate)" },
	{ "tls_bind_no_such_field",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_ca = ca.pem\n"
	  "tls_bind = serial\n",
	  "%s:10: tls_bind: schema \"sensor24\" has no such field \"serial\"" },
	{ "tls_bind_not_an_integer",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_ca = ca.pem\n"
	  "tls_bind = pressure\n",
	  "%s:10: tls_bind: schema \"sensor24\" is not an integer field (no float, str, hex, "
	  "scale, div or add) \"pressure\"" },
	{ "tls_min_version_unknown",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_min_version = 1.1\n",
	  "%s:9: tls_min_version: \"1.1\" is not a choice (1.2, 1.3)" },
	{ "tls_handshake_timeout_zero",
	  FIXED_A "tls = on\ntls_cert = c.pem\ntls_key = k.pem\ntls_handshake_timeout = 0\n",
	  "%s:9: tls_handshake_timeout: \"0\" is out of range (1-3600 seconds)" },
	{ "tls_with_proxy",
	  FIXED_A "proxy_protocol = v2\nproxy_from = 10.0.0.1\ntls = on\ntls_cert = c.pem\n"
	  "tls_key = k.pem\n",
	  "%s:8: tls: not with proxy_protocol on the same listener (not supported yet: "
	  "terminate TLS on the balancer, or connect sensors directly)" },
	{ "allow_bad_prefix",
	  FIXED_A "allow = 10.0.0.0/40\n",
	  "%s:6: allow: \"10.0.0.0/40\": the prefix length must be 0 .. 32" },
	{ "workers_not_a_number",
	  "[daemon]\nworkers = many\n" FIXED_A,
	  "%s:2: workers: \"many\" is not auto or a number of workers (1 .. 64)" },
	{ "workers_zero",
	  "[daemon]\nworkers = 0\n" FIXED_A,
	  "%s:2: workers: \"0\" is not auto or a number of workers (1 .. 64)" },
	{ "workers_over_64",
	  "[daemon]\nworkers = 65\n" FIXED_A,
	  "%s:2: workers: \"65\" is not auto or a number of workers (1 .. 64)" },
	{ "workers_more_than_the_pool_can_share",
	  "[daemon]\nworkers = 4\n[pool]\nslabs = 12\n" FIXED_A,
	  "%s:2: workers: 4 workers need at least 16 slabs (reserve + 2 = 4 each), and [pool] "
	  "slabs is 12" },
	{ "waiters_low_not_below_max",
	  "[pool]\nmax_waiters = 10\nwaiters_low = 10\n" FIXED_A,
	  "%s:3: waiters_low: 10 must be less than max_waiters (10)" },
	{ "max_waiters_below_default_low",
	  "[pool]\nmax_waiters = 8\n" FIXED_A,
	  "%s:2: max_waiters: 8 must be greater than waiters_low (16)" },
	{ "reserve_not_below_slabs",
	  "[pool]\nslabs = 4\nreserve = 4\n" FIXED_A,
	  "%s:3: reserve: 4 must be less than slabs (4)" },
	{ "slabs_not_above_default_reserve",
	  "[pool]\nslabs = 2\n" FIXED_A,
	  "%s:2: slabs: 2 must be greater than reserve (2)" },
	{ "no_listener",
	  "[output]\npath = -\n",
	  "%s: no [listener NAME] section" },
	{ "empty_file",
	  "",
	  "%s: no [listener NAME] section" },
	{ "bad_address",
	  "[listener a]\naddress = localhost\n",
	  "%s:2: address: \"localhost\" is not a numeric IPv4 or IPv6 address" },
	{ "address_with_port",
	  "[listener a]\naddress = 127.0.0.1:7001\n",
	  "%s:2: address: \"127.0.0.1:7001\" is not a numeric IPv4 or IPv6 address" },
	{ "listener_without_name",
	  "[listener]\n",
	  "%s:1: [listener]: a listener needs a name ([listener NAME])" },
	{ "bad_listener_name",
	  "[listener a/b]\n",
	  "%s:1: [listener a/b]: bad listener name \"a/b\" (1-63 characters of A-Z a-z 0-9 _ . -)" },
	{ "listener_name_too_long",
	  "[listener 0123456789012345678901234567890123456789012345678901234567890123]\n",
	  "%s:1: [listener 0123456789012345678901234567890123456789012345678901234567890123]: "
	  "bad listener name \"0123456789012345678901234567890123456789012345678901234567890123\""
	  " (1-63 characters of A-Z a-z 0-9 _ . -)" },
	{ "syntax_error",
	  "[output]\npath -\n",
	  "%s:2: syntax error (expected \"key = value\" or \"[section]\")" },
	{ "continuation_line",
	  "[output]\npath = -\n  /more\n",
	  "%s:3: syntax error (expected \"key = value\" or \"[section]\")" },
	{ "unterminated_header",
	  FIXED_A "[output\n",
	  "%s:6: syntax error (expected \"key = value\" or \"[section]\")" },
	{ "junk_after_header",
	  "[output] path = -\n",
	  "%s:1: syntax error (expected \"key = value\" or \"[section]\")" },
};

#define NBAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void
run_bad_case(void **state)
{
	const struct bad_case *bc = *state;
	struct config *c = new_config();
	char err[1024] = "", want[1024];
	char *path;

	assert_int_equal(load_via_file(c, bc->text, err, sizeof(err), &path), -1);
	snprintf(want, sizeof(want), bc->want, path);
	assert_string_equal(err, want);
	free(path);
	free(c);
}

static const struct CMUnitTest good_tests[] = {
	cmocka_unit_test(test_default_loads),
	cmocka_unit_test(test_example_file_equals_default),
	cmocka_unit_test(test_embedded_text_is_example),
	cmocka_unit_test(test_variants),
	cmocka_unit_test(test_line_length_limit),
	cmocka_unit_test(test_listener_limit),
	cmocka_unit_test(test_unopenable_file),
	cmocka_unit_test(test_text_source_name),
	cmocka_unit_test(test_small_err_buffer),
	cmocka_unit_test(test_inih_settings_restored),
};

#define NGOOD (sizeof(good_tests) / sizeof(good_tests[0]))

int
main(void)
{
	/* One cmocka test per bad case, named after it, so a failure says
	 * which config it was. */
	struct CMUnitTest tests[NGOOD + NBAD];

	memcpy(tests, good_tests, sizeof(good_tests));
	for (size_t i = 0; i < NBAD; i++)
		tests[NGOOD + i] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = run_bad_case,
			.initial_state = &bad_cases[i],
		};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
