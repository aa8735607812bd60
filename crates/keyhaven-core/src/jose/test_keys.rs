//! Fixed keys for tests: PKCS#8 (base64) and their public JWK members, made once with
//! `openssl genpkey` + `openssl pkcs8 -topk8 -nocrypt`. They sign nothing outside tests.

pub const RSA_PKCS8: &str = concat!(
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDt7EvOrv+fsb8oDcp2KCIad2TiyutR",
    "jCl1weDT1pxx7zuP7oEpDDJUgLSONW5hu76fDjS0t+DAdCpfLlXJlho29vdPd6DMohFTRk7GljwA7xZo",
    "I4JttOMnqEXg36lwoanTPl9CoE6ZJbXkQnp8WNn31KO23hZo9xioQWeLuG6B1ctKXGsMl5ZLsFDiyVGU",
    "NanqNNvYEfe1zjbhUYeiN9uLrAEpGMvj87NC3zEKGGJqcGknlEvEia4vlPSkroDrrL20xZRvg6NaPp5q",
    "4oXrgVriMY2GRcVS+lRKhxfw1kO01Zhl9mK/rQrGWMGC2Th7eA9jm/bowAFkkXejxy76FKSXAgMBAAEC",
    "ggEAFWE7AgR9abBzdi91u+lpAHTYfCgc6PPjPow2CQM2MBIoiYthUDrNg69vH3+oqXVRW1dPoCpiiBjI",
    "PUuwyiUdZPFgvDjf7745OAD6Ojks2i6h66i+jd+H3BFFz5UkU5U2FAqnom6SXDZkd8cLh69aTZLDmr6u",
    "nS8Qfaom77TFOrsQSwkP22XrVR+avg0y2lBsJ6EsI5SI+u0qj25yyipY9S8JW3GfAigjPyQv3eZtWB2V",
    "w46AV62tPcbt17erVXM+kXeppPAMjJAXCWMhRMJQXEW/YaJwH6N8fNoDFcwRmB6cXdRQe4UC2nQsC92h",
    "6AazCL5/pFT1U4JJVmpZe26frQKBgQD/fZl39XY0kcS8dK9gAIMAFEMUW4CivvS8Nn+HkjS44M4WvkwL",
    "QRleJwBfCd7MR6pxwcePQbnqH2b66VqqX7qMnIXd0UQnt7YymqaVItcU4QGayWT01o3V0YGsQ2NVSwYs",
    "fugAjPkArMIN46dcs5JZ6aM4ikKw6Qd/jNhUj2NvAwKBgQDuZbry1qj/PJXinjIhpYXiP/Pj7S7ImF5/",
    "MsdMDpnLvcTnhSLYoGXQ9qfwhSC7okBJuRcuuhbzbsFAsmL/37Vrn+hZV6jLxgjIXlf6nOFfj6AZtqXs",
    "bSseEGlWnhcZYdMcGiWaxDuRoBcETMS+wC8gYqCFCj2wjyVmyJP92MZF3QKBgQDeMrjXOFZ+b8wfbofb",
    "wXYtCnIwcUgVwmeMjQUqvgA2TeVOqF/wZcSPOvI6tZXcKfPVjYdmUu5C7N6eF3bvt+PBSJuwB8DznfXK",
    "Wu/Hwo42LV485Sx1N2gRbm0NiWoJkv8ikZhqajBg4t6+P6CdodsFcYmvsadAvtnzl2XJXQ9ISwKBgQDE",
    "FbbkYL3WWm3qXTZcyHnL89BWTFNruTAYrZqRq3zCwU9BIxfbWGsGqqrNwaJ/0t/QA8bWr0eLaTDZVyDo",
    "14ewg3Goctqq6TN2I2t3/iu93zPPkpT9V3ncm6EZFqVnQjhTaApAN2HL0QK9jatSPl9E4vqnExpUrBkW",
    "ZqqbY/8JnQKBgGjU0LPdxjWCoJzSeCEWHI9gnGOPKLfd7KWdj4ctFML2ZsDTBc+CfxCqMSx78zR41kIw",
    "uprlCJw/e4r8VvsB483Ah7XQNWBSRHeARBhHAYfnzuXnVyQTySVB11jEnsp4Ze54GEDO9uIiCJEnONmy",
    "b52dqZr2/cyiewgU5EpW2mPZ",
);
pub const RSA_N: &str = concat!(
    "7exLzq7_n7G_KA3KdigiGndk4srrUYwpdcHg09acce87j-6BKQwyVIC0jjVuYbu-nw40tLfgwHQqXy5V",
    "yZYaNvb3T3egzKIRU0ZOxpY8AO8WaCOCbbTjJ6hF4N-",
    "pcKGp0z5fQqBOmSW15EJ6fFjZ99Sjtt4WaPcYqEFni7hugdXLSlxrDJeWS7BQ4slRlDWp6jTb2BH3tc4",
    "24VGHojfbi6wBKRjL4_OzQt8xChhianBpJ5RLxImuL5T0pK6A66y9tMWUb4OjWj6eauKF64Fa4jGNhkX",
    "FUvpUSocX8NZDtNWYZfZiv60KxljBgtk4e3gPY5v26MABZJF3o8cu-hSklw",
);
pub const EC_PKCS8: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUZOflYyR2oRMT97DlmheotYdFe0w73uc",
    "SnIUKza7nfGhRANCAATrLKhT2aoNvICZqYAtSsmEbpfoiPwztjJ/tnvZ7QU9/aRHlJU1DKBJSp0BvPdi",
    "3aVhCVYr0brrIiwHthYFaao9",
);
pub const EC_X: &str = "6yyoU9mqDbyAmamALUrJhG6X6Ij8M7Yyf7Z72e0FPf0";
pub const EC_Y: &str = "pEeUlTUMoElKnQG892LdpWEJVivRuusiLAe2FgVpqj0";
pub const ED_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIDnm6fbDA3yIVUGrkEXfdwgGHsxh9RaRpvkoTvtdvFO9";
pub const ED_X: &str = "g_Py31owg0mDDywn_jZCuZ-anUxyJJdviYZ6mIRhI8w";

/// Public halves of a second key per algorithm: valid keys that did not sign anything.
pub const OTHER_RSA_N: &str = concat!(
    "now4VN10T6BLa31O29T3Bp_pm4m1A05GU0myj7uE0Hrg0eLNXOCaoIno6jPvqccHItZDbUQzf9seyWnw",
    "Xx1QV9m6lBgCT9dviEXXGvuKmHOjpIo8xpGzTsu14nu8HqKIzdC6AhdZbDl4OkzDWvL5DwmEkX8hDPPc",
    "sXXoTJoskdbuGmYLFTTh6juYF81YexVdrcRrxBdInbVAbUBcvurTmr6Qwo263mlbj3ub4uTnObaOGlcV",
    "1FNWtI6oFjniRl6CsPozOcMwLbtJ8T9xkYiIB4FQ-",
    "CWOWjl2NI3cB0BzEfBox9GeVVURI8u09xA9lTjxgfGc_w_NNMAotFoKm9hYkQ",
);
pub const OTHER_EC_X: &str = "yj35hPgiwL_GLwi4SpIzF0HEFf7pEo6Ela9sws425OU";
pub const OTHER_EC_Y: &str = "kLkjiG92f1tpqDz4ByaIasECQLb3DU53n4AmIDIWbcI";
pub const OTHER_ED_X: &str = "5Mbq15WekTeh8r_HFhq7dN-KurAJqRv4NEyPmpK4OPM";
