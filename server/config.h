/*
 * config.h - every option of xentd in one table (config.c): flag,
 * environment variable, default, bounds and help text. The environment is
 * read first, then the command line; a flag wins over its variable. `--help`
 * prints the table, and README.md's configuration section is that output.
 */
#ifndef XENTD_CONFIG_H
#define XENTD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

typedef struct xs_config {
  char bind[64];        /* IPv4 or IPv6 address                          */
  uint64_t port;        /* 0: the kernel picks one                       */
  char port_file[1024]; /* "" or a file that receives the bound port     */
  uint64_t threads;     /* 0: one per online core                        */
  uint64_t max_body_bytes;
  uint64_t max_elements; /* largest n * classes                           */
  uint64_t max_rows;     /* largest n                                     */
  uint64_t max_confusion_classes; /* largest C of a confusion matrix     */
  uint64_t timeout;         /* idle seconds before a connection is closed    */
  uint64_t header_timeout;  /* seconds for a request's headers              */
  uint64_t body_timeout;    /* seconds for a request's body                 */
  uint64_t max_connections; /* connections at once                          */
  uint64_t max_connections_per_ip; /* 0: no limit                         */
  uint64_t drain_delay;      /* seconds serving after SIGTERM, readyz 503    */
  uint64_t shutdown_timeout; /* seconds to wait for requests in flight     */
  uint64_t max_in_flight;    /* POSTs at once; more are answered 429       */
  uint64_t max_memory;       /* bytes all requests may reserve at once     */
  int log_format;            /* xs_log_format                                 */
  int access_log;            /* 1 on, 0 off                                   */
  char replica_name[256];    /* X-Xent-Replica value; "" sends no header      */
  char tls_cert[1024];       /* PEM certificate chain; "" is plain HTTP       */
  char tls_key[1024];        /* PEM private key                               */
  char auth_token_file[1024]; /* one bearer token per line; "" is no auth    */
  int metrics_public; /* /metrics without a token                      */
} xs_config;

/* What xs_config_load asks the caller to do next. */
typedef enum xs_config_result {
  XS_CONFIG_RUN = 0,     /* cfg is complete: start the daemon             */
  XS_CONFIG_EXIT_OK = 1, /* --help or --version was printed: exit 0       */
  XS_CONFIG_ERROR = -1   /* err holds one line: print it, exit 2          */
} xs_config_result;

/* Fills cfg from the defaults, the environment (envp-style lookup through
 * getenv) and argv. --help and --version print to `out`. */
xs_config_result xs_config_load(xs_config *cfg, int argc, char *const argv[],
                                FILE *out, char *err, size_t err_size);

/* Prints the option table, exactly what `xentd --help` prints. */
void xs_config_print_help(FILE *out);

/* The threads of the connection pool; 0: a thread per connection. */
unsigned xs_config_threads(const xs_config *cfg);

#endif /* XENTD_CONFIG_H */
