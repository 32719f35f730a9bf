/* fuzz_config.c — libFuzzer target for daemon configuration files (INI,
 * read with inih through knoop_config_parse --config FILE), with the option
 * kinds the daemons use. A file accepted must give back values of the right
 * kind; a refusal must come with a message. */
#include "config.h"
#include "fuzz_common.h"

static const knoop_opt_spec_t s_spec[] = {
    { "id", KNOOP_OPT_STRING, NULL, "ID", "partner id", false },
    { "listen", KNOOP_OPT_STRING, "tcp://127.0.0.1:7400", "ENDPOINT", "where to listen", false },
    { "peer", KNOOP_OPT_LIST, NULL, "ID@ENDPOINT", "a peer", false },
    { "heartbeat-ms", KNOOP_OPT_INT, "1000", "MS", "heartbeat", false },
    { "relaxed-durability", KNOOP_OPT_BOOL, "false", NULL, "no fsync", false },
    { NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_as_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    char *argv[] = { "knoop-fuzz", "--config", path, NULL };
    knoop_config_t *cfg = NULL;
    bool help = false;
    char err[512];
    int rc = knoop_config_parse("knoop-fuzz", "broker", "fuzz", NULL, s_spec, 3, argv, &cfg,
                                &help, err, sizeof err);
    close(fd);
    if (rc == KNOOP_OK) {
        CHECK(cfg != NULL && !help);
        CHECK(knoop_config_str(cfg, "listen") != NULL);
        (void) knoop_config_int(cfg, "heartbeat-ms");
        (void) knoop_config_bool(cfg, "relaxed-durability");
        const char *const *peers = NULL;
        size_t n = knoop_config_list(cfg, "peer", &peers);
        for (size_t i = 0; i < n; i++)
            CHECK(peers[i] != NULL);
        knoop_config_destroy(&cfg);
    } else {
        CHECK(cfg == NULL && err[0] != 0);
    }
    return 0;
}
