/*
 * version: ingestd's version, written in this one place (the binary's
 * --version and /metrics' ingestd_build_info read it; so does packaging).
 * INGESTD_INIH_VERSION and INGESTD_DRAGONBOX_VERSION come from the build
 * (pkg-config and the header directory): those libraries have no version
 * call of their own.
 */
#ifndef INGESTD_VERSION_H
#define INGESTD_VERSION_H

#define INGESTD_VERSION "0.9.0"

#ifndef INGESTD_INIH_VERSION
#define INGESTD_INIH_VERSION "unknown"
#endif
#ifndef INGESTD_DRAGONBOX_VERSION
#define INGESTD_DRAGONBOX_VERSION "unknown"
#endif

#include <stddef.h>

/* "libev 4.33, inih 55, ..." for the libraries ingestd runs with, into
 * out (NUL-terminated).  Returns out. */
char *version_libraries(char *out, size_t len);
/* The same as Prometheus labels (version="0.9.0",libev="4.33",...) for
 * ingestd_build_info.  Returns out. */
char *version_labels(char *out, size_t len);

#endif
