//! Who is at the browser, and whether a form post is theirs.
//!
//! - **Sign-in.** With a token file, the sign-in form takes a bearer token
//!   and keeps it in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//!   when served over TLS), hex-encoded so that any token survives cookie
//!   syntax. Every request checks it against the token file in force, as
//!   the gRPC layer checks its header: a revoked token signs the browser
//!   out at once, a tampered cookie is simply not signed in, and nothing
//!   about a session is kept on the server, so any replica can serve any
//!   page.
//! - **Forms.** A form that acts carries a random token that must equal the
//!   `breakeven_csrf` cookie (double submit). The cookie is `SameSite=Strict`
//!   and `HttpOnly`: another site can neither send nor read it. A post whose
//!   `Origin` names another host is refused as well.

use axum::http::{HeaderMap, HeaderValue, header};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::auth::TokenFile;

/// The cookie holding the signed-in token.
pub const SESSION_COOKIE: &str = "breakeven_session";
/// The cookie holding the form token.
pub const CSRF_COOKIE: &str = "breakeven_csrf";
/// How long a sign-in lasts without a new one: a working day.
pub const SESSION_SECONDS: u64 = 12 * 60 * 60;

/// The value of cookie `name` in a request, if it has one.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: `max_age` 0 removes the cookie, `None` keeps it
/// for the browser's session.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    // Names and values are ours: hex digits and fixed names.
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

/// `n` random bytes from the system's source, as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source answers");
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The team of the token in the session cookie, if it is one the file
/// holds now.
pub fn signed_in(headers: &HeaderMap, tokens: &TokenFile) -> Option<String> {
    let token = String::from_utf8(unhex(cookie(headers, SESSION_COOKIE)?)?).ok()?;
    tokens.current().team(&token).map(str::to_string)
}

/// The session cookie of a token that signed in.
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    set_cookie(
        SESSION_COOKIE,
        &hex(token.as_bytes()),
        secure,
        Some(SESSION_SECONDS),
    )
}

/// The request's form token, if it carries a well-formed one.
pub fn csrf_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, CSRF_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a form post is refused, or `None` when it may act: the form's
/// token must equal the cookie's, and an `Origin` header must name this
/// host.
pub fn refuse_post(headers: &HeaderMap, form_token: &str) -> Option<&'static str> {
    let Some(expected) = csrf_cookie(headers) else {
        return Some("the form token cookie is missing: reload the page and try again");
    };
    if !constant_time_eq(expected.as_bytes(), form_token.as_bytes()) {
        return Some("the form token does not match: reload the page and try again");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host);
        if host.is_none() || origin_host != host {
            return Some("the form was posted from another site");
        }
    }
    None
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = headers(&[
            (header::COOKIE, "a=1; breakeven_csrf_x=2"),
            (header::COOKIE, "breakeven_csrf=3"),
        ]);
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("3"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn a_post_needs_the_matching_form_token_from_this_host() {
        let token = random_hex(32);
        assert_eq!(token.len(), 64);
        let cookie = format!("{CSRF_COOKIE}={token}");
        let ok = headers(&[(header::COOKIE, &cookie), (header::HOST, "localhost:8080")]);
        assert_eq!(refuse_post(&ok, &token), None);
        assert!(refuse_post(&ok, "").is_some());
        assert!(refuse_post(&ok, &random_hex(32)).is_some());
        assert!(refuse_post(&headers(&[]), &token).is_some());
        let same_origin = headers(&[
            (header::COOKIE, &cookie),
            (header::HOST, "localhost:8080"),
            (header::ORIGIN, "http://localhost:8080"),
        ]);
        assert_eq!(refuse_post(&same_origin, &token), None);
        let cross = headers(&[
            (header::COOKIE, &cookie),
            (header::HOST, "localhost:8080"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(refuse_post(&cross, &token).is_some());
    }

    #[test]
    fn session_cookies_survive_any_token_and_tampering_signs_out() {
        let dir = std::env::temp_dir().join(format!("breakeven-session-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens");
        std::fs::write(&file, "tok;en=with,odd\"chars research\n").unwrap();
        let tokens = TokenFile::open(&file).unwrap();
        let value = session_cookie("tok;en=with,odd\"chars", false);
        let cookie = value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let h = headers(&[(header::COOKIE, &cookie)]);
        assert_eq!(signed_in(&h, &tokens).as_deref(), Some("research"));
        let mut tampered = cookie.clone();
        tampered.pop();
        tampered.push('0');
        let h = headers(&[(header::COOKIE, &tampered)]);
        assert_eq!(signed_in(&h, &tokens), None);
        let h = headers(&[(header::COOKIE, "breakeven_session=zz")]);
        assert_eq!(signed_in(&h, &tokens), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
