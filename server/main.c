/*
 * main.c - xentd: reads the configuration, starts the HTTP daemon, waits
 * for SIGTERM or SIGINT and shuts down gracefully.
 *
 * The signals are blocked in every thread (the mask is set before the
 * daemon's threads exist and they inherit it) and taken synchronously with
 * sigwait here, so no work at all runs in a signal handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "xent.h"

/* Writes the port to path atomically (temporary file, then rename), so a
 * test polling for the file never reads half of it. */
static int write_port_file(const char *path, unsigned port) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    return -1;
  }
  const int printed = fprintf(f, "%u\n", port);
  if (fclose(f) != 0 || printed < 0 || rename(tmp, path) != 0) {
    remove(tmp);
    return -1;
  }
  return 0;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* What a wait in shutting down is for, besides its deadline. */
typedef enum { UNTIL_DEADLINE, UNTIL_LISTENER_CLOSED, UNTIL_IDLE } until_what;

/* Waits until `until` (now_s) or until `what` holds, taking signals: a
 * second SIGTERM or SIGINT cuts every wait short. 1 when `what` holds, 0
 * at the deadline, -1 for a second signal. */
static int wait_for(xs_http *h, const sigset_t *set, double until,
                    until_what what) {
  const struct timespec tick = {0, 1000 * 1000};
  for (;;) {
    if ((what == UNTIL_LISTENER_CLOSED && xs_http_listener_closed(h)) ||
        (what == UNTIL_IDLE && xs_http_busy(h) == 0))
      return 1;
    if (now_s() >= until)
      return 0;
    siginfo_t info;
    if (sigtimedwait(set, &info, &tick) > 0 && info.si_signo != SIGHUP) {
      xs_log_info("second signal %d: stopping now", info.si_signo);
      return -1;
    }
  }
}

/* 127.0.0.0/8 or ::1. */
static int is_loopback(const char *addr) {
  return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* Room for --max-connections descriptors: the soft limit raised towards
 * the hard one. */
static void raise_fd_limit(uint64_t connections) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rlim_t want = (rlim_t)connections + 64;
  if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
    want = rl.rlim_max;
  if (want > rl.rlim_cur) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
      rl.rlim_cur < (rlim_t)connections + 16)
    xs_log_error("only %llu file descriptors (ulimit -n): fewer connections "
                 "than --max-connections %llu will be served",
                 (unsigned long long)rl.rlim_cur,
                 (unsigned long long)connections);
}

int main(int argc, char *argv[]) {
  xs_config cfg;
  char err[512];
  switch (xs_config_load(&cfg, argc, argv, stdout, err, sizeof err)) {
  case XS_CONFIG_EXIT_OK:
    return 0;
  case XS_CONFIG_ERROR:
    fprintf(stderr, "xentd: %s\nTry 'xentd --help'.\n", err);
    return 2;
  case XS_CONFIG_RUN:
    break;
  }
  xs_log_init((xs_log_format)cfg.log_format);

  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, NULL);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  const int mask_rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (mask_rc != 0) {
    xs_log_error("pthread_sigmask: %s", strerror(mask_rc));
    return 1;
  }

  raise_fd_limit(cfg.max_connections);
  xs_http *h = xs_http_start(&cfg, err, sizeof err);
  if (h == NULL) {
    xs_log_error("%s", err);
    return 1;
  }
  const unsigned port = xs_http_port(h);
  const int v6 = strchr(cfg.bind, ':') != NULL;
  char threads[48];
  if (xs_config_threads(&cfg) == 0)
    snprintf(threads, sizeof threads, "a thread per connection");
  else
    snprintf(threads, sizeof threads, "a pool of %u threads",
             xs_config_threads(&cfg));
  xs_log_info("listening on %s%s%s:%u (xentd %s, %s, max body %llu "
              "bytes, idle timeout %llu s, replica %s)",
              v6 ? "[" : "", cfg.bind, v6 ? "]" : "", port,
              xent_version_string(), threads,
              (unsigned long long)cfg.max_body_bytes,
              (unsigned long long)cfg.timeout,
              cfg.replica_name[0] != '\0' ? cfg.replica_name : "-");

  if (cfg.auth_token_file[0] == '\0' && !is_loopback(cfg.bind))
    xs_log_error("--bind %s is not a loopback address and no "
                 "--auth-token-file is set: anyone who reaches the port can "
                 "use xentd",
                 cfg.bind);
  /* Last: whoever waits for the port file finds the lines above written. */
  if (cfg.port_file[0] != '\0' && write_port_file(cfg.port_file, port) != 0) {
    xs_log_error("cannot write --port-file %s: %s", cfg.port_file,
                 strerror(errno));
    xs_http_stop(h);
    return 1;
  }
  int sig = 0;
  for (;;) {
    const int rc = sigwait(&set, &sig);
    if (rc == 0 && sig == SIGHUP) {
      xs_http_reload(h);
      continue;
    }
    if (rc == 0) {
      break;
    }
    if (rc != EINTR) {
      xs_log_error("sigwait: %s", strerror(rc));
      break;
    }
  }
  xs_log_info("signal %d: draining (readyz answers 503%s)", sig,
              cfg.drain_delay > 0 ? ", still serving for --drain-delay" : "");
  xs_http_drain(h);
  int waited = 0;
  if (cfg.drain_delay > 0)
    waited =
        wait_for(h, &set, now_s() + (double)cfg.drain_delay, UNTIL_DEADLINE);
  if (waited >= 0) {
    /* --shutdown-timeout bounds all that follows: closing the listener
     * (taking the backlog) and finishing the requests. */
    const double until = now_s() + (double)cfg.shutdown_timeout;
    xs_http_close_listener(h);
    waited = wait_for(h, &set, until, UNTIL_LISTENER_CLOSED);
    if (waited >= 0) {
      xs_log_info("no new connections; finishing the requests begun");
      waited = wait_for(h, &set, until, UNTIL_IDLE);
    }
  }
  const uint64_t left = xs_http_busy(h);
  if (left > 0) {
    xs_log_error("%llu connections still busy%s; closing them",
                 (unsigned long long)left,
                 waited < 0 ? "" : " after --shutdown-timeout");
  }
  xs_http_stop(h);
  if (cfg.port_file[0] != '\0') {
    remove(cfg.port_file);
  }
  xs_log_info("stopped");
  return 0;
}
