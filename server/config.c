/*
 * config.c - the one table of xentd's options (see config.h). Every row is
 * parsed by the same code whether it comes from the default text, the
 * environment or the command line, so a default can never be out of its own
 * bounds.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xent.h"

typedef enum opt_type { OPT_STRING, OPT_UINT, OPT_ENUM } opt_type;

typedef struct option_def {
  const char *name;    /* the flag without "--"                          */
  const char *metavar; /* what --help shows after the flag               */
  const char *env;     /* environment variable                           */
  opt_type type;
  size_t offset;     /* of the field in xs_config                      */
  size_t size;       /* capacity of a string field                     */
  const char *def;   /* default, as text; NULL: computed (see shown)   */
  const char *shown; /* the default as --help prints it                */
  uint64_t min, max; /* bounds of an OPT_UINT                          */
  const char *const *choices; /* values of an OPT_ENUM, index = value   */
  int (*check)(const char *value, char *err, size_t err_size);
  const char *help; /* one line, at most 70 characters              */
} option_def;

static const char *const log_formats[] = {"text", "json", NULL};
static const char *const on_off[] = {"off", "on", NULL};

static int check_address(const char *value, char *err, size_t err_size) {
  unsigned char addr[16];
  if (inet_pton(AF_INET, value, addr) == 1 ||
      inet_pton(AF_INET6, value, addr) == 1) {
    return 0;
  }
  snprintf(err, err_size, "not a numeric IPv4 or IPv6 address");
  return -1;
}

/* The value goes into a response header: printable ASCII only. */
static int check_header_value(const char *value, char *err, size_t err_size) {
  for (const char *p = value; *p != '\0'; p++) {
    if (*p < 0x21 || *p > 0x7e) {
      snprintf(err, err_size, "only printable ASCII without spaces allowed");
      return -1;
    }
  }
  return 0;
}

#define FIELD(f) offsetof(xs_config, f), sizeof(((xs_config *)0)->f)

static const option_def options[] = {
    {"bind", "ADDR", "XENTD_BIND", OPT_STRING, FIELD(bind), "127.0.0.1", NULL,
     0, 0, NULL, check_address, "address to listen on (numeric IPv4 or IPv6)"},
    {"port", "N", "XENTD_PORT", OPT_UINT, FIELD(port), "8080", NULL, 0, 65535,
     NULL, NULL,
     "TCP port; 0 picks a free one (the \"listening on\" line shows it)"},
    {"port-file", "PATH", "XENTD_PORT_FILE", OPT_STRING, FIELD(port_file), "",
     "none", 0, 0, NULL, NULL,
     "write the bound port to PATH once listening (for tests)"},
    {"threads", "N", "XENTD_THREADS", OPT_UINT, FIELD(threads), "0",
     "0=per conn", 0, 256, NULL, NULL,
     "0: a thread per connection; N: a pool of N shared by all of them"},
    {"max-body-bytes", "N", "XENTD_MAX_BODY_BYTES", OPT_UINT,
     FIELD(max_body_bytes), "67108864", NULL, 1024, UINT64_C(4294967296), NULL,
     NULL, "largest request body; larger is refused with 413 before reading"},
    {"max-elements", "N", "XENTD_MAX_ELEMENTS", OPT_UINT, FIELD(max_elements),
     "16777216", NULL, 1, UINT64_C(4294967296), NULL, NULL,
     "largest rows x classes of one request (413 above it)"},
    {"max-rows", "N", "XENTD_MAX_ROWS", OPT_UINT, FIELD(max_rows), "1048576",
     NULL, 1, UINT64_C(4294967296), NULL, NULL,
     "largest number of rows of one request (413 above it)"},
    {"max-confusion-classes", "N", "XENTD_MAX_CONFUSION_CLASSES", OPT_UINT,
     FIELD(max_confusion_classes), "1000", NULL, 1, 65536, NULL, NULL,
     "largest C of a confusion matrix answered (413 above it)"},
    {"max-in-flight", "N", "XENTD_MAX_IN_FLIGHT", OPT_UINT,
     FIELD(max_in_flight), "64", NULL, 1, 65536, NULL, NULL,
     "requests computing or sending their answers at once; more get 429"},
    {"max-memory", "BYTES", "XENTD_MAX_MEMORY", OPT_UINT, FIELD(max_memory),
     NULL, "RAM/4", UINT64_C(1048576), UINT64_C(1) << 50, NULL, NULL,
     "memory all requests may hold at once; 429 past it, 413 if never"},
    {"timeout", "S", "XENTD_TIMEOUT", OPT_UINT, FIELD(timeout), "30", NULL, 1,
     86400, NULL, NULL,
     "seconds a connection may wait for a request, bytes or not"},
    {"header-timeout", "S", "XENTD_HEADER_TIMEOUT", OPT_UINT,
     FIELD(header_timeout), "10", NULL, 1, 3600, NULL, NULL,
     "seconds from a request line to the end of its headers"},
    {"body-timeout", "S", "XENTD_BODY_TIMEOUT", OPT_UINT, FIELD(body_timeout),
     "60", NULL, 1, 86400, NULL, NULL,
     "seconds from the end of the headers to the end of the body"},
    {"max-connections", "N", "XENTD_MAX_CONNECTIONS", OPT_UINT,
     FIELD(max_connections), "4096", NULL, 16, 1000000, NULL, NULL,
     "connections at once; past it a new one is closed at once"},
    {"max-connections-per-ip", "N", "XENTD_MAX_CONNECTIONS_PER_IP", OPT_UINT,
     FIELD(max_connections_per_ip), "0", "0=off", 0, 1000000, NULL, NULL,
     "connections at once from one address; 0 is no limit"},
    {"drain-delay", "S", "XENTD_DRAIN_DELAY", OPT_UINT, FIELD(drain_delay), "0",
     NULL, 0, 3600, NULL, NULL,
     "on SIGTERM, seconds to keep serving while /readyz answers 503"},
    {"shutdown-timeout", "S", "XENTD_SHUTDOWN_TIMEOUT", OPT_UINT,
     FIELD(shutdown_timeout), "10", NULL, 0, 3600, NULL, NULL,
     "then seconds in all to finish the requests begun, a new connection's "
     "first"},
    {"log-format", "F", "XENTD_LOG_FORMAT", OPT_ENUM, FIELD(log_format), "text",
     NULL, 0, 0, log_formats, NULL,
     "stderr log lines: text, or one JSON object per line"},
    {"access-log", "B", "XENTD_ACCESS_LOG", OPT_ENUM, FIELD(access_log), "on",
     NULL, 0, 0, on_off, NULL, "one stderr line per request (on or off)"},
    {"tls-cert", "FILE", "XENTD_TLS_CERT", OPT_STRING, FIELD(tls_cert), "",
     "none", 0, 0, NULL, NULL,
     "PEM certificate chain: serve HTTPS (TLS 1.2, 1.3); SIGHUP reloads"},
    {"tls-key", "FILE", "XENTD_TLS_KEY", OPT_STRING, FIELD(tls_key), "", "none",
     0, 0, NULL, NULL, "PEM private key of --tls-cert"},
    {"auth-token-file", "FILE", "XENTD_AUTH_TOKEN_FILE", OPT_STRING,
     FIELD(auth_token_file), "", "none", 0, 0, NULL, NULL,
     "bearer tokens, one per line, asked of every route; SIGHUP reloads"},
    {"metrics-public", "B", "XENTD_METRICS_PUBLIC", OPT_ENUM,
     FIELD(metrics_public), "off", NULL, 0, 0, on_off, NULL,
     "serve /metrics without a token (on or off)"},
    {"replica-name", "NAME", "XENTD_REPLICA_NAME", OPT_STRING,
     FIELD(replica_name), NULL, "hostname", 0, 0, NULL, check_header_value,
     "X-Xent-Replica header value; default $XENTD_REPLICA, else hostname"},
};

enum { OPTION_COUNT = sizeof options / sizeof options[0] };

static const option_def *find_option(const char *name, size_t len) {
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    if (strlen(options[i].name) == len &&
        strncmp(options[i].name, name, len) == 0) {
      return &options[i];
    }
  }
  return NULL;
}

/* Strict decimal: digits only, no sign, no space, no overflow. */
static int parse_u64(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9') {
    return -1;
  }
  uint64_t v = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') {
      return -1;
    }
    const uint64_t d = (uint64_t)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return -1;
    }
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Sets one option from text; on failure writes why into err. */
static int set_option(xs_config *cfg, const option_def *o, const char *value,
                      char *err, size_t err_size) {
  char *field = (char *)cfg + o->offset;
  char why[160];
  switch (o->type) {
  case OPT_STRING: {
    const size_t len = strlen(value);
    if (len >= o->size) {
      snprintf(err, err_size, "longer than %zu bytes", o->size - 1);
      return -1;
    }
    if (o->check != NULL && o->check(value, why, sizeof why) != 0) {
      snprintf(err, err_size, "%s", why);
      return -1;
    }
    memcpy(field, value, len + 1);
    return 0;
  }
  case OPT_UINT: {
    uint64_t v;
    if (parse_u64(value, &v) != 0 || v < o->min || v > o->max) {
      snprintf(err, err_size,
               "expected an integer from %" PRIu64 " to %" PRIu64, o->min,
               o->max);
      return -1;
    }
    memcpy(field, &v, sizeof v);
    return 0;
  }
  case OPT_ENUM:
    for (int i = 0; o->choices[i] != NULL; i++) {
      if (strcmp(o->choices[i], value) == 0) {
        memcpy(field, &i, sizeof i);
        return 0;
      }
    }
    snprintf(err, err_size, "expected one of %s", o->choices[0]);
    for (int i = 1; o->choices[i] != NULL; i++) {
      const size_t used = strlen(err);
      snprintf(err + used, err_size - used, ", %s", o->choices[i]);
    }
    return -1;
  }
  return -1;
}

static void bounds_text(const option_def *o, char *buf, size_t size) {
  snprintf(buf, size, "-");
  if (o->type == OPT_UINT) {
    snprintf(buf, size, "%" PRIu64 "..%" PRIu64, o->min, o->max);
  } else if (o->type == OPT_ENUM) {
    buf[0] = '\0';
    for (int i = 0; o->choices[i] != NULL; i++) {
      const size_t used = strlen(buf);
      snprintf(buf + used, size - used, "%s%s", i > 0 ? "|" : "",
               o->choices[i]);
    }
  }
}

void xs_config_print_help(FILE *out) {
  fprintf(
      out,
      "Usage: xentd [OPTION]...\n"
      "Serves cross-entropy losses over HTTP (POST /v1/loss, /v1/targets).\n"
      "Every option can also be set by its environment variable; the flag\n"
      "wins. A value outside its bounds stops xentd with exit status 2.\n"
      "Flags take their value as `--port 8080` or `--port=8080`.\n\n");
  fprintf(out, "  %-20s %-23s %-10s %s\n", "flag", "environment", "default",
          "bounds");
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const option_def *o = &options[i];
    char flag[64];
    char bounds[64];
    snprintf(flag, sizeof flag, "--%s %s", o->name, o->metavar);
    bounds_text(o, bounds, sizeof bounds);
    const char *shown = o->shown != NULL ? o->shown : o->def;
    fprintf(out, "  %-20s %-23s %-10s %s\n", flag, o->env, shown, bounds);
    fprintf(out, "      %s\n", o->help);
  }
  fprintf(out, "  %-20s %s\n", "--help", "print this table and exit");
  fprintf(out, "  %-20s %s\n", "--version", "print \"xentd X.Y.Z\" and exit");
}

unsigned xs_config_threads(const xs_config *cfg) {
  return (unsigned)cfg->threads;
}

/* A quarter of the memory this process may use: physical memory, or the
 * cgroup's limit (a container's) when that is lower. */
static uint64_t default_max_memory(void) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page
                                         : UINT64_C(1) << 32;
  static const char *const limits[] = {"/sys/fs/cgroup/memory.max",
                                       "/sys/fs/cgroup/memory/"
                                       "memory.limit_in_bytes"};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    FILE *f = fopen(limits[i], "r");
    if (f == NULL)
      continue;
    char text[32] = "";
    const int got = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    uint64_t v;
    text[strcspn(text, "\n")] = '\0';
    if (got && parse_u64(text, &v) == 0 && v > 0 && v < total)
      total = v; /* "max" (no limit) does not parse */
  }
  const uint64_t quarter = total / 4;
  return quarter < UINT64_C(1048576) ? UINT64_C(1048576) : quarter;
}

static void default_replica_name(xs_config *cfg) {
  const char *env = getenv("XENTD_REPLICA");
  char why[160];
  if (env != NULL && env[0] != '\0' && strlen(env) < sizeof cfg->replica_name &&
      check_header_value(env, why, sizeof why) == 0) {
    snprintf(cfg->replica_name, sizeof cfg->replica_name, "%s", env);
    return;
  }
  char host[256];
  if (gethostname(host, sizeof host) != 0) {
    host[0] = '\0';
  }
  host[sizeof host - 1] = '\0';
  if (check_header_value(host, why, sizeof why) != 0) {
    host[0] = '\0';
  }
  snprintf(cfg->replica_name, sizeof cfg->replica_name, "%s", host);
}

xs_config_result xs_config_load(xs_config *cfg, int argc, char *const argv[],
                                FILE *out, char *err, size_t err_size) {
  char why[200];
  memset(cfg, 0, sizeof *cfg);
  err[0] = '\0';

  /* --help and --version answer whatever else is wrong. */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      xs_config_print_help(out);
      return XS_CONFIG_EXIT_OK;
    }
    if (strcmp(argv[i], "--version") == 0) {
      fprintf(out, "xentd %s\n", xent_version_string());
      return XS_CONFIG_EXIT_OK;
    }
  }

  for (size_t i = 0; i < OPTION_COUNT; i++) {
    if (options[i].def != NULL &&
        set_option(cfg, &options[i], options[i].def, why, sizeof why) != 0) {
      snprintf(err, err_size, "default of --%s: %s", options[i].name, why);
      return XS_CONFIG_ERROR;
    }
  }
  default_replica_name(cfg);
  cfg->max_memory = default_max_memory();

  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const char *value = getenv(options[i].env);
    if (value != NULL &&
        set_option(cfg, &options[i], value, why, sizeof why) != 0) {
      snprintf(err, err_size, "%s='%.64s': %s", options[i].env, value, why);
      return XS_CONFIG_ERROR;
    }
  }

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0) {
      snprintf(err, err_size, "unexpected argument '%.64s'", arg);
      return XS_CONFIG_ERROR;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    const size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const option_def *o = find_option(name, name_len);
    if (o == NULL) {
      snprintf(err, err_size, "unknown option '--%.*s'", (int)name_len, name);
      return XS_CONFIG_ERROR;
    }
    const char *value = eq != NULL ? eq + 1 : NULL;
    if (value == NULL) {
      if (i + 1 >= argc) {
        snprintf(err, err_size, "--%s needs a value (%s)", o->name, o->metavar);
        return XS_CONFIG_ERROR;
      }
      value = argv[++i];
    }
    if (set_option(cfg, o, value, why, sizeof why) != 0) {
      snprintf(err, err_size, "--%s '%.64s': %s", o->name, value, why);
      return XS_CONFIG_ERROR;
    }
  }
  if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
    snprintf(err, err_size, "--tls-cert and --tls-key go together");
    return XS_CONFIG_ERROR;
  }
  return XS_CONFIG_RUN;
}
