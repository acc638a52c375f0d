//! Masks credentials in text Ward prints, logs or records: the user-info of every URL and
//! the values of credential query parameters. Every message, hint, log line and ledger
//! detail passes through here before it leaves the process.

/// Query parameters whose values are credentials, compared without regard to case.
const CREDENTIAL_PARAMETERS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "sslpassword",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "private_token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "secret_key",
    "secret",
    "client_secret",
    "credential",
    "credentials",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Masks the credentials of every URL in `text`: the user-info (`scheme://user:password@host`
/// becomes `scheme://***@host`) and the values of credential query parameters
/// (`?password=***`). The rest of each URL stays, so that a message still says which one it
/// was; only the placeholders of example URLs (`user`, `user:password`) are left as they
/// are. Every message and hint Ward prints passes through here; sources that build messages
/// from URLs call it too.
pub fn scrub_credentials(text: &str) -> String {
    mask_credential_parameters(&mask_user_info(text))
}

/// User-info that hints write in example URLs (`postgres://user@host:port/db`): kept, since
/// it names a placeholder, not a credential.
const PLACEHOLDER_USER_INFO: &[&str] = &["user", "user:password", "USER", "USER:PASSWORD"];

/// Ends a URL's authority, a parameter's value, or a URL.
fn ends_url_part(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')
}

fn mask_user_info(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || ends_url_part(c))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(user_info_end)
                if !PLACEHOLDER_USER_INFO.contains(&&authority[..user_info_end]) =>
            {
                out.push_str("***");
                out.push_str(&authority[user_info_end..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn mask_credential_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['?', '&', ';']) {
        let (before, after) = rest.split_at(at + 1);
        out.push_str(before);
        let name = CREDENTIAL_PARAMETERS.iter().find(|name| {
            after.as_bytes().get(..name.len() + 1).is_some_and(|b| {
                b[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && b[name.len()] == b'='
            })
        });
        rest = after;
        if let Some(name) = name {
            let (key, value) = after.split_at(name.len() + 1);
            out.push_str(key);
            let end = value
                .find(|c: char| matches!(c, '&' | '#' | ';') || ends_url_part(c))
                .unwrap_or(value.len());
            if end > 0 {
                out.push_str("***");
            }
            rest = &value[end..];
        }
    }
    out.push_str(rest);
    out
}

/// [`scrub_credentials`] over every string in a JSON document.
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = scrub_credentials(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked_and_the_rest_kept() {
        let cases = [
            (
                "cannot push to http://user:s3cret@127.0.0.1:9091/metrics: refused",
                "cannot push to http://***@127.0.0.1:9091/metrics: refused",
            ),
            ("https://token@host/x", "https://***@host/x"),
            (
                "postgres://u:p@ss@db:5432/postgres",
                "postgres://***@db:5432/postgres",
            ),
            ("at s3://a:b@bucket?x=1", "at s3://***@bucket?x=1"),
            ("http://[::1]:9091/", "http://[::1]:9091/"),
            (
                "(http://u:pw@h) and \"ftp://x:y@z\"",
                "(http://***@h) and \"ftp://***@z\"",
            ),
            (
                "http://pgw:9091/metrics/job/d/environment@base64/YmlsbGluZw",
                "http://pgw:9091/metrics/job/d/environment@base64/YmlsbGluZw",
            ),
            (
                "postgres://db/x?sslmode=require&password=s3cret&user=a",
                "postgres://db/x?sslmode=require&password=***&user=a",
            ),
            (
                "postgres://db/x?sslpassword=k3y",
                "postgres://db/x?sslpassword=***",
            ),
            (
                "https://h/api?TOKEN=abc#frag",
                "https://h/api?TOKEN=***#frag",
            ),
            (
                "https://h/?access_token=a&api_key=b",
                "https://h/?access_token=***&api_key=***",
            ),
            (
                "https://gitlab/x?private_token=glpat-1 next",
                "https://gitlab/x?private_token=*** next",
            ),
            (
                "https://h/?passwordless=1&pass=",
                "https://h/?passwordless=1&pass=",
            ),
            ("no url here: a@b, x=1", "no url here: a@b, x=1"),
            (
                "use postgres://user@host:port/db or postgres://user:password@h/db",
                "use postgres://user@host:port/db or postgres://user:password@h/db",
            ),
            ("http://user:s3cret@h/", "http://***@h/"),
            ("", ""),
            ("http://ünï:cödé@hôst/ä", "http://***@hôst/ä"),
        ];
        for (text, want) in cases {
            assert_eq!(scrub_credentials(text), want, "{text}");
            assert_eq!(scrub_credentials(want), want, "idempotent: {want}");
        }
    }
}
