/*
 * fields.h - the one description of every request field.
 *
 * One row per field: its JSON name and place, the bodies it belongs to,
 * the JSON forms it takes (a scalar, an array of a given rank and shape),
 * its bounds and enum names, the member of the parsed request it fills,
 * the libxent argument it feeds, its Open Inference Protocol name and one
 * documentation line. Everything that knows about fields reads this table:
 * the streaming parser (request.c), the error paths (errors.c), GET /v1,
 * the description printed for api/openapi.yaml's check, and later the v2
 * model metadata. A new field is one new row.
 */
#ifndef XENTD_FIELDS_H
#define XENTD_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "xent.h"

/* The request bodies the table describes (bits). */
enum {
  XS_BODY_LOSS = 1u << 0,    /* POST /v1/loss                          */
  XS_BODY_TARGETS = 1u << 1, /* POST /v1/targets                       */
  XS_BODY_METRICS = 1u << 2, /* POST /v1/metrics                       */
  XS_BODY_MERGE = 1u << 3,   /* POST /v1/metrics/merge                 */
  XS_BODY_REPORT = 1u << 4   /* POST /v1/metrics/report: either above  */
};

/* The fields, in the table's order: the order in which a request's errors
 * are reported when it has several (after syntax, limits and unknown
 * keys), and the order GET /v1 lists them in. */
typedef enum xs_field_id {
  XS_F_LOGITS = 0,
  XS_F_SHAPE,
  XS_F_CLASS_AXIS,
  XS_F_TARGETS,
  XS_F_SOFT_TARGETS,
  XS_F_NUM_CLASSES,
  XS_F_LOSS,
  XS_F_CLASS_WEIGHTS,
  XS_F_POS_WEIGHT,
  XS_F_LABEL_SMOOTHING,
  XS_F_SMOOTHING,
  XS_F_MIXUP,
  XS_F_MIXUP_LAMBDA,
  XS_F_MIXUP_PAIRING,
  XS_F_IGNORE_INDEX,
  XS_F_TARGET_THRESHOLD,
  XS_F_SUM_CLASSES,
  XS_F_FOCAL_ALPHA,
  XS_F_FOCAL_GAMMA,
  XS_F_POLY_EPSILON,
  XS_F_PRECISION,
  XS_F_REDUCTION,
  XS_F_OUTPUTS,
  XS_F_TOP_K,
  XS_F_BINS,
  XS_F_CONFUSION,
  XS_F_PER_CLASS,
  XS_F_STATES,
  XS_F_COUNT,
  XS_F_NONE = -1
} xs_field_id;

/* What a JSON value (a scalar, or an array's element) must be. */
typedef enum xs_elem {
  XS_E_NONE = 0, /* this form is not accepted                          */
  XS_E_NUMBER,   /* a JSON number                                      */
  XS_E_INTEGER,  /* a JSON integer (no fraction, no exponent)          */
  XS_E_ENUM,     /* a string out of `names`                            */
  XS_E_OBJECT,   /* an object: as a scalar, its members are the rows   */
                 /* with this parent; as elements, metrics states      */
  XS_E_BOOL      /* true or false                                      */
} xs_elem;

/* A dimension of an array form. */
typedef enum xs_dim {
  XS_DIM_ANY = 0, /* any length                                         */
  XS_DIM_N,       /* the batch's rows                                   */
  XS_DIM_C,       /* the batch's classes                                */
  XS_DIM_POS      /* the positions d1, ..., dk of K-dimensional inputs: */
                  /* zero or more dimensions (the last of `dims`)     */
} xs_dim;

/* How a parsed value is stored into the request. A member is written as
 * XS_AT(member): its offset in xs_request plus one, so that 0 (what a row
 * leaves unset) means "none". */
typedef enum xs_store {
  XS_S_NONE = 0,
  XS_S_F64,     /* double                                             */
  XS_S_I64,     /* int64_t                                            */
  XS_S_SIZE,    /* size_t                                             */
  XS_S_INT,     /* an enum: the name's index                          */
  XS_S_BITS,    /* unsigned: 1 << index for every name in the array   */
  XS_S_F64_PTR, /* const double *: the array (a scalar: one element)  */
  XS_S_I64_PTR  /* const int64_t *: the array                         */
} xs_store;

/* The most dimensions an array may have: N, C and six positions. */
enum { XS_MAX_RANK = 8 };

/* One JSON form of a field (scalar or array). */
typedef struct xs_form {
  xs_elem elem;
  xs_store store;
  size_t member; /* XS_AT(...), 0 for none                             */
} xs_form;

typedef struct xs_field {
  const char *path;         /* "mixup.lambda"                           */
  const char *key;          /* "lambda": the key within its parent      */
  xs_field_id parent;       /* XS_F_NONE at the top                     */
  unsigned bodies;          /* XS_BODY_* where the field exists         */
  unsigned required;        /* XS_BODY_* where it must be given         */
  xs_form scalar;           /* the scalar form (elem NONE: none)        */
  xs_form array;            /* the array form (elem NONE: none)         */
  int rank;                 /* of the array form (N x C: 2)             */
  xs_dim dims[XS_MAX_RANK]; /* of the array form; with kdim, POS follows */
  /* Bodies where the array is K-dimensional: its rank is what the value
   * has (found from its first elements), C may be the last axis instead
   * of the second (class_axis), and with `shape` the array is flat. */
  unsigned kdim;
  int nullable;             /* null elements mean -inf (masked class)   */
  size_t count_member;      /* XS_AT of a size_t element count, or 0    */
  size_t array_flag_member; /* XS_AT of an int set when the array form */
  int array_flag_value;     /* is used, to this value; or 0             */
  int has_min, has_max;     /* documented bounds (checked by libxent)   */
  double min, max;
  const char *const *names; /* enum names, NULL-terminated              */
  const char *def;          /* the default as JSON text, NULL: none     */
  xent_arg arg;             /* the libxent argument it feeds            */
  /* The loss families that use it (bits 1 << xent_family), 0: every
   * one. Given with a loss that does not use it, it is refused (400). */
  unsigned families;
  const char *v2_input;  /* Open Inference Protocol tensor, or NULL  */
  const char *v2_dtypes; /* its datatypes, the one metadata shows 1st */
  const char *v2_param;  /* ... or request parameter, or NULL        */
  const char *doc;       /* one line                                 */
} xs_field;

#define XS_AT(member) (offsetof(xs_request, member) + 1)

/* A family's bit in xs_field.families. */
#define XS_FAMILY(f) (1u << (f))

/* "cross_entropy", ...: the name of a loss family (the field `loss`). */
const char *xs_family_name(xent_family f);

/* The row of a field (id in [0, XS_F_COUNT)). */
const xs_field *xs_field_get(xs_field_id id);

/* The field called `key` under `parent` in `body`, or XS_F_NONE. The key
 * need not be NUL-terminated. */
xs_field_id xs_field_find(xs_field_id parent, const char *key, size_t len,
                          unsigned body);

/* "uniform", ... : the name of value `index` of an enum field, or NULL. */
const char *xs_field_enum_name(xs_field_id id, int index);

/* The field that feeds libxent argument `arg` in `body`, or XS_F_NONE. */
xs_field_id xs_field_of_arg(xent_arg arg, unsigned body);

/* Prints the fields of `body` as a JSON array, one object per field in
 * the table's order: {"name", "type" (a JSON type, or a list of them when
 * the field takes a scalar or an array), "items", "shape" (["N", "C"];
 * "d..." stands for the positions of K-dimensional inputs), "nullable",
 * "enum", "minimum", "maximum", "default", "losses" (the loss families
 * that use it, when not every one), "required", "doc"}.
 * GET /v1 answers with it, and api/openapi.yaml is checked against it.
 * Returns 0, or -1 when out of memory. */
struct xs_buf;
int xs_fields_describe(unsigned body, struct xs_buf *out);

/* Prints {"<name>": [names...], ...} for every field with enum names,
 * keyed by its path with '.' as '_' ("mixup_pairing"). */
int xs_fields_options(struct xs_buf *out);

#endif /* XENTD_FIELDS_H */
