/*
 * v2.c - reading an Open Inference Protocol infer request (KServe v2 /
 * Triton HTTP) with the binary tensor data extension, into the same
 * xs_request as /v1's bodies.
 *
 * The body is a JSON header (Inference-Header-Content-Length bytes, or the
 * whole body) followed by the raw little-endian bytes of the inputs that
 * declare parameters.binary_data_size, in input order. The header goes
 * through the streaming tokenizer (json.c) like every body; JSON tensor
 * data goes into storage through a sink. The binary bytes are copied once,
 * as they arrive, into an aligned buffer of their tensor (taken from the
 * request's memory share): a FP64 or FP32 tensor is then handed to libxent
 * where it lies.
 *
 * The model's inputs and parameters are the rows of the field table with a
 * v2 name (fields.c), so that what a request may carry and what the
 * metadata says are one description. An input's elements are counted
 * against its shape; the shape against the batch (N rows, C classes);
 * every error names the tensor and, inside it, the flat element index.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "json.h"
#include "models.h"
#include "mstate.h"
#include "v2.h"

enum {
  MAX_TENSORS = XS_V2_MAX_OUTPUTS, /* inputs, and outputs asked for    */
  MAX_RANK = 8,
  MAX_PARAMS = 24,
  NAME_MAX_LEN = 63
};

typedef struct tensor {
  char name[NAME_MAX_LEN + 1];
  int has_name;
  int64_t shape[MAX_RANK];
  int rank;
  int has_shape;
  xs_v2_dtype dtype;
  int has_dtype;
  int64_t binary_size; /* -1: not binary                           */
  int has_data;
  int binary_data;   /* an output asked binary (-1: not said)         */
  xs_json_sink sink; /* JSON data, as doubles                       */
  struct v2_state *st;
  void *bin; /* the binary bytes                                     */
  uint64_t bin_have;
  uint64_t bin_cap; /* bytes of bin: it grows as they come (<= size)  */
  size_t strings;   /* BYTES elements read from JSON data (states)   */
  unsigned seen;    /* members read (bit per KEY_*): no duplicates    */
  unsigned seen_params;
} tensor;

typedef struct param {
  char name[NAME_MAX_LEN + 1];
  xs_json_value v;
  char str[64]; /* a string value, copied */
} param;

/* Where the header's reader stands. */
typedef enum place {
  AT_TOP,     /* members of the request object                    */
  AT_PARAMS,  /* members of "parameters"                          */
  AT_LIST,    /* elements of "inputs" / "outputs"                 */
  AT_TENSOR,  /* members of one input / output                    */
  AT_TPARAMS, /* members of an input's / output's "parameters"    */
  AT_SHAPE,   /* elements of "shape"                              */
  AT_DATA,    /* inside "data"                                    */
  AT_SKIP     /* inside a value refused already                   */
} place;

typedef struct v2_state {
  const xs_model *model;
  uint64_t header_len; /* 0: the whole body is the header */
  uint64_t body_len;   /* the body's bytes when known, else 0 */
  uint64_t fed;
  uint64_t trailing; /* bytes after the last binary tensor */
  unsigned seen_top; /* top-level members read (bit per KEY_*) */
  xs_limits lim;
  xs_mem *mem;
  xs_json *json;
  int json_done;
  /* reading the header */
  int depth;
  place at;
  int list;       /* 0 inputs, 1 outputs                            */
  int key;        /* the member being read (KEY_*), -1 none         */
  int skip_to;    /* depth that ends a skipped value                */
  place resume;   /* where reading resumes after it                 */
  int data_depth; /* depth of the outermost "data" array            */
  tensor in[MAX_TENSORS];
  int nin;
  tensor out[MAX_TENSORS];
  int nout;
  int has_inputs, has_outputs;
  param params[MAX_PARAMS];
  int nparams;
  char id[256];
  int has_id;
  char key_text[NAME_MAX_LEN + 1]; /* a parameter's name */
  /* binary data */
  int bin_at; /* the input receiving bytes */
  /* the metrics states read so far (input "states"), merged */
  xs_mstate merged;
  /* the first error */
  int failed;
  xs_error err;
} v2_state;

enum {
  KEY_ID,
  KEY_MODEL_NAME,
  KEY_MODEL_VERSION,
  KEY_PARAMETERS,
  KEY_INPUTS,
  KEY_OUTPUTS,
  KEY_NAME,
  KEY_SHAPE,
  KEY_DATATYPE,
  KEY_DATA,
  KEY_BINARY_DATA_SIZE,
  KEY_BINARY_DATA,
  KEY_PARAM /* a request parameter: its name in key_text */
};

/* ---------------------------------------------------------------- errors -- */

static void fail(v2_state *s, xs_err_kind kind, const char *fmt, ...)
    XS__PRINTF(3, 4);
static void fail(v2_state *s, xs_err_kind kind, const char *fmt, ...) {
  if (s->failed)
    return;
  char msg[sizeof s->err.message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xs__set_error(&s->err, kind, "", "%s", msg);
  s->failed = 1;
}

#define BAD(s, ...) fail(s, XS_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* ---------------------------------------------------------- the header -- */

static tensor *cur_tensor(v2_state *s) {
  if (s->list == 0)
    return s->nin > 0 ? &s->in[s->nin - 1] : NULL;
  return s->nout > 0 ? &s->out[s->nout - 1] : NULL;
}

static void copy_name(char *dst, const char *src, size_t len) {
  xs__copy_utf8(dst, NAME_MAX_LEN + 1, src, len);
}

static int data_grow(xs_json_sink *sink, size_t at_least) {
  tensor *t = (tensor *)((char *)sink - offsetof(tensor, sink));
  v2_state *s = t->st;
  if (s->failed)
    return -1;
  if (at_least > s->lim.max_elements) {
    fail(s, XS_ERR_PAYLOAD_TOO_LARGE,
         "%s has more than %zu elements, the limit of this server "
         "(--max-elements)",
         t->name[0] != '\0' ? t->name : "an input's data", s->lim.max_elements);
    sink->type = XS_SINK_OFF;
    return -1;
  }
  size_t cap = sink->cap < 64 ? 64 : sink->cap;
  while (cap < at_least)
    cap *= 2;
  if (cap > s->lim.max_elements)
    cap = s->lim.max_elements;
  xs_error err;
  if (xs__realloc(s->mem, &sink->data, sink->cap * sizeof(double),
                  cap * sizeof(double), &err) != 0) {
    s->err = err;
    s->failed = 1;
    sink->type = XS_SINK_OFF;
    return -1;
  }
  sink->cap = cap;
  return 0;
}

/* Skips the container just opened (a value refused already). */
static void skip(v2_state *s) {
  s->skip_to = s->depth;
  s->resume = s->at;
  s->at = AT_SKIP;
}

static xs_json_sink *on_open(void *ctx, int is_object) {
  v2_state *s = ctx;
  s->depth++;
  if (s->depth == 1) {
    if (!is_object)
      BAD(s, "the inference request must be a JSON object");
    s->at = AT_TOP;
    return NULL;
  }
  if (s->at == AT_SKIP || s->failed)
    return NULL;
  const int key = s->key;
  s->key = -1;
  switch (s->at) {
  case AT_TOP:
    if (key == KEY_PARAMETERS && is_object) {
      s->at = AT_PARAMS;
      return NULL;
    }
    if ((key == KEY_INPUTS || key == KEY_OUTPUTS) && !is_object) {
      s->at = AT_LIST;
      s->list = key == KEY_OUTPUTS;
      return NULL;
    }
    BAD(s, "\"%s\" must be %s",
        key == KEY_PARAMETERS ? "parameters"
        : key == KEY_INPUTS   ? "inputs"
        : key == KEY_OUTPUTS  ? "outputs"
                              : "the member",
        key == KEY_PARAMETERS ? "an object" : "an array of objects");
    skip(s);
    return NULL;
  case AT_LIST: {
    tensor *arr = s->list == 0 ? s->in : s->out;
    int *n = s->list == 0 ? &s->nin : &s->nout;
    if (!is_object) {
      BAD(s, "%s[%d] must be an object", s->list == 0 ? "inputs" : "outputs",
          *n);
      skip(s);
      return NULL;
    }
    if (*n == MAX_TENSORS) {
      BAD(s, "more than %d %s", MAX_TENSORS,
          s->list == 0 ? "inputs" : "outputs");
      skip(s);
      return NULL;
    }
    tensor *t = &arr[(*n)++];
    memset(t, 0, sizeof *t);
    t->st = s;
    t->binary_size = -1;
    t->binary_data = -1;
    t->dtype = XS_V2_NONE;
    s->at = AT_TENSOR;
    return NULL;
  }
  case AT_TENSOR: {
    tensor *t = cur_tensor(s);
    if (key == KEY_PARAMETERS && is_object) {
      s->at = AT_TPARAMS;
      return NULL;
    }
    if (key == KEY_SHAPE && !is_object && s->list == 0) {
      s->at = AT_SHAPE;
      t->has_shape = 1;
      return NULL;
    }
    if (key == KEY_DATA && !is_object && s->list == 0) {
      s->at = AT_DATA;
      s->data_depth = s->depth;
      t->has_data = 1;
      t->sink.type = XS_SINK_F64;
      t->sink.grow = data_grow;
      return &t->sink;
    }
    BAD(s, "%s: a member has the wrong type",
        t->name[0] != '\0' ? t->name : "a tensor");
    skip(s);
    return NULL;
  }
  case AT_DATA: {
    tensor *t = cur_tensor(s);
    if (is_object) {
      BAD(s, "%s: data must hold numbers", t->name);
      skip(s);
      return NULL;
    }
    return &t->sink; /* a nested array: flattened in row-major order */
  }
  case AT_PARAMS:
  case AT_TPARAMS:
  case AT_SHAPE:
  case AT_SKIP:
    break;
  }
  BAD(s, "a parameter or a shape must be a scalar value");
  skip(s);
  return NULL;
}

static void on_close(void *ctx, int is_object) {
  v2_state *s = ctx;
  const int d = s->depth--;
  (void)is_object;
  if (s->at == AT_SKIP) {
    if (d == s->skip_to)
      s->at = s->resume;
    return;
  }
  switch (s->at) {
  case AT_PARAMS:
  case AT_LIST:
    s->at = AT_TOP;
    break;
  case AT_TENSOR:
    s->at = AT_LIST;
    break;
  case AT_TPARAMS:
  case AT_SHAPE:
    s->at = AT_TENSOR;
    break;
  case AT_DATA:
    if (d == s->data_depth) {
      tensor *t = cur_tensor(s);
      t->sink.type = XS_SINK_OFF;
      s->at = AT_TENSOR;
    }
    break;
  case AT_TOP:
  case AT_SKIP:
    break;
  }
}

static int is_key(const char *s, size_t n, const char *want) {
  return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* Keys of the top object, in the order below (duplicates are refused, as
 * by the /v1 parser: seen[] holds them). */
/* A member read twice in one object is invalid JSON here, as for /v1
 * (jansson's JSON_REJECT_DUPLICATES): readers that keep the first or the
 * last would see different requests in the same bytes. */
static void once(v2_state *s, unsigned *seen) {
  if (s->key < 0 || s->key == KEY_PARAM)
    return;
  if (*seen & (1u << s->key))
    xs_json_fail(s->json, "duplicate object key");
  *seen |= 1u << s->key;
}

static void on_key(void *ctx, const char *k, size_t n) {
  v2_state *s = ctx;
  if (s->at == AT_SKIP || s->failed)
    return;
  s->key = -1;
  switch (s->at) {
  case AT_TOP:
    if (is_key(k, n, "id"))
      s->key = KEY_ID;
    else if (is_key(k, n, "model_name"))
      s->key = KEY_MODEL_NAME;
    else if (is_key(k, n, "model_version"))
      s->key = KEY_MODEL_VERSION;
    else if (is_key(k, n, "parameters"))
      s->key = KEY_PARAMETERS;
    else if (is_key(k, n, "inputs"))
      s->key = KEY_INPUTS;
    else if (is_key(k, n, "outputs"))
      s->key = KEY_OUTPUTS;
    else {
      char name[NAME_MAX_LEN + 1];
      copy_name(name, k, n);
      BAD(s, "\"%s\" is not a member of an inference request", name);
    }
    once(s, &s->seen_top);
    if (s->key == KEY_INPUTS)
      s->has_inputs = 1;
    if (s->key == KEY_OUTPUTS)
      s->has_outputs = 1;
    return;
  case AT_PARAMS:
    if (s->nparams == MAX_PARAMS) {
      BAD(s, "more than %d parameters", MAX_PARAMS);
      return;
    }
    copy_name(s->key_text, k, n);
    for (int i = 0; i < s->nparams; i++)
      if (strcmp(s->params[i].name, s->key_text) == 0)
        xs_json_fail(s->json, "duplicate object key");
    s->key = KEY_PARAM;
    return;
  case AT_TENSOR:
    if (is_key(k, n, "name"))
      s->key = KEY_NAME;
    else if (is_key(k, n, "parameters"))
      s->key = KEY_PARAMETERS;
    else if (s->list == 0 && is_key(k, n, "shape"))
      s->key = KEY_SHAPE;
    else if (s->list == 0 && is_key(k, n, "datatype"))
      s->key = KEY_DATATYPE;
    else if (s->list == 0 && is_key(k, n, "data"))
      s->key = KEY_DATA;
    else {
      char name[NAME_MAX_LEN + 1];
      copy_name(name, k, n);
      BAD(s, "\"%s\" is not a member of an %s", name,
          s->list == 0 ? "input" : "output");
    }
    once(s, &cur_tensor(s)->seen);
    return;
  case AT_TPARAMS:
    if (s->list == 0 && is_key(k, n, "binary_data_size"))
      s->key = KEY_BINARY_DATA_SIZE;
    else if (s->list == 1 && is_key(k, n, "binary_data"))
      s->key = KEY_BINARY_DATA;
    else {
      char name[NAME_MAX_LEN + 1];
      copy_name(name, k, n);
      tensor *t = cur_tensor(s);
      BAD(s, "%s: parameter \"%s\" is not supported (only %s)",
          t != NULL && t->name[0] != '\0' ? t->name : "a tensor", name,
          s->list == 0 ? "binary_data_size" : "binary_data");
    }
    once(s, &cur_tensor(s)->seen_params);
    return;
  case AT_LIST:
  case AT_SHAPE:
  case AT_DATA:
  case AT_SKIP:
    return;
  }
}

/* One BYTES element of the input "states": a metrics state's JSON text,
 * read and merged into the others at once (mstate.h). */
static void take_state(v2_state *s, tensor *t, const char *text, size_t len) {
  char where[NAME_MAX_LEN + 32];
  snprintf(where, sizeof where, "%s[%zu]",
           t->name[0] != '\0' ? t->name : "states", t->strings++);
  xs_error err;
  if (xs_mstate_parse(text, len, where, s->mem, &s->lim, &s->merged, &err) !=
      0) {
    if (!s->failed) {
      s->err = err;
      s->failed = 1;
    }
  }
}

static void on_scalar(void *ctx, const xs_json_value *v) {
  v2_state *s = ctx;
  if (s->at == AT_SKIP || s->failed)
    return;
  const int key = s->key;
  s->key = -1;
  tensor *t = cur_tensor(s);
  switch (s->at) {
  case AT_TOP:
    if (key == KEY_ID) {
      if (v->kind != XS_JSON_STRING || v->len >= sizeof s->id) {
        BAD(s, "\"id\" must be a string of at most %zu bytes",
            sizeof s->id - 1);
        return;
      }
      memcpy(s->id, v->str, v->len);
      s->id[v->len] = '\0';
      s->has_id = 1;
    } else if (key == KEY_MODEL_NAME) {
      const char *name = xs_model_name(s->model);
      if (v->kind != XS_JSON_STRING || !is_key(v->str, v->len, name))
        BAD(s, "\"model_name\" must be \"%s\", the model of the path", name);
    } else if (key == KEY_MODEL_VERSION) {
      if (v->kind != XS_JSON_STRING ||
          !(is_key(v->str, v->len, "1") || v->len == 0))
        BAD(s, "\"model_version\" must be \"1\"");
    } else if (key >= 0) {
      BAD(s, "\"%s\" must be %s",
          key == KEY_PARAMETERS ? "parameters" : "inputs",
          key == KEY_PARAMETERS ? "an object" : "an array of objects");
    }
    return;
  case AT_PARAMS: {
    if (key != KEY_PARAM)
      return;
    param *p = &s->params[s->nparams++];
    memcpy(p->name, s->key_text, sizeof p->name);
    p->v = *v;
    p->v.str = NULL;
    if (v->kind == XS_JSON_STRING) {
      const size_t n = v->len < sizeof p->str - 1 ? v->len : sizeof p->str - 1;
      memcpy(p->str, v->str, n);
      p->str[n] = '\0';
      p->v.str = p->str;
      p->v.len = v->len < sizeof p->str ? v->len : sizeof p->str;
    }
    if (v->kind == XS_JSON_NULL)
      BAD(s, "parameter \"%s\" must be a string, a number or a boolean",
          p->name);
    return;
  }
  case AT_TENSOR:
    if (key == KEY_NAME) {
      if (v->kind != XS_JSON_STRING || v->len > NAME_MAX_LEN) {
        BAD(s, "a tensor's name must be a string of at most %d bytes",
            NAME_MAX_LEN);
        return;
      }
      memcpy(t->name, v->str, v->len);
      t->name[v->len] = '\0';
      t->has_name = 1;
    } else if (key == KEY_DATATYPE) {
      t->has_dtype = 1;
      t->dtype = v->kind == XS_JSON_STRING ? xs_v2_dtype_find(v->str, v->len)
                                           : XS_V2_NONE;
      if (t->dtype == XS_V2_NONE) {
        char name[NAME_MAX_LEN + 1] = "";
        if (v->kind == XS_JSON_STRING)
          copy_name(name, v->str, v->len);
        BAD(s,
            "%s: datatype \"%s\" is not one xentd reads (FP64, FP32, "
            "FP16, BF16, INT64, INT32, BYTES)",
            t->name[0] != '\0' ? t->name : "an input", name);
      }
    } else if (key >= 0) {
      BAD(s, "%s: a member has the wrong type",
          t->name[0] != '\0' ? t->name : "a tensor");
    }
    return;
  case AT_TPARAMS:
    if (key == KEY_BINARY_DATA_SIZE) {
      if (v->kind != XS_JSON_NUMBER || !v->num.is_int || v->num.i < 0) {
        BAD(s, "%s: binary_data_size must be an integer >= 0",
            t->name[0] != '\0' ? t->name : "an input");
        return;
      }
      t->binary_size = v->num.i;
    } else if (key == KEY_BINARY_DATA) {
      if (v->kind != XS_JSON_TRUE && v->kind != XS_JSON_FALSE) {
        BAD(s, "%s: binary_data must be true or false",
            t->name[0] != '\0' ? t->name : "an output");
        return;
      }
      t->binary_data = v->kind == XS_JSON_TRUE;
    }
    return;
  case AT_SHAPE:
    if (v->kind != XS_JSON_NUMBER || !v->num.is_int || v->num.i < 0) {
      BAD(s, "%s: a shape holds integers >= 0",
          t->name[0] != '\0' ? t->name : "an input");
      return;
    }
    if (t->rank == MAX_RANK) {
      BAD(s, "%s: a shape of more than %d dimensions",
          t->name[0] != '\0' ? t->name : "an input", MAX_RANK);
      return;
    }
    t->shape[t->rank++] = v->num.i;
    return;
  case AT_DATA: {
    double x;
    if (v->kind == XS_JSON_STRING &&
        (t->name[0] == '\0' || strcmp(t->name, "states") == 0)) {
      take_state(s, t, v->str, v->len);
      return;
    }
    if (v->kind == XS_JSON_NUMBER)
      x = xs_json_number(&v->num);
    else if (v->kind == XS_JSON_TRUE || v->kind == XS_JSON_FALSE)
      x = v->kind == XS_JSON_TRUE;
    else {
      BAD(s, "%s[%zu] must be a number", t->name[0] != '\0' ? t->name : "data",
          t->sink.len);
      return;
    }
    /* The sink took what it could; a value that came as an event (cut by
     * a piece, a boolean) is appended here. */
    xs_json_sink *sk = &t->sink;
    const xs_sink_type type = sk->type;
    sk->type = XS_SINK_F64;
    if (sk->len < sk->cap || data_grow(sk, sk->len + 1) == 0)
      ((double *)sk->data)[sk->len++] = x;
    if (!s->failed)
      sk->type = type;
    return;
  }
  case AT_LIST:
    BAD(s, "%s holds objects", s->list == 0 ? "inputs" : "outputs");
    return;
  case AT_SKIP:
    return;
  }
}

static const xs_json_handler handler = {on_open, on_close, on_key, on_scalar};

/* ------------------------------------------------------- binary tensors -- */

/* Checks the header once it is complete: every input named, typed, shaped,
 * with data or a binary size (not both). */
static void header_done(v2_state *s) {
  if (s->failed)
    return;
  if (!s->has_inputs || s->nin == 0) {
    BAD(s, "an inference request needs \"inputs\"");
    return;
  }
  for (int i = 0; i < s->nin; i++) {
    tensor *t = &s->in[i];
    if (!t->has_name) {
      BAD(s, "inputs[%d] has no \"name\"", i);
      return;
    }
    if (!t->has_dtype || !t->has_shape) {
      BAD(s, "%s needs a \"datatype\" and a \"shape\"", t->name);
      return;
    }
    if (t->has_data == (t->binary_size >= 0)) {
      BAD(s,
          "%s needs exactly one of \"data\" and parameters."
          "binary_data_size",
          t->name);
      return;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(s->in[j].name, t->name) == 0) {
        BAD(s, "input %s is given twice", t->name);
        return;
      }
  }
  /* The binary tensors fill the body after the header exactly, when its
   * length is known: a size declared beyond it is refused before any
   * memory is taken for it. */
  if (s->body_len > 0 && s->header_len > 0) {
    const uint64_t avail = s->body_len - s->header_len;
    uint64_t cum = 0;
    for (int i = 0; i < s->nin; i++) {
      const tensor *t = &s->in[i];
      if (t->binary_size < 0)
        continue;
      const uint64_t b = (uint64_t)t->binary_size;
      if (b > avail - cum) {
        BAD(s,
            "%s: binary data is %" PRIu64 " bytes short of its "
            "binary_data_size %" PRId64,
            t->name, b - (avail - cum), t->binary_size);
        return;
      }
      cum += b;
    }
    if (cum < avail) {
      BAD(s, "the body has %" PRIu64 " bytes after the last binary tensor",
          avail - cum);
      return;
    }
  }
  for (int i = 0; i < s->nout; i++) {
    if (!s->out[i].has_name) {
      BAD(s, "outputs[%d] has no \"name\"", i);
      return;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(s->out[j].name, s->out[i].name) == 0) {
        BAD(s, "output %s is asked twice", s->out[i].name);
        return;
      }
  }
  s->bin_at = 0;
}

/* The next input that takes binary bytes, from bin_at on; or -1. */
static int next_binary(v2_state *s) {
  while (s->bin_at < s->nin &&
         (s->in[s->bin_at].binary_size < 0 ||
          s->in[s->bin_at].bin_have == (uint64_t)s->in[s->bin_at].binary_size))
    s->bin_at++;
  return s->bin_at < s->nin ? s->bin_at : -1;
}

static void take_binary(v2_state *s, const char *data, size_t n) {
  while (n > 0 && !s->failed) {
    const int i = next_binary(s);
    if (i < 0) {
      s->trailing += n; /* reported when the body ends */
      return;
    }
    tensor *t = &s->in[i];
    uint64_t k = (uint64_t)t->binary_size - t->bin_have;
    if (k > n)
      k = n;
    if (t->bin_have + k > t->bin_cap) {
      /* The whole tensor when the body's length vouches for it; else
       * room doubles with the bytes that came, so that a size declared
       * beyond the body takes no memory it does not fill. */
      uint64_t cap = (uint64_t)t->binary_size;
      if (s->body_len == 0) {
        cap = t->bin_cap < 65536 ? 65536 : t->bin_cap * 2;
        if (cap < t->bin_have + k)
          cap = t->bin_have + k;
        if (cap > (uint64_t)t->binary_size)
          cap = (uint64_t)t->binary_size;
      }
      xs_error err;
      if (xs__realloc(s->mem, &t->bin, (size_t)t->bin_cap, (size_t)cap, &err) !=
          0) {
        s->err = err;
        s->failed = 1;
        return;
      }
      t->bin_cap = cap;
    }
    memcpy((char *)t->bin + t->bin_have, data, (size_t)k);
    t->bin_have += k;
    data += k;
    n -= (size_t)k;
  }
}

/* ------------------------------------------------------------- plumbing -- */

v2_state *xs__v2_new(const xs_model *m, uint64_t header_len, uint64_t body_len,
                     const xs_limits *lim, xs_mem *mem) {
  v2_state *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->json = xs_json_new(&handler, s);
  if (s->json == NULL) {
    free(s);
    return NULL;
  }
  s->model = m;
  s->header_len = header_len;
  s->body_len = body_len;
  s->lim.max_elements = lim != NULL ? lim->max_elements : SIZE_MAX;
  s->lim.max_rows = lim != NULL ? lim->max_rows : SIZE_MAX;
  s->lim.max_confusion_classes =
      lim != NULL ? lim->max_confusion_classes : SIZE_MAX;
  s->mem = mem;
  s->key = -1;
  return s;
}

static void release(v2_state *s, tensor *t) {
  if (t->sink.data != NULL)
    xs__free(s->mem, t->sink.data, t->sink.cap * sizeof(double));
  t->sink.data = NULL;
  t->sink.cap = t->sink.len = 0;
  if (t->bin != NULL)
    xs__free(s->mem, t->bin, (size_t)t->bin_cap);
  t->bin = NULL;
  t->bin_cap = 0;
}

void xs__v2_free(v2_state *s) {
  if (s == NULL)
    return;
  for (int i = 0; i < s->nin; i++)
    release(s, &s->in[i]);
  xs_mstate_free(&s->merged, s->mem);
  xs_json_free(s->json);
  free(s);
}

static void json_finish(v2_state *s) {
  if (s->json_done)
    return;
  s->json_done = 1;
  if (xs_json_finish(s->json) != 0) {
    const xs_json_error *je = xs_json_get_error(s->json);
    s->failed = 0; /* invalid JSON comes first */
    xs__set_error(&s->err, XS_ERR_INVALID_JSON, "",
                  "invalid JSON header at line %" PRIu64 ", column %" PRIu64
                  ": %s",
                  je->line, je->column, je->text);
    s->failed = 1;
    return;
  }
  header_done(s);
}

int xs__v2_feed(v2_state *s, const char *data, size_t n) {
  if (s->header_len == 0 || s->fed < s->header_len) {
    size_t k = n;
    if (s->header_len > 0 && k > s->header_len - s->fed)
      k = (size_t)(s->header_len - s->fed);
    xs_json_feed(s->json, data, k);
    s->fed += k;
    data += k;
    n -= k;
    if (s->header_len > 0 && s->fed == s->header_len)
      json_finish(s);
  }
  if (n > 0) {
    s->fed += n;
    if (!s->failed)
      take_binary(s, data, n);
  }
  return s->failed ? -1 : 0;
}

/* ------------------------------------------------------------- binding -- */

/* The tensor's elements as the field's storage wants them: doubles
 * (want_i64 0) or int64 (1), converted from its datatype; or the logits,
 * kept in their own type (keep_type). Returns the owned array (its bytes
 * in *bytes) or NULL with an error. */
static void *convert(v2_state *s, tensor *t, size_t count, int want_i64,
                     int keep_type, uint64_t *bytes) {
  xs_error err;
  const int from_json = t->binary_size < 0;
  const xs_v2_dtype dt = t->dtype;
  if (keep_type && !from_json) {
    /* Binary logits stay where the body put them (after one copy). */
    *bytes = (uint64_t)t->binary_size;
    void *p = t->bin;
    t->bin = NULL;
    return p;
  }
  if (!keep_type && !from_json &&
      ((want_i64 && dt == XS_V2_INT64) || (!want_i64 && dt == XS_V2_FP64))) {
    *bytes = (uint64_t)t->binary_size;
    void *p = t->bin;
    t->bin = NULL;
    return p;
  }
  const size_t es = keep_type ? xs_v2_dtype_size(dt) : 8;
  void *out = xs__alloc(s->mem, count * es, &err);
  if (out == NULL) {
    s->err = err;
    s->failed = 1;
    return NULL;
  }
  *bytes = count * es == 0 ? 1 : count * es;
  const double *jd = t->sink.data;
  for (size_t i = 0; i < count; i++) {
    double x = 0;
    int64_t k = 0;
    if (from_json) {
      x = jd[i];
    } else {
      const char *b = (const char *)t->bin + i * xs_v2_dtype_size(dt);
      switch (dt) {
      case XS_V2_FP64:
        memcpy(&x, b, 8);
        break;
      case XS_V2_FP32: {
        float f;
        memcpy(&f, b, 4);
        x = f;
        break;
      }
      case XS_V2_INT64:
        memcpy(&k, b, 8);
        x = (double)k;
        break;
      case XS_V2_INT32: {
        int32_t v;
        memcpy(&v, b, 4);
        k = v;
        x = v;
        break;
      }
      case XS_V2_FP16:
      case XS_V2_BF16:
      case XS_V2_BYTES:
      case XS_V2_DTYPE_COUNT:
      case XS_V2_NONE:
        break;
      }
    }
    const int is_int = dt == XS_V2_INT64 || dt == XS_V2_INT32;
    if (from_json && is_int) {
      const double lim = dt == XS_V2_INT32 ? 2147483648.0 : 9007199254740992.0;
      if (!(x == floor(x) && x >= -lim && x < lim)) {
        BAD(s, "%s[%zu] = %.17g is not an %s", t->name, i, x,
            xs_v2_dtype_name(dt));
        xs__free(s->mem, out, count * es);
        return NULL;
      }
      k = (int64_t)x;
    }
    if (from_json && dt == XS_V2_FP32)
      x = (float)x; /* the tensor's values are floats */
    if (keep_type) {
      char *o = (char *)out + i * es;
      if (dt == XS_V2_FP64) {
        memcpy(o, &x, 8);
      } else if (dt == XS_V2_FP32) {
        const float f = (float)x;
        memcpy(o, &f, 4);
      } else {
        const uint16_t h =
            dt == XS_V2_FP16 ? xs__to_half(x) : xs__to_bfloat16(x);
        memcpy(o, &h, 2);
      }
    } else if (want_i64) {
      ((int64_t *)out)[i] = is_int ? k : (int64_t)x;
    } else {
      ((double *)out)[i] = x;
    }
  }
  return out;
}

static uint64_t elements(const tensor *t, int *overflow) {
  uint64_t n = 1;
  *overflow = 0;
  for (int i = 0; i < t->rank; i++) {
    if (t->shape[i] != 0 && n > UINT64_MAX / (uint64_t)t->shape[i])
      *overflow = 1;
    n *= (uint64_t)t->shape[i];
  }
  return n;
}

static void *member_of(xs_request *req, size_t at) {
  return (char *)req + (at - 1);
}

/* The input "states" (BYTES): JSON strings were merged as they came; a
 * binary tensor's elements (4-byte little-endian length, then the bytes)
 * are merged now. Their number must be the shape's. */
static void bind_states(v2_state *s, tensor *t, xs_request *req) {
  if (t->rank != 1) {
    BAD(s, "%s must have shape [k], k >= 1 states", t->name);
    return;
  }
  if (t->binary_size >= 0) {
    const unsigned char *b = t->bin;
    uint64_t at = 0;
    const uint64_t size = (uint64_t)t->binary_size;
    while (at < size && !s->failed) {
      if (size - at < 4) {
        BAD(s, "%s: element %zu has a cut length prefix", t->name, t->strings);
        return;
      }
      const uint64_t len = (uint64_t)b[at] | (uint64_t)b[at + 1] << 8 |
                           (uint64_t)b[at + 2] << 16 |
                           (uint64_t)b[at + 3] << 24;
      at += 4;
      if (len > size - at) {
        BAD(s, "%s: element %zu says %" PRIu64 " bytes, %" PRIu64 " are left",
            t->name, t->strings, len, size - at);
        return;
      }
      take_state(s, t, (const char *)b + at, (size_t)len);
      at += len;
    }
  } else if (t->sink.len > 0) {
    BAD(s, "%s: data must hold strings (BYTES)", t->name);
    return;
  }
  if (!s->failed && (uint64_t)t->shape[0] != t->strings)
    BAD(s, "%s: shape says %" PRId64 " elements, data has %zu", t->name,
        t->shape[0], t->strings);
  if (!s->failed)
    req->forms[XS_F_STATES] = XS_FORM_ARRAY;
}

/* One input into the request: its field, its datatype, shape and count. */
static void bind_input(v2_state *s, tensor *t, xs_request *req, size_t N,
                       size_t C) {
  const xs_field_id id = xs__v2_input_field(t->name, s->model);
  if (id == XS_F_NONE) {
    BAD(s, "%s is not an input of model %s (GET /v2/models/%s lists them)",
        t->name, xs_model_name(s->model), xs_model_name(s->model));
    return;
  }
  const xs_field *f = xs_field_get(id);
  if (!xs_v2_dtype_in(t->dtype, f->v2_dtypes)) {
    BAD(s, "%s: datatype %s is not one of %s", t->name,
        xs_v2_dtype_name(t->dtype), f->v2_dtypes);
    return;
  }
  if (t->strings > 0 && id != XS_F_STATES) {
    BAD(s, "%s: data must hold numbers", t->name);
    return;
  }
  if (id == XS_F_STATES) {
    bind_states(s, t, req);
    return;
  }
  /* The shape against the batch: a K-dimensional input has the logits'
   * dimensions (without C for targets), the others theirs. */
  const size_t want[4] = {0, N, C, 0};
  size_t E[XS_MAX_RANK];
  int rank = 0;
  if ((f->kdim & req->body) != 0) {
    const int cax =
        req->problem.class_axis == XENT_CLASS_AXIS_1 ? 1 : req->rank - 1;
    for (int k = 0; k < req->rank; k++)
      if (f->rank == 2 || k != cax)
        E[rank++] = req->dims[k];
  } else {
    for (int k = 0; k < f->rank; k++)
      E[rank++] = want[f->dims[k]];
  }
  int ok = t->rank == rank;
  for (int k = 0; ok && k < rank; k++)
    ok = ((f->kdim & req->body) == 0 && f->dims[k] == XS_DIM_ANY) ||
         (uint64_t)t->shape[k] == E[k];
  /* mixup_lambda may also be one value for the batch, [1]. */
  const int batch_one =
      id == XS_F_MIXUP_LAMBDA && t->rank == 1 && t->shape[0] == 1;
  if (!ok && !batch_one) {
    char shape[96] = "", need[96] = "";
    size_t used = 0;
    for (int k = 0; k < t->rank && used < sizeof shape; k++)
      used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%" PRId64,
                               k > 0 ? ", " : "", t->shape[k]);
    used = 0;
    for (int k = 0; k < rank && used < sizeof need; k++)
      used += (size_t)snprintf(need + used, sizeof need - used, "%s%zu",
                               k > 0 ? ", " : "", E[k]);
    BAD(s, "%s has shape [%s], the batch needs [%s]", t->name, shape, need);
    return;
  }
  int overflow;
  const uint64_t count = elements(t, &overflow);
  const uint64_t have = t->binary_size >= 0 ? (uint64_t)t->binary_size /
                                                  xs_v2_dtype_size(t->dtype)
                                            : (uint64_t)t->sink.len;
  if (overflow ||
      (t->binary_size >= 0 &&
       (uint64_t)t->binary_size % xs_v2_dtype_size(t->dtype) != 0) ||
      count != have) {
    if (t->binary_size >= 0)
      BAD(s,
          "%s: shape holds %" PRIu64 " %s elements (%" PRIu64
          " bytes), binary_data_size is %" PRId64,
          t->name, count, xs_v2_dtype_name(t->dtype),
          count * xs_v2_dtype_size(t->dtype), t->binary_size);
    else
      BAD(s, "%s: shape holds %" PRIu64 " elements, data has %" PRIu64, t->name,
          count, have);
    return;
  }
  const xs_form *form = &f->array;
  const int keep = id == XS_F_LOGITS;
  uint64_t bytes = 0;
  void *data =
      convert(s, t, (size_t)count, form->store == XS_S_I64_PTR, keep, &bytes);
  if (data == NULL)
    return;
  req->owned[id] = data;
  req->owned_size[id] = (size_t)bytes;
  req->forms[id] = batch_one ? XS_FORM_SCALAR : XS_FORM_ARRAY;
  const void *ptr = data;
  memcpy(member_of(req, form->member), &ptr, sizeof ptr);
  if (f->count_member != 0) {
    const size_t n = (size_t)count;
    memcpy(member_of(req, f->count_member), &n, sizeof n);
  }
  if (f->array_flag_member != 0)
    memcpy(member_of(req, f->array_flag_member), &f->array_flag_value,
           sizeof f->array_flag_value);
  if (keep) {
    static const xent_dtype lib[] = {XENT_F64, XENT_F32, XENT_F16, XENT_BF16};
    req->problem.dtype = lib[t->dtype];
    req->v2.out_f32 = t->dtype != XS_V2_FP64;
  }
}

/* Triton's own request parameters, which a model need not read. */
static int reserved_param(const char *name) {
  static const char *const names[] = {"sequence_id", "sequence_start",
                                      "sequence_end", "priority", "timeout"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(names[i], name) == 0)
      return 1;
  return 0;
}

static void bind_param(v2_state *s, const param *p, xs_request *req,
                       int *binary_output) {
  if (strcmp(p->name, "binary_data_output") == 0) {
    if (p->v.kind != XS_JSON_TRUE && p->v.kind != XS_JSON_FALSE)
      BAD(s, "parameter binary_data_output must be true or false");
    *binary_output = p->v.kind == XS_JSON_TRUE;
    return;
  }
  if (reserved_param(p->name))
    return;
  const xs_field_id id = xs__v2_param_field(p->name, s->model);
  if (id == XS_F_NONE) {
    BAD(s,
        "parameter %s is not one model %s reads (GET /v2/models/%s lists "
        "them)",
        p->name, xs_model_name(s->model), xs_model_name(s->model));
    return;
  }
  const xs_field *f = xs_field_get(id);
  const xs_form *form = &f->scalar;
  const xs_json_value *v = &p->v;
  char what[96];
  if (form->elem == XS_E_NUMBER && v->kind == XS_JSON_NUMBER) {
    const double d = xs_json_number(&v->num);
    if (form->store == XS_S_F64_PTR) {
      xs_error err;
      double *one = xs__alloc(s->mem, sizeof *one, &err);
      if (one == NULL) {
        s->err = err;
        s->failed = 1;
        return;
      }
      *one = d;
      req->owned[id] = one;
      req->owned_size[id] = sizeof *one;
      const double *cp = one;
      memcpy(member_of(req, form->member), &cp, sizeof cp);
      const size_t n = 1;
      memcpy(member_of(req, f->count_member), &n, sizeof n);
    } else {
      memcpy(member_of(req, form->member), &d, sizeof d);
    }
  } else if (form->elem == XS_E_INTEGER && v->kind == XS_JSON_NUMBER &&
             v->num.is_int &&
             !(f->has_min && f->arg == XENT_ARG_NONE &&
               (double)v->num.i < f->min)) {
    if (form->store == XS_S_SIZE) {
      const size_t n = (size_t)v->num.i;
      memcpy(member_of(req, form->member), &n, sizeof n);
    } else {
      memcpy(member_of(req, form->member), &v->num.i, sizeof v->num.i);
    }
  } else if (form->elem == XS_E_BOOL &&
             (v->kind == XS_JSON_TRUE || v->kind == XS_JSON_FALSE)) {
    const int b = v->kind == XS_JSON_TRUE;
    memcpy(member_of(req, form->member), &b, sizeof b);
  } else if (form->elem == XS_E_ENUM && v->kind == XS_JSON_STRING) {
    int which = -1;
    for (int i = 0; f->names[i] != NULL; i++)
      if (strcmp(f->names[i], p->str) == 0 && v->len == strlen(p->str))
        which = i;
    if (which < 0) {
      size_t used = 0;
      what[0] = '\0';
      for (int i = 0; f->names[i] != NULL && used < sizeof what; i++)
        used += (size_t)snprintf(what + used, sizeof what - used, "%s\"%s\"",
                                 i > 0 ? ", " : "", f->names[i]);
      BAD(s, "parameter %s must be one of %s", p->name, what);
      return;
    }
    memcpy(member_of(req, form->member), &which, sizeof which);
  } else {
    BAD(s, "parameter %s must be %s", p->name,
        form->elem == XS_E_NUMBER    ? "a number"
        : form->elem == XS_E_INTEGER ? "an integer"
        : form->elem == XS_E_BOOL    ? "true or false"
                                     : "a string");
    return;
  }
  req->forms[id] = XS_FORM_SCALAR;
}

int xs__v2_finish(v2_state *s, xs_request *req, xs_error *err) {
  if (s->header_len == 0)
    json_finish(s);
  else if (s->fed < s->header_len)
    fail(s, XS_ERR_INVALID_ARGUMENT,
         "Inference-Header-Content-Length is %" PRIu64
         ", the body has only %" PRIu64 " bytes",
         s->header_len, s->fed);
  if (!s->failed && s->trailing > 0)
    BAD(s, "the body has %" PRIu64 " bytes after the last binary tensor",
        s->trailing);
  if (!s->failed) {
    const int i = next_binary(s);
    if (i >= 0)
      BAD(s,
          "%s: binary data is %" PRIu64 " bytes short of its "
          "binary_data_size %" PRId64,
          s->in[i].name, (uint64_t)s->in[i].binary_size - s->in[i].bin_have,
          s->in[i].binary_size);
  }
  /* Which body: classification_metrics reads a batch, or states. */
  const xs_model *m = s->model;
  unsigned body = m->body;
  if (body == (XS_BODY_METRICS | XS_BODY_MERGE)) {
    body = XS_BODY_METRICS;
    for (int i = 0; i < s->nin; i++)
      if (strcmp(s->in[i].name, "states") == 0)
        body = XS_BODY_MERGE;
  }
  /* The batch: N and C from the input that defines them. */
  size_t N = 0, C = 0;
  const int by_logits = body != XS_BODY_TARGETS;
  const char *shaper = by_logits ? "logits" : "targets";
  const tensor *def = NULL;
  for (int i = 0; i < s->nin && body != XS_BODY_MERGE; i++)
    if (strcmp(s->in[i].name, shaper) == 0)
      def = &s->in[i];
  if (!s->failed && def == NULL && body != XS_BODY_MERGE)
    BAD(s, "model %s needs the input %s%s", xs_model_name(m), shaper,
        body == XS_BODY_METRICS ? " (or states)" : "");
  /* cross_entropy's logits: [N, C] or K-dimensional, up to XS_MAX_RANK
   * dimensions, the class axis given by the parameter class_axis. */
  const int kdim = body == XS_BODY_LOSS;
  if (!s->failed && def != NULL) {
    N = def->rank >= 1 ? (size_t)def->shape[0] : 0;
    if (by_logits)
      C = def->rank >= 2 ? (size_t)def->shape[1] : 0;
    const int want_rank = by_logits ? 2 : 1;
    int zero = 0;
    uint64_t count = 1;
    for (int k = 0; k < def->rank; k++) {
      zero |= def->shape[k] == 0;
      if (def->shape[k] != 0 && count > UINT64_MAX / (uint64_t)def->shape[k])
        count = UINT64_MAX;
      else
        count *= (uint64_t)def->shape[k];
    }
    if (kdim && (def->rank < 2 || def->rank > XS_MAX_RANK || zero))
      BAD(s,
          "%s must have shape [N, C] or [N, C, d1, ..., dk] ([N, d1, ..., dk, "
          "C] with class_axis -1), 2 to %d dimensions, N >= 1 and each "
          "other >= 1",
          shaper, XS_MAX_RANK);
    else if (!kdim &&
             (def->rank != want_rank || N == 0 || (by_logits && C == 0)))
      BAD(s, "%s must have shape [%s] with N >= 1%s", shaper,
          want_rank == 2 ? "N, C" : "N", want_rank == 2 ? " and C >= 1" : "");
    else if (N > s->lim.max_rows ||
             (kdim ? count > s->lim.max_elements
                   : C > 0 && C > s->lim.max_elements / N))
      fail(s, XS_ERR_PAYLOAD_TOO_LARGE,
           "%s: %zu x %zu is over the limits of this server (--max-rows "
           "%zu, --max-elements %zu)",
           shaper, N, C, s->lim.max_rows, s->lim.max_elements);
  }
  memset(req, 0, sizeof *req);
  xent_problem_init(&req->problem);
  req->proto = XS_PROTO_V2;
  req->body = body;
  req->mem = s->mem;
  req->v2.model = m;
  req->class_axis = 1;
  req->rank = 2;
  int binary_output = 0;
  for (int i = 0; i < s->nparams && !s->failed; i++)
    bind_param(s, &s->params[i], req, &binary_output);
  /* The logits' layout, now that class_axis is known. */
  if (!s->failed && def != NULL && kdim) {
    const int R = def->rank;
    const int64_t axis = req->class_axis;
    const int64_t norm = axis < 0 ? axis + R : axis;
    if (norm != 1 && norm != R - 1) {
      BAD(s,
          "parameter class_axis is %" PRId64 ": the classes of %d-dimensional "
          "logits are axis 1 (PyTorch) or -1 = %d (the last, Keras)",
          axis, R, R - 1);
    } else {
      const int cax = R > 2 && norm == R - 1 ? R - 1 : 1;
      req->rank = R;
      size_t inner = 1;
      for (int k = 0; k < R; k++) {
        req->dims[k] = (size_t)def->shape[k];
        if (k > 0 && k != cax)
          inner *= req->dims[k];
      }
      C = req->dims[cax];
      req->problem.inner = inner;
      req->problem.class_axis =
          cax == 1 ? XENT_CLASS_AXIS_1 : XENT_CLASS_AXIS_LAST;
    }
  }
  if (!s->failed && m->body == XS_BODY_TARGETS) {
    C = req->problem.classes;
    if (C == 0)
      BAD(s, "model %s needs the parameter num_classes", xs_model_name(m));
    else if (C > s->lim.max_elements / N)
      fail(s, XS_ERR_PAYLOAD_TOO_LARGE,
           "targets: %zu x %zu is over the limits of this server "
           "(--max-elements %zu)",
           N, C, s->lim.max_elements);
  }
  for (int i = 0; i < s->nin && !s->failed; i++) {
    const xs_field_id id = xs__v2_input_field(s->in[i].name, m);
    if (id != XS_F_NONE && req->forms[id] != XS_FORM_ABSENT) {
      BAD(s, "%s is given both as an input and as a parameter", s->in[i].name);
      break;
    }
    if (id != XS_F_NONE && (xs_field_get(id)->bodies & body) == 0) {
      BAD(s, "%s cannot be given with %s", s->in[i].name,
          body == XS_BODY_MERGE ? "states" : "logits");
      break;
    }
    bind_input(s, &s->in[i], req, N, C);
  }
  if (!s->failed && req->forms[XS_F_MIXUP_PAIRING] != XS_FORM_ABSENT &&
      req->forms[XS_F_MIXUP_LAMBDA] == XS_FORM_ABSENT)
    BAD(s, "mixup_pairing and mixup_partner need mixup_lambda");
  /* The inputs the body needs, and none of the other body's. */
  for (int i = 0; i < XS_F_COUNT && !s->failed; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if (f->v2_input == NULL || (f->bodies & m->body) == 0)
      continue;
    if ((f->bodies & body) == 0 && req->forms[i] != XS_FORM_ABSENT)
      BAD(s, "%s cannot be given with %s", f->v2_input,
          body == XS_BODY_MERGE ? "states" : "logits");
    else if ((body == XS_BODY_METRICS || body == XS_BODY_MERGE) &&
             (f->required & body) != 0 && req->forms[i] == XS_FORM_ABSENT)
      BAD(s, "model %s needs the input %s", xs_model_name(m), f->v2_input);
  }
  req->problem.n = N;
  req->problem.classes = C;
  if (!kdim) {
    req->dims[0] = N;
    req->dims[1] = C;
  }
  if (!s->failed && (body == XS_BODY_METRICS || body == XS_BODY_MERGE)) {
    xs_error e;
    if (xs__metrics_finish(req, &s->merged, s->lim.max_confusion_classes, &e) !=
        0) {
      s->err = e;
      s->failed = 1;
    }
  }
  /* What a metrics output needs of the state. */
  const unsigned kept = (req->metrics.per_class ? XS_OUT_M_PER_CLASS : 0u) |
                        (req->metrics.confusion ? XS_OUT_M_CONFUSION : 0u);
  /* The outputs asked for, or the model's defaults. */
  if (!s->failed) {
    if (s->has_outputs) {
      for (int i = 0; i < s->nout && !s->failed; i++) {
        const tensor *o = &s->out[i];
        const int k = xs_model_output(m, o->name, strlen(o->name));
        if (k < 0) {
          BAD(s, "%s is not an output of model %s", o->name, xs_model_name(m));
          break;
        }
        const unsigned need =
            m->outputs[k].needs & (XS_OUT_M_PER_CLASS | XS_OUT_M_CONFUSION);
        if ((need & ~kept) != 0) {
          BAD(s, "output %s needs the parameter %s set to true", o->name,
              need == XS_OUT_M_CONFUSION ? "confusion" : "per_class");
          break;
        }
        req->v2.outputs[req->v2.noutputs] = k;
        if (o->binary_data == 1 || (o->binary_data < 0 && binary_output))
          req->v2.binary |= 1u << req->v2.noutputs;
        req->v2.noutputs++;
      }
    } else {
      for (int k = 0; k < m->noutputs; k++)
        if ((m->defaults & (1u << k)) || (m->outputs[k].needs & kept) != 0) {
          if (binary_output)
            req->v2.binary |= 1u << req->v2.noutputs;
          req->v2.outputs[req->v2.noutputs++] = k;
        }
    }
  }
  if (!s->failed && s->has_id) {
    req->v2.id = strdup(s->id);
    if (req->v2.id == NULL)
      fail(s, XS_ERR_INTERNAL, "out of memory");
  }
  if (s->failed) {
    *err = s->err;
    xs_request_free(req);
    memset(req, 0, sizeof *req);
    xent_problem_init(&req->problem);
    return -1;
  }
  for (int i = 0; i < req->v2.noutputs; i++)
    req->outputs |= m->outputs[req->v2.outputs[i]].needs;
  return 0;
}
