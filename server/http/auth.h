/*
 * auth.h - bearer tokens (--auth-token-file): one token per line, reloaded
 * on SIGHUP; a request carries `Authorization: Bearer <token>`.
 */
#ifndef XENTD_AUTH_H
#define XENTD_AUTH_H

#include <stddef.h>

typedef struct xs_auth xs_auth;

/* The tokens of `path` (blank lines and lines starting with '#' skipped);
 * NULL with a one-line reason in err when the file cannot be read or holds
 * no token. */
xs_auth *xs_auth_new(const char *path, char *err, size_t err_size);
/* Reads the file again; on failure keeps the current tokens. 0 or -1. */
int xs_auth_reload(xs_auth *a, char *err, size_t err_size);
/* Does the Authorization header value (may be NULL) carry a token of the
 * file? Every token is compared whole, in time that depends on the
 * lengths only, never on where the bytes first differ. */
int xs_auth_check(xs_auth *a, const char *authorization);
/* Tokens loaded. */
size_t xs_auth_count(xs_auth *a);
void xs_auth_free(xs_auth *a);

#endif /* XENTD_AUTH_H */
