//! The YAML 1.1 trap. kubectl reads manifests with go-yaml (YAML 1.1), where a bare `y`,
//! `n`, `yes`, `on`, `off` ... is a boolean, and `2026_11`, `0b101` or `1:30` a number;
//! serde_yaml_ng reads and writes YAML 1.2, where they are strings. An EC key's `y:` (or an
//! RSA key's `n:`) then reaches the plugin as the member "true" and the key is refused; a
//! `kid: 2026_11` as the number 202611. So what we write has them quoted, and what a user
//! wrote is searched for them.

use serde_json::Value;

/// Words YAML 1.1 reads as booleans and YAML 1.2 as strings (serde_yaml_ng quotes `true`
/// and `false` itself).
const BOOLEANS: [&str; 16] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// Whether YAML 1.1 reads this plain scalar as something other than the string YAML 1.2
/// reads: a boolean word, or a number with underscores, in binary, or in base 60.
fn misread(scalar: &str) -> bool {
    if BOOLEANS.contains(&scalar) {
        return true;
    }
    let unsigned = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    if let Some(bits) = unsigned.strip_prefix("0b") {
        return !bits.is_empty() && bits.chars().all(|c| matches!(c, '0' | '1' | '_'));
    }
    let digits = |text: &str| {
        text.starts_with(|c: char| c.is_ascii_digit())
            && text.chars().all(|c| c.is_ascii_digit() || c == '_')
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let fraction_ok = fraction.chars().all(|c| c.is_ascii_digit() || c == '_');
    let groups: Vec<&str> = whole.split(':').collect();
    // Plain digits are numbers in both versions; only these forms differ.
    fraction_ok && groups.iter().all(|g| digits(g)) && (groups.len() > 1 || unsigned.contains('_'))
}

/// `value` as block YAML that kubectl reads as we mean it.
pub fn write(value: &Value) -> Result<String, String> {
    let text = serde_yaml_ng::to_string(value).map_err(|e| e.to_string())?;
    let lines: Vec<String> = scalar_lines(&text)
        .map(|(line, scalars)| match scalars {
            Some(_) => quote_booleans(line),
            None => line.to_string(),
        })
        .collect();
    Ok(lines.join("\n") + "\n")
}

/// Where a hand-written YAML text has a bare scalar YAML 1.1 reads otherwise (see
/// `misread`), key or value, block or flow style: `line 12: y`. The values of `boolean_keys` are left out: there kubectl's
/// reading is the one meant, and `boolean` reads them the same way.
pub fn misread_scalars(text: &str, boolean_keys: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (number, (line, scalars)) in scalar_lines(text).enumerate() {
        if scalars.is_none() {
            continue;
        }
        let line = match line.find(" #") {
            Some(comment) => line.get(..comment).unwrap_or(line),
            None => line,
        };
        for piece in line.split(['{', '}', '[', ']', ',']) {
            let (key, value) = key_and_value(piece);
            let value = value.filter(|_| !key.is_some_and(|k| boolean_keys.contains(&k.trim())));
            for scalar in [key, value].into_iter().flatten() {
                if misread(scalar.trim()) {
                    found.push(format!("line {}: {}", number + 1, scalar.trim()));
                }
            }
        }
    }
    found
}

/// A boolean as kubectl (YAML 1.1) reads it: `true`, or a string such as `yes`, `on`, `Off`.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(value) => Some(*value),
        Value::String(text) => match text.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Some(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Each line, and `Some(())` unless it is inside a literal block (a string with line
/// breaks), where nothing is a key or a scalar of its own.
fn scalar_lines(text: &str) -> impl Iterator<Item = (&str, Option<()>)> {
    let mut block: Option<usize> = None;
    text.lines().map(move |line| {
        let indent = line.len() - line.trim_start().len();
        if block.is_some_and(|at| indent > at || line.trim().is_empty()) {
            return (line, None);
        }
        block = None;
        let trimmed = line.trim_end();
        if trimmed.ends_with('|') || trimmed.ends_with("|-") || trimmed.ends_with('>') {
            block = Some(indent);
        }
        (line, Some(()))
    })
}

/// The key (if any) and the value (if any) of one line or flow piece, past its indentation
/// and list dashes.
fn key_and_value(piece: &str) -> (Option<&str>, Option<&str>) {
    let body = body(piece).1;
    match body.split_once(": ") {
        Some((key, value)) => (Some(key), Some(value)),
        None => match body.trim_end().strip_suffix(':') {
            Some(key) => (Some(key), None),
            None => (None, Some(body)),
        },
    }
}

/// (indentation and list dashes, the rest).
fn body(line: &str) -> (&str, &str) {
    let mut rest = line;
    while let Some(after) = rest.strip_prefix(' ').or_else(|| rest.strip_prefix("- ")) {
        rest = after;
    }
    (
        line.get(..line.len() - rest.len()).unwrap_or_default(),
        rest,
    )
}

/// One line of block YAML with each scalar YAML 1.1 would misread, as a key or a value,
/// quoted.
fn quote_booleans(line: &str) -> String {
    let (lead, body) = body(line);
    let quote = |scalar: &str| {
        if misread(scalar) {
            format!("\"{scalar}\"")
        } else {
            scalar.to_string()
        }
    };
    let body = match body.split_once(": ") {
        Some((key, value)) => format!("{}: {}", quote(key), quote(value)),
        None => match body.strip_suffix(':') {
            Some(key) => format!("{}:", quote(key)),
            None => quote(body),
        },
    };
    format!("{lead}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_yaml_quotes_booleans_as_keys_and_values() {
        let value = json!({"keys": [{"kty": "EC", "y": "abc", "n": "on"}], "list": ["off", "ok"],
                           "nested": {"Y": {"yes": 1}}, "text": "a\nb\n"});
        let text = write(&value).unwrap();
        for expected in [
            "- kty: EC",
            "  \"n\": \"on\"",
            "  \"y\": abc",
            "- \"off\"",
            "- ok",
            "  \"Y\":",
            "    \"yes\": 1",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}: {text}");
        }
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert!(
            misread_scalars(&text, &[]).is_empty(),
            "{:?}",
            misread_scalars(&text, &[])
        );
    }

    #[test]
    fn numbers_only_yaml_1_1_reads_are_quoted_and_found() {
        let value = json!({"kid": "2026_11", "a": "0b101", "t": "1:30", "n": "42", "v": "1.2.3",
                           "s": "v1_2", "x": "-1_000.5"});
        let text = write(&value).unwrap();
        for expected in [
            "kid: \"2026_11\"",
            "a: '0b101'",
            "t: \"1:30\"",
            "v: 1.2.3",
            "s: v1_2",
            "x: \"-1_000.5\"",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}: {text}");
        }
        assert_eq!(serde_yaml_ng::from_str::<Value>(&text).unwrap(), value);
        assert_eq!(
            misread_scalars("kid: 2026_11\nother: v1_2\nport: 8080\n", &[]),
            ["line 1: 2026_11"]
        );
    }

    #[test]
    fn bare_booleans_are_found_in_block_and_flow_style() {
        let text = "keys:\n- kty: EC\n  y: abc   # the trap\n- {kty: EC, x: a, n: b}\n\
                    text: |\n  y: inside a literal\nok: \"y\"\nflag: off\n";
        assert_eq!(
            misread_scalars(text, &[]),
            ["line 3: y", "line 4: n", "line 8: off"]
        );
    }
}
