/* What the SDP parser (sdp.rl), the candidate parser (candidate.rl) and
 * the writers (sdp_write.c) share; not part of the API. */
#ifndef PARLEY_SDP_INTERNAL_H
#define PARLEY_SDP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads the decimal digits [p, p + n) into *v when 1 <= n <= 20 and the
 * value is at most `max`. Returns false otherwise (*v untouched). */
bool parley_sdp_span_u64(const unsigned char *p, size_t n, uint64_t max,
                         uint64_t *v);

/* Copies [p, p + n) into dst of capacity cap, NUL-terminated, in lower
 * case when `lower`. Returns false when it does not fit. */
bool parley_sdp_span_copy(char *dst, size_t cap, const unsigned char *p,
                          size_t n, bool lower);

#endif
