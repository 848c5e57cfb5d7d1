/* version: the libraries ingestd was built with and runs on (version.h). */
#include "version.h"

#include <ev.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <zlib.h>

char *
version_libraries(char *out, size_t len)
{
	snprintf(out, len, "libev %d.%d, inih %s, jansson %s, zlib %s, %s, librdkafka %s, "
		 "Dragonbox %s", ev_version_major(), ev_version_minor(), INGESTD_INIH_VERSION,
		 jansson_version_str(), zlibVersion(), OpenSSL_version(OPENSSL_VERSION),
		 rd_kafka_version_str(), INGESTD_DRAGONBOX_VERSION);
	return out;
}

char *
version_labels(char *out, size_t len)
{
	snprintf(out, len, "version=\"%s\",libev=\"%d.%d\",inih=\"%s\",jansson=\"%s\",zlib=\"%s\","
		 "openssl=\"%s\",librdkafka=\"%s\",dragonbox=\"%s\"", INGESTD_VERSION,
		 ev_version_major(), ev_version_minor(), INGESTD_INIH_VERSION, jansson_version_str(),
		 zlibVersion(), OpenSSL_version(OPENSSL_VERSION_STRING), rd_kafka_version_str(),
		 INGESTD_DRAGONBOX_VERSION);
	return out;
}
