/*
 * web_auth.h — who may publish from knoop-web: users from a file of
 * libsodium password hashes, sessions behind a cookie, and a CSRF token per
 * session.
 *
 * The users file has one user a line, "NAME:HASH" (HASH from
 * crypto_pwhash_str, see knoop_password_hash); '#' starts a comment line.
 * `knoop-web --users FILE --add-user NAME` adds one, reading the password
 * from standard input. NAME is [A-Za-z0-9._-], at most 63 characters.
 *
 * A session is 32 random bytes (hex in the cookie "knoop_sessie", HttpOnly,
 * SameSite=Strict) with its own random CSRF token that every publishing
 * request must carry as the form field "csrf". Sessions live in memory (a
 * restart logs everyone out), at most WEB_AUTH_SESSIONS at once (the oldest
 * goes), each for WEB_AUTH_TTL_S seconds.
 *
 * Threading: all functions may be called from any thread (one mutex); the
 * password check runs one at a time, so that a burst of logins cannot take
 * the memory of many Argon2 computations at once.
 */
#ifndef KNOOP_WEB_AUTH_H
#define KNOOP_WEB_AUTH_H

#include "knoop.h"

#define WEB_AUTH_SESSIONS 64
#define WEB_AUTH_TTL_S    (12 * 3600)
#define WEB_AUTH_NAME_MAX 64
#define WEB_AUTH_TOKEN_HEX 65        /* 32 bytes as hex, with NUL */

typedef struct web_auth_t web_auth_t;

/* Load the users file (NULL: nobody can log in). On failure err names the
 * file and line. Errors: KNOOP_ENOTFOUND, KNOOP_EIO, KNOOP_EMALFORMED,
 * KNOOP_ENOMEM. */
int  web_auth_new(const char *users_file, web_auth_t **out, char *err, size_t err_size);
void web_auth_destroy(web_auth_t **self_p);

/* Number of users loaded. */
size_t web_auth_users(const web_auth_t *self);

/* Check a user's password; on success start a session: its id and CSRF
 * token into the out buffers. KNOOP_EPERM for an unknown user or a wrong
 * password (the same answer for both, after the same work). */
int  web_auth_login(web_auth_t *self, const char *user, const char *password,
                    char session[WEB_AUTH_TOKEN_HEX], char csrf[WEB_AUTH_TOKEN_HEX]);

/* The session's user and CSRF token when the session id (from the cookie)
 * is live; KNOOP_ENOTFOUND otherwise. */
int  web_auth_session(web_auth_t *self, const char *session, char user[WEB_AUTH_NAME_MAX],
                      char csrf[WEB_AUTH_TOKEN_HEX]);

/* True when csrf is the token of the live session `session`. */
bool web_auth_csrf_ok(web_auth_t *self, const char *session, const char *csrf);

/* End a session (logout); unknown ids are ignored. */
void web_auth_logout(web_auth_t *self, const char *session);

/* Append NAME:HASH for a new user to the file (created 0600). Errors:
 * KNOOP_EINVAL (bad name or empty password), KNOOP_EEXIST (name taken),
 * KNOOP_EIO, KNOOP_ENOMEM; err says which. */
int  web_auth_add_user(const char *users_file, const char *name, const char *password,
                       char *err, size_t err_size);

#endif
