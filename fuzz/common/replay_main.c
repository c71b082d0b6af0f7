/* Replays inputs through a harness's LLVMFuzzerTestOneInput: the driver
 * the ordinary test build links with each harness, so every corpus runs
 * under ctest with the project's own compiler, with or without the
 * sanitizers.
 *
 * Arguments are files or directories (read one level deep, in name
 * order); a missing directory counts as empty, so a target without
 * crashers yet needs no placeholder. A crash is the harness aborting,
 * which fails the test; otherwise it prints how many inputs ran and
 * exits 0. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file; returns a malloc'd buffer (never NULL on success,
 * even for an empty file) or NULL when it cannot be read. */
static uint8_t *read_all(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;

  if (!f)
    return NULL;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *grown = realloc(buf, cap);
      if (!grown) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = grown;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Runs one file. Returns 0, or 1 when it cannot be read. */
static int run_file(const char *path)
{
  size_t len = 0;
  uint8_t *buf = read_all(path, &len);

  if (!buf) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    return 1;
  }
  /* An exact-size copy, so an over-read past the input is caught. */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(buf);
    return 1;
  }
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of a directory in name order; *count grows by
 * the number run. Returns the number of failures. */
static int run_dir(const char *dir, size_t *count)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int failed = 0;

  if (!d)
    return 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown)
        break;
      names = grown;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      failed += run_file(path);
      (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return failed;
}

int main(int argc, char **argv)
{
  size_t count = 0;
  int failed = 0;

  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      failed += run_dir(argv[i], &count);
    } else {
      failed += run_file(argv[i]);
      count++;
    }
  }
  printf("replayed %zu inputs, %d unreadable\n", count, failed);
  return failed ? 1 : 0;
}
