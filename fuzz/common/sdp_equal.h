/* Field-by-field equality of the SDP parser's results, for the round-trip
 * oracles of the sdp and candidate harnesses (a memcmp would also compare
 * the octets after each string's NUL). */
#ifndef FUZZ_SDP_EQUAL_H
#define FUZZ_SDP_EQUAL_H

#include <stdbool.h>
#include <string.h>

#include "parley/sdp.h"

#define STR_EQ(a, b, f) (strcmp((a)->f, (b)->f) == 0)

static inline bool fuzz_candidate_equal(const parley_candidate *a,
                                        const parley_candidate *b)
{
  return STR_EQ(a, b, foundation) && a->component == b->component &&
         STR_EQ(a, b, transport) && a->priority == b->priority &&
         STR_EQ(a, b, address) && a->port == b->port &&
         STR_EQ(a, b, type) && a->has_related == b->has_related &&
         (!a->has_related ||
          (STR_EQ(a, b, raddr) && a->rport == b->rport)) &&
         STR_EQ(a, b, tcptype);
}

static inline bool fuzz_media_equal(const parley_sdp_media *a,
                                    const parley_sdp_media *b)
{
  return STR_EQ(a, b, kind) && a->port == b->port &&
         STR_EQ(a, b, proto) && STR_EQ(a, b, formats) &&
         a->opus_pt == b->opus_pt && a->fec == b->fec &&
         STR_EQ(a, b, mid) && a->rtcp_mux == b->rtcp_mux &&
         a->direction == b->direction && STR_EQ(a, b, ice_ufrag) &&
         STR_EQ(a, b, ice_pwd) && STR_EQ(a, b, fp_alg) &&
         STR_EQ(a, b, fingerprint) && a->setup == b->setup &&
         a->candidate_first == b->candidate_first &&
         a->candidate_count == b->candidate_count &&
         a->end_of_candidates == b->end_of_candidates;
}

static inline bool fuzz_sdp_equal(const parley_sdp *a, const parley_sdp *b)
{
  if (!STR_EQ(a, b, origin_user) || a->sess_id != b->sess_id ||
      a->sess_version != b->sess_version || !STR_EQ(a, b, origin_addr) ||
      a->ice_trickle != b->ice_trickle || a->media_count != b->media_count ||
      a->candidate_count != b->candidate_count)
    return false;
  for (size_t i = 0; i < a->media_count; i++)
    if (!fuzz_media_equal(&a->media[i], &b->media[i]))
      return false;
  for (size_t i = 0; i < a->candidate_count; i++)
    if (!fuzz_candidate_equal(&a->candidates[i], &b->candidates[i]))
      return false;
  return true;
}

#undef STR_EQ
#endif
