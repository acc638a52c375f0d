//! Refuses literal credentials in the estate, which lives in Git where a pasted password
//! stays forever: every value of every Ward document is checked for kinds of credential
//! (see [`scan`]), and messages name the field, never the value.

use crate::source::Diagnostic;
use crate::yaml::{Node, Value};

/// Head words of a key that names a secret value (`smtp_pass`, `dbPassword`, `apiToken`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "pw",
    "secret",
    "token",
    "credential",
    "credentials",
    "creds",
    "apikey",
    "authorization",
];

/// Words before `key` that make it a secret key (`masterKey`, `api_key`, `signingKey`); a
/// bare `key` is the path of a secret reference, and `sshKey` is a public key.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "secret",
    "private",
    "master",
    "signing",
    "sign",
    "encryption",
    "encrypt",
    "client",
    "auth",
    "session",
    "hmac",
    "license",
    "shared",
    "account",
    "storage",
    "webhook",
    "app",
    "service",
];

/// Endings of a key written as one word (`PGPASSWORD`, `clientsecret`, `masterkey`).
const SECRET_SUFFIXES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "masterkey",
    "signingkey",
    "encryptionkey",
    "connectionstring",
];

/// Head words of a key that holds a user name, where `name:password` is a credential.
const USER_WORDS: &[&str] = &["user", "username", "login", "userinfo"];

/// Query parameters that carry a credential besides the secret-like names: signatures of
/// pre-signed URLs (`sig`, `X-Amz-Signature`) and Google's `key`.
const QUERY_WORDS: &[&str] = &["sig", "signature", "key", "auth"];

/// Looks through one document and reports each literal credential it finds, by kind:
/// secret-like key names, credential query parameters, user-info in URLs, HTTP
/// authorization values, `name=value` settings of secrets, well-known token formats, and
/// random-looking values where only a reference belongs. Every diagnostic points at the
/// offending value (or key), so the loader can mask exactly that.
pub fn scan(node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
    scan_at(node, path, None, false, out);
}

/// `key` is the mapping key the node is the value of (for list items, the list's key);
/// `in_reference` is true inside a secret reference, where only names and paths belong.
fn scan_at(
    node: &Node,
    path: &str,
    key: Option<&Key<'_>>,
    in_reference: bool,
    out: &mut Vec<Diagnostic>,
) {
    match &node.value {
        Value::Scalar { text, plain } => {
            let Some(finding) = check_scalar(key, text, *plain, in_reference) else {
                return;
            };
            let d = match finding {
                Finding::SecretKey(key) => Diagnostic::new(
                    node.span,
                    format!("`{path}` is a literal credential; the estate may only hold references to secrets"),
                )
                .hint(format!(
                    "replace it with `{key}Ref: {{ store: <secret store>, key: <path> }}` and rotate the value, which is now in Git history"
                )),
                Finding::Shape(what) => Diagnostic::new(
                    node.span,
                    format!("`{path}` holds what looks like a literal credential ({what})"),
                )
                .hint("remove it from the estate (and from Git history), rotate it, and reference it instead with `{ store: <secret store>, key: <path> }`"),
            };
            out.push(d);
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                scan_at(item, &format!("{path}[{i}]"), key, in_reference, out);
            }
        }
        Value::Map(entries) => {
            // A mapping with `store` and `key` is a secret reference, whatever it is called.
            let has = |name: &str| entries.iter().any(|(k, _)| k.as_str() == Some(name));
            let reference = in_reference || (has("store") && has("key"));
            for (k, v) in entries {
                let mut name = k.as_str().unwrap_or("?");
                // A key is echoed in every path below it and in "unknown field" messages.
                if let Some(what) = credential_shape(name) {
                    out.push(
                        Diagnostic::new(
                            k.span,
                            format!("a key of `{path}` holds what looks like a literal credential ({what})"),
                        )
                        .hint("remove it from the estate (and from Git history) and rotate it"),
                    );
                    name = "<key not shown>";
                }
                let child = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                let key = Key::new(name);
                let under_ref = reference || key.names_reference();
                scan_at(v, &child, Some(&key), under_ref, out);
            }
        }
    }
}

enum Finding<'k> {
    /// A value under a key that names a secret.
    SecretKey(&'k str),
    /// A value shaped like a credential, and which kind.
    Shape(&'static str),
}

fn check_scalar<'k>(
    key: Option<&Key<'k>>,
    text: &str,
    plain: bool,
    in_reference: bool,
) -> Option<Finding<'k>> {
    let t = text.trim();
    // `automountServiceAccountToken: false` switches a token off; it is not one.
    if t.is_empty() || is_yaml_word(t) {
        return None;
    }
    if let Some(k) = key
        && k.names_secret()
    {
        return Some(Finding::SecretKey(k.text));
    }
    if plain && is_number(t) {
        return None;
    }
    if key.is_some_and(Key::names_user)
        && !t.contains("://")
        && t.split_once(':')
            .is_some_and(|(u, p)| !u.is_empty() && !p.is_empty())
    {
        return Some(Finding::Shape("a user name with a password after `:`"));
    }
    if let Some(what) = credential_shape(t) {
        return Some(Finding::Shape(what));
    }
    if !in_reference {
        return None;
    }
    // A path's segments are judged one by one (`bw/<uuid>` is an id under a folder), unless
    // the value has characters no path has, as base64 does.
    let path_like = t.contains('/')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'));
    let random = if path_like {
        t.split('/').any(looks_random)
    } else {
        looks_random(t)
    };
    if random {
        return Some(Finding::Shape(
            "a random-looking value where a secret reference's name or path belongs",
        ));
    }
    None
}

/// Booleans and null in any spelling YAML gives them, quoted or not.
fn is_yaml_word(t: &str) -> bool {
    matches!(
        t.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
    )
}

fn is_number(t: &str) -> bool {
    t.parse::<f64>().is_ok()
}

/// The words of a key: split at punctuation and at camelCase humps, lowercased.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let hump = c.is_ascii_uppercase()
                && prev.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
                });
            if hump && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// A mapping key and its words, split once for the several questions asked of it.
struct Key<'k> {
    text: &'k str,
    words: Vec<String>,
}

impl<'k> Key<'k> {
    fn new(text: &'k str) -> Key<'k> {
        Key {
            text,
            words: words(text),
        }
    }

    fn head(&self) -> Option<&str> {
        self.words.last().map(String::as_str)
    }

    /// Whether the key names a secret value: its head word says so (`smtp_pass`), or it
    /// is a qualified key (`masterKey`), or its words run together end like one
    /// (`PGPASSWORD`, `connectionString`). `passwordRef`, `credentialOwner`, `tokenTtl`
    /// name something else, so they are not.
    fn names_secret(&self) -> bool {
        let w = &self.words;
        let Some(head) = self.head() else {
            return false;
        };
        if SECRET_WORDS.contains(&head) {
            return true;
        }
        if head == "key" && w.len() >= 2 && KEY_QUALIFIERS.contains(&w[w.len() - 2].as_str()) {
            return true;
        }
        let joined = w.concat();
        SECRET_SUFFIXES.iter().any(|s| joined.ends_with(s))
    }

    fn names_user(&self) -> bool {
        self.head().is_some_and(|h| USER_WORDS.contains(&h))
    }

    /// A field that must hold a secret reference (`passwordRef`, `credentialRef`) or is
    /// one by the model (`credentials`, `estateCredentials`, `drillIdentity`).
    fn names_reference(&self) -> bool {
        let w: Vec<&str> = self.words.iter().map(String::as_str).collect();
        matches!(
            w.as_slice(),
            [.., "ref"] | [.., "credentials"] | ["drill", "identity"]
        )
    }
}

fn is_secret_key(key: &str) -> bool {
    Key::new(key).names_secret()
}

/// Names the kind of credential a value looks like, if any. Looks at the value alone, so
/// it also serves to check rendered output.
pub fn credential_shape(text: &str) -> Option<&'static str> {
    let t = text.trim();
    // Every value of the estate comes through here: each check runs only when the value
    // has the one character it cannot do without (a quick byte search), so that the
    // substring searches are left for the few values that may match.
    let has = |c: char| t.contains(c);
    if has('-') {
        if t.contains("AGE-SECRET-KEY-1") {
            return Some("an age secret key");
        }
        if t.contains("-----BEGIN") && t.contains("PRIVATE KEY") {
            return Some("a PEM private key");
        }
        if t.starts_with("PuTTY-User-Key-File") {
            return Some("a PuTTY private key");
        }
    }
    if has('/') {
        if let Some(what) = webhook(t) {
            return Some(what);
        }
        if let Some(what) = url_credential(t) {
            return Some(what);
        }
    }
    if has(' ') && authorization_value(t) {
        return Some("an HTTP authorization value");
    }
    if has('=') && secret_setting(t) {
        return Some("a `name=value` setting of a secret");
    }
    // A public key is public: its base64 body must not be mistaken for tokens.
    if is_public_key(t) {
        return None;
    }
    t.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .find_map(token_format)
}

fn is_public_key(t: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// Well-known token formats, by their published prefixes and lengths.
fn token_format(word: &str) -> Option<&'static str> {
    let body = |prefix: &str, min: usize| {
        word.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() >= min
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        })
    };
    for prefix in ["AKIA", "ASIA"] {
        if let Some(rest) = word.strip_prefix(prefix)
            && rest.len() == 16
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Some("an AWS access key id");
        }
    }
    let prefixed: &[(&str, usize, &'static str)] = &[
        ("ghp_", 30, "a GitHub token"),
        ("gho_", 30, "a GitHub token"),
        ("ghu_", 30, "a GitHub token"),
        ("ghs_", 30, "a GitHub token"),
        ("ghr_", 30, "a GitHub token"),
        ("github_pat_", 30, "a GitHub token"),
        ("glpat-", 20, "a GitLab token"),
        ("gldt-", 20, "a GitLab token"),
        ("xoxb-", 10, "a Slack token"),
        ("xoxp-", 10, "a Slack token"),
        ("xoxa-", 10, "a Slack token"),
        ("xoxr-", 10, "a Slack token"),
        ("xoxs-", 10, "a Slack token"),
        ("xapp-", 10, "a Slack token"),
        ("sk_live_", 10, "a Stripe key"),
        ("sk_test_", 10, "a Stripe key"),
        ("rk_live_", 10, "a Stripe key"),
        ("rk_test_", 10, "a Stripe key"),
        ("whsec_", 20, "a webhook signing secret"),
        ("AIza", 35, "a Google API key"),
        ("npm_", 36, "an npm token"),
        ("pypi-", 50, "a PyPI token"),
        ("hf_", 30, "a Hugging Face token"),
        ("dop_v1_", 40, "a DigitalOcean token"),
        ("shpat_", 32, "a Shopify token"),
        ("sk-proj-", 20, "an OpenAI key"),
        ("sk-ant-", 20, "an Anthropic key"),
    ];
    if let Some((_, _, what)) = prefixed.iter().find(|(p, min, _)| body(p, *min)) {
        return Some(what);
    }
    let parts: Vec<&str> = word.split('.').collect();
    let base64url = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    };
    if parts.len() == 3
        && word.starts_with("eyJ")
        && word.len() > 40
        && parts.iter().all(|p| base64url(p))
    {
        return Some("a JSON Web Token");
    }
    if parts.len() == 3 && parts[0] == "SG" && parts[1].len() >= 16 && parts[2].len() >= 30 {
        return Some("a SendGrid key");
    }
    None
}

/// Chat webhooks whose URL path is the secret.
fn webhook(t: &str) -> Option<&'static str> {
    const HOOKS: &[&str] = &[
        "hooks.slack.com/services/",
        "hooks.slack.com/workflows/",
        "hooks.slack.com/triggers/",
        "discord.com/api/webhooks/",
        "discordapp.com/api/webhooks/",
        "webhook.office.com/webhookb2/",
        "chat.googleapis.com/v1/spaces/",
    ];
    HOOKS
        .iter()
        .any(|h| {
            t.find(h).is_some_and(|i| {
                t[i + h.len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .count()
                    >= 8
            })
        })
        .then_some("a webhook URL, whose path is its secret")
}

/// User-info with a password (or a token as the user), and credential query parameters,
/// in any URL the text holds.
fn url_credential(t: &str) -> Option<&'static str> {
    for (i, _) in t.match_indices("://") {
        let rest = &t[i + 3..];
        let url_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let url = &rest[..url_end];
        let authority = url.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((_, password)) if !password.is_empty() => {
                    return Some("a URL with a password in it");
                }
                None if token_format(userinfo).is_some() || looks_random(userinfo) => {
                    return Some("a URL with a token as its user");
                }
                _ => {}
            }
        }
        if let Some((_, query)) = url.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for pair in query.split(['&', ';']) {
                if let Some((name, value)) = pair.split_once('=')
                    && !value.is_empty()
                    && (is_secret_key(name)
                        || words(name)
                            .last()
                            .is_some_and(|h| QUERY_WORDS.contains(&h.as_str())))
                {
                    return Some("a URL with a credential in its query");
                }
            }
        }
    }
    None
}

/// A connection string or option list that sets a secret: `Server=db;Password=…`,
/// `admin_passwd=…`. A variable or template (`$PW`, `{{ .pw }}`) sets nothing yet.
fn secret_setting(t: &str) -> bool {
    t.split([';', '&', ' ', ',']).any(|pair| {
        pair.split_once('=').is_some_and(|(name, value)| {
            let value = value.trim_matches(['"', '\'']);
            !value.is_empty() && !value.starts_with(['$', '{', '<']) && is_secret_key(name.trim())
        })
    })
}

/// `Bearer <token>`, `Basic <base64>`, `Token <token>`, alone or after `Authorization:`.
/// A template (`Basic {{ .credentials }}`) is no credential: the token must be one.
fn authorization_value(t: &str) -> bool {
    let lower = t.to_ascii_lowercase();
    let token_chars = |s: &str| {
        s.chars()
            .take_while(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-')
            })
            .count()
    };
    for scheme in ["bearer ", "basic ", "token "] {
        for (i, _) in lower.match_indices(scheme) {
            let before = lower[..i].trim_end();
            let at_start = before.is_empty() || before.ends_with("authorization:");
            let after = t[i + scheme.len()..].trim_start();
            let n = token_chars(after);
            let whole = after[n..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ','));
            if whole && ((at_start && n >= 8) || (scheme == "bearer " && n >= 16)) {
                return true;
            }
        }
    }
    false
}

/// A random-looking string: a long hex run, or letters and digits that change class
/// about as often as random text does (camelCase words and dashed names change rarely).
/// UUIDs are ids, not secrets.
fn looks_random(s: &str) -> bool {
    let alnum: Vec<char> = s.chars().filter(char::is_ascii_alphanumeric).collect();
    if alnum.len() < 16 || is_uuid(s) {
        return false;
    }
    if s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    let class = |c: &char| {
        if c.is_ascii_lowercase() {
            0
        } else if c.is_ascii_uppercase() {
            1
        } else {
            2
        }
    };
    let changes = alnum
        .windows(2)
        .filter(|w| class(&w[0]) != class(&w[1]))
        .count();
    let classes = [0, 1, 2]
        .iter()
        .filter(|k| alnum.iter().any(|c| class(c) == **k))
        .count();
    classes >= 2 && changes * 10 >= (alnum.len() - 1) * 3 && word_letters(&alnum) * 2 < alnum.len()
}

/// How many characters are in word-like runs (`Billing`, `prod`: an optional capital, then
/// at least three lowercase letters). Names are mostly words; random text hardly has any.
fn word_letters(chars: &[char]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        if chars[i].is_ascii_uppercase() {
            i += 1;
        }
        while i < chars.len() && chars[i].is_ascii_lowercase() {
            i += 1;
        }
        if i - start >= 4 {
            total += i - start;
        }
        if i == start {
            i += 1;
        }
    }
    total
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What may be shown of a value that might be secret: its length, never its text.
pub fn redact(text: &str) -> String {
    format!("<{} characters, not shown>", text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_credentials() {
        assert!(credential_shape("AGE-SECRET-KEY-1QQQ").is_some());
        assert!(credential_shape("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(credential_shape("postgres://odoo:hunter2@db/odoo").is_some());
        assert!(credential_shape("https://claims.example.net/api").is_none());
        assert!(credential_shape("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO").is_none());
        assert!(
            credential_shape("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
                .is_none()
        );
        assert!(
            credential_shape("extraHeader = Authorization: Basic {{ .credentials | b64enc }}")
                .is_none()
        );
    }

    #[test]
    fn recognises_secret_keys() {
        for key in [
            "password",
            "admin_passwd",
            "dbPassword",
            "apiKey",
            "api_key",
            "x-api-key",
            "smtp_pass",
            "passphrase",
            "masterKey",
            "PGPASSWORD",
            "clientsecret",
            "secretAccessKey",
            "authorization",
            "automountServiceAccountToken",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "passwordRef",
            "credentialOwner",
            "breakGlassRecipient",
            "key",
            "keys",
            "ssh",
            "sshKey",
            "secretStores",
            "tokenTtl",
            "passwordMinLength",
            "bypass",
            "compass",
            "passthrough",
            "maxTokens",
            "secretName",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn splits_words_at_humps() {
        assert_eq!(words("secretAccessKey"), ["secret", "access", "key"]);
        assert_eq!(words("X-Amz-Signature"), ["x", "amz", "signature"]);
        assert_eq!(words("HTTPHeaderToken"), ["http", "header", "token"]);
        assert_eq!(words("PGPASSWORD"), ["pgpassword"]);
    }

    #[test]
    fn randomness_is_told_from_names() {
        assert!(looks_random("q8Zr2LmX9vTb4NcW7yKd"));
        assert!(looks_random("5f4dcc3b5aa765d61d8327deb882cf99"));
        assert!(looks_random("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        for name in [
            "integrations/clearinghouse",
            "StMarysBillingProduction2026",
            "Odoo-Billing-Prod-2026",
            "3f2a9c1e-8b7d-4c6a-9e5f-1a2b3c4d5e6f",
            "hospital-vault-primary-eu1",
            "ward_drill_0123456789ab",
            "OdooV17ProdEu1Billing",
            "SmsGateway2NorthsideKey",
        ] {
            assert!(!looks_random(name), "{name}");
        }
    }
}
