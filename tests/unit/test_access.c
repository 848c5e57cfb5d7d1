/*
 * access: allow/deny lists and the per-source table (access.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "access.h"

static struct sockaddr_storage ss;

/* text as a sockaddr (IPv4 or IPv6), in a static buffer. */
static const struct sockaddr *
sa(const char *text)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') == NULL) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	}
	return (const struct sockaddr *)&ss;
}

static struct access_list *
list(const char *text)
{
	static struct access_list l[2];
	static int which;
	char err[256];

	which ^= 1;
	if (access_parse_list(&l[which], text, err, sizeof(err)) != 0)
		fail_msg("%s: %s", text, err);
	return &l[which];
}

static void
test_match(void **state)
{
	struct access_list *l = list("10.0.0.0/8 192.168.1.7\t2001:db8::/32 ::1");

	(void)state;
	assert_int_equal(l->n, 4);
	assert_true(access_match(l, sa("10.255.0.1")));
	assert_false(access_match(l, sa("11.0.0.1")));
	assert_true(access_match(l, sa("192.168.1.7")));
	assert_false(access_match(l, sa("192.168.1.8")));
	assert_true(access_match(l, sa("2001:db8:ffff::1")));
	assert_false(access_match(l, sa("2001:db9::1")));
	assert_true(access_match(l, sa("::1")));
	/* An IPv4-mapped IPv6 peer is matched as IPv4. */
	assert_true(access_match(l, sa("::ffff:10.1.2.3")));
	assert_false(access_match(l, sa("::ffff:11.1.2.3")));
	/* Prefix lengths that do not end on a byte. */
	l = list("172.16.0.0/12 fe80::/10");
	assert_true(access_match(l, sa("172.31.255.255")));
	assert_false(access_match(l, sa("172.32.0.0")));
	assert_true(access_match(l, sa("febf::1")));
	assert_false(access_match(l, sa("fec0::1")));
	l = list("0.0.0.0/0");
	assert_true(access_match(l, sa("1.2.3.4")));
	assert_false(access_match(l, sa("::2")));
}

static void
test_deny_wins(void **state)
{
	struct access_list allow, deny;
	char err[256];

	(void)state;
	assert_int_equal(access_parse_list(&allow, "127.0.0.0/8", err, sizeof(err)), 0);
	assert_int_equal(access_parse_list(&deny, "127.0.0.3", err, sizeof(err)), 0);
	assert_true(access_permits(&allow, &deny, sa("127.0.0.2")));
	assert_false(access_permits(&allow, &deny, sa("127.0.0.3")));
	assert_false(access_permits(&allow, &deny, sa("10.0.0.1")));
	assert_true(access_permits(NULL, &deny, sa("10.0.0.1")));   /* no allow: everyone */
	assert_false(access_permits(NULL, &deny, sa("127.0.0.3")));
	assert_true(access_permits(NULL, NULL, sa("::1")));
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "10.0.0.1/8", "\"10.0.0.1/8\" has address bits set past its /8 prefix (the network "
				"is 10.0.0.0/8)" },
		{ "10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be 0 .. 32" },
		{ "::/129", "\"::/129\": the prefix length must be 0 .. 128" },
		{ "10.0.0.0/", "\"10.0.0.0/\": the prefix length must be 0 .. 32" },
		{ "10.0.0.0/-1", "\"10.0.0.0/-1\": the prefix length must be 0 .. 32" },
		{ "sensors.example", "\"sensors.example\" is not an IPv4 or IPv6 address or CIDR prefix" },
		{ "10.0.0.0/8 10.0.0.0/8", "\"10.0.0.0/8\" is given twice" },
		{ "::ffff:10.0.0.0/104", "\"::ffff:10.0.0.0/104\" is an IPv4-mapped IPv6 prefix: write it "
					 "as IPv4 (connections from such addresses are matched as IPv4)" },
		{ "   ", "no prefix given" },
	};
	struct access_list l;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(access_parse_list(&l, cases[i].text, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].msg);
	}
}

static void
test_sources(void **state)
{
	struct access_sources t;
	struct access_source *held[8], *e;

	(void)state;
	assert_int_equal(access_sources_init(&t, 64, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(access_take(&t, sa("127.0.0.2"), &held[i]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("127.0.0.2"), &e), ACCESS_SOURCE_LIMIT);
	assert_null(e);
	assert_int_equal(access_take(&t, sa("127.0.0.3"), &held[3]), ACCESS_OK);
	assert_int_equal(access_held(&t, sa("127.0.0.2")), 3);
	access_release(held[0]);
	assert_int_equal(access_held(&t, sa("127.0.0.2")), 2);
	assert_int_equal(access_take(&t, sa("127.0.0.2"), &held[0]), ACCESS_OK);
	/* IPv6 sources are /64s: one host's privacy addresses count together. */
	assert_int_equal(access_take(&t, sa("2001:db8:1:2::1"), &held[4]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("2001:db8:1:2:aaaa::9"), &held[5]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("2001:db8:1:2:ffff::"), &held[6]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("2001:db8:1:2::77"), &e), ACCESS_SOURCE_LIMIT);
	assert_int_equal(access_take(&t, sa("2001:db8:1:3::1"), &held[7]), ACCESS_OK);
	for (int i = 0; i < 8; i++)
		access_release(held[i]);
	assert_int_equal(access_held(&t, sa("127.0.0.2")), 0);
	assert_int_equal(access_held(&t, sa("2001:db8:1:2::5")), 0);
	access_release(NULL);
	access_sources_free(&t);
}

/* A full table refuses new sources, and an entry freed by its last
 * connection takes a new source. */
static void
test_table_full(void **state)
{
	struct access_sources t;
	struct access_source *e[4], *x;

	(void)state;
	assert_int_equal(access_sources_init(&t, 2, 5), 0);
	assert_int_equal(access_take(&t, sa("10.0.0.1"), &e[0]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("10.0.0.2"), &e[1]), ACCESS_OK);
	assert_int_equal(access_take(&t, sa("10.0.0.3"), &x), ACCESS_TABLE_FULL);
	assert_int_equal(access_take(&t, sa("10.0.0.1"), &e[2]), ACCESS_OK);   /* known: fine */
	access_release(e[1]);
	assert_int_equal(access_take(&t, sa("10.0.0.3"), &e[3]), ACCESS_OK);
	assert_int_equal(access_held(&t, sa("10.0.0.2")), 0);
	assert_int_equal(access_held(&t, sa("10.0.0.1")), 2);
	access_sources_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_deny_wins),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
