/*
 * daemon.h - starts and stops a real xentd for the integration tests.
 *
 * xt_daemon_start runs the binary on 127.0.0.1, port 0, with --port-file in
 * a fresh temporary folder, and waits (bounded) until the port is written.
 * xt_daemon_stop sends SIGTERM and waits (bounded) for exit status 0.
 * When the environment variable XENT_URL is set, xt_daemon_url_from_env
 * returns it and the tests talk to that daemon instead of starting one.
 */
#ifndef XT_DAEMON_H
#define XT_DAEMON_H

#include <sys/types.h>

typedef struct xt_daemon {
  pid_t pid;     /* 0 when not running                           */
  int port;      /* the port xentd bound                         */
  char dir[256]; /* temporary folder: port file and stderr log   */
  char url[64];  /* "http://127.0.0.1:PORT"                      */
} xt_daemon;

/* The xentd binary: $XENTD, else "build/xentd". */
const char *xt_daemon_binary(void);

/* XENT_URL without a trailing slash, or NULL when unset or empty. */
const char *xt_daemon_url_from_env(void);

/* Starts xentd with `extra` (NULL-terminated, may be NULL) after the port
 * flags. Waits up to `wait_ms` for the port file. Returns 0, or -1 with a
 * message on stderr (the process, if any, is killed). */
int xt_daemon_start(xt_daemon *d, const char *const *extra, int wait_ms);

/* Sends SIGTERM (unless already sent) and waits up to `wait_ms` for the
 * process. Returns its exit status (0..255), 128 + signal when it died of
 * a signal, or -1 when it did not exit in time (it is then SIGKILLed). */
int xt_daemon_stop(xt_daemon *d, int wait_ms);

/* Sends SIGTERM without waiting. */
void xt_daemon_signal(const xt_daemon *d, int sig);

/* Waits up to `wait_ms` for an already signalled daemon; as xt_daemon_stop. */
int xt_daemon_wait(xt_daemon *d, int wait_ms);

/* Copies up to size-1 bytes of the daemon's stderr log into buf. */
void xt_daemon_log(const xt_daemon *d, char *buf, size_t size);

/* Sleeps for ms milliseconds. */
void xt_sleep_ms(int ms);

/* Monotonic time in milliseconds. */
long long xt_now_ms(void);

#endif /* XT_DAEMON_H */
