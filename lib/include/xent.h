/*
 * xent.h - libxent, cross-entropy losses with label smoothing and mixup.
 *
 * This is the only public header of libxent and its reference documentation.
 * The mathematics is the project's semantics contract; in short, for a batch
 * of N rows and C classes with logits x (N x C):
 *
 *   lp   = log_softmax(x) per row, as PyTorch: m = max x, s = sum exp(x - m),
 *          lp = (x - m) - log(s)
 *   q    = the target distribution of each row (smoothed one-hot, mixup of two
 *          smoothed one-hots, or smoothed soft targets)
 *   l_n  = - sum_c w_c q_nc lp_nc                    (w = class weights, or 1)
 *   loss = sum_n l_n / D  (mean), sum_n l_n (sum), or the l_n (none)
 *   grad = d loss / d x:   p_nj * sum_c w_c q_nc - w_j q_nj   (divided by D)
 *
 * Conventions of the whole API:
 *  - Every array is dense and row-major; an N x C matrix holds row n at
 *    offset n * C.
 *  - The caller owns every buffer. The library never allocates, keeps no
 *    global state and may be called from any number of threads at once.
 *  - Every function that can fail returns an xent_status. On failure nothing
 *    reachable through the output arguments is written, except the
 *    xent_error detail, which says what is wrong and where.
 *  - A successful call never writes NaN or an infinity into an output.
 *  - Output buffers must not overlap the inputs or each other.
 *  - All arithmetic is in double precision, whatever the input type.
 */
#ifndef XENT_H
#define XENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(XENT_BUILDING) && defined(__GNUC__)
#define XENT_API __attribute__((visibility("default")))
#else
#define XENT_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define XENT_VERSION_MAJOR 0
#define XENT_VERSION_MINOR 1
#define XENT_VERSION_PATCH 0

#define XENT__STR2(x) #x
#define XENT__STR(x) XENT__STR2(x)
/* "MAJOR.MINOR.PATCH" */
#define XENT_VERSION_STRING                                                    \
  XENT__STR(XENT_VERSION_MAJOR)                                                \
  "." XENT__STR(XENT_VERSION_MINOR) "." XENT__STR(XENT_VERSION_PATCH)
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define XENT_VERSION_NUMBER                                                    \
  (XENT_VERSION_MAJOR * 10000 + XENT_VERSION_MINOR * 100 + XENT_VERSION_PATCH)

/* The version of the library actually linked: XENT_VERSION_NUMBER of its
 * build. Compare with the macro to detect a header/library mismatch. */
XENT_API unsigned xent_version_number(void);
/* The same as a string, "MAJOR.MINOR.PATCH". Never NULL, static storage. */
XENT_API const char *xent_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

/*
 * X(NAME, value, message). The values are pinned: they never change between
 * versions, new codes get new values. XENT_OK is 0.
 */
#define XENT_STATUS_MAP(X)                                                     \
  X(OK, 0, "success")                                                          \
  X(ERR_NULL, 1, "a required pointer argument is NULL")                        \
  X(ERR_SHAPE, 2, "the batch must have at least one row and one class")        \
  X(ERR_OPTION, 3, "an option has a value outside its enumeration")            \
  X(ERR_LOGIT, 4, "a logit is NaN or +infinity")                               \
  X(ERR_ROW_MASKED, 5, "every class of a row is masked (-infinity)")           \
  X(ERR_LABEL, 6, "a target label is outside [0, classes)")                    \
  X(ERR_MASKED_TARGET, 7, "target mass falls on a masked class")               \
  X(ERR_SOFT_TARGET, 8, "a soft target is NaN, infinite or negative")          \
  X(ERR_WEIGHT, 9, "a class weight is NaN, infinite or negative")              \
  X(ERR_SMOOTHING, 10, "label smoothing is outside [0, 1]")                    \
  X(ERR_CONVENTION, 11,                                                        \
    "the 'others' smoothing convention needs a hard label and at least two "   \
    "unmasked classes")                                                        \
  X(ERR_LAMBDA, 12, "a mixup lambda is outside [0, 1]")                        \
  X(ERR_PARTNER, 13, "a mixup partner index is outside [0, n)")                \
  X(ERR_IGNORED_PARTNER, 14, "a mixup partner row has the ignored label")      \
  X(ERR_MIXUP_SOFT, 15, "mixup cannot be combined with soft targets")          \
  X(ERR_TARGETS, 16, "exactly one of hard targets and soft targets is needed") \
  X(ERR_ZERO_DENOMINATOR, 17,                                                  \
    "the mean is undefined: its denominator is zero (every row ignored or "    \
    "zero class weights)")                                                     \
  X(ERR_OVERFLOW, 18, "a result would overflow the double range")              \
  X(ERR_WORKSPACE, 19, "the workspace is missing or too small")

typedef enum xent_status {
#define XENT__STATUS_ENUM(name, value, message) XENT_##name = value,
  XENT_STATUS_MAP(XENT__STATUS_ENUM)
#undef XENT__STATUS_ENUM
} xent_status;

/* A one-line English description of a status. Never NULL: an unknown value
 * gives "unknown status". Static storage. */
XENT_API const char *xent_strerror(xent_status status);

/* The status's name without the prefix ("ERR_LABEL"), or "UNKNOWN". */
XENT_API const char *xent_status_name(xent_status status);

/* ------------------------------------------------------------------------ */
/* Error detail                                                             */
/* ------------------------------------------------------------------------ */

/* Which argument an error is about. Values are pinned like the statuses. */
#define XENT_ARG_MAP(X)                                                        \
  X(NONE, 0, "")                                                               \
  X(LOGITS, 1, "logits")                                                       \
  X(TARGETS, 2, "targets")                                                     \
  X(SOFT_TARGETS, 3, "soft_targets")                                           \
  X(CLASS_WEIGHTS, 4, "class_weights")                                         \
  X(LABEL_SMOOTHING, 5, "label_smoothing")                                     \
  X(SMOOTHING, 6, "smoothing")                                                 \
  X(MIXUP_LAMBDA, 7, "mixup.lambda")                                           \
  X(MIXUP_PAIRING, 8, "mixup.pairing")                                         \
  X(REDUCTION, 9, "reduction")                                                 \
  X(IGNORE_INDEX, 10, "ignore_index")                                          \
  X(SHAPE, 11, "shape")                                                        \
  X(OUTPUTS, 12, "outputs")                                                    \
  X(WORKSPACE, 13, "workspace")                                                \
  X(KERNEL, 14, "kernel")

typedef enum xent_arg {
#define XENT__ARG_ENUM(name, value, field) XENT_ARG_##name = value,
  XENT_ARG_MAP(XENT__ARG_ENUM)
#undef XENT__ARG_ENUM
} xent_arg;

/* The argument's field name as the HTTP API spells it ("mixup.lambda"); ""
 * for XENT_ARG_NONE. Never NULL. */
XENT_API const char *xent_arg_name(xent_arg arg);

/*
 * Where an input is wrong. `row` and `col` are -1 when they do not apply.
 * For a per-row argument (targets, lambda, partner) `row` is the index in
 * that array (-1 for the single batch lambda, lambda_count 1); for a matrix
 * (logits, soft targets) both are set; for class_weights `col` is the class.
 * For ERR_MASKED_TARGET, row/col is the class that is masked in the logits of
 * that row while it receives target mass; `arg` is TARGETS for the row's own
 * label, LOGITS for the label of its mixup partner, SOFT_TARGETS for soft mass.
 * For ERR_IGNORED_PARTNER `arg` is MIXUP_PAIRING and `row` is the row whose
 * partner is ignored. ERR_OVERFLOW names the row (arg LOGITS) when one row's
 * bound overflows.
 */
typedef struct xent_error {
  xent_status status;
  xent_arg arg;
  int64_t row;
  int64_t col;
} xent_error;

/*
 * Writes a one-line message for `err` into buf (at most `size` bytes, always
 * NUL-terminated when size > 0), such as
 * "targets[3]: a target label is outside [0, classes)". Returns buf.
 */
XENT_API char *xent_error_format(const xent_error *err, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* The problem: inputs and options                                          */
/* ------------------------------------------------------------------------ */

/* The element type of the logits. Every type is converted to double on
 * read; all arithmetic is in double. In every type -infinity masks a class
 * and NaN or +infinity is an error (ERR_LOGIT). */
typedef enum xent_dtype {
  XENT_F64 = 0, /* double                                                  */
  XENT_F32 = 1, /* float                                                   */
  XENT_F16 = 2, /* IEEE binary16 bit patterns in uint16_t (torch.half)     */
  XENT_BF16 = 3 /* bfloat16 bit patterns in uint16_t (torch.bfloat16): the */
                /* upper 16 bits of a binary32                            */
} xent_dtype;

typedef enum xent_smoothing {
  XENT_SMOOTH_UNIFORM = 0, /* on 1 - eps + eps/K, off eps/K (timm, PyTorch) */
  XENT_SMOOTH_OTHERS = 1   /* on 1 - eps, off eps/(K-1) (fairseq)          */
} xent_smoothing;

typedef enum xent_reduction {
  XENT_REDUCE_MEAN = 0,
  XENT_REDUCE_SUM = 1,
  XENT_REDUCE_NONE = 2
} xent_reduction;

typedef enum xent_pairing {
  XENT_PAIR_FLIP = 0,    /* partner of n is N-1-n (timm)                    */
  XENT_PAIR_ROLL = 1,    /* partner of n is (n-1) mod N (torchvision v2)    */
  XENT_PAIR_EXPLICIT = 2 /* partner of n is partners[n]                     */
} xent_pairing;

/* Which exp kernel to run. AUTO picks the widest the CPU supports; asking
 * for one the CPU or the build lacks is ERR_OPTION (arg KERNEL). All kernels
 * agree to about one unit in the last place. */
typedef enum xent_kernel {
  XENT_KERNEL_AUTO = 0,
  XENT_KERNEL_SCALAR = 1, /* portable C and libm                             */
  XENT_KERNEL_AVX2 = 2,   /* AVX2 + FMA with SLEEF                           */
  XENT_KERNEL_AVX512 = 3  /* AVX-512F with SLEEF                             */
} xent_kernel;

/* Nonzero when `kernel` can run on this CPU with this build (AUTO and
 * SCALAR always can). */
XENT_API int xent_kernel_supported(xent_kernel kernel);
/* The kernel AUTO resolves to on this CPU. */
XENT_API xent_kernel xent_kernel_best(void);
/* "auto", "scalar", "avx2", "avx512"; "unknown" otherwise. Never NULL. */
XENT_API const char *xent_kernel_name(xent_kernel kernel);

/*
 * A batch and its options. Initialise with xent_problem_init(), then set
 * what applies; every pointer is borrowed for the duration of a call only.
 *
 * logits         n x classes, of type `dtype`. -INFINITY masks a class (its
 *                probability is 0 and smoothing skips it, semantics 4).
 *                NaN and +INFINITY are errors, except in ignored rows.
 * targets        n hard labels in [0, classes) or == ignore_index; or NULL.
 * soft_targets   n x classes non-negative finite values (rows need not sum
 *                to 1); or NULL. Exactly one of targets/soft_targets is set.
 * class_weights  `classes` non-negative finite weights; NULL means all 1.
 * ignore_index   a hard label that removes its row (default -100).
 * label_smoothing eps in [0, 1] (default 0).
 * smoothing      convention; OTHERS needs hard labels and, when eps > 0,
 *                at least two unmasked classes per row; with OTHERS a
 *                masked label is refused even at eps = 1.
 * mixup_lambda   NULL: no mixup. Otherwise lambda_count values in [0, 1]:
 *                lambda_count 1 is one lambda for the batch, n is one per
 *                row. q_n = lam_n s(t_n) + (1 - lam_n) s(t_partner(n)).
 *                Hard labels only.
 * pairing        how partner(n) is chosen (default FLIP).
 * partners       n indices in [0, n) for XENT_PAIR_EXPLICIT, else unused.
 * reduction      MEAN (default), SUM or NONE (semantics 3).
 * kernel         AUTO (default) or a specific exp kernel.
 */
typedef struct xent_problem {
  size_t n;
  size_t classes;
  xent_dtype dtype;
  const void *logits;
  const int64_t *targets;
  const double *soft_targets;
  const double *class_weights;
  int64_t ignore_index;
  double label_smoothing;
  xent_smoothing smoothing;
  const double *mixup_lambda;
  size_t lambda_count;
  xent_pairing pairing;
  const int64_t *partners;
  xent_reduction reduction;
  xent_kernel kernel;
} xent_problem;

/* Sets every field to its default: zeros and NULLs, ignore_index -100,
 * UNIFORM, FLIP, MEAN, AUTO, F64. */
XENT_API void xent_problem_init(xent_problem *problem);

/* ------------------------------------------------------------------------ */
/* Outputs                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Evaluation statistics over the rows that are not ignored (semantics 5).
 * The per-row arrays are optional (NULL: not written); ignored rows get
 * predicted -1, confidence 0 and entropy 0. When no row counts, the means
 * are 0 and counted is 0.
 */
typedef struct xent_stats {
  double accuracy;        /* share of rows whose argmax p is the own label  */
  double mean_confidence; /* mean of max_c p                                */
  double mean_entropy;    /* mean of -sum_c p log p (0 log 0 = 0)           */
  double ece;             /* expected calibration error, 15 bins            */
  size_t counted;         /* rows counted                                   */
  int64_t *predicted;     /* optional, n: argmax_c p, lowest index on ties  */
  double *confidence;     /* optional, n: max_c p                           */
  double *entropy;        /* optional, n: -sum_c p log p                    */
} xent_stats;

#define XENT_ECE_BINS 15

/*
 * Where results go. Every pointer may be NULL: that output is not computed
 * (work is skipped). A call with every pointer NULL validates the input.
 *
 * loss        1 value: the reduced loss. For XENT_REDUCE_NONE it receives
 *             the sum of the per-row losses.
 * per_sample  n values l_n (0 for ignored rows), before the mean's division.
 * grad        n x classes: d loss / d logits. For NONE, row n is dl_n/dx_n.
 *             0 for masked classes and ignored rows.
 * targets     n x classes: q, the target distribution before class weights
 *             (0 for masked classes; all 0 for ignored rows).
 * probs       n x classes: softmax of each row (ignored rows too, when their
 *             logits are valid; all 0 otherwise).
 * stats       see xent_stats.
 */
typedef struct xent_outputs {
  double *loss;
  double *per_sample;
  double *grad;
  double *targets;
  double *probs;
  xent_stats *stats;
} xent_outputs;

/* ------------------------------------------------------------------------ */
/* Functions                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Scratch space, in bytes, that xent_evaluate needs for this problem's
 * shape and dtype (0 for double logits; one row of doubles for the other
 * types). `problem` may not be NULL.
 */
XENT_API size_t xent_workspace_size(const xent_problem *problem);

/*
 * Cross-entropy of a batch: the per-row losses, the reduced loss, the
 * gradient with respect to the logits, the target distribution, the
 * probabilities and the statistics, each computed only when asked for.
 *
 * Hard labels are computed in closed form (semantics 2) without building
 * the n x classes target matrix:
 *   sum_c w_c q_c lp_c = off * sum_c w_c lp_c + (on - off) * w_t * lp_t
 * (and the same for the mixup partner, weighted by lambda and 1 - lambda).
 *
 * The input is validated completely before any output is written (every
 * status of semantics 4 with its position in `err`). ERR_OVERFLOW is
 * returned, also before writing, when bounds computed from the input show
 * that a result or an intermediate sum could leave the double range
 * (logits spanning more than ~1e306, weights near 1e300, a mean
 * denominator below ~1e-307); such inputs are refused rather than answered
 * with infinities.
 *
 * problem    the batch (not NULL).
 * out        where results go (not NULL; its members may be NULL).
 * workspace  xent_workspace_size(problem) bytes aligned for double, or NULL
 *            when that size is 0.
 * err        may be NULL; on failure receives the detail, on success
 *            status XENT_OK, arg NONE, row and col -1.
 * Returns XENT_OK or the first error found.
 */
XENT_API xent_status xent_evaluate(const xent_problem *problem,
                                   const xent_outputs *out, void *workspace,
                                   size_t workspace_size, xent_error *err);

/*
 * The target distribution q only: timm's
 * mixup_target(target, num_classes, lam, smoothing) generalised as in
 * semantics 1. Uses n, classes, targets or soft_targets, label_smoothing,
 * smoothing, mixup fields and ignore_index of `problem` (class_weights and
 * reduction are neither used nor checked). `logits` may be NULL
 * (no class is masked, K = classes); when set, its -INFINITY entries mask
 * classes as in xent_evaluate. Ignored rows get all zeros.
 *
 * out   n x classes doubles (not NULL).
 * Returns XENT_OK or an error with `err` filled as for xent_evaluate.
 */
XENT_API xent_status xent_targets(const xent_problem *problem, double *out,
                                  xent_error *err);

/*
 * The reference path: the same results as xent_evaluate for hard labels,
 * computed by building q explicitly (xent_targets) and summing
 * - w_c q_c lp_c over every class with scalar code. Slower; it exists so
 * that tests can prove the closed form equals the definition. `scratch`
 * holds n x classes doubles (not NULL). Supports loss, per_sample and grad
 * outputs (others must be NULL, else ERR_OPTION with arg OUTPUTS).
 */
XENT_API xent_status xent_evaluate_explicit(const xent_problem *problem,
                                            const xent_outputs *out,
                                            double *scratch, xent_error *err);

#ifdef __cplusplus
}
#endif

#endif /* XENT_H */
