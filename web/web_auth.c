/* web_auth.c — users, sessions and CSRF tokens of knoop-web. */
#include "web_auth.h"
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_ (WEB_AUTH_NAME_MAX + KNOOP_PWHASH_MAX + 8)

typedef struct {
    char name[WEB_AUTH_NAME_MAX];
    char hash[KNOOP_PWHASH_MAX];
} user_t;

typedef struct {
    char   id[WEB_AUTH_TOKEN_HEX];      /* "" when free */
    char   csrf[WEB_AUTH_TOKEN_HEX];
    char   user[WEB_AUTH_NAME_MAX];
    time_t expires;
} session_t;

struct web_auth_t {
    user_t         *users;
    size_t          nusers;
    pthread_mutex_t lock;           /* sessions */
    pthread_mutex_t pwlock;         /* one password check at a time */
    session_t       sessions[WEB_AUTH_SESSIONS];
    char            dummy[KNOOP_PWHASH_MAX];    /* for unknown users: same work */
};

static bool s_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len >= WEB_AUTH_NAME_MAX)
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return false;
    return true;
}

/* Read the users file into a table. */
static int s_load(const char *file, user_t **users, size_t *n, char *err, size_t err_size)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        int e = errno;
        snprintf(err, err_size, "cannot open users file %s: %s", file, strerror(e));
        return e == ENOENT ? KNOOP_ENOTFOUND : KNOOP_EIO;
    }
    char line[LINE_MAX_ + 2];
    size_t lineno = 0, cap = 0;
    int rc = KNOOP_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            snprintf(err, err_size, "%s:%zu: line too long", file, lineno);
            rc = KNOOP_EMALFORMED;
            break;
        }
        if (len == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon) {
            snprintf(err, err_size, "%s:%zu: expected NAME:HASH", file, lineno);
            rc = KNOOP_EMALFORMED;
            break;
        }
        *colon = '\0';
        const char *hash = colon + 1;
        if (!s_name_ok(line) || strncmp(hash, "$argon2", 7) != 0 ||
            strlen(hash) >= KNOOP_PWHASH_MAX) {
            snprintf(err, err_size, "%s:%zu: expected NAME:HASH with NAME of [A-Za-z0-9._-] "
                     "and a crypto_pwhash_str hash ($argon2...)", file, lineno);
            rc = KNOOP_EMALFORMED;
            break;
        }
        for (size_t i = 0; i < *n; i++)
            if (strcmp((*users)[i].name, line) == 0) {
                snprintf(err, err_size, "%s:%zu: user '%s' given twice", file, lineno, line);
                rc = KNOOP_EMALFORMED;
                break;
            }
        if (rc)
            break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            user_t *nu = realloc(*users, cap * sizeof *nu);
            if (!nu) {
                rc = KNOOP_ENOMEM;
                break;
            }
            *users = nu;
        }
        /* both lengths checked above (s_name_ok, KNOOP_PWHASH_MAX) */
        memcpy((*users)[*n].name, line, strlen(line) + 1);
        memcpy((*users)[*n].hash, hash, strlen(hash) + 1);
        (*n)++;
    }
    if (!rc && ferror(f)) {
        snprintf(err, err_size, "cannot read users file %s", file);
        rc = KNOOP_EIO;
    }
    fclose(f);
    return rc;
}

int web_auth_new(const char *users_file, web_auth_t **out, char *err, size_t err_size)
{
    *out = NULL;
    web_auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    if (users_file) {
        int rc = s_load(users_file, &self->users, &self->nusers, err, err_size);
        if (rc) {
            free(self->users);
            free(self);
            return rc;
        }
    }
    /* A hash of a random password, checked for unknown names so that a
     * wrong name and a wrong password take the same time. */
    uint8_t r[16];
    char pw[33];
    knoop_random(r, sizeof r);
    knoop_hex_encode(pw, r, sizeof r);
    if (knoop_password_hash(self->dummy, pw) != KNOOP_OK) {
        free(self->users);
        free(self);
        return KNOOP_ENOMEM;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_mutex_init(&self->pwlock, NULL);
    *out = self;
    return KNOOP_OK;
}

void web_auth_destroy(web_auth_t **self_p)
{
    web_auth_t *self = *self_p;
    if (!self)
        return;
    knoop_wipe(self->sessions, sizeof self->sessions);
    free(self->users);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->pwlock);
    free(self);
    *self_p = NULL;
}

size_t web_auth_users(const web_auth_t *self)
{
    return self->nusers;
}

static void s_token(char out[WEB_AUTH_TOKEN_HEX])
{
    uint8_t r[32];
    knoop_random(r, sizeof r);
    knoop_hex_encode(out, r, sizeof r);
}

int web_auth_login(web_auth_t *self, const char *user, const char *password,
                   char session[WEB_AUTH_TOKEN_HEX], char csrf[WEB_AUTH_TOKEN_HEX])
{
    const user_t *u = NULL;
    for (size_t i = 0; i < self->nusers; i++)
        if (strcmp(self->users[i].name, user) == 0)
            u = &self->users[i];
    pthread_mutex_lock(&self->pwlock);
    int rc = knoop_password_verify(u ? u->hash : self->dummy, password);
    pthread_mutex_unlock(&self->pwlock);
    if (rc || !u)
        return KNOOP_EPERM;
    time_t now = time(NULL);
    pthread_mutex_lock(&self->lock);
    session_t *slot = &self->sessions[0];
    for (size_t i = 0; i < WEB_AUTH_SESSIONS; i++) {
        session_t *s = &self->sessions[i];
        if (!s->id[0] || s->expires < now) {
            slot = s;
            break;
        }
        if (s->expires < slot->expires)
            slot = s;
    }
    s_token(slot->id);
    s_token(slot->csrf);
    snprintf(slot->user, sizeof slot->user, "%s", u->name);
    slot->expires = now + WEB_AUTH_TTL_S;
    memcpy(session, slot->id, WEB_AUTH_TOKEN_HEX);
    memcpy(csrf, slot->csrf, WEB_AUTH_TOKEN_HEX);
    pthread_mutex_unlock(&self->lock);
    return KNOOP_OK;
}

/* The live session with this id (lock held), or NULL. */
static session_t *s_find(web_auth_t *self, const char *id)
{
    if (!id || strlen(id) != WEB_AUTH_TOKEN_HEX - 1)
        return NULL;
    time_t now = time(NULL);
    session_t *found = NULL;
    for (size_t i = 0; i < WEB_AUTH_SESSIONS; i++) {
        session_t *s = &self->sessions[i];
        if (s->id[0] && knoop_equal_ct(s->id, id, WEB_AUTH_TOKEN_HEX - 1) && s->expires >= now)
            found = s;
    }
    return found;
}

int web_auth_session(web_auth_t *self, const char *session, char user[WEB_AUTH_NAME_MAX],
                     char csrf[WEB_AUTH_TOKEN_HEX])
{
    pthread_mutex_lock(&self->lock);
    session_t *s = s_find(self, session);
    if (s) {
        memcpy(user, s->user, WEB_AUTH_NAME_MAX);
        memcpy(csrf, s->csrf, WEB_AUTH_TOKEN_HEX);
    }
    pthread_mutex_unlock(&self->lock);
    return s ? KNOOP_OK : KNOOP_ENOTFOUND;
}

bool web_auth_csrf_ok(web_auth_t *self, const char *session, const char *csrf)
{
    if (!csrf || strlen(csrf) != WEB_AUTH_TOKEN_HEX - 1)
        return false;
    pthread_mutex_lock(&self->lock);
    session_t *s = s_find(self, session);
    bool ok = s && knoop_equal_ct(s->csrf, csrf, WEB_AUTH_TOKEN_HEX - 1);
    pthread_mutex_unlock(&self->lock);
    return ok;
}

void web_auth_logout(web_auth_t *self, const char *session)
{
    pthread_mutex_lock(&self->lock);
    session_t *s = s_find(self, session);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&self->lock);
}

int web_auth_add_user(const char *users_file, const char *name, const char *password,
                      char *err, size_t err_size)
{
    if (!s_name_ok(name)) {
        snprintf(err, err_size, "user name must be 1-63 characters of [A-Za-z0-9._-]");
        return KNOOP_EINVAL;
    }
    if (!*password) {
        snprintf(err, err_size, "empty password");
        return KNOOP_EINVAL;
    }
    user_t *users = NULL;
    size_t n = 0;
    if (access(users_file, F_OK) == 0) {
        int rc = s_load(users_file, &users, &n, err, err_size);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (strcmp(users[i].name, name) == 0) {
                free(users);
                snprintf(err, err_size, "user '%s' is already in %s", name, users_file);
                return KNOOP_EEXIST;
            }
        free(users);
    }
    char hash[KNOOP_PWHASH_MAX];
    if (knoop_password_hash(hash, password) != KNOOP_OK) {
        snprintf(err, err_size, "out of memory hashing the password");
        return KNOOP_ENOMEM;
    }
    int fd = open(users_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", users_file, strerror(errno));
        return KNOOP_EIO;
    }
    char line[LINE_MAX_];
    int len = snprintf(line, sizeof line, "%s:%s\n", name, hash);
    bool ok = write(fd, line, (size_t) len) == len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        snprintf(err, err_size, "cannot write %s: %s", users_file, strerror(e));
        return KNOOP_EIO;
    }
    return KNOOP_OK;
}
