/* A guard page for the parser tests (test_frame.c, test_vectors.c): an
 * input is copied so that it ends right before a page that cannot be
 * read, and scribbled over once the parser returns, so a parser that
 * reads one octet too far crashes and one that keeps a pointer into its
 * input decodes garbage. */
#ifndef PARLEY_TEST_GUARD_PAGE_H
#define PARLEY_TEST_GUARD_PAGE_H

#include <stddef.h>

/* The longest input parley_guard_place takes. */
#define PARLEY_GUARD_SPAN (192 * 1024)

/* Maps the span and its unreadable page: a Criterion suite's .init. */
void parley_guard_setup(void);

/* Unmaps them: the suite's .fini. */
void parley_guard_teardown(void);

/* Copies data[0, len) so that it ends at the unreadable page; returns the
 * copy, which the guard page owns. */
char *parley_guard_place(const void *data, size_t len);

/* Overwrites the last len octets parley_guard_place copied, once the
 * parser is done with them. */
void parley_guard_scribble(size_t len);

#endif
