/* The list of suites, in report order. Each suite lives in its own
 * cases_<name>.c and exports pc_suite_<name>. */
#include "runner.h"

extern const pc_suite pc_suite_frame;
extern const pc_suite pc_suite_hello;
extern const pc_suite pc_suite_auth;
extern const pc_suite pc_suite_hb;
extern const pc_suite pc_suite_error;
extern const pc_suite pc_suite_http;
extern const pc_suite pc_suite_send;
extern const pc_suite pc_suite_order;
extern const pc_suite pc_suite_fanout;
extern const pc_suite pc_suite_receipt;
extern const pc_suite pc_suite_resume;
extern const pc_suite pc_suite_history;
extern const pc_suite pc_suite_typing;
extern const pc_suite pc_suite_presence;
extern const pc_suite pc_suite_call;
extern const pc_suite pc_suite_authz;
extern const pc_suite pc_suite_abuse;
extern const pc_suite pc_suite_client;

const pc_suite *const pc_suites[] = {
  &pc_suite_frame,
  &pc_suite_hello,
  &pc_suite_auth,
  &pc_suite_hb,
  &pc_suite_error,
  &pc_suite_http,
  &pc_suite_send,
  &pc_suite_order,
  &pc_suite_fanout,
  &pc_suite_receipt,
  &pc_suite_resume,
  &pc_suite_history,
  &pc_suite_typing,
  &pc_suite_presence,
  &pc_suite_call,
  &pc_suite_authz,
  &pc_suite_abuse,
  &pc_suite_client,
  NULL,
};
