/* stats: the counter storage and names (see stats.h). */
#include "stats.h"

uint64_t stats[STAT__COUNT];

const char *const stats_names[STAT__COUNT] = {
#define X(name) #name,
	STATS_COUNTERS(X)
#undef X
};
