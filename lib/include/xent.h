/*
 * xent.h - libxent, cross-entropy losses with label smoothing and mixup, and
 * the related families: binary cross-entropy, sigmoid and softmax focal
 * loss, poly-1 (see "Loss families" below).
 *
 * This is the only public header of libxent and its reference documentation.
 * The mathematics is the project's semantics contract; in short, for a batch
 * of N rows and C classes with logits x (N x C) and the default family,
 * cross-entropy:
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
 *    offset n * C. K-dimensional inputs (N, C, d1..dk) or (N, d1..dk, C)
 *    are described by `inner` and `class_axis` (see xent_problem); without
 *    them a "row" below is a sample, with them it is one position (n, d).
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
  X(ERR_WORKSPACE, 19, "the workspace is missing or too small")                \
  X(ERR_FOCAL_GAMMA, 20, "focal_gamma is negative or not finite")              \
  X(ERR_FOCAL_ALPHA, 21,                                                       \
    "focal_alpha is NaN or above 1, or a per-class alpha is outside [0, 1]")   \
  X(ERR_POLY_EPSILON, 22, "poly_epsilon is not finite")                        \
  X(ERR_BINARY_TARGET, 23, "a binary target is outside [0, 1]")                \
  X(ERR_POS_WEIGHT, 24, "a pos_weight is NaN, infinite or negative")           \
  X(ERR_THRESHOLD, 25, "target_threshold is NaN")                              \
  X(ERR_NOT_APPLICABLE, 26,                                                    \
    "an option is set that this loss family or reduction does not use")        \
  X(ERR_CONFIG, 30,                                                            \
    "a metrics configuration value is out of range, or the state does not "    \
    "keep what was asked for")                                                 \
  X(ERR_CONFIG_MISMATCH, 31,                                                   \
    "the two metrics states have different configurations")                    \
  X(ERR_STATE, 32,                                                             \
    "the metrics state is not initialised, or its memory was overwritten")     \
  X(ERR_STATE_FORMAT, 33,                                                      \
    "the serialized metrics state is malformed or inconsistent")               \
  X(ERR_STATE_VERSION, 34,                                                     \
    "the serialized metrics state has a format version this library does "     \
    "not read")                                                                \
  X(ERR_BUFFER, 35, "a buffer is too small or misaligned")                     \
  X(ERR_COUNT_LIMIT, 36, "more than 2^63 - 1 rows would be counted")           \
  X(ERR_VALUE, 37, "a value is NaN or infinite")                               \
  X(ERR_STATE_CHECKSUM, 38,                                                    \
    "the serialized metrics state's checksum does not match its bytes: they "  \
    "were changed after they were written")

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
  X(KERNEL, 14, "kernel")                                                      \
  X(FAMILY, 15, "family")                                                      \
  X(POS_WEIGHT, 16, "pos_weight")                                              \
  X(TARGET_THRESHOLD, 17, "target_threshold")                                  \
  X(SUM_CLASSES, 18, "sum_classes")                                            \
  X(FOCAL_ALPHA, 19, "focal_alpha")                                            \
  X(FOCAL_GAMMA, 20, "focal_gamma")                                            \
  X(POLY_EPSILON, 21, "poly_epsilon")                                          \
  X(INNER, 22, "inner")                                                        \
  X(CLASS_AXIS, 23, "class_axis")                                              \
  X(CLASSES, 30, "classes")                                                    \
  X(BINS, 31, "bins")                                                          \
  X(TOP_K, 32, "top_k")                                                        \
  X(CONFUSION, 33, "confusion")                                                \
  X(PER_CLASS, 34, "per_class")                                                \
  X(STATE, 35, "state")                                                        \
  X(SOURCE, 36, "source")                                                      \
  X(SERIALIZED, 37, "serialized")                                              \
  X(VALUES, 38, "values")

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
 * (logits, soft targets) both are set; for class_weights, pos_weight and
 * focal_alpha_per_class `col` is the class. With K-dimensional inputs
 * `row` is the position n * inner + d, the index into targets and
 * per_sample, whatever the class axis; lambda and partner errors name the
 * sample n.
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
  XENT_SMOOTH_OTHERS = 1,  /* on 1 - eps, off eps/(K-1) (fairseq)          */
  XENT_SMOOTH_BINARY = 2   /* t (1 - eps) + eps/2 on every target, hard or */
                           /* soft (Keras BinaryCrossentropy); binary     */
                           /* families only                              */
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

/* The loss computed from the logits and the targets q (see "Loss families"
 * below for each one's formula and the framework code it follows). */
typedef enum xent_family {
  XENT_LOSS_CROSS_ENTROPY = 0,        /* softmax cross-entropy (default)     */
  XENT_LOSS_BINARY_CROSS_ENTROPY = 1, /* per-class sigmoid, PyTorch BCE      */
  XENT_LOSS_SIGMOID_FOCAL = 2,        /* torchvision sigmoid_focal_loss      */
  XENT_LOSS_SOFTMAX_FOCAL = 3,        /* Keras categorical focal loss        */
  XENT_LOSS_POLY1 = 4                 /* optax poly_loss_cross_entropy       */
} xent_family;

/* Where the class axis of K-dimensional logits is. */
typedef enum xent_class_axis {
  XENT_CLASS_AXIS_1 = 0,   /* (N, C, d1, ..., dk): PyTorch (default)       */
  XENT_CLASS_AXIS_LAST = 1 /* (N, d1, ..., dk, C): Keras, optax            */
} xent_class_axis;

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
 * Shapes are given for 2-D inputs; with K-dimensional inputs (inner > 1)
 * read "n" as "n * inner positions" for targets and per-row arrays, and
 * "n x classes" as the logits' own layout (see inner and class_axis).
 *
 * logits         n x classes, of type `dtype`. -INFINITY masks a class (its
 *                probability is 0 and smoothing skips it, semantics 4).
 *                NaN and +INFINITY are errors, except in ignored rows.
 * targets        n hard labels in [0, classes) or == ignore_index; or NULL.
 * soft_targets   n x classes non-negative finite values (rows need not sum
 *                to 1; in [0, 1] for the binary families); or NULL. Exactly
 *                one of targets/soft_targets is set.
 * class_weights  `classes` non-negative finite weights; NULL means all 1.
 *                The binary families use them as PyTorch's `weight` of
 *                binary_cross_entropy_with_logits, one per class.
 * ignore_index   a hard label that removes its row (default -100).
 * label_smoothing eps in [0, 1] (default 0).
 * smoothing      convention; OTHERS needs hard labels and, when eps > 0,
 *                at least two unmasked classes per row; with OTHERS a
 *                masked label is refused even at eps = 1. BINARY only with
 *                the binary families.
 * mixup_lambda   NULL: no mixup. Otherwise lambda_count values in [0, 1]:
 *                lambda_count 1 is one lambda for the batch, n is one per
 *                sample. q_n = lam_n s(t_n) + (1 - lam_n) s(t_partner(n)).
 *                Hard labels only.
 * pairing        how partner(n) is chosen (default FLIP). With K-dimensional
 *                inputs whole samples are paired, as timm's mixup pairs
 *                images: position d of sample n takes the label of
 *                position d of sample partner(n), with sample n's lambda.
 * partners       n indices in [0, n) for XENT_PAIR_EXPLICIT, else unused.
 * reduction      MEAN (default), SUM or NONE (semantics 3, and each
 *                family's denominator below).
 * kernel         AUTO (default) or a specific exp kernel.
 *
 * Fields added with the loss families; each is used only by the families
 * named, and setting one that the family does not use (a pointer, a
 * threshold >= 0, sum_classes, the BINARY convention) is ERR_NOT_APPLICABLE
 * naming that field:
 *
 * family         the loss (default XENT_LOSS_CROSS_ENTROPY).
 * pos_weight     binary families: `classes` weights of the positive term,
 *                finite and >= 0; NULL means none (PyTorch's pos_weight,
 *                indexed by class; for class_axis 1 that is PyTorch's
 *                pos_weight of shape (C, 1, ..., 1)).
 * target_threshold binary families: after smoothing and mixup each target
 *                above it becomes 1 and every other 0 (timm
 *                BinaryCrossEntropy's target_threshold, `target > thr`).
 *                A negative value turns it off (default -1); NaN is
 *                ERR_THRESHOLD.
 * sum_classes    binary families, reduction MEAN only: nonzero divides by
 *                the number of rows instead of elements (timm
 *                BinaryCrossEntropy(sum_classes=True): loss.sum(-1).mean()).
 * focal_alpha    focal families: the class-balance weight alpha in [0, 1]
 *                (default 0.25); a negative value removes the alpha term
 *                (torchvision's alpha = -1). NaN or above 1 is
 *                ERR_FOCAL_ALPHA.
 * focal_alpha_per_class focal families: `classes` values in [0, 1] used
 *                instead of focal_alpha (Keras' list alpha); NULL: the
 *                scalar.
 * focal_gamma    focal families: the focusing exponent, finite and >= 0
 *                (default 2).
 * poly_epsilon   poly-1: the coefficient of (1 - p_t), finite (default 2,
 *                optax's default).
 * inner          K-dimensional inputs: d1 * ... * dk, the positions per
 *                sample (default 1: plain n x classes). 0 is ERR_SHAPE.
 *                Targets are then n x inner, soft targets have the logits'
 *                shape and per_sample, stats' arrays have n x inner values.
 * class_axis     where C is in the logits, soft targets and the n x classes
 *                outputs: XENT_CLASS_AXIS_1, (N, C, d1..dk), PyTorch
 *                (default); XENT_CLASS_AXIS_LAST, (N, d1..dk, C). The same
 *                layout when inner is 1. Channels-first input is
 *                transposed a block of positions at a time into the
 *                workspace, so it needs one (xent_workspace_size).
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
  /* loss families */
  xent_family family;
  const double *pos_weight;
  double target_threshold;
  int sum_classes;
  double focal_alpha;
  const double *focal_alpha_per_class;
  double focal_gamma;
  double poly_epsilon;
  /* K-dimensional inputs */
  size_t inner;
  xent_class_axis class_axis;
} xent_problem;

/* Sets every field to its default: zeros and NULLs, ignore_index -100,
 * UNIFORM, FLIP, MEAN, AUTO, F64, cross-entropy, target_threshold -1 (off),
 * focal_alpha 0.25, focal_gamma 2, poly_epsilon 2, inner 1, class axis 1. */
XENT_API void xent_problem_init(xent_problem *problem);

/* ------------------------------------------------------------------------ */
/* Loss families                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Notation as above: x the logits of a row, p = softmax(x), lp =
 * log_softmax(x), sigma(v) = 1 / (1 + exp(-v)); q the row's targets after
 * smoothing and mixup (xent_targets gives them); w_c the class weights.
 * Masked classes (-inf) take no part: q, p, their element loss and their
 * gradient are 0, and K counts the other classes. Every family gives the
 * same outputs (loss, per_sample, grad, targets, probs; elementwise for the
 * binary ones), takes every option that applies and computes the analytic
 * gradient. Ignored rows (hard labels == ignore_index) contribute nothing
 * and leave every denominator.
 *
 * XENT_LOSS_CROSS_ENTROPY: semantics.md (PyTorch F.cross_entropy, timm's
 *   SoftTargetCrossEntropy with mixup targets).
 *     l_n = - sum_c w_c q_c lp_c; D as semantics 3.
 *
 * XENT_LOSS_SOFTMAX_FOCAL: the Keras categorical focal loss
 *   (keras/losses.py, categorical_focal_crossentropy, from_logits=True)
 *   without its clipping of p to [1e-7, 1 - 1e-7]:
 *     l_n = - sum_c w_c alpha_c (1 - p_c)^gamma q_c lp_c
 *   alpha_c = focal_alpha_per_class[c], else focal_alpha (1 when
 *   negative). gamma = 0 and alpha = 1 is cross-entropy. 1 - p_c is
 *   computed without cancellation: for a largest logit it is the sum of
 *   the other classes' exp over s (lp_c / (1 - p_c) there with log1p, and
 *   that class's gradient as p_c (Z - tau_c) - (1 - p_c) tau_c); lp is
 *   PyTorch's log_softmax in the loss. Reductions and D as cross-entropy
 *   (alpha is not in D). Gradient:
 *     dl/dx_j = p_j Z - tau_j,  tau_c = w_c q_c B_c,  Z = sum_c tau_c,
 *     B_c = alpha_c (1 - p_c)^gamma (1 - gamma p_c lp_c / (1 - p_c)).
 *
 * XENT_LOSS_POLY1: optax poly_loss_cross_entropy (optax/losses/
 *   _classification.py; Leng et al. 2022, "PolyLoss"):
 *     l_n = - sum_c w_c q_c lp_c + epsilon sum_c w_c q_c (1 - p_c)
 *   which is cross-entropy + epsilon (1 - sum_c q_c p_c) whenever q sums
 *   to 1 (always for hard labels; optax's form is kept for soft targets
 *   that do not). The class weights scale each class's term of both sums,
 *   so a hard label t without smoothing gives w_t (CE + epsilon (1 - p_t)),
 *   and D is cross-entropy's (sum of w_t). Gradient:
 *     dl/dx_j = p_j (sum_c w_c q_c + epsilon sum_c w_c q_c p_c)
 *               - w_j q_j (1 + epsilon p_j)
 *   with 1 - p_c and the largest class's gradient as for softmax focal.
 *
 * XENT_LOSS_BINARY_CROSS_ENTROPY: PyTorch
 *   F.binary_cross_entropy_with_logits (aten/src/ATen/native/Loss.cpp,
 *   binary_cross_entropy_with_logits and its _backward), in its operation
 *   order, one element per class, q_c the target of class c:
 *     m = max(-x_c, 0),  L = log(exp(-m) + exp(-x_c - m))
 *     l_nc = w_c ((1 - q_c) x_c + m + L)                 (no pos_weight)
 *     l_nc = w_c ((1 - q_c) x_c + lw_c (L + m)),  lw_c = (pw_c - 1) q_c + 1
 *     dl_nc/dx_c = w_c (sigma(x_c) - q_c)                (no pos_weight)
 *     dl_nc/dx_c = w_c ((pw_c q_c + 1 - q_c) sigma(x_c) - pw_c q_c)
 *   (divided by D for MEAN); sigma(x) = 1 / (1 + exp(-x)) as torch's, for
 *   x < 0 from exp(x) = exp(-|x|), within an ulp of it.
 *   per_sample = l_n = sum_c l_nc; `elementwise` receives every l_nc.
 *   Targets: soft_targets in [0, 1] (multi-label), or hard labels made
 *   one-hot; smoothing UNIFORM on hard labels is timm's BinaryCrossEntropy
 *   (off eps/K, on 1 - eps + eps/K; soft targets (1 - eps) y + eps/K),
 *   OTHERS as for cross-entropy, BINARY is Keras' y (1 - eps) + eps/2 on
 *   either; mixup as timm's mixup_target (then BCE); then
 *   target_threshold. Reduction MEAN divides by D = the number of
 *   elements: unmasked classes of the non-ignored rows (N x C with no mask
 *   and no ignored row, PyTorch's numel; class weights are not in D, as in
 *   PyTorch). An ignored row is left out of D because it does not exist
 *   for the loss (semantics 2.1): the mean then equals PyTorch's on the
 *   batch without that row, and does not depend on how many rows were
 *   ignored. With sum_classes D is the number of non-ignored rows.
 *
 * XENT_LOSS_SIGMOID_FOCAL: torchvision ops.sigmoid_focal_loss
 *   (torchvision/ops/focal_loss.py), in its operation order, per element:
 *     p = sigma(x_c), ce = the BCE element above without w_c,
 *     p_t = p q_c + (1 - p)(1 - q_c),
 *     l_nc = w_c alpha_t ce (1 - p_t)^gamma,
 *     alpha_t = alpha q_c + (1 - alpha)(1 - q_c) (1 when alpha < 0).
 *   Targets, pos_weight (inside ce; torchvision has none), class weights
 *   (a factor outside; torchvision has none), reductions and D as for
 *   BCE. The gradient is autograd's chain through these operations, except
 *   where 1 - p_t is exactly 0 with 0 < gamma < 1: there torchvision's
 *   gamma (1 - p_t)^(gamma - 1) is infinite and its gradient NaN; libxent
 *   drops that term (its factor p (1 - p) is 0 or below 1e-16 there), so
 *   the gradient stays finite.
 */

/* ------------------------------------------------------------------------ */
/* Outputs                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Evaluation statistics over the rows that are not ignored (semantics 5),
 * from the softmax: for the softmax families only (cross-entropy, softmax
 * focal, poly-1; with the binary families asking for them is
 * ERR_NOT_APPLICABLE, arg OUTPUTS). The per-row arrays are optional (NULL:
 * not written); ignored rows get predicted -1, confidence 0 and entropy 0.
 * When no row counts, the means are 0 and counted is 0.
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
 *             (0 for masked classes; all 0 for ignored rows); for the
 *             binary families the per-class targets after smoothing, mixup
 *             and target_threshold.
 * probs       n x classes: softmax of each row (ignored rows too, when their
 *             logits are valid; all 0 otherwise); for the binary families
 *             sigmoid(x) per element (0 for masked classes and ignored
 *             rows).
 * stats       see xent_stats.
 * elementwise binary families only: n x classes, the element losses l_nc
 *             before any reduction (0 for masked classes and ignored
 *             rows). The other families never read this member, so code
 *             written before it existed, which may leave it unset, keeps
 *             working.
 * With K-dimensional inputs per_sample has one value per position and the
 * n x classes outputs have the logits' layout.
 */
typedef struct xent_outputs {
  double *loss;
  double *per_sample;
  double *grad;
  double *targets;
  double *probs;
  xent_stats *stats;
  double *elementwise;
} xent_outputs;

/* ------------------------------------------------------------------------ */
/* Functions                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Scratch space, in bytes, that xent_evaluate needs for this problem's
 * shape, dtype, family and layout: 0 for cross-entropy on double logits
 * without channels-first K-dimensional layout; a few rows of doubles for
 * the other element types and families; blocks of positions for
 * channels-first inputs. `problem` may not be NULL.
 */
XENT_API size_t xent_workspace_size(const xent_problem *problem);

/*
 * The loss of a batch (its family's, cross-entropy by default): the per-row
 * losses, the reduced loss, the gradient with respect to the logits, the
 * target distribution, the probabilities, the statistics and the element
 * losses, each computed only when asked for.
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
 * smoothing, mixup fields, ignore_index, family, target_threshold, inner
 * and class_axis of `problem` (class_weights, pos_weight, the focal and
 * poly parameters and reduction are neither used nor checked). For the
 * binary families q is each class's target after smoothing, mixup and
 * target_threshold. `logits` may be NULL
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
 * outputs (others must be NULL, else ERR_OPTION with arg OUTPUTS), the
 * cross-entropy family only (else ERR_NOT_APPLICABLE, arg FAMILY), every
 * layout.
 */
XENT_API xent_status xent_evaluate_explicit(const xent_problem *problem,
                                            const xent_outputs *out,
                                            double *scratch, xent_error *err);

/* ------------------------------------------------------------------------ */
/* Whole-dataset metrics                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Classification metrics over a whole evaluation set that arrives in
 * batches, possibly to several workers: each worker updates its own state
 * with its batches, states are merged (in any order and grouping), and the
 * metrics are produced from any state at any time. States serialise to a
 * portable byte format (xent_metrics_serialize / xent_metrics_parse).
 *
 * Per counted row n (label y_n != ignore_index), with m = max_c x_c,
 * s = sum_c exp(x_c - m) and p_c = exp(x_c - m) / s as xent_evaluate
 * computes them (semantics 4 and 5):
 *   predicted   argmax_c p_c, lowest index on ties (xent_stats.predicted)
 *   confidence  max_c p_c = 1 / s
 *   rank        #{c : p_c > p_y} + #{c < y : p_c == p_y}: the label's place
 *               in the order argmax uses (rank 0 <=> predicted == y); when
 *               p_y < 2^-1000, where exp no longer keeps the logits apart
 *               (p is 0 more than ~745 below the max), equal p are ordered
 *               by their logits first: #{c : p_c == p_y, x_c > x_y} more
 *   nll         -lp_y = -((x_y - m) - log s)    (log_softmax as PyTorch)
 *   brier       sum_c (p_c - [c == y])^2
 *   entropy     -sum_c p_c log p_c = log s - sum_c p_c (x_c - m)
 *   bin         b with conf in (b/B, (b+1)/B], the first bin closed at 0
 *               (bin edges are the doubles b/B; B = config.bins)
 * Nearly certain rows (s - 1 tiny) keep their relative precision: log s is
 * log1p(s - 1), and a confidence above 1/2 enters the sums as 1 - (s - 1)/s,
 * with s - 1 summed without the max's term e^0 = 1 (xent_evaluate's
 * per_sample, confidence and entropy agree to a few 1e-16 absolute; they
 * round log s and 1 / s first).
 *
 * Exactness: a row's values depend on the row alone (and on the exp
 * kernel). Counts are integers and every sum of per-row doubles is kept
 * exactly (a fixed-point accumulator covering every double with room for
 * 2^63 additions), rounded once, to nearest even, when the metrics are
 * produced. So any split of the rows into batches, updated and merged in any
 * order and grouping, gives the same state byte for byte and the same
 * metrics bit for bit as one update with every row. The exp kernel changes
 * the last bits of per-row values: states meant to be merged should come
 * from the same kernel (XENT_KERNEL_SCALAR is the same on every x86-64 CPU
 * with the same libm).
 *
 * Memory: the caller owns the state (xent_metrics_state_size bytes, aligned
 * for uint64_t and double, as malloc returns) and the workspace of an
 * update. Nothing is allocated. On failure nothing reachable through the
 * output arguments is written (a state is untouched), except `err`.
 * Errors of the configuration name the field (arg CLASSES, BINS, TOP_K with
 * `row` the index in top_k, CONFUSION, PER_CLASS, IGNORE_INDEX).
 */

/* At most this many top-k values, and this many bins. */
#define XENT_METRICS_MAX_TOP_K 8
#define XENT_METRICS_MAX_BINS 10000
/* At most this many classes. */
#define XENT_METRICS_MAX_CLASSES ((size_t)1 << 24)

/*
 * What a state counts. Initialise with xent_metrics_config_init().
 *
 * classes      C, in [1, XENT_METRICS_MAX_CLASSES].
 * bins         B, the number of equal-width confidence bins of ece, ece_l2,
 *              mce and the reliability diagram, in [1, XENT_METRICS_MAX_BINS]
 *              (default 15, as xent_stats.ece).
 * top_k        top_k_count values (0 .. XENT_METRICS_MAX_TOP_K), strictly
 *              increasing (no duplicates), each in [1, classes]; entries past
 *              top_k_count are ignored. A k above classes is refused, not
 *              capped: only the default is capped (see config_init).
 * confusion    nonzero: keep the C x C confusion matrix (C^2 counts: the
 *              state is 8 C^2 bytes larger); per-class figures come from it.
 * per_class    nonzero: keep per-class counts (3 C counts) for precision,
 *              recall, F1 and support. Not needed when confusion is set.
 * ignore_index a label that removes its row (default -100), as in
 *              xent_problem.
 */
typedef struct xent_metrics_config {
  size_t classes;
  size_t bins;
  size_t top_k_count;
  size_t top_k[XENT_METRICS_MAX_TOP_K];
  int confusion;
  int per_class;
  int64_t ignore_index;
} xent_metrics_config;

/*
 * The defaults for `classes`: bins 15, top_k {1, 5} capped at classes (each
 * k becomes min(k, classes), and a k equal to the one before is dropped:
 * {1, 5} for C >= 5, {1, C} for 2 <= C < 5, {1} for C = 1), confusion and
 * per_class off, ignore_index -100. `config` may be NULL (nothing happens).
 */
XENT_API void xent_metrics_config_init(xent_metrics_config *config,
                                       size_t classes);

/*
 * Checks a configuration: ERR_CONFIG with arg CLASSES, BINS or TOP_K (row
 * is the offending index in top_k; -1 for top_k_count) when a value is out
 * of its range above; arg CONFUSION when the confusion matrix of `classes`
 * would not fit in memory (its size overflows size_t). ERR_NULL when `cfg`
 * is NULL. `err` may be NULL.
 */
XENT_API xent_status xent_metrics_config_check(const xent_metrics_config *cfg,
                                               xent_error *err);

/* Bytes of the state for `config`; 0 when the configuration is invalid
 * (xent_metrics_config_check says why) or NULL. */
XENT_API size_t xent_metrics_state_size(const xent_metrics_config *config);

/* The state: caller-owned memory of xent_metrics_state_size bytes. */
typedef struct xent_metrics xent_metrics;

/*
 * Makes `state` (state_size bytes, aligned for uint64_t) an empty state for
 * `config`: nothing counted. ERR_NULL (state or config NULL), ERR_CONFIG as
 * xent_metrics_config_check, ERR_BUFFER (arg STATE) when state_size is below
 * xent_metrics_state_size(config) or the memory is misaligned. Bytes past
 * xent_metrics_state_size(config) are not used.
 */
XENT_API xent_status xent_metrics_init(xent_metrics *state, size_t state_size,
                                       const xent_metrics_config *config,
                                       xent_error *err);

/* The configuration of an initialised state, into *config (not NULL).
 * ERR_STATE (arg STATE) when `state` is not an initialised state. */
XENT_API xent_status xent_metrics_get_config(const xent_metrics *state,
                                             xent_metrics_config *config,
                                             xent_error *err);

/*
 * A batch for xent_metrics_update. Zero-initialise it ({0} gives the
 * defaults: double logits, kernel AUTO), then set:
 * n        rows, >= 1.
 * dtype    the type of the logits (every xent_dtype).
 * logits   n x classes (classes of the state's configuration); -INFINITY
 *          masks a class. Ignored rows are not read.
 * targets  n hard labels in [0, classes) or == the configuration's
 *          ignore_index.
 * kernel   the exp kernel (XENT_KERNEL_AUTO picks the best).
 */
typedef struct xent_metrics_batch {
  size_t n;
  xent_dtype dtype;
  const void *logits;
  const int64_t *targets;
  xent_kernel kernel;
} xent_metrics_batch;

/*
 * Scratch bytes xent_metrics_update needs for a batch of n rows of
 * `config`: two rows of doubles and 72 bytes per row (on 64-bit targets). 0
 * when the configuration is invalid or the size does not fit in size_t.
 */
XENT_API size_t xent_metrics_workspace_size(const xent_metrics_config *config,
                                            size_t n);

/*
 * Adds a batch to a state. The whole batch is validated and every row's
 * values computed into the workspace first; the state is written only when
 * all of it is valid, so a failed update leaves the state as it was.
 *
 * Errors (with their position in `err`, as xent_evaluate): ERR_NULL (state,
 * batch, logits (arg LOGITS) or targets (arg TARGETS) NULL), ERR_STATE (arg
 * STATE), ERR_SHAPE (n is 0), ERR_OPTION (dtype or kernel), ERR_WORKSPACE
 * (missing, smaller than xent_metrics_workspace_size or not aligned for
 * double), ERR_LABEL (targets[row] outside [0, classes) and not
 * ignore_index), ERR_LOGIT (logits[row][col] NaN or +inf), ERR_ROW_MASKED
 * (every class of a row is -inf), ERR_MASKED_TARGET (arg TARGETS: the label's
 * logit is -inf, its nll is infinite), ERR_OVERFLOW (arg LOGITS, row and the
 * label's column: x_y - m overflows, |x| near the double range),
 * ERR_COUNT_LIMIT (the state would count more than 2^63 - 1 rows).
 * An all-ignored batch is valid and counts nothing.
 */
XENT_API xent_status xent_metrics_update(xent_metrics *state,
                                         const xent_metrics_batch *batch,
                                         void *workspace, size_t workspace_size,
                                         xent_error *err);

/*
 * dst += src: afterwards dst is the state of the rows of both. Exact: the
 * result does not depend on the order or grouping of merges. src may be dst
 * (the counts double). ERR_NULL; ERR_STATE (arg STATE for dst, SOURCE for
 * src); ERR_CONFIG_MISMATCH when the configurations differ, arg naming the
 * first field that does, in this order: CLASSES, BINS, TOP_K (row = first
 * differing index, or -1 when only the counts differ), CONFUSION, PER_CLASS,
 * IGNORE_INDEX; ERR_COUNT_LIMIT when more than 2^63 - 1 rows would be counted.
 */
XENT_API xent_status xent_metrics_merge(xent_metrics *dst,
                                        const xent_metrics *src,
                                        xent_error *err);

/* One confidence bin of the reliability diagram. */
typedef struct xent_metrics_bin {
  uint64_t count;         /* n_b: rows whose confidence falls in the bin    */
  uint64_t correct;       /* rows of the bin whose prediction is right      */
  double mean_confidence; /* conf_b = (sum of their confidences) / n_b      */
  double accuracy;        /* acc_b = correct / n_b                          */
  int empty;              /* n_b == 0: conf_b and acc_b are undefined (0)   */
} xent_metrics_bin;

/*
 * One class, as scikit-learn's precision_recall_fscore_support with its
 * default zero_division (0/0 is 0): with tp = correct, fp = predicted - tp,
 * fn = support - tp.
 */
typedef struct xent_metrics_class {
  uint64_t support;   /* rows whose label is c: tp + fn                     */
  uint64_t predicted; /* rows predicted as c: tp + fp                       */
  uint64_t correct;   /* tp                                                 */
  double precision;   /* tp / predicted, 0 when predicted is 0              */
  double recall;      /* tp / support, 0 when support is 0                  */
  double f1;          /* 2 tp / (support + predicted), 0 when both are 0    */
  int in_macro;       /* support > 0 or predicted > 0: counts in macro      */
} xent_metrics_class;

/* An average of the per-class figures. */
typedef struct xent_metrics_average {
  double precision;
  double recall;
  double f1;
} xent_metrics_average;

/*
 * The metrics of a state (xent_metrics_compute). N = counted rows; every
 * mean is the exact sum rounded once (to nearest even) after the division:
 * round(S / N).
 *
 * counted          N.
 * defined          N > 0. When 0, every figure below is undefined and set
 *                  to 0 (arrays: counts 0, ratios 0, bins empty, no class in
 *                  the macro average): report them as null.
 * accuracy         share of rows with predicted == label.
 * top_k, top_k_accuracy  the configuration's k values and, for each, the
 *                  share of rows whose rank < k (the label is among the k
 *                  largest p, ties to the lower index: top-1 == accuracy;
 *                  scikit-learn's top_k_accuracy_score breaks ties toward
 *                  the higher index instead).
 * nll              mean nll (scikit-learn log_loss without its clipping).
 * brier            mean over rows of sum_c (p_c - [c == y])^2 (the
 *                  multi-class Brier score, not divided by classes).
 * ece              sum_b (n_b / N) |acc_b - conf_b|, computed exactly as
 *                  sum_b |correct_b - S_b| / N, S_b the exact sum of the
 *                  bin's confidences.
 * ece_l2           sqrt(sum_b (n_b / N) (acc_b - conf_b)^2), each bin's
 *                  exact gap correct_b - S_b rounded once before squaring.
 * mce              max over non-empty bins of |acc_b - conf_b|.
 * mean_confidence, mean_entropy   means of the per-row values.
 * per_class_defined  N > 0 and the state keeps per-class counts (per_class
 *                  or confusion): macro, weighted and macro_classes are set.
 * macro            unweighted mean over the classes with in_macro set (as
 *                  scikit-learn's average='macro' over the labels present in
 *                  y_true or y_pred); macro_classes is their number.
 * weighted         sum_c support_c * figure_c / N (average='weighted').
 *
 * Arrays the caller provides (NULL: not written):
 * reliability      `bins` entries.
 * per_class        `classes` entries; needs per_class or confusion in the
 *                  configuration, else ERR_CONFIG (arg PER_CLASS).
 * confusion        classes x classes counts, row = true label, column =
 *                  prediction; needs confusion, else ERR_CONFIG (arg
 *                  CONFUSION).
 */
typedef struct xent_metrics_result {
  uint64_t counted;
  int defined;
  double accuracy;
  size_t top_k_count;
  size_t top_k[XENT_METRICS_MAX_TOP_K];
  double top_k_accuracy[XENT_METRICS_MAX_TOP_K];
  double nll;
  double brier;
  double ece;
  double ece_l2;
  double mce;
  double mean_confidence;
  double mean_entropy;
  int per_class_defined;
  size_t macro_classes;
  xent_metrics_average macro;
  xent_metrics_average weighted;
  xent_metrics_bin *reliability;
  xent_metrics_class *per_class;
  uint64_t *confusion;
} xent_metrics_result;

/*
 * The metrics of a state into *result (not NULL; its three array pointers
 * are read, the rest is written). Every figure is a deterministic function
 * of the state: equal states give bit-identical results. Never NaN or
 * infinite. ERR_NULL, ERR_STATE (arg STATE), ERR_CONFIG (an array asked for
 * that the state does not keep).
 */
XENT_API xent_status xent_metrics_compute(const xent_metrics *state,
                                          xent_metrics_result *result,
                                          xent_error *err);

/* The version of the serialized state that this library writes. It reads
 * this one and version 1, the same layout without the checksum. */
#define XENT_METRICS_FORMAT_VERSION 2

/*
 * The state as portable bytes (little-endian; layout in
 * lib/src/metrics_io.c): magic "XENTMTRC", format version, total length,
 * configuration, then counts (LEB128 varints) and accumulators (their
 * non-zero 32-bit digits), and last the CRC-32 of every byte before it (the
 * checksum of zlib's crc32()). Equal states give equal bytes.
 *
 * buf NULL: *written receives the size needed and nothing else happens
 * (size is ignored). Otherwise the bytes go to buf (at least that many
 * bytes, else ERR_BUFFER, arg SERIALIZED) and *written is their number.
 * written may not be NULL (ERR_NULL). ERR_STATE (arg STATE).
 */
XENT_API xent_status xent_metrics_serialize(const xent_metrics *state,
                                            void *buf, size_t size,
                                            size_t *written, xent_error *err);

/*
 * The configuration of serialized bytes, to size the state before
 * xent_metrics_parse. Reads and checks the header and the configuration
 * only, and for version 2 the checksum (which reads every byte). Errors as
 * xent_metrics_parse.
 */
XENT_API xent_status xent_metrics_parse_config(const void *bytes, size_t size,
                                               xent_metrics_config *config,
                                               xent_error *err);

/*
 * Rebuilds a state from `size` bytes of xent_metrics_serialize. Every byte
 * is checked before the state is written: the magic and the total length
 * (ERR_STATE_FORMAT), the version (ERR_STATE_VERSION: versions 1 and
 * XENT_METRICS_FORMAT_VERSION are read, others refused), the checksum of
 * version 2 (ERR_STATE_CHECKSUM, row the checksum's offset: every change
 * within 32 consecutive bits is caught, and all but about one in 2^32 of
 * other changes), the
 * configuration (ERR_STATE_FORMAT with arg CLASSES, BINS, TOP_K, CONFUSION
 * or PER_CLASS when out of range), every count and accumulator in its
 * canonical encoding, and their consistency (bins sum to the rows counted,
 * correct <= count, top-k counts ordered, sums of confidences within
 * [0, count], ...). For ERR_STATE_FORMAT, ERR_STATE_VERSION and
 * ERR_STATE_CHECKSUM, arg is SERIALIZED (or the configuration field) and
 * `row` is the byte offset where the bytes stop making sense.
 * state: state_size bytes (ERR_BUFFER, arg STATE, when below
 * xent_metrics_state_size of the parsed configuration, or misaligned); the
 * bytes are checked first, so malformed bytes are refused whatever the
 * state's size.
 * bytes may be NULL only when size is 0.
 */
XENT_API xent_status xent_metrics_parse(const void *bytes, size_t size,
                                        xent_metrics *state, size_t state_size,
                                        xent_error *err);

/*
 * dst += the state serialized in `size` bytes: the same state as
 * xent_metrics_parse into a state of its own followed by xent_metrics_merge
 * into dst, bit for bit, in the time and memory of the bytes alone (a
 * sparse confusion matrix is added cell by cell; no state is laid out).
 * The bytes are checked whole, and the merge's conditions, before dst
 * changes: the errors of xent_metrics_parse, then those of
 * xent_metrics_merge (ERR_CONFIG_MISMATCH, ERR_COUNT_LIMIT; arg SOURCE for
 * the bytes' counts). counted (may be NULL) receives the rows the bytes
 * counted once they are found valid: on success, and with
 * ERR_CONFIG_MISMATCH or ERR_COUNT_LIMIT.
 */
XENT_API xent_status xent_metrics_merge_serialized(xent_metrics *dst,
                                                   const void *bytes,
                                                   size_t size,
                                                   uint64_t *counted,
                                                   xent_error *err);

/*
 * sum_i values[i] computed exactly and rounded once to the nearest double
 * (ties to even), as Python's math.fsum; the accumulator the metrics use.
 * values may be NULL when n is 0 (the sum is +0). ERR_NULL (sum, or values
 * with n > 0); ERR_VALUE (arg VALUES, row i) when values[i] is NaN or
 * infinite; ERR_OVERFLOW when the rounded sum is outside the double range.
 * *sum is written only on success.
 */
XENT_API xent_status xent_fsum(const double *values, size_t n, double *sum,
                               xent_error *err);

#ifdef __cplusplus
}
#endif

#endif /* XENT_H */
