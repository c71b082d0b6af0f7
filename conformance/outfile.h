/* outfile: a report destination written whole or not at all.
 *
 * A regular file (or a path that does not exist yet) is written to a
 * temporary file of ours in the same directory and renamed over the
 * destination once written whole; a destination that is not a regular
 * file (a FIFO, /dev/stdout, a terminal) is opened and written directly,
 * never truncated and never removed. A symbolic link to a regular file
 * keeps the link: the file it names is replaced. On failure only the
 * temporary file this module made is removed. */
#ifndef PC_OUTFILE_H
#define PC_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

typedef struct pc_outfile {
  char *dest;        /* where the report goes (resolved for a regular
                        file); owned */
  char *tmp;         /* our temporary file, NULL when writing directly;
                        owned */
  bool direct;       /* dest is not a regular file: write it in place */
  FILE *f;           /* open between pc_outfile_open and _commit */
} pc_outfile;

/* Checks that path can be written, without touching it, and for a
 * regular or missing destination makes the temporary file. flag names
 * the option in messages. Returns 0, or -1 after writing the reason to
 * err (NUL-terminated, at most n octets). */
int pc_outfile_prepare(pc_outfile *o, const char *path, char *err,
                       size_t n);
/* The stream to write the report to (the temporary file, or the
 * destination itself), or NULL after writing the reason to err. */
FILE *pc_outfile_open(pc_outfile *o, char *err, size_t n);
/* Closes the stream and renames the temporary file over the destination.
 * Returns 0, or -1 (the temporary file is removed) after writing the
 * reason to err. */
int pc_outfile_commit(pc_outfile *o, char *err, size_t n);
/* Closes the stream if open and removes the temporary file, if any;
 * never the destination. Frees what o holds. */
void pc_outfile_discard(pc_outfile *o);
/* Frees what o holds after a commit. */
void pc_outfile_free(pc_outfile *o);

/* The suffix our temporary files end with in a directory: a temporary
 * name is ".<name>.parley-tmp-<pid>-<n>". */
#define PC_OUTFILE_TMP_TAG ".parley-tmp-"

#endif
