/* `create`, `conversations` and `history`: the HTTP API commands (spec
 * section 12.2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Builds the members array from "a,b,c" (or one name). */
static json_t *member_list(const char *csv)
{
  json_t *arr = json_array();
  char *copy = strdup(csv), *save = NULL, *tok;

  if (arr == NULL || copy == NULL) {
    json_decref(arr);
    free(copy);
    return NULL;
  }
  for (tok = strtok_r(copy, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save))
    if (tok[0] != '\0')
      json_array_append_new(arr, json_string(tok));
  free(copy);
  return arr;
}

int cmd_create(const cli *c, volatile int *stop)
{
  app a;
  json_t *req, *reply = NULL;
  const char *id;
  int rc, status = 0;

  if ((rc = app_open(&a, &c->app, stop)) != EXIT_OK)
    goto done_app;
  if (c->with != NULL)
    req = json_pack("{s:s, s:o}", "kind", "direct", "members",
                    member_list(c->with));
  else
    req = json_pack("{s:s, s:s, s:o}", "kind", "group", "title", c->group,
                    "members", member_list(c->members));
  rc = req ? app_api(&a, "POST", "/v1/conversations", req, &status, &reply)
           : EXIT_FAIL;
  json_decref(req);
  if (rc != EXIT_OK)
    goto done_app;
  id = json_string_value(json_object_get(reply, "id"));
  if ((status == 200 || status == 201) && id != NULL) {
    printf("%s\n", id);
  } else {
    app_api_error("create", status, reply);
    rc = EXIT_FAIL;
  }
  json_decref(reply);

done_app:
  app_close(&a);
  return rc;
}

/* Prints one conversation object as `ID KIND A,B[: TITLE]`. */
static void print_conv(json_t *conv)
{
  const char *id = json_string_value(json_object_get(conv, "id"));
  const char *kind = json_string_value(json_object_get(conv, "kind"));
  const char *title = json_string_value(json_object_get(conv, "title"));
  json_t *m;
  size_t i;
  char *text;

  if (id == NULL)
    return;
  printf("%s %s ", id, kind ? kind : "?");
  json_array_foreach(json_object_get(conv, "members"), i, m)
    printf("%s%s", i ? "," : "", json_is_string(m) ? json_string_value(m)
                                                   : "?");
  if (title != NULL && title[0] != '\0' &&
      (text = app_escape(title, strlen(title))) != NULL) {
    printf(": %s", text);
    free(text);
  }
  printf("\n");
}

int cmd_conversations(const cli *c, volatile int *stop)
{
  app a;
  json_t *reply = NULL, *conv;
  int rc, status = 0;
  size_t i;

  if ((rc = app_open(&a, &c->app, stop)) != EXIT_OK)
    goto done_app;
  if ((rc = app_api(&a, "GET", "/v1/conversations", NULL, &status,
                    &reply)) != EXIT_OK)
    goto done_app;
  if (status != 200 || !json_is_array(reply)) {
    app_api_error("conversations", status, reply);
    rc = EXIT_FAIL;
  } else {
    json_array_foreach(reply, i, conv)
      print_conv(conv);
  }
  json_decref(reply);

done_app:
  app_close(&a);
  return rc;
}

/* Percent-encodes an opaque cursor for a query string. */
static void url_encode(const char *s, char *out, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;

  for (; *s != '\0' && n + 4 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
        ch == '~') {
      out[n++] = (char)ch;
    } else {
      out[n++] = '%';
      out[n++] = hex[ch >> 4];
      out[n++] = hex[ch & 15];
    }
  }
  out[n] = '\0';
}

/* Prints one page's messages, ascending. */
static void print_page(const char *conv, json_t *msgs)
{
  size_t i;
  json_t *m;

  json_array_foreach(msgs, i, m) {
    const char *body = json_string_value(json_object_get(m, "body"));
    const char *from = json_string_value(json_object_get(m, "from"));
    char *text = app_escape(body ? body : "", body ? strlen(body) : 0);
    printf("%s %lld %s: %s\n", conv,
           (long long)json_integer_value(json_object_get(m, "seq")),
           from ? from : "?", text ? text : "");
    free(text);
  }
}

int cmd_history(const cli *c, volatile int *stop)
{
  app a;
  json_t *pages = json_array(), *reply = NULL;
  char path[2048], cursor[1024] = "";
  const char *next;
  int rc, status = 0;
  size_t i;

  if ((rc = app_open(&a, &c->app, stop)) != EXIT_OK || pages == NULL)
    goto done_app;
  for (;;) {
    snprintf(path, sizeof path, "/v1/conversations/%s/messages?limit=100%s%s",
             c->conv, cursor[0] ? "&cursor=" : "", cursor);
    if ((rc = app_api(&a, "GET", path, NULL, &status, &reply)) != EXIT_OK)
      goto done_app;
    if (status != 200 || !json_is_array(json_object_get(reply, "messages"))) {
      app_api_error("history", status, reply);
      json_decref(reply);
      rc = EXIT_FAIL;
      goto done_app;
    }
    json_array_append(pages, json_object_get(reply, "messages"));
    next = json_string_value(json_object_get(reply, "cursor"));
    if (!json_is_true(json_object_get(reply, "more")) || next == NULL) {
      json_decref(reply);
      break;
    }
    url_encode(next, cursor, sizeof cursor);
    json_decref(reply);
  }
  for (i = json_array_size(pages); i > 0; i--)
    print_page(c->conv, json_array_get(pages, i - 1));

done_app:
  json_decref(pages);
  app_close(&a);
  return rc;
}
