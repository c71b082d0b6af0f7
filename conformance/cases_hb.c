/* Conformance cases: hb. */
#include "pc.h"

/* Placeholder until the suite's cases land. */
static const pc_case cases[] = {{0}};

const pc_suite pc_suite_hb = {"hb", false, cases, 0};
