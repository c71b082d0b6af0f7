/* outfile: report destinations written whole or not at all.
 *
 * Design: a destination is classified once, when the run starts
 * (pc_outfile_prepare): not a regular file -> written in place at the
 * end (opened without O_TRUNC and, for a FIFO, without waiting for a
 * reader); a regular file or a missing path -> a temporary file of ours
 * is made beside it now (so that an unwritable directory is an error
 * before the target is touched) and renamed over it once the report is
 * whole. Invariant: nothing but o->tmp, which this module created with
 * O_EXCL, is ever unlinked; no existing file is ever truncated except
 * one the user named that is not a regular file (where O_TRUNC does
 * nothing). */
#define _GNU_SOURCE
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes a temporary file beside dest, with mode. Returns its path
 * (malloc'd) or NULL with errno set. */
static char *make_tmp(const char *dest, mode_t mode)
{
  static atomic_uint serial;
  const char *slash = strrchr(dest, '/');
  size_t dlen = slash ? (size_t)(slash - dest) + 1 : 0;
  const char *base = dest + dlen;
  size_t n = strlen(dest) + 64;
  char *tmp = malloc(n);
  int fd, tries;

  if (!tmp)
    return NULL;
  for (tries = 0; tries < 100; tries++) {
    snprintf(tmp, n, "%.*s.%s%s%ld-%u", (int)dlen, dest, base,
             PC_OUTFILE_TMP_TAG, (long)getpid(), atomic_fetch_add(&serial,
                                                                  1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              mode);
    if (fd >= 0) {
      close(fd);
      return tmp;
    }
    if (errno != EEXIST)
      break;
  }
  free(tmp);
  return NULL;
}

int pc_outfile_prepare(pc_outfile *o, const char *path, char *err,
                       size_t n)
{
  struct stat st, lst;
  mode_t mode = 0666;
  int e, sr;

  memset(o, 0, sizeof *o);
  if (!path[0]) {
    snprintf(err, n, "an empty path");
    return -1;
  }
  sr = stat(path, &st);
  e = sr == 0 ? 0 : errno;
  if (sr == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      snprintf(err, n, "is a directory");
      return -1;
    }
    if (access(path, W_OK) != 0)
      goto fail_errno;
    o->direct = true;
    o->dest = strdup(path);
    return 0;
  }
  if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
    snprintf(err, n, "a symbolic link to nothing");
    return -1;
  }
  if (e == ENOENT) {
    o->dest = strdup(path);
  } else {
    errno = e;
    if (sr != 0 || !(o->dest = realpath(path, NULL)))
      goto fail_errno;
    if (access(o->dest, W_OK) != 0)
      goto fail_errno;
    mode = st.st_mode & 07777;
  }
  if (!o->dest || !(o->tmp = make_tmp(o->dest, mode)))
    goto fail_errno;
  return 0;
fail_errno:
  e = errno;
  snprintf(err, n, "%s", strerror(e));
  free(o->dest);
  o->dest = NULL;
  return -1;
}

FILE *pc_outfile_open(pc_outfile *o, char *err, size_t n)
{
  int fd, fl;

  if (!o->direct) {
    /* "r+": the file is ours and empty; never created anew here */
    if (!(o->f = fopen(o->tmp, "r+")))
      snprintf(err, n, "%s", strerror(errno));
    return o->f;
  }
  fd = open(o->dest, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, n, "%s", errno == ENXIO ? "a FIFO with no reader"
                                          : strerror(errno));
    return NULL;
  }
  fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  if (!(o->f = fdopen(fd, "w"))) {
    snprintf(err, n, "%s", strerror(errno));
    close(fd);
  }
  return o->f;
}

int pc_outfile_commit(pc_outfile *o, char *err, size_t n)
{
  int rc = 0;

  if (o->f) {
    if (ferror(o->f) || fflush(o->f) != 0)
      rc = -1;
    if (!o->direct && rc == 0 && fsync(fileno(o->f)) != 0)
      rc = -1;
    if (fclose(o->f) != 0)
      rc = -1;
    o->f = NULL;
    if (rc != 0)
      snprintf(err, n, "%s", strerror(errno));
  }
  if (rc == 0 && o->tmp && rename(o->tmp, o->dest) != 0) {
    snprintf(err, n, "%s", strerror(errno));
    rc = -1;
  }
  if (rc != 0) {
    pc_outfile_discard(o);
    return -1;
  }
  free(o->tmp);
  o->tmp = NULL;
  return 0;
}

void pc_outfile_discard(pc_outfile *o)
{
  if (o->f)
    fclose(o->f);
  o->f = NULL;
  if (o->tmp)
    unlink(o->tmp);
  pc_outfile_free(o);
}

void pc_outfile_free(pc_outfile *o)
{
  free(o->tmp);
  free(o->dest);
  memset(o, 0, sizeof *o);
}
