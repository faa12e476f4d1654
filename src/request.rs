//! A read-only view of a request's headers, as the host hands them over: every entry, in
//! order, duplicates kept, values as bytes (HTTP allows octets that are not UTF-8).

use std::borrow::Cow;

pub struct Request<'a> {
    headers: Vec<(&'a str, &'a [u8])>,
    /// `:path`, decoded once. Bytes that are not UTF-8 (HTTP/2 lets them through) become
    /// U+FFFD rather than emptying the path: an empty path would match no rule, and a
    /// request that matches no rule needs no token.
    path_and_query: Cow<'a, str>,
}

impl<'a> Request<'a> {
    /// A request from (name, value) pairs. Names must be lower case, as Envoy hands them to
    /// a filter.
    pub fn from_pairs(headers: Vec<(&'a str, &'a [u8])>) -> Request<'a> {
        let path = headers
            .iter()
            .find(|(key, _)| *key == ":path")
            .map_or(&[][..], |(_, value)| value);
        Request {
            headers,
            path_and_query: text(path),
        }
    }

    /// A request from owned pairs.
    pub fn new(headers: &'a [(String, Vec<u8>)]) -> Request<'a> {
        Request::from_pairs(
            headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect(),
        )
    }

    /// A request from the proxy-wasm serialization of a header map, read in place: a u32
    /// count, then a u32 name length and value length per entry, then each name and value
    /// followed by a NUL (all integers little-endian). `None` if the bytes are not that.
    pub fn from_header_map(map: &'a [u8]) -> Option<Request<'a>> {
        let word = |at: usize| -> Option<usize> {
            let bytes: [u8; 4] = map.get(at..at.checked_add(4)?)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(bytes)).ok()
        };
        if map.is_empty() {
            return Some(Request::from_pairs(Vec::new()));
        }
        let count = word(0)?;
        let mut data = count.checked_mul(8)?.checked_add(4)?;
        let mut headers = Vec::with_capacity(count.min(map.len() / 10));
        for entry in 0..count {
            let (name_len, value_len) = (word(4 + entry * 8)?, word(8 + entry * 8)?);
            let name = map.get(data..data.checked_add(name_len)?)?;
            data = data.checked_add(name_len + 1)?;
            let value = map.get(data..data.checked_add(value_len)?)?;
            data = data.checked_add(value_len + 1)?;
            // Envoy's codecs refuse names that are not tokens; one that is not even UTF-8
            // is dropped rather than trusted.
            if let Ok(name) = std::str::from_utf8(name) {
                headers.push((name, value));
            }
        }
        Some(Request::from_pairs(headers))
    }

    /// Every header, in order.
    pub fn headers(&self) -> &[(&'a str, &'a [u8])] {
        &self.headers
    }

    /// Every value of a header, in order.
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| *value)
    }

    /// The first value of a header that appears once, such as a pseudo-header.
    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.values(name).next()
    }

    pub fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    pub fn method(&self) -> &'a [u8] {
        self.first(":method").unwrap_or_default()
    }

    /// `:path` as sent, query string included.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// `:path` without its query string or fragment.
    pub fn path(&self) -> &str {
        let full = self.path_and_query();
        full.split(['?', '#']).next().unwrap_or(full)
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> &str {
        let full = self.path_and_query();
        let query = full.split_once('?').map_or("", |(_, query)| query);
        query.split('#').next().unwrap_or(query)
    }

    /// Decoded values of every query parameter called `name`, in order.
    pub fn query_values<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = Cow<'s, str>> + use<'s, 'n> {
        query_pairs(self.query())
            .filter(move |(key, _)| percent_decode(key) == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// Values of every cookie called `name`, across all `cookie` headers.
    pub fn cookie_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.values("cookie")
            .flat_map(|header| header.split(|&b| b == b';'))
            .filter_map(move |pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|&b| b == b'=')?;
                let (key, value) = pair.split_at_checked(eq)?;
                let value = value.get(1..)?;
                (key == name.as_bytes()).then(|| {
                    // RFC 6265 §4.1.1 allows a value in double quotes.
                    value
                        .strip_prefix(b"\"")
                        .and_then(|v| v.strip_suffix(b"\""))
                        .unwrap_or(value)
                })
            })
    }
}

/// Bytes as text: borrowed when they are UTF-8 (checked a word at a time), with U+FFFD for
/// what is not. `String::from_utf8_lossy` walks every byte even when there is nothing to fix.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Raw `name=value` pairs of a query string, as Envoy's route matcher sees them.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Decodes `%XX` escapes, keeping `+` and broken escapes as they are (as Envoy does).
pub(crate) fn percent_decode(encoded: &str) -> Cow<'_, str> {
    if !encoded.contains('%') {
        return Cow::Borrowed(encoded);
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(text(&out).into_owned())
}

#[cfg(test)]
pub(crate) fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_query() {
        let h = headers(&[(":path", "/a/b?x=1&y=%41%2b+z#frag")]);
        let request = Request::new(&h);
        assert_eq!(request.path(), "/a/b");
        assert_eq!(request.query(), "x=1&y=%41%2b+z");
        assert_eq!(request.query_values("y").collect::<Vec<_>>(), ["A++z"]);
        assert_eq!(request.query_values("x").collect::<Vec<_>>(), ["1"]);
        assert_eq!(request.query_values("z").count(), 0);
    }

    #[test]
    fn keeps_every_header_line() {
        let h = headers(&[("x", "1"), ("y", "2"), ("x", "3")]);
        let request = Request::new(&h);
        assert_eq!(request.values("x").collect::<Vec<_>>(), [b"1", b"3"]);
        assert_eq!(request.first("y"), Some(&b"2"[..]));
        assert!(!request.has("z"));
    }

    #[test]
    fn reads_the_proxy_wasm_header_map_in_place() {
        let mut map = Vec::new();
        let pairs: [(&[u8], &[u8]); 3] = [(b":path", b"/x"), (b"a", b""), (b"b", b"2\xff")];
        map.extend_from_slice(&3u32.to_le_bytes());
        for (k, v) in pairs {
            map.extend_from_slice(&(k.len() as u32).to_le_bytes());
            map.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            map.extend_from_slice(k);
            map.push(0);
            map.extend_from_slice(v);
            map.push(0);
        }
        let request = Request::from_header_map(&map).unwrap();
        assert_eq!(request.path(), "/x");
        assert_eq!(request.first("b"), Some(&b"2\xff"[..]));
        assert_eq!(request.first("a"), Some(&b""[..]));
        assert!(Request::from_header_map(&[]).unwrap().headers().is_empty());
        // Every truncation and a lying count are refused, never read past the end.
        for end in 1..map.len() - 1 {
            let _ = Request::from_header_map(&map[..end]);
        }
        assert!(Request::from_header_map(&map[..map.len() - 2]).is_none());
        let mut lying = map.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Request::from_header_map(&lying).is_none());
    }

    #[test]
    fn a_path_that_is_not_utf8_keeps_its_shape() {
        let h = vec![(":path".to_string(), b"/admin/users?x=\xff".to_vec())];
        let request = Request::new(&h);
        assert_eq!(request.path(), "/admin/users");
        assert_eq!(request.query(), "x=\u{fffd}");
    }

    #[test]
    fn reads_cookies_across_headers() {
        let h = headers(&[("cookie", "a=1; jwt=t1"), ("cookie", "jwt=\"t2\";b=2")]);
        let request = Request::new(&h);
        assert_eq!(
            request.cookie_values("jwt").collect::<Vec<_>>(),
            [b"t1", b"t2"]
        );
        assert_eq!(request.cookie_values("b").collect::<Vec<_>>(), [b"2"]);
        assert_eq!(request.cookie_values("j").count(), 0);
    }

    #[test]
    fn tolerates_broken_escapes() {
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1%-2"), "%+1%-2");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
