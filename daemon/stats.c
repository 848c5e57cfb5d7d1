/* stats: the counter blocks and names (see stats.h). */
#include "stats.h"

#include <string.h>

struct stats_block stats_blocks[STATS_MAX_BLOCKS];
_Thread_local struct stats_block *stats_mine = &stats_blocks[0];

const char *const stats_names[STAT__COUNT] = {
#define X(name) #name,
	STATS_COUNTERS(X)
#undef X
};

const enum stats_counter stats_frame_rejections[STATS_FRAME_REJECTIONS] = {
	STAT_bad_magic, STAT_bad_size, STAT_bad_type, STAT_bad_checksum, STAT_oversize,
	STAT_truncated,
};

void
stats_bind(size_t index)
{
	stats_mine = &stats_blocks[index < STATS_MAX_BLOCKS ? index : 0];
}

uint64_t
stats_get_block(size_t index, enum stats_counter k)
{
	return atomic_load_explicit(&stats_blocks[index].c[k], memory_order_relaxed);
}

uint64_t
stats_get(enum stats_counter k)
{
	uint64_t sum = 0;

	for (size_t b = 0; b < STATS_MAX_BLOCKS; b++)
		sum += stats_get_block(b, k);
	return sum;
}

void
stats_snapshot(struct stats_snapshot *s)
{
	for (int k = 0; k < STAT__COUNT; k++)
		s->c[k] = stats_get((enum stats_counter)k);
}

void
stats_view_counters(struct stats_view *v, double now)
{
	memset(v, 0, sizeof(*v));
	stats_snapshot(&v->counters);
	v->now = now;
}

#ifdef INGESTD_TESTING
void
stats_set(enum stats_counter k, uint64_t v)
{
	for (size_t b = 0; b < STATS_MAX_BLOCKS; b++)
		if (&stats_blocks[b] != stats_mine)
			atomic_store_explicit(&stats_blocks[b].c[k], 0, memory_order_relaxed);
	atomic_store_explicit(&stats_mine->c[k], v, memory_order_relaxed);
}

void
stats_reset(void)
{
	for (size_t b = 0; b < STATS_MAX_BLOCKS; b++)
		for (int k = 0; k < STAT__COUNT; k++)
			atomic_store_explicit(&stats_blocks[b].c[k], 0, memory_order_relaxed);
}
#endif
