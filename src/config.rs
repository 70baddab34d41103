//! The one configuration loader of verger: TOML text in, a typed and validated
//! configuration out, or an error naming the file, the line and the field at fault.
//!
//! Every configuration type (the router's, each component's, later `verger run`'s)
//! derives `Deserialize` with `#[serde(deny_unknown_fields)]` and named defaults, and
//! implements [`Validate`] for values that parse but make no sense. [`load`] /
//! [`from_toml_str`] do the rest the same way for all of them.
//!
//! Durations are written the same way everywhere, as strings with a unit
//! ([`duration`]): `"500ms"`, `"1.5s"`, `"2m"`, `"1h 30m"`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

mod json;

pub use json::{from_json, from_json_exact, unread_keys};

/// One thing wrong with a configuration that parsed: the field (a dotted path such as
/// `realms` or `source.baud`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The check of values that parse but make no sense (an empty realm list, a timeout
/// shorter than an interval it must exceed...). Every problem names its field.
pub trait Validate {
    /// Every value that parses but makes no sense, each naming its field.
    fn validate(&self) -> Result<(), Vec<Problem>>;

    /// Files the configuration names that must exist where it is used (a map database
    /// to read, a track to replay), each problem naming its field. Checked by [`load`]
    /// and [`load_exact`] (a file on disk is used on this machine), not by
    /// [`from_toml_str`]: text checked elsewhere may name another machine's files.
    /// Relative paths are relative to the working directory. None by default.
    fn check_files(&self) -> Result<(), Vec<Problem>> {
        Ok(())
    }
}

/// Why a configuration cannot be used. `origin` is the file path (or what the text
/// came from); line numbers start at 1.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML: the first place the text stops making sense.
    #[error("{origin}: {}{message}", position(*.line, *.column))]
    Syntax {
        origin: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// TOML, but values are wrong (unknown key, wrong type, a value that makes no
    /// sense): every one of them at once, each with its line when it is in the text.
    #[error("{origin}: {}", .problems.iter().map(|(line, p)| format!("{}{p}", position(*line, None))).collect::<Vec<_>>().join("; "))]
    Invalid {
        origin: String,
        problems: Vec<(Option<usize>, Problem)>,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

impl ConfigError {
    /// The error for a person at a terminal: one line, or for several wrong values a
    /// heading and one line per value (`  - line 3: realms: ...`).
    pub fn report(&self) -> String {
        match self {
            ConfigError::Invalid { origin, problems } if problems.len() > 1 => {
                let mut out = format!("{origin}: invalid configuration:");
                for (line, p) in problems {
                    out.push_str(&format!("\n  - {}{p}", position(*line, None)));
                }
                out
            }
            other => other.to_string(),
        }
    }

    /// The problems of an [`ConfigError::Invalid`] (empty otherwise).
    pub fn problems(&self) -> Vec<&Problem> {
        match self {
            ConfigError::Invalid { problems, .. } => problems.iter().map(|(_, p)| p).collect(),
            _ => Vec::new(),
        }
    }
}

/// At most this many wrong values are reported from one file.
const MAX_REPORTED: usize = 32;

/// Parse and validate TOML text; `origin` names it in errors. Every wrong value is
/// reported, not only the first: a value that does not deserialize is set aside (its
/// line ignored) and the rest read again, then the [`Validate`] step reports what is
/// left.
pub fn from_toml_str<T: DeserializeOwned + Validate>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    read_toml(text, origin, |_: &T| Vec::new())
}

/// [`from_toml_str`] for a type that reads leniently, such as a contract payload (which
/// must ignore fields added later, so it cannot say `deny_unknown_fields`): every key of
/// the text that the value read does not write back is refused by name, with its line,
/// as `deny_unknown_fields` would refuse it. `T` must write every field it reads, as
/// contract payloads do.
pub fn from_toml_str_exact<T: DeserializeOwned + Serialize + Validate>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    read_toml(text, origin, |config: &T| {
        let written = serde_json::to_value(config).unwrap_or_default();
        let given = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_default();
        unread_keys(&given, &written)
    })
}

/// Read, parse and validate a TOML file with [`from_toml_str_exact`].
pub fn load_exact<T: DeserializeOwned + Serialize + Validate>(
    path: &Path,
) -> Result<T, ConfigError> {
    let text = read_file(path)?;
    let origin = path.display().to_string();
    let config = from_toml_str_exact(&text, &origin)?;
    files_exist(config, &text, &origin)
}

/// The [`Validate::check_files`] step of a configuration read from `text`.
fn files_exist<T: Validate>(config: T, text: &str, origin: &str) -> Result<T, ConfigError> {
    match config.check_files() {
        Ok(()) => Ok(config),
        Err(problems) => Err(invalid(
            origin,
            problems
                .into_iter()
                .map(|p| (line_of_field(text, &p.field), p))
                .collect(),
        )),
    }
}

/// Whether `field` lies in (or is) one of the fields already `reported`: a value set
/// aside took its default, so what else is said about it is moot.
fn covered(reported: &[String], field: &str) -> bool {
    reported
        .iter()
        .any(|f| !f.is_empty() && field.starts_with(f.as_str()))
}

/// [`from_toml_str`], with `unknown(config)` naming the keys the text gives that the
/// configuration read does not hold (dotted paths).
fn read_toml<T: DeserializeOwned + Validate>(
    text: &str,
    origin: &str,
    unknown: impl FnOnce(&T) -> Vec<String>,
) -> Result<T, ConfigError> {
    if let Err(e) = text.parse::<toml::Table>() {
        let (line, column) = span_position(text, e.span());
        return Err(ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim_end().to_owned(),
        });
    }
    let mut remaining = text.to_owned();
    let mut problems: Vec<(Option<usize>, Problem)> = Vec::new();
    let parsed = loop {
        match toml::from_str::<T>(&remaining) {
            Ok(config) => break Some(config),
            Err(e) => {
                let (line, _) = span_position(&remaining, e.span());
                let field = line.map(|l| field_at_line(text, l)).unwrap_or_default();
                problems.push((line, Problem::new(field, plain_words(e.message()))));
                // Set the line aside and read the rest again (unless that is impossible).
                let stop = match line {
                    Some(l) => !blank_line(&mut remaining, l) || problems.len() >= MAX_REPORTED,
                    None => true,
                };
                if stop {
                    break None;
                }
            }
        }
    };
    let config = match parsed {
        Some(config) => config,
        None => return Err(invalid(origin, problems)),
    };
    let reported: Vec<String> = problems.iter().map(|(_, p)| p.field.clone()).collect();
    for key in unknown(&config) {
        if !covered(&reported, &key) {
            let line = line_of_field(text, &key);
            problems.push((line, Problem::new(key, "unknown field")));
        }
    }
    if let Err(found) = config.validate() {
        for p in found {
            if !covered(&reported, &p.field) {
                problems.push((line_of_field(text, &p.field), p));
            }
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(origin, problems))
    }
}

fn invalid(origin: &str, mut problems: Vec<(Option<usize>, Problem)>) -> ConfigError {
    // In the order of the file; problems without a line last, in the order found.
    problems.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    }
}

fn span_position(
    text: &str,
    span: Option<std::ops::Range<usize>>,
) -> (Option<usize>, Option<usize>) {
    match span {
        Some(span) => {
            let (l, c) = line_column(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    }
}

/// Replace line `line` (1-based) with an empty one; false if there is no such line or
/// it is already empty (nothing more can be set aside).
fn blank_line(text: &mut String, line: usize) -> bool {
    let mut lines: Vec<&str> = text.split('\n').collect();
    match lines.get_mut(line - 1) {
        Some(l) if !l.trim().is_empty() => {
            *l = "";
            *text = lines.join("\n");
            true
        }
        _ => false,
    }
}

/// For each line of `text`: the dotted key written there (inside its `[table]`), with
/// `true`; or, on a line with no key (a header, a comment, a continuation), the table
/// it is in, with `false`.
fn keys_by_line(text: &str) -> impl Iterator<Item = (String, bool)> + '_ {
    let mut table = String::new();
    text.lines().map(move |raw| {
        let l = raw.trim();
        if let Some(header) = l.strip_prefix('[') {
            let name = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("");
            table = name.split('.').map(str::trim).collect::<Vec<_>>().join(".");
            return (table.clone(), false);
        }
        let key = match l.split_once('=') {
            Some((lhs, _)) if !l.starts_with('#') => lhs
                .split('.')
                .map(|k| k.trim().trim_matches('"'))
                .collect::<Vec<_>>()
                .join("."),
            _ => return (table.clone(), false),
        };
        if table.is_empty() {
            (key, true)
        } else {
            (format!("{table}.{key}"), true)
        }
    })
}

/// The dotted key written on `line` (1-based) of `text`, or its table, or "".
fn field_at_line(text: &str, line: usize) -> String {
    keys_by_line(text)
        .nth(line.saturating_sub(1))
        .map(|(key, _)| key)
        .unwrap_or_default()
}

/// serde's and toml's messages in words a person understands, with an example.
fn plain_words(message: &str) -> String {
    let message = message.trim_end();
    if message == "invalid socket address syntax" {
        return "expected an IP address and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\" (a host name such as localhost is not accepted here)".into();
    }
    let Some((got, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let what = match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number of 0 or more, e.g. 512",
        "isize" | "i64" | "i32" | "i16" | "i8" => "a whole number, e.g. 10",
        "f64" | "f32" => "a number, e.g. 1.5",
        "a boolean" => "true or false (without quotes)",
        "a string" => "a string in double quotes, e.g. \"text\"",
        "a sequence" => "a list in brackets, e.g. [\"a\", \"b\"]",
        _ => return message.to_owned(),
    };
    let got = got
        .trim_start_matches("invalid type: ")
        .trim_start_matches("invalid value: ")
        .replace(" as i128", "");
    let hint = match got.strip_prefix("string ") {
        Some(quoted) if what.starts_with("a whole number") || what.starts_with("a number") => {
            let inner = quoted.trim_matches('"');
            if inner.parse::<f64>().is_ok() {
                format!(" (write {inner} without quotes)")
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    format!("expected {what}{hint}, got {got}")
}

/// Validate a configuration built another way (defaults plus flags, say); `origin`
/// names where its values came from.
pub fn check<T: Validate>(config: &T, origin: &str) -> Result<(), ConfigError> {
    config.validate().map_err(|problems| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems: problems.into_iter().map(|p| (None, p)).collect(),
    })
}

/// Read, parse and validate a TOML file, and check that the files it names exist
/// ([`Validate::check_files`]).
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = read_file(path)?;
    let origin = path.display().to_string();
    let config = from_toml_str(&text, &origin)?;
    files_exist(config, &text, &origin)
}

/// The line (1-based) where `field` (a dotted path; `sections[1].id` counts as
/// `sections.id`) is written in the TOML `text`, if it is: for messages about a value
/// that parsed.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    line_of_field(text, field)
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })
}

/// 1-based line and column of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The line where `field` (dotted path; list indexes such as `realms[1]` count as the
/// list's key) is written in `text`, if it is: the key inside its `[table]`, or the
/// header of the table `field` names.
fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let field: Vec<&str> = field
        .split('.')
        .map(|part| part.split('[').next().unwrap_or(part).trim())
        .collect();
    let field = field.join(".");
    let lines: Vec<(String, bool)> = keys_by_line(text).collect();
    // The key itself, else the header of the table of that name.
    lines
        .iter()
        .position(|(key, is_key)| *is_key && *key == field)
        .or_else(|| {
            lines
                .iter()
                .position(|(key, is_key)| !*is_key && *key == field)
        })
        .map(|n| n + 1)
}

/// Durations in configuration files and flags: strings with a unit, parsed by the
/// `humantime` crate (`"250us"`, `"500ms"`, `"1.5s"`, `"2m"`, `"1h 30m"`).
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parse a duration with its unit; the error says what is wrong and shows an example.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err(
                "empty duration: write a number with a unit, like \"500ms\" or \"2s\"".into(),
            );
        }
        if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!(
                "`{t}` has no unit: write \"{t}s\" or \"{t}ms\" (units: us, ms, s, m, h)"
            ));
        }
        humantime::parse_duration(t).map_err(|e| {
            format!("`{t}` is not a duration ({e}); write e.g. \"500ms\", \"1.5s\" or \"2m\"")
        })
    }

    /// Format a duration so that [`parse`] reads it back exactly (`"1s 500ms"`).
    pub fn format(d: Duration) -> String {
        humantime::format_duration(d).to_string()
    }

    /// For `#[serde(with = "verger::config::duration")]`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// For `#[serde(with = "verger::config::duration")]`: a string with a unit; a bare
    /// number is refused with a hint.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Int(i64),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Str(s) => parse(&s).map_err(serde::de::Error::custom),
            Raw::Int(n) => Err(serde::de::Error::custom(format!(
                "durations are strings with a unit, e.g. \"{n}s\" or \"{n}ms\""
            ))),
            Raw::Float(n) => Err(serde::de::Error::custom(format!(
                "durations are strings with a unit, e.g. \"{n}s\""
            ))),
        }
    }

    /// For optional durations: `#[serde(default, with = "verger::config::duration::option")]`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Duration);
            Ok(Some(Wrap::deserialize(d)?.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Sample {
        name: String,
        #[serde(with = "duration")]
        period: Duration,
        inner: Inner,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        count: u32,
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample {
                name: "x".into(),
                period: Duration::from_secs(1),
                inner: Inner::default(),
            }
        }
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), Vec<Problem>> {
            let mut p = Vec::new();
            if self.name.is_empty() {
                p.push(Problem::new("name", "must not be empty"));
            }
            if self.inner.count > 10 {
                p.push(Problem::new("inner.count", "at most 10"));
            }
            if p.is_empty() {
                Ok(())
            } else {
                Err(p)
            }
        }
    }

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(from_toml_str::<Sample>("", "t").unwrap(), Sample::default());
    }

    #[test]
    fn unknown_key_named_with_its_line() {
        let e = from_toml_str::<Sample>("name = \"a\"\n\nperiod_s = 3\n", "f.toml").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("f.toml: line 3: period_s: unknown field `period_s`"),
            "{text}"
        );
    }

    #[test]
    fn not_toml_is_a_syntax_error_where_it_stops() {
        let e = from_toml_str::<Sample>("name = \"a\"\n[inner\n", "f.toml").unwrap_err();
        assert!(
            matches!(e, ConfigError::Syntax { line: Some(2), .. }),
            "{e}"
        );
        assert!(e.to_string().starts_with("f.toml: line 2, column "), "{e}");
    }

    #[test]
    fn every_wrong_value_is_reported_at_once_in_words() {
        let text = "name = 3\nperiod = \"2s\"\n[inner]\ncount = \"512\"\nspeed = 1\n";
        let e = from_toml_str::<Sample>(text, "f.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml: line 1: name: expected a string in double quotes, e.g. \"text\", got integer `3`; \
             line 4: inner.count: expected a whole number of 0 or more, e.g. 512 (write 512 without quotes), got string \"512\"; \
             line 5: inner.speed: unknown field `speed`, expected `count`"
        );
        assert_eq!(e.problems().len(), 3);
    }

    #[test]
    fn socket_addresses_are_explained() {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct Listen {
            listen: Option<std::net::SocketAddr>,
        }
        impl Validate for Listen {
            fn validate(&self) -> Result<(), Vec<Problem>> {
                Ok(())
            }
        }
        let e = from_toml_str::<Listen>("listen = \"localhost:8080\"", "f").unwrap_err();
        assert!(e.to_string().contains("e.g. \"127.0.0.1:8080\""), "{e}");
        assert!(e.to_string().contains("localhost is not accepted"), "{e}");
    }

    #[test]
    fn invalid_values_named_with_their_line() {
        let e = from_toml_str::<Sample>("# c\nname = \"\"\n[inner]\ncount = 11\n", "f.toml")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml: line 2: name: must not be empty; line 4: inner.count: at most 10"
        );
        assert_eq!(e.problems().len(), 2);
    }

    /// A type that reads leniently, as contract payloads do.
    #[derive(Debug, Default, Deserialize, serde::Serialize, PartialEq)]
    #[serde(default)]
    struct Lenient {
        name: String,
        inner: LenientInner,
    }

    #[derive(Debug, Default, Deserialize, serde::Serialize, PartialEq)]
    #[serde(default)]
    struct LenientInner {
        count: u32,
    }

    impl Validate for Lenient {
        fn validate(&self) -> Result<(), Vec<Problem>> {
            Ok(())
        }
    }

    #[test]
    fn the_exact_loader_refuses_what_a_lenient_type_does_not_read() {
        let text = "name = \"a\"\ncolour = 1\n[inner]\ncount = 2\nsize = 3\n";
        assert!(from_toml_str::<Lenient>(text, "f").is_ok());
        let e = from_toml_str_exact::<Lenient>(text, "f").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: line 2: colour: unknown field; line 5: inner.size: unknown field"
        );
        // A value set aside is reported once, not again as unread.
        let e = from_toml_str_exact::<Lenient>("[inner]\ncount = \"x\"\n", "f").unwrap_err();
        assert_eq!(e.problems().len(), 1, "{e}");
        let read: Lenient = from_toml_str_exact("[inner]\ncount = 4\n", "f").unwrap();
        assert_eq!(read.inner.count, 4);
    }

    #[test]
    fn durations_have_units() {
        assert_eq!(duration::parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration::parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration::parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(duration::parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration::parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(duration::parse("500").unwrap_err().contains("no unit"));
        assert!(duration::parse("5 parsecs")
            .unwrap_err()
            .contains("not a duration"));
        assert!(duration::parse("-1s").is_err());
        assert!(duration::parse("").is_err());
        let e = from_toml_str::<Sample>("period = 3", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"3s\""), "{e}");
        let e = from_toml_str::<Sample>("period = \"3\"", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no unit"), "{e}");
    }

    #[test]
    fn formatted_durations_read_back() {
        for d in [
            Duration::ZERO,
            Duration::from_micros(250),
            Duration::from_millis(1500),
            Duration::from_secs(5400),
        ] {
            assert_eq!(duration::parse(&duration::format(d)), Ok(d));
        }
    }

    proptest::proptest! {
        #[test]
        fn duration_parse_never_panics(s in ".{0,32}") {
            let _ = duration::parse(&s);
        }

        #[test]
        fn any_text_gives_a_config_or_an_error(s in "(?s).{0,200}") {
            let _ = from_toml_str::<Sample>(&s, "t");
        }
    }
}
