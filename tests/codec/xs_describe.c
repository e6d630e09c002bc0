/*
 * xs_describe: prints what the codec's own tables say, for the checks that
 * hold the documents to them.
 *   xs-describe fields   {"loss": [...], "targets": [...], "metrics": [...],
 *                        "metrics/merge": [...], "metrics/report": [...]}:
 *                        the field table of every body (fields.h), keyed by
 *                        its path after /v1/, which
 *                        api/tools/check-fields.mjs compares with
 *                        api/openapi.yaml
 *   xs-describe mstate   {"version": V, "members": [...]}: the version and
 *                        the member table of a metrics state (mstate.h),
 *                        which check-fields.mjs compares with the schema
 *                        MetricsState
 *   xs-describe errors   README.md's table of errors, from errors.h
 */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "mstate.h"

static int print(xs_buf *out, int rc) {
  rc |= xs_buf_append(out, "}\n", 2);
  if (rc == 0)
    fwrite(out->data, 1, out->len, stdout);
  xs_buf_free(out);
  return rc == 0 ? 0 : 1;
}

static int fields(void) {
  static const struct {
    const char *name;
    unsigned body;
  } bodies[] = {{"loss", XS_BODY_LOSS},
                {"targets", XS_BODY_TARGETS},
                {"metrics", XS_BODY_METRICS},
                {"metrics/merge", XS_BODY_MERGE},
                {"metrics/report", XS_BODY_REPORT}};
  xs_buf out;
  xs_buf_init(&out);
  int rc = xs_buf_append(&out, "{", 1);
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    char key[64];
    const int n = snprintf(key, sizeof key, "%s\"%s\":", i > 0 ? "," : "",
                           bodies[i].name);
    rc |= xs_buf_append(&out, key, (size_t)n);
    rc |= xs_fields_describe(bodies[i].body, &out);
  }
  return print(&out, rc);
}

static int mstate(void) {
  xs_buf out;
  xs_buf_init(&out);
  char head[64];
  const int n = snprintf(head, sizeof head,
                         "{\"version\":%d,\"members\":", XS_MSTATE_VERSION);
  int rc = xs_buf_append(&out, head, (size_t)n);
  rc |= xs_mstate_describe(&out);
  return print(&out, rc);
}

static int errors(void) {
  printf("| status | code | when |\n|---|---|---|\n");
  for (int k = XS_ERR_NONE + 1; k < XS_ERR_COUNT; k++)
    printf("| %d | `%s` | %s |\n", xs_error_http_status((xs_err_kind)k),
           xs_error_code((xs_err_kind)k), xs_error_doc((xs_err_kind)k));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "fields") == 0)
    return fields();
  if (argc == 2 && strcmp(argv[1], "mstate") == 0)
    return mstate();
  if (argc == 2 && strcmp(argv[1], "errors") == 0)
    return errors();
  fprintf(stderr, "usage: xs-describe fields|mstate|errors\n");
  return 2;
}
