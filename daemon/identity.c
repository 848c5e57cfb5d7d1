/* identity: the number a certificate's CN ends with (identity.h). */
#include "identity.h"

int
identity_from_cn(const char *cn, size_t len, uint64_t *id)
{
	size_t start = len;
	uint64_t v = 0;

	while (start > 0 && cn[start - 1] >= '0' && cn[start - 1] <= '9')
		start--;
	if (start == len)
		return -1;
	for (size_t i = start; i < len; i++) {
		unsigned d = (unsigned)(cn[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*id = v;
	return 0;
}
