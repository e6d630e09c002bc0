/*
 * test_version.c - version macros and functions, status and argument names,
 * xent_error_format, xent_problem_init defaults.
 */
#include <stdio.h>

#include "testutil.h"

START_TEST(version_macros_match_library) {
  ck_assert_uint_eq(xent_version_number(), XENT_VERSION_NUMBER);
  ck_assert_str_eq(xent_version_string(), XENT_VERSION_STRING);
  /* The number is MAJOR * 10000 + MINOR * 100 + PATCH and the string is
   * "MAJOR.MINOR.PATCH", rebuilt here from the three macros. */
  ck_assert_uint_eq(XENT_VERSION_NUMBER, XENT_VERSION_MAJOR * 10000 +
                                             XENT_VERSION_MINOR * 100 +
                                             XENT_VERSION_PATCH);
  char buf[64];
  snprintf(buf, sizeof buf, "%d.%d.%d", XENT_VERSION_MAJOR, XENT_VERSION_MINOR,
           XENT_VERSION_PATCH);
  ck_assert_str_eq(xent_version_string(), buf);
}
END_TEST

START_TEST(version_pinned_values) {
  /* 0.1.0 is the version this test suite was written for. */
  ck_assert_int_eq(XENT_VERSION_MAJOR, 0);
  ck_assert_int_eq(XENT_VERSION_MINOR, 1);
  ck_assert_int_eq(XENT_VERSION_PATCH, 0);
  ck_assert_str_eq(XENT_VERSION_STRING, "0.1.0");
  ck_assert_int_eq(XENT_VERSION_NUMBER, 100);
}
END_TEST

/* The pinned status values, written out by hand (not from the map). */
static const struct {
  xent_status status;
  int value;
  const char *name;
} pinned_status[] = {
    {XENT_OK, 0, "OK"},
    {XENT_ERR_NULL, 1, "ERR_NULL"},
    {XENT_ERR_SHAPE, 2, "ERR_SHAPE"},
    {XENT_ERR_OPTION, 3, "ERR_OPTION"},
    {XENT_ERR_LOGIT, 4, "ERR_LOGIT"},
    {XENT_ERR_ROW_MASKED, 5, "ERR_ROW_MASKED"},
    {XENT_ERR_LABEL, 6, "ERR_LABEL"},
    {XENT_ERR_MASKED_TARGET, 7, "ERR_MASKED_TARGET"},
    {XENT_ERR_SOFT_TARGET, 8, "ERR_SOFT_TARGET"},
    {XENT_ERR_WEIGHT, 9, "ERR_WEIGHT"},
    {XENT_ERR_SMOOTHING, 10, "ERR_SMOOTHING"},
    {XENT_ERR_CONVENTION, 11, "ERR_CONVENTION"},
    {XENT_ERR_LAMBDA, 12, "ERR_LAMBDA"},
    {XENT_ERR_PARTNER, 13, "ERR_PARTNER"},
    {XENT_ERR_IGNORED_PARTNER, 14, "ERR_IGNORED_PARTNER"},
    {XENT_ERR_MIXUP_SOFT, 15, "ERR_MIXUP_SOFT"},
    {XENT_ERR_TARGETS, 16, "ERR_TARGETS"},
    {XENT_ERR_ZERO_DENOMINATOR, 17, "ERR_ZERO_DENOMINATOR"},
    {XENT_ERR_OVERFLOW, 18, "ERR_OVERFLOW"},
    {XENT_ERR_WORKSPACE, 19, "ERR_WORKSPACE"},
    {XENT_ERR_FOCAL_GAMMA, 20, "ERR_FOCAL_GAMMA"},
    {XENT_ERR_FOCAL_ALPHA, 21, "ERR_FOCAL_ALPHA"},
    {XENT_ERR_POLY_EPSILON, 22, "ERR_POLY_EPSILON"},
    {XENT_ERR_BINARY_TARGET, 23, "ERR_BINARY_TARGET"},
    {XENT_ERR_POS_WEIGHT, 24, "ERR_POS_WEIGHT"},
    {XENT_ERR_THRESHOLD, 25, "ERR_THRESHOLD"},
    {XENT_ERR_NOT_APPLICABLE, 26, "ERR_NOT_APPLICABLE"},
    {XENT_ERR_CONFIG, 30, "ERR_CONFIG"},
    {XENT_ERR_CONFIG_MISMATCH, 31, "ERR_CONFIG_MISMATCH"},
    {XENT_ERR_STATE, 32, "ERR_STATE"},
    {XENT_ERR_STATE_FORMAT, 33, "ERR_STATE_FORMAT"},
    {XENT_ERR_STATE_VERSION, 34, "ERR_STATE_VERSION"},
    {XENT_ERR_BUFFER, 35, "ERR_BUFFER"},
    {XENT_ERR_COUNT_LIMIT, 36, "ERR_COUNT_LIMIT"},
    {XENT_ERR_VALUE, 37, "ERR_VALUE"},
    {XENT_ERR_STATE_CHECKSUM, 38, "ERR_STATE_CHECKSUM"},
};
#define N_PINNED (sizeof pinned_status / sizeof pinned_status[0])

START_TEST(status_values_pinned) {
  for (size_t i = 0; i < N_PINNED; i++) {
    ck_assert_int_eq((int)pinned_status[i].status, pinned_status[i].value);
    ck_assert_str_eq(xent_status_name(pinned_status[i].status),
                     pinned_status[i].name);
  }
  /* The map has exactly these entries. */
  size_t count = 0;
#define COUNT_STATUS(name, value, message) count++;
  XENT_STATUS_MAP(COUNT_STATUS)
#undef COUNT_STATUS
  ck_assert_uint_eq(count, N_PINNED);
}
END_TEST

/* The messages: a few written out here by hand, and for every status a
 * one-line lower-case phrase without a final period, each different from
 * the others; unknown values get the fallback texts. (Comparing each
 * message with the list that generates it would check nothing.) */
START_TEST(strerror_texts) {
  ck_assert_str_eq(xent_strerror(XENT_OK), "success");
  ck_assert_str_eq(xent_strerror(XENT_ERR_LABEL),
                   "a target label is outside [0, classes)");
  ck_assert_str_eq(xent_strerror(XENT_ERR_ROW_MASKED),
                   "every class of a row is masked (-infinity)");
  ck_assert_str_eq(xent_strerror(XENT_ERR_SMOOTHING),
                   "label smoothing is outside [0, 1]");
  ck_assert_str_eq(xent_strerror(XENT_ERR_COUNT_LIMIT),
                   "more than 2^63 - 1 rows would be counted");
  ck_assert_str_eq(xent_status_name(XENT_ERR_MIXUP_SOFT), "ERR_MIXUP_SOFT");
  ck_assert_str_eq(xent_strerror((xent_status)99), "unknown status");
  ck_assert_str_eq(xent_status_name((xent_status)99), "UNKNOWN");
  ck_assert_str_eq(xent_strerror((xent_status)-1), "unknown status");
  for (size_t i = 0; i < N_PINNED; i++) {
    const char *m = xent_strerror(pinned_status[i].status);
    const size_t len = strlen(m);
    ck_assert_msg(len > 0 && strchr(m, '\n') == NULL && m[len - 1] != '.' &&
                      !(m[0] >= 'A' && m[0] <= 'Z'),
                  "message of %s: \"%s\"", pinned_status[i].name, m);
    for (size_t j = 0; j < i; j++)
      ck_assert_msg(strcmp(m, xent_strerror(pinned_status[j].status)) != 0,
                    "%s and %s share a message", pinned_status[i].name,
                    pinned_status[j].name);
  }
}
END_TEST

START_TEST(strerror_unknown_never_null) {
  const int unknown[] = {29, 99, 1000, -1, -100, 0x7fffffff};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const xent_status st = (xent_status)unknown[i];
    ck_assert_ptr_nonnull(xent_strerror(st));
    ck_assert_str_eq(xent_strerror(st), "unknown status");
    ck_assert_ptr_nonnull(xent_status_name(st));
    ck_assert_str_eq(xent_status_name(st), "UNKNOWN");
  }
}
END_TEST

START_TEST(arg_names) {
  static const struct {
    xent_arg arg;
    int value;
    const char *name;
  } pinned[] = {
      {XENT_ARG_NONE, 0, ""},
      {XENT_ARG_LOGITS, 1, "logits"},
      {XENT_ARG_TARGETS, 2, "targets"},
      {XENT_ARG_SOFT_TARGETS, 3, "soft_targets"},
      {XENT_ARG_CLASS_WEIGHTS, 4, "class_weights"},
      {XENT_ARG_LABEL_SMOOTHING, 5, "label_smoothing"},
      {XENT_ARG_SMOOTHING, 6, "smoothing"},
      {XENT_ARG_MIXUP_LAMBDA, 7, "mixup.lambda"},
      {XENT_ARG_MIXUP_PAIRING, 8, "mixup.pairing"},
      {XENT_ARG_REDUCTION, 9, "reduction"},
      {XENT_ARG_IGNORE_INDEX, 10, "ignore_index"},
      {XENT_ARG_SHAPE, 11, "shape"},
      {XENT_ARG_OUTPUTS, 12, "outputs"},
      {XENT_ARG_WORKSPACE, 13, "workspace"},
      {XENT_ARG_KERNEL, 14, "kernel"},
      {XENT_ARG_FAMILY, 15, "family"},
      {XENT_ARG_POS_WEIGHT, 16, "pos_weight"},
      {XENT_ARG_TARGET_THRESHOLD, 17, "target_threshold"},
      {XENT_ARG_SUM_CLASSES, 18, "sum_classes"},
      {XENT_ARG_FOCAL_ALPHA, 19, "focal_alpha"},
      {XENT_ARG_FOCAL_GAMMA, 20, "focal_gamma"},
      {XENT_ARG_POLY_EPSILON, 21, "poly_epsilon"},
      {XENT_ARG_INNER, 22, "inner"},
      {XENT_ARG_CLASS_AXIS, 23, "class_axis"},
  };
  for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
    ck_assert_int_eq((int)pinned[i].arg, pinned[i].value);
    ck_assert_ptr_nonnull(xent_arg_name(pinned[i].arg));
    ck_assert_str_eq(xent_arg_name(pinned[i].arg), pinned[i].name);
  }
#define CHECK_ARG(name, value, field)                                          \
  ck_assert_str_eq(xent_arg_name(XENT_ARG_##name), field);
  XENT_ARG_MAP(CHECK_ARG)
#undef CHECK_ARG
  ck_assert_ptr_nonnull(xent_arg_name((xent_arg)29));
  ck_assert_str_eq(xent_arg_name((xent_arg)29), "");
  ck_assert_ptr_nonnull(xent_arg_name((xent_arg)-1));
}
END_TEST

START_TEST(kernel_names) {
  ck_assert_str_eq(xent_kernel_name(XENT_KERNEL_AUTO), "auto");
  ck_assert_str_eq(xent_kernel_name(XENT_KERNEL_SCALAR), "scalar");
  ck_assert_str_eq(xent_kernel_name(XENT_KERNEL_AVX2), "avx2");
  ck_assert_str_eq(xent_kernel_name(XENT_KERNEL_AVX512), "avx512");
  ck_assert_str_eq(xent_kernel_name((xent_kernel)4), "unknown");
  ck_assert_str_eq(xent_kernel_name((xent_kernel)-1), "unknown");
  ck_assert_int_eq(XENT_KERNEL_AUTO, 0);
  ck_assert_int_eq(XENT_KERNEL_SCALAR, 1);
  ck_assert_int_eq(XENT_KERNEL_AVX2, 2);
  ck_assert_int_eq(XENT_KERNEL_AVX512, 3);
}
END_TEST

START_TEST(error_format_row) {
  const xent_error err = {XENT_ERR_LABEL, XENT_ARG_TARGETS, 3, -1};
  char buf[256];
  memset(buf, 'x', sizeof buf);
  char *ret = xent_error_format(&err, buf, sizeof buf);
  ck_assert_ptr_eq(ret, buf);
  /* The header's own example. */
  ck_assert_str_eq(buf, "targets[3]: a target label is outside [0, classes)");
}
END_TEST

START_TEST(error_format_matrix_and_column) {
  char buf[256];
  const xent_error logit = {XENT_ERR_LOGIT, XENT_ARG_LOGITS, 1, 2};
  xent_error_format(&logit, buf, sizeof buf);
  /* Names the argument, both indices, and ends with the message. */
  ck_assert_msg(strncmp(buf, "logits[1]", 9) == 0, "got '%s'", buf);
  ck_assert_msg(strstr(buf, "2") != NULL, "got '%s'", buf);
  ck_assert_msg(strstr(buf, xent_strerror(XENT_ERR_LOGIT)) != NULL, "got '%s'",
                buf);
  const xent_error weight = {XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1, 4};
  xent_error_format(&weight, buf, sizeof buf);
  ck_assert_msg(strncmp(buf, "class_weights[4]", 16) == 0, "got '%s'", buf);
  ck_assert_msg(strstr(buf, xent_strerror(XENT_ERR_WEIGHT)) != NULL, "got '%s'",
                buf);
  const xent_error eps = {XENT_ERR_SMOOTHING, XENT_ARG_LABEL_SMOOTHING, -1, -1};
  xent_error_format(&eps, buf, sizeof buf);
  ck_assert_msg(strncmp(buf, "label_smoothing", 15) == 0, "got '%s'", buf);
  ck_assert_msg(strncmp(buf, "label_smoothing[", 16) != 0,
                "no index expected: '%s'", buf);
  ck_assert_msg(strstr(buf, xent_strerror(XENT_ERR_SMOOTHING)) != NULL,
                "got '%s'", buf);
}
END_TEST

START_TEST(error_format_no_arg) {
  char buf[256];
  const xent_error ok = {XENT_OK, XENT_ARG_NONE, -1, -1};
  xent_error_format(&ok, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "success") != NULL, "got '%s'", buf);
  ck_assert_msg(buf[0] != '[', "got '%s'", buf);
  const xent_error unknown = {(xent_status)77, XENT_ARG_NONE, -1, -1};
  xent_error_format(&unknown, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "unknown status") != NULL, "got '%s'", buf);
}
END_TEST

START_TEST(error_format_truncates) {
  const xent_error err = {XENT_ERR_LABEL, XENT_ARG_TARGETS, 3, -1};
  const char *full = "targets[3]: a target label is outside [0, classes)";
  char buf[16];
  memset(buf, 'x', sizeof buf);
  xent_error_format(&err, buf, 10);
  ck_assert_uint_eq(strlen(buf), 9);
  ck_assert_int_eq(strncmp(buf, full, 9), 0);
  ck_assert_int_eq(buf[10], 'x'); /* nothing past size */
  memset(buf, 'x', sizeof buf);
  xent_error_format(&err, buf, 1);
  ck_assert_int_eq(buf[0], '\0');
  ck_assert_int_eq(buf[1], 'x');
  memset(buf, 'x', sizeof buf);
  char *ret = xent_error_format(&err, buf, 0);
  ck_assert_ptr_eq(ret, buf);
  ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(problem_init_defaults) {
  xent_problem pb;
  memset(&pb, 0xa5, sizeof pb);
  xent_problem_init(&pb);
  ck_assert_uint_eq(pb.n, 0);
  ck_assert_uint_eq(pb.classes, 0);
  ck_assert_int_eq(pb.dtype, XENT_F64);
  ck_assert_ptr_null(pb.logits);
  ck_assert_ptr_null(pb.targets);
  ck_assert_ptr_null(pb.soft_targets);
  ck_assert_ptr_null(pb.class_weights);
  ck_assert_int_eq(pb.ignore_index, -100);
  ck_assert(pb.label_smoothing == 0.0);
  ck_assert_int_eq(pb.smoothing, XENT_SMOOTH_UNIFORM);
  ck_assert_ptr_null(pb.mixup_lambda);
  ck_assert_uint_eq(pb.lambda_count, 0);
  ck_assert_int_eq(pb.pairing, XENT_PAIR_FLIP);
  ck_assert_ptr_null(pb.partners);
  ck_assert_int_eq(pb.reduction, XENT_REDUCE_MEAN);
  ck_assert_int_eq(pb.kernel, XENT_KERNEL_AUTO);
  /* the loss families and K-dimensional fields */
  ck_assert_int_eq(pb.family, XENT_LOSS_CROSS_ENTROPY);
  ck_assert_ptr_null(pb.pos_weight);
  ck_assert(pb.target_threshold == -1.0);
  ck_assert_int_eq(pb.sum_classes, 0);
  ck_assert(pb.focal_alpha == 0.25);
  ck_assert_ptr_null(pb.focal_alpha_per_class);
  ck_assert(pb.focal_gamma == 2.0);
  ck_assert(pb.poly_epsilon == 2.0);
  ck_assert_uint_eq(pb.inner, 1);
  ck_assert_int_eq(pb.class_axis, XENT_CLASS_AXIS_1);
}
END_TEST

START_TEST(kernel_support_queries) {
  ck_assert(xent_kernel_supported(XENT_KERNEL_AUTO));
  ck_assert(xent_kernel_supported(XENT_KERNEL_SCALAR));
  ck_assert(!xent_kernel_supported((xent_kernel)4));
  ck_assert(!xent_kernel_supported((xent_kernel)-1));
  const xent_kernel best = xent_kernel_best();
  ck_assert(best == XENT_KERNEL_SCALAR || best == XENT_KERNEL_AVX2 ||
            best == XENT_KERNEL_AVX512);
  ck_assert(xent_kernel_supported(best));
  /* best is the widest supported one */
  if (xent_kernel_supported(XENT_KERNEL_AVX512)) {
    ck_assert_int_eq(best, XENT_KERNEL_AVX512);
  } else if (xent_kernel_supported(XENT_KERNEL_AVX2)) {
    ck_assert_int_eq(best, XENT_KERNEL_AVX2);
  } else {
    ck_assert_int_eq(best, XENT_KERNEL_SCALAR);
  }
}
END_TEST

START_TEST(workspace_size) {
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 7;
  pb.classes = 13;
  ck_assert_uint_eq(xent_workspace_size(&pb), 0);
  pb.dtype = XENT_F32;
  /* "one row of doubles for float logits" */
  ck_assert_uint_ge(xent_workspace_size(&pb), 13 * sizeof(double));
}
END_TEST

int main(void) {
  Suite *s = suite_create("version");
  XT_ADD(s, version_macros_match_library);
  XT_ADD(s, version_pinned_values);
  XT_ADD(s, status_values_pinned);
  XT_ADD(s, strerror_texts);
  XT_ADD(s, strerror_unknown_never_null);
  XT_ADD(s, arg_names);
  XT_ADD(s, kernel_names);
  XT_ADD(s, error_format_row);
  XT_ADD(s, error_format_matrix_and_column);
  XT_ADD(s, error_format_no_arg);
  XT_ADD(s, error_format_truncates);
  XT_ADD(s, problem_init_defaults);
  XT_ADD(s, kernel_support_queries);
  XT_ADD(s, workspace_size);
  return xt_run(s);
}
